/*
 * lib_tour.c: a tour of libsocklab in one short program that talks to itself.
 *
 * It is a line server and its own client, in one thread. It listens on
 * 127.0.0.1 with port 0 (the kernel picks a free port), connects to itself,
 * sends a few lines, serves that one connection, and checks the answers:
 * each line comes back as `LENGTH: LINE`, a line over MAX_LINE_BYTES as
 * `ERR line too long`. The connect completes in the listening socket's
 * backlog and every message fits in the socket buffers, so the client can
 * send everything before the server accepts, and nothing blocks.
 *
 * What it shows, one piece per group of lib/socklab.h (the `//! [name]`
 * markers are the pieces the API pages quote):
 *
 *  - command_line:  sl_parse_args() with a handler of the program's own
 *                   option, sl_install_stop_handlers(), sl_print_ready().
 *  - sockets:       sl_listen(), sl_connect(), and getnameinfo() to learn
 *                   the port that port 0 got.
 *  - addresses:     sl_addr_format(), sl_sock_local(), sl_sock_peer().
 *  - full_io:       sl_write_full() and sl_read_full() on the client side.
 *  - output_buffer: sl_buf_init(), sl_buf_append(), sl_buf_flush().
 *  - line_reader:   sl_line_reader_init(), sl_line_feed(), sl_line_next(),
 *                   sl_line_finish(), sl_line_reader_free().
 *  - status_layer:  serving code that reports (sl_set_err(), sl_warn_errno())
 *                   and never exits.
 *  - die_layer:     start-up code that exits on a failed call, naming it
 *                   (sl_set_progname(), sl_die_errno(), sl_ignore_sigpipe()).
 *
 * Build and run, from the top of the repository:
 *
 *   make lib
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wformat=2 -Wshadow \
 *       -Wstrict-prototypes -Ilib -o /tmp/lib_tour docs/examples/lib_tour.c \
 *       build/lib/libsocklab.a -pthread
 *   /tmp/lib_tour            (or: /tmp/lib_tour -n 10; /tmp/lib_tour -h)
 *
 * It needs no arguments, talks only to 127.0.0.1 (unless given -a), takes a
 * few milliseconds, and exits 0 when every answer was right, 1 with a
 * message otherwise, 2 on a bad command line.
 *
 * Read: lib/socklab.h, getaddrinfo(3), getnameinfo(3), accept(2),
 * shutdown(2), poll(2).
 */
#include "socklab.h"

#include <poll.h>

#define BACKLOG 4
#define DEFAULT_LINES 3
#define MAX_LINES 100
/* The longest line the server answers, without its newline. */
#define MAX_LINE_BYTES 32
/* The most answer bytes one connection may have waiting. */
#define MAX_OUTPUT_BYTES 4096
/* Small on purpose: lines arrive cut into pieces, as they may on a network. */
#define RECV_CHUNK_BYTES 16
/* How long a full socket may keep the server from sending. */
#define SEND_TIMEOUT_MS 1000
/* Room for the whole reply of MAX_LINES lines and the fixed ones. */
#define REPLY_BYTES 8192

#define ANSWER_TOO_LONG "ERR line too long\n"

/* What the client sends after its numbered lines: a line too long, one that
 * ends in CRLF, and a last line that the end of the stream cuts off. */
static const char fixed_lines[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
                                  "crlf\r\n"
                                  "no newline";
static const char fixed_answers[] = ANSWER_TOO_LONG "4: crlf\n"
                                                    "10: no newline\n";

/* The program's own options. */
struct tour_opts {
    long lines; /* -n: how many numbered lines the client sends */
};

//! [sockets]
/* A listening socket on opts->addr:opts->port. Start-up code: it may exit. */
static int open_listener(const struct sl_opts *opts)
{
    char err[SL_ERR_BYTES];
    int fd = sl_listen(opts->addr, opts->port, SOCK_STREAM, BACKLOG, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err); /* "bind 127.0.0.1:80: Permission denied" */
    return fd;
}

/* The client's side: a socket connected to the listener, wherever the
 * kernel put it. With port 0 only getsockname() knows the port. */
static int connect_to_self(int listen_fd)
{
    struct sockaddr_storage addr;
    socklen_t addrlen = sizeof addr;
    if (getsockname(listen_fd, (struct sockaddr *)&addr, &addrlen) < 0)
        sl_die_errno("getsockname");
    char host[NI_MAXHOST], port[NI_MAXSERV];
    int rc = getnameinfo((struct sockaddr *)&addr, addrlen, host, sizeof host, port,
                         sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
    if (rc != 0)
        sl_die(SL_EXIT_RUNTIME, "getnameinfo: %s", gai_strerror(rc));

    char err[SL_ERR_BYTES];
    int fd = sl_connect(host, port, SOCK_STREAM, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err); /* "connect 127.0.0.1:5: Connection refused" */
    return fd;
}
//! [sockets]

//! [command_line]
/* Called by sl_parse_args() for each option of the program's own ("n:").
 * Returning -1 turns the argument into a usage error, exit status 2. */
static int handle_option(int opt, const char *arg, void *ctx)
{
    struct tour_opts *tour = ctx;
    if (opt == 'n')
        return sl_parse_int(arg, 1, MAX_LINES, &tour->lines);
    return -1;
}

/* How every socklab server starts: the command line, the stop handlers, the
 * listening socket, then the ready line the autograder waits for. */
static int start_server(int argc, char **argv, struct tour_opts *tour)
{
    struct sl_opts opts;
    /* Port "0" by default: the kernel picks a free one (-p 50000 to fix it). */
    sl_parse_args(argc, argv, "0", "n:", "[-n LINES]", handle_option, tour, &opts);
    /* SIGINT and SIGTERM only set a flag; a blocking accept() or recv() then
     * fails with EINTR and the loops look at sl_stop_requested(). */
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");
    int fd = open_listener(&opts);
    if (sl_print_ready(fd) < 0) /* "listening on 127.0.0.1:41853", flushed */
        sl_die_errno("print the ready line");
    return fd;
}
//! [command_line]

//! [addresses]
/* accept() the next client, with its address as text in peer. Returns -1
 * with errno set when accept() failed. */
static int accept_client(int listen_fd, char *peer, size_t peerlen)
{
    struct sockaddr_storage addr; /* room for any family, IPv6 included */
    socklen_t addrlen = sizeof addr;
    int fd = accept(listen_fd, (struct sockaddr *)&addr, &addrlen);
    if (fd >= 0)
        sl_addr_format((struct sockaddr *)&addr, addrlen, peer, peerlen);
    return fd;
}

/* The client's view of its connection: the address and port the kernel gave
 * it at connect() (an implicit bind), and the server's. */
static void show_connection(int fd)
{
    char local[SL_ADDR_BYTES], peer[SL_ADDR_BYTES];
    if (sl_sock_local(fd, local, sizeof local) == NULL)
        sl_die_errno("getsockname");
    if (sl_sock_peer(fd, peer, sizeof peer) == NULL)
        sl_die_errno("getpeername"); /* ENOTCONN if the connect had failed */
    printf("client %s connected to %s\n", local, peer);
}
//! [addresses]

//! [full_io]
/* Send the whole request, then half-close: the server reads to end of stream
 * and still sends its answers back. */
static void send_request(int fd, const char *request, size_t len)
{
    /* One write(2) or send(2) may take fewer bytes than asked for;
     * sl_write_full() loops until all are sent. */
    if (sl_write_full(fd, request, len) < 0)
        sl_die_errno("send the request");
    if (shutdown(fd, SHUT_WR) < 0)
        sl_die_errno("shutdown SHUT_WR");
}

/* Read the reply up to end of stream into buf, NUL-terminated. */
static size_t read_reply(int fd, char *buf, size_t cap)
{
    /* Asking for more than can come: sl_read_full() returns fewer bytes when
     * the stream ends first, and only then. */
    ssize_t n = sl_read_full(fd, buf, cap - 1);
    if (n < 0)
        sl_die_errno("read the reply");
    if ((size_t)n == cap - 1)
        sl_die(SL_EXIT_RUNTIME, "the reply is longer than %zu bytes", cap - 1);
    buf[n] = '\0';
    return (size_t)n;
}
//! [full_io]

//! [output_buffer]
/* Queue one answer behind those already waiting. The buffer's bound is the
 * back-pressure point: a client that never reads gets ENOBUFS, not all the
 * server's memory. */
static int queue_answer(struct sl_buf *out, const char *answer, size_t len, const char *peer,
                        char *err, size_t errlen)
{
    if (sl_buf_append(out, answer, len) < 0) {
        sl_set_err(err, errlen, errno, "queue %zu bytes for %s", len, peer);
        return -1;
    }
    return 0;
}

/* Send every answer waiting. sl_buf_flush() sends what the socket takes
 * without blocking; while some is left, wait until the socket is writable.
 * (An event loop would instead ask for POLLOUT and serve others meanwhile.) */
static int flush_answers(struct sl_buf *out, int fd, const char *peer, char *err, size_t errlen)
{
    while (sl_buf_len(out) > 0) {
        if (sl_buf_flush(out, fd) < 0) {
            sl_set_err(err, errlen, errno, "send to %s", peer);
            return -1;
        }
        if (sl_buf_len(out) == 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ready = poll(&pfd, 1, SEND_TIMEOUT_MS);
        if (ready < 0 && errno != EINTR) {
            sl_set_err(err, errlen, errno, "poll %s", peer);
            return -1;
        }
        if (ready == 0) {
            sl_set_err(err, errlen, 0, "%s read nothing for %d ms", peer, SEND_TIMEOUT_MS);
            return -1;
        }
    }
    return 0;
}
//! [output_buffer]

//! [line_reader]
/* Answer every whole line in the reader; at the end of the stream (at_eof),
 * also the last line if the stream cut it off before its newline. */
static int answer_lines(struct sl_line_reader *reader, bool at_eof, struct sl_buf *out,
                        const char *peer, char *err, size_t errlen)
{
    for (;;) {
        struct sl_line line;
        enum sl_line_status status =
            at_eof ? sl_line_finish(reader, &line) : sl_line_next(reader, &line);
        if (status == SL_LINE_NEED_MORE || status == SL_LINE_EOF)
            return 0;
        char answer[MAX_LINE_BYTES + 16];
        int len = status == SL_LINE_TOO_LONG
                      ? snprintf(answer, sizeof answer, "%s", ANSWER_TOO_LONG)
                      /* line.data is not NUL-terminated: print exactly len bytes */
                      : snprintf(answer, sizeof answer, "%zu: %.*s\n", line.len, (int)line.len,
                                 line.data);
        if (queue_answer(out, answer, (size_t)len, peer, err, errlen) < 0)
            return -1;
    }
}

/* Serve one connection: bytes in, answers out, until the client's end of
 * stream. Returns 0, or -1 with the reason in err. Never exits. */
static int answer_client(int fd, const char *peer, char *err, size_t errlen)
{
    /* Caller-owned state, one per connection: no hidden static buffer. */
    struct sl_line_reader reader;
    if (sl_line_reader_init(&reader, MAX_LINE_BYTES) < 0) {
        sl_set_err(err, errlen, errno, "sl_line_reader_init");
        return -1;
    }
    struct sl_buf out;
    sl_buf_init(&out, MAX_OUTPUT_BYTES);

    int result = 0;
    for (;;) {
        char chunk[RECV_CHUNK_BYTES];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR && !sl_stop_requested())
            continue;
        if (n < 0) {
            sl_set_err(err, errlen, errno, "recv from %s", peer);
            result = -1;
            break;
        }
        /* The reader takes what it has room for; answering the whole lines
         * makes room for the rest. */
        for (size_t taken = 0; result == 0 && taken < (size_t)n;) {
            taken += sl_line_feed(&reader, chunk + taken, (size_t)n - taken);
            result = answer_lines(&reader, false, &out, peer, err, errlen);
        }
        if (result == 0 && n == 0)
            result = answer_lines(&reader, true, &out, peer, err, errlen);
        if (result == 0)
            result = flush_answers(&out, fd, peer, err, errlen);
        if (result < 0 || n == 0)
            break;
    }
    sl_buf_free(&out);
    sl_line_reader_free(&reader);
    return result;
}
//! [line_reader]

//! [status_layer]
/*
 * One turn of a server's accept loop. From here on a client is being served,
 * so nothing exits: the helpers return -1 with the reason in err
 * (sl_set_err(): "recv from 127.0.0.1:40112: Connection reset by peer"), and
 * this logs it and goes on. A real server calls this in a loop until
 * sl_stop_requested(). Returns true when the client was served.
 */
static bool serve_next_client(int listen_fd)
{
    char peer[SL_ADDR_BYTES];
    int fd = accept_client(listen_fd, peer, sizeof peer);
    if (fd < 0) {
        if (errno != EINTR) /* EINTR: a stop was requested, not a failure */
            sl_warn_errno("accept");
        return false;
    }
    char err[SL_ERR_BYTES];
    bool served = answer_client(fd, peer, err, sizeof err) == 0;
    if (!served)
        fprintf(stderr, "%s: %s\n", sl_progname(), err); /* log it, go on */
    close(fd);
    return served;
}
//! [status_layer]

/* The request of `lines` numbered lines and the fixed ones, and the answers
 * it must get. Both buffers have REPLY_BYTES. */
static size_t make_request(long lines, char *request, char *expected)
{
    size_t len = 0, explen = 0;
    for (long i = 1; i <= lines; i++) {
        int n = sprintf(request + len, "line %ld\n", i);
        explen += (size_t)sprintf(expected + explen, "%d: line %ld\n", n - 1, i);
        len += (size_t)n;
    }
    len += (size_t)sprintf(request + len, "%s", fixed_lines);
    sprintf(expected + explen, "%s", fixed_answers);
    return len;
}

int main(int argc, char **argv)
{
    //! [die_layer]
    /* First of all: every message from now on starts `lib_tour: `. */
    sl_set_progname(argv[0]);

    /* Start-up: nothing is served yet, so a failed call may end the program,
     * naming the call and errno's reason, as in `lib_tour: sigaction SIGPIPE:
     * Invalid argument`. Clients may do the same. */
    if (sl_ignore_sigpipe() < 0) /* a vanished peer gives EPIPE, not SIGPIPE */
        sl_die_errno("sigaction SIGPIPE");
    struct tour_opts tour = {.lines = DEFAULT_LINES};
    int listen_fd = start_server(argc, argv, &tour);
    int client_fd = connect_to_self(listen_fd);
    show_connection(client_fd);
    //! [die_layer]

    static char request[REPLY_BYTES], expected[REPLY_BYTES], reply[REPLY_BYTES];
    size_t len = make_request(tour.lines, request, expected);
    send_request(client_fd, request, len);

    if (!serve_next_client(listen_fd))
        sl_die(SL_EXIT_RUNTIME, "the server could not serve its one client");
    close(listen_fd);

    read_reply(client_fd, reply, sizeof reply);
    close(client_fd);
    fputs(reply, stdout);
    if (strcmp(reply, expected) != 0)
        sl_die(SL_EXIT_RUNTIME, "wrong answers; expected:\n%s", expected);
    printf("%s: all %ld answers right\n", sl_progname(), tour.lines + 3);
    return 0;
}
