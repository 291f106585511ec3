/**
 * @file socklab.h
 * @brief libsocklab: the small helper library every socklab program includes.
 *
 * One header, in the spirit of TLPI's `tlpi_hdr.h`: the system headers a
 * socket program needs, and a handful of helpers for what an earlier lab has
 * already taught, so that a later lab's code shows only its own lesson.
 *
 * The helpers come in two layers:
 *
 *  - **die-style** (`sl_die`, `sl_die_errno`, `sl_usage_error`): print
 *    `prog: call: reason` and exit. For start-up code and clients only.
 *  - **status-returning** (everything else): return -1 (or a status enum) and
 *    leave errno, or a message in a caller's buffer. Anything a server calls
 *    while it serves clients uses only these: one broken client must never
 *    end the server.
 *
 * No helper keeps hidden static state: a line reader is a struct the caller
 * owns and passes in, so every helper is safe to use from several threads.
 */
#ifndef SOCKLAB_H
#define SOCKLAB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, SOCK_CLOEXEC, MSG_NOSIGNAL, pipe2 */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/**
 * @name Errors: the die layer (start-up code and clients)
 *
 * @par Example
 * @snippet lib_tour.c die_layer
 */
/** @{ */

/** Exit status for a runtime error (SPEC "Every server", "Every client"). */
#define SL_EXIT_RUNTIME 1
/** Exit status for a bad command line. */
#define SL_EXIT_USAGE 2
/** Exit status of a UDP client that got no reply after its last try. */
#define SL_EXIT_TIMEOUT 3

/**
 * @brief Set the program name used as the prefix of every diagnostic.
 *
 * Call it first thing in main(); the default prefix is `socklab`.
 * @param argv0 usually `argv[0]`; only the part after the last `/` is kept.
 */
void sl_set_progname(const char *argv0);

/**
 * @brief The program name set by sl_set_progname().
 *
 * For a program that prints its own diagnostics in the same `prog: ...`
 * form as the helpers.
 * @return the name, `socklab` until sl_set_progname() is called; it points
 *         into `argv[0]` (or is a constant), so it is never freed.
 */
const char *sl_progname(void);

/**
 * @brief Print `prog: MESSAGE` on standard error and exit with @p status.
 * @param status the exit status, such as #SL_EXIT_RUNTIME.
 * @param fmt printf-style format of the message; never pass received data as
 *        the format.
 */
void sl_die(int status, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/**
 * @brief Print `prog: MESSAGE: strerror(errno)` and exit with #SL_EXIT_RUNTIME.
 *
 * The usual way to report a failed call: `sl_die_errno("connect %s", peer)`
 * prints `client: connect 127.0.0.1:50001: Connection refused`.
 * @param fmt printf-style format naming the call and its argument.
 */
void sl_die_errno(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

/**
 * @brief Print `prog: MESSAGE`, then the usage line, and exit with #SL_EXIT_USAGE.
 * @param usage the usage text without the program name, e.g. `[-a ADDR] [-p PORT]`.
 * @param fmt printf-style format of what was wrong.
 */
void sl_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Errors: the status layer (anything a server calls while serving)
 *
 * @par Example
 * @snippet lib_tour.c status_layer
 */
/** @{ */

/** Size of an error-message buffer that always suffices for libsocklab. */
#define SL_ERR_BYTES 256

/**
 * @brief Write `MESSAGE: strerror(errnum)` into a caller's buffer.
 *
 * The status-returning helpers report this way, redis-style, so that the
 * caller decides whether an error ends the program or just one client.
 * @param err the caller's buffer, or NULL to write nothing.
 * @param errlen its size in bytes.
 * @param errnum the errno value to describe, or 0 for a message that is not
 *        about errno (then only MESSAGE is written).
 * @param fmt printf-style format naming the call and its argument.
 */
void sl_set_err(char *err, size_t errlen, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * @brief Print `prog: MESSAGE: strerror(errno)` on standard error and go on.
 *
 * For a server to log a failure that ends one client, not itself.
 * errno is preserved.
 * @param fmt printf-style format naming the call.
 */
void sl_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Addresses: resolution and printing, IPv4 and IPv6
 *
 * @par Example
 * @snippet lib_tour.c addresses
 */
/** @{ */

/** Room for `[ffff:...:ffff%ifname]:65535` and a terminating NUL. */
#define SL_ADDR_BYTES 80

/**
 * @brief Format a socket address as `host:port` (IPv4) or `[host]:port` (IPv6).
 *
 * @param sa the address, AF_INET or AF_INET6 (any other family gives `?`).
 * @param salen its length.
 * @param out the caller's buffer, at least #SL_ADDR_BYTES.
 * @param outlen its size.
 * @return @p out, so that it can be used inside a printf argument list.
 */
char *sl_addr_format(const struct sockaddr *sa, socklen_t salen, char *out,
                     size_t outlen);

/**
 * @brief Format the local address of a socket (getsockname) like sl_addr_format().
 *
 * Shows which address and port the kernel actually chose, e.g. after a bind
 * to port 0 or the implicit bind of a connect().
 * @param fd a bound or connected socket.
 * @param out the caller's buffer, at least #SL_ADDR_BYTES.
 * @param outlen its size.
 * @return @p out, or NULL with errno set when getsockname() fails.
 */
char *sl_sock_local(int fd, char *out, size_t outlen);

/**
 * @brief Format the peer address of a socket (getpeername) like sl_addr_format().
 *
 * @param fd a connected socket.
 * @param out the caller's buffer, at least #SL_ADDR_BYTES.
 * @param outlen its size.
 * @return @p out, or NULL with errno set when getpeername() fails (ENOTCONN
 *         on a socket that is not connected).
 */
char *sl_sock_peer(int fd, char *out, size_t outlen);

/**
 * @brief Resolve a host and port with getaddrinfo(3).
 *
 * @param host an IPv4 or IPv6 literal or a host name.
 * @param port a decimal port number, as text.
 * @param socktype SOCK_STREAM or SOCK_DGRAM.
 * @param passive true for an address to bind (AI_PASSIVE), false to connect.
 * @param[out] res the list, to free with freeaddrinfo().
 * @param err the caller's buffer for `getaddrinfo HOST: reason`.
 * @param errlen its size.
 * @return 0, or -1 with the message in @p err.
 */
int sl_resolve(const char *host, const char *port, int socktype, bool passive,
               struct addrinfo **res, char *err, size_t errlen);

/**
 * @brief Compare two socket addresses: same family, address and port.
 *
 * The check a UDP client makes before it believes a reply (lab 02): any
 * host can send a datagram to its port, so the sender must be the server.
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket
 * reports for an IPv4 peer) equals its IPv4 address. Two IPv6 scope ids
 * must agree only when both are given (not 0).
 * @param a the first address.
 * @param alen its length.
 * @param b the second address.
 * @param blen its length.
 * @return true when they name the same endpoint; false when they do not, or
 *         when either is not AF_INET or AF_INET6 or is too short for its
 *         family.
 */
bool sl_addr_equal(const struct sockaddr *a, socklen_t alen,
                   const struct sockaddr *b, socklen_t blen);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Sockets: listeners, connectors, descriptor flags
 *
 * @par Example
 * @snippet lib_tour.c sockets
 */
/** @{ */

/**
 * @brief Open a socket bound to @p host : @p port, listening if it is TCP.
 *
 * Tries each address getaddrinfo() returns; sets SO_REUSEADDR (so a server
 * restarts at once on a port with connections in TIME_WAIT) and, for IPv6,
 * IPV6_V6ONLY. The descriptor is close-on-exec. Lab 01 writes this sequence
 * itself; later labs call this.
 *
 * @param host address to bind, as for sl_resolve().
 * @param port decimal port, `0` for a free one.
 * @param socktype SOCK_STREAM (listen() too) or SOCK_DGRAM (bind only).
 * @param backlog listen() backlog; ignored for SOCK_DGRAM.
 * @param err buffer for the reason, e.g. `bind 127.0.0.1:50006: Address already in use`.
 * @param errlen its size.
 * @return the descriptor, or -1 with the message in @p err.
 */
int sl_listen(const char *host, const char *port, int socktype, int backlog,
              char *err, size_t errlen);

/**
 * @brief Open a socket connected to @p host : @p port.
 *
 * Tries each address in turn until one connects. For SOCK_DGRAM the connect
 * only fixes the peer. The descriptor is close-on-exec.
 * @param host host to reach, as for sl_resolve().
 * @param port decimal port.
 * @param socktype SOCK_STREAM or SOCK_DGRAM.
 * @param err buffer for the reason, e.g. `connect 127.0.0.1:50001: Connection refused`.
 * @param errlen its size.
 * @return the descriptor, or -1 with the message in @p err (errno is that of
 *         the last attempt).
 */
int sl_connect(const char *host, const char *port, int socktype, char *err,
               size_t errlen);

/**
 * @brief Turn O_NONBLOCK on or off (fcntl F_GETFL/F_SETFL).
 *
 * Reads the flags first and changes only this one, because F_SETFL replaces
 * all the file status flags at once.
 * @param fd the descriptor.
 * @param on true for non-blocking, false for blocking.
 * @return 0, or -1 with errno set.
 */
int sl_set_nonblocking(int fd, bool on);

/**
 * @brief Turn FD_CLOEXEC on or off (fcntl F_GETFD/F_SETFD).
 *
 * A close-on-exec descriptor is closed when the process execs another
 * program, so a socket does not leak into it.
 * @param fd the descriptor.
 * @param on true to close it on exec, false to let it be inherited.
 * @return 0, or -1 with errno set.
 */
int sl_set_cloexec(int fd, bool on);

/**
 * @brief Raise the soft limit on open descriptors to the hard limit.
 *
 * A server for thousands of clients needs a descriptor per client; the
 * soft RLIMIT_NOFILE (often 1024) is the only thing in the way, and a
 * process may raise it up to the hard limit on its own (getrlimit(2)).
 * @return the new soft limit, or -1 with errno set.
 */
long sl_raise_nofile(void);

/**
 * @brief Ignore SIGPIPE, so that writing to a vanished peer gives EPIPE
 *        instead of killing the process.
 * @return 0, or -1 with errno set.
 */
int sl_ignore_sigpipe(void);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Full reads and writes
 *
 * @par Example
 * @snippet lib_tour.c full_io
 */
/** @{ */

/**
 * @brief Read exactly @p len bytes, looping over short counts and EINTR.
 *
 * Works on any descriptor (read(2)). EINTR is retried, unless
 * sl_stop_requested(): then a server stops waiting for its peer, and this
 * returns -1 with errno EINTR.
 * @param fd the descriptor to read.
 * @param buf where the bytes go, room for @p len.
 * @param len how many bytes to read.
 * @return @p len; fewer when end of file came first (0 at once at EOF);
 *         or -1 with errno set. EAGAIN on a non-blocking descriptor is an
 *         error here.
 */
ssize_t sl_read_full(int fd, void *buf, size_t len);

/**
 * @brief Write all @p len bytes, looping over short counts and EINTR.
 *
 * On a socket it uses send(2) with MSG_NOSIGNAL, so a vanished peer gives
 * EPIPE rather than SIGPIPE; on anything else write(2). EINTR is retried,
 * unless sl_stop_requested(): then this returns -1 with errno EINTR.
 * @param fd the descriptor to write.
 * @param buf the bytes.
 * @param len their number.
 * @return @p len, or -1 with errno set (bytes may have been written).
 *         EAGAIN on a non-blocking descriptor is an error here.
 */
ssize_t sl_write_full(int fd, const void *buf, size_t len);

/**
 * @brief Copy between standard input, a connected socket and standard output.
 *
 * The loop at the heart of the stream clients (labs 01 and 03). It waits
 * with poll(2) on both directions at once, because a client that first
 * writes all its input and only then reads would deadlock as soon as the
 * server's replies fill the socket buffers. At the end of input it shuts
 * down the sending side (half-close) and keeps printing until the server
 * closes.
 *
 * Each direction holds at most 64 KiB in flight, so memory stays bounded
 * however large the input; writes to the socket never block. EINTR is
 * retried. Whatever the server sent is written to @p out_fd before the
 * function returns.
 *
 * @param in_fd where the input comes from (usually 0).
 * @param sock the connected stream socket.
 * @param out_fd where the server's bytes go (usually 1).
 * @param err buffer for the reason of a failure.
 * @param errlen its size.
 * @return 0 when the input ended and then the server closed; -1 with a
 *         message in @p err on an error (`recv: Connection reset by peer`),
 *         or when the server closed before the input ended (`server closed
 *         the connection before the input ended`).
 */
int sl_relay(int in_fd, int sock, int out_fd, char *err, size_t errlen);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Output buffers: what a non-blocking socket has not taken yet
 *
 * @par Example
 * @snippet lib_tour.c output_buffer
 */
/** @{ */

/**
 * @brief Bytes waiting to be sent on one connection, in order.
 *
 * A non-blocking send() takes only what fits in the socket's send buffer; an
 * event-driven server keeps the rest here and sends it when the socket is
 * writable again, instead of blocking every other client on one slow
 * reader. The caller owns the struct, one per connection; nothing is
 * allocated until a byte has to wait, and the storage is given back as soon
 * as everything is sent, so an idle connection costs no heap at all.
 *
 * The bound @p max is the back-pressure point: sl_buf_append() refuses to
 * hold more, and a server stops reading from (or drops) a client whose
 * backlog reaches it, so one client that never reads cannot eat the memory
 * of all.
 *
 * Typical use: sl_buf_write() for new output, sl_buf_flush() when the
 * socket becomes writable, and write interest (POLLOUT, EPOLLOUT, the
 * select() write set) only while sl_buf_len() is not 0.
 */
struct sl_buf {
    char *data;   /**< storage, @c cap bytes, or NULL */
    size_t start; /**< offset of the first byte not sent yet */
    size_t end;   /**< offset one past the last byte */
    size_t cap;   /**< bytes allocated */
    size_t max;   /**< the most bytes it may hold */
};

/**
 * @brief Start an empty buffer that will hold at most @p max_bytes.
 * @param b the buffer (caller-owned).
 * @param max_bytes the bound, at least 1.
 */
void sl_buf_init(struct sl_buf *b, size_t max_bytes);

/**
 * @brief Give back the storage; the buffer is empty and usable again.
 * @param b the buffer.
 */
void sl_buf_free(struct sl_buf *b);

/**
 * @brief How many bytes wait to be sent.
 * @param b the buffer.
 * @return the count, 0 when empty.
 */
size_t sl_buf_len(const struct sl_buf *b);

/**
 * @brief How many more bytes the buffer accepts before its bound.
 * @param b the buffer.
 * @return @c max minus sl_buf_len().
 */
size_t sl_buf_room(const struct sl_buf *b);

/**
 * @brief Queue @p len bytes after what is already waiting.
 *
 * All or nothing: when they do not fit under the bound, nothing is queued.
 * @param b the buffer.
 * @param data the bytes (any values).
 * @param len how many.
 * @return 0, or -1 with errno ENOBUFS (over the bound) or ENOMEM.
 */
int sl_buf_append(struct sl_buf *b, const void *data, size_t len);

/**
 * @brief Send what waits, as much as the socket takes without blocking.
 *
 * Calls send(2) with MSG_DONTWAIT and MSG_NOSIGNAL until the buffer is empty
 * or the socket is full (EAGAIN), retrying EINTR, so it also drains
 * completely for edge-triggered epoll. Works on blocking sockets too.
 * @param b the buffer.
 * @param fd a connected stream socket.
 * @return the bytes sent by this call (0 when the socket was full or the
 *         buffer empty), or -1 with errno set for a real error (EPIPE,
 *         ECONNRESET, ...); what was sent before the error is gone from the
 *         buffer.
 */
ssize_t sl_buf_flush(struct sl_buf *b, int fd);

/**
 * @brief Send @p len new bytes in order after what waits: now if the
 *        socket takes them, queued otherwise.
 *
 * When nothing waits, it tries send(2) at once (the common case costs no
 * copy) and queues only the part the socket did not take; when bytes
 * already wait, the new ones go behind them, to keep the order.
 * @param b the buffer.
 * @param fd a connected stream socket.
 * @param data the bytes.
 * @param len how many.
 * @return 0 (sent or queued), or -1 with errno: ENOBUFS when what would
 *         wait passes the bound (nothing of @p data is then queued, though
 *         a part may have been sent), or send()'s error.
 */
int sl_buf_write(struct sl_buf *b, int fd, const void *data, size_t len);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Line reader: framing a byte stream into lines
 *
 * @par Example
 * @snippet lib_tour.c line_reader
 */
/** @{ */

/** What sl_line_next(), sl_line_finish() and sl_line_read() report. */
enum sl_line_status {
    SL_LINE_OK = 0,       /**< a whole line is in the sl_line */
    SL_LINE_TOO_LONG = 1, /**< a line passed the limit; the rest of it, up
                               to its newline, will be discarded */
    SL_LINE_NEED_MORE = 2,/**< no whole line buffered yet: read more */
    SL_LINE_EOF = 3,      /**< the stream ended and nothing is left */
    SL_LINE_ERROR = -1,   /**< a read failed; errno says why */
};

/**
 * @brief Caller-owned state of a buffered line reader.
 *
 * Initialise with sl_line_reader_init(), release with sl_line_reader_free().
 * The fields are private; they are visible so that the struct can live on the
 * stack or inside a per-connection struct.
 */
struct sl_line_reader {
    char *buf;        /**< storage, max_line + 2 bytes and more */
    size_t cap;       /**< size of buf */
    size_t start;     /**< first unconsumed byte */
    size_t end;       /**< one past the last buffered byte */
    size_t scanned;   /**< bytes after start already searched for `\n` */
    size_t max_line;  /**< longest line accepted, counting neither `\n` nor a
                           dropped `\r` */
    bool discarding;  /**< inside an over-long line, dropping bytes until `\n` */
};

/** One line handed out by the reader: valid until the next call on it. */
struct sl_line {
    const char *data; /**< the line's bytes, without `\n` or a dropped `\r`;
                           not NUL-terminated */
    size_t len;       /**< their number */
};

/**
 * @brief Initialise a line reader for lines of at most @p max_line bytes.
 *
 * The limit is what keeps a server's memory bounded: a client that sends
 * bytes without ever a newline gets SL_LINE_TOO_LONG, not an ever-growing
 * buffer.
 * @param r the caller's reader, in any state (it is overwritten).
 * @param max_line longest line accepted, without its newline.
 * @return 0, or -1 with errno ENOMEM.
 */
int sl_line_reader_init(struct sl_line_reader *r, size_t max_line);

/**
 * @brief Release the reader's storage; the struct may be initialised again.
 * @param r the reader; its buffered bytes are lost.
 */
void sl_line_reader_free(struct sl_line_reader *r);

/**
 * @brief Copy bytes that arrived from elsewhere into the reader.
 *
 * For event loops that read the socket themselves. Takes as many bytes as
 * there is room for; call sl_line_next() until it says SL_LINE_NEED_MORE, then
 * feed the rest.
 * @param r the reader.
 * @param data the bytes that arrived.
 * @param len their number.
 * @return how many bytes were taken (0 when the buffer is full).
 */
size_t sl_line_feed(struct sl_line_reader *r, const void *data, size_t len);

/**
 * @brief Read once from @p fd into the reader (read(2), retried on EINTR
 *        unless sl_stop_requested()).
 *
 * One read(2) per call, so an event loop can call it when poll() says the
 * descriptor is readable without ever blocking on it.
 * @param r the reader; take out every whole line (sl_line_next()) before
 *        filling again.
 * @param fd the descriptor to read.
 * @return bytes read, 0 at end of file, or -1 with errno set (EAGAIN on a
 *         non-blocking descriptor with nothing to read; ENOBUFS when the
 *         buffer is full because whole lines were left in it).
 */
ssize_t sl_line_fill(struct sl_line_reader *r, int fd);

/**
 * @brief Take the next whole line out of what is buffered; never reads.
 *
 * A `\r` just before the `\n` is dropped. A line longer than max_line is
 * reported once as SL_LINE_TOO_LONG as soon as that is certain, and its bytes
 * up to and including its `\n` are then discarded.
 * @param r the reader.
 * @param[out] line set when SL_LINE_OK is returned.
 * @return SL_LINE_OK, SL_LINE_TOO_LONG or SL_LINE_NEED_MORE.
 */
enum sl_line_status sl_line_next(struct sl_line_reader *r, struct sl_line *line);

/**
 * @brief At end of stream, hand out the last line if it had no `\n`.
 *
 * A `\r` at the very end of a cut-off line is kept: no `\n` follows it.
 * Whole lines still buffered come out first, as from sl_line_next(); the
 * rest of a line already reported as too long is dropped.
 * @param r the reader.
 * @param[out] line set when SL_LINE_OK is returned.
 * @return SL_LINE_OK for a cut-off last line (once), SL_LINE_TOO_LONG if that
 *         line is over the limit, otherwise SL_LINE_EOF (again on every
 *         later call).
 */
enum sl_line_status sl_line_finish(struct sl_line_reader *r, struct sl_line *line);

/**
 * @brief Blocking convenience: the next line from @p fd, reading as needed.
 *
 * Combines sl_line_next(), sl_line_fill() and sl_line_finish(). For a
 * thread or process that serves one client; an event loop uses the three
 * itself, so that it never blocks.
 * @param r the reader.
 * @param fd the descriptor to read, blocking.
 * @param[out] line set when SL_LINE_OK is returned.
 * @return SL_LINE_OK, SL_LINE_TOO_LONG, SL_LINE_EOF, or SL_LINE_ERROR with
 *         errno set.
 */
enum sl_line_status sl_line_read(struct sl_line_reader *r, int fd,
                                 struct sl_line *line);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Command lines, the ready line, and stopping on a signal
 *
 * @par Example
 * @snippet lib_tour.c command_line
 */
/** @{ */

/** Options every server and client share (SPEC "Every server"). */
struct sl_opts {
    const char *addr; /**< -a: address to bind or host to reach; default 127.0.0.1 */
    const char *port; /**< -p: decimal port, 0 to 65535; default 50000 + lab */
};

/**
 * @brief Handler for a program's own options, called by sl_parse_args().
 * @param opt the option letter.
 * @param arg its argument, or NULL for a flag.
 * @param ctx the pointer given to sl_parse_args().
 * @return 0 if accepted, -1 if the argument is invalid (usage error).
 */
typedef int (*sl_opt_handler)(int opt, const char *arg, void *ctx);

/**
 * @brief Parse `[-a ADDR] [-p PORT]` plus a program's own options.
 *
 * On a bad command line (unknown option, missing or invalid argument, a port
 * that is not a number from 0 to 65535, a stray operand) it prints the reason
 * and `usage: PROG [-a ADDR] [-p PORT] EXTRA` on standard error and exits
 * with #SL_EXIT_USAGE. `-h` prints the usage on standard output and exits 0.
 * It also calls sl_set_progname(). It restarts getopt() (glibc's `optind =
 * 0`), so it may be called more than once. Option parsing stops at the
 * first operand.
 *
 * @param argc as given to main().
 * @param argv as given to main().
 * @param default_port the lab's port as text, e.g. "50001".
 * @param extra_optstring getopt(3) letters of the program's own options
 *        (e.g. "t:r:"), or NULL.
 * @param extra_usage their usage text (e.g. "[-t MS] [-r N]"), or NULL.
 * @param handler called for each of the program's own options, or NULL.
 * @param ctx passed to @p handler.
 * @param[out] opts the shared options; the strings point into @p argv (or
 *        are constants), so they live as long as it does.
 */
void sl_parse_args(int argc, char **argv, const char *default_port,
                   const char *extra_optstring, const char *extra_usage,
                   sl_opt_handler handler, void *ctx, struct sl_opts *opts);

/**
 * @brief Parse a decimal integer option argument in [@p min, @p max].
 *
 * Stricter than strtol(3), which would accept leading blanks, a `+` and
 * trailing junk: the whole argument must be digits, with at most a leading
 * minus sign. errno is left unchanged.
 * @param arg the text, e.g. optarg; NULL is rejected.
 * @param min smallest value accepted.
 * @param max largest value accepted.
 * @param[out] out the value; untouched on failure.
 * @return 0 with the value in @p out, or -1 when @p arg is not such a number.
 */
int sl_parse_int(const char *arg, long min, long max, long *out);

/**
 * @brief Print the ready line `listening on ADDR:PORT` for a bound socket.
 *
 * Uses getsockname(), so the port is the one actually bound (port 0 asks the
 * kernel to choose), and flushes standard output at once: the autograder
 * waits for this line before it connects.
 * @param fd the bound (for TCP, listening) socket.
 * @return 0, or -1 with errno set.
 */
int sl_print_ready(int fd);

/**
 * @brief Install SIGINT and SIGTERM handlers that only record the request.
 *
 * Installed without SA_RESTART, so a blocking accept(), recv() or
 * recvfrom() returns EINTR and the loop can check sl_stop_requested().
 * @return 0, or -1 with errno set.
 */
int sl_install_stop_handlers(void);

/**
 * @brief Whether SIGINT or SIGTERM has arrived. Async-signal-safe.
 *
 * The handlers only set a flag, because almost nothing else is safe inside a
 * signal handler; the program checks it here, between calls, and stops.
 * @return true once sl_install_stop_handlers()'s handlers caught SIGINT or
 *         SIGTERM.
 */
bool sl_stop_requested(void);

/** @} */

#endif /* SOCKLAB_H */
