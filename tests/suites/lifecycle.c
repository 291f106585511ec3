/*
 * lifecycle.c: how every server starts, stops and fails (SPEC "Every
 * server"), whatever its protocol.
 *
 * The rows are the same for every lab; struct lifecycle_proto says how to
 * hold one conversation with the lab's server, so that "stop while a client
 * is connected" and "restart on the same port after use" mean something for
 * TCP and UDP alike.
 */
#include "suites.h"

#define HINT_EXIT "01-tcp-echo: Exit codes and errors"
#define HINT_STOP "01-tcp-echo: Stop cleanly"
#define HINT_REUSE "01-tcp-echo: Step 2: Create the socket"

void expect_usage_exit(const char *const *args, const char *rule, const char *usage)
{
    struct hn_proc *p;
    int status = hn_run_to_exit("server", args, 3000, &p);
    char how[96], line[256];
    hn_command_line("server", args, line, sizeof line);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != SL_EXIT_USAGE)
        hn_fail("`%s` ended with %s.\n  expected: exit status 2 and a usage line on "
                "standard error (%s)",
                line, hn_describe_status(status, how, sizeof how), rule);
    char *tail = hn_stderr_tail(p);
    bool said = strstr(tail, "usage") != NULL;
    free(tail);
    if (!said)
        hn_fail("`%s` exited 2, but printed no usage line on standard error.\n"
                "  expected: a line such as \"%s\"", line, usage);
}

static void test_bad_flags(const struct hn_test *t)
{
    (void)t;
    const char *unknown[] = { "-x", NULL };
    const char *bad_port[] = { "-p", "70000", NULL };
    const char *stray[] = { "-p", "0", "extra", NULL };
    const char *rule = "a bad command line";
    const char *usage = "usage: server [-a ADDR] [-p PORT]";
    expect_usage_exit(unknown, rule, usage);
    expect_usage_exit(bad_port, rule, usage);
    expect_usage_exit(stray, rule, usage);
    /* And a good command line must start it: a server that always exits 2
     * is not what this checks. */
    hn_start_server(NULL, NULL);
}

/* Hold a port the way another program would: bound (and listening, for
 * TCP), without SO_REUSEADDR. */
static int occupy_port(int socktype, int *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, socktype | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        (socktype == SOCK_STREAM && listen(fd, 8) < 0) ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        hn_fail("harness: cannot occupy a port: %s", strerror(errno));
    *port = ntohs(sin.sin_port);
    return fd;
}

static void test_port_in_use(const struct hn_test *t)
{
    const struct lifecycle_proto *proto = t->param;
    int port;
    int holder = occupy_port(proto->socktype, &port);
    char ptxt[8], want[128];
    const char *args[] = { "-a", "127.0.0.1", "-p", port_text(port, ptxt), NULL };
    struct hn_proc *p;
    int status = hn_run_to_exit("server", args, 3000, &p);
    char how[96];
    snprintf(want, sizeof want, "server: bind 127.0.0.1:%d: Address already in use", port);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != SL_EXIT_RUNTIME)
        hn_fail("Started on a port that another socket already holds, the server ended with "
                "%s.\n  expected: exit status 1 and the line \"%s\" on standard error",
                hn_describe_status(status, how, sizeof how), want);
    char *tail = hn_stderr_tail(p);
    bool said = strstr(tail, want) != NULL;
    free(tail);
    if (!said)
        hn_fail("The server exited 1 on a port in use, but did not say so: it must print one line naming the call and the reason.\n"
                "  expected on standard error: \"%s\"", want);
    close(holder);
}

/* Start a server, hold a conversation, and wait until it blocks again (a
 * busy-loop server never does: then it is given a moment instead). */
static struct hn_proc *busy_server(const struct lifecycle_proto *proto, int *fd)
{
    struct hn_proc *server = hn_start_server(NULL, NULL);
    *fd = proto->exchange(server);
    if (proto->never_sleeps) {
        usleep(100 * 1000);
        return server;
    }
    if (!hn_wait_blocked(hn_pid(server), hn_ms(2000)))
        hn_fail("After answering, the server did not go back to waiting (its threads never "
                "all slept in the kernel within 2 s): is it spinning in a loop?");
    return server;
}

static void expect_stop(struct hn_proc *server, int sig)
{
    hn_signal(server, sig);
    int status;
    char how[96];
    if (hn_wait_exit(server, hn_ms(2000), &status) < 0)
        hn_fail("The server was still running 2 s after %s, with a client connected.\n"
                "  expected: it stops, closes its sockets and exits 0 promptly\n"
                "The stop handler only sets a flag; blocking calls return EINTR because it "
                "is installed without SA_RESTART, and every loop must check the flag.",
                strsignal(sig));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        hn_fail("After %s the server ended with %s.\n  expected: exit status 0",
                strsignal(sig), hn_describe_status(status, how, sizeof how));
}

static void test_sigterm(const struct hn_test *t)
{
    int fd;
    struct hn_proc *server = busy_server(t->param, &fd);
    expect_stop(server, SIGTERM);
    close(fd);
    int fd2;
    server = busy_server(t->param, &fd2);
    expect_stop(server, SIGINT);
    close(fd2);
}

static void test_restart(const struct hn_test *t)
{
    const struct lifecycle_proto *proto = t->param;
    int fd;
    struct hn_proc *server = busy_server(proto, &fd);
    int port = hn_port(server);
    /* The server closes first, so its side of the connection is the one left
     * in TIME_WAIT, holding the port. */
    expect_stop(server, SIGTERM);
    close(fd);
    char ptxt[8];
    const char *args[] = { "-a", "127.0.0.1", "-p", port_text(port, ptxt), NULL };
    struct hn_proc *again = hn_spawn("server", args, NULL);
    if (hn_wait_ready(again, hn_ms(3000)) < 0)
        hn_fail("Restarted at once on the same port (%d) after it had served a client, the "
                "server did not start: %s.\nWithout SO_REUSEADDR, bind() fails while the "
                "old connection sits in TIME_WAIT.", port, hn_proc_why(again));
    close(proto->exchange(again));
}

static const struct hn_test rows[] = {
    { "server_bad_flags", "bad command lines exit 2 with a usage line", 3, 15, HINT_EXIT,
      test_bad_flags, NULL },
    { "server_port_in_use", "a port in use: exit 1, \"server: bind ADDR:PORT: reason\"", 3, 10,
      HINT_EXIT, test_port_in_use, NULL },
    { "server_stop_signal", "SIGTERM and SIGINT with a client connected: exit 0 at once", 4,
      15, HINT_STOP, test_sigterm, NULL },
    { "server_restart", "a restart on the same port right after use works", 4, 15, HINT_REUSE,
      test_restart, NULL },
};

struct hn_table lifecycle_suite(const struct lifecycle_proto *proto)
{
    struct hn_test *copy = malloc(sizeof rows);
    size_t n = 0;
    for (size_t i = 0; i < HN_COUNT(rows); i++) {
        /* UDP has no TIME_WAIT: a restart cannot fail the way TCP's can. */
        if (rows[i].fn == test_restart && proto->socktype != SOCK_STREAM)
            continue;
        copy[n] = rows[i];
        copy[n++].param = proto;
    }
    return (struct hn_table){ "lifecycle", copy, n };
}
