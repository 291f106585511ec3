/*
 * peers.c: fake servers for testing a student's client.
 *
 * A client test must not depend on the student's own server: if the server
 * is broken, the client's tests should still say whether the client works.
 * So client tests talk to these small servers, each a thread of the test
 * process, with a known behaviour.
 */
#include "suites.h"

#include <poll.h>
#include <pthread.h>
#include <time.h>

#define PEER_ACCEPT_MS 10000
#define PEER_IDLE_MS 20000
#define PEER_BUF_BYTES (256 * 1024)

struct peer {
    enum peer_mode mode;
    int listen_fd;
    int port;
    pthread_t thread;
    size_t received;
};

char *port_text(int port, char *buf)
{
    snprintf(buf, 8, "%d", port);
    return buf;
}

/* Wait for fd to be readable; false on timeout or error. */
static bool readable(int fd, int timeout_ms)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    int r;
    do
        r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

static void serve_echo(struct peer *p, int fd, char *buf)
{
    for (;;) {
        if (!readable(fd, PEER_IDLE_MS))
            return;
        ssize_t n = recv(fd, buf, PEER_BUF_BYTES, 0);
        if (n <= 0)
            return;
        p->received += (size_t)n;
        if (sl_write_full(fd, buf, (size_t)n) < 0)
            return;
    }
}

static void serve_echo_after_eof(struct peer *p, int fd, char *buf)
{
    /* Keep everything until the client's FIN: a client that never shuts
     * down its sending side never gets an answer. */
    size_t cap = 1024 * 1024, len = 0;
    char *all = malloc(cap);
    for (;;) {
        if (!readable(fd, PEER_IDLE_MS))
            break;
        ssize_t n = recv(fd, buf, PEER_BUF_BYTES, 0);
        if (n <= 0)
            break;
        if (len + (size_t)n > cap) {
            cap = 2 * (len + (size_t)n);
            all = realloc(all, cap);
        }
        memcpy(all + len, buf, (size_t)n);
        len += (size_t)n;
    }
    p->received = len;
    sl_write_full(fd, all, len);
    free(all);
}

static void serve_close_early(struct peer *p, int fd, char *buf)
{
    size_t want = 64 * 1024;
    while (p->received < want && readable(fd, PEER_IDLE_MS)) {
        ssize_t n = recv(fd, buf, want - p->received, 0);
        if (n <= 0)
            return;
        p->received += (size_t)n;
    }
}

static void serve_reverse_lines(struct peer *p, int fd, char *buf)
{
    struct sl_line_reader r;
    if (sl_line_reader_init(&r, 65536) < 0)
        return;
    struct sl_line line;
    enum sl_line_status st;
    while (readable(fd, PEER_IDLE_MS) &&
           (st = sl_line_read(&r, fd, &line)) != SL_LINE_EOF && st != SL_LINE_ERROR) {
        if (st != SL_LINE_OK)
            continue;
        p->received += line.len + 1;
        for (size_t i = 0; i < line.len; i++)
            buf[i] = line.data[line.len - 1 - i];
        buf[line.len] = '\n';
        if (sl_write_full(fd, buf, line.len + 1) < 0)
            break;
    }
    sl_line_reader_free(&r);
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    if (!readable(p->listen_fd, PEER_ACCEPT_MS))
        return NULL;
    int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(PEER_BUF_BYTES);
    switch (p->mode) {
    case PEER_ECHO: serve_echo(p, fd, buf); break;
    case PEER_ECHO_AFTER_EOF: serve_echo_after_eof(p, fd, buf); break;
    case PEER_CLOSE_EARLY: serve_close_early(p, fd, buf); break;
    case PEER_REVERSE_LINES: serve_reverse_lines(p, fd, buf); break;
    }
    free(buf);
    close(fd);
    return NULL;
}

struct peer *peer_start(enum peer_mode mode)
{
    struct peer *p = calloc(1, sizeof *p);
    char err[SL_ERR_BYTES], local[SL_ADDR_BYTES];
    p->mode = mode;
    p->listen_fd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 16, err, sizeof err);
    if (p->listen_fd < 0)
        hn_fail("harness: cannot start a fake server: %s", err);
    if (!sl_sock_local(p->listen_fd, local, sizeof local))
        hn_fail("harness: getsockname: %s", strerror(errno));
    p->port = atoi(strrchr(local, ':') + 1);
    if (pthread_create(&p->thread, NULL, peer_main, p) != 0)
        hn_fail("harness: pthread_create failed");
    return p;
}

int peer_port(const struct peer *p)
{
    return p->port;
}

size_t peer_finish(struct peer *p)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    if (pthread_timedjoin_np(p->thread, NULL, &deadline) != 0) {
        /* Still waiting on a client that never finished: leave the thread
         * to die with the test process. */
        return p->received;
    }
    size_t received = p->received;
    close(p->listen_fd);
    free(p);
    return received;
}
