/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the metric store: append and read back, flush into parts,
 * reopen (replay), out-of-order and duplicate handling, retention, matcher
 * selection, label APIs and concurrent appends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/time.h"
#include "storage/storage.h"
#include "storage/tsdb/tsdb_int.h"

static char tmpdir[256];

static void mk_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sx-test-tsdb-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static sx_tsdb_t *open_db(int64_t retention, int64_t window)
{
    sx_tsdb_opts_t o = {retention, window, 0};
    sx_err_t err;
    sx_tsdb_t *db = sx_tsdb__open(tmpdir, &o, &err);
    if (!db)
        fail_msg("open: %s", err.msg);
    return db;
}

/* Build a batch with one series {__name__=name, job=job} and n samples. */
static void one_series(sx_metric_batch_t *b, sx_arena_t *a, const char *name, const char *job,
                       const int64_t *ts, const double *v, size_t n)
{
    sx_series_in_t *s = sx_metric_batch_add(b);
    s->labels = sx_arena_alloc(a, 2 * sizeof(sx_label_t));
    s->labels[0] = (sx_label_t){SX_STR_LIT("__name__"), sx_str(sx_arena_strndup(a, name, strlen(name)))};
    s->labels[1] = (sx_label_t){SX_STR_LIT("job"), sx_str(sx_arena_strndup(a, job, strlen(job)))};
    s->nlabels = 2;
    s->samples = sx_arena_alloc(a, (n ? n : 1) * sizeof(sx_sample_t));
    for (size_t i = 0; i < n; i++)
        s->samples[i] = (sx_sample_t){ts[i], v[i]};
    s->nsamples = (uint32_t)n;
    b->nsamples += n;
}

static void append_ok(sx_tsdb_t *db, const char *name, const char *job, const int64_t *ts,
                      const double *v, size_t n, sx_append_result_t *res)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &a);
    one_series(&b, &a, name, job, ts, v, n);
    sx_err_t err;
    sx_append_result_t r;
    int rc = sx_tsdb_append(db, &b, res ? res : &r, &err);
    if (rc)
        fail_msg("append: %s", err.msg);
    sx_arena_dispose(&a);
}

/* Select the series of selector sel in [mint, maxt] into set (ids in a). */
static void select_in(sx_tsdb_t *db, const char *sel, int64_t mint, int64_t maxt, sx_arena_t *a,
                      sx_series_set_t *set)
{
    sx_matcher_t *m;
    size_t nm;
    sx_err_t err;
    if (sx_selector_parse(sx_str(sel), a, &m, &nm, &err))
        fail_msg("selector %s: %s", sel, err.msg);
    assert_int_equal(sx_tsdb_select(db, m, nm, mint, maxt, a, set), 0);
    sx_selector_dispose(m, nm);
}

/* Read every sample of the series selected by `sel`, expecting one. */
static size_t read_one(sx_tsdb_t *db, const char *sel, int64_t mint, int64_t maxt, int64_t *ts,
                       double *v, size_t cap)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_series_set_t set;
    select_in(db, sel, mint, maxt, &a, &set);
    size_t n = 0;
    if (set.n) {
        assert_int_equal(set.n, 1);
        sx_series_data_t d;
        assert_int_equal(sx_tsdb_series_read(db, set.ids[0], mint, maxt, &a, &d), 0);
        assert_true(d.n <= cap);
        memcpy(ts, d.ts, d.n * sizeof(int64_t));
        memcpy(v, d.v, d.n * sizeof(double));
        n = d.n;
    }
    sx_arena_dispose(&a);
    return n;
}

static size_t count_selected(sx_tsdb_t *db, const char *sel)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_series_set_t set;
    select_in(db, sel, INT64_MIN, INT64_MAX, &a, &set);
    size_t n = set.n;
    sx_arena_dispose(&a);
    return n;
}

static void test_tsdb_appends_and_reads_back(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t ts[] = {1000, 2000, 3000};
    double v[] = {1.5, 2.5, 3.5};
    append_ok(db, "up", "a", ts, v, 3, NULL);
    int64_t ots[8];
    double ov[8];
    assert_int_equal(read_one(db, "up{job=\"a\"}", INT64_MIN, INT64_MAX, ots, ov, 8), 3);
    assert_int_equal(ots[2], 3000);
    assert_true(ov[1] == 2.5);
    assert_int_equal(read_one(db, "up", 1500, 2500, ots, ov, 8), 1);
    assert_int_equal(ots[0], 2000);
    sx_tsdb__close(db);
    rm_tmp();
}

/* A head of many chunks (SX_TSDB_HEAD_CHUNK_SAMPLES each): every window,
 * whether it starts before, inside or after a chunk or on its edge, reads
 * exactly the samples in it, with out-of-order samples merged. */
static void test_tsdb_reads_windows_across_head_chunks(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    enum { N = SX_TSDB_HEAD_CHUNK_SAMPLES * 5 + 17 };
    static int64_t ts[N], ots[N + 8];
    static double v[N], ov[N + 8];
    for (size_t i = 0; i < N; i++) {
        ts[i] = 1000000 + (int64_t)i * 1000;
        v[i] = (double)(i * 7 % 1000) / 10;
    }
    append_ok(db, "up", "a", ts, v, N, NULL);
    /* Two samples between existing ones: kept aside as out of order. */
    int64_t ooo_ts[] = {ts[130] + 500, ts[3] + 1};
    double ooo_v[] = {-1, -2};
    append_ok(db, "up", "a", ooo_ts, ooo_v, 2, NULL);
    const int64_t edges[] = {0, 1, 119, 120, 121, 239, 240, 241, 300, 599, 600, N - 2, N - 1};
    for (size_t x = 0; x < sizeof(edges) / sizeof(edges[0]); x++)
        for (size_t y = x; y < sizeof(edges) / sizeof(edges[0]); y++) {
            for (int d = -1; d <= 1; d++) {
                int64_t mint = ts[edges[x]] + d, maxt = ts[edges[y]] + d;
                size_t n = read_one(db, "up", mint, maxt, ots, ov, N + 8);
                size_t k = 0;
                for (size_t i = 0; i < N; i++) {
                    for (int o = 0; o < 2; o++)
                        if (ooo_ts[o] > (i ? ts[i - 1] : 0) && ooo_ts[o] < ts[i] &&
                            ooo_ts[o] >= mint && ooo_ts[o] <= maxt) {
                            assert_true(k < n);
                            assert_int_equal(ots[k], ooo_ts[o]);
                            assert_true(ov[k++] == ooo_v[o]);
                        }
                    if (ts[i] < mint || ts[i] > maxt)
                        continue;
                    assert_true(k < n);
                    assert_int_equal(ots[k], ts[i]);
                    assert_true(ov[k++] == v[i]);
                }
                assert_int_equal(n, k);
            }
        }
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_survives_reopen_from_wal_and_parts(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t1[] = {10, 20};
    double v1[] = {1, 2};
    append_ok(db, "m", "a", t1, v1, 2, NULL);
    assert_int_equal(sx_tsdb_flush(db), 0);
    int64_t t2[] = {30};
    double v2[] = {3};
    append_ok(db, "m", "a", t2, v2, 1, NULL);
    sx_tsdb__close(db); /* no flush: 30 lives only in the WAL */
    db = open_db(0, 3600000);
    int64_t ots[8];
    double ov[8];
    assert_int_equal(read_one(db, "m", INT64_MIN, INT64_MAX, ots, ov, 8), 3);
    assert_int_equal(ots[0], 10);
    assert_int_equal(ots[2], 30);
    assert_true(ov[2] == 3);
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_drops_duplicates_and_keeps_ooo_within_window(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 60000);
    int64_t t1[] = {100000, 200000};
    double v1[] = {1, 2};
    sx_append_result_t r;
    append_ok(db, "m", "a", t1, v1, 2, &r);
    assert_int_equal(r.appended, 2);
    int64_t t2[] = {200000, 150000, 10000};
    double v2[] = {2, 1.5, 9};
    append_ok(db, "m", "a", t2, v2, 3, &r);
    assert_int_equal(r.dropped_dup, 1);  /* 200000 again */
    assert_int_equal(r.appended, 1);     /* 150000 is within the 60 s window */
    assert_int_equal(r.dropped_ooo, 1);  /* 10000 is not */
    int64_t ots[8];
    double ov[8];
    assert_int_equal(read_one(db, "m", INT64_MIN, INT64_MAX, ots, ov, 8), 3);
    assert_int_equal(ots[0], 100000);
    assert_int_equal(ots[1], 150000);
    assert_int_equal(ots[2], 200000);
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_newest_write_wins_on_equal_timestamp(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t[] = {1000};
    double a[] = {1}, b[] = {7};
    append_ok(db, "m", "a", t, a, 1, NULL);
    assert_int_equal(sx_tsdb_flush(db), 0);
    append_ok(db, "m", "a", t, b, 1, NULL);
    int64_t ots[4];
    double ov[4];
    assert_int_equal(read_one(db, "m", INT64_MIN, INT64_MAX, ots, ov, 4), 1);
    assert_true(ov[0] == 7);
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_keeps_stale_marker_bits_through_flush(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t[] = {1000, 2000};
    double v[] = {1, sx_stale_nan()};
    append_ok(db, "m", "a", t, v, 2, NULL);
    assert_int_equal(sx_tsdb_flush(db), 0);
    int64_t ots[4];
    double ov[4];
    assert_int_equal(read_one(db, "m", INT64_MIN, INT64_MAX, ots, ov, 4), 2);
    assert_true(sx_is_stale_nan(ov[1]));
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_retention_drops_old_samples_and_parts(void **state)
{
    mk_tmp();
    int64_t now = sx_now_ms();
    sx_tsdb_t *db = open_db(3600000, 100LL * 86400000);
    int64_t t[] = {now - 7200000, now - 1000};
    double v[] = {1, 2};
    sx_append_result_t r;
    append_ok(db, "m", "a", t, v, 2, &r);
    assert_int_equal(r.dropped_retention, 1);
    assert_int_equal(r.appended, 1);
    sx_tsdb__close(db);
    /* With retention off, near-1970 samples are kept. */
    db = open_db(0, 3600000);
    int64_t t2[] = {5000};
    double v2[] = {3};
    append_ok(db, "old", "a", t2, v2, 1, &r);
    assert_int_equal(r.appended, 1);
    assert_int_equal(sx_tsdb_flush(db), 0);
    int64_t ots[4];
    double ov[4];
    assert_int_equal(read_one(db, "old", INT64_MIN, INT64_MAX, ots, ov, 4), 1);
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_selects_with_all_matcher_kinds(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t[] = {1000};
    double v[] = {1};
    append_ok(db, "http_requests", "api", t, v, 1, NULL);
    append_ok(db, "http_requests", "web", t, v, 1, NULL);
    append_ok(db, "http_errors", "api", t, v, 1, NULL);
    assert_int_equal(count_selected(db, "http_requests"), 2);
    assert_int_equal(count_selected(db, "{__name__=~\"http_.*\"}"), 3);
    assert_int_equal(count_selected(db, "{__name__=~\"http\"}"), 0); /* anchored */
    assert_int_equal(count_selected(db, "http_requests{job!=\"api\"}"), 1);
    assert_int_equal(count_selected(db, "{__name__=~\"http_.+\",job!~\"a.*\"}"), 1);
    assert_int_equal(count_selected(db, "{job=\"api\"}"), 2);
    assert_int_equal(count_selected(db, "{job=\"api\",missing=\"\"}"), 2);
    assert_int_equal(count_selected(db, "{job=\"api\",missing!=\"\"}"), 0);
    sx_tsdb__close(db);
    rm_tmp();
}

/* The ids of a selection in label order, as one string "job,job,...". */
static void selected_jobs(sx_tsdb_t *db, const char *sel, int64_t mint, int64_t maxt, char *out,
                          size_t cap)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_series_set_t set;
    select_in(db, sel, mint, maxt, &a, &set);
    out[0] = 0;
    for (size_t i = 0; i < set.n; i++) {
        sx_label_t *l;
        uint32_t nl;
        assert_int_equal(sx_tsdb_series_labels(db, set.ids[i], &a, &l, &nl), 0);
        for (uint32_t k = 0; k < nl; k++)
            if (sx_str_eq_cstr(l[k].name, "job"))
                snprintf(out + strlen(out), cap - strlen(out), "%s%.*s", i ? "," : "",
                         (int)l[k].value.len, l[k].value.ptr);
    }
    sx_arena_dispose(&a);
}

/* Repeated selections (answered from the selection cache) see series
 * added since, keep label order, apply each call's time range, and do not
 * mix up selectors that differ only in an operator or a value. */
static void test_tsdb_repeated_selections_follow_new_series_and_ranges(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t1[] = {1000}, t2[] = {500000};
    double v[] = {1};
    char got[256];
    append_ok(db, "up", "c", t1, v, 1, NULL);
    append_ok(db, "up", "a", t2, v, 1, NULL);
    for (int round = 0; round < 3; round++) {
        selected_jobs(db, "up", INT64_MIN, INT64_MAX, got, sizeof(got));
        assert_string_equal(got, "a,c");
        selected_jobs(db, "up", 0, 2000, got, sizeof(got));
        assert_string_equal(got, "c");
        selected_jobs(db, "up", 400000, 600000, got, sizeof(got));
        assert_string_equal(got, "a");
        selected_jobs(db, "up{job=\"a\"}", INT64_MIN, INT64_MAX, got, sizeof(got));
        assert_string_equal(got, "a");
        selected_jobs(db, "up{job!=\"a\"}", INT64_MIN, INT64_MAX, got, sizeof(got));
        assert_string_equal(got, "c");
        selected_jobs(db, "up{job=~\"a\"}", INT64_MIN, INT64_MAX, got, sizeof(got));
        assert_string_equal(got, "a");
    }
    /* A new series between the two: the next selection has it, in order. */
    append_ok(db, "up", "b", t1, v, 1, NULL);
    selected_jobs(db, "up", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "a,b,c");
    selected_jobs(db, "up{job!=\"a\"}", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "b,c");
    /* Samples that widen an existing series' time range need no new
     * series: the cached selection still applies the new range. */
    append_ok(db, "up", "c", t2, v, 1, NULL);
    selected_jobs(db, "up", 400000, 600000, got, sizeof(got));
    assert_string_equal(got, "a,c");
    /* More distinct selectors than the cache holds: each still right. */
    for (int i = 0; i < 100; i++) {
        char sel[64];
        snprintf(sel, sizeof(sel), "up{job!=\"x%d\"}", i);
        selected_jobs(db, sel, INT64_MIN, INT64_MAX, got, sizeof(got));
        assert_string_equal(got, "a,b,c");
    }
    selected_jobs(db, "up{job=~\"a|c\"}", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "a,c");
    sx_tsdb__close(db);
    rm_tmp();
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Series added one at a time between repeated selections (the cached ids
 * are extended rather than recomputed): after every addition each
 * selection holds exactly the matching series, in label order. */
static void test_tsdb_selections_stay_right_under_series_churn(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t[] = {1000};
    double v[] = {1};
    enum { N = 150 };
    static char jobs[N][8], got[N * 8], want[N * 8];
    char *sorted[N];
    size_t nup = 0;
    uint64_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(jobs[i], sizeof(jobs[i]), "j%05u", (unsigned)(r >> 40) % 100000);
        bool up = i % 3 != 1; /* every third series is another metric */
        append_ok(db, up ? "up" : "down", jobs[i], t, v, 1, NULL);
        if (up)
            sorted[nup++] = jobs[i];
        qsort(sorted, nup, sizeof(char *), cmp_cstr);
        want[0] = 0;
        for (size_t k = 0; k < nup; k++)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", k ? "," : "",
                     sorted[k]);
        selected_jobs(db, "up", INT64_MIN, INT64_MAX, got, sizeof(got));
        assert_string_equal(got, want);
        selected_jobs(db, "{__name__=~\"u.*\",job!=\"none\"}", INT64_MIN, INT64_MAX, got,
                      sizeof(got));
        assert_string_equal(got, want);
    }
    sx_tsdb__close(db);
    rm_tmp();
}

/* With room for few ids, storing a selection evicts older ones until it
 * fits (it once looped for ever on a free entry instead), and every
 * answer stays right. */
static void test_tsdb_selection_cache_evicts_to_its_id_budget(void **state)
{
    (void)state;
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t[] = {1000};
    double v[] = {1};
    const char *jobs = "abcdefghijkl";
    for (const char *j = jobs; *j; j++) {
        char name[2] = {*j, 0};
        append_ok(db, "up", name, t, v, 1, NULL);
    }
    db->sel_max_ids = 8; /* four pairs */
    char sel[64], got[64], want[8];
    for (int round = 0; round < 2; round++)
        for (const char *j = jobs; j[0] && j[1]; j += 2) {
            snprintf(sel, sizeof(sel), "up{job=~\"%c|%c\"}", j[0], j[1]);
            snprintf(want, sizeof(want), "%c,%c", j[0], j[1]);
            selected_jobs(db, sel, INT64_MIN, INT64_MAX, got, sizeof(got));
            assert_string_equal(got, want);
            assert_true(db->sel_ids <= db->sel_max_ids);
        }
    /* Too many for the budget: answered, not kept. */
    selected_jobs(db, "up", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "a,b,c,d,e,f,g,h,i,j,k,l");
    assert_true(db->sel_ids <= db->sel_max_ids);
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_label_names_and_values(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t[] = {1000};
    double v[] = {1};
    append_ok(db, "b_metric", "x", t, v, 1, NULL);
    append_ok(db, "a_metric", "y", t, v, 1, NULL);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_str_t *out;
    size_t n;
    assert_int_equal(sx_tsdb_label_names(db, NULL, 0, INT64_MIN, INT64_MAX, &a, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_true(sx_str_eq_cstr(out[0], "__name__"));
    assert_true(sx_str_eq_cstr(out[1], "job"));
    assert_int_equal(sx_tsdb_label_values(db, SX_STR_LIT("__name__"), NULL, 0, INT64_MIN, INT64_MAX,
                                          &a, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_true(sx_str_eq_cstr(out[0], "a_metric"));
    /* Time range excludes everything. */
    assert_int_equal(sx_tsdb_label_values(db, SX_STR_LIT("job"), NULL, 0, 5000, 6000, &a, &out, &n), 0);
    assert_int_equal(n, 0);
    sx_arena_dispose(&a);
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_selector_rejects_bad_input(void **state)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_matcher_t *m;
    size_t n;
    sx_err_t err;
    const char *bad[] = {"", "{}", "{job=~\".*\"}", "up{job=\"a\"", "up{job=a}", "up{1x=\"a\"}",
                         "{job=~\"(\"}", "up{job==\"a\"}", "up}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = sx_selector_parse(sx_str(bad[i]), &a, &m, &n, &err);
        if (rc == 0)
            fail_msg("selector %s accepted", bad[i]);
        assert_true(strlen(err.msg) > 0);
    }
    assert_int_equal(sx_selector_parse(sx_str("up{job=\"a\\\"b\",x=~'y.*'}"), &a, &m, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_true(sx_str_eq_cstr(m[1].value, "a\"b"));
    sx_selector_dispose(m, n);
    sx_arena_dispose(&a);
}

static void test_tsdb_validates_unchecked_labels_of_new_series_only(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    int64_t t[] = {1000};
    double v[] = {1};
    append_ok(db, "good", "a", t, v, 1, NULL);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &a);
    b.labels_unchecked = true;
    int64_t t2[] = {2000};
    one_series(&b, &a, "good", "a", t2, v, 1);    /* known: not revalidated */
    one_series(&b, &a, "bad-name", "a", t2, v, 1); /* new and invalid */
    sx_err_t err;
    sx_append_result_t r;
    assert_int_equal(sx_tsdb_append(db, &b, &r, &err), SX_EBADLABEL);
    assert_non_null(strstr(err.msg, "series 1 (bad-name{job=\"a\"}): invalid metric name"));
    /* All or nothing: the valid series in the same batch got no sample. */
    int64_t ots[4];
    double ov[4];
    assert_int_equal(read_one(db, "good", INT64_MIN, INT64_MAX, ots, ov, 4), 1);
    assert_int_equal(count_selected(db, "{job=\"a\"}"), 1);
    /* A batch of known series only passes without validation. */
    sx_metric_batch_init(&b, &a);
    b.labels_unchecked = true;
    one_series(&b, &a, "good", "a", t2, v, 1);
    assert_int_equal(sx_tsdb_append(db, &b, &r, &err), 0);
    assert_int_equal(r.appended, 1);
    sx_arena_dispose(&a);
    sx_tsdb__close(db);
    rm_tmp();
}

typedef struct worker_arg {
    sx_tsdb_t *db;
    int idx;
} worker_arg_t;

static void *worker(void *p)
{
    worker_arg_t *w = p;
    char job[16];
    snprintf(job, sizeof(job), "w%d", w->idx);
    for (int i = 0; i < 200; i++) {
        int64_t t[] = {(int64_t)i * 1000};
        double v[] = {(double)i};
        append_ok(w->db, "c", job, t, v, 1, NULL);
        if (w->idx == 0 && i % 50 == 25)
            sx_tsdb_flush(w->db);
    }
    return NULL;
}

static void test_tsdb_concurrent_appends_and_flushes_lose_nothing(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 3600000);
    pthread_t th[4];
    worker_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){db, i};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    sx_tsdb__close(db);
    db = open_db(0, 3600000);
    for (int i = 0; i < 4; i++) {
        char sel[64];
        snprintf(sel, sizeof(sel), "c{job=\"w%d\"}", i);
        int64_t ots[256];
        double ov[256];
        assert_int_equal(read_one(db, sel, INT64_MIN, INT64_MAX, ots, ov, 256), 200);
        for (int k = 0; k < 200; k++)
            assert_true(ov[k] == k);
    }
    sx_tsdb__close(db);
    rm_tmp();
}

static void test_tsdb_compaction_merges_parts(void **state)
{
    mk_tmp();
    sx_tsdb_t *db = open_db(0, 100LL * 86400000);
    for (int i = 0; i < 5; i++) {
        int64_t t[] = {(int64_t)(5 - i) * 1000}; /* out of order across parts */
        double v[] = {(double)i};
        append_ok(db, "m", "a", t, v, 1, NULL);
        assert_int_equal(sx_tsdb_flush(db), 0);
    }
    assert_int_equal(db->nparts, 5);
    sx_tsdb__maintain(db, sx_now_ms(), 0, 0);
    assert_int_equal(db->nparts, 1);
    int64_t ots[8];
    double ov[8];
    assert_int_equal(read_one(db, "m", INT64_MIN, INT64_MAX, ots, ov, 8), 5);
    for (int k = 1; k < 5; k++)
        assert_true(ots[k - 1] < ots[k]);
    sx_tsdb__close(db);
    rm_tmp();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsdb_appends_and_reads_back),
        cmocka_unit_test(test_tsdb_reads_windows_across_head_chunks),
        cmocka_unit_test(test_tsdb_survives_reopen_from_wal_and_parts),
        cmocka_unit_test(test_tsdb_drops_duplicates_and_keeps_ooo_within_window),
        cmocka_unit_test(test_tsdb_newest_write_wins_on_equal_timestamp),
        cmocka_unit_test(test_tsdb_keeps_stale_marker_bits_through_flush),
        cmocka_unit_test(test_tsdb_retention_drops_old_samples_and_parts),
        cmocka_unit_test(test_tsdb_selects_with_all_matcher_kinds),
        cmocka_unit_test(test_tsdb_repeated_selections_follow_new_series_and_ranges),
        cmocka_unit_test(test_tsdb_selections_stay_right_under_series_churn),
        cmocka_unit_test(test_tsdb_selection_cache_evicts_to_its_id_budget),
        cmocka_unit_test(test_tsdb_label_names_and_values),
        cmocka_unit_test(test_selector_rejects_bad_input),
        cmocka_unit_test(test_tsdb_validates_unchecked_labels_of_new_series_only),
        cmocka_unit_test(test_tsdb_concurrent_appends_and_flushes_lose_nothing),
        cmocka_unit_test(test_tsdb_compaction_merges_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
