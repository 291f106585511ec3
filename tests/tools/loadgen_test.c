/*
 * loadgen_test.c: the tests of tools/loadgen, the echo load generator.
 *
 * Run as `SOCKLAB_BIN=build/solutions/10-epoll build/tests/loadgen`, with
 * LOADGEN naming the binary under test (default build/tools/loadgen). Real
 * sockets on loopback: the lab 10 solution is the well-behaved server, and
 * this file plays the badly-behaved ones itself, as threads of the test
 * process (which Check forks for every test, so they end with it): one that
 * corrupts an echo, one that accepts and never reads.
 *
 * Each row checks one promise of SPEC "Load generator and benchmark" and of
 * loadgen's own usage: the CSV line and its header, every byte verified,
 * the time bound against a server that never answers, loopback only, the
 * open-loop rate, churn, and the server CPU column.
 */
#include "suites.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>

#define HINT "the comment at the top of tools/loadgen/loadgen.c, and SPEC \"Load generator\""
#define CSV_HEADER                                                                             \
    "server,connections,size,msgs_per_s,mib_per_s,p50_us,p90_us,p99_us,p999_us,errors"
#define CSV_FIELDS 10
#define MAX_FIELDS 16
#define MAX_ARGS 40
/* What loadgen may take beyond warm-up plus duration (its own bound is 3 s). */
#define EXIT_SLACK_MS 3000

/* ----------------------------------------------------- running loadgen -- */

/* The loadgen binary under test: $LOADGEN, or the one of the same build
 * (plain or sanitized) as the programs in SOCKLAB_BIN. */
static const char *loadgen_path(void)
{
    const char *lg = getenv("LOADGEN");
    if (lg != NULL && lg[0] != '\0')
        return lg;
    const char *bin = getenv("SOCKLAB_BIN");
    return strncmp(bin, "build/san/", 10) == 0 ? "build/san/tools/loadgen"
                                               : "build/tools/loadgen";
}

/* Start loadgen, without the fault shim: it is the tool, not the program
 * under test. */
static struct hn_proc *spawn_loadgen(const char *const *args)
{
    const char *lg = loadgen_path();
    if (access(lg, X_OK) != 0)
        hn_fail("The load generator %s was not found or is not executable (%s). Build it "
                "(`make loadgen`, or `make SAN=1 loadgen`), or set LOADGEN to its path.",
                lg, strerror(errno));
    /* A name with a slash is run as it is, not looked up in SOCKLAB_BIN. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", strchr(lg, '/') != NULL ? "" : "./", lg);
    struct hn_spawn_opts opts = { .no_shim = true };
    return hn_spawn(path, args, &opts);
}

/* One finished run of loadgen. */
struct run {
    char cmd[1024];  /* the command line, for messages */
    int status;      /* wait status */
    char *out;       /* standard output, to free */
    long long ms;    /* how long it ran */
    struct hn_proc *proc;
};

/* Run `loadgen ARGS` to its end; fail if it outlives timeout_ms (scaled). */
static void run_loadgen(const char *const *args, int timeout_ms, struct run *r)
{
    hn_command_line("loadgen", args, r->cmd, sizeof r->cmd);
    long long t0 = hn_now_ms();
    r->proc = spawn_loadgen(args);
    if (hn_wait_exit(r->proc, hn_ms(timeout_ms), &r->status) < 0)
        hn_fail("`%s` was still running after %d ms.\n"
                "  expected: it stops by itself after its warm-up and duration, within 3 s "
                "more, whatever the server does.",
                r->cmd, hn_ms(timeout_ms));
    r->ms = hn_now_ms() - t0;
    size_t len;
    r->out = hn_stdout_copy(r->proc, &len);
    while (len > 0 && r->out[len - 1] == '\n')
        r->out[--len] = '\0'; /* so that messages can quote it */
}

static int exit_code(const struct run *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

static void expect_exit(const struct run *r, int want)
{
    if (exit_code(r) == want)
        return;
    char how[128];
    hn_describe_status(r->status, how, sizeof how);
    hn_fail("`%s` ended with %s.\n  expected: exit status %d.\n  its output: %s", r->cmd, how,
            want, r->out);
}

/* Split the last line of the output that is not the header into fields. */
static int csv_fields(const struct run *r, char *line, size_t cap, char **fields)
{
    const char *last = NULL;
    for (const char *p = r->out; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, "server,connections,", 19) != 0 && eol != p)
            last = p;
        p = eol != NULL ? eol + 1 : NULL;
    }
    if (last == NULL)
        hn_fail("`%s` printed no CSV line.\n  expected: one line `%s`.\n  got: \"%s\"", r->cmd,
                CSV_HEADER, r->out);
    size_t len = strcspn(last, "\n");
    snprintf(line, cap, "%.*s", (int)len, last);
    int n = 0;
    for (char *f = line; n < MAX_FIELDS; n++) {
        fields[n] = f;
        char *comma = strchr(f, ',');
        if (comma == NULL) {
            n++;
            break;
        }
        *comma = '\0';
        f = comma + 1;
    }
    return n;
}

/* A numeric field, or fail saying which one is not a number. */
static double number(const struct run *r, char **fields, int i, const char *name)
{
    char *end;
    double v = strtod(fields[i], &end);
    if (end == fields[i] || *end != '\0' || !isfinite(v))
        hn_fail("`%s`: CSV column %d (%s) is \"%s\", not a number.\n  the output: %s", r->cmd,
                i + 1, name, fields[i], r->out);
    return v;
}

/* The parsed CSV line of a run. */
struct csv {
    int count;
    double msgs_per_s, mib_per_s, p50, p90, p99, p999, errors, cpu;
};

static void parse_csv(const struct run *r, int want_fields, struct csv *c)
{
    char line[1024];
    char *f[MAX_FIELDS];
    c->count = csv_fields(r, line, sizeof line, f);
    if (c->count != want_fields)
        hn_fail("`%s` printed a CSV line of %d fields.\n  expected: %d (%s%s).\n  got: %s",
                r->cmd, c->count, want_fields, CSV_HEADER,
                want_fields > CSV_FIELDS ? ",server_cpu_us_per_msg" : "", r->out);
    c->msgs_per_s = number(r, f, 3, "msgs_per_s");
    c->mib_per_s = number(r, f, 4, "mib_per_s");
    c->p50 = number(r, f, 5, "p50_us");
    c->p90 = number(r, f, 6, "p90_us");
    c->p99 = number(r, f, 7, "p99_us");
    c->p999 = number(r, f, 8, "p999_us");
    c->errors = number(r, f, 9, "errors");
    c->cpu = want_fields > CSV_FIELDS ? number(r, f, 10, "server_cpu_us_per_msg") : 0.0;
}

/* ------------------------------------------- servers played by the test -- */

/* A listener on 127.0.0.1, a free port; fails the test if it cannot. */
static int test_listener(int *port)
{
    char err[SL_ERR_BYTES];
    int fd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 64, err, sizeof err);
    if (fd < 0)
        hn_fail("harness: %s", err);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        hn_fail("harness: getsockname: %s", strerror(errno));
    *port = ntohs(sin.sin_port);
    return fd;
}

#define CORRUPT_SIZE 64
#define CORRUPT_MESSAGE 3 /* counting from 1 */

/* An echo server that flips one byte of the third message of each client. */
static void *corrupting_server(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        unsigned char msg[CORRUPT_SIZE];
        for (int n = 1; sl_read_full(fd, msg, sizeof msg) == (ssize_t)sizeof msg; n++) {
            if (n == CORRUPT_MESSAGE)
                msg[CORRUPT_SIZE / 2] ^= 0x01;
            if (sl_write_full(fd, msg, sizeof msg) < 0)
                break;
        }
        close(fd);
    }
    return NULL;
}

#define PAUSE_AT_MESSAGE 200
#define PAUSE_MS 300

/* An echo server of 64-byte messages that stops for PAUSE_MS once, before
 * it echoes message PAUSE_AT_MESSAGE of its client. */
static void *pausing_server(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        unsigned char msg[CORRUPT_SIZE];
        for (int n = 1; sl_read_full(fd, msg, sizeof msg) == (ssize_t)sizeof msg; n++) {
            if (n == PAUSE_AT_MESSAGE)
                usleep(PAUSE_MS * 1000);
            if (sl_write_full(fd, msg, sizeof msg) < 0)
                break;
        }
        close(fd);
    }
    return NULL;
}

/* A server that accepts every connection, keeps it, and never reads. */
static void *silent_server(void *arg)
{
    int lfd = *(int *)arg;
    for (;;)
        accept(lfd, NULL, NULL); /* the descriptors are kept open on purpose */
    return NULL;
}

static void start_thread(void *(*fn)(void *), int *lfd)
{
    pthread_t th;
    if (pthread_create(&th, NULL, fn, lfd) != 0)
        hn_fail("harness: pthread_create failed");
    pthread_detach(th);
}

/* ----------------------------------------------------------------- tests -- */

static void test_pingpong_csv(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    char port[16];
    const char *args[] = { "-c", "10", "-d", "1", "-w", "0.2", "--csv", "-q", "-n", "10-epoll",
                           "-p", port_text(hn_port(server), port), NULL };
    struct run r;
    run_loadgen(args, 1200 + EXIT_SLACK_MS, &r);
    expect_exit(&r, 0);
    struct csv c;
    parse_csv(&r, CSV_FIELDS, &c);
    if (strncmp(r.out, "10-epoll,10,64,", 15) != 0)
        hn_fail("`%s` printed \"%s\".\n  expected: a line starting `10-epoll,10,64,` "
                "(server, connections, size).",
                r.cmd, r.out);
    if (c.errors != 0 || c.msgs_per_s <= 0 || c.mib_per_s <= 0)
        hn_fail("`%s` against the lab 10 solution printed \"%s\".\n  expected: errors 0, "
                "msgs_per_s and mib_per_s above 0.",
                r.cmd, r.out);
    if (!(c.p50 > 0 && c.p50 <= c.p90 && c.p90 <= c.p99 && c.p99 <= c.p999))
        hn_fail("`%s` printed percentiles p50 %g, p90 %g, p99 %g, p99.9 %g.\n  expected: "
                "above 0 and non-decreasing.",
                r.cmd, c.p50, c.p90, c.p99, c.p999);
    hn_stop(server, hn_ms(2000));
}

static void test_corrupt_echo(const struct hn_test *t)
{
    (void)t;
    int port_num;
    int lfd = test_listener(&port_num);
    start_thread(corrupting_server, &lfd);
    char port[16];
    const char *args[] = { "-c", "1", "-s", "64", "-d", "1", "-w", "0", "--csv", "-q", "-p",
                           port_text(port_num, port), NULL };
    struct run r;
    run_loadgen(args, 1000 + EXIT_SLACK_MS, &r);
    struct csv c;
    parse_csv(&r, CSV_FIELDS, &c);
    if (c.errors < 1)
        hn_fail("`%s` against a server that flips byte %d of message %d printed \"%s\".\n"
                "  expected: errors 1 or more: every echoed byte must be checked.",
                r.cmd, CORRUPT_SIZE / 2, CORRUPT_MESSAGE, r.out);
    expect_exit(&r, 1);
}

static void test_silent_server(const struct hn_test *t)
{
    (void)t;
    int port_num;
    int lfd = test_listener(&port_num);
    start_thread(silent_server, &lfd);
    char port[16];
    const char *args[] = { "-c", "4", "-d", "1", "-w", "0.5", "-q", "-p",
                           port_text(port_num, port), NULL };
    struct run r;
    run_loadgen(args, 1500 + EXIT_SLACK_MS, &r);
    expect_exit(&r, 1);
    bool none = strstr(r.out, "messages     0 ") != NULL;
    if (!none || strstr(r.out, "stalled      4 of 4") == NULL)
        hn_fail("`%s` against a server that accepts and never reads printed:\n%s\n"
                "  expected: `messages     0 (...)` and `stalled      4 of 4 ...`.",
                r.cmd, r.out);
}

/* A command line loadgen must refuse, and what its message must mention. */
struct refusal {
    const char *args[8];
    const char *says;
};

static const struct refusal refusals[] = {
    { { "-a", "192.0.2.1", NULL }, "loopback" },
    { { "-x", NULL }, "usage:" },
    { { "--bogus", NULL }, "usage:" },
    { { "-c", "0", NULL }, "usage:" },
    { { "-c", "100001", NULL }, "usage:" },
    { { "-s", "1048577", NULL }, "usage:" },
    { { "-d", "0", NULL }, "usage:" },
    { { "-d", "601", NULL }, "usage:" },
    { { "-w", "-1", NULL }, "usage:" },
    { { "-m", "burst", NULL }, "usage:" },
    { { "-m", "rate", NULL }, "usage:" },
    { { "-m", "rate", "-r", "0", NULL }, "usage:" },
    { { "-p", "70000", NULL }, "usage:" },
    { { "stray", NULL }, "usage:" },
};

static void test_refusals(const struct hn_test *t)
{
    (void)t;
    for (size_t i = 0; i < HN_COUNT(refusals); i++) {
        struct run r;
        run_loadgen(refusals[i].args, 3000, &r);
        char *err = hn_stderr_tail(r.proc);
        if (exit_code(&r) != 2 || strstr(err, refusals[i].says) == NULL) {
            char how[128];
            hn_describe_status(r.status, how, sizeof how);
            hn_fail("`%s` ended with %s, saying \"%s\".\n  expected: exit status 2 and a "
                    "message that mentions \"%s\".",
                    r.cmd, how, err, refusals[i].says);
        }
        free(err);
        free(r.out);
    }
}

static void test_rate(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    char port[16];
    const char *args[] = { "-m", "rate", "-r", "2000", "-c", "4", "-d", "1", "-w", "0.2",
                           "--csv", "-q", "-p", port_text(hn_port(server), port),
                           NULL };
    struct run r;
    run_loadgen(args, 1200 + EXIT_SLACK_MS, &r);
    expect_exit(&r, 0);
    struct csv c;
    parse_csv(&r, CSV_FIELDS, &c);
    if (c.errors != 0 || c.msgs_per_s < 1600 || c.msgs_per_s > 2400)
        hn_fail("`%s` printed \"%s\".\n  expected: msgs_per_s within 20%% of 2000 (the open "
                "loop keeps its schedule), errors 0.",
                r.cmd, r.out);
    hn_stop(server, hn_ms(2000));
}

/*
 * The open loop does not wait for a slow server: the messages due during its
 * pause queue up and go out on schedule, the achieved rate holds, and their
 * latency counts from when each was meant to be sent. At 1000/s, the pause
 * delays about 300 messages by 0 to 300 ms, so p90 of 1000 is near 200 ms.
 * A closed loop would send less and report only the one slow reply.
 */
static void test_rate_pause(const struct hn_test *t)
{
    (void)t;
    int port_num;
    int lfd = test_listener(&port_num);
    start_thread(pausing_server, &lfd);
    char port[16];
    const char *args[] = { "-m", "rate", "-r", "1000", "-c", "1", "-d", "1", "-w", "0",
                           "--csv", "-q", "-p", port_text(port_num, port), NULL };
    struct run r;
    run_loadgen(args, 1000 + EXIT_SLACK_MS, &r);
    expect_exit(&r, 0);
    struct csv c;
    parse_csv(&r, CSV_FIELDS, &c);
    if (c.msgs_per_s < 800 || c.msgs_per_s > 1200 || c.p90 < 100000)
        hn_fail("`%s` against a server that pauses %d ms before echo %d printed \"%s\".\n"
                "  expected: msgs_per_s within 20%% of 1000 and p90_us of 100000 or more: the "
                "messages due during the pause are still sent on schedule and their wait "
                "counts (no coordinated omission).",
                r.cmd, PAUSE_MS, PAUSE_AT_MESSAGE, r.out);
}

static void test_churn(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    char port[16];
    const char *args[] = { "-m", "churn", "-c", "4", "-d", "1", "-w", "0.2", "--csv", "-q",
                           "-p", port_text(hn_port(server), port), NULL };
    struct run r;
    run_loadgen(args, 1200 + EXIT_SLACK_MS, &r);
    expect_exit(&r, 0);
    struct csv c;
    parse_csv(&r, CSV_FIELDS, &c);
    if (c.errors != 0 || c.msgs_per_s <= 0)
        hn_fail("`%s` printed \"%s\".\n  expected: errors 0 and connections per second "
                "(msgs_per_s) above 0.",
                r.cmd, r.out);
    hn_stop(server, hn_ms(2000));
}

/* The first line of a run's output, in a caller's buffer. */
static const char *first_line(const struct run *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.*s", (int)strcspn(r->out, "\n"), r->out);
    return buf;
}

static void test_header_and_cpu(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    char port[16], pid[16], line[512];
    port_text(hn_port(server), port);
    snprintf(pid, sizeof pid, "%d", (int)hn_pid(server));

    const char *plain[] = { "-c", "2", "-d", "0.5", "-w", "0.1", "--csv", "--csv-header",
                            "-q", "-p", port, NULL };
    struct run r;
    run_loadgen(plain, 600 + EXIT_SLACK_MS, &r);
    expect_exit(&r, 0);
    if (strcmp(first_line(&r, line, sizeof line), CSV_HEADER) != 0)
        hn_fail("`%s` printed the header \"%s\".\n  expected exactly: \"%s\"", r.cmd, line,
                CSV_HEADER);

    const char *cpu[] = { "-c", "4", "-d", "1", "-w", "0.2", "--csv", "--csv-header", "-q",
                          "-P", pid, "-p", port, NULL };
    run_loadgen(cpu, 1200 + EXIT_SLACK_MS, &r);
    expect_exit(&r, 0);
    if (strcmp(first_line(&r, line, sizeof line), CSV_HEADER ",server_cpu_us_per_msg") != 0)
        hn_fail("`%s` printed the header \"%s\".\n  expected exactly: \"%s\"", r.cmd, line,
                CSV_HEADER ",server_cpu_us_per_msg");
    struct csv c;
    parse_csv(&r, CSV_FIELDS + 1, &c);
    if (!(c.cpu > 0))
        hn_fail("`%s` (the server's pid) printed \"%s\".\n  expected: server_cpu_us_per_msg "
                "above 0: an echo server uses CPU for every message.",
                r.cmd, r.out);
    hn_stop(server, hn_ms(2000));
}

static const struct hn_test loadgen_rows[] = {
    { "loadgen_pingpong_csv", "pingpong, 10 connections: one CSV line, 10 fields, no errors", 3,
      15, HINT, test_pingpong_csv, NULL },
    { "loadgen_corrupt_echo", "a server that corrupts the 3rd echo: errors counted, exit 1", 3,
      15, HINT, test_corrupt_echo, NULL },
    { "loadgen_silent_server", "a server that never reads: bounded run, exit 1, all stalled", 3,
      15, HINT, test_silent_server, NULL },
    { "loadgen_refusals", "not loopback, bad options: exit 2 with a message", 2, 30, HINT,
      test_refusals, NULL },
    { "loadgen_rate", "rate mode at 2000 msgs/s: achieved within 20%, no errors", 3, 15, HINT,
      test_rate, NULL },
    { "loadgen_rate_pause", "rate mode, a server that pauses: rate holds, latency counts the "
      "wait", 3, 15, HINT, test_rate_pause, NULL },
    { "loadgen_churn", "churn mode: connections per second, no errors", 2, 15, HINT, test_churn,
      NULL },
    { "loadgen_header_cpu", "--csv-header exactly SPEC's; -P adds server_cpu_us_per_msg > 0", 2,
      20, HINT, test_header_and_cpu, NULL },
};

static const struct hn_table loadgen_table = HN_TABLE("loadgen", loadgen_rows);

int main(int argc, char **argv)
{
    const struct hn_table *tables[] = { &loadgen_table, NULL };
    struct hn_lab lab = { "loadgen", "tools/loadgen", "the echo load generator", tables };
    return hn_main(&lab, argc, argv);
}
