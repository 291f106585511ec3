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

#endif
