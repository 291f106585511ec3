/*
 * server.c (lab 01): an iterative, blocking TCP echo server.
 *
 * It sends back every byte a client sends, unchanged, until the client shuts
 * down its sending side; then it closes that connection and accepts the next
 * client. One process, one thread, one client at a time: while it serves a
 * client, the next ones wait in the kernel's backlog, their handshakes already
 * done.
 *
 * It shows the whole life of a TCP server, every call made by hand:
 * getaddrinfo() turns the text address into socket addresses, socket()
 * makes an endpoint, bind() gives it the address, listen() turns it into a
 * listening socket, accept() takes the next connection, recv() and send() move
 * the bytes, close() ends it. Later labs call sl_listen() for the first four.
 *
 * Read: socket(2), setsockopt(2), bind(2), listen(2), accept(2), recv(2),
 * send(2), close(2), getaddrinfo(3), ip(7), ipv6(7), tcp(7), socket(7),
 * signal(7).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50001)
 */
#include "socklab.h"

#define DEFAULT_PORT "50001"
/* How many finished handshakes the kernel keeps waiting for accept(). */
#define BACKLOG 16
/* One recv() takes at most this much; any size works, bigger means fewer calls. */
#define BUFFER_BYTES (16 * 1024)

/*
 * Open a socket listening on one of the addresses getaddrinfo() found.
 * Returns the descriptor, or -1 with the reason in err.
 */
static int listen_on(const struct addrinfo *ai, char *err, size_t errlen)
{
    char where[SL_ADDR_BYTES];
    sl_addr_format(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
    int fd = -1;

    /* TODO 2: Create the socket with socket(2), using the family, type
     *   and protocol in `ai`. Then set two options with setsockopt(2):
     *   SO_REUSEADDR (SOL_SOCKET), so that a restart can bind the port while
     *   old connections still sit in TIME_WAIT; and for an AF_INET6 socket
     *   IPV6_V6ONLY (IPPROTO_IPV6), so that it serves IPv6 only, the same on
     *   every system. On failure: sl_set_err(err, errlen, errno, "socket"),
     *   close what you opened, return -1. */
    (void)err;
    (void)errlen;
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: no socket to listen on");

    /* TODO 3: Bind and listen: bind(2) the socket to ai->ai_addr, then
     *   listen(2) with BACKLOG. On failure, say which call failed and where,
     *   so that a port in use reads "bind 127.0.0.1:50001: Address already
     *   in use": sl_set_err(err, errlen, errno, "bind %s", where). Close the
     *   socket and return -1. */
    sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: %s is not bound", where);
    return fd;
}

/*
 * Resolve host and port and listen on the first address that works.
 * Returns the listening descriptor, or -1 with the reason in err.
 */
static int open_listener(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo *res = NULL;

    /* TODO 1: Resolve the address with getaddrinfo(3) into `res`:
     *   ai_family AF_UNSPEC (IPv4 or IPv6, whatever `host` is), ai_socktype
     *   SOCK_STREAM, ai_flags AI_PASSIVE (an address to bind, not to reach)
     *   and AI_NUMERICSERV (the port is a number). It reports errors with its
     *   own codes: say them with gai_strerror(), as
     *   snprintf(err, errlen, "getaddrinfo %s: %s", host, reason); return -1. */
    (void)host;
    (void)port;
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no address to listen on");

    /* A name may resolve to several addresses (localhost: ::1 and 127.0.0.1).
     * Take the first that works; err keeps the reason the last one failed. */
    int fd = -1;
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = listen_on(ai, err, errlen);
    freeaddrinfo(res);
    return fd;
}

/*
 * Wait for the next client and return its connected socket, with its address
 * in peer. Returns -1 when accept() failed; that ends nothing, the caller just
 * tries again (or stops, if a signal asked it to).
 */
static int accept_client(int listen_fd, char *peer, size_t peerlen)
{
    /* TODO 4: Accept clients one at a time: accept(2) blocks until a
     *   client has connected, then returns a new socket for that one
     *   connection (listen_fd goes on listening). Pass a struct
     *   sockaddr_storage to learn who it is, and write it into `peer` with
     *   sl_addr_format(). If accept() fails, return -1 and let the caller try
     *   again: EINTR means a signal came (maybe the stop request), and
     *   ECONNABORTED or EMFILE must not end the server; log all but EINTR
     *   with sl_warn_errno("accept"). */
    (void)listen_fd;
    (void)peer;
    (void)peerlen;
    sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: no client accepted");
}

/*
 * Send all len bytes of buf. send(2) may send fewer bytes than asked (a
 * signal, a full socket buffer), so loop until everything is gone.
 * Returns 0, or -1 with errno set.
 */
static int send_all(int fd, const char *buf, size_t len)
{
    /* TODO 5: Loop over send(2) until all `len` bytes are sent, moving
     *   `buf` on by what each call sent. Pass MSG_NOSIGNAL: writing to a
     *   client that has gone must give EPIPE, not a SIGPIPE that kills the
     *   server. EINTR is no error: send again. But after each call, if bytes
     *   remain and sl_stop_requested(), give up (errno = EINTR, return -1). */
    (void)fd;
    (void)buf;
    (void)len;
    sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: send_all() sends nothing");
}

/*
 * Echo everything one client sends until it shuts down its sending side.
 * Any error ends this client only: log it and return.
 */
static void echo_client(int fd, const char *peer)
{
    /* TODO 5: Echo every byte: recv(2) into a buffer and send_all()
     *   what came, until recv() returns 0 (the client's FIN: it will send no
     *   more, and everything it sent has been echoed). The bytes are data,
     *   not a C string: a NUL is just a byte, never printf() them. On EINTR
     *   recv again unless sl_stop_requested(); on any other error (such as
     *   ECONNRESET) log it with sl_warn_errno("recv from %s", peer) and return. */
    (void)fd;
    (void)peer;
    (void)send_all; /* call it for what each recv() brings */
    sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: nothing echoed");
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    /* A client that vanishes must not kill the server: without this, writing
     * to its closed connection raises SIGPIPE, whose default is to die. */
    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    /* SIGINT and SIGTERM only set a flag; blocking calls then fail with EINTR
     * and every loop checks sl_stop_requested(). */
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");

    char err[SL_ERR_BYTES];
    int listen_fd = open_listener(opts.addr, opts.port, err, sizeof err);
    if (listen_fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    /* A signal that lands between the check and accept() is seen only when
     * the next client comes: a small window (pselect(2) closes it). */
    while (!sl_stop_requested()) {
        char peer[SL_ADDR_BYTES];
        int client_fd = accept_client(listen_fd, peer, sizeof peer);
        if (client_fd < 0)
            continue;
        echo_client(client_fd, peer);
        close(client_fd);
    }
    close(listen_fd);
    return 0;
}
