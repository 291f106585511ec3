/*
 * fail.c: failure messages for a student at 2 a.m.
 *
 * A message says what the test sent, what it expected, what came back, which
 * section of the lab guide to reread, and what the program itself said on
 * standard error. Bytes are shown escaped and shortened, never raw: a
 * student's server may send anything, terminal escapes included.
 */
#include "harness.h"
#include "harness_internal.h"

#define FAIL_MSG_BYTES 12000

void hn_format_hint(const struct hn_test *t, char *out, size_t outlen)
{
    const char *hint = t && t->hint ? t->hint : "";
    const char *sep = strstr(hint, ": ");
    if (!sep) {
        snprintf(out, outlen, "hint: %s", hint);
        return;
    }
    snprintf(out, outlen, "hint: reread \"%s\" in labs/%.*s/README.md", sep + 2,
             (int)(sep - hint), hint);
}

/* Escape one byte into out (at least 5 bytes of room); returns its length. */
static size_t escape_byte(unsigned char c, char *out)
{
    switch (c) {
    case '\n': return (size_t)sprintf(out, "\\n");
    case '\r': return (size_t)sprintf(out, "\\r");
    case '\t': return (size_t)sprintf(out, "\\t");
    case '\0': return (size_t)sprintf(out, "\\0");
    case '"': return (size_t)sprintf(out, "\\\"");
    case '\\': return (size_t)sprintf(out, "\\\\");
    default:
        if (c >= 0x20 && c < 0x7f) {
            out[0] = (char)c;
            out[1] = '\0';
            return 1;
        }
        return (size_t)sprintf(out, "\\x%02x", c);
    }
}

/* Append the escaped form of data[from..to) to out while it fits in limit. */
static size_t escape_range(const unsigned char *data, size_t from, size_t to,
                           char *out, size_t pos, size_t limit)
{
    char piece[8];
    for (size_t i = from; i < to; i++) {
        size_t n = escape_byte(data[i], piece);
        if (pos + n + 1 > limit)
            break;
        memcpy(out + pos, piece, n);
        pos += n;
    }
    out[pos] = '\0';
    return pos;
}

char *hn_show(const void *data, size_t len, char *out, size_t outlen)
{
    const unsigned char *d = data;
    const size_t edge = 48; /* bytes shown from each end of a long string */
    if (outlen < 64) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    size_t pos = 0;
    out[pos++] = '"';
    size_t room = outlen - 40; /* keep space for the quote and the length */
    if (len <= 2 * edge) {
        pos = escape_range(d, 0, len, out, pos, room);
    } else {
        pos = escape_range(d, 0, edge, out, pos, room / 2);
        pos += (size_t)snprintf(out + pos, outlen - pos, "\"...\"");
        pos = escape_range(d, len - edge, len, out, pos, room);
    }
    snprintf(out + pos, outlen - pos, "\" (%zu byte%s)", len, len == 1 ? "" : "s");
    return out;
}

void hn_fail(const char *fmt, ...)
{
    char *msg = malloc(FAIL_MSG_BYTES);
    if (!msg)
        ck_abort_msg("out of memory while reporting a failure");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, FAIL_MSG_BYTES, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= FAIL_MSG_BYTES ? FAIL_MSG_BYTES - 1 : (size_t)n;
    char hint[512];
    hn_format_hint(hn_current(), hint, sizeof hint);
    snprintf(msg + len, FAIL_MSG_BYTES - len, "\n%s", hint);
    hn_append_program_logs(msg, FAIL_MSG_BYTES);
    ck_abort_msg("%s", msg);
}

void hn_fail_bytes(const char *what, const char *sent, const void *expected,
                   size_t explen, const void *got, size_t gotlen)
{
    const unsigned char *e = expected, *g = got;
    size_t same = 0;
    while (same < explen && same < gotlen && e[same] == g[same])
        same++;
    char exp_s[400], got_s[400], where[200];
    hn_show(expected, explen, exp_s, sizeof exp_s);
    hn_show(got, gotlen, got_s, sizeof got_s);
    if (same < explen && same < gotlen)
        snprintf(where, sizeof where,
                 "first difference at byte %zu: expected 0x%02x, got 0x%02x", same,
                 e[same], g[same]);
    else if (gotlen < explen && hn_last_read()->closed)
        snprintf(where, sizeof where,
                 "the first %zu bytes match, then the server closed the connection", gotlen);
    else if (gotlen == 0 && hn_last_read()->waited_ms > 0)
        snprintf(where, sizeof where, "no answer within %.1f s: nothing came back",
                 hn_last_read()->waited_ms / 1000.0);
    else if (gotlen < explen && hn_last_read()->waited_ms > 0)
        snprintf(where, sizeof where, "the first %zu bytes match, then no answer within %.1f s",
                 gotlen, hn_last_read()->waited_ms / 1000.0);
    else if (gotlen < explen)
        snprintf(where, sizeof where, "the first %zu bytes match, then nothing more came",
                 gotlen);
    else
        snprintf(where, sizeof where, "all %zu expected bytes match, then %zu more came",
                 explen, gotlen - explen);
    hn_fail("%s\n  sent:     %s\n  expected: %s\n  got:      %s\n  (%s)", what, sent,
            exp_s, got_s, where);
}
