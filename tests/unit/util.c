/*
 * util.c: helpers shared by the unit tests (see unit.h).
 */
#include "unit.h"

#include <poll.h>
#include <sys/wait.h>
#include <time.h>

double unit_scaled(double seconds)
{
    const char *scale = getenv("SOCKLAB_TIME_SCALE");
    double factor = scale != NULL ? atof(scale) : 1.0;
    return seconds * (factor >= 1.0 ? factor : 1.0);
}

TCase *unit_tcase(const char *name, double seconds)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, unit_scaled(seconds));
    return tc;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child's end: standard output and error become the pipes. */
static void become_child(int out_fd, int err_fd, void (*fn)(void *), void *arg)
{
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    fn(arg);
    exit(0);
}

/* Append what is readable on fd to text; false once it reached end of file. */
static bool collect(int fd, char *text, size_t cap, size_t *len)
{
    char scratch[512];
    bool has_room = *len + 1 < cap;
    char *dest = has_room ? text + *len : scratch;
    size_t room = has_room ? cap - 1 - *len : sizeof scratch;
    ssize_t n = read(fd, dest, room);
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    if (has_room) {
        *len += (size_t)n;
        text[*len] = '\0';
    }
    return true;
}

static int wait_status(pid_t pid, double deadline)
{
    for (;;) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (now_seconds() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(1000);
    }
}

void unit_run_child(void (*fn)(void *), void *arg, struct unit_child *child)
{
    memset(child, 0, sizeof *child);
    int out[2], err[2];
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(err), 0);
    fflush(NULL); /* or the child would print our buffered output again */

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(out[0]);
        close(err[0]);
        become_child(out[1], err[1], fn, arg);
    }
    close(out[1]);
    close(err[1]);

    double deadline = now_seconds() + unit_scaled(5);
    size_t out_len = 0, err_len = 0;
    struct pollfd pfd[2] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}};
    while ((pfd[0].fd >= 0 || pfd[1].fd >= 0) && now_seconds() < deadline) {
        if (poll(pfd, 2, 50) <= 0)
            continue;
        if (pfd[0].revents && !collect(out[0], child->out, sizeof child->out, &out_len))
            pfd[0].fd = -1;
        if (pfd[1].revents && !collect(err[0], child->err, sizeof child->err, &err_len))
            pfd[1].fd = -1;
    }
    close(out[0]);
    close(err[0]);
    child->exit_status = wait_status(pid, deadline);
}

void unit_join(pthread_t thread, double seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    double whole = unit_scaled(seconds);
    deadline.tv_sec += (time_t)whole;
    int rc = pthread_timedjoin_np(thread, NULL, &deadline);
    ck_assert_msg(rc == 0, "a helper thread did not finish within %.0f s (%s)", whole,
                  strerror(rc));
}

unsigned unit_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
