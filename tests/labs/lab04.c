/*
 * lab04.c: the autograder of lab 04, a TCP echo server that forks a process
 * per client.
 *
 * The echo and lifecycle suites check the protocol and the server's life;
 * this file adds what SPEC says lab 04's server must show: an idle client
 * holds up nobody, one child process per connected client, no zombies, no
 * descriptors left in the parent, accept() that survives SIGCHLD, and
 * children that end with the parent.
 *
 * Every check looks from outside: through the sockets, and through /proc
 * for the processes (their parent, their state, their descriptors).
 */
#include "suites.h"

#include <time.h>

#define HINT_REAP "04-fork: Step 1: Reap every child"
#define HINT_ACCEPT "04-fork: Step 2: Accept, and survive EINTR"
#define HINT_FORK "04-fork: Step 3: Fork a process per client"
#define HINT_CHILD "04-fork: Step 4: The child's side: close, serve, _exit"
#define HINT_END "04-fork: Step 5: End the children with the parent"

/* More children than any test makes; the surplus only shows in counts. */
#define MAX_KIDS 64

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
    int fd = hn_connect(hn_proc_addr(server), hn_port(server), hn_ms(2000));
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

/* The children of pid that are alive (not zombies): ids in out, and their number. */
static int live_children(pid_t pid, pid_t *out, int max)
{
    pid_t all[MAX_KIDS];
    int n = hn_children(pid, all, MAX_KIDS);
    int live = 0;
    for (int i = 0; i < n && i < MAX_KIDS; i++) {
        char st = hn_state(all[i]);
        if (st == 'Z' || st == '?')
            continue;
        if (out && live < max)
            out[live] = all[i];
        live++;
    }
    return live;
}

/* Wait up to timeout_ms until pid has exactly want live children; returns
 * the last count seen. */
static int wait_live_children(pid_t pid, int want, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    int n;
    while ((n = live_children(pid, NULL, 0)) != want && now_ms() < deadline)
        sleep_ms(10);
    return n;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* ------------------------------------------------------------------ rows */

static void test_concurrent(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int first = hn_connect_or_fail(server);
    expect_echo(first, "first client, then silence\n",
                "client 1: a line (then it stays connected and says nothing)");
    int second = hn_connect_or_fail(server);
    static const char msg[] = "second client, right away\n";
    char in[64];
    size_t len = sizeof msg - 1;
    size_t got = hn_transfer(second, msg, len, in, len,
                             &(struct hn_transfer_opts){ hn_ms(2000), 0, false });
    if (got != len || memcmp(in, msg, len) != 0) {
        if (got == 0)
            hn_fail("While client 1 stayed connected and silent, client 2 sent a line and "
                    "got nothing back within 2 s.\n"
                    "  sent: client 1: a line, echoed; client 2: \"second client, right "
                    "away\\n\"\n"
                    "  expected: client 2's line back at once\n"
                    "The server is still busy with client 1, like lab 01's. The parent must "
                    "only accept() and fork(): the child serves the client, and the parent "
                    "goes straight back to accept() for the next one.");
        hn_fail_bytes("Client 2's echo differs while client 1 sits idle.",
                      "client 2: a line while client 1 stays connected", msg, len, in, got);
    }
    expect_echo(first, "still here\n", "client 1 again, after client 2 was served");
    close(second);
    close(first);
}

static void test_child_per_client(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);

    int fd = hn_connect_or_fail(server);
    expect_echo(fd, "one visit\n", "a first client: one line, then close()");
    close(fd);
    int left = wait_live_children(pid, 0, hn_ms(2000));
    if (left != 0)
        hn_fail("A client came, got its echo and left; 2 s later the server (pid %d) still "
                "has %d live child process(es).\n"
                "  expected: none: a child serves its one client and then _exit()s\n"
                "A child that returns instead of exiting comes back into main()'s loop and "
                "becomes a second server.", (int)pid, left);

    enum { N = 5 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        char msg[64], sent[64];
        snprintf(msg, sizeof msg, "client %d of %d\n", i + 1, N);
        snprintf(sent, sizeof sent, "client %d of %d connected at once: a line", i + 1, N);
        fds[i] = connect_client(server, "A client");
        expect_echo(fds[i], msg, sent);
    }
    pid_t kids[MAX_KIDS];
    int n = live_children(pid, kids, MAX_KIDS);
    if (n != N)
        hn_fail("%d clients are connected, each got its echo, and the server (pid %d) has %d "
                "live child process(es).\n  expected: exactly %d, one per connected client "
                "(look with: ps --ppid %d)", N, (int)pid, n, N, (int)pid);
    for (int i = 0; i < n; i++) {
        int grandkids = hn_children(kids[i], NULL, 0);
        if (grandkids > 0)
            hn_fail("Child %d of the server has %d child process(es) of its own.\n"
                    "  expected: none: a child serves one client and never forks\n"
                    "A child that returns into the accept loop forks clients of its own.",
                    (int)kids[i], grandkids);
        int socks[8];
        int s = hn_socket_fds(kids[i], socks, 8);
        if (s != 1)
            hn_fail("Child %d of the server holds %d socket(s) (ls -l /proc/%d/fd).\n"
                    "  expected: exactly 1, the connection of its own client\n"
                    "fork() copies every descriptor the parent holds. The child must close() "
                    "the listening socket, which it never uses (while any child holds it, "
                    "the port stays open even after the server is gone); and the parent must "
                    "close each client's socket after fork(), or later children inherit it.",
                    (int)kids[i], s, (int)kids[i]);
    }
    close_all(fds, N);
}

static void test_no_zombies(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    enum { N = 20 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "client %d of %d\n", i + 1, N);
        fds[i] = connect_client(server, "A client of the burst");
        expect_echo(fds[i], msg, "20 clients connected at once: a line each");
    }
    hn_wait_blocked(pid, hn_ms(2000));
    /* Freeze the parent while the 20 children end, as if the machine were
     * busy: their 20 SIGCHLDs then wait as one pending signal, which is what
     * a burst may always become. */
    kill(pid, SIGSTOP);
    close_all(fds, N);
    long deadline = now_ms() + hn_ms(2000);
    while (hn_zombies(pid) < N && now_ms() < deadline)
        sleep_ms(10);
    kill(pid, SIGCONT);
    sleep_ms(hn_ms(1000));
    int z = hn_zombies(pid);
    if (z > 0)
        hn_fail("1 s after 20 clients left at once, the server (pid %d) still has %d zombie "
                "child(ren) (state Z: ps --ppid %d -o pid,stat).\n"
                "  expected: none: the SIGCHLD handler reaps every child that has ended\n"
                "Signals do not queue: 20 children that end together may raise a single "
                "SIGCHLD, so one wait() per signal leaves the rest as zombies. Loop: "
                "while (waitpid(-1, &status, WNOHANG) > 0). (The test froze the server with "
                "SIGSTOP while the clients left, and let it go on with SIGCONT.)",
                (int)pid, z, (int)pid);
}

static void test_fd_baseline(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    int fd = hn_connect_or_fail(server);
    expect_echo(fd, "warming up\n", "one client, to let the server reach its steady state");
    close(fd);
    wait_live_children(pid, 0, hn_ms(2000));
    hn_wait_blocked(pid, hn_ms(2000));
    int before = hn_fd_count(pid);

    enum { N = 10 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = connect_client(server, "A client");
        expect_echo(fds[i], "count my descriptors\n", "10 clients connected at once: a line each");
    }
    hn_wait_blocked(pid, hn_ms(2000));
    int during = hn_fd_count(pid);
    close_all(fds, N);
    wait_live_children(pid, 0, hn_ms(2000));
    hn_wait_blocked(pid, hn_ms(2000));
    int after = hn_fd_count(pid);
    if (after > before)
        hn_fail("Before 10 clients came, the server (the parent, pid %d) held %d open "
                "descriptors; while they were connected it held %d, and after they left, "
                "%d (ls -l /proc/%d/fd).\n"
                "  expected: back to %d: the parent closes each connected socket right after "
                "fork()\nThe child has its own copy. A parent that keeps one leaks a "
                "descriptor per client, and its copy keeps the connection open: the client "
                "never sees the end of the echo.",
                (int)pid, before, during, after, (int)pid, before);
}

/* expect_echo() for a client of a wave, with what usually stops a server
 * between waves. */
static void expect_wave_echo(int fd, const char *msg, const char *who, const char *sent)
{
    size_t len = strlen(msg);
    char in[128];
    size_t got = hn_transfer(fd, msg, len, in, len,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got == 0)
        hn_fail("%s connected (the kernel completes handshakes by itself), but its line "
                "got no echo within 3 s.\n  sent: %s\n"
                "  expected: the line back: the parent accepts, forks, and the child echoes\n"
                "After the children of a wave end, the parent no longer gets back to "
                "accept(). Does the SIGCHLD handler block, waiting for a child that is still "
                "serving (wait(), or waitpid() without WNOHANG)?",
                who, sent);
    if (got != len || memcmp(in, msg, len) != 0)
        hn_fail_bytes("The echo differs.", sent, msg, len, in, got);
}

static void test_keeps_accepting(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    int stay = hn_connect_or_fail(server);
    expect_echo(stay, "I stay all along\n", "a first client that stays connected throughout");

    enum { WAVES = 5, N = 10 };
    for (int w = 1; w <= WAVES; w++) {
        int fds[N];
        for (int i = 0; i < N; i++) {
            char who[96], msg[64], sent[160];
            snprintf(who, sizeof who, "Wave %d of %d, client %d of %d", w, WAVES, i + 1, N);
            snprintf(msg, sizeof msg, "wave %d client %d\n", w, i + 1);
            snprintf(sent, sizeof sent,
                     "%s: a line (after %d wave(s) of clients had come and gone)", who, w - 1);
            fds[i] = connect_client(server, who);
            expect_wave_echo(fds[i], msg, who, sent);
        }
        close_all(fds, N);
        /* Their children end now, while the parent sleeps in accept(): each
         * end is a SIGCHLD that interrupts it. */
        wait_live_children(pid, 1, hn_ms(2000));
        hn_wait_blocked(pid, hn_ms(1000));
    }
    expect_echo(stay, "still served?\n", "the first client again, after 5 waves of 10 clients");
    int status;
    char how[96];
    if (hn_wait_exit(server, 0, &status) == 0)
        hn_fail("After 5 waves of clients came and went, the server had exited (%s).\n"
                "  expected: it keeps accepting", hn_describe_status(status, how, sizeof how));
    close(stay);
}

static void test_sigterm_children(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    enum { N = 3 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = connect_client(server, "A client");
        expect_echo(fds[i], "are you there?\n", "3 clients connected at once: a line each");
    }
    pid_t kids[MAX_KIDS];
    int n = live_children(pid, kids, MAX_KIDS);
    if (n == 0)
        hn_fail("3 clients are connected and served, but the server (pid %d) has no child "
                "processes to end.\n  expected: one child per client", (int)pid);
    if (n > MAX_KIDS)
        n = MAX_KIDS;

    /* The parent alone, as a script or a service manager that knows only its
     * pid would stop it; not the process group, which would reach every
     * child directly. */
    kill(pid, SIGTERM);
    int status;
    if (hn_wait_exit(server, hn_ms(2000), &status) < 0)
        hn_fail("The server (pid %d) was still running 2 s after SIGTERM.\n"
                "  expected: it stops accepting and exits 0", (int)pid);

    long deadline = now_ms() + hn_ms(1000);
    int alive;
    char list[256];
    do {
        alive = 0;
        list[0] = '\0';
        for (int i = 0; i < n; i++) {
            char st = hn_state(kids[i]);
            if (st == 'Z' || st == '?')
                continue;
            alive++;
            snprintf(list + strlen(list), sizeof list - strlen(list), " %d", (int)kids[i]);
        }
        if (alive > 0)
            sleep_ms(10);
    } while (alive > 0 && now_ms() < deadline);
    if (alive > 0)
        hn_fail("SIGTERM went to the server's pid %d alone (kill %d, not the process group). "
                "The server exited, but 1 s later %d of its %d children were still running "
                "(pids%s), serving clients of a server that is gone.\n"
                "  expected: the children end with the parent\n"
                "In each child, prctl(PR_SET_PDEATHSIG, SIGTERM) asks the kernel to send it "
                "SIGTERM when its parent dies.",
                (int)pid, (int)pid, alive, n, list);
    close_all(fds, N);
}

static const struct hn_test lab04_rows[] = {
    { "lab04_concurrent", "while client 1 sits idle, client 2 is served at once", 8, 15,
      HINT_FORK, test_concurrent, NULL },
    { "lab04_child_per_client", "one child per connected client, holding only its socket", 7,
      15, HINT_CHILD, test_child_per_client, NULL },
    { "lab04_no_zombies", "no zombie 1 s after 20 clients leave at once", 7, 15, HINT_REAP,
      test_no_zombies, NULL },
    { "lab04_fd_baseline", "the parent's descriptors return to their count after 10 clients",
      6, 15, HINT_FORK, test_fd_baseline, NULL },
    { "lab04_keeps_accepting", "5 waves of 10 clients come and go: every client is served", 6,
      30, HINT_ACCEPT, test_keeps_accepting, NULL },
    { "lab04_sigterm_children", "SIGTERM to the parent alone ends its children within 1 s", 6,
      15, HINT_END, test_sigterm_children, NULL },
};

static const struct hn_table lab04_table = HN_TABLE("lab04", lab04_rows);

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_stop_signal", "04-fork: Stop cleanly" },
        { "server_", "04-fork: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&echo_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    static const struct suite_hint echo_hints[] = {
        { "echo_ipv6", "04-fork: Start, stop and errors" },
        { "echo_reset", "04-fork: Step 4: The child's side: close, serve, _exit" },
        { "echo_", "04-fork: Step 4: The child's side: close, serve, _exit" },
        { NULL, NULL },
    };
    struct hn_table echo = suite_hints(&echo_server_suite, echo_hints);
    const struct hn_table *tables[] = { &echo, &lifecycle, &lab04_table, NULL };
    struct hn_lab lab = { "lab04", "04-fork", "a TCP echo server with a process per client",
                          tables };
    return hn_main(&lab, argc, argv);
}
