/*
 * lab08.c: the autograder of lab 08, lab 06's chat server again, in one
 * thread with select().
 *
 * The chat suite is lab 06's, row for row, the silent-client rule
 * included: the protocol did not change, only the model. This file adds
 * what SPEC says lab 08's server must show: one thread; nearly no CPU while
 * idle; and more clients than FD_SETSIZE allows get `! server full`, never
 * a crash, also when the server runs out of descriptors.
 */
#include "suites.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/select.h>

#define HINT_LOOP "08-select: Step 1: One loop, one thread"
#define HINT_WRITE "08-select: Step 3: Write interest only while output waits"
#define HINT_FULL "08-select: Step 4: When select() cannot take more"

#define FULL_LINE "! server full"
#define IDLE_CLIENTS 50
/* Enough that descriptors pass FD_SETSIZE (the server holds a few more). */
#define OVER_FD_SETSIZE (FD_SETSIZE + 60)

/* Connect and read the welcome line; fail the test on anything else. */
static int join(struct hn_proc *server, int *users_online)
{
    int fd = hn_connect_or_fail(server);
    char line[256];
    ssize_t n = hn_recv_line(fd, line, sizeof line, hn_ms(3000));
    if (n < 0)
        hn_fail("A client connected and waited 3 s for the welcome line; %s.\n  expected: "
                "\"> Connected to the chat server (N users online)\"",
                errno == 0 ? "the server closed the connection" : "nothing came");
    int users = 0;
    if (sscanf(line, "> Connected to the chat server (%d", &users) != 1)
        hn_fail("A client connected; the first line it got was \"%s\".\n  expected: \"> "
                "Connected to the chat server (N users online)\"",
                line);
    if (users_online)
        *users_online = users;
    return fd;
}

static void raise_own_nofile(rlim_t want)
{
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < want) {
        lim.rlim_cur = want < lim.rlim_max ? want : lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

/* The highest descriptor open in process pid, or -1. */
static int highest_fd(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int high = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > high)
            high = fd;
    }
    closedir(d);
    return high;
}

/* Read the join notices the others got, so that their buffers stay empty. */
static void drain(int fd)
{
    char buf[4096];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
}

static void test_one_thread(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fds[10];
    for (int i = 0; i < 10; i++)
        fds[i] = join(server, NULL);
    if (hn_send_all(fds[0], "anyone?\n", 8, hn_ms(1000)) != 8)
        hn_fail("Could not send to client 1: %s", strerror(errno));
    char line[256];
    for (int i = 0; i < 10; i++) {
        /* Skip the join notices of those who came later. */
        ssize_t n;
        do
            n = hn_recv_line(fds[i], line, sizeof line, hn_ms(3000));
        while (n >= 0 && line[0] == '>');
        if (n < 0 || strstr(line, "anyone?") == NULL)
            hn_fail("10 users online; user 1 said \"anyone?\". User %d did not get it within "
                    "3 s (last line: \"%s\").",
                    i + 1, n < 0 ? "" : line);
    }
    pid_t pid = hn_pid(server);
    int threads = hn_threads(pid), children = hn_children(pid, NULL, 0);
    if (threads != 1 || children != 0)
        hn_fail("With 10 users online, the server has %d thread(s) and %d child process(es).\n"
                "  expected: 1 thread and no child: lab 08 serves the whole room from one "
                "select() loop",
                threads, children);
    for (int i = 0; i < 10; i++)
        close(fds[i]);
}

/* CPU seconds the server used over one second while every user is silent. */
static double idle_cpu(struct hn_proc *server)
{
    pid_t pid = hn_pid(server);
    double before = hn_cpu_seconds(pid);
    usleep(1000 * 1000);
    double after = hn_cpu_seconds(pid);
    if (before < 0 || after < 0)
        hn_fail("Could not read the server's CPU time in /proc/%d/stat.", (int)pid);
    return after - before;
}

static void test_idle_cpu(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int fds[IDLE_CLIENTS];
    for (int i = 0; i < IDLE_CLIENTS; i++)
        fds[i] = join(server, NULL);
    /* One message, so that every socket has been written to once. */
    if (hn_send_all(fds[0], "hello, room\n", 12, hn_ms(1000)) != 12)
        hn_fail("Could not send to client 1: %s", strerror(errno));
    usleep((useconds_t)hn_ms(300) * 1000);
    for (int i = 0; i < IDLE_CLIENTS; i++)
        drain(fds[i]);
    double cpu = idle_cpu(server);
    if (cpu > 0.05)
        hn_fail("With %d users online and silent, the server used %.0f%% of a CPU over one "
                "second.\n  expected: under 5%%: select() sleeps until a socket is ready. Does "
                "it ask for write readiness on sockets with nothing to send (always ready), "
                "or use a zero timeout?",
                IDLE_CLIENTS, cpu * 100);
    for (int i = 0; i < IDLE_CLIENTS; i++)
        close(fds[i]);
}

/*
 * More clients than select() can watch. The first ones are welcomed; those
 * whose descriptor would be FD_SETSIZE or more must get "! server full" and
 * be closed; the server must not crash, and the room must go on.
 */
static void test_over_fd_setsize(const struct hn_test *t)
{
    (void)t;
    raise_own_nofile(OVER_FD_SETSIZE + 64);
    struct hn_proc *server = hn_start_server(NULL, NULL);
    static int fds[OVER_FD_SETSIZE];
    int welcomed = 0, full = 0, first_full = -1;
    char got[256];
    for (int i = 0; i < OVER_FD_SETSIZE; i++) {
        fds[i] = hn_connect(hn_proc_addr(server), hn_port(server), hn_ms(3000));
        if (fds[i] < 0)
            hn_fail("Client %d of %d could not connect: %s.", i + 1, OVER_FD_SETSIZE,
                    strerror(errno));
        ssize_t n = hn_recv_line(fds[i], got, sizeof got, hn_ms(3000));
        if (n >= 0 && strncmp(got, "> Connected", 11) == 0) {
            welcomed++;
            if (full > 0)
                hn_fail("Client %d was welcomed after client %d had been told the server is "
                        "full, while no one left.",
                        i + 1, first_full + 1);
            continue;
        }
        if (n >= 0 && strcmp(got, FULL_LINE) == 0 && hn_expect_eof(fds[i], hn_ms(3000), NULL)) {
            if (full++ == 0)
                first_full = i;
            close(fds[i]);
            fds[i] = -1;
            continue;
        }
        int status;
        if (hn_wait_exit(server, 0, &status) == 0) {
            char how[96];
            hn_fail("The server died (%s) at client %d of %d, after %d were welcomed. A "
                    "descriptor of FD_SETSIZE (%d) or more must never be given to FD_SET(): "
                    "it writes past the end of the fd_set.",
                    hn_describe_status(status, how, sizeof how), i + 1, OVER_FD_SETSIZE,
                    welcomed, FD_SETSIZE);
        }
        hn_fail("Client %d of %d (%d welcomed before it) got \"%s\".\n  expected: \"> Connected "
                "to the chat server (...)\" while select() can watch its descriptor, then \"%s\" "
                "and the connection closed",
                i + 1, OVER_FD_SETSIZE, welcomed, n < 0 ? "(nothing within 3 s)" : got,
                FULL_LINE);
    }
    if (full == 0)
        hn_fail("All %d clients were welcomed: more than FD_SETSIZE (%d) descriptors in one "
                "select() set. Newcomers whose descriptor is FD_SETSIZE or more must get \"%s\".",
                welcomed, FD_SETSIZE, FULL_LINE);
    if (welcomed < FD_SETSIZE - 64)
        hn_fail("Only %d clients were welcomed before \"%s\"; select() can watch nearly %d.",
                welcomed, FULL_LINE, FD_SETSIZE);
    /* Overflowing an fd_set by a few bits need not crash: look for the
     * descriptors themselves. Those turned away are closed by now. */
    /* The room still works: the first user talks, the last welcomed hears. */
    int last = first_full - 1;
    drain(fds[last]);
    if (hn_send_all(fds[0], "still here\n", 11, hn_ms(1000)) != 11)
        hn_fail("Could not send to client 1: %s", strerror(errno));
    ssize_t n;
    do
        n = hn_recv_line(fds[last], got, sizeof got, hn_ms(3000));
    while (n >= 0 && got[0] == '>');
    if (n < 0 || strstr(got, "still here") == NULL)
        hn_fail("After turning clients away, the room stopped: user %d did not get user 1's "
                "\"still here\" within 3 s (got \"%s\").",
                last + 1, n < 0 ? "" : got);
    /* Looked at once the room has gone round again, so that the last
     * newcomer turned away is surely closed by now. */
    int high = highest_fd(hn_pid(server));
    if (high >= FD_SETSIZE)
        hn_fail("With %d clients welcomed, the server holds descriptor %d, and select() can "
                "watch only descriptors below FD_SETSIZE (%d): FD_SET() of it writes past the "
                "end of the fd_set.\n  expected: a newcomer whose descriptor is %d or more is "
                "told \"%s\" and closed at once",
                welcomed, high, FD_SETSIZE, FD_SETSIZE, FULL_LINE);
    for (int i = 0; i < OVER_FD_SETSIZE; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/*
 * The server's descriptors run out (its limit lowered to 64 with
 * prlimit). Newcomers beyond must be told "! server full" and closed, not
 * left hanging, and the loop must not spin.
 */
static void test_out_of_descriptors(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    pid_t pid = hn_pid(server);
    struct rlimit low = { 64, 64 };
    if (hn_prlimit(pid, RLIMIT_NOFILE, &low) < 0)
        hn_fail("The test could not lower the server's descriptor limit: %s", strerror(errno));
    enum { CLIENTS = 90 };
    int fds[CLIENTS], welcomed = 0, full = 0;
    char got[256];
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = hn_connect(hn_proc_addr(server), hn_port(server), hn_ms(3000));
        if (fds[i] < 0)
            hn_fail("Client %d could not connect: %s.", i + 1, strerror(errno));
        ssize_t n = hn_recv_line(fds[i], got, sizeof got, hn_ms(3000));
        if (n >= 0 && strncmp(got, "> Connected", 11) == 0) {
            welcomed++;
        } else if (n >= 0 && strcmp(got, FULL_LINE) == 0) {
            full++;
        } else {
            hn_fail("The server may hold only 64 descriptors; client %d (%d welcomed before "
                    "it) got %s.\n  expected: \"%s\" and the connection closed, when "
                    "accept() fails with EMFILE (keep a spare descriptor for that moment)",
                    i + 1, welcomed,
                    n < 0 ? (errno == 0 ? "the connection closed without a word"
                                        : "nothing within 3 s")
                          : got,
                    FULL_LINE);
        }
    }
    if (full == 0)
        hn_fail("With its limit at 64 descriptors, the server welcomed all %d clients?", CLIENTS);
    double cpu = idle_cpu(server);
    if (cpu > 0.2)
        hn_fail("After running out of descriptors, the server used %.0f%% of a CPU over a "
                "quiet second: its loop spins on a listening socket that stays readable.",
                cpu * 100);
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
}


#define SLOW_LINE_BYTES 1024
#define SLOW_LINES 384 /* 384 KiB each time: more than the kernel holds, under 1 MiB */
#define SLOW_READ_BYTES 2048
#define SLOW_READ_EVERY_MS 20 /* about 100 KiB/s: the lines take about 4 s */

static long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A talker's burst of SLOW_LINES numbered lines, sent as the socket takes it. */
struct burst {
    int fd;
    size_t sent, total;
    int first; /* number of its first line */
};

static void burst_pump(struct burst *b)
{
    char line[SLOW_LINE_BYTES];
    while (b->sent < b->total) {
        size_t k = b->sent / SLOW_LINE_BYTES, off = b->sent % SLOW_LINE_BYTES;
        memset(line, 'a' + (int)(k % 26), sizeof line);
        snprintf(line, sizeof line, "slow %06d ", b->first + (int)k);
        line[strlen(line)] = ' ';
        line[SLOW_LINE_BYTES - 1] = '\n';
        ssize_t n = send(b->fd, line + off, SLOW_LINE_BYTES - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            return;
        b->sent += (size_t)n;
    }
}

/*
 * A user with a 4 KiB receive buffer pauses, then reads steadily but slowly
 * (about 4 s in all) while another sends 384 KiB: what its socket cannot take waits in the
 * server and must be sent as the socket drains (write readiness), and it
 * must not be dropped (its output keeps moving). Then it stops reading for
 * good in a quiet room: it must be dropped about 2 s later, with no event
 * to wake the loop but select()'s timeout.
 */
static void test_slow_reader(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    int small = 4096;
    int r = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(r, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* A small MSS keeps the server's send buffer for it small too: on
     * loopback (MSS 64 KiB) the kernel would grow it to megabytes at once,
     * and nothing would ever wait in the server itself. */
    int mss = 536;
    setsockopt(r, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)hn_port(server)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(r, (struct sockaddr *)&sin, sizeof sin) < 0)
        hn_fail("Could not connect to the server: %s", strerror(errno));
    char line[SLOW_LINE_BYTES + 256];
    if (hn_recv_line(r, line, sizeof line, hn_ms(3000)) < 0)
        hn_fail("A client connected and got no welcome line within 3 s.");
    int tk = join(server, NULL);
    if (hn_recv_line(r, line, sizeof line, hn_ms(3000)) < 0 || line[0] != '>')
        hn_fail("The first user did not see the second one join within 3 s.");
    fcntl(tk, F_SETFL, fcntl(tk, F_GETFL) | O_NONBLOCK);

    /* Part 1: the slow reader gets every line, and stays. */
    struct burst b = { .fd = tk, .total = (size_t)SLOW_LINES * SLOW_LINE_BYTES };
    long start = ms_now(), moved = start, next_read = start + 500;
    int got = 0;
    size_t have = 0;
    static char in[2 * SLOW_LINE_BYTES + SLOW_READ_BYTES];
    while (got < SLOW_LINES) {
        long now = ms_now();
        if (now - moved > hn_ms(3000))
            hn_fail("A user that reads slowly (2 KiB every %d ms) stopped receiving: %d of %d "
                    "lines of 1 KiB came, then nothing for 3 s while %zu KiB had been sent to "
                    "the room.\n  expected: what its socket could not take at once is sent "
                    "as soon as select() says the socket is writable again",
                    SLOW_READ_EVERY_MS, got, SLOW_LINES, b.sent / 1024);
        burst_pump(&b);
        char junk[65536];
        while (recv(tk, junk, sizeof junk, MSG_DONTWAIT) > 0)
            ;
        if (now < next_read) {
            usleep(2000);
            continue;
        }
        next_read = now + SLOW_READ_EVERY_MS;
        ssize_t n = recv(r, in + have, SLOW_READ_BYTES, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            hn_fail("The server closed the connection of a user that reads slowly but steadily "
                    "(2 KiB every %d ms), after %d of %d lines, %ld ms into the test.\n  "
                    "expected: only a user whose output has not moved for 2 s is dropped. "
                    "Output that waits for it must be sent when select() says its socket is "
                    "writable, and every send that moves bytes restarts its stall clock",
                    SLOW_READ_EVERY_MS, got, SLOW_LINES, now - start);
        if (n < 0)
            continue;
        have += (size_t)n;
        moved = now;
        char *nl;
        while ((nl = memchr(in, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - in) + 1;
            char want[32];
            snprintf(want, sizeof want, "slow %06d ", got);
            if (in[0] != '[' || memmem(in, len, want, strlen(want)) == NULL)
                hn_fail("The slow reader expected line %d of the talker (\"[NAME] %s...\"), "
                        "and got \"%.60s\".",
                        got, want, in);
            got++;
            memmove(in, nl + 1, have - len);
            have -= len;
        }
    }

    /* Part 2: it stops reading; one more burst; then the room is quiet. */
    struct burst b2 = { .fd = tk, .total = (size_t)SLOW_LINES * SLOW_LINE_BYTES,
                        .first = SLOW_LINES };
    long burst_end = -1, deadline = ms_now() + hn_ms(15000);
    size_t tail = 0;
    char tbuf[8192];
    for (;;) {
        long now = ms_now();
        if (now > deadline || (burst_end >= 0 && now - burst_end > hn_ms(6000)))
            hn_fail("A user stopped reading, %zu KiB more went to the room, then the room was "
                    "quiet. %s\n  expected: \"< The user NAME left (1 user online)\" about 2 s "
                    "after its output stopped moving: select()'s timeout must wake the loop "
                    "at the earliest drop deadline, even when no socket is ready",
                    b2.sent / 1024,
                    burst_end < 0 ? "The burst never went through."
                                  : "6 s later, the talker had still not seen it leave.");
        if (b2.sent < b2.total) {
            burst_pump(&b2);
            if (b2.sent == b2.total)
                burst_end = ms_now();
        }
        ssize_t n = recv(tk, tbuf + tail, sizeof tbuf - tail - 1, MSG_DONTWAIT);
        if (n == 0)
            hn_fail("The server closed the talker's connection.");
        if (n < 0) {
            usleep(5000);
            continue;
        }
        tail += (size_t)n;
        tbuf[tail] = '\0';
        if (strstr(tbuf, "< The user ") != NULL)
            break;
        char *nl = memrchr(tbuf, '\n', tail);
        if (nl != NULL) {
            size_t keep = tail - (size_t)(nl + 1 - tbuf);
            memmove(tbuf, nl + 1, keep);
            tail = keep;
        } else if (tail > 4096) {
            tail = 0;
        }
    }
    if (getenv("CHAT_DEBUG"))
        fprintf(stderr, "slow: part 2 leave %ld ms after the burst\n", ms_now() - burst_end);
    close(r);
    close(tk);
}

static const struct hn_test lab08_rows[] = {
    { "lab08_one_thread", "10 users in one room, one process, one thread", 6, 15, HINT_LOOP,
      test_one_thread, NULL },
    { "lab08_idle_cpu", "50 silent users: under 5% of a CPU", 7, 15, HINT_WRITE, test_idle_cpu,
      NULL },
    { "lab08_slow_reader", "a slow reader gets every line; one that stops is dropped in 2 s", 5,
      30, HINT_WRITE, test_slow_reader, NULL },
    { "lab08_over_fd_setsize", "more clients than FD_SETSIZE: \"! server full\", no crash", 7,
      60, HINT_FULL, test_over_fd_setsize, NULL },
    { "lab08_out_of_descriptors", "out of descriptors: \"! server full\", no spin", 5, 30,
      HINT_FULL, test_out_of_descriptors, NULL },
};

static const struct hn_table lab08_table = HN_TABLE("lab08", lab08_rows);

int main(int argc, char **argv)
{
    /* The shared suites, with hints into this lab's guide. */
    static const struct suite_hint life_hints[] = {
        { "server_", "08-select: Start, stop and errors" },
        { NULL, NULL },
    };
    struct hn_table base = lifecycle_suite(&chat_lifecycle);
    struct hn_table lifecycle = suite_hints(&base, life_hints);
    static const struct suite_hint chat_hints[] = {
        { "chat_silent_client", "08-select: Per-user output buffers and the silent-client rule" },
        { "chat_sender_order", "08-select: Order without a lock" },
        { "chat_join_first", "08-select: Order without a lock" },
        { "chat_server_full", "08-select: Step 4: When select() cannot take more" },
        { "chat_many_clients", "08-select: Step 2: Build the sets, every round" },
        { "chat_ipv6", "08-select: Start, stop and errors" },
        { "chat_", "08-select: Step 1: One loop, one thread" },
        { NULL, NULL },
    };
    struct hn_table chat = suite_hints(&chat_server_suite, chat_hints);
    const struct hn_table *tables[] = { &chat, &lifecycle, &lab08_table, NULL };
    struct hn_lab lab = { "lab08", "08-select", "the chat server in one thread with select()",
                          tables };
    return hn_main(&lab, argc, argv);
}
