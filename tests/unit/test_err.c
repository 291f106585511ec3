/*
 * test_err.c: lib/sl_err.c, the die layer and the status layer.
 *
 * The die-style helpers exit, so they run in a child whose status and
 * standard error the test reads back.
 */
#include "unit.h"

START_TEST(progname_is_the_basename)
{
    ck_assert_str_eq(sl_progname(), "socklab"); /* before anyone sets it */
    sl_set_progname("/usr/local/bin/server");
    ck_assert_str_eq(sl_progname(), "server");
    sl_set_progname("client");
    ck_assert_str_eq(sl_progname(), "client");
    sl_set_progname(NULL);
    ck_assert_str_eq(sl_progname(), "client");
}
END_TEST

START_TEST(set_err_names_call_and_reason)
{
    char err[SL_ERR_BYTES];
    sl_set_err(err, sizeof err, EADDRINUSE, "bind %s", "127.0.0.1:50006");
    ck_assert_str_eq(err, "bind 127.0.0.1:50006: Address already in use");
}
END_TEST

START_TEST(set_err_without_errno_is_the_message_alone)
{
    char err[SL_ERR_BYTES];
    sl_set_err(err, sizeof err, 0, "getaddrinfo %s: %s", "x", "Name or service not known");
    ck_assert_str_eq(err, "getaddrinfo x: Name or service not known");
}
END_TEST

START_TEST(set_err_truncates_safely)
{
    char err[12];
    memset(err, 'z', sizeof err);
    sl_set_err(err, sizeof err, ECONNREFUSED, "connect %s", "127.0.0.1:50001");
    ck_assert_str_eq(err, "connect 127");

    char tiny[4] = "abc";
    sl_set_err(tiny, 0, EPIPE, "send"); /* no room: nothing written */
    ck_assert_str_eq(tiny, "abc");
    sl_set_err(NULL, 10, EPIPE, "send"); /* no buffer: nothing to do */
}
END_TEST

static void die_runtime(void *arg)
{
    (void)arg;
    sl_set_progname("/somewhere/client");
    sl_die(SL_EXIT_RUNTIME, "no reply from %s", "[::1]:50002");
}

START_TEST(die_prints_prefix_and_exits)
{
    struct unit_child child;
    unit_run_child(die_runtime, NULL, &child);
    ck_assert_int_eq(child.exit_status, SL_EXIT_RUNTIME);
    ck_assert_str_eq(child.err, "client: no reply from [::1]:50002\n");
    ck_assert_str_eq(child.out, "");
}
END_TEST

static void die_errno_refused(void *arg)
{
    (void)arg;
    sl_set_progname("client");
    errno = ECONNREFUSED;
    sl_die_errno("connect %s", "127.0.0.1:50001");
}

START_TEST(die_errno_adds_strerror)
{
    struct unit_child child;
    unit_run_child(die_errno_refused, NULL, &child);
    ck_assert_int_eq(child.exit_status, SL_EXIT_RUNTIME);
    ck_assert_str_eq(child.err, "client: connect 127.0.0.1:50001: Connection refused\n");
}
END_TEST

static void usage_error_bad_flag(void *arg)
{
    (void)arg;
    sl_set_progname("server");
    sl_usage_error("[-a ADDR] [-p PORT]", "unknown option -%c", 'z');
}

START_TEST(usage_error_prints_usage_and_exits_2)
{
    struct unit_child child;
    unit_run_child(usage_error_bad_flag, NULL, &child);
    ck_assert_int_eq(child.exit_status, SL_EXIT_USAGE);
    ck_assert_str_eq(child.err,
                     "server: unknown option -z\nusage: server [-a ADDR] [-p PORT]\n");
}
END_TEST

/* Exits 0 only if errno survived the warning. */
static void warn_and_go_on(void *arg)
{
    (void)arg;
    sl_set_progname("server");
    errno = ECONNRESET;
    sl_warn_errno("recv from %s", "127.0.0.1:41234");
    exit(errno == ECONNRESET ? 0 : 9);
}

START_TEST(warn_errno_prints_and_keeps_errno)
{
    struct unit_child child;
    unit_run_child(warn_and_go_on, NULL, &child);
    ck_assert_int_eq(child.exit_status, 0);
    ck_assert_str_eq(child.err,
                     "server: recv from 127.0.0.1:41234: Connection reset by peer\n");
}
END_TEST

Suite *err_suite(void)
{
    Suite *s = suite_create("err");
    TCase *tc = unit_tcase("messages", 10);
    tcase_add_test(tc, progname_is_the_basename);
    tcase_add_test(tc, set_err_names_call_and_reason);
    tcase_add_test(tc, set_err_without_errno_is_the_message_alone);
    tcase_add_test(tc, set_err_truncates_safely);
    suite_add_tcase(s, tc);

    tc = unit_tcase("exits", 10);
    tcase_add_test(tc, die_prints_prefix_and_exits);
    tcase_add_test(tc, die_errno_adds_strerror);
    tcase_add_test(tc, usage_error_prints_usage_and_exits_2);
    tcase_add_test(tc, warn_errno_prints_and_keeps_errno);
    suite_add_tcase(s, tc);
    return s;
}
