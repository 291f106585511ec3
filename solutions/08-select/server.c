/*
 * server.c (lab 08): the chat server of lab 06 again, in one thread, with
 * select().
 *
 * Same protocol, same room, same rules; no threads, no mutex. One thread
 * sleeps in select(2) until some socket is ready, then does only what that
 * socket allows without waiting: accept the newcomers, read what a user
 * sent (and run every whole line of it), send what a user's socket will
 * take. A message for the room is appended to each receiver's output buffer
 * (struct sl_buf, from lib/) and sent when that receiver's socket has room:
 * the server asks select() for write readiness on a socket only while
 * output waits for it, since an idle socket is always writable and asking
 * anyway would wake the loop at once, every time, for nothing.
 *
 * What lab 06 needed a mutex for comes free here: only one thing happens at
 * a time, so the room cannot change under anyone's feet, and every receiver
 * gets the room's events in one order. What lab 06 needed a thread per
 * client for is now one loop: nobody waits for anybody, because no call
 * ever blocks.
 *
 * The silent-client rule is the same as lab 06's: a user for whom more than
 * 1 MiB waits (in its output buffer plus its kernel send buffer, SIOCOUTQ),
 * or whose waiting output has not moved for 2 seconds, is dropped, and the
 * room hears that it left. select()'s timeout wakes the loop to look.
 *
 * select() watches descriptors below FD_SETSIZE (1024) only: an fd_set is
 * a fixed bitmap, and FD_SET() on a bigger descriptor writes past its end.
 * So a newcomer whose descriptor is FD_SETSIZE or more is answered
 * `! server full` and closed, never watched. When accept() fails for want
 * of descriptors, a spare descriptor kept for that moment is closed, the
 * newcomer accepted, told `! server full` and closed, and the spare opened
 * again; without it, the listening socket would stay readable and the loop
 * would spin.
 *
 * Outside main_loop(), the code has the shape of labs 07, 09 and 10 (the
 * connection's wants, its readable and writable handlers), so that
 * `diff solutions/08-select/server.c solutions/09-poll/server.c` shows the
 * I/O model and the chat protocol, and nothing else.
 *
 * Read: select(2) (and its BUGS section on FD_SETSIZE), accept(2),
 * recv(2), send(2) (MSG_DONTWAIT), tcp(7) (SIOCOUTQ), ioctl(2).
 *
 * Usage: server [-a ADDR] [-p PORT] [-m MAX]   (default 127.0.0.1, port
 * 50008, at most FD_SETSIZE users at once, fewer with -m)
 */
#include "socklab.h"

#include <linux/sockios.h> /* SIOCOUTQ */
#include <sys/ioctl.h>
#include <sys/select.h>
#include <time.h>

#define DEFAULT_PORT "50008"
#define BACKLOG 128
#define READ_BYTES (16 * 1024)
/* The longest line, counting neither '\n' nor a '\r' before it. */
#define MAX_LINE_BYTES 4096
#define MAX_NICK_BYTES 32
/* A name is an address (`[ffff:...]:65535`) or a nickname: both fit. */
#define NAME_BYTES SL_ADDR_BYTES
/* Room for any one message but /who's answer: a name, a line, a few words. */
#define MESSAGE_BYTES (MAX_LINE_BYTES + 2 * NAME_BYTES + 64)
/* A user is dropped once more than this waits for it (SPEC, chat)... */
#define OUTPUT_LIMIT_BYTES (1024 * 1024)
/* ...or once its waiting output has not moved for this long. */
#define OUTPUT_STALL_MS 2000
/* After accept() fails for want of memory, wait this long to retry. */
#define ACCEPT_PAUSE_MS 100
#define MAX_USERS_USAGE "[-m MAX]"

#define SERVER_FULL "! server full\n"

/* One user. */
struct conn {
    int fd;
    bool gone;               /* left or dropped: freed at the end of the round */
    struct sl_buf out;       /* what its socket has not taken yet */
    long long out_moved_ms;  /* when output waiting for it last moved */
    struct sl_line_reader in; /* its bytes, framed into lines */
    char name[NAME_BYTES];   /* its address, or the nickname it chose */
};

/* The room: everyone online, in joining order. One thread: no lock. */
static struct {
    struct conn *users[FD_SETSIZE];
    int count;
    int max_users;
    struct conn *gone[FD_SETSIZE]; /* left this round, to free */
    int gone_count;
} room = { .max_users = FD_SETSIZE };

/* What to do with a user after an event. */
enum conn_status { CONN_KEEP, CONN_CLOSE };

/* Milliseconds on the monotonic clock, which no one can set back. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1 user online", "2 users online": N is written `N user` for 0 and 1. */
static const char *users_word(int n)
{
    return n == 0 || n == 1 ? "user" : "users";
}

/*
 * Build `head`, then `len` bytes of `data`, then `tail` and a newline into
 * out (MESSAGE_BYTES). The data is what a user typed: copied as bytes, NUL
 * and '%' included, never used as a format. Returns the length.
 */
static size_t compose(char *out, const char *head, const char *data, size_t len,
                      const char *tail)
{
    size_t n = 0, head_len = strlen(head), tail_len = strlen(tail);
    if (len > MESSAGE_BYTES - head_len - tail_len - 1)
        len = MESSAGE_BYTES - head_len - tail_len - 1;
    memcpy(out + n, head, head_len);
    n += head_len;
    memcpy(out + n, data, len);
    n += len;
    memcpy(out + n, tail, tail_len);
    n += tail_len;
    out[n++] = '\n';
    return n;
}

/* Print one event on standard output, in the order the room saw them. The
 * message holds what users typed: it is written as bytes, never used as a
 * printf() format. */
static void log_event(const char *msg, size_t len)
{
    fwrite(msg, 1, len, stdout);
    fflush(stdout);
}

/* ------------------------------------------------------- one user -- */

static struct conn *conn_new(int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (sl_line_reader_init(&c->in, MAX_LINE_BYTES) < 0) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    sl_buf_init(&c->out, OUTPUT_LIMIT_BYTES);
    if (sl_sock_peer(fd, c->name, sizeof c->name) == NULL)
        snprintf(c->name, sizeof c->name, "fd%d", fd);
    return c;
}

static void conn_free(struct conn *c)
{
    close(c->fd);
    sl_buf_free(&c->out);
    sl_line_reader_free(&c->in);
    free(c);
}

/* Whether to read from the user: while it is in the room. */
static bool conn_wants_read(const struct conn *c)
{
    return !c->gone;
}

/* Whether output waits for its socket to take it. */
static bool conn_wants_write(const struct conn *c)
{
    return !c->gone && sl_buf_len(&c->out) > 0;
}

/*
 * Queue one message for a user, or send it at once if nothing waits before
 * it and the socket takes it. Never blocks. A user for whom too much waits
 * is marked to be dropped (conn_drop_slow() does it once the event that
 * queued the message is over, so no list is changed while it is walked).
 */
static void conn_send(struct conn *c, const char *msg, size_t len)
{
    // BEGIN TODO 3: Queue or send, never block. Return at once if c->gone
    //   or c->out_moved_ms < 0 (already marked to be dropped). Count what
    //   waits for this user: sl_buf_len(&c->out) plus its kernel send
    //   buffer's unsent bytes (ioctl(c->fd, SIOCOUTQ, &int), tcp(7)). If that
    //   plus len passes OUTPUT_LIMIT_BYTES, mark it (c->out_moved_ms = -1)
    //   and return. Otherwise sl_buf_write(&c->out, c->fd, msg, len) (it
    //   sends what the socket takes and keeps the rest); on failure mark it
    //   too. If output now waits where none did, start the stall clock:
    //   c->out_moved_ms = now_ms().
    if (c->gone || c->out_moved_ms < 0)
        return; /* gone, or already marked to be dropped */
    int unsent = 0;
    if (ioctl(c->fd, SIOCOUTQ, &unsent) < 0)
        unsent = 0;
    size_t waiting = sl_buf_len(&c->out) + (size_t)unsent;
    if (waiting + len > OUTPUT_LIMIT_BYTES) {
        c->out_moved_ms = -1; /* too slow: see conn_too_slow() */
        return;
    }
    bool was_empty = sl_buf_len(&c->out) == 0;
    if (sl_buf_write(&c->out, c->fd, msg, len) < 0) {
        c->out_moved_ms = -1; /* its connection failed: drop it too */
        return;
    }
    if (was_empty && sl_buf_len(&c->out) > 0)
        c->out_moved_ms = now_ms(); /* the stall clock starts */
    // SKELETON: (void)c;
    // SKELETON: (void)msg;
    // SKELETON: (void)len;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: nothing is sent to anyone");
    // END TODO
}

/* Dropped for being too slow or broken: marked by conn_send(), or output
 * waiting without moving for OUTPUT_STALL_MS. */
static bool conn_too_slow(struct conn *c)
{
    if (c->out_moved_ms < 0)
        return true;
    return sl_buf_len(&c->out) > 0 && now_ms() - c->out_moved_ms >= OUTPUT_STALL_MS;
}

/* ------------------------------------------------------- the room -- */

/* Send an event: `mine` to the user it is about (NULL: nothing), `theirs`
 * to everyone else and to the log. */
static void broadcast(struct conn *about, const char *mine, size_t mine_len, const char *theirs,
                      size_t theirs_len)
{
    for (int i = 0; i < room.count; i++) {
        struct conn *c = room.users[i];
        if (c != about)
            conn_send(c, theirs, theirs_len);
        else if (mine != NULL)
            conn_send(c, mine, mine_len);
    }
    log_event(theirs, theirs_len);
}

/* Put a newcomer in the room, last in joining order, and tell everyone. */
static void room_join(struct conn *c)
{
    char mine[MESSAGE_BYTES], theirs[MESSAGE_BYTES];
    room.users[room.count++] = c;
    int mine_len = snprintf(mine, sizeof mine, "> Connected to the chat server (%d %s online)\n",
                            room.count, users_word(room.count));
    int theirs_len = snprintf(theirs, sizeof theirs, "> New user %s entered (%d %s online)\n",
                              c->name, room.count, users_word(room.count));
    broadcast(c, mine, (size_t)mine_len, theirs, (size_t)theirs_len);
}

/* Take a user out of the room, keeping the others' order, and tell them.
 * Its memory is freed at the end of the round (room_free_gone()). */
static void room_leave(struct conn *c)
{
    if (c->gone)
        return;
    int i = 0;
    while (i < room.count && room.users[i] != c)
        i++;
    memmove(&room.users[i], &room.users[i + 1], (size_t)(room.count - i - 1) * sizeof c);
    room.count--;
    c->gone = true;
    room.gone[room.gone_count++] = c;
    char theirs[MESSAGE_BYTES];
    int len = snprintf(theirs, sizeof theirs, "< The user %s left (%d %s online)\n", c->name,
                       room.count, users_word(room.count));
    broadcast(c, NULL, 0, theirs, (size_t)len);
}

/* Drop every user that has become too slow; each leave may make another
 * one too slow, so go on until none is. */
static void room_drop_slow(void)
{
    bool dropped = true;
    while (dropped) {
        dropped = false;
        for (int i = 0; i < room.count; i++) {
            struct conn *c = room.users[i];
            if (conn_too_slow(c)) {
                room_leave(c);
                dropped = true;
                break;
            }
        }
    }
}

static void room_free_gone(void)
{
    for (int i = 0; i < room.gone_count; i++)
        conn_free(room.gone[i]);
    room.gone_count = 0;
}

/* ------------------------------------------------------- commands -- */

/* A nickname: 1 to 32 of A-Z a-z 0-9 _ -. */
static bool valid_nick(const char *s, size_t len)
{
    if (len < 1 || len > MAX_NICK_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(ch >= 'A' && ch <= 'Z') && !(ch >= 'a' && ch <= 'z') &&
            !(ch >= '0' && ch <= '9') && ch != '_' && ch != '-')
            return false;
    }
    return true;
}

static bool name_taken(const char *s, size_t len)
{
    for (int i = 0; i < room.count; i++) {
        const char *name = room.users[i]->name;
        if (strlen(name) == len && memcmp(name, s, len) == 0)
            return true;
    }
    return false;
}

static void cmd_nick(struct conn *c, const char *arg, size_t len)
{
    char msg[MESSAGE_BYTES];
    if (!valid_nick(arg, len) || name_taken(arg, len)) {
        conn_send(c, msg, compose(msg, "! nickname ", arg, len, " is not available"));
        return;
    }
    char old[NAME_BYTES];
    snprintf(old, sizeof old, "%s", c->name);
    snprintf(c->name, sizeof c->name, "%.*s", (int)len, arg);
    char mine[MESSAGE_BYTES];
    int mine_len = snprintf(mine, sizeof mine, "* You are now known as %s\n", c->name);
    int n = snprintf(msg, sizeof msg, "* %s is now known as %s\n", old, c->name);
    broadcast(c, mine, (size_t)mine_len, msg, (size_t)n);
}

static void cmd_who(struct conn *c)
{
    /* Every name, a separator each: bounded by the room's size. */
    static char msg[64 + FD_SETSIZE * (NAME_BYTES + 2)];
    size_t len = (size_t)snprintf(msg, sizeof msg, "* %d %s online: ", room.count,
                                  users_word(room.count));
    for (int i = 0; i < room.count; i++) {
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", i > 0 ? ", " : "",
                                room.users[i]->name);
    }
    msg[len++] = '\n';
    conn_send(c, msg, len);
}

/* Run one line: a command, or a message for the room. */
static enum conn_status conn_run_line(struct conn *c, const char *line, size_t len)
{
    char mine[MESSAGE_BYTES], theirs[MESSAGE_BYTES];
    if (len == 0)
        return CONN_KEEP; /* empty lines are ignored */
    if (line[0] != '/') {
        char head[NAME_BYTES + 4];
        snprintf(head, sizeof head, "[%s] ", c->name);
        size_t mine_len = compose(mine, "[You] ", line, len, "");
        size_t theirs_len = compose(theirs, head, line, len, "");
        broadcast(c, mine, mine_len, theirs, theirs_len);
        return CONN_KEEP;
    }
    /* A command is named by its first word. */
    const char *space = memchr(line, ' ', len);
    size_t word = space != NULL ? (size_t)(space - line) : len;
    const char *arg = space != NULL ? space + 1 : line + len;
    size_t arg_len = (size_t)(line + len - arg);
    if (word == 5 && memcmp(line, "/nick", 5) == 0) {
        cmd_nick(c, arg, arg_len);
    } else if (word == 4 && memcmp(line, "/who", 4) == 0) {
        cmd_who(c);
    } else if (word == 5 && memcmp(line, "/quit", 5) == 0) {
        return CONN_CLOSE;
    } else {
        conn_send(c, mine, compose(mine, "! unknown command ", line, word, ""));
    }
    return CONN_KEEP;
}

/* Run every whole line the reader holds. */
static enum conn_status conn_run_lines(struct conn *c)
{
    struct sl_line line;
    for (;;) {
        enum sl_line_status st = sl_line_next(&c->in, &line);
        if (st == SL_LINE_NEED_MORE)
            return CONN_KEEP;
        if (st == SL_LINE_TOO_LONG) {
            conn_send(c, "! line too long\n", 16);
            continue;
        }
        if (conn_run_line(c, line.data, line.len) == CONN_CLOSE)
            return CONN_CLOSE;
        if (c->gone)
            return CONN_CLOSE;
    }
}

/*
 * Read once what the user sent and run its whole lines. Once, not until
 * EAGAIN: select() is level-triggered, so bytes still waiting make the
 * socket readable again next round, and meanwhile every other user gets its
 * turn (a user who types faster than the server reads would otherwise keep
 * the loop to itself). The end of the stream (or an error) is the user's
 * leaving; a cut-off last line is run first, like any other.
 */
static enum conn_status conn_on_readable(struct conn *c)
{
    char buf[READ_BYTES];
    ssize_t n;
    do
        n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR && !sl_stop_requested());
    if (n == 0) {
        struct sl_line line;
        if (sl_line_finish(&c->in, &line) == SL_LINE_OK)
            conn_run_line(c, line.data, line.len);
        return CONN_CLOSE;
    }
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? CONN_KEEP : CONN_CLOSE;
    /* The reader takes what fits; run its lines to make room for more. */
    size_t fed = 0;
    while (fed < (size_t)n) {
        fed += sl_line_feed(&c->in, buf + fed, (size_t)n - fed);
        if (conn_run_lines(c) == CONN_CLOSE)
            return CONN_CLOSE;
    }
    return CONN_KEEP;
}

/* The user's socket has room again: send what waits. */
static enum conn_status conn_on_writable(struct conn *c)
{
    // BEGIN TODO 3: Send what waits with sl_buf_flush(&c->out, c->fd): an
    //   error closes the user; if bytes went (and it is not marked), restart
    //   the stall clock (c->out_moved_ms = now_ms()).
    ssize_t sent = sl_buf_flush(&c->out, c->fd);
    if (sent < 0)
        return CONN_CLOSE;
    if (sent > 0 && c->out_moved_ms >= 0)
        c->out_moved_ms = now_ms(); /* it moved: the stall clock restarts */
    return CONN_KEEP;
    // SKELETON: (void)c;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: waiting output is never sent");
    // END TODO
}

/* ------------------------------------------------------ newcomers -- */

/* A descriptor kept open for the moment accept() fails with EMFILE. */
static int spare_fd = -1;

/*
 * Tell a newcomer there is no room, and close it. Its send buffer is empty,
 * so the line nearly always goes at once; a blocking send with a short
 * timeout covers the rare EAGAIN or short count without stalling the room.
 */
static void turn_away(int fd)
{
    struct timeval limit = { .tv_sec = 0, .tv_usec = 100 * 1000 };
    if (sl_set_nonblocking(fd, false) == 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) == 0)
        sl_write_full(fd, SERVER_FULL, strlen(SERVER_FULL));
    /* Read what the client may have sent already: closing with unread data
     * sends a reset, which could destroy the answer before it is read. */
    shutdown(fd, SHUT_WR);
    char scrap[4096];
    while (recv(fd, scrap, sizeof scrap, MSG_DONTWAIT) > 0)
        continue;
    close(fd);
}

/*
 * Out of descriptors: give the spare one back, take the newcomer with it to
 * say the server is full, and keep the spare again. Returns false when no
 * newcomer was waiting after all (accept() checks for a free descriptor
 * before it looks at the queue, so EMFILE says nothing about the queue).
 */
static bool turn_away_with_spare(int listen_fd)
{
    close(spare_fd);
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
        turn_away(fd);
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

/*
 * Accept one queued client as a non-blocking socket. Returns its
 * descriptor, or -1 with errno: EAGAIN when none is queued, EMFILE or
 * ENFILE when descriptors ran out. A client that gave up before we took it
 * (ECONNABORTED) is skipped.
 */
static int accept_client(int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0 || (errno != EINTR && errno != ECONNABORTED))
            return fd;
        if (errno == EINTR && sl_stop_requested())
            return -1;
    }
}

/* Accept every queued client. Returns 0, or -1 when memory ran out: then
 * stop watching the listening socket for a while. */
static int accept_clients(int listen_fd)
{
    for (;;) {
        int fd = accept_client(listen_fd);
        if (fd < 0) {
            // BEGIN TODO 4: Out of descriptors (EMFILE, ENFILE): with no spare
            //   (spare_fd < 0) return -1 to pause; otherwise
            //   turn_away_with_spare(listen_fd), and go on if it turned someone
            //   away, or return 0 if nobody was waiting.
            if (errno == EMFILE || errno == ENFILE) {
                if (spare_fd < 0)
                    return -1; /* no spare either: pause */
                if (turn_away_with_spare(listen_fd))
                    continue;
                return 0;
            }
            // SKELETON: (void)turn_away_with_spare;
            // END TODO
            if (errno == ENOBUFS || errno == ENOMEM) {
                sl_warn_errno("accept (pausing %d ms)", ACCEPT_PAUSE_MS);
                return -1;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sl_warn_errno("accept");
            return 0;
        }
        // BEGIN TODO 4: A descriptor of FD_SETSIZE or more cannot go into an
        //   fd_set (FD_SET() would write past its end), and -m caps the room:
        //   if fd >= FD_SETSIZE or room.count >= room.max_users, turn_away(fd)
        //   and go on with the next newcomer.
        /* select() cannot watch it, or -m says the room is full. */
        if (fd >= FD_SETSIZE || room.count >= room.max_users) {
            turn_away(fd);
            continue;
        }
        // END TODO
        struct conn *c = conn_new(fd);
        if (c == NULL) {
            turn_away(fd);
            return -1;
        }
        room_join(c);
    }
}

/* How long the event loop may sleep: until the first stalled user is due
 * to be dropped, or a paused accept() is due again (-1: for ever). */
static long long next_deadline(long long resume_at)
{
    long long deadline = resume_at != 0 ? resume_at : -1;
    for (int i = 0; i < room.count; i++) {
        const struct conn *c = room.users[i];
        if (sl_buf_len(&c->out) == 0 || c->out_moved_ms < 0)
            continue;
        long long due = c->out_moved_ms + OUTPUT_STALL_MS;
        if (deadline < 0 || due < deadline)
            deadline = due;
    }
    return deadline;
}

/* ---------------------------------------------- the I/O model: select -- */

static int main_loop(int listen_fd)
{
    /* While memory is short, accepting is paused until this time; 0: not. */
    long long resume_at = 0;
    while (!sl_stop_requested()) {
        if (resume_at != 0 && now_ms() >= resume_at)
            resume_at = 0;
        /* select() overwrites its sets: build them afresh every round. */
        fd_set readable, writable;
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        int max_fd = -1;
        // BEGIN TODO 2: Build the sets: the listening socket in `readable`
        //   unless accepting is paused (resume_at != 0); each user in
        //   `readable` if conn_wants_read(c), and in `writable` only if
        //   conn_wants_write(c), which is what keeps an idle loop asleep. Keep
        //   max_fd the largest descriptor in any set. Then the timeout: from
        //   next_deadline(resume_at), a struct timeval of what is left (0 if
        //   it passed), or NULL (wait for ever) when it is -1.
        if (resume_at == 0) {
            FD_SET(listen_fd, &readable);
            max_fd = listen_fd;
        }
        for (int i = 0; i < room.count; i++) {
            struct conn *c = room.users[i];
            if (conn_wants_read(c))
                FD_SET(c->fd, &readable);
            if (conn_wants_write(c))
                FD_SET(c->fd, &writable);
            if (c->fd > max_fd)
                max_fd = c->fd;
        }
        struct timeval tv, *timeout = NULL;
        long long deadline = next_deadline(resume_at);
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left < 0)
                left = 0;
            tv.tv_sec = (time_t)(left / 1000);
            tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
            timeout = &tv;
        }
        // SKELETON: struct timeval tv = { 0, 0 }, *timeout = &tv;
        // SKELETON: (void)listen_fd;
        // SKELETON: (void)next_deadline;
        // SKELETON: (void)conn_wants_read;
        // SKELETON: (void)conn_wants_write;
        // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: select() watches nothing");
        // END TODO
        // BEGIN TODO 1: Sleep in select(2) until a socket in the sets is ready
        //   or the timeout passes. EINTR: go round again (the loop checks
        //   sl_stop_requested()); another error: sl_warn_errno("select") and
        //   stop. Then: accept_clients() if the listener is readable (-1:
        //   pause for ACCEPT_PAUSE_MS). Then serve the users, walking a copy
        //   of room.users taken before accepting (the room changes while it
        //   is served; newcomers are not in the sets): for each one not gone,
        //   conn_on_readable() if readable, then conn_on_writable() if still
        //   kept and writable; CONN_CLOSE means room_leave(c). After each
        //   user, room_drop_slow().
        int ready = select(max_fd + 1, &readable, &writable, NULL, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            sl_warn_errno("select");
            break;
        }
        /* The room changes while it is served: walk a copy of it. Users
         * who join now are not in the sets, and are served next round. */
        struct conn *round[FD_SETSIZE];
        int count = room.count;
        memcpy(round, room.users, (size_t)count * sizeof round[0]);
        if (resume_at == 0 && FD_ISSET(listen_fd, &readable) && accept_clients(listen_fd) < 0)
            resume_at = now_ms() + ACCEPT_PAUSE_MS;
        for (int i = 0; i < count; i++) {
            struct conn *c = round[i];
            enum conn_status st = CONN_KEEP;
            if (!c->gone && FD_ISSET(c->fd, &readable))
                st = conn_on_readable(c);
            if (st == CONN_KEEP && !c->gone && FD_ISSET(c->fd, &writable))
                st = conn_on_writable(c);
            if (st == CONN_CLOSE)
                room_leave(c);
            room_drop_slow();
        }
        // SKELETON: (void)readable;
        // SKELETON: (void)writable;
        // SKELETON: (void)max_fd;
        // SKELETON: (void)timeout;
        // SKELETON: (void)conn_on_readable;
        // SKELETON: (void)conn_on_writable;
        // SKELETON: (void)accept_clients;
        // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no select() loop");
        // END TODO
        room_drop_slow(); /* output that stalled while nothing happened */
        room_free_gone();
    }
    while (room.count > 0) {
        struct conn *c = room.users[--room.count];
        conn_free(c);
    }
    room_free_gone();
    return 0;
}

/*
 * The listening socket, in non-blocking mode: with one thread for every
 * client, accept() must never wait for a client that is not there.
 */
static int open_listener(const struct sl_opts *opts)
{
    // BEGIN TODO 1: As in lab 07: open the listening socket with sl_listen()
    //   (SOCK_STREAM, BACKLOG; on failure sl_die(SL_EXIT_RUNTIME, "%s", err)),
    //   then make it non-blocking with sl_set_nonblocking(); on failure
    //   sl_die_errno("fcntl O_NONBLOCK"). select() may say it is readable and
    //   the client be gone by the time accept() runs: accept() must not block.
    char err[SL_ERR_BYTES];
    int fd = sl_listen(opts->addr, opts->port, SOCK_STREAM, BACKLOG, err, sizeof err);
    if (fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_set_nonblocking(fd, true) < 0)
        sl_die_errno("fcntl O_NONBLOCK");
    return fd;
    // SKELETON: (void)opts;
    // SKELETON: sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no listening socket");
    // END TODO
}

static int parse_option(int opt, const char *arg, void *ctx)
{
    (void)ctx;
    long max;
    if (opt != 'm' || sl_parse_int(arg, 1, FD_SETSIZE, &max) < 0)
        return -1;
    room.max_users = (int)max;
    return 0;
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, "m:", MAX_USERS_USAGE, parse_option, NULL, &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (spare_fd < 0)
        sl_die_errno("open /dev/null");

    int listen_fd = open_listener(&opts);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    int status = main_loop(listen_fd);
    close(listen_fd);
    close(spare_fd);
    return status;
}
