/*
 * lp_blocks.c - the popcount block kernels of every code path (see lp_blocks.h for what a block computes).
 *
 * portable  SWAR popcount from export/csrc/lowprec_kernels.h (the device kernels' own bit counting)
 * popcnt    the hardware popcount instruction
 * avx2      vpshufb nibble lookup: a byte's count is LUT[low nibble] + LUT[high nibble] (each <= 4); byte
 *           counts of a 256-bit vector are <= 8 per step, so 31 steps fit in a byte (31 * 8 = 248 < 256)
 *           before vpsadbw adds each 8-byte group into a 64-bit lane
 * avx512    vpopcntq (AVX-512 VPOPCNTDQ): 8 word counts per instruction, added in 64-bit lanes; the K tail
 *           (nw mod 8 words) is read with a masked load that yields zero words, whose popcount is 0
 */
#include "lp_blocks.h"

#define LOWPREC_WORD_BITS 64
#define LOWPREC_POPCOUNT LOWPREC_POPCOUNT_SWAR
#include "lowprec_kernels.h"

#define LP_CAT_(a, b) a##b
#define LP_CAT(a, b) LP_CAT_(a, b)

/* ------------------------------------------------------------------------------------------ portable */
#define LP_BLK(name) LP_CAT(portable_, name)
#define LP_ATTR
#define LP_POP(v) ((uint64_t)lp_popcount(v))
#define LP_TABLE lp_blocks_portable
#include "lp_block_scalar.inc"
#undef LP_BLK
#undef LP_ATTR
#undef LP_POP
#undef LP_TABLE

/* ------------------------------------------------------------------------------------------ popcnt */
#define LP_BLK(name) LP_CAT(popcnt_, name)
#if defined(LP_HAVE_X86_PATHS)
#define LP_ATTR LP_TARGET("popcnt")
#else
#define LP_ATTR
#endif
#define LP_POP(v) ((uint64_t)__builtin_popcountll(v))
#define LP_TABLE lp_blocks_popcnt
#include "lp_block_scalar.inc"
#undef LP_BLK
#undef LP_ATTR
#undef LP_POP
#undef LP_TABLE

#if defined(LP_HAVE_X86_PATHS)
#include <immintrin.h>

/* ------------------------------------------------------------------------------------------ avx2 */
#define LP_AVX2 LP_TARGET("avx2,popcnt")

LP_INLINE LP_AVX2 __m256i avx2_comb(int op, __m256i x, __m256i w, __m256i m)
{
    return op == LP_OP_XOR ? _mm256_xor_si256(x, w)
         : op == LP_OP_XORAND ? _mm256_and_si256(_mm256_xor_si256(x, w), m)
         : _mm256_and_si256(x, w);
}

/* Per-byte popcount of a 256-bit vector (nibble lookup). */
LP_INLINE LP_AVX2 __m256i avx2_bytecount(__m256i v, __m256i lut, __m256i low)
{
    const __m256i lo = _mm256_and_si256(v, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

LP_INLINE LP_AVX2 uint64_t avx2_hsum64(__m256i v)
{
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

LP_INLINE LP_AVX2 uint64_t avx2_comb64(int op, uint64_t x, uint64_t w, uint64_t m)
{
    return op == LP_OP_XOR ? (x ^ w) : op == LP_OP_XORAND ? ((x ^ w) & m) : (x & w);
}

#define LP_LOADU(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))

/* R rows (1 or 4) x 2 weight rows; R is a constant in every caller. */
LP_INLINE LP_AVX2 void avx2_block(int op, int R, const uint64_t *x, ptrdiff_t ldx, const uint64_t *w0,
                                   const uint64_t *w1, const uint64_t *m0, const uint64_t *m1, int32_t nw,
                                   int32_t *cnt, ptrdiff_t ldc)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i zero = _mm256_setzero_si256();
    const int32_t nv = nw / 4; /* whole 256-bit vectors; the nw mod 4 tail words go through popcnt */
    __m256i acc[4][2];
    uint64_t tot[4][2];
    int32_t v = 0, i, r, j;
    for (r = 0; r < R; ++r)
        for (j = 0; j < 2; ++j)
            acc[r][j] = zero;
    while (v < nv) {
        const int32_t stop = (nv - v > 31) ? v + 31 : nv; /* <= 31 steps: byte counts <= 248 */
        __m256i bytes[4][2];
        for (r = 0; r < R; ++r)
            for (j = 0; j < 2; ++j)
                bytes[r][j] = zero;
        for (; v < stop; ++v) {
            const __m256i u0 = LP_LOADU(w0 + 4 * v), u1 = LP_LOADU(w1 + 4 * v);
            const __m256i n0 = op == LP_OP_XORAND ? LP_LOADU(m0 + 4 * v) : zero;
            const __m256i n1 = op == LP_OP_XORAND ? LP_LOADU(m1 + 4 * v) : zero;
            for (r = 0; r < R; ++r) {
                const __m256i xv = LP_LOADU(x + r * ldx + 4 * v);
                bytes[r][0] = _mm256_add_epi8(bytes[r][0], avx2_bytecount(avx2_comb(op, xv, u0, n0), lut, low));
                bytes[r][1] = _mm256_add_epi8(bytes[r][1], avx2_bytecount(avx2_comb(op, xv, u1, n1), lut, low));
            }
        }
        for (r = 0; r < R; ++r)
            for (j = 0; j < 2; ++j)
                acc[r][j] = _mm256_add_epi64(acc[r][j], _mm256_sad_epu8(bytes[r][j], zero));
    }
    for (r = 0; r < R; ++r)
        for (j = 0; j < 2; ++j)
            tot[r][j] = avx2_hsum64(acc[r][j]);
    for (i = 4 * nv; i < nw; ++i) {
        const uint64_t n0 = op == LP_OP_XORAND ? m0[i] : 0, n1 = op == LP_OP_XORAND ? m1[i] : 0;
        for (r = 0; r < R; ++r) {
            tot[r][0] += (uint64_t)__builtin_popcountll(avx2_comb64(op, x[r * ldx + i], w0[i], n0));
            tot[r][1] += (uint64_t)__builtin_popcountll(avx2_comb64(op, x[r * ldx + i], w1[i], n1));
        }
    }
    for (r = 0; r < R; ++r) {
        cnt[r * ldc] = (int32_t)tot[r][0];
        cnt[r * ldc + 1] = (int32_t)tot[r][1];
    }
}

/* ------------------------------------------------------------------------------------------ avx512 */
#define LP_AVX512 LP_TARGET("avx512f,avx512vpopcntdq,popcnt")

LP_INLINE LP_AVX512 __m512i avx512_comb(int op, __m512i x, __m512i w, __m512i m)
{
    return op == LP_OP_XOR ? _mm512_xor_si512(x, w)
         : op == LP_OP_XORAND ? _mm512_and_si512(_mm512_xor_si512(x, w), m)
         : _mm512_and_si512(x, w);
}

LP_INLINE LP_AVX512 void avx512_block(int op, int R, const uint64_t *x, ptrdiff_t ldx, const uint64_t *w0,
                                       const uint64_t *w1, const uint64_t *m0, const uint64_t *m1, int32_t nw,
                                       int32_t *cnt, ptrdiff_t ldc)
{
    const __m512i zero = _mm512_setzero_si512();
    __m512i acc[4][2];
    int32_t i, r, j;
    for (r = 0; r < R; ++r)
        for (j = 0; j < 2; ++j)
            acc[r][j] = zero;
    for (i = 0; i < nw; i += 8) {
        /* lanes past nw load as 0 and are not read from memory (masked load: no fault past the row end) */
        const __mmask8 k = (nw - i >= 8) ? (__mmask8)0xff : (__mmask8)((1u << (nw - i)) - 1u);
        const __m512i u0 = _mm512_maskz_loadu_epi64(k, w0 + i), u1 = _mm512_maskz_loadu_epi64(k, w1 + i);
        const __m512i n0 = op == LP_OP_XORAND ? _mm512_maskz_loadu_epi64(k, m0 + i) : zero;
        const __m512i n1 = op == LP_OP_XORAND ? _mm512_maskz_loadu_epi64(k, m1 + i) : zero;
        for (r = 0; r < R; ++r) {
            const __m512i xv = _mm512_maskz_loadu_epi64(k, x + r * ldx + i);
            acc[r][0] = _mm512_add_epi64(acc[r][0], _mm512_popcnt_epi64(avx512_comb(op, xv, u0, n0)));
            acc[r][1] = _mm512_add_epi64(acc[r][1], _mm512_popcnt_epi64(avx512_comb(op, xv, u1, n1)));
        }
    }
    for (r = 0; r < R; ++r) {
        cnt[r * ldc] = (int32_t)_mm512_reduce_add_epi64(acc[r][0]);
        cnt[r * ldc + 1] = (int32_t)_mm512_reduce_add_epi64(acc[r][1]);
    }
}

#define LP_VEC_WRAP(path, ATTR, opname, OP)                                                                \
    static ATTR void path##_##opname##_r4(const uint64_t *x, ptrdiff_t ldx, const uint64_t *w0,            \
                                          const uint64_t *w1, const uint64_t *m0, const uint64_t *m1,      \
                                          int32_t nw, int32_t *cnt, ptrdiff_t ldc)                         \
    {                                                                                                      \
        path##_block(OP, 4, x, ldx, w0, w1, m0, m1, nw, cnt, ldc);                                         \
    }                                                                                                      \
    static ATTR void path##_##opname##_r1(const uint64_t *x, ptrdiff_t ldx, const uint64_t *w0,            \
                                          const uint64_t *w1, const uint64_t *m0, const uint64_t *m1,      \
                                          int32_t nw, int32_t *cnt, ptrdiff_t ldc)                         \
    {                                                                                                      \
        path##_block(OP, 1, x, ldx, w0, w1, m0, m1, nw, cnt, ldc);                                         \
    }

LP_VEC_WRAP(avx2, LP_AVX2, xor, LP_OP_XOR)
LP_VEC_WRAP(avx2, LP_AVX2, xorand, LP_OP_XORAND)
LP_VEC_WRAP(avx2, LP_AVX2, and, LP_OP_AND)
LP_VEC_WRAP(avx512, LP_AVX512, xor, LP_OP_XOR)
LP_VEC_WRAP(avx512, LP_AVX512, xorand, LP_OP_XORAND)
LP_VEC_WRAP(avx512, LP_AVX512, and, LP_OP_AND)

const lp_block_table lp_blocks_avx2 = {
    {avx2_xor_r4, avx2_xorand_r4, avx2_and_r4},
    {avx2_xor_r1, avx2_xorand_r1, avx2_and_r1},
};
const lp_block_table lp_blocks_avx512 = {
    {avx512_xor_r4, avx512_xorand_r4, avx512_and_r4},
    {avx512_xor_r1, avx512_xorand_r1, avx512_and_r1},
};
#endif /* LP_HAVE_X86_PATHS */
