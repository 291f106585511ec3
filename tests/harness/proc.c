/*
 * proc.c: start a program under test, drain its output, stop it.
 *
 * A program under test may hang, crash, flood its output or fork. So:
 *
 *   - it runs in its own process group, recorded in the runner's registry,
 *     with PR_SET_PDEATHSIG so that it dies if the test process dies first;
 *   - it inherits only descriptors 0, 1 and 2 (close_range(2)), default
 *     signal dispositions, an empty signal mask, no core dumps and a cap on
 *     the size of files it writes;
 *   - a thread per program drains its standard output and error into bounded
 *     logs, so a chatty program never blocks on a full pipe and never fills
 *     the test's memory;
 *   - every wait has a deadline, and stopping is SIGTERM to the group, a
 *     grace period, then SIGKILL;
 *   - in the grading sandbox (sandbox.c), a program of the submission runs
 *     under bubblewrap: the process we fork is bubblewrap's monitor, its
 *     child is the init of the sandbox's PID namespace, and that init's
 *     child is the program. We find both by their parents, look at the
 *     program through /proc by its real PID, signal the init's process
 *     group (the program's, since bubblewrap makes a new session there),
 *     and end the whole namespace by killing its init.
 *
 * Man pages: fork(2), execve(2), setpgid(2), prctl(2), pidfd_open(2),
 * poll(2), waitpid(2), killpg(3).
 */
#include "harness.h"
#include "harness_internal.h"

#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_PROCS 64
#define STDERR_TAIL_LINES 12
#define FSIZE_LIMIT_BYTES (1024L * 1024 * 1024)
#define CPU_LIMIT_SECONDS 300
/* A program under test may use this much data memory (RLIMIT_DATA: heap and
 * private mappings) before its allocations fail: far more than any lab
 * needs, far less than the machine, so one that eats all memory dies alone.
 * Not under AddressSanitizer, whose shadow memory counts as data. */
#define DATA_LIMIT_BYTES (4096L * 1024 * 1024)
/* More processes than this in one program's process group is a fork bomb:
 * the drainer kills the group. Lab 04's server has one child per client. */
#define MAX_GROUP_PROCS 400
/* How often the drainer counts the group's processes. */
#define GUARD_INTERVAL_MS 100

extern char **environ;

struct hn_proc {
    pid_t pid;
    char name[32];
    char addr[64]; /* the -a address the server was started with */
    int port;
    int in_fd;     /* our end of its standard input, or -1 */
    int out_fd;    /* our end of its standard output, or -1 */
    int err_fd;    /* our end of its standard error, or -1 */
    int wake[2];   /* tells the drainer to stop */
    pthread_t drainer;
    bool draining;
    bool reaped;
    int status;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *out_head; /* the first HN_LOG_HEAD_BYTES of standard output */
    size_t out_len;
    size_t out_total;
    bool out_eof;
    char err_tail[HN_LOG_TAIL_BYTES]; /* ring of the last bytes of stderr */
    size_t err_total;
    bool err_eof;
    char why[1024];
    char contained[256]; /* what the fork-bomb guard did, or "" */

    bool boxed;     /* started under bubblewrap */
    pid_t box_init; /* the sandbox's init, whose group is the program's; or 0 */
    pid_t inner;    /* the program itself; or 0 */
};

/* The process group a program's signals go to, and the one the fork-bomb
 * guard counts. */
static pid_t group_of(const struct hn_proc *p)
{
    return p->boxed && p->box_init > 0 ? p->box_init : p->pid;
}

static struct hn_proc *g_procs[MAX_PROCS];
static int g_nprocs;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---------------------------------------------------------------- draining */

static void append_out(struct hn_proc *p, const char *buf, size_t n)
{
    size_t room = HN_LOG_HEAD_BYTES - p->out_len;
    size_t keep = n < room ? n : room;
    memcpy(p->out_head + p->out_len, buf, keep);
    p->out_len += keep;
    p->out_head[p->out_len] = '\0';
    p->out_total += n;
}

static void append_err(struct hn_proc *p, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p->err_tail[(p->err_total + i) % HN_LOG_TAIL_BYTES] = buf[i];
    p->err_total += n;
}

/* Read what is there on one pipe; false at end of file or on error. */
static bool drain_one(struct hn_proc *p, int fd, bool is_out)
{
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    pthread_mutex_lock(&p->mu);
    if (n > 0) {
        if (is_out)
            append_out(p, buf, (size_t)n);
        else
            append_err(p, buf, (size_t)n);
    } else if (is_out) {
        p->out_eof = true;
    } else {
        p->err_eof = true;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return n > 0;
}

/* How many processes are in process group pgid (field 5 of /proc/PID/stat). */
static int group_size(pid_t pgid)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        char *q = strrchr(buf, ')');
        int pgrp;
        if (q != NULL && sscanf(q + 2, "%*c %*d %d", &pgrp) == 1 && pgrp == pgid)
            n++;
    }
    closedir(d);
    return n;
}

/* The fork-bomb guard: a program whose process group grows past
 * MAX_GROUP_PROCS is killed, group and all, and the test's failure message
 * will say so. Root ignores RLIMIT_NPROC, so counting is the only bound. */
static void guard_group(struct hn_proc *p)
{
    if (p->contained[0] != '\0')
        return;
    int n = group_size(group_of(p));
    if (n <= MAX_GROUP_PROCS)
        return;
    kill(-group_of(p), SIGKILL);
    if (p->boxed && p->box_init > 0)
        kill(p->box_init, SIGKILL);
    pthread_mutex_lock(&p->mu);
    snprintf(p->contained, sizeof p->contained,
             "harness: %s (pid %d) had %d processes in its process group, more than the %d "
             "any lab needs (a fork that never stops?): the harness killed them all",
             p->name, (int)p->pid, n, MAX_GROUP_PROCS);
    pthread_mutex_unlock(&p->mu);
}

static void *drain(void *arg)
{
    struct hn_proc *p = arg;
    bool out_open = p->out_fd >= 0, err_open = p->err_fd >= 0;
    long next_guard = now_ms() + GUARD_INTERVAL_MS;
    while (out_open || err_open) {
        struct pollfd pfd[3] = {
            { out_open ? p->out_fd : -1, POLLIN, 0 },
            { err_open ? p->err_fd : -1, POLLIN, 0 },
            { p->wake[0], POLLIN, 0 },
        };
        if (now_ms() >= next_guard) {
            guard_group(p);
            next_guard = now_ms() + GUARD_INTERVAL_MS;
        }
        if (poll(pfd, 3, GUARD_INTERVAL_MS) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[2].revents)
            break;
        if (pfd[0].revents)
            out_open = drain_one(p, p->out_fd, true);
        if (pfd[1].revents)
            err_open = drain_one(p, p->err_fd, false);
    }
    pthread_mutex_lock(&p->mu);
    p->out_eof = p->err_eof = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---------------------------------------------------------------- spawning */

/* The environment of a program under test: ours, plus the fault shim; in
 * the sandbox, only what hn_sandbox_env_allowed() keeps. */
static char **child_env(bool no_shim, bool sandboxed)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 4, sizeof *env);
    size_t k = 0;
    const char *shim = getenv("SOCKLAB_SHIM");
    bool with_shim = !no_shim && shim && *shim;
    static char preload[1024], asan[1024];
    for (size_t i = 0; i < n; i++) {
        if (with_shim && (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 ||
                          strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0))
            continue;
        if (sandboxed && !hn_sandbox_env_allowed(environ[i]))
            continue;
        env[k++] = environ[i];
    }
    if (with_shim) {
        const char *old = getenv("ASAN_OPTIONS");
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s", shim);
        snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 old ? old : "", old && *old ? ":" : "");
        env[k++] = preload;
        env[k++] = asan;
    }
    env[k] = NULL;
    return env;
}

/* In the child, between fork() and execve(): async-signal-safe calls only. */
static void child_setup(pid_t parent, int in, int out, int err, const char *in_path,
                        const char *out_path, bool as_other_user, int ruleset)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    if (in_path)
        in = open(in_path, O_RDONLY);
    if (out_path)
        out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0)
        _exit(127);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(127);
    if (ruleset >= 0 && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                         hn_sandbox_restrict(ruleset) < 0))
        _exit(127);
    syscall(SYS_close_range, 3U, ~0U, 0U);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    struct rlimit core = { 0, 0 };
    struct rlimit fsize = { FSIZE_LIMIT_BYTES, FSIZE_LIMIT_BYTES };
    struct rlimit cpu = { CPU_LIMIT_SECONDS, CPU_LIMIT_SECONDS };
    setrlimit(RLIMIT_CORE, &core);
    setrlimit(RLIMIT_FSIZE, &fsize);
    setrlimit(RLIMIT_CPU, &cpu);
#ifndef __SANITIZE_ADDRESS__
    struct rlimit data = { DATA_LIMIT_BYTES, DATA_LIMIT_BYTES };
    setrlimit(RLIMIT_DATA, &data);
#endif
    if (as_other_user && hn_sandbox_drop_privileges() < 0)
        _exit(127);
}

static void register_group(pid_t pgid)
{
    struct hn_registry *r = hn_registry();
    if (!r)
        return;
    int slot = __atomic_fetch_add(&r->count, 1, __ATOMIC_SEQ_CST);
    if (slot < HN_REGISTRY_SLOTS)
        r->pgids[slot] = pgid;
}

static void make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        hn_fail("harness: pipe2: %s", strerror(errno));
}

/* ------------------------------------------------------------ the sandbox */

/* The files a sandboxed program writes for the test (the shim's logs): made
 * now, so that they can be bound into its sandbox, and in "user" mode given
 * to its user. Returns how many paths went into out. */
static size_t sandbox_logs(const char **out, size_t cap)
{
    static const char *const LOGS[] = { "SOCKLAB_FAULT_LOG", "SOCKLAB_CALL_LOG", NULL };
    size_t n = 0;
    for (const char *const *name = LOGS; *name && n < cap; name++) {
        const char *path = getenv(*name);
        if (!path || path[0] != '/')
            continue;
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            hn_fail("harness: %s=%s: %s", *name, path, strerror(errno));
        if (hn_sandbox_mode() == HN_SANDBOX_USER &&
            fchown(fd, hn_sandbox_uid(), hn_sandbox_uid()) < 0)
            hn_fail("harness: chown %s: %s", path, strerror(errno));
        close(fd);
        out[n++] = path;
    }
    return n;
}

/* What a program of the submission at path sees: its own folder and the
 * fault shim read-only, and the shim's logs. Returns its real path. */
static const char *program_view(const char *path, struct hn_sandbox_view *view)
{
    static char real[4096], dir[4096], shim[4096];
    if (!realpath(path, real))
        hn_fail("harness: realpath %s: %s", path, strerror(errno));
    snprintf(dir, sizeof dir, "%s", real);
    *strrchr(dir, '/') = '\0';
    memset(view, 0, sizeof *view);
    size_t ro = 0;
    view->read_only[ro++] = dir[0] ? dir : "/";
    const char *set = getenv("SOCKLAB_SHIM");
    if (set && *set && realpath(set, shim))
        view->read_only[ro++] = shim;
    sandbox_logs(view->writable, HN_SANDBOX_MAX_PATHS);
    return real;
}

/* The bubblewrap command line that runs path (a program of the submission)
 * with argv's arguments, in its program_view(). */
static void boxed_argv(const char *path, const char *const *argv, const char **out, size_t cap,
                       char *store, size_t store_cap)
{
    struct hn_sandbox_view view;
    const char *cmd[64];
    size_t n = 0;
    cmd[n++] = program_view(path, &view);
    for (size_t i = 1; argv[i] && n < HN_COUNT(cmd) - 1; i++)
        cmd[n++] = argv[i];
    cmd[n] = NULL;
    hn_sandbox_argv(cmd, &view, out, cap, store, store_cap);
}

/* The children of pid, from /proc/PID/task/PID/children: the first one. */
static pid_t first_child(pid_t pid)
{
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (pid_t)atoi(buf);
}

/* Find the sandbox's init and the program under bubblewrap's monitor: they
 * appear within milliseconds; a program that ends before we see it leaves
 * nothing to look at, and the monitor stands in for it. */
static void find_boxed(struct hn_proc *p)
{
    long deadline = now_ms() + 3000;
    while (now_ms() < deadline) {
        if (p->box_init <= 0)
            p->box_init = first_child(p->pid);
        if (p->box_init > 0)
            p->inner = first_child(p->box_init);
        if (p->inner > 0) {
            /* The init's child may still be bubblewrap, about to exec the
             * program: wait until it is the program (or gone). */
            char exe[64], target[4096];
            snprintf(exe, sizeof exe, "/proc/%d/exe", (int)p->inner);
            ssize_t len = readlink(exe, target, sizeof target - 1);
            if (len <= 0 || !strstr(target, "bwrap"))
                return;
        }
        if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
            p->reaped = true;
            return;
        }
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

struct hn_proc *hn_spawn(const char *prog, const char *const *args,
                         const struct hn_spawn_opts *opts)
{
    static const struct hn_spawn_opts defaults;
    if (!opts)
        opts = &defaults;
    if (g_nprocs == MAX_PROCS)
        hn_fail("harness: more than %d programs started in one test", MAX_PROCS);

    char path[4096];
    if (strchr(prog, '/') != NULL)
        snprintf(path, sizeof path, "%s", prog);
    else
        snprintf(path, sizeof path, "%s/%s", getenv("SOCKLAB_BIN"), prog);
    if (access(path, X_OK) != 0)
        hn_fail("%s was not found or is not executable (%s).\n"
                "Did it build? Run `make` for this lab and read the compiler's errors.",
                path, strerror(errno));

    const char *argv[64];
    int argc = 0;
    argv[argc++] = path;
    for (int i = 0; args && args[i] && argc < 63; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    enum hn_sandbox_mode mode = strchr(prog, '/') == NULL ? hn_sandbox_mode() : HN_SANDBOX_OFF;
    char **env = child_env(opts->no_shim, mode != HN_SANDBOX_OFF);
    const char *box[200];
    static char box_store[16384];
    if (mode == HN_SANDBOX_NS)
        boxed_argv(path, argv, box, HN_COUNT(box), box_store, sizeof box_store);
    int ruleset = -1;
    if (mode == HN_SANDBOX_USER) {
        struct hn_sandbox_view view;
        program_view(path, &view);
        ruleset = hn_sandbox_landlock(&view);
    }

    struct hn_proc *p = calloc(1, sizeof *p);
    p->out_head = malloc(HN_LOG_HEAD_BYTES + 1);
    p->out_head[0] = '\0';
    snprintf(p->name, sizeof p->name, "%s", prog);
    snprintf(p->addr, sizeof p->addr, "127.0.0.1");
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-a") == 0)
            snprintf(p->addr, sizeof p->addr, "%s", argv[i + 1]);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->in_fd = p->out_fd = p->err_fd = -1;

    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2];
    if (!opts->stdin_path)
        make_pipe(in);
    if (!opts->stdout_path)
        make_pipe(out);
    make_pipe(err);
    make_pipe(p->wake);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        hn_fail("harness: fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup(parent, in[0], out[1], err[1], opts->stdin_path, opts->stdout_path,
                    mode == HN_SANDBOX_USER, ruleset);
        if (mode == HN_SANDBOX_NS)
            execve(box[0], (char *const *)box, env);
        else
            execve(path, (char *const *)argv, env);
        static const char msg[] = "harness: execve failed\n";
        if (write(2, msg, sizeof msg - 1) < 0)
            _exit(127);
        _exit(127);
    }
    if (ruleset >= 0)
        close(ruleset);
    setpgid(pid, pid); /* also here, so that it holds before we signal it */
    register_group(pid);
    free(env);
    p->pid = pid;
    p->boxed = mode == HN_SANDBOX_NS;
    if (p->boxed)
        find_boxed(p);
    if (in[0] >= 0) {
        close(in[0]);
        p->in_fd = in[1];
    }
    if (out[1] >= 0) {
        close(out[1]);
        p->out_fd = out[0];
    }
    close(err[1]);
    p->err_fd = err[0];
    if (pthread_create(&p->drainer, NULL, drain, p) == 0)
        p->draining = true;
    g_procs[g_nprocs++] = p;
    return p;
}

/* ------------------------------------------------------------------ waiting */

/* Reap the process if it has exited; true when it is gone. */
static bool try_reap(struct hn_proc *p)
{
    if (p->reaped)
        return true;
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
        p->reaped = true;
        p->status = status;
        /* bubblewrap exits 128 + N when the program was killed by signal N:
         * report it as the signal, as the test would see it unboxed. */
        if (p->boxed && WIFEXITED(status) && WEXITSTATUS(status) > 128 &&
            WEXITSTATUS(status) < 128 + NSIG)
            p->status = (WEXITSTATUS(status) - 128) & 0x7f;
    }
    return p->reaped;
}

/* Wait until the drainer has seen the end of both pipes, at most ms. */
static void wait_drained(struct hn_proc *p, int ms)
{
    long deadline = now_ms() + ms;
    pthread_mutex_lock(&p->mu);
    while (!(p->out_eof && p->err_eof) && now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
}

int hn_wait_exit(struct hn_proc *p, int timeout_ms, int *status)
{
    long deadline = now_ms() + timeout_ms;
    int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    while (!try_reap(p)) {
        long left = deadline - now_ms();
        if (left <= 0)
            break;
        if (pidfd >= 0) {
            struct pollfd pfd = { pidfd, POLLIN, 0 };
            poll(&pfd, 1, (int)(left < 50 ? left : 50));
        } else {
            struct timespec ts = { 0, 5 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    if (!p->reaped)
        return -1;
    /* What it wrote just before it exited may still be in the pipes: give
     * the drainer a moment to reach their end, so that a message about this
     * exit can quote it. Something it forked may hold them open: bounded. */
    wait_drained(p, 500);
    if (status)
        *status = p->status;
    return 0;
}

char *hn_describe_status(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status))
        snprintf(out, outlen, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, outlen, "wait status 0x%x", (unsigned)status);
    return out;
}

/* Parse "listening on ADDR:PORT" for the address the server was given. */
static int parse_ready(struct hn_proc *p, const char *line, size_t len)
{
    char expect[96];
    bool v6 = strchr(p->addr, ':') != NULL;
    snprintf(expect, sizeof expect, v6 ? "listening on [%s]:" : "listening on %s:",
             p->addr);
    size_t elen = strlen(expect);
    char shown[200];
    if (len < elen || memcmp(line, expect, elen) != 0) {
        snprintf(p->why, sizeof p->why,
                 "its first line of output should be the ready line \"%sPORT\",\n"
                 "  but it was %s", expect, hn_show(line, len, shown, sizeof shown));
        return -1;
    }
    long port = 0;
    size_t i = elen;
    for (; i < len && line[i] >= '0' && line[i] <= '9' && port <= 65535; i++)
        port = port * 10 + (line[i] - '0');
    if (i != len || i == elen || port <= 0 || port > 65535) {
        snprintf(p->why, sizeof p->why,
                 "its ready line should end with the port it actually bound (not 0),\n"
                 "  but it was %s", hn_show(line, len, shown, sizeof shown));
        return -1;
    }
    return (int)port;
}

int hn_wait_ready(struct hn_proc *p, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    p->why[0] = '\0';
    pthread_mutex_lock(&p->mu);
    for (;;) {
        char *nl = memchr(p->out_head, '\n', p->out_len);
        if (nl) {
            size_t len = (size_t)(nl - p->out_head);
            int port = parse_ready(p, p->out_head, len);
            pthread_mutex_unlock(&p->mu);
            if (port > 0)
                p->port = port;
            return port;
        }
        /* Once it has exited, wait for the drainer to reach the end of its
         * output too: the ready line may still be in the pipe. */
        if (p->out_eof) {
            pthread_mutex_unlock(&p->mu);
            int status;
            if (hn_wait_exit(p, 200, &status) == 0) {
                char how[96];
                snprintf(p->why, sizeof p->why,
                         "it ended (%s) before printing its ready line \"listening on ...\"",
                         hn_describe_status(status, how, sizeof how));
            } else {
                snprintf(p->why, sizeof p->why,
                         "it closed its standard output without printing its ready line");
            }
            return -1;
        }
        long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long step = left < 50 ? left : 50;
        ts.tv_nsec += step * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    char shown[200], how[96] = "it is still running";
    if (try_reap(p))
        snprintf(how, sizeof how, "it ended with %s, but something it started holds its output",
                 hn_describe_status(p->status, shown, sizeof shown));
    snprintf(p->why, sizeof p->why,
             "it printed no ready line \"listening on ADDR:PORT\" within %d ms (%s)\n"
             "  (its standard output so far: %s; did it flush? sl_print_ready() does)",
             timeout_ms, how, hn_show(p->out_head, p->out_len, shown, sizeof shown));
    pthread_mutex_unlock(&p->mu);
    return -1;
}

struct hn_proc *hn_start_server(const char *addr, const char *const *extra)
{
    const char *args[48];
    int n = 0;
    if (!addr)
        addr = "127.0.0.1";
    args[n++] = "-a";
    args[n++] = addr;
    args[n++] = "-p";
    args[n++] = "0";
    for (int i = 0; extra && extra[i] && n < 47; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    struct hn_proc *p = hn_spawn("server", args, NULL);
    if (hn_wait_ready(p, hn_ms(5000)) < 0) {
        char line[512];
        hn_fail("The server did not start: started as `%s`, %s.",
                hn_command_line("server", args, line, sizeof line), p->why);
    }
    return p;
}

const char *hn_command_line(const char *prog, const char *const *args, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", prog);
    for (int i = 0; args != NULL && args[i] != NULL; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, " %s", args[i]);
    }
    return buf;
}

int hn_run_to_exit(const char *prog, const char *const *args, int timeout_ms,
                   struct hn_proc **out)
{
    struct hn_proc *p = hn_spawn(prog, args, NULL);
    int status;
    if (hn_wait_exit(p, hn_ms(timeout_ms), &status) < 0) {
        char line[512];
        hn_fail("`%s` should have exited at once, but it was still running after %d ms.",
                hn_command_line(prog, args, line, sizeof line), hn_ms(timeout_ms));
    }
    *out = p;
    return status;
}

/* ----------------------------------------------------------------- stopping */

int hn_signal(struct hn_proc *p, int sig)
{
    /* Also after the leader is reaped: what it forked may live on in its group. */
    return killpg(group_of(p), sig);
}

static void stop_draining(struct hn_proc *p)
{
    if (!p->draining)
        return;
    if (write(p->wake[1], "x", 1) < 0)
        perror("harness: wake drainer");
    pthread_join(p->drainer, NULL);
    p->draining = false;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int hn_stop(struct hn_proc *p, int grace_ms)
{
    if (!p->reaped) {
        killpg(group_of(p), SIGTERM);
        if (hn_wait_exit(p, grace_ms, NULL) < 0) {
            killpg(group_of(p), SIGKILL);
            if (p->boxed && p->box_init > 0)
                kill(p->box_init, SIGKILL);
            hn_wait_exit(p, hn_ms(5000), NULL);
        }
    }
    /* What it forked into its group ends with it; in the sandbox, all it
     * forked ends with its PID namespace's init, and bubblewrap's monitor
     * with the program. */
    killpg(group_of(p), SIGKILL);
    if (p->boxed) {
        killpg(p->pid, SIGKILL);
        if (p->box_init > 0 && !p->reaped)
            kill(p->box_init, SIGKILL);
    }
    /* Let the drainer collect the last output it wrote. */
    wait_drained(p, 200);
    stop_draining(p);
    close_fd(&p->in_fd);
    close_fd(&p->out_fd);
    close_fd(&p->err_fd);
    return p->status;
}

void hn_stop_all(void)
{
    for (int i = 0; i < g_nprocs; i++) {
        struct hn_proc *p = g_procs[i];
        hn_stop(p, hn_ms(2000));
        close_fd(&p->wake[0]);
        close_fd(&p->wake[1]);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p->out_head);
        free(p);
    }
    g_nprocs = 0;
}

/* --------------------------------------------------------------- accessors */

int hn_port(const struct hn_proc *p) { return p->port; }
pid_t hn_pid(const struct hn_proc *p) { return p->boxed && p->inner > 0 ? p->inner : p->pid; }

pid_t hn_own_pid(const struct hn_proc *p)
{
    pid_t pid = hn_pid(p);
    if (!p->boxed)
        return pid;
    /* The last number of NSpid: the PID in its own namespace. */
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pid;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    char *line = strstr(buf, "\nNSpid:");
    if (!line)
        return pid;
    line += 8;
    char *end = strchr(line, '\n');
    if (end)
        *end = '\0';
    char *last = strrchr(line, '\t');
    if (!last)
        last = strrchr(line, ' ');
    return last ? (pid_t)atoi(last + 1) : pid;
}
int hn_proc_stdin(struct hn_proc *p) { return p->in_fd; }
void hn_proc_close_stdin(struct hn_proc *p) { close_fd(&p->in_fd); }
const char *hn_proc_why(struct hn_proc *p) { return p->why; }
const char *hn_proc_addr(const struct hn_proc *p) { return p->addr; }

char *hn_stdout_copy(struct hn_proc *p, size_t *len)
{
    pthread_mutex_lock(&p->mu);
    char *copy = malloc(p->out_len + 1);
    memcpy(copy, p->out_head, p->out_len + 1);
    if (len)
        *len = p->out_len;
    pthread_mutex_unlock(&p->mu);
    return copy;
}

size_t hn_stdout_total(struct hn_proc *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->out_total;
    pthread_mutex_unlock(&p->mu);
    return n;
}

bool hn_wait_stdout(struct hn_proc *p, const char *needle, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    pthread_mutex_lock(&p->mu);
    bool found;
    while (!(found = strstr(p->out_head, needle) != NULL) && !p->out_eof &&
           now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return found;
}

char *hn_stderr_tail(struct hn_proc *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->err_total < HN_LOG_TAIL_BYTES ? p->err_total : HN_LOG_TAIL_BYTES;
    size_t start = p->err_total - n;
    char *raw = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        raw[i] = p->err_tail[(start + i) % HN_LOG_TAIL_BYTES];
    raw[n] = '\0';
    pthread_mutex_unlock(&p->mu);

    /* Keep the last lines only. */
    size_t from = n, lines = 0;
    while (from > 0) {
        if (raw[from - 1] == '\n' && from != n && ++lines == STDERR_TAIL_LINES)
            break;
        from--;
    }
    memmove(raw, raw + from, n - from + 1);
    return raw;
}

/* Append each program's stderr tail, escaped line by line, to a message. */
void hn_append_program_logs(char *msg, size_t cap)
{
    for (int i = 0; i < g_nprocs; i++) {
        struct hn_proc *p = g_procs[i];
        pthread_mutex_lock(&p->mu);
        if (p->contained[0] != '\0') {
            size_t len = strlen(msg);
            snprintf(msg + len, cap - len, "\n%s", p->contained);
        }
        pthread_mutex_unlock(&p->mu);
        char *tail = hn_stderr_tail(p);
        size_t len = strlen(msg);
        if (!*tail) {
            snprintf(msg + len, cap - len, "\n%s (pid %d) wrote nothing to standard error.",
                     p->name, (int)hn_pid(p));
            free(tail);
            continue;
        }
        snprintf(msg + len, cap - len, "\n%s (pid %d), last lines of standard error:",
                 p->name, (int)hn_pid(p));
        char *line = tail;
        while (*line) {
            char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) : strlen(line);
            char shown[300];
            hn_show(line, ll < 200 ? ll : 200, shown, sizeof shown);
            /* Drop the quotes and length hn_show adds: show the text itself. */
            char *end = strrchr(shown, '"');
            if (end)
                *end = '\0';
            len = strlen(msg);
            snprintf(msg + len, cap - len, "\n    %s", shown + 1);
            line += ll + (nl ? 1 : 0);
        }
        free(tail);
    }
}
