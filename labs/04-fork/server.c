/*
 * server.c (lab 04): a concurrent TCP echo server, one process per client.
 *
 * Lab 01's server served one client at a time. This one accepts a client,
 * fork()s, and lets the new process (the child) serve that client while the
 * original (the parent) goes straight back to accept(). Each client gets its
 * own process, so a client that sits idle holds up nobody.
 *
 * fork() is cheap to call and easy to get wrong. The program shows the three
 * things a forking server must get right:
 *
 *   - Reaping. A child that exits stays a zombie until its parent collects
 *     its exit status with wait(). The parent reaps from a SIGCHLD handler,
 *     in a waitpid(-1, ..., WNOHANG) loop, because signals do not queue: one
 *     SIGCHLD may stand for many children.
 *   - Descriptors. fork() duplicates every descriptor. The parent closes the
 *     connected socket, the child closes the listening socket; otherwise a
 *     connection is never really closed, and descriptors pile up.
 *   - Endings. The child serves its one client and _exit()s: it must never
 *     return into the parent's accept loop. And when the parent is stopped,
 *     its children end with it (PR_SET_PDEATHSIG).
 *
 * Lab 01 taught the listening socket and the echo loop: here sl_listen()
 * opens the socket and sl_write_full() is lab 01's send_all().
 *
 * Read: fork(2), _exit(2), waitpid(2), sigaction(2), signal(7) (signals that
 * interrupt system calls, SA_RESTART), prctl(2) (PR_SET_PDEATHSIG),
 * getppid(2), close(2), accept(2), credentials(7).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50004)
 */
#include "socklab.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#define DEFAULT_PORT "50004"
/* How many finished handshakes the kernel keeps waiting for accept(). A
 * forking server accepts quickly, but clients may still arrive in bursts. */
#define BACKLOG 64
/* One recv() takes at most this much; any size works. */
#define BUFFER_BYTES (16 * 1024)

/*
 * The SIGCHLD handler: collect the exit status of every child that has
 * ended, so that none of them stays a zombie.
 */
static void reap_children(int signo)
{
    /* TODO 1: Reap every child that has ended, not just one: loop on
     *   waitpid(-1, &status, WNOHANG) while it returns a pid (> 0). Signals
     *   do not queue: when ten children end at once, the handler may run
     *   only once. WNOHANG makes waitpid() return 0 instead of blocking while
     *   other children still run, and -1 (ECHILD) when none is left.
     *   waitpid() may change errno, which the code the handler interrupted
     *   may be about to read: save errno first and restore it at the end. */
    (void)signo;
}

/* Install reap_children() as the SIGCHLD handler. Returns 0, or -1 with errno. */
static int install_reaper(void)
{
    /* TODO 1: Install reap_children() for SIGCHLD with sigaction(2):
     *   an empty sa_mask, and sa_flags SA_RESTART (a SIGCHLD that lands while
     *   the parent sleeps in accept() restarts the call instead of failing
     *   it with EINTR) and SA_NOCLDSTOP (no SIGCHLD when a child is merely
     *   stopped or continued, only when it ends). Return what sigaction()
     *   returns. */
    (void)reap_children; /* the handler to install */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no SIGCHLD handler, so "
                            "every child that ends would stay a zombie");
}

/*
 * Wait for the next client and return its connected socket, with its address
 * in peer. Returns -1 when accept() failed; that ends nothing, the caller
 * tries again (or stops, if a signal asked it to).
 */
static int accept_client(int listen_fd, char *peer, size_t peerlen)
{
    /* TODO 2: Accept as in lab 01, but now signals really do arrive:
     *   every child that ends sends the parent SIGCHLD. SA_RESTART restarts
     *   an interrupted accept(), but do not count on it (the stop handler
     *   has no SA_RESTART on purpose, and other systems differ): when
     *   accept(2) fails with EINTR, return -1 without a word and let the
     *   loop in main() look at the stop flag. Log any other error with
     *   sl_warn_errno("accept") and return -1: none of them may end the
     *   server. On success, write the client's address into `peer` with
     *   sl_addr_format() and return the new descriptor. */
    (void)listen_fd;
    (void)peer;
    (void)peerlen;
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: no client accepted");
}

/*
 * Echo everything one client sends until it shuts down its sending side:
 * lab 01's loop. Any error ends this client only: log it and return.
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

/*
 * The child's whole life: serve one client, then end the process. It never
 * returns: a child that came back into main()'s loop would be a second
 * server, accepting clients of its own.
 */
static void serve_in_child(int listen_fd, int client_fd, const char *peer, pid_t parent)
{
    /* TODO 4: The child's side. fork() copied the listening socket
     *   into the child, which will never accept: close(listen_fd). (A child
     *   that keeps it holds the port open after the parent is gone.) */
    (void)listen_fd;
    (void)client_fd;
    (void)peer;
    sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: the child still holds the "
                            "listening socket");

    /* TODO 5: End with the parent. Ask the kernel to send this process
     *   SIGTERM when its parent dies: prctl(PR_SET_PDEATHSIG, SIGTERM); on
     *   failure sl_warn_errno("prctl PR_SET_PDEATHSIG") and go on. The parent
     *   may have died already, before the prctl() (then no signal will ever
     *   come): if getppid() is no longer `parent`, _exit(0) now. SIGTERM
     *   then reaches the stop handler this process inherited: it sets the
     *   child's own stop flag, recv() fails with EINTR, the echo loop
     *   returns. */
    (void)parent;
    sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: this child would outlive "
                            "the server");

    echo_client(client_fd, peer);
    close(client_fd);
    /* _exit(), not exit() or return: the child must not run what belongs to
     * the parent, such as the atexit() handlers or a second flush of stdio
     * buffers that the two processes now both hold a copy of. */
    _exit(0);
}

/*
 * The parent's side: start a child for the client and go back to accepting.
 * Whatever happens, the parent no longer holds client_fd afterwards.
 */
static void serve_client(int listen_fd, int client_fd, const char *peer)
{
    pid_t parent = getpid();

    /* TODO 3: Fork a process per client: fork(2). In the child (fork()
     *   returned 0), call serve_in_child(listen_fd, client_fd, peer, parent),
     *   which never returns. In the parent (a pid > 0), close(client_fd):
     *   the child has its own copy, and the connection ends only when every
     *   copy is closed, so a parent that keeps it leaves the client waiting
     *   forever for the end of the echo. If fork() fails (-1, e.g. EAGAIN:
     *   too many processes), log it with sl_warn_errno("fork for %s", peer)
     *   and close(client_fd) too: that client is dropped, the server goes on. */
    (void)listen_fd;
    (void)client_fd;
    (void)parent;
    (void)serve_in_child; /* what the child runs */
    sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: nobody serves %s", peer);
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    /* SIGINT and SIGTERM only set a flag, without SA_RESTART: accept() fails
     * with EINTR and the loop below stops. Each child inherits the handler
     * with its own copy of the flag, so a stop signal ends a child the same
     * way: its recv() fails with EINTR and its echo loop returns. */
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");
    /* Before the first fork(): no child can end unnoticed. */
    if (install_reaper() < 0)
        sl_die_errno("sigaction SIGCHLD");

    char err[SL_ERR_BYTES];
    int listen_fd = sl_listen(opts.addr, opts.port, SOCK_STREAM, BACKLOG, err, sizeof err);
    if (listen_fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    while (!sl_stop_requested()) {
        char peer[SL_ADDR_BYTES];
        int client_fd = accept_client(listen_fd, peer, sizeof peer);
        if (client_fd < 0)
            continue;
        serve_client(listen_fd, client_fd, peer);
    }
    /* The children get SIGTERM from the kernel as this process ends
     * (PR_SET_PDEATHSIG, Step 5); their zombies go to whoever adopts them. */
    close(listen_fd);
    return 0;
}
