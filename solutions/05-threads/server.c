/*
 * server.c (lab 05): a concurrent TCP echo server with threads.
 *
 * Lab 04 gave each client a process; this server gives each client a thread.
 * Threads of one process share everything: memory, descriptors, signal
 * handlers. That makes a thread much cheaper to start than a process (no
 * copy of the page tables, no second descriptor table) and makes the
 * descriptor of a new connection usable by the new thread as it is: nothing
 * to close on "the other side", because there is no other side.
 *
 * Sharing is also the danger, and the program shows the three places where
 * a threaded server must be careful:
 *
 *   - Handing over the descriptor. The new thread gets its connection's
 *     descriptor by value, inside the void * argument, never as a pointer to
 *     a variable the main thread will overwrite with the next accept().
 *   - Ending threads. A thread that ends keeps its stack and exit status
 *     until someone joins it, unless it is detached. Client threads are
 *     created detached: nobody waits for them, and they clean up after
 *     themselves.
 *   - Signals. SIGINT and SIGTERM go to any thread that does not block them.
 *     Every thread but the main one blocks them, so a stop request always
 *     interrupts the main thread's accept().
 *
 * With -w N the server starts a fixed pool of N worker threads instead, and
 * the main thread hands them accepted descriptors through a bounded queue
 * guarded by a mutex and two condition variables: however many clients
 * come, there are never more than N + 1 threads.
 *
 * Lab 01 taught the listening socket and the echo loop: here sl_listen()
 * opens the socket and sl_write_full() is lab 01's send_all().
 *
 * Read: pthreads(7), pthread_create(3), pthread_attr_setdetachstate(3),
 * pthread_detach(3), pthread_join(3), pthread_sigmask(3),
 * pthread_mutex_lock(3p), pthread_cond_wait(3p), signal(7) ("Signal mask
 * and pending signals"), proc(5) (/proc/PID/task).
 *
 * Usage: server [-a ADDR] [-p PORT] [-w N]   (default 127.0.0.1, port 50005,
 *        a thread per connection; -w N: a pool of N workers, 1 to 1024)
 */
#include "socklab.h"

#include <pthread.h>
#include <time.h>

#define DEFAULT_PORT "50005"
/* How many finished handshakes the kernel keeps waiting for accept(). */
#define BACKLOG 64
/* One recv() takes at most this much; any size works. Each thread has its
 * own buffer, on its own stack. */
#define BUFFER_BYTES (16 * 1024)
/* The largest pool -w accepts. */
#define MAX_WORKERS 1024
/* Accepted descriptors that may wait for a free worker. When the queue is
 * full, the main thread stops accepting and new clients wait in the kernel's
 * backlog instead: memory stays bounded however many clients come. */
#define QUEUE_SLOTS 16
/* While the queue is full, the main thread looks at the stop flag this often:
 * a signal does not wake a thread from pthread_cond_wait(). */
#define STOP_CHECK_MS 100

/* What the command line asks for. */
struct server_config {
    long workers; /* -w N: the size of the pool; 0 for a thread per connection */
};

/*
 * Accepted descriptors on their way from the main thread (the producer) to
 * the workers (the consumers): a ring buffer of QUEUE_SLOTS descriptors.
 * Every field is read and written only with `lock` held.
 */
struct fd_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty; /* signalled when a descriptor is added */
    pthread_cond_t not_full;  /* signalled when a descriptor is taken */
    int fds[QUEUE_SLOTS];
    size_t head;  /* index of the oldest descriptor */
    size_t count; /* how many descriptors wait */
};

/* Static, not on main()'s stack: the workers use it until the very end, and
 * main()'s frame is gone while exit() still runs. */
static struct fd_queue queue = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
};

/* The handler of sl_parse_args() for the lab's own option, -w N. */
static int parse_option(int opt, const char *arg, void *ctx)
{
    struct server_config *config = ctx;

    // BEGIN TODO 4: Read -w N, the size of the pool. sl_parse_args() calls
    //   this for each option of the lab's own ("w:"), with its argument in
    //   `arg`. Parse it with sl_parse_int() as a number from 1 to
    //   MAX_WORKERS into config->workers and return what it returns: -1 makes
    //   sl_parse_args() print the usage line and exit 2. Return -1 for any
    //   other option.
    if (opt != 'w')
        return -1;
    return sl_parse_int(arg, 1, MAX_WORKERS, &config->workers);
    // SKELETON: (void)config;
    // SKELETON: (void)arg;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: -%c is not read", opt);
    // END TODO
}

/*
 * Wait for the next client and return its connected socket, or -1 when
 * accept() failed; that ends nothing, the caller tries again (or stops, if a
 * signal asked it to).
 */
static int accept_client(int listen_fd)
{
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0 && errno != EINTR)
        sl_warn_errno("accept");
    return fd;
}

/*
 * Echo everything one client sends until it shuts down its sending side:
 * lab 01's loop. Any error ends this client only: log it and return. The
 * buffer is a local variable, so every thread has its own.
 */
static void echo_client(int fd, const char *peer)
{
    char buf[BUFFER_BYTES];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            return;
        if (n < 0) {
            if (errno == EINTR && !sl_stop_requested())
                continue;
            if (errno != EINTR)
                sl_warn_errno("recv from %s", peer);
            return;
        }
        if (sl_write_full(fd, buf, (size_t)n) < 0) {
            if (errno != EINTR)
                sl_warn_errno("send to %s", peer);
            return;
        }
    }
}

/* Serve one connection from start to end, and close it. */
static void serve_connection(int fd)
{
    char peer[SL_ADDR_BYTES];
    if (sl_sock_peer(fd, peer, sizeof peer) == NULL)
        snprintf(peer, sizeof peer, "fd %d", fd);
    echo_client(fd, peer);
    close(fd);
}

/*
 * Start a thread that runs fn(arg) and never receives SIGINT or SIGTERM.
 * Returns 0, or an error number (pthread functions return it instead of
 * setting errno).
 */
static int start_thread(const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    // BEGIN TODO 3: Keep the stop signals for the main thread. A new thread
    //   starts with a copy of its creator's signal mask, so block SIGINT and
    //   SIGTERM in this (the main) thread with pthread_sigmask(SIG_BLOCK, ...),
    //   keeping the old mask; pthread_create(3) the thread with `attr`, `fn`
    //   and `arg`; then put the old mask back with SIG_SETMASK, whatever
    //   pthread_create() returned. The new thread never takes a stop signal,
    //   so the kernel must deliver it to the main thread, whose accept() then
    //   fails with EINTR. Return pthread_create()'s result.
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    int rc = pthread_sigmask(SIG_BLOCK, &stop, &old);
    if (rc != 0)
        return rc;
    pthread_t thread;
    rc = pthread_create(&thread, attr, fn, arg);
    /* A stop signal that came meanwhile was kept pending, not lost: it is
     * delivered here, as the main thread unblocks it. */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
    // SKELETON: (void)attr;
    // SKELETON: (void)fn;
    // SKELETON: (void)arg;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: no thread started");
    // END TODO
}

/* The whole life of a thread in the default mode: one client. */
static void *client_thread(void *arg)
{
    // BEGIN TODO 1: Serve a client in a thread. The descriptor comes by
    //   value inside the void * argument (Step 2 puts it there with
    //   (void *)(intptr_t)fd): get it back with (int)(intptr_t)arg, then
    //   serve_connection(fd), which echoes and closes. Return NULL: nobody
    //   joins this thread, so nobody would read anything else.
    int fd = (int)(intptr_t)arg;
    serve_connection(fd);
    return NULL;
    // SKELETON: (void)arg;
    // SKELETON: (void)serve_connection; /* what the thread does */
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: the thread serves nobody");
    // END TODO
}

/*
 * Prepare the attributes every thread of this server is created with, or
 * exit when that fails: the server cannot run without them.
 */
static void init_thread_attr(pthread_attr_t *attr)
{
    // BEGIN TODO 2: Make threads detached. pthread_attr_init(3) `attr`, then
    //   pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED). A
    //   detached thread frees its stack and everything else the moment it
    //   ends; a joinable one (the default) keeps them until pthread_join(),
    //   which nobody here calls. Both return an error number, not -1: on
    //   failure set errno to it and sl_die_errno("pthread_attr_init").
    int rc = pthread_attr_init(attr);
    if (rc == 0)
        rc = pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
    if (rc != 0) {
        errno = rc;
        sl_die_errno("pthread_attr_init");
    }
    // SKELETON: (void)attr;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: threads would be neither "
    // SKELETON:                         "detached nor joined");
    // END TODO
}

/*
 * Default mode: serve the client on descriptor fd in a new detached thread.
 * Whatever happens, the main thread no longer uses fd afterwards.
 */
static void start_client_thread(const pthread_attr_t *attr, int fd)
{
    // BEGIN TODO 2: Start a thread per connection: start_thread(attr,
    //   client_thread, arg), with the descriptor itself as the argument,
    //   (void *)(intptr_t)fd, never &fd (Step 2 draws why). If it fails (an
    //   error number, e.g. EAGAIN: too many threads), set errno to it, log
    //   with sl_warn_errno("pthread_create") and close(fd): that client is
    //   dropped, the server goes on. Do not close fd otherwise: the thread
    //   owns it now, and threads share one descriptor table.
    /*
     * Why not &fd? The thread would get the address of a variable that the
     * main thread reuses: it may run only after the main thread has accepted
     * the next client and stored that client's descriptor there.
     *
     *   main thread                        new thread A
     *   fd = accept() -> 5
     *   pthread_create(A, &fd)
     *   fd = accept() -> 6                 (not scheduled yet)
     *   pthread_create(B, &fd)
     *                                      reads *arg -> 6: serves B's client
     *
     * Two threads serve descriptor 6, nobody serves 5, and both close 6. The
     * value inside the pointer is copied at pthread_create() and cannot
     * change afterwards.
     */
    int rc = start_thread(attr, client_thread, (void *)(intptr_t)fd);
    if (rc != 0) {
        errno = rc;
        sl_warn_errno("pthread_create");
        close(fd);
    }
    // SKELETON: (void)attr;
    // SKELETON: (void)client_thread; /* what each thread runs */
    // SKELETON: (void)start_thread;  /* Step 3 */
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: nobody serves fd %d", fd);
    // END TODO
}

/*
 * Pool mode, the producer: add fd to the queue, waiting while it is full.
 * Returns 0, or -1 when a stop was asked while it waited (the caller closes
 * fd).
 */
static int queue_push(struct fd_queue *q, int fd)
{
    // BEGIN TODO 5: Add a descriptor to the queue. Lock q->lock. While the
    //   queue is full (q->count == QUEUE_SLOTS) and no stop is asked, wait
    //   on q->not_full, but for STOP_CHECK_MS at most:
    //   pthread_cond_clockwait(3) with CLOCK_MONOTONIC and a deadline
    //   STOP_CHECK_MS from now (see clock_gettime(2)), because a signal does
    //   not end a wait on a condition variable and the stop flag must still
    //   be seen. A `while`, never an `if`: a wake-up is only a hint. If the
    //   queue is still full (a stop was asked), unlock and return -1.
    //   Otherwise store fd at (head + count) % QUEUE_SLOTS, count one more,
    //   pthread_cond_signal() not_empty (a worker may be waiting), unlock,
    //   return 0.
    pthread_mutex_lock(&q->lock);
    while (q->count == QUEUE_SLOTS && !sl_stop_requested()) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += STOP_CHECK_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_cond_clockwait(&q->not_full, &q->lock, CLOCK_MONOTONIC, &deadline);
    }
    if (q->count == QUEUE_SLOTS) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    q->fds[(q->head + q->count) % QUEUE_SLOTS] = fd;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return 0;
    // SKELETON: (void)q;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: fd %d goes nowhere", fd);
    // END TODO
}

/* Pool mode, a consumer: take the oldest descriptor, waiting while none is there. */
static int queue_pop(struct fd_queue *q)
{
    // BEGIN TODO 5: Take a descriptor from the queue. Lock q->lock; while the
    //   queue is empty, pthread_cond_wait(&q->not_empty, &q->lock), which
    //   unlocks while it sleeps and locks again before it returns. Again a
    //   `while`: another worker may have taken the descriptor between the
    //   signal and this thread's turn at the lock, and a wait may also end
    //   for no reason at all (a spurious wake-up). Take fds[head], move head
    //   on (modulo QUEUE_SLOTS), count one less, pthread_cond_signal()
    //   not_full (the main thread may be waiting for room), unlock, and
    //   return the descriptor.
    pthread_mutex_lock(&q->lock);
    while (q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->lock);
    int fd = q->fds[q->head];
    q->head = (q->head + 1) % QUEUE_SLOTS;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return fd;
    // SKELETON: (void)q;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: no descriptor taken");
    // END TODO
}

/* The whole life of a worker of the pool: one client after another, forever. */
static void *worker_thread(void *arg)
{
    struct fd_queue *q = arg;
    for (;;)
        serve_connection(queue_pop(q));
    return NULL;
}

/* Pool mode: start the workers, or exit if that fails. */
static void start_pool(const pthread_attr_t *attr, long workers, struct fd_queue *q)
{
    // BEGIN TODO 6: Start the pool: `workers` threads, each running
    //   worker_thread() with the queue as its argument, all created with
    //   start_thread() (Step 3) before the server says it is ready. If one
    //   fails, set errno to the error number and sl_die_errno("pthread_create").
    //   They are detached like the client threads; they never end anyway.
    for (long i = 0; i < workers; i++) {
        int rc = start_thread(attr, worker_thread, q);
        if (rc != 0) {
            errno = rc;
            sl_die_errno("pthread_create");
        }
    }
    // SKELETON: (void)attr;
    // SKELETON: (void)q;
    // SKELETON: (void)worker_thread; /* what each worker runs */
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 6 not done yet: no pool of %ld workers", workers);
    // END TODO
}

int main(int argc, char **argv)
{
    struct server_config config = { 0 };
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, "w:", "[-w N]", parse_option, &config, &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    /* SIGINT and SIGTERM only set a flag, without SA_RESTART, so the main
     * thread's accept() fails with EINTR. Handlers belong to the process;
     * which thread runs one depends on the signal masks (Step 3). */
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");

    /* Threads first, so that the ready line means ready to serve. */
    pthread_attr_t attr;
    init_thread_attr(&attr);
    if (config.workers > 0)
        start_pool(&attr, config.workers, &queue);

    char err[SL_ERR_BYTES];
    int listen_fd = sl_listen(opts.addr, opts.port, SOCK_STREAM, BACKLOG, err, sizeof err);
    if (listen_fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    while (!sl_stop_requested()) {
        int client_fd = accept_client(listen_fd);
        if (client_fd < 0)
            continue;
        if (config.workers == 0)
            start_client_thread(&attr, client_fd);
        else if (queue_push(&queue, client_fd) < 0)
            close(client_fd);
    }
    /* Returning from main() ends the process, and with it every thread, even
     * those still serving a client: their sockets close with the process. */
    close(listen_fd);
    return 0;
}
