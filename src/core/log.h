/* SPDX-License-Identifier: Apache-2.0 */
/* Structured server log: one line per event, logfmt ("ts=... level=...
 * component=... msg=..."), written to stderr. Log where the decision is made,
 * once, naming the component. */
#ifndef SX_CORE_LOG_H
#define SX_CORE_LOG_H

enum { SX_LOG_DEBUG, SX_LOG_INFO, SX_LOG_WARN, SX_LOG_ERROR };

void sx_log_set_level(int level);
int sx_log_level_parse(const char *s); /* -1 if unknown */
void sx_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sx_log_debug(comp, ...) sx_log(SX_LOG_DEBUG, comp, __VA_ARGS__)
#define sx_log_info(comp, ...) sx_log(SX_LOG_INFO, comp, __VA_ARGS__)
#define sx_log_warn(comp, ...) sx_log(SX_LOG_WARN, comp, __VA_ARGS__)
#define sx_log_error(comp, ...) sx_log(SX_LOG_ERROR, comp, __VA_ARGS__)

#endif
