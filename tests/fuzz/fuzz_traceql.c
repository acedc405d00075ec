/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the trace search parsers. The first byte picks TraceQL
 * (q=) or Tempo's logfmt tags=; the rest, NUL-terminated, is parsed. A
 * success must give well-formed conditions. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/traceql/traceql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *q = malloc(size);
    memcpy(q, data + 1, size - 1);
    q[size - 1] = 0;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_tql_cond_t *c = NULL;
    size_t n = 0, cap = 0;
    const char *why = data[0] & 1 ? sx_tql_tags_parse(&a, q, &c, &n, &cap)
                                  : sx_tql_parse(&a, q, &c, &n);
    for (size_t i = 0; !why && i < n; i++) {
        if (c[i].field < SX_TQL_F_ATTR_ANY || c[i].field > SX_TQL_F_DURATION ||
            c[i].op < SX_TQL_OP_EQ || c[i].op > SX_TQL_OP_LE)
            abort();
        if (c[i].field <= SX_TQL_F_ATTR_RES && !c[i].key)
            abort(); /* attribute conditions name their attribute */
        if (c[i].vt == SX_TQL_V_STR && !c[i].s)
            abort();
    }
    sx_arena_dispose(&a);
    free(q);
    return 0;
}
