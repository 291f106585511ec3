/*
 * client.c (lab 01): the TCP echo client.
 *
 * It connects to the echo server, copies its standard input to the server and
 * everything the server sends to its standard output. At the end of its input
 * it shuts down its sending side (a half-close: the server sees end of stream
 * but can still answer), prints the rest of the echo and exits 0.
 *
 * It shows the client's side of TCP: getaddrinfo() for the server's
 * addresses, socket() and connect() tried on each in turn, and why a client
 * must read and write at the same time: one that writes all its input before
 * reading anything deadlocks as soon as the echo fills the socket buffers.
 *
 * Read: socket(2), connect(2), shutdown(2), poll(2), getaddrinfo(3), tcp(7).
 *
 * Usage: client [-a HOST] [-p PORT] < input   (default 127.0.0.1, port 50001)
 * Exit status: 0 when all went well, 1 on a network error or when the server
 * closes before the input ends, 2 on a bad command line.
 */
#include "socklab.h"

#define DEFAULT_PORT "50001"

/*
 * Connect to host:port, trying each address getaddrinfo() finds.
 * Returns the connected socket, or -1 with the reason in err.
 */
static int connect_to(const char *host, const char *port, char *err, size_t errlen)
{
    // BEGIN TODO 6: Connect to the server: getaddrinfo(3) with AF_UNSPEC
    //   and SOCK_STREAM (no AI_PASSIVE: this address is to be reached), then
    //   for each result socket(2) and connect(2) until one connects; close
    //   the socket of each attempt that fails. Keep the reason of the last
    //   failure as "connect 127.0.0.1:50001: Connection refused" with
    //   sl_set_err() and sl_addr_format(). Free the list with freeaddrinfo().
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "getaddrinfo %s: %s", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            sl_set_err(err, errlen, errno, "socket");
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            char where[SL_ADDR_BYTES];
            sl_set_err(err, errlen, errno, "connect %s",
                       sl_addr_format(ai->ai_addr, ai->ai_addrlen, where, sizeof where));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
    // SKELETON: (void)host;
    // SKELETON: (void)port;
    // SKELETON: (void)err;
    // SKELETON: (void)errlen;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 6 not done yet: not connected to the server");
    // END TODO
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    /* A server that closes early must give an error we can report (EPIPE),
     * not a SIGPIPE that kills the client without a word. */
    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");

    char err[SL_ERR_BYTES];
    int fd = connect_to(opts.addr, opts.port, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);

    // BEGIN TODO 7: Relay both ways with sl_relay(0, fd, 1, err, sizeof err):
    //   it waits on standard input and the socket at once, so the echo is read
    //   while the input is still being sent, and at the end of the input it
    //   shuts down the sending side (shutdown(fd, SHUT_WR)) and prints the
    //   rest. If it fails (a network error, or the server closed before the
    //   input ended), print err with sl_die(SL_EXIT_RUNTIME, "%s", err).
    if (sl_relay(0, fd, 1, err, sizeof err) < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 7 not done yet: nothing relayed");
    // END TODO
    close(fd);
    return 0;
}
