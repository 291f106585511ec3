/*
 * sl_line.c: framing a byte stream into lines.
 *
 * TCP delivers bytes, not messages: one recv() may return half a line, or
 * ten lines and the start of an eleventh. A line reader keeps what arrived
 * in a buffer and hands out a line only once its '\n' is there, like CS:APP's
 * rio_readlineb, but with its state in a struct the caller owns (so that
 * each connection, and each thread, has its own) and with a limit: a peer
 * that never sends '\n' must not make the reader buffer without end.
 *
 * The rules (SPEC, protocol "reverse"): a line ends with '\n'; a '\r' just
 * before it is dropped; a line of more than max_line bytes (counting neither)
 * is reported once as SL_LINE_TOO_LONG as soon as that is certain, and the
 * rest of it, up to its '\n', is thrown away as it arrives; a last line cut
 * off by the end of the stream still counts.
 *
 * The buffer holds max_line + 2 bytes (a full line, its '\r' and a byte
 * more) plus room for one read. `scanned` remembers how far the search for
 * '\n' got, so bytes arriving one at a time are each looked at once, not
 * once per arrival.
 *
 * Read: read(2), memchr(3), memmove(3).
 */
#include "socklab.h"

/* Room for one read beyond the longest line. */
#define LINE_READ_CHUNK (16 * 1024)

int sl_line_reader_init(struct sl_line_reader *r, size_t max_line)
{
    memset(r, 0, sizeof *r);
    if (max_line > SIZE_MAX - 2 - LINE_READ_CHUNK) {
        errno = ENOMEM;
        return -1;
    }
    size_t cap = max_line + 2 + LINE_READ_CHUNK;
    r->buf = malloc(cap);
    if (r->buf == NULL)
        return -1;
    r->cap = cap;
    r->max_line = max_line;
    return 0;
}

void sl_line_reader_free(struct sl_line_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Make room at the tail. Lines handed out earlier leave a consumed prefix
 * [0, start); the pending bytes move to the front when the tail has less
 * than a read's worth. Since a caller drains every whole line before it
 * reads more, what moves is at most one unfinished line, and it moves once. */
static size_t room_at_tail(struct sl_line_reader *r)
{
    if (r->start == r->end) {
        r->start = 0;
        r->end = 0;
    } else if (r->start > 0 && r->cap - r->end < LINE_READ_CHUNK) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    return r->cap - r->end;
}

size_t sl_line_feed(struct sl_line_reader *r, const void *data, size_t len)
{
    size_t room = room_at_tail(r);
    size_t take = len < room ? len : room;
    if (take > 0)
        memcpy(r->buf + r->end, data, take);
    r->end += take;
    return take;
}

ssize_t sl_line_fill(struct sl_line_reader *r, int fd)
{
    size_t room = room_at_tail(r);
    if (room == 0) {
        /* Only when whole lines were left undrained; read(fd, p, 0) would
         * return 0 and look like end of file. */
        errno = ENOBUFS;
        return -1;
    }
    ssize_t n;
    do {
        n = read(fd, r->buf + r->end, room);
    } while (n < 0 && errno == EINTR && !sl_stop_requested());
    if (n > 0)
        r->end += (size_t)n;
    return n;
}

/* Forget everything buffered: the bytes of an over-long line. */
static void drop_pending(struct sl_line_reader *r)
{
    r->start = 0;
    r->end = 0;
    r->scanned = 0;
}

/* In discarding mode: throw away bytes up to and including the next '\n'.
 * Returns true when that '\n' was found and normal reading resumes. */
static bool discard_long_line(struct sl_line_reader *r)
{
    const char *pending = r->buf + r->start;
    const char *newline = memchr(pending, '\n', r->end - r->start);
    if (newline == NULL) {
        drop_pending(r);
        return false;
    }
    r->start += (size_t)(newline - pending) + 1;
    r->scanned = 0;
    r->discarding = false;
    return true;
}

/* With no '\n' among the `pending` buffered bytes, is the line already
 * certain to be too long? Only a final '\r' can still be dropped, so
 * max_line + 1 bytes are too many unless the last one is '\r', and
 * max_line + 2 are too many in any case. */
static bool certainly_too_long(const struct sl_line_reader *r, size_t pending)
{
    if (pending > r->max_line + 1)
        return true;
    return pending == r->max_line + 1 && r->buf[r->end - 1] != '\r';
}

enum sl_line_status sl_line_next(struct sl_line_reader *r, struct sl_line *line)
{
    if (r->discarding && !discard_long_line(r))
        return SL_LINE_NEED_MORE;

    const char *pending = r->buf + r->start;
    size_t count = r->end - r->start;
    const char *newline = memchr(pending + r->scanned, '\n', count - r->scanned);
    if (newline == NULL) {
        r->scanned = count;
        if (!certainly_too_long(r, count))
            return SL_LINE_NEED_MORE;
        /* Report now, and drop the line's bytes as they come. */
        drop_pending(r);
        r->discarding = true;
        return SL_LINE_TOO_LONG;
    }

    size_t len = (size_t)(newline - pending);
    r->start += len + 1;
    r->scanned = 0;
    if (len > 0 && pending[len - 1] == '\r')
        len--;
    if (len > r->max_line)
        return SL_LINE_TOO_LONG; /* it came whole, '\n' and all: nothing to discard */
    line->data = pending;
    line->len = len;
    return SL_LINE_OK;
}

enum sl_line_status sl_line_finish(struct sl_line_reader *r, struct sl_line *line)
{
    /* Whole lines may still be buffered if the caller did not drain them. */
    enum sl_line_status status = sl_line_next(r, line);
    if (status != SL_LINE_NEED_MORE)
        return status;
    if (r->discarding) {
        /* The stream ended inside a line already reported as too long. */
        r->discarding = false;
        drop_pending(r);
        return SL_LINE_EOF;
    }

    size_t count = r->end - r->start;
    if (count == 0)
        return SL_LINE_EOF;
    /* A cut-off last line: no '\n' follows, so a final '\r' is data. */
    const char *pending = r->buf + r->start;
    drop_pending(r);
    if (count > r->max_line)
        return SL_LINE_TOO_LONG;
    line->data = pending;
    line->len = count;
    return SL_LINE_OK;
}

enum sl_line_status sl_line_read(struct sl_line_reader *r, int fd, struct sl_line *line)
{
    for (;;) {
        enum sl_line_status status = sl_line_next(r, line);
        if (status != SL_LINE_NEED_MORE)
            return status;
        ssize_t n = sl_line_fill(r, fd);
        if (n == 0)
            return sl_line_finish(r, line);
        if (n < 0)
            return SL_LINE_ERROR;
    }
}
