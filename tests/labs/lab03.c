/*
 * lab03.c: the autograder of lab 03, a line-reversing server and its client.
 *
 * The reverse suites check framing (lines split and coalesced across
 * segments, CRLF, limits) and UTF-8; the lifecycle rows check start and stop.
 */
#include "suites.h"

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_", "03-reverse: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&reverse_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    const struct hn_table *tables[] = { &reverse_server_suite, &reverse_client_suite,
                                        &lifecycle, NULL };
    struct hn_lab lab = { "lab03", "03-reverse", "a line-reversing server: framing and UTF-8",
                          tables };
    return hn_main(&lab, argc, argv);
}
