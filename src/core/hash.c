/* SPDX-License-Identifier: Apache-2.0 */
/* xxHash wrappers and CRC32C: the SSE4.2 crc32 instruction where the CPU
 * has it (chosen once at run time), else a table (slicing by 8). */
#include "hash.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <xxhash.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define SX_CRC_HW 1
#endif

uint64_t sx_hash64(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

uint64_t sx_hash64_seed(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}

static uint32_t table[8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#ifdef SX_CRC_HW
static bool have_hw;

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p,
                                                            size_t n)
{
    uint64_t c = (uint32_t)~crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

static void init_table(void)
{
#ifdef SX_CRC_HW
    __builtin_cpu_init();
    have_hw = __builtin_cpu_supports("sse4.2");
#endif
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
}

uint32_t sx_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&once, init_table);
    const unsigned char *p = data;
#ifdef SX_CRC_HW
    if (have_hw)
        return crc32c_hw(crc, p, n);
#endif
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
              table[4][lo >> 24] ^ table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}
