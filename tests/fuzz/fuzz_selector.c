/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the series selector parser used by match[] parameters
 * (quoting, escapes, matcher operators, regex compilation). A parsed
 * selector's matchers are also exercised against the empty string. */
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "storage/tsdb/tsdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_matcher_t *m;
    size_t n;
    sx_err_t err;
    if (sx_selector_parse((sx_str_t){(const char *)data, size}, &a, &m, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            (void)sx_matcher_matches(&m[i], (sx_str_t){(const char *)data, size});
        sx_selector_dispose(m, n);
    }
    sx_arena_dispose(&a);
    return 0;
}
