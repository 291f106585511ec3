/*
 * unit.h: what the unit tests of libsocklab share.
 *
 * One Check suite per file of lib/, assembled by main.c, plus a few helpers:
 * a TCase with a time bound, a child process whose exit status and output a
 * test can examine (for the helpers that exit), and a join with a deadline.
 */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <pthread.h>

#include "socklab.h"

Suite *err_suite(void);
Suite *addr_suite(void);
Suite *sock_suite(void);
Suite *io_suite(void);
Suite *line_suite(void);
Suite *args_suite(void);
Suite *buf_suite(void);

/**
 * A test case that runs each test in its own process (Check's fork mode) and
 * ends it after @p seconds, times SOCKLAB_TIME_SCALE when that is set (the
 * sanitizer builds are slower).
 */
TCase *unit_tcase(const char *name, double seconds);

/** Seconds scaled like unit_tcase() does. */
double unit_scaled(double seconds);

/** What a child run by unit_run_child() left behind. */
struct unit_child {
    int exit_status; /**< its exit status, or 128 + signal, or -1 if killed for time */
    char out[4096];  /**< its standard output, NUL-terminated */
    char err[4096];  /**< its standard error, NUL-terminated */
};

/**
 * Run @p fn(@p arg) in a child process with standard output and standard
 * error captured; the child exits 0 if @p fn returns. Waits at most five
 * seconds (scaled), then kills it.
 */
void unit_run_child(void (*fn)(void *), void *arg, struct unit_child *child);

/** Join @p thread, failing the test if it takes more than @p seconds (scaled). */
void unit_join(pthread_t thread, double seconds);

/** The port of a bound socket, in host byte order. */
unsigned unit_local_port(int fd);

#endif /* UNIT_H */
