/*
 * server.c (lab 11): a single-threaded echo server built on io_uring.
 *
 * The same server as lab 10, with the readiness model replaced by the
 * completion model. epoll (a reactor) says "this socket is readable now",
 * and the server then calls recv() itself. io_uring (a proactor) is handed
 * the work instead: "receive into this buffer", "send these bytes",
 * "accept a client", each as a submission queue entry (SQE) in a ring the
 * kernel and the process share. The kernel does the I/O when it can, and
 * puts a completion queue entry (CQE) with the result in a second ring.
 * Linux's counterpart of Windows overlapped I/O and completion ports.
 *
 * Each SQE carries 64 bits of user_data that come back in its CQE: here a
 * pointer to a small struct op that says which operation it was and for
 * whom, as an OVERLAPPED does on Windows. A client has at most one
 * operation in flight, a recv or a send, on its one buffer: recv, send all
 * of it, recv again. From submission until completion that buffer belongs
 * to the kernel; the server never touches or frees it meanwhile. So memory
 * is bounded by design (no backlog to cap: a client that never reads just
 * leaves its send in flight), and closing a client whose operation is in
 * flight means cancelling it and freeing the buffer only when its
 * completion comes back.
 *
 * A send may complete with fewer bytes than asked: the server submits the
 * rest. When accept completes with EMFILE, the server submits a 100 ms
 * timeout instead of the next accept, and accepts again when it fires or a
 * client leaves: no spin. All sockets are blocking: the kernel never makes
 * this thread wait on one of them, it waits for them itself.
 *
 * Outside the I/O model part, the code is the same as in labs 07, 09 and
 * 10: `diff solutions/10-epoll/server.c solutions/11-uring/server.c` shows
 * what the completion model changes.
 *
 * Read: io_uring(7), io_uring_setup(2), io_uring_enter(2),
 * io_uring_queue_init(3), io_uring_prep_accept(3), io_uring_prep_recv(3),
 * io_uring_prep_send(3), io_uring_prep_cancel(3), io_uring_prep_timeout(3),
 * io_uring_submit_and_wait(3), io_uring_peek_batch_cqe(3), accept(2)
 * (EMFILE), getrlimit(2).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50011)
 */
#include "socklab.h"

#include <liburing.h>
#include <time.h>

#define DEFAULT_PORT "50011"
/* The kernel caps this at net.core.somaxconn; many clients connect at once. */
#define BACKLOG 4096
/* One recv takes at most this much: the size of each client's buffer. */
#define READ_BYTES (16 * 1024)
/* After accept fails for want of descriptors, wait this long to retry. */
#define ACCEPT_PAUSE_MS 100

/* One client. `buf` holds what one recv brought until all of it has been
 * sent back, so memory per client is bounded by READ_BYTES. */
struct conn {
    int fd;
    char *buf;   /* READ_BYTES; the kernel's while an operation is in flight */
    size_t len;  /* bytes in buf to echo */
    size_t sent; /* of which the kernel has sent so far */
};

static struct conn *conn_new(int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->buf = malloc(READ_BYTES);
    if (c->buf == NULL) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    return c;
}

static void conn_free(struct conn *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
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

/* --------------------------------------------- the I/O model: io_uring -- */

/* Entries of the submission queue: how many operations can be handed over
 * in one io_uring_enter(). When it is full, the loop submits and goes on. */
#define SQ_ENTRIES 4096
/* Entries of the completion queue. Every client has one operation in flight
 * at most, so this covers 16000 clients finishing at once; beyond that the
 * kernel keeps the overflow aside (IORING_FEAT_NODROP) and nothing is lost. */
#define CQ_ENTRIES 16384
/* At most this many completions handled per turn of the loop. */
#define MAX_CQES 256
/* On stop, how long to wait for the cancelled operations to come back. */
#define STOP_DRAIN_MS 1000

/* What kind of operation a completion is about. */
enum op_kind { OP_ACCEPT, OP_RECV, OP_SEND, OP_PAUSE, OP_CANCEL };

struct client;

/*
 * An SQE's user_data points to one of these, and its CQE brings the pointer
 * back: which operation finished, and for whom. Windows programs embed an
 * OVERLAPPED in such a struct for the same reason.
 */
struct op {
    enum op_kind kind;
    struct client *client; /* OP_RECV and OP_SEND: whose */
};

/*
 * What the loop keeps per client beside its struct conn: its operation
 * (the user_data of its one recv or send in flight), whether one is in
 * flight, whether a close waits for it, and links in a list of every
 * client, because the server must close them all when it stops.
 */
struct client {
    struct conn *conn;
    struct op op;
    bool in_flight; /* a recv or send on conn->buf is the kernel's */
    bool closing;   /* closed meanwhile: free it when that completes */
    struct client *prev, *next;
};

struct event_loop {
    struct io_uring *ring;
    int listen_fd;
    struct op accept_op, pause_op, cancel_op; /* user_data of the other SQEs */
    bool accepting;                           /* an accept is in flight */
    bool paused;                              /* an accept pause (a timeout) is in flight */
    bool stopping;                            /* SIGINT or SIGTERM: submit nothing new */
    struct __kernel_timespec pause;           /* the pause's length, read at submission */
    unsigned in_flight;                       /* SQEs submitted whose CQE has not come back */
    struct client *clients;                   /* every client, newest first */
};

/*
 * Create the io_uring instance: two rings shared with the kernel, and a
 * descriptor. main() makes it before anything else of the server, so that a
 * server with no ring never starts. io_uring can be missing or forbidden
 * (an old kernel, kernel.io_uring_disabled, a container's seccomp profile):
 * then say so in one line and exit 1.
 */
static void uring_open(struct io_uring *ring)
{
    /* TODO 1: Create the ring with io_uring_queue_init_params(SQ_ENTRIES,
     *   ring, &p), where p is a zeroed struct io_uring_params with
     *   p.flags = IORING_SETUP_CQSIZE and p.cq_entries = CQ_ENTRIES. It returns
     *   0 or a negative errno (it does not set errno). On failure, exit with
     *   sl_die(SL_EXIT_RUNTIME, "io_uring_queue_init: %s (io_uring is not
     *   available on this kernel or is blocked: ...)", strerror(-ret)). */
    (void)ring;
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no io_uring instance to submit to");
}

/*
 * A free SQE, with user_data set to op. When the submission queue is full,
 * hand what it holds to the kernel first. Returns NULL only if the kernel
 * refuses the submission (then nothing was queued). Every SQE taken here
 * will produce exactly one CQE: in_flight counts them.
 */
static struct io_uring_sqe *sqe_get(struct event_loop *loop, struct op *op)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(loop->ring);
    for (int tries = 0; sqe == NULL && tries < 3; tries++) {
        int ret = io_uring_submit(loop->ring);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
            errno = -ret;
            sl_warn_errno("io_uring_submit");
            return NULL;
        }
        sqe = io_uring_get_sqe(loop->ring);
    }
    if (sqe == NULL)
        return NULL;
    io_uring_sqe_set_data(sqe, op);
    loop->in_flight++;
    return sqe;
}

/* Ask the kernel for the next client. Returns 0, or -1 if no SQE. */
static int submit_accept(struct event_loop *loop)
{
    if (loop->accepting || loop->stopping)
        return 0;
    /* TODO 2: Take an SQE for loop->accept_op with sqe_get(), and prepare
     *   it with io_uring_prep_accept(sqe, loop->listen_fd, NULL, NULL,
     *   SOCK_CLOEXEC): the client's descriptor comes back as the CQE's res.
     *   Set loop->accepting. Return -1 if sqe_get() gave NULL. */
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: no accept is ever submitted");
    return 0;
}

/* Hand the client's whole buffer to the kernel to receive into. Returns 0,
 * or -1 if no SQE. */
static int submit_recv(struct event_loop *loop, struct client *cl)
{
    struct conn *c = cl->conn;
    /* TODO 4: Take an SQE for cl->op, set cl->op.kind = OP_RECV, and prepare
     *   io_uring_prep_recv(sqe, c->fd, c->buf, READ_BYTES, 0). From now until
     *   its completion, c->buf is the kernel's: set cl->in_flight. Return -1
     *   if sqe_get() gave NULL. */
    (void)loop;
    (void)c;
    sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: nothing is ever received");
    return 0;
}

/* Hand the kernel what of the buffer is still to be sent. Returns 0, or -1
 * if no SQE. */
static int submit_send(struct event_loop *loop, struct client *cl)
{
    struct conn *c = cl->conn;
    /* TODO 5: Take an SQE for cl->op, set cl->op.kind = OP_SEND, and prepare
     *   io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent,
     *   MSG_NOSIGNAL): the part not sent yet, and no SIGPIPE if the client is
     *   gone. Set cl->in_flight. Return -1 if sqe_get() gave NULL. */
    (void)loop;
    (void)c;
    sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: nothing is ever sent back");
    return 0;
}

/* Forget a client whose buffer the kernel no longer holds. A descriptor is
 * free again, so an accept paused for want of one may go at once. */
static void client_free(struct event_loop *loop, struct client *cl)
{
    if (cl->prev != NULL)
        cl->prev->next = cl->next;
    else
        loop->clients = cl->next;
    if (cl->next != NULL)
        cl->next->prev = cl->prev;
    conn_free(cl->conn);
    free(cl);
    if (loop->paused)
        submit_accept(loop);
}

/*
 * Close a client. With nothing in flight, at once. With a recv or send in
 * flight, the kernel still holds the buffer (and the socket: close() alone
 * would not stop the operation), so cancel it by its user_data and free the
 * client when its completion comes back, cancelled or done.
 */
static void client_close(struct event_loop *loop, struct client *cl)
{
    if (!cl->in_flight) {
        client_free(loop, cl);
        return;
    }
    /* TODO 7: cl->in_flight: take an SQE for loop->cancel_op, prepare
     *   io_uring_prep_cancel(sqe, &cl->op, 0) and set cl->closing: the
     *   completion of cl->op (res -ECANCELED, or its result if it finished
     *   first) will free it (see on_completion()). If there is no SQE, still
     *   set cl->closing: the operation completes some day. Never free it
     *   here, and know that close(c->fd) would not stop the operation. */
    sl_die(SL_EXIT_RUNTIME, "TODO 7 not done yet: a client with a recv or send in "
                            "flight cannot be closed");
}

/* A new client's descriptor: give it a buffer and its first recv. */
static int client_add(struct event_loop *loop, int fd)
{
    struct conn *c = conn_new(fd);
    struct client *cl = c != NULL ? calloc(1, sizeof *cl) : NULL;
    if (cl == NULL) {
        if (c != NULL)
            conn_free(c);
        else
            close(fd);
        return -1;
    }
    cl->conn = c;
    cl->op = (struct op){ OP_RECV, cl };
    cl->next = loop->clients;
    if (cl->next != NULL)
        cl->next->prev = cl;
    loop->clients = cl;
    if (submit_recv(loop, cl) < 0) {
        client_free(loop, cl);
        return -1;
    }
    return 0;
}

/* Stop accepting for ACCEPT_PAUSE_MS: a timeout instead of the next accept.
 * The accept goes again when the timeout completes or a client leaves. */
static void pause_accept(struct event_loop *loop)
{
    if (loop->paused)
        return; /* a pause is already running: it will resume accepting */
    /* TODO 6: Take an SQE for loop->pause_op and prepare
     *   io_uring_prep_timeout(sqe, &loop->pause, 0, 0), with loop->pause set
     *   to ACCEPT_PAUSE_MS (tv_sec 0, tv_nsec ACCEPT_PAUSE_MS * 1000000): its
     *   CQE comes back (res -ETIME) when the time is up. Set loop->paused.
     *   Do not submit the accept again here: it would fail at once, again
     *   and again, a spin. */
    submit_accept(loop);
}

/* An accept completed: res is the new client's descriptor, or -errno. */
static void on_accept(struct event_loop *loop, int res)
{
    if (res >= 0 && loop->stopping) {
        close(res);
        return;
    }
    /* TODO 2: res >= 0 is the new client's socket. Give it a buffer and its
     *   first recv with client_add(loop, res); if that fails, warn with
     *   sl_warn_errno("accept: cannot take a client") and pause_accept().
     *   Then submit_accept() again: an accept brings one client, and the
     *   next one needs an accept of its own in flight. */
    (void)client_add;
    if (res == -ECANCELED || loop->stopping)
        return;
    if (res == -EINTR || res == -ECONNABORTED || res == -EAGAIN) {
        submit_accept(loop); /* that client gave up, or try again: the next one */
        return;
    }
    /* Out of descriptors (EMFILE, ENFILE) or memory; or anything else, which
     * must not make the loop spin either. */
    errno = -res;
    if (out_of_descriptors(-res))
        sl_warn_errno("accept (pausing up to %d ms)", ACCEPT_PAUSE_MS);
    else
        sl_warn_errno("accept (pausing %d ms all the same)", ACCEPT_PAUSE_MS);
    pause_accept(loop);
}

/* A recv into the client's buffer completed with res bytes, 0 at the
 * client's FIN, or -errno. */
static void on_recv(struct event_loop *loop, struct client *cl, int res)
{
    struct conn *c = cl->conn;
    /* TODO 4: res > 0: the kernel put res bytes in c->buf: set c->len = res,
     *   c->sent = 0, and submit_send() them. res == 0: the client's FIN, and
     *   everything it sent has been echoed already (a recv is submitted only
     *   once all is sent): client_close(). res -EINTR or -EAGAIN: submit_recv()
     *   again. Any other res < 0 (-ECONNRESET...): that client is gone,
     *   client_close(). If a submission fails (-1), client_close() too. */
    (void)c;
    (void)res;
    client_close(loop, cl);
}

/* A send from the client's buffer completed with res bytes sent, or -errno. */
static void on_send(struct event_loop *loop, struct client *cl, int res)
{
    struct conn *c = cl->conn;
    /* TODO 5: res > 0: add it to c->sent. A send may take fewer bytes than
     *   asked (a short send): while c->sent < c->len, submit_send() the rest.
     *   Once all is sent, the buffer is free again: submit_recv(). res -EINTR
     *   or -EAGAIN: submit_send() again. res 0 or another -errno (-EPIPE,
     *   -ECONNRESET): client_close(). If a submission fails, client_close(). */
    (void)c;
    (void)res;
    (void)submit_send;
    client_close(loop, cl);
}

/* One completion: find its operation by user_data and carry on from it. */
static void on_completion(struct event_loop *loop, const struct io_uring_cqe *cqe)
{
    struct op *op = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    loop->in_flight--;
    switch (op->kind) {
    case OP_ACCEPT:
        loop->accepting = false;
        on_accept(loop, res);
        break;
    case OP_PAUSE: /* res -ETIME: the time is up; -ECANCELED at stop */
        loop->paused = false;
        submit_accept(loop);
        break;
    case OP_CANCEL: /* the cancel's own result; the cancelled op has its own CQE */
        break;
    case OP_RECV:
    case OP_SEND:
        op->client->in_flight = false;
        if (op->client->closing)
            client_free(loop, op->client); /* now the buffer is ours to free */
        else if (op->kind == OP_RECV)
            on_recv(loop, op->client, res);
        else
            on_send(loop, op->client, res);
        break;
    }
}

/*
 * Stop: submit nothing new, cancel every operation in flight (the accept,
 * the pause, each client's recv or send), and free each client when its
 * operation comes back. The buffers are the kernel's until then. A bounded
 * wait: what has not come back by then is left to the process's exit.
 */
static void stop_all(struct event_loop *loop)
{
    loop->stopping = true;
    if (loop->accepting) {
        struct io_uring_sqe *sqe = sqe_get(loop, &loop->cancel_op);
        if (sqe != NULL)
            io_uring_prep_cancel(sqe, &loop->accept_op, 0);
    }
    if (loop->paused) {
        struct io_uring_sqe *sqe = sqe_get(loop, &loop->cancel_op);
        if (sqe != NULL)
            io_uring_prep_timeout_remove(sqe, (__u64)(uintptr_t)&loop->pause_op, 0);
    }
    for (struct client *cl = loop->clients, *next; cl != NULL; cl = next) {
        next = cl->next;
        if (!cl->closing)
            client_close(loop, cl);
    }
    io_uring_submit(loop->ring);
    long long deadline = now_ms() + STOP_DRAIN_MS;
    while (loop->in_flight > 0 && now_ms() < deadline) {
        struct __kernel_timespec ts = { 0, 50 * 1000000LL };
        struct io_uring_cqe *cqe;
        int ret = io_uring_wait_cqe_timeout(loop->ring, &cqe, &ts);
        if (ret == -EINTR || ret == -ETIME)
            continue;
        if (ret < 0)
            break;
        on_completion(loop, cqe);
        io_uring_cqe_seen(loop->ring, cqe);
    }
}

static int main_loop(int listen_fd, struct io_uring *ring)
{
    struct event_loop loop = { .ring = ring, .listen_fd = listen_fd };
    loop.accept_op.kind = OP_ACCEPT;
    loop.pause_op.kind = OP_PAUSE;
    loop.cancel_op.kind = OP_CANCEL;
    if (submit_accept(&loop) < 0)
        sl_die(SL_EXIT_RUNTIME, "io_uring: cannot submit the first accept");
    while (!sl_stop_requested()) {
        /* TODO 3: Hand every prepared SQE to the kernel and sleep until at
         *   least one CQE is there, in one system call:
         *   io_uring_submit_and_wait(loop.ring, 1). It returns a negative errno:
         *   on -EINTR go round again (the loop checks the stop flag), on another
         *   error sl_warn_errno("io_uring_submit_and_wait") (errno = -ret) and
         *   break. Then take up to MAX_CQES completions with
         *   io_uring_peek_batch_cqe(loop.ring, cqes, MAX_CQES), pass each to
         *   on_completion(&loop, cqes[i]), and give them back to the ring with
         *   io_uring_cq_advance(loop.ring, n): until then the kernel cannot
         *   reuse their slots. */
        (void)on_completion;
        sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: no completion is ever reaped");
    }
    stop_all(&loop);
    io_uring_queue_exit(loop.ring);
    return 0;
}

/*
 * The listening socket, left blocking, as are the clients' sockets: the
 * kernel waits for them on the server's behalf and the thread never calls
 * accept() or recv() itself, so O_NONBLOCK would buy nothing; and it can
 * make an operation the kernel hands to a worker complete with -EAGAIN
 * instead of waiting.
 */
static int open_listener(const struct sl_opts *opts)
{
    char err[SL_ERR_BYTES];
    int fd = sl_listen(opts->addr, opts->port, SOCK_STREAM, BACKLOG, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
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
    /* A descriptor per client: take all the kernel allows this process. */
    if (sl_raise_nofile() < 0)
        sl_warn_errno("setrlimit RLIMIT_NOFILE");

    /* The event loop's kernel object first: without it there is no server. */
    struct io_uring ring;
    uring_open(&ring);

    int listen_fd = open_listener(&opts);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    int status = main_loop(listen_fd, &ring);
    close(listen_fd);
    return status;
}
