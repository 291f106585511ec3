/*
 * lab01.c: the autograder of lab 01, a blocking iterative TCP echo server
 * and its client.
 *
 * The echo suites check the protocol; this file adds what SPEC says lab 01's
 * server must show: one process, one thread, clients served one after
 * another, and nothing leaked between them.
 */
#include "suites.h"

#define HINT_ACCEPT "01-tcp-echo: Step 4: Accept clients one at a time"

static void expect_echo(int fd, const char *msg, const char *sent)
{
    size_t len = strlen(msg);
    char in[128];
    size_t got = hn_transfer(fd, msg, len, in, len,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got != len || memcmp(in, msg, len) != 0)
        hn_fail_bytes("The echo differs.", sent, msg, len, in, got);
}

static void test_one_thread(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fd = hn_connect_or_fail(server);
    expect_echo(fd, "are you alone?\n", "a line, connection kept open");
    pid_t pid = hn_pid(server);
    int threads = hn_threads(pid), children = hn_children(pid, NULL, 0);
    if (threads != 1 || children != 0)
        hn_fail("While serving a client, the server has %d thread(s) and %d child "
                "process(es).\n  expected: 1 thread, no child processes: lab 01's server is "
                "iterative (threads and fork() come in labs 04 and 05)", threads, children);
    close(fd);
}

static void test_one_after_another(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int first = hn_connect_or_fail(server);
    expect_echo(first, "first\n", "client 1: a line");
    /* The second client's handshake completes in the kernel's backlog, but
     * an iterative server reads it only after the first client leaves. */
    int second = hn_connect_or_fail(server);
    if (hn_send_all(second, "second\n", 7, hn_ms(1000)) != 7)
        hn_fail("Could not send to the second client's connection: %s", strerror(errno));
    shutdown(first, SHUT_WR);
    size_t extra;
    if (!hn_expect_eof(first, hn_ms(3000), &extra))
        hn_fail("Client 1 sent FIN, but the server did not close its connection within 3 s.\n"
                "  expected: recv() returns 0, the server closes the client's socket and "
                "goes back to accept()");
    close(first);
    char in[16];
    size_t got = hn_recv_exact(second, in, 7, hn_ms(3000));
    if (got != 7 || memcmp(in, "second\n", 7) != 0)
        hn_fail_bytes("After client 1 left, the server did not serve client 2, who had been "
                      "waiting in the backlog.",
                      "client 2: \"second\\n\" while client 1 was served", "second\n", 7, in,
                      got);
    close(second);
}

static void test_no_fd_leak(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    close(hn_connect_or_fail(server)); /* let it reach its steady state */
    hn_wait_blocked(pid, hn_ms(2000));
    int before = hn_fd_count(pid);
    for (int i = 0; i < 50; i++) {
        int fd = hn_connect_or_fail(server);
        expect_echo(fd, "one of fifty\n", "50 clients one after another");
        shutdown(fd, SHUT_WR);
        if (!hn_expect_eof(fd, hn_ms(2000), NULL))
            hn_fail("Client %d of 50 sent FIN, but the server did not close its connection "
                    "within 2 s.\n  expected: recv() returns 0, then close() and back to "
                    "accept()", i + 1);
        close(fd);
    }
    hn_wait_blocked(pid, hn_ms(2000));
    int after = hn_fd_count(pid);
    if (after > before)
        hn_fail("After 50 clients came and went, the server holds %d open descriptors; before "
                "them it held %d.\n  expected: no more than before: close() each client's "
                "socket when it leaves", after, before);
}

static const struct hn_test lab01_rows[] = {
    { "lab01_one_thread", "one process, one thread while serving", 5, 10, HINT_ACCEPT,
      test_one_thread, NULL },
    { "lab01_one_after_another", "a waiting client is served when the first leaves", 6, 15,
      HINT_ACCEPT, test_one_after_another, NULL },
    { "lab01_no_fd_leak", "50 clients later, no descriptor is left open", 5, 30, HINT_ACCEPT,
      test_no_fd_leak, NULL },
};

static const struct hn_table lab01_table = HN_TABLE("lab01", lab01_rows);

int main(int argc, char **argv)
{
    struct hn_table lifecycle = lifecycle_suite(&echo_lifecycle);
    const struct hn_table *tables[] = { &echo_server_suite, &echo_client_suite, &lifecycle,
                                        &lab01_table, NULL };
    struct hn_lab lab = { "lab01", "01-tcp-echo", "a blocking TCP echo server and client",
                          tables };
    return hn_main(&lab, argc, argv);
}
