/*
 * udp.c: the udp-echo protocol suite (SPEC "Protocols: udp-echo").
 *
 * Server rows send datagrams of every interesting size and check that each
 * comes back as one datagram with the same bytes, to the socket it came
 * from. Client rows put the student's client in front of fake servers that
 * lose datagrams, stay silent, or answer from the wrong address.
 */
#include "suites.h"

#include <poll.h>
#include <pthread.h>
#include <time.h>

#define HINT_BIND "02-udp-echo: Step 1: Bind a datagram socket"
#define HINT_ANSWER "02-udp-echo: Step 2: Receive and answer"
#define HINT_SEND "02-udp-echo: Step 3: Send a line as a datagram"
#define HINT_RETRY "02-udp-echo: Step 4: Wait with a timeout and retry"
#define HINT_BELIEVE "02-udp-echo: Step 5: Believe only the server"

#define UDP_MAX 65507

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A UDP socket connected to the server: the kernel drops datagrams from any
 * other source, so a reply sent to the wrong place never arrives here. */
static int udp_to(struct hn_proc *server)
{
    char ptxt[8], err[SL_ERR_BYTES];
    int fd = sl_connect(hn_proc_addr(server), port_text(hn_port(server), ptxt), SOCK_DGRAM,
                        err, sizeof err);
    if (fd < 0)
        hn_fail("harness: %s", err);
    return fd;
}

/* Receive one datagram within the deadline; its length, or -1. */
static ssize_t recv_dgram(int fd, void *buf, size_t cap, int timeout_ms)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return -1;
    return recv(fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC);
}

/* Send one datagram and fail unless the same bytes come back as one. */
static void expect_dgram_echo(int fd, const void *msg, size_t len, const char *sent)
{
    static char in[UDP_MAX + 1];
    if (send(fd, msg, len, 0) != (ssize_t)len)
        hn_fail("harness: send of %zu bytes: %s", len, strerror(errno));
    ssize_t got = recv_dgram(fd, in, sizeof in, hn_ms(2000));
    if (got < 0)
        hn_fail("No datagram came back within 2 s.\n  sent: %s\n  expected: the same bytes, "
                "as one datagram, to the address and port they came from\nrecvfrom() tells "
                "you where a datagram came from; answer there with sendto().", sent);
    if ((size_t)got != len || memcmp(in, msg, len) != 0)
        hn_fail_bytes("The datagram that came back is not the one sent.", sent, msg, len, in,
                      (size_t)got > sizeof in ? sizeof in : (size_t)got);
}

struct dgram_shape {
    const char *text;
    size_t size;
};

static void test_dgram(const struct hn_test *t)
{
    const struct dgram_shape *s = t->param;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = udp_to(server);
    char *msg = malloc(s->size + 1);
    if (s->text)
        memcpy(msg, s->text, s->size);
    else
        hn_pattern(msg, s->size, (uint32_t)s->size);
    char sent[96];
    snprintf(sent, sizeof sent, "one datagram of %zu byte%s", s->size, s->size == 1 ? "" : "s");
    expect_dgram_echo(fd, msg, s->size, sent);
    free(msg);
    close(fd);
}

static const struct dgram_shape d_hello = { "hello, datagram", 15 };
static const struct dgram_shape d_empty = { "", 0 };
static const struct dgram_shape d_one = { "x", 1 };
static const struct dgram_shape d_1400 = { NULL, 1400 };
static const struct dgram_shape d_max = { NULL, UDP_MAX };
static const struct dgram_shape d_binary = { "\0%n%s\xff\n\0", 8 };

static void test_boundaries(const struct hn_test *t)
{
    (void)t;
    static const size_t sizes[] = { 10, 1, 500, 0, 3000 };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = udp_to(server);
    char out[3000], in[4096];
    hn_pattern(out, sizeof out, 9);
    for (size_t i = 0; i < HN_COUNT(sizes); i++)
        send(fd, out, sizes[i], 0);
    for (size_t i = 0; i < HN_COUNT(sizes); i++) {
        ssize_t got = recv_dgram(fd, in, sizeof in, hn_ms(2000));
        if (got != (ssize_t)sizes[i] || memcmp(in, out, sizes[i]) != 0)
            hn_fail("Datagram %zu of 5 came back wrong.\n  sent: 5 datagrams at once, of "
                    "10, 1, 500, 0 and 3000 bytes\n  expected: 5 datagrams of the same sizes "
                    "(UDP keeps message boundaries)\n  got: %s",
                    i + 1, got < 0 ? "nothing within 2 s" : "a datagram of another size or content");
    }
    close(fd);
}

static void test_many_clients(const struct hn_test *t)
{
    (void)t;
    enum { CLIENTS = 8, ROUNDS = 20 };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fds[CLIENTS];
    for (int c = 0; c < CLIENTS; c++)
        fds[c] = udp_to(server);
    for (int r = 0; r < ROUNDS; r++) {
        char msg[CLIENTS][32], in[64];
        for (int c = 0; c < CLIENTS; c++) {
            int n = snprintf(msg[c], sizeof msg[c], "client %d round %d", c, r);
            send(fds[c], msg[c], (size_t)n, 0);
        }
        for (int c = 0; c < CLIENTS; c++) {
            ssize_t got = recv_dgram(fds[c], in, sizeof in, hn_ms(2000));
            size_t len = strlen(msg[c]);
            if (got != (ssize_t)len || memcmp(in, msg[c], len) != 0)
                hn_fail_bytes("With 8 clients sending at once, a client did not get its own "
                              "datagram back. Each reply goes to the address and port its "
                              "request came from.",
                              "8 sockets each send one datagram, 20 rounds", msg[c], len, in,
                              got < 0 ? 0 : (size_t)got);
        }
    }
    for (int c = 0; c < CLIENTS; c++)
        close(fds[c]);
}

static void test_ipv6(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server("::1", NULL);
    int fd = udp_to(server);
    expect_dgram_echo(fd, "over IPv6", 9, "one datagram to [::1]");
    close(fd);
}

static const struct hn_test server_rows[] = {
    { "udp_hello", "a datagram comes back with the same bytes", 7, 10, HINT_ANSWER, test_dgram,
      &d_hello },
    { "udp_empty", "an empty datagram (0 bytes) is answered", 5, 10, HINT_ANSWER, test_dgram,
      &d_empty },
    { "udp_one_byte", "a 1-byte datagram is answered", 4, 10, HINT_ANSWER, test_dgram, &d_one },
    { "udp_1400", "a 1400-byte datagram comes back whole", 5, 10, HINT_ANSWER, test_dgram,
      &d_1400 },
    { "udp_max", "the largest datagram, 65507 bytes, comes back whole", 7, 10, HINT_ANSWER,
      test_dgram, &d_max },
    { "udp_binary", "NUL and %n%s in a datagram come back unchanged", 5, 10, HINT_ANSWER,
      test_dgram, &d_binary },
    { "udp_boundaries", "5 datagrams sent at once come back as 5, same sizes", 7, 10,
      HINT_ANSWER, test_boundaries, NULL },
    { "udp_many_clients", "8 clients at once each get their own replies", 7, 15, HINT_ANSWER,
      test_many_clients, NULL },
    { "udp_ipv6", "-a ::1 serves IPv6 and prints [::1]:PORT", 5, 10, HINT_BIND, test_ipv6,
      NULL },
};

const struct hn_table udp_server_suite = HN_TABLE("udp", server_rows);

/* -------------------------------------------------------------- fake servers */

enum udp_peer_mode {
    UDP_ECHO,     /* answer every datagram */
    UDP_DROP_TWO, /* ignore the first two tries of each message, answer the third */
    UDP_SILENT,   /* never answer, only count */
    UDP_WRONG_PORT,  /* answer only from another port: a stranger */
    UDP_WRONG_BYTES, /* answer first with other bytes, then with the right ones */
};

struct udp_peer {
    enum udp_peer_mode mode;
    int fd, decoy_fd, port;
    int received;
    volatile int stop;
    pthread_t thread;
};

static void peer_answer(struct udp_peer *p, const char *buf, size_t n,
                        const struct sockaddr_storage *from, socklen_t fromlen)
{
    const struct sockaddr *to = (const struct sockaddr *)from;
    struct timespec pause = { 0, 30 * 1000 * 1000 };
    switch (p->mode) {
    case UDP_ECHO:
        sendto(p->fd, buf, n, 0, to, fromlen);
        break;
    case UDP_DROP_TWO:
        if (p->received % 3 == 0)
            sendto(p->fd, buf, n, 0, to, fromlen);
        break;
    case UDP_SILENT:
        break;
    case UDP_WRONG_PORT:
        sendto(p->decoy_fd, buf, n, 0, to, fromlen);
        break;
    case UDP_WRONG_BYTES:
        sendto(p->fd, "not what you sent", 17, 0, to, fromlen);
        nanosleep(&pause, NULL);
        sendto(p->fd, buf, n, 0, to, fromlen);
        break;
    }
}

static void *udp_peer_main(void *arg)
{
    struct udp_peer *p = arg;
    static char buf[UDP_MAX + 1];
    while (!p->stop) {
        struct pollfd pfd = { p->fd, POLLIN, 0 };
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(p->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
        if (n < 0)
            continue;
        p->received++;
        peer_answer(p, buf, (size_t)n, &from, fromlen);
    }
    return NULL;
}

static int udp_bound(int *port)
{
    char err[SL_ERR_BYTES], local[SL_ADDR_BYTES];
    int fd = sl_listen("127.0.0.1", "0", SOCK_DGRAM, 0, err, sizeof err);
    if (fd < 0)
        hn_fail("harness: %s", err);
    sl_sock_local(fd, local, sizeof local);
    *port = atoi(strrchr(local, ':') + 1);
    return fd;
}

static struct udp_peer *udp_peer_start(enum udp_peer_mode mode)
{
    struct udp_peer *p = calloc(1, sizeof *p);
    int decoy_port;
    p->mode = mode;
    p->fd = udp_bound(&p->port);
    p->decoy_fd = udp_bound(&decoy_port);
    pthread_create(&p->thread, NULL, udp_peer_main, p);
    return p;
}

static int udp_peer_stop(struct udp_peer *p)
{
    p->stop = 1;
    pthread_join(p->thread, NULL);
    int received = p->received;
    close(p->fd);
    close(p->decoy_fd);
    free(p);
    return received;
}

/* -------------------------------------------------------------- client side */

struct udp_client_case {
    enum udp_peer_mode mode;
    const char *input;
    const char *expected;     /* its standard output */
    int want_exit;
    int timeout_ms, retries;  /* -t and -r */
    int want_datagrams;       /* how many the fake server must see; -1: any */
};

static struct hn_proc *start_udp_client(int port, const char *input, int timeout_ms,
                                        int retries)
{
    char ptxt[8], ttxt[16], rtxt[16];
    snprintf(ttxt, sizeof ttxt, "%d", timeout_ms);
    snprintf(rtxt, sizeof rtxt, "%d", retries);
    char *in_path = hn_temp_path("input");
    FILE *f = fopen(in_path, "wb");
    fputs(input, f);
    fclose(f);
    const char *args[] = { "-a", "127.0.0.1", "-p", port_text(port, ptxt), "-t", ttxt, "-r",
                           rtxt, NULL };
    struct hn_spawn_opts o = { in_path, NULL, false };
    struct hn_proc *c = hn_spawn("client", args, &o);
    free(in_path);
    return c;
}

static void test_udp_client(const struct hn_test *t)
{
    const struct udp_client_case *c = t->param;
    struct udp_peer *peer = udp_peer_start(c->mode);
    long start = now_ms();
    struct hn_proc *client = start_udp_client(peer->port, c->input, c->timeout_ms, c->retries);
    int status;
    char how[96], shown_in[200];
    hn_show(c->input, strlen(c->input), shown_in, sizeof shown_in);
    int budget = (c->retries + 1) * c->timeout_ms * 3 + 3000;
    if (hn_wait_exit(client, hn_ms(budget), &status) < 0)
        hn_fail("The client was still running %d ms after it started.\n  input: %s with -t %d "
                "-r %d\n  expected: exit status %d long before that",
                budget, shown_in, c->timeout_ms, c->retries, c->want_exit);
    long elapsed = now_ms() - start;
    int datagrams = udp_peer_stop(peer);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != c->want_exit)
        hn_fail("The client ended with %s.\n  input: %s with -t %d -r %d\n  expected: exit "
                "status %d%s", hn_describe_status(status, how, sizeof how), shown_in,
                c->timeout_ms, c->retries, c->want_exit,
                c->want_exit == 3 ? " (no reply after the last try: the protocol says 3)" : "");
    size_t len;
    char *out = hn_stdout_copy(client, &len);
    if (len != strlen(c->expected) || memcmp(out, c->expected, len) != 0)
        hn_fail_bytes("The client's standard output is wrong.", shown_in, c->expected,
                      strlen(c->expected), out, len);
    free(out);
    if (c->want_datagrams >= 0 && datagrams != c->want_datagrams)
        hn_fail("The server saw %d datagram(s) from the client.\n  input: %s with -r %d\n"
                "  expected: %d (one first try and %d retries per line, no more)",
                datagrams, shown_in, c->retries, c->want_datagrams, c->retries);
    if (c->want_exit == 3) {
        long least = (long)(c->retries + 1) * c->timeout_ms;
        if (elapsed < least * 9 / 10)
            hn_fail("The client gave up after %ld ms.\n  expected: %d tries of %d ms each, at "
                    "least %ld ms in all", elapsed, c->retries + 1, c->timeout_ms, least);
        char *tail = hn_stderr_tail(client);
        bool said = *tail != '\0';
        free(tail);
        if (!said)
            hn_fail("The client exited 3 but said nothing on standard error.\n  expected: a "
                    "line saying there was no reply");
    }
}

static const struct udp_client_case c_lines = { UDP_ECHO, "hello\n\nwith %s and %n\n",
                                                 "hello\n\nwith %s and %n\n", 0, 1000, 3, 3 };
static const struct udp_client_case c_retry = { UDP_DROP_TWO, "third time lucky\n",
                                                 "third time lucky\n", 0, 300, 3, 3 };
static const struct udp_client_case c_silent = { UDP_SILENT, "hello?\n", "", 3, 200, 2, 3 };
static const struct udp_client_case c_stranger = { UDP_WRONG_PORT, "who is there?\n", "", 3,
                                                   200, 1, 2 };
static const struct udp_client_case c_wrong_bytes = { UDP_WRONG_BYTES, "one\ntwo\n",
                                                      "one\ntwo\n", 0, 1000, 0, 2 };

static void test_refused(const struct hn_test *t)
{
    (void)t;
    int port;
    close(udp_bound(&port)); /* a port where nothing listens now */
    struct hn_proc *client = start_udp_client(port, "anyone?\n", 200, 1);
    int status;
    char how[96];
    if (hn_wait_exit(client, hn_ms(5000), &status) < 0)
        hn_fail("The client was still running 5 s after sending to a closed port with -t 200 "
                "-r 1.\n  expected: exit status 3 after about 400 ms");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 3)
        hn_fail("Sending to a port where nothing listens, the client ended with %s.\n"
                "  expected: exit status 3: a refused port counts as no reply (the protocol)",
                hn_describe_status(status, how, sizeof how));
}

static const struct hn_test client_rows[] = {
    { "udpc_lines", "each line is a datagram; each reply printed with a newline", 7, 15,
      HINT_SEND, test_udp_client, &c_lines },
    { "udpc_retry", "two lost datagrams: the third try gets the answer", 7, 15, HINT_RETRY,
      test_udp_client, &c_retry },
    { "udpc_no_server", "no reply: r+1 tries of t ms, a message, exit 3", 7, 15, HINT_RETRY,
      test_udp_client, &c_silent },
    { "udpc_refused", "a closed port counts as no reply: exit 3", 5, 15, HINT_RETRY,
      test_refused, NULL },
    { "udpc_wrong_source", "a reply from another port is not the server's: ignored", 6, 15,
      HINT_BELIEVE, test_udp_client, &c_stranger },
    { "udpc_wrong_bytes", "a reply with other bytes is ignored; the right one printed", 6, 15,
      HINT_BELIEVE, test_udp_client, &c_wrong_bytes },
};

const struct hn_table udp_client_suite = HN_TABLE("udp-client", client_rows);

/* ---------------------------------------------------------------- lifecycle */

static int udp_exchange(struct hn_proc *server)
{
    int fd = udp_to(server);
    expect_dgram_echo(fd, "ping", 4, "the datagram \"ping\"");
    return fd;
}

const struct lifecycle_proto udp_lifecycle = { SOCK_DGRAM, udp_exchange, false };
