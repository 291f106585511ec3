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

static const enum stage count_threads = COUNT_THREADS, threads_end = THREADS_END,
                        fds_return = FDS_RETURN;

static const struct hn_test lab06_rows[] = {
    {"lab06_thread_per_client", "one thread per connected client, plus the main thread", 6, 15,
     HINT_ACCEPT, test_threads, &count_threads},
    {"lab06_threads_end", "each client's thread ends when it leaves (close, /quit, RST)", 5, 15,
     HINT_LEAVE, test_threads, &threads_end},
    {"lab06_no_fd_leak", "after the clients leave, no descriptor is left open", 4, 15,
     HINT_LEAVE, test_threads, &fds_return},
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
