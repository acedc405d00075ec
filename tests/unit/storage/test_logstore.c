/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the log store: append and read back (head, parts, both),
 * structured metadata, reopen with write-ahead log replay, bloom filter
 * skipping, compaction of many parts, retention, stream selection and
 * label listing, backward reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/time.h"
#include "storage/encoding/encoding.h"
#include "storage/logs/logstore_int.h"
#include "storage/logs/logstore_store.h"

static char tmpdir[256];

static void mk_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sx-test-logs-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static sx_logstore_t *open_ls(int64_t retention_ms)
{
    sx_logstore_opts_t o = {retention_ms, 0, 0};
    sx_err_t err;
    sx_logstore_t *ls = sx_logstore__open(tmpdir, &o, &err);
    if (!ls)
        fail_msg("open: %s", err.msg);
    return ls;
}

/* A batch of one stream {app=app, env="prod"} with n entries: line i is
 * "<prefix> line <i>" at ts0 + i*step; every third entry has metadata
 * trace_id=t<i>. */
static void push(sx_logstore_t *ls, const char *app, const char *prefix, int64_t ts0, int64_t step,
                 int n)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_log_stream_in_t s = {0};
    s.labels = sx_arena_alloc(&a, 2 * sizeof(sx_label_t));
    s.labels[0] = (sx_label_t){SX_STR_LIT("app"), sx_str(sx_arena_strndup(&a, app, strlen(app)))};
    s.labels[1] = (sx_label_t){SX_STR_LIT("env"), SX_STR_LIT("prod")};
    s.nlabels = 2;
    s.entries = sx_arena_calloc(&a, (size_t)n + 1, sizeof(sx_log_entry_t));
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        sx_log_entry_t *e = &s.entries[i];
        e->ts = ts0 + i * step;
        e->line = sx_str(sx_arena_sprintf(&a, "%s line %d", prefix, i));
        bytes += e->line.len;
        if (i % 3 == 0) {
            e->meta = sx_arena_alloc(&a, sizeof(sx_label_t));
            e->meta[0] = (sx_label_t){SX_STR_LIT("trace_id"), sx_str(sx_arena_sprintf(&a, "t%d", i))};
            e->nmeta = 1;
        }
    }
    s.nentries = (uint32_t)n;
    sx_log_batch_t b = {&a, &s, 1, 1, (size_t)n, bytes};
    sx_log_append_result_t r;
    sx_err_t err;
    assert_int_equal(sx_logstore_append(ls, &b, &r, &err), 0);
    assert_int_equal(r.appended, (uint64_t)n);
    sx_arena_dispose(&a);
}

/* The store's figures now (sx_logstore__stats adds into what it gets). */
static sx_logstore_stats_t stats_of(sx_logstore_t *ls)
{
    sx_logstore_stats_t st = {0};
    sx_logstore__stats(ls, &st);
    return st;
}

typedef struct collected {
    int64_t ts[4096];
    char lines[4096][64];
    char meta[4096][16];
    size_t n;
    size_t blocks;
} collected_t;

static int collect(void *ctx, const sx_log_block_t *b)
{
    collected_t *c = ctx;
    c->blocks++;
    for (size_t i = 0; i < b->n && c->n < 4096; i++) {
        if (i)
            assert_true(b->ts[i] >= b->ts[i - 1]);
        c->ts[c->n] = b->ts[i];
        snprintf(c->lines[c->n], 64, "%.*s", b->lines ? (int)b->lines[i].len : 0,
                 b->lines ? b->lines[i].ptr : "");
        c->meta[c->n][0] = 0;
        if (b->meta_idx && b->meta_idx[i + 1] > b->meta_idx[i]) {
            const sx_label_t *m = &b->meta[b->meta_idx[i]];
            snprintf(c->meta[c->n], 16, "%.*s", (int)m->value.len, m->value.ptr);
        }
        c->n++;
    }
    return 0;
}

static uint32_t stream_id(sx_logstore_t *ls, const char *app)
{
    sx_matcher_t m = {SX_STR_LIT("app"), sx_str(app), SX_MATCH_EQ, NULL};
    sx_arena_t a;
    sx_arena_init(&a);
    sx_log_stream_t *st;
    size_t n;
    assert_int_equal(sx_logstore_select(ls, &m, 1, INT64_MIN, INT64_MAX, &a, &st, &n), 0);
    assert_int_equal(n, 1);
    uint32_t id = st[0].id;
    sx_arena_dispose(&a);
    return id;
}

static void read_all(sx_logstore_t *ls, const char *app, int64_t mint, int64_t maxt, int flags,
                     const sx_log_hint_t *hint, collected_t *c, sx_log_read_stats_t *st)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(sx_logstore_read(ls, stream_id(ls, app), mint, maxt, flags, hint, collect, c, st),
                     0);
}

static const int64_t T0 = 1700000000000000000LL;

static void test_head_parts_and_replay(void **state)
{
    (void)state;
    mk_tmp();
    sx_logstore_t *ls = open_ls(0);
    push(ls, "api", "alpha", T0, 1000, 100);
    collected_t *c = malloc(sizeof(*c));
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES | SX_LOGREAD_META, NULL, c, NULL);
    assert_int_equal(c->n, 100);
    assert_string_equal(c->lines[7], "alpha line 7");
    assert_string_equal(c->meta[9], "t9");
    assert_string_equal(c->meta[10], "");
    /* Flush: the same answer comes from a part. */
    assert_int_equal(sx_logstore_flush(ls), 0);
    push(ls, "api", "beta", T0 + 100000, 1000, 10);
    read_all(ls, "api", T0 + 50 * 1000, T0 + 104 * 1000, SX_LOGREAD_LINES | SX_LOGREAD_META, NULL,
             c, NULL);
    assert_int_equal(c->n, 55);
    assert_string_equal(c->lines[0], "alpha line 50");
    assert_string_equal(c->meta[1], "t51");
    assert_string_equal(c->lines[50], "beta line 0");
    assert_string_equal(c->lines[54], "beta line 4");
    /* Reopen: the part and the replayed log give everything back. */
    sx_logstore__close(ls);
    ls = open_ls(0);
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES | SX_LOGREAD_META, NULL, c, NULL);
    assert_int_equal(c->n, 110);
    assert_string_equal(c->lines[109], "beta line 9");
    assert_string_equal(c->meta[100], "t0");
    assert_string_equal(c->meta[103], "t3");
    /* Backward: newest block first, entries inside a block ascending. */
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES | SX_LOGREAD_BACKWARD, NULL, c,
             NULL);
    assert_int_equal(c->n, 110);
    assert_string_equal(c->lines[0], "beta line 0");
    assert_string_equal(c->lines[10], "alpha line 0");
    /* Stats from the index and the head. */
    sx_matcher_t m = {SX_STR_LIT("env"), SX_STR_LIT("prod"), SX_MATCH_EQ, NULL};
    sx_log_index_stats_t is;
    assert_int_equal(sx_logstore_index_stats(ls, &m, 1, INT64_MIN, INT64_MAX, &is), 0);
    assert_int_equal(is.streams, 1);
    assert_int_equal(is.entries, 110);
    assert_int_equal(is.chunks, 2);
    sx_logstore__close(ls);
    free(c);
    rm_tmp();
}

static void test_bloom_skip(void **state)
{
    (void)state;
    mk_tmp();
    sx_logstore_t *ls = open_ls(0);
    /* Three parts of one stream; only the second holds the needle. */
    push(ls, "api", "common words here", T0, 1000, 200);
    assert_int_equal(sx_logstore_flush(ls), 0);
    push(ls, "api", "xq-rarezebra-77 found", T0 + 1000000, 1000, 200);
    assert_int_equal(sx_logstore_flush(ls), 0);
    push(ls, "api", "more common words", T0 + 2000000, 1000, 200);
    assert_int_equal(sx_logstore_flush(ls), 0);
    sx_str_t needle = SX_STR_LIT("RAREZEBRA");
    sx_log_hint_t hint = {&needle, 1};
    collected_t *c = malloc(sizeof(*c));
    sx_log_read_stats_t st = {0};
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &hint, c, &st);
    assert_int_equal(st.chunks_read, 1);
    assert_int_equal(st.chunks_skipped, 2);
    assert_int_equal(c->n, 200);
    assert_string_equal(c->lines[0], "xq-rarezebra-77 found line 0");
    /* A needle whose grams are everywhere reads everything. */
    sx_str_t common = SX_STR_LIT("line");
    hint.needles = &common;
    memset(&st, 0, sizeof(st));
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &hint, c, &st);
    assert_int_equal(st.chunks_read, 3);
    assert_int_equal(c->n, 600);
    assert_true(sx_logbloom_usable(SX_STR_LIT("abcd")));
    assert_false(sx_logbloom_usable(SX_STR_LIT("ab-cd")));
    sx_logstore__close(ls);
    free(c);
    rm_tmp();
}

static void test_compaction_and_order(void **state)
{
    (void)state;
    mk_tmp();
    sx_logstore_t *ls = open_ls(0);
    /* Eight flushes of interleaved, partly out-of-order entries. */
    for (int k = 0; k < 8; k++) {
        push(ls, "api", "x", T0 + (k % 2 ? 0 : 500) + k * 10, 1000, 50);
        push(ls, "web", "w", T0 + k, 7, 5);
        assert_int_equal(sx_logstore_flush(ls), 0);
    }
    sx_logstore_stats_t st = stats_of(ls);
    assert_int_equal(st.parts, 8);
    sx_logstore__maintain(ls, sx_now_ms(), 0, 0);
    st = stats_of(ls);
    assert_int_equal(st.parts, 1);
    assert_int_equal(st.compactions, 1);
    collected_t *c = malloc(sizeof(*c));
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES | SX_LOGREAD_META, NULL, c, NULL);
    assert_int_equal(c->n, 400);
    assert_int_equal(c->blocks, 1);
    for (size_t i = 1; i < c->n; i++)
        assert_true(c->ts[i] >= c->ts[i - 1]);
    read_all(ls, "web", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, NULL, c, NULL);
    assert_int_equal(c->n, 40);
    /* Survives a reopen. */
    sx_logstore__close(ls);
    ls = open_ls(0);
    read_all(ls, "web", T0 + 7, T0 + 14, SX_LOGREAD_LINES, NULL, c, NULL);
    assert_true(c->n >= 2);
    for (size_t i = 0; i < c->n; i++)
        assert_true(c->ts[i] >= T0 + 7 && c->ts[i] <= T0 + 14);
    sx_logstore__close(ls);
    free(c);
    rm_tmp();
}

/* A merge of streams larger than a chunk, read back whole: every entry
 * once, in time order, entries of equal time in the order of their parts,
 * metadata still with its entry. */
typedef struct merged {
    int64_t last_ts;
    int last_k;
    size_t n, bad;
    uint8_t *seen; /* [k * N + i] */
} merged_t;

#define MERGE_N 70000 /* more than SX_LCHUNK_MAX_ENTRIES: two chunks a part */
#define MERGE_K 6     /* parts: COMPACT_MIN_PARTS */

static int check_merged(void *ctx, const sx_log_block_t *b)
{
    merged_t *m = ctx;
    for (size_t j = 0; j < b->n; j++) {
        int k = -1, i = -1;
        char line[64];
        snprintf(line, sizeof(line), "%.*s", (int)b->lines[j].len, b->lines[j].ptr);
        if (sscanf(line, "p%d line %d", &k, &i) != 2 || k < 0 || k >= MERGE_K || i < 0 || i >= MERGE_N) {
            m->bad++;
            continue;
        }
        bool has_meta = b->meta_idx && b->meta_idx[j + 1] > b->meta_idx[j];
        char want[16];
        snprintf(want, sizeof(want), "t%d", i);
        if (b->ts[j] != T0 + i || m->seen[k * MERGE_N + i]++ || has_meta != (i % 3 == 0) ||
            (has_meta && !sx_str_eq_cstr(b->meta[b->meta_idx[j]].value, want)) ||
            b->ts[j] < m->last_ts || (b->ts[j] == m->last_ts && k <= m->last_k))
            m->bad++;
        m->last_ts = b->ts[j];
        m->last_k = k;
        m->n++;
    }
    return 0;
}

/* A head older than head_flush_ms is flushed by maintenance, and so is
 * the next one after a flush: each head's clock starts with its first
 * entry. */
static void test_maintenance_flushes_old_heads(void **state)
{
    (void)state;
    mk_tmp();
    sx_logstore_t *ls = open_ls(0);
    sx_logstore_stats_t st;
    for (int round = 0; round < 3; round++) {
        push(ls, "api", "r", T0 + round * 1000, 1, 10);
        assert_int_equal(stats_of(ls).head_entries, 10);
        /* Not old yet: stays. */
        sx_logstore__maintain(ls, sx_now_ms(), 3600000, 0);
        assert_int_equal(stats_of(ls).head_entries, 10);
        /* An hour later: flushed. */
        sx_logstore__maintain(ls, sx_now_ms() + 3600001, 3600000, 0);
        st = stats_of(ls);
        assert_int_equal(st.head_entries, 0);
        assert_true(st.parts >= 1);
    }
    sx_logstore__close(ls);
    rm_tmp();
}

static void test_compaction_streams_many_chunks(void **state)
{
    (void)state;
    mk_tmp();
    sx_logstore_t *ls = open_ls(0);
    for (int k = 0; k < MERGE_K; k++) {
        char prefix[8];
        snprintf(prefix, sizeof(prefix), "p%d", k);
        push(ls, "api", prefix, T0, 1, MERGE_N); /* the same times in every part */
        push(ls, "web", prefix, T0 + k, 3, 10);
        assert_int_equal(sx_logstore_flush(ls), 0);
    }
    sx_logstore__maintain(ls, sx_now_ms(), 0, 0);
    sx_logstore_stats_t st = stats_of(ls);
    assert_int_equal(st.parts, 1);
    assert_int_equal(st.compactions, 1);
    merged_t m = {.last_ts = INT64_MIN, .last_k = -1, .seen = calloc(MERGE_K * MERGE_N, 1)};
    assert_int_equal(sx_logstore_read(ls, stream_id(ls, "api"), INT64_MIN, INT64_MAX,
                                      SX_LOGREAD_LINES | SX_LOGREAD_META, NULL, check_merged, &m,
                                      NULL),
                     0);
    assert_int_equal(m.bad, 0);
    assert_int_equal(m.n, MERGE_K * MERGE_N);
    free(m.seen);
    collected_t *c = malloc(sizeof(*c));
    read_all(ls, "web", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, NULL, c, NULL);
    assert_int_equal(c->n, MERGE_K * 10);
    sx_logstore__close(ls);
    free(c);
    rm_tmp();
}

static void test_select_labels_retention(void **state)
{
    (void)state;
    mk_tmp();
    sx_logstore_t *ls = open_ls(3600 * 1000);
    int64_t now = sx_now_ns();
    push(ls, "api", "a", now - 1000000000LL, 1, 3);
    push(ls, "web", "b", now - 1000000000LL, 1, 3);
    /* Entries older than the retention are dropped at append. */
    sx_arena_t a;
    sx_arena_init(&a);
    sx_str_t *v;
    size_t n;
    assert_int_equal(sx_logstore_label_names(ls, NULL, 0, INT64_MIN, INT64_MAX, &a, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_true(sx_str_eq_cstr(v[0], "app") && sx_str_eq_cstr(v[1], "env"));
    assert_int_equal(sx_logstore_label_values(ls, SX_STR_LIT("app"), NULL, 0, INT64_MIN, INT64_MAX,
                                              &a, &v, &n),
                     0);
    assert_int_equal(n, 2);
    assert_true(sx_str_eq_cstr(v[0], "api") && sx_str_eq_cstr(v[1], "web"));
    sx_matcher_t m = {SX_STR_LIT("app"), SX_STR_LIT("w.*"), SX_MATCH_RE, NULL};
    sx_err_t err;
    assert_int_equal(sx_matcher_compile(&m, &err), 0);
    sx_log_stream_t *st;
    assert_int_equal(sx_logstore_select(ls, &m, 1, INT64_MIN, INT64_MAX, &a, &st, &n), 0);
    assert_int_equal(n, 1);
    assert_true(sx_str_eq_cstr(st[0].labels[0].value, "web"));
    /* Time range outside the data selects nothing. */
    assert_int_equal(sx_logstore_select(ls, &m, 1, now + 1000000000LL, INT64_MAX, &a, &st, &n), 0);
    assert_int_equal(n, 0);
    sx_matcher_dispose(&m);
    /* An old push is dropped entirely. */
    sx_log_stream_in_t s = {0};
    sx_label_t l[1] = {{SX_STR_LIT("app"), SX_STR_LIT("old")}};
    sx_log_entry_t e = {now - 7200LL * 1000000000LL, SX_STR_LIT("stale"), NULL, 0};
    s.labels = l;
    s.nlabels = 1;
    s.entries = &e;
    s.nentries = 1;
    sx_log_batch_t b = {&a, &s, 1, 1, 1, 5};
    sx_log_append_result_t r;
    assert_int_equal(sx_logstore_append(ls, &b, &r, &err), 0);
    assert_int_equal(r.appended, 0);
    assert_int_equal(r.dropped_retention, 1);
    sx_arena_dispose(&a);
    sx_logstore__close(ls);
    rm_tmp();
}

/* A toy line codec: lines reversed, behind a "R" mark; chunks with a line
 * starting "plain" are refused. A line's key is its first word; with a
 * key, lines of other keys come back empty. */
static int codec_encodes;

static sx_str_t first_word(const char *line, size_t len)
{
    size_t n = 0;
    while (n < len && line[n] != ' ')
        n++;
    return (sx_str_t){line, n};
}

static bool rev_encode(const sx_str_t *lines, size_t n, sx_buf_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (lines[i].len >= 5 && memcmp(lines[i].ptr, "plain", 5) == 0)
            return false;
    codec_encodes++;
    sx_buf_putc(out, 'R');
    for (size_t i = 0; i < n; i++) {
        sx_buf_put_uvarint(out, lines[i].len);
        for (size_t k = lines[i].len; k > 0; k--)
            sx_buf_putc(out, lines[i].ptr[k - 1]);
    }
    return true;
}

static int rev_decode(const char *in, size_t len, size_t n, sx_str_t key, sx_buf_t *out,
                      sx_str_t *lines)
{
    const unsigned char *p = (const unsigned char *)in, *end = p + len;
    if (len < 1 || *p++ != 'R')
        return -1;
    sx_buf_clear(out);
    size_t *lens = calloc(n + 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        uint64_t l;
        if (sx_uvarint_next(&p, end, &l) || l > (uint64_t)(end - p)) {
            free(lens);
            return -1;
        }
        size_t at = out->len;
        for (size_t k = l; k > 0; k--)
            sx_buf_putc(out, (char)p[k - 1]);
        p += l;
        if (key.len && (l < key.len || memcmp(out->ptr + at, key.ptr, key.len) != 0 ||
                        (l > key.len && out->ptr[at + key.len] != ' ')))
            out->len = at;
        lens[i] = out->len - at;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        lines[i] = (sx_str_t){out->ptr ? out->ptr + off : "", lens[i]};
        off += lens[i];
    }
    free(lens);
    return p == end ? 0 : -1;
}

static void test_line_codec(void **state)
{
    (void)state;
    static const sx_log_line_codec_t rev = {rev_encode, rev_decode, first_word};
    mk_tmp();
    sx_logstore_opts_t o = {0, 0, 0, 0, NULL, &rev};
    sx_err_t err;
    sx_logstore_t *ls = sx_logstore__open(tmpdir, &o, &err);
    assert_non_null(ls);
    codec_encodes = 0;
    push(ls, "api", "alpha", T0, 1000, 100);
    push(ls, "web", "plain", T0, 1000, 10);
    assert_int_equal(sx_logstore_flush(ls), 0);
    assert_int_equal(codec_encodes, 1); /* api's chunk; web's stays plain */
    collected_t *c = malloc(sizeof(*c));
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES | SX_LOGREAD_META, NULL, c, NULL);
    assert_int_equal(c->n, 100);
    assert_string_equal(c->lines[42], "alpha line 42");
    assert_string_equal(c->meta[42], "t42");
    read_all(ls, "web", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, NULL, c, NULL);
    assert_int_equal(c->n, 10);
    assert_string_equal(c->lines[3], "plain line 3");
    /* The hint's key: the key index passes only chunks holding it, and
     * the codec gets the key. */
    sx_str_t needle = SX_STR_LIT("line");
    sx_log_hint_t h = {&needle, 1, SX_STR_LIT("alpha")};
    sx_log_read_stats_t st = {0};
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &h, c, &st);
    assert_int_equal(c->n, 100);
    assert_string_equal(c->lines[70], "alpha line 70");
    assert_int_equal(st.chunks_read, 1);
    memset(&st, 0, sizeof(st));
    read_all(ls, "web", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &h, c, &st);
    assert_int_equal(c->n, 0);
    assert_int_equal(st.chunks_read, 0);
    assert_int_equal(st.chunks_skipped, 1);
    h.key = SX_STR_LIT("plain");
    read_all(ls, "web", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &h, c, NULL);
    assert_string_equal(c->lines[3], "plain line 3");
    /* Values: ignored by a codec that does not keep them verbatim. */
    sx_str_t val = SX_STR_LIT("nowhere");
    sx_log_hint_t hv = {.values = &val, .nvalues = 1};
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &hv, c, NULL);
    assert_string_equal(c->lines[5], "alpha line 5");
    /* A part with a line that has no key has no key index: reads with a
     * key visit its chunks. */
    push(ls, "old", "", T0, 1000, 4);
    assert_int_equal(sx_logstore_flush(ls), 0);
    h.key = SX_STR_LIT("x");
    read_all(ls, "old", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, NULL, c, NULL);
    assert_int_equal(c->n, 4);
    assert_string_equal(c->lines[2], " line 2");
    memset(&st, 0, sizeof(st));
    read_all(ls, "old", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &h, c, &st);
    assert_int_equal(st.chunks_read, 1);
    /* Compaction decodes and encodes again. */
    push(ls, "api", "alpha", T0 + 200000, 1000, 5);
    assert_int_equal(sx_logstore_flush(ls), 0);
    sx_logstore__maintain(ls, sx_now_ms(), 0, 0);
    sx_logstore__close(ls);
    /* Reopened with the codec: all there. Without it: the coded part is
     * refused as corrupt rather than read as plain lines. */
    ls = sx_logstore__open(tmpdir, &o, &err);
    assert_non_null(ls);
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, NULL, c, NULL);
    assert_int_equal(c->n, 105);
    h.key = SX_STR_LIT("alpha");
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &h, c, NULL);
    assert_int_equal(c->n, 105);
    assert_string_equal(c->lines[104], "alpha line 4");
    sx_logstore__close(ls);
    /* A verbatim codec (the same form, said to keep values verbatim): a
     * chunk whose stored form lacks a value comes back with empty lines,
     * one that has it in full. */
    static const sx_log_line_codec_t verb = {rev_encode, rev_decode, first_word, true};
    o.line_codec = &verb;
    ls = sx_logstore__open(tmpdir, &o, &err);
    assert_non_null(ls);
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &hv, c, NULL);
    assert_int_equal(c->n, 105);
    assert_string_equal(c->lines[5], "");
    val = (sx_str_t)SX_STR_LIT("4 enil"); /* bytes of the stored (reversed) form */
    read_all(ls, "api", INT64_MIN, INT64_MAX, SX_LOGREAD_LINES, &hv, c, NULL);
    assert_string_equal(c->lines[5], "alpha line 5");
    sx_logstore__close(ls);
    o.line_codec = NULL;
    assert_null(sx_logstore__open(tmpdir, &o, &err));
    assert_int_equal(err.code, SX_ECORRUPT);
    free(c);
    rm_tmp();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_parts_and_replay),
        cmocka_unit_test(test_bloom_skip),
        cmocka_unit_test(test_compaction_and_order),
        cmocka_unit_test(test_compaction_streams_many_chunks),
        cmocka_unit_test(test_maintenance_flushes_old_heads),
        cmocka_unit_test(test_select_labels_retention),
        cmocka_unit_test(test_line_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
