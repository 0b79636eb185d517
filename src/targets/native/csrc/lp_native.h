/*
 * lp_native.h - the host kernels of the `native` target: blocked XNOR-popcount GEMM on packed bits.
 *
 * Pure integer math, C99 + pthreads, no Python. The CPython binding (lp_module.c) and the standalone checks
 * call only what is declared here.
 *
 * Bit layout v1 (export/layout.py): bit 1 means +1, bit 0 means -1, sign(0) = +1; bits packed along the
 * reduction axis K, least-significant bit first, in little-endian uint64 words; K padded to whole words with
 * zero bits in BOTH operands. Then, for one row x and one weight row w (nw = ceil(K/64) words):
 *
 *   binary     dot(x, w) = K - 2 popcount(x XOR w)                    (pad bits XOR to 0)
 *   ternary    dot(x, w) = nnz(m) - 2 popcount((x XOR s) AND m)       (sign plane s, nonzero mask m)
 *   bit-plane  x_k = sum_j 2^j p_jk (8 planes P_j of uint8 pixels):
 *              dot = sum_j 2^j (2 popcount(P_j AND w) - popcount(P_j))           (binary w)
 *              dot = sum_j 2^j (2 popcount(P_j AND s) - popcount(P_j AND m))     (ternary; s has no bit outside m)
 *
 * A layer is one GEMM: rows (packed activations, or 8 plane rows per image) times weight rows (packed along
 * the same K), every product reduced by popcount. Any operator that is a GEMM over packed operands uses the
 * same entry point: a binary convolution is this GEMM with its rows = packed im2col patches (one row per
 * output pixel, K = kh * kw * C_in bits) and its weight rows = packed filters; nothing else changes.
 *
 * The epilogue turns each count into the integer field y and, without leaving the kernel, into packed output
 * bits (a threshold, or a Gibbs draw with the project's counter-based PRNG), so hidden activations never leave
 * the packed form; y is written only when asked for.
 */
#ifndef LP_NATIVE_H
#define LP_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#define LP_NATIVE_ABI 1

/* Code paths: how a 64-bit word's popcount is taken. LP_PATH_AUTO = the best one this CPU supports. */
enum {
    LP_PATH_AUTO = 0,
    LP_PATH_PORTABLE = 1, /* shift-and-add (SWAR) popcount, plain C: any CPU, any compiler */
    LP_PATH_POPCNT = 2,   /* hardware popcount instruction (__builtin_popcountll with the popcnt target) */
    LP_PATH_AVX2 = 3,     /* 256-bit vpshufb nibble-lookup popcount, byte counts flushed with vpsadbw */
    LP_PATH_AVX512 = 4,   /* AVX-512 VPOPCNTDQ: vpopcntq on 512-bit vectors, masked loads for the K tail */
    LP_PATH_COUNT = 5
};

/* Layer kinds (the exporter's four gemm ops). */
enum { LP_XNOR = 0, LP_TERNARY = 1, LP_BITPLANE = 2, LP_TERNARY_BITPLANE = 3 };

/* What the epilogue writes besides the optional int32 fields y. */
enum {
    LP_ACT_NONE = 0,      /* fields only */
    LP_ACT_THRESHOLD = 1, /* bit n = (s[n] * y >= t[n]), s in {-1, 0, +1} */
    LP_ACT_SAMPLE = 2     /* thr = table[n stride + (y + K) >> 1]; bit n = (u(seed_b, stream, n) < thr) */
};

/* Input kinds of the first layer. */
enum { LP_IN_PM1 = 0, LP_IN_U8 = 1, LP_IN_F32 = 2, LP_IN_PLANES = 3 };

/* Error codes (0 = success). */
enum { LP_OK = 0, LP_ERR_PATH = 1, LP_ERR_NOMEM = 2, LP_ERR_THREAD = 3, LP_ERR_ARG = 4 };

typedef struct {
    int32_t kind;          /* LP_XNOR ... LP_TERNARY_BITPLANE */
    int32_t k;             /* fan-in K (true number of bits) */
    int32_t n;             /* output channels N */
    const uint64_t *w;     /* N rows of nw = ceil(K/64) words: the weights (binary) or sign plane (ternary) */
    const uint64_t *m;     /* ternary: N rows of nonzero-mask words; else NULL */
    const int32_t *nnz;    /* LP_TERNARY: popcount of each mask row (N); else NULL */
} lp_layer;

typedef struct {
    int32_t b;             /* batch rows (images) */
    const uint64_t *x;     /* B rows of nw words; bit-plane kinds: B x 8 plane rows (image-major) */
    const int32_t *pops;   /* bit-plane binary: B x 8 plane popcounts; else NULL */
} lp_rows;

typedef struct {
    int32_t *y;            /* B x N int32 fields, or NULL */
    int32_t act;           /* LP_ACT_* */
    uint64_t *bits;        /* B x ceil(N/64) packed output bits (needed unless act == LP_ACT_NONE) */
    const int8_t *s;       /* threshold: signs (N) */
    const int32_t *t;      /* threshold: thresholds (N) */
    const uint32_t *table; /* sample: K + 1 uint32 acceptance thresholds, index (y + K) >> 1 ... */
    int64_t table_stride;  /* ... plus n * table_stride: 0 (one shared table) or K + 1 (a row per unit) */
    uint32_t *thr;         /* sample: B x N looked-up thresholds, or NULL */
    const uint32_t *seeds; /* sample: B row seeds */
    uint32_t stream;       /* sample: stream number (2t hidden, 2t + 1 visible draw of Gibbs step t) */
} lp_output;

typedef struct {
    int32_t path;          /* LP_PATH_* (LP_PATH_AUTO: best supported) */
    int32_t threads;       /* worker threads, >= 1 */
    int64_t min_work;      /* popcount words per extra thread below which fewer threads are started */
} lp_exec;

/* Bit mask of supported paths (bit p set = LP_PATH p runs here), from CPUID at run time. */
uint32_t lpn_supported_paths(void);
/* LP_PATH_AUTO -> the fastest supported path; a supported path -> itself; unsupported -> -1. */
int32_t lpn_resolve_path(int32_t path);
const char *lpn_path_name(int32_t path);

/* One layer: counts, fields, activation. Returns LP_OK or an error code. */
int lpn_layer_run(const lp_layer *layer, const lp_rows *rows, const lp_output *out, const lp_exec *ex);

/* Input packing: B rows of K values -> B x ceil(K/64) words (pad bits 0).
 *   pm1 (int8): bit = x >= 0;  u8: bit = x >= thr_u8 (the integer ceiling of the float threshold, clipped to
 *   [0, 256]); f32: bit = x >= thr (NaN packs to 0, as the float comparison of every runtime). */
void lpn_pack_rows_i8(const int8_t *x, int64_t b, int32_t k, uint64_t *out);
void lpn_pack_rows_u8(const uint8_t *x, int64_t b, int32_t k, int32_t thr_u8, uint64_t *out);
void lpn_pack_rows_f32(const float *x, int64_t b, int32_t k, float thr, uint64_t *out);
/* uint8 pixels -> 8 bit-planes per image (B x 8 x nw words, plane j = bit j) and their popcounts (B x 8). */
void lpn_pack_planes(const uint8_t *x, int64_t b, int32_t k, uint64_t *planes, int32_t *pops);

/* Conv patch rows (im2col on packed bits): B*H*W rows of ceil(k*k*C/64) words, row bit (di*k + dj)*C + c =
 * bit c of the neighbour (i + di - k/2, j + dj - k/2) of pixel (i, j), outside the image = pad_bit; xp holds
 * B*H*W pixels of ceil(C/64) words. */
void lpn_conv_rows(const uint64_t *xp, int32_t b, int32_t h, int32_t w, int32_t c, int32_t k, int32_t pad_bit,
                   uint64_t *rows);

/* conv -> max-pool -> BN -> sign: B images of H x W pixels of N int32 fields (H, W even) -> the 2x2 max of each
 * block m (B x H/2 x W/2 x N int32) and its thresholded bits (s * m >= t; B x H/2 x W/2 pixels of ceil(N/64)
 * words), with the device kernels' lp_max_pool2_fields and lp_threshold_pack. */
void lpn_pool_fields_threshold(const int32_t *y, int32_t b, int32_t h, int32_t w, int32_t n, const int8_t *s,
                               const int32_t *t, int32_t *m, uint64_t *bits);

/* scores = scale * y + offset in int64 (wrapping like ONNX int64 Mul/Add); label = first index of the max. */
void lpn_affine_argmax(const int32_t *y, int64_t b, int32_t c, const int64_t *scale, const int64_t *offset,
                      int64_t *scores, int64_t *label);
/* out[i] = table[(y[i] + k) >> 1] for 4-byte table entries (uint32 thresholds or float32 probabilities). */
void lpn_field_lookup(const int32_t *y, int64_t count, int32_t k, const uint32_t *table, uint32_t *out);
/* Per-unit tables: out[i] = table[(i % units) (k + 1) + ((y[i] + k) >> 1)] (rows of `units` fields). */
void lpn_unit_field_lookup(const int32_t *y, int64_t count, int32_t k, int64_t units, const uint32_t *table,
                           uint32_t *out);

/* Scalar popcount bound micro-benchmark: sum over reps of sum_i popcount(a[i] ^ b[i]), i < nw (nw a multiple
 * of 4; keep 2 nw words in L1). 0 when the CPU has no popcount instruction path. */
uint64_t lpn_popcount_probe(const uint64_t *a, const uint64_t *b, int32_t nw, int64_t reps);

/* A whole MLP: input -> [gemm -> threshold]* -> gemm -> affine -> argmax. */
typedef struct {
    int32_t in_kind;         /* LP_IN_*; LP_IN_PLANES makes layer 0 a bit-plane layer */
    float thr_f32;           /* LP_IN_F32 threshold */
    int32_t thr_u8;          /* LP_IN_U8 threshold (integer ceiling, clipped to [0, 256]) */
    int32_t n_layers;        /* hidden layers + 1 */
    const lp_layer *layers;  /* n_layers */
    const int8_t *const *s;  /* n_layers - 1 threshold sign vectors */
    const int32_t *const *t; /* n_layers - 1 threshold vectors */
    const int64_t *scale;    /* C */
    const int64_t *offset;   /* C */
} lp_mlp;

typedef struct {
    uint64_t *xp;            /* packed input (B x nw0), or NULL (not produced for bit-plane input) */
    int32_t *const *y;       /* n_layers field buffers (each may be NULL), or NULL for none */
    uint64_t *const *h;      /* n_layers - 1 packed hidden outputs (each may be NULL), or NULL */
    int64_t *scores;         /* B x C, or NULL */
    int64_t *label;          /* B, or NULL */
} lp_mlp_out;

/* Run the MLP on B rows of raw input (int8, uint8 or float32 as in_kind says). Buffers not requested are
 * scratch allocated here. Returns LP_OK or an error code. */
int lpn_mlp_run(const lp_mlp *net, const void *x, int32_t b, const lp_mlp_out *out, const lp_exec *ex);

#endif /* LP_NATIVE_H */
