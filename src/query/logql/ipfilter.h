/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL ip("...") matching: a single address, a CIDR prefix or an
 * inclusive range "a-b", IPv4 or IPv6. A line matches when any address
 * written in it is inside; a label value when it is one such address. */
#ifndef SX_QUERY_LOGQL_IPFILTER_H
#define SX_QUERY_LOGQL_IPFILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/error.h"
#include "../../core/str.h"

typedef struct sx_lq_ipfilter {
    bool v6;
    uint8_t lo[16], hi[16]; /* inclusive bounds, network byte order */
} sx_lq_ipfilter_t;

/* Compile a pattern; SX_EPARSE with Loki's kind of message when it is
 * neither an address, a prefix nor a range. */
int sx_lq_ipfilter_compile(sx_str_t pattern, sx_lq_ipfilter_t *f, sx_err_t *err);
bool sx_lq_ipfilter_value(const sx_lq_ipfilter_t *f, sx_str_t value);
bool sx_lq_ipfilter_line(const sx_lq_ipfilter_t *f, sx_str_t line);

#endif
