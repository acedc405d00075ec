/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for src/storage/traces/spancol.c: span records cut into columns
 * must come back byte for byte, whatever their mix of parents inside and
 * outside the chunk, repeated names, resources and trace ids, events,
 * links and attribute types; lines that are not records keep the chunk in
 * plain form; and malformed column input is refused, not read past. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "model/span.h"
#include "storage/traces/spancol.h"
#include "storage/traces/spanrec.h"

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static sx_str_t S(const char *s)
{
    return (sx_str_t){s, strlen(s)};
}

#define NOKEY ((sx_str_t){NULL, 0})

static const char *const services[] = {"frontend", "checkout", "cart", "payment"};
static const char *const names[] = {"GET /api/cart", "SELECT orders", "charge", "render"};

/* A batch of n spans over ntraces traces: every third span's parent is an
 * earlier span of the batch, every fifth one's is a span not in it. */
static void make_batch(sx_arena_t *a, sx_span_batch_t *b, size_t n, size_t ntraces)
{
    sx_span_batch_init(b, a);
    for (int r = 0; r < 4; r++) {
        sx_span_resource_t *rs = sx_span_batch_add_resource(b);
        rs->nattrs = 2;
        rs->attrs = sx_arena_calloc(a, 2, sizeof(sx_attr_t));
        rs->attrs[0] = (sx_attr_t){S("service.name"), {.type = SX_AV_STRING, .s = S(services[r])}};
        rs->attrs[1] = (sx_attr_t){S("host.cpus"), {.type = SX_AV_INT, .i = -r}};
        rs->service_name = S(services[r]);
        sx_span_scope_t *sc = sx_span_batch_add_scope(b);
        sc->resource = (uint32_t)r;
        sc->name = S("lib");
        sc->version = r & 1 ? S("1.2") : S("");
    }
    for (size_t i = 0; i < n; i++) {
        sx_span_t *sp = sx_span_batch_add(b);
        sp->scope = (uint32_t)(rnd() % 4);
        uint64_t t = 1 + rnd() % ntraces;
        memcpy(sp->trace_id, &t, 8);
        sp->trace_id[15] = 0xab;
        uint64_t id = rnd() | 1;
        memcpy(sp->span_id, &id, 8);
        if (i % 3 == 1) {
            memcpy(sp->parent_span_id, b->spans[i - 1].span_id, 8);
            sp->has_parent = true;
        } else if (i % 5 == 2) {
            uint64_t pid = rnd() | 1;
            memcpy(sp->parent_span_id, &pid, 8);
            sp->has_parent = true;
        }
        sp->name = S(names[rnd() % 4]);
        sp->kind = (int32_t)(rnd() % 6);
        sp->start_ns = 1700000000000000000ull + i * 1000;
        sp->end_ns = i % 17 == 3 ? sp->start_ns - 5 : sp->start_ns + rnd() % 100000000;
        sp->status_code = i % 7 == 0 ? 2 : 0;
        sp->status_message = i % 7 == 0 ? S("boom") : S("");
        sp->flags = 1;
        sp->nattrs = 1 + (uint32_t)(i % 4);
        sp->attrs = sx_arena_calloc(a, sp->nattrs, sizeof(sx_attr_t));
        sp->attrs[0] = (sx_attr_t){S("http.route"), {.type = SX_AV_STRING, .s = S("/api/cart")}};
        if (sp->nattrs > 1)
            sp->attrs[1] = (sx_attr_t){S("ok"), {.type = SX_AV_BOOL, .b = true}};
        if (sp->nattrs > 2)
            sp->attrs[2] = (sx_attr_t){S("ratio"), {.type = SX_AV_DOUBLE, .d = 0.25 * (double)i}};
        if (sp->nattrs > 3)
            sp->attrs[3] = (sx_attr_t){S("empty"), {.type = SX_AV_EMPTY}};
        if (i % 11 == 0) {
            sp->nevents = 1;
            sp->events = sx_arena_calloc(a, 1, sizeof(sx_span_event_t));
            sp->events[0].time_ns = sp->start_ns + 1;
            sp->events[0].name = S("exception");
            sp->dropped_events = 2;
        }
        if (i % 19 == 5) {
            /* The smallest events and links there are, many of them. */
            sp->nevents = 12;
            sp->events = sx_arena_calloc(a, 12, sizeof(sx_span_event_t));
            sp->nlinks = 3;
            sp->links = sx_arena_calloc(a, 3, sizeof(sx_span_link_t));
        }
        if (i % 13 == 0) {
            sp->nlinks = 1;
            sp->links = sx_arena_calloc(a, 1, sizeof(sx_span_link_t));
            memset(sp->links[0].trace_id, 7, 16);
            memset(sp->links[0].span_id, 9, 8);
            sp->links[0].trace_state = S("k=v");
        }
    }
}

/* The records of b's spans, lines[i] pointing into recs. */
static sx_str_t *records(const sx_span_batch_t *b, sx_buf_t *recs)
{
    size_t *off = calloc(b->nspans + 1, sizeof(size_t));
    for (uint32_t i = 0; i < b->nspans; i++) {
        off[i] = recs->len;
        sx_spanrec_encode(recs, b, &b->spans[i]);
    }
    off[b->nspans] = recs->len;
    sx_str_t *lines = calloc(b->nspans + 1, sizeof(sx_str_t));
    for (uint32_t i = 0; i < b->nspans; i++)
        lines[i] = (sx_str_t){recs->ptr + off[i], off[i + 1] - off[i]};
    free(off);
    return lines;
}

static void round_trip(size_t n, size_t ntraces)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_span_batch_t b;
    make_batch(&a, &b, n, ntraces);
    sx_buf_t recs = SX_BUF_INIT, col = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_str_t *lines = records(&b, &recs);
    assert_true(sx_spancol_encode(lines, n, &col));
    sx_str_t *back = calloc(n + 1, sizeof(sx_str_t));
    assert_int_equal(sx_spancol_decode(col.ptr, col.len, n, NOKEY, &out, back), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(back[i].len, lines[i].len);
        assert_memory_equal(back[i].ptr, lines[i].ptr, lines[i].len);
        sx_span_batch_t d;
        sx_span_batch_init(&d, &a);
        assert_int_equal(sx_spanrec_decode(back[i].ptr, back[i].len, 0, &d), 0);
    }
    /* Asking for one trace rebuilds exactly its records. */
    for (size_t k = 0; k < n && k < 3; k++) {
        sx_str_t key = {lines[k].ptr + 2, 32};
        assert_int_equal(sx_spancol_decode(col.ptr, col.len, n, key, &out, back), 0);
        for (size_t i = 0; i < n; i++) {
            if (memcmp(lines[i].ptr + 2, key.ptr, 32) == 0) {
                assert_int_equal(back[i].len, lines[i].len);
                assert_memory_equal(back[i].ptr, lines[i].ptr, lines[i].len);
            } else {
                assert_int_equal(back[i].len, 0);
            }
        }
    }
    /* A trace the chunk does not hold: every line empty. */
    assert_int_equal(sx_spancol_decode(col.ptr, col.len, n, S("0123456789abcdef0123456789abcdef"),
                                       &out, back),
                     0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(back[i].len, 0);
    /* Columns are smaller than the records as soon as things repeat. */
    if (n >= 100)
        assert_true(col.len < recs.len);
    /* The wrong count is refused. */
    assert_int_equal(sx_spancol_decode(col.ptr, col.len, n + 1, NOKEY, &out, back), -1);
    free(back);
    free(lines);
    sx_buf_dispose(&recs);
    sx_buf_dispose(&col);
    sx_buf_dispose(&out);
    sx_arena_dispose(&a);
}

static void test_spancol_round_trip(void **state)
{
    (void)state;
    round_trip(1, 1);
    round_trip(2, 1);
    round_trip(50, 5);
    round_trip(1000, 40);
    round_trip(5000, 5000);
}

static void test_spancol_empty_chunk(void **state)
{
    (void)state;
    sx_buf_t col = SX_BUF_INIT, out = SX_BUF_INIT;
    assert_true(sx_spancol_encode(NULL, 0, &col));
    sx_str_t one;
    assert_int_equal(sx_spancol_decode(col.ptr, col.len, 0, NOKEY, &out, &one), 0);
    sx_buf_dispose(&col);
    sx_buf_dispose(&out);
}

/* An older store's OTLP JSON line, or a record with trailing bytes or an
 * upper-case trace id, keeps the whole chunk in plain form. */
static void test_spancol_refuses_other_lines(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_span_batch_t b;
    make_batch(&a, &b, 3, 2);
    sx_buf_t recs = SX_BUF_INIT, col = SX_BUF_INIT;
    sx_str_t *lines = records(&b, &recs);
    sx_buf_putc(&col, 'x');
    sx_str_t json = S("{\"traceId\":\"00\"}");
    sx_str_t mixed[3] = {lines[0], json, lines[2]};
    assert_false(sx_spancol_encode(mixed, 3, &col));
    assert_int_equal(col.len, 1);
    char *longer = malloc(lines[1].len + 1);
    memcpy(longer, lines[1].ptr, lines[1].len);
    longer[lines[1].len] = 0;
    mixed[1] = (sx_str_t){longer, lines[1].len + 1};
    assert_false(sx_spancol_encode(mixed, 3, &col));
    memcpy(longer, lines[1].ptr, lines[1].len);
    longer[2] = (char)(longer[2] >= 'a' ? 'A' + (longer[2] - 'a') : 'G');
    mixed[1] = (sx_str_t){longer, lines[1].len};
    assert_false(sx_spancol_encode(mixed, 3, &col));
    mixed[1] = (sx_str_t){lines[1].ptr, lines[1].len - 1};
    assert_false(sx_spancol_encode(mixed, 3, &col));
    assert_int_equal(col.len, 1);
    free(longer);
    free(lines);
    sx_buf_dispose(&recs);
    sx_buf_dispose(&col);
    sx_arena_dispose(&a);
}

/* Every truncation and many single-byte changes of a valid column form
 * either decode to n records or are refused; heap copies of exact size
 * let ASan see a read past the end. */
static void test_spancol_malformed_input(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_span_batch_t b;
    make_batch(&a, &b, 40, 6);
    sx_buf_t recs = SX_BUF_INIT, col = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_str_t *lines = records(&b, &recs);
    assert_true(sx_spancol_encode(lines, 40, &col));
    sx_str_t back[40];
    for (size_t cut = 0; cut < col.len; cut++) {
        char *p = malloc(cut ? cut : 1);
        memcpy(p, col.ptr, cut);
        assert_int_equal(sx_spancol_decode(p, cut, 40, NOKEY, &out, back), -1);
        free(p);
    }
    int refused = 0;
    for (int k = 0; k < 2000; k++) {
        char *p = malloc(col.len);
        memcpy(p, col.ptr, col.len);
        p[rnd() % col.len] ^= (char)(1 + rnd() % 255);
        if (sx_spancol_decode(p, col.len, 40, NOKEY, &out, back) != 0)
            refused++;
        free(p);
    }
    assert_true(refused > 0);
    free(lines);
    sx_buf_dispose(&recs);
    sx_buf_dispose(&col);
    sx_buf_dispose(&out);
    sx_arena_dispose(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spancol_round_trip),
        cmocka_unit_test(test_spancol_empty_chunk),
        cmocka_unit_test(test_spancol_refuses_other_lines),
        cmocka_unit_test(test_spancol_malformed_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
