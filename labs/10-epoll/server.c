/*
 * server.c (lab 10): a single-threaded echo server built on epoll.
 *
 * The same server as lab 09, with poll() replaced by epoll(7). poll() hands
 * the kernel the whole list of sockets on every call and the kernel checks
 * every one, so each wake-up costs O(clients) even when one socket is ready.
 * epoll keeps the list in the kernel: the server registers each socket once
 * (epoll_ctl), the kernel itself puts a socket on a ready list when its
 * state changes, and epoll_wait() returns only the ready ones. With 10000
 * mostly idle clients, a wake-up costs what the few active ones cost.
 *
 * Each registration carries a pointer (epoll_event.data.ptr) that epoll
 * gives back with every event: here the client's own state, so an event
 * leads straight to its connection with no search. The listening socket
 * carries NULL.
 *
 * Two ways to be told. Level-triggered (the default) is poll()'s meaning:
 * "this socket is readable now", repeated on every epoll_wait() for as long
 * as it stays true. Edge-triggered (-e, EPOLLET on the client sockets):
 * "this socket has become readable", said once per change. Then the server
 * must read until recv() says EAGAIN, or bytes left behind wait for an
 * event that never comes; the shared conn_on_readable() does exactly that.
 *
 * As in lab 09, the server asks for EPOLLOUT only while some echo waits to
 * be sent, and stops asking for EPOLLIN from a client whose backlog reaches
 * MAX_BACKLOG_BYTES (back-pressure), so a client that never reads costs a
 * bounded amount of memory; it changes a registration (EPOLL_CTL_MOD) only
 * when what it wants changes. When accept() fails for want of descriptors,
 * the listening socket leaves the interest list for a moment.
 *
 * Outside the I/O model part, the code is the same in labs 07, 09 and 10:
 * `diff solutions/09-poll/server.c solutions/10-epoll/server.c` shows only
 * what the I/O model changes.
 *
 * Read: epoll(7), epoll_create1(2), epoll_ctl(2), epoll_wait(2), accept(2)
 * (accept4, EMFILE), recv(2), send(2), getrlimit(2), proc(5) (fdinfo).
 *
 * Usage: server [-a ADDR] [-p PORT] [-e]   (default 127.0.0.1, port 50010;
 *        -e: edge-triggered)
 */
#include "socklab.h"

#include <sys/epoll.h>
#include <time.h>

#define DEFAULT_PORT "50010"
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

/* ------------------------------------------------ the I/O model: epoll -- */

/* At most this many ready sockets per epoll_wait(); the others stay ready
 * in the kernel for the next call, none is lost. */
#define MAX_EVENTS 256

/*
 * What the loop keeps per client beside its struct conn. Its address is the
 * client's epoll_event.data.ptr, handed back with every event, so an event
 * leads straight to its client; the listening socket's data.ptr is NULL.
 * `events` is what the registration asks for now, so that epoll_ctl() is
 * called only when that changes; the links make a list of every client,
 * because epoll knows them all but cannot list them, and the server must
 * close them when it stops.
 */
struct client {
    struct conn *conn;
    uint32_t events;
    struct client *prev, *next;
};

struct event_loop {
    int epfd;               /* the epoll instance */
    int listen_fd;
    bool edge;              /* -e: edge-triggered client sockets */
    bool listening;         /* the listening socket is in the interest list */
    struct client *clients; /* every client, newest first */
};

/*
 * Create the epoll instance: the kernel object that holds the interest list
 * and the ready list. main() makes it before anything else of the server,
 * so that a server with no event loop never starts.
 */
static int epoll_open(void)
{
    int epfd = -1;
    /* TODO 1: Create the epoll instance with epoll_create1(EPOLL_CLOEXEC)
     *   and return its descriptor; if that fails, sl_die_errno("epoll_create1").
     *   (epoll_create() is the old call: its size argument is ignored now.) */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no epoll instance to wait on");
    return epfd;
}

/* Put the listening socket in the interest list, with data.ptr NULL (that
 * is how the loop tells it from a client); or take it out while descriptors
 * are short, since epoll_wait() would otherwise report it ready at once,
 * for ever. Returns 0, or -1 with errno set. */
static int watch_listener(struct event_loop *loop, bool on)
{
    if (loop->listening == on)
        return 0;
    /* TODO 1: Register loop->listen_fd with epoll_ctl(): EPOLL_CTL_ADD when
     *   `on`, EPOLL_CTL_DEL otherwise, with a struct epoll_event of events
     *   EPOLLIN (level-triggered: accept_clients() takes every queued client
     *   anyway) and data.ptr NULL. Return -1 if epoll_ctl() fails. */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: the listening socket is not registered");
    loop->listening = on;
    return 0;
}

/* What epoll should watch for a client, from what it wants now. */
static uint32_t client_events(const struct event_loop *loop, const struct conn *c)
{
    uint32_t events = (conn_wants_read(c) ? EPOLLIN : 0) | (conn_wants_write(c) ? EPOLLOUT : 0);
    /* TODO 5: With -e (loop->edge), add EPOLLET: the kernel then reports
     *   a socket once when it becomes ready, not on every epoll_wait() while
     *   it stays ready. That is only correct because conn_on_readable() reads
     *   until EAGAIN and conn_on_writable() sends until EAGAIN (sl_buf_flush). */
    (void)loop;
    return events;
}

/* Register a new client. Returns 0, or -1 with errno set. */
static int client_add(struct event_loop *loop, struct conn *c)
{
    struct client *cl = calloc(1, sizeof *cl);
    if (cl == NULL)
        return -1;
    cl->conn = c;
    cl->events = client_events(loop, c);
    /* TODO 2: Register the client's socket c->fd with epoll_ctl(EPOLL_CTL_ADD)
     *   for cl->events, with data.ptr = cl: epoll hands that pointer back with
     *   every event of this socket. On failure free(cl) and return -1. */
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: clients are not registered with epoll");
    cl->next = loop->clients;
    if (cl->next != NULL)
        cl->next->prev = cl;
    loop->clients = cl;
    return 0;
}

/* close() also takes the socket out of the interest list (epoll watches the
 * open file, and this is its only descriptor), so no EPOLL_CTL_DEL first. */
static void client_close(struct event_loop *loop, struct client *cl)
{
    if (cl->prev != NULL)
        cl->prev->next = cl->next;
    else
        loop->clients = cl->next;
    if (cl->next != NULL)
        cl->next->prev = cl->prev;
    conn_free(cl->conn);
    free(cl);
}

/* After an event, ask epoll for what the client wants now: EPOLLOUT only
 * while echo waits, EPOLLIN only while its backlog has room. Returns 0, or
 * -1 with errno set. */
static int client_update(struct event_loop *loop, struct client *cl)
{
    /* TODO 4: Compute what the client wants now (client_events()). If it
     *   differs from cl->events, change the registration with
     *   epoll_ctl(EPOLL_CTL_MOD), data.ptr = cl again, and remember the new
     *   events in cl->events. If it is the same, make no system call at all:
     *   most events change nothing. Return -1 if epoll_ctl() fails. */
    (void)loop;
    (void)cl;
    sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: interest never follows the client");
    return 0;
}

/* Accept every queued client. Returns 0, or -1 when descriptors or memory
 * ran out: then stop watching the listening socket for a while. */
static int accept_clients(struct event_loop *loop)
{
    for (;;) {
        int fd = accept_client(loop->listen_fd);
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
        if (c == NULL || client_add(loop, c) < 0) {
            sl_warn_errno("accept: cannot take a client");
            if (c != NULL)
                conn_free(c);
            else
                close(fd);
            return -1;
        }
    }
}

/* One client's events. Returns what became of it. */
static enum conn_status client_on_events(struct event_loop *loop, struct client *cl,
                                         uint32_t events)
{
    struct conn *c = cl->conn;
    enum conn_status st = CONN_KEEP;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        st = conn_on_readable(c);
    /* An error or hang-up also ends a client that only waits to write. */
    if (st == CONN_KEEP && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
        st = conn_on_writable(c);
    if (st == CONN_KEEP && client_update(loop, cl) < 0) {
        sl_warn_errno("epoll_ctl MOD");
        st = CONN_CLOSE;
    }
    if (st == CONN_CLOSE)
        client_close(loop, cl);
    return st;
}

static int main_loop(int listen_fd, int epfd, bool edge)
{
    struct event_loop loop = { .epfd = epfd, .listen_fd = listen_fd, .edge = edge };
    if (watch_listener(&loop, true) < 0)
        sl_die_errno("epoll_ctl ADD listening socket");
    struct epoll_event events[MAX_EVENTS];
    /* While descriptors are short, accepting is paused until this time (on
     * the monotonic clock, in ms) or until a client leaves; 0: not paused. */
    long long resume_at = 0;
    while (!sl_stop_requested()) {
        int timeout_ms = accept_pause_left(&resume_at);
        if (resume_at == 0 && watch_listener(&loop, true) < 0)
            sl_warn_errno("epoll_ctl ADD listening socket");
        /* TODO 3: Wait with epoll_wait(loop.epfd, events, MAX_EVENTS,
         *   timeout_ms); on EINTR go round again (the loop checks the stop
         *   flag), on another error sl_warn_errno("epoll_wait") and break.
         *   Then for each of the events returned: data.ptr NULL is the
         *   listening socket: accept_clients(&loop), and if that returns -1,
         *   set resume_at = now_ms() + ACCEPT_PAUSE_MS and take the listener
         *   out with watch_listener(&loop, false). Any other data.ptr is a
         *   struct client: client_on_events(&loop, cl, events[i].events), and
         *   if that closed it, set resume_at = 0 (a descriptor is free again). */
        (void)timeout_ms;
        (void)events;
        (void)accept_clients;
        (void)client_on_events;
        sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: no event loop");
    }
    while (loop.clients != NULL)
        client_close(&loop, loop.clients);
    close(loop.epfd);
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

/* -e: edge-triggered. */
static int on_option(int opt, const char *arg, void *ctx)
{
    (void)arg;
    if (opt != 'e')
        return -1;
    *(bool *)ctx = true;
    return 0;
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    bool edge = false;
    sl_parse_args(argc, argv, DEFAULT_PORT, "e", "[-e]", on_option, &edge, &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");
    /* A descriptor per client: take all the kernel allows this process. */
    if (sl_raise_nofile() < 0)
        sl_warn_errno("setrlimit RLIMIT_NOFILE");

    /* The event loop's kernel object first: without it there is no server. */
    int epfd = epoll_open();

    int listen_fd = open_listener(&opts);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    int status = main_loop(listen_fd, epfd, edge);
    close(listen_fd);
    return status;
}
