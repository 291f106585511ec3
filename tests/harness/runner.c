/*
 * runner.c: turn a lab's test tables into a Check run, and score it.
 *
 * Each row of a table becomes its own TCase, so that it has its own time
 * bound (tcase_set_timeout) and can be selected by name. Check runs every
 * test in a forked child (fork mode); the parent never runs student code.
 *
 * Cleaning up after hostile programs is the parent's job, because a test that
 * times out is killed before it can clean up after itself:
 *
 *   - the parent is a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER), so
 *     every process orphaned during a test is reparented to it, even one that
 *     left its process group with setsid();
 *   - every program a test starts has its process group recorded in a page
 *     of shared memory;
 *   - after each test an unchecked teardown, run in the parent, kills those
 *     groups and then every process left among its own children.
 */
#include "harness.h"
#include "harness_internal.h"

#include <ftw.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

/* Not leak-checked: a test child ends with exit() in the middle of a test. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static const struct hn_lab *g_lab;
static const struct hn_test **g_tests;
static size_t g_ntests;
static const struct hn_test *g_current;
static struct hn_registry *g_registry;
static char g_tmpdir[256];
static double g_time_scale = 1.0;

const struct hn_test *hn_current(void) { return g_current; }
const struct hn_lab *hn_current_lab(void) { return g_lab; }
struct hn_registry *hn_registry(void) { return g_registry; }
const char *hn_tmpdir(void) { return g_tmpdir; }

int hn_ms(int ms)
{
    return (int)lround(ms * g_time_scale);
}

/* ---------------------------------------------------------------- cleanup */

/* Kill and reap every process below us: the orphans of the last test, which
 * have become our children, and all they started, in one sweep (a chain of
 * a thousand processes, each the parent of the next, ends at once, not one
 * link per sweep). Returns how many there were. */
static int reap_orphans(void)
{
    static pid_t procs[4096];
    int n = hn_descendants(getpid(), procs, (int)HN_COUNT(procs));
    int shown = n < (int)HN_COUNT(procs) ? n : (int)HN_COUNT(procs);
    for (int i = 0; i < shown; i++)
        kill(procs[i], SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return n;
}

/* Unchecked teardown: runs in the parent after every test, timed out or not. */
static void teardown_leftovers(void)
{
    int count = __atomic_load_n(&g_registry->count, __ATOMIC_SEQ_CST);
    if (count > HN_REGISTRY_SLOTS)
        count = HN_REGISTRY_SLOTS;
    for (int i = 0; i < count; i++)
        if (g_registry->pgids[i] > 0)
            killpg(g_registry->pgids[i], SIGKILL);
    __atomic_store_n(&g_registry->count, 0, __ATOMIC_SEQ_CST);

    /* A killed process's own children reparent to us a moment later; keep
     * sweeping until a sweep finds nobody, for at most two seconds. */
    for (int round = 0; round < 200; round++) {
        if (reap_orphans() == 0 && round > 0)
            break;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Stopped from outside (a grader's time bound): end every program the
 * running test started, and their sandboxes with them, before going. */
static void on_terminate(int sig)
{
    if (g_registry) {
        int count = __atomic_load_n(&g_registry->count, __ATOMIC_SEQ_CST);
        for (int i = 0; i < count && i < HN_REGISTRY_SLOTS; i++)
            if (g_registry->pgids[i] > 0)
                killpg(g_registry->pgids[i], SIGKILL);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ----------------------------------------------------------------- running */

static void run_row(int i)
{
    g_current = g_tests[i];
    g_current->fn(g_current);
}

/* Checked teardown: in the test child, after a test that did not abort. */
static void teardown_procs(void)
{
    hn_stop_all();
}

static bool selected(const struct hn_test *t, int argc, char **argv, int first)
{
    if (first >= argc)
        return true;
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], t->name) == 0)
            return true;
    return false;
}

static size_t count_rows(const struct hn_lab *lab)
{
    size_t n = 0;
    for (const struct hn_table *const *tab = lab->tables; *tab; tab++)
        n += (*tab)->count;
    return n;
}

static const struct hn_test *find_row(const struct hn_lab *lab, const char *name)
{
    for (const struct hn_table *const *tab = lab->tables; *tab; tab++)
        for (size_t i = 0; i < (*tab)->count; i++)
            if (strcmp((*tab)->tests[i].name, name) == 0)
                return &(*tab)->tests[i];
    return NULL;
}

static void list_tests(const struct hn_lab *lab)
{
    for (const struct hn_table *const *tab = lab->tables; *tab; tab++)
        for (size_t i = 0; i < (*tab)->count; i++) {
            const struct hn_test *t = &(*tab)->tests[i];
            printf("%-32s %3d  %s\n", t->name, t->points, t->title);
        }
}

static void list_hints(const struct hn_lab *lab)
{
    for (const struct hn_table *const *tab = lab->tables; *tab; tab++)
        for (size_t i = 0; i < (*tab)->count; i++)
            printf("%s\t%s\n", (*tab)->tests[i].name, (*tab)->tests[i].hint);
}

static Suite *build_suite(const struct hn_lab *lab, TTest *ttests)
{
    Suite *s = suite_create(lab->id);
    for (size_t i = 0; i < g_ntests; i++) {
        const struct hn_test *t = g_tests[i];
        TCase *tc = tcase_create(t->name);
        tcase_set_timeout(tc, t->timeout_s * g_time_scale);
        tcase_add_checked_fixture(tc, NULL, teardown_procs);
        tcase_add_unchecked_fixture(tc, NULL, teardown_leftovers);
        ttests[i] = (TTest){ t->name, run_row, __FILE__, __LINE__ };
        _tcase_add_test(tc, &ttests[i], 0, 0, (int)i, (int)i + 1);
        suite_add_tcase(s, tc);
    }
    return s;
}

/* Print a failure message indented under its test line. */
static void print_indented(const char *msg)
{
    const char *p = msg;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        printf("        | %.*s\n", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
}

static const struct hn_test *test_of(TestResult *r)
{
    for (size_t i = 0; i < g_ntests; i++)
        if (strcmp(g_tests[i]->name, tr_tcname(r)) == 0)
            return g_tests[i];
    return NULL;
}

/* The failure message of a test, as the student should read it: Check's
 * own words for a test that ran out of time are replaced by ours. */
static const char *failure_message(const struct hn_test *t, TestResult *r, char *buf,
                                   size_t cap)
{
    const char *msg = tr_msg(r);
    if (msg && strstr(msg, "Test timeout expired")) {
        char hint[512];
        hn_format_hint(t, hint, sizeof hint);
        snprintf(buf, cap,
                 "the test did not finish within its time bound of %.0f s: a "
                 "program under test hung, or never answered.\n%s",
                 t->timeout_s * g_time_scale, hint);
        return buf;
    }
    return msg ? msg : "(no message)";
}

static void print_result(const struct hn_test *t, bool pass, const char *msg)
{
    char score[32];
    snprintf(score, sizeof score, "%d/%d", pass ? t->points : 0, t->points);
    printf("  %s  %-30s %7s  %s\n", pass ? "PASS" : "FAIL", t->name, score,
           t->title);
    if (!pass)
        print_indented(msg);
}

/* The test whose failure the student should fix first: the first to fail,
 * in the order the tests ran (the tables' order). NULL when none failed. */
static const struct hn_test *first_failure(TestResult **results, int n)
{
    for (int i = 0; i < n; i++) {
        const struct hn_test *t = test_of(results[i]);
        if (t && tr_rtype(results[i]) != CK_PASS)
            return t;
    }
    return NULL;
}

/* Whether a later failure probably follows from the first: both send the
 * student to the same section of the guide, as every test of one framing
 * or one protocol step does. */
static bool follows_from(const struct hn_test *t, const struct hn_test *first)
{
    return first != NULL && t != first && t->hint != NULL && first->hint != NULL &&
           strcmp(t->hint, first->hint) == 0;
}

static int report(SRunner *sr)
{
    int n = srunner_ntests_run(sr);
    TestResult **results = srunner_results(sr);
    struct hn_outcome *outcomes = calloc((size_t)n + 1, sizeof *outcomes);
    size_t count = 0;
    int passed = 0, failed = 0, points = 0, max_points = 0, following = 0;
    const struct hn_test *first = first_failure(results, n);
    for (int i = 0; i < n; i++) {
        const struct hn_test *t = test_of(results[i]);
        if (!t)
            continue;
        bool pass = tr_rtype(results[i]) == CK_PASS;
        char buf[1024], noted[1400];
        const char *msg = pass ? "" : failure_message(t, results[i], buf, sizeof buf);
        if (!pass && follows_from(t, first)) {
            snprintf(noted, sizeof noted,
                     "%s\n(this may follow from the first failure, %s, which checks the same "
                     "step: fix that one first, then run again)",
                     msg, first->name);
            msg = noted;
            following++;
        }
        print_result(t, pass, msg);
        if (outcomes != NULL)
            outcomes[count++] = (struct hn_outcome){ t, pass, strdup(msg) };
        max_points += t->points;
        if (pass) {
            passed++;
            points += t->points;
        } else {
            failed++;
        }
    }
    free(results);
    if (failed > 1) {
        char hint[512];
        hn_format_hint(first, hint, sizeof hint);
        printf("\n%d tests failed. Start with the first, %s (%s): one bug early on, such "
               "as how the stream is read, often fails many of the tests after it.",
               failed, first->name, hint + strlen("hint: "));
        if (following > 0)
            printf(following == 1 ? " %d later failure sends you to the same section and may "
                                    "follow from it."
                                  : " %d later failures send you to the same section and may "
                                    "all follow from it.",
                   following);
        printf("\n");
    }
    printf("\n");
    fflush(stdout);
    srunner_print(sr, CK_MINIMAL);
    printf("%d passed, %d failed\n", passed, failed);
    printf("%s: %d/%d points\n", g_lab->id, points, max_points);
    fflush(stdout);
    int written = outcomes != NULL ? hn_write_results(g_lab, outcomes, count) : -1;
    for (size_t i = 0; i < count; i++)
        free((char *)outcomes[i].message);
    free(outcomes);
    return failed == 0 && passed > 0 && written == 0 ? 0 : 1;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--list | --hints | --check-sandbox | TEST...]\n", prog);
    return 2;
}

static void read_time_scale(void)
{
    const char *s = getenv("SOCKLAB_TIME_SCALE");
    if (!s)
        return;
    char *end;
    double v = strtod(s, &end);
    if (*end == '\0' && v >= 0.1 && v <= 100)
        g_time_scale = v;
}

/*
 * The lab cannot run on this machine (hn_main_if_available()): say why,
 * list every selected test as skipped, and claim no score. Not a failure
 * of the student's program, so the exit status is 0; tests/run-all and a
 * reader tell a skip by the `N skipped` line.
 */
static int report_unavailable(const struct hn_lab *lab, const char *reason, int argc,
                              char **argv)
{
    size_t total = count_rows(lab), n = 0;
    struct hn_outcome *outcomes = calloc(total + 1, sizeof *outcomes);
    char message[1024];
    snprintf(message, sizeof message, "skipped, not graded: %s; %s cannot be graded on this "
             "machine", reason, lab->id);
    printf("SKIP: %s.\n  %s cannot be graded on this machine: every test is skipped, none "
           "failed.\n  Run it where this works (see labs/%s/README.md).\n\n",
           reason, lab->id, lab->dir);
    for (const struct hn_table *const *tab = lab->tables; *tab; tab++)
        for (size_t i = 0; i < (*tab)->count; i++) {
            const struct hn_test *t = &(*tab)->tests[i];
            if (!selected(t, argc, argv, 1))
                continue;
            char score[32];
            snprintf(score, sizeof score, "-/%d", t->points);
            printf("  SKIP  %-30s %7s  %s\n", t->name, score, t->title);
            if (outcomes != NULL)
                outcomes[n] = (struct hn_outcome){ t, false, message };
            n++;
        }
    printf("\n0 passed, 0 failed, %zu skipped\n", n);
    printf("%s: not graded: %s\n", lab->id, reason);
    fflush(stdout);
    int written = outcomes != NULL ? hn_write_results(lab, outcomes, n) : -1;
    free(outcomes);
    return written == 0 ? 0 : 1;
}

int hn_main(const struct hn_lab *lab, int argc, char **argv)
{
    return hn_main_if_available(lab, NULL, argc, argv);
}

int hn_main_if_available(const struct hn_lab *lab, hn_unavailable_fn unavailable, int argc,
                         char **argv)
{
    g_lab = lab;
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        list_tests(lab);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--hints") == 0) {
        list_hints(lab);
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "--check-sandbox") == 0 ||
                     strcmp(argv[1], "--sandbox-run") == 0))
        return hn_sandbox_tool(argc, argv);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' || !find_row(lab, argv[i])) {
            fprintf(stderr, "%s: no test named '%s' (see --list)\n", argv[0], argv[i]);
            return usage(argv[0]);
        }

    const char *bin = getenv("SOCKLAB_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "%s: set SOCKLAB_BIN to the folder of the programs to test "
                        "(make test-%s does it)\n", argv[0], lab->id);
        return 2;
    }
    const char *shim = getenv("SOCKLAB_SHIM");
    if (shim && *shim && access(shim, R_OK) != 0) {
        fprintf(stderr, "%s: SOCKLAB_SHIM=%s: %s\n", argv[0], shim, strerror(errno));
        return 2;
    }
    /* Before any thread or program: the sandbox moves this process into
     * namespaces of its own. */
    char why[1024];
    if (hn_sandbox_enter(why, sizeof why) < 0) {
        fprintf(stderr, "%s: the grading sandbox is not available: %s\n", argv[0], why);
        return 3;
    }
    const char *reason = unavailable != NULL ? unavailable() : NULL;
    if (reason != NULL) {
        printf("%s: %s\n", lab->id, lab->title);
        printf("testing the programs in %s\n\n", bin);
        return report_unavailable(lab, reason, argc, argv);
    }
    read_time_scale();
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    g_registry = mmap(NULL, sizeof *g_registry, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_registry == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    signal(SIGTERM, on_terminate);
    signal(SIGINT, on_terminate);
    signal(SIGHUP, on_terminate);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/socklab-%s-XXXXXX",
             tmp && *tmp ? tmp : "/tmp", lab->id);
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    /* In "user" mode the programs write the shim's logs here, as their own
     * user: they may pass through, not list. */
    if (hn_sandbox_mode() == HN_SANDBOX_USER)
        chmod(g_tmpdir, 0711);

    size_t total = count_rows(lab);
    g_tests = calloc(total, sizeof *g_tests);
    TTest *ttests = calloc(total, sizeof *ttests);
    for (const struct hn_table *const *tab = lab->tables; *tab; tab++)
        for (size_t i = 0; i < (*tab)->count; i++)
            if (selected(&(*tab)->tests[i], argc, argv, 1))
                g_tests[g_ntests++] = &(*tab)->tests[i];

    printf("%s: %s\n", lab->id, lab->title);
    printf("testing the programs in %s (%zu tests)\n", bin, g_ntests);
    if (hn_sandbox_mode() != HN_SANDBOX_OFF)
        printf("sandbox: %s\n", hn_sandbox_describe());
    printf("\n");
    fflush(stdout);

    check_set_max_msg_size(16384);
    SRunner *sr = srunner_create(build_suite(lab, ttests));
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_SILENT);
    int status = report(sr);
    srunner_free(sr);

    nftw(g_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    munmap(g_registry, sizeof *g_registry);
    free(ttests);
    free(g_tests);
    return status;
}
