/*
 * client.c (lab 06): the chat client, with two threads.
 *
 * A chat is not a conversation of questions and answers: other users'
 * messages arrive whenever they are sent, while this user is typing or
 * doing nothing at all. So the client cannot first read a line of input and
 * then wait for an answer. It does two things at once, each in its own
 * thread, each a simple blocking loop:
 *
 *   main thread:     standard input  ->  socket   (what the user types)
 *   receiver thread: socket          ->  standard output (what the room says)
 *
 * When the input ends, the main thread shuts down the sending side of the
 * connection (shutdown(SHUT_WR), a half-close: "I have nothing more to
 * say") and waits; the server then sees the end of the stream, takes the
 * user out of the room and closes, and the receiver, having printed
 * everything, ends the program. When the server closes first (after /quit,
 * or because it dropped this client), the receiver ends the program at
 * once, without waiting for input that will never be sent.
 *
 * Lab 08's server does the work of many such threads in one, with
 * select(); this client shows the threaded way in its simplest form.
 *
 * Read: pthread_create(3), shutdown(2), recv(2), tcp(7).
 *
 * Usage: client [-a HOST] [-p PORT]   (default 127.0.0.1, port 50006)
 * Exit status: 0 when the server closed the conversation, 1 on a network
 * error (connection refused, reset), 2 on a bad command line.
 */
#include "socklab.h"

#include <pthread.h>

#define DEFAULT_PORT "50006"
#define BUFFER_BYTES (16 * 1024)

/*
 * The receiver thread: print everything the server sends, as it comes, then
 * end the whole program when the server closes. Its argument is the socket.
 */
static void *receive_thread(void *arg)
{
    int fd = *(int *)arg;
    // BEGIN TODO 6: The client's two threads, the receiver. Loop: recv(2)
    //   from the socket into a buffer (retry EINTR) and write what came to
    //   standard output at once with sl_write_full(1, ...): write(2) does
    //   no buffering, so messages appear while the user types nothing. When
    //   recv() returns 0 the server has closed: exit(0), which also ends the
    //   main thread, blocked in read() on standard input. On an error
    //   (ECONNRESET), sl_die_errno("recv").
    char buf[BUFFER_BYTES];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            sl_die_errno("recv");
        if (n == 0)
            exit(0);
        if (sl_write_full(1, buf, (size_t)n) < 0)
            sl_die_errno("write to standard output");
    }
    // SKELETON: (void)fd;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 6 not done yet: nothing received");
    // END TODO
}

/*
 * The main thread's part: copy standard input to the socket until the input
 * ends, then half-close. Returns when it has nothing more to send.
 */
static void send_input(int fd)
{
    // BEGIN TODO 6: The client's two threads, the sender. Loop: read(2)
    //   standard input into a buffer (retry EINTR) and send it all with
    //   sl_write_full(fd, ...). At the end of the input (read returns 0),
    //   shutdown(fd, SHUT_WR): the server sees the end of the stream, while
    //   the receiver keeps printing what is still on its way. If sending
    //   fails, the server has gone: stop sending and let the receiver report
    //   how the connection ended.
    char buf[BUFFER_BYTES];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            sl_die_errno("read standard input");
        if (n == 0)
            break;
        if (sl_write_full(fd, buf, (size_t)n) < 0)
            return;
    }
    if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
        sl_die_errno("shutdown");
    // SKELETON: (void)fd;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 6 not done yet: nothing sent");
    // END TODO
}

int main(int argc, char **argv)
{
    sl_set_progname(argv[0]);
    // BEGIN TODO 6: The client's two threads: write receive_thread() and
    //   send_input() above, then delete this sl_die(), which keeps the
    //   unfinished client from doing anything at all.
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 6 not done yet: the client does nothing");
    // END TODO
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, NULL, NULL, NULL, NULL, &opts);

    /* A server that closes while we send must give EPIPE, not a SIGPIPE
     * that kills the client before it prints the server's last words. */
    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");

    char err[SL_ERR_BYTES];
    int fd = sl_connect(opts.addr, opts.port, SOCK_STREAM, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);

    pthread_t receiver;
    int error = pthread_create(&receiver, NULL, receive_thread, &fd);
    if (error != 0) {
        errno = error;
        sl_die_errno("pthread_create");
    }
    send_input(fd);
    /* The receiver ends the program when the server closes: wait for it. */
    pthread_join(receiver, NULL);
    return 0;
}
