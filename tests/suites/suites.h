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
/** @} */

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

#endif
