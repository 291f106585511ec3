/*
 * net.c: the autograder's side of a conversation, with a deadline on every
 * call.
 *
 * A student's server may never answer, answer forever, or reset. So every
 * helper here waits with poll(2) against a deadline, sends with MSG_NOSIGNAL
 * (a vanished server gives EPIPE, not a dead autograder) and reports how far
 * it got instead of failing by itself: the test decides what to say.
 */
#include "harness.h"
#include "harness_internal.h"

#include <poll.h>
#include <sys/resource.h>
#include <time.h>

long long hn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long now_ms(void)
{
    return (long)hn_now_ms();
}

long hn_set_nofile(long soft)
{
    struct rlimit rl;
    if (soft < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    rlim_t want = (rlim_t)soft;
    if (want > rl.rlim_max) {
        struct rlimit more = { want, want };
        if (setrlimit(RLIMIT_NOFILE, &more) == 0)
            return soft;
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    return (long)want;
}

/* Wait for events on fd until the deadline; the revents, 0 on timeout. */
static short wait_fd(int fd, short events, long deadline)
{
    for (;;) {
        long left = deadline - now_ms();
        if (left < 0)
            left = 0;
        struct pollfd pfd = { fd, events, 0 };
        int r = poll(&pfd, 1, (int)left);
        if (r > 0)
            return pfd.revents;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return POLLERR;
    }
}

int hn_connect(const char *addr, int port, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!(wait_fd(fd, POLLOUT, now_ms() + timeout_ms) & (POLLOUT | POLLERR | POLLHUP))) {
        close(fd);
        errno = ETIMEDOUT;
        return -1;
    }
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) {
        close(fd);
        errno = err;
        return -1;
    }
    sl_set_nonblocking(fd, false);
    return fd;
}

int hn_connect_or_fail(struct hn_proc *server)
{
    int fd = hn_connect(hn_proc_addr(server), hn_port(server), hn_ms(3000));
    if (fd < 0)
        hn_fail("Could not connect to the server at %s port %d: %s.\n"
                "It printed its ready line, so it should have been listening by then.",
                hn_proc_addr(server), hn_port(server), strerror(errno));
    return fd;
}

size_t hn_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    const char *p = buf;
    size_t done = 0;
    long deadline = now_ms() + timeout_ms;
    while (done < len) {
        ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return done;
        if (!wait_fd(fd, POLLOUT, deadline)) {
            errno = ETIMEDOUT;
            return done;
        }
    }
    return done;
}

/* How the last read of hn_recv_exact() or hn_transfer() ended, for the
 * failure message that follows it. */
static struct hn_last_read g_last_read;

const struct hn_last_read *hn_last_read(void) { return &g_last_read; }

size_t hn_recv_exact(int fd, void *buf, size_t len, int timeout_ms)
{
    char *p = buf;
    size_t done = 0;
    long deadline = now_ms() + timeout_ms;
    errno = 0;
    while (done < len) {
        ssize_t n = recv(fd, p + done, len - done, MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n == 0) {
            errno = 0;
            g_last_read = (struct hn_last_read){ 0, true };
            return done;
        }
        if (errno != EAGAIN && errno != EINTR)
            return done;
        if (!wait_fd(fd, POLLIN, deadline)) {
            errno = ETIMEDOUT;
            g_last_read = (struct hn_last_read){ timeout_ms, false };
            return done;
        }
    }
    g_last_read = (struct hn_last_read){ 0, false };
    return done;
}

ssize_t hn_recv_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    size_t len = 0;
    /* One byte at a time: slow, but never reads past the line, so the next
     * call sees exactly what the server sent next. */
    for (;;) {
        if (len + 1 >= cap) {
            buf[len] = '\0';
            errno = EMSGSIZE;
            return -1;
        }
        long left = deadline - now_ms();
        size_t n = hn_recv_exact(fd, buf + len, 1, left > 0 ? (int)left : 0);
        if (n == 0) {
            buf[len] = '\0';
            return -1;
        }
        if (buf[len] == '\n') {
            buf[len] = '\0';
            return (ssize_t)len;
        }
        len++;
    }
}

bool hn_expect_eof(int fd, int timeout_ms, size_t *extra)
{
    long deadline = now_ms() + timeout_ms;
    size_t junk = 0;
    bool closed = false;
    for (;;) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            junk += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            closed = true;
            break;
        }
        if (!wait_fd(fd, POLLIN, deadline))
            break;
    }
    if (extra)
        *extra = junk;
    return closed && junk == 0;
}

void hn_close_reset(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

void hn_pattern(void *buf, size_t len, uint32_t seed)
{
    /* xorshift32: every byte value appears, and runs never repeat early. */
    uint32_t x = seed ? seed : 0x9e3779b9u;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)(x >> 24);
    }
}

char *hn_temp_path(const char *name)
{
    static int counter;
    const struct hn_test *t = hn_current();
    char *path = malloc(512);
    snprintf(path, 512, "%s/%s-%d-%d-%s", hn_tmpdir(), t ? t->name : "x", (int)getpid(),
             counter++, name);
    return path;
}

char *hn_pattern_file(size_t len, uint32_t seed)
{
    char *path = hn_temp_path("pattern");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        hn_fail("harness: cannot create %s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    /* Each chunk gets its own seed, so that a shifted copy never matches. */
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        hn_pattern(buf, n, seed + (uint32_t)(off / CHUNK) * 2654435761u);
        if (sl_write_full(fd, buf, n) < 0)
            hn_fail("harness: cannot write %s: %s", path, strerror(errno));
    }
    free(buf);
    close(fd);
    return path;
}

size_t hn_transfer(int fd, const void *out, size_t outlen, void *in, size_t inlen,
                   const struct hn_transfer_opts *opts)
{
    static const struct hn_transfer_opts defaults = { 10000, 0, false };
    if (!opts)
        opts = &defaults;
    long start = now_ms();
    long deadline = start + opts->timeout_ms;
    long read_from = start + opts->read_pause_ms;
    const char *o = out;
    char *i = in;
    size_t sent = 0, got = 0;
    bool shut = false;
    g_last_read = (struct hn_last_read){ 0, false };
    /* A peer that has stopped moving for this long will not move again:
     * give up early rather than wait out the whole deadline. */
    long idle_ms = hn_ms(HN_IDLE_MS);
    long last_progress = start;
    errno = 0;
    while (got < inlen) {
        if (sent == outlen && opts->shut_wr && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        long now = now_ms();
        if (now >= deadline || (now >= read_from && now - last_progress > idle_ms &&
                                now - read_from > idle_ms)) {
            g_last_read = (struct hn_last_read){ (int)(now - last_progress), false };
            errno = ETIMEDOUT;
            break;
        }
        bool reading = now >= read_from;
        struct pollfd pfd = { fd, (short)((sent < outlen ? POLLOUT : 0) | (reading ? POLLIN : 0)),
                              0 };
        long wait = deadline - now;
        if (!reading && read_from - now < wait)
            wait = read_from - now;
        if (wait > 100)
            wait = 100; /* wake up to check for an idle peer */
        int r = poll(&pfd, 1, (int)wait);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (pfd.revents & POLLOUT) {
            size_t chunk = outlen - sent < 65536 ? outlen - sent : 65536;
            ssize_t n = send(fd, o + sent, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                sent += (size_t)n;
                last_progress = now_ms();
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            }
        }
        if (reading && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = recv(fd, i + got, inlen - got, MSG_DONTWAIT);
            if (n > 0) {
                got += (size_t)n;
                last_progress = now_ms();
            } else if (n == 0) {
                g_last_read = (struct hn_last_read){ 0, true };
                errno = 0;
                break;
            } else if (errno != EAGAIN && errno != EINTR) {
                break;
            }
        }
    }
    if (sent == outlen && opts->shut_wr && !shut)
        shutdown(fd, SHUT_WR);
    return got;
}
