/*
 * results.c: the autograder's results in machine-readable form.
 *
 * Besides its report on the terminal, a test program writes, when asked
 * through the environment,
 *
 *   SOCKLAB_RESULTS_JSON=PATH   one lab's results in Gradescope's format:
 *                               {"score", "max_score", "tests": [{"name",
 *                               "score", "max_score", "status", "output"}]},
 *                               one test object per line, so that
 *                               tools/grade can merge the labs with grep;
 *   SOCKLAB_RESULTS_TAP=PATH    the same as TAP version 13 (one `ok` or
 *                               `not ok` line per test, the message as a
 *                               YAML block under a failure).
 *
 * The output of a failed test is its whole failure message: what was sent,
 * expected and received, and the hint. Messages come from the student's
 * programs too (their stderr), so every byte is escaped.
 */
#include "harness.h"
#include "harness_internal.h"

/* Write s as the body of a JSON string: quotes, backslashes and control
 * bytes escaped; bytes of 0x80 and up as they are when they form valid
 * UTF-8, as \u00XX otherwise, so the file is always valid JSON. */
static void json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
        } else if (c < 0x80) {
            fputc(c, f);
        } else {
            size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            size_t k = 1;
            while (len > 0 && k < len && (p[k] & 0xc0) == 0x80)
                k++;
            if (len == 0 || k < len) {
                fprintf(f, "\\u%04x", c); /* not UTF-8: one byte, shown by value */
            } else {
                fwrite(p, 1, len, f);
                p += len - 1;
            }
        }
        p++;
    }
}

static int write_json(const char *path, const struct hn_lab *lab,
                      const struct hn_outcome *out, size_t n)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    int score = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        max += out[i].test->points;
        score += out[i].passed ? out[i].test->points : 0;
    }
    fprintf(f, "{\n  \"lab\": \"%s\",\n  \"score\": %d,\n  \"max_score\": %d,\n"
               "  \"tests\": [\n",
            lab->id, score, max);
    for (size_t i = 0; i < n; i++) {
        const struct hn_test *t = out[i].test;
        fprintf(f, "    {\"name\": \"%s %s: ", lab->id, t->name);
        json_string(f, t->title);
        fprintf(f, "\", \"score\": %d, \"max_score\": %d, \"status\": \"%s\", "
                   "\"visibility\": \"visible\", \"output\": \"",
                out[i].passed ? t->points : 0, t->points, out[i].passed ? "passed" : "failed");
        json_string(f, out[i].passed ? "" : out[i].message);
        fprintf(f, "\"}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

static int write_tap(const char *path, const struct hn_lab *lab,
                     const struct hn_outcome *out, size_t n)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    fprintf(f, "TAP version 13\n1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        const struct hn_test *t = out[i].test;
        fprintf(f, "%s %zu - %s %s (%d/%d points)\n", out[i].passed ? "ok" : "not ok", i + 1,
                lab->id, t->name, out[i].passed ? t->points : 0, t->points);
        if (out[i].passed)
            continue;
        /* The message as a YAML block scalar, each line indented. */
        fputs("  ---\n  message: |\n", f);
        const char *p = out[i].message;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(f, "    %.*s\n", (int)len, p);
            p += len + (nl ? 1 : 0);
        }
        fputs("  ...\n", f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int hn_write_results(const struct hn_lab *lab, const struct hn_outcome *out, size_t n)
{
    int status = 0;
    const char *json = getenv("SOCKLAB_RESULTS_JSON");
    if (json != NULL && *json && write_json(json, lab, out, n) < 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", lab->id, json, strerror(errno));
        status = -1;
    }
    const char *tap = getenv("SOCKLAB_RESULTS_TAP");
    if (tap != NULL && *tap && write_tap(tap, lab, out, n) < 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", lab->id, tap, strerror(errno));
        status = -1;
    }
    return status;
}
