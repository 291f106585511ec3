/*
 * exchange.c: the scripted conversations of the capture exercises.
 *
 * `make capture-labNN` records a lab's server while a client talks to it.
 * The lab's own client plays the ordinary exchange; this program plays the
 * parts a well-behaved client never would, each chosen so that the capture
 * shows one thing the guide asks about:
 *
 *   free-port            print a TCP port on 127.0.0.1 that nothing listens on
 *   closed -p P          connect() to that closed port: SYN answered by RST
 *   udp-closed -p P      one datagram to a closed UDP port: ICMP port unreachable
 *   bytewise -p P [-n] [-w] T  write T one byte per send() (-n: with
 *                        TCP_NODELAY), so Nagle's algorithm has small writes
 *                        to coalesce; -w: before each send() and the FIN,
 *                        wait until the kernel has sent every earlier byte
 *                        (SIOCOUTQNSD reads 0), so no write is merged into
 *                        one still queued (autocorking, a full congestion
 *                        window) and each leaves as its own segment
 *   burst -p P T         write T (several lines) in one send()
 *   hold -p P -s S       connect and stay silent for S seconds, then close
 *   slow-reader -p P -s S  shrink SO_RCVBUF, then read nothing for S seconds:
 *                        the receive window fills and the peer is told zero
 *   flood -p P -c N      chat: send N lines of 1000 bytes (and a newline)
 *                        while reading the replies
 *   pingpong -p P -c N   N round trips of one line each, each waiting for its
 *                        echo: one round-trip time apiece (tools/netlab)
 *
 * -a ADDR (an IPv4 literal, default 127.0.0.1) points the TCP scenes at
 * another host, such as netlab's server host.
 *
 * T may hold C escapes \n and \xHH. Every wait is bounded (SO_RCVTIMEO,
 * poll timeouts), so a server that never answers cannot hold `make capture`.
 * Exit status: 0 when the scene played as written, 1 on a network error or
 * when the server's answer was not the expected kind, 2 on a bad command
 * line, 3 on a timeout.
 */
#include "socklab.h"

#include <errno.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "free-port\n"
    "       capture-exchange closed|udp-closed -p PORT\n"
    "       capture-exchange bytewise [-n] [-w] -p PORT TEXT\n"
    "       capture-exchange burst -p PORT TEXT\n"
    "       capture-exchange hold|slow-reader -p PORT -s SECONDS\n"
    "       capture-exchange flood -p PORT -c LINES\n"
    "       capture-exchange pingpong [-a ADDR] -p PORT -c ROUNDS";

/** How long any single read or connect may wait, in seconds. */
enum { IO_TIMEOUT_S = 5 };

struct opts {
    const char *addr;
    const char *port;
    bool nodelay;
    bool wait_sent;
    long seconds;
    long count;
    const char *text;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decode \n, \r, \t, \\ and \xHH in place; returns the decoded length. */
static size_t unescape(char *s)
{
    char *out = s;
    for (const char *in = s; *in != '\0'; in++) {
        if (*in != '\\' || in[1] == '\0') {
            *out++ = *in;
            continue;
        }
        in++;
        switch (*in) {
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'x': {
            unsigned v = 0;
            int digits = 0;
            while (digits < 2 && in[1] != '\0' && strchr("0123456789abcdefABCDEF", in[1])) {
                char c = *++in;
                v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
                digits++;
            }
            *out++ = (char)v;
            break;
        }
        default: *out++ = *in; break;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        sl_die_errno("setsockopt SO_RCVTIMEO");
}

/* A TCP socket to addr:port (an IPv4 literal); rcvbuf > 0 shrinks its
 * receive buffer before connect(), so the window it offers in the SYN is
 * already small. */
static int tcp_to(const char *addr, const char *port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        sl_die_errno("socket");
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        sl_die_errno("setsockopt SO_RCVBUF");
    set_timeouts(fd);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    long p;
    if (sl_parse_int(port, 1, 65535, &p) < 0)
        sl_usage_error(usage, "bad port '%s'", port);
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
        sl_usage_error(usage, "bad address '%s' (an IPv4 literal)", addr);
    sin.sin_port = htons((uint16_t)p);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        sl_die_errno("connect %s:%s", addr, port);
    return fd;
}

/* Read until the peer closes; returns the byte count, or dies on an error.
 * A peer that sends nothing for IO_TIMEOUT_S is a timeout (exit 3), unless
 * timed_out is given: then it is set and the count returned. */
static size_t drain_until(int fd, bool print, bool *timed_out)
{
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            return total;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && timed_out != NULL) {
                *timed_out = true;
                return total;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                fprintf(stderr, "capture-exchange: no end of stream after %d s\n", IO_TIMEOUT_S);
                exit(3);
            }
            if (errno == ECONNRESET)
                return total;
            sl_die_errno("recv");
        }
        if (print && sl_write_full(STDOUT_FILENO, buf, (size_t)n) < 0)
            sl_die_errno("write stdout");
        total += (size_t)n;
    }
}

static size_t drain(int fd, bool print)
{
    return drain_until(fd, print, NULL);
}

static int cmd_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        sl_die_errno("bind 127.0.0.1:0");
    /* Closed without listen(): no TIME_WAIT, nothing holds the port. */
    printf("%u\n", ntohs(sin.sin_port));
    close(fd);
    return 0;
}

static int cmd_closed(const struct opts *o)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    long p;
    if (fd < 0)
        sl_die_errno("socket");
    if (sl_parse_int(o->port, 1, 65535, &p) < 0)
        sl_usage_error(usage, "bad port '%s'", o->port);
    sin.sin_port = htons((uint16_t)p);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
        fprintf(stderr, "capture-exchange: port %s accepted a connection; it should be closed\n", o->port);
        return 1;
    }
    if (errno != ECONNREFUSED)
        sl_die_errno("connect 127.0.0.1:%s", o->port);
    printf("connect 127.0.0.1:%s: %s (the SYN was answered by RST)\n", o->port, strerror(errno));
    close(fd);
    return 0;
}

static int cmd_udp_closed(const struct opts *o)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    long p;
    if (fd < 0)
        sl_die_errno("socket");
    if (sl_parse_int(o->port, 1, 65535, &p) < 0)
        sl_usage_error(usage, "bad port '%s'", o->port);
    sin.sin_port = htons((uint16_t)p);
    set_timeouts(fd);
    /* A connected UDP socket is told of the ICMP error by its next call. */
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        sl_die_errno("connect");
    if (send(fd, "anyone?", 7, 0) < 0)
        sl_die_errno("send");
    char buf[64];
    if (recv(fd, buf, sizeof buf, 0) >= 0 || errno != ECONNREFUSED) {
        fprintf(stderr, "capture-exchange: expected ECONNREFUSED from the closed UDP port %s\n", o->port);
        return 1;
    }
    printf("recv from udp 127.0.0.1:%s: %s (an ICMP port unreachable came back)\n", o->port, strerror(errno));
    close(fd);
    return 0;
}

/* Wait until the kernel has sent every byte written to fd (none left
 * unsent in its send queue; sent bytes may still await their ACK), polling
 * SIOCOUTQNSD. Even with TCP_NODELAY a write can join one still queued: Linux
 * corks small writes while an earlier one is in the device queue
 * (tcp_autocorking), and queues them all while the congestion window (10
 * segments at first) is full of unacknowledged ones, which a busy machine's
 * late ACKs bring about. Exit 3 when it is not all sent within IO_TIMEOUT_S. */
static void wait_sent(int fd)
{
    double deadline = now_s() + IO_TIMEOUT_S;
    for (;;) {
        int unsent = 0;
        if (ioctl(fd, SIOCOUTQNSD, &unsent) < 0)
            sl_die_errno("ioctl SIOCOUTQNSD");
        if (unsent == 0)
            return;
        if (now_s() > deadline) {
            fprintf(stderr, "capture-exchange: %d bytes still unsent after %d s\n", unsent, IO_TIMEOUT_S);
            exit(3);
        }
        struct timespec ts = {.tv_nsec = 100000};   /* 0.1 ms */
        nanosleep(&ts, NULL);
    }
}

static int cmd_bytewise(const struct opts *o)
{
    char *text = strdup(o->text);
    size_t len = unescape(text);
    int fd = tcp_to(o->addr, o->port, 0);
    int one = 1;
    if (o->nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        sl_die_errno("setsockopt TCP_NODELAY");
    for (size_t i = 0; i < len; i++) {
        if (o->wait_sent)
            wait_sent(fd);
        if (send(fd, text + i, 1, 0) != 1)
            sl_die_errno("send");
    }
    if (o->wait_sent)
        wait_sent(fd);
    if (shutdown(fd, SHUT_WR) < 0)
        sl_die_errno("shutdown");
    drain(fd, true);
    close(fd);
    free(text);
    return 0;
}

static int cmd_burst(const struct opts *o)
{
    char *text = strdup(o->text);
    size_t len = unescape(text);
    int fd = tcp_to(o->addr, o->port, 0);
    if (sl_write_full(fd, text, len) < 0)
        sl_die_errno("send");
    if (shutdown(fd, SHUT_WR) < 0)
        sl_die_errno("shutdown");
    drain(fd, true);
    close(fd);
    free(text);
    return 0;
}

static int cmd_hold(const struct opts *o)
{
    int fd = tcp_to(o->addr, o->port, 0);
    struct timespec ts = {.tv_sec = o->seconds};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    if (shutdown(fd, SHUT_WR) < 0)
        sl_die_errno("shutdown");
    drain(fd, true);
    close(fd);
    return 0;
}

static int cmd_slow_reader(const struct opts *o)
{
    /* The kernel doubles the value and keeps a floor; 2048 gives a window
     * of a few kilobytes, small enough to fill in a moment. */
    int fd = tcp_to(o->addr, o->port, 2048);
    struct timespec ts = {.tv_sec = o->seconds};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    /* A server that never drops a slow client is this lab's bug, not the
     * scene's: say so, close from this side, and let the capture show it. */
    bool timed_out = false;
    size_t got = drain_until(fd, false, &timed_out);
    if (timed_out)
        printf("slow reader: read %zu bytes after %ld s asleep; the server never closed, so the reader did\n",
               got, o->seconds);
    else
        printf("slow reader: read %zu bytes after %ld s asleep, then the server closed\n", got, o->seconds);
    close(fd);
    return 0;
}

/* Sends o->count lines of 1000 bytes and a newline to a chat server and reads what comes
 * back at the same time (a chat server drops a client that stops reading,
 * and this one must not be dropped), until every line has been answered by
 * its "[You] ..." echo or IO_TIMEOUT_S passes. */
static int cmd_flood(const struct opts *o)
{
    int fd = tcp_to(o->addr, o->port, 0);
    char line[1001];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    long sent_lines = 0, echoes = 0;
    size_t off = 0;
    char buf[65536];
    char tail[5] = "";
    double deadline = now_s() + IO_TIMEOUT_S;
    if (sl_set_nonblocking(fd, true) < 0)
        sl_die_errno("fcntl O_NONBLOCK");
    while (echoes < o->count) {
        if (now_s() > deadline) {
            fprintf(stderr, "capture-exchange: %ld of %ld lines answered in %d s\n", echoes, o->count, IO_TIMEOUT_S);
            return 3;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent_lines < o->count ? POLLOUT : 0)};
        if (poll(&p, 1, 100) < 0) {
            if (errno == EINTR)
                continue;
            sl_die_errno("poll");
        }
        if (p.revents & POLLOUT) {
            ssize_t n = send(fd, line + off, sizeof line - off, 0);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                sl_die_errno("send");
            if (n > 0 && (off += (size_t)n) == sizeof line) {
                off = 0;
                sent_lines++;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n == 0) {
                fprintf(stderr, "capture-exchange: the server closed after %ld echoes\n", echoes);
                return 1;
            }
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                sl_die_errno("recv");
            /* Count "[You]" echoes, one per line we sent, across reads. */
            for (ssize_t i = 0; i < n; i++) {
                memmove(tail, tail + 1, 3);
                tail[3] = buf[i];
                tail[4] = '\0';
                if (memcmp(tail, "[You", 4) == 0)
                    echoes++;
            }
        }
    }
    printf("flood: %ld lines of %zu bytes and a newline sent and echoed\n", o->count, sizeof line - 1);
    close(fd);
    return 0;
}

/* o->count round trips: one short line, then wait for all of its echo
 * before the next, so every line costs the client one round-trip time. */
static int cmd_pingpong(const struct opts *o)
{
    int fd = tcp_to(o->addr, o->port, 0);
    for (long i = 0; i < o->count; i++) {
        char line[32], back[32];
        int len = snprintf(line, sizeof line, "ping %ld\n", i);
        if (sl_write_full(fd, line, (size_t)len) < 0)
            sl_die_errno("send");
        ssize_t got = sl_read_full(fd, back, (size_t)len);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fprintf(stderr, "capture-exchange: no echo of round trip %ld within %d s\n", i + 1, IO_TIMEOUT_S);
            return 3;
        }
        if (got != len || memcmp(line, back, (size_t)len) != 0) {
            fprintf(stderr, "capture-exchange: round trip %ld: the echo differs or was cut short\n", i + 1);
            return 1;
        }
    }
    if (shutdown(fd, SHUT_WR) < 0)
        sl_die_errno("shutdown");
    drain(fd, false);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    sl_set_progname("capture-exchange");
    sl_ignore_sigpipe();
    if (argc < 2)
        sl_usage_error(usage, "no scene named");
    const char *scene = argv[1];
    struct opts o = {.addr = "127.0.0.1", .port = NULL, .seconds = 1, .count = 100};
    int c;
    optind = 2;
    while ((c = getopt(argc, argv, "a:p:nws:c:")) != -1) {
        switch (c) {
        case 'a': o.addr = optarg; break;
        case 'p': o.port = optarg; break;
        case 'n': o.nodelay = true; break;
        case 'w': o.wait_sent = true; break;
        case 's':
            if (sl_parse_int(optarg, 0, 60, &o.seconds) < 0)
                sl_usage_error(usage, "bad seconds '%s' (0 to 60)", optarg);
            break;
        case 'c':
            if (sl_parse_int(optarg, 1, 100000, &o.count) < 0)
                sl_usage_error(usage, "bad line count '%s'", optarg);
            break;
        default: sl_usage_error(usage, "bad option");
        }
    }
    if (optind < argc)
        o.text = argv[optind++];
    if (optind < argc)
        sl_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    if (strcmp(scene, "free-port") == 0)
        return cmd_free_port();
    if (o.port == NULL)
        sl_usage_error(usage, "%s needs -p PORT", scene);
    bool needs_text = strcmp(scene, "bytewise") == 0 || strcmp(scene, "burst") == 0;
    if (needs_text != (o.text != NULL))
        sl_usage_error(usage, needs_text ? "%s needs TEXT" : "%s takes no TEXT", scene);
    if (strcmp(scene, "closed") == 0)
        return cmd_closed(&o);
    if (strcmp(scene, "udp-closed") == 0)
        return cmd_udp_closed(&o);
    if (strcmp(scene, "bytewise") == 0)
        return cmd_bytewise(&o);
    if (strcmp(scene, "burst") == 0)
        return cmd_burst(&o);
    if (strcmp(scene, "hold") == 0)
        return cmd_hold(&o);
    if (strcmp(scene, "slow-reader") == 0)
        return cmd_slow_reader(&o);
    if (strcmp(scene, "flood") == 0)
        return cmd_flood(&o);
    if (strcmp(scene, "pingpong") == 0)
        return cmd_pingpong(&o);
    sl_usage_error(usage, "unknown scene '%s'", scene);
}
