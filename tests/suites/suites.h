/**
 * @file suites.h
 * @brief Protocol suites: test tables shared by every lab that speaks a
 *        protocol, and the fake peers that client tests talk to.
 *
 * A suite is a table of rows, one per behaviour of SPEC's protocol section:
 * what the client does, what it must see. A lab's test program lists the
 * suites of its protocol and adds a table of its own model's properties.
 */
#ifndef SOCKLAB_SUITES_H
#define SOCKLAB_SUITES_H

#include "harness.h"

/** @name Suites */
/** @{ */
extern const struct hn_table echo_server_suite;    /**< echo protocol, server side */
extern const struct hn_table echo_client_suite;    /**< echo protocol, client side */
extern const struct hn_table udp_server_suite;     /**< udp-echo protocol, server side */
extern const struct hn_table udp_client_suite;     /**< udp-echo protocol, client side */
extern const struct hn_table reverse_server_suite; /**< reverse protocol, server side */
extern const struct hn_table reverse_client_suite; /**< reverse protocol, client side */
extern const struct hn_table chat_server_suite;    /**< chat protocol, server side (56 points) */
extern const struct hn_table chat_client_suite;    /**< chat protocol, client side (15 points) */

/** How the lifecycle suite talks to one protocol's server. */
struct lifecycle_proto {
    int socktype; /**< SOCK_STREAM or SOCK_DGRAM */
    /** One request and its answer on a fresh connection or socket; fails the
     *  test if the answer is wrong. Returns the socket, still open. */
    int (*exchange)(struct hn_proc *server);
    /** The server never sleeps in the kernel (lab 07's busy loop): signals
     *  are sent without waiting for it to block first. */
    bool never_sleeps;
};

/** The protocol descriptions for lifecycle_suite(). */
extern const struct lifecycle_proto echo_lifecycle, udp_lifecycle, reverse_lifecycle;

/** The chat protocol for lifecycle_suite(): a user connects to an empty room
 *  and reads `> Connected to the chat server (1 user online)`. */
extern const struct lifecycle_proto chat_lifecycle;

/**
 * @brief The server lifecycle table (start, stop, restart, errors, flags)
 *        for one protocol.
 * @param proto how to talk to the server.
 * @return a table valid for the rest of the program.
 */
struct hn_table lifecycle_suite(const struct lifecycle_proto *proto);
/**
 * @brief Run `server ARGS...` and check that it refuses the command line:
 *        exit status 2 and a usage line on standard error.
 * @param args NULL-terminated arguments.
 * @param rule why the line is bad, for the failure message
 *        ("-t takes a whole number from 1 to 256").
 * @param usage an example usage line, for the failure message.
 */
void expect_usage_exit(const char *const *args, const char *rule, const char *usage);
/** @} */

/** A lab's own hint for the rows of a shared suite whose names start with
 *  `prefix`; a NULL prefix ends a list, and the first match wins. */
struct suite_hint {
    const char *prefix; /**< e.g. `echo_slow_reader`, or `echo_` for the rest */
    const char *hint;   /**< e.g. `10-epoll: Step 3: Wait and dispatch` */
};

/**
 * @brief A copy of a shared suite whose hints name sections of the guide of
 *        the lab that runs it.
 * @param suite the suite, e.g. &echo_server_suite or a lifecycle_suite().
 * @param map the lab's hints, ended by a NULL prefix; rows no entry matches
 *        keep their hint (and `make test` then says so).
 * @return a table valid for the rest of the program.
 */
struct hn_table suite_hints(const struct hn_table *suite, const struct suite_hint *map);

/** @name Fake peers for client tests: threads of the test process */
/** @{ */

/** What a fake TCP server does with its one connection. */
enum peer_mode {
    PEER_ECHO,           /**< echo every byte; close after the client's FIN */
    PEER_ECHO_AFTER_EOF, /**< read to the client's FIN, then send it all back */
    PEER_CLOSE_EARLY,    /**< read a little, then close while the client still sends */
    PEER_REVERSE_LINES,  /**< answer each line with its bytes reversed */
};

/** A fake server running in a thread of the test. Opaque. */
struct peer;

/**
 * @brief Start a fake TCP server on 127.0.0.1 with a free port.
 * @param mode what it does with the one connection it accepts.
 * @return the peer; peer_port() tells its port.
 */
struct peer *peer_start(enum peer_mode mode);

/**
 * @brief The peer's port, for the client's `-p` argument.
 * @param p the peer.
 * @return the port the kernel chose for it.
 */
int peer_port(const struct peer *p);

/**
 * @brief Wait for the peer's thread to finish (bounded) and free it.
 *
 * The wait is bounded (5 s) so that a client that never finishes cannot hang
 * the test; then the peer is left, not freed, to end with the test process.
 * @param p the peer; not to be used afterwards.
 * @return the number of bytes the peer received.
 */
size_t peer_finish(struct peer *p);

/**
 * @brief Port number as text, for a program's `-p` argument.
 * @param port the port.
 * @param buf the caller's buffer, at least 8 bytes.
 * @return @p buf.
 */
char *port_text(int port, char *buf);
/** @} */

/* ------------------------------------------------------------------------ */
/** @name Crowds: many clients at once (labs 10 to 12)                      */
/** @{ */

/**
 * @brief What a lab's crowd test rows are about: the server's command line
 *        and what it may use. The row's `param` points to one.
 */
struct crowd_param {
    const char *const *args;    /**< the server's own options, NULL-terminated, or NULL */
    int clients;                /**< crowd_test_many_clients(): how many at once */
    int max_threads;            /**< the most threads the server may have (hn_threads()) */
    const char *model;          /**< why that many, for the failure message */
    const char *emfile_advice;  /**< crowd_test_emfile(): how not to spin at the limit */
};

/**
 * @brief Connect @p n clients at once to 127.0.0.1 : @p port.
 *
 * Non-blocking connects, a few hundred waited for together, from source
 * addresses 127.0.0.2 to 127.0.0.5 in turn, so ten thousand connections
 * take well under a second. The test process must have raised its own
 * descriptor limit first (hn_set_nofile()).
 * @param port the server's port.
 * @param[out] fds the client sockets (non-blocking), one per client connected.
 * @param n how many clients.
 * @param batch_timeout_ms deadline for each batch's handshakes.
 * @param why the caller's buffer: what happened to the first client that
 *        did not connect.
 * @param whylen its size.
 * @return how many connected: @p n on success.
 */
int crowd_connect_many(int port, int *fds, int n, int batch_timeout_ms, char *why,
                       size_t whylen);

/**
 * @brief The line client @p i sends in a crowd: unique to it, so an echo
 *        sent to the wrong client is caught.
 * @param i the client's index, from 0.
 * @param buf the caller's buffer, at least 64 bytes.
 * @param cap its size.
 * @return the line's length, its `\n` included.
 */
size_t crowd_client_line(int i, char *buf, size_t cap);

/**
 * @brief Every client sends its own line and must get exactly it back.
 *
 * A batch sends, then the batch reads, so all @p n are connected while
 * they are served. Fails the test at the first client that does not get
 * its line, saying which.
 * @param fds the connected clients.
 * @param n how many.
 * @param timeout_ms deadline for each send and each echo.
 * @param context what the clients are, for the failure message.
 */
void crowd_echo_each(const int *fds, int n, int timeout_ms, const char *context);

/**
 * @brief Close every descriptor of @p fds that is not -1, and set it to -1.
 * @param fds the descriptors.
 * @param n how many.
 */
void crowd_close_all(int *fds, int n);

/**
 * @brief Test: crowd_param::clients clients connected at once, each gets
 *        its own echo, the server holds them all within its thread budget.
 *
 * The server is started with a soft limit of 1024 open files, so it must
 * raise its own (SPEC, labs 09 to 12).
 * @param t the row; its `param` is a struct crowd_param.
 */
void crowd_test_many_clients(const struct hn_test *t);

/**
 * @brief Test: with its descriptor limit lowered to 64 and 150 clients
 *        connected, the server serves those it holds, does not spin, does
 *        not exit, and serves the waiting ones once others leave.
 * @param t the row; its `param` is a struct crowd_param.
 */
void crowd_test_emfile(const struct hn_test *t);

/**
 * @brief Test: at the descriptor limit with clients waiting in the backlog,
 *        each time a served client leaves, a waiting one is accepted at
 *        once, not when a pause timer next expires.
 * @param t the row; its `param` is a struct crowd_param.
 */
void crowd_test_emfile_resume(const struct hn_test *t);

/** @} */

#endif
