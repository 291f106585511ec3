/*
 * sl_err.c: reporting errors, in two layers.
 *
 * The die layer (sl_die, sl_die_errno, sl_usage_error) prints
 * `prog: call: reason` on standard error and exits: right for start-up code
 * and for clients, where a failed call ends the program anyway. The status
 * layer (sl_set_err, sl_warn_errno) only describes the failure, into a
 * caller's buffer or on standard error, and lets the caller decide: a server
 * must never exit because one client misbehaved.
 *
 * Every message names the call that failed and its argument, then the reason
 * strerror(3) gives for errno, TLPI-style: `bind 127.0.0.1:50006: Address
 * already in use` tells the reader what to fix.
 *
 * Read: errno(3), strerror(3), exit(3), stdarg(3).
 */
#include "socklab.h"

/* The one piece of state in this file: it points into argv[0], which lives
 * as long as the program, so there is nothing to copy or free. */
static const char *progname = "socklab";

void sl_set_progname(const char *argv0)
{
    if (argv0 == NULL || argv0[0] == '\0')
        return;
    const char *slash = strrchr(argv0, '/');
    if (slash != NULL && slash[1] != '\0')
        progname = slash + 1;
    else if (slash == NULL)
        progname = argv0;
}

const char *sl_progname(void)
{
    return progname;
}

/* strerror() may share a buffer between threads for unknown values; the GNU
 * strerror_r() returns either a constant string or one written into buf. */
static const char *describe_errno(int errnum, char *buf, size_t buflen)
{
    return strerror_r(errnum, buf, buflen);
}

/* Print `prog: MESSAGE` and, when errnum is not 0, `: reason`, as one write
 * to standard error, so that lines from several processes do not mix. */
__attribute__((format(printf, 2, 0))) static void print_diagnostic(int errnum, const char *fmt,
                                                                   va_list ap)
{
    char message[512];
    int len = snprintf(message, sizeof message, "%s: ", progname);
    if (len < 0)
        return;
    if ((size_t)len < sizeof message)
        vsnprintf(message + len, sizeof message - (size_t)len, fmt, ap);

    char reason_buf[128];
    const char *reason =
        errnum != 0 ? describe_errno(errnum, reason_buf, sizeof reason_buf) : NULL;
    if (reason != NULL)
        fprintf(stderr, "%s: %s\n", message, reason);
    else
        fprintf(stderr, "%s\n", message);
}

void sl_die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_diagnostic(0, fmt, ap);
    va_end(ap);
    exit(status);
}

void sl_die_errno(const char *fmt, ...)
{
    int saved_errno = errno; /* the formatting below could change it */
    va_list ap;
    va_start(ap, fmt);
    print_diagnostic(saved_errno, fmt, ap);
    va_end(ap);
    exit(SL_EXIT_RUNTIME);
}

void sl_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_diagnostic(0, fmt, ap);
    va_end(ap);
    fprintf(stderr, "usage: %s %s\n", progname, usage != NULL ? usage : "");
    exit(SL_EXIT_USAGE);
}

void sl_set_err(char *err, size_t errlen, int errnum, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;

    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (len < 0) {
        err[0] = '\0';
        return;
    }
    if (errnum == 0 || (size_t)len >= errlen)
        return; /* no reason to add, or no room left for it */

    char reason_buf[128];
    const char *reason = describe_errno(errnum, reason_buf, sizeof reason_buf);
    snprintf(err + len, errlen - (size_t)len, ": %s", reason);
}

void sl_warn_errno(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    print_diagnostic(saved_errno, fmt, ap);
    va_end(ap);
    errno = saved_errno;
}
