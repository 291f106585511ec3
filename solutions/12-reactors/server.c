/*
 * server.c (lab 12): an echo server that runs one epoll event loop per
 * thread, one thread per CPU, each loop with its own clients.
 *
 * Lab 10's server does everything in one thread, so it can never use more
 * than one core: once that core is busy, clients wait however many cores
 * sit idle. This server runs N copies of lab 10's event loop side by side,
 * shared-nothing: each loop thread has its own epoll instance, its own
 * listening socket and its own clients, and no loop ever touches another's
 * state, so the hot path takes no lock at all.
 *
 * Who gets which connection? Every loop's listening socket is bound to the
 * same address and port, which SO_REUSEPORT allows (socket(7)); the kernel
 * puts each listener in one group and sends each incoming connection to one
 * of them, chosen by a hash of the connection's addresses and ports. So
 * there is no acceptor thread to hand connections out, and no shared
 * listener for the loops to fight over. With port 0 the first bind picks
 * the port and the others bind to that one; the ready line comes once
 * every listener is bound.
 *
 * -t N sets the number of loops; the default is one per CPU this process
 * may run on (sched_getaffinity(2), CPU_COUNT(3)), which under taskset or a
 * container's cpuset is fewer than the machine has.
 *
 * Signals: SIGINT and SIGTERM are blocked before the loops start, so every
 * loop thread inherits the mask and never sees them; the main thread waits
 * for them with sigwait(3), then wakes each loop through its eventfd and
 * joins it. Each loop closes its clients, its listener and its epoll
 * instance on the way out. That is N + 1 threads: N loops and the main one.
 *
 * Everything else (struct conn, reading and sending, back-pressure, the
 * EMFILE pause, the epoll registrations) is lab 10's code:
 * `diff solutions/10-epoll/server.c solutions/12-reactors/server.c` shows
 * only what one loop per thread changes.
 *
 * Read: socket(7) (SO_REUSEPORT), epoll(7), pthread_create(3),
 * pthread_join(3), pthread_sigmask(3), sigwait(3), signal(7) (signals and
 * threads), sched_getaffinity(2), CPU_COUNT(3), eventfd(2), getrlimit(2).
 *
 * Usage: server [-a ADDR] [-p PORT] [-e] [-t N]   (default 127.0.0.1, port
 *        50012; -e: edge-triggered; -t: N event loops, 1 to 256, default
 *        one per CPU)
 */
#include "socklab.h"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#define DEFAULT_PORT "50012"
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

/*
 * One event loop, run by one thread. Only that thread touches it once the
 * thread has started (main() only writes to wake_fd and joins the thread),
 * so nothing in it needs a lock. Its eventfd is registered with data.ptr =
 * the loop itself, which is how the loop tells the stop request from the
 * listener (NULL) and from its clients.
 */
struct event_loop {
    int epfd;               /* the epoll instance */
    int listen_fd;
    bool edge;              /* -e: edge-triggered client sockets */
    bool listening;         /* the listening socket is in the interest list */
    struct client *clients; /* every client, newest first */
    int wake_fd;            /* eventfd: main() writes to it to stop the loop */
    bool stopping;          /* the wake-up came: leave the loop */
    pthread_t thread;
};

/*
 * Create the epoll instance: the kernel object that holds the interest list
 * and the ready list. main() makes one per loop before anything else of the
 * server, so that a server with no event loop never starts.
 */
static int epoll_open(void)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        sl_die_errno("epoll_create1");
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
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(loop->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, loop->listen_fd, &ev) < 0)
        return -1;
    loop->listening = on;
    return 0;
}

/* What epoll should watch for a client, from what it wants now. */
static uint32_t client_events(const struct event_loop *loop, const struct conn *c)
{
    uint32_t events = (conn_wants_read(c) ? EPOLLIN : 0) | (conn_wants_write(c) ? EPOLLOUT : 0);
    if (loop->edge)
        events |= EPOLLET;
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
    struct epoll_event ev = { .events = cl->events, .data.ptr = cl };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        free(cl);
        return -1;
    }
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
    uint32_t want = client_events(loop, cl->conn);
    if (want == cl->events)
        return 0;
    struct epoll_event ev = { .events = want, .data.ptr = cl };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, cl->conn->fd, &ev) < 0)
        return -1;
    cl->events = want;
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

static int main_loop(struct event_loop *loop)
{
    if (watch_listener(loop, true) < 0)
        sl_die_errno("epoll_ctl ADD listening socket");
    struct epoll_event events[MAX_EVENTS];
    /* While descriptors are short, accepting is paused until this time (on
     * the monotonic clock, in ms) or until a client leaves; 0: not paused. */
    long long resume_at = 0;
    while (!loop->stopping) {
        int timeout_ms = accept_pause_left(&resume_at);
        if (resume_at == 0 && watch_listener(loop, true) < 0)
            sl_warn_errno("epoll_ctl ADD listening socket");
        int ready = epoll_wait(loop->epfd, events, MAX_EVENTS, timeout_ms);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            sl_warn_errno("epoll_wait");
            break;
        }
        for (int i = 0; i < ready; i++) {
            struct client *cl = events[i].data.ptr;
            // BEGIN TODO 3: The loop's wake-up: data.ptr == loop is its eventfd,
            //   which main() writes to when the server must stop. Set
            //   loop->stopping, so that the while loop ends after this batch.
            if (events[i].data.ptr == loop) {
                loop->stopping = true;
                continue;
            }
            // END TODO
            if (cl == NULL) {
                if (accept_clients(loop) < 0) {
                    resume_at = now_ms() + ACCEPT_PAUSE_MS;
                    if (watch_listener(loop, false) < 0)
                        sl_warn_errno("epoll_ctl DEL listening socket");
                }
            } else if (client_on_events(loop, cl, events[i].events) == CONN_CLOSE) {
                resume_at = 0;
            }
        }
    }
    while (loop->clients != NULL)
        client_close(loop, loop->clients);
    close(loop->listen_fd);
    close(loop->wake_fd);
    close(loop->epfd);
    return 0;
}

/* ------------------------------------- one event loop per thread, N of them -- */

/* The most loops -t accepts: far more than cores on any machine this runs on. */
#define MAX_LOOPS 256

/* What the command line asks for beyond -a and -p. */
struct server_opts {
    bool edge;   /* -e */
    long loops;  /* -t N, or 0: one per CPU */
};

/*
 * How many CPUs this process may run on: its affinity mask, which taskset,
 * cgroup cpusets and containers narrow, not the machine's count of CPUs
 * (sysconf(_SC_NPROCESSORS_ONLN)). More loops than that only take turns on
 * the same cores.
 */
static long default_loops(void)
{
    long n = 1;
    // BEGIN TODO 1: Read this process's CPU affinity with sched_getaffinity(0,
    //   sizeof set, &set) into a cpu_set_t, and count the CPUs in it with
    //   CPU_COUNT(&set); if sched_getaffinity() fails, sl_die_errno() it.
    //   Cap the count at MAX_LOOPS.
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) < 0)
        sl_die_errno("sched_getaffinity");
    n = CPU_COUNT(&set);
    if (n > MAX_LOOPS)
        n = MAX_LOOPS;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: how many event loops? (count the CPUs)");
    // END TODO
    return n;
}

/*
 * A listening socket on exactly `sa`, that other listeners of this process
 * may share: SO_REUSEPORT, set on every one of them before bind(), puts
 * them in one group, and the kernel spreads incoming connections over the
 * group. Non-blocking, like lab 10's, and close-on-exec. Returns the
 * descriptor, or -1 with `call ADDR: reason` in err.
 */
static int listen_reuseport(const struct sockaddr *sa, socklen_t salen, char *err,
                            size_t errlen)
{
    char addr[SL_ADDR_BYTES];
    sl_addr_format(sa, salen, addr, sizeof addr);
    int fd = -1;
    // BEGIN TODO 2: Create a TCP socket for sa->sa_family with socket(2),
    //   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC. Before bind(), set
    //   SO_REUSEADDR (a restart while old connections sit in TIME_WAIT) and
    //   SO_REUSEPORT (every loop's listener on the same port) to 1 with
    //   setsockopt(SOL_SOCKET), and for AF_INET6 IPV6_V6ONLY (IPPROTO_IPV6),
    //   as sl_listen() does. Then bind(fd, sa, salen) and listen(fd,
    //   BACKLOG). On any failure: sl_set_err(err, errlen, errno, "%s %s",
    //   the call, addr) (e.g. "bind 127.0.0.1:50012"), close the socket and
    //   return -1.
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sl_set_err(err, errlen, errno, "socket %s", addr);
        return -1;
    }
    int one = 1;
    const char *failed = NULL;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        failed = "setsockopt SO_REUSEADDR";
    else if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        failed = "setsockopt SO_REUSEPORT";
    else if (sa->sa_family == AF_INET6 &&
             setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        failed = "setsockopt IPV6_V6ONLY";
    else if (bind(fd, sa, salen) < 0)
        failed = "bind";
    else if (listen(fd, BACKLOG) < 0)
        failed = "listen";
    if (failed != NULL) {
        sl_set_err(err, errlen, errno, "%s %s", failed, addr);
        close(fd);
        return -1;
    }
    // SKELETON: (void)salen;
    // SKELETON: sl_set_err(err, errlen, 0, "TODO 2 not done yet: no listening socket for %s", addr);
    // END TODO
    return fd;
}

/*
 * Every loop's listening socket, all on one address and port. The first is
 * bound as -a and -p say (the first address getaddrinfo() gives that
 * works); the others to the address the first one really got, which
 * getsockname() tells: with -p 0 the kernel picked the port at the first
 * bind, and binding the others to port 0 too would give each a port of its
 * own, where no client ever comes.
 */
static void open_listeners(const struct sl_opts *opts, struct event_loop *loops, long n)
{
    char err[SL_ERR_BYTES] = "";
    struct addrinfo *list;
    if (sl_resolve(opts->addr, opts->port, SOCK_STREAM, true, &list, err, sizeof err) < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    int first = -1;
    for (const struct addrinfo *ai = list; ai != NULL && first < 0; ai = ai->ai_next)
        first = listen_reuseport(ai->ai_addr, ai->ai_addrlen, err, sizeof err);
    freeaddrinfo(list);
    if (first < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    loops[0].listen_fd = first;
    // BEGIN TODO 2: Bind the listeners of loops 1 to n-1 to the address the
    //   first one got: getsockname(first, ...) into a struct
    //   sockaddr_storage, then listen_reuseport() on it for each loop. If one
    //   fails, sl_die(SL_EXIT_RUNTIME, "%s", err): a second bind that fails
    //   with EADDRINUSE means SO_REUSEPORT is missing.
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    if (getsockname(first, (struct sockaddr *)&bound, &len) < 0)
        sl_die_errno("getsockname");
    for (long i = 1; i < n; i++) {
        loops[i].listen_fd = listen_reuseport((struct sockaddr *)&bound, len, err, sizeof err);
        if (loops[i].listen_fd < 0)
            sl_die(SL_EXIT_RUNTIME, "%s", err);
    }
    // SKELETON: (void)n;
    // END TODO
}

/* The loop's eventfd, registered with data.ptr = the loop: main() writes to
 * it to stop the loop, whatever the loop is waiting for. */
static void open_wake(struct event_loop *loop)
{
    // BEGIN TODO 3: Create loop->wake_fd with eventfd(0, EFD_CLOEXEC |
    //   EFD_NONBLOCK) and register it in loop->epfd for EPOLLIN with data.ptr
    //   = loop (epoll_ctl EPOLL_CTL_ADD). sl_die_errno() if either fails.
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake_fd < 0)
        sl_die_errno("eventfd");
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = loop };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0)
        sl_die_errno("epoll_ctl ADD eventfd");
    // SKELETON: (void)loop;
    // END TODO
}

/* Ask a loop to stop: one write to its eventfd makes it readable, and the
 * loop's epoll_wait() returns. */
static void wake(struct event_loop *loop)
{
    uint64_t one = 1;
    if (write(loop->wake_fd, &one, sizeof one) < 0)
        sl_warn_errno("write eventfd");
}

static void *loop_thread(void *arg)
{
    main_loop(arg);
    return NULL;
}

/* The signals that stop the server: SIGINT and SIGTERM. */
static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

/* Start a thread per loop. SIGINT and SIGTERM are blocked first: a thread
 * starts with its creator's signal mask, so no loop thread will ever be
 * picked to receive them, and main() takes them with sigwait(). */
static void start_loops(struct event_loop *loops, long n)
{
    // BEGIN TODO 4: Block SIGINT and SIGTERM in this thread with
    //   pthread_sigmask(SIG_BLOCK, &set, NULL) (stop_signals() fills the set),
    //   then start one thread per loop: pthread_create(&loops[i].thread, NULL,
    //   loop_thread, &loops[i]). Both return an error number instead of
    //   setting errno: on failure set errno to it and sl_die_errno().
    sigset_t set;
    stop_signals(&set);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0) {
        errno = rc;
        sl_die_errno("pthread_sigmask");
    }
    for (long i = 0; i < n; i++) {
        rc = pthread_create(&loops[i].thread, NULL, loop_thread, &loops[i]);
        if (rc != 0) {
            errno = rc;
            sl_die_errno("pthread_create");
        }
    }
    // SKELETON: (void)loops;
    // SKELETON: (void)n;
    // SKELETON: (void)loop_thread;
    // SKELETON: (void)stop_signals;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: no event-loop thread started");
    // END TODO
}

/* Wait for SIGINT or SIGTERM, then stop every loop and wait for each to
 * close what it holds. */
static void wait_and_stop(struct event_loop *loops, long n)
{
    // BEGIN TODO 5: Wait for SIGINT or SIGTERM with sigwait(&set, &sig): they
    //   are blocked, so they stay pending until sigwait() takes one (no
    //   handler runs). Go on waiting if it fails. Then wake(&loops[i]) for
    //   every loop, and pthread_join() each thread.
    sigset_t set;
    stop_signals(&set);
    int sig;
    while (sigwait(&set, &sig) != 0)
        continue;
    for (long i = 0; i < n; i++)
        wake(&loops[i]);
    for (long i = 0; i < n; i++)
        pthread_join(loops[i].thread, NULL);
    // SKELETON: (void)loops;
    // SKELETON: (void)n;
    // SKELETON: (void)wake;
    // END TODO
}

/* -e: edge-triggered; -t N: N event loops. */
static int on_option(int opt, const char *arg, void *ctx)
{
    struct server_opts *so = ctx;
    if (opt == 'e') {
        so->edge = true;
        return 0;
    }
    // BEGIN TODO 1: -t N: parse N with sl_parse_int(arg, 1, MAX_LOOPS,
    //   &so->loops) and return what it returns: -1 for 0, 257, "x" or "3x",
    //   which makes sl_parse_args() print the usage line and exit 2.
    if (opt == 't')
        return sl_parse_int(arg, 1, MAX_LOOPS, &so->loops);
    // SKELETON: (void)arg;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: -t is not parsed");
    // END TODO
    return -1;
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    struct server_opts so = { .edge = false, .loops = 0 };
    sl_parse_args(argc, argv, DEFAULT_PORT, "et:", "[-e] [-t N]", on_option, &so, &opts);
    long n = so.loops != 0 ? so.loops : default_loops();

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    /* A descriptor per client: take all the kernel allows this process. */
    if (sl_raise_nofile() < 0)
        sl_warn_errno("setrlimit RLIMIT_NOFILE");

    struct event_loop *loops = calloc((size_t)n, sizeof *loops);
    if (loops == NULL)
        sl_die_errno("calloc %ld event loops", n);
    /* The event loops' kernel objects first: without them there is no server. */
    for (long i = 0; i < n; i++) {
        loops[i].epfd = epoll_open();
        loops[i].edge = so.edge;
        open_wake(&loops[i]);
    }
    open_listeners(&opts, loops, n);

    start_loops(loops, n);
    if (sl_print_ready(loops[0].listen_fd) < 0)
        sl_die_errno("getsockname");

    wait_and_stop(loops, n);
    free(loops);
    return 0;
}
