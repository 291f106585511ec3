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
 * A line reader (the caller-owned struct sl_line_reader) keeps what has
 * arrived and hands out whole lines; the server answers each one as soon as
 * it is complete, and when the stream ends, answers a last line that had no
 * newline. A line longer than the limit is answered with an error and
 * dropped as it arrives, so a client that never sends a newline cannot make
 * the server buffer without end.
 *
 * Read: recv(2), tcp(7), utf-8(7), RFC 3629 (the UTF-8 rules: section 3 and
 * the table in section 4).
 *
 * Usage: server [-a ADDR] [-p PORT]   (default 127.0.0.1, port 50003)
 */
#include "socklab.h"

#define DEFAULT_PORT "50003"
#define BACKLOG 16
/* The longest line answered, counting neither '\n' nor a '\r' before it. */
#define MAX_LINE_BYTES 4096
/* One recv() takes at most this much. */
#define READ_BYTES (16 * 1024)

#define ANSWER_INVALID "ERR invalid UTF-8\n"
#define ANSWER_TOO_LONG "ERR line too long\n"

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
    // BEGIN TODO 2: Validate UTF-8: walk the line one sequence at a time.
    //   utf8_sequence_length() gives the length from the lead byte (0: not
    //   a lead byte); the sequence must fit in what is left of the line, and
    //   each of its other bytes must be a continuation byte 10xxxxxx. Decode
    //   the code point (the lead's low bits, then 6 bits per continuation
    //   byte) and reject it if it is overlong (below 0x80, 0x800 or 0x10000
    //   for 2, 3 or 4 bytes), a surrogate, or above 0x10FFFF.
    static const unsigned char lead_bits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence_length(s[i]);
        if (n == 0 || n > len - i)
            return false; /* a stray continuation byte, or a cut-off sequence */
        uint32_t code_point = s[i] & lead_bits[n];
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            code_point = code_point << 6 | (s[i + k] & 0x3F);
        }
        if (code_point < smallest[n] || code_point > 0x10FFFF ||
            (code_point >= 0xD800 && code_point <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
    // SKELETON: (void)data;
    // SKELETON: (void)len;
    // SKELETON: (void)utf8_sequence_length; /* call it for each sequence */
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: UTF-8 is not checked");
    // END TODO
}

/*
 * Write the len bytes of valid UTF-8 in `in` to `out` with the order of the
 * code points reversed; each code point keeps its bytes in their order.
 */
static void reverse_utf8(const char *in, size_t len, char *out)
{
    // BEGIN TODO 3: Reverse code points: walk `in` one sequence at a time
    //   (utf8_sequence_length() of its lead byte) and copy each sequence
    //   whole to the mirror position in `out`: the sequence that starts at
    //   byte i and is n bytes long goes to out + len - i - n. Reversing the
    //   bytes instead would scramble every character longer than one byte.
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence_length((unsigned char)in[i]);
        memcpy(out + len - i - n, in + i, n);
        i += n;
    }
    // SKELETON: (void)in;
    // SKELETON: (void)len;
    // SKELETON: (void)out;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: nothing reversed");
    // END TODO
}

/* Send one whole answer. Returns 0, or -1 when the client is gone (logged). */
static int send_answer(int fd, const char *answer, size_t len, const char *peer)
{
    if (sl_write_full(fd, answer, len) < 0) {
        if (errno != EINTR)
            sl_warn_errno("send to %s", peer);
        return -1;
    }
    return 0;
}

/*
 * Answer one line, as the reader reported it: SL_LINE_OK with the line, or
 * SL_LINE_TOO_LONG. Returns 0, or -1 when the client is gone.
 */
static int answer_line(int fd, enum sl_line_status status, const struct sl_line *line,
                       const char *peer)
{
    // BEGIN TODO 4: Lines that are too long: when the reader says
    //   SL_LINE_TOO_LONG, `line` holds nothing; answer ANSWER_TOO_LONG. The
    //   reader reports such a line once and then drops its bytes up to the
    //   next newline by itself, so memory stays bounded however long it is.
    if (status == SL_LINE_TOO_LONG)
        return send_answer(fd, ANSWER_TOO_LONG, strlen(ANSWER_TOO_LONG), peer);
    // SKELETON: if (status == SL_LINE_TOO_LONG)
    // SKELETON:     sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: a line is too long");
    // END TODO
    if (!utf8_valid(line->data, line->len))
        return send_answer(fd, ANSWER_INVALID, strlen(ANSWER_INVALID), peer);

    /* Build the whole answer, then send it with one call: one system call
     * and, usually, one segment per answer, not one per character. */
    char reply[MAX_LINE_BYTES + 1];
    reverse_utf8(line->data, line->len, reply);
    reply[line->len] = '\n';
    return send_answer(fd, reply, line->len + 1, peer);
}

/*
 * Answer every whole line the reader holds. Returns 0, or -1 when the client
 * is gone.
 */
static int answer_buffered_lines(int fd, struct sl_line_reader *reader, const char *peer)
{
    // BEGIN TODO 1: Read lines: take every whole line out of the reader and
    //   answer it. Call sl_line_next() until it says SL_LINE_NEED_MORE (no
    //   whole line left: the rest must be read first), and pass each status
    //   it gives (SL_LINE_OK with a line, or SL_LINE_TOO_LONG) and the line
    //   to answer_line(). Return -1 as soon as answer_line() does.
    struct sl_line line;
    enum sl_line_status status;
    while ((status = sl_line_next(reader, &line)) != SL_LINE_NEED_MORE) {
        if (answer_line(fd, status, &line, peer) < 0)
            return -1;
    }
    return 0;
    // SKELETON: (void)fd;
    // SKELETON: (void)reader;
    // SKELETON: (void)peer;
    // SKELETON: (void)answer_line; /* call it for each line */
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no line read");
    // END TODO
}

/*
 * Read what the client sends and answer each line as soon as it is whole,
 * until the client ends its stream. Returns true at the end of the stream,
 * false when the client is gone or the server is stopping.
 */
static bool answer_until_eof(int fd, struct sl_line_reader *reader, const char *peer)
{
    char buf[READ_BYTES];
    for (;;) {
        /* recv() returns what has arrived so far: part of a line, or many
         * lines and part of one more. Never assume one recv() is one line. */
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            return true;
        if (n < 0) {
            if (errno == EINTR && !sl_stop_requested())
                continue;
            if (errno != EINTR)
                sl_warn_errno("recv from %s", peer);
            return false;
        }
        /* The reader takes what it has room for; answering the lines it
         * holds makes room for the rest. */
        for (size_t fed = 0; fed < (size_t)n;) {
            fed += sl_line_feed(reader, buf + fed, (size_t)n - fed);
            if (answer_buffered_lines(fd, reader, peer) < 0)
                return false;
        }
    }
}

/* At the end of the stream, answer a last line that had no newline. */
static void answer_last_line(int fd, struct sl_line_reader *reader, const char *peer)
{
    // BEGIN TODO 5: The last line: bytes after the last newline are a line
    //   too, cut off by the end of the stream. sl_line_finish() hands them
    //   out (SL_LINE_OK, or SL_LINE_TOO_LONG if there are too many) or says
    //   SL_LINE_EOF when nothing is left; answer them like any other line.
    struct sl_line line;
    enum sl_line_status status = sl_line_finish(reader, &line);
    if (status != SL_LINE_EOF)
        answer_line(fd, status, &line, peer);
    // SKELETON: (void)fd;
    // SKELETON: (void)reader;
    // SKELETON: (void)peer;
    // END TODO
}

/* Serve one client: answer its lines until it ends its stream. */
static void reverse_lines(int fd, const char *peer)
{
    /* Each client gets its own reader: a line cut in two by the network
     * must never be glued to another client's bytes. */
    struct sl_line_reader reader;
    if (sl_line_reader_init(&reader, MAX_LINE_BYTES) < 0) {
        sl_warn_errno("line reader for %s", peer);
        return;
    }
    if (answer_until_eof(fd, &reader, peer))
        answer_last_line(fd, &reader, peer);
    sl_line_reader_free(&reader);
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

    // BEGIN TODO 1: Read lines: write answer_buffered_lines() above, then delete
    //   this sl_die(). It keeps the unfinished server from starting at all,
    //   so that every test fails at once with a clear reason.
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no line can be read");
    // END TODO
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
