/*
 * uv-echo.c: the echo server `make bench` measures every solution against,
 * written the way a libuv user would write it.
 *
 * libuv is the event loop under Node.js and many other servers: on Linux a
 * single thread on epoll, much like lab 10, with years of tuning. Beating
 * or matching it shows that a lab's model is as fast as industry code, not
 * only faster than the labs before it. So this program does nothing clever:
 * the default loop, one read buffer per read callback, one uv_write() per
 * chunk read, the buffer freed when the write completes (libuv owns it
 * until then, the same buffer-ownership rule as lab 11's io_uring). No
 * TCP_NODELAY on accepted sockets: no solution sets it either, so the
 * comparison stays fair.
 *
 * It keeps SPEC's rules for every server, so the bench starts and stops it
 * like the solutions: `uv-echo [-a ADDR] [-p PORT]` (port 0: the kernel
 * picks), the ready line `listening on 127.0.0.1:PORT` on standard output,
 * exit 0 on SIGINT or SIGTERM, 1 with `uv-echo: CALL ...: reason` on a
 * runtime error, 2 with a usage line on a bad command line.
 *
 * Read: the libuv documentation (uv_tcp_t, uv_stream_t, uv_write,
 * uv_signal_t), epoll(7).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 50012
#define BACKLOG 1024
#define READ_BUFFER_BYTES 65536

static uv_loop_t *loop;
static uv_tcp_t listener;
static uv_signal_t sigint_watch, sigterm_watch;

/* A write in flight and the bytes it sends: freed together when it ends. */
struct write_req {
    uv_write_t req;
    uv_buf_t buf;
};

static void usage(void)
{
    fprintf(stderr, "usage: uv-echo [-a ADDR] [-p PORT]\n");
    exit(2);
}

static void die_uv(const char *what, int err)
{
    fprintf(stderr, "uv-echo: %s: %s\n", what, uv_strerror(err));
    exit(1);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    buf->base = malloc(READ_BUFFER_BYTES);
    buf->len = buf->base != NULL ? READ_BUFFER_BYTES : 0;
}

static void on_close(uv_handle_t *handle)
{
    free(handle);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_close);
    free(w->buf.base);
    free(w);
}

/* After the client's FIN and our last write: close our side too. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    if (!uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_close);
    free(req);
}

static void on_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        struct write_req *w = malloc(sizeof *w);
        if (w == NULL) {
            free(buf->base);
            uv_close((uv_handle_t *)client, on_close);
            return;
        }
        /* The read buffer becomes the write buffer: no copy. */
        w->buf = uv_buf_init(buf->base, (unsigned)nread);
        if (uv_write(&w->req, client, &w->buf, 1, on_write) < 0) {
            free(buf->base);
            free(w);
            uv_close((uv_handle_t *)client, on_close);
        }
        return;
    }
    free(buf->base);
    if (nread == 0)
        return; /* EAGAIN: nothing this time */
    if (nread == UV_EOF) {
        /* Queued writes finish before the shutdown runs. */
        uv_shutdown_t *req = malloc(sizeof *req);
        if (req != NULL && uv_shutdown(req, client, on_shutdown) == 0)
            return;
        free(req);
    }
    if (!uv_is_closing((uv_handle_t *)client))
        uv_close((uv_handle_t *)client, on_close);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        fprintf(stderr, "uv-echo: accept: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *client = malloc(sizeof *client);
    if (client == NULL)
        return;
    uv_tcp_init(loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0 &&
        uv_read_start((uv_stream_t *)client, on_alloc, on_read) == 0)
        return;
    uv_close((uv_handle_t *)client, on_close);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, handle->type == UV_TCP && handle != (uv_handle_t *)&listener ? on_close
                                                                                      : NULL);
}

/* SIGINT or SIGTERM: close every handle; uv_run() returns when they are. */
static void on_stop_signal(uv_signal_t *watch, int signum)
{
    (void)watch;
    (void)signum;
    uv_walk(loop, close_any, NULL);
}

static void bind_or_die(const char *addr, int port)
{
    struct sockaddr_storage ss;
    char what[128];
    snprintf(what, sizeof what, strchr(addr, ':') ? "bind [%s]:%d" : "bind %s:%d", addr, port);
    int err = strchr(addr, ':') ? uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss)
                                : uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss);
    if (err < 0)
        die_uv(what, err);
    if ((err = uv_tcp_bind(&listener, (struct sockaddr *)&ss, 0)) < 0)
        die_uv(what, err);
    if ((err = uv_listen((uv_stream_t *)&listener, BACKLOG, on_connection)) < 0)
        die_uv("listen", err);
}

static void print_ready(void)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[64];
    uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(s6, host, sizeof host);
        printf("listening on [%s]:%d\n", host, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        uv_ip4_name(s4, host, sizeof host);
        printf("listening on %s:%d\n", host, ntohs(s4->sin_port));
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *addr = DEFAULT_ADDR;
    long port = DEFAULT_PORT;
    int opt;
    while ((opt = getopt(argc, argv, "a:p:")) != -1) {
        char *end;
        switch (opt) {
        case 'a':
            addr = optarg;
            break;
        case 'p':
            errno = 0;
            port = strtol(optarg, &end, 10);
            if (errno != 0 || *optarg == '\0' || *end != '\0' || port < 0 || port > 65535)
                usage();
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();

    loop = uv_default_loop();
    /* A client that resets must not kill the server with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    uv_tcp_init(loop, &listener);
    bind_or_die(addr, (int)port);
    uv_signal_init(loop, &sigint_watch);
    uv_signal_start(&sigint_watch, on_stop_signal, SIGINT);
    uv_signal_init(loop, &sigterm_watch);
    uv_signal_start(&sigterm_watch, on_stop_signal, SIGTERM);
    print_ready();
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
