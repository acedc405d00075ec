/* SPDX-License-Identifier: Apache-2.0 */
/* Hashing (xxHash3) and CRC32C for on-disk checksums. */
#ifndef SX_CORE_HASH_H
#define SX_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t sx_hash64(const void *p, size_t n);
uint64_t sx_hash64_seed(const void *p, size_t n, uint64_t seed);
/* CRC-32C (Castagnoli); crc is the previous value, 0 to start. */
uint32_t sx_crc32c(uint32_t crc, const void *p, size_t n);

#endif
