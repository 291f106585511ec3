/*
 * loadgen.c: a load generator for echo servers, one thread on epoll.
 *
 * It opens C non-blocking connections to an echo server on this machine
 * and keeps them busy, then reports how many messages came back per second,
 * how many bytes, and how long they took (p50, p90, p99, p99.9). `make
 * bench` runs it against every echo solution; a student runs it by hand to
 * see what an I/O model costs.
 *
 * Three ways to load a server (-m):
 *
 *  - pingpong, a closed loop: each connection sends one S-byte message,
 *    waits for all S bytes back, and only then sends the next. The server
 *    sets the pace, so this measures its throughput at C requests in
 *    flight.
 *  - rate, an open loop: R messages a second in all, on a fixed schedule
 *    spread evenly over the connections. Each message's latency counts from
 *    the time it was *meant* to be sent, not from when it went out: a
 *    closed loop that waits for a slow reply quietly sends less and so
 *    hides the delay ("coordinated omission"); here a connection that falls
 *    behind queues its messages (pipelining) and their waiting is counted.
 *  - churn: each connection slot connects, sends one message, checks the
 *    echo, closes, and starts again, which measures accept() and connection
 *    set-up rather than data transfer; its rate is connections per second.
 *
 * Every message's bytes depend on its connection and sequence number, and
 * every byte that comes back is checked, so an echo that is reordered,
 * truncated, duplicated or corrupted counts as an error, not as a fast
 * reply. Nothing is ever buffered on the sending side: the bytes still to
 * send are regenerated from (connection, sequence, offset) when the socket
 * can take them, so a server that stops reading costs loadgen no memory.
 *
 * One thread serves every connection, as in lab 10: epoll_wait() says
 * which sockets are ready, a timerfd wakes the loop when the next message
 * of the rate schedule is due, and CLOCK_MONOTONIC times everything (the
 * wall clock may jump). Connects are non-blocking too, with a deadline, so
 * a server that never accepts or never answers cannot hold loadgen past
 * its warm-up plus its measured duration.
 *
 * With -P it also reads, from /proc, the CPU time the server and every
 * process it started used during the measurement, and reports it per
 * message: the cost of an I/O model, independent of this machine's speed
 * of delivering the load.
 *
 * Read: epoll(7), epoll_wait(2), connect(2) (EINPROGRESS, SO_ERROR),
 * send(2) (MSG_NOSIGNAL), recv(2), timerfd_create(2), clock_gettime(2),
 * getrlimit(2), proc(5) (/proc/PID/stat, /proc/PID/task/TID/schedstat),
 * sysconf(3) (_SC_CLK_TCK), getopt_long(3).
 *
 * Usage: loadgen [-m pingpong|rate|churn] [-c CONNS] [-s BYTES] [-d SECS]
 *        [-w WARMUP_SECS] [-r MSGS_PER_S] [-n NAME] [-P SERVER_PID] [--csv]
 *        [--csv-header] [-q] [-a ADDR] [-p PORT]
 */
#include "socklab.h"

#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>

#define USAGE                                                                                \
    "[-m pingpong|rate|churn] [-c CONNS] [-s BYTES] [-d SECS] [-w WARMUP_SECS] "            \
    "[-r MSGS_PER_S] [-n NAME] [-P SERVER_PID] [--csv] [--csv-header] [-q] [-a ADDR] "      \
    "[-p PORT]"
#define CSV_HEADER                                                                             \
    "server,connections,size,msgs_per_s,mib_per_s,p50_us,p90_us,p99_us,p999_us,errors"
#define CSV_CPU_COLUMN "server_cpu_us_per_msg"

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT "50010"
#define MAX_CONNS 100000
#define MAX_SIZE_BYTES (1024 * 1024)
#define MAX_DURATION_S 600.0
#define MAX_WARMUP_S 60.0
#define MAX_RATE 10000000L

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define CONNECT_TIMEOUT_MS 2000
/* How often the loop looks for connects past their deadline and churn slots
 * waiting to reconnect: often enough to be prompt, rarely enough that a
 * scan of 100000 slots costs nothing. */
#define HOUSEKEEPING_MS 20
/* A churn slot whose connection failed waits this long before it retries,
 * so that a refused port is not hammered in a tight loop. */
#define CHURN_RETRY_MS 10
/* Descriptors loadgen needs besides one per connection (stdio, epoll,
 * timerfd, /proc while sampling, some slack). */
#define SPARE_FDS 16
/* One send() or recv() moves at most this much. */
#define IO_CHUNK_BYTES (256 * 1024)
/* recv() calls per readable event, so one busy socket cannot starve others. */
#define READS_PER_EVENT 4
#define EPOLL_BATCH 1024
/* Connections opened per turn of the loop while some are still to open:
 * with thousands of slots, the first ones start working (and the clock
 * keeps being checked) while the rest connect. */
#define OPEN_BATCH 64
/* Only the first few errors are described on standard error. */
#define MAX_ERRORS_SHOWN 5
#define MIB (1024.0 * 1024.0)

/* epoll data of the timerfd; a connection's carries its slot index, which
 * is always below MAX_CONNS. */
#define TIMER_SLOT UINT32_MAX

/* ------------------------------------------------------------ histogram -- */

/*
 * Latencies are kept in nanoseconds in log-linear buckets, as HdrHistogram
 * does: each power of two is split into HIST_SUB linear sub-buckets, so every
 * bucket is at most 1/32 (about 3%) of its values wide, from exact
 * nanoseconds at the bottom to 2^37 ns (137 s) at the top, in 1056 counters.
 * A percentile is reported as the *upper edge* of the bucket it falls in (the
 * smallest value of the next bucket): a slight overestimate, never an
 * underestimate.
 */
#define HIST_SUB_BITS 5
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_MAX_EXP 36
#define HIST_BUCKETS ((HIST_MAX_EXP - HIST_SUB_BITS + 2) * HIST_SUB)
#define HIST_MAX_NS ((1ULL << (HIST_MAX_EXP + 1)) - 1)

struct histogram {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
};

static unsigned hist_index(uint64_t ns)
{
    if (ns > HIST_MAX_NS)
        ns = HIST_MAX_NS;
    if (ns < HIST_SUB)
        return (unsigned)ns;
    unsigned exp = 63u - (unsigned)__builtin_clzll(ns);
    unsigned sub = (unsigned)(ns >> (exp - HIST_SUB_BITS)) - HIST_SUB;
    return (exp - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

/* The smallest value of the bucket after bucket i. */
static uint64_t hist_upper_edge(unsigned i)
{
    if (i < HIST_SUB)
        return i + 1;
    unsigned exp = i / HIST_SUB + HIST_SUB_BITS - 1;
    uint64_t sub = i % HIST_SUB;
    uint64_t width = 1ULL << (exp - HIST_SUB_BITS);
    return (HIST_SUB + sub) * width + width;
}

static void hist_record(struct histogram *h, int64_t ns)
{
    h->counts[hist_index(ns < 0 ? 0 : (uint64_t)ns)]++;
    h->total++;
}

/* The q-quantile (0 < q <= 1) in microseconds, 0 for an empty histogram. */
static double hist_quantile_us(const struct histogram *h, double q)
{
    if (h->total == 0)
        return 0.0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return (double)hist_upper_edge(i) / 1000.0;
    }
    return (double)HIST_MAX_NS / 1000.0;
}

/* -------------------------------------------------------------- options -- */

enum mode { MODE_PINGPONG, MODE_RATE, MODE_CHURN };

struct options {
    enum mode mode;
    long conns;
    long size;
    double duration_s;
    double warmup_s;
    long rate; /* 0 when -r was not given */
    const char *name;
    pid_t server_pid; /* 0 without -P */
    bool csv;
    bool csv_header;
    bool quiet;
    const char *addr;
    const char *port;
};

static const char *mode_name(enum mode m)
{
    switch (m) {
    case MODE_PINGPONG: return "pingpong";
    case MODE_RATE: return "rate";
    case MODE_CHURN: return "churn";
    }
    return "?";
}

/* strtod(), but the whole argument must be a finite number in [min, max];
 * min_open excludes min itself (a duration must be more than 0). */
static int parse_seconds(const char *arg, double min, bool min_open, double max, double *out)
{
    if (arg == NULL || !(arg[0] == '.' || (arg[0] >= '0' && arg[0] <= '9')))
        return -1;
    char *end;
    int saved_errno = errno;
    errno = 0;
    double v = strtod(arg, &end);
    bool bad = errno != 0 || *end != '\0' || !isfinite(v);
    errno = saved_errno;
    if (bad || v < min || (min_open && v == min) || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_mode(const char *arg, enum mode *out)
{
    static const enum mode modes[] = { MODE_PINGPONG, MODE_RATE, MODE_CHURN };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(arg, mode_name(modes[i])) == 0) {
            *out = modes[i];
            return 0;
        }
    }
    return -1;
}

/* One option; 0 if accepted, -1 with the problem in `why`. */
static int apply_option(struct options *o, int opt, const char *arg, const char **why)
{
    long v;
    switch (opt) {
    case 'm':
        *why = "-m must be pingpong, rate or churn";
        return parse_mode(arg, &o->mode);
    case 'c':
        *why = "-c must be a whole number from 1 to 100000";
        return sl_parse_int(arg, 1, MAX_CONNS, &o->conns);
    case 's':
        *why = "-s must be a whole number of bytes from 1 to 1048576";
        return sl_parse_int(arg, 1, MAX_SIZE_BYTES, &o->size);
    case 'd':
        *why = "-d must be a number of seconds, more than 0 and at most 600";
        return parse_seconds(arg, 0.0, true, MAX_DURATION_S, &o->duration_s);
    case 'w':
        *why = "-w must be a number of seconds from 0 to 60";
        return parse_seconds(arg, 0.0, false, MAX_WARMUP_S, &o->warmup_s);
    case 'r':
        *why = "-r must be a whole number of messages per second from 1 to 10000000";
        return sl_parse_int(arg, 1, MAX_RATE, &o->rate);
    case 'n':
        *why = "-n must not be empty";
        o->name = arg;
        return arg[0] != '\0' ? 0 : -1;
    case 'P':
        *why = "-P must be a process id";
        if (sl_parse_int(arg, 1, INT32_MAX, &v) < 0)
            return -1;
        o->server_pid = (pid_t)v;
        return 0;
    case 'a': o->addr = arg; return 0;
    case 'p':
        *why = "-p must be a port from 1 to 65535";
        o->port = arg;
        return sl_parse_int(arg, 1, 65535, &v);
    case 'q': o->quiet = true; return 0;
    case 'C': o->csv = true; return 0;
    case 'H': o->csv = o->csv_header = true; return 0; /* a header implies the line */
    }
    *why = "unknown option";
    return -1;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "csv", no_argument, NULL, 'C' },
        { "csv-header", no_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct options){ .mode = MODE_PINGPONG, .conns = 1, .size = 64, .duration_s = 5.0,
                           .warmup_s = 1.0, .name = "server", .addr = DEFAULT_ADDR,
                           .port = DEFAULT_PORT };
    int opt;
    opterr = 0; /* every message below has the same form */
    while ((opt = getopt_long(argc, argv, "+:m:c:s:d:w:r:n:P:qa:p:h", longopts, NULL)) != -1) {
        const char *why = "";
        if (opt == 'h') {
            printf("usage: %s %s\n", sl_progname(), USAGE);
            exit(0);
        }
        if (opt == '?' && optopt != 0)
            sl_usage_error(USAGE, "unknown option -%c", optopt);
        if (opt == '?')
            sl_usage_error(USAGE, "unknown option %s", argv[optind - 1]);
        if (opt == ':')
            sl_usage_error(USAGE, "option %s needs an argument", argv[optind - 1]);
        if (apply_option(o, opt, optarg, &why) < 0)
            sl_usage_error(USAGE, "%s, not '%s'", why, optarg != NULL ? optarg : "");
    }
    if (optind < argc)
        sl_usage_error(USAGE, "unexpected argument '%s'", argv[optind]);
    if (o->mode == MODE_RATE && o->rate == 0)
        sl_usage_error(USAGE, "-m rate needs -r MSGS_PER_S");
    if (o->mode != MODE_RATE && o->rate != 0)
        sl_usage_error(USAGE, "-r is only for -m rate");
}

/* ------------------------------------------------------- the server address -- */

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            return a6->s6_addr[12] == 127;
        return IN6_IS_ADDR_LOOPBACK(a6);
    }
    return false;
}

/*
 * Resolve -a/-p, and refuse anything that is not this machine: a load
 * generator pointed at someone else's host is a denial-of-service tool, and
 * a benchmark over a real network measures the network, not the server.
 */
static void resolve_loopback(const struct options *o, struct sockaddr_storage *out,
                             socklen_t *outlen)
{
    struct addrinfo *res;
    char err[SL_ERR_BYTES];
    if (sl_resolve(o->addr, o->port, SOCK_STREAM, false, &res, err, sizeof err) < 0)
        sl_die(SL_EXIT_USAGE, "-a %s: %s", o->addr, err);
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (!is_loopback(ai->ai_addr)) {
            char shown[SL_ADDR_BYTES];
            sl_addr_format(ai->ai_addr, ai->ai_addrlen, shown, sizeof shown);
            freeaddrinfo(res);
            sl_die(SL_EXIT_USAGE,
                   "-a %s: %s is not a loopback address; loadgen only loads servers on this "
                   "machine (127.0.0.0/8 or ::1)",
                   o->addr, shown);
        }
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *outlen = res->ai_addrlen;
    freeaddrinfo(res);
}

/* One descriptor per connection: raise the soft limit if needed, or say
 * plainly that the machine's hard limit is too low. */
static void ensure_descriptors(long conns)
{
    long need = conns + SPARE_FDS;
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        (long)lim.rlim_cur >= need)
        return;
    long have = sl_raise_nofile();
    if (have < 0)
        sl_die_errno("setrlimit RLIMIT_NOFILE");
    if (have < need)
        sl_die(SL_EXIT_USAGE,
               "-c %ld needs %ld descriptors, but the limit (RLIMIT_NOFILE, hard) is %ld; "
               "use fewer connections or raise the limit (ulimit -Hn)",
               conns, need, have);
}

/* ------------------------------------------------------------ server CPU -- */

/* One process of /proc: who its parent is and what CPU time it has used. */
struct proc_times {
    pid_t pid;
    pid_t ppid;
    unsigned long long own_ticks;      /* utime + stime */
    unsigned long long children_ticks; /* cutime + cstime: reaped children */
};

static int read_proc_times(pid_t pid, struct proc_times *out)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    /* The command name (field 2) may hold spaces and parentheses: the
     * fields that follow start after its last ')'. */
    char *p = ok ? strrchr(line, ')') : NULL;
    if (p == NULL)
        return -1;
    char state;
    int ppid;
    unsigned long long utime, stime;
    long long cutime, cstime;
    if (sscanf(p + 1, " %c %d %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %lld %lld", &state,
               &ppid, &utime, &stime, &cutime, &cstime) != 6)
        return -1;
    *out = (struct proc_times){ pid, (pid_t)ppid, utime + stime,
                                (unsigned long long)(cutime + cstime) };
    return 0;
}

/* Every process now alive, read from /proc; *count is set to how many. */
static struct proc_times *read_all_procs(size_t *count)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return NULL;
    size_t n = 0, cap = 256;
    struct proc_times *all = malloc(cap * sizeof *all);
    struct dirent *e;
    while (all != NULL && (e = readdir(d)) != NULL) {
        long pid;
        if (sl_parse_int(e->d_name, 1, INT32_MAX, &pid) < 0)
            continue;
        if (n == cap) {
            cap *= 2;
            struct proc_times *bigger = realloc(all, cap * sizeof *all);
            if (bigger == NULL) {
                free(all);
                all = NULL;
                break;
            }
            all = bigger;
        }
        if (read_proc_times((pid_t)pid, &all[n]) == 0)
            n++;
    }
    closedir(d);
    *count = n;
    return all;
}

/*
 * Nanoseconds of CPU that process pid's threads have run, from the first
 * field of /proc/PID/task/TID/schedstat; or, where the kernel has no
 * schedstat, from utime + stime in clock ticks. Ticks are too coarse to sum
 * over a forking server's children: each of a hundred children may run
 * 7 ms in a second, and each rounds down to 0 ticks of 10 ms.
 */
static double process_cpu_ns(const struct proc_times *pt)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pt->pid);
    DIR *d = opendir(dir);
    double ns = 0.0;
    bool any = false;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[384];
        unsigned long long run_ns;
        snprintf(path, sizeof path, "%s/%s/schedstat", dir, e->d_name);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        if (fscanf(f, "%llu", &run_ns) == 1) {
            ns += (double)run_ns;
            any = true;
        }
        fclose(f);
    }
    if (d != NULL)
        closedir(d);
    if (!any)
        ns = (double)pt->own_ticks * 1e9 / (double)sysconf(_SC_CLK_TCK);
    return ns;
}

/*
 * CPU seconds of the server: its own threads' time, the time of every
 * descendant now alive (a forking server's children, whose time reaches the
 * parent's cutime only once they are reaped), and the time of children it
 * has already reaped (cutime + cstime, in ticks: rare while connections
 * stay open). -1 when the server is gone.
 */
static double server_cpu_seconds(pid_t server)
{
    size_t n = 0;
    struct proc_times *all = read_all_procs(&n);
    if (all == NULL)
        return -1.0;
    bool *in_tree = calloc(n + 1, sizeof *in_tree);
    double ns = 0.0;
    bool found = false;
    for (size_t i = 0; in_tree != NULL && i < n; i++) {
        if (all[i].pid == server) {
            in_tree[i] = found = true;
            ns += (double)all[i].children_ticks * 1e9 / (double)sysconf(_SC_CLK_TCK);
        }
    }
    /* Mark descendants until nothing changes: /proc is not in tree order. */
    for (bool grew = found; grew;) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            if (in_tree[i])
                continue;
            for (size_t j = 0; j < n; j++) {
                if (in_tree[j] && all[j].pid == all[i].ppid) {
                    in_tree[i] = grew = true;
                    break;
                }
            }
        }
    }
    for (size_t i = 0; in_tree != NULL && i < n; i++)
        if (in_tree[i])
            ns += process_cpu_ns(&all[i]);
    free(in_tree);
    free(all);
    if (!found)
        return -1.0;
    return ns / 1e9;
}

/* ---------------------------------------------------------- connections -- */

enum conn_state {
    CONN_CLOSED,     /* not open: churn between cycles, or before the start */
    CONN_CONNECTING, /* connect() in progress */
    CONN_OPEN,       /* connected, exchanging messages */
    CONN_RETRY,      /* churn: failed, reopens at retry_ns */
    CONN_DEAD,       /* pingpong/rate: failed, never reopened */
};

/*
 * One connection slot. Its byte stream is messages 0, 1, 2, ... of S bytes
 * each, in both directions: the send side is at (send_seq, sent_bytes), the
 * receive side at (recv_seq, recv_bytes). Messages below due_seq may be sent
 * now; in pingpong that is one past the last reply, in rate mode whatever
 * the schedule has released.
 */
struct conn {
    int fd;
    uint32_t slot;
    uint32_t generation; /* bumped on every close: tells stale events apart */
    enum conn_state state;
    bool want_out;       /* EPOLLOUT is in its registration */
    uint64_t send_seq;
    size_t sent_bytes;
    uint64_t recv_seq;
    size_t recv_bytes;
    uint64_t due_seq;
    int64_t due_ns;      /* pingpong and churn: when the message in flight began */
    int64_t deadline_ns; /* connecting: connect timeout; retry: when to reopen */
    uint64_t cycles;     /* churn: connections completed, the next one's seq base */
    uint64_t window_replies;
};

/* Everything one run holds. */
struct loadgen {
    const struct options *opt;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int epfd;
    int timerfd;
    struct conn *conns;
    size_t nconns;
    size_t opened;          /* slots [0, opened) have been started */
    unsigned char *scratch; /* IO_CHUNK_BYTES, for every send() and recv() */
    bool tty;

    int64_t start_ns;   /* the load (and the warm-up) begins */
    int64_t measure_ns; /* the measured window begins */
    int64_t end_ns;     /* and ends */
    int64_t window_start_ns, window_end_ns;
    bool measuring;
    bool stopped;
    const char *stopped_early; /* why the run ended before its time, or NULL */

    struct histogram hist;
    uint64_t completed;      /* messages (churn: connections) in the window */
    uint64_t window_bytes;   /* verified echo bytes received in the window */
    uint64_t all_completed;  /* also during warm-up, for the progress line */
    uint64_t errors;         /* in the warm-up too: a bad echo is never fine */
    size_t live;             /* pingpong/rate: slots not dead */
    size_t connecting;       /* slots with a connect() in progress */
    size_t retrying;         /* churn slots waiting to reopen */

    /* rate: the g-th message overall belongs to slot g % C, as its message
     * g / C, and is due at start_ns + g * ns_per_msg. */
    double ns_per_msg;
    uint64_t next_global;
    bool timer_armed;

    int64_t next_housekeeping_ns;
    int64_t next_progress_ns;
    uint64_t progress_last;
    bool progress_shown;

    double cpu_start_s, cpu_end_s;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/*
 * Byte `off` of message `seq` of slot `slot`. Consecutive messages differ
 * in every byte, neighbouring bytes differ, a shift by 256 is caught by the
 * off >> 8 term, and the slot gives each connection its own offset. Cheap
 * enough to generate and check every byte at memory speed.
 */
static unsigned char pattern_byte(uint32_t slot, uint64_t seq, size_t off)
{
    return (unsigned char)(seq + 7u * off + (off >> 8) + 131u * slot + 17u * (slot >> 8));
}

/* The sequence number on the wire: churn numbers a slot's connections. */
static uint64_t wire_seq(const struct loadgen *lg, const struct conn *c, uint64_t seq)
{
    return lg->opt->mode == MODE_CHURN ? c->cycles : seq;
}

static void conn_set_out(struct loadgen *lg, struct conn *c, bool on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0u),
                              .data.u64 = ((uint64_t)c->generation << 32) | c->slot };
    if (epoll_ctl(lg->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = on;
}

static void conn_close(struct loadgen *lg, struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also takes it out of the epoll interest list */
    if (c->state == CONN_CONNECTING)
        lg->connecting--;
    c->fd = -1;
    c->generation++;
    c->want_out = false;
    c->state = CONN_CLOSED;
}

/* Count an error and say what it was (the first few), then close. In
 * pingpong and rate mode the slot is done for; a churn slot tries again. */
__attribute__((format(printf, 3, 4))) static void conn_fail(struct loadgen *lg, struct conn *c,
                                                            const char *fmt, ...)
{
    lg->errors++;
    if (lg->errors <= MAX_ERRORS_SHOWN) {
        char what[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s%s: connection %u: %s\n", lg->progress_shown && lg->tty ? "\n" : "",
                sl_progname(), (unsigned)c->slot, what);
        lg->progress_shown = false;
        if (lg->errors == MAX_ERRORS_SHOWN)
            fprintf(stderr, "%s: (further errors are only counted)\n", sl_progname());
    }
    conn_close(lg, c);
    if (lg->opt->mode == MODE_CHURN) {
        c->state = CONN_RETRY;
        c->deadline_ns = now_ns() + CHURN_RETRY_MS * NS_PER_MS;
        lg->retrying++;
    } else {
        c->state = CONN_DEAD;
        lg->live--;
    }
}

static void conn_flush(struct loadgen *lg, struct conn *c);

/* Connected: start the stream (pingpong and churn: the first message is due). */
static void conn_on_connected(struct loadgen *lg, struct conn *c)
{
    lg->connecting--;
    c->state = CONN_OPEN;
    if (lg->opt->mode != MODE_RATE) {
        c->due_seq = c->recv_seq + 1;
        if (lg->opt->mode == MODE_PINGPONG)
            c->due_ns = now_ns();
    }
    conn_flush(lg, c);
}

/* Start a non-blocking connect; the result comes as EPOLLOUT. */
static void conn_open(struct loadgen *lg, struct conn *c)
{
    c->send_seq = c->recv_seq = 0;
    if (lg->opt->mode != MODE_RATE)
        c->due_seq = 0; /* rate: the schedule may have released some already */
    c->sent_bytes = c->recv_bytes = 0;
    c->due_ns = now_ns();
    c->deadline_ns = c->due_ns + CONNECT_TIMEOUT_MS * NS_PER_MS;
    c->state = CONN_CONNECTING;
    lg->connecting++;
    c->fd = socket(lg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(lg, c, "socket: %s", strerror(errno));
        return;
    }
    /* Small messages must leave at once, not wait for Nagle's algorithm to
     * gather more behind an unacknowledged segment. */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
                              .data.u64 = ((uint64_t)c->generation << 32) | c->slot };
    if (epoll_ctl(lg->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(lg, c, "epoll_ctl ADD: %s", strerror(errno));
        return;
    }
    c->want_out = true;
    int rc;
    do {
        rc = connect(c->fd, (const struct sockaddr *)&lg->addr, lg->addrlen);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0)
        conn_on_connected(lg, c);
    else if (errno != EINPROGRESS)
        conn_fail(lg, c, "connect: %s", strerror(errno));
}

/* EPOLLOUT (or an error) on a connecting socket: did the handshake work? */
static void conn_check_connect(struct loadgen *lg, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0)
        conn_fail(lg, c, "connect: %s", strerror(err));
    else
        conn_on_connected(lg, c);
}

/* Generate, into buf, the due bytes from the send position on. */
static size_t fill_outgoing(const struct loadgen *lg, const struct conn *c, unsigned char *buf,
                            size_t cap)
{
    size_t size = (size_t)lg->opt->size, n = 0, off = c->sent_bytes;
    for (uint64_t seq = c->send_seq; seq < c->due_seq && n < cap; seq++, off = 0) {
        uint64_t ws = wire_seq(lg, c, seq);
        for (; off < size && n < cap; off++)
            buf[n++] = pattern_byte(c->slot, ws, off);
        if (off < size)
            break;
    }
    return n;
}

static void advance_sent(struct loadgen *lg, struct conn *c, size_t n)
{
    size_t size = (size_t)lg->opt->size;
    c->sent_bytes += n;
    c->send_seq += c->sent_bytes / size;
    c->sent_bytes %= size;
}

/* Send what is due, as much as the socket takes; EPOLLOUT only while some
 * of it waits, because an idle socket is always writable. */
static void conn_flush(struct loadgen *lg, struct conn *c)
{
    while (c->send_seq < c->due_seq) {
        size_t n = fill_outgoing(lg, c, lg->scratch, IO_CHUNK_BYTES);
        ssize_t sent = send(c->fd, lg->scratch, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_set_out(lg, c, true);
            return;
        }
        if (sent < 0) {
            conn_fail(lg, c, "send: %s", strerror(errno));
            return;
        }
        advance_sent(lg, c, (size_t)sent);
    }
    conn_set_out(lg, c, false);
}

/* When message seq of slot c was meant to start. */
static int64_t intended_ns(const struct loadgen *lg, const struct conn *c, uint64_t seq)
{
    if (lg->opt->mode != MODE_RATE)
        return c->due_ns;
    double g = (double)seq * (double)lg->nconns + (double)c->slot;
    return lg->start_ns + (int64_t)(g * lg->ns_per_msg);
}

/* Message recv_seq came back whole and right. */
static void conn_on_reply(struct loadgen *lg, struct conn *c, int64_t now)
{
    if (lg->measuring) {
        hist_record(&lg->hist, now - intended_ns(lg, c, c->recv_seq));
        lg->completed++;
        c->window_replies++;
    }
    lg->all_completed++;
    c->recv_seq++;
    c->recv_bytes = 0;
    if (lg->opt->mode == MODE_PINGPONG) {
        c->due_seq = c->recv_seq + 1;
        c->due_ns = now;
        conn_flush(lg, c);
    } else if (lg->opt->mode == MODE_CHURN) {
        conn_close(lg, c);
        c->cycles++;
        conn_open(lg, c);
    }
}

/* Check n received bytes against what was sent; 0, or -1 once c failed. */
static int conn_verify(struct loadgen *lg, struct conn *c, const unsigned char *buf, size_t n,
                       int64_t now)
{
    size_t size = (size_t)lg->opt->size;
    uint64_t sent_total = c->send_seq * size + c->sent_bytes;
    uint64_t recv_total = c->recv_seq * size + c->recv_bytes;
    if (recv_total + n > sent_total) {
        conn_fail(lg, c, "received %llu bytes more than were sent",
                  (unsigned long long)(recv_total + n - sent_total));
        return -1;
    }
    size_t i = 0;
    while (i < n) {
        uint64_t ws = wire_seq(lg, c, c->recv_seq);
        size_t take = n - i < size - c->recv_bytes ? n - i : size - c->recv_bytes;
        for (size_t k = 0; k < take; k++) {
            unsigned char want = pattern_byte(c->slot, ws, c->recv_bytes + k);
            if (buf[i + k] != want) {
                conn_fail(lg, c,
                          "echo of message %llu differs at byte %zu: sent 0x%02x, got 0x%02x",
                          (unsigned long long)c->recv_seq, c->recv_bytes + k, want, buf[i + k]);
                return -1;
            }
        }
        i += take;
        c->recv_bytes += take;
        if (lg->measuring)
            lg->window_bytes += take;
        if (c->recv_bytes < size)
            break;
        uint32_t generation = c->generation;
        conn_on_reply(lg, c, now);
        if (c->generation != generation)
            return -1; /* closed (churn, or a failed send): the rest cannot be ours */
    }
    return 0;
}

static void conn_on_readable(struct loadgen *lg, struct conn *c)
{
    for (int i = 0; i < READS_PER_EVENT && c->state == CONN_OPEN; i++) {
        ssize_t n = recv(c->fd, lg->scratch, IO_CHUNK_BYTES, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            conn_fail(lg, c, "recv: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            conn_fail(lg, c, "the server closed the connection (after %llu replies)",
                      (unsigned long long)c->recv_seq);
            return;
        }
        if (conn_verify(lg, c, lg->scratch, (size_t)n, now_ns()) < 0)
            return;
    }
}

static void conn_on_event(struct loadgen *lg, struct conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            conn_check_connect(lg, c);
        return;
    }
    uint32_t generation = c->generation;
    if (c->state == CONN_OPEN && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        conn_on_readable(lg, c);
    if (c->generation == generation && c->state == CONN_OPEN && (events & EPOLLOUT))
        conn_flush(lg, c);
}

/* ------------------------------------------------------- the rate schedule -- */

static int64_t global_due_ns(const struct loadgen *lg, uint64_t g)
{
    return lg->start_ns + (int64_t)((double)g * lg->ns_per_msg);
}

static void arm_timer(struct loadgen *lg, int64_t at_ns)
{
    struct itimerspec its = { .it_value = { .tv_sec = at_ns / NS_PER_S,
                                            .tv_nsec = at_ns % NS_PER_S } };
    if (timerfd_settime(lg->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        lg->timer_armed = true;
}

/* Release every message whose time has come and send it, then set the
 * timer for the next one. A slot that is still connecting keeps its due
 * messages for when it connects; a dead one's are skipped. */
static void release_due(struct loadgen *lg, int64_t now)
{
    uint64_t limit = lg->next_global + 100000; /* bounded work per wake-up */
    while (lg->next_global < limit && global_due_ns(lg, lg->next_global) <= now) {
        struct conn *c = &lg->conns[lg->next_global % lg->nconns];
        uint64_t seq = lg->next_global / lg->nconns;
        lg->next_global++;
        if (c->state == CONN_DEAD)
            continue;
        c->due_seq = seq + 1;
        if (c->state == CONN_OPEN && !c->want_out)
            conn_flush(lg, c);
    }
    arm_timer(lg, global_due_ns(lg, lg->next_global));
}

static void on_timer(struct loadgen *lg)
{
    uint64_t expirations;
    if (read(lg->timerfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        sl_warn_errno("read timerfd");
    lg->timer_armed = false;
}

/* ---------------------------------------------------------- the main loop -- */

/* Connect timeouts, and churn slots whose pause is over. */
static void housekeeping(struct loadgen *lg, int64_t now)
{
    if (lg->connecting == 0 && lg->retrying == 0)
        return;
    for (size_t i = 0; i < lg->nconns; i++) {
        struct conn *c = &lg->conns[i];
        if (c->state == CONN_CONNECTING && now >= c->deadline_ns) {
            conn_fail(lg, c, "connect: no answer within %d ms", CONNECT_TIMEOUT_MS);
        } else if (c->state == CONN_RETRY && now >= c->deadline_ns) {
            lg->retrying--;
            c->state = CONN_CLOSED;
            c->cycles++; /* a fresh sequence, so a late echo of the old one cannot match */
            conn_open(lg, c);
        }
    }
}

static void show_progress(struct loadgen *lg, int64_t now)
{
    uint64_t done = lg->all_completed - lg->progress_last;
    lg->progress_last = lg->all_completed;
    if (lg->opt->quiet)
        return;
    double t = (double)(now - lg->start_ns) / (double)NS_PER_S;
    fprintf(stderr, "%s%s: %5.1f s %-9s %10llu %s/s  errors %llu%s", lg->tty ? "\r" : "",
            sl_progname(), t, lg->measuring ? "measuring" : "warm-up", (unsigned long long)done,
            lg->opt->mode == MODE_CHURN ? "conns" : "msgs", (unsigned long long)lg->errors,
            lg->tty ? "   " : "\n");
    lg->progress_shown = true;
}

/* Start the measured window: from now on replies count. */
static void start_window(struct loadgen *lg, int64_t now)
{
    lg->measuring = true;
    lg->window_start_ns = now;
    if (lg->opt->server_pid > 0)
        lg->cpu_start_s = server_cpu_seconds(lg->opt->server_pid);
}

static void stop_window(struct loadgen *lg, int64_t now)
{
    lg->stopped = true;
    lg->window_end_ns = lg->measuring ? now : lg->window_start_ns;
    if (lg->measuring && lg->opt->server_pid > 0)
        lg->cpu_end_s = server_cpu_seconds(lg->opt->server_pid);
    lg->measuring = false;
}

/* How long epoll_wait() may sleep: until the next phase change, progress
 * line or housekeeping, whichever comes first (the timerfd covers the rate
 * schedule). Rounded up, so that it never wakes a hair too early and spins. */
static int wait_timeout_ms(const struct loadgen *lg, int64_t now)
{
    int64_t next = lg->measuring ? lg->end_ns : lg->measure_ns;
    if (lg->next_progress_ns < next)
        next = lg->next_progress_ns;
    if ((lg->connecting > 0 || lg->retrying > 0) && lg->next_housekeeping_ns < next)
        next = lg->next_housekeeping_ns;
    if (lg->opened < lg->nconns)
        next = now; /* more to open: only look at what is ready */
    if (next <= now)
        return 0;
    return (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

static void dispatch(struct loadgen *lg, const struct epoll_event *ev)
{
    uint32_t slot = (uint32_t)ev->data.u64;
    uint32_t generation = (uint32_t)(ev->data.u64 >> 32);
    if (slot == TIMER_SLOT) {
        on_timer(lg);
        return;
    }
    struct conn *c = &lg->conns[slot];
    if (c->generation == generation && c->fd >= 0)
        conn_on_event(lg, c, ev->events);
}

/* What happens at a given time: phase changes, the schedule, chores. */
static void on_clock(struct loadgen *lg, int64_t now)
{
    if (!lg->measuring && now >= lg->measure_ns)
        start_window(lg, now);
    if (lg->measuring && now >= lg->end_ns) {
        stop_window(lg, now);
        return;
    }
    if (lg->opt->mode == MODE_RATE && !lg->timer_armed)
        release_due(lg, now);
    if (now >= lg->next_housekeeping_ns) {
        housekeeping(lg, now);
        lg->next_housekeeping_ns = now + HOUSEKEEPING_MS * NS_PER_MS;
    }
    if (now >= lg->next_progress_ns) {
        show_progress(lg, now);
        lg->next_progress_ns += NS_PER_S;
    }
}

static void open_some(struct loadgen *lg)
{
    for (int i = 0; i < OPEN_BATCH && lg->opened < lg->nconns; i++) {
        struct conn *c = &lg->conns[lg->opened++];
        conn_open(lg, c);
    }
}

static void run_loop(struct loadgen *lg)
{
    struct epoll_event events[EPOLL_BATCH];
    while (!lg->stopped) {
        int64_t now = now_ns();
        on_clock(lg, now);
        if (lg->stopped)
            break;
        open_some(lg);
        /* Nothing left that could ever answer: no point waiting it out. */
        if (lg->opt->mode != MODE_CHURN && lg->live == 0) {
            lg->stopped_early = "every connection failed";
            stop_window(lg, now);
            break;
        }
        if (sl_stop_requested()) {
            lg->stopped_early = "interrupted";
            stop_window(lg, now);
            break;
        }
        int n = epoll_wait(lg->epfd, events, EPOLL_BATCH, wait_timeout_ms(lg, now));
        if (n < 0 && errno != EINTR)
            sl_die_errno("epoll_wait");
        for (int i = 0; i < n; i++)
            dispatch(lg, &events[i]);
    }
}

static void setup(struct loadgen *lg, const struct options *o)
{
    memset(lg, 0, sizeof *lg);
    lg->opt = o;
    resolve_loopback(o, &lg->addr, &lg->addrlen);
    ensure_descriptors(o->conns);
    if (sl_ignore_sigpipe() < 0 || sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction");
    lg->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lg->epfd < 0)
        sl_die_errno("epoll_create1");
    lg->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (lg->timerfd < 0)
        sl_die_errno("timerfd_create");
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TIMER_SLOT };
    if (epoll_ctl(lg->epfd, EPOLL_CTL_ADD, lg->timerfd, &ev) < 0)
        sl_die_errno("epoll_ctl ADD timerfd");
    lg->nconns = (size_t)o->conns;
    lg->conns = calloc(lg->nconns, sizeof *lg->conns);
    lg->scratch = malloc(IO_CHUNK_BYTES);
    if (lg->conns == NULL || lg->scratch == NULL)
        sl_die(SL_EXIT_RUNTIME, "out of memory for %zu connections", lg->nconns);
    lg->tty = isatty(STDERR_FILENO) == 1;
    if (o->mode == MODE_RATE)
        lg->ns_per_msg = (double)NS_PER_S / (double)o->rate;
}

/* Start the clock; the loop opens the connections, a batch per turn, so
 * that however long the connects take the run stays within its bound. */
static void start(struct loadgen *lg)
{
    const struct options *o = lg->opt;
    lg->start_ns = now_ns();
    lg->measure_ns = lg->start_ns + (int64_t)(o->warmup_s * (double)NS_PER_S);
    lg->end_ns = lg->measure_ns + (int64_t)(o->duration_s * (double)NS_PER_S);
    lg->next_progress_ns = lg->start_ns + NS_PER_S;
    lg->next_housekeeping_ns = lg->start_ns + HOUSEKEEPING_MS * NS_PER_MS;
    lg->live = lg->nconns;
    for (size_t i = 0; i < lg->nconns; i++) {
        struct conn *c = &lg->conns[i];
        c->fd = -1;
        c->slot = (uint32_t)i;
    }
}

static void teardown(struct loadgen *lg)
{
    for (size_t i = 0; i < lg->nconns; i++)
        if (lg->conns[i].fd >= 0)
            close(lg->conns[i].fd);
    close(lg->timerfd);
    close(lg->epfd);
    free(lg->conns);
    free(lg->scratch);
}

/* ---------------------------------------------------------------- report -- */

struct results {
    double window_s;
    double msgs_per_s;
    double mib_per_s; /* verified echo bytes received per second, MiB = 2^20 bytes */
    double p50_us, p90_us, p99_us, p999_us;
    size_t stalled;   /* open slots (churn: any slot) with no reply in the window */
    size_t open;      /* slots open at the end (churn: all of them) */
    size_t unconnected; /* pingpong/rate: never opened, or still connecting */
    bool has_cpu;
    double cpu_us_per_msg;
};

static void summarize(const struct loadgen *lg, struct results *r)
{
    memset(r, 0, sizeof *r);
    r->window_s = (double)(lg->window_end_ns - lg->window_start_ns) / (double)NS_PER_S;
    if (r->window_s > 0) {
        r->msgs_per_s = (double)lg->completed / r->window_s;
        r->mib_per_s = (double)lg->window_bytes / MIB / r->window_s;
    }
    r->p50_us = hist_quantile_us(&lg->hist, 0.50);
    r->p90_us = hist_quantile_us(&lg->hist, 0.90);
    r->p99_us = hist_quantile_us(&lg->hist, 0.99);
    r->p999_us = hist_quantile_us(&lg->hist, 0.999);
    for (size_t i = 0; i < lg->nconns; i++) {
        const struct conn *c = &lg->conns[i];
        bool counts = lg->opt->mode == MODE_CHURN || c->state == CONN_OPEN;
        r->open += counts;
        r->unconnected += lg->opt->mode != MODE_CHURN &&
                          (c->state == CONN_CLOSED || c->state == CONN_CONNECTING);
        if (counts && c->window_replies == 0)
            r->stalled++;
    }
    if (lg->opt->server_pid > 0 && lg->cpu_start_s >= 0 && lg->cpu_end_s >= 0 &&
        lg->completed > 0) {
        r->has_cpu = true;
        r->cpu_us_per_msg = (lg->cpu_end_s - lg->cpu_start_s) * 1e6 / (double)lg->completed;
    }
}

/* A CSV field: quoted only when it has to be. */
static void print_csv_field(const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s != '\0'; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const struct loadgen *lg, const struct results *r)
{
    const struct options *o = lg->opt;
    bool cpu = o->server_pid > 0;
    if (o->csv_header)
        printf("%s%s\n", CSV_HEADER, cpu ? "," CSV_CPU_COLUMN : "");
    print_csv_field(o->name);
    printf(",%ld,%ld,%.1f,%.3f,%.1f,%.1f,%.1f,%.1f,%llu", o->conns, o->size, r->msgs_per_s,
           r->mib_per_s, r->p50_us, r->p90_us, r->p99_us, r->p999_us,
           (unsigned long long)lg->errors);
    if (cpu && r->has_cpu)
        printf(",%.3f", r->cpu_us_per_msg);
    else if (cpu)
        printf(",nan");
    printf("\n");
}

static void print_text(const struct loadgen *lg, const struct results *r)
{
    const struct options *o = lg->opt;
    bool churn = o->mode == MODE_CHURN;
    printf("loadgen: server %s, mode %s", o->name, mode_name(o->mode));
    if (o->mode == MODE_RATE)
        printf(" at %ld msgs/s", o->rate);
    printf(", %ld connection%s, %ld-byte messages\n", o->conns, o->conns == 1 ? "" : "s",
           o->size);
    printf("  measured     %.2f s after %.2f s of warm-up", r->window_s, o->warmup_s);
    if (lg->stopped_early != NULL)
        printf(" (stopped early: %s)", lg->stopped_early);
    printf("\n");
    if (churn)
        printf("  connections  %llu (%.1f connections/s, reported as msgs_per_s)\n",
               (unsigned long long)lg->completed, r->msgs_per_s);
    else
        printf("  messages     %llu (%.1f msgs/s)\n", (unsigned long long)lg->completed,
               r->msgs_per_s);
    printf("  throughput   %.3f MiB/s of echoed payload received (MiB = 2^20 bytes)\n",
           r->mib_per_s);
    printf("  latency      p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us%s\n", r->p50_us,
           r->p90_us, r->p99_us, r->p999_us,
           churn ? " (connect to verified echo)"
                 : o->mode == MODE_RATE ? " (from the scheduled send time)" : "");
    printf("  errors       %llu\n", (unsigned long long)lg->errors);
    printf("  stalled      %zu of %zu %s got no reply in the measured window\n", r->stalled,
           r->open, churn ? "slots" : "open connections");
    if (r->unconnected > 0)
        printf("  unconnected  %zu slots still connecting, or not yet started, at the end\n",
               r->unconnected);
    if (o->server_pid > 0 && r->has_cpu)
        printf("  server CPU   %.3f us per %s (pid %d and its descendants)\n",
               r->cpu_us_per_msg, churn ? "connection" : "message", (int)o->server_pid);
    else if (o->server_pid > 0)
        printf("  server CPU   unknown (pid %d gone, or nothing completed)\n",
               (int)o->server_pid);
}

int main(int argc, char **argv)
{
    sl_set_progname(argv[0]);
    struct options o;
    parse_options(argc, argv, &o);
    struct loadgen lg;
    setup(&lg, &o);
    start(&lg);
    run_loop(&lg);
    if (lg.progress_shown && lg.tty && !o.quiet)
        fputc('\n', stderr);
    struct results r;
    summarize(&lg, &r);
    if (o.csv)
        print_csv(&lg, &r);
    else
        print_text(&lg, &r);
    fflush(stdout);
    int status = lg.errors == 0 && lg.completed > 0 ? 0 : 1;
    teardown(&lg);
    return status;
}
