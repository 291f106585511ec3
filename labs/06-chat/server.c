/*
 * server.c (lab 06): a multi-user chat server, one thread per client.
 *
 * Every line a user sends goes to everyone in the room: `[You] hello` to the
 * sender, `[127.0.0.1:41234] hello` to the others. A user may pick a
 * nickname (/nick), ask who is online (/who) and leave (/quit); the room
 * hears when someone enters and leaves. The server prints each event on its
 * standard output too.
 *
 * It teaches three things that every concurrent server meets:
 *
 *  - Shared state. The room (who is online, in joining order, and their
 *    names) is read and changed by every client's thread. One mutex guards
 *    it; every look at the room and every change to it happens while holding
 *    that lock, or two threads interleave and the list breaks.
 *
 *  - Never wait for someone else's client. A broadcaster that called a
 *    blocking send() to each receiver in turn would stop, lock held, at the
 *    first one that has stopped reading, and the whole room would freeze
 *    with it. So each client has its own bounded output queue. A broadcaster
 *    only appends the message to every receiver's queue (memory, never the
 *    network) and pokes the receiver's thread through an eventfd; each
 *    thread sends its own queue with non-blocking sends, when poll() says
 *    its socket can take more. A client for whom more than 1 MiB waits, or
 *    whose output has not moved for 2 seconds, is dropped.
 *
 *  - Order. The queues are filled while the room lock is held, so every
 *    receiver gets the room's events in one and the same order: one user's
 *    lines in the order they were sent, and a user's arrival before any of
 *    that user's lines.
 *
 * Threads: the main thread accepts; each client gets one detached thread
 * that reads its lines, runs its commands and sends its queue, and that
 * ends when the client leaves. SIGINT and SIGTERM are blocked in the client
 * threads, so they reach the main thread and interrupt its accept().
 *
 * Read: pthread_create(3), pthread_mutex_lock(3), pthread_sigmask(3),
 * eventfd(2), poll(2), send(2) (MSG_DONTWAIT), tcp(7) (SIOCOUTQ), ioctl(2).
 *
 * Usage: server [-a ADDR] [-p PORT] [-m MAX]   (default 127.0.0.1, port 50006,
 * at most 1000 users at once)
 */
#include "socklab.h"

#include <linux/sockios.h> /* SIOCOUTQ */
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>

#define DEFAULT_PORT "50006"
#define BACKLOG 128
#define MAX_USERS_USAGE "[-m MAX]"
#define DEFAULT_MAX_USERS 1000
#define MAX_USERS_LIMIT 100000
/* The longest line, counting neither '\n' nor a '\r' before it. */
#define MAX_LINE_BYTES 4096
#define MAX_NICK_BYTES 32
/* A name is an address (`[ffff:...]:65535`) or a nickname: both fit. */
#define NAME_BYTES SL_ADDR_BYTES
/* Room for any one message but /who's answer: a name, a line, a few words. */
#define MESSAGE_BYTES (MAX_LINE_BYTES + 2 * NAME_BYTES + 64)
/* A client is dropped once more than this waits for it (SPEC, chat)... */
#define OUTPUT_LIMIT_BYTES (1024 * 1024)
/* ...or once its waiting output has not moved for this long. */
#define OUTPUT_STALL_MS 2000
/* An output queue that grew past this is freed when it empties again. */
#define OUTPUT_KEEP_BYTES (64 * 1024)
/* accept() out of descriptors: wait this long before trying again. */
#define ACCEPT_RETRY_MS 100

/*
 * One connected user. The thread that serves the client owns it; other
 * threads reach it only through the room, under room.lock, and touch only
 * its output queue (under out_lock).
 */
struct client {
    struct client *next;   /* the next user in joining order (room.lock) */
    int fd;                /* the connected socket, non-blocking */
    int wake_fd;           /* eventfd: written when the queue gets a message */
    char name[NAME_BYTES]; /* written by the owner under room.lock */

    pthread_mutex_t out_lock; /* guards the output queue below */
    char *out;                /* out[out_start, out_end) waits to be sent */
    size_t out_start, out_end, out_cap;
    bool too_slow;        /* more than OUTPUT_LIMIT_BYTES waited */
    int64_t out_moved_ms; /* when the waiting output last moved */
};

/* The room: everyone online, in joining order, under one mutex. */
static struct {
    pthread_mutex_t lock;
    struct client *first, *last;
    long count;
    long max_users;
} room = {.lock = PTHREAD_MUTEX_INITIALIZER, .max_users = DEFAULT_MAX_USERS};

/* What the client's thread does after a line or an event. */
enum next_step {
    KEEP_GOING,
    LEAVE, /* /quit or end of stream: send what waits, then close */
    DROP,  /* an error, or too slow: close at once */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1 user online", "2 users online": N is written `N user` for 0 and 1. */
static const char *users_word(long n)
{
    return n == 0 || n == 1 ? "user" : "users";
}

/* Print one event on standard output. Called under room.lock, so the events
 * come out in the order the room saw them. */
static void log_event(const char *msg, size_t len)
{
    fwrite(msg, 1, len, stdout);
    fflush(stdout);
}

/* Ask the client's thread to look at its queue. An eventfd is a counter in
 * the kernel: a write adds to it and makes it readable for poll(). */
static void wake_client(struct client *c)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(c->wake_fd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
}

/* Make room for len more bytes at the end of the queue: move what waits to
 * the front, grow if that is not enough. Returns false when out of memory. */
static bool reserve_output(struct client *c, size_t len)
{
    if (c->out_end + len <= c->out_cap)
        return true;
    size_t pending = c->out_end - c->out_start;
    if (c->out_start > 0) {
        memmove(c->out, c->out + c->out_start, pending);
        c->out_start = 0;
        c->out_end = pending;
        if (pending + len <= c->out_cap)
            return true;
    }
    size_t cap = c->out_cap > 0 ? c->out_cap : 4096;
    while (cap < pending + len)
        cap *= 2;
    char *bigger = realloc(c->out, cap);
    if (bigger == NULL)
        return false;
    c->out = bigger;
    c->out_cap = cap;
    return true;
}

/*
 * Append one message to a client's output queue and wake its thread. Never
 * touches the network beyond an ioctl(), so it never blocks, however slow
 * the client. The caller holds room.lock: the client is still in the room,
 * so its descriptors are open.
 */
static void queue_message(struct client *c, const char *msg, size_t len)
{
    /* TODO 4: Queue, do not send. Under c->out_lock: unless
     *   c->too_slow is already set, count what already waits for this client,
     *   the bytes in its queue (out_end - out_start) plus what its kernel send
     *   buffer still holds (ioctl(c->fd, SIOCOUTQ, &int), tcp(7)). If that
     *   plus len passes OUTPUT_LIMIT_BYTES, set c->too_slow and queue
     *   nothing: its thread will drop it. Otherwise append the message
     *   (reserve_output(), memcpy); if the queue was empty, start the stall
     *   clock (c->out_moved_ms = now_ms()). Unlock, then wake_client(c). */
    (void)c;
    (void)msg;
    (void)len;
    (void)reserve_output;
    (void)wake_client;
    sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: no message queued");
}

/*
 * Send an event to the room: `mine` to the user it is about (NULL: nothing),
 * `theirs` to everyone else and to the server's log. The caller holds
 * room.lock, and that is what keeps every receiver's view in one order.
 */
static void broadcast(struct client *about, const char *mine, size_t mine_len,
                      const char *theirs, size_t theirs_len)
{
    for (struct client *c = room.first; c != NULL; c = c->next) {
        if (c != about)
            queue_message(c, theirs, theirs_len);
        else if (mine != NULL)
            queue_message(c, mine, mine_len);
    }
    log_event(theirs, theirs_len);
}

/* Send a message to one client only, such as an answer to a command. */
static void tell(struct client *c, const char *msg, size_t len)
{
    pthread_mutex_lock(&room.lock);
    queue_message(c, msg, len);
    pthread_mutex_unlock(&room.lock);
}

/*
 * Put a new client in the room, last in joining order, and tell everyone.
 * Returns false, changing nothing, when the room is full.
 */
static bool room_join(struct client *c)
{
    char mine[MESSAGE_BYTES], theirs[MESSAGE_BYTES];

    /* TODO 2: The room, joining. Everything here happens under
     *   room.lock. If room.count has reached room.max_users, unlock and return
     *   false. Otherwise link c at the end of the list (room.first,
     *   room.last, c->next), count it, and broadcast() the join:
     *   `> Connected to the chat server (N users online)` to c and
     *   `> New user NAME entered (N users online)` to the others (N counts c;
     *   users_word(N) gives "user" or "users"). Unlock, return true. */
    (void)c;
    (void)mine;
    (void)theirs;
    (void)broadcast;
    sl_die(SL_EXIT_RUNTIME, "TODO 2 not done yet: nobody can join the room");
}

/* Take a client out of the room and tell the others it left. */
static void room_leave(struct client *c)
{
    char theirs[MESSAGE_BYTES];

    /* TODO 5: Leaving, part 1. Under room.lock: unlink c from the list
     *   (find the one before it; fix room.first or room.last if c was one of
     *   them), count it out, and broadcast() `< The user NAME left (N users
     *   online)` to everyone left (mine: NULL). Once it is out of the room, no
     *   other thread can reach c any more: only then may it be freed. */
    (void)c;
    (void)theirs;
    sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: nobody can leave");
}

/*
 * Send what waits in the queue, as much as the socket takes now, without
 * ever blocking. Returns 0, or -1 when the client is gone.
 */
static int flush_output(struct client *c)
{
    int result = 0;
    pthread_mutex_lock(&c->out_lock);
    /* TODO 4: Send the queue without blocking: while bytes wait,
     *   send(2) them with MSG_DONTWAIT | MSG_NOSIGNAL. Count what went out
     *   (out_start) and restart the stall clock (out_moved_ms) on every
     *   progress; retry EINTR; stop at EAGAIN (the socket is full: poll()
     *   will say when it has room); any other error means the client is
     *   gone (result = -1). */
    result = -1;
    sl_die(SL_EXIT_RUNTIME, "TODO 4 not done yet: nothing sent");
    if (c->out_start == c->out_end) {
        c->out_start = c->out_end = 0;
        /* A burst made the queue big: give the memory back. */
        if (c->out_cap > OUTPUT_KEEP_BYTES) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    }
    pthread_mutex_unlock(&c->out_lock);
    return result;
}

/* A line L from a user: `[You] L` to it, `[NAME] L` to the others. */
static void say(struct client *c, const char *line, size_t len)
{
    char mine[MESSAGE_BYTES], theirs[MESSAGE_BYTES];
    /* The line may hold any bytes, '\0' and '%' too: copy it, never use it
     * as a format. */
    size_t mine_len = (size_t)snprintf(mine, sizeof mine, "[You] ");
    memcpy(mine + mine_len, line, len);
    mine_len += len;
    mine[mine_len++] = '\n';

    pthread_mutex_lock(&room.lock);
    /* Only this thread changes c->name, so it may read it anywhere. */
    size_t theirs_len = (size_t)snprintf(theirs, sizeof theirs, "[%s] ", c->name);
    memcpy(theirs + theirs_len, line, len);
    theirs_len += len;
    theirs[theirs_len++] = '\n';
    broadcast(c, mine, mine_len, theirs, theirs_len);
    pthread_mutex_unlock(&room.lock);
}

/* A nickname is 1 to 32 of A-Z a-z 0-9 _ -. */
static bool nick_valid(const char *nick, size_t len)
{
    if (len < 1 || len > MAX_NICK_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)nick[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Is this name anyone's now, the asker's own included? Under room.lock. */
static bool name_taken(const char *name)
{
    for (struct client *c = room.first; c != NULL; c = c->next)
        if (strcmp(c->name, name) == 0)
            return true;
    return false;
}

/* /nick NEW */
static void change_nick(struct client *c, const char *nick, size_t len)
{
    char mine[MESSAGE_BYTES], theirs[MESSAGE_BYTES];

    /* TODO 3: /nick, in one critical section. A nickname that is not
     *   valid (nick_valid()), or that is already someone's name (name_taken(),
     *   the asker's own name too), gets `! nickname NEW is not available`
     *   (NEW as given; it may hold any bytes, so copy it with %.*s only once it
     *   is known to be short, or with memcpy). Otherwise broadcast
     *   `* You are now known as NEW` to c and `* OLD is now known as NEW` to
     *   the others, and copy NEW into c->name. The check and the change
     *   happen under one hold of room.lock: checked in one and changed in
     *   another, two users could both take the same free name. */
    (void)c;
    (void)nick;
    (void)len;
    (void)mine;
    (void)theirs;
    (void)nick_valid;
    (void)name_taken;
    sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: /nick");
}

/* /who: `* N users online: NAME1, NAME2, ...`, in joining order. */
static void list_users(struct client *c)
{
    pthread_mutex_lock(&room.lock);
    /* The list has room.count names: its size is known only now. */
    size_t cap = 64 + (size_t)room.count * (NAME_BYTES + 2);
    char *msg = malloc(cap);
    if (msg != NULL) {
        size_t len =
            (size_t)snprintf(msg, cap, "* %ld %s online:", room.count, users_word(room.count));
        for (struct client *u = room.first; u != NULL; u = u->next)
            len += (size_t)snprintf(msg + len, cap - len, "%s %s", u == room.first ? "" : ",",
                                    u->name);
        msg[len++] = '\n';
        queue_message(c, msg, len);
        free(msg);
    }
    pthread_mutex_unlock(&room.lock);
}

/* Answer `! unknown command /WORD`, the line's first word. */
static void unknown_command(struct client *c, const char *word, size_t len)
{
    char mine[MESSAGE_BYTES];
    size_t mine_len = (size_t)snprintf(mine, sizeof mine, "! unknown command ");
    memcpy(mine + mine_len, word, len);
    mine_len += len;
    mine[mine_len++] = '\n';
    tell(c, mine, mine_len);
}

/* Does the word word[0..len) say exactly `command`? */
static bool is_command(const char *word, size_t len, const char *command)
{
    return len == strlen(command) && memcmp(word, command, len) == 0;
}

/* Handle one line from the client: a command, a message, or nothing. */
static enum next_step handle_line(struct client *c, const char *line, size_t len)
{
    /* TODO 3: Read lines and commands. An empty line is ignored. A
     *   line that starts with '/' is a command: its first word runs up to the
     *   first space (memchr), its argument is what follows the spaces after
     *   it. `/quit` returns LEAVE; `/who` list_users() (an argument is
     *   ignored); `/nick` change_nick() with the argument (maybe empty);
     *   anything else unknown_command() with the first word. Any other line
     *   is said to the room: say(). The line is not NUL-terminated and may
     *   hold any byte: always pass lengths along. */
    (void)c;
    (void)line;
    (void)say;
    (void)change_nick;
    (void)list_users;
    (void)unknown_command;
    (void)is_command;
    if (len > 0)
        sl_die(SL_EXIT_RUNTIME, "TODO 3 not done yet: a line was not handled");
    return KEEP_GOING;
}

/* A line passed MAX_LINE_BYTES: tell the sender only; the reader drops the
 * rest of it up to its newline. */
static void line_too_long(struct client *c)
{
    static const char answer[] = "! line too long\n";
    tell(c, answer, sizeof answer - 1);
}

/*
 * The socket is readable: read once, and handle every whole line. Returns
 * KEEP_GOING, LEAVE at the end of the stream (or /quit), DROP on an error.
 */
static enum next_step read_lines(struct client *c, struct sl_line_reader *reader)
{
    ssize_t n = sl_line_fill(reader, c->fd);
    if (n < 0) {
        /* EAGAIN: nothing after all (the socket is non-blocking). */
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return KEEP_GOING;
        return DROP;
    }
    struct sl_line line;
    for (;;) {
        /* At the end of the stream, a last line without '\n' counts too. */
        enum sl_line_status status =
            n > 0 ? sl_line_next(reader, &line) : sl_line_finish(reader, &line);
        if (status == SL_LINE_NEED_MORE)
            return KEEP_GOING;
        if (status == SL_LINE_EOF)
            return LEAVE;
        if (status == SL_LINE_TOO_LONG) {
            line_too_long(c);
            continue;
        }
        if (handle_line(c, line.data, line.len) == LEAVE)
            return LEAVE;
    }
}

/* How long poll() may wait: until the waiting output has been stuck for
 * OUTPUT_STALL_MS, or forever when nothing waits. Sets *step to DROP when
 * the client is too slow. */
static int output_deadline(struct client *c, bool *pending, enum next_step *step)
{
    int timeout = -1;
    pthread_mutex_lock(&c->out_lock);
    *pending = c->out_start < c->out_end;
    /* TODO 4: The drop rule. If c->too_slow is set, or output has
     *   waited (*pending) with no progress since c->out_moved_ms for
     *   OUTPUT_STALL_MS or more, set *step = DROP. Otherwise, while output
     *   waits, return the milliseconds left until that moment, so that
     *   poll() wakes up in time to check again. */
    (void)step;
    (void)now_ms;
    pthread_mutex_unlock(&c->out_lock);
    return timeout;
}

/*
 * The client's life: wait for its socket or its queue, read its lines, send
 * its output. Returns LEAVE or DROP, never KEEP_GOING.
 */
static enum next_step serve_client(struct client *c, struct sl_line_reader *reader)
{
    enum next_step step = KEEP_GOING;
    while (step == KEEP_GOING) {
        bool pending;
        int timeout = output_deadline(c, &pending, &step);
        if (step != KEEP_GOING)
            break;
        /* Two things can need this thread: its client (a line to read,
         * room to send) and its queue (another thread added a message). */
        struct pollfd fds[2] = {
            {.fd = c->fd, .events = POLLIN | (pending ? POLLOUT : 0)},
            {.fd = c->wake_fd, .events = POLLIN},
        };
        int ready = poll(fds, 2, timeout);
        if (ready < 0 && errno != EINTR)
            return DROP;
        if (ready <= 0)
            continue;
        if (fds[1].revents & POLLIN) {
            uint64_t count;
            if (read(c->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                return DROP;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
            step = read_lines(c, reader);
        /* Send even after LEAVE: /quit's and the last lines' answers. */
        if (step != DROP && flush_output(c) < 0)
            step = DROP;
    }
    return step;
}

/* After /quit or the end of the stream the client is out of the room and
 * nothing more is queued for it: send it what still waits, within the same
 * limits as ever, so that it sees the answers to its last lines. */
static void send_the_rest(struct client *c)
{
    for (;;) {
        enum next_step step = KEEP_GOING;
        bool pending;
        int timeout = output_deadline(c, &pending, &step);
        if (!pending || step != KEEP_GOING)
            return;
        struct pollfd fds[1] = {{.fd = c->fd, .events = POLLOUT}};
        int ready = poll(fds, 1, timeout);
        if (ready < 0 && errno != EINTR)
            return;
        if (ready > 0 && flush_output(c) < 0)
            return;
    }
}

static void free_client(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    pthread_mutex_destroy(&c->out_lock);
    free(c->out);
    free(c);
}

/* The thread of one client, from its arrival (already in the room) to its
 * departure. */
static void *client_thread(void *arg)
{
    struct client *c = arg;
    struct sl_line_reader reader;
    enum next_step step = DROP;
    if (sl_line_reader_init(&reader, MAX_LINE_BYTES) == 0) {
        step = serve_client(c, &reader);
        sl_line_reader_free(&reader);
    }
    /* TODO 5: Leaving, part 2: room_leave(c) first, so that nobody
     *   queues anything more for c. Then, when the client left by itself
     *   (step == LEAVE), send_the_rest(c) of its queue; a dropped client gets
     *   nothing more. Last, free_client(c) closes its descriptors and frees it. */
    (void)step;
    (void)room_leave;
    (void)send_the_rest;
    (void)free_client;
    sl_die(SL_EXIT_RUNTIME, "TODO 5 not done yet: nobody can leave");
    return NULL;
}

/* One client too many: say so and close, without a thread. The socket is
 * new and empty, so this short send does not block. */
static void turn_away(int fd, const char *peer)
{
    static const char answer[] = "! server full\n";
    /* The socket is non-blocking by now. Its send buffer is empty, so the
     * line nearly always goes at once; blocking with a short timeout covers
     * a rare EAGAIN or short count without holding up the accepting thread. */
    struct timeval limit = { .tv_sec = 0, .tv_usec = 100 * 1000 };
    if (sl_set_nonblocking(fd, false) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) < 0 ||
        sl_write_full(fd, answer, sizeof answer - 1) < 0)
        sl_warn_errno("send to %s", peer);
    char event[MESSAGE_BYTES];
    int len = snprintf(event, sizeof event, "! %s turned away: server full\n", peer);
    pthread_mutex_lock(&room.lock);
    log_event(event, (size_t)len);
    pthread_mutex_unlock(&room.lock);
    /* Our side is done; read what the client may have sent already, so
     * that close() ends with a FIN rather than a reset that could destroy
     * the answer before the client reads it. */
    shutdown(fd, SHUT_WR);
    char scrap[4096];
    while (recv(fd, scrap, sizeof scrap, MSG_DONTWAIT) > 0)
        continue;
    close(fd);
}

/* A new client: its struct, its wake-up eventfd. NULL when out of memory
 * or descriptors. */
static struct client *new_client(int fd, const char *peer)
{
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake_fd < 0 || sl_set_nonblocking(fd, true) < 0) {
        sl_warn_errno("eventfd for %s", peer);
        c->fd = -1; /* the caller closes it */
        free_client(c);
        return NULL;
    }
    pthread_mutex_init(&c->out_lock, NULL);
    snprintf(c->name, sizeof c->name, "%s", peer);
    return c;
}

/*
 * Start the thread that serves c: detached, since nobody waits for it, and
 * with SIGINT and SIGTERM blocked, so that a stop request interrupts the main
 * thread's accept() rather than some client's poll(). Returns 0 or -1.
 */
static int start_client_thread(struct client *c)
{
    /* TODO 1: Accept clients, a thread each, part 2: a detached thread
     *   per client (pthread_attr_setdetachstate, PTHREAD_CREATE_DETACHED) that
     *   runs client_thread(c). A new thread inherits the signal mask of the
     *   thread that creates it: block SIGINT and SIGTERM with pthread_sigmask()
     *   around pthread_create(), then restore the old mask. pthread_create()
     *   returns an error number; it does not set errno. */
    (void)c;
    (void)client_thread;
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no thread started");
}

/* Welcome one accepted client: into the room, then its own thread. */
static void welcome(int fd, const char *peer)
{
    struct client *c = new_client(fd, peer);
    if (c == NULL) {
        turn_away(fd, peer);
        return;
    }
    if (!room_join(c)) {
        c->fd = -1;
        free_client(c);
        turn_away(fd, peer);
        return;
    }
    if (start_client_thread(c) < 0) {
        sl_warn_errno("pthread_create for %s", peer);
        /* It is in the room already: leave as any client would. */
        room_leave(c);
        free_client(c);
    }
}

/* Wait for the next client; -1 when accept() failed (the caller retries, or
 * stops if a signal asked it to). */
static int accept_client(int listen_fd, char *peer, size_t peerlen)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    int fd = accept4(listen_fd, (struct sockaddr *)&addr, &addr_len, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The connection stays in the backlog: trying again at once
             * would spin. Wait a little for a client to leave. */
            sl_warn_errno("accept");
            poll(NULL, 0, ACCEPT_RETRY_MS);
        } else if (errno != EINTR) {
            sl_warn_errno("accept");
        }
        return -1;
    }
    sl_addr_format((struct sockaddr *)&addr, addr_len, peer, peerlen);
    return fd;
}

/* Each client takes two descriptors (its socket and its eventfd): raise the
 * soft limit on open files as far as the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

static int parse_option(int opt, const char *arg, void *ctx)
{
    (void)ctx;
    if (opt != 'm')
        return -1;
    return sl_parse_int(arg, 1, MAX_USERS_LIMIT, &room.max_users);
}

int main(int argc, char **argv)
{
    struct sl_opts opts;
    sl_parse_args(argc, argv, DEFAULT_PORT, "m:", MAX_USERS_USAGE, parse_option, NULL, &opts);

    if (sl_ignore_sigpipe() < 0)
        sl_die_errno("sigaction SIGPIPE");
    if (sl_install_stop_handlers() < 0)
        sl_die_errno("sigaction SIGINT/SIGTERM");
    raise_fd_limit();

    /* TODO 1: Accept clients, a thread each: write start_client_thread()
     *   below and the steps after it, then delete this sl_die(). It keeps the
     *   unfinished server from starting, so every test fails at once. */
    sl_die(SL_EXIT_RUNTIME, "TODO 1 not done yet: no client gets a thread");
    char err[SL_ERR_BYTES];
    int listen_fd = sl_listen(opts.addr, opts.port, SOCK_STREAM, BACKLOG, err, sizeof err);
    if (listen_fd < 0)
        sl_die(SL_EXIT_RUNTIME, "%s", err);
    if (sl_print_ready(listen_fd) < 0)
        sl_die_errno("getsockname");

    while (!sl_stop_requested()) {
        char peer[SL_ADDR_BYTES];
        int fd = accept_client(listen_fd, peer, sizeof peer);
        if (fd >= 0)
            welcome(fd, peer);
    }
    close(listen_fd);
    /* The client threads still run. Take the room lock, so that none is
     * half-way through an event, and end the process with them. */
    pthread_mutex_lock(&room.lock);
    fflush(stdout);
    return 0;
}
