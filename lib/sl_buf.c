/*
 * sl_buf.c: output buffers for non-blocking servers.
 *
 * An event-driven server must never wait for one client, so it sends with
 * MSG_DONTWAIT and keeps what the socket did not take. The buffer is a flat
 * array with a start and an end: bytes leave from the start, arrive at the
 * end, and the live part is moved down only when the end runs out of room.
 * It is allocated when the first byte has to wait and freed when the last
 * one leaves, because most connections of a busy server are idle most of
 * the time and their memory is what limits how many a server can hold.
 *
 * Read: send(2) (MSG_DONTWAIT, MSG_NOSIGNAL), socket(7) (SO_SNDBUF).
 */
#include "socklab.h"

/* The first allocation; it doubles from there up to the bound. */
#define FIRST_CAP_BYTES 4096

void sl_buf_init(struct sl_buf *b, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max = max_bytes > 0 ? max_bytes : 1;
}

void sl_buf_free(struct sl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

size_t sl_buf_len(const struct sl_buf *b)
{
    return b->end - b->start;
}

size_t sl_buf_room(const struct sl_buf *b)
{
    return b->max - sl_buf_len(b);
}

/* Make room for `more` bytes after the end, moving the live part down or
 * growing the array. The caller has checked the bound. */
static int make_room(struct sl_buf *b, size_t more)
{
    if (b->cap - b->end >= more)
        return 0;
    size_t len = sl_buf_len(b);
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, len);
        b->start = 0;
        b->end = len;
        if (b->cap - b->end >= more)
            return 0;
    }
    size_t need = len + more;
    size_t cap = b->cap > 0 ? b->cap : FIRST_CAP_BYTES;
    while (cap < need)
        cap *= 2;
    if (cap > b->max)
        cap = b->max > need ? b->max : need;
    char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1; /* errno is ENOMEM */
    b->data = data;
    b->cap = cap;
    return 0;
}

int sl_buf_append(struct sl_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (len > sl_buf_room(b)) {
        errno = ENOBUFS;
        return -1;
    }
    if (make_room(b, len) < 0)
        return -1;
    memcpy(b->data + b->end, data, len);
    b->end += len;
    return 0;
}

/* One non-blocking send that retries EINTR. Returns what send() returns;
 * EAGAIN comes back as -1 for the caller to tell apart. */
static ssize_t send_now(int fd, const void *data, size_t len)
{
    for (;;) {
        ssize_t n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

ssize_t sl_buf_flush(struct sl_buf *b, int fd)
{
    size_t sent = 0;
    while (sl_buf_len(b) > 0) {
        ssize_t n = send_now(fd, b->data + b->start, sl_buf_len(b));
        if (n < 0) {
            if (would_block(errno))
                break;
            return -1;
        }
        b->start += (size_t)n;
        sent += (size_t)n;
    }
    if (sl_buf_len(b) == 0)
        sl_buf_free(b); /* an idle connection holds no heap */
    return (ssize_t)sent;
}

int sl_buf_write(struct sl_buf *b, int fd, const void *data, size_t len)
{
    const char *p = data;
    /* Bytes already waiting go first: new ones queue behind them. */
    while (sl_buf_len(b) == 0 && len > 0) {
        ssize_t n = send_now(fd, p, len);
        if (n < 0) {
            if (would_block(errno))
                break;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return sl_buf_append(b, p, len);
}
