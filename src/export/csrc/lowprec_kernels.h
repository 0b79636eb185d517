/*
 * lowprec_kernels.h - portable XNOR-popcount kernels for lowprec-rbm models (bit layout v1).
 *
 * Pure integer math, C99, no malloc, no floating point (except lp_pack_f32, the optional input stage for
 * float32 pixels). Every function is `static inline`, so each model translation unit gets its own copy
 * specialised to its word width, and unused functions cost nothing.
 *
 * Configure before including:
 *   LOWPREC_WORD_BITS  32 or 64: the word a kernel takes at once (uint32 on Cortex-M, uint64 on 64-bit cores).
 *   LOWPREC_POPCOUNT   LOWPREC_POPCOUNT_BUILTIN: __builtin_popcount / __builtin_popcountll (an instruction where
 *                      the target has one, else the compiler's helper); LOWPREC_POPCOUNT_SWAR: portable
 *                      shift-and-add bit counting. Default: BUILTIN with GCC/Clang, SWAR otherwise.
 *
 * Bit layout v1: bit 1 means +1, bit 0 means -1, sign(0) = +1. Bits are packed along the reduction axis K,
 * least significant bit first; bit k of a row is bit (k mod W) of word (k / W) for word width W, so 32- and
 * 64-bit words of the same little-endian bytes are the same layout. K is padded to whole words with zero
 * bits in BOTH operands; pad bits then XOR to 0 and
 *     dot(x, w) = K - 2 * popcount(x XOR w)                       (+-1 weights)
 *     dot(x, w) = popcount(m) - 2 * popcount((x XOR s) AND m)     (ternary: sign plane s, nonzero mask m)
 * with the true K and no correction. The packers below always write zero pad bits.
 */
#ifndef LOWPREC_KERNELS_H
#define LOWPREC_KERNELS_H

#include <stddef.h> /* NULL */
#include <stdint.h>

#define LOWPREC_KERNELS_LAYOUT_VERSION 1
#define LOWPREC_POPCOUNT_BUILTIN 1
#define LOWPREC_POPCOUNT_SWAR 2

#ifndef LOWPREC_WORD_BITS
#define LOWPREC_WORD_BITS 32
#endif
#ifndef LOWPREC_POPCOUNT
#if defined(__GNUC__) || defined(__clang__)
#define LOWPREC_POPCOUNT LOWPREC_POPCOUNT_BUILTIN
#else
#define LOWPREC_POPCOUNT LOWPREC_POPCOUNT_SWAR
#endif
#endif

#if LOWPREC_WORD_BITS == 64
typedef uint64_t lp_word_t;
#elif LOWPREC_WORD_BITS == 32
typedef uint32_t lp_word_t;
#else
#error "LOWPREC_WORD_BITS must be 32 or 64"
#endif

#define LP_WB ((int32_t)LOWPREC_WORD_BITS)
/* Words holding k bits (k >= 1). */
#define LP_NWORDS(k) (((int32_t)(k) + LP_WB - 1) / LP_WB)

/* Number of set bits of one word. */
static inline int32_t lp_min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static inline int32_t lp_popcount(lp_word_t v)
{
#if LOWPREC_POPCOUNT == LOWPREC_POPCOUNT_BUILTIN
#if LOWPREC_WORD_BITS == 64
    return (int32_t)__builtin_popcountll((unsigned long long)v);
#else
    return (int32_t)__builtin_popcountl((unsigned long)v);
#endif
#else
    /* SWAR: sum adjacent 1-, 2-, 4-bit fields, then add the bytes with one multiply (the top byte of
     * v * 0x0101... is the sum of all bytes, each <= 8, so no carry leaves a byte). */
#if LOWPREC_WORD_BITS == 64
    v = v - ((v >> 1) & UINT64_C(0x5555555555555555));
    v = (v & UINT64_C(0x3333333333333333)) + ((v >> 2) & UINT64_C(0x3333333333333333));
    v = (v + (v >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
    return (int32_t)((uint64_t)(v * UINT64_C(0x0101010101010101)) >> 56);
#else
    v = v - ((v >> 1) & UINT32_C(0x55555555));
    v = (v & UINT32_C(0x33333333)) + ((v >> 2) & UINT32_C(0x33333333));
    v = (v + (v >> 4)) & UINT32_C(0x0F0F0F0F);
    return (int32_t)((uint32_t)(v * UINT32_C(0x01010101)) >> 24);
#endif
#endif
}

/* ---------------------------------------------------------------- input packing (first layer only) */

/* bit k = (x[k] >= 0): int8 +-1 input, sign(0) = +1. out: LP_NWORDS(k) words, pad bits 0. */
static inline void lp_pack_i8(const int8_t *x, int32_t k, lp_word_t *out)
{
    int32_t w, b, nw = LP_NWORDS(k);
    for (w = 0; w < nw; ++w) {
        const int32_t base = w * LP_WB;
        const int32_t lim = (k - base < LP_WB) ? k - base : LP_WB;
        lp_word_t acc = 0;
        for (b = 0; b < lim; ++b)
            acc |= (lp_word_t)(x[base + b] >= 0) << b;
        out[w] = acc;
    }
}

/* bit k = (x[k] >= thr): uint8 pixels against an integer threshold (x >= t <=> x >= ceil(t) for integer x). */
static inline void lp_pack_u8(const uint8_t *x, int32_t k, int32_t thr, lp_word_t *out)
{
    int32_t w, b, nw = LP_NWORDS(k);
    for (w = 0; w < nw; ++w) {
        const int32_t base = w * LP_WB;
        const int32_t lim = (k - base < LP_WB) ? k - base : LP_WB;
        lp_word_t acc = 0;
        for (b = 0; b < lim; ++b)
            acc |= (lp_word_t)((int32_t)x[base + b] >= thr) << b;
        out[w] = acc;
    }
}

/* bit k = (x[k] >= thr) for float32 input (the only floating point in these kernels: an input comparison). */
static inline void lp_pack_f32(const float *x, int32_t k, float thr, lp_word_t *out)
{
    int32_t w, b, nw = LP_NWORDS(k);
    for (w = 0; w < nw; ++w) {
        const int32_t base = w * LP_WB;
        const int32_t lim = (k - base < LP_WB) ? k - base : LP_WB;
        lp_word_t acc = 0;
        for (b = 0; b < lim; ++b)
            acc |= (lp_word_t)(x[base + b] >= thr) << b;
        out[w] = acc;
    }
}

/* Bit-planes of uint8 pixels: planes[j * nw + w] holds bit j of x[w*W .. w*W+W-1]; pop[j] = popcount of
 * plane j (all words). planes: 8 * LP_NWORDS(k) words. */
static inline void lp_pack_planes(const uint8_t *x, int32_t k, lp_word_t *planes, int32_t *pop)
{
    int32_t j, w, b, nw = LP_NWORDS(k);
    for (j = 0; j < 8; ++j)
        pop[j] = 0;
    for (w = 0; w < nw; ++w) {
        const int32_t base = w * LP_WB;
        const int32_t lim = (k - base < LP_WB) ? k - base : LP_WB;
        for (j = 0; j < 8; ++j) {
            lp_word_t acc = 0;
            for (b = 0; b < lim; ++b)
                acc |= (lp_word_t)((x[base + b] >> j) & 1u) << b;
            planes[j * nw + w] = acc;
            pop[j] += lp_popcount(acc);
        }
    }
}

/* ---------------------------------------------------------------- matrix-vector products */

/* y[n] = k - 2 * popcount(x XOR w[n]) = sum_i x_i w_ni (+-1 x, +-1 w); w: n_out rows of LP_NWORDS(k). */
static inline void lp_xnor_gemv(const lp_word_t *x, const lp_word_t *w, int32_t k, int32_t n_out, int32_t *y)
{
    int32_t n, i, nw = LP_NWORDS(k);
    for (n = 0; n < n_out; ++n) {
        const lp_word_t *row = w + (long)n * nw;
        int32_t mism = 0; /* positions where x and w differ: each contributes -1, the others +1 */
        for (i = 0; i < nw; ++i)
            mism += lp_popcount(x[i] ^ row[i]);
        y[n] = k - 2 * mism;
    }
}

/* Ternary weights: y[n] = nnz[n] - 2 * popcount((x XOR s[n]) AND m[n]), nnz[n] = popcount(m[n]) (a per-row
 * constant the emitter stores): over the nonzero positions, agreements give +1 and disagreements -1. */
static inline void lp_ternary_gemv(const lp_word_t *x, const lp_word_t *s, const lp_word_t *m,
                                   const int32_t *nnz, int32_t k, int32_t n_out, int32_t *y)
{
    int32_t n, i, nw = LP_NWORDS(k);
    for (n = 0; n < n_out; ++n) {
        const lp_word_t *srow = s + (long)n * nw;
        const lp_word_t *mrow = m + (long)n * nw;
        int32_t mism = 0;
        for (i = 0; i < nw; ++i)
            mism += lp_popcount((x[i] ^ srow[i]) & mrow[i]);
        y[n] = nnz[n] - 2 * mism;
    }
}

/* uint8 pixels p (bit-planes P_j, see lp_pack_planes) times +-1 weights w (bit 1 = +1):
 *   y[n] = sum_i p_i w_ni = sum_j 2^j sum_i bit_j(p_i) w_ni = sum_j 2^j (2 popcount(P_j AND w[n]) - popcount(P_j))
 * since over the set bits of P_j, +1 weights add 1 and -1 weights subtract 1. |y| <= 255 k. */
static inline void lp_bitplane_gemv(const lp_word_t *planes, const int32_t *pop, const lp_word_t *w,
                                    int32_t k, int32_t n_out, int32_t *y)
{
    int32_t n, i, j, nw = LP_NWORDS(k);
    for (n = 0; n < n_out; ++n) {
        const lp_word_t *row = w + (long)n * nw;
        int32_t acc = 0;
        for (j = 0; j < 8; ++j) {
            const lp_word_t *pl = planes + j * nw;
            int32_t c = 0;
            for (i = 0; i < nw; ++i)
                c += lp_popcount(pl[i] & row[i]);
            acc += (2 * c - pop[j]) * (int32_t)(1L << j); /* multiply, not <<: the term may be negative */
        }
        y[n] = acc;
    }
}

/* Ternary weights with uint8 pixels: y[n] = sum_j 2^j (2 popcount(P_j AND s[n]) - popcount(P_j AND m[n])).
 * The sign plane has no bits outside the mask (bit layout v1), so P_j AND s AND m = P_j AND s. */
static inline void lp_ternary_bitplane_gemv(const lp_word_t *planes, const lp_word_t *s, const lp_word_t *m,
                                            int32_t k, int32_t n_out, int32_t *y)
{
    int32_t n, i, j, nw = LP_NWORDS(k);
    for (n = 0; n < n_out; ++n) {
        const lp_word_t *srow = s + (long)n * nw;
        const lp_word_t *mrow = m + (long)n * nw;
        int32_t acc = 0;
        for (j = 0; j < 8; ++j) {
            const lp_word_t *pl = planes + j * nw;
            int32_t plus = 0, nz = 0;
            for (i = 0; i < nw; ++i) {
                plus += lp_popcount(pl[i] & srow[i]);
                nz += lp_popcount(pl[i] & mrow[i]);
            }
            acc += (2 * plus - nz) * (int32_t)(1L << j);
        }
        y[n] = acc;
    }
}

/* ---------------------------------------------------------------- activations */

/* bit n = (s[n] * y[n] >= t[n]) for s in {-1, 0, +1}; out: LP_NWORDS(n) words. The product is formed by
 * selection, exactly, in int32: fields satisfy |y| <= 255 K < 2^31 (export.network checks it), so -y never
 * overflows, and no 64-bit multiply (a libgcc call on Cortex-M0) is needed. */
/* Word w of the threshold bits (bits w*WB .. of n): the one place the rule s * y >= t is written. */
static inline lp_word_t lp_threshold_word(const int32_t *y, const int8_t *s, const int32_t *t, int32_t n, int32_t w)
{
    const int32_t base = w * LP_WB;
    const int32_t lim = (n - base < LP_WB) ? n - base : LP_WB;
    int32_t b;
    lp_word_t acc = 0;
    for (b = 0; b < lim; ++b) {
        const int32_t u = base + b;
        const int32_t sy = s[u] > 0 ? y[u] : (s[u] < 0 ? -y[u] : 0);
        acc |= (lp_word_t)(sy >= t[u]) << b;
    }
    return acc;
}

static inline void lp_threshold_pack(const int32_t *y, const int8_t *s, const int32_t *t, int32_t n,
                                     lp_word_t *out)
{
    int32_t w, nw = LP_NWORDS(n);
    for (w = 0; w < nw; ++w)
        out[w] = lp_threshold_word(y, s, t, n, w);
}

/* out |= the threshold bits of y: a 2x2 max-pool of +-1 values is the OR of their bits, so a pooled pixel is
 * built by lp_threshold_pack of its first window pixel and lp_threshold_or of the other three (predict()). */
static inline void lp_threshold_or(const int32_t *y, const int8_t *s, const int32_t *t, int32_t n, lp_word_t *out)
{
    int32_t w, nw = LP_NWORDS(n);
    for (w = 0; w < nw; ++w)
        out[w] |= lp_threshold_word(y, s, t, n, w);
}

/* A hidden dense layer without its field vector (predict()): the fields of LP_WB rows at a time into y[LP_WB],
 * thresholded into one output word, so the scratch is one word's worth of int32s, not n_out. m == 0: +-1
 * weights w; otherwise ternary (w = sign plane, m = mask plane, nnz per row). Same kernels, same values as
 * lp_xnor_gemv / lp_ternary_gemv followed by lp_threshold_pack. */
static inline void lp_gemv_threshold(const lp_word_t *x, const lp_word_t *w, const lp_word_t *m, const int32_t *nnz,
                                     int32_t k, int32_t n_out, const int8_t *s, const int32_t *t, int32_t *y,
                                     lp_word_t *out)
{
    const int32_t nw = LP_NWORDS(k);
    int32_t n0;
    for (n0 = 0; n0 < n_out; n0 += LP_WB) {
        const int32_t rows = lp_min_i32(LP_WB, n_out - n0);
        if (m == 0)
            lp_xnor_gemv(x, w + (long)n0 * nw, k, rows, y);
        else
            lp_ternary_gemv(x, w + (long)n0 * nw, m + (long)n0 * nw, nnz + n0, k, rows, y);
        out[n0 / LP_WB] = lp_threshold_word(y, s + n0, t + n0, rows, 0);
    }
}

/* bit n = (y[n] >= 0): MAP bits, sign(0) = +1. */
static inline void lp_sign_pack(const int32_t *y, int32_t n, lp_word_t *out)
{
    int32_t w, b, nw = LP_NWORDS(n);
    for (w = 0; w < nw; ++w) {
        const int32_t base = w * LP_WB;
        const int32_t lim = (n - base < LP_WB) ? n - base : LP_WB;
        lp_word_t acc = 0;
        for (b = 0; b < lim; ++b)
            acc |= (lp_word_t)(y[base + b] >= 0) << b;
        out[w] = acc;
    }
}

/* scores[c] = scale[c] * y[c] + offset[c] in int64 (stored when scores is not null); returns the first index
 * of the maximum. Exact:
 * export.network.MLPNetwork refuses scales/offsets for which max|scale| * max|y| + max|offset| could exceed
 * 2^53, so neither the product nor the sum can overflow int64. The scale is ~2^f times the real batch-norm
 * factor (export.network.fold_output_batchnorm), which makes the argmax that of the real network except at
 * near-ties below (max|y| + 1) 2^-f. */
static inline int32_t lp_affine_argmax(const int32_t *y, const int64_t *scale, const int64_t *offset,
                                       int32_t n, int64_t *scores)
{
    int32_t c, best = 0;
    int64_t top = 0;
    for (c = 0; c < n; ++c) {
        int64_t s = scale[c] * (int64_t)y[c] + offset[c];
        if (scores)
            scores[c] = s;
        if (c == 0 || s > top) {
            top = s;
            best = c;
        }
    }
    return best;
}

/* out[n] = table[(y[n] + k) >> 1] for fields y in {-k, -k+2, ..., k} (a uint32 table of k + 1 entries). */
static inline void lp_field_table(const int32_t *y, int32_t k, const uint32_t *table, int32_t n, uint32_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        out[i] = table[(y[i] + k) >> 1];
}

/* Per-unit tables (an RBM with fields), compact (export/compact_table.py): unit n's row of k + 1 entries is
 * stored over its span [lo[n], hi[n]] only, at values + off[n]; outside the span the full row repeats the span's
 * end entries (the invariant the exporter checks), so clamping the index into the span reads the full row's
 * entry. Row n's entry j (0 <= j <= k): */
typedef struct {
    const uint32_t *values;
    const int32_t *lo, *hi, *off;
} lp_unit_table;

static inline uint32_t lp_unit_entry(const lp_unit_table *t, int32_t n, int32_t j)
{
    const int32_t c = j < t->lo[n] ? t->lo[n] : (j > t->hi[n] ? t->hi[n] : j);
    return t->values[t->off[n] + (c - t->lo[n])];
}

/* out[n] = row n's entry (y[n] + k) >> 1, for fields y in {-k, -k+2, ..., k}. */
static inline void lp_unit_field_table(const int32_t *y, int32_t k, const lp_unit_table *t, int32_t n, uint32_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        out[i] = lp_unit_entry(t, i, (y[i] + k) >> 1);
}

/* ---------------------------------------------------------------- counter-based PRNG (export/prng.py) */

/* 32-bit xorshift-multiply mixer, a bijection on uint32 (wrapping arithmetic). */
static inline uint32_t lp_mix32(uint32_t x)
{
    x ^= x >> 16;
    x = (uint32_t)(x * UINT32_C(0x7FEB352D));
    x ^= x >> 15;
    x = (uint32_t)(x * UINT32_C(0x846CA68B));
    x ^= x >> 16;
    return x;
}

/* key of (row seed, stream): mix32(seed ^ (0x9E3779B9 * (stream + 1))); unit n draws mix32(mix32(key + n)). */
static inline uint32_t lp_stream_key(uint32_t seed, uint32_t stream)
{
    return lp_mix32(seed ^ (uint32_t)(UINT32_C(0x9E3779B9) * (uint32_t)(stream + 1u)));
}

/* bit n = (mix32(mix32(key + n)) < thr[n]) with key = lp_stream_key(seed, stream): BernoulliSample. */
static inline void lp_bernoulli_pack(const uint32_t *thr, int32_t n, uint32_t seed, uint32_t stream,
                                     lp_word_t *out)
{
    const uint32_t key = lp_stream_key(seed, stream);
    int32_t w, b, nw = LP_NWORDS(n);
    for (w = 0; w < nw; ++w) {
        const int32_t base = w * LP_WB;
        const int32_t lim = (n - base < LP_WB) ? n - base : LP_WB;
        lp_word_t acc = 0;
        for (b = 0; b < lim; ++b) {
            const uint32_t u = lp_mix32(lp_mix32((uint32_t)(key + (uint32_t)(base + b))));
            acc |= (lp_word_t)(u < thr[base + b]) << b;
        }
        out[w] = acc;
    }
}

/* Gibbs half-step, fused: for each output unit n,
 *   field f = k - 2 m with m = popcount(x XOR w[n]);  table index (f + k) >> 1 = k - m;
 *   bit n = (mix32(mix32(key + n)) < T_n[k - m])     (P(+1) = T_n / 2^32),
 * T_n = table (units NULL: one table of k + 1 entries shared by every unit) or unit n's compact row
 * (table NULL: an RBM side with fields, lp_unit_entry).
 * out: LP_NWORDS(n_out) words, pad bits 0. No field buffer is needed. */
static inline void lp_xnor_sample(const lp_word_t *x, const lp_word_t *w, int32_t k, int32_t n_out,
                                  const uint32_t *table, const lp_unit_table *units, uint32_t seed, uint32_t stream,
                                  lp_word_t *out)
{
    const uint32_t key = lp_stream_key(seed, stream);
    int32_t ow, b, i, nw = LP_NWORDS(k), now = LP_NWORDS(n_out);
    for (ow = 0; ow < now; ++ow) {
        const int32_t base = ow * LP_WB;
        const int32_t lim = (n_out - base < LP_WB) ? n_out - base : LP_WB;
        lp_word_t acc = 0;
        for (b = 0; b < lim; ++b) {
            const int32_t n = base + b;
            const lp_word_t *row = w + (long)n * nw;
            const uint32_t u = lp_mix32(lp_mix32((uint32_t)(key + (uint32_t)n)));
            int32_t mism = 0;
            for (i = 0; i < nw; ++i)
                mism += lp_popcount(x[i] ^ row[i]);
            /* the field is k - 2 mism, its table index (field + k) / 2 = k - mism */
            acc |= (lp_word_t)(u < (units ? lp_unit_entry(units, n, k - mism) : table[k - mism])) << b;
        }
        out[ow] = acc;
    }
}

/* ---------------------------------------------------------------- convolutions (NHWC, per-pixel words) */
/* Activations of a conv layer: pixel (i, j) of an h x w image holds its c channel bits in LP_NWORDS(c)
 * words at x + (i * w + j) * LP_NWORDS(c), pad bits 0. Conv weights: for output channel o and kernel offset
 * (di, dj), LP_NWORDS(c) words at wt + ((o * k + di) * k + dj) * LP_NWORDS(c). Output pixel (i, j) reads input
 * pixel (i + di - k/2, j + dj - k/2); outside the image it reads the layer's pad value: +1 = the c low bits set,
 * -1 = zero words (lp_pad_word). Every kernel below computes the fields of ONE output pixel, so a caller needs
 * no patch buffer: y[o] for o < n_out. */

/* Word j of a pixel whose c channel bits all equal `one`: the low min(c - j*WB, WB) bits set, or 0. */
static inline lp_word_t lp_pad_word(int32_t c, int32_t j, int32_t one)
{
    const int32_t left = c - j * LP_WB;
    if (!one)
        return 0;
    return left >= LP_WB ? (lp_word_t)~(lp_word_t)0 : (lp_word_t)(((lp_word_t)1 << left) - 1);
}

/* Row buffers (predict() streams rows): a conv layer's input may be held as the window of `rows` consecutive
 * image rows starting at row `row0`: image row ii at x + (ii - row0) * w * LP_NWORDS(c). row0 = 0 with all h
 * rows is the whole image. The caller guarantees that the window's rows inside the image (i - k/2 .. i + k/2,
 * clipped to 0 .. h-1) are held; rows outside the image read the pad value and are never addressed. */

/* y[o] = K - 2 * sum over the window of popcount(pixel XOR w[o, di, dj]), K = k*k*c (+-1 activations). */
static inline void lp_xnor_conv_pixel_rows(const lp_word_t *x, int32_t row0, int32_t h, int32_t w, int32_t c,
                                           int32_t i, int32_t j, const lp_word_t *wt, int32_t k, int32_t n_out,
                                           int32_t pad_one, int32_t *y)
{
    const int32_t nw = LP_NWORDS(c), r = k / 2;
    int32_t o, di, dj, q;
    for (o = 0; o < n_out; ++o) {
        int32_t mism = 0;
        for (di = 0; di < k; ++di) {
            const int32_t ii = i + di - r;
            for (dj = 0; dj < k; ++dj) {
                const int32_t jj = j + dj - r;
                const lp_word_t *wr = wt + (((long)o * k + di) * k + dj) * nw;
                if (ii >= 0 && ii < h && jj >= 0 && jj < w) {
                    const lp_word_t *px = x + ((long)(ii - row0) * w + jj) * nw;
                    for (q = 0; q < nw; ++q)
                        mism += lp_popcount(px[q] ^ wr[q]);
                } else {
                    for (q = 0; q < nw; ++q)
                        mism += lp_popcount(lp_pad_word(c, q, pad_one) ^ wr[q]);
                }
            }
        }
        y[o] = k * k * c - 2 * mism;
    }
}

/* The whole image (forward()). */
static inline void lp_xnor_conv_pixel(const lp_word_t *x, int32_t h, int32_t w, int32_t c, int32_t i, int32_t j,
                                      const lp_word_t *wt, int32_t k, int32_t n_out, int32_t pad_one, int32_t *y)
{
    lp_xnor_conv_pixel_rows(x, 0, h, w, c, i, j, wt, k, n_out, pad_one, y);
}

/* Ternary: y[o] = sum popcount(m) - 2 sum popcount((pixel XOR s) AND m) over the window. */
static inline void lp_ternary_conv_pixel_rows(const lp_word_t *x, int32_t row0, int32_t h, int32_t w, int32_t c,
                                              int32_t i, int32_t j, const lp_word_t *s, const lp_word_t *m,
                                              int32_t k, int32_t n_out, int32_t pad_one, int32_t *y)
{
    const int32_t nw = LP_NWORDS(c), r = k / 2;
    int32_t o, di, dj, q;
    for (o = 0; o < n_out; ++o) {
        int32_t mism = 0, nnz = 0;
        for (di = 0; di < k; ++di) {
            const int32_t ii = i + di - r;
            for (dj = 0; dj < k; ++dj) {
                const int32_t jj = j + dj - r;
                const long off = (((long)o * k + di) * k + dj) * nw;
                const int32_t inside = ii >= 0 && ii < h && jj >= 0 && jj < w;
                const lp_word_t *px = x + ((long)(inside ? ii - row0 : 0) * w + (inside ? jj : 0)) * nw;
                for (q = 0; q < nw; ++q) {
                    const lp_word_t v = inside ? px[q] : lp_pad_word(c, q, pad_one);
                    nnz += lp_popcount(m[off + q]);
                    mism += lp_popcount((v ^ s[off + q]) & m[off + q]);
                }
            }
        }
        y[o] = nnz - 2 * mism;
    }
}

static inline void lp_ternary_conv_pixel(const lp_word_t *x, int32_t h, int32_t w, int32_t c, int32_t i, int32_t j,
                                         const lp_word_t *s, const lp_word_t *m, int32_t k, int32_t n_out,
                                         int32_t pad_one, int32_t *y)
{
    lp_ternary_conv_pixel_rows(x, 0, h, w, c, i, j, s, m, k, n_out, pad_one, y);
}

/* Make room for the next row in a full buffer of `rows` rows of `row_words` words: rows 1 .. rows-1 move to
 * 0 .. rows-2 (the oldest row is dropped; the caller then writes the new row at rows-1). */
static inline void lp_shift_rows(lp_word_t *buf, int32_t rows, int32_t row_words)
{
    long q;
    const long n = (long)(rows - 1) * row_words;
    for (q = 0; q < n; ++q)
        buf[q] = buf[q + row_words];
}

/* First conv on exact uint8 pixels x[(i * w + j) * c + ch]: y[o] = sum over the window and channels of
 * pixel * weight, positions outside the image reading the pixel value `pad`. Weight bits select the sign
 * (ternary: the mask bit selects 0); integer adds only, |y| <= 255 k k c. The same integers as the bit-plane
 * form sum_j 2^j (2 popcount(P_j AND w) - popcount(P_j)), with no plane buffers. m == 0: binary weights. */
static inline void lp_pixel_conv_pixel(const uint8_t *x, int32_t h, int32_t w, int32_t c, int32_t i, int32_t j,
                                       const lp_word_t *s, const lp_word_t *m, int32_t k, int32_t n_out,
                                       int32_t pad, int32_t *y)
{
    const int32_t nw = LP_NWORDS(c), r = k / 2;
    int32_t o, di, dj, ch;
    for (o = 0; o < n_out; ++o) {
        int32_t acc = 0;
        for (di = 0; di < k; ++di) {
            const int32_t ii = i + di - r;
            for (dj = 0; dj < k; ++dj) {
                const int32_t jj = j + dj - r;
                const long off = (((long)o * k + di) * k + dj) * nw;
                const int32_t inside = ii >= 0 && ii < h && jj >= 0 && jj < w;
                for (ch = 0; ch < c; ++ch) {
                    const int32_t p = inside ? (int32_t)x[((long)ii * w + jj) * c + ch] : pad;
                    const lp_word_t bit = (lp_word_t)1 << (ch % LP_WB);
                    if (m != 0 && !(m[off + ch / LP_WB] & bit))
                        continue;
                    acc += (s[off + ch / LP_WB] & bit) ? p : -p;
                }
            }
        }
        y[o] = acc;
    }
}

/* 2x2 max-pool of +-1 pixels = OR of the words of each 2x2 block (bit 1 = +1); h, w even. */
static inline void lp_or_pool2(const lp_word_t *x, int32_t h, int32_t w, int32_t nw, lp_word_t *out)
{
    int32_t i, j, q;
    for (i = 0; i < h / 2; ++i)
        for (j = 0; j < w / 2; ++j) {
            const lp_word_t *a = x + ((long)(2 * i) * w + 2 * j) * nw;
            const lp_word_t *b = a + (long)w * nw;
            lp_word_t *d = out + ((long)i * (w / 2) + j) * nw;
            for (q = 0; q < nw; ++q)
                d[q] = a[q] | a[nw + q] | b[q] | b[nw + q];
        }
}

/* 2x2 max-pool of int32 fields (conv -> max-pool -> BN -> sign: the threshold then reads the pooled field);
 * y: h x w pixels of n fields, h, w even; out: (h/2) x (w/2) pixels of n fields. */
static inline void lp_max_pool2_fields(const int32_t *y, int32_t h, int32_t w, int32_t n, int32_t *out)
{
    int32_t i, j, q;
    for (i = 0; i < h / 2; ++i)
        for (j = 0; j < w / 2; ++j) {
            const int32_t *a = y + ((long)(2 * i) * w + 2 * j) * n;
            const int32_t *b = a + (long)w * n;
            int32_t *d = out + ((long)i * (w / 2) + j) * n;
            for (q = 0; q < n; ++q) {
                const int32_t top = a[q] > a[n + q] ? a[q] : a[n + q];
                const int32_t bottom = b[q] > b[n + q] ? b[q] : b[n + q];
                d[q] = top > bottom ? top : bottom;
            }
        }
}

/* acc[q] = max(acc[q], y[q]) for q < n: one window pixel's fields into the running max (predict()). */
static inline void lp_max_fields(const int32_t *y, int32_t n, int32_t *acc)
{
    int32_t q;
    for (q = 0; q < n; ++q)
        if (y[q] > acc[q])
            acc[q] = y[q];
}

/* Per-pixel words (n_pix pixels of c bits) -> one contiguous row of n_pix * c bits (bit layout v1):
 * row bit p * c + ch = bit ch of pixel p. out: LP_NWORDS(n_pix * c) words, pad bits 0. */
static inline void lp_flatten_bits(const lp_word_t *x, int32_t n_pix, int32_t c, lp_word_t *out)
{
    const int32_t nw = LP_NWORDS(c), total = LP_NWORDS(n_pix * c);
    int32_t p, ch, q;
    for (q = 0; q < total; ++q)
        out[q] = 0;
    for (p = 0; p < n_pix; ++p)
        for (ch = 0; ch < c; ++ch) {
            const lp_word_t bit = (x[(long)p * nw + ch / LP_WB] >> (ch % LP_WB)) & 1u;
            const long u = (long)p * c + ch;
            out[u / LP_WB] |= bit << (u % LP_WB);
        }
}

#endif /* LOWPREC_KERNELS_H */
