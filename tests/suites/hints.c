/*
 * hints.c: a shared suite, with hints into the guide of the lab it tests.
 *
 * The echo, chat and lifecycle suites are written once, with hints into the
 * guide of the lab that first teaches their protocol. A student of a later
 * lab reads that lab's guide, not lab 01's: what makes a lab 10 server lose
 * echo is lab 10's event loop. suite_hints() gives a lab a copy of a suite
 * whose hints name sections of its own guide; `make test` checks that every
 * hint of lab NN names a heading of labs/NN-slug/README.md.
 */
#include "suites.h"

struct hn_table suite_hints(const struct hn_table *suite, const struct suite_hint *map)
{
    struct hn_test *copy = malloc(sizeof *copy * (suite->count ? suite->count : 1));
    if (copy == NULL) {
        fprintf(stderr, "harness: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < suite->count; i++) {
        copy[i] = suite->tests[i];
        for (const struct suite_hint *m = map; m->prefix != NULL; m++)
            if (strncmp(copy[i].name, m->prefix, strlen(m->prefix)) == 0) {
                copy[i].hint = m->hint;
                break;
            }
    }
    return (struct hn_table){ suite->name, copy, suite->count };
}
