/*
 * client.c (lab 02): a UDP echo client that waits, retries, and believes only
 * the server.
 *
 * It sends each line of its standard input, without the newline, as one
 * datagram to the server, and prints the echo followed by a newline. UDP
 * promises nothing: a datagram may be lost, on the way there or back, so the
 * client waits at most -t milliseconds for the reply and then sends again, up
 * to -r more times. And anyone can send a datagram to its port, so it accepts
 * a reply only from the server's address and port, and only with the bytes it
 * sent.
 *
 * It does not connect() its socket, which would make the kernel filter the
 * sources for it: here the client checks every reply's source itself.
 *
 * Read: udp(7), sendto(2) (send(2)), recvfrom(2) (recv(2)), poll(2),
 * clock_gettime(2), getaddrinfo(3).
 *
 * Usage: client [-a HOST] [-p PORT] [-t MS] [-r N] < lines
 *        (default 127.0.0.1, port 50002, 1000 ms, 3 retries)
 * Exit status: 0 when every line got its reply, 1 on an error, 2 on a bad
 * command line, 3 when a line got no reply after the last try.
 */
#include "socklab.h"

#include <poll.h>
#include <time.h>

#define DEFAULT_PORT "50002"
#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_RETRIES 3
/* The most data one datagram carries over IPv4 (65535 - 20 - 8): the
 * longest line we can send. */
#define MAX_DATAGRAM_BYTES 65507
/* Room for any datagram that can arrive (up to 65527 bytes over IPv6). */
#define REPLY_BUFFER_BYTES 65536

/* The client's own options. */
struct retry_opts {
    long timeout_ms; /* -t: how long to wait for each reply */
    long retries;    /* -r: how many times to send again */
};

static int parse_option(int opt, const char *arg, void *ctx)
{
    struct retry_opts *o = ctx;
    switch (opt) {
    case 't': return sl_parse_int(arg, 1, 600000, &o->timeout_ms);
    case 'r': return sl_parse_int(arg, 0, 100, &o->retries);
    default: return -1;
    }
}

/* Milliseconds on a clock that never jumps (unlike the time of day). */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send one line as one datagram to the server. Exits 1 on an error. */
static void send_line(int sock, const struct addrinfo *server, const struct sl_line *line)
{
    // BEGIN TODO 3: Send a line as a datagram: one sendto(2) of the line's
    //   bytes (line->data, line->len: no newline, and it may be empty) to
    //   server->ai_addr. One call is one datagram; it is never split. Retry
    //   on EINTR; on another error, sl_die_errno("sendto %s", address).
    while (sendto(sock, line->data, line->len, 0, server->ai_addr, server->ai_addrlen) < 0) {
        if (errno != EINTR) {
            char where[SL_ADDR_BYTES];
            sl_die_errno("sendto %s", sl_addr_format(server->ai_addr, server->ai_addrlen, where,
                                                     sizeof where));
        }
    }
    // SKELETON: (void)sock;
    // SKELETON: (void)server;
    // SKELETON: (void)line;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: nothing sent");
    // END TODO
}

/*
 * Is the datagram in reply (len bytes, from `from`) the server's echo of line?
 */
static bool is_the_reply(const struct sockaddr *from, socklen_t from_len,
                         const struct addrinfo *server, const char *reply, size_t len,
                         const struct sl_line *line)
{
    // BEGIN TODO 5: Believe only the server: a reply counts only if it came
    //   from the server's address and port (sl_addr_equal() with
    //   server->ai_addr) and holds exactly the bytes that were sent (same
    //   length, then memcmp()). Anything else is a stranger's datagram or a
    //   late answer to an earlier line: the caller ignores it.
    if (!sl_addr_equal(from, from_len, server->ai_addr, server->ai_addrlen))
        return false;
    return len == line->len && memcmp(reply, line->data, len) == 0;
    // SKELETON: (void)from;
    // SKELETON: (void)from_len;
    // SKELETON: (void)server;
    // SKELETON: (void)reply;
    // SKELETON: (void)len;
    // SKELETON: (void)line;
    // SKELETON: return true;
    // END TODO
}

/*
 * Wait up to timeout_ms for the server's echo of line, into reply (at least
 * REPLY_BUFFER_BYTES). Returns true when it came, false when time ran out.
 * Exits 1 on an error.
 */
static bool wait_for_reply(int sock, const struct addrinfo *server, const struct sl_line *line,
                           long timeout_ms, char *reply)
{
    // BEGIN TODO 4: Wait with a timeout: fix a deadline (now_ms() plus
    //   timeout_ms), then loop: poll(2) the socket for POLLIN for the time
    //   left until the deadline, recvfrom(2) what came (MSG_DONTWAIT, with a
    //   struct sockaddr_storage for its source), and return true if
    //   is_the_reply() says so. A datagram that is not the reply must not
    //   restart the clock: recompute the time left on each turn, and return
    //   false once it reaches 0. Retry poll() and recvfrom() on EINTR.
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)left);
        if (ready < 0 && errno != EINTR)
            sl_die_errno("poll");
        if (ready <= 0)
            continue; /* EINTR, or the time is up: the top of the loop decides */

        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        /* MSG_DONTWAIT: poll() said readable, but a datagram can still be
         * dropped (a bad checksum) before we read it; never block here. */
        ssize_t n = recvfrom(sock, reply, REPLY_BUFFER_BYTES, MSG_DONTWAIT,
                             (struct sockaddr *)&from, &from_len);
        if (n < 0) {
            /* ECONNREFUSED: an ICMP "port unreachable" for an earlier
             * datagram, on systems that report it: no reply, keep waiting. */
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
                errno == ECONNREFUSED)
                continue;
            sl_die_errno("recvfrom");
        }
        if (is_the_reply((struct sockaddr *)&from, from_len, server, reply, (size_t)n, line))
            return true;
    }
    // SKELETON: (void)sock;
    // SKELETON: (void)server;
    // SKELETON: (void)line;
    // SKELETON: (void)timeout_ms;
    // SKELETON: (void)reply;
    // SKELETON: (void)now_ms;       /* the clock for the deadline */
    // SKELETON: (void)is_the_reply; /* call it once you have a datagram */
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: no reply awaited");
    // END TODO
}

/*
 * Send line and wait for its echo, trying 1 + retries times in all.
 * Returns true when the echo came (it is in reply).
 */
static bool exchange(int sock, const struct addrinfo *server, const struct sl_line *line,
                     const struct retry_opts *o, char *reply)
{
    for (long attempt = 0; attempt <= o->retries; attempt++) {
        send_line(sock, server, line);
        if (wait_for_reply(sock, server, line, o->timeout_ms, reply))
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    struct retry_opts ropts = {DEFAULT_TIMEOUT_MS, DEFAULT_RETRIES};
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, "t:r:", "[-t MS] [-r N]", parse_option, &ropts,
                  &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");

    /* Resolve once: the first address is where every datagram goes, and
     * what every reply's source is checked against. */
    char err[SL_ERR_BYTES], where[SL_ADDR_BYTES];
    struct addrinfo *server;
    if (sl_resolve(opts.addr, opts.port, SOCK_DGRAM, false, &server, err, sizeof err) < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    sl_addr_format(server->ai_addr, server->ai_addrlen, where, sizeof where);

    /* Not bound and not connected: the first sendto() binds it to a free
     * port, and replies from anyone may arrive. */
    int sock = socket(server->ai_family, SOCK_DGRAM, 0);
    if (sock < 0)
        sl_die_errno("socket");

    struct sl_line_reader input;
    char *reply = malloc(REPLY_BUFFER_BYTES);
    if (sl_line_reader_init(&input, MAX_DATAGRAM_BYTES) < 0 || reply == NULL)
        sl_die_errno("malloc");

    for (;;) {
        struct sl_line line;
        enum sl_line_status status = sl_line_read(&input, 0, &line);
        if (status == SL_LINE_EOF)
            break;
        if (status == SL_LINE_ERROR)
            sl_die_errno("read standard input");
        if (status == SL_LINE_TOO_LONG)
            sl_die(SL_EXIT_RUNTIME,
                   "a line of standard input is longer than %d bytes, "
                   "the most one datagram can carry",
                   MAX_DATAGRAM_BYTES);
        if (!exchange(sock, server, &line, &ropts, reply))
            sl_die(SL_EXIT_TIMEOUT, "no reply from %s after %ld %s", where, ropts.retries + 1,
                   ropts.retries == 0 ? "try" : "tries");
        /* The reply is bytes, not a string: fwrite(), never printf(reply). */
        if (fwrite(reply, 1, line.len, stdout) != line.len || putchar('\n') == EOF ||
            fflush(stdout) == EOF)
            sl_die_errno("write standard output");
    }

    free(reply);
    sl_line_reader_free(&input);
    freeaddrinfo(server);
    close(sock);
    return 0;
}
