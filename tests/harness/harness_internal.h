/*
 * harness_internal.h: what the harness's own files share, not for tests.
 */
#ifndef SOCKLAB_HARNESS_INTERNAL_H
#define SOCKLAB_HARNESS_INTERNAL_H

#include "harness.h"

/* Process groups started during the current test, in memory shared between
 * the runner (parent) and the test child, so that the parent can kill them
 * after a test that timed out. */
#define HN_REGISTRY_SLOTS 1024
struct hn_registry {
    int count;
    pid_t pgids[HN_REGISTRY_SLOTS];
};

struct hn_registry *hn_registry(void);
const char *hn_tmpdir(void);

/* "Reread "SECTION" in labs/NN-slug/README.md." for the running test. */
void hn_format_hint(const struct hn_test *t, char *out, size_t outlen);

/* Stop every program the current test started (the checked teardown). */
void hn_stop_all(void);

/* Append the stderr tails of the current test's programs to a message. */
void hn_append_program_logs(char *msg, size_t cap);

/* How one test ended, for the machine-readable results. */
struct hn_outcome {
    const struct hn_test *test;
    bool passed;
    const char *message; /* the failure message with its hint; "" if passed */
};

/* Write the results where SOCKLAB_RESULTS_JSON and SOCKLAB_RESULTS_TAP say
 * (results.c); nothing when neither is set. Returns 0, or -1 if a file
 * could not be written (said on stderr). */
int hn_write_results(const struct hn_lab *lab, const struct hn_outcome *out, size_t n);

/* How the last read of the peer ended when it brought less than asked:
 * waited_ms > 0 when nothing more came within that long, closed when the
 * peer closed the connection. */
struct hn_last_read {
    int waited_ms;
    bool closed;
};
const struct hn_last_read *hn_last_read(void);

/* `labNN --check-sandbox` and `labNN --sandbox-run ...`, the grader's
 * commands (sandbox.c): argv[1] is one of them. Returns the exit status. */
int hn_sandbox_tool(int argc, char **argv);

#endif
