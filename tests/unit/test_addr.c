/*
 * test_addr.c: lib/sl_addr.c, resolving, printing and comparing addresses.
 *
 * Only literals and names that fail before any lookup are used, so that no
 * test depends on DNS.
 */
#include "unit.h"

#include <sys/un.h>

static struct sockaddr_in make_in(const char *host, unsigned port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
    return sin;
}

static struct sockaddr_in6 make_in6(const char *host, unsigned port)
{
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof sin6);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons((uint16_t)port);
    ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6.sin6_addr), 1);
    return sin6;
}

#define SA(x) ((const struct sockaddr *)&(x))

START_TEST(format_ipv4)
{
    struct sockaddr_in sin = make_in("127.0.0.1", 50006);
    char out[SL_ADDR_BYTES];
    ck_assert_ptr_eq(sl_addr_format(SA(sin), sizeof sin, out, sizeof out), out);
    ck_assert_str_eq(out, "127.0.0.1:50006");
}
END_TEST

START_TEST(format_ipv6_in_brackets)
{
    struct sockaddr_in6 sin6 = make_in6("::1", 50006);
    char out[SL_ADDR_BYTES];
    ck_assert_str_eq(sl_addr_format(SA(sin6), sizeof sin6, out, sizeof out), "[::1]:50006");

    sin6 = make_in6("2001:db8::42", 0);
    ck_assert_str_eq(sl_addr_format(SA(sin6), sizeof sin6, out, sizeof out),
                     "[2001:db8::42]:0");
}
END_TEST

START_TEST(format_ipv4_mapped)
{
    struct sockaddr_in6 sin6 = make_in6("::ffff:1.2.3.4", 80);
    char out[SL_ADDR_BYTES];
    ck_assert_str_eq(sl_addr_format(SA(sin6), sizeof sin6, out, sizeof out),
                     "[::ffff:1.2.3.4]:80");
}
END_TEST

START_TEST(format_unknown_family_or_short_length)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    char out[SL_ADDR_BYTES];
    ck_assert_str_eq(sl_addr_format(SA(sun), sizeof sun, out, sizeof out), "?");

    struct sockaddr_in sin = make_in("127.0.0.1", 1);
    ck_assert_str_eq(sl_addr_format(SA(sin), 4, out, sizeof out), "?");
}
END_TEST

START_TEST(format_truncates_to_the_buffer)
{
    struct sockaddr_in sin = make_in("127.0.0.1", 50006);
    char out[8];
    sl_addr_format(SA(sin), sizeof sin, out, sizeof out);
    ck_assert_str_eq(out, "127.0.0");
}
END_TEST

/* The first result of sl_resolve(), formatted. */
static void resolve_first(const char *host, const char *port, bool passive, const char *want)
{
    struct addrinfo *res = NULL;
    char err[SL_ERR_BYTES] = "";
    ck_assert_msg(sl_resolve(host, port, SOCK_STREAM, passive, &res, err, sizeof err) == 0,
                  "sl_resolve(%s, %s): %s", host, port, err);
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(res->ai_socktype, SOCK_STREAM);
    char out[SL_ADDR_BYTES];
    ck_assert_str_eq(sl_addr_format(res->ai_addr, res->ai_addrlen, out, sizeof out), want);
    freeaddrinfo(res);
}

START_TEST(resolve_literals)
{
    resolve_first("127.0.0.1", "50006", false, "127.0.0.1:50006");
    resolve_first("::1", "50006", false, "[::1]:50006");
    resolve_first("0.0.0.0", "0", true, "0.0.0.0:0");
    resolve_first("::", "65535", true, "[::]:65535");
}
END_TEST

START_TEST(resolve_failure_names_the_host)
{
    struct addrinfo *res = (struct addrinfo *)&res; /* must be reset */
    char err[SL_ERR_BYTES];
    /* An empty label: glibc rejects the name without asking DNS. */
    ck_assert_int_eq(
        sl_resolve("no..such.host", "80", SOCK_STREAM, false, &res, err, sizeof err), -1);
    ck_assert_ptr_null(res);
    ck_assert_str_eq(err, "getaddrinfo no..such.host: Name or service not known");
}
END_TEST

START_TEST(resolve_rejects_a_service_name)
{
    struct addrinfo *res = NULL;
    char err[SL_ERR_BYTES];
    /* Ports are numbers (AI_NUMERICSERV): "http" is not looked up. */
    ck_assert_int_eq(sl_resolve("127.0.0.1", "http", SOCK_STREAM, false, &res, err, sizeof err),
                     -1);
    ck_assert_ptr_null(res);
    ck_assert_msg(strncmp(err, "getaddrinfo 127.0.0.1: ", 23) == 0, "err: %s", err);
}
END_TEST

/* Rows of the sl_addr_equal() table: two endpoints and whether they match. */
struct equal_row {
    const char *a_host;
    unsigned a_port;
    const char *b_host;
    unsigned b_port;
    bool equal;
};

// clang-format off
static const struct equal_row equal_rows[] = {
    {"127.0.0.1", 50002, "127.0.0.1", 50002, true},
    {"127.0.0.1", 50002, "127.0.0.1", 50003, false},
    {"127.0.0.1", 50002, "127.0.0.2", 50002, false},
    {"::1", 50002, "::1", 50002, true},
    {"::1", 50002, "::1", 1, false},
    {"::1", 50002, "127.0.0.1", 50002, false},
    {"::ffff:127.0.0.1", 50002, "127.0.0.1", 50002, true},
    {"127.0.0.1", 50002, "::ffff:127.0.0.1", 50002, true},
    {"::ffff:127.0.0.1", 50002, "127.0.0.1", 50003, false},
    {"::ffff:127.0.0.1", 50002, "::ffff:127.0.0.1", 50002, true},
};
// clang-format on

/* A sockaddr for host and port, of whichever family the literal is. */
static socklen_t make_any(const char *host, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(host, ':') != NULL) {
        struct sockaddr_in6 sin6 = make_in6(host, port);
        memcpy(ss, &sin6, sizeof sin6);
        return sizeof sin6;
    }
    struct sockaddr_in sin = make_in(host, port);
    memcpy(ss, &sin, sizeof sin);
    return sizeof sin;
}

START_TEST(addr_equal_table)
{
    const struct equal_row *row = &equal_rows[_i];
    struct sockaddr_storage a, b;
    socklen_t alen = make_any(row->a_host, row->a_port, &a);
    socklen_t blen = make_any(row->b_host, row->b_port, &b);
    ck_assert_msg(sl_addr_equal(SA(a), alen, SA(b), blen) == row->equal,
                  "sl_addr_equal(%s port %u, %s port %u) should be %s", row->a_host,
                  row->a_port, row->b_host, row->b_port, row->equal ? "true" : "false");
}
END_TEST

START_TEST(addr_equal_rejects_other_families)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    ck_assert(!sl_addr_equal(SA(sun), sizeof sun, SA(sun), sizeof sun));
    struct sockaddr_in sin = make_in("127.0.0.1", 1);
    ck_assert(!sl_addr_equal(SA(sin), 2, SA(sin), sizeof sin));
}
END_TEST

START_TEST(local_and_peer_of_a_connection)
{
    char err[SL_ERR_BYTES];
    int lfd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 4, err, sizeof err);
    ck_assert_msg(lfd >= 0, "%s", err);
    char port[16], local[SL_ADDR_BYTES], peer[SL_ADDR_BYTES], want[SL_ADDR_BYTES];
    snprintf(port, sizeof port, "%u", unit_local_port(lfd));
    snprintf(want, sizeof want, "127.0.0.1:%s", port);
    ck_assert_str_eq(sl_sock_local(lfd, local, sizeof local), want);

    int cfd = sl_connect("127.0.0.1", port, SOCK_STREAM, err, sizeof err);
    ck_assert_msg(cfd >= 0, "%s", err);
    ck_assert_str_eq(sl_sock_peer(cfd, peer, sizeof peer), want);

    int afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    ck_assert_str_eq(sl_sock_peer(afd, peer, sizeof peer),
                     sl_sock_local(cfd, local, sizeof local));
    close(afd);
    close(cfd);
    close(lfd);
}
END_TEST

START_TEST(local_and_peer_report_errors)
{
    char out[SL_ADDR_BYTES];
    errno = 0;
    ck_assert_ptr_null(sl_sock_local(-1, out, sizeof out));
    ck_assert_int_eq(errno, EBADF);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_null(sl_sock_peer(fd, out, sizeof out)); /* not connected */
    ck_assert_int_eq(errno, ENOTCONN);
    close(fd);
}
END_TEST

Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = unit_tcase("format", 10);
    tcase_add_test(tc, format_ipv4);
    tcase_add_test(tc, format_ipv6_in_brackets);
    tcase_add_test(tc, format_ipv4_mapped);
    tcase_add_test(tc, format_unknown_family_or_short_length);
    tcase_add_test(tc, format_truncates_to_the_buffer);
    suite_add_tcase(s, tc);

    tc = unit_tcase("resolve", 10);
    tcase_add_test(tc, resolve_literals);
    tcase_add_test(tc, resolve_failure_names_the_host);
    tcase_add_test(tc, resolve_rejects_a_service_name);
    suite_add_tcase(s, tc);

    tc = unit_tcase("equal", 10);
    tcase_add_loop_test(tc, addr_equal_table, 0,
                        (int)(sizeof equal_rows / sizeof equal_rows[0]));
    tcase_add_test(tc, addr_equal_rejects_other_families);
    suite_add_tcase(s, tc);

    tc = unit_tcase("endpoints", 10);
    tcase_add_test(tc, local_and_peer_of_a_connection);
    tcase_add_test(tc, local_and_peer_report_errors);
    suite_add_tcase(s, tc);
    return s;
}
