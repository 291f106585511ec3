/*
 * sl_sock.c: opening listening and connected sockets, descriptor flags.
 *
 * sl_listen() is the sequence lab 01 writes out by hand: getaddrinfo(),
 * then for each address socket(), setsockopt(), bind() and listen() until
 * one works. sl_connect() is the client's half: socket() and connect() for
 * each address until one answers. Both report failures into the caller's
 * buffer, naming the call and the address (`bind 127.0.0.1:50006: Address
 * already in use`), and never exit.
 *
 * Every descriptor is opened close-on-exec (SOCK_CLOEXEC), so a server that
 * runs another program does not hand it its sockets by accident.
 *
 * Read: socket(2), bind(2), listen(2), connect(2), setsockopt(2), socket(7),
 * ipv6(7), fcntl(2), sigaction(2).
 */
#include "socklab.h"

#include <limits.h>
#include <poll.h>
#include <sys/resource.h>

/* Set the options a listening socket needs before bind(). */
static const char *prepare_listener(int fd, int family, int socktype)
{
    int one = 1;
    /* Without SO_REUSEADDR a restarted server cannot bind its port while
     * connections of the previous run sit in TIME_WAIT. Only for TCP: on a
     * UDP socket it would let a second server bind the same port. */
    if (socktype == SOCK_STREAM &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return "setsockopt SO_REUSEADDR";
    /* An IPv6 socket on Linux also takes IPv4 traffic for the same port
     * unless told otherwise; V6ONLY makes [::1] and 127.0.0.1 separate
     * endpoints, as they are on every other system. */
    if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        return "setsockopt IPV6_V6ONLY";
    return NULL;
}

/* One attempt of sl_listen(): a socket bound (and listening) on ai's
 * address, or -1 with the reason in err. */
static int open_listener(const struct addrinfo *ai, int backlog, char *err, size_t errlen)
{
    char addr[SL_ADDR_BYTES];
    sl_addr_format(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr);

    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        sl_set_err(err, errlen, errno, "socket %s", addr);
        return -1;
    }

    const char *failed = prepare_listener(fd, ai->ai_family, ai->ai_socktype);
    if (failed == NULL && bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        failed = "bind";
    if (failed == NULL && ai->ai_socktype == SOCK_STREAM && listen(fd, backlog) < 0)
        failed = "listen";
    if (failed == NULL)
        return fd;

    int saved_errno = errno;
    sl_set_err(err, errlen, saved_errno, "%s %s", failed, addr);
    close(fd);
    errno = saved_errno;
    return -1;
}

int sl_listen(const char *host, const char *port, int socktype, int backlog, char *err,
              size_t errlen)
{
    struct addrinfo *list;
    if (sl_resolve(host, port, socktype, true, &list, err, errlen) < 0)
        return -1;

    int fd = -1;
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = open_listener(ai, backlog, err, errlen);

    int saved_errno = errno;
    freeaddrinfo(list);
    errno = saved_errno;
    return fd;
}

/* After connect() was interrupted by a signal the kernel goes on with the
 * handshake in the background, and calling connect() again would fail with
 * EALREADY. Wait until the socket is writable instead, then ask it how the
 * handshake ended. */
static int finish_interrupted_connect(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n;
    do {
        n = poll(&pfd, 1, -1);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;

    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
        return -1;
    if (so_error != 0) {
        errno = so_error;
        return -1;
    }
    return 0;
}

/* One attempt of sl_connect(): a socket connected to ai's address, or -1
 * with the reason in err. */
static int open_connected(const struct addrinfo *ai, char *err, size_t errlen)
{
    char addr[SL_ADDR_BYTES];
    sl_addr_format(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr);

    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        sl_set_err(err, errlen, errno, "socket %s", addr);
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno == EINTR && finish_interrupted_connect(fd) == 0)
        return fd;

    int saved_errno = errno;
    sl_set_err(err, errlen, saved_errno, "connect %s", addr);
    close(fd);
    errno = saved_errno;
    return -1;
}

int sl_connect(const char *host, const char *port, int socktype, char *err, size_t errlen)
{
    struct addrinfo *list;
    if (sl_resolve(host, port, socktype, false, &list, err, errlen) < 0)
        return -1;

    /* A name such as localhost may resolve to ::1 and 127.0.0.1; the server
     * may listen on only one of them. */
    int fd = -1;
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = open_connected(ai, err, errlen);

    int saved_errno = errno;
    freeaddrinfo(list);
    errno = saved_errno;
    return fd;
}

int sl_set_nonblocking(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    int wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    if (wanted == flags)
        return 0;
    return fcntl(fd, F_SETFL, wanted) < 0 ? -1 : 0;
}

int sl_set_cloexec(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return -1;
    int wanted = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
    if (wanted == flags)
        return 0;
    return fcntl(fd, F_SETFD, wanted) < 0 ? -1 : 0;
}

long sl_raise_nofile(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
        return -1;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
            return -1;
    }
    /* RLIM_INFINITY does not fit a long's range on every ABI; say so plainly. */
    return lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX
                                                                            : (long)lim.rlim_cur;
}

int sl_ignore_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGPIPE, &sa, NULL);
}
