/*
 * lab10.c: the autograder of lab 10, a single-threaded echo server on
 * epoll, level-triggered by default and edge-triggered with -e.
 *
 * The echo and lifecycle suites check the protocol; this file adds what
 * SPEC says lab 10's server must show: one thread; the trigger mode, read
 * from the kernel's own record of the epoll registrations
 * (/proc/PID/fdinfo of the epoll descriptor); a 1 MiB burst whole in both
 * modes; 10000 clients at once; bounded memory for a client that never
 * reads; survival at the descriptor limit; no CPU while idle.
 */
#include "suites.h"

#include <poll.h>
#include <sys/resource.h>
#include <time.h>

#define HINT_CREATE "10-epoll: Step 1: Create the epoll instance"
#define HINT_REGISTER "10-epoll: Step 2: Register each client with its state"
#define HINT_INTEREST "10-epoll: Step 4: Ask only for what is needed"
#define HINT_EDGE "10-epoll: Step 5: Edge-triggered mode"
#define HINT_BACKPRESSURE "10-epoll: Back-pressure: bounded memory per client"
#define HINT_C10K "10-epoll: C10K: ten thousand clients"
#define HINT_EMFILE "10-epoll: When descriptors run out"
#define HINT_STEP3 "10-epoll: Step 3: Wait and dispatch"

#define MIB (1024 * 1024)
/* The EPOLLET bit as fdinfo prints it (the events are in hex). */
#define FDINFO_EPOLLET 0x80000000u
#define FDINFO_EPOLLIN 0x1u
#define FDINFO_EPOLLOUT 0x4u

/* ---------------------------------------------------------------- helpers */

static const char *const EDGE_ARGS[] = { "-e", NULL };

static struct hn_proc *start_mode(bool edge)
{
    return hn_start_server(NULL, edge ? EDGE_ARGS : NULL);
}

static const char *mode_name(bool edge)
{
    return edge ? "`server -e` (edge-triggered)" : "`server` (default, level-triggered)";
}

/* Send a short message and expect it back whole; fail with `who` if not. */
static void expect_echo(int fd, const char *msg, const char *who)
{
    size_t len = strlen(msg);
    char in[256];
    size_t got = hn_transfer(fd, msg, len, in, len,
                             &(struct hn_transfer_opts){ hn_ms(3000), 0, false });
    if (got != len || memcmp(in, msg, len) != 0)
        hn_fail_bytes("The echo differs.", who, msg, len, in, got);
}

/* Connect n clients and have each echo once, so the server has accepted
 * and registered them all. */
static void connect_clients(struct hn_proc *server, int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        fds[i] = hn_connect_or_fail(server);
        char msg[64], who[64];
        snprintf(msg, sizeof msg, "client %d says hi\n", i + 1);
        snprintf(who, sizeof who, "client %d of %d: one line", i + 1, n);
        expect_echo(fds[i], msg, who);
    }
}

/* ------------------------------------- the epoll registrations in fdinfo -- */

/* One registration of an epoll instance, as /proc/PID/fdinfo/EPFD shows it:
 * `tfd: N events: HEX data: HEX ...`. */
struct epoll_reg {
    int tfd;
    unsigned events;
    unsigned long long data;
};

/* The inode of what /proc/PID/fd/FD links to (`socket:[N]`), or 0. */
static unsigned long fd_socket_inode(pid_t pid, int fd)
{
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    unsigned long ino = 0;
    return sscanf(link, "socket:[%lu]", &ino) == 1 ? ino : 0;
}

/* Read the registrations of epoll descriptor epfd of pid. Returns how many
 * (at most max), or -1. */
static int read_epoll_regs(pid_t pid, int epfd, struct epoll_reg *out, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, epfd);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[512];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f) != NULL) {
        int tfd;
        unsigned events;
        unsigned long long data;
        if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &events, &data) == 3)
            out[n++] = (struct epoll_reg){ tfd, events, data };
    }
    fclose(f);
    return n;
}

/* The inode of the socket listening on port, from /proc/PID/net/tcp and
 * tcp6 (state 0A is LISTEN), or 0. */
static unsigned long listener_inode(pid_t pid, int port)
{
    const char *files[] = { "tcp", "tcp6" };
    for (int k = 0; k < 2; k++) {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, files[k]);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof line, f) != NULL) {
            char local[128];
            unsigned st;
            unsigned long ino;
            if (sscanf(line, " %*d: %127s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &ino) != 3)
                continue;
            char *colon = strrchr(local, ':');
            if (colon && st == 0x0A && strtol(colon + 1, NULL, 16) == port) {
                fclose(f);
                return ino;
            }
        }
        fclose(f);
    }
    return 0;
}

/* The registrations of the server's client sockets: every registered
 * socket but the listening one. Fails the test when there is no epoll
 * instance or fewer than `want` client registrations. */
static int client_regs(struct hn_proc *server, struct epoll_reg *out, int max, int want)
{
    pid_t pid = hn_pid(server);
    int epfd = -1;
    if (hn_fd_links(pid, "anon_inode:[eventpoll]", &epfd) == 0)
        hn_fail("The server has no epoll descriptor (no /proc/%d/fd entry links to "
                "anon_inode:[eventpoll]).\n  expected: one, made with epoll_create1()",
                (int)pid);
    struct epoll_reg all[256];
    int n = read_epoll_regs(pid, epfd, all, 256);
    unsigned long lino = listener_inode(pid, hn_port(server));
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        unsigned long ino = fd_socket_inode(pid, all[i].tfd);
        if (ino != 0 && ino != lino)
            out[k++] = all[i];
    }
    if (k < want)
        hn_fail("With %d clients connected and served, /proc/%d/fdinfo/%d lists %d "
                "registered client socket(s) (%d registrations in all).\n  expected: every "
                "client's socket registered with epoll_ctl(EPOLL_CTL_ADD) in the instance the "
                "server waits on",
                want, (int)pid, epfd, k, n < 0 ? 0 : n);
    return k;
}

/* ------------------------------------------ counting epoll_ctl() calls -- */

/* The fault-injection shim (tests/shim/faultshim.c) sits in front of libc's
 * epoll_ctl() and, given SOCKLAB_CALL_LOG, writes a line per call. The test
 * preloads it into the server it starts with no faults (a short send would
 * change what the server wants, and so its registrations): the path is
 * SOCKLAB_SHIM's when set, else faultshim.so next to this test program. */
static char *preload_call_log(void)
{
    char shim[4096];
    const char *set = getenv("SOCKLAB_SHIM");
    if (set != NULL && *set != '\0') {
        snprintf(shim, sizeof shim, "%s", set);
    } else {
        ssize_t n = readlink("/proc/self/exe", shim, sizeof shim - 32);
        if (n <= 0)
            hn_fail("harness: readlink /proc/self/exe: %s", strerror(errno));
        shim[n] = '\0';
        char *slash = strrchr(shim, '/');
        strcpy(slash != NULL ? slash + 1 : shim, "faultshim.so");
    }
    if (access(shim, R_OK) != 0)
        hn_fail("harness: %s: %s (build it: make tests)", shim, strerror(errno));
    char *log = hn_temp_path("epoll_ctl.log");
    unlink(log);
    setenv("SOCKLAB_SHIM", shim, 1);
    setenv("SOCKLAB_FAULT_RATE", "0", 1);
    setenv("SOCKLAB_CALL_LOG", log, 1);
    return log;
}

/* The server's successful epoll_ctl() calls of kind op ("ADD", "MOD",
 * "DEL") logged so far. */
static int count_ctl(const char *log, pid_t pid, const char *op)
{
    FILE *f = fopen(log, "re");
    if (f == NULL)
        return 0;
    char line[256], want[64];
    snprintf(want, sizeof want, "%d epoll_ctl %s ", (int)pid, op);
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strncmp(line, want, strlen(want)) == 0;
    fclose(f);
    return n;
}

static void check_mod_calls(bool edge, const char *log)
{
    enum { MESSAGES = 200 };
    const int max_mods = MESSAGES / 10;
    struct hn_proc *server = start_mode(edge);
    /* The shim logs the PID the server sees for itself. */
    pid_t own = hn_own_pid(server);
    int fd = hn_connect_or_fail(server);
    expect_echo(fd, "hello\n", "a first message");
    int adds = count_ctl(log, own, "ADD"), mods0 = count_ctl(log, own, "MOD");
    if (adds < 2)
        hn_fail("%s served a client, but only %d epoll_ctl(EPOLL_CTL_ADD) call(s) went "
                "through the C library's epoll_ctl() (the test counts them there).\n  "
                "expected: the listening socket's and the client's: call epoll_ctl(), not "
                "syscall(SYS_epoll_ctl)",
                mode_name(edge), adds);
    for (int i = 0; i < MESSAGES; i++) {
        char msg[64], who[96];
        snprintf(msg, sizeof msg, "message %d of %d\n", i + 1, MESSAGES);
        snprintf(who, sizeof who, "message %d of %d, each sent once the last came back", i + 1,
                 MESSAGES);
        expect_echo(fd, msg, who);
    }
    int mods = count_ctl(log, own, "MOD") - mods0;
    if (mods > max_mods)
        hn_fail("%s echoed %d short messages on one connection, each sent once the previous "
                "echo had come back, and called epoll_ctl(EPOLL_CTL_MOD) %d times meanwhile.\n"
                "  expected: at most %d: each echo went out whole at once, so what the client "
                "wants (EPOLLIN) never changed; call epoll_ctl() only when the events wanted "
                "differ from those registered",
                mode_name(edge), MESSAGES, mods, max_mods);
    close(fd);
    hn_stop(server, hn_ms(2000));
}

static void test_mod_on_change(const struct hn_test *t)
{
    (void)t;
    char *log = preload_call_log();
    check_mod_calls(false, log);
    check_mod_calls(true, log);
    free(log);
}

/* -------------------------------------------------- many clients at once -- */

/* ------------------------------------------------------------------ tests -- */

static void test_one_thread(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = start_mode(false);
    int fds[3];
    connect_clients(server, fds, 3);
    pid_t pid = hn_pid(server);
    int threads = hn_threads(pid), children = hn_children(pid, NULL, 0), epolls;
    if (threads != 1 || children != 0)
        hn_fail("While serving 3 clients, the server has %d thread(s) and %d child "
                "process(es).\n  expected: 1 thread and no child: one event loop serves "
                "every client",
                threads, children);
    if ((epolls = hn_fd_links(pid, "anon_inode:[eventpoll]", NULL)) == 0)
        hn_fail("The server serves clients, but has no epoll descriptor (no /proc/%d/fd entry "
                "links to anon_inode:[eventpoll]).\n  expected: an epoll instance from "
                "epoll_create1(), waited on with epoll_wait() (not poll() or select())",
                (int)pid);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

/* The trigger mode and the interest of idle clients, as the kernel records
 * them. */
static void check_registrations(bool edge)
{
    struct hn_proc *server = start_mode(edge);
    int fds[3];
    connect_clients(server, fds, 3);
    hn_wait_blocked(hn_pid(server), hn_ms(2000));
    struct epoll_reg regs[16];
    int n = client_regs(server, regs, 16, 3);
    for (int i = 0; i < n; i++) {
        bool et = (regs[i].events & FDINFO_EPOLLET) != 0;
        if (et != edge)
            hn_fail("%s registered client socket %d with events 0x%x: EPOLLET (0x80000000) "
                    "is %s.\n  expected: %s\n  (read from /proc/%d/fdinfo of its epoll "
                    "descriptor)",
                    mode_name(edge), regs[i].tfd, regs[i].events, et ? "set" : "not set",
                    edge ? "EPOLLET on every client socket with -e"
                         : "no EPOLLET without -e: level-triggered is the default",
                    (int)hn_pid(server));
        /* EPOLLOUT on an idle socket makes a level-triggered epoll_wait()
         * return at once, for ever: an idle socket is always writable. Under
         * EPOLLET it is reported once, when it becomes writable, so keeping
         * EPOLLIN | EPOLLOUT registered for good is a legitimate design
         * there (lab10_idle_cpu checks that it does not spin). */
        if (!(regs[i].events & FDINFO_EPOLLIN) || (!edge && (regs[i].events & FDINFO_EPOLLOUT)))
            hn_fail("%s: an idle client's socket %d is registered with events 0x%x.\n"
                    "  expected: EPOLLIN (0x1)%s",
                    mode_name(edge), regs[i].tfd, regs[i].events,
                    edge ? ""
                         : ", and no EPOLLOUT (0x4) while nothing waits to be sent: an idle "
                           "socket is always writable");
        if (regs[i].data == (unsigned long long)regs[i].tfd)
            hn_fail("%s: client socket %d is registered with data 0x%llx, its own "
                    "descriptor number.\n  expected: data.ptr pointing to the client's state, "
                    "so an event leads straight to it",
                    mode_name(edge), regs[i].tfd, regs[i].data);
        for (int j = 0; j < i; j++)
            if (regs[j].data == regs[i].data)
                hn_fail("%s: client sockets %d and %d are registered with the same data "
                        "0x%llx.\n  expected: each client's own state in data.ptr",
                        mode_name(edge), regs[j].tfd, regs[i].tfd, regs[i].data);
    }
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

static void test_level_default(const struct hn_test *t)
{
    (void)t;
    check_registrations(false);
}

static void test_edge_flag(const struct hn_test *t)
{
    (void)t;
    check_registrations(true);
}

/* A client whose receive buffer is small (set before connect(), so that
 * the window is small from the start): the server's echo then cannot all
 * hide in the kernel's buffers, and some of it must wait in the server. */
static int connect_small_window(struct hn_proc *server)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)hn_port(server)) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) < 0 ||
        connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        hn_fail("Could not connect to the server at 127.0.0.1:%d: %s", hn_port(server),
                strerror(errno));
    return fd;
}

/* A burst of `size` bytes sent before reading (for read_pause_ms), and
 * everything must come back. */
static void burst(bool edge, size_t size, int read_pause_ms, const char *what)
{
    struct hn_proc *server = start_mode(edge);
    int fd = connect_small_window(server);
    char *out = malloc(size), *in = malloc(size);
    hn_pattern(out, size, edge ? 1010u : 1011u);
    size_t got = hn_transfer(fd, out, size, in, size,
                             &(struct hn_transfer_opts){ hn_ms(15000), hn_ms(read_pause_ms),
                                                         false });
    if (got != size || memcmp(in, out, size) != 0) {
        char sent[200];
        snprintf(sent, sizeof sent, "%s to %s, reading paused for %d ms", what,
                 mode_name(edge), read_pause_ms);
        hn_fail_bytes(got < size ? "The echo stalled: not all of it came back (nothing moved "
                                   "for 3 s)."
                                 : "The echo differs.",
                      sent, out, size, in, got);
    }
    free(out);
    free(in);
    close(fd);
}

static void test_burst_level(const struct hn_test *t)
{
    (void)t;
    burst(false, MIB, 300, "1 MiB in one burst");
}

static void test_burst_edge(const struct hn_test *t)
{
    (void)t;
    burst(true, MIB, 300, "1 MiB in one burst");
}

static void test_edge_slow_reader(const struct hn_test *t)
{
    (void)t;
    burst(true, 16 * MIB, 1000, "16 MiB");
}

static void test_bounded_memory(const struct hn_test *t)
{
    (void)t;
    const size_t total = 100 * (size_t)MIB, chunk = 64 * 1024;
    const long limit_kib = 32 * 1024;
    struct hn_proc *server = start_mode(false);
    pid_t pid = hn_pid(server);
    int probe = hn_connect_or_fail(server);
    expect_echo(probe, "before\n", "a first client, before the flood");
    long before = hn_rss_kib(pid);
    int fd = hn_connect_or_fail(server);
    sl_set_nonblocking(fd, true);
    char *buf = malloc(chunk);
    hn_pattern(buf, chunk, 1012u);
    size_t sent = 0;
    long peak = before;
    long long end = hn_now_ms() + hn_ms(4000), last_progress = hn_now_ms();
    /* Send until 100 MiB went, or nothing moved for 1 s (back-pressure has
     * filled every buffer on the way), or 4 s passed. Never read. */
    while (sent < total && hn_now_ms() < end && hn_now_ms() - last_progress < hn_ms(1000)) {
        ssize_t k = send(fd, buf, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            sent += (size_t)k;
            last_progress = hn_now_ms();
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            hn_fail("The server closed or reset a client that sends without reading, after "
                    "%zu bytes (%s).\n  expected: it stops reading from it (no EPOLLIN while "
                    "its backlog is full) and keeps it",
                    sent, strerror(errno));
        struct pollfd p = { fd, POLLOUT, 0 };
        poll(&p, 1, 50);
        long rss = hn_rss_kib(pid);
        if (rss > peak)
            peak = rss;
    }
    long after = hn_rss_kib(pid);
    if (after > peak)
        peak = after;
    if (peak - before > limit_kib)
        hn_fail("A client sent %zu MiB and never read; the server's memory (VmRSS) grew from "
                "%ld KiB to %ld KiB, by %ld MiB.\n  expected: less than %ld MiB of growth: "
                "once a client's backlog reaches its bound, stop reading from it (leave "
                "EPOLLIN out of its registration) until the backlog drains",
                sent / MIB, before, peak, (peak - before) / 1024, limit_kib / 1024);
    int other = hn_connect_or_fail(server);
    expect_echo(other, "am I served while the flood waits?\n",
                "another client, while the first one floods and never reads");
    expect_echo(probe, "and me?\n", "the first client, while another one floods");
    free(buf);
    close(other);
    close(probe);
    close(fd);
}

#define IDLE_CLIENTS 200

static void check_idle(bool edge)
{
    struct hn_proc *server = start_mode(edge);
    pid_t pid = hn_pid(server);
    int fds[IDLE_CLIENTS];
    connect_clients(server, fds, IDLE_CLIENTS);
    hn_wait_blocked(pid, hn_ms(2000));
    double cpu0 = hn_cpu_seconds(pid);
    long long t0 = hn_now_ms();
    usleep(1000 * 1000);
    double used = hn_cpu_seconds(pid) - cpu0;
    double wall = (double)(hn_now_ms() - t0) / 1000.0;
    if (used > 0.05 * wall)
        hn_fail("%s with %d connected, silent clients used %.0f%% of a CPU over %.1f s.\n"
                "  expected: under 5%%: epoll_wait() should sleep until something happens. "
                "Is EPOLLOUT armed while nothing waits to be sent (an idle socket is always "
                "writable), or the timeout 0?",
                mode_name(edge), IDLE_CLIENTS, 100.0 * used / wall, wall);
    for (int i = 0; i < IDLE_CLIENTS; i++)
        close(fds[i]);
    hn_stop(server, hn_ms(2000));
}

static void test_idle_cpu(const struct hn_test *t)
{
    (void)t;
    check_idle(false);
    check_idle(true);
}

/* The crowd tests (tests/suites/crowd.c) of the default, level-triggered server. */
static const struct crowd_param crowd = {
    .args = NULL,
    .clients = 10000,
    .max_threads = 1,
    .model = "one thread: one event loop serves every client",
    .emfile_advice = "when accept() fails with EMFILE, take the listening socket out of the "
                     "interest list for a while; a level-triggered listener that stays ready "
                     "makes epoll_wait() return at once, for ever",
};

static const struct hn_test lab10_rows[] = {
    { "lab10_one_thread", "one thread and an epoll instance while serving", 2, 10, HINT_CREATE,
      test_one_thread, NULL },
    { "lab10_level_default", "default: clients level-triggered, EPOLLIN only, own data.ptr", 3,
      10, HINT_REGISTER, test_level_default, NULL },
    { "lab10_edge_flag", "-e: every client socket registered with EPOLLET", 4, 10, HINT_EDGE,
      test_edge_flag, NULL },
    { "lab10_burst_level", "default: a 1 MiB burst comes back whole", 3, 15, HINT_INTEREST,
      test_burst_level, NULL },
    { "lab10_burst_edge", "-e: a 1 MiB burst comes back whole", 3, 15, HINT_EDGE,
      test_burst_edge, NULL },
    { "lab10_edge_slow_reader", "-e: 16 MiB to a client that stops reading for 1 s", 4, 20,
      HINT_EDGE, test_edge_slow_reader, NULL },
    { "lab10_10000_clients", "10000 clients at once, each gets its own echo", 5, 40,
      HINT_C10K, crowd_test_many_clients, &crowd },
    { "lab10_bounded_memory", "a client that sends 100 MiB and never reads: RSS bounded", 4,
      20, HINT_BACKPRESSURE, test_bounded_memory, NULL },
    { "lab10_emfile", "out of descriptors: no spin, clients served, waiting ones later", 3,
      25, HINT_EMFILE, crowd_test_emfile, &crowd },
    { "lab10_idle_cpu", "200 silent clients: under 5% of a CPU, both modes", 3, 20,
      HINT_INTEREST, test_idle_cpu, NULL },
    { "lab10_mod_on_change", "200 echoes that change nothing: no EPOLL_CTL_MOD, both modes", 3,
      20, HINT_INTEREST, test_mod_on_change, NULL },
    { "lab10_emfile_resume", "out of descriptors: a client leaves, a waiting one is taken at once",
      3, 25, HINT_STEP3, crowd_test_emfile_resume, &crowd },
};

static const struct hn_table lab10_table = HN_TABLE("lab10", lab10_rows);

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_", "10-epoll: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&echo_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    static const struct suite_hint echo_hints[] = {
        { "echo_ipv6", "10-epoll: Start, stop and errors" },
        { "echo_large", "10-epoll: Step 4: Ask only for what is needed" },
        { "echo_slow_reader", "10-epoll: Step 4: Ask only for what is needed" },
        { "echo_", "10-epoll: Step 3: Wait and dispatch" },
        { NULL, NULL },
    };
    struct hn_table echo = suite_hints(&echo_server_suite, echo_hints);
    const struct hn_table *tables[] = { &echo, &lifecycle, &lab10_table, NULL };
    struct hn_lab lab = { "lab10", "10-epoll", "an echo server on epoll, level- and "
                                               "edge-triggered", tables };
    return hn_main(&lab, argc, argv);
}
