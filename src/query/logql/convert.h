/* SPDX-License-Identifier: Apache-2.0 */
/* Value conversions of LogQL's unwrap and label filters, with Go's exact
 * rules because Loki calls Go's functions: strconv.ParseFloat (plain
 * unwrap and numeric filters), time.ParseDuration (`duration(x)`,
 * `duration_seconds(x)`, duration filters) and go-humanize's ParseBytes
 * (`bytes(x)`, byte filters). A failed conversion is Loki's
 * __error__=SampleExtractionErr; the caller sets it. Also `| decolorize`,
 * which strips ANSI escape sequences from a line. */
#ifndef SX_QUERY_LOGQL_CONVERT_H
#define SX_QUERY_LOGQL_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/buf.h"
#include "../../core/error.h"
#include "../../core/str.h"

/* Go's strconv.ParseFloat(s, 64): decimal with optional exponent, hex
 * mantissa with a mandatory p exponent ("0x1.8p1"), underscores between
 * digits only after a base prefix, "inf"/"infinity"/"nan" in any case with
 * an optional sign. No surrounding blanks. Returns 0, or SX_EPARSE for bad
 * syntax and values out of range (Go's ErrRange: Loki treats both as
 * errors), with err (may be NULL) holding Go's message,
 * `strconv.ParseFloat: parsing "x": invalid syntax`. */
int sx_lq_parse_float(sx_str_t s, double *out, sx_err_t *err);

/* Go's time.ParseDuration: [-+]? then one or more <decimal><unit> with
 * units ns us µs μs ms s m h; "0" alone is allowed. Result in nanoseconds.
 * SX_EPARSE on bad input or int64 overflow (`time: invalid duration "x"`,
 * `time: missing unit in duration "1"`, `time: unknown unit "x" in
 * duration "1x"`). */
int sx_lq_parse_duration(sx_str_t s, int64_t *ns, sx_err_t *err);

/* Loki's convertDuration: ParseDuration, in seconds (Go's
 * Duration.Seconds()). */
int sx_lq_parse_duration_seconds(sx_str_t s, double *secs, sx_err_t *err);

/* go-humanize's ParseBytes: a number (digits, '.', ',' as thousands
 * separator) then an optional blank-trimmed, case-insensitive unit among b,
 * k kb ki kib, m mb mi mib, ... e eb ei eib (SI are powers of 1000, IEC of
 * 1024). "1.5KB" = 1500, "2 MiB" = 2097152, "100b" = 100. The result is
 * truncated to an integer. SX_EPARSE with `unhandled size name: x` or the
 * number's ParseFloat error. */
int sx_lq_parse_bytes(sx_str_t s, uint64_t *out, sx_err_t *err);

/* The unwrap conversions by name. */
typedef enum sx_lq_conv {
    SX_LQ_CONV_FLOAT = 0,    /* unwrap x */
    SX_LQ_CONV_DURATION = 1, /* unwrap duration(x) / duration_seconds(x) */
    SX_LQ_CONV_BYTES = 2,    /* unwrap bytes(x) */
} sx_lq_conv_t;

/* Convert a label value for unwrap. An empty value is an error too (Loki
 * checks that first). Returns 0 or SX_EPARSE (err may be NULL). */
int sx_lq_convert(sx_lq_conv_t conv, sx_str_t s, double *out, sx_err_t *err);

/* `| decolorize`: line without its ANSI escape sequences (the
 * stripansi pattern Loki uses: ESC or U+009B, then parameters, then a
 * final byte, or an OSC ended by BEL). Returns line itself when there is
 * nothing to strip; otherwise the result is built in scratch (cleared
 * first; may reallocate) and the returned slice points into it until
 * scratch changes. */
sx_str_t sx_lq_decolorize(sx_str_t line, sx_buf_t *scratch);

#endif
