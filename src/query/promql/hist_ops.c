/* SPDX-License-Identifier: Apache-2.0 */
/* Native histogram arithmetic for the PromQL engine, with the semantics of
 * Prometheus 3.5's FloatHistogram (model/histogram/float_histogram.go and
 * generic.go). Work happens on "bucket lists": one side (positive or
 * negative) of a histogram expanded to (absolute index, count) pairs in
 * index order, empty buckets included, which makes schema reduction and
 * merging plain linear passes. Results are rebuilt into spans at the end.
 * Every step keeps Prometheus' order of floating-point operations, so sums
 * come out bit for bit as Prometheus computes them, and its corner cases
 * (zero-bucket reconciliation before schema reduction, the reset scan that
 * stops early) are kept on purpose; the comments say where. */
#include "hist_ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define CUSTOM SX_PROMQL_HIST_CUSTOM_SCHEMA

/* ---- Bucket bounds ---- */

/* Prometheus' exponentialBounds for schema 8: the fraction in [0.5, 1) of
 * the upper bound of every bucket in one power of two. Schema s < 8 uses
 * every 2^(8-s)-th entry, as Prometheus' own per-schema tables do. The
 * values are Prometheus' data, not 2^(i/256)/2 rounded correctly (they are
 * up to 2 ulp off that), so they are copied rather than computed: bucket
 * bounds decide which buckets a zero threshold swallows. */
static const double exp_frac[256] = {
    0.5, 0.5013556375251013, 0.5027149505564014, 0.5040779490592088,
    0.5054446430258502, 0.5068150424757447, 0.5081891574554764, 0.509566998038869,
    0.5109485743270583, 0.5123338964485679, 0.5137229745593818, 0.5151158188430205,
    0.5165124395106142, 0.5179128468009786, 0.5193170509806894, 0.520725062344158,
    0.5221368912137069, 0.5235525479396449, 0.5249720429003435, 0.526395386502313,
    0.5278225891802786, 0.5292536613972564, 0.5306886136446309, 0.5321274564422321,
    0.5335702003384117, 0.5350168559101208, 0.5364674337629877, 0.5379219445313954,
    0.5393803988785598, 0.5408428074966075, 0.5423091811066545, 0.5437795304588847,
    0.5452538663326288, 0.5467321995364429, 0.5482145409081883, 0.549700901315111,
    0.5511912916539204, 0.5526857228508706, 0.5541842058618393, 0.5556867516724088,
    0.5571933712979462, 0.5587040757836845, 0.5602188762048033, 0.5617377836665098,
    0.5632608093041209, 0.564787964283144, 0.5663192597993595, 0.5678547070789026,
    0.5693943173783458, 0.5709381019847808, 0.572486072215902, 0.5740382394200894,
    0.5755946149764913, 0.5771552102951081, 0.5787200368168754, 0.5802891060137493,
    0.5818624293887887, 0.5834400184762408, 0.585021884841625, 0.5866080400818185,
    0.5881984958251406, 0.5897932637314379, 0.5913923554921704, 0.5929957828304968,
    0.5946035575013605, 0.5962156912915756, 0.5978321960199137, 0.5994530835371903,
    0.6010783657263515, 0.6027080545025619, 0.6043421618132907, 0.6059806996384005,
    0.6076236799902344, 0.6092711149137041, 0.6109230164863786, 0.6125793968185725,
    0.6142402680534349, 0.6159056423670379, 0.6175755319684665, 0.6192499490999082,
    0.620928906036742, 0.622612415087629, 0.6243004885946023, 0.6259931389331581,
    0.6276903785123455, 0.6293922197748583, 0.6310986751971253, 0.6328097572894031,
    0.6345254785958666, 0.6362458516947014, 0.637970889198196, 0.6397006037528346,
    0.6414350080393891, 0.6431741147730128, 0.6449179367033329, 0.6466664866145447,
    0.6484197773255048, 0.6501778216898253, 0.6519406325959679, 0.6537082229673385,
    0.6554806057623822, 0.6572577939746774, 0.659039800633032, 0.6608266388015788,
    0.6626183215798706, 0.6644148621029772, 0.6662162735415805, 0.6680225691020727,
    0.6698337620266515, 0.6716498655934177, 0.6734708931164728, 0.6752968579460171,
    0.6771277734684463, 0.6789636531064505, 0.6808045103191123, 0.6826503586020058,
    0.6845012114872953, 0.6863570825438342, 0.688217985377265, 0.690083933630119,
    0.6919549409819159, 0.6938310211492645, 0.6957121878859629, 0.6975984549830999,
    0.6994898362691555, 0.7013863456101023, 0.7032879969095076, 0.7051948041086352,
    0.7071067811865475, 0.7090239421602076, 0.7109463010845827, 0.7128738720527471,
    0.7148066691959849, 0.7167447066838943, 0.718687998724491, 0.7206365595643126,
    0.7225904034885232, 0.7245495448210174, 0.7265139979245261, 0.7284837772007218,
    0.7304588970903234, 0.7324393720732029, 0.7344252166684908, 0.7364164454346837,
    0.7384130729697496, 0.7404151139112358, 0.7424225829363761, 0.7444354947621984,
    0.7464538641456323, 0.7484777058836176, 0.7505070348132126, 0.7525418658117031,
    0.7545822137967112, 0.7566280937263048, 0.7586795205991071, 0.7607365094544071,
    0.762799075372269, 0.7648672334736434, 0.7669409989204777, 0.7690203869158282,
    0.7711054127039704, 0.7731960915705107, 0.7752924388424999, 0.7773944698885442,
    0.7795022001189185, 0.7816156449856788, 0.7837348199827764, 0.7858597406461707,
    0.7879904225539431, 0.7901268813264122, 0.7922691326262467, 0.7944171921585818,
    0.7965710756711334, 0.7987307989543135, 0.8008963778413465, 0.8030678282083853,
    0.805245165974627, 0.8074284071024302, 0.8096175675974316, 0.8118126635086642,
    0.8140137109286738, 0.8162207259936375, 0.8184337248834821, 0.820652723822003,
    0.8228777390769823, 0.8251087869603088, 0.8273458838280969, 0.8295890460808079,
    0.8318382901633681, 0.8340936325652911, 0.8363550898207981, 0.8386226785089391,
    0.8408964152537144, 0.8431763167241966, 0.8454623996346523, 0.8477546807446661,
    0.8500531768592616, 0.8523579048290255, 0.8546688815502312, 0.8569861239649629,
    0.8593096490612387, 0.8616394738731368, 0.8639756154809185, 0.8663180910111553,
    0.8686669176368529, 0.871022112577578, 0.8733836930995842, 0.8757516765159389,
    0.8781260801866495, 0.8805069215187917, 0.8828942179666361, 0.8852879870317771,
    0.8876882462632604, 0.890095013257712, 0.8925083056594671, 0.8949281411607002,
    0.8973545375015533, 0.8997875124702672, 0.9022270839033115, 0.9046732696855155,
    0.9071260877501991, 0.909585556079304, 0.9120516927035263, 0.9145245157024483,
    0.9170040432046711, 0.9194902933879467, 0.9219832844793128, 0.9244830347552253,
    0.9269895625416926, 0.92950288621441, 0.9320230241988943, 0.9345499949706191,
    0.9370838170551498, 0.93962450902828, 0.9421720895161669, 0.9447265771954693,
    0.9472879907934827, 0.9498563490882775, 0.9524316709088368, 0.9550139751351947,
    0.9576032806985735, 0.9601996065815236, 0.9628029718180622, 0.9654133954938133,
    0.9680308967461471, 0.9706554947643201, 0.9732872087896164, 0.9759260581154889,
    0.9785720620876999, 0.9812252401044634, 0.9838856116165875, 0.9865531961276168,
    0.9892280131939752, 0.9919100824251095, 0.9945994234836328, 0.9972960560854698,
};

static bool schema_exp(int32_t s) { return s >= -4 && s <= 8; }
static bool schema_valid(int32_t s) { return schema_exp(s) || s == CUSTOM; }
static bool is_custom(const sx_promql_hist_t *h) { return h->schema == CUSTOM; }

/* floor(v / 2^s): Go's >> on signed integers, without relying on the
 * implementation-defined right shift of negative numbers in C. */
static int64_t floor_shift(int64_t v, int s)
{
    if (s <= 0)
        return v;
    if (s >= 63)
        return v < 0 ? -1 : 0;
    return v >= 0 ? v >> s : ~((~v) >> s);
}

/* Bucket idx of schema from in schema to <= from (Prometheus' targetIdx). */
static int64_t target_idx(int64_t idx, int32_t from, int32_t to)
{
    return floor_shift(idx - 1, from - to) + 1;
}

/* Upper bound of exponential bucket idx (Prometheus' getBoundExponential).
 * Exponents are clamped well past the double range, where ldexp gives 0 or
 * Inf anyway, so that huge indices cannot overflow an int. */
static double bound_exp(int64_t idx, int32_t schema)
{
    if (!schema_exp(schema))
        return NAN;
    if (schema < 0) {
        int64_t e = idx * ((int64_t)1 << -schema);
        if (e == 1024)
            return DBL_MAX; /* last finite bucket; the next one counts ±Inf */
        return ldexp(1, (int)(e > 4000 ? 4000 : e < -4000 ? -4000 : e));
    }
    double frac = exp_frac[((uint64_t)idx & (((uint64_t)1 << schema) - 1)) << (8 - schema)];
    int64_t e = floor_shift(idx, schema) + 1;
    if (frac == 0.5 && e == 1025)
        return DBL_MAX;
    return ldexp(frac, (int)(e > 4000 ? 4000 : e < -4000 ? -4000 : e));
}

double sx_promql_hist_bound(int32_t idx, int32_t schema, const double *custom, uint32_t ncustom)
{
    if (schema == CUSTOM) {
        if (idx == (int64_t)ncustom)
            return INFINITY;
        if (idx == -1)
            return -INFINITY;
        if (idx >= 0 && (uint32_t)idx < ncustom)
            return custom[idx];
        return NAN;
    }
    return bound_exp(idx, schema);
}

/* Prometheus' FloatBucketsMatch: same length, same bits. */
static bool floats_match(const double *x, uint32_t nx, const double *y, uint32_t ny)
{
    return nx == ny && (nx == 0 || memcmp(x, y, nx * sizeof(double)) == 0);
}

static bool bounds_match(const sx_promql_hist_t *x, const sx_promql_hist_t *y)
{
    return floats_match(x->custom_values, x->ncustom, y->custom_values, y->ncustom);
}

/* ---- Bucket lists and iterators ---- */

typedef struct bkt {
    int64_t idx;
    double v;
} bkt_t;

typedef struct blist {
    bkt_t *b;
    size_t n;
} blist_t;

/* One side of a histogram being computed on: its own scalars and its two
 * sides as bucket lists (Prometheus' receiver of Add/Sub, mutable). */
typedef struct wh {
    int32_t schema;
    uint8_t hint;
    double zthr, zcount, count, sum;
    blist_t pos, neg;
    const double *custom;
    uint32_t ncustom;
} wh_t;

/* A source of raw buckets in index order: a bucket list, or the spans and
 * counts of a histogram side as stored (walked as Prometheus' iterators
 * do, tolerating zero-length spans and spans that promise more buckets
 * than there are). */
typedef struct src {
    const bkt_t *l;
    size_t nl;
    const sx_promql_span_t *sp;
    uint32_t nsp;
    const double *b;
    uint32_t nb;
    size_t k;      /* next bucket */
    uint32_t si;   /* current span */
    uint32_t ii;   /* buckets of span si already taken */
    int64_t idx;   /* index of the next bucket (span form) */
} src_t;

static src_t src_list(const blist_t *l)
{
    return (src_t){.l = l->b, .nl = l->n};
}

static src_t src_raw(const sx_promql_hist_t *h, bool positive)
{
    src_t s = {0};
    if (positive) {
        s.sp = h->pos_spans, s.nsp = h->npos_spans, s.b = h->pos, s.nb = h->npos;
    } else {
        s.sp = h->neg_spans, s.nsp = h->nneg_spans, s.b = h->neg, s.nb = h->nneg;
    }
    if (!s.sp || !s.b)
        s.nsp = 0, s.nb = 0;
    s.idx = s.nsp ? s.sp[0].offset : 0;
    return s;
}

static bool src_next(src_t *s, int64_t *idx, double *v)
{
    if (s->l || s->nl) {
        if (s->k >= s->nl)
            return false;
        *idx = s->l[s->k].idx;
        *v = s->l[s->k].v;
        s->k++;
        return true;
    }
    if (s->k >= s->nb)
        return false;
    while (s->si < s->nsp && s->ii >= s->sp[s->si].len) {
        s->si++;
        s->ii = 0;
        if (s->si < s->nsp)
            s->idx += s->sp[s->si].offset;
    }
    if (s->si >= s->nsp)
        return false;
    *idx = s->idx++;
    *v = s->b[s->k++];
    s->ii++;
    return true;
}

/* Prometheus' floatBucketIterator: buckets of schema from merged into
 * schema to (consecutive buckets with the same target index summed in
 * order), and, for an exponential target and start > 0, the leading
 * buckets whose upper bound is <= start skipped. */
typedef struct mit {
    src_t s;
    int32_t from, to;
    double start;
    bool reached;
    bool peeked;
    int64_t pidx;
    double pv;
    int64_t idx; /* current bucket */
    double v;
} mit_t;

static mit_t mit_make(src_t s, int32_t from, int32_t to, double start)
{
    return (mit_t){.s = s, .from = from, .to = to, .start = start, .reached = start == 0};
}

static bool mit_pull(mit_t *m, int64_t *idx, double *v)
{
    if (m->peeked) {
        m->peeked = false;
        *idx = m->pidx;
        *v = m->pv;
        return true;
    }
    return src_next(&m->s, idx, v);
}

static bool mit_next(mit_t *m)
{
    for (;;) {
        int64_t ri;
        double rv;
        if (!mit_pull(m, &ri, &rv))
            return false;
        if (m->from == m->to) {
            m->idx = ri;
            m->v = rv;
        } else {
            int64_t t = target_idx(ri, m->from, m->to);
            double c = 0;
            c += rv;
            while (mit_pull(m, &ri, &rv)) {
                if (target_idx(ri, m->from, m->to) != t) {
                    m->peeked = true, m->pidx = ri, m->pv = rv;
                    break;
                }
                c += rv;
            }
            m->idx = t;
            m->v = c;
        }
        if (!m->reached && schema_exp(m->to) && bound_exp(m->idx, m->to) <= m->start)
            continue;
        m->reached = true;
        return true;
    }
}

/* ---- Allocation ---- */

static void *alloc_n(sx_arena_t *a, size_t n, size_t size, bool *ok)
{
    if (n == 0)
        return NULL;
    void *p = sx_arena_alloc(a, n * size);
    if (!p)
        *ok = false;
    return p;
}

static blist_t list_from_src(sx_arena_t *a, src_t s, size_t cap, bool *ok)
{
    blist_t l = {alloc_n(a, cap, sizeof(bkt_t), ok), 0};
    if (!l.b)
        return (blist_t){0};
    int64_t idx;
    double v;
    while (l.n < cap && src_next(&s, &idx, &v))
        l.b[l.n++] = (bkt_t){idx, v};
    return l;
}

static void wh_load(wh_t *w, const sx_promql_hist_t *h, sx_arena_t *a, bool *ok)
{
    *w = (wh_t){.schema = h->schema,
                .hint = h->counter_reset_hint,
                .zthr = h->zero_threshold,
                .zcount = h->zero_count,
                .count = h->count,
                .sum = h->sum,
                .custom = h->custom_values,
                .ncustom = h->ncustom};
    w->pos = list_from_src(a, src_raw(h, true), h->pos ? h->npos : 0, ok);
    w->neg = list_from_src(a, src_raw(h, false), h->neg ? h->nneg : 0, ok);
    if (h->schema == CUSTOM) {
        /* Prometheus' Copy of a custom-bucket histogram leaves out the
         * fields that schema does not use. */
        w->zthr = 0, w->zcount = 0, w->neg = (blist_t){0};
    } else {
        w->custom = NULL, w->ncustom = 0;
    }
}

/* Rebuild one side as spans and counts. With compact, buckets whose count
 * is 0 are left out (Compact(0)); either way every span is a maximal run
 * of consecutive indices, which is the layout both Compact and
 * reduceResolution produce. */
static void side_store(sx_arena_t *a, const blist_t *l, bool compact, sx_promql_span_t **spans,
                       uint32_t *nspans, double **counts, uint32_t *ncounts, bool *ok)
{
    *spans = NULL, *counts = NULL, *nspans = 0, *ncounts = 0;
    size_t n = 0, ns = 0;
    int64_t last = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (compact && l->b[i].v == 0)
            continue;
        if (n == 0 || l->b[i].idx != last + 1)
            ns++;
        last = l->b[i].idx;
        n++;
    }
    if (n == 0)
        return;
    sx_promql_span_t *sp = alloc_n(a, ns, sizeof(*sp), ok);
    double *c = alloc_n(a, n, sizeof(*c), ok);
    if (!sp || !c)
        return;
    size_t k = 0, s = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (compact && l->b[i].v == 0)
            continue;
        int64_t idx = l->b[i].idx;
        if (k == 0 || idx != last + 1) {
            int64_t off = k == 0 ? idx : idx - last - 1;
            sp[s++] = (sx_promql_span_t){(int32_t)off, 0};
        }
        sp[s - 1].len++;
        c[k++] = l->b[i].v;
        last = idx;
    }
    *spans = sp, *nspans = (uint32_t)ns, *counts = c, *ncounts = (uint32_t)n;
}

static sx_promql_hist_t *wh_store(const wh_t *w, sx_arena_t *a, bool compact, bool *ok)
{
    sx_promql_hist_t *h = alloc_n(a, 1, sizeof(*h), ok);
    if (!h)
        return NULL;
    *h = (sx_promql_hist_t){.schema = w->schema,
                            .counter_reset_hint = w->hint,
                            .zero_threshold = w->zthr,
                            .zero_count = w->zcount,
                            .count = w->count,
                            .sum = w->sum};
    side_store(a, &w->pos, compact, &h->pos_spans, &h->npos_spans, &h->pos, &h->npos, ok);
    side_store(a, &w->neg, compact, &h->neg_spans, &h->nneg_spans, &h->neg, &h->nneg, ok);
    if (w->ncustom) {
        h->custom_values = alloc_n(a, w->ncustom, sizeof(double), ok);
        if (h->custom_values) {
            memcpy(h->custom_values, w->custom, w->ncustom * sizeof(double));
            h->ncustom = w->ncustom;
        }
    }
    return *ok ? h : NULL;
}

/* ---- Schema reduction and merging ---- */

/* Prometheus' reduceResolution on absolute counts: each bucket goes to its
 * target index; consecutive buckets with the same target are summed in
 * order. A bucket whose target lies below the previous one (only possible
 * with spans of negative offset) is dropped, as there. */
static blist_t list_reduce(sx_arena_t *a, const blist_t *l, int32_t from, int32_t to, bool *ok)
{
    if (from == to || l->n == 0)
        return *l;
    blist_t r = {alloc_n(a, l->n, sizeof(bkt_t), ok), 0};
    if (!r.b)
        return (blist_t){0};
    for (size_t i = 0; i < l->n; i++) {
        int64_t t = target_idx(l->b[i].idx, from, to);
        if (r.n > 0 && r.b[r.n - 1].idx == t)
            r.b[r.n - 1].v += l->b[i].v;
        else if (r.n == 0 || t > r.b[r.n - 1].idx)
            r.b[r.n++] = (bkt_t){t, l->b[i].v};
    }
    return r;
}

/* Prometheus' addBuckets: y's buckets added to (or, with neg, subtracted
 * from) x's, missing ones inserted. For exponential schemas the leading
 * buckets of y whose upper bound is <= thr are ignored: their counts
 * already went into the zero bucket during reconciliation. */
static blist_t list_merge(sx_arena_t *a, const blist_t *x, const blist_t *y, bool neg, double thr,
                          int32_t schema, bool *ok)
{
    size_t j = 0;
    if (schema_exp(schema))
        while (j < y->n && bound_exp(y->b[j].idx, schema) <= thr)
            j++;
    blist_t r = {alloc_n(a, x->n + (y->n - j), sizeof(bkt_t), ok), 0};
    if (!r.b)
        return (blist_t){0};
    size_t i = 0;
    while (i < x->n || j < y->n) {
        if (j >= y->n || (i < x->n && x->b[i].idx < y->b[j].idx)) {
            r.b[r.n++] = x->b[i++];
        } else {
            double v = neg ? -y->b[j].v : y->b[j].v;
            if (i < x->n && x->b[i].idx == y->b[j].idx) {
                r.b[r.n++] = (bkt_t){x->b[i].idx, x->b[i].v + v};
                i++;
            } else {
                r.b[r.n++] = (bkt_t){y->b[j].idx, v};
            }
            j++;
        }
    }
    return r;
}

/* ---- Zero bucket reconciliation ---- */

/* Prometheus' zeroCountForLargerThreshold for a histogram given by its
 * scalars and its two sides (sources at the histogram's own schema): the
 * zero count it would have with the zero threshold raised to larger, and
 * the threshold actually needed, which moves up to the upper bound of any
 * populated bucket larger would cut through. The order of additions is
 * Prometheus': zero count, positive buckets upwards, negative buckets
 * outwards. */
static void zero_for_larger(src_t pos, src_t neg, int32_t schema, double zcount, double zthr,
                            double larger, double *count, double *thr)
{
    if (larger == zthr) {
        *count = zcount, *thr = larger;
        return;
    }
    for (;;) {
        double c = zcount;
        mit_t it = mit_make(pos, schema, schema, 0);
        while (mit_next(&it)) {
            double lower = bound_exp(it.idx - 1, schema), upper = bound_exp(it.idx, schema);
            if (lower >= larger)
                break;
            c += it.v;
            if (upper > larger) {
                if (it.v != 0)
                    larger = upper;
                break;
            }
        }
        bool again = false;
        it = mit_make(neg, schema, schema, 0);
        while (mit_next(&it)) {
            double lower = -bound_exp(it.idx, schema), upper = -bound_exp(it.idx - 1, schema);
            if (upper <= -larger)
                break;
            c += it.v;
            if (lower < -larger) {
                if (it.v != 0) {
                    larger = -lower;
                    again = true; /* the positive side must be redone */
                }
                break;
            }
        }
        if (!again) {
            *count = c, *thr = larger;
            return;
        }
    }
}

static void wh_zero_for_larger(const wh_t *w, double larger, double *count, double *thr)
{
    zero_for_larger(src_list(&w->pos), src_list(&w->neg), w->schema, w->zcount, w->zthr, larger,
                    count, thr);
}

static void list_drop_zeros(blist_t *l)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->b[i].v != 0)
            l->b[k++] = l->b[i];
    l->n = k;
}

/* Prometheus' trimBucketsInZeroBucket: empty the buckets now inside the
 * zero bucket (their counts are already in the zero count), then Compact. */
static void wh_trim(wh_t *w)
{
    for (size_t i = 0; i < w->pos.n; i++) {
        if (bound_exp(w->pos.b[i].idx - 1, w->schema) >= w->zthr)
            break;
        w->pos.b[i].v = 0;
    }
    for (size_t i = 0; i < w->neg.n; i++) {
        if (-bound_exp(w->neg.b[i].idx - 1, w->schema) <= -w->zthr)
            break;
        w->neg.b[i].v = 0;
    }
    list_drop_zeros(&w->pos);
    list_drop_zeros(&w->neg);
}

/* Prometheus' reconcileZeroBuckets: widen the receiver's zero bucket and
 * compute the other's zero count until both thresholds agree; returns the
 * other's zero count. A NaN threshold never agrees with anything, and
 * Prometheus would loop forever on it; here the loop just stops. */
static double wh_reconcile(wh_t *h, const wh_t *o)
{
    double ozc = o->zcount, othr = o->zthr;
    while (othr != h->zthr && !isnan(othr) && !isnan(h->zthr)) {
        if (h->zthr > othr)
            wh_zero_for_larger(o, h->zthr, &ozc, &othr);
        if (othr > h->zthr) {
            wh_zero_for_larger(h, othr, &h->zcount, &h->zthr);
            wh_trim(h);
        }
    }
    return ozc;
}

/* ---- Public operations ---- */

int sx_promql_hist_copy(const sx_promql_hist_t *h, sx_arena_t *a, sx_promql_hist_t **out)
{
    bool ok = true;
    sx_promql_hist_t *c = alloc_n(a, 1, sizeof(*c), &ok);
    *out = NULL;
    if (!c)
        return SX_ENOMEM;
    *c = (sx_promql_hist_t){.schema = h->schema,
                            .counter_reset_hint = h->counter_reset_hint,
                            .count = h->count,
                            .sum = h->sum};
#define DUP(field, nfield)                                                                         \
    do {                                                                                           \
        if (h->field && h->nfield) {                                                               \
            c->field = alloc_n(a, h->nfield, sizeof(*h->field), &ok);                              \
            if (c->field) {                                                                        \
                memcpy(c->field, h->field, h->nfield * sizeof(*h->field));                         \
                c->nfield = h->nfield;                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)
    DUP(pos_spans, npos_spans);
    DUP(pos, npos);
    if (is_custom(h)) {
        DUP(custom_values, ncustom);
    } else {
        c->zero_threshold = h->zero_threshold;
        c->zero_count = h->zero_count;
        DUP(neg_spans, nneg_spans);
        DUP(neg, nneg);
    }
#undef DUP
    if (!ok)
        return SX_ENOMEM;
    *out = c;
    return 0;
}

int sx_promql_hist_copy_to_schema(const sx_promql_hist_t *h, int32_t schema, sx_arena_t *a,
                                  sx_promql_hist_t **out)
{
    *out = NULL;
    if (!schema_valid(h->schema) || !schema_valid(schema))
        return SX_EINVAL;
    if (schema == h->schema)
        return sx_promql_hist_copy(h, a, out);
    if (is_custom(h) || schema == CUSTOM || schema > h->schema)
        return SX_EINVAL;
    bool ok = true;
    wh_t w;
    wh_load(&w, h, a, &ok);
    w.pos = list_reduce(a, &w.pos, h->schema, schema, &ok);
    w.neg = list_reduce(a, &w.neg, h->schema, schema, &ok);
    w.schema = schema;
    w.hint = SX_PROMQL_HIST_HINT_UNKNOWN; /* CopyToSchema does not carry it */
    sx_promql_hist_t *r = ok ? wh_store(&w, a, false, &ok) : NULL;
    if (!ok)
        return SX_ENOMEM;
    *out = r;
    return 0;
}

/* Add's counter reset hint of the sum (Prometheus' adjustCounterReset). */
static uint8_t hint_merge(uint8_t x, uint8_t y)
{
    if (x == y || x == SX_PROMQL_HIST_HINT_GAUGE)
        return x;
    if (y == SX_PROMQL_HIST_HINT_GAUGE)
        return SX_PROMQL_HIST_HINT_GAUGE;
    /* Unknown with anything else is unknown, and so is the collision of
     * reset with not-reset (on which Prometheus 3.5 does not warn). */
    return SX_PROMQL_HIST_HINT_UNKNOWN;
}

static int add_sub(const sx_promql_hist_t *x, const sx_promql_hist_t *y, bool sub, sx_arena_t *a,
                   sx_promql_hist_t **out)
{
    *out = NULL;
    if (!schema_valid(x->schema) || !schema_valid(y->schema))
        return SX_EINVAL;
    if (is_custom(x) != is_custom(y))
        return SX_PROMQL_HIST_EMIXED;
    if (is_custom(x) && !bounds_match(x, y))
        return SX_PROMQL_HIST_EBOUNDS;

    bool ok = true;
    wh_t h, o;
    wh_load(&h, x, a, &ok);
    wh_load(&o, y, a, &ok);
    if (!ok)
        return SX_ENOMEM;
    if (!sub)
        h.hint = hint_merge(h.hint, y->counter_reset_hint);
    if (!is_custom(x)) {
        double ozc = wh_reconcile(&h, &o);
        h.zcount = sub ? h.zcount - ozc : h.zcount + ozc;
    }
    h.count = sub ? h.count - y->count : h.count + y->count;
    h.sum = sub ? h.sum - y->sum : h.sum + y->sum;

    if (is_custom(x)) {
        h.pos = list_merge(a, &h.pos, &o.pos, sub, h.zthr, CUSTOM, &ok);
    } else {
        /* The zero buckets were reconciled at the original schemas; only
         * now are the buckets brought to the common schema. A coarse
         * bucket that straddles the new threshold thus keeps the counts of
         * its fine buckets below it, which the zero count holds as well.
         * Prometheus does the same. */
        if (o.schema < h.schema) {
            h.pos = list_reduce(a, &h.pos, h.schema, o.schema, &ok);
            h.neg = list_reduce(a, &h.neg, h.schema, o.schema, &ok);
            h.schema = o.schema;
        } else if (o.schema > h.schema) {
            o.pos = list_reduce(a, &o.pos, o.schema, h.schema, &ok);
            o.neg = list_reduce(a, &o.neg, o.schema, h.schema, &ok);
        }
        h.pos = list_merge(a, &h.pos, &o.pos, sub, h.zthr, h.schema, &ok);
        h.neg = list_merge(a, &h.neg, &o.neg, sub, h.zthr, h.schema, &ok);
    }
    sx_promql_hist_t *r = ok ? wh_store(&h, a, true, &ok) : NULL;
    if (!ok)
        return SX_ENOMEM;
    *out = r;
    return 0;
}

int sx_promql_hist_add(const sx_promql_hist_t *x, const sx_promql_hist_t *y, sx_arena_t *a,
                       sx_promql_hist_t **out)
{
    return add_sub(x, y, false, a, out);
}

int sx_promql_hist_sub(const sx_promql_hist_t *x, const sx_promql_hist_t *y, sx_arena_t *a,
                       sx_promql_hist_t **out)
{
    return add_sub(x, y, true, a, out);
}

int sx_promql_hist_mul(const sx_promql_hist_t *h, double f, sx_arena_t *a, sx_promql_hist_t **out)
{
    int rc = sx_promql_hist_copy(h, a, out);
    if (rc)
        return rc;
    sx_promql_hist_t *c = *out;
    c->zero_count *= f;
    c->count *= f;
    c->sum *= f;
    for (uint32_t i = 0; i < c->npos; i++)
        c->pos[i] *= f;
    for (uint32_t i = 0; i < c->nneg; i++)
        c->neg[i] *= f;
    return 0;
}

int sx_promql_hist_div(const sx_promql_hist_t *h, double f, sx_arena_t *a, sx_promql_hist_t **out)
{
    int rc = sx_promql_hist_copy(h, a, out);
    if (rc)
        return rc;
    sx_promql_hist_t *c = *out;
    c->zero_count /= f;
    c->count /= f;
    c->sum /= f;
    if (f == 0) {
        c->pos = NULL, c->neg = NULL, c->pos_spans = NULL, c->neg_spans = NULL;
        c->npos = c->nneg = c->npos_spans = c->nneg_spans = 0;
        return 0;
    }
    for (uint32_t i = 0; i < c->npos; i++)
        c->pos[i] /= f;
    for (uint32_t i = 0; i < c->nneg; i++)
        c->neg[i] /= f;
    return 0;
}

int sx_promql_hist_compact(const sx_promql_hist_t *h, sx_arena_t *a, sx_promql_hist_t **out)
{
    *out = NULL;
    bool ok = true;
    wh_t w;
    wh_load(&w, h, a, &ok);
    /* Compact touches only the buckets: keep the scalars as they are. */
    w.zthr = h->zero_threshold, w.zcount = h->zero_count;
    w.custom = h->custom_values, w.ncustom = h->ncustom;
    if (is_custom(h))
        w.neg = list_from_src(a, src_raw(h, false), h->neg ? h->nneg : 0, &ok);
    sx_promql_hist_t *r = ok ? wh_store(&w, a, true, &ok) : NULL;
    if (!ok)
        return SX_ENOMEM;
    *out = r;
    return 0;
}

/* ---- Equality ---- */

static bool spans_empty(const sx_promql_span_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (s[i].len > 0)
            return false;
    return true;
}

/* Prometheus' spansMatch: the same layout once every zero-length span is
 * folded into the next one. Offsets are summed in 64 bits. */
static bool spans_match(const sx_promql_span_t *s1, uint32_t n1, const sx_promql_span_t *s2,
                        uint32_t n2)
{
    uint32_t i = 0, j = 0;
    if (!s1)
        n1 = 0;
    if (!s2)
        n2 = 0;
    for (;;) {
        if (i >= n1)
            return spans_empty(s2 + j, n2 - j);
        if (j >= n2)
            return spans_empty(s1 + i, n1 - i);
        int64_t o1 = s1[i].offset, o2 = s2[j].offset;
        uint32_t l1 = s1[i++].len, l2 = s2[j++].len;
        if (l1 == 0) {
            for (; i < n1 && s1[i].len == 0; i++)
                o1 += s1[i].offset;
            if (i < n1)
                o1 += s1[i].offset, l1 = s1[i++].len;
        }
        if (l2 == 0) {
            for (; j < n2 && s2[j].len == 0; j++)
                o2 += s2[j].offset;
            if (j < n2)
                o2 += s2[j].offset, l2 = s2[j++].len;
        }
        if (o1 != o2 || l1 != l2)
            return false;
    }
}

static bool same_bits(double x, double y)
{
    return memcmp(&x, &y, sizeof(x)) == 0;
}

bool sx_promql_hist_equal(const sx_promql_hist_t *x, const sx_promql_hist_t *y)
{
    if (!x || !y)
        return false;
    if (x->schema != y->schema || !same_bits(x->count, y->count) || !same_bits(x->sum, y->sum))
        return false;
    if (is_custom(x) && !bounds_match(x, y))
        return false;
    if (x->zero_threshold != y->zero_threshold || !same_bits(x->zero_count, y->zero_count))
        return false;
    return spans_match(x->neg_spans, x->nneg_spans, y->neg_spans, y->nneg_spans) &&
           floats_match(x->neg, x->neg ? x->nneg : 0, y->neg, y->neg ? y->nneg : 0) &&
           spans_match(x->pos_spans, x->npos_spans, y->pos_spans, y->npos_spans) &&
           floats_match(x->pos, x->pos ? x->npos : 0, y->pos, y->pos ? y->npos : 0);
}

/* ---- Counter resets ---- */

/* Prometheus' detectReset over two iterators at the same schema. When cur
 * runs out first, Prometheus keeps testing the prev bucket it stopped at
 * while it drains prev, so only that one bucket decides; later populated
 * prev buckets are not looked at. That is kept, as it decides rate(). */
static bool scan_reset(mit_t *cur, mit_t *prev)
{
    if (!mit_next(prev))
        return false;
    int64_t pidx = prev->idx;
    double pv = prev->v;
    if (!mit_next(cur)) {
        for (;;) {
            if (pv != 0)
                return true;
            if (!mit_next(prev))
                return false;
        }
    }
    int64_t cidx = cur->idx;
    double cv = cur->v;
    for (;;) {
        while (cidx < pidx) {
            if (!mit_next(cur)) {
                for (;;) {
                    if (pv != 0)
                        return true;
                    if (!mit_next(prev))
                        return false;
                }
            }
            cidx = cur->idx, cv = cur->v;
        }
        if (cidx > pidx) {
            if (pv != 0)
                return true;
        } else if (cv < pv) {
            return true;
        }
        if (!mit_next(prev))
            return false;
        pidx = prev->idx, pv = prev->v;
    }
}

bool sx_promql_hist_detect_reset(const sx_promql_hist_t *cur, const sx_promql_hist_t *prev)
{
    if (cur->counter_reset_hint == SX_PROMQL_HIST_HINT_RESET)
        return true;
    if (cur->counter_reset_hint == SX_PROMQL_HIST_HINT_NOT_RESET)
        return false;
    /* Unknown, and gauge (PromQL lets counter functions run on gauges, with
     * a warning): do the work. */
    if (cur->count < prev->count)
        return true;
    if (is_custom(cur) != is_custom(prev) || (is_custom(cur) && !bounds_match(cur, prev)))
        return true;
    if (cur->schema > prev->schema)
        return true;
    if (cur->zero_threshold < prev->zero_threshold)
        return true;
    double pzc, thr;
    zero_for_larger(src_raw(prev, true), src_raw(prev, false), prev->schema, prev->zero_count,
                    prev->zero_threshold, cur->zero_threshold, &pzc, &thr);
    if (thr != cur->zero_threshold)
        return true; /* the new threshold cuts through a populated bucket */
    if (cur->zero_count < pzc)
        return true;
    for (int side = 0; side < 2; side++) {
        mit_t c = mit_make(src_raw(cur, side == 0), cur->schema, cur->schema, cur->zero_threshold);
        mit_t p =
            mit_make(src_raw(prev, side == 0), prev->schema, cur->schema, cur->zero_threshold);
        if (scan_reset(&c, &p))
            return true;
    }
    return false;
}

/* ---- Increase over a window ---- */

int sx_promql_hist_increase(sx_promql_hist_t *const *pts, size_t n, bool is_counter, sx_arena_t *a,
                            sx_promql_hist_t **out, int *annot)
{
    int dummy;
    if (!annot)
        annot = &dummy;
    *annot = 0;
    *out = NULL;
    if (n == 0)
        return SX_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (pts[i] && !schema_valid(pts[i]->schema))
            return SX_EINVAL;
    const sx_promql_hist_t *first = pts[0], *last = pts[n - 1], *prev = first;
    if (!first || !last) {
        *annot = SX_PROMQL_HIST_ANNOT_MIXED_FLOATS;
        return SX_PROMQL_HIST_EFLOATS;
    }
    if (is_counter && (first->counter_reset_hint == SX_PROMQL_HIST_HINT_GAUGE ||
                       last->counter_reset_hint == SX_PROMQL_HIST_HINT_GAUGE))
        *annot |= SX_PROMQL_HIST_ANNOT_NOT_COUNTER;

    /* A reset between the first and the second point: the first point is
     * then taken as empty, so that its bucket layout cannot clash. */
    sx_promql_hist_t empty;
    bool custom = is_custom(first);
    if (is_counter && n > 1 && pts[1] && sx_promql_hist_detect_reset(pts[1], first)) {
        empty = (sx_promql_hist_t){.schema = pts[1]->schema,
                                   .custom_values = pts[1]->custom_values,
                                   .ncustom = pts[1]->ncustom};
        prev = &empty;
        custom = is_custom(pts[1]);
    }
    if (is_custom(last) != custom) {
        *annot |= SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS;
        return SX_PROMQL_HIST_EMIXED;
    }

    /* The lowest schema in the window. Prometheus only looks at the inner
     * points for counters; for delta() they are not used at all. */
    int32_t min_schema = last->schema < prev->schema ? last->schema : prev->schema;
    for (size_t i = 1; i + 1 < n; i++) {
        const sx_promql_hist_t *c = pts[i];
        if (!c) {
            *annot = SX_PROMQL_HIST_ANNOT_MIXED_FLOATS; /* replaces, as Prometheus */
            return SX_PROMQL_HIST_EFLOATS;
        }
        if (!is_counter)
            continue;
        if (c->counter_reset_hint == SX_PROMQL_HIST_HINT_GAUGE)
            *annot |= SX_PROMQL_HIST_ANNOT_NOT_COUNTER;
        if (c->schema < min_schema)
            min_schema = c->schema;
        if (is_custom(c) != custom) {
            *annot = SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS;
            return SX_PROMQL_HIST_EMIXED;
        }
    }

    sx_promql_hist_t *h, *t;
    int rc = sx_promql_hist_copy_to_schema(last, min_schema, a, &h);
    if (rc)
        return rc;
    rc = sx_promql_hist_sub(h, prev, a, &t);
    if (rc == SX_PROMQL_HIST_EMIXED || rc == SX_PROMQL_HIST_EBOUNDS) {
        *annot = rc == SX_PROMQL_HIST_EMIXED ? SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS
                                             : SX_PROMQL_HIST_ANNOT_INCOMPAT_BOUNDS;
        return rc;
    }
    if (rc)
        return rc;
    h = t;
    if (is_counter) {
        for (size_t i = 1; i < n; i++) {
            const sx_promql_hist_t *c = pts[i];
            if (sx_promql_hist_detect_reset(c, prev)) {
                rc = sx_promql_hist_add(h, prev, a, &t);
                if (rc == SX_PROMQL_HIST_EMIXED || rc == SX_PROMQL_HIST_EBOUNDS) {
                    *annot = rc == SX_PROMQL_HIST_EMIXED ? SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS
                                                         : SX_PROMQL_HIST_ANNOT_INCOMPAT_BOUNDS;
                    return rc;
                }
                if (rc)
                    return rc;
                h = t;
            }
            prev = c;
        }
    } else if (first->counter_reset_hint != SX_PROMQL_HIST_HINT_GAUGE ||
               last->counter_reset_hint != SX_PROMQL_HIST_HINT_GAUGE) {
        *annot |= SX_PROMQL_HIST_ANNOT_NOT_GAUGE;
    }
    h->counter_reset_hint = SX_PROMQL_HIST_HINT_GAUGE;
    *out = h; /* add and sub results are compacted already */
    return 0;
}

/* Every bucket of h from the lowest to the highest value (negative
 * buckets, the zero bucket if it has observations, positive buckets),
 * including empty buckets inside spans, as Prometheus' AllBucketIterator.
 * The array is in arena a; returns the count. */
size_t sx_promql_hist_buckets(const sx_promql_hist_t *h, sx_arena_t *a, sx_promql_bucket_t **out)
{
    size_t n = h->npos + h->nneg + 1;
    sx_promql_bucket_t *b = sx_arena_alloc(a, n * sizeof(*b));
    size_t k = 0;
    double zt = h->zero_threshold;
    /* Negative buckets, highest index (most negative) first. */
    if (h->nneg) {
        int32_t *idx = sx_arena_alloc(a, h->nneg * sizeof(int32_t));
        size_t m = 0;
        int32_t cur = 0;
        for (uint32_t s = 0; s < h->nneg_spans; s++) {
            cur += h->neg_spans[s].offset;
            for (uint32_t j = 0; j < h->neg_spans[s].len && m < h->nneg; j++)
                idx[m++] = cur++;
        }
        for (size_t j = m; j-- > 0;) {
            double lo = -bound_exp(idx[j], h->schema), up = -bound_exp(idx[j] - 1, h->schema);
            if (up < 0 && up > -zt)
                up = -zt;
            b[k++] = (sx_promql_bucket_t){lo, up, h->neg[j], -1};
        }
    }
    if (h->zero_count > 0)
        b[k++] = (sx_promql_bucket_t){-zt, zt, h->zero_count, 0};
    int32_t cur = 0;
    size_t m = 0;
    for (uint32_t s = 0; s < h->npos_spans; s++) {
        cur += h->pos_spans[s].offset;
        for (uint32_t j = 0; j < h->pos_spans[s].len && m < h->npos; j++, cur++, m++) {
            double lo, up;
            if (h->schema == SX_PROMQL_HIST_CUSTOM_SCHEMA) {
                lo = cur == 0 ? -INFINITY
                     : (uint32_t)(cur - 1) < h->ncustom ? h->custom_values[cur - 1] : INFINITY;
                up = (uint32_t)cur < h->ncustom ? h->custom_values[cur] : INFINITY;
            } else {
                lo = bound_exp(cur - 1, h->schema), up = bound_exp(cur, h->schema);
                if (lo > 0 && lo < zt)
                    lo = zt;
            }
            b[k++] = (sx_promql_bucket_t){lo, up, h->pos[m], 1};
        }
    }
    *out = b;
    return k;
}
