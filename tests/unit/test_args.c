/*
 * test_args.c: lib/sl_args.c, command lines, the ready line and stopping.
 *
 * A bad command line exits, so those cases run in a child whose exit status
 * and output the test reads back. Each row gives a command line and what
 * the program must do with it.
 */
#include "unit.h"

#include <limits.h>
#include <time.h>

/* The options of a test program: `-t MS` (a number) and the flag `-e`. */
struct extra {
    long timeout_ms;
    bool edge;
};

static int handle_extra(int opt, const char *arg, void *ctx)
{
    struct extra *extra = ctx;
    switch (opt) {
    case 't': return sl_parse_int(arg, 1, 60000, &extra->timeout_ms);
    case 'e': extra->edge = arg == NULL; return 0;
    default: return -1;
    }
}

#define MAX_ARGS 8

/* Parse argv like a server with `-t MS` and `-e`; print what came out. */
static void parse_and_print(void *arg)
{
    const char *const *words = arg;
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    while (argc < MAX_ARGS && words[argc] != NULL) {
        argv[argc] = (char *)words[argc];
        argc++;
    }
    argv[argc] = NULL;
    struct extra extra = {.timeout_ms = 1000};
    struct sl_opts opts;
    sl_parse_args(argc, argv, "50009", "t:e", "[-t MS] [-e]", handle_extra, &extra, &opts);
    printf("addr=%s port=%s t=%ld e=%d prog=%s\n", opts.addr, opts.port, extra.timeout_ms,
           extra.edge, sl_progname());
}

struct args_row {
    const char *argv[MAX_ARGS + 1];
    int exit_status;
    const char *out; /* exact standard output */
    const char *err; /* exact standard error */
};

#define USAGE "usage: server [-a ADDR] [-p PORT] [-t MS] [-e]\n"

// clang-format off
static const struct args_row args_rows[] = {
    {{"/opt/socklab/server"}, 0, "addr=127.0.0.1 port=50009 t=1000 e=0 prog=server\n", ""},
    {{"server", "-a", "::1", "-p", "0"}, 0, "addr=::1 port=0 t=1000 e=0 prog=server\n", ""},
    {{"server", "-p65535", "-alocalhost"}, 0,
     "addr=localhost port=65535 t=1000 e=0 prog=server\n", ""},
    {{"server", "-t", "250", "-e"}, 0, "addr=127.0.0.1 port=50009 t=250 e=1 prog=server\n", ""},
    {{"server", "-et", "5"}, 0, "addr=127.0.0.1 port=50009 t=5 e=1 prog=server\n", ""},
    {{"server", "-h"}, 0, USAGE, ""},
    {{"server", "-p", "70000"}, 2, "",
     "server: invalid port '70000' (expected a number from 0 to 65535)\n" USAGE},
    {{"server", "-p", "-1"}, 2, "",
     "server: invalid port '-1' (expected a number from 0 to 65535)\n" USAGE},
    {{"server", "-p", "80x"}, 2, "",
     "server: invalid port '80x' (expected a number from 0 to 65535)\n" USAGE},
    {{"server", "-p", ""}, 2, "",
     "server: invalid port '' (expected a number from 0 to 65535)\n" USAGE},
    {{"server", "-p"}, 2, "", "server: option -p needs an argument\n" USAGE},
    {{"server", "-x"}, 2, "", "server: unknown option -x\n" USAGE},
    {{"server", "extra"}, 2, "", "server: unexpected argument 'extra'\n" USAGE},
    {{"server", "-p", "1", "extra", "-a", "x"}, 2, "",
     "server: unexpected argument 'extra'\n" USAGE},
    {{"server", "-t", "soon"}, 2, "", "server: invalid argument 'soon' for -t\n" USAGE},
    {{"server", "-t", "0"}, 2, "", "server: invalid argument '0' for -t\n" USAGE},
};
// clang-format on

START_TEST(args_table)
{
    const struct args_row *row = &args_rows[_i];
    struct unit_child child;
    unit_run_child(parse_and_print, (void *)row->argv, &child);
    char line[256] = "";
    for (int i = 0; row->argv[i] != NULL; i++)
        snprintf(line + strlen(line), sizeof line - strlen(line), " '%s'", row->argv[i]);
    ck_assert_msg(child.exit_status == row->exit_status, "%s: exit status %d, expected %d",
                  line, child.exit_status, row->exit_status);
    ck_assert_msg(strcmp(child.out, row->out) == 0, "%s: stdout \"%s\", expected \"%s\"", line,
                  child.out, row->out);
    ck_assert_msg(strcmp(child.err, row->err) == 0, "%s: stderr \"%s\", expected \"%s\"", line,
                  child.err, row->err);
}
END_TEST

/* A program without options of its own. */
static void parse_plain(void *arg)
{
    char *argv[] = {"client", (char *)arg, "1", NULL};
    struct sl_opts opts;
    sl_parse_args(3, argv, "50001", NULL, NULL, NULL, NULL, &opts);
}

START_TEST(args_without_extra_options)
{
    struct unit_child child;
    unit_run_child(parse_plain, "-t", &child);
    ck_assert_int_eq(child.exit_status, 2);
    ck_assert_str_eq(child.err,
                     "client: unknown option -t\nusage: client [-a ADDR] [-p PORT]\n");
}
END_TEST

START_TEST(args_parse_twice)
{
    char *first[] = {"server", "-p", "1234", "-a", "::1", NULL};
    char *second[] = {"server", "-p", "99", NULL};
    struct sl_opts opts;
    sl_parse_args(5, first, "50000", NULL, NULL, NULL, NULL, &opts);
    ck_assert_str_eq(opts.addr, "::1");
    ck_assert_str_eq(opts.port, "1234");
    sl_parse_args(3, second, "50000", NULL, NULL, NULL, NULL, &opts);
    ck_assert_str_eq(opts.addr, "127.0.0.1");
    ck_assert_str_eq(opts.port, "99");
}
END_TEST

/* Rows of the sl_parse_int() table. */
struct int_row {
    const char *arg;
    long min, max;
    int rc;
    long value;
};

// clang-format off
static const struct int_row int_rows[] = {
    {"0", 0, 65535, 0, 0},
    {"65535", 0, 65535, 0, 65535},
    {"65536", 0, 65535, -1, 0},
    {"-1", 0, 65535, -1, 0},
    {"-5", -10, 10, 0, -5},
    {"007", 0, 10, 0, 7},
    {"", 0, 10, -1, 0},
    {"-", -10, 10, -1, 0},
    {" 1", 0, 10, -1, 0},
    {"+1", 0, 10, -1, 0},
    {"1 ", 0, 10, -1, 0},
    {"12x", 0, 100, -1, 0},
    {"0x10", 0, 100, -1, 0},
    {"99999999999999999999999", 0, LONG_MAX, -1, 0},
    {NULL, 0, 10, -1, 0},
};
// clang-format on

START_TEST(parse_int_table)
{
    const struct int_row *row = &int_rows[_i];
    long value = 12345;
    int rc = sl_parse_int(row->arg, row->min, row->max, &value);
    ck_assert_msg(rc == row->rc, "sl_parse_int(\"%s\", %ld, %ld) returned %d, expected %d",
                  row->arg ? row->arg : "(null)", row->min, row->max, rc, row->rc);
    ck_assert_int_eq(value, rc == 0 ? row->value : 12345); /* untouched on failure */
}
END_TEST

/* Run sl_print_ready(fd) with standard output redirected into a pipe, and
 * return what it printed. */
static void capture_ready_line(int fd, char *out, size_t outlen)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    ck_assert_int_eq(dup2(p[1], STDOUT_FILENO), STDOUT_FILENO);
    int rc = sl_print_ready(fd);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(p[1]);
    ck_assert_int_eq(rc, 0);
    ssize_t n = sl_read_full(p[0], out, outlen - 1);
    ck_assert_int_ge(n, 0);
    out[n] = '\0';
    close(p[0]);
}

static void check_ready_line(const char *host, const char *shown_host)
{
    char err[SL_ERR_BYTES], got[128], want[128];
    int fd = sl_listen(host, "0", SOCK_STREAM, 4, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    snprintf(want, sizeof want, "listening on %s:%u\n", shown_host, unit_local_port(fd));
    capture_ready_line(fd, got, sizeof got);
    ck_assert_str_eq(got, want);
    close(fd);
}

START_TEST(ready_line_ipv4_and_ipv6)
{
    check_ready_line("127.0.0.1", "127.0.0.1");
    check_ready_line("::1", "[::1]");
}
END_TEST

START_TEST(ready_line_on_a_bad_descriptor)
{
    ck_assert_int_eq(sl_print_ready(-1), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(stop_handlers_record_and_do_not_restart)
{
    ck_assert(!sl_stop_requested());
    ck_assert_int_eq(sl_install_stop_handlers(), 0);
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    ck_assert(!(sa.sa_flags & SA_RESTART));
    ck_assert_int_eq(sigaction(SIGTERM, NULL, &sa), 0);
    ck_assert(!(sa.sa_flags & SA_RESTART));

    ck_assert_int_eq(raise(SIGTERM), 0); /* the test goes on: the handler only records */
    ck_assert(sl_stop_requested());
}
END_TEST

struct interrupter {
    pthread_t target;
    int wake_fd; /* written if the signal did not interrupt the read */
};

static void *interrupter_main(void *arg)
{
    struct interrupter *it = arg;
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    pthread_kill(it->target, SIGINT);
    pause.tv_sec = 2;
    pause.tv_nsec = 0;
    nanosleep(&pause, NULL);
    ssize_t n = write(it->wake_fd, "x", 1);
    (void)n;
    return NULL;
}

START_TEST(stop_signal_interrupts_a_blocking_read)
{
    ck_assert_int_eq(sl_install_stop_handlers(), 0);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct interrupter it = {.target = pthread_self(), .wake_fd = p[1]};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, interrupter_main, &it), 0);

    char c;
    ssize_t n = read(p[0], &c, 1);
    ck_assert_msg(n == -1 && errno == EINTR,
                  "read() was not interrupted by SIGINT (SA_RESTART?): returned %zd", n);
    ck_assert(sl_stop_requested());
    pthread_detach(thread); /* it writes a byte into the pipe and ends */
}
END_TEST

Suite *args_suite(void)
{
    Suite *s = suite_create("args");
    TCase *tc = unit_tcase("parse", 20);
    tcase_add_loop_test(tc, args_table, 0, (int)(sizeof args_rows / sizeof args_rows[0]));
    tcase_add_test(tc, args_without_extra_options);
    tcase_add_test(tc, args_parse_twice);
    tcase_add_loop_test(tc, parse_int_table, 0, (int)(sizeof int_rows / sizeof int_rows[0]));
    suite_add_tcase(s, tc);

    tc = unit_tcase("ready", 10);
    tcase_add_test(tc, ready_line_ipv4_and_ipv6);
    tcase_add_test(tc, ready_line_on_a_bad_descriptor);
    suite_add_tcase(s, tc);

    tc = unit_tcase("stop", 10);
    tcase_add_test(tc, stop_handlers_record_and_do_not_restart);
    tcase_add_test(tc, stop_signal_interrupts_a_blocking_read);
    suite_add_tcase(s, tc);
    return s;
}
