/*
 * sl_io.c: reads and writes that finish the job, and the client's relay.
 *
 * read(2) and write(2) may move fewer bytes than asked (a short count) and
 * may be interrupted by a signal before moving any (EINTR). Neither is an
 * error; a program that treats them as one works on a quiet loopback and
 * fails under load. sl_read_full() and sl_write_full() loop until the job is
 * done, like CS:APP's rio_readn and rio_writen.
 *
 * sl_relay() is the loop of a stream client: standard input to the socket,
 * the socket to standard output, both at once, with poll(2). Doing one
 * direction after the other deadlocks: while the client blocks sending its
 * input, the server blocks sending replies that nobody reads, and once both
 * directions' socket buffers are full neither moves again.
 *
 * Read: read(2), write(2), send(2), recv(2), poll(2), shutdown(2), signal(7)
 * (on EINTR), pipe(7).
 */
#include "socklab.h"

#include <poll.h>

/* A signal that interrupts a blocked call after it moved some bytes gives a
 * short count, not EINTR. If it was the stop request (SIGINT or SIGTERM), a
 * server must not block again waiting for a peer that may never move: give
 * up with EINTR, as if the call had been interrupted. */
static bool stop_now(void)
{
    if (!sl_stop_requested())
        return false;
    errno = EINTR;
    return true;
}

ssize_t sl_read_full(int fd, void *buf, size_t len)
{
    char *bytes = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, bytes + done, len - done);
        if (n == 0)
            break; /* end of file: the caller sees the short count */
        if (n < 0 && errno == EINTR && !sl_stop_requested())
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
        if (done < len && stop_now())
            return -1;
    }
    return (ssize_t)done;
}

/* One send() or write(). On a socket, send() with MSG_NOSIGNAL turns a
 * vanished peer into EPIPE instead of a SIGPIPE that kills the process;
 * send() on anything else fails with ENOTSOCK, and from then on this
 * descriptor gets write(). */
static ssize_t write_some(int fd, const char *bytes, size_t len, bool *is_socket)
{
    if (*is_socket) {
        ssize_t n = send(fd, bytes, len, MSG_NOSIGNAL);
        if (n >= 0 || errno != ENOTSOCK)
            return n;
        *is_socket = false;
    }
    return write(fd, bytes, len);
}

ssize_t sl_write_full(int fd, const void *buf, size_t len)
{
    const char *bytes = buf;
    bool is_socket = true;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write_some(fd, bytes + done, len - done, &is_socket);
        if (n < 0 && errno == EINTR && !sl_stop_requested())
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
        if (done < len && stop_now())
            return -1;
    }
    return (ssize_t)done;
}

/* ------------------------------------------------------------- sl_relay -- */

/* Each direction holds at most this much in flight: enough for large reads
 * and writes, small enough that the client's memory stays bounded however
 * much the input is. */
#define RELAY_BUF_BYTES (64 * 1024)

/* Bytes on their way from one descriptor to another: data[start, end)
 * waits to be written. */
struct relay_buf {
    char data[RELAY_BUF_BYTES];
    size_t start;
    size_t end;
};

struct relay {
    int in_fd;
    int sock;
    int out_fd;
    bool input_open;  /* in_fd has not reached end of file */
    bool server_open; /* the server has not closed its side */
    bool sent_fin;    /* all input is sent and the sending side is shut down */
    struct relay_buf to_sock;
    struct relay_buf to_out;
    char *err;
    size_t errlen;
};

static size_t buf_pending(const struct relay_buf *b)
{
    return b->end - b->start;
}

/* Free room at the tail of b. Moving the pending bytes to the front only when
 * the tail is full keeps the copying rare. */
static size_t buf_room(struct relay_buf *b)
{
    if (b->start == b->end) {
        b->start = 0;
        b->end = 0;
    } else if (b->end == sizeof b->data && b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    return sizeof b->data - b->end;
}

static int relay_fail(struct relay *r, int errnum, const char *call)
{
    sl_set_err(r->err, r->errlen, errnum, "%s", call);
    return -1;
}

/* A call that did not move bytes but did not fail either: interrupted, or
 * not ready after all. poll() will say when to try again. */
static bool is_transient(int errnum)
{
    return errnum == EINTR || errnum == EAGAIN || errnum == EWOULDBLOCK;
}

static int relay_read_input(struct relay *r)
{
    struct relay_buf *b = &r->to_sock;
    size_t room = buf_room(b);
    if (room == 0)
        return 0;
    ssize_t n = read(r->in_fd, b->data + b->end, room);
    if (n < 0)
        return is_transient(errno) ? 0 : relay_fail(r, errno, "read");
    if (n == 0)
        r->input_open = false;
    b->end += (size_t)n;
    return 0;
}

static int relay_send(struct relay *r)
{
    struct relay_buf *b = &r->to_sock;
    /* MSG_DONTWAIT: send only what fits now. A blocking send of more than
     * fits would wait for the server to read, while the server waits for
     * us to read its replies. */
    ssize_t n = send(r->sock, b->data + b->start, buf_pending(b), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        return is_transient(errno) ? 0 : relay_fail(r, errno, "send");
    b->start += (size_t)n;
    return 0;
}

static int relay_recv(struct relay *r)
{
    struct relay_buf *b = &r->to_out;
    size_t room = buf_room(b);
    if (room == 0)
        return 0;
    ssize_t n = recv(r->sock, b->data + b->end, room, MSG_DONTWAIT);
    if (n < 0)
        return is_transient(errno) ? 0 : relay_fail(r, errno, "recv");
    if (n == 0)
        r->server_open = false;
    b->end += (size_t)n;
    return 0;
}

/* One write() to the output, however much it takes: a short count just
 * leaves the rest for the next round. */
static int relay_write_output(struct relay *r)
{
    struct relay_buf *b = &r->to_out;
    ssize_t n = write(r->out_fd, b->data + b->start, buf_pending(b));
    if (n < 0)
        return is_transient(errno) ? 0 : relay_fail(r, errno, "write");
    b->start += (size_t)n;
    return 0;
}

/* Which descriptors to wait for and for what. A descriptor with nothing to
 * wait for gets fd -1, which poll() skips; left in with no events, a closed
 * pipe would still report POLLHUP at once and the loop would spin. */
static void relay_poll_set(struct relay *r, struct pollfd pfd[3])
{
    short sock_events = 0;
    if (r->server_open && buf_room(&r->to_out) > 0)
        sock_events |= POLLIN;
    if (r->server_open && buf_pending(&r->to_sock) > 0)
        sock_events |= POLLOUT;
    bool want_input = r->input_open && r->server_open && buf_room(&r->to_sock) > 0;
    bool want_output = buf_pending(&r->to_out) > 0;

    pfd[0] = (struct pollfd){.fd = want_input ? r->in_fd : -1, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = sock_events != 0 ? r->sock : -1, .events = sock_events};
    pfd[2] = (struct pollfd){.fd = want_output ? r->out_fd : -1, .events = POLLOUT};
}

/* POLLERR and POLLHUP come whether asked for or not; the next call on the
 * descriptor then returns the error or the end of file. */
static bool ready(const struct pollfd *p, short events)
{
    return p->fd >= 0 && (p->events & events) && (p->revents & (events | POLLERR | POLLHUP));
}

static int relay_step(struct relay *r, const struct pollfd pfd[3])
{
    for (int i = 0; i < 3; i++) {
        if (pfd[i].fd >= 0 && (pfd[i].revents & POLLNVAL))
            return relay_fail(r, EBADF, "poll");
    }
    /* Writes first: they free room for the reads that follow. */
    if (ready(&pfd[2], POLLOUT) && relay_write_output(r) < 0)
        return -1;
    if (ready(&pfd[1], POLLOUT) && relay_send(r) < 0)
        return -1;
    if (ready(&pfd[1], POLLIN) && relay_recv(r) < 0)
        return -1;
    if (ready(&pfd[0], POLLIN) && relay_read_input(r) < 0)
        return -1;
    return 0;
}

static int relay_loop(struct relay *r)
{
    for (;;) {
        /* Half-close once every input byte is on its way: the server sees
         * the end of the stream, and can still answer all of it. */
        if (!r->input_open && buf_pending(&r->to_sock) == 0 && !r->sent_fin) {
            if (shutdown(r->sock, SHUT_WR) < 0)
                return relay_fail(r, errno, "shutdown");
            r->sent_fin = true;
        }
        /* The server is gone and all it sent is written out. */
        if (!r->server_open && buf_pending(&r->to_out) == 0) {
            if (r->sent_fin)
                return 0;
            sl_set_err(r->err, r->errlen, 0,
                       "server closed the connection before the input ended");
            return -1;
        }

        struct pollfd pfd[3];
        relay_poll_set(r, pfd);
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return relay_fail(r, errno, "poll");
        }
        if (relay_step(r, pfd) < 0)
            return -1;
    }
}

int sl_relay(int in_fd, int sock, int out_fd, char *err, size_t errlen)
{
    /* On the heap: 128 KiB of buffers is too much for a small thread stack. */
    struct relay *r = calloc(1, sizeof *r);
    if (r == NULL) {
        sl_set_err(err, errlen, errno, "sl_relay");
        return -1;
    }
    r->in_fd = in_fd;
    r->sock = sock;
    r->out_fd = out_fd;
    r->input_open = true;
    r->server_open = true;
    r->err = err;
    r->errlen = errlen;

    int rc = relay_loop(r);
    int saved_errno = errno;
    free(r);
    errno = saved_errno;
    return rc;
}
