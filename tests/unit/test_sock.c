/*
 * test_sock.c: lib/sl_sock.c, listeners, connectors and descriptor flags.
 *
 * The error messages are checked word for word: servers and clients print
 * them as they are, and the autograder shows them to students.
 */
#include "unit.h"

static void port_text(int fd, char *out, size_t outlen)
{
    snprintf(out, outlen, "%u", unit_local_port(fd));
}

static int int_option(int fd, int level, int name)
{
    int value = -1;
    socklen_t len = sizeof value;
    ck_assert_int_eq(getsockopt(fd, level, name, &value, &len), 0);
    return value;
}

static bool has_cloexec(int fd)
{
    return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

START_TEST(listen_ipv4_port_0)
{
    char err[SL_ERR_BYTES];
    int fd = sl_listen("127.0.0.1", "0", SOCK_STREAM, 8, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert_uint_ne(unit_local_port(fd), 0);
    ck_assert_int_eq(int_option(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    ck_assert_int_eq(int_option(fd, SOL_SOCKET, SO_REUSEADDR), 1);
    ck_assert(has_cloexec(fd));
    close(fd);
}
END_TEST

START_TEST(listen_ipv6_is_v6only)
{
    char err[SL_ERR_BYTES], local[SL_ADDR_BYTES], want[SL_ADDR_BYTES];
    int fd = sl_listen("::1", "0", SOCK_STREAM, 8, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    snprintf(want, sizeof want, "[::1]:%u", unit_local_port(fd));
    ck_assert_str_eq(sl_sock_local(fd, local, sizeof local), want);
    ck_assert_int_eq(int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
    close(fd);
}
END_TEST

START_TEST(listen_port_in_use_message)
{
    char err[SL_ERR_BYTES], port[16], want[SL_ERR_BYTES];
    int first = sl_listen("127.0.0.1", "0", SOCK_STREAM, 8, err, sizeof err);
    ck_assert_msg(first >= 0, "%s", err);
    port_text(first, port, sizeof port);

    errno = 0;
    ck_assert_int_eq(sl_listen("127.0.0.1", port, SOCK_STREAM, 8, err, sizeof err), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    snprintf(want, sizeof want, "bind 127.0.0.1:%s: Address already in use", port);
    ck_assert_str_eq(err, want);
    close(first);
}
END_TEST

START_TEST(listen_unresolvable_message)
{
    char err[SL_ERR_BYTES];
    ck_assert_int_eq(sl_listen("no..such.host", "0", SOCK_STREAM, 8, err, sizeof err), -1);
    ck_assert_str_eq(err, "getaddrinfo no..such.host: Name or service not known");
}
END_TEST

START_TEST(listen_udp_binds_without_listening)
{
    char err[SL_ERR_BYTES];
    int fd = sl_listen("127.0.0.1", "0", SOCK_DGRAM, 8, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert_int_eq(int_option(fd, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    ck_assert_uint_ne(unit_local_port(fd), 0);
    ck_assert(has_cloexec(fd));
    close(fd);
}
END_TEST

/* A TCP port on 127.0.0.1 that is bound but not listening: connecting to it
 * is refused, and no other program can take it meanwhile. */
static int bound_not_listening(char *port, size_t portlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    port_text(fd, port, portlen);
    return fd;
}

START_TEST(connect_refused_message)
{
    char port[16], err[SL_ERR_BYTES], want[SL_ERR_BYTES];
    int holder = bound_not_listening(port, sizeof port);
    errno = 0;
    ck_assert_int_eq(sl_connect("127.0.0.1", port, SOCK_STREAM, err, sizeof err), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    snprintf(want, sizeof want, "connect 127.0.0.1:%s: Connection refused", port);
    ck_assert_str_eq(err, want);
    close(holder);
}
END_TEST

START_TEST(connect_unresolvable_message)
{
    char err[SL_ERR_BYTES];
    ck_assert_int_eq(sl_connect("no..such.host", "1", SOCK_STREAM, err, sizeof err), -1);
    ck_assert_str_eq(err, "getaddrinfo no..such.host: Name or service not known");
}
END_TEST

static void check_connects(const char *host)
{
    char err[SL_ERR_BYTES], port[16];
    int lfd = sl_listen(host, "0", SOCK_STREAM, 4, err, sizeof err);
    ck_assert_msg(lfd >= 0, "%s", err);
    port_text(lfd, port, sizeof port);
    int cfd = sl_connect(host, port, SOCK_STREAM, err, sizeof err);
    ck_assert_msg(cfd >= 0, "%s", err);
    ck_assert(has_cloexec(cfd));

    int afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(send(cfd, "hi", 2, 0), 2);
    char buf[2];
    ck_assert_int_eq(sl_read_full(afd, buf, 2), 2);
    ck_assert(memcmp(buf, "hi", 2) == 0);
    close(afd);
    close(cfd);
    close(lfd);
}

START_TEST(connect_ipv4_and_ipv6)
{
    check_connects("127.0.0.1");
    check_connects("::1");
}
END_TEST

START_TEST(connect_udp_fixes_the_peer)
{
    char err[SL_ERR_BYTES], port[16], peer[SL_ADDR_BYTES], want[SL_ADDR_BYTES];
    int server = sl_listen("127.0.0.1", "0", SOCK_DGRAM, 0, err, sizeof err);
    ck_assert_msg(server >= 0, "%s", err);
    port_text(server, port, sizeof port);
    int fd = sl_connect("127.0.0.1", port, SOCK_DGRAM, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    snprintf(want, sizeof want, "127.0.0.1:%s", port);
    ck_assert_str_eq(sl_sock_peer(fd, peer, sizeof peer), want);
    ck_assert_int_eq(send(fd, "ping", 4, 0), 4);
    char buf[8];
    ck_assert_int_eq(recv(server, buf, sizeof buf, 0), 4);
    close(fd);
    close(server);
}
END_TEST

START_TEST(nonblocking_on_and_off)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(sl_set_nonblocking(sv[0], true), 0);
    ck_assert(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    char c;
    ck_assert_int_eq(recv(sv[0], &c, 1, 0), -1);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    ck_assert_int_eq(sl_set_nonblocking(sv[0], true), 0); /* twice is fine */
    ck_assert_int_eq(sl_set_nonblocking(sv[0], false), 0);
    ck_assert(!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
    ck_assert_int_eq(sl_set_nonblocking(-1, true), -1);
    ck_assert_int_eq(errno, EBADF);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(cloexec_on_and_off)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert(!has_cloexec(fd));
    ck_assert_int_eq(sl_set_cloexec(fd, true), 0);
    ck_assert(has_cloexec(fd));
    ck_assert_int_eq(sl_set_cloexec(fd, false), 0);
    ck_assert(!has_cloexec(fd));
    ck_assert_int_eq(sl_set_cloexec(-1, true), -1);
    close(fd);
}
END_TEST

START_TEST(ignored_sigpipe_gives_epipe)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    ck_assert_int_eq(sl_ignore_sigpipe(), 0);
    /* write(), not send(): without the helper this would kill the test. */
    ck_assert_int_eq(write(sv[0], "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    close(sv[0]);
}
END_TEST

Suite *sock_suite(void)
{
    Suite *s = suite_create("sock");
    TCase *tc = unit_tcase("listen", 10);
    tcase_add_test(tc, listen_ipv4_port_0);
    tcase_add_test(tc, listen_ipv6_is_v6only);
    tcase_add_test(tc, listen_port_in_use_message);
    tcase_add_test(tc, listen_unresolvable_message);
    tcase_add_test(tc, listen_udp_binds_without_listening);
    suite_add_tcase(s, tc);

    tc = unit_tcase("connect", 10);
    tcase_add_test(tc, connect_refused_message);
    tcase_add_test(tc, connect_unresolvable_message);
    tcase_add_test(tc, connect_ipv4_and_ipv6);
    tcase_add_test(tc, connect_udp_fixes_the_peer);
    suite_add_tcase(s, tc);

    tc = unit_tcase("flags", 10);
    tcase_add_test(tc, nonblocking_on_and_off);
    tcase_add_test(tc, cloexec_on_and_off);
    tcase_add_test(tc, ignored_sigpipe_gives_epipe);
    suite_add_tcase(s, tc);
    return s;
}
