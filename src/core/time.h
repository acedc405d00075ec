/* SPDX-License-Identifier: Apache-2.0 */
/* Time and duration parsing shared by every API: Prometheus durations
 * ("1h30m", "5m", "1.5" seconds where allowed), RFC 3339 timestamps and
 * Unix seconds with fractions. All results are in milliseconds. */
#ifndef SX_CORE_TIME_H
#define SX_CORE_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "str.h"

/* Prometheus duration: one or more <number><unit> with units y w d h m s ms
 * in decreasing order ("1h30m"). Result in milliseconds. */
int sx_duration_parse(sx_str_t s, int64_t *ms, sx_err_t *err);
/* A duration or a float number of seconds ("15s", "15", "0.5"). */
int sx_duration_or_seconds_parse(sx_str_t s, int64_t *ms, sx_err_t *err);
/* RFC 3339 ("2015-07-01T20:10:51.781Z", offsets allowed) or Unix seconds
 * with an optional fraction ("1435781451.781"). Result in milliseconds. */
int sx_timestamp_parse(sx_str_t s, int64_t *ms, sx_err_t *err);
/* Same, nanoseconds (for Loki-style APIs); a plain integer with more than
 * 10 digits is taken as nanoseconds already. */
int sx_timestamp_parse_ns(sx_str_t s, int64_t *ns, sx_err_t *err);

int64_t sx_now_ms(void);
int64_t sx_now_ns(void);
int64_t sx_mono_ns(void);

/* Format milliseconds as RFC 3339 with millisecond precision. buf >= 32. */
void sx_format_rfc3339_ms(char *buf, int64_t ms);

#endif
