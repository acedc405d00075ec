/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the Loki push decoders and encoder (src/ingest/
 * loki_push.c) and the log batch (src/model/log.c): protobuf round trips,
 * hand-built wire bytes for what an encoder never writes, the label text
 * parser with Loki's (Prometheus') error messages, every validation rule
 * with Loki's wording, and the JSON body: escapes, nulls, key order,
 * timestamps and syntax errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/log_ingest.h"
#include "model/log.h"

/* ---- Helpers ---- */

typedef struct fixture {
    sx_arena_t arena;
    sx_log_batch_t batch;
    sx_buf_t buf;
    sx_err_t err;
    sx_log_limits_t lim;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = test_calloc(1, sizeof(*f));
    sx_arena_init(&f->arena);
    sx_log_batch_init(&f->batch, &f->arena);
    f->buf = SX_BUF_INIT;
    f->lim = SX_LOG_LIMITS_DEFAULT;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sx_buf_dispose(&f->buf);
    sx_arena_dispose(&f->arena);
    test_free(f);
    return 0;
}

static int decode_pb(fixture_t *f)
{
    sx_log_batch_init(&f->batch, &f->arena);
    sx_err_clear(&f->err);
    return sx_loki_push_decode_pb(f->buf.ptr, f->buf.len, &f->lim, &f->batch, &f->err);
}

static int decode_json(fixture_t *f, const char *body)
{
    sx_log_batch_init(&f->batch, &f->arena);
    sx_err_clear(&f->err);
    return sx_loki_push_decode_json(body, strlen(body), &f->lim, &f->batch, &f->err);
}

static void assert_str_equal(sx_str_t s, const char *want)
{
    if (s.len != strlen(want) || (s.len && memcmp(s.ptr, want, s.len) != 0))
        fail_msg("got \"%.*s\" (%zu bytes), want \"%s\"", (int)s.len, s.ptr ? s.ptr : "", s.len,
                 want);
}

static void assert_err_is(const fixture_t *f, int code, const char *want)
{
    if (f->err.code != code || strcmp(f->err.msg, want) != 0)
        fail_msg("error %d \"%s\"\n  want %d \"%s\"", f->err.code, f->err.msg, code, want);
}

static void assert_err_contains(const fixture_t *f, const char *want)
{
    if (!strstr(f->err.msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", f->err.msg, want);
}

static sx_label_t lbl(const char *name, const char *value)
{
    return (sx_label_t){sx_str(name), sx_str(value)};
}

/* A tiny protobuf writer for hand-built messages. */
static void put_tag(sx_buf_t *b, unsigned num, unsigned wt)
{
    sx_buf_put_uvarint(b, ((uint64_t)num << 3) | wt);
}

static void put_bytes(sx_buf_t *b, unsigned num, const void *p, size_t n)
{
    put_tag(b, num, 2);
    sx_buf_put_uvarint(b, n);
    sx_buf_append(b, p, n);
}

static void put_sub(sx_buf_t *b, unsigned num, sx_buf_t *sub)
{
    put_bytes(b, num, sub->ptr, sub->len);
    sx_buf_dispose(sub);
}

static void put_string(sx_buf_t *b, unsigned num, const char *s)
{
    put_bytes(b, num, s, strlen(s));
}

static void put_varint_field(sx_buf_t *b, unsigned num, uint64_t v)
{
    put_tag(b, num, 0);
    sx_buf_put_uvarint(b, v);
}

/* EntryAdapter{timestamp{secs, nanos}, line} appended to a stream. */
static void put_entry(sx_buf_t *stream, int64_t secs, int32_t nanos, const char *line)
{
    sx_buf_t e = SX_BUF_INIT, ts = SX_BUF_INIT;
    if (secs)
        put_varint_field(&ts, 1, (uint64_t)secs);
    if (nanos)
        put_varint_field(&ts, 2, (uint64_t)(int64_t)nanos);
    put_sub(&e, 1, &ts);
    put_string(&e, 2, line);
    put_sub(stream, 2, &e);
}

/* A PushRequest with one stream of the given label text and one entry. */
static void one_stream(fixture_t *f, const char *labels, const char *line)
{
    sx_buf_t s = SX_BUF_INIT;
    put_string(&s, 1, labels);
    put_entry(&s, 1700000000, 5, line);
    sx_buf_clear(&f->buf);
    put_sub(&f->buf, 1, &s);
}

/* Parse a label text; returns the code, labels in *ls. */
static int parse(fixture_t *f, const char *text, sx_label_t **ls, uint32_t *n)
{
    sx_err_clear(&f->err);
    return sx_loki_labels_parse(sx_str(text), &f->arena, ls, n, &f->err);
}

static void assert_parse_error(fixture_t *f, const char *text, const char *pos_and_msg)
{
    sx_label_t *ls;
    uint32_t n;
    char want[512];
    snprintf(want, sizeof(want), "Error parsing labels '%s' with error: %s", text, pos_and_msg);
    assert_int_equal(parse(f, text, &ls, &n), SX_EPARSE);
    assert_err_is(f, SX_EPARSE, want);
}

/* Build a stream of the batch by hand (arena memory). */
static sx_log_stream_in_t *add_stream(fixture_t *f, const sx_label_t *ls, uint32_t n)
{
    sx_log_stream_in_t *s = sx_log_batch_add(&f->batch);
    s->labels = sx_arena_alloc(&f->arena, n * sizeof(*ls) + 1);
    memcpy(s->labels, ls, n * sizeof(*ls));
    s->nlabels = n;
    return s;
}

static sx_log_entry_t *add_entry(fixture_t *f, sx_log_stream_in_t *s, int64_t ts, const char *line)
{
    sx_log_entry_t *e = sx_log_stream_add(&f->batch, s);
    e->ts = ts;
    e->line = sx_str(line);
    f->batch.nbytes += e->line.len;
    return e;
}

static void assert_same_batch(const sx_log_batch_t *a, const sx_log_batch_t *b)
{
    assert_int_equal(a->nstreams, b->nstreams);
    assert_int_equal(a->nentries, b->nentries);
    assert_int_equal(a->nbytes, b->nbytes);
    for (size_t i = 0; i < a->nstreams; i++) {
        const sx_log_stream_in_t *x = &a->streams[i], *y = &b->streams[i];
        assert_int_equal(x->nlabels, y->nlabels);
        for (uint32_t j = 0; j < x->nlabels; j++) {
            assert_true(sx_str_eq(x->labels[j].name, y->labels[j].name));
            assert_true(sx_str_eq(x->labels[j].value, y->labels[j].value));
        }
        assert_int_equal(x->nentries, y->nentries);
        for (uint32_t j = 0; j < x->nentries; j++) {
            const sx_log_entry_t *e = &x->entries[j], *g = &y->entries[j];
            assert_int_equal(e->ts, g->ts);
            assert_true(sx_str_eq(e->line, g->line));
            assert_int_equal(e->nmeta, g->nmeta);
            for (uint32_t k = 0; k < e->nmeta; k++) {
                assert_true(sx_str_eq(e->meta[k].name, g->meta[k].name));
                assert_true(sx_str_eq(e->meta[k].value, g->meta[k].value));
            }
        }
    }
}

static bool inside(sx_str_t s, const char *base, size_t len)
{
    return s.ptr >= base && s.ptr + s.len <= base + len;
}

/* ---- The batch ---- */

static void test_log_batch_grows_streams_and_entries(void **state)
{
    fixture_t *f = *state;
    sx_label_t l = lbl("app", "a");
    for (int i = 0; i < 100; i++) {
        sx_log_stream_in_t *s = add_stream(f, &l, 1);
        for (int j = 0; j < 50; j++)
            add_entry(f, s, i * 1000 + j, "x");
    }
    assert_int_equal(f->batch.nstreams, 100);
    assert_int_equal(f->batch.nentries, 5000);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(f->batch.streams[i].nentries, 50);
        assert_int_equal(f->batch.streams[i].entries[49].ts, i * 1000 + 49);
    }
}

static void test_log_batch_reports_arena_limit(void **state)
{
    fixture_t *f = *state;
    sx_arena_t small;
    sx_arena_init(&small);
    small._limit = 64 * 1024;
    sx_log_batch_t b;
    sx_log_batch_init(&b, &small);
    sx_log_stream_in_t *s = sx_log_batch_add(&b);
    assert_non_null(s);
    size_t n = 0;
    while (sx_log_stream_add(&b, s))
        n++;
    assert_true(n > 100 && n < 64 * 1024 / sizeof(sx_log_entry_t));
    assert_int_equal(b.nentries, n);
    sx_arena_dispose(&small);
    (void)f;
}

/* ---- Protobuf ---- */

static void test_loki_pb_round_trips(void **state)
{
    fixture_t *f = *state;
    sx_label_t l1[] = {lbl("app", "web"), lbl("env", "prod \"blue\"\n\\")};
    sx_label_t l2[] = {lbl("job", "ünïcode ☃")};
    sx_log_stream_in_t *s = add_stream(f, l1, 2);
    add_entry(f, s, 1700000000123456789, "first line");
    sx_log_entry_t *e = add_entry(f, s, -1500000001, ""); /* before 1970, empty line */
    e->meta = sx_arena_alloc(&f->arena, 2 * sizeof(*e->meta));
    e->meta[0] = lbl("trace_id", "abc");
    e->meta[1] = lbl("empty", "");
    e->nmeta = 2;
    s = add_stream(f, l2, 1);
    add_entry(f, s, 0, "at the epoch");
    add_entry(f, s, INT64_MAX, "max");
    add_entry(f, s, INT64_MIN + 1, "min");

    sx_loki_push_encode_pb(&f->batch, &f->buf);
    sx_log_batch_t orig = f->batch;
    assert_int_equal(decode_pb(f), 0);
    assert_same_batch(&orig, &f->batch);
    /* Lines and metadata are slices of the body. */
    assert_true(inside(f->batch.streams[0].entries[0].line, f->buf.ptr, f->buf.len));
    assert_true(inside(f->batch.streams[0].entries[1].meta[0].value, f->buf.ptr, f->buf.len));
}

static void test_loki_pb_encode_appends(void **state)
{
    fixture_t *f = *state;
    sx_label_t l = lbl("a", "b");
    add_entry(f, add_stream(f, &l, 1), 1, "x");
    sx_buf_puts(&f->buf, "prefix");
    sx_loki_push_encode_pb(&f->batch, &f->buf);
    assert_memory_equal(f->buf.ptr, "prefix", 6);
    size_t one = f->buf.len - 6;
    sx_loki_push_encode_pb(&f->batch, &f->buf);
    assert_int_equal(f->buf.len, 6 + 2 * one);
}

static void test_loki_pb_sorts_labels_and_drops_empty_values(void **state)
{
    fixture_t *f = *state;
    one_stream(f, "{zeta=\"1\", alpha='2', mid=`3`, gone=\"\",}", "hello");
    assert_int_equal(decode_pb(f), 0);
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_int_equal(s->nlabels, 3);
    assert_str_equal(s->labels[0].name, "alpha");
    assert_str_equal(s->labels[0].value, "2");
    assert_str_equal(s->labels[1].name, "mid");
    assert_str_equal(s->labels[1].value, "3");
    assert_str_equal(s->labels[2].name, "zeta");
    assert_int_equal(s->nentries, 1);
    assert_int_equal(s->entries[0].ts, 1700000000000000005);
    assert_str_equal(s->entries[0].line, "hello");
    assert_int_equal(f->batch.nentries, 1);
    assert_int_equal(f->batch.nbytes, 5);
}

static void test_loki_pb_skips_unknown_fields(void **state)
{
    fixture_t *f = *state;
    sx_buf_t s = SX_BUF_INIT, e = SX_BUF_INIT, ts = SX_BUF_INIT, pair = SX_BUF_INIT;
    put_string(&f->buf, 2, "loki"); /* PushRequest.format */
    put_varint_field(&s, 3, 12345);  /* StreamAdapter.hash */
    put_string(&s, 1, "{a=\"b\"}");
    put_tag(&s, 9, 5);
    sx_buf_put_u32le(&s, 7); /* an unknown fixed32 */
    put_varint_field(&ts, 1, 10);
    put_tag(&ts, 7, 1);
    sx_buf_put_u64le(&ts, 1); /* unknown fixed64 inside the timestamp */
    put_sub(&e, 1, &ts);
    put_string(&e, 2, "line");
    put_string(&pair, 1, "k");
    put_string(&pair, 2, "v");
    put_sub(&e, 4, &pair); /* "parsed": response only, ignored */
    put_string(&e, 15, "unknown");
    put_sub(&s, 2, &e);
    put_sub(&f->buf, 1, &s);
    put_varint_field(&f->buf, 99, 1);
    assert_int_equal(decode_pb(f), 0);
    assert_int_equal(f->batch.nstreams, 1);
    const sx_log_entry_t *en = &f->batch.streams[0].entries[0];
    assert_int_equal(en->ts, 10000000000);
    assert_str_equal(en->line, "line");
    assert_int_equal(en->nmeta, 0);
}

static void test_loki_pb_reads_structured_metadata(void **state)
{
    fixture_t *f = *state;
    sx_buf_t s = SX_BUF_INIT, e = SX_BUF_INIT, p1 = SX_BUF_INIT, p2 = SX_BUF_INIT;
    put_string(&s, 1, "{a=\"b\"}");
    put_string(&e, 2, "line");
    put_string(&p1, 1, "trace_id");
    put_string(&p1, 2, "t1");
    put_sub(&e, 3, &p1);
    put_string(&p2, 2, "only value"); /* a pair without a name */
    put_sub(&e, 3, &p2);
    put_sub(&s, 2, &e);
    put_sub(&f->buf, 1, &s);
    assert_int_equal(decode_pb(f), 0);
    const sx_log_entry_t *en = &f->batch.streams[0].entries[0];
    assert_int_equal(en->ts, 0); /* no timestamp field */
    assert_int_equal(en->nmeta, 2);
    assert_str_equal(en->meta[0].name, "trace_id");
    assert_str_equal(en->meta[0].value, "t1");
    assert_str_equal(en->meta[1].name, "");
    assert_str_equal(en->meta[1].value, "only value");
}

static void test_loki_pb_merges_repeated_timestamps(void **state)
{
    fixture_t *f = *state;
    sx_buf_t s = SX_BUF_INIT, e = SX_BUF_INIT, t1 = SX_BUF_INIT, t2 = SX_BUF_INIT;
    put_string(&s, 1, "{a=\"b\"}");
    put_varint_field(&t1, 1, 5);
    put_varint_field(&t2, 2, 7);
    put_sub(&e, 1, &t1);
    put_sub(&e, 1, &t2);
    put_sub(&s, 2, &e);
    put_sub(&f->buf, 1, &s);
    assert_int_equal(decode_pb(f), 0);
    assert_int_equal(f->batch.streams[0].entries[0].ts, 5000000007);
}

static void test_loki_pb_negative_nanos_and_range(void **state)
{
    fixture_t *f = *state;
    sx_buf_t s = SX_BUF_INIT;
    put_string(&s, 1, "{a=\"b\"}");
    put_entry(&s, 2, -1, "x");
    put_sub(&f->buf, 1, &s);
    assert_int_equal(decode_pb(f), 0);
    assert_int_equal(f->batch.streams[0].entries[0].ts, 1999999999);

    sx_buf_clear(&f->buf);
    put_string(&s, 1, "{a=\"b\"}");
    put_entry(&s, INT64_MAX / 1000, 0, "x");
    put_sub(&f->buf, 1, &s);
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_contains(f, "stream 0: entry 0: timestamp 9223372036854775 s 0 ns is out of range");
}

static void test_loki_pb_rejects_malformed_input(void **state)
{
    fixture_t *f = *state;
    /* Truncated: a stream whose length runs past the end. */
    sx_buf_clear(&f->buf);
    put_tag(&f->buf, 1, 2);
    sx_buf_put_uvarint(&f->buf, 50);
    sx_buf_puts(&f->buf, "short");
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_is(f, SX_EPARSE,
                  "push request: length-delimited field runs past the end of its message at offset 0");

    /* A varint that never ends. */
    sx_buf_clear(&f->buf);
    sx_buf_append(&f->buf, "\x08\xff\xff", 3);
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_contains(f, "truncated varint at offset 0");

    /* Groups. */
    sx_buf_clear(&f->buf);
    put_tag(&f->buf, 5, 3);
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_contains(f, "groups (wire types 3 and 4) are not supported");

    /* Streams as a varint. */
    sx_buf_clear(&f->buf);
    put_varint_field(&f->buf, 1, 3);
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_is(f, SX_EPARSE, "push request: field 1: unexpected wire type at offset 0");

    /* An entry whose line is a varint: named by stream and entry. */
    sx_buf_t s = SX_BUF_INIT, e = SX_BUF_INIT;
    sx_buf_clear(&f->buf);
    put_string(&s, 1, "{a=\"b\"}");
    put_varint_field(&e, 2, 1);
    put_sub(&s, 2, &e);
    put_sub(&f->buf, 1, &s);
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_is(f, SX_EPARSE, "stream 0: entry 0: field 2: unexpected wire type at offset 13");

    /* Bad bytes inside a timestamp. */
    sx_buf_t ts = SX_BUF_INIT;
    sx_buf_clear(&f->buf);
    put_string(&s, 1, "{a=\"b\"}");
    put_tag(&ts, 1, 1);
    put_sub(&e, 1, &ts);
    put_sub(&s, 2, &e);
    put_sub(&f->buf, 1, &s);
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_contains(f, "stream 0: entry 0: timestamp: truncated fixed64 field at offset 15");
}

static void test_loki_pb_without_streams_is_an_error(void **state)
{
    fixture_t *f = *state;
    sx_buf_clear(&f->buf);
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, SX_LOKI_NO_STREAMS_MSG);
    put_string(&f->buf, 2, "loki");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "error at least one valid stream is required for ingestion");
}

static void test_loki_pb_stream_without_entries_is_validated_then_dropped(void **state)
{
    fixture_t *f = *state;
    sx_buf_t s = SX_BUF_INIT;
    put_string(&s, 1, "{a=\"b\"}");
    put_sub(&f->buf, 1, &s);
    one_stream(f, "{a=\"b\"}", "x");
    put_string(&s, 1, "{c=\"d\"}");
    put_sub(&f->buf, 1, &s); /* a second, empty stream */
    assert_int_equal(decode_pb(f), 0);
    assert_int_equal(f->batch.nstreams, 1);
    assert_int_equal(f->batch.nentries, 1);

    sx_buf_clear(&f->buf);
    put_string(&s, 1, "{c=d}");
    put_sub(&f->buf, 1, &s);
    assert_int_equal(decode_pb(f), SX_EPARSE);
    assert_err_contains(f, "Error parsing labels '{c=d}'");
}

/* ---- Label text ---- */

static void test_loki_labels_parse_accepts_prometheus_syntax(void **state)
{
    fixture_t *f = *state;
    sx_label_t *ls;
    uint32_t n;
    assert_int_equal(parse(f, " {b=\"x\\ty\", a='it\\'s', c=`raw \\n`, d=\"\\u263a\\x41\\101\" } ", &ls, &n), 0);
    assert_int_equal(n, 4);
    assert_str_equal(ls[0].name, "a");
    assert_str_equal(ls[0].value, "it's");
    assert_str_equal(ls[1].value, "x\ty");
    assert_str_equal(ls[2].value, "raw \\n");
    assert_str_equal(ls[3].value, "\xe2\x98\xba" "AA");

    assert_int_equal(parse(f, "", &ls, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(parse(f, "{}", &ls, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(parse(f, "{a=\"\"}", &ls, &n), 0);
    assert_int_equal(n, 0);

    /* A metric name in front becomes __name__; comments and newlines are blanks. */
    assert_int_equal(parse(f, "up{job=\"x\", # note\n __name__=\"y\"}", &ls, &n), 0);
    assert_int_equal(n, 2);
    assert_str_equal(ls[0].name, "__name__");
    assert_str_equal(ls[0].value, "up");
    assert_str_equal(ls[1].name, "job");

    /* Duplicates are kept for the validator, in order. */
    assert_int_equal(parse(f, "{a=\"2\", a=\"1\"}", &ls, &n), 0);
    assert_int_equal(n, 2);
    assert_str_equal(ls[0].value, "2");
    assert_str_equal(ls[1].value, "1");
}

static void test_loki_labels_parse_sorts_many_labels_stably(void **state)
{
    fixture_t *f = *state;
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_putc(&b, '{');
    for (int i = 99; i >= 0; i--)
        sx_buf_printf(&b, "l%02d=\"%d\", ", i, i);
    sx_buf_puts(&b, "l50=\"again\"}");
    sx_buf_putc(&b, '\0');
    sx_label_t *ls;
    uint32_t n;
    assert_int_equal(parse(f, b.ptr, &ls, &n), 0);
    assert_int_equal(n, 101);
    assert_str_equal(ls[0].name, "l00");
    assert_str_equal(ls[50].name, "l50");
    assert_str_equal(ls[50].value, "50");
    assert_str_equal(ls[51].value, "again");
    assert_str_equal(ls[100].name, "l99");
    sx_buf_dispose(&b);
}

static void test_loki_labels_parse_errors_are_worded_as_loki(void **state)
{
    fixture_t *f = *state;
    assert_parse_error(f, "{foo=bar}",
                       "1:6: parse error: unexpected identifier \"bar\" in label set, expected string");
    assert_parse_error(f, "{ab\"", "1:4: parse error: unterminated quoted string");
    assert_parse_error(f, "{a=\"b\" c=\"d\"}",
                       "1:8: parse error: unexpected identifier \"c\" in label set, expected \",\" or \"}\"");
    assert_parse_error(f, "{a=\"b\"", "1:7: parse error: unexpected end of input inside braces");
    assert_parse_error(f, "{a.b=\"c\"}",
                       "1:3: parse error: unexpected character inside braces: '.'");
    assert_parse_error(f, "{a=\"\\q\"}", "1:4: parse error: unknown escape sequence U+0071 'q'");
    assert_parse_error(f, "{a!=\"b\"}",
                       "1:3: parse error: unexpected <op:!=> in label set, expected identifier or \"}\"");
    assert_parse_error(f, "{a=\"b\"} x", "1:9: parse error: unexpected identifier \"x\"");
    assert_parse_error(f, "{a=\"b\",\n c=d}",
                       "2:4: parse error: unexpected identifier \"d\" in label set, expected string");
    assert_parse_error(f, "{,}",
                       "1:2: parse error: unexpected \",\" in label set, expected identifier or \"}\"");
    assert_parse_error(f, "{a=\"b\"\n", "2:1: parse error: unexpected end of input inside braces");
    assert_parse_error(f, "{a={}", "1:4: parse error: unexpected left brace '{'");
    assert_parse_error(f, "{a=\"x\ny\"}", "1:4: parse error: unterminated quoted string");
    assert_parse_error(f, "{a=\"\\u12\"}",
                       "1:4: parse error: illegal character U+0022 '\"' in escape sequence");
    assert_parse_error(f, "{a=\"\\ud800\"}",
                       "1:4: parse error: escape sequence is an invalid Unicode code point");
    assert_parse_error(f, "{a=\"\xff\"}", "1:4: parse error: invalid UTF-8 rune");
    assert_parse_error(f, "{a=`x}", "1:4: parse error: unterminated raw string");
    assert_parse_error(f, "$", "1:1: parse error: unexpected character: '$'");
    assert_parse_error(f, "{a=\"0123456789abc\" b}",
                       "1:20: parse error: unexpected identifier \"b\" in label set, expected \",\" or \"}\"");
    assert_parse_error(f, "{a=\"b\", c=\"0123456789abc\"=}",
                       "1:26: parse error: unexpected \"=\" in label set, expected \",\" or \"}\"");
    assert_parse_error(f, "{a=\"b\", c= \"d\" \"0123456789abc\"}",
                       "1:16: parse error: unexpected string \"\\\"012345678\"... in label set, "
                       "expected \",\" or \"}\"");
}

static void test_loki_labels_format_quotes_as_go(void **state)
{
    fixture_t *f = *state;
    sx_label_t ls[] = {lbl("a", "q\"b\\n\n\t\x01\x7f\xff☃"), lbl("b", "")};
    sx_buf_t b = SX_BUF_INIT;
    sx_loki_labels_format(&b, ls, 2);
    assert_int_equal(b.len, strlen("{a=\"q\\\"b\\\\n\\n\\t\\x01\\x7f\\xff☃\", b=\"\"}"));
    assert_memory_equal(b.ptr, "{a=\"q\\\"b\\\\n\\n\\t\\x01\\x7f\\xff☃\", b=\"\"}", b.len);
    /* It parses back to the same bytes. */
    sx_buf_putc(&b, '\0');
    sx_label_t *out;
    uint32_t n;
    assert_int_equal(parse(f, b.ptr, &out, &n), 0);
    assert_int_equal(n, 1);
    assert_true(sx_str_eq(out[0].value, ls[0].value));
    sx_buf_dispose(&b);
}

/* ---- Validation ---- */

static void test_loki_validation_requires_a_label(void **state)
{
    fixture_t *f = *state;
    one_stream(f, "{}", "x");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "error at least one label pair is required per stream");
    one_stream(f, "{a=\"\"}", "x");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "error at least one label pair is required per stream");
}

static void test_loki_validation_limits_label_count(void **state)
{
    fixture_t *f = *state;
    char text[512] = "{";
    for (int i = 0; i < 16; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%sl%d=\"v\"", i ? ", " : "", i);
    strcat(text, "}");
    one_stream(f, text, "x");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    char want[600];
    snprintf(want, sizeof(want), "entry for stream '%s' has 16 label names; limit 15", text);
    assert_err_is(f, SX_EINVAL, want);

    /* service_name is not counted, as in Loki. */
    one_stream(f, "{l0=\"v\", l1=\"v\", l2=\"v\", l3=\"v\", l4=\"v\", l5=\"v\", l6=\"v\", l7=\"v\", "
                  "l8=\"v\", l9=\"v\", l10=\"v\", l11=\"v\", l12=\"v\", l13=\"v\", l14=\"v\", "
                  "service_name=\"s\"}",
               "x");
    assert_int_equal(decode_pb(f), 0);
    assert_int_equal(f->batch.streams[0].nlabels, 16);
}

static void test_loki_validation_limits_name_and_value_length(void **state)
{
    fixture_t *f = *state;
    f->lim.max_label_name_len = 4;
    f->lim.max_label_value_len = 5;
    one_stream(f, "{app=\"x\", toolong=\"y\"}", "x");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL,
                  "stream '{app=\"x\", toolong=\"y\"}' has label name too long: 'toolong'");
    one_stream(f, "{app=\"abcdef\"}", "x");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "stream '{app=\"abcdef\"}' has label value too long: 'abcdef'");
}

static void test_loki_validation_rejects_duplicate_names(void **state)
{
    fixture_t *f = *state;
    one_stream(f, "{b=\"1\",a=\"x\", b=\"2\"}", "x");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "stream '{b=\"1\",a=\"x\", b=\"2\"}' has duplicate label name: 'b'");
}

static void test_loki_validation_rejects_values_that_are_not_utf8(void **state)
{
    fixture_t *f = *state;
    one_stream(f, "{a=\"\\xff\"}", "x");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    assert_err_is(f, SX_EINVAL,
                  "stream '{a=\"\\xff\"}' has a label value that is not valid UTF-8: 'a'");
}

static void test_loki_validation_limits_line_size(void **state)
{
    fixture_t *f = *state;
    f->lim.max_line_size = 10;
    one_stream(f, "{job=\"j\",app=\"x\"}", "0123456789");
    assert_int_equal(decode_pb(f), 0);
    one_stream(f, "{job=\"j\",app=\"x\"}", "0123456789A");
    assert_int_equal(decode_pb(f), SX_EINVAL);
    /* Loki shows the parsed labels here, not the text as sent. */
    assert_err_is(f, SX_EINVAL,
                  "Max entry size '10' bytes exceeded for stream '{app=\"x\", job=\"j\"}' while "
                  "adding an entry with length '11' bytes");
    f->lim.max_line_size = 0; /* no limit */
    assert_int_equal(decode_pb(f), 0);
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\","
                                    "\"0123456789A\"]]}]}"),
                     0);
    f->lim.max_line_size = 10;
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\","
                                    "\"0123456789\\u0041\"]]}]}"),
                     SX_EINVAL);
    assert_err_is(f, SX_EINVAL,
                  "Max entry size '10' bytes exceeded for stream '{a=\"b\"}' while adding an "
                  "entry with length '11' bytes");
}

static void test_loki_validation_limits_structured_metadata(void **state)
{
    fixture_t *f = *state;
    sx_buf_t body = SX_BUF_INIT;
    sx_buf_puts(&body, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"x\",{");
    for (int i = 0; i < 129; i++)
        sx_buf_printf(&body, "%s\"k%d\":\"v\"", i ? "," : "", i);
    sx_buf_puts(&body, "}]]}]}");
    sx_buf_putc(&body, '\0');
    assert_int_equal(decode_json(f, body.ptr), SX_EINVAL);
    assert_err_is(f, SX_EINVAL,
                  "stream '{a=\"b\"}' has too many structured metadata labels: '129', limit: "
                  "'128'. Please see `limits_config.max_structured_metadata_entries_count` or "
                  "contact your Loki administrator to increase it.");

    sx_buf_clear(&body);
    sx_buf_puts(&body, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"x\",{\"big\":\"");
    for (int i = 0; i < 65536; i++)
        sx_buf_putc(&body, 'v');
    sx_buf_puts(&body, "\"}]]}]}");
    sx_buf_putc(&body, '\0');
    assert_int_equal(decode_json(f, body.ptr), SX_EINVAL);
    assert_err_is(f, SX_EINVAL,
                  "stream '{a=\"b\"}' has structured metadata too large: '65539' bytes, limit: "
                  "'65536' bytes. Please see `limits_config.max_structured_metadata_size` or "
                  "contact your Loki administrator to increase it.");
    sx_buf_dispose(&body);
}

/* ---- JSON ---- */

static void test_loki_json_decodes_streams(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"streams\":[{\"stream\":{\"job\":\"api\",\"app\":\"web\"},\"values\":["
        "[\"1700000000000000001\",\"GET / 200\"],"
        "[\"1700000000000000002\",\"with meta\",{\"trace_id\":\"t1\",\"user\":\"u\"}]]},"
        " {\"stream\":{\"job\":\"db\"},\"values\":[[\"-5\",\"\"]]}]}";
    assert_int_equal(decode_json(f, body), 0);
    assert_int_equal(f->batch.nstreams, 2);
    assert_int_equal(f->batch.nentries, 3);
    assert_int_equal(f->batch.nbytes, strlen("GET / 200") + strlen("with meta"));
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_int_equal(s->nlabels, 2);
    assert_str_equal(s->labels[0].name, "app");
    assert_str_equal(s->labels[1].name, "job");
    assert_int_equal(s->entries[0].ts, 1700000000000000001);
    assert_str_equal(s->entries[0].line, "GET / 200");
    assert_true(inside(s->entries[0].line, body, strlen(body)));
    assert_int_equal(s->entries[1].nmeta, 2);
    assert_str_equal(s->entries[1].meta[0].name, "trace_id");
    assert_str_equal(s->entries[1].meta[1].value, "u");
    assert_int_equal(f->batch.streams[1].entries[0].ts, -5);
}

static void test_loki_json_decodes_escapes_into_the_arena(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"streams\":[{\"stream\":{\"a\\u0062c\":\"x\\ty\"},\"values\":[[\"1\","
        "\"q\\\"b\\\\s\\/n\\nb\\bf\\fr\\r\\u00e9\\u263a\\ud83d\\ude00|\\ud800x|\\udc00|\\ud800\\u0041\"]]}]}";
    assert_int_equal(decode_json(f, body), 0);
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_str_equal(s->labels[0].name, "abc");
    assert_str_equal(s->labels[0].value, "x\ty");
    assert_str_equal(s->entries[0].line,
                     "q\"b\\s/n\nb\bf\fr\r\xc3\xa9\xe2\x98\xba\xf0\x9f\x98\x80|\xef\xbf\xbdx|"
                     "\xef\xbf\xbd|\xef\xbf\xbd" "A");
    assert_false(inside(s->entries[0].line, body, strlen(body)));
    assert_int_equal(f->batch.nbytes, s->entries[0].line.len);
}

static void test_loki_json_accepts_any_key_order_nulls_and_unknown_keys(void **state)
{
    fixture_t *f = *state;
    const char *body =
        " {\"extra\":{\"deep\":[1,-2.5e3,true,false,null,{\"x\":[]}]},"
        "\"streams\":[{\"values\":[[\"7\",null],[\"8\",\"l\",null]],\"other\":\"s\\n\","
        "\"stream\":{\"a\":\"b\"}},"
        "{\"stream\":{\"a\":\"c\"},\"values\":null},"
        "{\"stream\":{\"a\":\"d\"},\"values\":[]}]} \n";
    assert_int_equal(decode_json(f, body), 0);
    assert_int_equal(f->batch.nstreams, 1); /* streams without entries are left out */
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_str_equal(s->labels[0].value, "b");
    assert_int_equal(s->nentries, 2);
    assert_str_equal(s->entries[0].line, "");
    assert_int_equal(s->entries[1].ts, 8);
    assert_int_equal(s->entries[1].nmeta, 0);

    assert_int_equal(decode_json(f, "{\"streams\":null}"), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, SX_LOKI_NO_STREAMS_MSG);
    assert_int_equal(decode_json(f, "{}"), SX_EINVAL);
    assert_int_equal(decode_json(f, "{\"streams\":[]}"), SX_EINVAL);
}

static void test_loki_json_last_duplicate_key_wins(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(
        decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"1\",\"b\":\"x\",\"a\":\"2\",\"c\":\"y\","
                       "\"c\":\"\"},\"values\":[[\"1\",\"l\",{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}]]}]}"),
        0);
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_int_equal(s->nlabels, 2);
    assert_str_equal(s->labels[0].value, "2");
    assert_str_equal(s->labels[1].name, "b");
    const sx_log_entry_t *e = &s->entries[0];
    assert_int_equal(e->nmeta, 2);
    assert_str_equal(e->meta[0].name, "k");
    assert_str_equal(e->meta[0].value, "3");
    assert_str_equal(e->meta[1].name, "j");
}

static void test_loki_json_rejects_invalid_label_names_as_loki(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a.b\":\"c\",\"z\":\"1\"},"
                                    "\"values\":[[\"1\",\"x\"]]}]}"),
                     SX_EPARSE);
    assert_err_is(f, SX_EPARSE,
                  "Error parsing labels '{a.b=\"c\", z=\"1\"}' with error: 1:3: parse error: "
                  "unexpected character inside braces: '.'");
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"\":\"c\"},\"values\":[]}]}"),
                     SX_EPARSE);
    assert_err_contains(f, "unexpected \"=\" in label set, expected identifier or \"}\"");
    /* Labels are checked even when the stream has no entries. */
    assert_int_equal(decode_json(f, "{\"streams\":[{\"values\":[]}]}"), SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "error at least one label pair is required per stream");
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"\"},\"values\":[[\"1\",\"x\"]]}]}"),
                     SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "error at least one label pair is required per stream");
}

static void test_loki_json_validates_labels_with_the_rendered_map(void **state)
{
    fixture_t *f = *state;
    f->lim.max_label_value_len = 3;
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"b\":\"long\",\"a\":\"\\n\"},"
                                    "\"values\":[[\"1\",\"x\"]]}]}"),
                     SX_EINVAL);
    assert_err_is(f, SX_EINVAL, "stream '{a=\"\\n\", b=\"long\"}' has label value too long: 'long'");
}

static void test_loki_json_timestamps_must_be_integer_strings(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[1700000000,\"x\"]]}]}"),
                     SX_EPARSE);
    assert_err_is(f, SX_EPARSE,
                  "stream 0: entry 0: the timestamp must be a string of nanoseconds, not a number "
                  "at offset 43");
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"x\"],[\"1.5\",\"y\"]]}]}"),
                     SX_EPARSE);
    assert_err_is(f, SX_EPARSE,
                  "stream 0: entry 1: error reading entry timestamp: strconv.ParseInt: parsing "
                  "\"1.5\": invalid syntax at offset 53");
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"9223372036854775808\",\"x\"]]}]}"),
                     SX_EPARSE);
    assert_err_contains(f, "parsing \"9223372036854775808\": value out of range");
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"-9223372036854775808\",\"x\"],[\"+12\",\"y\"]]}]}"),
                     0);
    assert_int_equal(f->batch.streams[0].entries[0].ts, INT64_MIN);
    assert_int_equal(f->batch.streams[0].entries[1].ts, 12);
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"\",\"x\"]]}]}"),
                     SX_EPARSE);
    assert_err_contains(f, "parsing \"\": invalid syntax");
}

static void test_loki_json_rejects_bad_entries(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *values;
        const char *msg;
    } cases[] = {
        {"[[\"1\"]]", "stream 0: entry 0: want 2 or 3 values"},
        {"[[\"1\",\"x\",{},\"extra\"]]", "stream 0: entry 0: want 2 or 3 values"},
        {"[[\"1\",5]]", "stream 0: entry 0: the line must be a string"},
        {"[[\"1\",\"x\",[]]]", "stream 0: entry 0: structured metadata must be an object"},
        {"[[\"1\",\"x\",{\"k\":1}]]",
         "stream 0: entry 0: structured metadata \"k\" must have a string value"},
        {"[\"1\",\"x\"]", "stream 0: entry 0: want an array [\"<ns>\", \"<line>\"]"},
        {"{}", "stream 0: \"values\" must be an array"},
        {"[[null,\"x\"]]", "stream 0: entry 0: the timestamp must be a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":%s}]}",
                 cases[i].values);
        assert_int_equal(decode_json(f, body), SX_EPARSE);
        assert_err_contains(f, cases[i].msg);
    }
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}"), SX_EPARSE);
    assert_err_contains(f, "stream 0: label \"a\" must have a string value");
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":[],\"values\":[]}]}"), SX_EPARSE);
    assert_err_contains(f, "stream 0: \"stream\" must be an object");
    assert_int_equal(decode_json(f, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"stream\":{}}]}"), SX_EPARSE);
    assert_err_contains(f, "stream 0: duplicate key \"stream\"");
    assert_int_equal(decode_json(f, "{\"streams\":[1]}"), SX_EPARSE);
    assert_err_contains(f, "stream 0: want an object");
}

static void test_loki_json_rejects_syntax_errors_with_offsets(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *body;
        const char *msg;
    } cases[] = {
        {"", "invalid JSON at offset 0: empty body"},
        {"[]", "invalid JSON at offset 0: the body must be an object"},
        {"{\"streams\":[]} x", "invalid JSON at offset 15: unexpected data after the top-level object"},
        {"{\"streams\" []}", "invalid JSON at offset 11: expected ':'"},
        {"{\"streams\":[],}", "invalid JSON at offset 14: expected a string key"},
        {"{\"x\":[1,2,]}", "invalid JSON at offset 10: unexpected character"},
        {"{\"x\":tru}", "invalid JSON at offset 5: invalid literal"},
        {"{\"x\":01}", "invalid JSON at offset 6: expected ',' or '}'"},
        {"{\"x\":\"\\x\"}", "invalid JSON at offset 6: invalid escape sequence"},
        {"{\"x\":\"abc", "invalid JSON at offset 5: unterminated string"},
        {"{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"\\u12x4\"]]}]}",
         "invalid JSON at offset 48: invalid \\u escape"},
        {"{\"x\":1.}", "invalid JSON at offset 5: invalid number"},
        {"{\"streams\":{}}", "invalid JSON at offset 11: \"streams\" must be an array"},
        {"{\"streams\":[],\"streams\":[]}", "invalid JSON at offset 24: duplicate key \"streams\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(decode_json(f, cases[i].body), SX_EPARSE);
        assert_err_is(f, SX_EPARSE, cases[i].msg);
    }
    /* Nesting in skipped values is bounded. */
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "{\"x\":");
    for (int i = 0; i < 100; i++)
        sx_buf_putc(&b, '[');
    for (int i = 0; i < 100; i++)
        sx_buf_putc(&b, ']');
    sx_buf_puts(&b, ",\"streams\":[]}");
    sx_buf_putc(&b, '\0');
    assert_int_equal(decode_json(f, b.ptr), SX_EPARSE);
    assert_err_contains(f, "nesting too deep");
    sx_buf_dispose(&b);
}

static void test_loki_json_and_pb_agree(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"streams\":[{\"stream\":{\"z\":\"\\\"q\\\"\",\"a\":\"é\"},\"values\":["
        "[\"1\",\"l1\"],[\"2\",\"l2\",{\"m\":\"v\"}]]},{\"stream\":{\"b\":\"c\"},\"values\":[[\"3\",\"x\"]]}]}";
    assert_int_equal(decode_json(f, body), 0);
    sx_log_batch_t json = f->batch;
    sx_buf_clear(&f->buf);
    sx_loki_push_encode_pb(&json, &f->buf);
    assert_int_equal(decode_pb(f), 0);
    assert_same_batch(&json, &f->batch);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_log_batch_grows_streams_and_entries),
        T(test_log_batch_reports_arena_limit),
        T(test_loki_pb_round_trips),
        T(test_loki_pb_encode_appends),
        T(test_loki_pb_sorts_labels_and_drops_empty_values),
        T(test_loki_pb_skips_unknown_fields),
        T(test_loki_pb_reads_structured_metadata),
        T(test_loki_pb_merges_repeated_timestamps),
        T(test_loki_pb_negative_nanos_and_range),
        T(test_loki_pb_rejects_malformed_input),
        T(test_loki_pb_without_streams_is_an_error),
        T(test_loki_pb_stream_without_entries_is_validated_then_dropped),
        T(test_loki_labels_parse_accepts_prometheus_syntax),
        T(test_loki_labels_parse_sorts_many_labels_stably),
        T(test_loki_labels_parse_errors_are_worded_as_loki),
        T(test_loki_labels_format_quotes_as_go),
        T(test_loki_validation_requires_a_label),
        T(test_loki_validation_limits_label_count),
        T(test_loki_validation_limits_name_and_value_length),
        T(test_loki_validation_rejects_duplicate_names),
        T(test_loki_validation_rejects_values_that_are_not_utf8),
        T(test_loki_validation_limits_line_size),
        T(test_loki_validation_limits_structured_metadata),
        T(test_loki_json_decodes_streams),
        T(test_loki_json_decodes_escapes_into_the_arena),
        T(test_loki_json_accepts_any_key_order_nulls_and_unknown_keys),
        T(test_loki_json_last_duplicate_key_wins),
        T(test_loki_json_rejects_invalid_label_names_as_loki),
        T(test_loki_json_validates_labels_with_the_rendered_map),
        T(test_loki_json_timestamps_must_be_integer_strings),
        T(test_loki_json_rejects_bad_entries),
        T(test_loki_json_rejects_syntax_errors_with_offsets),
        T(test_loki_json_and_pb_agree),
    };
    return cmocka_run_group_tests_name("loki_push", tests, NULL, NULL);
}
