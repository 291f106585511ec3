/*
 * test_line.c: lib/sl_line.c, the line reader.
 *
 * The heart is a table: an input stream (as the reads it arrives in), a
 * limit, and the transcript the reader must produce, written as
 *
 *     [text]   a line (a '\r' inside shows as \r)
 *     !        SL_LINE_TOO_LONG
 *     $        SL_LINE_EOF
 *
 * Every row runs five ways: fed whole, fed in its reads, fed one byte at a
 * time, read from a socketpair one byte per read with sl_line_fill(), and
 * through sl_line_read(). Framing must not depend on how the bytes arrive,
 * so all five transcripts are the same.
 */
#include "unit.h"

struct line_row {
    const char *name;
    size_t max_line;
    const char *reads[4]; /* the stream, as it arrives; NULL ends it */
    const char *transcript;
};

// clang-format off
static const struct line_row line_rows[] = {
    {"a line", 8, {"abc\n"}, "[abc]$"},
    {"empty lines are lines", 8, {"\n\n\r\n"}, "[][][]$"},
    {"many lines in one read", 8, {"a\nbb\nccc\n"}, "[a][bb][ccc]$"},
    {"a line over several reads", 8, {"ab", "c", "d\n"}, "[abcd]$"},
    {"CR before LF is dropped", 8, {"ab\r\n"}, "[ab]$"},
    {"CR anywhere else is data", 8, {"a\rb\n\rc\n"}, "[a\\rb][\\rc]$"},
    {"only one CR is dropped", 8, {"ab\r\r\n"}, "[ab\\r]$"},
    {"CR and LF in different reads", 8, {"ab\r", "\ncd\n"}, "[ab][cd]$"},
    {"exactly max_line is accepted", 4, {"abcd\n"}, "[abcd]$"},
    {"max_line + 1 is too long", 4, {"abcde\n"}, "!$"},
    {"max_line with CRLF is accepted", 4, {"abcd\r\n"}, "[abcd]$"},
    {"max_line + 1 with CRLF is too long", 4, {"abcde\r\n"}, "!$"},
    {"max_line, CR, then not LF", 4, {"abcd\rx\n"}, "!$"},
    {"too long, then a normal line", 4, {"abcdefgh\n", "ok\n"}, "![ok]$"},
    {"too long is reported once", 4,
     {"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz", "\nok\n"}, "![ok]$"},
    {"two long lines, two reports", 4, {"abcdef\nghijkl\n"}, "!!$"},
    {"a long line's LF in a later read", 4, {"abcdefgh", "ij\nxy\n"}, "![xy]$"},
    {"an empty line after a long one", 4, {"abcdefg\n\n"}, "![]$"},
    {"EOF mid-line gives the last line", 8, {"ab\ncd"}, "[ab][cd]$"},
    {"EOF keeps a last CR as data", 8, {"ab\r"}, "[ab\\r]$"},
    {"EOF after exactly max_line", 4, {"abcd"}, "[abcd]$"},
    {"EOF after max_line and a CR", 4, {"abcd\r"}, "!$"},
    {"EOF while discarding", 4, {"ok\nabcdefgh"}, "[ok]!$"},
    {"an empty stream", 8, {""}, "$"},
    {"max_line 0 takes only empty lines", 0, {"\n\r\nx\n"}, "[][]!$"},
    {"UTF-8 passes through", 16, {"가나다\n"}, "[가나다]$"},
};
// clang-format on

#define LINE_ROWS ((int)(sizeof line_rows / sizeof line_rows[0]))

/* ---------------------------------------------------------- transcripts -- */

struct transcript {
    char text[512];
    size_t len;
};

static void append(struct transcript *t, const char *s, size_t n)
{
    ck_assert_msg(t->len + n < sizeof t->text, "transcript too long: %s", t->text);
    memcpy(t->text + t->len, s, n);
    t->len += n;
    t->text[t->len] = '\0';
}

static void record(struct transcript *t, enum sl_line_status status, const struct sl_line *line)
{
    switch (status) {
    case SL_LINE_OK:
        append(t, "[", 1);
        for (size_t i = 0; i < line->len; i++) {
            if (line->data[i] == '\r')
                append(t, "\\r", 2);
            else
                append(t, &line->data[i], 1);
        }
        append(t, "]", 1);
        break;
    case SL_LINE_TOO_LONG: append(t, "!", 1); break;
    case SL_LINE_EOF: append(t, "$", 1); break;
    case SL_LINE_NEED_MORE: append(t, "?", 1); break;
    case SL_LINE_ERROR: append(t, "E", 1); break;
    }
}

/* Take out every whole line buffered. */
static void drain(struct sl_line_reader *r, struct transcript *t)
{
    struct sl_line line;
    enum sl_line_status status;
    while ((status = sl_line_next(r, &line)) != SL_LINE_NEED_MORE)
        record(t, status, &line);
}

/* The end of the stream: the cut-off line if any, then EOF, and EOF again. */
static void finish(struct sl_line_reader *r, struct transcript *t)
{
    struct sl_line line;
    enum sl_line_status status;
    int calls = 0;
    do {
        status = sl_line_finish(r, &line);
        record(t, status, &line);
        ck_assert_int_lt(++calls, 10);
    } while (status != SL_LINE_EOF);
    ck_assert_int_eq(sl_line_finish(r, &line), SL_LINE_EOF);
}

static void feed_all(struct sl_line_reader *r, struct transcript *t, const char *data,
                     size_t len)
{
    while (len > 0) {
        size_t taken = sl_line_feed(r, data, len);
        ck_assert_msg(taken > 0, "sl_line_feed took nothing after a drain");
        data += taken;
        len -= taken;
        drain(r, t);
    }
}

static void expect_transcript(const struct line_row *row, const char *way, struct transcript *t)
{
    ck_assert_msg(strcmp(t->text, row->transcript) == 0,
                  "%s, %s: transcript \"%s\", expected \"%s\"", row->name, way, t->text,
                  row->transcript);
}

static void row_whole(const struct line_row *row, char *out, size_t outlen)
{
    out[0] = '\0';
    for (int i = 0; i < 4 && row->reads[i] != NULL; i++)
        strncat(out, row->reads[i], outlen - strlen(out) - 1);
}

static struct sl_line_reader new_reader(size_t max_line)
{
    struct sl_line_reader r;
    ck_assert_int_eq(sl_line_reader_init(&r, max_line), 0);
    return r;
}

/* ------------------------------------------------ the table, five ways -- */

START_TEST(table_fed_whole)
{
    const struct line_row *row = &line_rows[_i];
    struct sl_line_reader r = new_reader(row->max_line);
    struct transcript t = {.len = 0};
    char whole[256];
    row_whole(row, whole, sizeof whole);
    feed_all(&r, &t, whole, strlen(whole));
    finish(&r, &t);
    expect_transcript(row, "fed whole", &t);
    sl_line_reader_free(&r);
}
END_TEST

START_TEST(table_fed_in_its_reads)
{
    const struct line_row *row = &line_rows[_i];
    struct sl_line_reader r = new_reader(row->max_line);
    struct transcript t = {.len = 0};
    for (int i = 0; i < 4 && row->reads[i] != NULL; i++)
        feed_all(&r, &t, row->reads[i], strlen(row->reads[i]));
    finish(&r, &t);
    expect_transcript(row, "fed in its reads", &t);
    sl_line_reader_free(&r);
}
END_TEST

START_TEST(table_fed_byte_by_byte)
{
    const struct line_row *row = &line_rows[_i];
    struct sl_line_reader r = new_reader(row->max_line);
    struct transcript t = {.len = 0};
    char whole[256];
    row_whole(row, whole, sizeof whole);
    for (size_t i = 0; whole[i] != '\0'; i++)
        feed_all(&r, &t, &whole[i], 1);
    finish(&r, &t);
    expect_transcript(row, "fed byte by byte", &t);
    sl_line_reader_free(&r);
}
END_TEST

START_TEST(table_filled_byte_by_byte_from_a_socket)
{
    const struct line_row *row = &line_rows[_i];
    struct sl_line_reader r = new_reader(row->max_line);
    struct transcript t = {.len = 0};
    char whole[256];
    row_whole(row, whole, sizeof whole);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

    /* One byte is all there is to read, so each read returns one byte. */
    for (size_t i = 0; whole[i] != '\0'; i++) {
        ck_assert_int_eq(write(sv[1], &whole[i], 1), 1);
        ck_assert_int_eq(sl_line_fill(&r, sv[0]), 1);
        drain(&r, &t);
    }
    shutdown(sv[1], SHUT_WR);
    ck_assert_int_eq(sl_line_fill(&r, sv[0]), 0);
    finish(&r, &t);
    expect_transcript(row, "filled byte by byte from a socket", &t);
    sl_line_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(table_through_line_read)
{
    const struct line_row *row = &line_rows[_i];
    struct sl_line_reader r = new_reader(row->max_line);
    struct transcript t = {.len = 0};
    char whole[256];
    row_whole(row, whole, sizeof whole);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(sl_write_full(sv[1], whole, strlen(whole)), (ssize_t)strlen(whole));
    shutdown(sv[1], SHUT_WR);

    struct sl_line line;
    enum sl_line_status status;
    int calls = 0;
    do {
        status = sl_line_read(&r, sv[0], &line);
        record(&t, status, &line);
        ck_assert_int_lt(++calls, 50);
    } while (status != SL_LINE_EOF && status != SL_LINE_ERROR);
    ck_assert_int_eq(sl_line_read(&r, sv[0], &line), SL_LINE_EOF);
    expect_transcript(row, "through sl_line_read", &t);
    sl_line_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* -------------------------------------------------- the SPEC's limit -- */

/* One line of `len` bytes followed by `ending`, at the SPEC's 4096-byte
 * limit, written one byte per write and filled one byte per read. */
static enum sl_line_status one_spec_line(size_t len, const char *ending, size_t *got_len)
{
    struct sl_line_reader r = new_reader(4096);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    size_t total = len + strlen(ending);
    enum sl_line_status status = SL_LINE_NEED_MORE;
    struct sl_line line = {NULL, 0};
    for (size_t i = 0; i < total && status == SL_LINE_NEED_MORE; i++) {
        char byte = i < len ? (char)('a' + i % 26) : ending[i - len];
        ck_assert_int_eq(write(sv[1], &byte, 1), 1);
        ck_assert_int_eq(sl_line_fill(&r, sv[0]), 1);
        status = sl_line_next(&r, &line);
    }
    *got_len = status == SL_LINE_OK ? line.len : 0;
    if (status == SL_LINE_OK) {
        for (size_t i = 0; i < line.len; i++)
            ck_assert_int_eq(line.data[i], 'a' + (int)(i % 26));
    }
    sl_line_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
    return status;
}

START_TEST(spec_limit_4096)
{
    size_t len;
    ck_assert_int_eq(one_spec_line(4096, "\n", &len), SL_LINE_OK);
    ck_assert_uint_eq(len, 4096);
    ck_assert_int_eq(one_spec_line(4096, "\r\n", &len), SL_LINE_OK);
    ck_assert_uint_eq(len, 4096);
    ck_assert_int_eq(one_spec_line(4097, "\n", &len), SL_LINE_TOO_LONG);
    ck_assert_int_eq(one_spec_line(4097, "\r\n", &len), SL_LINE_TOO_LONG);
    ck_assert_int_eq(one_spec_line(0, "\n", &len), SL_LINE_OK);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(too_long_reported_as_soon_as_certain)
{
    struct sl_line_reader r = new_reader(4);
    struct sl_line line;
    ck_assert_uint_eq(sl_line_feed(&r, "abcd", 4), 4);
    ck_assert_int_eq(sl_line_next(&r, &line), SL_LINE_NEED_MORE);
    /* A '\r' might still be the one before '\n': not certain yet. */
    ck_assert_uint_eq(sl_line_feed(&r, "\r", 1), 1);
    ck_assert_int_eq(sl_line_next(&r, &line), SL_LINE_NEED_MORE);
    ck_assert_uint_eq(sl_line_feed(&r, "x", 1), 1);
    ck_assert_int_eq(sl_line_next(&r, &line), SL_LINE_TOO_LONG);
    ck_assert_int_eq(sl_line_next(&r, &line), SL_LINE_NEED_MORE);

    ck_assert_uint_eq(sl_line_feed(&r, "\nabcde", 6), 6);
    ck_assert_int_eq(sl_line_next(&r, &line), SL_LINE_TOO_LONG); /* the 5th byte settles it */
    sl_line_reader_free(&r);
}
END_TEST

START_TEST(long_line_is_discarded_not_stored)
{
    struct sl_line_reader r = new_reader(16);
    char chunk[8192];
    memset(chunk, 'x', sizeof chunk);
    int reports = 0;
    struct sl_line line;
    enum sl_line_status status;
    for (int i = 0; i < 128; i++) { /* 1 MiB without a newline */
        ck_assert_uint_eq(sl_line_feed(&r, chunk, sizeof chunk), sizeof chunk);
        while ((status = sl_line_next(&r, &line)) != SL_LINE_NEED_MORE) {
            ck_assert_int_eq(status, SL_LINE_TOO_LONG);
            reports++;
        }
    }
    ck_assert_int_eq(reports, 1);
    ck_assert_uint_eq(sl_line_feed(&r, "\nok\n", 4), 4);
    ck_assert_int_eq(sl_line_next(&r, &line), SL_LINE_OK);
    ck_assert_uint_eq(line.len, 2);
    ck_assert(memcmp(line.data, "ok", 2) == 0);
    sl_line_reader_free(&r);
}
END_TEST

/* ------------------------------------------------------- the plumbing -- */

START_TEST(feed_takes_what_fits)
{
    size_t lines = 50000;
    char *data = malloc(lines * 2);
    for (size_t i = 0; i < lines; i++)
        memcpy(data + 2 * i, "a\n", 2);

    struct sl_line_reader r = new_reader(16);
    size_t first = sl_line_feed(&r, data, lines * 2);
    ck_assert_uint_gt(first, 0);
    ck_assert_uint_lt(first, lines * 2);
    ck_assert_uint_eq(sl_line_feed(&r, data + first, 1), 0); /* full until drained */

    size_t seen = 0, offset = first;
    struct sl_line line;
    for (;;) {
        while (sl_line_next(&r, &line) == SL_LINE_OK) {
            ck_assert_uint_eq(line.len, 1);
            ck_assert_int_eq(line.data[0], 'a');
            seen++;
        }
        if (offset == lines * 2)
            break;
        offset += sl_line_feed(&r, data + offset, lines * 2 - offset);
    }
    ck_assert_uint_eq(seen, lines);
    sl_line_reader_free(&r);
    free(data);
}
END_TEST

START_TEST(binary_bytes_are_data)
{
    struct sl_line_reader r = new_reader(16);
    static const char bytes[] = {'a', '\0', 'b', (char)0xff, '\n'};
    struct sl_line line;
    ck_assert_uint_eq(sl_line_feed(&r, bytes, sizeof bytes), sizeof bytes);
    ck_assert_int_eq(sl_line_next(&r, &line), SL_LINE_OK);
    ck_assert_uint_eq(line.len, 4);
    ck_assert(memcmp(line.data, bytes, 4) == 0);
    sl_line_reader_free(&r);
}
END_TEST

START_TEST(fill_on_an_empty_nonblocking_socket)
{
    struct sl_line_reader r = new_reader(16);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(sl_line_fill(&r, sv[0]), -1);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);

    struct sl_line line;
    errno = 0;
    ck_assert_int_eq(sl_line_read(&r, sv[0], &line), SL_LINE_ERROR);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);

    ck_assert_int_eq(write(sv[1], "hi\n", 3), 3);
    ck_assert_int_eq(sl_line_read(&r, sv[0], &line), SL_LINE_OK);
    ck_assert_uint_eq(line.len, 2);
    sl_line_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(init_free_init)
{
    struct sl_line_reader r;
    ck_assert_int_eq(sl_line_reader_init(&r, SIZE_MAX), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(sl_line_reader_init(&r, 4096), 0);
    ck_assert_uint_ge(r.cap, 4096 + 2);
    sl_line_reader_free(&r);
    ck_assert_ptr_null(r.buf);
    sl_line_reader_free(&r); /* twice is harmless */
    ck_assert_int_eq(sl_line_reader_init(&r, 0), 0);
    sl_line_reader_free(&r);
}
END_TEST

/* ------------------------------------------ a random stream, threaded -- */

#define RANDOM_LINES 3000
#define RANDOM_MAX_LINE 256

/* Line i of the random stream: its length and its n-th byte. */
static size_t random_line_len(unsigned i)
{
    return (i * 7919u) % (RANDOM_MAX_LINE + 40);
}
static char random_line_byte(unsigned i, size_t n)
{
    return (char)('!' + (i + n) % 90);
}

struct random_writer {
    int fd;
    unsigned seed;
};

/* Writes the stream in reads of random sizes; every third line ends CRLF. */
static void *random_writer_main(void *arg)
{
    struct random_writer *w = arg;
    size_t cap = RANDOM_LINES * (RANDOM_MAX_LINE + 42);
    char *all = malloc(cap);
    size_t len = 0;
    for (unsigned i = 0; i < RANDOM_LINES; i++) {
        for (size_t n = 0; n < random_line_len(i); n++)
            all[len++] = random_line_byte(i, n);
        if (i % 3 == 0)
            all[len++] = '\r';
        all[len++] = '\n';
    }
    for (size_t done = 0; done < len;) {
        size_t piece = 1 + (size_t)rand_r(&w->seed) % 700;
        if (piece > len - done)
            piece = len - done;
        if (sl_write_full(w->fd, all + done, piece) < 0)
            break;
        done += piece;
    }
    free(all);
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

START_TEST(random_reads_through_line_read)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct random_writer w = {.fd = sv[1], .seed = 20240601u};
    pthread_t writer;
    ck_assert_int_eq(pthread_create(&writer, NULL, random_writer_main, &w), 0);

    struct sl_line_reader r = new_reader(RANDOM_MAX_LINE);
    struct sl_line line;
    for (unsigned i = 0; i < RANDOM_LINES; i++) {
        size_t want = random_line_len(i);
        enum sl_line_status status = sl_line_read(&r, sv[0], &line);
        if (want > RANDOM_MAX_LINE) {
            ck_assert_msg(status == SL_LINE_TOO_LONG, "line %u (%zu bytes): status %d", i, want,
                          status);
            continue;
        }
        ck_assert_msg(status == SL_LINE_OK, "line %u: status %d", i, status);
        ck_assert_uint_eq(line.len, want);
        for (size_t n = 0; n < want; n++)
            ck_assert_int_eq(line.data[n], random_line_byte(i, n));
    }
    ck_assert_int_eq(sl_line_read(&r, sv[0], &line), SL_LINE_EOF);
    unit_join(writer, 10);
    sl_line_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

Suite *line_suite(void)
{
    Suite *s = suite_create("line");
    TCase *tc = unit_tcase("table", 10);
    tcase_add_loop_test(tc, table_fed_whole, 0, LINE_ROWS);
    tcase_add_loop_test(tc, table_fed_in_its_reads, 0, LINE_ROWS);
    tcase_add_loop_test(tc, table_fed_byte_by_byte, 0, LINE_ROWS);
    tcase_add_loop_test(tc, table_filled_byte_by_byte_from_a_socket, 0, LINE_ROWS);
    tcase_add_loop_test(tc, table_through_line_read, 0, LINE_ROWS);
    suite_add_tcase(s, tc);

    tc = unit_tcase("limits", 20);
    tcase_add_test(tc, spec_limit_4096);
    tcase_add_test(tc, too_long_reported_as_soon_as_certain);
    tcase_add_test(tc, long_line_is_discarded_not_stored);
    suite_add_tcase(s, tc);

    tc = unit_tcase("plumbing", 20);
    tcase_add_test(tc, feed_takes_what_fits);
    tcase_add_test(tc, binary_bytes_are_data);
    tcase_add_test(tc, fill_on_an_empty_nonblocking_socket);
    tcase_add_test(tc, init_free_init);
    tcase_add_test(tc, random_reads_through_line_read);
    suite_add_tcase(s, tc);
    return s;
}
