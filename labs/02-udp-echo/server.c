/*
 * server.c (lab 02): a UDP echo server.
 *
 * It answers each datagram with one datagram of the same bytes, sent back to
 * the address and port it came from. There are no connections: one socket
 * receives from every client, and recvfrom() says who sent each datagram.
 * Nothing to accept, nothing to close per client, and a datagram arrives
 * whole or not at all: its boundaries are kept, unlike TCP's byte stream.
 *
 * Read: udp(7), recvfrom(2) (recv(2)), sendto(2) (send(2)), socket(7),
 * ip(7), ipv6(7), signal(7).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50002)
 */
#include "socklab.h"

#define DEFAULT_PORT "50002"
/*
 * Room for the largest datagram there is. A UDP datagram carries at most
 * 65535 bytes counting its 8-byte header, inside an IPv4 packet of at most
 * 65535 bytes counting its 20-byte header: 65535 - 20 - 8 = 65507 bytes of
 * data. (IPv6 does not count its header in that limit: 65527 there.)
 * recvfrom() cuts a datagram longer than the buffer, silently.
 */
#define DATAGRAM_BUFFER_BYTES 65536

/*
 * Receive one datagram and send the same bytes back to where it came from.
 * An error concerns that one datagram only: log it and go on.
 */
static void answer_datagram(int sock, char *buf, size_t cap)
{
    /* TODO 2: Receive and answer: recvfrom(2) one datagram into `buf`,
     *   with a struct sockaddr_storage for its source (set the length to its
     *   size before each call), then sendto(2) the same number of bytes back
     *   to that source. An empty datagram (0 bytes) is a datagram too: answer
     *   it. On EINTR just return (the caller checks sl_stop_requested());
     *   log other errors with sl_warn_errno() and return: never exit. */
    (void)sock;
    (void)buf;
    (void)cap;
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: no datagram answered");
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    /* UDP never raises SIGPIPE, but every server starts the same way. */
    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    /* SIGINT and SIGTERM only set a flag; a blocking recvfrom() then fails
     * with EINTR and the loop below checks sl_stop_requested(). */
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");

    char err[SL_ERR_BYTES];
    int sock = -1;
    /* TODO 1: Bind a datagram socket: sl_listen() with SOCK_DGRAM does
     *   what lab 01 wrote by hand (getaddrinfo, socket, bind), and no
     *   listen(): a datagram socket has no connections to accept. Nor
     *   SO_REUSEADDR: UDP has no TIME_WAIT, and on a datagram socket the
     *   option would let a second server bind the same port.
     *   On failure it returns -1 with the reason in err. */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no socket bound");
    if (sock < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_print_ready(sock) < 0)
        sl_die_errno("getsockname");

    char buf[DATAGRAM_BUFFER_BYTES];
    while (!sl_stop_requested())
        answer_datagram(sock, buf, sizeof buf);
    close(sock);
    return 0;
}
