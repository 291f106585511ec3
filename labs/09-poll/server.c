/*
 * server.c (lab 09): a single-threaded echo server built on poll().
 *
 * One thread serves every client. It never blocks on any one of them: all
 * sockets are non-blocking, and the thread sleeps in poll(2) until some
 * socket is ready, then does what that socket allows without waiting (accept
 * the clients that are queued, read what has arrived, send what fits) and
 * goes back to poll(). While nobody sends anything it uses no CPU at all,
 * unlike lab 07's busy loop; and unlike select() in lab 08 it has no
 * FD_SETSIZE cap: the array of struct pollfd is as long as there are
 * clients, thousands of them.
 *
 * Echo must not lose bytes when a client reads slowly. What the socket does
 * not take at once waits in the connection's output buffer (struct sl_buf,
 * from lib/), and the server asks poll() for POLLOUT only while something
 * waits: asking when nothing waits would wake it at once, every time, since
 * an idle socket is always writable. Once a client's backlog reaches
 * MAX_BACKLOG_BYTES the server stops reading from it (no POLLIN) until the
 * backlog drains: back-pressure, so a client that sends and never reads
 * costs a bounded amount of memory, and TCP's flow control slows it down.
 *
 * Descriptors are the limit on clients: the server raises its soft limit
 * to the hard one at start. When accept() still fails for want of them
 * (EMFILE, ENFILE), it stops watching the listening socket for a moment,
 * otherwise poll() would report it ready again at once and the loop would
 * spin; new clients wait in the backlog meanwhile.
 *
 * Above the "I/O model" line, and in main(), the code is the same in labs
 * 07, 09 and 10 (but for the TODO markers), so that `diff
 * solutions/09-poll/server.c solutions/10-epoll/server.c` shows only what
 * the I/O model changes.
 *
 * Read: poll(2), accept(2) (accept4, EMFILE), recv(2), send(2) (MSG_DONTWAIT),
 * getrlimit(2), socket(7), tcp(7).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50009)
 */
#include "socklab.h"

#include <poll.h>
#include <time.h>

#define DEFAULT_PORT "50009"
/* The kernel caps this at net.core.somaxconn; many clients connect at once. */
#define BACKLOG 4096
/* One recv() takes at most this much. */
#define READ_BYTES (16 * 1024)
/* Stop reading from a client once this much of its echo waits unsent. */
#define MAX_BACKLOG_BYTES (256 * 1024)
/* After accept() fails for want of descriptors, wait this long to retry. */
#define ACCEPT_PAUSE_MS 100

/* One client. */
struct conn {
    int fd;
    bool eof;          /* it shut down its sending side: close once out drains */
    struct sl_buf out; /* its echo that the socket has not taken yet */
};

/* What to do with a connection after an event. */
enum conn_status { CONN_KEEP, CONN_CLOSE };

static struct conn *conn_new(int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    sl_buf_init(&c->out, MAX_BACKLOG_BYTES + READ_BYTES);
    return c;
}

static void conn_free(struct conn *c)
{
    close(c->fd);
    sl_buf_free(&c->out);
    free(c);
}

/* Whether to read from the client: not after its FIN, and not while its
 * backlog is full (back-pressure). */
static bool conn_wants_read(const struct conn *c)
{
    return !c->eof && sl_buf_len(&c->out) < MAX_BACKLOG_BYTES;
}

/* Whether some of its echo waits for the socket to take it. */
static bool conn_wants_write(const struct conn *c)
{
    return sl_buf_len(&c->out) > 0;
}

/* Done: the client sent FIN and everything has been echoed. */
static enum conn_status conn_status(const struct conn *c)
{
    return c->eof && !conn_wants_write(c) ? CONN_CLOSE : CONN_KEEP;
}

/*
 * Read what the client sent and echo it, until recv() says EAGAIN (nothing
 * more for now), the client's FIN, or a full backlog. Reading until EAGAIN
 * is what edge-triggered epoll needs; it does no harm with the others.
 */
static enum conn_status conn_on_readable(struct conn *c)
{
    char buf[READ_BYTES];
    while (conn_wants_read(c)) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            c->eof = true;
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return CONN_CLOSE; /* ECONNRESET and the like: that client is gone */
        }
        /* Sends what the socket takes now and keeps the rest, in order. */
        if (sl_buf_write(&c->out, c->fd, buf, (size_t)n) < 0)
            return CONN_CLOSE;
    }
    return conn_status(c);
}

/*
 * The socket has room again: send what waits. If that drained a full
 * backlog, read again at once, since with edge-triggered epoll no new event
 * would come for bytes that arrived while reading was paused.
 */
static enum conn_status conn_on_writable(struct conn *c)
{
    bool was_paused = !c->eof && !conn_wants_read(c);
    if (sl_buf_flush(&c->out, c->fd) < 0)
        return CONN_CLOSE;
    if (was_paused && conn_wants_read(c))
        return conn_on_readable(c);
    return conn_status(c);
}

/*
 * Accept one queued client as a non-blocking socket. Returns its
 * descriptor, or -1 with errno: EAGAIN when none is queued, EMFILE or
 * ENFILE when descriptors ran out. A client that gave up before we took it
 * (ECONNABORTED) is skipped.
 */
static int accept_client(int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0 || (errno != EINTR && errno != ECONNABORTED))
            return fd;
        if (errno == EINTR && sl_stop_requested())
            return -1;
    }
}

static bool out_of_descriptors(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* Milliseconds on the monotonic clock, which no one can set back. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long the event loop may sleep: until a paused accept() is due again
 * (ending the pause when it is), or for ever (-1) when none is paused. */
static int accept_pause_left(long long *resume_at)
{
    if (*resume_at == 0)
        return -1;
    long long left = *resume_at - now_ms();
    if (left <= 0) {
        *resume_at = 0;
        return -1;
    }
    return (int)left;
}

/* ------------------------------------------------- the I/O model: poll -- */

/*
 * The poll set: slot 0 is the listening socket, slots 1..count-1 the
 * clients, conns[i] the client of slot i. A closed client's slot is filled
 * with the last one, so the array never has holes.
 */
struct poll_set {
    struct pollfd *fds;
    struct conn **conns;
    size_t count, cap;
};

/* Append a slot watching fd for POLLIN. Returns 0, or -1 when out of memory. */
static int poll_set_add(struct poll_set *set, int fd, struct conn *c)
{
    /* TODO 2: Append a slot for `fd` and its connection `c` (NULL for the
     *   listening socket). When count reaches cap, grow both arrays with
     *   realloc(), doubling (start at 64): no fixed size, no FD_SETSIZE.
     *   The new pollfd watches POLLIN; its revents must start at 0. */
    (void)set;
    (void)fd;
    (void)c;
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: poll_set_add() adds nothing");
}

/* Free the client of slot i (i >= 1) and fill its slot with the last one. */
static void poll_set_remove(struct poll_set *set, size_t i)
{
    /* TODO 2: Free the connection (conn_free() closes its socket), then
     *   move the last slot, pollfd and conn both, into slot i and count one
     *   less. */
    (void)set;
    (void)i;
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: poll_set_remove() "
                            "removes nothing");
}

/* What poll() should watch for a client, from what it wants now. */
static short conn_poll_events(const struct conn *c)
{
    /* TODO 3: POLLIN while the client may be read (conn_wants_read():
     *   not after its FIN, not while its backlog is full), POLLOUT only while
     *   some of its echo waits (conn_wants_write()). An idle socket is always
     *   writable: POLLOUT with nothing to send wakes poll() at once, forever. */
    (void)c;
    sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: no events to watch");
}

/* Accept every queued client. Returns 0, or -1 when descriptors or memory
 * ran out: then stop watching the listening socket for a while. */
static int accept_clients(struct poll_set *set, int listen_fd)
{
    for (;;) {
        int fd = accept_client(listen_fd);
        if (fd < 0) {
            if (out_of_descriptors(errno)) {
                sl_warn_errno("accept (pausing up to %d ms)", ACCEPT_PAUSE_MS);
                return -1;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sl_warn_errno("accept");
            return 0;
        }
        struct conn *c = conn_new(fd);
        if (c == NULL || poll_set_add(set, fd, c) < 0) {
            sl_warn_errno("accept: no memory for a client");
            if (c != NULL)
                conn_free(c);
            else
                close(fd);
            return -1;
        }
    }
}

/*
 * After poll(): serve every client it reported, and close those that are
 * done. Returns how many clients left.
 */
static size_t serve_clients(struct poll_set *set)
{
    size_t left = 0;
    /* TODO 5: Walk the client slots (1..count-1) and skip those whose
     *   revents is 0. POLLIN, POLLHUP or POLLERR: conn_on_readable() (recv()
     *   tells which it was); then, if the client stays, POLLOUT:
     *   conn_on_writable(). CONN_CLOSE: poll_set_remove() and count it in
     *   `left`; otherwise set the slot's events from conn_poll_events().
     *   Walk from the end down, so that a closed slot is filled by one
     *   already served. */
    (void)set;
    (void)conn_on_readable; /* for what poll() reports */
    (void)conn_on_writable;
    (void)conn_poll_events; /* the events to watch next */
    sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: nobody is served");
    return left;
}

static int main_loop(int listen_fd)
{
    struct poll_set set = { 0 };
    if (poll_set_add(&set, listen_fd, NULL) < 0)
        sl_die_errno("poll set");
    /* While descriptors are short, accepting is paused until this time (on
     * the monotonic clock, in ms) or until a client leaves; 0: not paused. */
    long long resume_at = 0;
    while (!sl_stop_requested()) {
        int timeout_ms = accept_pause_left(&resume_at);
        /* TODO 6: Leave the listening socket (slot 0) out of this poll()
         *   while accepting is paused (resume_at != 0): poll() skips a slot
         *   whose fd is negative. Otherwise watch listen_fd. */
        set.fds[0].fd = listen_fd;
        /* TODO 4: Wait with poll(2) on the whole set for at most
         *   timeout_ms (-1: until something is ready). EINTR: go round again
         *   (the loop looks at the stop flag); any other error: warn and
         *   leave the loop. */
        (void)timeout_ms;
        sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: no poll(), nothing to "
                                "wait for");
        bool out_of_fds = false;
        if (set.fds[0].revents & POLLIN)
            out_of_fds = accept_clients(&set, listen_fd) < 0;
        size_t left = serve_clients(&set);
        /* TODO 6: A client left: a descriptor is free again, so end the
         *   pause (resume_at = 0). Otherwise, if accept_clients() ran out of
         *   descriptors, pause: resume_at = now_ms() + ACCEPT_PAUSE_MS. */
        (void)out_of_fds;
        (void)left;
    }
    while (set.count > 1)
        poll_set_remove(&set, set.count - 1);
    free(set.fds);
    free(set.conns);
    return 0;
}

/*
 * The listening socket, in non-blocking mode: with one thread for every
 * client, accept() must never wait for a client that is not there.
 */
static int open_listener(const struct sl_opts *opts)
{
    char err[SL_ERR_BYTES];
    int fd = sl_listen(opts->addr, opts->port, SOCK_STREAM, BACKLOG, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_set_nonblocking(fd, true) < 0)
        sl_die_errno("fcntl O_NONBLOCK");
    return fd;
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");
    /* TODO 1: Raise the soft limit on open files to the hard limit:
     *   a shell often gives 1024, and every client costs a descriptor. Read
     *   sl_raise_nofile() in lib/sl_sock.c (getrlimit(2), then setrlimit(2)
     *   with RLIMIT_NOFILE) and call it, or write those calls here. If it
     *   fails, warn with sl_warn_errno() and go on: fewer clients, no crash. */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: the soft limit on open files "
                            "is still the one inherited");

    int listen_fd = open_listener(&opts);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    int status = main_loop(listen_fd);
    close(listen_fd);
    return status;
}
