/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the JSON stages on one input line: `| json` (flatten),
 * `| json` with a fixed few path expressions, and `| unpack`. An input
 * starting with byte 0x01 instead parses the rest as a path expression
 * and, when it compiles, extracts it from a fixed document. Labels must
 * stay sorted and readable; any sanitizer report is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "query/logql/jsonx.h"
#include "query/logql/labels.h"

static void check(const sx_lq_labels_t *lb)
{
    volatile unsigned sum = 0;
    for (uint32_t i = 0; i < lb->n; i++) {
        if (i && sx_str_cmp(lb->v[i - 1].name, lb->v[i].name) >= 0)
            abort();
        for (size_t k = 0; k < lb->v[i].name.len; k++)
            sum += (unsigned char)lb->v[i].name.ptr[k];
        for (size_t k = 0; k < lb->v[i].value.len; k++)
            sum += (unsigned char)lb->v[i].value.ptr[k];
    }
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sx_label_t base[] = {
        {SX_STR_LIT("app"), SX_STR_LIT("web")},
        {SX_STR_LIT("pod_uuid"), SX_STR_LIT("x")},
    };
    sx_arena_t a;
    sx_arena_init(&a);
    sx_lq_labels_t lb;
    sx_lq_labels_init(&lb, &a);
    sx_err_t err;
    sx_lq_json_t j;

    if (size > 0 && data[0] == 0x01) {
        sx_str_t id = SX_STR_LIT("x"), expr = {(const char *)data + 1, size - 1};
        if (sx_lq_json_compile(&j, &id, &expr, 1, &a, &err) == 0) {
            static const char doc[] = "{\"a\":{\"b\":[1,{\"c\":\"d\"}],\"e f\":null},\"g\":[[\"h\"]],\"i\":\"j\\\"k\"}";
            sx_lq_labels_reset(&lb, base, 2);
            sx_lq_json_extract(&j, (sx_str_t){doc, sizeof(doc) - 1}, &lb);
            check(&lb);
        }
        sx_lq_labels_dispose(&lb);
        sx_arena_dispose(&a);
        return 0;
    }

    sx_str_t line = {(const char *)data, size};
    sx_lq_labels_reset(&lb, base, 2);
    sx_lq_json_flatten(line, &lb);
    check(&lb);

    sx_str_t ids[] = {SX_STR_LIT("app"), SX_STR_LIT("first"), SX_STR_LIT("deep"), SX_STR_LIT("q")};
    sx_str_t exprs[] = {SX_STR_LIT("app"), SX_STR_LIT("servers[0]"), SX_STR_LIT("a.b[1][\"c\"]"),
                        SX_STR_LIT("[\"x y\"]")};
    if (sx_lq_json_compile(&j, ids, exprs, 4, &a, &err) != 0)
        abort();
    sx_lq_labels_reset(&lb, base, 2);
    sx_lq_json_extract(&j, line, &lb);
    check(&lb);

    sx_lq_labels_reset(&lb, base, 2);
    sx_str_t nl = sx_lq_unpack(line, &lb);
    volatile unsigned sum = 0;
    for (size_t k = 0; k < nl.len; k++)
        sum += (unsigned char)nl.ptr[k];
    (void)sum;
    check(&lb);

    sx_lq_labels_dispose(&lb);
    sx_arena_dispose(&a);
    return 0;
}
