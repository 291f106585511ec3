/*
 * harness_tour.c: a tour of the autograder harness in one small test program.
 *
 * Three tests of lab 01's echo server, written the way tests/labs/labNN.c
 * write theirs: a table of rows (name, title, points, time bound, hint, test
 * function), and hn_main() as the whole main(). Each test starts the server
 * under test with the harness (`$SOCKLAB_BIN/server -a 127.0.0.1 -p 0`,
 * then its ready line), talks to it through calls that all have a deadline,
 * looks at it through /proc, and fails with a message that says what was
 * sent, what was expected and what came back, plus a hint naming the
 * section of the lab guide to reread.
 *
 * What it shows, one piece per group of tests/harness/harness.h (the
 * `//! [name]` markers are the pieces the API pages quote):
 *
 *  - failing:    hn_fail() and hn_fail_bytes() in a check shared by tests.
 *  - talking:    hn_connect_or_fail(), hn_send_all(), hn_recv_exact(),
 *                hn_expect_eof().
 *  - inspecting: hn_wait_blocked(), hn_threads(), hn_socket_fds().
 *  - programs:   hn_start_server(), hn_pid(), hn_stop(), hn_describe_status().
 *  - table:      struct hn_test rows, HN_TABLE(), struct hn_lab, hn_main().
 *
 * Build it like build/tests/labNN (`make -n -B build/tests/lab01` shows the
 * commands; `make tests` builds the harness objects and libsocklab), from
 * the top of the repository:
 *
 *   make lib tests
 *   cc -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Werror -Wformat=2 -Wshadow \
 *      -Wstrict-prototypes -Ilib $(pkg-config --cflags check) -Itests/harness \
 *      -Itests/suites -c -o /tmp/harness_tour.o docs/examples/harness_tour.c
 *   H=build/tests/obj/harness
 *   cc -o /tmp/harness_tour /tmp/harness_tour.o $H/fail.o $H/inspect.o $H/net.o \
 *      $H/proc.o $H/results.o $H/runner.o build/lib/libsocklab.a \
 *      $(pkg-config --libs check) -pthread
 *
 * Run it against lab 01's solution (every test passes) or against the
 * skeleton (every test fails, saying why):
 *
 *   make lab01 SRC=solutions && SOCKLAB_BIN=build/solutions/01-tcp-echo /tmp/harness_tour
 *   make lab01 && SOCKLAB_BIN=build/labs/01-tcp-echo /tmp/harness_tour
 *
 * `/tmp/harness_tour --list` lists the tests, `/tmp/harness_tour NAME` runs
 * one. Only the harness objects are linked, not the protocol suites of
 * tests/suites/: this program has its own table and nothing else.
 *
 * Read: tests/harness/harness.h, tests/labs/lab01.c, proc(5).
 */
#include "harness.h"

#include <sys/wait.h>

#define HINT_ECHO "01-tcp-echo: Step 5: Echo every byte"
#define HINT_ACCEPT "01-tcp-echo: Step 4: Accept clients one at a time"
#define HINT_STOP "01-tcp-echo: Stop cleanly"

//! [failing]
/*
 * The check the tests share: `got` holds the `gotlen` bytes hn_recv_exact()
 * returned when it waited for `want`, the bytes the test sent, which it
 * describes to the student as `sent`. A message says what was sent, what was
 * expected and what came back; hn_fail() adds the row's hint and the end of
 * the server's standard error, and ends the test.
 */
static void expect_echo(const char *sent, const char *want, size_t wantlen, const char *got,
                        size_t gotlen)
{
    if (gotlen == 0 && errno == ETIMEDOUT)
        hn_fail("Sent %s; nothing came back within 3 s.\n"
                "  expected: the same bytes back, as soon as they arrive",
                sent);
    if (gotlen == wantlen && memcmp(got, want, wantlen) == 0)
        return;
    /* Shows both byte strings escaped, and where they first differ. */
    const char *what = gotlen == wantlen    ? "The echo differs."
                       : errno == ETIMEDOUT ? "Only part of the echo came back within 3 s."
                       : errno == 0         ? "The server closed before echoing it all."
                                    : "The connection failed before the echo was whole.";
    hn_fail_bytes(what, sent, want, wantlen, got, gotlen);
}
//! [failing]

//! [talking]
/* One line, echoed; then the client's FIN, which the server must answer by
 * closing its side. Every call has a deadline, scaled by hn_ms()
 * (SOCKLAB_TIME_SCALE, e.g. 3 under sanitizers): a server that never answers
 * fails the test, it never hangs it. */
static void test_echo_line(const struct hn_test *t)
{
    (void)t;
    static const char line[] = "hello, harness\n";
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server); /* the ready line's address and port */
    if (hn_send_all(fd, line, strlen(line), hn_ms(1000)) != strlen(line))
        hn_fail("Could not send one line to the server: %s", strerror(errno));
    /* A stream may deliver the echo in pieces: wait for all of it. */
    char got[sizeof line];
    size_t gotlen = hn_recv_exact(fd, got, strlen(line), hn_ms(3000));
    expect_echo("a line on a fresh connection", line, strlen(line), got, gotlen);

    shutdown(fd, SHUT_WR);
    size_t extra;
    if (!hn_expect_eof(fd, hn_ms(3000), &extra))
        hn_fail("After the client's FIN the server did not close the connection within 3 s"
                "%s.\n  expected: recv() returns 0, the server closes the client's socket",
                extra > 0 ? " (and it sent more bytes first)" : "");
    close(fd);
}
//! [talking]

//! [inspecting]
/* What the server is, seen from outside while it serves a client: an
 * iterative server has one thread, and two sockets (the listening one and
 * the client's). */
static void test_proc_view(const struct hn_test *t)
{
    (void)t;
    static const char line[] = "what do you hold?\n";
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server);
    char got[sizeof line];
    hn_send_all(fd, line, strlen(line), hn_ms(1000));
    size_t gotlen = hn_recv_exact(fd, got, strlen(line), hn_ms(3000));
    expect_echo("a line, connection kept open", line, strlen(line), got, gotlen);

    /* Look once it waits in recv() for this client: a server caught between
     * two calls may hold a descriptor it is about to close. */
    pid_t pid = hn_pid(server);
    if (!hn_wait_blocked(pid, hn_ms(2000)))
        hn_fail("After echoing, the server did not wait in the kernel within 2 s "
                "(its thread never slept): is it spinning in a loop?");
    int threads = hn_threads(pid);
    int sockets[8];
    int nsockets = hn_socket_fds(pid, sockets, (int)HN_COUNT(sockets));
    if (threads != 1 || nsockets != 2)
        hn_fail("While serving one client, the server has %d thread(s) and %d open "
                "socket(s).\n  expected: 1 thread, 2 sockets: the listening socket and "
                "the client's",
                threads, nsockets);
    close(fd);
}
//! [inspecting]

//! [programs]
/* SIGTERM with a client connected: the server must exit 0, at once. */
static void test_stops_on_sigterm(const struct hn_test *t)
{
    (void)t;
    /* `server -a 127.0.0.1 -p 0`, in its own process group; fails the test,
     * with what the server printed, unless the ready line comes. */
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server);
    /* Signal it only once it sleeps in recv(): a signal that lands just
     * before the call would be seen only when the next bytes came. */
    hn_wait_blocked(hn_pid(server), hn_ms(2000));
    /* SIGTERM to the group; SIGKILL if it is still there after 2 s. */
    int status = hn_stop(server, hn_ms(2000));
    char how[96];
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        hn_fail("After SIGTERM, with a client connected, the server ended with %s.\n"
                "  expected: exit status 0 within 2 s: the handler sets a flag, recv() "
                "returns EINTR, and the loop checks sl_stop_requested()",
                hn_describe_status(status, how, sizeof how));
    close(fd);
}
//! [programs]

//! [table]
/* One row per test: name, title, points, Check's time bound in seconds (for
 * the whole test), the guide section a student should reread when it fails,
 * the function, and the row's data for a function shared by rows. */
static const struct hn_test tour_rows[] = {
    {"tour_echo_line", "one line comes back, and FIN is answered with FIN", 4, 10, HINT_ECHO,
     test_echo_line, NULL},
    {"tour_proc_view", "one thread and two sockets while serving", 3, 10, HINT_ACCEPT,
     test_proc_view, NULL},
    {"tour_sigterm", "SIGTERM with a client connected: exit status 0", 3, 10, HINT_STOP,
     test_stops_on_sigterm, NULL},
};

static const struct hn_table tour_table = HN_TABLE("tour", tour_rows);

int main(int argc, char **argv)
{
    /* A lab's test program lists protocol suites here too (lab01.c:
     * &echo_server_suite, ...); the list ends with NULL. */
    const struct hn_table *tables[] = {&tour_table, NULL};
    struct hn_lab lab = {"harness_tour", "01-tcp-echo", "a tour of the autograder harness",
                         tables};
    /* Runs the rows in Check's fork mode, prints the report, and exits 0 only
     * when every test passed; SOCKLAB_BIN names the programs' folder. */
    return hn_main(&lab, argc, argv);
}
//! [table]
