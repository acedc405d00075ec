/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for src/core/buf.c: the growing buffer, JSON string escaping, the
 * little-endian and varint writers, and sx_format_float, which must print
 * exactly what Go's strconv.FormatFloat(v, 'f', -1, 64) prints (Prometheus'
 * sample value format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/str.h"

/* ---- sx_format_float ---- */

static void expect_float(double v, const char *want)
{
    char buf[SX_FLOAT_BUF];
    int n = sx_format_float(buf, v);
    if (strcmp(buf, want) != 0)
        fail_msg("%.17g: got \"%s\", want \"%s\"", v, buf, want);
    assert_int_equal(n, (int)strlen(want));
}

/* prefix, then n zeros, then suffix: for the very large and very small. */
static char *zeros(const char *prefix, int n, const char *suffix)
{
    size_t lp = strlen(prefix), ls = strlen(suffix);
    char *s = malloc(lp + (size_t)n + ls + 1);
    memcpy(s, prefix, lp);
    memset(s + lp, '0', (size_t)n);
    memcpy(s + lp + (size_t)n, suffix, ls + 1);
    return s;
}

static void test_format_float_matches_go_for_common_values(void **state)
{
    expect_float(0, "0");
    expect_float(1, "1");
    expect_float(-1, "-1");
    expect_float(100, "100");
    expect_float(0.1, "0.1");
    expect_float(-2.5, "-2.5");
    expect_float(123.456, "123.456");
    expect_float(0.1 + 0.2, "0.30000000000000004");
    expect_float(1.0 / 3, "0.3333333333333333");
    expect_float(2.0 / 3, "0.6666666666666666");
    expect_float(1e-7, "0.0000001");
    expect_float(1.5e-5, "0.000015");
    expect_float(1e21, "1000000000000000000000");
    expect_float(1.2345678901234568e20, "123456789012345680000");
    expect_float(9007199254740993.0, "9007199254740992");
    expect_float(1234567.0, "1234567");
    expect_float(1e15 + 0.3, "1000000000000000.2");
    /* 16 and 17 digits (the long double path), and a value so close to
     * the middle of two 16-digit neighbours that only the exact search can
     * tell which is nearer. */
    expect_float(100.0 / 7, "14.285714285714286");
    expect_float(-2.0909106461683375, "-2.0909106461683375");
    expect_float(923848230.35627985, "923848230.3562799");
}

static void test_format_float_prints_special_values_like_prometheus(void **state)
{
    expect_float(NAN, "NaN");
    expect_float(-NAN, "NaN");
    expect_float(INFINITY, "+Inf");
    expect_float(-INFINITY, "-Inf");
    expect_float(-0.0, "-0");
}

static void test_format_float_prints_extremes_without_exponent(void **state)
{
    char *s = zeros("15", 299, "");
    expect_float(1.5e300, s);
    free(s);
    s = zeros("17976931348623157", 292, "");
    expect_float(DBL_MAX, s);
    free(s);
    s = zeros("-17976931348623157", 292, "");
    expect_float(-DBL_MAX, s);
    free(s);
    s = zeros("0.", 323, "5");
    expect_float(5e-324, s); /* the smallest subnormal */
    free(s);
    s = zeros("0.", 307, "22250738585072014");
    expect_float(DBL_MIN, s);
    free(s);
}

static void test_format_float_finds_shortest_digits_at_powers_of_two(void **state)
{
    /* Just above a power of two the gap below is half the gap above, so
     * the shortest digits can lie above the nearest 16-digit candidate. */
    char *s = zeros("0.", 306, "7120236347223045");
    expect_float(ldexp(1, -1017), s);
    free(s);
    s = zeros("0.", 303, "7291122019556398");
    expect_float(ldexp(1, -1007), s);
    free(s);
    expect_float(ldexp(1, 60), "1152921504606847000");
    expect_float(ldexp(1, -20), "0.00000095367431640625");
}

static uint64_t next_random(uint64_t *s)
{
    /* splitmix64: fixed seed, so failures reproduce. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_format_float_round_trips_random_doubles(void **state)
{
    uint64_t seed = 42;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = next_random(&seed);
        double v;
        memcpy(&v, &bits, sizeof(v));
        if (!isfinite(v))
            continue;
        char buf[SX_FLOAT_BUF];
        int n = sx_format_float(buf, v);
        assert_true(n > 0 && n < SX_FLOAT_BUF);
        assert_null(strpbrk(buf, "eE"));
        double back = strtod(buf, NULL);
        if (memcmp(&back, &v, sizeof(v)) != 0)
            fail_msg("%a printed as %s reads back as %a", v, buf, back);
    }
}

/* The significant digits of a rendering (up to any exponent), and how many. */
static int sig_digits(const char *s, char *out)
{
    int n = 0;
    bool lead = true;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = false;
        out[n++] = *s;
    }
    while (n > 1 && out[n - 1] == '0')
        n--;
    out[n] = 0;
    return n;
}

/* Shortest and nearest, checked against glibc's correctly rounded %e: the
 * printed digits are v rounded to their count, and one digit fewer does
 * not read back as v. Values like a query's results (rates, ratios,
 * increases, small fractions), where the fast paths decide most of them,
 * exact ties between two candidates and values beside powers of two. */
static void test_format_float_is_shortest_and_nearest(void **state)
{
    uint64_t seed = 7;
    for (int i = 0; i < 500000; i++) {
        double v;
        switch (i % 5) {
        case 0: v = (double)(next_random(&seed) >> 11) / (double)(1 + (next_random(&seed) >> 40)); break;
        case 1:
            v = ldexp((double)(next_random(&seed) >> 11), -53) *
                pow(10, (int)(next_random(&seed) % 41) - 20);
            break;
        case 2:
            /* Exactly halfway between two 17-digit decimals (10^15 + k/4,
             * k odd): the even one is the nearest, as %e rounds. */
            v = 1e15 + (double)(2 * (next_random(&seed) % 4000000) + 1) / 4;
            break;
        case 3:
            /* Just above and below powers of two, where the rounding
             * interval is narrow. */
            v = ldexp(1 + (double)((int64_t)(next_random(&seed) % 2001) - 1000) * 0x1p-52,
                      (int)(next_random(&seed) % 120) - 60);
            break;
        default: v = (double)(next_random(&seed) % 100000) / (double)(1 + next_random(&seed) % 997) * 300; break;
        }
        if (v == 0 || !isfinite(v))
            continue;
        char buf[SX_FLOAT_BUF], got[32], want[40];
        sx_format_float(buf, v);
        int nd = sig_digits(buf, got);
        assert_true(nd >= 1 && nd <= 17);
        snprintf(want, sizeof(want), "%.*e", nd - 1, v);
        char wd[32];
        sig_digits(want, wd);
        /* A power of two may take the candidate a step above the nearest. */
        double m;
        int e2;
        m = frexp(v, &e2);
        if (m != 0.5 && strcmp(got, wd) != 0)
            fail_msg("%a printed as %s: digits %s, nearest %d digits %s", v, buf, got, nd, wd);
        if (nd > 1 && m != 0.5) {
            snprintf(want, sizeof(want), "%.*e", nd - 2, v);
            if (strtod(want, NULL) == v)
                fail_msg("%a printed as %s, but %s (fewer digits) reads back too", v, buf, want);
        }
    }
}

static void test_buf_prom_float_appends_formatted_value(void **state)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "v=");
    sx_buf_prom_float(&b, 0.25);
    sx_buf_putc(&b, ',');
    sx_buf_prom_float(&b, -INFINITY);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.ptr, "v=0.25,-Inf", 11);
    sx_buf_dispose(&b);
}

/* ---- JSON strings ---- */

static void expect_json(const char *in, size_t n, const char *want)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_json_str(&b, in, n);
    sx_buf_putc(&b, '\0');
    assert_string_equal(b.ptr, want);
    sx_buf_dispose(&b);
}

/* The input's length from the literal, so embedded NULs count. */
#define EXPECT_JSON(lit, want) expect_json((lit), sizeof(lit) - 1, (want))

static void test_buf_json_str_escapes_quotes_backslashes_and_controls(void **state)
{
    EXPECT_JSON("", "\"\"");
    EXPECT_JSON("plain", "\"plain\"");
    EXPECT_JSON("a\"b\\c", "\"a\\\"b\\\\c\"");
    EXPECT_JSON("l1\nl2\r\tx", "\"l1\\nl2\\r\\tx\"");
    EXPECT_JSON("\x01\x1f", "\"\\u0001\\u001f\"");
    EXPECT_JSON("a\0b", "\"a\\u0000b\"");
    EXPECT_JSON("\x7f/", "\"\x7f/\"");
    EXPECT_JSON("h\xc3\xa9llo \xe2\x82\xac", "\"h\xc3\xa9llo \xe2\x82\xac\"");
}

static void test_buf_json_str_appends_after_existing_content(void **state)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "{\"k\":");
    sx_buf_json_str(&b, "v\n", 2);
    sx_buf_putc(&b, '}');
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.ptr, "{\"k\":\"v\\n\"}", 11);
    sx_buf_dispose(&b);
}

/* ---- Growing and writing ---- */

static void test_buf_grows_and_keeps_contents(void **state)
{
    sx_buf_t b = SX_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        sx_buf_putc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 10000);
    assert_true(b.cap >= b.len);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.ptr[i], 'a' + i % 26);
    sx_buf_clear(&b);
    assert_int_equal(b.len, 0);
    char *end = sx_buf_reserve(&b, 100000);
    assert_ptr_equal(end, b.ptr);
    assert_true(b.cap >= 100000);
    sx_buf_append(&b, "xyz", 0);
    assert_int_equal(b.len, 0);
    sx_buf_append_str(&b, SX_STR_LIT("abc"));
    assert_int_equal(b.len, 3);
    sx_buf_dispose(&b);
    assert_null(b.ptr);
    assert_int_equal(b.cap, 0);
}

static void test_buf_printf_appends_formatted_text(void **state)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_printf(&b, "%s=%d", "n", 42);
    sx_buf_printf(&b, "%s", "");
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sx_buf_printf(&b, ";%s", big);
    assert_int_equal(b.len, 4 + 1 + 999);
    assert_memory_equal(b.ptr, "n=42;xxx", 8);
    sx_buf_dispose(&b);
}

static void test_buf_put_uvarint_and_little_endian(void **state)
{
    static const struct {
        uint64_t v;
        const char *bytes;
        size_t n;
    } cases[] = {
        {0, "\x00", 1},
        {1, "\x01", 1},
        {127, "\x7f", 1},
        {128, "\x80\x01", 2},
        {300, "\xac\x02", 2},
        {UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_buf_t b = SX_BUF_INIT;
        sx_buf_put_uvarint(&b, cases[i].v);
        assert_int_equal(b.len, cases[i].n);
        assert_memory_equal(b.ptr, cases[i].bytes, cases[i].n);
        sx_buf_dispose(&b);
    }
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_put_u32le(&b, 0x01020304);
    sx_buf_put_u64le(&b, 0x1112131415161718ULL);
    assert_int_equal(b.len, 12);
    assert_memory_equal(b.ptr, "\x04\x03\x02\x01\x18\x17\x16\x15\x14\x13\x12\x11", 12);
    sx_buf_dispose(&b);
}

/* sx_memmem finds the same first match as libc's memmem: needles of
 * every short length, placed at every offset near the 16-byte blocks'
 * edges, in small alphabets so that partial matches abound. */
static void test_memmem_agrees_with_libc(void **state)
{
    (void)state;
    char hay[300], needle[20];
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof(hay));
        size_t m = (size_t)(rand_r(&seed) % 8);
        int alpha = 2 + rand_r(&seed) % 3;
        for (size_t i = 0; i < n; i++)
            hay[i] = (char)('a' + rand_r(&seed) % alpha);
        for (size_t i = 0; i < m; i++)
            needle[i] = (char)('a' + rand_r(&seed) % alpha);
        const char *want = memmem(hay, n, needle, m);
        const char *got = sx_memmem(hay, n, needle, m);
        if (want != got)
            fail_msg("round %d: n=%zu m=%zu want %td got %td", round, n, m,
                     want ? want - hay : -1, got ? got - hay : -1);
    }
    assert_null(sx_memmem("abc", 3, "abcd", 4));
    const char *h = "xxrare-tokenxx";
    assert_ptr_equal(sx_memmem(h, 14, "rare-token", 10), h + 2);
}

/* sx_crc32c (the crc32 instruction or the tables) agrees with the bitwise
 * definition at every length and alignment, and chains across calls. */
static uint32_t crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static void test_crc32c_agrees_with_bitwise(void **state)
{
    (void)state;
    assert_int_equal(sx_crc32c(0, "123456789", 9), 0xe3069283u);
    unsigned char buf[300];
    unsigned seed = 99;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)rand_r(&seed);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n += 7) {
            uint32_t want = crc32c_bitwise(0, buf + off, n);
            assert_int_equal(sx_crc32c(0, buf + off, n), want);
            size_t half = n / 2;
            assert_int_equal(sx_crc32c(sx_crc32c(0, buf + off, half), buf + off + half, n - half), want);
        }
}

/* RFC 4648's test vectors, and bytes that use the last symbols. */
static void test_base64_encodes_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        sx_buf_t b = SX_BUF_INIT;
        sx_buf_puts(&b, "x");
        sx_buf_put_base64(&b, in[i], strlen(in[i]));
        assert_int_equal(b.len, 1 + SX_BASE64_LEN(strlen(in[i])));
        assert_memory_equal(b.ptr + 1, want[i], strlen(want[i]));
        sx_buf_dispose(&b);
    }
    char out[8];
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    assert_int_equal(sx_base64_encode(hi, 3, out), 4);
    assert_memory_equal(out, "+/+/", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_float_matches_go_for_common_values),
        cmocka_unit_test(test_format_float_prints_special_values_like_prometheus),
        cmocka_unit_test(test_format_float_prints_extremes_without_exponent),
        cmocka_unit_test(test_format_float_finds_shortest_digits_at_powers_of_two),
        cmocka_unit_test(test_format_float_round_trips_random_doubles),
        cmocka_unit_test(test_format_float_is_shortest_and_nearest),
        cmocka_unit_test(test_buf_prom_float_appends_formatted_value),
        cmocka_unit_test(test_buf_json_str_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_buf_json_str_appends_after_existing_content),
        cmocka_unit_test(test_memmem_agrees_with_libc),
        cmocka_unit_test(test_crc32c_agrees_with_bitwise),
        cmocka_unit_test(test_buf_grows_and_keeps_contents),
        cmocka_unit_test(test_buf_printf_appends_formatted_text),
        cmocka_unit_test(test_buf_put_uvarint_and_little_endian),
        cmocka_unit_test(test_base64_encodes_rfc4648_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
