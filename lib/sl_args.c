/*
 * sl_args.c: the command line, the ready line, and stopping on a signal.
 *
 * Every socklab program takes `-a ADDR -p PORT` and perhaps a few options of
 * its own; sl_parse_args() handles the shared part with getopt(3) and hands
 * the rest to the program, so that a bad command line gets the same answer
 * everywhere: the reason, the usage line, exit status 2.
 *
 * A server announces that it is ready with one line on standard output,
 * `listening on 127.0.0.1:50006`, naming the port it really got (with port 0
 * the kernel picks one, and only getsockname() knows which).
 *
 * A server stops on SIGINT or SIGTERM. Its handler only sets a flag: almost
 * nothing is safe to call inside a signal handler (signal-safety(7)), and
 * the main loop is in a better position to close what it holds. The handler
 * is installed without SA_RESTART so that a blocking accept() returns EINTR
 * and the loop gets to look at the flag.
 *
 * Read: getopt(3), strtol(3), getsockname(2), sigaction(2),
 * signal-safety(7).
 */
#include "socklab.h"

#define SHARED_OPTSTRING "ha:p:"
#define SHARED_USAGE "[-a ADDR] [-p PORT]"

/* The only state besides the program name: set by the handler, read by the
 * main loop. volatile sig_atomic_t is the one type a handler may write and
 * the program read safely. */
static volatile sig_atomic_t stop_requested;

static void record_stop(int signo)
{
    (void)signo;
    stop_requested = 1;
}

int sl_install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking calls must return EINTR */
    if (sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    return sigaction(SIGTERM, &sa, NULL);
}

bool sl_stop_requested(void)
{
    return stop_requested != 0;
}

int sl_parse_int(const char *arg, long min, long max, long *out)
{
    if (arg == NULL)
        return -1;
    /* strtol() would skip leading blanks and accept a '+'; an option
     * argument is digits, with at most a minus sign in front. */
    const char *digits = arg[0] == '-' ? arg + 1 : arg;
    if (*digits < '0' || *digits > '9')
        return -1;

    int saved_errno = errno;
    errno = 0;
    char *end;
    long value = strtol(arg, &end, 10);
    bool overflow = errno == ERANGE;
    errno = saved_errno;
    if (overflow || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

int sl_print_ready(int fd)
{
    char addr[SL_ADDR_BYTES];
    if (sl_sock_local(fd, addr, sizeof addr) == NULL)
        return -1;
    if (printf("listening on %s\n", addr) < 0)
        return -1;
    /* Standard output is a pipe under the autograder, and a pipe is fully
     * buffered: without the flush the line would wait in our buffer while
     * the autograder waits for it. */
    return fflush(stdout) == 0 ? 0 : -1;
}

/* The pieces sl_parse_args() needs to build its messages. */
struct arg_parser {
    char optstring[64];
    char usage[192];
};

/* sl_usage_error() with the usage line of this command line. */
__attribute__((noreturn, format(printf, 2, 3))) static void
usage_error(const struct arg_parser *p, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    sl_usage_error(p->usage, "%s", message);
}

static void build_parser(struct arg_parser *p, const char *extra_optstring,
                         const char *extra_usage)
{
    /* '+': stop at the first operand, whatever POSIXLY_CORRECT says.
     * ':': getopt returns ':' for a missing argument and prints nothing,
     * so that every message has the same form. */
    int n = snprintf(p->optstring, sizeof p->optstring, "+:%s%s", SHARED_OPTSTRING,
                     extra_optstring != NULL ? extra_optstring : "");
    if (n < 0 || (size_t)n >= sizeof p->optstring)
        sl_die(SL_EXIT_USAGE, "sl_parse_args: option string too long");

    if (extra_usage != NULL && extra_usage[0] != '\0')
        snprintf(p->usage, sizeof p->usage, "%s %s", SHARED_USAGE, extra_usage);
    else
        snprintf(p->usage, sizeof p->usage, "%s", SHARED_USAGE);
}

static void parse_port(const struct arg_parser *p, const char *arg)
{
    long port;
    if (sl_parse_int(arg, 0, 65535, &port) < 0)
        usage_error(p, "invalid port '%s' (expected a number from 0 to 65535)", arg);
}

/* One of the program's own options: hand it over, and turn a refusal into
 * a usage error. */
static void handle_extra(const struct arg_parser *p, int opt, const char *arg,
                         sl_opt_handler handler, void *ctx)
{
    if (handler == NULL || handler(opt, arg, ctx) == 0)
        return;
    if (arg == NULL)
        usage_error(p, "option -%c is not allowed here", opt);
    usage_error(p, "invalid argument '%s' for -%c", arg, opt);
}

void sl_parse_args(int argc, char **argv, const char *default_port, const char *extra_optstring,
                   const char *extra_usage, sl_opt_handler handler, void *ctx,
                   struct sl_opts *opts)
{
    sl_set_progname(argc > 0 ? argv[0] : NULL);
    opts->addr = "127.0.0.1";
    opts->port = default_port;

    struct arg_parser p;
    build_parser(&p, extra_optstring, extra_usage);

    /* optind = 0 makes glibc's getopt start afresh (it also forgets where it
     * was inside a group like -ab), so the parser can run more than once. */
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt(argc, argv, p.optstring)) != -1) {
        switch (opt) {
        case 'h': printf("usage: %s %s\n", sl_progname(), p.usage); exit(0);
        case 'a': opts->addr = optarg; break;
        case 'p':
            parse_port(&p, optarg);
            opts->port = optarg;
            break;
        case ':': usage_error(&p, "option -%c needs an argument", optopt);
        case '?': usage_error(&p, "unknown option -%c", optopt);
        default: handle_extra(&p, opt, optarg, handler, ctx); break;
        }
    }
    if (optind < argc)
        usage_error(&p, "unexpected argument '%s'", argv[optind]);
}
