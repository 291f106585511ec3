/*
 * hostile.c: servers that misbehave on purpose, to prove the autograder
 * survives them.
 *
 * An instructor runs the autograder over hundreds of submissions; some will
 * hang, flood, fork without end or eat all memory, by accident or not. Each
 * mode below is one such program, built as build/tests/hostile/MODE/server
 * (the Makefile passes -DHOSTILE_MODE="MODE"). tests/hostile/run grades each
 * with lab 01's autograder and checks that the grading ends within its time
 * bound, reports the failure, leaves no process behind, and that the next
 * grading is unaffected.
 *
 * Every mode is bounded itself too (a bomb of at most BOMB_MAX processes,
 * at most MEMORY_MAX_BYTES, sleeps of at most SLEEP_MAX_S), so that even a
 * harness that failed to contain it would not take the machine down.
 */
#include "socklab.h"

#include <sys/wait.h>

#ifndef HOSTILE_MODE
#error "build with -DHOSTILE_MODE=\"MODE\""
#endif

#define SLEEP_MAX_S 300
#define FLOOD_BYTES (100L * 1024 * 1024)
#define BOMB_MAX 2000
#define MEMORY_MAX_BYTES (16L * 1024 * 1024 * 1024)
#define MEMORY_CHUNK_BYTES (64L * 1024 * 1024)

static bool mode(const char *name)
{
    return strcmp(HOSTILE_MODE, name) == 0;
}

/* Listen on -a/-p as a real server would and print the ready line. */
static int listen_and_say_ready(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, "50001", NULL, NULL, NULL, NULL, &opts);
    char err[SL_ERR_BYTES];
    int fd = sl_listen(opts.addr, opts.port, SOCK_STREAM, 16, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_print_ready(fd) < 0)
        sl_die_errno("getsockname");
    return fd;
}

static void flood_stdout(void)
{
    static char block[65536];
    memset(block, 'x', sizeof block);
    for (long sent = 0; sent < FLOOD_BYTES; sent += (long)sizeof block)
        if (write(1, block, sizeof block) < 0)
            break;
}

static void fork_bomb(void)
{
    for (int i = 0; i < BOMB_MAX; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sleep(SLEEP_MAX_S);
            _exit(0);
        }
        if (pid < 0)
            usleep(1000);
    }
}

static void escape_with_setsid(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            sleep(SLEEP_MAX_S);
            _exit(0);
        }
        _exit(0);
    }
    wait(NULL);
}

static void eat_memory(void)
{
    for (long total = 0; total < MEMORY_MAX_BYTES; total += MEMORY_CHUNK_BYTES) {
        char *p = malloc((size_t)MEMORY_CHUNK_BYTES);
        if (p == NULL) {
            fprintf(stderr, "server: malloc failed after %ld MiB\n", total >> 20);
            return;
        }
        memset(p, 1, (size_t)MEMORY_CHUNK_BYTES);
    }
}

int main(int argc, char **argv)
{
    if (mode("no-ready-line")) {
        sleep(SLEEP_MAX_S);
        return 0;
    }
    int fd = listen_and_say_ready(argc, argv);
    if (mode("floods-stdout"))
        flood_stdout();
    else if (mode("fork-bomb"))
        fork_bomb();
    else if (mode("escapes-setsid"))
        escape_with_setsid();
    else if (mode("eats-memory"))
        eat_memory();
    else if (mode("ignores-sigterm"))
        signal(SIGTERM, SIG_IGN);
    else if (mode("sleeps-in-accept"))
        for (;;) /* take clients and never answer them */
            if (accept(fd, NULL, NULL) < 0 && errno != EINTR)
                break;
    /* never-accepts, and every mode once its harm is done: sit there. */
    signal(SIGTERM, mode("ignores-sigterm") ? SIG_IGN : SIG_DFL);
    sleep(SLEEP_MAX_S);
    return 0;
}
