/*
 * main.c: the unit tests of libsocklab, one Check suite per file of lib/.
 *
 * Every test runs in its own process (fork mode) with a time bound, and
 * talks only to loopback or to a socketpair. Run one suite with
 * CK_RUN_SUITE=line, one case with CK_RUN_CASE=...; SOCKLAB_TIME_SCALE
 * stretches every bound (the sanitizer builds are slower).
 */
#include "unit.h"

int main(void)
{
    SRunner *sr = srunner_create(err_suite());
    srunner_add_suite(sr, addr_suite());
    srunner_add_suite(sr, sock_suite());
    srunner_add_suite(sr, io_suite());
    srunner_add_suite(sr, line_suite());
    srunner_add_suite(sr, args_suite());
    srunner_add_suite(sr, buf_suite());
    if (getenv("CK_FORK") == NULL) /* CK_FORK=no lets a debugger follow a test */
        srunner_set_fork_status(sr, CK_FORK);

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
