/*
 * lab12.c: the autograder of lab 12, an echo server with one epoll event
 * loop per thread (the reactor pattern, N times over).
 *
 * The echo and lifecycle suites check the protocol; this file adds what
 * SPEC says lab 12's server must show: -t N loops, each with its own epoll
 * instance, and N + 1 threads at most; by default one loop per CPU the
 * process may run on (its affinity mask, not the machine's CPU count); a
 * bad -t is a usage error; under load from many clients every loop thread
 * does work (per-thread CPU time from /proc/PID/task); 10000 clients; the
 * descriptor limit survived; and a prompt stop with every loop busy.
 */
#include "suites.h"

#include <sched.h>
#include <sys/wait.h>

#define HINT_LOOPS "12-reactors: Step 1: How many loops"
#define HINT_LISTEN "12-reactors: Step 2: A listener per loop"
#define HINT_THREADS "12-reactors: Step 4: Start the loops"
#define HINT_STOP "12-reactors: Step 5: Stop every loop"
#define HINT_CROWD "12-reactors: Thousands of clients on N loops"

/* ---------------------------------------------------------------- helpers */

/* The number of CPUs this (the test) process may run on. */
static int allowed_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) < 0)
        hn_fail("harness: sched_getaffinity: %s", strerror(errno));
    return CPU_COUNT(&set);
}

/* Check that `server ARGS` runs `loops` event loops: that many epoll
 * instances, and loops or loops + 1 threads. */
static void expect_loops(struct hn_proc *server, int loops, const char *how)
{
    pid_t pid = hn_pid(server);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = hn_connect_or_fail(server);
        char msg[64], who[96];
        snprintf(msg, sizeof msg, "client %d of 3\n", i + 1);
        snprintf(who, sizeof who, "client %d of 3, %s", i + 1, how);
        size_t len = strlen(msg);
        char in[64];
        size_t got = hn_transfer(fds[i], msg, len, in, len,
                                 &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
        if (got != len || memcmp(in, msg, len) != 0)
            hn_fail_bytes("The echo differs.", who, msg, len, in, got);
    }
    int threads = hn_threads(pid), epolls = hn_fd_links(pid, "anon_inode:[eventpoll]", NULL);
    if (epolls != loops || threads < loops || threads > loops + 1)
        hn_fail("Started %s, the server has %d thread(s) and %d epoll instance(s) "
                "(anon_inode:[eventpoll] in /proc/%d/fd).\n  expected: %d event loop(s): "
                "%d epoll instance(s), one per loop thread, and %d or %d threads (the "
                "loops, and the main thread if it waits for signals)",
                how, threads, epolls, (int)pid, loops, loops, loops, loops + 1);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

/* ------------------------------------------------------------------ tests -- */

static void test_threads_option(const struct hn_test *t)
{
    (void)t;
    const char *three[] = { "-t", "3", NULL };
    expect_loops(hn_start_server(NULL, three), 3, "with -t 3");
    const char *one[] = { "-t", "1", NULL };
    expect_loops(hn_start_server(NULL, one), 1, "with -t 1");
}

static void test_default_cpus(const struct hn_test *t)
{
    (void)t;
    int cpus = allowed_cpus();
    char how[96];
    snprintf(how, sizeof how, "without -t, allowed to run on %d CPU(s)", cpus);
    expect_loops(hn_start_server(NULL, NULL), cpus, how);
}

/* The default under taskset: a child inherits its parent's affinity mask,
 * so this test process limits itself to one CPU before starting the
 * server. "One per CPU" means CPUs the process may run on (SPEC). */
static void test_default_affinity(const struct hn_test *t)
{
    (void)t;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) < 0)
        hn_fail("harness: sched_getaffinity: %s", strerror(errno));
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &set))
            first = c;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) < 0)
        hn_fail("harness: sched_setaffinity: %s", strerror(errno));
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    char how[160];
    snprintf(how, sizeof how, "without -t, under `taskset -c %d` (1 of the machine's %ld "
             "CPUs allowed: count them with sched_getaffinity(), not sysconf())",
             first, online);
    expect_loops(hn_start_server(NULL, NULL), 1, how);
}

static void test_bad_loops(const struct hn_test *t)
{
    (void)t;
    const char *zero[] = { "-p", "0", "-t", "0", NULL };
    const char *letter[] = { "-p", "0", "-t", "x", NULL };
    const char *too_many[] = { "-p", "0", "-t", "257", NULL };
    const char *junk[] = { "-p", "0", "-t", "2x", NULL };
    const char *rule = "-t takes a whole number from 1 to 256";
    const char *usage = "usage: server [-a ADDR] [-p PORT] [-e] [-t N]";
    expect_usage_exit(zero, rule, usage);
    expect_usage_exit(letter, rule, usage);
    expect_usage_exit(too_many, rule, usage);
    expect_usage_exit(junk, rule, usage);
}

#define BUSY_CLIENTS 200
#define BUSY_LOOPS 2
#define BUSY_MS 1500

/* Under ping-pong load from 200 clients, every loop thread uses CPU:
 * connections are spread over the loops, not all served by one. */
static void test_every_loop_works(const struct hn_test *t)
{
    (void)t;
    const char *args[] = { "-t", "2", NULL };
    struct hn_proc *server = hn_start_server(NULL, args);
    pid_t pid = hn_pid(server);
    hn_set_nofile(BUSY_CLIENTS + 256);
    int fds[BUSY_CLIENTS];
    char why[256] = "";
    int n = crowd_connect_many(hn_port(server), fds, BUSY_CLIENTS, hn_ms(3000), why,
                               sizeof why);
    if (n < BUSY_CLIENTS)
        hn_fail("Only %d of %d clients could connect (%s).", n, BUSY_CLIENTS, why);
    pid_t tids[8];
    double before[8], after[8];
    int count = hn_tasks(pid, tids, before, 8);
    if (count < BUSY_LOOPS || count > BUSY_LOOPS + 1)
        hn_fail("With -t 2 the server has %d threads.\n  expected: 2 loop threads, and "
                "the main thread at most", count);
    long long end = hn_now_ms() + hn_ms(BUSY_MS);
    int rounds = 0;
    while (hn_now_ms() < end) {
        crowd_echo_each(fds, n, hn_ms(3000), "200 clients in ping-pong, -t 2");
        rounds++;
    }
    if (hn_tasks(pid, tids, after, 8) != count)
        hn_fail("The server's thread count changed under load (from %d).\n  expected: a "
                "fixed set of loop threads, none started per client", count);
    double most = 0.0, used[8];
    for (int i = 0; i < count; i++) {
        used[i] = after[i] - before[i];
        if (tids[i] != pid && used[i] > most)
            most = used[i];
    }
    for (int i = 0; i < count; i++) {
        if (tids[i] == pid && count == BUSY_LOOPS + 1)
            continue; /* the main thread waits for signals */
        if (used[i] < 0.1 * most)
            hn_fail("Under %d rounds of ping-pong from %d clients over %.1f s, the busiest "
                    "loop thread used %.2f s of CPU and thread %d only %.2f s.\n  expected: "
                    "every loop serves its share of the clients. Does every loop have a "
                    "listener of its own with SO_REUSEPORT, bound to the same port, and "
                    "does each loop accept only on its own?",
                    rounds, n, BUSY_MS / 1000.0, most, (int)tids[i], used[i]);
    }
    crowd_close_all(fds, n);
}

#define STOP_CLIENTS 2000

/* SIGTERM while every loop holds clients: every loop must notice (the
 * signal reaches one thread at most) and the server exit 0 promptly. */
static void test_stop_under_load(const struct hn_test *t)
{
    (void)t;
    const char *args[] = { "-t", "2", NULL };
    struct hn_proc *server = hn_start_server(NULL, args);
    hn_set_nofile(STOP_CLIENTS + 256);
    int *fds = malloc(sizeof *fds * STOP_CLIENTS);
    char why[256] = "";
    int n = crowd_connect_many(hn_port(server), fds, STOP_CLIENTS, hn_ms(5000), why,
                               sizeof why);
    if (n < STOP_CLIENTS)
        hn_fail("Only %d of %d clients could connect (%s).", n, STOP_CLIENTS, why);
    crowd_echo_each(fds, n, hn_ms(3000), "2000 clients, -t 2, before SIGTERM");
    hn_signal(server, SIGTERM);
    int status;
    int bound = hn_ms(1000);
    char how[96];
    if (hn_wait_exit(server, bound, &status) < 0)
        hn_fail("SIGTERM with %d clients spread over 2 loops: the server was still running "
                "after %d ms.\n  expected: the thread that takes the signal wakes every "
                "loop (an eventfd in each loop's interest list), joins them, and the "
                "server exits 0",
                n, bound);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        hn_fail("After SIGTERM with %d clients over 2 loops, the server ended with %s.\n"
                "  expected: exit status 0",
                n, hn_describe_status(status, how, sizeof how));
    crowd_close_all(fds, n);
    free(fds);
}

/* The crowd tests (tests/suites/crowd.c), with two loops. */
static const char *const two_loops[] = { "-t", "2", NULL };
static const struct crowd_param crowd = {
    .args = two_loops,
    .clients = 10000,
    .max_threads = 3,
    .model = "-t 2: two event-loop threads, and the main thread waiting for signals",
    .emfile_advice = "when accept() fails with EMFILE, take that loop's listening socket out "
                     "of its interest list for a while; a level-triggered listener that "
                     "stays ready makes epoll_wait() return at once, for ever",
};

static const struct hn_test lab12_rows[] = {
    { "lab12_threads_option", "-t 3 and -t 1: that many loops, N + 1 threads at most", 5, 10,
      HINT_THREADS, test_threads_option, NULL },
    { "lab12_default_cpus", "without -t: one loop per CPU", 4, 10, HINT_LOOPS,
      test_default_cpus, NULL },
    { "lab12_default_affinity", "without -t under taskset: one loop per CPU allowed", 4, 10,
      HINT_LOOPS, test_default_affinity, NULL },
    { "lab12_bad_loops", "-t 0, x, 257, 2x: usage, exit 2", 3, 15, HINT_LOOPS, test_bad_loops,
      NULL },
    { "lab12_every_loop_works", "200 clients in ping-pong: every loop thread uses CPU", 8, 20,
      HINT_LISTEN, test_every_loop_works, NULL },
    { "lab12_10000_clients", "10000 clients at once over 2 loops, each gets its own echo", 7,
      40, HINT_CROWD, crowd_test_many_clients, &crowd },
    { "lab12_emfile", "out of descriptors: no spin, clients served, waiting ones later", 5,
      25, HINT_CROWD, crowd_test_emfile, &crowd },
    { "lab12_stop_under_load", "SIGTERM with 2000 clients over 2 loops: exit 0 at once", 4,
      20, HINT_STOP, test_stop_under_load, NULL },
};

static const struct hn_table lab12_table = HN_TABLE("lab12", lab12_rows);

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_stop_signal", "12-reactors: Step 5: Stop every loop" },
        { "server_", "12-reactors: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&echo_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    static const struct suite_hint echo_hints[] = {
        { "echo_ipv6", "12-reactors: Start, stop and errors" },
        { "echo_", "12-reactors: Step 4: Start the loops" },
        { NULL, NULL },
    };
    struct hn_table echo = suite_hints(&echo_server_suite, echo_hints);
    const struct hn_table *tables[] = { &echo, &lifecycle, &lab12_table, NULL };
    struct hn_lab lab = { "lab12", "12-reactors", "an echo server with one epoll loop per "
                                                  "thread", tables };
    return hn_main(&lab, argc, argv);
}
