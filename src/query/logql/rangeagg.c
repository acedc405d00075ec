/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL range aggregations over one series' samples: for each step t the
 * window (t - range, t] (after the offset) is reduced with Loki's
 * functions. Samples are sorted by time; windows slide with two indexes,
 * so a step costs only the samples that enter and leave it, except for
 * the order statistics (min, max, quantile), which rescan their window. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Loki's quantile (Prometheus' linear interpolation between ranks). */
static double quantile(double q, double *v, size_t n)
{
    if (n == 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(v, n, sizeof(double), cmp_double);
    double rank = q * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    size_t hi = lo + 1 < n ? lo + 1 : n - 1;
    double w = rank - floor(rank);
    return v[lo] * (1 - w) + v[hi] * w;
}

/* Prometheus' extrapolated rate for counters (Loki's rate_counter). */
static double counter_rate(const int64_t *ts, const double *v, size_t n, int64_t wstart,
                           int64_t wend, int64_t range)
{
    if (n < 2)
        return 0;
    double result = v[n - 1] - v[0];
    double prev = v[0];
    for (size_t i = 1; i < n; i++) {
        if (v[i] < prev)
            result += prev;
        prev = v[i];
    }
    double dstart = (double)(ts[0] - wstart) / 1e9;
    double dend = (double)(wend - ts[n - 1]) / 1e9;
    double sampled = (double)(ts[n - 1] - ts[0]) / 1e9;
    double avg = sampled / (double)(n - 1);
    if (result > 0 && v[0] >= 0) {
        double zero = sampled * (v[0] / result);
        if (zero < dstart)
            dstart = zero;
    }
    double thresh = avg * 1.1;
    double ext = sampled;
    ext += dstart < thresh ? dstart : avg / 2;
    ext += dend < thresh ? dend : avg / 2;
    result = result * (ext / sampled);
    return result / ((double)range / 1e9);
}

void sx_lq__range_reduce(int op, double param, const int64_t *ts, const double *v, size_t n,
                         const int64_t *step_end_ns, size_t nsteps, int64_t range_ns, double *out,
                         double *scratch)
{
    size_t lo = 0, hi = 0;
    double secs = (double)range_ns / 1e9;
    for (size_t s = 0; s < nsteps; s++) {
        int64_t wend = step_end_ns[s], wstart = wend - range_ns;
        /* Steps ascend, so both edges only move forward. */
        while (lo < n && ts[lo] <= wstart)
            lo++;
        if (hi < lo)
            hi = lo;
        while (hi < n && ts[hi] <= wend)
            hi++;
        size_t k = hi - lo;
        if (k == 0) {
            out[s] = sx_lq__absent();
            continue;
        }
        const double *w = v + lo;
        double r = 0;
        switch (op) {
        case SX_LQ_R_COUNT:
            r = (double)k;
            break;
        case SX_LQ_R_RATE:
            r = (double)k / secs;
            break;
        case SX_LQ_R_BYTES:
        case SX_LQ_R_SUM: {
            double sum = 0, c = 0;
            for (size_t i = 0; i < k; i++) {
                double y = w[i] - c, t = sum + y;
                c = (t - sum) - y;
                sum = t;
            }
            r = sum;
            break;
        }
        case SX_LQ_R_BYTES_RATE:
        case SX_LQ_R_RATE_SUM: {
            double sum = 0;
            for (size_t i = 0; i < k; i++)
                sum += w[i];
            r = sum / secs;
            break;
        }
        case SX_LQ_R_AVG: {
            double mean = 0;
            for (size_t i = 0; i < k; i++)
                mean += (w[i] - mean) / (double)(i + 1);
            r = mean;
            break;
        }
        case SX_LQ_R_MIN:
            r = w[0];
            for (size_t i = 1; i < k; i++)
                if (w[i] < r || isnan(r))
                    r = w[i];
            break;
        case SX_LQ_R_MAX:
            r = w[0];
            for (size_t i = 1; i < k; i++)
                if (w[i] > r || isnan(r))
                    r = w[i];
            break;
        case SX_LQ_R_STDVAR:
        case SX_LQ_R_STDDEV: {
            double mean = 0, m2 = 0;
            for (size_t i = 0; i < k; i++) {
                double d = w[i] - mean;
                mean += d / (double)(i + 1);
                m2 += d * (w[i] - mean);
            }
            r = m2 / (double)k;
            if (op == SX_LQ_R_STDDEV)
                r = sqrt(r);
            break;
        }
        case SX_LQ_R_QUANTILE:
            memcpy(scratch, w, k * sizeof(double));
            r = quantile(param, scratch, k);
            break;
        case SX_LQ_R_FIRST:
            r = w[0];
            break;
        case SX_LQ_R_LAST:
            r = w[k - 1];
            break;
        case SX_LQ_R_RATE_COUNTER:
            r = counter_rate(ts + lo, w, k, wstart, wend, range_ns);
            break;
        case SX_LQ_R_ABSENT:
            out[s] = sx_lq__absent();
            continue;
        default:
            r = NAN;
        }
        out[s] = r;
    }
}
