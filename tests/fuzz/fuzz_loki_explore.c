/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what the Logs Drilldown endpoints (src/api/loki_explore.c)
 * parse out of log lines. The input is split into lines; each goes through
 * Loki's field type detection (Go's int, float, bool, duration and
 * humanize byte syntaxes), the UUID test, the byte-value rewriting of
 * detected_field values, and the pattern tokenizer and clustering.
 * Invariants: a type is one of Loki's six; every line clustered is counted
 * once; after the final fold a cluster's pattern has no two glued
 * wildcards (unless the line wrote "<_" itself), its samples are one per step in time order and add up to its
 * count, and the clusters are in answer order. Any sanitizer report is
 * a finding. The file is included to reach its static functions. */
#include "api/loki_explore.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_arena_t a;
    sx_arena_init(&a);
    pat_t p;
    memset(&p, 0, sizeof(p));
    p.a = &a;
    p.step = 60 * NS_PER_SEC;
    p.gcap = 64;
    p.gkey = sx_arena_calloc(&a, p.gcap, sizeof(*p.gkey));
    p.ghead = sx_arena_alloc(&a, p.gcap * sizeof(*p.ghead));
    static const char *const types[] = {"int", "float", "boolean", "duration", "bytes", "string"};
    const char *d = (const char *)data;
    size_t i = 0, nline = 0, clustered = 0;
    while (i <= size) {
        size_t j = i;
        while (j < size && d[j] != '\n')
            j++;
        sx_str_t line = {d + i, j - i};
        const char *ty = field_type(line);
        bool known = false;
        for (size_t k = 0; k < 6; k++)
            known |= strcmp(ty, types[k]) == 0;
        if (!known)
            abort();
        (void)is_uuid(line);
        sx_str_t v = df_value_form(&a, line);
        if (!v.ptr && v.len)
            abort();
        uint64_t before = 0;
        for (size_t c = 0; c < p.nc; c++)
            before += p.c[c].total;
        pat_line(&p, line, (int64_t)nline * 7 * NS_PER_SEC - 3 * NS_PER_SEC);
        uint64_t after = 0;
        for (size_t c = 0; c < p.nc; c++)
            after += p.c[c].total;
        if (after != before && after != before + 1)
            abort();
        clustered += after - before;
        nline++;
        i = j + 1;
    }
    pat_finish(&p);
    uint64_t total = 0;
    for (size_t c = 0; c < p.nc; c++) {
        const cluster_t *cl = &p.c[c];
        if (cl->ntok && !cl->text.len)
            abort();
        /* Unless the line itself says "<_", no "<_><_>" (not a valid |>). */
        bool literal = false;
        for (uint32_t k = 0; k < cl->ntok; k++)
            literal |= cl->tok[k].s.ptr && memmem(cl->tok[k].s.ptr, cl->tok[k].s.len, "<_", 2);
        for (size_t k = 0; !literal && k + 6 <= cl->text.len; k++)
            if (memcmp(cl->text.ptr + k, "<_><_>", 6) == 0)
                abort();
        uint64_t n = 0;
        for (size_t k = 0; k < cl->npts; k++) {
            if (k && cl->pts[k - 1].t >= cl->pts[k].t)
                abort();
            if (cl->pts[k].t % 60)
                abort();
            n += cl->pts[k].n;
        }
        if (n != cl->total)
            abort();
        if (c && cmp_cluster(&p.c[c - 1], cl) > 0)
            abort();
        total += cl->total;
    }
    if (total != clustered)
        abort();
    sx_arena_dispose(&a);
    return 0;
}
