/*
 * server.c (lab 03): a line-reversing TCP server.
 *
 * For each line a client sends, it answers the line's characters in reverse
 * order: "hello" becomes "olleh", and "가나다" becomes "다나가", because it
 * reverses UTF-8 code points, not bytes. A line that is not valid UTF-8 is
 * answered "ERR invalid UTF-8", a line longer than 4096 bytes "ERR line too
 * long". Clients are served one after another, as in lab 01.
 *
 * The lesson is framing. TCP carries a stream of bytes, not messages: one
 * recv() may return half a line, or three lines and the start of a fourth.
 * So each connection has a buffer, a struct line_buffer that belongs to the
 * code serving that connection, where bytes wait until their '\n' has come.
 * After each recv() the server cuts every whole line out of the buffer and
 * answers it, and moves the rest, the start of the next line, to the front
 * for the next recv() to complete. When the stream ends, what is left is a
 * last line without its newline, answered like the others. A line too long
 * for the buffer is answered with an error and its bytes are dropped as they
 * come, so a client that never sends a newline cannot make the server buffer
 * without end. (libsocklab's struct sl_line_reader does the same job; later
 * labs use it, now that this one has shown how it works.)
 *
 * Read: recv(2), memchr(3), memmove(3), tcp(7), utf-8(7), RFC 3629 (the
 * UTF-8 rules: section 3 and the table in section 4).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50003)
 */
#include "socklab.h"

#define DEFAULT_PORT "50003"
#define BACKLOG 16
/* The longest line answered, counting neither '\n' nor a '\r' before it. */
#define MAX_LINE_BYTES 4096
/* Room for the longest line, its '\r' and its '\n'. So a full buffer with no
 * '\n' in it holds more than MAX_LINE_BYTES of one line, even if its last
 * byte is a '\r' that a '\n' could still turn into part of the line ending. */
#define LINE_BUFFER_BYTES (MAX_LINE_BYTES + 2)

#define ANSWER_INVALID "ERR invalid UTF-8\n"
#define ANSWER_TOO_LONG "ERR line too long\n"

/*
 * The framing state of one connection. It must outlive each recv(), since a
 * line may come in many pieces, and belong to that one connection: a static
 * buffer would glue one client's half line to the next client's bytes (and,
 * in lab 05, to other threads' bytes).
 */
struct line_buffer {
    char data[LINE_BUFFER_BYTES]; /* data[0..len): received, not yet answered */
    size_t len;
    bool discarding; /* the line now arriving was answered as too long */
};

/*
 * How many bytes the UTF-8 sequence that starts with `lead` takes, from 1 to
 * 4, or 0 if no sequence starts with it: a continuation byte (10xxxxxx), C0
 * and C1 (they could only start an overlong 2-byte form), F5 to FF (beyond
 * U+10FFFF).
 */
static size_t utf8_sequence_length(unsigned char lead)
{
    if (lead < 0x80)
        return 1; /* 0xxxxxxx: ASCII */
    if (lead < 0xC2)
        return 0;
    if (lead < 0xE0)
        return 2; /* 110xxxxx */
    if (lead < 0xF0)
        return 3; /* 1110xxxx */
    if (lead < 0xF5)
        return 4; /* 11110xxx */
    return 0;
}

/*
 * Is data[0..len) valid UTF-8? Every sequence must be complete, be as short
 * as its code point allows (no overlong forms), and encode a code point up to
 * U+10FFFF that is not a UTF-16 surrogate (D800 to DFFF).
 */
static bool utf8_valid(const char *data, size_t len)
{
    /* TODO 2: Validate UTF-8: walk the line one sequence at a time.
     *   utf8_sequence_length() gives the length from the lead byte (0: not
     *   a lead byte); the sequence must fit in what is left of the line, and
     *   each of its other bytes must be a continuation byte 10xxxxxx. Decode
     *   the code point (the lead's low bits, then 6 bits per continuation
     *   byte) and reject it if it is overlong (below 0x80, 0x800 or 0x10000
     *   for 2, 3 or 4 bytes), a surrogate, or above 0x10FFFF. */
    (void)data;
    (void)len;
    (void)utf8_sequence_length; /* call it for each sequence */
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: UTF-8 is not checked");
}

/*
 * Write the len bytes of valid UTF-8 in `in` to `out` with the order of the
 * code points reversed; each code point keeps its bytes in their order.
 */
static void reverse_utf8(const char *in, size_t len, char *out)
{
    /* TODO 3: Reverse code points: walk `in` one sequence at a time
     *   (utf8_sequence_length() of its lead byte) and copy each sequence
     *   whole to the mirror position in `out`: the sequence that starts at
     *   byte i and is n bytes long goes to out + len - i - n. Reversing the
     *   bytes instead would scramble every character longer than one byte. */
    (void)in;
    (void)len;
    (void)out;
    sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: nothing reversed");
}

/* Send one whole answer. Returns 0, or -1 when the client is gone (logged)
 * or the server is stopping. */
static int send_answer(int fd, const char *answer, size_t len, const char *peer)
{
    /* sl_write_full() is lab 01's send_all(): it loops over short counts and
     * EINTR, and gives up with EINTR once a stop has been requested. */
    if (sl_write_full(fd, answer, len) < 0) {
        if (errno != EINTR)
            sl_warn_errno("send to %s", peer);
        return -1;
    }
    return 0;
}

/*
 * Answer one line cut out of the buffer: its len bytes, without the '\n' and
 * without a '\r' dropped before it. Returns 0, or -1 when the client is gone.
 */
static int answer_line(int fd, struct line_buffer *lb, const char *line, size_t len,
                       const char *peer)
{
    /* TODO 4: Lines that are too long, at their newline. If
     *   lb->discarding is set, this "line" is only the end of a line that
     *   was already answered ANSWER_TOO_LONG: clear the flag and answer
     *   nothing. Otherwise a line of more than MAX_LINE_BYTES (it came whole,
     *   so its '\n' told how long it is) is answered ANSWER_TOO_LONG. */
    (void)lb;
    if (len > MAX_LINE_BYTES)
        sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: a line is too long");
    if (!utf8_valid(line, len))
        return send_answer(fd, ANSWER_INVALID, strlen(ANSWER_INVALID), peer);

    /* Build the whole answer, then send it with one call: one system call
     * and, usually, one segment per answer, not one per character. */
    char reply[MAX_LINE_BYTES + 1];
    reverse_utf8(line, len, reply);
    reply[len] = '\n';
    return send_answer(fd, reply, len + 1, peer);
}

/*
 * The buffer is full and holds no '\n': the line in it is too long, whatever
 * comes next. Answer it now, once, and drop its bytes, so that the buffer
 * has room again. Returns 0, or -1 when the client is gone.
 */
static int drop_long_line(int fd, struct line_buffer *lb, const char *peer)
{
    /* TODO 4: Lines that are too long, before their newline. Answer
     *   ANSWER_TOO_LONG, unless lb->discarding says this line was answered
     *   already (a long line fills the buffer many times). Then empty the
     *   buffer (lb->len = 0) and set lb->discarding: the rest of the line is
     *   dropped as it comes, and answer_line() clears the flag when its '\n'
     *   arrives. Memory stays bounded however long the line. */
    (void)fd;
    (void)lb;
    (void)peer;
    sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: a line is too long");
}

/*
 * Receive what has arrived into the free space at the end of the buffer,
 * after the bytes kept from earlier calls. Returns the number of bytes added,
 * 0 at the end of the stream, or -1 when the client is gone or the server is
 * stopping. The caller leaves free space: recv() into 0 bytes would return 0
 * and look like the end of the stream.
 */
static ssize_t receive_more(int fd, struct line_buffer *lb, const char *peer)
{
    /* TODO 1: Read lines, part 1: recv(2) into the free space of the
     *   buffer, lb->data + lb->len, at most sizeof lb->data - lb->len bytes,
     *   and add what came to lb->len. The bytes already there are the start
     *   of a line: append to them, never overwrite them. On EINTR recv again
     *   unless sl_stop_requested(); on another error (such as ECONNRESET)
     *   log it with sl_warn_errno("recv from %s", peer). Return recv's count. */
    (void)fd;
    (void)lb;
    (void)peer;
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: nothing received");
}

/*
 * Answer every whole line in the buffer, then move what is left (the start
 * of a line whose '\n' has not come yet) to the front. Returns 0, or -1 when
 * the client is gone.
 */
static int answer_whole_lines(int fd, struct line_buffer *lb, const char *peer)
{
    /* TODO 1: Read lines, part 2: the framing. Find each '\n' in
     *   lb->data[0..lb->len) with memchr(3); the line is the bytes from where
     *   the last one ended up to it, less a '\r' just before the '\n'. Pass
     *   it to answer_line() (return -1 as soon as that does), and look for
     *   the next '\n' after this one: one recv() may bring many lines. When
     *   none is left, move the rest to the front with memmove(3) (the ranges
     *   may overlap) and set lb->len to what is left. */
    (void)fd;
    (void)lb;
    (void)peer;
    (void)answer_line; /* call it for each line */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no line cut out");
}

/*
 * Read what the client sends and answer each line as soon as it is whole,
 * until the client ends its stream. Returns true at the end of the stream,
 * false when the client is gone or the server is stopping.
 */
static bool answer_until_eof(int fd, struct line_buffer *lb, const char *peer)
{
    for (;;) {
        /* recv() returns what has arrived so far: part of a line, or many
         * lines and part of one more. Never assume one recv() is one line. */
        ssize_t n = receive_more(fd, lb, peer);
        if (n <= 0)
            return n == 0;
        /* Answer every whole line before reading again: the client may be
         * waiting for those answers before it sends anything more. */
        if (answer_whole_lines(fd, lb, peer) < 0)
            return false;
        /* What is left has no '\n'. If it fills the buffer, it is too long;
         * dropping it also makes room for the next recv(). */
        if (lb->len == sizeof lb->data && drop_long_line(fd, lb, peer) < 0)
            return false;
    }
}

/* At the end of the stream, answer a last line that had no newline. */
static void answer_last_line(int fd, struct line_buffer *lb, const char *peer)
{
    /* TODO 5: The last line: bytes left in the buffer when the stream
     *   ends are a line too, cut off by the end of the stream. If there are
     *   any, answer them with answer_line() like any other line; it also
     *   knows when they are the end of a line already answered as too long.
     *   No '\n' follows them, so a '\r' at their end stays part of the line. */
    (void)fd;
    (void)peer;
    if (lb->len > 0)
        sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: last line not answered");
}

/* Serve one client: answer its lines until it ends its stream. */
static void reverse_lines(int fd, const char *peer)
{
    /* A fresh, empty buffer for each client, on this function's stack: a
     * line cut in two by the network must never be glued to another
     * client's bytes. */
    struct line_buffer lb = {.len = 0, .discarding = false};
    if (answer_until_eof(fd, &lb, peer))
        answer_last_line(fd, &lb, peer);
}

/*
 * Wait for the next client and return its connected socket, with its address
 * in peer. Returns -1 when accept() failed; that ends nothing, the caller just
 * tries again (or stops, if a signal asked it to).
 */
static int accept_client(int listen_fd, char *peer, size_t peerlen)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    int fd = accept(listen_fd, (struct sockaddr *)&addr, &addr_len);
    if (fd < 0) {
        if (errno != EINTR)
            sl_warn_errno("accept");
        return -1;
    }
    sl_addr_format((struct sockaddr *)&addr, addr_len, peer, peerlen);
    return fd;
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

    /* TODO 1: Read lines: write receive_more() and answer_whole_lines()
     *   above, then delete this sl_die(). It keeps the unfinished server from
     *   starting at all, so that every test fails at once with a clear reason. */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no line can be read");
    char err[SL_ERR_BYTES];
    int listen_fd = sl_listen(opts.addr, opts.port, SOCK_STREAM, BACKLOG, err, sizeof err);
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
        reverse_lines(client_fd, peer);
        close(client_fd);
    }
    close(listen_fd);
    return 0;
}
