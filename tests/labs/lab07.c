/*
 * lab07.c: the autograder of lab 07, a single-threaded echo server that
 * serves many clients at once with non-blocking sockets and a busy loop.
 *
 * The echo suite checks the protocol. This file adds what SPEC says lab 07's
 * server must show: one thread; its sockets in O_NONBLOCK mode, read from
 * /proc/PID/fdinfo; many clients served at once; and, since one thread
 * serves them all, that no client can hold up the others or make the
 * server's memory grow without bound.
 *
 * A busy-loop server never sleeps, so nothing here waits for it to block.
 */
#include "suites.h"

#include <pthread.h>
#include <time.h>

#define HINT_NONBLOCK "07-nonblock: Step 1: Make the sockets non-blocking"
#define HINT_READ "07-nonblock: Step 2: Read until EAGAIN"
#define HINT_WRITE "07-nonblock: Step 3: Keep what send() did not take"
#define HINT_LOOP "07-nonblock: Step 4: Go round every client"

#define MANY_CLIENTS 50
#define MIB (1024 * 1024)

/* One message per client, different for each, so that a mix-up shows. */
static void client_message(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "client %02d of %d says hello\n", i + 1, MANY_CLIENTS);
}

static void expect_echo(int fd, const char *msg, const char *sent, int timeout_ms)
{
    size_t len = strlen(msg);
    char in[256];
    size_t got = hn_recv_exact(fd, in, len, timeout_ms);
    if (got != len || memcmp(in, msg, len) != 0)
        hn_fail_bytes("The echo differs or did not come.", sent, msg, len, in, got);
}

static void test_one_thread(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fds[10];
    for (int i = 0; i < 10; i++) {
        fds[i] = hn_connect_or_fail(server);
        if (hn_send_all(fds[i], "still here\n", 11, hn_ms(1000)) != 11)
            hn_fail("Could not send to client %d: %s", i + 1, strerror(errno));
    }
    for (int i = 0; i < 10; i++)
        expect_echo(fds[i], "still here\n", "\"still here\\n\" from 10 clients connected at once",
                    hn_ms(3000));
    pid_t pid = hn_pid(server);
    int threads = hn_threads(pid), children = hn_children(pid, NULL, 0);
    if (threads != 1 || children != 0)
        hn_fail("With 10 clients connected, the server has %d thread(s) and %d child "
                "process(es).\n  expected: 1 thread and no child: lab 07 serves every client "
                "from one loop in one thread",
                threads, children);
    for (int i = 0; i < 10; i++)
        close(fds[i]);
}

/* The O_NONBLOCK flag of every socket the server holds, checked in fdinfo. */
static void expect_all_nonblocking(pid_t pid, const char *when, int want_sockets)
{
    int fds[64];
    int n = hn_socket_fds(pid, fds, 64);
    if (n < want_sockets)
        hn_fail("%s, the server holds %d socket(s); expected at least %d.", when, n,
                want_sockets);
    for (int i = 0; i < n && i < 64; i++) {
        unsigned flags;
        if (hn_fd_flags(pid, fds[i], &flags) < 0)
            continue; /* closed meanwhile */
        if (!(flags & O_NONBLOCK))
            hn_fail("%s, the server's socket on descriptor %d is in blocking mode (flags %o "
                    "in /proc/%d/fdinfo/%d have no O_NONBLOCK, 04000).\n  expected: every socket "
                    "non-blocking, so that no call can stop the one thread",
                    when, fds[i], flags, (int)pid, fds[i]);
    }
}

static void test_listener_nonblocking(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    usleep((useconds_t)hn_ms(200) * 1000);
    /* No client yet: the only socket is the listening one. */
    expect_all_nonblocking(hn_pid(server), "Before any client came", 1);
}

static void test_clients_nonblocking(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = hn_connect_or_fail(server);
        if (hn_send_all(fds[i], "flags?\n", 7, hn_ms(1000)) != 7)
            hn_fail("Could not send to client %d: %s", i + 1, strerror(errno));
        expect_echo(fds[i], "flags?\n", "\"flags?\\n\" from each of 5 clients", hn_ms(3000));
    }
    expect_all_nonblocking(hn_pid(server), "With 5 clients connected", 6);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
}

/*
 * Fifty clients connect and all send before any reads; then they read in
 * reverse order. A server that serves one client at a time until it leaves
 * answers only the first.
 */
static void test_many_at_once(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fds[MANY_CLIENTS];
    char msg[64];
    for (int i = 0; i < MANY_CLIENTS; i++) {
        fds[i] = hn_connect_or_fail(server);
        client_message(i, msg, sizeof msg);
        if (hn_send_all(fds[i], msg, strlen(msg), hn_ms(1000)) != strlen(msg))
            hn_fail("Could not send to client %d: %s", i + 1, strerror(errno));
    }
    for (int i = MANY_CLIENTS - 1; i >= 0; i--) {
        client_message(i, msg, sizeof msg);
        size_t len = strlen(msg);
        char in[64];
        size_t got = hn_recv_exact(fds[i], in, len, hn_ms(3000));
        if (got != len || memcmp(in, msg, len) != 0) {
            char what[160];
            snprintf(what, sizeof what,
                     "%d clients connected and each sent one line, all still connected; "
                     "client %d's echo differs or did not come.",
                     MANY_CLIENTS, i + 1);
            hn_fail_bytes(what, "one line from each client, then all read, last client first",
                          msg, len, in, got);
        }
    }
    for (int i = 0; i < MANY_CLIENTS; i++)
        close(fds[i]);
}

/*
 * One client sends 8 MiB and does not read for 2 s. Meanwhile another
 * client must be served at once: a loop that waits until a slow client's
 * socket takes everything stops serving the rest. Then the slow one reads,
 * and every byte must be there, in order.
 */
struct slow_writer {
    int fd;
    unsigned char *data;
    size_t len;
    size_t sent;
};

static void *send_everything(void *arg)
{
    struct slow_writer *w = arg;
    w->sent = hn_send_all(w->fd, w->data, w->len, hn_ms(20000));
    return NULL;
}

static void test_slow_reader(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    struct slow_writer w = { hn_connect_or_fail(server), malloc(8 * MIB), 8 * MIB, 0 };
    unsigned char *in = malloc(8 * MIB);
    if (w.data == NULL || in == NULL)
        hn_fail("The test ran out of memory.");
    hn_pattern(w.data, w.len, 7);
    pthread_t writer;
    if (pthread_create(&writer, NULL, send_everything, &w) != 0)
        hn_fail("The test could not start a thread.");
    usleep((useconds_t)hn_ms(700) * 1000); /* the slow client's data piles up */

    int other = hn_connect_or_fail(server);
    if (hn_send_all(other, "me too\n", 7, hn_ms(1000)) != 7)
        hn_fail("Could not send to the second client: %s", strerror(errno));
    expect_echo(other, "me too\n",
                "client 2: \"me too\\n\" while client 1 sends 8 MiB and reads nothing",
                hn_ms(1500));
    close(other);

    usleep((useconds_t)hn_ms(1000) * 1000);
    size_t got = hn_recv_exact(w.fd, in, w.len, hn_ms(20000));
    pthread_join(writer, NULL);
    if (w.sent != w.len)
        hn_fail("Client 1 could send only %zu of 8388608 bytes within 20 s after it started "
                "reading again: the server stopped reading from it.",
                w.sent);
    if (got != w.len || memcmp(in, w.data, w.len) != 0) {
        size_t at = 0;
        while (at < got && in[at] == w.data[at])
            at++;
        hn_fail("Client 1 sent 8 MiB and read nothing for 2 s, then read: %zu bytes came back, "
                "the first wrong or missing one at offset %zu.\n  expected: all 8388608 bytes "
                "in order. What send() does not take (EAGAIN, or a short count) must wait in "
                "the connection's output buffer, not be dropped",
                got, at);
    }
    close(w.fd);
    free(w.data);
    free(in);
}

/*
 * A client with a small receive buffer sends 8 MiB and its FIN while it
 * reads the echo slowly, so that when the FIN reaches the server, part of
 * the echo still waits in the server's output buffer (the kernel cannot take
 * it: the client's window is small and it reads slowly). The server must
 * send all of it, then close. One that closes at the FIN cuts the echo
 * short, with a clean end of stream that hides the loss.
 */
static void *send_then_fin(void *arg)
{
    struct slow_writer *w = arg;
    w->sent = hn_send_all(w->fd, w->data, w->len, hn_ms(20000));
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

/* A client socket whose receive buffer is small from the start (set before
 * connect(), so the window it offers is small from the handshake on). */
static int connect_small_window(struct hn_proc *server)
{
    int small = 16 * 1024;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        hn_fail("The test could not create a socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)hn_port(server)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        hn_fail("Could not connect to the server: %s", strerror(errno));
    return fd;
}

static void test_drain_before_close(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    struct slow_writer w = { connect_small_window(server), malloc(8 * MIB), 8 * MIB, 0 };
    unsigned char *in = malloc(8 * MIB);
    if (w.data == NULL || in == NULL)
        hn_fail("The test ran out of memory.");
    hn_pattern(w.data, w.len, 5);
    pthread_t writer;
    if (pthread_create(&writer, NULL, send_then_fin, &w) != 0)
        hn_fail("The test could not start a thread.");
    /* Read slowly, 16 KiB every 2 ms (about 8 MiB/s), until the end. */
    size_t got = 0;
    for (int round = 0; got < w.len && round < 20000; round++) {
        size_t want = w.len - got < 16 * 1024 ? w.len - got : 16 * 1024;
        size_t n = hn_recv_exact(w.fd, in + got, want, hn_ms(3000));
        got += n;
        if (n < want)
            break; /* end of stream, or nothing for 3 s */
        usleep(2000);
    }
    bool ended = errno == 0; /* hn_recv_exact() saw the end of stream */
    pthread_join(writer, NULL);
    size_t at = 0;
    while (at < got && in[at] == w.data[at])
        at++;
    if (got != w.len || at != got)
        hn_fail("A client sent 8 MiB and then FIN (shutdown(SHUT_WR)), reading the echo "
                "slowly: %zu bytes came back%s, the first wrong or missing one at offset %zu.\n"
                "  expected: all 8388608 bytes in order, then the end of stream\n"
                "recv() returning 0 means the client has finished sending, not reading: "
                "close only once its output buffer is empty.",
                got, ended ? " before the server closed" : "", at);
    size_t extra;
    if (!hn_expect_eof(w.fd, hn_ms(3000), &extra))
        hn_fail("The whole echo came back, but then the server did not close the connection "
                "within 3 s (%zu more bytes came).\n  expected: end of stream once the echo "
                "is sent",
                extra);
    close(w.fd);
    free(w.data);
    free(in);
}

/*
 * A client sends as fast as it can and never reads. The server must stop
 * reading from it once its backlog is full (back-pressure), so its memory
 * stays bounded and TCP's flow control slows the client down.
 */
static void test_bounded_memory(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    int warm = hn_connect_or_fail(server);
    if (hn_send_all(warm, "warm-up\n", 8, hn_ms(1000)) != 8)
        hn_fail("Could not send to the server: %s", strerror(errno));
    expect_echo(warm, "warm-up\n", "\"warm-up\\n\"", hn_ms(3000));
    close(warm);
    long before = hn_rss_kib(pid);

    int fd = hn_connect_or_fail(server);
    static unsigned char chunk[64 * 1024];
    hn_pattern(chunk, sizeof chunk, 3);
    size_t pushed = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* Up to 64 MiB, for at most 3 s: non-blocking sends, never a read. */
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        double secs = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (pushed >= 64u * MIB || secs > hn_ms(3000) / 1000.0)
            break;
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            pushed += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            hn_fail("Sending to the server failed after %zu bytes: %s", pushed,
                    strerror(errno));
        else
            usleep(1000);
    }
    long after = hn_rss_kib(pid);
    if (before < 0 || after < 0)
        hn_fail("Could not read the server's VmRSS in /proc/%d/status.", (int)pid);
    if (after - before > 32 * 1024)
        hn_fail("A client sent %zu MiB and never read. The server's memory grew from %ld KiB "
                "to %ld KiB.\n  expected: growth under 32 MiB: once a client's unsent echo "
                "reaches a bound, stop reading from it until it drains (back-pressure)",
                pushed / MIB, before, after);
    /* And the others are still served. */
    int other = hn_connect_or_fail(server);
    if (hn_send_all(other, "anyone?\n", 8, hn_ms(1000)) != 8)
        hn_fail("Could not send to a second client: %s", strerror(errno));
    expect_echo(other, "anyone?\n", "client 2: \"anyone?\\n\" while client 1 never reads",
                hn_ms(2000));
    close(other);
    hn_close_reset(fd);
}

static const struct hn_test lab07_rows[] = {
    { "lab07_one_thread", "10 clients at once, one process, one thread", 5, 10, HINT_LOOP,
      test_one_thread, NULL },
    { "lab07_listener_nonblocking", "the listening socket is in O_NONBLOCK mode (fdinfo)", 5,
      10, HINT_NONBLOCK, test_listener_nonblocking, NULL },
    { "lab07_clients_nonblocking", "every client socket is in O_NONBLOCK mode (fdinfo)", 5, 10,
      HINT_NONBLOCK, test_clients_nonblocking, NULL },
    { "lab07_many_at_once", "50 clients send at once, each gets its own echo", 8, 15,
      HINT_LOOP, test_many_at_once, NULL },
    { "lab07_slow_reader", "a client that reads late loses nothing and holds no one up", 7,
      40, HINT_WRITE, test_slow_reader, NULL },
    { "lab07_drain_before_close", "8 MiB then FIN, read slowly: all the echo, then the close",
      5, 30, HINT_READ, test_drain_before_close, NULL },
    { "lab07_bounded_memory", "a client that never reads: memory stays bounded", 5, 20,
      HINT_READ, test_bounded_memory, NULL },
};

static const struct hn_table lab07_table = HN_TABLE("lab07", lab07_rows);

int main(int argc, char **argv)
{
    /* The busy loop never sleeps: the lifecycle rows must not wait for it to. */
    struct lifecycle_proto busy_echo = echo_lifecycle;
    busy_echo.never_sleeps = true;
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_", "07-nonblock: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&busy_echo);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    static const struct suite_hint echo_hints[] = {
        { "echo_ipv6", "07-nonblock: Start, stop and errors" },
        { "echo_large", "07-nonblock: Step 3: Keep what send() did not take" },
        { "echo_slow_reader", "07-nonblock: Step 3: Keep what send() did not take" },
        { "echo_half_close", "07-nonblock: Step 4: Go round every client" },
        { "echo_", "07-nonblock: Step 2: Read until EAGAIN" },
        { NULL, NULL },
    };
    struct hn_table echo = suite_hints(&echo_server_suite, echo_hints);
    const struct hn_table *tables[] = { &echo, &lifecycle, &lab07_table, NULL };
    struct hn_lab lab = { "lab07", "07-nonblock",
                          "a non-blocking, single-threaded echo server (busy loop)", tables };
    return hn_main(&lab, argc, argv);
}
