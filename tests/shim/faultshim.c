/*
 * faultshim.c: make the rare cases of socket I/O happen, on purpose.
 *
 * On a quiet loopback, recv() nearly always returns whole messages, send()
 * nearly always sends everything, and a signal nearly never lands while a
 * call is blocked. A program that forgets short counts, EINTR or EAGAIN
 * passes every test on a laptop and then fails under load. Preloaded into a
 * program under test (LD_PRELOAD, see ld.so(8)), this library puts itself in
 * front of the C library's socket calls and, on a fixed, seeded schedule,
 * makes some of them come back
 *
 *   - short: a read or write on a stream socket moves fewer bytes than
 *     asked, at least one (the call is made with a smaller length);
 *   - interrupted: -1 with EINTR, and nothing was done;
 *   - not ready: -1 with EAGAIN, and nothing was done; only for a call that
 *     was not allowed to block (O_NONBLOCK or MSG_DONTWAIT).
 *
 * Each of these is something the kernel may do at any time, so a correct
 * program behaves the same with or without the shim, only slower. The shim
 * never does what the kernel would not:
 *
 *   - a datagram is never cut (a datagram socket only gets EINTR and EAGAIN);
 *   - regular files, terminals, eventfds and the like are never touched, and
 *     pipes only with SOCKLAB_FAULT_FDS=all (then a write of PIPE_BUF bytes or
 *     less, atomic by pipe(7), is never cut);
 *   - EAGAIN is never forced on a call that was allowed to block;
 *   - a descriptor registered with EPOLLET (epoll_ctl() is watched) only
 *     gets EINTR: under edge-triggered epoll a made-up EAGAIN, or a made-up
 *     short write, would leave a correct program waiting for an edge that
 *     never comes, since the data is still there.
 *
 * So that every program still makes progress, right after a fault on a
 * descriptor the next call on it in the same direction (reading, accepting
 * or writing) goes through untouched: the shim never faults twice in a row
 * where a retry loop would spin.
 *
 * The schedule: call k of a process gets a fault or not from a hash of
 * (seed, k, the fork path from the first process), so a single-threaded
 * program given the same inputs and seed sees the same faults in every run;
 * a threaded one draws from the same sequence in the order its threads come.
 *
 * The shim allocates nothing (a sanitizer build keeps its own view of the
 * heap) and works in signal handlers too (a self-pipe write from a handler
 * goes through it).
 *
 * Environment:
 *   SOCKLAB_FAULT_SEED   the schedule, an unsigned number (default 1)
 *   SOCKLAB_FAULT_RATE   percent of eligible calls that get a fault, 0 to 100
 *                        (default 30; 0 turns the shim off)
 *   SOCKLAB_FAULT_FDS    "all" to include pipes (default: sockets only)
 *   SOCKLAB_FAULT_LOG    a file that gets one line per fault:
 *                        `PID CALL fd=FD FAULT ASKED->PASSED`
 *   SOCKLAB_CALL_LOG     a file that gets one line per successful epoll_ctl()
 *                        call: `PID epoll_ctl OP fd=FD events=HEX` (OP is ADD,
 *                        MOD or DEL). Not a fault: how a test counts the
 *                        registrations a server changes, without strace.
 *
 * Read: ld.so(8) (LD_PRELOAD), dlsym(3) (RTLD_NEXT), signal(7) (EINTR and
 * restarting), socket(7), recv(2), send(2), pipe(7), epoll(7) (edge- and
 * level-triggered).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* The shim defines read() and friends itself: it needs the plain
 * declarations, not the inline checking versions of -D_FORTIFY_SOURCE. */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------- settings -- */

/* Descriptors below this number can get faults; above it, none, since the
 * shim could not promise that a retry goes through. 1 MiB of zeroes in .bss,
 * of which the kernel backs only the pages a program touches. */
#define TRACKED_FDS (1 << 20)

/* Vector calls with more pieces than this are never cut short (the shortened
 * copy of the iovec array lives on the stack). */
#define MAX_IOV_COPY 64

#define DEFAULT_RATE_PERCENT 30

static struct {
    bool ready; /* the constructor ran: before that, no faults */
    uint64_t seed;
    unsigned rate_percent;
    bool all_fds;
    int log_fd;
    int call_log_fd;
} config = { .seed = 1, .rate_percent = DEFAULT_RATE_PERCENT, .log_fd = -1, .call_log_fd = -1 };

/* The random stream of this process (seed, then one mix per fork), the
 * number of calls drawn from it, and the number of forks this process made. */
static uint64_t stream;
static uint64_t draws;
static uint64_t forks;

/* Per descriptor: a bit per direction set right after a fault there (the next
 * call goes through), and whether it is registered edge-triggered. */
enum {
    DIR_IN = 1,   /* read, recv, accept */
    DIR_OUT = 2,  /* write, send */
    EDGE = 4,     /* in an epoll set with EPOLLET */
};
static unsigned char fd_state[TRACKED_FDS];

/* --------------------------------------------------- the real functions -- */

static struct {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*epoll_ctl)(int, int, int, struct epoll_event *);
    /* What -D_FORTIFY_SOURCE (the default of some distributions) calls when
     * the compiler knows the buffer's size. */
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
    ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
} real;


/* Say why the program cannot go on, then stop it. syscall(2) writes, since
 * write() itself may be what could not be found. */
static void fatal(const char *what, const char *name)
{
    static const char prefix[] = "faultshim: ";
    syscall(SYS_write, 2, prefix, sizeof prefix - 1);
    syscall(SYS_write, 2, what, strlen(what));
    syscall(SYS_write, 2, name, strlen(name));
    syscall(SYS_write, 2, "\n", 1);
    abort();
}

/* dlsym(RTLD_NEXT) finds the next definition after this library: the C
 * library's, or a sanitizer's interceptor, which then calls the C library's. */
static void *next_symbol(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    if (sym == NULL)
        fatal("cannot find the real ", name);
    return sym;
}

/* Resolve one function on first use. The constructor resolves them all, but
 * another library's constructor may call one before it runs. Two threads
 * racing here store the same pointer. */
#define RESOLVE(field, name)                                                                   \
    do {                                                                                       \
        if (real.field == NULL)                                                                \
            real.field = (__typeof__(real.field))next_symbol(name);                            \
    } while (0)

/* ------------------------------------------------------------ schedule -- */

/* splitmix64's finalizer: every bit of x flips about half of the result's. */
static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The next number of this process's stream. One atomic counter, so threads
 * never draw the same number and never need a lock. */
static uint64_t next_random(void)
{
    uint64_t k = __atomic_add_fetch(&draws, 1, __ATOMIC_RELAXED);
    return mix64(stream + k * 0x9e3779b97f4a7c15ull);
}

/* A child of fork() must not replay its parent's schedule: the n-th child
 * of a process gets the parent's stream mixed with n. */
static void before_fork(void)
{
    __atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
}

static void in_child_after_fork(void)
{
    stream = mix64(stream ^ mix64(__atomic_load_n(&forks, __ATOMIC_RELAXED)));
    draws = 0;
    forks = 0;
}

/* ----------------------------------------------------------- the log -- */

static dev_t log_dev, call_log_dev;
static ino_t log_ino, call_log_ino;

/* A log line, built without printf() (not async-signal-safe, and it may
 * allocate). */
struct line {
    char text[192];
    size_t len;
};

static void put_str(struct line *l, const char *s)
{
    while (*s != '\0' && l->len < sizeof l->text)
        l->text[l->len++] = *s++;
}

static void put_num(struct line *l, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && l->len < sizeof l->text)
        l->text[l->len++] = digits[--n];
}

enum fault { FAULT_SHORT, FAULT_EINTR, FAULT_EAGAIN };

/* Append a line to one of the logs. The program may have closed our
 * descriptor and reused its number for a socket: write only if it is still
 * the log file. One write with O_APPEND: lines of several processes never
 * mix. */
static void put_line(int fd, dev_t dev, ino_t ino, const struct line *l)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != dev || st.st_ino != ino)
        return;
    RESOLVE(write, "write");
    (void)!real.write(fd, l->text, l->len);
}

static void put_hex(struct line *l, uint64_t v)
{
    char digits[16];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % 16];
        v /= 16;
    } while (v != 0);
    while (n > 0 && l->len < sizeof l->text)
        l->text[l->len++] = digits[--n];
}

static void log_fault(const char *call, int fd, enum fault f, size_t asked, size_t passed)
{
    if (config.log_fd < 0)
        return;
    static const char *const names[] = { "short", "EINTR", "EAGAIN" };
    struct line l = { .len = 0 };
    put_num(&l, (uint64_t)getpid());
    put_str(&l, " ");
    put_str(&l, call);
    put_str(&l, " fd=");
    put_num(&l, (uint64_t)fd);
    put_str(&l, " ");
    put_str(&l, names[f]);
    put_str(&l, " ");
    put_num(&l, asked);
    put_str(&l, "->");
    put_num(&l, passed);
    put_str(&l, "\n");
    put_line(config.log_fd, log_dev, log_ino, &l);
}

/* One line per successful epoll_ctl() in SOCKLAB_CALL_LOG. */
static void log_epoll_ctl(int op, int fd, const struct epoll_event *event)
{
    if (config.call_log_fd < 0)
        return;
    struct line l = { .len = 0 };
    put_num(&l, (uint64_t)getpid());
    put_str(&l, op == EPOLL_CTL_ADD   ? " epoll_ctl ADD fd="
                : op == EPOLL_CTL_MOD ? " epoll_ctl MOD fd="
                                      : " epoll_ctl DEL fd=");
    put_num(&l, (uint64_t)fd);
    put_str(&l, " events=");
    put_hex(&l, event != NULL ? event->events : 0);
    put_str(&l, "\n");
    put_line(config.call_log_fd, call_log_dev, call_log_ino, &l);
}

/* ----------------------------------------------------------- deciding -- */

enum kind { KIND_NONE, KIND_STREAM_SOCKET, KIND_DATAGRAM_SOCKET, KIND_PIPE };

/* What fd is, asked of the kernel at every call: a program closes and reuses
 * descriptor numbers all the time, so nothing about them can be cached. */
static enum kind kind_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return KIND_NONE;
    if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
            return KIND_NONE;
        /* SOCK_SEQPACKET keeps message boundaries: a datagram for us. */
        return type == SOCK_STREAM ? KIND_STREAM_SOCKET : KIND_DATAGRAM_SOCKET;
    }
    if (S_ISFIFO(st.st_mode) && config.all_fds)
        return KIND_PIPE;
    return KIND_NONE;
}

static bool is_nonblocking(int fd, int flags)
{
    if (flags & MSG_DONTWAIT)
        return true;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* Can the kernel move fewer bytes than asked here? On a stream socket,
 * always; on a pipe, except for a write of up to PIPE_BUF bytes, which is
 * all or nothing; on a datagram socket, never. */
static bool can_shorten(enum kind kind, unsigned dir, const size_t *len)
{
    if (len == NULL || *len < 2)
        return false;
    if (kind == KIND_STREAM_SOCKET)
        return true;
    return kind == KIND_PIPE && (dir == DIR_IN || *len > PIPE_BUF);
}

/*
 * The fate of one call on fd: 0 to make it, perhaps with *len made smaller,
 * or the errno to fail it with. dir is the way it moves bytes; flags its MSG_
 * flags; len the bytes asked for, or NULL when it cannot be cut (accept()).
 * errno is left as it was when the call is to be made.
 */
static int decide(const char *call, int fd, unsigned dir, int flags, size_t *len)
{
    if (!config.ready || config.rate_percent == 0 || fd < 0 || fd >= TRACKED_FDS)
        return 0;
    unsigned char state = __atomic_load_n(&fd_state[fd], __ATOMIC_RELAXED);
    if (state & dir) {
        /* A fault here last time: this call goes through, so a retry loop
         * always gets somewhere. */
        __atomic_and_fetch(&fd_state[fd], (unsigned char)~dir, __ATOMIC_RELAXED);
        return 0;
    }
    int saved_errno = errno;
    enum kind kind = kind_of(fd);
    if (kind == KIND_NONE || next_random() % 100 >= config.rate_percent) {
        errno = saved_errno;
        return 0;
    }

    /* Under EPOLLET only EINTR, which a correct program retries at once: see
     * the top of the file. */
    bool edge = (state & EDGE) != 0;
    enum fault choices[3];
    size_t n = 0;
    choices[n++] = FAULT_EINTR;
    if (!edge && can_shorten(kind, dir, len))
        choices[n++] = FAULT_SHORT;
    if (!edge && is_nonblocking(fd, flags))
        choices[n++] = FAULT_EAGAIN;
    uint64_t r = next_random();
    enum fault f = choices[r % n];

    size_t asked = len != NULL ? *len : 0;
    if (f == FAULT_SHORT)
        *len = 1 + (size_t)(mix64(r) % (*len - 1)); /* 1 .. len-1 */
    __atomic_or_fetch(&fd_state[fd], (unsigned char)dir, __ATOMIC_RELAXED);
    log_fault(call, fd, f, asked, f == FAULT_SHORT ? *len : 0);
    errno = saved_errno;
    switch (f) {
    case FAULT_EINTR: return EINTR;
    case FAULT_EAGAIN: return EAGAIN;
    default: return 0;
    }
}

static ssize_t fail(int err)
{
    errno = err;
    return -1;
}

/* --------------------------------------------------------- vector calls -- */

/* The bytes an iovec array asks for; false if it has too many pieces to cut
 * (or none). */
static bool iov_total(const struct iovec *iov, size_t count, size_t *total)
{
    if (iov == NULL || count == 0 || count > MAX_IOV_COPY)
        return false;
    size_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        if (iov[i].iov_len > SIZE_MAX - sum)
            return false;
        sum += iov[i].iov_len;
    }
    *total = sum;
    return true;
}

/* The first `want` bytes of iov, as a new array in copy; returns its length. */
static size_t cut_iov(const struct iovec *iov, size_t count, size_t want, struct iovec *copy)
{
    size_t n = 0;
    for (size_t i = 0; i < count && want > 0; i++) {
        copy[n] = iov[i];
        if (copy[n].iov_len > want)
            copy[n].iov_len = want;
        want -= copy[n].iov_len;
        n++;
    }
    return n;
}

/* ---------------------------------------------------------- lifecycle -- */

/* An environment variable as a number up to max; fallback if unset or not a
 * number (the shim must not write to the program's standard error). */
static uint64_t env_number(const char *name, uint64_t fallback, uint64_t max)
{
    const char *s = getenv(name);
    if (s == NULL || *s < '0' || *s > '9')
        return fallback;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return fallback;
    if (errno == ERANGE || v > max)
        return max;
    return v;
}

/* Open a log for appending; -1 if it cannot be. */
static int open_log(const char *path, dev_t *dev, ino_t *ino)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -1;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return fd;
}

__attribute__((constructor)) static void shim_start(void)
{
    int saved_errno = errno;
    RESOLVE(read, "read");
    RESOLVE(write, "write");
    RESOLVE(recv, "recv");
    RESOLVE(send, "send");
    RESOLVE(recvfrom, "recvfrom");
    RESOLVE(sendto, "sendto");
    RESOLVE(recvmsg, "recvmsg");
    RESOLVE(sendmsg, "sendmsg");
    RESOLVE(readv, "readv");
    RESOLVE(writev, "writev");
    RESOLVE(accept, "accept");
    RESOLVE(accept4, "accept4");
    RESOLVE(epoll_ctl, "epoll_ctl");

    config.seed = env_number("SOCKLAB_FAULT_SEED", 1, UINT64_MAX);
    config.rate_percent = (unsigned)env_number("SOCKLAB_FAULT_RATE", DEFAULT_RATE_PERCENT, 100);
    const char *fds = getenv("SOCKLAB_FAULT_FDS");
    config.all_fds = fds != NULL && strcmp(fds, "all") == 0;
    const char *log = getenv("SOCKLAB_FAULT_LOG");
    if (log != NULL && *log != '\0')
        config.log_fd = open_log(log, &log_dev, &log_ino);
    const char *call_log = getenv("SOCKLAB_CALL_LOG");
    if (call_log != NULL && *call_log != '\0')
        config.call_log_fd = open_log(call_log, &call_log_dev, &call_log_ino);
    stream = mix64(config.seed);
    pthread_atfork(before_fork, NULL, in_child_after_fork);
    config.ready = true;
    errno = saved_errno;
}

/* ------------------------------------------------------ the wrappers -- */

ssize_t read(int fd, void *buf, size_t len)
{
    RESOLVE(read, "read");
    int err = decide("read", fd, DIR_IN, 0, &len);
    return err != 0 ? fail(err) : real.read(fd, buf, len);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    RESOLVE(write, "write");
    int err = decide("write", fd, DIR_OUT, 0, &len);
    return err != 0 ? fail(err) : real.write(fd, buf, len);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    RESOLVE(recv, "recv");
    int err = decide("recv", fd, DIR_IN, flags, &len);
    return err != 0 ? fail(err) : real.recv(fd, buf, len, flags);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    RESOLVE(send, "send");
    int err = decide("send", fd, DIR_OUT, flags, &len);
    return err != 0 ? fail(err) : real.send(fd, buf, len, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                 socklen_t *fromlen)
{
    RESOLVE(recvfrom, "recvfrom");
    int err = decide("recvfrom", fd, DIR_IN, flags, &len);
    return err != 0 ? fail(err) : real.recvfrom(fd, buf, len, flags, from, fromlen);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
               socklen_t tolen)
{
    RESOLVE(sendto, "sendto");
    int err = decide("sendto", fd, DIR_OUT, flags, &len);
    return err != 0 ? fail(err) : real.sendto(fd, buf, len, flags, to, tolen);
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    RESOLVE(readv, "readv");
    size_t total = 0;
    bool cuttable = iovcnt > 0 && iov_total(iov, (size_t)iovcnt, &total);
    size_t want = total;
    int err = decide("readv", fd, DIR_IN, 0, cuttable ? &want : NULL);
    if (err != 0)
        return fail(err);
    if (want == total)
        return real.readv(fd, iov, iovcnt);
    struct iovec copy[MAX_IOV_COPY];
    return real.readv(fd, copy, (int)cut_iov(iov, (size_t)iovcnt, want, copy));
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    RESOLVE(writev, "writev");
    size_t total = 0;
    bool cuttable = iovcnt > 0 && iov_total(iov, (size_t)iovcnt, &total);
    size_t want = total;
    int err = decide("writev", fd, DIR_OUT, 0, cuttable ? &want : NULL);
    if (err != 0)
        return fail(err);
    if (want == total)
        return real.writev(fd, iov, iovcnt);
    struct iovec copy[MAX_IOV_COPY];
    return real.writev(fd, copy, (int)cut_iov(iov, (size_t)iovcnt, want, copy));
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    RESOLVE(recvmsg, "recvmsg");
    size_t total = 0;
    bool cuttable = msg != NULL && iov_total(msg->msg_iov, msg->msg_iovlen, &total);
    size_t want = total;
    int err = decide("recvmsg", fd, DIR_IN, flags, cuttable ? &want : NULL);
    if (err != 0)
        return fail(err);
    if (want == total)
        return real.recvmsg(fd, msg, flags);
    struct iovec copy[MAX_IOV_COPY];
    struct msghdr cut = *msg;
    cut.msg_iov = copy;
    cut.msg_iovlen = cut_iov(msg->msg_iov, msg->msg_iovlen, want, copy);
    ssize_t n = real.recvmsg(fd, &cut, flags);
    /* What the kernel writes back into the header belongs to the caller. */
    msg->msg_namelen = cut.msg_namelen;
    msg->msg_controllen = cut.msg_controllen;
    msg->msg_flags = cut.msg_flags;
    return n;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    RESOLVE(sendmsg, "sendmsg");
    size_t total = 0;
    bool cuttable = msg != NULL && iov_total(msg->msg_iov, msg->msg_iovlen, &total);
    size_t want = total;
    int err = decide("sendmsg", fd, DIR_OUT, flags, cuttable ? &want : NULL);
    if (err != 0)
        return fail(err);
    if (want == total)
        return real.sendmsg(fd, msg, flags);
    struct iovec copy[MAX_IOV_COPY];
    struct msghdr cut = *msg;
    cut.msg_iov = copy;
    cut.msg_iovlen = cut_iov(msg->msg_iov, msg->msg_iovlen, want, copy);
    return real.sendmsg(fd, &cut, flags);
}

/* accept4's flags are for the new socket; whether the call may block is the
 * listening socket's O_NONBLOCK. */
int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    RESOLVE(accept, "accept");
    int err = decide("accept", fd, DIR_IN, 0, NULL);
    return err != 0 ? (int)fail(err) : real.accept(fd, addr, addrlen);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    RESOLVE(accept4, "accept4");
    int err = decide("accept4", fd, DIR_IN, 0, NULL);
    return err != 0 ? (int)fail(err) : real.accept4(fd, addr, addrlen, flags);
}

/* Not a fault: the shim only notes which descriptors are edge-triggered, and
 * logs the call when asked to. */
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    RESOLVE(epoll_ctl, "epoll_ctl");
    int rc = real.epoll_ctl(epfd, op, fd, event);
    if (rc == 0)
        log_epoll_ctl(op, fd, event);
    if (rc == 0 && fd >= 0 && fd < TRACKED_FDS && event != NULL &&
        (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD)) {
        if (event->events & EPOLLET)
            __atomic_or_fetch(&fd_state[fd], (unsigned char)EDGE, __ATOMIC_RELAXED);
        else
            __atomic_and_fetch(&fd_state[fd], (unsigned char)~EDGE, __ATOMIC_RELAXED);
    }
    return rc;
}

/* The -D_FORTIFY_SOURCE versions. A length past the buffer goes straight to
 * the C library, which reports the overflow and stops the program. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    RESOLVE(read_chk, "__read_chk");
    if (len > buflen)
        return real.read_chk(fd, buf, len, buflen);
    int err = decide("read", fd, DIR_IN, 0, &len);
    return err != 0 ? fail(err) : real.read_chk(fd, buf, len, buflen);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    RESOLVE(recv_chk, "__recv_chk");
    if (len > buflen)
        return real.recv_chk(fd, buf, len, buflen, flags);
    int err = decide("recv", fd, DIR_IN, flags, &len);
    return err != 0 ? fail(err) : real.recv_chk(fd, buf, len, buflen, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen)
{
    RESOLVE(recvfrom_chk, "__recvfrom_chk");
    if (len > buflen)
        return real.recvfrom_chk(fd, buf, len, buflen, flags, from, fromlen);
    int err = decide("recvfrom", fd, DIR_IN, flags, &len);
    return err != 0 ? fail(err) : real.recvfrom_chk(fd, buf, len, buflen, flags, from, fromlen);
}
