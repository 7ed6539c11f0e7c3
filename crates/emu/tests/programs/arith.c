/* Integer arithmetic of every width, signed and unsigned, with wraparound and division. */
#include <stdio.h>
#include <stdint.h>
#include <inttypes.h>

static volatile uint64_t seed = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed; }

int main(void) {
    uint64_t acc = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t a = next(), b = next() | 1;
        int64_t sa = (int64_t)a, sb = (int64_t)b;
        uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b | 1;
        int32_t s32 = (int32_t)a32, t32 = (int32_t)b32;
        int16_t s16 = (int16_t)a; int8_t s8 = (int8_t)b;
        acc += a * b + a / b + a % b;
        acc ^= (uint64_t)(sa / (sb == -1 ? 1 : sb)) + (uint64_t)(sa % (sb == -1 ? 1 : sb));
        acc += a32 * b32 + a32 / b32 + a32 % b32;
        acc += (uint64_t)(int64_t)(s32 / (t32 == -1 ? 1 : t32));
        acc += (uint64_t)(s16 * s8) + (a >> (b & 63)) + (a << (b & 63)) + (uint64_t)(sa >> (b & 63));
        acc += (a32 >> (b & 31)) + (uint32_t)(s32 >> (b & 31));
        acc += (uint64_t)__builtin_popcountll(a) + (uint64_t)__builtin_clzll(b) + (uint64_t)__builtin_ctzll(b);
        acc += (a > b) + (sa < sb) + (s32 <= t32) + (a32 >= b32);
        unsigned __int128 p = (unsigned __int128)a * b;
        acc += (uint64_t)(p >> 64);
        __int128 q = (__int128)sa * sb;
        acc ^= (uint64_t)(q >> 64);
        acc = (acc << 7) | (acc >> 57);
    }
    printf("acc=%016" PRIx64 "\n", acc);
    printf("min/max: %d %d %lld %llu\n", -2147483647 - 1, 2147483647, -9223372036854775807LL - 1, 18446744073709551615ULL);
    return (int)(acc & 0x7f);
}
