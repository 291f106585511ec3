/*
 * faultshim.c: make the rare cases of socket I/O happen, on purpose.
 *
 * On a quiet loopback, recv() nearly always returns whole messages, send()
 * nearly always sends everything, and signals nearly never interrupt a call.
 * A program that forgets short counts, EINTR or EAGAIN passes every test and
 * then fails in the field. Preloaded into a program under test
 * (LD_PRELOAD, see ld.so(8)), this library wraps the socket calls and, on a
 * fixed, seeded schedule, makes some of them:
 *
 *   - short: a read or write on a stream socket moves fewer bytes than asked
 *     (at least one);
 *   - interrupted: the call fails with EINTR before doing anything;
 *   - not ready: on a non-blocking call, it fails with EAGAIN.
 *
 * Each is something the kernel may do at any time, so a correct program
 * passes with or without the shim. Datagram sockets are never shortened (a
 * datagram cannot be sent or received in pieces), regular files and
 * terminals are never touched, and EAGAIN is never forced on a call that was
 * allowed to block. Right after a fault on a descriptor, the next call on it
 * goes through untouched, so every program still makes progress.
 *
 * Environment:
 *   SOCKLAB_FAULT_SEED   the schedule (default 1): the same seed, the same faults
 *   SOCKLAB_FAULT_RATE   percent of eligible calls that get a fault (default 30)
 *   SOCKLAB_FAULT_FDS    "all" to include pipes (default: sockets only)
 *   SOCKLAB_FAULT_LOG    a file to which each fault is appended as one line
 *
 * Read: ld.so(8) (LD_PRELOAD), dlsym(3) (RTLD_NEXT), signal(7) (EINTR),
 * socket(7), recv(2), send(2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

enum fault { NO_FAULT, SHORT_COUNT, INTERRUPTED, NOT_READY };

/* Descriptors below this number remember whether their last call had a fault. */
#define TRACKED_FDS 65536

static uint64_t g_seed = 1;
static unsigned g_rate = 30;
static bool g_all_fds;
static int g_log_fd = -1;
static uint64_t g_calls;                          /* atomic counter: the schedule */
static unsigned char g_just_faulted[TRACKED_FDS]; /* 1 after a fault on that fd */

__attribute__((constructor)) static void shim_init(void)
{
    const char *s = getenv("SOCKLAB_FAULT_SEED");
    if (s && *s)
        g_seed = strtoull(s, NULL, 10);
    s = getenv("SOCKLAB_FAULT_RATE");
    if (s && *s)
        g_rate = (unsigned)atoi(s) > 100 ? 100 : (unsigned)atoi(s);
    s = getenv("SOCKLAB_FAULT_FDS");
    g_all_fds = s && strcmp(s, "all") == 0;
    s = getenv("SOCKLAB_FAULT_LOG");
    if (s && *s)
        g_log_fd = open(s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* splitmix64: a good 64-bit mix of (seed, call number, pid), so that the
 * schedule is fixed by the seed and differs between processes. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t next_random(void)
{
    uint64_t n = __atomic_add_fetch(&g_calls, 1, __ATOMIC_RELAXED);
    return mix(g_seed ^ mix(n) ^ ((uint64_t)getpid() << 32));
}

/* What kind of descriptor: 's' stream socket, 'd' datagram, 'p' pipe, 0 other. */
static char kind_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return 0;
    if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
            return 0;
        return type == SOCK_STREAM ? 's' : 'd';
    }
    if (S_ISFIFO(st.st_mode) && g_all_fds)
        return 'p';
    return 0;
}

static void log_fault(const char *call, int fd, enum fault f, size_t from, size_t to)
{
    if (g_log_fd < 0)
        return;
    static const char *names[] = { "none", "short", "EINTR", "EAGAIN" };
    char line[128];
    int n = snprintf(line, sizeof line, "%d %s fd=%d %s %zu->%zu\n", (int)getpid(), call, fd,
                     names[f], from, to);
    if (n > 0 && write(g_log_fd, line, (size_t)n) < 0)
        g_log_fd = -1;
}

/*
 * Decide the fault for one call. len is the byte count asked for (shortened
 * in place for SHORT_COUNT); nonblocking says EAGAIN is a possible answer.
 */
static enum fault choose(const char *call, int fd, size_t *len, bool nonblocking)
{
    if (fd < 0 || g_rate == 0)
        return NO_FAULT;
    char kind = kind_of(fd);
    if (!kind)
        return NO_FAULT;
    if (fd < TRACKED_FDS && g_just_faulted[fd]) {
        g_just_faulted[fd] = 0;
        return NO_FAULT;
    }
    uint64_t r = next_random();
    if (r % 100 >= g_rate)
        return NO_FAULT;
    enum fault f;
    switch ((r >> 8) % 3) {
    case 0: f = (kind != 'd' && len && *len > 1) ? SHORT_COUNT : INTERRUPTED; break;
    case 1: f = INTERRUPTED; break;
    default: f = nonblocking ? NOT_READY : INTERRUPTED; break;
    }
    size_t asked = len ? *len : 0;
    if (f == SHORT_COUNT)
        *len = 1 + (size_t)((r >> 16) % (*len - 1));
    if (fd < TRACKED_FDS)
        g_just_faulted[fd] = 1;
    log_fault(call, fd, f, asked, len ? *len : 0);
    return f;
}

static bool is_nonblocking(int fd, int flags)
{
    if (flags & MSG_DONTWAIT)
        return true;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* Fail the call as the fault says; returns -1, or 0 if there is no failure. */
static int fail_as(enum fault f)
{
    if (f == INTERRUPTED) {
        errno = EINTR;
        return -1;
    }
    if (f == NOT_READY) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t read(int fd, void *buf, size_t len)
{
    static __typeof__(&read) real;
    if (!real)
        real = REAL(read);
    enum fault f = choose("read", fd, &len, is_nonblocking(fd, 0));
    if (fail_as(f))
        return -1;
    return real(fd, buf, len);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    static __typeof__(&write) real;
    if (!real)
        real = REAL(write);
    enum fault f = choose("write", fd, &len, is_nonblocking(fd, 0));
    if (fail_as(f))
        return -1;
    return real(fd, buf, len);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    static __typeof__(&recv) real;
    if (!real)
        real = REAL(recv);
    enum fault f = choose("recv", fd, &len, is_nonblocking(fd, flags));
    if (fail_as(f))
        return -1;
    return real(fd, buf, len, flags);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    static __typeof__(&send) real;
    if (!real)
        real = REAL(send);
    enum fault f = choose("send", fd, &len, is_nonblocking(fd, flags));
    if (fail_as(f))
        return -1;
    return real(fd, buf, len, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                 socklen_t *fromlen)
{
    static __typeof__(&recvfrom) real;
    if (!real)
        real = REAL(recvfrom);
    enum fault f = choose("recvfrom", fd, &len, is_nonblocking(fd, flags));
    if (fail_as(f))
        return -1;
    return real(fd, buf, len, flags, from, fromlen);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
               socklen_t tolen)
{
    static __typeof__(&sendto) real;
    if (!real)
        real = REAL(sendto);
    enum fault f = choose("sendto", fd, &len, is_nonblocking(fd, flags));
    if (fail_as(f))
        return -1;
    return real(fd, buf, len, flags, to, tolen);
}

/* The vector calls are only interrupted or refused, never shortened: a
 * short count there is the same lesson, and this keeps the iovecs intact. */
ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    static __typeof__(&readv) real;
    if (!real)
        real = REAL(readv);
    if (fail_as(choose("readv", fd, NULL, is_nonblocking(fd, 0))))
        return -1;
    return real(fd, iov, iovcnt);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    static __typeof__(&writev) real;
    if (!real)
        real = REAL(writev);
    if (fail_as(choose("writev", fd, NULL, is_nonblocking(fd, 0))))
        return -1;
    return real(fd, iov, iovcnt);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    static __typeof__(&recvmsg) real;
    if (!real)
        real = REAL(recvmsg);
    if (fail_as(choose("recvmsg", fd, NULL, is_nonblocking(fd, flags))))
        return -1;
    return real(fd, msg, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    static __typeof__(&sendmsg) real;
    if (!real)
        real = REAL(sendmsg);
    if (fail_as(choose("sendmsg", fd, NULL, is_nonblocking(fd, flags))))
        return -1;
    return real(fd, msg, flags);
}

int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    static __typeof__(&accept) real;
    if (!real)
        real = REAL(accept);
    if (fail_as(choose("accept", fd, NULL, is_nonblocking(fd, 0))))
        return -1;
    return real(fd, addr, addrlen);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    static __typeof__(&accept4) real;
    if (!real)
        real = REAL(accept4);
    if (fail_as(choose("accept4", fd, NULL, is_nonblocking(fd, 0))))
        return -1;
    return real(fd, addr, addrlen, flags);
}
