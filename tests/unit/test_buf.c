/*
 * test_buf.c: lib/sl_buf.c, output buffers for non-blocking sockets.
 *
 * The buffer's promises: bytes come out in the order they went in, whatever
 * mix of immediate sends and queued tails; the bound is never passed, and a
 * refused append queues nothing; a full socket is not an error; a vanished
 * peer is; and an emptied buffer holds no heap. The socket ends are
 * socketpairs and loopback connections with small buffers, so "full" comes
 * quickly and for real.
 */
#include "unit.h"

#include <sys/resource.h>

#define KIB 1024u

/* A connected AF_UNIX stream pair with small buffers: sv[0] is the sender. */
static void small_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
}

static unsigned char byte_at(size_t i)
{
    return (unsigned char)((i * 131u) ^ (i >> 8));
}

/* Read everything the peer has ready, without blocking; returns the count. */
static size_t drain(int fd, unsigned char *out, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = recv(fd, out + got, cap - got, MSG_DONTWAIT);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

START_TEST(empty_buffer_holds_nothing)
{
    struct sl_buf b;
    sl_buf_init(&b, 100);
    ck_assert_uint_eq(sl_buf_len(&b), 0);
    ck_assert_uint_eq(sl_buf_room(&b), 100);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(sl_buf_append(&b, "", 0), 0);
    ck_assert_ptr_null(b.data);
    sl_buf_free(&b);
}
END_TEST

START_TEST(append_respects_the_bound)
{
    struct sl_buf b;
    sl_buf_init(&b, 10);
    ck_assert_int_eq(sl_buf_append(&b, "0123456", 7), 0);
    errno = 0;
    ck_assert_int_eq(sl_buf_append(&b, "abcd", 4), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_uint_eq(sl_buf_len(&b), 7); /* all or nothing */
    ck_assert_int_eq(sl_buf_append(&b, "abc", 3), 0);
    ck_assert_uint_eq(sl_buf_room(&b), 0);
    ck_assert_mem_eq(b.data + b.start, "0123456abc", 10);
    sl_buf_free(&b);
}
END_TEST

START_TEST(flush_sends_in_order_and_frees)
{
    int sv[2];
    small_pair(sv);
    struct sl_buf b;
    sl_buf_init(&b, 1024 * KIB);
    ck_assert_int_eq(sl_buf_append(&b, "hello, ", 7), 0);
    ck_assert_int_eq(sl_buf_append(&b, "world\0!", 7), 0);
    ck_assert_int_eq(sl_buf_flush(&b, sv[0]), 14);
    ck_assert_uint_eq(sl_buf_len(&b), 0);
    ck_assert_ptr_null(b.data);
    unsigned char in[32];
    ck_assert_uint_eq(drain(sv[1], in, sizeof in), 14);
    ck_assert_mem_eq(in, "hello, world\0!", 14);
    ck_assert_int_eq(sl_buf_flush(&b, sv[0]), 0); /* nothing to send */
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Many writes into a socket that fills up, with the reader taking bits at
 * a time: every byte arrives once, in order, and the bound holds. */
START_TEST(write_keeps_order_through_full_socket)
{
    int sv[2];
    small_pair(sv);
    const size_t total = 600 * KIB, max = 256 * KIB;
    struct sl_buf b;
    sl_buf_init(&b, max);
    unsigned char *got = malloc(total);
    ck_assert_ptr_nonnull(got);
    size_t written = 0, received = 0;
    int rounds = 0;
    while (received < total && rounds++ < 100000) {
        unsigned char chunk[3000];
        size_t len = total - written < sizeof chunk ? total - written : sizeof chunk;
        for (size_t i = 0; i < len; i++)
            chunk[i] = byte_at(written + i);
        if (len > 0 && sl_buf_room(&b) >= len) {
            ck_assert_int_eq(sl_buf_write(&b, sv[0], chunk, len), 0);
            written += len;
        }
        ck_assert_uint_le(sl_buf_len(&b), max);
        ck_assert_int_ge(sl_buf_flush(&b, sv[0]), 0);
        /* The reader takes a little at a time. */
        ssize_t n = recv(sv[1], got + received, total - received < 1500 ? total - received : 1500,
                         MSG_DONTWAIT);
        if (n > 0)
            received += (size_t)n;
    }
    ck_assert_uint_eq(received, total);
    for (size_t i = 0; i < total; i++) {
        if (got[i] != byte_at(i))
            ck_abort_msg("byte %zu differs: got %u, want %u", i, got[i], byte_at(i));
    }
    ck_assert_ptr_null(b.data);
    free(got);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(write_refuses_past_the_bound)
{
    int sv[2];
    small_pair(sv);
    struct sl_buf b;
    sl_buf_init(&b, 8 * KIB);
    unsigned char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    /* Nobody reads: the socket fills, then the buffer, then a refusal. */
    int refused = 0;
    for (int i = 0; i < 1000 && !refused; i++) {
        if (sl_buf_write(&b, sv[0], chunk, sizeof chunk) < 0) {
            ck_assert_int_eq(errno, ENOBUFS);
            refused = 1;
        }
    }
    ck_assert_int_eq(refused, 1);
    ck_assert_uint_le(sl_buf_len(&b), 8 * KIB);
    sl_buf_free(&b);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(flush_to_vanished_peer_is_an_error)
{
    int sv[2];
    small_pair(sv);
    struct sl_buf b;
    sl_buf_init(&b, 64 * KIB);
    close(sv[1]);
    ck_assert_int_eq(sl_buf_append(&b, "anyone?", 7), 0);
    errno = 0;
    /* No SIGPIPE either: MSG_NOSIGNAL. The test would die of it. */
    ck_assert_int_eq(sl_buf_flush(&b, sv[0]), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(sl_buf_write(&b, sv[0], "x", 1), 0); /* queued behind */
    sl_buf_free(&b);
    struct sl_buf c;
    sl_buf_init(&c, 64);
    ck_assert_int_eq(sl_buf_write(&c, sv[0], "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    close(sv[0]);
}
END_TEST

START_TEST(raise_nofile_reaches_the_hard_limit)
{
    struct rlimit lim;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_max > 64) {
        lim.rlim_cur = 64;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    }
    long now = sl_raise_nofile();
    ck_assert_int_gt(now, 0);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    ck_assert(lim.rlim_cur == lim.rlim_max);
    if (lim.rlim_max != RLIM_INFINITY)
        ck_assert_int_eq(now, (long)lim.rlim_max);
}
END_TEST

Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = unit_tcase("buf", 20);
    tcase_add_test(tc, empty_buffer_holds_nothing);
    tcase_add_test(tc, append_respects_the_bound);
    tcase_add_test(tc, flush_sends_in_order_and_frees);
    tcase_add_test(tc, write_keeps_order_through_full_socket);
    tcase_add_test(tc, write_refuses_past_the_bound);
    tcase_add_test(tc, flush_to_vanished_peer_is_an_error);
    tcase_add_test(tc, raise_nofile_reaches_the_hard_limit);
    suite_add_tcase(s, tc);
    return s;
}
