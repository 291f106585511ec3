/*
 * echo.c: the echo protocol suite (SPEC "Protocols: echo").
 *
 * Every lab whose server speaks echo (01, 04, 05, 07, 09, 10, 11, 12) runs
 * the server table; lab 01 also runs the client table. Each row is one
 * behaviour of the protocol: what the test does, what it must see.
 */
#include "suites.h"

#define HINT_ECHO "01-tcp-echo: Step 5: Echo every byte"
#define HINT_ACCEPT "01-tcp-echo: Step 4: Accept clients one at a time"
#define HINT_RESOLVE "01-tcp-echo: Step 1: Resolve the address"
#define HINT_CONNECT "01-tcp-echo: Step 6: Connect to the server"
#define HINT_RELAY "01-tcp-echo: Step 7: Relay both ways"

#define MIB (1024 * 1024)

/* ------------------------------------------------------------ server side */

/* What a message-shape row sends: count messages of size bytes, each
 * answered before the next is sent. */
struct shape {
    const char *text; /* a fixed message, or NULL for pattern bytes */
    size_t size;
    int count;
};

static void fill_message(const struct shape *s, char *buf, int index)
{
    if (s->text)
        memcpy(buf, s->text, s->size);
    else
        hn_pattern(buf, s->size, 1000u + (uint32_t)index);
}

static void test_shape(const struct hn_test *t)
{
    const struct shape *s = t->param;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server);
    char *out = malloc(s->size + 1), *in = malloc(s->size + 1);
    for (int i = 0; i < s->count; i++) {
        fill_message(s, out, i);
        size_t got = hn_transfer(fd, out, s->size, in, s->size,
                                 &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
        if (got != s->size || memcmp(out, in, s->size) != 0) {
            char sent[128];
            snprintf(sent, sizeof sent, "message %d of %d (%zu bytes) on one connection",
                     i + 1, s->count, s->size);
            hn_fail_bytes("The echo is not the same bytes that were sent.", sent, out,
                          s->size, in, got);
        }
    }
    free(out);
    free(in);
    close(fd);
}

static const struct shape one_line = { "hello, socklab\n", 15, 1 };
static const struct shape many = { NULL, 1000, 200 };
static const struct shape binary = {
    "\0\x01\x02\xff\xfe%n%s%s%x%n\r\n\x1b[2J\0tail", 26, 3
};

static void test_all_bytes(const struct hn_test *t)
{
    (void)t;
    char out[512], in[512];
    for (int i = 0; i < 512; i++)
        out[i] = (char)(i % 256);
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server);
    size_t got = hn_transfer(fd, out, sizeof out, in, sizeof in,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got != sizeof out || memcmp(out, in, sizeof out) != 0)
        hn_fail_bytes("Not every byte value came back unchanged. Received data is bytes, "
                      "not a C string: NUL is data too, and never use it as a format.",
                      "every byte value 0x00..0xff, twice", out, sizeof out, in, got);
    close(fd);
}

/* A large transfer, optionally with a reader that first stops reading. */
struct bulk {
    size_t size;
    int read_pause_ms;
};

static void test_bulk(const struct hn_test *t)
{
    const struct bulk *b = t->param;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server);
    char *out = malloc(b->size), *in = malloc(b->size);
    hn_pattern(out, b->size, 7);
    struct hn_transfer_opts o = { hn_ms(20000), b->read_pause_ms, false };
    size_t got = hn_transfer(fd, out, b->size, in, b->size, &o);
    int e = errno;
    if (got != b->size || memcmp(out, in, b->size) != 0) {
        char sent[200];
        snprintf(sent, sizeof sent, "%zu MiB on one connection, sending and reading at once%s",
                 b->size / MIB, b->read_pause_ms ? " (but not reading for the first second)" : "");
        if (got < b->size && e == ETIMEDOUT)
            hn_fail("Only %zu of %zu bytes came back, then nothing more.\n  sent: %s\n"
                    "A server that loses the rest when send() would block, or that stops "
                    "after one recv(), does this. Every recv()'d byte must be sent back, "
                    "all of it (send() may send less than asked).",
                    got, b->size, sent);
        hn_fail_bytes("The echo of a large transfer differs.", sent, out, b->size, in, got);
    }
    free(out);
    free(in);
    close(fd);
}

static const struct bulk bulk_8mib = { 8 * MIB, 0 };
static const struct bulk slow_reader = { 16 * MIB, 1000 };

static void test_half_close(const struct hn_test *t)
{
    (void)t;
    static const char msg[] = "last words before FIN\n";
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server);
    char in[64];
    struct hn_transfer_opts o = { hn_ms(3000), 0, true };
    size_t got = hn_transfer(fd, msg, sizeof msg - 1, in, sizeof msg - 1, &o);
    if (got != sizeof msg - 1 || memcmp(in, msg, got) != 0)
        hn_fail_bytes("After the client shut down its sending side (shutdown(SHUT_WR)), the "
                      "server must still send back what it received.",
                      "a message, then FIN (half-close)", msg, sizeof msg - 1, in, got);
    size_t extra;
    if (!hn_expect_eof(fd, hn_ms(3000), &extra))
        hn_fail("The echo came back, but then the server did not close the connection "
                "within 3 s (%zu more bytes came).\n  sent: a message, then FIN\n"
                "  expected: the message back, then end of stream (recv() returns 0)\n"
                "When recv() returns 0 the client has finished: close() its socket.",
                extra);
    close(fd);
}

/*
 * Make the server fail a send() to a client that is gone. The client keeps
 * its receive window tiny and never reads, so the server soon blocks in
 * send(); then, while it is blocked, the client resets the connection. The
 * server's send() fails with ECONNRESET, and any send after that with EPIPE,
 * which raises SIGPIPE unless the server ignores it or uses MSG_NOSIGNAL.
 */
static void provoke_reset(struct hn_proc *server)
{
    int small = 2048;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)hn_port(server)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        hn_fail("Could not connect to the server: %s", strerror(errno));
    size_t size = 4 * MIB;
    char *junk = malloc(size);
    hn_pattern(junk, size, 3);
    hn_send_all(fd, junk, size, hn_ms(1000));
    free(junk);
    hn_wait_blocked(hn_pid(server), hn_ms(1000));
    hn_close_reset(fd);
}

static void test_reset(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    provoke_reset(server);
    static const char msg[] = "still there?\n";
    int fd = hn_connect(hn_proc_addr(server), hn_port(server), hn_ms(2000));
    char in[32];
    size_t got = fd < 0 ? 0 : hn_transfer(fd, msg, sizeof msg - 1, in, sizeof msg - 1,
                                          &(struct hn_transfer_opts){ hn_ms(5000), 0, false });
    if (got != sizeof msg - 1 || memcmp(in, msg, got) != 0) {
        int status;
        char how[96];
        if (hn_wait_exit(server, 200, &status) == 0)
            hn_fail("The server died (%s) when a client vanished while the server was still "
                    "sending to it.\n  sent: 4 MiB without reading, then RST; then a "
                    "second client connected\nA client that is gone must end only that "
                    "client: ignore SIGPIPE (or send with MSG_NOSIGNAL), and treat "
                    "EPIPE/ECONNRESET as \"this client is gone\".",
                    hn_describe_status(status, how, sizeof how));
        hn_fail_bytes("After a client reset its connection, the next client was not served.",
                      "client 1: 4 MiB, then RST; client 2: a line", msg, sizeof msg - 1, in,
                      got);
    }
    close(fd);
}

static void test_ipv6(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server("::1", NULL);
    int fd = hn_connect_or_fail(server);
    static const char msg[] = "over IPv6\n";
    char in[32];
    size_t got = hn_transfer(fd, msg, sizeof msg - 1, in, sizeof msg - 1,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got != sizeof msg - 1 || memcmp(in, msg, got) != 0)
        hn_fail_bytes("The echo over IPv6 differs.", "a line to [::1]", msg,
                      sizeof msg - 1, in, got);
    close(fd);
}

static const struct hn_test server_rows[] = {
    { "echo_one_message", "one line comes back unchanged", 5, 10, HINT_ECHO, test_shape,
      &one_line },
    { "echo_many_messages", "200 messages on one connection, each echoed in order", 5, 15,
      HINT_ECHO, test_shape, &many },
    { "echo_binary", "NUL, 0xff, %n%s and escapes come back byte for byte", 5, 10, HINT_ECHO,
      test_shape, &binary },
    { "echo_all_bytes", "every byte value 0..255 comes back unchanged", 3, 10, HINT_ECHO,
      test_all_bytes, NULL },
    { "echo_large", "8 MiB sent and read at once comes back whole", 6, 30, HINT_ECHO,
      test_bulk, &bulk_8mib },
    { "echo_slow_reader", "16 MiB to a client that stops reading for 1 s: nothing lost", 6,
      40, HINT_ECHO, test_bulk, &slow_reader },
    { "echo_half_close", "after the client's FIN: the rest is sent, then the server closes",
      6, 15, HINT_ECHO, test_half_close, NULL },
    { "echo_reset", "a client that resets mid-echo does not take the server down", 6, 20,
      HINT_ECHO, test_reset, NULL },
    { "echo_ipv6", "-a ::1 listens on IPv6 and prints [::1]:PORT", 4, 10, HINT_RESOLVE,
      test_ipv6, NULL },
};

const struct hn_table echo_server_suite = HN_TABLE("echo", server_rows);

/* ------------------------------------------------------------ client side */

/* Run `client -p PORT` with a file as input and another as output. */
static struct hn_proc *run_client(int port, const char *in_path, const char *out_path)
{
    char ptxt[8];
    const char *args[] = { "-a", "127.0.0.1", "-p", port_text(port, ptxt), NULL };
    struct hn_spawn_opts o = { in_path, out_path, false };
    return hn_spawn("client", args, &o);
}

/* Wait for the client and fail unless it exited with the expected status. */
static void expect_exit(struct hn_proc *c, int timeout_ms, int want, const char *doing)
{
    int status;
    char how[96];
    if (hn_wait_exit(c, timeout_ms, &status) < 0)
        hn_fail("The client was still running %d ms after %s.\n  expected: exit status %d\n"
                "A client that never ends usually waits for something that cannot come: "
                "did it shut down its sending side at the end of input? And does it read "
                "the echo while it is still sending? One that sends everything first "
                "stops when the socket buffers fill, and so does the server.",
                timeout_ms, doing, want);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
        hn_fail("The client ended with %s after %s.\n  expected: exit status %d",
                hn_describe_status(status, how, sizeof how), doing, want);
}

/* Compare two files; describe the first difference in a failure. */
static void expect_same_file(const char *want_path, const char *got_path, const char *sent)
{
    FILE *want = fopen(want_path, "rb"), *got = fopen(got_path, "rb");
    if (!want || !got)
        hn_fail("harness: cannot reopen %s or %s", want_path, got_path);
    size_t same = 0;
    int cw, cg;
    while ((cw = getc(want)) == (cg = getc(got)) && cw != EOF)
        same++;
    fseek(want, 0, SEEK_END);
    fseek(got, 0, SEEK_END);
    long want_len = ftell(want), got_len = ftell(got);
    fclose(want);
    fclose(got);
    if (cw == cg)
        return;
    hn_fail("The client's standard output is not what the server sent back.\n"
            "  sent: %s\n  expected: the same %ld bytes on standard output\n"
            "  got: %ld bytes, the first %zu of them right\n"
            "Everything the server sends must be written to standard output, in order, "
            "and the client must keep reading until the server closes.",
            sent, want_len, got_len, same);
}

struct client_case {
    size_t size;       /* pattern bytes, or the length of text */
    enum peer_mode mode;
    const char *text;  /* the input, or NULL for pattern bytes */
};

static void test_client_copy(const struct hn_test *t)
{
    const struct client_case *c = t->param;
    char *in_path;
    size_t size = c->size;
    if (c->text) {
        in_path = hn_temp_path("input");
        FILE *f = fopen(in_path, "wb");
        fwrite(c->text, 1, size, f);
        fclose(f);
    } else {
        in_path = hn_pattern_file(size, 11);
    }
    char *out_path = hn_temp_path("output");
    struct peer *peer = peer_start(c->mode);
    struct hn_proc *client = run_client(peer_port(peer), in_path, out_path);
    char sent[160];
    snprintf(sent, sizeof sent, "%zu bytes on standard input, to a server that %s", size,
             c->mode == PEER_ECHO ? "echoes" : "answers only after the client's FIN");
    expect_exit(client, hn_ms(size > MIB ? 60000 : 5000), 0, "its input ended");
    peer_finish(peer);
    expect_same_file(in_path, out_path, sent);
    free(in_path);
    free(out_path);
}

static const struct client_case small_text = { 12, PEER_ECHO, "hello\nworld\n" };
static const struct client_case binary_text = { 10, PEER_ECHO, "\x01\x02%s%n\0\xff\xfe\n" };
static const struct client_case huge = { 64 * MIB, PEER_ECHO, NULL };
static const struct client_case after_eof = { 300000, PEER_ECHO_AFTER_EOF, NULL };

static void test_client_refused(const struct hn_test *t)
{
    (void)t;
    /* A port that was free a moment ago: nothing listens there. */
    char err[SL_ERR_BYTES], local[SL_ADDR_BYTES];
    int fd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 1, err, sizeof err);
    sl_sock_local(fd, local, sizeof local);
    close(fd);
    int port = atoi(strrchr(local, ':') + 1);
    char *in_path = hn_temp_path("input");
    FILE *f = fopen(in_path, "w");
    fputs("anyone?\n", f);
    fclose(f);
    struct hn_proc *client = run_client(port, in_path, NULL);
    expect_exit(client, hn_ms(5000), 1, "connecting to a port where nothing listens");
    char *tail = hn_stderr_tail(client);
    bool said = strstr(tail, "onnection refused") != NULL;
    free(tail);
    if (!said)
        hn_fail("The client exited 1, but its standard error does not say why.\n"
                "  expected: a line such as \"client: connect 127.0.0.1:%d: Connection "
                "refused\"", port);
    free(in_path);
}

static void test_client_early_close(const struct hn_test *t)
{
    (void)t;
    char *in_path = hn_pattern_file(8 * MIB, 5);
    struct peer *peer = peer_start(PEER_CLOSE_EARLY);
    struct hn_proc *client = run_client(peer_port(peer), in_path, NULL);
    expect_exit(client, hn_ms(10000), 1,
                "the server closed the connection while the client still had 8 MiB to send");
    size_t received = peer_finish(peer);
    if (received == 0)
        hn_fail("The client exited 1, but it never sent anything to the server: it should "
                "connect, send its input, and exit 1 only when the server closes early.");
    free(in_path);
}

static const struct hn_test client_rows[] = {
    { "client_small", "two lines in, the same two lines out, exit 0", 4, 10, HINT_RELAY,
      test_client_copy, &small_text },
    { "client_binary", "binary input with NUL, %s and 0xff comes out unchanged", 3, 10, HINT_RELAY,
      test_client_copy, &binary_text },
    { "client_64mib", "64 MiB through the client: no deadlock, every byte back", 6, 90,
      HINT_RELAY, test_client_copy, &huge },
    { "client_half_close", "the client shuts down its sending side at the end of input", 5, 15,
      HINT_RELAY, test_client_copy, &after_eof },
    { "client_refused", "connection refused: exit 1 with the reason on standard error", 3, 10,
      HINT_CONNECT, test_client_refused, NULL },
    { "client_server_closes", "the server closes before the input ends: exit 1", 3, 20,
      HINT_RELAY, test_client_early_close, NULL },
};

const struct hn_table echo_client_suite = HN_TABLE("echo-client", client_rows);

/* ---------------------------------------------------------------- lifecycle */

static int echo_exchange(struct hn_proc *server)
{
    static const char msg[] = "ping\n";
    int fd = hn_connect_or_fail(server);
    char in[8];
    size_t got = hn_transfer(fd, msg, sizeof msg - 1, in, sizeof msg - 1,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got != sizeof msg - 1 || memcmp(in, msg, got) != 0)
        hn_fail_bytes("The server did not echo.", "\"ping\\n\"", msg, sizeof msg - 1, in, got);
    return fd;
}

const struct lifecycle_proto echo_lifecycle = { SOCK_STREAM, echo_exchange, false };
