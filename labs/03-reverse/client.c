/*
 * client.c (lab 03): the line-reversing client.
 *
 * It connects to the reverse server, sends its standard input, and prints
 * every answer the server sends; at the end of its input it shuts down its
 * sending side and prints the answers still to come, until the server closes.
 *
 * It is lab 01's echo client with sl_connect() in place of the connect loop
 * written by hand: the bytes go through unchanged, and the server does the
 * framing. The client needs no line reader, but it must still read and write
 * at the same time: 1000000 lines sent before any answer is read fill the
 * socket buffers both ways, and then neither side can move.
 *
 * Read: connect(2), shutdown(2), poll(2), tcp(7).
 *
 * Usage: client [-a HOST] [-p PORT] < lines   (default 127.0.0.1, port 50003)
 * Exit status: 0 when all went well, 1 on a network error or when the server
 * closes before the input ends, 2 on a bad command line.
 */
#include "socklab.h"

#define DEFAULT_PORT "50003"

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    /* A server that closes early must give an error we can report (EPIPE),
     * not a SIGPIPE that kills the client without a word. */
    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");

    char err[SL_ERR_BYTES];
    int fd = sl_connect(opts.addr, opts.port, SOCK_STREAM, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);

    /* TODO 6: The client: relay with sl_relay(0, fd, 1, err, sizeof err)
     *   as in lab 01. The answers to the first lines come back while later
     *   lines are still being sent: a client that sent everything first and
     *   only then read would deadlock once both directions' buffers fill. If
     *   it fails, print err with sl_die(SL_EXIT_RUNTIME, "%s", err). */
    sl_die(SL_EXIT_RUNTIME, "TODO 6 not done yet: nothing relayed");
    close(fd);
    return 0;
}
