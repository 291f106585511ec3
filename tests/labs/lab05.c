/*
 * lab05.c: the autograder of lab 05, a TCP echo server with a thread per
 * connection (default) or a fixed pool of worker threads (-w N).
 *
 * The echo and lifecycle suites check the protocol and the server's life;
 * this file adds what SPEC says lab 05's server must show: a thread per
 * connection that ends with its client, many overlapping connections each
 * served with its own bytes, a pool that never grows past N + 1 threads and
 * still serves everyone, no thread stack left behind, the stop signals kept
 * for the main thread, and a stop that works even when the pool is swamped.
 *
 * Every check looks from outside: through the sockets, and through /proc
 * (Threads: and VmSize: of /proc/PID/status, SigBlk: of each thread's
 * /proc/PID/task/TID/status).
 */
#include "suites.h"

#include <dirent.h>
#include <poll.h>
#include <time.h>

#define HINT_THREAD "05-threads: Step 1: Serve a client in a thread"
#define HINT_DETACHED "05-threads: Step 2: A detached thread per connection"
#define HINT_SIGNALS "05-threads: Step 3: Keep the stop signals for the main thread"
#define HINT_OPTION "05-threads: Step 4: Read the -w option"
#define HINT_QUEUE "05-threads: Step 5: A bounded queue of descriptors"
#define HINT_POOL "05-threads: Step 6: A fixed pool of workers"

#define MIB_KIB 1024L

/* Clients a test opens at once. */
#define BURST 50

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Send msg on fd and expect it back within 3 s; fail saying what was sent. */
static void expect_echo(int fd, const char *msg, const char *sent)
{
    size_t len = strlen(msg);
    char in[128];
    size_t got = hn_transfer(fd, msg, len, in, len,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got != len || memcmp(in, msg, len) != 0)
        hn_fail_bytes("The echo did not come back whole within 3 s.", sent, msg, len, in, got);
}

/* Connect one more client, or fail saying whether the server is still there. */
static int connect_client(struct hn_proc *server, const char *which)
{
    int fd = hn_connect(hn_proc_addr(server), hn_port(server), hn_ms(3000));
    if (fd >= 0)
        return fd;
    int e = errno, status;
    char how[96];
    if (hn_wait_exit(server, 100, &status) == 0)
        hn_fail("%s could not connect (%s): the server had exited (%s).\n"
                "  expected: the server keeps running and accepting as clients come and go",
                which, strerror(e), hn_describe_status(status, how, sizeof how));
    hn_fail("%s could not connect to the server: %s.", which, strerror(e));
}

/* Wait up to timeout_ms until pid has exactly want threads; returns the last
 * count seen. */
static int wait_threads(pid_t pid, int want, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    int n;
    while ((n = hn_threads(pid)) != want && now_ms() < deadline)
        sleep_ms(5);
    return n;
}

/* The thread ids of pid (entries of /proc/PID/task): their number, at most max. */
static int thread_ids(pid_t pid, pid_t *out, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
            out[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

/* One connection of a burst: its own bytes out, what came back in. */
struct conn {
    int fd;
    char *out, *in;
    size_t len;  /* bytes to send, and to get back */
    size_t sent; /* sent so far */
    size_t got;  /* received so far (one more than len means too many) */
    bool eof;    /* the server closed it */
    int error;   /* errno of a failed recv() or send(), or 0 */
};

/* How a burst of connections behaves. */
struct burst {
    size_t min_bytes;   /* each connection sends at least this much */
    size_t extra_bytes; /* and up to this much more, different for each */
    int read_pause_ms;  /* the clients read nothing for this long at first */
};

/* A connection's own bytes: its number in text, then a pattern of its own,
 * of a size that differs from its neighbours'. */
static void fill_payload(struct conn *c, const struct burst *b, int index, int total)
{
    c->len = b->min_bytes + (size_t)(index * 7919) % b->extra_bytes;
    c->out = malloc(c->len);
    c->in = malloc(c->len + 1);
    hn_pattern(c->out, c->len, 5000u + (uint32_t)index);
    int head = snprintf(c->out, c->len, "connection %d of %d:", index + 1, total);
    if (head > 0 && (size_t)head < c->len)
        c->out[head] = '\n'; /* replaces snprintf's NUL: the payload is bytes */
}

static bool conn_done(const struct conn *c)
{
    return c->eof || c->error != 0 || c->got > c->len;
}

/* One step of a connection that poll() says is ready; returns bytes moved.
 * Bytes that arrive from the server are only read when `reading`. */
static size_t conn_step(struct conn *c, short revents, bool reading)
{
    size_t moved = 0;
    if ((revents & POLLOUT) && c->sent < c->len) {
        ssize_t n = send(c->fd, c->out + c->sent, c->len - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            moved += (size_t)n;
            if (c->sent == c->len)
                shutdown(c->fd, SHUT_WR);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            c->error = errno;
        }
    }
    if (reading && (revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(c->fd, c->in + c->got, c->len + 1 - c->got, MSG_DONTWAIT);
        if (n > 0) {
            c->got += (size_t)n;
            moved += (size_t)n;
        } else if (n == 0) {
            c->eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            c->error = errno;
        }
    }
    return moved;
}

/* Fail with what went wrong on connection c, number index of total. */
static void conn_verdict(const struct conn *c, const struct burst *b, int index, int n,
                         int total, const char *mode, const char *nobody)
{
    if (c->got == c->len && memcmp(c->in, c->out, c->len) == 0 && c->eof)
        return;
    char sent[256];
    snprintf(sent, sizeof sent,
             "%d connections open at once (%s), all sending together (and reading too%s), "
             "each its own bytes and then FIN; this is connection %d of %d, %zu bytes "
             "starting \"connection %d of %d:\"", n, mode,
             b->read_pause_ms ? ", after a pause" : "", index + 1, total, c->len, index + 1,
             total);
    size_t shown = c->got > c->len ? c->len : c->got;
    if (c->got == 0 && !c->eof && c->error == 0)
        hn_fail_bytes(nobody, sent, c->out, c->len, c->in, 0);
    if (c->got > c->len || (shown > 0 && memcmp(c->in, c->out, shown) != 0))
        hn_fail_bytes("A connection got back bytes that are not its own: threads that share a "
                      "buffer or a descriptor mix up their clients' bytes.",
                      sent, c->out, c->len, c->in, shown);
    if (c->got < c->len) {
        char what[200];
        snprintf(what, sizeof what, "A connection got back only part of its bytes, then %s.",
                 c->error ? strerror(c->error)
                 : c->eof ? "the server closed it (did a thread close a descriptor that was "
                            "not its own?)"
                          : "nothing more for 3 s");
        hn_fail_bytes(what, sent, c->out, c->len, c->in, c->got);
    }
    hn_fail("Connection %d of %d (%s) got all its bytes back, but the server did not close it "
            "after its FIN within 3 s.\n  expected: recv() returns 0, the thread closes the "
            "socket", index + 1, total, mode);
}

/*
 * Open n connections at once, then send on all of them and read from all of
 * them together (poll), each its own bytes and then FIN. Every connection
 * must get exactly its own bytes back and then the server's close. With a
 * read pause, the server's threads block in send() while others still
 * receive: a buffer they share cannot go unnoticed. `first` and `total`
 * number the connections in messages; `nobody` is the message for one that
 * got nothing at all. The server's thread count is sampled all along;
 * returns the most seen.
 */
static int burst_echo(struct hn_proc *server, const struct burst *b, int n, int first,
                      int total, const char *mode, const char *nobody)
{
    pid_t pid = hn_pid(server);
    int most = hn_threads(pid);
    struct conn conns[BURST];
    struct pollfd pfds[BURST];
    int map[BURST];
    char who[96];
    memset(conns, 0, sizeof conns);
    for (int i = 0; i < n; i++) {
        snprintf(who, sizeof who, "Connection %d of %d (%s)", first + i + 1, total, mode);
        conns[i].fd = connect_client(server, who);
        fill_payload(&conns[i], b, first + i, total);
        int th = hn_threads(pid);
        most = th > most ? th : most;
    }
    long start = now_ms(), deadline = start + hn_ms(20000), last_move = start, last_sample = 0;
    while (now_ms() < deadline && now_ms() - last_move < hn_ms(3000)) {
        bool reading = now_ms() - start >= b->read_pause_ms;
        if (!reading)
            last_move = now_ms();
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (conn_done(&conns[i]))
                continue;
            short ev = reading ? POLLIN : 0;
            if (conns[i].sent < conns[i].len)
                ev |= POLLOUT;
            pfds[m] = (struct pollfd){ conns[i].fd, ev, 0 };
            map[m++] = i;
        }
        if (m == 0)
            break;
        if (poll(pfds, (nfds_t)m, reading ? 100 : 10) < 0 && errno != EINTR)
            hn_fail("harness: poll: %s", strerror(errno));
        for (int k = 0; k < m; k++)
            if (pfds[k].revents != 0 && conn_step(&conns[map[k]], pfds[k].revents, reading) > 0)
                last_move = now_ms();
        if (now_ms() - last_sample >= 5) {
            int th = hn_threads(pid);
            most = th > most ? th : most;
            last_sample = now_ms();
        }
    }
    for (int i = 0; i < n; i++)
        conn_verdict(&conns[i], b, first + i, n, total, mode, nobody);
    for (int i = 0; i < n; i++) {
        close(conns[i].fd);
        free(conns[i].out);
        free(conns[i].in);
    }
    return most;
}

/* One client from start to end: connect, a line echoed, FIN, the server's
 * close. */
static void short_client(struct hn_proc *server, int index, int total)
{
    char who[64], msg[64];
    snprintf(who, sizeof who, "Client %d of %d", index, total);
    int fd = connect_client(server, who);
    snprintf(msg, sizeof msg, "client %d of %d\n", index, total);
    expect_echo(fd, msg, who);
    shutdown(fd, SHUT_WR);
    if (!hn_expect_eof(fd, hn_ms(2000), NULL))
        hn_fail("%s sent FIN, but the server did not close the connection within 2 s.\n"
                "  expected: recv() returns 0, the thread closes the socket and returns",
                who);
    close(fd);
}

/* ------------------------------------------------------------------ rows */

static void test_thread_per_client(const struct hn_test *t)
{
    (void)t;
    enum { K = 5 };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    hn_wait_blocked(pid, hn_ms(2000));
    int base = hn_threads(pid);
    int fds[K];
    for (int i = 0; i < K; i++) {
        char who[96], msg[64];
        snprintf(who, sizeof who, "client %d of %d (the others stay connected and silent)",
                 i + 1, K);
        snprintf(msg, sizeof msg, "client %d is here\n", i + 1);
        fds[i] = connect_client(server, who);
        expect_echo(fds[i], msg, who);
    }
    int now = wait_threads(pid, base + K, hn_ms(2000));
    if (now != base + K)
        hn_fail("With %d clients connected, the server has %d thread(s); with none it had %d.\n"
                "  expected: %d threads, one more per connected client (the default mode "
                "starts a thread for each connection)", K, now, base, base + K);
    for (int i = 0; i < K; i++)
        close(fds[i]);
}

static void test_threads_gone(const struct hn_test *t)
{
    (void)t;
    enum { K = 8 };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    hn_wait_blocked(pid, hn_ms(2000));
    int base = hn_threads(pid);
    int fds[K];
    for (int i = 0; i < K; i++) {
        char who[64];
        snprintf(who, sizeof who, "client %d of %d", i + 1, K);
        fds[i] = connect_client(server, who);
        expect_echo(fds[i], "still here\n", who);
    }
    int busy = wait_threads(pid, base + K, hn_ms(2000));
    if (busy <= base)
        hn_fail("With %d clients connected, the server has %d thread(s), as many as with "
                "none.\n  expected: a thread per connected client", K, busy);
    /* Half of them leave politely (FIN), half abruptly (RST): either way the
     * thread's recv() ends, and so must the thread. */
    for (int i = 0; i < K; i++) {
        if (i % 2 == 0) {
            shutdown(fds[i], SHUT_WR);
            hn_expect_eof(fds[i], hn_ms(2000), NULL);
            close(fds[i]);
        } else {
            hn_close_reset(fds[i]);
        }
    }
    int after = wait_threads(pid, base, hn_ms(2000));
    if (after != base)
        hn_fail("%d clients left (4 with FIN, 4 with a reset) 2 s ago, and the server still "
                "has %d threads; before they came it had %d.\n  expected: back to %d: a "
                "client's thread returns from its function as soon as recv() returns 0 or "
                "fails, after closing the socket", K, after, base, base);
}

/* Larger than a client's receive buffer and the server's send buffer
 * together (128 + 16 KiB at first on loopback): during the read pause, every
 * thread ends up blocked in send() with its buffer half sent. */
static const struct burst overlapping = { 160 * 1024, 96 * 1024, 200 };
static const struct burst pool_burst = { 8 * 1024, 56 * 1024, 0 };

static void test_200_connections(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    for (int round = 0; round < 200 / BURST; round++)
        burst_echo(server, &overlapping, BURST, round * BURST, 200, "a thread per connection",
                   "A connection got nothing back: no thread served it. Was its descriptor "
                   "passed to the thread by value, or as &fd, which the next accept() "
                   "overwrites before the thread reads it?");
    int status;
    char how[96];
    if (hn_wait_exit(server, 0, &status) == 0)
        hn_fail("After 200 connections the server had exited (%s).",
                hn_describe_status(status, how, sizeof how));
}

static void test_pool_start(const struct hn_test *t)
{
    (void)t;
    static const char *const sizes[] = { "1", "3", "8" };
    for (size_t s = 0; s < HN_COUNT(sizes); s++) {
        const char *extra[] = { "-w", sizes[s], NULL };
        struct hn_proc *server = hn_start_server(NULL, extra);
        pid_t pid = hn_pid(server);
        int want = atoi(sizes[s]) + 1;
        int now = wait_threads(pid, want, hn_ms(1000));
        if (now != want)
            hn_fail("Started with -w %s and no client yet, the server has %d thread(s).\n"
                    "  expected: exactly %d, the main thread and a pool of %s workers, all "
                    "created before the ready line", sizes[s], now, want, sizes[s]);
        int fd = connect_client(server, "a client of the pool");
        expect_echo(fd, "pool, are you there?\n", "one client of a pool server");
        now = hn_threads(pid);
        if (now != want)
            hn_fail("Started with -w %s, the server had %d threads; serving one client it has "
                    "%d.\n  expected: still %d: a worker of the pool serves the client, no new "
                    "thread is started", sizes[s], want, now, want);
        close(fd);
        /* With no client left, every worker must sleep in pthread_cond_wait(),
         * using no CPU. */
        double cpu = hn_cpu_seconds(pid);
        sleep_ms(300);
        cpu = hn_cpu_seconds(pid) - cpu;
        if (cpu > 0.1 || !hn_wait_blocked(pid, hn_ms(2000)))
            hn_fail("Started with -w %s, the server served one client; after it left, its "
                    "threads did not all go to sleep (%.2f s of CPU in 0.3 s): a worker is "
                    "spinning.\n  expected: each idle worker waits in pthread_cond_wait() until the queue holds a "
                    "descriptor. Check the `while` around the wait and the queue's count",
                    sizes[s], cpu);
        hn_stop(server, hn_ms(2000));
    }
}

static void test_pool_bounded(const struct hn_test *t)
{
    (void)t;
    enum { N = 4 };
    const char *extra[] = { "-w", "4", NULL };
    struct hn_proc *server = hn_start_server(NULL, extra);
    pid_t pid = hn_pid(server);
    int most = burst_echo(server, &pool_burst, BURST, 0, BURST, "-w 4",
                          "A connection got nothing back: no worker took it from the queue, "
                          "or a worker took another descriptor in its place.");
    if (most > N + 1)
        hn_fail("Started with -w %d, the server reached %d threads while %d clients "
                "connected at once.\n  expected: never more than %d (the main thread and %d "
                "workers): the pool is fixed, and accepted descriptors wait in the queue",
                N, most, BURST, N + 1, N);
    int now = hn_threads(pid);
    if (now != N + 1)
        hn_fail("After %d clients, a server started with -w %d has %d threads.\n  expected: "
                "%d, the same pool as at the start", BURST, N, now, N + 1);
}

static void test_no_leak(const struct hn_test *t)
{
    (void)t;
    enum { WARMUP = 10, TOTAL = 300, MAX_NEW_STACKS = 16 };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    hn_wait_blocked(pid, hn_ms(2000));
    int base = hn_threads(pid);
    for (int i = 1; i <= WARMUP; i++)
        short_client(server, i, TOTAL);
    wait_threads(pid, base, hn_ms(2000));
    long size_before = hn_status_kib(pid, "VmSize");
    int before = hn_thread_stacks(pid);
    for (int i = WARMUP + 1; i <= TOTAL; i++)
        short_client(server, i, TOTAL);
    wait_threads(pid, base, hn_ms(2000));
    long size_after = hn_status_kib(pid, "VmSize");
    int after = hn_thread_stacks(pid);
    if (before < 0 || after < 0)
        hn_fail("Cannot read /proc/%d/maps: did the server exit?", (int)pid);
    if (after - before > MAX_NEW_STACKS)
        hn_fail("After %d clients the server had %d thread stacks mapped (VmSize %ld MiB); "
                "%d clients later, one after another, it has %d (VmSize %ld MiB).\n"
                "  expected: at most %d more. A thread that is neither joined nor detached "
                "keeps its stack (8 MiB) after it ends: create the threads detached",
                WARMUP, before, size_before / MIB_KIB, TOTAL - WARMUP, after,
                size_after / MIB_KIB, MAX_NEW_STACKS);
}

static void test_bad_workers(const struct hn_test *t)
{
    (void)t;
    const char *zero[] = { "-p", "0", "-w", "0", NULL };
    const char *letter[] = { "-p", "0", "-w", "x", NULL };
    const char *too_many[] = { "-p", "0", "-w", "1025", NULL };
    const char *junk[] = { "-p", "0", "-w", "4x", NULL };
    const char *rule = "the pool size must be a number from 1 to 1024";
    const char *usage = "usage: server [-a ADDR] [-p PORT] [-w N]";
    expect_usage_exit(zero, rule, usage);
    expect_usage_exit(letter, rule, usage);
    expect_usage_exit(too_many, rule, usage);
    expect_usage_exit(junk, rule, usage);
    /* And a good count must start it. */
    const char *good[] = { "-w", "2", NULL };
    hn_start_server(NULL, good);
}

/* Fail unless every thread of pid but the main one blocks SIGINT and SIGTERM,
 * and the main one blocks neither. */
static void expect_masks(pid_t pid, const char *mode)
{
    const long long stop = (1LL << (SIGINT - 1)) | (1LL << (SIGTERM - 1));
    pid_t tids[64];
    int n = thread_ids(pid, tids, 64);
    if (n < 2)
        hn_fail("In %s, the server has %d thread(s) while clients are connected: it should "
                "have more than one.", mode, n);
    for (int i = 0; i < n; i++) {
        long long mask = hn_thread_sigblk(pid, tids[i]);
        if (mask < 0)
            continue; /* the thread ended meanwhile */
        if (tids[i] == pid && (mask & stop) != 0)
            hn_fail("In %s, the main thread blocks SIGINT or SIGTERM (SigBlk %016llx in "
                    "/proc/%d/task/%d/status).\n  expected: the main thread, which sleeps in "
                    "accept(), takes the stop signals: restore its mask after "
                    "pthread_create()", mode, (unsigned long long)mask, (int)pid, (int)tids[i]);
        if (tids[i] != pid && (mask & stop) != stop)
            hn_fail("In %s, thread %d of the server does not block SIGINT and SIGTERM (SigBlk "
                    "%016llx in /proc/%d/task/%d/status).\n  expected: every thread but the "
                    "main one blocks them, so that a stop signal always interrupts the main "
                    "thread's accept() and never lands in a thread that cannot stop the "
                    "server", mode, (int)tids[i], (unsigned long long)mask, (int)pid,
                    (int)tids[i]);
    }
}

static void test_signal_mask(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = connect_client(server, "a client");
        expect_echo(fds[i], "mask?\n", "one of 3 clients, kept connected");
    }
    expect_masks(hn_pid(server), "the default mode with 3 clients");
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    hn_stop(server, hn_ms(2000));

    const char *extra[] = { "-w", "3", NULL };
    server = hn_start_server(NULL, extra);
    int fd = connect_client(server, "a client of the pool");
    expect_echo(fd, "mask?\n", "a client of a server started with -w 3");
    expect_masks(hn_pid(server), "a pool of 3 (-w 3)");
    close(fd);
}

static void test_pool_stop(const struct hn_test *t)
{
    (void)t;
    enum { CLIENTS = 40 };
    const char *extra[] = { "-w", "1", NULL };
    struct hn_proc *server = hn_start_server(NULL, extra);
    pid_t pid = hn_pid(server);
    int fds[CLIENTS];
    fds[0] = connect_client(server, "client 1");
    expect_echo(fds[0], "I keep the only worker busy\n",
                "client 1 of a server started with -w 1 (then it stays connected)");
    for (int i = 1; i < CLIENTS; i++) {
        char who[64];
        snprintf(who, sizeof who, "client %d of %d", i + 1, CLIENTS);
        fds[i] = connect_client(server, who);
    }
    /* The only worker serves client 1; the queue fills up, and the main
     * thread waits for room in it. */
    sleep_ms(hn_ms(200));
    hn_wait_blocked(pid, hn_ms(1000));
    hn_signal(server, SIGTERM);
    int status;
    char how[96];
    if (hn_wait_exit(server, hn_ms(2000), &status) < 0)
        hn_fail("Started with -w 1, with client 1 keeping the worker busy and %d more clients "
                "waiting, the server was still running 2 s after SIGTERM.\n  expected: exit 0 "
                "promptly. When the queue is full the main thread waits on a condition "
                "variable, and a signal does not end that wait: wait with a time limit and "
                "look at the stop flag each time", CLIENTS - 1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        hn_fail("After SIGTERM, a server with a full queue ended with %s.\n  expected: exit "
                "status 0", hn_describe_status(status, how, sizeof how));
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
}

static const struct hn_test lab05_rows[] = {
    { "lab05_thread_per_client", "5 clients connected: 5 more threads", 5, 15, HINT_DETACHED,
      test_thread_per_client, NULL },
    { "lab05_threads_gone", "threads back to the count before, 2 s after 8 clients leave", 4,
      15, HINT_THREAD, test_threads_gone, NULL },
    { "lab05_200_connections",
      "200 short connections, 50 at a time, each gets exactly its own bytes back", 8, 30,
      HINT_DETACHED, test_200_connections, NULL },
    { "lab05_pool_start", "-w 1, -w 3, -w 8: exactly N+1 threads, also while serving", 4, 20,
      HINT_POOL, test_pool_start, NULL },
    { "lab05_pool_bounded", "-w 4: 50 clients at once, never more than 5 threads, all served",
      6, 30, HINT_POOL, test_pool_bounded, NULL },
    { "lab05_no_leak", "300 clients later, no thread stack stays behind", 5, 30,
      HINT_DETACHED, test_no_leak, NULL },
    { "lab05_bad_workers", "-w 0, -w x, -w 1025, -w 4x: exit 2 with a usage line", 2, 20,
      HINT_OPTION, test_bad_workers, NULL },
    { "lab05_signal_mask", "only the main thread takes SIGINT and SIGTERM (SigBlk)", 3, 15,
      HINT_SIGNALS, test_signal_mask, NULL },
    { "lab05_pool_stop", "-w 1 with a full queue: SIGTERM, exit 0 within 2 s", 3, 15,
      HINT_QUEUE, test_pool_stop, NULL },
};

static const struct hn_table lab05_table = HN_TABLE("lab05", lab05_rows);

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_stop_signal", "05-threads: Stop cleanly" },
        { "server_", "05-threads: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&echo_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    static const struct suite_hint echo_hints[] = {
        { "echo_ipv6", "05-threads: Start, stop and errors" },
        { "echo_", "05-threads: Step 1: Serve a client in a thread" },
        { NULL, NULL },
    };
    struct hn_table echo = suite_hints(&echo_server_suite, echo_hints);
    const struct hn_table *tables[] = { &echo, &lifecycle, &lab05_table, NULL };
    struct hn_lab lab = { "lab05", "05-threads", "a TCP echo server with threads", tables };
    return hn_main(&lab, argc, argv);
}
