/*
 * reverse.c: the reverse protocol suite (SPEC "Protocols: reverse").
 *
 * Most rows are one exchange: these bytes sent in this way, these bytes back.
 * The way matters as much as the bytes: a line may arrive a byte at a time or
 * many lines in one segment, and a server that assumes one recv() is one
 * line fails here.
 */
#include "suites.h"

#include <netinet/tcp.h>
#include <time.h>

#define HINT_LINES "03-reverse: Step 1: Read lines"
#define HINT_UTF8 "03-reverse: Step 2: Validate UTF-8"
#define HINT_REVERSE "03-reverse: Step 3: Reverse code points"
#define HINT_LONG "03-reverse: Step 4: Lines that are too long"
#define HINT_LAST "03-reverse: Step 5: The last line"
#define HINT_CLIENT "03-reverse: Step 6: The client"

#define MAX_LINE 4096

enum chunking {
    ALL_AT_ONCE,   /* one send() */
    BYTE_BY_BYTE,  /* one byte per segment, TCP_NODELAY, a pause between */
};

/* One exchange: bytes sent (len, since they may hold NUL), bytes expected. */
struct exchange {
    const char *send;
    size_t send_len;
    const char *expect;
    size_t expect_len;
    enum chunking how;
    bool then_fin; /* shut down the sending side after it, then expect EOF */
};

#define BYTES(s) (s), sizeof(s) - 1

static void send_bytewise(int fd, const char *data, size_t len)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timespec pause = { 0, 1000 * 1000 };
    for (size_t i = 0; i < len; i++) {
        if (hn_send_all(fd, data + i, 1, hn_ms(2000)) != 1)
            hn_fail("Could not send byte %zu of %zu: %s", i, len, strerror(errno));
        nanosleep(&pause, NULL);
    }
}

/* Send, then read exactly the expected number of bytes and compare. */
static void run_exchange(struct hn_proc *server, const struct exchange *x, const char *what)
{
    int fd = hn_connect_or_fail(server);
    char *in = malloc(x->expect_len + 1);
    size_t got;
    if (x->how == BYTE_BY_BYTE) {
        send_bytewise(fd, x->send, x->send_len);
        if (x->then_fin)
            shutdown(fd, SHUT_WR);
        got = hn_recv_exact(fd, in, x->expect_len, hn_ms(3000));
    } else {
        struct hn_transfer_opts o = { hn_ms(5000), 0, x->then_fin };
        got = hn_transfer(fd, x->send, x->send_len, in, x->expect_len, &o);
    }
    char sent[400];
    hn_show(x->send, x->send_len, sent, sizeof sent - 40);
    if (x->how == BYTE_BY_BYTE)
        strcat(sent, ", one byte per segment");
    if (x->then_fin)
        strcat(sent, ", then FIN");
    if (got != x->expect_len || memcmp(in, x->expect, x->expect_len) != 0)
        hn_fail_bytes(what, sent, x->expect, x->expect_len, in, got);
    size_t extra;
    if (x->then_fin && !hn_expect_eof(fd, hn_ms(3000), &extra))
        hn_fail("The answers came, but the server did not close the connection after the "
                "client's FIN (%zu more bytes came).\n  sent: %s", extra, sent);
    free(in);
    close(fd);
}

static void test_exchange(const struct hn_test *t)
{
    struct hn_proc *server = hn_start_server(NULL, NULL);
    run_exchange(server, t->param, t->title);
}

static const struct exchange x_ascii = { BYTES("hello, world\n"), BYTES("dlrow ,olleh\n"),
                                         ALL_AT_ONCE, false };
static const struct exchange x_korean = { BYTES("가나다\n"), BYTES("다나가\n"), ALL_AT_ONCE,
                                          false };
static const struct exchange x_mixed = { BYTES("aé가😀z\n"), BYTES("z😀가éa\n"), ALL_AT_ONCE,
                                         false };
static const struct exchange x_empty = { BYTES("\n\nx\n"), BYTES("\n\nx\n"), ALL_AT_ONCE,
                                         false };
/* Only the \r just before the \n is dropped: one elsewhere is a character. */
static const struct exchange x_crlf = { BYTES("abc\r\nde\r\na\rb\r\n\r\r\n\rx\n"),
                                        BYTES("cba\ned\nb\ra\n\r\nx\r\n"), ALL_AT_ONCE,
                                        false };
static const struct exchange x_bytewise = { BYTES("가나다 abc\r\nxy\n"),
                                            BYTES("cba 다나가\nyx\n"), BYTE_BY_BYTE, false };
/* The kinds of Step 2's table, each on its own line: \xe0\x80\xaf is an overlong
 * form that only the "smallest" check catches, \xe4AB a lead byte followed by
 * bytes that are not continuation bytes. */
static const struct exchange x_invalid = {
    BYTES("\xff\n\xc0\xaf\n\xed\xa0\x80\n\xe4\xb8\n\xf4\x90\x80\x80\n\xe0\x80\xaf\n"
          "\xe4" "AB\nok\n"),
    BYTES("ERR invalid UTF-8\nERR invalid UTF-8\nERR invalid UTF-8\nERR invalid UTF-8\n"
          "ERR invalid UTF-8\nERR invalid UTF-8\nERR invalid UTF-8\nko\n"),
    ALL_AT_ONCE, false
};
static const struct exchange x_nul = { BYTES("a\0b%n%s%x\n"), BYTES("x%s%n%b\0a\n"),
                                       ALL_AT_ONCE, false };
/* No \n follows the last line, so the \r at its end is a character. */
static const struct exchange x_last = { BYTES("first\nno newline\r"),
                                        BYTES("tsrif\n\renilwen on\n"), ALL_AT_ONCE, true };
static const struct exchange x_last_bytewise = { BYTES("ab\ncd"), BYTES("ba\ndc\n"),
                                                 BYTE_BY_BYTE, true };

static void test_pipelined(const struct hn_test *t)
{
    enum { LINES = 300 };
    char *out = malloc(LINES * 32), *want = malloc(LINES * 32);
    size_t olen = 0, wlen = 0;
    for (int i = 0; i < LINES; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line %d of %d", i + 1, LINES);
        memcpy(out + olen, line, (size_t)n);
        olen += (size_t)n;
        out[olen++] = '\n';
        for (int k = n - 1; k >= 0; k--)
            want[wlen++] = line[k];
        want[wlen++] = '\n';
    }
    struct exchange x = { out, olen, want, wlen, ALL_AT_ONCE, false };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    run_exchange(server, &x, t->title);
    free(out);
    free(want);
}

/* A line of n bytes of c, with the given ending. */
static size_t make_line(char *buf, size_t n, char c, const char *ending)
{
    memset(buf, c, n);
    strcpy(buf + n, ending);
    return n + strlen(ending);
}

static void test_too_long(const struct hn_test *t)
{
    char *out = malloc(3 * MAX_LINE + 64);
    size_t len = make_line(out, 5000, 'x', "\nok\n");
    struct exchange x = { out, len, BYTES("ERR line too long\nko\n"), ALL_AT_ONCE, false };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    run_exchange(server, &x, t->title);
    /* A long line that arrives in pieces, longer than any one read. */
    len = make_line(out, 3 * MAX_LINE, 'y', "\nend\n");
    struct exchange y = { out, len, BYTES("ERR line too long\ndne\n"), ALL_AT_ONCE, false };
    run_exchange(server, &y, "a 12288-byte line, then \"end\": one ERR, then \"dne\"");
    free(out);
}

static void test_at_limit(const struct hn_test *t)
{
    (void)t;
    char *out = malloc(2 * MAX_LINE + 64), *want = malloc(MAX_LINE + 64);
    struct hn_proc *server = hn_start_server(NULL, NULL);
    size_t len = make_line(out, MAX_LINE, 'z', "\r\n");
    make_line(want, MAX_LINE, 'z', "\n");
    struct exchange x = { out, len, want, MAX_LINE + 1, ALL_AT_ONCE, false };
    run_exchange(server, &x, "A line of exactly 4096 bytes (then \\r\\n) is within the limit: "
                             "the limit counts neither \\n nor a dropped \\r.");
    len = make_line(out, MAX_LINE + 1, 'z', "\n");
    struct exchange y = { out, len, BYTES("ERR line too long\n"), ALL_AT_ONCE, false };
    run_exchange(server, &y, "A line of 4097 bytes is one too many.");
    free(out);
    free(want);
}

static void test_reset(const struct hn_test *t)
{
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int rude = hn_connect_or_fail(server);
    hn_send_all(rude, "half a li", 9, hn_ms(1000));
    struct timespec pause = { 0, 50 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    hn_close_reset(rude);
    struct exchange x = { BYTES("still there?\n"), BYTES("?ereht llits\n"), ALL_AT_ONCE, false };
    int status;
    char how[96];
    nanosleep(&pause, NULL);
    if (hn_wait_exit(server, 0, &status) == 0)
        hn_fail("The server died (%s) when a client reset its connection in the middle of a "
                "line.\nECONNRESET from recv() ends that client only.",
                hn_describe_status(status, how, sizeof how));
    run_exchange(server, &x, t->title);
}

static const struct hn_test server_rows[] = {
    { "reverse_ascii", "an ASCII line comes back reversed", 5, 10, HINT_REVERSE, test_exchange,
      &x_ascii },
    { "reverse_korean", "가나다 becomes 다나가: code points, not bytes", 7, 10, HINT_REVERSE,
      test_exchange, &x_korean },
    { "reverse_mixed_utf8", "1- to 4-byte characters mixed reverse as characters", 5, 10,
      HINT_REVERSE, test_exchange, &x_mixed },
    { "reverse_empty_lines", "an empty line is answered with an empty line", 4, 10,
      HINT_LINES, test_exchange, &x_empty },
    { "reverse_crlf", "a \\r before the \\n is dropped, any other \\r is kept", 5, 10,
      HINT_LINES, test_exchange, &x_crlf },
    { "reverse_pipelined", "300 lines in one send: 300 answers, in order", 6, 15, HINT_LINES,
      test_pipelined, NULL },
    { "reverse_byte_by_byte", "a line sent one byte per segment is one line", 6, 15,
      HINT_LINES, test_exchange, &x_bytewise },
    { "reverse_invalid_utf8", "each kind of invalid UTF-8 gets ERR invalid UTF-8; the next line works", 7,
      10, HINT_UTF8, test_exchange, &x_invalid },
    { "reverse_nul_percent", "NUL and %n%s inside a line are just characters", 4, 10,
      HINT_REVERSE, test_exchange, &x_nul },
    { "reverse_too_long", "a line over 4096 bytes gets ERR line too long, once", 7, 15,
      HINT_LONG, test_too_long, NULL },
    { "reverse_at_limit", "4096 bytes pass, 4097 do not", 5, 15, HINT_LONG, test_at_limit,
      NULL },
    { "reverse_last_line", "a last line cut off by FIN is answered, then close", 6, 10,
      HINT_LAST, test_exchange, &x_last },
    { "reverse_last_line_bytewise", "the same, a byte per segment", 3, 10, HINT_LAST,
      test_exchange, &x_last_bytewise },
    { "reverse_reset", "a client that resets mid-line does not take the server down", 5, 15,
      HINT_LINES, test_reset, NULL },
};

const struct hn_table reverse_server_suite = HN_TABLE("reverse", server_rows);

/* -------------------------------------------------------------- client side */

static char *write_file(const char *name, const char *data, size_t len)
{
    char *path = hn_temp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        hn_fail("harness: cannot write %s", path);
    fclose(f);
    return path;
}

static void test_client_lines(const struct hn_test *t)
{
    size_t lines = t->param ? 1000000 : 2;
    size_t cap = lines * 32 + 64;
    char *in = malloc(cap), *want = malloc(cap);
    size_t ilen = 0, wlen = 0;
    for (size_t i = 0; i < lines; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line number %zu", i + 1);
        memcpy(in + ilen, line, (size_t)n);
        ilen += (size_t)n;
        in[ilen++] = '\n';
        for (int k = n - 1; k >= 0; k--)
            want[wlen++] = line[k];
        want[wlen++] = '\n';
    }
    char *in_path = write_file("input", in, ilen);
    char *out_path = hn_temp_path("output");
    struct peer *peer = peer_start(PEER_REVERSE_LINES);
    char ptxt[8];
    const char *args[] = { "-a", "127.0.0.1", "-p", port_text(peer_port(peer), ptxt), NULL };
    struct hn_spawn_opts o = { in_path, out_path, false };
    struct hn_proc *client = hn_spawn("client", args, &o);
    int status;
    char how[96];
    if (hn_wait_exit(client, hn_ms(30000), &status) < 0)
        hn_fail("The client was still running 30 s after it started with %zu lines of input "
                "(%zu bytes).\nA client that writes all its input before reading any answer "
                "deadlocks once the buffers fill.", lines, ilen);
    peer_finish(peer);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        hn_fail("The client ended with %s after its input ended.\n  expected: exit status 0",
                hn_describe_status(status, how, sizeof how));
    FILE *f = fopen(out_path, "rb");
    char *got = malloc(cap);
    size_t glen = f ? fread(got, 1, cap, f) : 0;
    if (f)
        fclose(f);
    if (glen != wlen || memcmp(got, want, wlen) != 0) {
        char sent[96];
        snprintf(sent, sizeof sent, "%zu lines on standard input", lines);
        hn_fail_bytes("The client did not print every answer, in order.", sent, want, wlen, got,
                      glen);
    }
    free(in);
    free(want);
    free(got);
    free(in_path);
    free(out_path);
}

static const int many_lines = 1;

static const struct hn_test client_rows[] = {
    { "reverse_client_lines", "two lines in, two answers out, exit 0", 5, 10, HINT_CLIENT,
      test_client_lines, NULL },
    { "reverse_client_many", "1000000 lines (19 MB): no deadlock, every answer in order", 6, 40,
      HINT_CLIENT, test_client_lines, &many_lines },
};

const struct hn_table reverse_client_suite = HN_TABLE("reverse-client", client_rows);

/* ---------------------------------------------------------------- lifecycle */

static int reverse_exchange(struct hn_proc *server)
{
    int fd = hn_connect_or_fail(server);
    char in[8];
    size_t got = hn_transfer(fd, "abc\n", 4, in, 4,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got != 4 || memcmp(in, "cba\n", 4) != 0)
        hn_fail_bytes("The server did not answer.", "\"abc\\n\"", "cba\n", 4, in, got);
    return fd;
}

const struct lifecycle_proto reverse_lifecycle = { SOCK_STREAM, reverse_exchange, false };
