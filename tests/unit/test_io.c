/*
 * test_io.c: lib/sl_io.c, full reads and writes and the client's relay.
 *
 * Big transfers run across socketpairs and loopback with a thread at the
 * other end, and some with a timer firing every millisecond, so that short
 * counts and EINTR really happen. The relay gets the SPEC's 64 MiB against a
 * naive echo peer that blocks while writing: a relay that sends its whole
 * input before reading would deadlock against it.
 */
#include "unit.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/time.h>

#define MIB (1024u * 1024u)
#define CHUNK_BYTES (64 * 1024)

/* The test data: a byte for every offset, so that a lost, repeated or
 * reordered chunk shows up as a mismatch at a known offset. */
static unsigned char pattern_byte(uint64_t offset)
{
    uint32_t x = (uint32_t)(offset * 2654435761u) ^ (uint32_t)(offset >> 16);
    return (unsigned char)(x >> 24);
}

static void fill_pattern(unsigned char *buf, uint64_t offset, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern_byte(offset + i);
}

/* Offset of the first byte of buf that differs from the pattern, or len. */
static size_t check_pattern(const unsigned char *buf, uint64_t offset, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != pattern_byte(offset + i))
            return i;
    }
    return len;
}

/* ---------------------------------------------------- EINTR on a timer -- */

static void on_alarm(int signo)
{
    (void)signo;
}

/* Interrupt whatever the process does every millisecond; the handler has
 * no SA_RESTART, so blocking calls return EINTR or a short count. */
static void start_interruptions(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval every_ms = {.it_interval = {0, 1000}, .it_value = {0, 1000}};
    ck_assert_int_eq(setitimer(ITIMER_REAL, &every_ms, NULL), 0);
}

static void stop_interruptions(void)
{
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
}

/* ------------------------------------------------ sl_read/write_full -- */

struct full_read_job {
    int fd;
    unsigned char *buf;
    size_t len;
    ssize_t got;
    int err;
};

static void *full_read_main(void *arg)
{
    struct full_read_job *job = arg;
    job->got = sl_read_full(job->fd, job->buf, job->len);
    job->err = errno;
    return NULL;
}

static void transfer_8mib(bool interrupted)
{
    size_t len = 8 * MIB;
    unsigned char *out = malloc(len), *in = malloc(len);
    ck_assert(out != NULL && in != NULL);
    fill_pattern(out, 0, len);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

    struct full_read_job job = {.fd = sv[1], .buf = in, .len = len};
    pthread_t reader;
    ck_assert_int_eq(pthread_create(&reader, NULL, full_read_main, &job), 0);
    if (interrupted)
        start_interruptions();
    ssize_t sent = sl_write_full(sv[0], out, len);
    int send_err = errno;
    unit_join(reader, 20);
    stop_interruptions();

    ck_assert_msg(sent == (ssize_t)len, "sl_write_full: %zd (%s)", sent, strerror(send_err));
    ck_assert_msg(job.got == (ssize_t)len, "sl_read_full: %zd (%s)", job.got,
                  strerror(job.err));
    ck_assert_uint_eq(check_pattern(in, 0, len), len);
    close(sv[0]);
    close(sv[1]);
    free(out);
    free(in);
}

START_TEST(full_transfer_8mib)
{
    transfer_8mib(false);
}
END_TEST

START_TEST(full_transfer_8mib_with_eintr)
{
    transfer_8mib(true);
}
END_TEST

START_TEST(read_full_stops_at_eof)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "0123456789", 10), 10);
    close(p[1]);
    char buf[100];
    ck_assert_int_eq(sl_read_full(p[0], buf, sizeof buf), 10);
    ck_assert(memcmp(buf, "0123456789", 10) == 0);
    ck_assert_int_eq(sl_read_full(p[0], buf, sizeof buf), 0);
    close(p[0]);

    ck_assert_int_eq(sl_read_full(-1, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(read_full_eagain_is_an_error)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char buf[4];
    ck_assert_int_eq(sl_read_full(sv[0], buf, sizeof buf), -1);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(write_full_to_a_pipe)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    unsigned char buf[4000], back[4000];
    fill_pattern(buf, 7, sizeof buf);
    ck_assert_int_eq(sl_write_full(p[1], buf, sizeof buf), (ssize_t)sizeof buf);
    close(p[1]);
    ck_assert_int_eq(sl_read_full(p[0], back, sizeof back), (ssize_t)sizeof back);
    ck_assert(memcmp(buf, back, sizeof buf) == 0);
    close(p[0]);
}
END_TEST

START_TEST(write_full_to_a_closed_peer_is_epipe)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would end this test */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    ck_assert_int_eq(sl_write_full(sv[0], "hello", 5), -1);
    ck_assert_int_eq(errno, EPIPE);
    close(sv[0]);
}
END_TEST

/* -------------------------------------------------------- relay peers -- */

enum peer_mode {
    PEER_ECHO,        /* send back everything, close at end of stream */
    PEER_CLOSE_EARLY, /* echo close_after bytes, then close */
    PEER_RESET,       /* reset the connection at once */
};

struct peer {
    int fd;
    enum peer_mode mode;
    size_t close_after;
    pthread_t thread;
};

/* The naive echo server: it blocks in its write while the client is not
 * reading, and reads nothing meanwhile. */
static void peer_echo(int fd)
{
    char *buf = malloc(CHUNK_BYTES);
    for (;;) {
        ssize_t n = recv(fd, buf, CHUNK_BYTES, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || sl_write_full(fd, buf, (size_t)n) < 0)
            break;
    }
    free(buf);
}

static void peer_reset(int fd)
{
    /* A zero linger time makes close() send RST instead of FIN. */
    struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof abort_close);
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    char buf[256];
    switch (p->mode) {
    case PEER_ECHO: peer_echo(p->fd); break;
    case PEER_CLOSE_EARLY:
        if (sl_read_full(p->fd, buf, p->close_after) == (ssize_t)p->close_after)
            sl_write_full(p->fd, buf, p->close_after);
        break;
    case PEER_RESET: peer_reset(p->fd); break;
    }
    close(p->fd);
    return NULL;
}

/* A loopback TCP connection: the relay's end is returned, the peer's end
 * is served by a thread. */
static int start_tcp_peer(struct peer *p, enum peer_mode mode, size_t close_after)
{
    char err[SL_ERR_BYTES], port[16];
    int lfd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 1, err, sizeof err);
    ck_assert_msg(lfd >= 0, "%s", err);
    snprintf(port, sizeof port, "%u", unit_local_port(lfd));
    int sock = sl_connect("127.0.0.1", port, SOCK_STREAM, err, sizeof err);
    ck_assert_msg(sock >= 0, "%s", err);
    *p = (struct peer){.fd = accept(lfd, NULL, NULL), .mode = mode, .close_after = close_after};
    ck_assert_int_ge(p->fd, 0);
    close(lfd);
    ck_assert_int_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
    return sock;
}

/* The same over an AF_UNIX socketpair, whose buffers are much smaller. */
static int start_unix_peer(struct peer *p, enum peer_mode mode)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *p = (struct peer){.fd = sv[1], .mode = mode};
    ck_assert_int_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
    return sv[0];
}

/* ---------------------------------------------- relay input and output -- */

/* Writes `len` pattern bytes into a pipe, then closes it: the input. */
struct source {
    int fd;
    uint64_t len;
    pthread_t thread;
};

static void *source_main(void *arg)
{
    struct source *s = arg;
    unsigned char *buf = malloc(CHUNK_BYTES);
    for (uint64_t done = 0; buf != NULL && done < s->len;) {
        size_t n = s->len - done < CHUNK_BYTES ? (size_t)(s->len - done) : CHUNK_BYTES;
        fill_pattern(buf, done, n);
        if (sl_write_full(s->fd, buf, n) < 0)
            break;
        done += n;
    }
    free(buf);
    close(s->fd);
    return NULL;
}

/* Reads a pipe to its end, checking every byte against the pattern: the
 * output. */
struct sink {
    int fd;
    uint64_t got;
    uint64_t first_mismatch; /* UINT64_MAX if none */
    pthread_t thread;
};

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    unsigned char *buf = malloc(CHUNK_BYTES);
    s->first_mismatch = UINT64_MAX;
    while (buf != NULL) {
        ssize_t n = read(s->fd, buf, CHUNK_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t bad = check_pattern(buf, s->got, (size_t)n);
        if (bad < (size_t)n && s->first_mismatch == UINT64_MAX)
            s->first_mismatch = s->got + bad;
        s->got += (uint64_t)n;
    }
    free(buf);
    return NULL;
}

/* Relay `len` bytes from a pipe through the peer and back into a pipe, and
 * check that exactly the same bytes came out. */
static void relay_through(int sock, struct peer *peer, uint64_t len, bool interrupted)
{
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    struct source src = {.fd = in[1], .len = len};
    struct sink dst = {.fd = out[0]};
    ck_assert_int_eq(pthread_create(&src.thread, NULL, source_main, &src), 0);
    ck_assert_int_eq(pthread_create(&dst.thread, NULL, sink_main, &dst), 0);

    char err[SL_ERR_BYTES] = "";
    if (interrupted)
        start_interruptions();
    int rc = sl_relay(in[0], sock, out[1], err, sizeof err);
    stop_interruptions();
    ck_assert_msg(rc == 0, "sl_relay failed: %s", err);

    close(out[1]); /* the sink's end of file */
    close(in[0]);
    close(sock);
    unit_join(src.thread, 10);
    unit_join(dst.thread, 10);
    unit_join(peer->thread, 10);
    ck_assert_msg(dst.got == len, "%llu bytes in, %llu bytes out", (unsigned long long)len,
                  (unsigned long long)dst.got);
    ck_assert_msg(dst.first_mismatch == UINT64_MAX, "output differs from input at byte %llu",
                  (unsigned long long)dst.first_mismatch);
    close(out[0]);
}

START_TEST(relay_64mib_over_loopback)
{
    struct peer peer;
    int sock = start_tcp_peer(&peer, PEER_ECHO, 0);
    relay_through(sock, &peer, 64 * MIB, false);
}
END_TEST

START_TEST(relay_16mib_over_socketpair_with_eintr)
{
    struct peer peer;
    int sock = start_unix_peer(&peer, PEER_ECHO);
    relay_through(sock, &peer, 16 * MIB, true);
}
END_TEST

START_TEST(relay_empty_input)
{
    struct peer peer;
    int sock = start_tcp_peer(&peer, PEER_ECHO, 0);
    relay_through(sock, &peer, 0, false);
}
END_TEST

/* A file of n pattern bytes that lives in memory. */
static int memory_file(const char *name, size_t n)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    unsigned char *buf = malloc(n);
    fill_pattern(buf, 0, n);
    ck_assert_int_eq(sl_write_full(fd, buf, n), (ssize_t)n);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    free(buf);
    return fd;
}

START_TEST(relay_between_regular_files)
{
    size_t len = 3 * MIB + 17;
    int in = memory_file("relay-in", len);
    int out = memory_file("relay-out", 0);
    struct peer peer;
    int sock = start_tcp_peer(&peer, PEER_ECHO, 0);

    char err[SL_ERR_BYTES] = "";
    ck_assert_msg(sl_relay(in, sock, out, err, sizeof err) == 0, "%s", err);
    unit_join(peer.thread, 10);

    ck_assert_int_eq(lseek(out, 0, SEEK_CUR), (off_t)len);
    unsigned char *buf = malloc(len);
    ck_assert_int_eq(pread(out, buf, len, 0), (ssize_t)len);
    ck_assert_uint_eq(check_pattern(buf, 0, len), len);
    free(buf);
    close(in);
    close(out);
    close(sock);
}
END_TEST

START_TEST(relay_server_closes_before_input_ends)
{
    struct peer peer;
    int sock = start_tcp_peer(&peer, PEER_CLOSE_EARLY, 6);
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(write(in[1], "hello\n", 6), 6); /* and the input stays open */

    char err[SL_ERR_BYTES] = "";
    ck_assert_int_eq(sl_relay(in[0], sock, out[1], err, sizeof err), -1);
    ck_assert_str_eq(err, "server closed the connection before the input ended");
    unit_join(peer.thread, 10);

    /* What the server sent before it closed is not lost. */
    close(out[1]);
    char buf[16];
    ck_assert_int_eq(sl_read_full(out[0], buf, sizeof buf), 6);
    ck_assert(memcmp(buf, "hello\n", 6) == 0);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(sock);
}
END_TEST

START_TEST(relay_connection_reset)
{
    struct peer peer;
    int sock = start_tcp_peer(&peer, PEER_RESET, 0);
    unit_join(peer.thread, 10);
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);

    char err[SL_ERR_BYTES] = "";
    ck_assert_int_eq(sl_relay(in[0], sock, out[1], err, sizeof err), -1);
    ck_assert_str_eq(err, "recv: Connection reset by peer");
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    close(sock);
}
END_TEST

Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = unit_tcase("full", 30);
    tcase_add_test(tc, full_transfer_8mib);
    tcase_add_test(tc, full_transfer_8mib_with_eintr);
    tcase_add_test(tc, read_full_stops_at_eof);
    tcase_add_test(tc, read_full_eagain_is_an_error);
    tcase_add_test(tc, write_full_to_a_pipe);
    tcase_add_test(tc, write_full_to_a_closed_peer_is_epipe);
    suite_add_tcase(s, tc);

    tc = unit_tcase("relay", 60);
    tcase_add_test(tc, relay_64mib_over_loopback);
    tcase_add_test(tc, relay_16mib_over_socketpair_with_eintr);
    tcase_add_test(tc, relay_empty_input);
    tcase_add_test(tc, relay_between_regular_files);
    tcase_add_test(tc, relay_server_closes_before_input_ends);
    tcase_add_test(tc, relay_connection_reset);
    suite_add_tcase(s, tc);
    return s;
}
