/*
 * lab02.c: the autograder of lab 02, a UDP echo server and a client that
 * retries.
 *
 * SPEC asks no model property of lab 02's server beyond the protocol, so
 * this program is the udp-echo suites and the lifecycle rows.
 */
#include "suites.h"

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_", "02-udp-echo: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&udp_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    const struct hn_table *tables[] = { &udp_server_suite, &udp_client_suite, &lifecycle,
                                        NULL };
    struct hn_lab lab = { "lab02", "02-udp-echo", "a UDP echo server and a retrying client",
                          tables };
    return hn_main(&lab, argc, argv);
}
