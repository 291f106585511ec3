/*
 * sandbox.c: run submitted code where it can see and touch nothing but
 * itself.
 *
 * When the grader asks for it (SOCKLAB_SANDBOX, set by tools/grade), the
 * autograder treats every program of the submission as hostile:
 *
 *   - the autograder itself moves into a network namespace of its own, whose
 *     loopback is the only network there is: nothing of the machine listens
 *     on it, and the programs it tests share it with the autograder alone;
 *   - mode "ns": each program runs under bubblewrap, in its own user, PID,
 *     mount, IPC and UTS namespaces, with a filesystem that holds only the
 *     system's libraries read-only, its own folder read-only, and a private
 *     /tmp; no capabilities, no further user namespaces, a new session, and
 *     it dies with the autograder;
 *   - mode "user", for machines without user namespaces (some containers),
 *     where the grader must be root: each program runs as an unprivileged
 *     user of its own (SOCKLAB_SANDBOX_UID, default 65534) with no new
 *     privileges. It can still read what that user may read on the machine,
 *     and where the grader cannot make a network namespace, reach the
 *     machine's loopback: tools/grade says so in the results.
 *
 * Either way the program's environment is cleaned to what it needs (PATH,
 * the locale, and the autograder's own variables), and the autograder keeps
 * looking at it through /proc, from outside, by its real PID.
 *
 * Man pages: namespaces(7), user_namespaces(7), network_namespaces(7),
 * unshare(2), bwrap(1), setresuid(2), prctl(2).
 */
#include "harness.h"
#include "harness_internal.h"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* bubblewrap: Debian's, or SOCKLAB_BWRAP's (to try another version). */
static const char *bwrap_path(void)
{
    const char *set = getenv("SOCKLAB_BWRAP");
    return set && *set ? set : "/usr/bin/bwrap";
}
#define BWRAP bwrap_path()
/* The user the programs run as inside bubblewrap's user namespace. */
#define BOX_UID "1000"
/* The size of the private /tmp of a sandboxed program. */
#define BOX_TMP_BYTES "268435456"
#define DEFAULT_USER_UID 65534

static enum hn_sandbox_mode g_mode = HN_SANDBOX_OFF;
/* Whether bubblewrap may make its own user namespace; without it, it runs
 * privileged and drops every capability instead. */
static bool g_nested_userns = true;
/* Options of bubblewrap 0.8 (Debian 12) that older ones (0.6, Ubuntu
 * 22.04) lack: without them a program may make user namespaces of its own
 * (with no more rights on the machine), and its /tmp is bounded only by
 * memory. */
static bool g_has_disable_userns = true;
static bool g_has_size = true;
static char g_describe[1024] = "off: submitted programs run as the grader";
/* Set once this process has entered a user namespace of its own: it is no
 * longer the machine's root, whatever getuid() says. */
static bool g_in_userns;
static uid_t g_user_uid = DEFAULT_USER_UID;

static int landlock_abi(void);

enum hn_sandbox_mode hn_sandbox_mode(void) { return g_mode; }
const char *hn_sandbox_describe(void) { return g_describe; }

/* ------------------------------------------------------ the network namespace */

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A fresh network namespace has a loopback that is down: bring it up. */
static int loopback_up(char *why, size_t cap)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(why, cap, "socket: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    if (rc < 0)
        snprintf(why, cap, "bringing lo up: %s", strerror(errno));
    close(s);
    return rc;
}

/* Enter a user and network namespace of our own, mapping us to root in it;
 * a real root that cannot make a user namespace makes the network one
 * alone. */
static int private_network(char *why, size_t cap)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
        char map[64];
        snprintf(map, sizeof map, "0 %d 1\n", (int)uid);
        if (write_file("/proc/self/setgroups", "deny") < 0 ||
            write_file("/proc/self/uid_map", map) < 0) {
            snprintf(why, cap, "writing the user namespace's uid map: %s", strerror(errno));
            return -1;
        }
        snprintf(map, sizeof map, "0 %d 1\n", (int)gid);
        if (write_file("/proc/self/gid_map", map) < 0) {
            snprintf(why, cap, "writing the user namespace's gid map: %s", strerror(errno));
            return -1;
        }
        g_in_userns = true;
        return loopback_up(why, cap);
    }
    int userns_errno = errno;
    if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0)
        return loopback_up(why, cap);
    snprintf(why, cap, "cannot make a user and network namespace (unshare: %s)",
             strerror(userns_errno));
    return -1;
}

/* ------------------------------------------------------------ bubblewrap */

/* What a program's filesystem holds besides its own folder: the system's
 * programs and libraries, and the few files of /etc that libc reads. */
static const char *const ETC_FILES[] = {
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/hosts",
    "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services",
    "/etc/protocols", "/etc/localtime", "/etc/alternatives", NULL,
};
static const char *const TOP_DIRS[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                                        NULL };

struct argv_builder {
    const char **argv;
    size_t n, cap;
    char *store; /* room for the strings the builder makes */
    size_t used, store_cap;
};

static void push(struct argv_builder *b, const char *arg)
{
    if (b->n + 1 < b->cap)
        b->argv[b->n++] = arg;
    b->argv[b->n] = NULL;
}

static const char *keep(struct argv_builder *b, const char *s)
{
    size_t len = strlen(s) + 1;
    if (b->used + len > b->store_cap)
        return "";
    char *copy = b->store + b->used;
    memcpy(copy, s, len);
    b->used += len;
    return copy;
}

static void push3(struct argv_builder *b, const char *opt, const char *a, const char *c)
{
    push(b, opt);
    push(b, a);
    if (c)
        push(b, c);
}

static void push_system_tree(struct argv_builder *b)
{
    push3(b, "--ro-bind", "/usr", "/usr");
    for (const char *const *d = TOP_DIRS; *d; d++) {
        char target[256];
        ssize_t n = readlink(*d, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            push3(b, "--symlink", keep(b, target), *d);
        } else {
            push3(b, "--ro-bind-try", *d, *d);
        }
    }
    for (const char *const *f = ETC_FILES; *f; f++)
        push3(b, "--ro-bind-try", *f, *f);
}

size_t hn_sandbox_argv(const char *const *cmd, const struct hn_sandbox_view *view,
                       const char **argv, size_t cap, char *store, size_t store_cap)
{
    struct argv_builder b = { argv, 0, cap, store, 0, store_cap };
    push(&b, BWRAP);
    if (g_nested_userns) {
        push(&b, "--unshare-user");
        push3(&b, "--uid", BOX_UID, NULL);
        push3(&b, "--gid", BOX_UID, NULL);
        if (g_has_disable_userns)
            push(&b, "--disable-userns");
    } else
        push3(&b, "--cap-drop", "ALL", NULL);
    push(&b, "--unshare-pid");
    push(&b, "--unshare-ipc");
    push(&b, "--unshare-uts");
    push(&b, "--unshare-cgroup-try");
    if (view && view->no_network)
        push(&b, "--unshare-net");
    push(&b, "--new-session");
    push(&b, "--die-with-parent");
    push_system_tree(&b);
    push3(&b, "--proc", "/proc", NULL);
    push3(&b, "--dev", "/dev", NULL);
    if (g_has_size)
        push3(&b, "--size", BOX_TMP_BYTES, NULL);
    push3(&b, "--tmpfs", "/tmp", NULL);
    for (size_t i = 0; view && i < HN_SANDBOX_MAX_PATHS && view->read_only[i]; i++)
        push3(&b, "--ro-bind", view->read_only[i], view->read_only[i]);
    for (size_t i = 0; view && i < HN_SANDBOX_MAX_PATHS && view->writable[i]; i++)
        push3(&b, "--bind", view->writable[i], view->writable[i]);
    push3(&b, "--chdir", view && view->cwd ? view->cwd : "/tmp", NULL);
    push(&b, "--");
    for (size_t i = 0; cmd[i]; i++)
        push(&b, cmd[i]);
    return b.n;
}

/* Run `bwrap ... /bin/true` as a program would be run: 0 when it works. */
static int try_bwrap(char *why, size_t cap)
{
    const char *cmd[] = { "/bin/true", NULL };
    const char *argv[160];
    char store[2048];
    hn_sandbox_argv(cmd, NULL, argv, HN_COUNT(argv), store, sizeof store);
    int err[2];
    if (pipe2(err, O_CLOEXEC) < 0) {
        snprintf(why, cap, "pipe2: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(err[1], 2);
        execv(BWRAP, (char *const *)argv);
        _exit(127);
    }
    close(err[1]);
    /* bubblewrap may write its message in pieces: read to the end. */
    char msg[512] = "";
    size_t used = 0;
    for (;;) {
        ssize_t got = read(err[0], msg + used, sizeof msg - 1 - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        used += (size_t)got;
        if (used == sizeof msg - 1)
            break;
    }
    msg[used] = '\0';
    msg[strcspn(msg, "\n")] = '\0';
    close(err[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        snprintf(why, cap, "bubblewrap cannot start a program here (%s)",
                 msg[0] ? msg : "it failed");
        return -1;
    }
    return 0;
}

/* Which of the newer options this bubblewrap knows, from its --help. */
static void bwrap_features(void)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(devnull, 2);
        execl(BWRAP, BWRAP, "--help", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    static char help[16384];
    size_t used = 0;
    ssize_t got;
    while (used < sizeof help - 1 &&
           ((got = read(out[0], help + used, sizeof help - 1 - used)) > 0 ||
            (got < 0 && errno == EINTR)))
        used += got > 0 ? (size_t)got : 0;
    help[used] = '\0';
    close(out[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (used > 0) {
        g_has_disable_userns = strstr(help, "--disable-userns") != NULL;
        g_has_size = strstr(help, "--size") != NULL;
    }
}

/* ----------------------------------------------------------- entering a mode */

static int enter_ns(char *why, size_t cap)
{
    if (access(BWRAP, X_OK) != 0) {
        snprintf(why, cap, "bubblewrap is not installed (%s: %s; Debian's package bubblewrap)",
                 BWRAP, strerror(errno));
        return -1;
    }
    bwrap_features();
    char net[256];
    if (private_network(net, sizeof net) < 0) {
        snprintf(why, cap, "%s", net);
        return -1;
    }
    g_nested_userns = true;
    if (try_bwrap(why, cap) < 0) {
        /* A real root where user namespaces are off: bubblewrap runs
         * privileged and drops every capability instead. */
        char first[512];
        snprintf(first, sizeof first, "%s", why);
        g_nested_userns = false;
        if (try_bwrap(why, cap) < 0) {
            snprintf(why, cap, "%s", first);
            return -1;
        }
    }
    snprintf(g_describe, sizeof g_describe,
             "ns: each program under bubblewrap (its own user, PID and mount namespaces, "
             "nothing but its own folder and the system's libraries), on a private loopback%s",
             g_has_disable_userns ? ""
                                  : " (this bubblewrap is older than 0.8: programs may make "
                                    "user namespaces of their own, with no more rights here)");
    g_mode = HN_SANDBOX_NS;
    return 0;
}

static int enter_user(char *why, size_t cap)
{
    if (geteuid() != 0) {
        snprintf(why, cap, "running programs as another user needs root");
        return -1;
    }
    const char *s = getenv("SOCKLAB_SANDBOX_UID");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end != '\0' || v <= 0 || v > 2147483647) {
            snprintf(why, cap, "SOCKLAB_SANDBOX_UID=%s is not a user id other than 0", s);
            return -1;
        }
        g_user_uid = (uid_t)v;
    }
    bool private_net = unshare(CLONE_NEWNET) == 0;
    char lo[256];
    if (private_net && loopback_up(lo, sizeof lo) < 0) {
        snprintf(why, cap, "%s", lo);
        return -1;
    }
    int abi = landlock_abi();
    snprintf(g_describe, sizeof g_describe,
             "user: each program runs as uid %d with no new privileges; %s%s",
             (int)g_user_uid,
             abi < 1 ? "it can read what that user may read on this machine (no Landlock here)"
             : abi >= 6
                 ? "Landlock lets it read only the system's files and its own, and signal only "
                   "its own processes"
                 : "Landlock lets it read only the system's files and its own (but signal any "
                   "process of that user: Landlock is older than 6 here)",
             private_net ? ", on a private loopback"
                         : ", and reach services on this machine's loopback (no network "
                           "namespace could be made)");
    g_mode = HN_SANDBOX_USER;
    return 0;
}

/* Whether enter_ns() would work, found out in a child process that leaves
 * this one as it was: 0, or -1 with the reason. */
static int probe_ns(char *why, size_t cap)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(why, cap, "pipe2: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        char reason[512] = "";
        int rc = enter_ns(reason, sizeof reason);
        if (rc < 0 && write(pipefd[1], reason, strlen(reason)) < 0)
            _exit(2);
        _exit(rc == 0 ? 0 : 1);
    }
    close(pipefd[1]);
    char reason[512] = "";
    size_t used = 0;
    ssize_t got;
    while (used < sizeof reason - 1 &&
           ((got = read(pipefd[0], reason + used, sizeof reason - 1 - used)) > 0 ||
            (got < 0 && errno == EINTR)))
        used += got > 0 ? (size_t)got : 0;
    reason[used] = '\0';
    close(pipefd[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        snprintf(why, cap, "%s", reason[0] ? reason : "the namespaces could not be made");
        return -1;
    }
    return 0;
}

int hn_sandbox_enter(char *why, size_t cap)
{
    const char *want = getenv("SOCKLAB_SANDBOX");
    if (!want || !*want || strcmp(want, "off") == 0)
        return 0;
    if (strcmp(want, "ns") == 0)
        return enter_ns(why, cap);
    if (strcmp(want, "user") == 0)
        return enter_user(why, cap);
    if (strcmp(want, "auto") == 0) {
        /* Try "ns" in a child first: a process that has entered a user
         * namespace is no longer the machine's root, and could not fall
         * back to "user" any more. */
        char ns_why[512];
        if (probe_ns(ns_why, sizeof ns_why) == 0 && enter_ns(ns_why, sizeof ns_why) == 0)
            return 0;
        if (!g_in_userns && enter_user(why, cap) == 0) {
            size_t used = strlen(g_describe);
            snprintf(g_describe + used, sizeof g_describe - used,
                     " (namespaces unavailable: %.300s)", ns_why);
            return 0;
        }
        snprintf(why, cap, "%s; and running programs as another user needs root", ns_why);
        return -1;
    }
    snprintf(why, cap, "SOCKLAB_SANDBOX=%s: want auto, ns, user or off", want);
    return -1;
}

/* -------------------------------------------------------------- the programs */

bool hn_sandbox_env_allowed(const char *entry)
{
    static const char *const KEEP[] = {
        "PATH=", "LANG=", "LC_ALL=", "LC_CTYPE=", "LC_MESSAGES=", "LANGUAGE=",
        "LD_PRELOAD=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=",
        "SOCKLAB_FAULT_SEED=", "SOCKLAB_FAULT_LOG=", "SOCKLAB_FAULT_RATE=", "SOCKLAB_FAULT_FDS=",
        "SOCKLAB_CALL_LOG=", NULL,
    };
    for (const char *const *k = KEEP; *k; k++)
        if (strncmp(entry, *k, strlen(*k)) == 0)
            return true;
    return false;
}

int hn_sandbox_drop_privileges(void)
{
    if (g_mode != HN_SANDBOX_USER)
        return 0;
    gid_t gid = (gid_t)g_user_uid;
    if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, gid, gid, gid) < 0 ||
        syscall(SYS_setresuid, g_user_uid, g_user_uid, g_user_uid) < 0)
        return -1;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

uid_t hn_sandbox_uid(void) { return g_user_uid; }

/* ------------------------------------------------- the grader's own commands */

static int tool_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --check-sandbox\n"
            "       %s --sandbox-run [--ro PATH]... [--rw PATH]... [--cwd DIR] -- COMMAND...\n",
            prog, prog);
    return 2;
}

/* Run cmd in the sandbox with view, no network at all; its exit status. */
static int run_boxed(char *const *cmd, const struct hn_sandbox_view *view)
{
    static char tmpdir[4200];
    static char *CLEAN_ENV[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL,
                                 NULL };
    const char *argv[200];
    int ruleset = -1;
    static char store[16384];
    if (g_mode == HN_SANDBOX_NS)
        hn_sandbox_argv((const char *const *)cmd, view, argv, HN_COUNT(argv), store,
                        sizeof store);
    if (g_mode == HN_SANDBOX_USER) {
        for (size_t i = 0; i < HN_SANDBOX_MAX_PATHS && view->writable[i]; i++)
            if (chown(view->writable[i], g_user_uid, g_user_uid) < 0) {
                fprintf(stderr, "sandbox: chown %s: %s\n", view->writable[i], strerror(errno));
                return 125;
            }
        /* No /tmp of its own here: the compiler's scratch files go to the
         * first folder it may write. */
        if (view->writable[0]) {
            snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", view->writable[0]);
            CLEAN_ENV[2] = tmpdir;
        }
        ruleset = hn_sandbox_landlock(view);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("sandbox: fork");
        return 125;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (g_mode == HN_SANDBOX_NS) {
            execve(BWRAP, (char *const *)argv, CLEAN_ENV);
        } else {
            if ((view->cwd && chdir(view->cwd) < 0) ||
                (ruleset >= 0 && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                                  hn_sandbox_restrict(ruleset) < 0)) ||
                hn_sandbox_drop_privileges() < 0)
                _exit(125);
            execve(cmd[0], cmd, CLEAN_ENV);
        }
        fprintf(stderr, "sandbox: %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    if (ruleset >= 0)
        close(ruleset);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 125;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int hn_sandbox_tool(int argc, char **argv)
{
    char why[1024];
    bool check = strcmp(argv[1], "--check-sandbox") == 0;
    if (check && argc != 2)
        return tool_usage(argv[0]);
    if (hn_sandbox_enter(why, sizeof why) < 0) {
        printf("sandbox: unavailable: %s\n", why);
        return 3;
    }
    if (check) {
        printf("sandbox: %s\n", g_describe);
        return 0;
    }
    struct hn_sandbox_view view;
    memset(&view, 0, sizeof view);
    view.no_network = true;
    size_t ro = 0, rw = 0;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (i + 1 >= argc)
            return tool_usage(argv[0]);
        if (strcmp(argv[i], "--ro") == 0 && ro < HN_SANDBOX_MAX_PATHS)
            view.read_only[ro++] = argv[++i];
        else if (strcmp(argv[i], "--rw") == 0 && rw < HN_SANDBOX_MAX_PATHS)
            view.writable[rw++] = argv[++i];
        else if (strcmp(argv[i], "--cwd") == 0)
            view.cwd = argv[++i];
        else
            return tool_usage(argv[0]);
    }
    if (i + 1 >= argc || argv[i + 1][0] != '/')
        return tool_usage(argv[0]);
    if (g_mode == HN_SANDBOX_OFF) {
        fprintf(stderr, "%s --sandbox-run: SOCKLAB_SANDBOX is off\n", argv[0]);
        return 2;
    }
    return run_boxed(argv + i + 1, &view);
}

int hn_prlimit(pid_t pid, int resource, const struct rlimit *limit)
{
    if (prlimit(pid, (__rlimit_resource_t)resource, limit, NULL) == 0)
        return 0;
    if (errno != EPERM || g_mode != HN_SANDBOX_USER)
        return -1;
    /* A root without CAP_SYS_RESOURCE (some containers) may not change
     * another user's limits, but that user may lower its own: ask as it. */
    pid_t helper = fork();
    if (helper < 0)
        return -1;
    if (helper == 0) {
        if (hn_sandbox_drop_privileges() < 0)
            _exit(255);
        _exit(prlimit(pid, (__rlimit_resource_t)resource, limit, NULL) == 0 ? 0 : errno & 0xff);
    }
    int status;
    while (waitpid(helper, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    errno = WIFEXITED(status) && WEXITSTATUS(status) != 255 ? WEXITSTATUS(status) : EPERM;
    return -1;
}

/* ------------------------------------------------------- Landlock, in "user" */

/* Landlock (landlock(7)) lets a process give up filesystem rights for good,
 * with no namespace and no privilege: in "user" mode, where nothing else
 * hides the machine's files, each program may then read only the system's
 * libraries, /etc, /proc, /dev and its own files, write only what the test
 * gave it, and (Landlock 6) signal only its own processes. The kernel's
 * own header may be older than the kernel: the values are the ABI's. */
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_ALL_V1 ((1ULL << 13) - 1) /* execute .. make_sym */
#define LL_FS_REFER (1ULL << 13)        /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)     /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)    /* ABI 5 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)        /* ABI 6 */
#define LL_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | \
                        LL_FS_IOCTL_DEV)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static int g_landlock_abi = -1; /* unknown until asked */

static int landlock_abi(void)
{
    if (g_landlock_abi < 0) {
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
        g_landlock_abi = abi > 0 ? (int)abi : 0;
    }
    return g_landlock_abi;
}

/* Allow rights (those the ruleset handles) beneath path; a file gets only
 * the rights a file can have. A path that does not exist is skipped. */
static int ll_allow(int ruleset, const char *path, uint64_t rights, uint64_t handled)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        rights &= LL_FILE_RIGHTS;
    struct ll_path_beneath_attr rule = { rights & handled, fd };
    int rc = (int)syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0);
    close(fd);
    return rc;
}

int hn_sandbox_landlock(const struct hn_sandbox_view *view)
{
    int abi = landlock_abi();
    if (g_mode != HN_SANDBOX_USER || abi < 1)
        return -1;
    struct ll_ruleset_attr attr = { LL_FS_ALL_V1, 0, 0 };
    size_t size = sizeof attr.handled_access_fs;
    if (abi >= 2)
        attr.handled_access_fs |= LL_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        attr.handled_access_fs |= LL_FS_IOCTL_DEV;
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_SIGNAL | LL_SCOPE_ABSTRACT_UNIX;
        size = sizeof attr;
    }
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0)
        return -1;
    const uint64_t handled = attr.handled_access_fs;
    const uint64_t read = LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR;
    static const char *const SYSTEM[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                                          "/libx32", "/etc", "/proc", NULL };
    int rc = 0;
    for (const char *const *p = SYSTEM; *p && rc == 0; p++)
        rc = ll_allow(ruleset, *p, read, handled);
    if (rc == 0)
        rc = ll_allow(ruleset, "/dev", read | LL_FS_WRITE_FILE | LL_FS_IOCTL_DEV, handled);
    for (size_t i = 0; view && rc == 0 && i < HN_SANDBOX_MAX_PATHS && view->read_only[i]; i++)
        rc = ll_allow(ruleset, view->read_only[i], read, handled);
    for (size_t i = 0; view && rc == 0 && i < HN_SANDBOX_MAX_PATHS && view->writable[i]; i++)
        rc = ll_allow(ruleset, view->writable[i], handled, handled);
    if (rc < 0) {
        close(ruleset);
        return -1;
    }
    return ruleset;
}

int hn_sandbox_restrict(int ruleset)
{
    if (ruleset < 0)
        return 0;
    return (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
}
