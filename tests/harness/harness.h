/**
 * @file harness.h
 * @brief The autograder harness: run a student's program, talk to it,
 *        look at it through /proc, and score what it did.
 *
 * Every lab's test program is built from this harness, the protocol suites
 * in tests/suites/, and a short file of the lab's own properties. A test is a
 * row of a table (struct hn_test): a name, points, a time bound, a hint into
 * the lab guide, and a function. hn_main() turns the tables into a Check
 * suite (fork mode, one TCase per test, an explicit timeout each), runs it,
 * and prints a report, Check's summary line, `N passed, N failed` and
 * `labNN: X/Y points`.
 *
 * Programs under test are hostile until proven otherwise. hn_spawn() starts
 * one in its own process group, with closed inherited descriptors, rlimits
 * and a parent-death signal; a thread drains its standard output and error
 * into a bounded log; every wait has a deadline; and after every test, even
 * one that timed out, the runner kills what is left.
 */
#ifndef SOCKLAB_HARNESS_H
#define SOCKLAB_HARNESS_H

#include "socklab.h"

#include <check.h>
#include <sys/resource.h>
#include <sys/types.h>

/* ------------------------------------------------------------------------ */
/**
 * @name Tests, tables and the runner
 *
 * @par Example
 * @snippet harness_tour.c table
 */
/** @{ */

struct hn_test;

/** The body of a test; it fails through hn_fail() and friends. */
typedef void (*hn_test_fn)(const struct hn_test *t);

/** One row of a test table: one Check test. */
struct hn_test {
    const char *name;   /**< unique identifier, e.g. `echo_binary` */
    const char *title;  /**< what it checks, one line, for the report */
    int points;         /**< what it is worth */
    double timeout_s;   /**< Check's time bound for the whole test */
    const char *hint;   /**< guide section to reread, e.g. `03-reverse: "Framing"` */
    hn_test_fn fn;      /**< the test */
    const void *param;  /**< the row's data, for functions shared by rows */
};

/** A table of tests, such as a protocol suite or a lab's own properties. */
struct hn_table {
    const char *name;            /**< e.g. `echo`, `lifecycle`, `lab01` */
    const struct hn_test *tests; /**< its rows */
    size_t count;                /**< how many */
};

/** Number of elements of a true array. */
#define HN_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/** A table from an array of rows. */
#define HN_TABLE(name, rows) { (name), (rows), HN_COUNT(rows) }

/** Everything the runner needs to know about a lab. */
struct hn_lab {
    const char *id;                      /**< `lab01` */
    const char *dir;                     /**< `01-tcp-echo` */
    const char *title;                   /**< `TCP echo server and client` */
    const struct hn_table *const *tables;/**< NULL-terminated */
};

/**
 * @brief Run a lab's tests and print the report; the whole main() of a test
 *        program.
 *
 * Command line: `labNN [--list | --hints | TEST...]`. With names, only those
 * tests run (the mutant check uses this). `--list` prints each test's name,
 * points and title; `--hints` each test's name and hint. Binaries are taken
 * from the directory named by `SOCKLAB_BIN`.
 *
 * Environment: `SOCKLAB_BIN` (required), `SOCKLAB_SHIM` (path of the
 * fault-injection shim to preload into every program under test),
 * `SOCKLAB_TIME_SCALE` (multiplies every time bound, e.g. 3 under
 * sanitizers), and Check's own CK_* variables (CK_TAP_LOG_FILE_NAME,
 * CK_XML_LOG_FILE_NAME).
 *
 * @param lab the lab: its tables of tests and the names in the report.
 * @param argc as given to main().
 * @param argv as given to main().
 * @return the exit status: 0 when every test that ran passed, 1 otherwise,
 *         2 on a bad command line or environment (no `SOCKLAB_BIN`, an
 *         unreadable `SOCKLAB_SHIM`).
 */
int hn_main(const struct hn_lab *lab, int argc, char **argv);

/**
 * @brief A lab's precondition on the machine: can its tests run here?
 *
 * Lab 11 needs io_uring, which a kernel may lack or forbid (an old kernel,
 * `kernel.io_uring_disabled`, a container's seccomp profile). A test that
 * fails there would blame the student for the machine.
 * @return NULL when the tests can run; otherwise one line saying why not,
 *         such as `io_uring is not available on this machine: ...`, valid
 *         for the rest of the program.
 */
typedef const char *(*hn_unavailable_fn)(void);

/**
 * @brief hn_main() for a lab that needs something of the machine.
 *
 * The same as hn_main(), but before any test runs it calls @p unavailable
 * once. When that returns a reason, no test runs: each is listed as `SKIP`,
 * the report says the lab cannot be graded on this machine and why, the
 * plain line is `0 passed, 0 failed, N skipped`, the points line claims no
 * score (`labNN: not graded: ...`), and the exit status is 0, since nothing
 * failed. Results files, when asked for, list each test as not passed with
 * the reason as its message. `--list` and `--hints` never call it.
 * @param lab the lab, as for hn_main().
 * @param unavailable the precondition, or NULL for none (then this is
 *        hn_main()).
 * @param argc as given to main().
 * @param argv as given to main().
 * @return as hn_main(); 0 when every test was skipped.
 */
int hn_main_if_available(const struct hn_lab *lab, hn_unavailable_fn unavailable, int argc,
                         char **argv);

/**
 * @brief The test now running (inside a test only).
 *
 * Lets a function shared by several rows read its row's hn_test::param.
 * @return the row of the running test, or NULL outside a test.
 */
const struct hn_test *hn_current(void);

/**
 * @brief The lab now running (inside a test only).
 * @return the lab given to hn_main().
 */
const struct hn_lab *hn_current_lab(void);

/**
 * @brief Scale a time bound by `SOCKLAB_TIME_SCALE` (default 1).
 * @param ms a time in milliseconds that suits an unsanitized build.
 * @return the time to use.
 */
int hn_ms(int ms);

/**
 * @brief Milliseconds on the monotonic clock, for deadlines inside a test.
 * @return the time; only differences between two calls mean anything.
 */
long long hn_now_ms(void);

/**
 * @brief Set the test process's own soft limit on open descriptors.
 *
 * Tests that hold thousands of client sockets need more than the usual
 * 1024; a value over the hard limit raises the hard limit too where the
 * process may (root), and is capped at it otherwise.
 * @param soft the limit wanted.
 * @return the soft limit now in force, or -1 with errno set.
 */
long hn_set_nofile(long soft);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Failing with a message a student can act on
 *
 * @par Example
 * @snippet harness_tour.c failing
 */
/** @{ */

/**
 * @brief Fail the running test.
 *
 * The message should say what was sent, what was expected and what came
 * back; hn_fail() adds the test's hint and the tail of the standard error of
 * every program the test started, then aborts the test.
 * @param fmt printf-style format.
 */
void hn_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/**
 * @brief Fail with a standard three-part message: sent, expected, got.
 *
 * Byte strings are shown escaped and shortened (hn_show()), and the first
 * differing offset is named.
 * @param what one line saying what went wrong, e.g. `the echo differs`.
 * @param sent description of what the test sent.
 * @param expected the bytes expected.
 * @param explen their number.
 * @param got the bytes received.
 * @param gotlen their number.
 */
void hn_fail_bytes(const char *what, const char *sent, const void *expected,
                   size_t explen, const void *got, size_t gotlen)
    __attribute__((noreturn));

/**
 * @brief Render bytes for a message: printable text in quotes with C escapes,
 *        shortened in the middle, and the total length.
 * @param data the bytes.
 * @param len their number.
 * @param out the caller's buffer.
 * @param outlen its size (at least 64).
 * @return @p out.
 */
char *hn_show(const void *data, size_t len, char *out, size_t outlen);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Programs under test
 *
 * @par Example
 * @snippet harness_tour.c programs
 */
/** @{ */

/** A running program started by hn_spawn(). Opaque. */
struct hn_proc;

/** How to start a program. Zero-initialise, then set what you need. */
struct hn_spawn_opts {
    const char *stdin_path;  /**< a file for standard input; NULL: a pipe
                                  the test writes with hn_proc_stdin() */
    const char *stdout_path; /**< a file for standard output; NULL: drained
                                  into the bounded log */
    bool no_shim;            /**< never preload the fault-injection shim */
};

/**
 * @brief Start `$SOCKLAB_BIN/prog` with @p args (or `prog` itself, when it
 *        holds a slash: a tool of the project such as build/tools/loadgen).
 *
 * The child gets its own process group, a parent-death signal (SIGKILL),
 * descriptors 0, 1 and 2 only, default signal dispositions and mask, no core
 * dumps and a cap on file size. A thread drains its standard output and
 * error. Fails the test if the program does not exist.
 * @param prog `server` or `client`, or a path with a slash.
 * @param args NULL-terminated arguments after the program name.
 * @param opts options, or NULL for the defaults.
 * @return the process; hn_stop() it, or let the runner clean up.
 */
struct hn_proc *hn_spawn(const char *prog, const char *const *args,
                         const struct hn_spawn_opts *opts);

/**
 * @brief Write `prog ARGS...` into @p buf, for a failure message.
 * @param prog the program name.
 * @param args NULL-terminated arguments.
 * @param buf where the line goes (truncated to fit).
 * @param cap the size of @p buf.
 * @return @p buf.
 */
const char *hn_command_line(const char *prog, const char *const *args, char *buf, size_t cap);

/**
 * @brief Run `$SOCKLAB_BIN/prog ARGS...` and wait for it to exit by itself.
 *
 * For command lines the program must refuse (a bad flag, a port in use):
 * fails the test, naming the command line, if it is still running after
 * @p timeout_ms.
 * @param prog `server` or `client`.
 * @param args NULL-terminated arguments after the program name.
 * @param timeout_ms how long it may take (scaled by hn_ms() here).
 * @param out receives the process, for hn_stderr_tail().
 * @return its wait status.
 */
int hn_run_to_exit(const char *prog, const char *const *args, int timeout_ms,
                   struct hn_proc **out);

/**
 * @brief Start `server -a ADDR -p 0 EXTRA...` and wait for its ready line.
 *
 * Fails the test, with what the server printed, when it exits, prints
 * something else first, or stays silent past the deadline.
 * @param addr the -a address, or NULL for 127.0.0.1.
 * @param extra NULL-terminated extra arguments, or NULL.
 * @return the running server; hn_port() tells its port.
 */
struct hn_proc *hn_start_server(const char *addr, const char *const *extra);

/**
 * @brief Wait for the ready line `listening on ADDR:PORT`.
 * @param p the program.
 * @param timeout_ms the deadline.
 * @return the port, or -1 (the reason is in hn_proc_why()).
 */
int hn_wait_ready(struct hn_proc *p, int timeout_ms);

/**
 * @brief The port from the ready line.
 *
 * The server is started with `-p 0`, so the kernel picks a free port and
 * the ready line is the only way to learn it.
 * @param p the program.
 * @return the port, or 0 before hn_wait_ready() succeeded.
 */
int hn_port(const struct hn_proc *p);

/**
 * @brief The address the server was started with.
 * @param p the program.
 * @return its `-a` address, `127.0.0.1` by default; valid while @p p lives.
 */
const char *hn_proc_addr(const struct hn_proc *p);

/**
 * @brief The process id, for the /proc inspectors such as hn_threads().
 * @param p the program.
 * @return its pid (in the grading sandbox, the program's own, not that of
 *         the bubblewrap process hn_spawn() started).
 */
pid_t hn_pid(const struct hn_proc *p);

/**
 * @brief The process id the program sees for itself (its getpid()): the same
 *        as hn_pid(), except in the grading sandbox, where the program has a
 *        PID namespace of its own. For matching what the program (or the
 *        fault shim inside it) writes about itself.
 * @param p the process.
 * @return its PID in its own namespace.
 */
pid_t hn_own_pid(const struct hn_proc *p);

/**
 * @brief Descriptor of the pipe to the program's standard input.
 * @param p the program.
 * @return the descriptor to write to, or -1 when it reads a file or the
 *         pipe was closed. Close it with hn_proc_close_stdin().
 */
int hn_proc_stdin(struct hn_proc *p);

/**
 * @brief Close the program's standard input pipe, so that it sees end of
 *        file: how a test tells a client its input is over.
 * @param p the program; closing twice does nothing.
 */
void hn_proc_close_stdin(struct hn_proc *p);

/**
 * @brief Wait for the program to exit.
 * @param p the program.
 * @param timeout_ms the deadline.
 * @param[out] status its wait status, as from waitpid().
 * @return 0 when it exited, -1 when it is still running at the deadline.
 */
int hn_wait_exit(struct hn_proc *p, int timeout_ms, int *status);

/**
 * @brief Describe a wait status for a message: `exit status 1`,
 *        `killed by signal 11 (Segmentation fault)`.
 * @param status a wait status, as from hn_wait_exit() or hn_stop().
 * @param out the caller's buffer.
 * @param outlen its size; the text is cut to fit.
 * @return @p out.
 */
char *hn_describe_status(int status, char *out, size_t outlen);

/**
 * @brief Send a signal to the program's whole process group.
 *
 * The group, not only the pid, so that children a server forked get it
 * too, even after the program itself has been reaped.
 * @param p the program.
 * @param sig the signal, e.g. SIGTERM.
 * @return 0, or -1 with errno set (ESRCH when nothing of the group is left).
 */
int hn_signal(struct hn_proc *p, int sig);

/**
 * @brief Stop the program: SIGTERM to its group, up to @p grace_ms to exit,
 *        then SIGKILL; reap it and stop draining.
 * @param p the program. It stays valid (its output can still be read, and
 *        hn_stop() may be called again) until hn_stop_all() frees it at the
 *        end of the test.
 * @param grace_ms how long SIGTERM has.
 * @return the wait status of the program.
 */
int hn_stop(struct hn_proc *p, int grace_ms);

/**
 * @brief What the program wrote to standard output so far: the first
 *        HN_LOG_HEAD_BYTES bytes kept, NUL-terminated.
 * @param p the program.
 * @param[out] len the number of bytes (may be NULL).
 * @return a copy the caller frees.
 */
char *hn_stdout_copy(struct hn_proc *p, size_t *len);

/**
 * @brief The last lines of the program's standard error, for messages.
 *
 * A few lines from the last #HN_LOG_TAIL_BYTES bytes kept: the end is where
 * a failing program says why.
 * @param p the program.
 * @return a copy the caller frees ("" when it wrote nothing).
 */
char *hn_stderr_tail(struct hn_proc *p);

/**
 * @brief Total bytes the program wrote to standard output, kept or not.
 * @param p the program.
 * @return the count, which may exceed #HN_LOG_HEAD_BYTES.
 */
size_t hn_stdout_total(struct hn_proc *p);

/**
 * @brief Wait until standard output contains @p needle.
 * @param p the program.
 * @param needle the text to look for in the kept output.
 * @param timeout_ms the deadline.
 * @return true if it appeared before the deadline; false at the deadline,
 *         or as soon as the program closed its standard output without it.
 */
bool hn_wait_stdout(struct hn_proc *p, const char *needle, int timeout_ms);

/**
 * @brief Why the last hn_wait_ready() failed, for a message.
 * @param p the program.
 * @return the reason; valid until the next call on @p p.
 */
const char *hn_proc_why(struct hn_proc *p);

/** Bytes of standard output kept from the start. */
#define HN_LOG_HEAD_BYTES (1024 * 1024)
/** Bytes of standard error kept from the end. */
#define HN_LOG_TAIL_BYTES (16 * 1024)

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Talking to a server: every call has a deadline
 *
 * @par Example
 * @snippet harness_tour.c talking
 */
/** @{ */

/**
 * @brief Connect a TCP socket to @p addr : @p port.
 * @param addr a literal such as `127.0.0.1` or `::1`.
 * @param port the port.
 * @param timeout_ms deadline for the handshake.
 * @return the descriptor (blocking, close-on-exec), or -1 with errno set.
 */
int hn_connect(const char *addr, int port, int timeout_ms);

/**
 * @brief Connect to the server, or fail the test saying so.
 *
 * Uses the address and port of the ready line, with a 3 s deadline (scaled
 * by hn_ms()).
 * @param server a server whose ready line has been seen, as from
 *        hn_start_server().
 * @return the descriptor.
 */
int hn_connect_or_fail(struct hn_proc *server);

/**
 * @brief Send all of @p len bytes with MSG_NOSIGNAL, waiting at most
 *        @p timeout_ms in all.
 *
 * MSG_NOSIGNAL, because a server that closed early must fail the test with a
 * message, not kill the test process with SIGPIPE.
 * @param fd a connected socket.
 * @param buf the bytes.
 * @param len their number.
 * @param timeout_ms the deadline for all of them.
 * @return bytes sent (fewer on timeout or error, with errno set: ETIMEDOUT
 *         for the deadline).
 */
size_t hn_send_all(int fd, const void *buf, size_t len, int timeout_ms);

/**
 * @brief Receive exactly @p len bytes, waiting at most @p timeout_ms in all.
 *
 * A stream socket may deliver the bytes in any number of pieces, so one
 * recv() is never enough.
 * @param fd a connected socket.
 * @param buf room for @p len bytes.
 * @param len how many to wait for.
 * @param timeout_ms the deadline for all of them.
 * @return bytes received: fewer on end of stream (errno 0), timeout
 *         (ETIMEDOUT) or error (errno set).
 */
size_t hn_recv_exact(int fd, void *buf, size_t len, int timeout_ms);

/** hn_transfer() gives up when nothing moved for this long (scaled). */
#define HN_IDLE_MS 3000

/** Options of hn_transfer(). */
struct hn_transfer_opts {
    int timeout_ms;    /**< deadline for the whole transfer */
    int read_pause_ms; /**< do not read for this long at first: a slow reader */
    bool shut_wr;      /**< shut down the sending side once all is sent */
};

/**
 * @brief Send @p outlen bytes and receive up to @p inlen at the same time.
 *
 * Sending and receiving together is what keeps a large echo from
 * deadlocking: neither side's buffers fill up for good. It gives up early,
 * with ETIMEDOUT, when nothing has moved for #HN_IDLE_MS.
 * @param fd a connected stream socket.
 * @param out the bytes to send.
 * @param outlen their number.
 * @param in where the bytes received go.
 * @param inlen how many to wait for.
 * @param opts options, or NULL for a 10 s deadline.
 * @return bytes received: fewer than @p inlen at end of stream (errno 0),
 *         timeout (ETIMEDOUT) or error (errno set).
 */
size_t hn_transfer(int fd, const void *out, size_t outlen, void *in, size_t inlen,
                   const struct hn_transfer_opts *opts);

/**
 * @brief Receive one line, up to and including `\n`, byte-exact.
 * @param fd the socket.
 * @param buf the caller's buffer; the line is NUL-terminated without `\n`.
 * @param cap its size.
 * @param timeout_ms the deadline.
 * @return the length without `\n`, or -1 (end of stream, timeout, a line
 *         that does not fit; errno says which: 0, ETIMEDOUT, EMSGSIZE).
 */
ssize_t hn_recv_line(int fd, char *buf, size_t cap, int timeout_ms);

/**
 * @brief Wait for the peer to close: true when recv() returns 0 (or
 *        ECONNRESET) before the deadline with no data first.
 * @param fd the socket.
 * @param timeout_ms the deadline.
 * @param[out] extra if not NULL, set to the number of unexpected bytes that
 *        arrived before the close.
 * @return true when the peer closed (or the socket failed, e.g. ECONNRESET)
 *         and no data came first; false when data came or the deadline
 *         passed.
 */
bool hn_expect_eof(int fd, int timeout_ms, size_t *extra);

/**
 * @brief Close with a reset: SO_LINGER of 0, then close(), so the peer gets
 *        RST instead of FIN.
 *
 * How a test plays a client that vanishes abruptly: the server's next
 * recv() or send() fails with ECONNRESET or EPIPE, and it must survive.
 * @param fd the connected socket; closed.
 */
void hn_close_reset(int fd);

/**
 * @brief Fill @p buf with a reproducible byte pattern.
 * @param buf the buffer.
 * @param len its size.
 * @param seed selects the pattern; the same seed gives the same bytes.
 */
void hn_pattern(void *buf, size_t len, uint32_t seed);

/**
 * @brief Create a file of @p len pattern bytes in the test's temporary folder.
 *
 * Fails the test if the file cannot be written.
 * @param len the file's size.
 * @param seed selects the pattern; the first MiB is hn_pattern() of @p seed,
 *        and each later MiB has its own seed, so a shifted copy never
 *        matches.
 * @return its path, to free.
 */
char *hn_pattern_file(size_t len, uint32_t seed);

/**
 * @brief A fresh path in the test program's temporary folder (removed when
 *        the program ends).
 * @param name a short name for the file.
 * @return the path, to free.
 */
char *hn_temp_path(const char *name);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name Inspecting a process through /proc
 *
 * @par Example
 * @snippet harness_tour.c inspecting
 */
/** @{ */

/**
 * @brief Number of the process's own threads (the tasks of /proc/PID/task).
 *
 * Kernel io_uring workers (`iou-wrk-*`, flagged PF_IO_WORKER), which the
 * kernel starts on the process's behalf, are not counted (SPEC, lab 11).
 * @param pid the process.
 * @return the count, or -1 when it cannot be read (no such process).
 */
int hn_threads(pid_t pid);

/**
 * @brief The process's own threads and the CPU time each has used.
 *
 * What lab 12 checks to see that every event-loop thread does work. Kernel
 * io_uring workers are left out, as in hn_threads().
 * @param pid the process.
 * @param[out] tids thread ids, up to @p max of them; may be NULL.
 * @param[out] cpu_s user plus system time of each, in seconds; may be NULL.
 * @param max room in @p tids and @p cpu_s.
 * @return how many threads there are (possibly more than @p max), or -1
 *         when /proc/PID/task cannot be read.
 */
int hn_tasks(pid_t pid, pid_t *tids, double *cpu_s, int max);

/**
 * @brief Voluntary plus involuntary context switches of the main thread so
 *        far (/proc/PID/status).
 *
 * A loop that spins on a call that fails at once shows as CPU time; one
 * that also blocks now and then shows as thousands of wake-ups a second.
 * @param pid the process.
 * @return the count, or -1 when it cannot be read.
 */
long hn_context_switches(pid_t pid);

/**
 * @brief Child processes of @p pid (scans /proc/ * /stat for the parent id).
 * @param pid the parent.
 * @param[out] out their ids (may be NULL).
 * @param max room in @p out.
 * @return how many there are (possibly more than @p max).
 */
int hn_children(pid_t pid, pid_t *out, int max);

/**
 * @brief The processes below a process: its children, their children, and
 *        so on, read from /proc in one pass.
 *
 * Unlike hn_children(), it reaches a whole chain or tree at once, so that
 * one sweep can end every process a program left behind.
 * @param pid the process whose descendants are wanted.
 * @param out receives up to max process ids, parents before children.
 * @param max room in out.
 * @return how many descendants there are (possibly more than max), or -1.
 */
int hn_descendants(pid_t pid, pid_t *out, int max);

/**
 * @brief How many of @p pid's descriptors link to @p target in /proc/PID/fd.
 *
 * An epoll instance links to `anon_inode:[eventpoll]`, an io_uring to
 * `anon_inode:[io_uring]`, an eventfd to `anon_inode:[eventfd]`: this is how
 * a test sees which kernel objects a server made.
 * @param pid the process.
 * @param target the exact link text.
 * @param[out] fd_out the highest-numbered such descriptor (may be NULL;
 *        untouched when there is none).
 * @return the count (0 also when /proc cannot be read).
 */
int hn_fd_links(pid_t pid, const char *target, int *fd_out);

/**
 * @brief Number of children of @p pid that are zombies (state Z).
 *
 * A zombie is a child that exited and was never waited for: a server that
 * forks must reap its children, or they pile up.
 * @param pid the parent.
 * @return the count, or -1 when /proc cannot be read.
 */
int hn_zombies(pid_t pid);

/**
 * @brief Number of open descriptors (entries of /proc/PID/fd).
 *
 * Compared before and after many clients, it shows a descriptor leak.
 * @param pid the process.
 * @return the count, or -1 when it cannot be read.
 */
int hn_fd_count(pid_t pid);

/**
 * @brief The descriptors of @p pid that are sockets.
 * @param pid the process.
 * @param[out] out their numbers.
 * @param max room in @p out.
 * @return how many there are, or -1.
 */
int hn_socket_fds(pid_t pid, int *out, int max);

/**
 * @brief The `flags:` of /proc/PID/fdinfo/FD (open flags, such as O_NONBLOCK).
 *
 * Lets a test check a flag the program set on itself, such as O_NONBLOCK on
 * an event loop's sockets or O_CLOEXEC.
 * @param pid the process.
 * @param fd one of its descriptors.
 * @param[out] flags the flags, as the open(2) O_* bits.
 * @return 0 with the flags in @p flags, or -1.
 */
int hn_fd_flags(pid_t pid, int fd, unsigned *flags);

/**
 * @brief The process's CPU time, user plus system, in seconds.
 *
 * An idle server should use almost none: much CPU while it waits means a
 * busy loop instead of a blocking call.
 * @param pid the process.
 * @return the time, or -1 when /proc/PID/stat cannot be read.
 */
double hn_cpu_seconds(pid_t pid);

/**
 * @brief Resident set size (VmRSS of /proc/PID/status) in KiB.
 *
 * Shows whether memory stays bounded under a large or endless input.
 * @param pid the process.
 * @return the size, or -1 when it cannot be read.
 */
long hn_rss_kib(pid_t pid);

/**
 * @brief A field of /proc/PID/status given in KiB, such as `VmSize` (the
 *        whole address space, thread stacks included, touched or not) or
 *        `VmRSS`.
 *
 * VmSize after many short-lived threads shows a thread that was neither
 * joined nor detached: its stack stays mapped after it ends.
 * @param pid the process.
 * @param field the field's name, without the colon.
 * @return the value in KiB, or -1 when it cannot be read.
 */
long hn_status_kib(pid_t pid, const char *field);

/**
 * @brief How many thread stacks pthreads has mapped in a process: the
 *        anonymous one-page guards (`---p`) of /proc/PID/maps, one below
 *        each stack.
 *
 * A thread that ended unjoined and undetached keeps its stack and its
 * guard, so the count grows by one per such thread; a joined or detached
 * thread's stack is unmapped or reused by the next thread. Unlike VmSize,
 * the count does not move when malloc opens another arena (64 MiB of
 * address space each) for threads that overlap.
 * @param pid the process.
 * @return the number of stacks, or -1 when the maps cannot be read.
 */
int hn_thread_stacks(pid_t pid);

/**
 * @brief The signals thread @p tid of process @p pid blocks (`SigBlk:` of
 *        /proc/PID/task/TID/status), bit N-1 for signal N.
 * @param pid the process.
 * @param tid one of its threads (from hn_tasks()).
 * @return the mask, or -1 when it cannot be read (the thread ended).
 */
long long hn_thread_sigblk(pid_t pid, pid_t tid);

/**
 * @brief The one-letter state of the process in /proc/PID/stat.
 * @param pid the process.
 * @return R, S, D, Z, T..., or `?` when it cannot be read.
 */
char hn_state(pid_t pid);

/**
 * @brief Wait until every thread of @p pid sleeps (state S): it is blocked
 *        in a system call such as accept() or recv().
 *
 * The state must hold on two looks 2 ms apart, so a thread caught between
 * two calls is not taken for a blocked one.
 * @param pid the process.
 * @param timeout_ms the deadline (not scaled: pass hn_ms() of it).
 * @return true if that happened before the deadline.
 */
bool hn_wait_blocked(pid_t pid, int timeout_ms);

/** @} */

/* ------------------------------------------------------------------------ */
/**
 * @name The grading sandbox
 *
 * When the grader sets `SOCKLAB_SANDBOX` (tools/grade does), the autograder
 * treats the programs it tests as hostile: hn_main() calls
 * hn_sandbox_enter() before anything else, and hn_spawn() then starts each
 * program inside the sandbox. Tests need do nothing: hn_pid() still gives
 * the program's own process id, which the /proc inspectors read from
 * outside. See "The grading sandbox" in docs/instructors.md.
 */
/** @{ */

/** Where submitted programs run. */
enum hn_sandbox_mode {
    HN_SANDBOX_OFF,  /**< as the grader itself: a student's own machine */
    HN_SANDBOX_NS,   /**< under bubblewrap, in namespaces of their own */
    HN_SANDBOX_USER, /**< as an unprivileged user of their own (the fallback) */
};

/** The most paths of each kind a sandbox view holds. */
#define HN_SANDBOX_MAX_PATHS 8

/** What a sandboxed program sees of the machine besides the system's
 *  programs and libraries. Zero-initialise, then set what you need. */
struct hn_sandbox_view {
    const char *read_only[HN_SANDBOX_MAX_PATHS + 1]; /**< absolute paths, NULL-terminated */
    const char *writable[HN_SANDBOX_MAX_PATHS + 1];  /**< absolute paths, NULL-terminated */
    const char *cwd;  /**< its working directory; NULL: its private /tmp */
    bool no_network;  /**< not even the grader's private loopback */
};

/**
 * @brief Enter the sandbox mode `SOCKLAB_SANDBOX` asks for: `off` (or
 *        unset), `ns`, `user`, or `auto` (`ns` where it works, else `user`).
 *
 * `ns` moves this process into a user and network namespace of its own
 * (so the loopback the tests use is private) and checks that bubblewrap can
 * start a program here; `user` needs root and uses `SOCKLAB_SANDBOX_UID`
 * (default 65534), and a private network namespace where one can be made.
 * Call it once, before any thread or program is started.
 * @param why where the reason goes when it fails.
 * @param cap the size of @p why.
 * @return 0 in the mode asked for, -1 when it cannot be had here.
 */
int hn_sandbox_enter(char *why, size_t cap);

/** @brief The mode hn_sandbox_enter() entered. @return the mode. */
enum hn_sandbox_mode hn_sandbox_mode(void);

/** @brief One line saying what the sandbox does on this machine, for
 *         reports. @return a static string. */
const char *hn_sandbox_describe(void);

/**
 * @brief The command line that runs @p cmd under bubblewrap with @p view.
 * @param cmd the program (an absolute path) and its arguments,
 *        NULL-terminated.
 * @param view what it may see, or NULL for nothing but the system.
 * @param argv where the command line goes, NULL-terminated.
 * @param cap the number of slots of @p argv.
 * @param store room for the strings the command line needs.
 * @param store_cap the size of @p store.
 * @return the number of arguments written (less than @p cap).
 */
size_t hn_sandbox_argv(const char *const *cmd, const struct hn_sandbox_view *view,
                       const char **argv, size_t cap, char *store, size_t store_cap);

/**
 * @brief Whether a sandboxed program keeps this entry of the environment:
 *        PATH, the locale, and the autograder's own variables.
 * @param entry `NAME=value`.
 * @return true to keep it.
 */
bool hn_sandbox_env_allowed(const char *entry);

/**
 * @brief In `user` mode, become the sandbox's user for good (groups, gid,
 *        uid, no new privileges); nothing in the other modes.
 *        Async-signal-safe: call it between fork() and execve().
 * @return 0, or -1 if a step failed (the child must not run then).
 */
int hn_sandbox_drop_privileges(void);

/** @brief The user id of `user` mode. @return the uid. */
uid_t hn_sandbox_uid(void);

/**
 * @brief In `user` mode, a Landlock ruleset (landlock(7)) that lets a
 *        program read only the system's files, /proc, /dev and @p view's
 *        paths, write only @p view's writable paths, and (Landlock 6)
 *        signal only its own processes.
 * @param view what the program may see besides the system.
 * @return the ruleset's descriptor, for hn_sandbox_restrict() in the child;
 *         -1 in other modes or where the kernel has no Landlock.
 */
int hn_sandbox_landlock(const struct hn_sandbox_view *view);

/**
 * @brief Put the calling process under @p ruleset for good (the process
 *        must have no new privileges, or CAP_SYS_ADMIN). Async-signal-safe.
 * @param ruleset from hn_sandbox_landlock(), or -1 for nothing.
 * @return 0, or -1 with errno set.
 */
int hn_sandbox_restrict(int ruleset);

/**
 * @brief prlimit(2) on a program under test, also in `user` mode on a
 *        machine whose root lacks CAP_SYS_RESOURCE (then a helper process
 *        asks as the program's own user, which may lower its limits).
 * @param pid the program, hn_pid().
 * @param resource an RLIMIT_ constant.
 * @param limit the new limit.
 * @return 0, or -1 with errno set.
 */
int hn_prlimit(pid_t pid, int resource, const struct rlimit *limit);

/** @} */

#endif /* SOCKLAB_HARNESS_H */
