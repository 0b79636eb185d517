/*
 * lp_blocks.h - register-blocked popcount micro-kernels, one table per code path (internal to the native target).
 *
 * A block kernel reduces R activation rows x 2 weight rows over nw words:
 *
 *   cnt[r * ldc + j] = sum_{i < nw} popcount(op(x[r * ldx + i], w_j[i], m_j[i]))     r < R, j < 2
 *
 *   op XOR     x ^ w           binary layers (dot = K - 2 cnt)
 *   op XORAND  (x ^ s) & m     ternary layers (dot = nnz - 2 cnt)
 *   op AND     p & w           bit-plane layers (one plane row p against a weight or sign/mask plane)
 *
 * Each loaded weight word is used for R rows and each activation word for 2 weight rows while it sits in a
 * register: for R = 4 that is 6 loads per 8 popcounts instead of 16 loads for 8 separate dot products, and a
 * weight row is streamed once per 4 batch rows instead of once per row. R = 1 serves the leftover rows (and
 * batch 1). Passing w1 == w0 (m1 == m0) computes one weight row (the caller ignores column 1).
 * Counts stay below 2^31: K < 2^31 bits per row (int32 K).
 */
#ifndef LP_BLOCKS_H
#define LP_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "lp_config.h"

enum { LP_OP_XOR = 0, LP_OP_XORAND = 1, LP_OP_AND = 2, LP_OP_COUNT = 3 };

typedef void (*lp_block_fn)(const uint64_t *x, ptrdiff_t ldx, const uint64_t *w0, const uint64_t *w1,
                            const uint64_t *m0, const uint64_t *m1, int32_t nw, int32_t *cnt, ptrdiff_t ldc);

typedef struct {
    lp_block_fn r4[LP_OP_COUNT]; /* R = 4 rows x 2 weight rows */
    lp_block_fn r1[LP_OP_COUNT]; /* R = 1 row x 2 weight rows */
} lp_block_table;

extern const lp_block_table lp_blocks_portable;
extern const lp_block_table lp_blocks_popcnt;
#if defined(LP_HAVE_X86_PATHS)
extern const lp_block_table lp_blocks_avx2;
extern const lp_block_table lp_blocks_avx512;
#endif

#endif /* LP_BLOCKS_H */
