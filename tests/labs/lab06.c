/*
 * lab06.c: the autograder of lab 06, a multi-user chat server with a thread
 * per client, and its two-thread client.
 *
 * The chat suites check the protocol (lab 08 runs the same server table
 * against a one-thread select() server); this file adds what SPEC says lab
 * 06's server must show from outside: exactly one thread per connected
 * client besides the main thread, each gone when its client leaves, however
 * it leaves, and no descriptor left behind.
 */
#include "suites.h"

#include <time.h>

#define HINT_ACCEPT "06-chat: Step 1: Accept clients, a thread each"
#define HINT_LEAVE "06-chat: Step 5: Leaving"
#define MIB_KIB 1024

#define CLIENTS 10

/* Connect a user and read its welcome; fail unless it is the expected one. */
static int join(struct hn_proc *server, int online)
{
    int fd = hn_connect_or_fail(server);
    char want[96], got[256];
    snprintf(want, sizeof want, "> Connected to the chat server (%d user%s online)", online,
             online == 1 ? "" : "s");
    ssize_t n = hn_recv_line(fd, got, sizeof got, hn_ms(2000));
    if (n < 0 || strcmp(got, want) != 0)
        hn_fail_bytes("A new user was not welcomed.", "a user connected", want, strlen(want),
                      got, n < 0 ? strlen(got) : (size_t)n);
    return fd;
}

/* Wait until the server has `want` threads; return the last count seen. */
static int wait_threads(pid_t pid, int want, int timeout_ms)
{
    struct timespec pause = {0, 5 * 1000 * 1000};
    int n = hn_threads(pid);
    for (int waited = 0; n != want && waited < timeout_ms; waited += 5) {
        nanosleep(&pause, NULL);
        n = hn_threads(pid);
    }
    return n;
}

/* Let the clients go: most close, some send /quit, some reset. */
static void leave_all(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (i % 5 == 1)
            hn_send_all(fds[i], "/quit\n", 6, hn_ms(1000));
        if (i % 5 == 3)
            hn_close_reset(fds[i]);
        else
            close(fds[i]);
    }
}

enum stage { COUNT_THREADS, THREADS_END, FDS_RETURN };

static void test_threads(const struct hn_test *t)
{
    enum stage stage = *(const enum stage *)t->param;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    /* One client first, so that whatever the server sets up once is there
     * before the counts start. */
    close(join(server, 1));
    int base = wait_threads(pid, 1, hn_ms(2000));
    hn_wait_blocked(pid, hn_ms(2000));
    int base_fds = hn_fd_count(pid);
    if (stage == COUNT_THREADS && base != 1)
        hn_fail("With no client connected, the server has %d threads.\n  expected: 1, the "
                "main thread in accept() (a client's thread ends when its client leaves)",
                base);
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = join(server, i + 1);
        int n = wait_threads(pid, base + i + 1, hn_ms(1000));
        if (stage == COUNT_THREADS && n != base + i + 1)
            hn_fail("With %d client(s) connected, the server has %d threads.\n  expected: "
                    "%d, the main thread and one thread per connected client",
                    i + 1, n, base + i + 1);
    }
    leave_all(fds, CLIENTS);
    int n = wait_threads(pid, base, hn_ms(3000));
    if (stage == THREADS_END && n != base)
        hn_fail("%d clients left (6 closed, 2 sent /quit, 2 reset), but 3 s later the server "
                "still has %d threads.\n  expected: %d again: each client's thread returns "
                "(and was detached, or joined) once its client is gone",
                CLIENTS, n, base);
    if (stage != FDS_RETURN)
        return;
    struct timespec pause = {0, 10 * 1000 * 1000};
    int fds_now = hn_fd_count(pid);
    for (int i = 0; i < 300 && fds_now > base_fds; i++) {
        nanosleep(&pause, NULL);
        fds_now = hn_fd_count(pid);
    }
    if (fds_now > base_fds)
        hn_fail("%d clients came and left (6 closed, 2 sent /quit, 2 reset); 3 s later the "
                "server holds %d open descriptors, %d before them.\n  expected: no more than "
                "before: close() each client's socket when it leaves, whichever way it does",
                CLIENTS, fds_now, base_fds);
}

/* A user joins, reads its welcome, whatever the count, and leaves. */
static void join_and_leave(struct hn_proc *server, int i, int total)
{
    int fd = hn_connect_or_fail(server);
    char got[256];
    const char *want = "> Connected to the chat server (";
    ssize_t n = hn_recv_line(fd, got, sizeof got, hn_ms(2000));
    if (n < 0 || strncmp(got, want, strlen(want)) != 0) {
        char who[64];
        snprintf(who, sizeof who, "user %d of %d connected, then closed", i, total);
        hn_fail_bytes("A new user was not welcomed.", who, want, strlen(want), got,
                      n < 0 ? strlen(got) : (size_t)n);
    }
    close(fd);
}

static void test_no_stack_leak(const struct hn_test *t)
{
    (void)t;
    enum { WARMUP = 10, TOTAL = 150, MAX_NEW_STACKS = 16 };
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    for (int i = 1; i <= WARMUP; i++)
        join_and_leave(server, i, TOTAL);
    wait_threads(pid, 1, hn_ms(3000));
    long size_before = hn_status_kib(pid, "VmSize");
    int before = hn_thread_stacks(pid);
    for (int i = WARMUP + 1; i <= TOTAL; i++)
        join_and_leave(server, i, TOTAL);
    int threads = wait_threads(pid, 1, hn_ms(3000));
    long size_after = hn_status_kib(pid, "VmSize");
    int after = hn_thread_stacks(pid);
    if (before < 0 || after < 0)
        hn_fail("Cannot read /proc/%d/maps: did the server exit?", (int)pid);
    if (after - before > MAX_NEW_STACKS)
        hn_fail("After %d users had come and gone the server had %d thread stacks mapped "
                "(VmSize %ld MiB); %d users later, one after another, it has %d (VmSize %ld "
                "MiB), with %d thread(s) left.\n  expected: at most %d more. A thread that is "
                "neither joined nor detached keeps its stack (8 MiB of address space) after it "
                "ends: create the client threads detached",
                WARMUP, before, size_before / MIB_KIB, TOTAL - WARMUP, after,
                size_after / MIB_KIB, threads, MAX_NEW_STACKS);
}

static void test_signal_mask(const struct hn_test *t)
{
    (void)t;
    const long long stop = (1LL << (SIGINT - 1)) | (1LL << (SIGTERM - 1));
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = join(server, i + 1);
    int n = wait_threads(pid, 4, hn_ms(2000));
    pid_t tids[16];
    n = hn_tasks(pid, tids, NULL, 16);
    if (n < 4)
        hn_fail("With 3 users connected, the server has %d thread(s).\n  expected: 4, the "
                "main thread and one per user", n);
    for (int i = 0; i < n && i < 16; i++) {
        long long mask = hn_thread_sigblk(pid, tids[i]);
        if (mask < 0)
            continue; /* the thread ended meanwhile */
        if (tids[i] == pid && (mask & stop) != 0)
            hn_fail("With 3 users connected, the main thread blocks SIGINT or SIGTERM "
                    "(SigBlk %016llx in /proc/%d/task/%d/status).\n  expected: the main "
                    "thread, asleep in accept(), takes the stop signals: restore its mask "
                    "after pthread_create()",
                    (unsigned long long)mask, (int)pid, (int)tids[i]);
        if (tids[i] != pid && (mask & stop) != stop)
            hn_fail("With 3 users connected, client thread %d does not block SIGINT and "
                    "SIGTERM (SigBlk %016llx in /proc/%d/task/%d/status).\n  expected: every "
                    "client thread blocks them. The kernel gives a signal sent to the process "
                    "to any thread that does not block it: one that lands in a client's thread "
                    "interrupts its poll(), and the main thread sleeps on in accept()",
                    (int)tids[i], (unsigned long long)mask, (int)pid, (int)tids[i]);
    }
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

static const enum stage count_threads = COUNT_THREADS, threads_end = THREADS_END,
                        fds_return = FDS_RETURN;

static const struct hn_test lab06_rows[] = {
    {"lab06_thread_per_client", "one thread per connected client, plus the main thread", 4, 15,
     HINT_ACCEPT, test_threads, &count_threads},
    {"lab06_threads_end", "each client's thread ends when it leaves (close, /quit, RST)", 4, 15,
     HINT_LEAVE, test_threads, &threads_end},
    {"lab06_no_fd_leak", "after the clients leave, no descriptor is left open", 3, 15,
     HINT_LEAVE, test_threads, &fds_return},
    {"lab06_no_stack_leak", "150 users come and go: no thread stack stays behind", 2, 30,
     HINT_ACCEPT, test_no_stack_leak, NULL},
    {"lab06_signal_mask", "client threads block SIGINT and SIGTERM, the main thread does not",
     2, 15, HINT_ACCEPT, test_signal_mask, NULL},
};

static const struct hn_table lab06_table = HN_TABLE("lab06", lab06_rows);

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_", "06-chat: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&chat_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    const struct hn_table *tables[] = {&chat_server_suite, &chat_client_suite, &lifecycle,
                                       &lab06_table, NULL};
    struct hn_lab lab = {"lab06", "06-chat", "a chat server with a thread per client", tables};
    return hn_main(&lab, argc, argv);
}
