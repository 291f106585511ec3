/*
 * chat.c: the chat protocol suite (SPEC "Protocols: chat" and its settled
 * details).
 *
 * Labs 06 (a thread per client) and 08 (one thread, select()) serve the same
 * protocol, so nothing here assumes how the server is built: each row is a
 * room of test users, what one of them does, and the exact lines every user
 * must see. NAME is a user's address as the server sees it, which is the
 * test's own end of the connection (getsockname()), until the user picks a
 * nickname.
 *
 * "Others receive nothing" cannot be waited for, so a row that checks it
 * follows the event with a marker line from the same user: per-sender order
 * means the marker is the very next line every other user must read.
 *
 * The client rows talk to a fake chat server, a thread of the test process,
 * so that a broken server cannot fail the client's tests.
 */
#include "suites.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <time.h>

#define HINT_ACCEPT "06-chat: Step 1: Accept clients, a thread each"
#define HINT_ROOM "06-chat: Step 2: The room: shared state under a mutex"
#define HINT_LINES "06-chat: Step 3: Read lines and commands"
#define HINT_BROADCAST "06-chat: Step 4: Broadcast without waiting for slow clients"
#define HINT_LEAVE "06-chat: Step 5: Leaving"
#define HINT_CLIENT "06-chat: Step 6: The client's two threads"

#define MAX_LINE 4096
#define MIB (1024 * 1024)
/* Room for the longest line the server may send: "[NAME] " and 4096 bytes. */
#define USER_BUF_BYTES 16384
#define LINE_WAIT_MS 2000

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* "1 user online", "3 users online": SPEC's grammar for N. */
static const char *online(int n, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d user%s online", n, n == 0 || n == 1 ? "" : "s");
    return buf;
}

/* ------------------------------------------------------------ test users */

/* One user of the room: a connection, its name, and a line buffer. */
struct user {
    int fd;
    char addr[SL_ADDR_BYTES]; /* our end of the connection: NAME before /nick */
    char name[SL_ADDR_BYTES]; /* NAME now: addr, or the nickname */
    char label[24];           /* for messages: "user 2" */
    bool silent;              /* never reads: expect nothing of it */
    char buf[USER_BUF_BYTES];
    size_t start, end;
    /* bulk rows: what is left to send */
    char *out;
    size_t out_len, out_off;
};

/* Connect a new user, without reading anything. */
static struct user *user_connect(struct hn_proc *server, const char *label)
{
    struct user *u = calloc(1, sizeof *u);
    u->fd = hn_connect_or_fail(server);
    if (!sl_sock_local(u->fd, u->addr, sizeof u->addr))
        hn_fail("harness: getsockname: %s", strerror(errno));
    snprintf(u->name, sizeof u->name, "%s", u->addr);
    snprintf(u->label, sizeof u->label, "%s", label);
    return u;
}

static void user_free(struct user *u)
{
    if (u->fd >= 0)
        close(u->fd);
    free(u->out);
    free(u);
}

/* Take the next complete line out of the buffer, without waiting. */
static bool user_next_line(struct user *u, char **line, size_t *len)
{
    char *nl = memchr(u->buf + u->start, '\n', u->end - u->start);
    if (!nl)
        return false;
    *line = u->buf + u->start;
    *len = (size_t)(nl - *line);
    u->start += *len + 1;
    return true;
}

/* Read what has arrived, without waiting: >0 bytes, 0 end of stream, -1
 * nothing yet (errno EAGAIN) or an error. */
static ssize_t user_pump(struct user *u)
{
    if (u->start > 0) {
        memmove(u->buf, u->buf + u->start, u->end - u->start);
        u->end -= u->start;
        u->start = 0;
    }
    if (u->end == sizeof u->buf) {
        errno = EMSGSIZE;
        return -1;
    }
    ssize_t n;
    do
        n = recv(u->fd, u->buf + u->end, sizeof u->buf - u->end, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        u->end += (size_t)n;
    return n;
}

/* The next line, waiting up to timeout_ms: its length, or -1 with errno 0
 * (end of stream), ETIMEDOUT, EMSGSIZE or the socket's error. */
static ssize_t user_read_line(struct user *u, char **line, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        size_t len;
        if (user_next_line(u, line, &len))
            return (ssize_t)len;
        ssize_t n = user_pump(u);
        if (n > 0)
            continue;
        if (n == 0) {
            errno = 0;
            return -1;
        }
        if (errno != EAGAIN)
            return -1;
        long left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {u->fd, POLLIN, 0};
        poll(&pfd, 1, (int)left);
    }
}

/* Describe what came instead of a line, for a message. */
static const char *describe_got(ssize_t n, const char *line, char *out, size_t cap)
{
    if (n >= 0)
        return hn_show(line, (size_t)n, out, cap);
    if (errno == 0)
        return "end of stream: the server closed the connection";
    if (errno == ETIMEDOUT)
        return "nothing (no complete line within 2 s)";
    if (errno == EMSGSIZE)
        return "a line longer than any the server should send";
    snprintf(out, cap, "an error: %s", strerror(errno));
    return out;
}

/* The next line of u must be exactly want (len bytes); `after` says what the
 * test did just before, for the message. */
static void expect_bytes(struct user *u, const char *want, size_t len, const char *after)
{
    char *line = NULL;
    ssize_t n = user_read_line(u, &line, hn_ms(LINE_WAIT_MS));
    if (n >= 0 && (size_t)n == len && memcmp(line, want, len) == 0)
        return;
    char exp[600], got[600];
    hn_fail("%s (%s) did not receive the line the chat protocol asks for.\n  after: %s\n"
            "  expected: %s\n  got: %s",
            u->label, u->name, after, hn_show(want, len, exp, sizeof exp),
            describe_got(n, line, got, sizeof got));
}

static void expect(struct user *u, const char *want, const char *after_fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void expect(struct user *u, const char *want, const char *after_fmt, ...)
{
    char after[600];
    va_list ap;
    va_start(ap, after_fmt);
    vsnprintf(after, sizeof after, after_fmt, ap);
    va_end(ap);
    expect_bytes(u, want, strlen(want), after);
}

/* Send bytes from u, or fail. */
static void say_bytes(struct user *u, const char *data, size_t len)
{
    if (hn_send_all(u->fd, data, len, hn_ms(3000)) != len) {
        char shown[200];
        hn_fail("Could not send %s from %s: %s.\nThe server stopped reading this "
                "connection, or closed it.",
                hn_show(data, len, shown, sizeof shown), u->label, strerror(errno));
    }
}

static void say(struct user *u, const char *text)
{
    say_bytes(u, text, strlen(text));
}

/* The server must close u's connection, with nothing more sent first. */
static void expect_closed(struct user *u, const char *after)
{
    size_t extra = 0;
    if (u->end > u->start || !hn_expect_eof(u->fd, hn_ms(LINE_WAIT_MS), &extra))
        hn_fail("The server did not close %s's connection.\n  after: %s\n"
                "  expected: end of stream and nothing before it\n  got: %s",
                u->label, after,
                u->end > u->start || extra ? "more bytes"
                                           : "the connection still open after 2 s");
}

/* ------------------------------------------------------------------ rooms */

#define ROOM_MAX 64

/* The users now in the room, in joining order, and the server. */
struct room {
    struct hn_proc *server;
    struct user *users[ROOM_MAX];
    int count;
    int joined; /* users ever joined, for labels */
};

static struct room *room_open(const char *addr, const char *const *extra)
{
    struct room *r = calloc(1, sizeof *r);
    r->server = hn_start_server(addr, extra);
    return r;
}

/* A new user connects: it must get the welcome, and everyone already in the
 * room the join notice, with the new count. */
static struct user *room_join(struct room *r)
{
    char label[24], want[256], n[32];
    snprintf(label, sizeof label, "user %d", ++r->joined);
    struct user *u = user_connect(r->server, label);
    int count = r->count + 1;
    snprintf(want, sizeof want, "> Connected to the chat server (%s)",
             online(count, n, sizeof n));
    expect(u, want, "%s connected, with %d user(s) already in the room", label, r->count);
    snprintf(want, sizeof want, "> New user %s entered (%s)", u->addr, n);
    for (int i = 0; i < r->count; i++)
        if (!r->users[i]->silent)
            expect(r->users[i], want, "%s connected from %s", label, u->addr);
    r->users[r->count++] = u;
    return u;
}

static void room_join_many(struct room *r, int n)
{
    for (int i = 0; i < n; i++)
        room_join(r);
}

static void room_remove(struct room *r, struct user *u)
{
    int i = 0;
    while (i < r->count && r->users[i] != u)
        i++;
    memmove(r->users + i, r->users + i + 1, (size_t)(r->count - i - 1) * sizeof *r->users);
    r->count--;
}

/* Everyone left in the room must see u's leave notice. */
static void room_expect_leave(struct room *r, struct user *u, const char *how)
{
    char want[256], n[32];
    room_remove(r, u);
    snprintf(want, sizeof want, "< The user %s left (%s)", u->name,
             online(r->count, n, sizeof n));
    for (int i = 0; i < r->count; i++)
        expect(r->users[i], want, "%s (%s) %s", u->label, u->name, how);
}

/* u says a line: it gets "[You] L", every other user "[NAME] L". */
static void room_say(struct room *r, struct user *u, const char *line, const char *before)
{
    char sent[200], want[MAX_LINE + 128];
    size_t len = strlen(line);
    char *text = malloc(len + 2);
    memcpy(text, line, len);
    text[len] = '\n';
    say_bytes(u, text, len + 1);
    hn_show(text, len + 1, sent, sizeof sent);
    free(text);
    snprintf(want, sizeof want, "[You] %s", line);
    expect(u, want, "%s%s sent %s", before, u->label, sent);
    snprintf(want, sizeof want, "[%s] %s", u->name, line);
    for (int i = 0; i < r->count; i++)
        if (r->users[i] != u)
            expect(r->users[i], want, "%s%s (%s) sent %s", before, u->label, u->name, sent);
}

/* After something only u should have seen an answer to, u sends a marker:
 * the marker must be the very next line of every other user. */
static void room_check_quiet(struct room *r, struct user *u, const char *what)
{
    char before[300];
    snprintf(before, sizeof before, "%s sent %s, which the others must not see; then ",
             u->label, what);
    room_say(r, u, "(just a marker line)", before);
}

/* u sends a command line and must get exactly `answer` back. */
static void command(struct user *u, const char *line, const char *answer)
{
    char sent[200];
    say(u, line);
    expect(u, answer, "%s sent %s", u->label, hn_show(line, strlen(line), sent, sizeof sent));
}

static void room_nick(struct room *r, struct user *u, const char *nick)
{
    char line[128], want[160], sent[200];
    snprintf(line, sizeof line, "/nick %s\n", nick);
    snprintf(want, sizeof want, "* You are now known as %s", nick);
    command(u, line, want);
    snprintf(want, sizeof want, "* %s is now known as %s", u->name, nick);
    hn_show(line, strlen(line), sent, sizeof sent);
    for (int i = 0; i < r->count; i++)
        if (r->users[i] != u)
            expect(r->users[i], want, "%s (%s) sent %s", u->label, u->name, sent);
    snprintf(u->name, sizeof u->name, "%s", nick);
}

/* "* N users online: NAME1, NAME2" for the room as the test knows it. */
static void who_line(struct room *r, char *out, size_t cap)
{
    char n[32];
    size_t len = (size_t)snprintf(out, cap, "* %s: ", online(r->count, n, sizeof n));
    for (int i = 0; i < r->count && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", r->users[i]->name);
}

/* ------------------------------------------------------------ server rows */

static void test_welcome(const struct hn_test *t)
{
    (void)t;
    struct hn_proc *server = hn_start_server(NULL, NULL);
    static const char *const want[] = {
        "> Connected to the chat server (1 user online)",
        "> Connected to the chat server (2 users online)",
        "> Connected to the chat server (3 users online)",
    };
    for (int i = 0; i < 3; i++) {
        char label[24];
        snprintf(label, sizeof label, "user %d", i + 1);
        struct user *u = user_connect(server, label);
        expect(u, want[i],
               "%s connected, with %d user(s) already in the room (N counts the "
               "newcomer; \"1 user\", \"2 users\")",
               label, i);
    }
}

static void test_join_notice(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    /* room_join() checks the notices: (2 users online) to user 1, then
     * (3 users online) to users 1 and 2, and that user 2 never gets its own. */
    room_join_many(r, 4);
    room_say(r, r->users[1], "a newcomer never hears its own join", "");
}

static void test_message(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 3);
    room_say(r, r->users[1], "hello, room", "");
    room_say(r, r->users[0], "hello, user 2 -- and [brackets] are just text", "");
    room_say(r, r->users[2], "  spaces are kept  ", "");
}

static void test_leave_close(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 3);
    struct user *u3 = r->users[2], *u2 = r->users[1];
    close(u3->fd);
    u3->fd = -1;
    room_expect_leave(r, u3, "closed its connection");
    shutdown(u2->fd, SHUT_WR);
    room_expect_leave(r, u2, "shut down its sending side (end of stream)");
    room_say(r, r->users[0], "alone now", "the others left; then ");
}

static void test_leave_quit(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 3);
    struct user *u2 = r->users[1], *u3 = r->users[2];
    say(u2, "/quit\n");
    expect_closed(u2, "user 2 sent \"/quit\\n\"");
    room_expect_leave(r, u2, "sent \"/quit\\n\"");
    room_nick(r, u3, "carol");
    say(u3, "/quit\n");
    expect_closed(u3, "user 3 sent \"/quit\\n\"");
    room_expect_leave(r, u3, "sent \"/quit\\n\" (the notice names its nickname)");
    room_say(r, r->users[0], "still here", "the others quit; then ");
}

static void test_nick(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 3);
    struct user *u2 = r->users[1];
    room_nick(r, u2, "alice");
    room_say(r, u2, "my name is alice now", "user 2 became alice; then ");
    room_nick(r, u2, "Bob_the-2nd");
    room_say(r, u2, "and now Bob_the-2nd", "alice became Bob_the-2nd; then ");
    room_nick(r, r->users[0], "x");
    room_say(r, r->users[0], "a one-letter name", "user 1 became x; then ");
}

static void test_nick_taken(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    struct user *u1 = r->users[0], *u2 = r->users[1];
    room_nick(r, u1, "alice");
    command(u2, "/nick alice\n", "! nickname alice is not available");
    room_check_quiet(r, u2, "\"/nick alice\\n\" while user 1 is alice");
    command(u1, "/nick alice\n", "! nickname alice is not available");
    room_check_quiet(r, u1, "\"/nick alice\\n\", its own name");
    room_nick(r, u2, "Alice"); /* nicknames are case-sensitive */
    room_say(r, u2, "Alice is not alice", "user 2 became Alice; then ");
    room_nick(r, u1, "alice2");
    room_nick(r, u2, "alice"); /* a name given up is free again */
}

static void test_nick_invalid(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    struct user *u2 = r->users[1];
    char long_nick[40], line[64], want[96];
    static const char *const bad[] = {"bad!", "dot.dot", "caf\xc3\xa9", "a/b", "%s%n"};
    for (size_t i = 0; i < HN_COUNT(bad); i++) {
        snprintf(line, sizeof line, "/nick %s\n", bad[i]);
        snprintf(want, sizeof want, "! nickname %s is not available", bad[i]);
        command(u2, line, want);
    }
    memset(long_nick, 'n', 33);
    long_nick[33] = '\0';
    snprintf(line, sizeof line, "/nick %s\n", long_nick);
    snprintf(want, sizeof want, "! nickname %s is not available", long_nick);
    command(u2, line, want);
    command(u2, "/nick\n", "! nickname  is not available");
    /* The argument runs to the end of the line, a trailing space included. */
    command(u2, "/nick bob \n", "! nickname bob  is not available");
    room_check_quiet(r, u2, "invalid /nick commands (33 characters, !, ., /, %, é, none, "
                            "a trailing space)");
    /* 32 characters of the whole alphabet are fine. */
    room_nick(r, u2, "AZaz09_-0123456789abcdefghijklmn");
    room_say(r, u2, "32 characters is the limit", "user 2 took a 32-character name; then ");
}

static void test_who(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    char want[1024];
    room_join(r);
    who_line(r, want, sizeof want);
    command(r->users[0], "/who\n", want);
    room_join_many(r, 3);
    room_nick(r, r->users[1], "bob");
    who_line(r, want, sizeof want);
    command(r->users[2], "/who\n", want);
    room_check_quiet(r, r->users[2], "\"/who\\n\"");
    /* Leaving keeps the others' order; a newcomer goes last. */
    struct user *first = r->users[0];
    close(first->fd);
    first->fd = -1;
    room_expect_leave(r, first, "closed its connection");
    room_join(r);
    room_nick(r, r->users[0], "aaa");
    who_line(r, want, sizeof want);
    command(r->users[3], "/who\n", want);
}

static void test_who_extra(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    char want[512];
    room_join_many(r, 2);
    who_line(r, want, sizeof want);
    command(r->users[0], "/who is here?\n", want);
    room_check_quiet(r, r->users[0], "\"/who is here?\\n\"");
}

static void test_unknown_command(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    struct user *u1 = r->users[0];
    command(u1, "/dance wildly now\n", "! unknown command /dance");
    command(u1, "/nickname bob\n", "! unknown command /nickname");
    command(u1, "/whoami\n", "! unknown command /whoami");
    command(u1, "/quitting\n", "! unknown command /quitting");
    room_check_quiet(r, u1, "unknown commands (/dance, /nickname, /whoami, /quitting)");
}

static void test_empty_lines(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    say(r->users[0], "\n\n\r\n\n");
    room_say(r, r->users[0], "after four empty lines",
             "user 1 sent \"\\n\\n\\r\\n\\n\"; then ");
}

static void test_crlf(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    struct user *u1 = r->users[0], *u2 = r->users[1];
    say(u1, "windows line\r\nmid\rdle\r\n");
    expect(u1, "[You] windows line", "user 1 sent \"windows line\\r\\nmid\\rdle\\r\\n\"");
    expect(u1, "[You] mid\rdle",
           "user 1 sent \"windows line\\r\\nmid\\rdle\\r\\n\" (only a "
           "\\r just before \\n is dropped)");
    char want[128];
    snprintf(want, sizeof want, "[%s] windows line", u1->name);
    expect(u2, want, "user 1 sent \"windows line\\r\\nmid\\rdle\\r\\n\"");
    snprintf(want, sizeof want, "[%s] mid\rdle", u1->name);
    expect(u2, want, "user 1 sent \"windows line\\r\\nmid\\rdle\\r\\n\"");
    say(u1, "/nick crlf\r\n");
    expect(u1, "* You are now known as crlf", "user 1 sent \"/nick crlf\\r\\n\"");
    snprintf(want, sizeof want, "* %s is now known as crlf", u1->name);
    expect(u2, want, "user 1 sent \"/nick crlf\\r\\n\"");
    snprintf(u1->name, sizeof u1->name, "crlf");
    who_line(r, want, sizeof want);
    command(u1, "/who\r\n", want);
}

/* A line of n bytes of c and its ending, in a new buffer. */
static char *long_line(size_t n, char c, const char *ending, size_t *len)
{
    char *s = malloc(n + strlen(ending) + 1);
    memset(s, c, n);
    strcpy(s + n, ending);
    *len = n + strlen(ending);
    return s;
}

static void test_line_limit(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    struct user *u1 = r->users[0];
    size_t len;
    char *at_limit = long_line(MAX_LINE, 'x', "", &len);
    room_say(r, u1, at_limit, "");
    char *with_cr = long_line(MAX_LINE, 'w', "\r\n", &len);
    say_bytes(u1, with_cr, len);
    with_cr[MAX_LINE] = '\0';
    char want[MAX_LINE + 128];
    snprintf(want, sizeof want, "[You] %s", with_cr);
    expect(u1, want, "user 1 sent 4096 bytes, then \"\\r\\n\" (the limit counts neither)");
    snprintf(want, sizeof want, "[%s] %s", u1->name, with_cr);
    expect(r->users[1], want, "user 1 sent 4096 bytes, then \"\\r\\n\"");

    char *over = long_line(MAX_LINE + 1, 'y', "\n", &len);
    say_bytes(u1, over, len);
    expect(u1, "! line too long", "user 1 sent a line of 4097 bytes");
    room_check_quiet(r, u1, "a line of 4097 bytes (the rest of it must be discarded)");
    free(over);
    over = long_line(3 * MAX_LINE, 'z', "\nend\n", &len);
    say_bytes(u1, over, len);
    expect(u1, "! line too long", "user 1 sent a line of 12288 bytes in one send");
    expect(u1, "[You] end",
           "user 1 sent a line of 12288 bytes, then \"end\\n\": one "
           "\"! line too long\", then the next line as usual");
    snprintf(want, sizeof want, "[%s] end", u1->name);
    expect(r->users[1], want,
           "user 1 sent a line of 12288 bytes (nothing of it relayed), "
           "then \"end\\n\"");
    free(over);
    free(at_limit);
    free(with_cr);
}

static void test_byte_by_byte(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    struct user *u1 = r->users[0], *u2 = r->users[1];
    static const char text[] = "split into segments\n/nick slow\n/who\n";
    int one = 1;
    setsockopt(u1->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (size_t i = 0; i < sizeof text - 1; i++) {
        say_bytes(u1, text + i, 1);
        sleep_ms(2);
    }
    const char *after = "user 1 sent \"split into segments\\n/nick slow\\n/who\\n\", one byte "
                        "per TCP segment";
    char want[256];
    expect(u1, "[You] split into segments", "%s", after);
    expect(u1, "* You are now known as slow", "%s", after);
    snprintf(want, sizeof want, "[%s] split into segments", u1->name);
    expect(u2, want, "%s", after);
    snprintf(want, sizeof want, "* %s is now known as slow", u1->name);
    expect(u2, want, "%s", after);
    snprintf(u1->name, sizeof u1->name, "slow");
    who_line(r, want, sizeof want);
    expect(u1, want, "%s", after);
}

static void test_coalesced(const struct hn_test *t)
{
    (void)t;
    enum { LINES = 200 };
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    struct user *u1 = r->users[0], *u2 = r->users[1];
    char *all = malloc(LINES * 40 + 64);
    size_t len = 0;
    for (int i = 1; i <= LINES; i++)
        len += (size_t)sprintf(all + len, "line %d of %d\n", i, LINES);
    len += (size_t)sprintf(all + len, "/nick many\n/who\n");
    say_bytes(u1, all, len);
    const char *after = "user 1 sent 200 lines, \"/nick many\\n\" and \"/who\\n\" in one send";
    char want[256];
    for (int i = 1; i <= LINES; i++) {
        snprintf(want, sizeof want, "[You] line %d of %d", i, LINES);
        expect(u1, want, "%s", after);
        snprintf(want, sizeof want, "[%s] line %d of %d", u1->name, i, LINES);
        expect(u2, want, "%s", after);
    }
    expect(u1, "* You are now known as many", "%s", after);
    snprintf(want, sizeof want, "* %s is now known as many", u1->name);
    expect(u2, want, "%s", after);
    snprintf(u1->name, sizeof u1->name, "many");
    who_line(r, want, sizeof want);
    expect(u1, want, "%s", after);
    free(all);
}

static void test_verbatim(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 2);
    room_say(r, r->users[0], "100%n%s%x%d%p%%", "");
    room_say(r, r->users[1], "\x01\x7f\xfe\xff \x1b[1mbold\x1b[0m\ttab \\n", "");
    /* NUL is a byte like any other. */
    static const char nul[] = "before\0after\n";
    say_bytes(r->users[0], nul, sizeof nul - 1);
    char want[64];
    const char *after = "user 1 sent \"before\\0after\\n\"";
    expect_bytes(r->users[0], "[You] before\0after", 18, after);
    size_t n = (size_t)snprintf(want, sizeof want, "[%s] before", r->users[0]->name);
    memcpy(want + n, "\0after", 6);
    expect_bytes(r->users[1], want, n + 6, after);
}

/* ---------------------------------------------- many users talking at once */

/* Every user sends `lines` lines "u<I> line <K>"; every user must receive all
 * of them, each sender's in order, and nothing else. */
static void check_flow(struct room *r, int lines, size_t chunk, int timeout_ms)
{
    int n = r->count;
    for (int i = 0; i < n; i++) {
        struct user *u = r->users[i];
        u->out = malloc((size_t)lines * 32);
        u->out_len = u->out_off = 0;
        for (int k = 0; k < lines; k++)
            u->out_len += (size_t)sprintf(u->out + u->out_len, "u%d line %d\n", i + 1, k + 1);
        int flags = fcntl(u->fd, F_GETFL);
        fcntl(u->fd, F_SETFL, flags | O_NONBLOCK);
    }
    static int next[ROOM_MAX * ROOM_MAX]; /* [receiver][sender]: last line seen */
    long left[ROOM_MAX];
    struct pollfd pfd[ROOM_MAX];
    memset(next, 0, sizeof next);
    long total_left = 0;
    for (int i = 0; i < n; i++)
        total_left += left[i] = (long)n * lines;
    long deadline = now_ms() + timeout_ms;
    while (total_left > 0) {
        for (int i = 0; i < n; i++) {
            pfd[i].fd = r->users[i]->fd;
            pfd[i].events = POLLIN;
            if (r->users[i]->out_off < r->users[i]->out_len)
                pfd[i].events |= POLLOUT;
        }
        long wait = deadline - now_ms();
        if (wait <= 0 || poll(pfd, (nfds_t)n, (int)wait) == 0) {
            int worst = 0;
            for (int i = 1; i < n; i++)
                if (left[i] > left[worst])
                    worst = i;
            hn_fail("%d users each sent %d lines at the same time; after %d s, %s still "
                    "waited for %ld of the %ld lines it should receive (%ld missing in "
                    "all).\nEvery line must reach every user.",
                    n, lines, timeout_ms / 1000, r->users[worst]->label, left[worst],
                    (long)n * lines, total_left);
        }
        for (int i = 0; i < n; i++) {
            struct user *u = r->users[i];
            if ((pfd[i].revents & POLLOUT) && u->out_off < u->out_len) {
                size_t want = u->out_len - u->out_off;
                ssize_t s = send(u->fd, u->out + u->out_off, want < chunk ? want : chunk,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (s > 0)
                    u->out_off += (size_t)s;
            }
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = user_pump(u);
            if (got == 0 || (got < 0 && errno != EAGAIN))
                hn_fail("The server closed %s's connection (%s) while %d users were sending "
                        "%d lines each; %ld lines had still to reach it.",
                        u->label, got == 0 ? "end of stream" : strerror(errno), n, lines,
                        left[i]);
            char *line;
            size_t len;
            while (user_next_line(u, &line, &len)) {
                int s = -1, idx = 0, k = 0, used = 0;
                char shown[300];
                if (len > 6 && memcmp(line, "[You] ", 6) == 0) {
                    s = i;
                    used = 6;
                } else {
                    for (int j = 0; j < n && s < 0; j++) {
                        size_t nl = strlen(r->users[j]->name);
                        if (j != i && len > nl + 3 && line[0] == '[' &&
                            memcmp(line + 1, r->users[j]->name, nl) == 0 &&
                            memcmp(line + 1 + nl, "] ", 2) == 0) {
                            s = j;
                            used = (int)nl + 3;
                        }
                    }
                }
                char body[64] = "";
                size_t blen = len - (size_t)used;
                if (s >= 0 && blen < sizeof body)
                    memcpy(body, line + used, blen);
                if (s < 0 || sscanf(body, "u%d line %d", &idx, &k) != 2 || idx != s + 1)
                    hn_fail("While %d users each sent %d lines at once, %s received a line "
                            "that is not one of them as the chat protocol writes it: %s\n  expected: "
                            "\"[You] u%d line K\" for its own, \"[NAME] uI line K\" for "
                            "user I's",
                            n, lines, u->label, hn_show(line, len, shown, sizeof shown), i + 1);
                int *nx = &next[i * n + s];
                if (k != *nx + 1)
                    hn_fail("While %d users each sent %d lines at once, %s received line %d "
                            "of %s when it expected line %d.\nEvery receiver must see one "
                            "sender's lines in the order they were sent, none lost, none "
                            "twice: handle each line completely (sent to everyone) before "
                            "the next.",
                            n, lines, u->label, k, r->users[s]->label, *nx + 1);
                *nx = k;
                left[i]--;
                total_left--;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        struct user *u = r->users[i];
        fcntl(u->fd, F_SETFL, fcntl(u->fd, F_GETFL) & ~O_NONBLOCK);
        free(u->out);
        u->out = NULL;
    }
}

static void test_sender_order(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 4);
    check_flow(r, 300, 200, hn_ms(5000));
}

static void test_many_clients(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 50);
    check_flow(r, 20, 64, hn_ms(8000));
}

static void test_join_first(const struct hn_test *t)
{
    (void)t;
    enum { ROUNDS = 100 };
    struct room *r = room_open(NULL, NULL);
    room_join(r);
    struct user *u1 = r->users[0];
    for (int i = 1; i <= ROUNDS; i++) {
        char label[24], text[64], want[256], after[200];
        snprintf(label, sizeof label, "newcomer %d", i);
        struct user *u = user_connect(r->server, label);
        int len = snprintf(text, sizeof text, "first words %d\n", i);
        say_bytes(u, text, (size_t)len);
        snprintf(after, sizeof after, "%s connected and at once sent \"first words %d\\n\"",
                 label, i);
        expect(u, "> Connected to the chat server (2 users online)", "%s", after);
        snprintf(want, sizeof want, "[You] first words %d", i);
        expect(u, want, "%s", after);
        snprintf(want, sizeof want, "> New user %s entered (2 users online)", u->addr);
        expect(u1, want, "%s (its join must come before any of its lines)", after);
        snprintf(want, sizeof want, "[%s] first words %d", u->addr, i);
        expect(u1, want, "%s", after);
        close(u->fd);
        u->fd = -1;
        snprintf(want, sizeof want, "< The user %s left (1 user online)", u->addr);
        expect(u1, want, "%s closed its connection", label);
        user_free(u);
    }
}

static void test_reset(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    room_join_many(r, 3);
    struct user *u2 = r->users[1];
    hn_close_reset(u2->fd);
    u2->fd = -1;
    room_expect_leave(r, u2, "vanished: its connection was reset (RST)");
    int status;
    char how[96];
    if (hn_wait_exit(r->server, 0, &status) == 0)
        hn_fail("The server died (%s) when a client reset its connection.\nECONNRESET ends "
                "that client only.",
                hn_describe_status(status, how, sizeof how));
    room_say(r, r->users[0], "the room goes on", "user 2 reset its connection; then ");
    room_join(r);
}

static void test_server_full(const struct hn_test *t)
{
    (void)t;
    static const char *const max2[] = {"-m", "2", NULL};
    struct room *r = room_open(NULL, max2);
    room_join_many(r, 2);
    struct user *extra = user_connect(r->server, "user 3");
    expect(extra, "! server full",
           "user 3 connected to a server started with -m 2 that had "
           "2 users");
    expect_closed(extra, "user 3 was told \"! server full\"");
    room_check_quiet(r, r->users[1], "nothing, while user 3 was turned away,");
    struct user *u2 = r->users[1];
    close(u2->fd);
    u2->fd = -1;
    room_expect_leave(r, u2, "closed its connection");
    room_join(r); /* a free place again */
    extra = user_connect(r->server, "user 5");
    expect(extra, "! server full",
           "user 2 left, user 4 took its place, then user 5 "
           "connected (-m 2)");
    expect_closed(extra, "user 5 was told \"! server full\"");
}

static void test_ipv6(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open("::1", NULL);
    room_join_many(r, 2); /* the notice names [::1]:PORT */
    char want[256];
    who_line(r, want, sizeof want);
    command(r->users[1], "/who\n", want);
    room_say(r, r->users[1], "over IPv6", "");
}

static void test_server_log(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    struct hn_proc *server = r->server;
    struct user *u = room_join(r);
    if (!hn_wait_stdout(server, u->addr, hn_ms(2000)))
        hn_fail("A user joined from %s, but the server printed no line naming it on its "
                "standard output.\nThe protocol: the server prints each event as a line on its "
                "standard output (and flushes it).",
                u->addr);
    static const char text[] = "a line for the server's log: 100%s%n%x";
    room_say(r, u, text, "");
    if (!hn_wait_stdout(server, text, hn_ms(2000)))
        hn_fail("A user sent \"%s\", but that text never appeared on the server's standard "
                "output.\nThe protocol: the server prints each event as a line on its standard "
                "output; the user's text is data, never a printf format.",
                text);
    room_nick(r, u, "logbook");
    if (!hn_wait_stdout(server, "logbook", hn_ms(2000)))
        hn_fail("A user took the nickname \"logbook\", but the server did not print that "
                "event on its standard output.");
}

/* ------------------------------------------------------- the silent client */

#define SILENT_LINE_BYTES 1024
#define SILENT_PUSH_LIMIT (24 * MIB)   /* well past 1 MiB and every loopback buffer */
#define SILENT_AFTER_DROP (512 * 1024) /* and the room must go on after the drop */
#define SILENT_MAX_GAP_MS 1000         /* the room may pause, never stall */

struct talker {
    struct user *u;
    char line[SILENT_LINE_BYTES];
    size_t off;  /* bytes of `line` sent */
    long seq;    /* number of the line being sent */
    size_t sent; /* bytes sent in all */
};

static void talker_fill(struct talker *tk)
{
    memset(tk->line, 'a' + (int)(tk->seq % 26), SILENT_LINE_BYTES);
    int n = snprintf(tk->line, 32, "line %09ld ", tk->seq);
    tk->line[n] = '.';
    tk->line[SILENT_LINE_BYTES - 1] = '\n';
    tk->off = 0;
}

static void talker_send(struct talker *tk)
{
    for (int burst = 0; burst < 64; burst++) {
        ssize_t s = send(tk->u->fd, tk->line + tk->off, SILENT_LINE_BYTES - tk->off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (s <= 0)
            return;
        tk->off += (size_t)s;
        tk->sent += (size_t)s;
        if (tk->off == SILENT_LINE_BYTES) {
            tk->seq++;
            talker_fill(tk);
        }
    }
}

/* Drain and throw away what arrived for u (the talker's own "[You]" lines). */
static void discard_input(struct user *u)
{
    char buf[65536];
    while (recv(u->fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
}

static void test_silent_client(const struct hn_test *t)
{
    (void)t;
    struct room *r = room_open(NULL, NULL);
    struct user *observer = room_join(r);
    /* The silent user: a tiny receive buffer, and it never reads. */
    int small = 4096;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)hn_port(r->server)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        hn_fail("Could not connect to the server: %s", strerror(errno));
    struct user *silent = calloc(1, sizeof *silent);
    silent->fd = fd;
    sl_sock_local(fd, silent->addr, sizeof silent->addr);
    snprintf(silent->name, sizeof silent->name, "%s", silent->addr);
    snprintf(silent->label, sizeof silent->label, "the silent user");
    silent->silent = true;
    char want[256];
    snprintf(want, sizeof want, "> New user %s entered (2 users online)", silent->addr);
    expect(observer, want, "a user that never reads connected");
    r->users[r->count++] = silent;
    r->joined++;
    struct user *talker_user = room_join(r);

    struct talker tk = {.u = talker_user};
    talker_fill(&tk);
    fcntl(talker_user->fd, F_SETFL, fcntl(talker_user->fd, F_GETFL) | O_NONBLOCK);
    char leave[256], prefix[128];
    snprintf(leave, sizeof leave, "< The user %s left (2 users online)", silent->addr);
    int plen = snprintf(prefix, sizeof prefix, "[%s] line ", talker_user->addr);

    long start = now_ms(), last = start, max_gap = 0, dropped_at_ms = -1;
    long deadline = start + hn_ms(12000);
    long seen = 0;            /* talker lines the observer received */
    size_t dropped_after = 0; /* bytes the observer had received at the drop */
    int gap_limit = hn_ms(SILENT_MAX_GAP_MS) < 1500 ? hn_ms(SILENT_MAX_GAP_MS) : 1500;
    for (;;) {
        long now = now_ms();
        if (now - last > max_gap)
            max_gap = now - last;
        if (max_gap > gap_limit)
            hn_fail("The room stalled: the observer received nothing for %ld ms while "
                    "another user was sending as fast as the server would take it (%zu bytes "
                    "sent so far; %s).\n  expected: a user that never reads holds up no one "
                    "(gaps well under %d ms)\nA send() that blocks on the silent user's full "
                    "socket blocks everyone behind it: queue what does not fit for that user "
                    "and move on.",
                    max_gap, tk.sent,
                    dropped_at_ms < 0 ? "the silent user was still in the room"
                                      : "after the silent user was dropped",
                    gap_limit);
        if (now > deadline)
            hn_fail("After %ld ms the test was not done: %zu bytes sent by the talker, %ld "
                    "lines seen by the observer, %s.",
                    now - start, tk.sent, seen,
                    dropped_at_ms < 0 ? "the silent user never dropped"
                                      : "the silent user "
                                        "dropped but the room did not go on");
        if (dropped_at_ms < 0 && tk.sent > SILENT_PUSH_LIMIT &&
            (size_t)seen * SILENT_LINE_BYTES >= SILENT_PUSH_LIMIT)
            hn_fail("The server never dropped the user that does not read: %d MiB went to "
                    "the room (the observer received it all), and the silent user, with at "
                    "most a few KiB read, was still in the room.\n  expected: once more than 1 "
                    "MiB waits for a client (what the server queues for it plus its socket's "
                    "unsent bytes, SIOCOUTQ), it is dropped, with a leave notice to the "
                    "others.",
                    SILENT_PUSH_LIMIT / MIB);
        if (dropped_at_ms >= 0 &&
            (size_t)seen * SILENT_LINE_BYTES >= dropped_after + SILENT_AFTER_DROP)
            break;
        struct pollfd pfd[2] = {{observer->fd, POLLIN, 0},
                                {talker_user->fd, POLLIN | POLLOUT, 0}};
        poll(pfd, 2, 50);
        if (pfd[1].revents & POLLOUT)
            talker_send(&tk);
        if (pfd[1].revents & POLLIN)
            discard_input(talker_user);
        if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t got = user_pump(observer);
        if (got == 0 || (got < 0 && errno != EAGAIN))
            hn_fail("The server closed the observer's connection (%s) while another user "
                    "talked and a third never read.",
                    got == 0 ? "end of stream" : strerror(errno));
        last = now_ms();
        char *line;
        size_t len;
        while (user_next_line(observer, &line, &len)) {
            if (len == strlen(leave) && memcmp(line, leave, len) == 0 && dropped_at_ms < 0) {
                dropped_at_ms = now_ms() - start;
                dropped_after = (size_t)seen * SILENT_LINE_BYTES;
                continue;
            }
            long k = -1;
            char shown[300];
            if (len == (size_t)plen + SILENT_LINE_BYTES - 1 - 5 &&
                memcmp(line, prefix, (size_t)plen) == 0)
                k = strtol(line + plen, NULL, 10);
            if (k != seen)
                hn_fail("While one user talked and another never read, the observer received "
                        "%s\n  expected: %s line %ld of the talker, in order",
                        hn_show(line, len, shown, sizeof shown),
                        dropped_at_ms < 0 ? "the silent user's leave notice or" : "", seen);
            seen++;
        }
    }
    /* Dropped: it must not have been dropped before 1 MiB waited for it,
     * unless its sends had been blocked for 2 s. */
    if (dropped_after + 128 * 1024 < MIB && dropped_at_ms < 1800)
        hn_fail("The silent user was dropped too early: after only %zu KiB had been sent to "
                "the room (%ld ms after the talking began).\n  expected: a client is dropped "
                "once more than 1 MiB waits for it, or a send to it has been blocked for 2 "
                "s; a client that is merely slow for a moment stays.",
                dropped_after / 1024, dropped_at_ms);
    /* And its connection must be closed. */
    char buf[65536];
    long close_deadline = now_ms() + hn_ms(3000);
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (n > 0)
            continue;
        if (now_ms() > close_deadline)
            hn_fail("The silent user's leave notice was sent, but the server did not close "
                    "its connection.\n  expected: a dropped client's socket is closed");
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 50);
    }
}

static const struct hn_test server_rows[] = {
    {"chat_welcome", "a newcomer is welcomed: (1 user online), (2 users online)", 2, 10,
     HINT_ROOM, test_welcome, NULL},
    {"chat_join_notice", "the others see \"> New user NAME entered (N users online)\"", 2, 10,
     HINT_ROOM, test_join_notice, NULL},
    {"chat_message", "a line comes back as [You] L, to the others as [NAME] L", 2, 10,
     HINT_BROADCAST, test_message, NULL},
    {"chat_leave_close", "a user who closes: \"< The user NAME left (N users online)\"", 2, 10,
     HINT_LEAVE, test_leave_close, NULL},
    {"chat_leave_quit", "/quit closes the connection and the others see the leave", 2, 10,
     HINT_LEAVE, test_leave_quit, NULL},
    {"chat_nick", "/nick NEW: \"* You are now known as NEW\", the others see the rename", 3, 10,
     HINT_LINES, test_nick, NULL},
    {"chat_nick_taken", "a taken nickname or one's own is refused; case counts", 3, 10,
     HINT_ROOM, test_nick_taken, NULL},
    {"chat_nick_invalid", "nicknames: 1-32 of A-Z a-z 0-9 _ -, nothing else", 3, 10, HINT_LINES,
     test_nick_invalid, NULL},
    {"chat_who", "/who lists the users in joining order, with nicknames", 3, 10, HINT_ROOM,
     test_who, NULL},
    {"chat_who_extra", "/who with words after it acts as /who", 1, 10, HINT_LINES,
     test_who_extra, NULL},
    {"chat_unknown_command", "an unknown command is named by its first word", 2, 10, HINT_LINES,
     test_unknown_command, NULL},
    {"chat_empty_lines", "empty lines are ignored", 1, 10, HINT_LINES, test_empty_lines, NULL},
    {"chat_crlf", "a \\r before the \\n is dropped, in lines and commands", 2, 10, HINT_LINES,
     test_crlf, NULL},
    {"chat_line_limit", "4096 bytes pass; 4097 get \"! line too long\", the rest discarded", 3,
     10, HINT_LINES, test_line_limit, NULL},
    {"chat_byte_by_byte", "lines sent one byte per segment are whole lines", 2, 10, HINT_LINES,
     test_byte_by_byte, NULL},
    {"chat_coalesced", "200 lines and two commands in one send, all in order", 2, 10,
     HINT_LINES, test_coalesced, NULL},
    {"chat_verbatim", "%n%s%x, control bytes, 0xff and NUL are relayed verbatim", 2, 10,
     HINT_BROADCAST, test_verbatim, NULL},
    {"chat_sender_order",
     "4 users send 300 lines at once: all arrive, in each sender's "
     "order",
     3, 15, HINT_BROADCAST, test_sender_order, NULL},
    {"chat_join_first", "a newcomer's join is seen before its first line", 2, 15, HINT_ROOM,
     test_join_first, NULL},
    {"chat_reset", "a user who resets (RST) leaves with a notice; the room goes on", 2, 10,
     HINT_LEAVE, test_reset, NULL},
    {"chat_many_clients", "50 users send 20 lines each: everyone gets every line, in order", 3,
     20, HINT_BROADCAST, test_many_clients, NULL},
    {"chat_server_full", "-m 2: a third user gets \"! server full\" and is closed", 2, 10,
     HINT_ACCEPT, test_server_full, NULL},
    {"chat_ipv6", "-a ::1: NAME is [::1]:PORT", 1, 10, HINT_ACCEPT, test_ipv6, NULL},
    {"chat_silent_client", "a user that never reads stalls no one and is dropped", 5, 25,
     HINT_BROADCAST, test_silent_client, NULL},
    {"chat_server_log", "the server prints each event on its standard output", 1, 10, HINT_ROOM,
     test_server_log, NULL},
};

const struct hn_table chat_server_suite = HN_TABLE("chat", server_rows);

/* ----------------------------------------------------- the fake chat server */

enum fake_script {
    FAKE_TALK,        /* welcome, a line later, then read to the client's EOF */
    FAKE_LATE_LINE,   /* read to EOF, then one more line, then close */
    FAKE_CLOSE_FIRST, /* welcome, a line, close at once */
};

#define FAKE_WELCOME "> Connected to the chat server (1 user online)\n"
#define FAKE_IDLE_LINE "[127.0.0.1:4242] are you there?\n"
#define FAKE_LATE "[127.0.0.1:4242] a line after your end of input\n"
#define FAKE_BYE "[127.0.0.1:4242] the server is going away\n"
#define FAKE_PAUSE_MS 300

struct fake {
    enum fake_script script;
    int listen_fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    char got[4096];
    size_t got_len;
    atomic_bool saw_eof, done;
    atomic_int client_pid;
    atomic_bool client_gone_early; /* exited before the fake closed */
};

static bool fake_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int r;
    do
        r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

/* Record what the client sends until its end of stream (bounded). */
static void fake_read_to_eof(struct fake *f, int fd)
{
    long deadline = now_ms() + 15000;
    char buf[4096];
    while (now_ms() < deadline) {
        if (!fake_readable(fd, 100))
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                f->saw_eof = true;
            return;
        }
        pthread_mutex_lock(&f->mu);
        size_t room = sizeof f->got - f->got_len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(f->got + f->got_len, buf, take);
        f->got_len += take;
        pthread_mutex_unlock(&f->mu);
    }
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = -1;
    if (fake_readable(f->listen_fd, 10000))
        fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        f->done = true;
        return NULL;
    }
    sl_write_full(fd, FAKE_WELCOME, strlen(FAKE_WELCOME));
    switch (f->script) {
    case FAKE_TALK:
        sleep_ms(100);
        sl_write_full(fd, FAKE_IDLE_LINE, strlen(FAKE_IDLE_LINE));
        fake_read_to_eof(f, fd);
        break;
    case FAKE_LATE_LINE:
        fake_read_to_eof(f, fd);
        if (!f->saw_eof)
            break;
        sleep_ms(FAKE_PAUSE_MS);
        sl_write_full(fd, FAKE_LATE, strlen(FAKE_LATE));
        sleep_ms(FAKE_PAUSE_MS);
        {
            char st = hn_state(f->client_pid);
            f->client_gone_early = st == 'Z' || st == '?';
        }
        break;
    case FAKE_CLOSE_FIRST: sl_write_full(fd, FAKE_BYE, strlen(FAKE_BYE)); break;
    }
    close(fd);
    f->done = true;
    return NULL;
}

static struct fake *fake_start(enum fake_script script)
{
    struct fake *f = calloc(1, sizeof *f);
    char err[SL_ERR_BYTES], local[SL_ADDR_BYTES];
    f->script = script;
    pthread_mutex_init(&f->mu, NULL);
    f->listen_fd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 16, err, sizeof err);
    if (f->listen_fd < 0)
        hn_fail("harness: cannot start a fake chat server: %s", err);
    if (!sl_sock_local(f->listen_fd, local, sizeof local))
        hn_fail("harness: getsockname: %s", strerror(errno));
    f->port = atoi(strrchr(local, ':') + 1);
    if (pthread_create(&f->thread, NULL, fake_main, f) != 0)
        hn_fail("harness: pthread_create failed");
    return f;
}

/* Wait for a flag of the fake server, at most timeout_ms. */
static bool fake_wait(atomic_bool *flag, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    while (!*flag && now_ms() < deadline)
        sleep_ms(5);
    return *flag;
}

static struct hn_proc *start_client(int port)
{
    char ptxt[8];
    const char *args[] = {"-a", "127.0.0.1", "-p", port_text(port, ptxt), NULL};
    return hn_spawn("client", args, NULL);
}

static void client_expect_exit(struct hn_proc *c, int timeout_ms, int want, const char *doing)
{
    int status;
    char how[96];
    if (hn_wait_exit(c, timeout_ms, &status) < 0)
        hn_fail("The client was still running %d s after %s.\n  expected: exit status %d",
                timeout_ms / 1000, doing, want);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
        hn_fail("The client ended with %s after %s.\n  expected: exit status %d",
                hn_describe_status(status, how, sizeof how), doing, want);
}

/* The client's standard output must be exactly want. */
static void client_expect_output(struct hn_proc *c, const char *want, const char *doing)
{
    size_t len;
    char *got = hn_stdout_copy(c, &len);
    if (len != strlen(want) || memcmp(got, want, len) != 0)
        hn_fail_bytes("The client's standard output is not the lines the server sent.", doing,
                      want, strlen(want), got, len);
    free(got);
}

static void client_write(struct hn_proc *c, const char *text)
{
    int fd = hn_proc_stdin(c);
    if (fd < 0 || sl_write_full(fd, text, strlen(text)) < 0)
        hn_fail("Could not write to the client's standard input: %s (did it exit?)",
                strerror(errno));
}

static void test_client_idle(const struct hn_test *t)
{
    (void)t;
    struct fake *f = fake_start(FAKE_TALK);
    struct hn_proc *c = start_client(f->port);
    if (!hn_wait_stdout(c, FAKE_IDLE_LINE, hn_ms(3000))) {
        size_t len;
        char *got = hn_stdout_copy(c, &len);
        char shown[300];
        hn_fail("The server sent the welcome and then \"%.*s\" while the client's standard "
                "input stayed open and idle; after 3 s the client had printed only %s.\n"
                "  expected: the server's lines on standard output as they arrive\nOne "
                "thread waits on standard input, the other on the socket; print each line "
                "and flush it (stdout to a pipe is fully buffered).",
                (int)strlen(FAKE_IDLE_LINE) - 1, FAKE_IDLE_LINE,
                hn_show(got, len, shown, sizeof shown));
    }
    client_expect_output(c, FAKE_WELCOME FAKE_IDLE_LINE,
                         "the welcome, then a line 100 ms later; standard input idle");
    hn_proc_close_stdin(c);
    client_expect_exit(c, hn_ms(3000), 0, "its input ended and the server closed");
}

static void test_client_sends(const struct hn_test *t)
{
    (void)t;
    static const char lines[] = "hello, room\n/nick tester\n100%s%n\n";
    struct fake *f = fake_start(FAKE_TALK);
    struct hn_proc *c = start_client(f->port);
    hn_wait_stdout(c, FAKE_WELCOME, hn_ms(3000));
    client_write(c, lines);
    long deadline = now_ms() + hn_ms(3000);
    size_t have = 0;
    while (now_ms() < deadline) {
        pthread_mutex_lock(&f->mu);
        have = f->got_len;
        pthread_mutex_unlock(&f->mu);
        if (have >= sizeof lines - 1)
            break;
        sleep_ms(10);
    }
    pthread_mutex_lock(&f->mu);
    char got[4096];
    size_t len = f->got_len;
    memcpy(got, f->got, len);
    pthread_mutex_unlock(&f->mu);
    if (len != sizeof lines - 1 || memcmp(got, lines, len) != 0)
        hn_fail_bytes("The server did not receive the client's input lines as they were typed "
                      "(standard input still open, 3 s later).",
                      "three lines on the client's standard input, which stays open", lines,
                      sizeof lines - 1, got, len);
    hn_proc_close_stdin(c);
    client_expect_exit(c, hn_ms(3000), 0, "its input ended and the server closed");
}

static void test_client_eof(const struct hn_test *t)
{
    (void)t;
    struct fake *f = fake_start(FAKE_LATE_LINE);
    struct hn_proc *c = start_client(f->port);
    f->client_pid = hn_pid(c);
    client_write(c, "goodbye\n");
    hn_proc_close_stdin(c);
    if (!fake_wait(&f->saw_eof, hn_ms(3000)))
        hn_fail("The client's standard input ended, but the server never saw the end of the "
                "stream within 3 s.\n  expected: at the end of its input the client shuts "
                "down its sending side (shutdown(fd, SHUT_WR)), so the server sees EOF");
    if (!fake_wait(&f->done, hn_ms(3000)))
        hn_fail("harness: the fake server did not finish");
    if (f->client_gone_early)
        hn_fail("The client exited right after its input ended, before the server closed "
                "the connection.\n  expected: after shutdown(SHUT_WR) it keeps printing what "
                "the server sends and exits 0 only once the server has closed");
    client_expect_exit(c, hn_ms(3000), 0, "its input ended and then the server closed");
    client_expect_output(c, FAKE_WELCOME FAKE_LATE,
                         "\"goodbye\\n\" then end of input; the server answered a line 300 ms "
                         "after the client's EOF, then closed");
}

static void test_client_server_closes(const struct hn_test *t)
{
    (void)t;
    struct fake *f = fake_start(FAKE_CLOSE_FIRST);
    struct hn_proc *c = start_client(f->port);
    client_expect_exit(c, hn_ms(3000), 0,
                       "the server sent two lines and closed, while the client's standard "
                       "input stayed open (the stdin thread is still blocked in read())");
    client_expect_output(c, FAKE_WELCOME FAKE_BYE, "the server sent two lines and closed");
}

static void test_client_refused(const struct hn_test *t)
{
    (void)t;
    char err[SL_ERR_BYTES], local[SL_ADDR_BYTES];
    int fd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 1, err, sizeof err);
    sl_sock_local(fd, local, sizeof local);
    close(fd);
    int port = atoi(strrchr(local, ':') + 1);
    struct hn_proc *c = start_client(port);
    client_expect_exit(c, hn_ms(3000), 1, "connecting to a port where nothing listens");
    char *tail = hn_stderr_tail(c);
    bool said = strstr(tail, "onnection refused") != NULL;
    free(tail);
    if (!said)
        hn_fail("The client exited 1, but its standard error does not say why.\n"
                "  expected: a line such as \"client: connect 127.0.0.1:%d: Connection "
                "refused\"",
                port);
}

static void test_client_bad_flags(const struct hn_test *t)
{
    (void)t;
    static const char *const unknown[] = {"-x", NULL};
    static const char *const bad_port[] = {"-p", "70000", NULL};
    static const char *const stray[] = {"-p", "1", "extra", NULL};
    static const char *const *const cases[] = {unknown, bad_port, stray};
    static const char *const shown[] = {"-x", "-p 70000", "-p 1 extra"};
    for (size_t i = 0; i < HN_COUNT(cases); i++) {
        struct hn_proc *c = hn_spawn("client", (const char *const *)cases[i], NULL);
        char doing[64];
        snprintf(doing, sizeof doing, "`client %s` (a bad command line)", shown[i]);
        client_expect_exit(c, hn_ms(3000), 2, doing);
    }
}

static const struct hn_test client_rows[] = {
    {"chat_client_idle", "prints the server's lines while its input is idle", 4, 10,
     HINT_CLIENT, test_client_idle, NULL},
    {"chat_client_sends", "sends its input lines as they come", 3, 10, HINT_CLIENT,
     test_client_sends, NULL},
    {"chat_client_eof", "at end of input: shutdown, print the rest, exit 0 when closed", 4, 10,
     HINT_CLIENT, test_client_eof, NULL},
    {"chat_client_server_closes", "the server closes first: print it all, exit 0", 2, 10,
     HINT_CLIENT, test_client_server_closes, NULL},
    {"chat_client_refused", "connection refused: exit 1 with the reason", 1, 10, HINT_CLIENT,
     test_client_refused, NULL},
    {"chat_client_bad_flags", "a bad command line: exit 2", 1, 10, HINT_CLIENT,
     test_client_bad_flags, NULL},
};

const struct hn_table chat_client_suite = HN_TABLE("chat-client", client_rows);

/* ---------------------------------------------------------------- lifecycle */

static int chat_exchange(struct hn_proc *server)
{
    struct user *u = user_connect(server, "a user");
    expect(u, "> Connected to the chat server (1 user online)",
           "a user connected to an empty room");
    if (u->end > u->start)
        hn_fail("The server sent more than the welcome line to the only user.");
    int fd = u->fd;
    u->fd = -1;
    user_free(u);
    return fd;
}

const struct lifecycle_proto chat_lifecycle = {SOCK_STREAM, chat_exchange, false};
