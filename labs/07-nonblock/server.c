/*
 * server.c (lab 07): a single-threaded echo server that never blocks, and
 * never sleeps either.
 *
 * Every socket is in non-blocking mode (O_NONBLOCK): accept(), recv() and
 * send() never wait; when there is nothing to do they fail at once with
 * EAGAIN (also spelled EWOULDBLOCK). So one thread can serve many clients
 * at once by going round them all, again and again: accept whoever is
 * queued, read what each client has sent, send what each socket will take.
 * Nothing is lost when a client reads slowly: what its socket does not take
 * waits in the connection's output buffer (struct sl_buf, from lib/), and
 * once that backlog passes MAX_BACKLOG_BYTES the loop stops reading from
 * that client until it drains (back-pressure).
 *
 * It works, and it is the wrong way to do it: the loop asks every socket,
 * every time round, whether it has something, and almost always the answer
 * is EAGAIN. With no client at all it still burns a whole CPU. Labs 08 to 10
 * keep all of this code and change only main_loop(): the thread sleeps in
 * select(), poll() or epoll_wait() until the kernel says which socket is
 * ready. `diff solutions/07-nonblock/server.c solutions/09-poll/server.c`
 * shows exactly that change.
 *
 * Read: fcntl(2) (O_NONBLOCK), accept(2) (accept4, EAGAIN, EMFILE),
 * recv(2), send(2) (MSG_DONTWAIT), socket(7), tcp(7).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50007)
 */
#include "socklab.h"

#include <time.h>

#define DEFAULT_PORT "50007"
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
    /* TODO 2: Read until EAGAIN. While conn_wants_read(c): recv(2)
     *   into a READ_BYTES buffer. 0 means the client's FIN: set c->eof and
     *   stop. EINTR: try again. EAGAIN or EWOULDBLOCK: nothing more for now,
     *   stop (this is no error). Any other error: the client is gone, return
     *   CONN_CLOSE. Bytes that came: echo them with sl_buf_write(&c->out,
     *   c->fd, ...), which sends what the socket takes now and keeps the
     *   rest in order; if it fails, return CONN_CLOSE. At the end return
     *   conn_status(c). */
    (void)c;
    (void)conn_wants_read; /* use these two */
    (void)conn_status;
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: nothing is read");
}

/*
 * The socket has room again: send what waits. If that drained a full
 * backlog, read again at once, since with edge-triggered epoll no new event
 * would come for bytes that arrived while reading was paused.
 */
static enum conn_status conn_on_writable(struct conn *c)
{
    /* TODO 3: Send what waits with sl_buf_flush(&c->out, c->fd)
     *   (it stops at EAGAIN by itself); an error closes the client. If the
     *   backlog was full before (reading paused: !c->eof and not
     *   conn_wants_read(c)) and now has room, read again at once with
     *   conn_on_readable(c). Otherwise return conn_status(c). */
    (void)c;
    sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: the backlog is never sent");
}

/*
 * Accept one queued client as a non-blocking socket. Returns its
 * descriptor, or -1 with errno: EAGAIN when none is queued, EMFILE or
 * ENFILE when descriptors ran out. A client that gave up before we took it
 * (ECONNABORTED) is skipped.
 */
static int accept_client(int listen_fd)
{
    /* TODO 1: Accept with accept4(2) and SOCK_NONBLOCK (and
     *   SOCK_CLOEXEC), so the new socket is born non-blocking. Return the
     *   descriptor, or -1 with errno as accept4() left it; but on EINTR (unless
     *   sl_stop_requested()) or ECONNABORTED, try again. */
    (void)listen_fd;
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no client accepted");
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

/* --------------------------------------------- the I/O model: busy loop -- */

/* Every client, in no particular order. */
struct conn_list {
    struct conn **conns;
    size_t count, cap;
};

static int conn_list_add(struct conn_list *list, struct conn *c)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        struct conn **conns = realloc(list->conns, cap * sizeof *conns);
        if (conns == NULL)
            return -1;
        list->conns = conns;
        list->cap = cap;
    }
    list->conns[list->count++] = c;
    return 0;
}

/* Close client i; the last one takes its place. */
static void conn_list_remove(struct conn_list *list, size_t i)
{
    conn_free(list->conns[i]);
    list->conns[i] = list->conns[--list->count];
}

/* Accept every queued client. Returns 0, or -1 when descriptors or memory
 * ran out: then leave accept() alone for a while. */
static int accept_clients(struct conn_list *list, int listen_fd)
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
        if (c == NULL || conn_list_add(list, c) < 0) {
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
 * Round and round: try accept(), then every client's recv() and, where
 * output waits, send(). Each call returns at once, mostly with EAGAIN, so
 * the loop never waits for anything, and never rests.
 */
static int main_loop(int listen_fd)
{
    struct conn_list list = { 0 };
    /* While descriptors are short, accepting is paused until this time (on
     * the monotonic clock, in ms) or until a client leaves; 0: not paused. */
    long long resume_at = 0;
    while (!sl_stop_requested()) {
        accept_pause_left(&resume_at);
        if (resume_at == 0 && accept_clients(&list, listen_fd) < 0)
            resume_at = now_ms() + ACCEPT_PAUSE_MS;
        /* TODO 4: Go round every client: conn_on_readable(c), then, if
         *   it is kept and output waits (conn_wants_write(c)),
         *   conn_on_writable(c). A client that comes back CONN_CLOSE is
         *   removed with conn_list_remove(&list, i), which moves the last one
         *   into slot i (so do not step i then), and resume_at = 0: a
         *   descriptor is free again. */
        (void)conn_on_readable; /* call these for each client */
        (void)conn_on_writable;
        sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: no client is served");
    }
    while (list.count > 0)
        conn_list_remove(&list, list.count - 1);
    free(list.conns);
    return 0;
}

/*
 * The listening socket, in non-blocking mode: with one thread for every
 * client, accept() must never wait for a client that is not there.
 */
static int open_listener(const struct sl_opts *opts)
{
    /* TODO 1: Open the listening socket with sl_listen() (SOCK_STREAM,
     *   BACKLOG; on failure sl_die(SL_EXIT_RUNTIME, "%s", err)), then put it
     *   in non-blocking mode with sl_set_nonblocking() (fcntl F_SETFL,
     *   O_NONBLOCK); on failure sl_die_errno("fcntl O_NONBLOCK"). */
    (void)opts;
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no listening socket");
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");
    /* A descriptor per client: take all the kernel allows this process. */
    if (sl_raise_nofile() < 0)
        sl_warn_errno("setrlimit RLIMIT_NOFILE");

    int listen_fd = open_listener(&opts);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    int status = main_loop(listen_fd);
    close(listen_fd);
    return status;
}
