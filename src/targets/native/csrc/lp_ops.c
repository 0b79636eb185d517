/*
 * lp_ops.c - everything around the GEMM: input packing, the output affine + argmax, table lookups, and the
 * whole-MLP driver that chains the layers with their activations kept packed.
 *
 * The per-row packers are the device kernels' own (export/csrc/lowprec_kernels.h at 64-bit words), so the
 * host and every device pack inputs with one piece of code.
 */
#include <stdlib.h>
#include <string.h>

#include "lp_native.h"

#define LOWPREC_WORD_BITS 64
#include "lowprec_kernels.h"

static int32_t lpn_words(int32_t k)
{
    return (k + 63) / 64;
}

void lpn_pack_rows_i8(const int8_t *x, int64_t b, int32_t k, uint64_t *out)
{
    int64_t i;
    for (i = 0; i < b; ++i)
        lp_pack_i8(x + i * k, k, out + i * lpn_words(k));
}

void lpn_pack_rows_u8(const uint8_t *x, int64_t b, int32_t k, int32_t thr_u8, uint64_t *out)
{
    int64_t i;
    for (i = 0; i < b; ++i)
        lp_pack_u8(x + i * k, k, thr_u8, out + i * lpn_words(k));
}

void lpn_pack_rows_f32(const float *x, int64_t b, int32_t k, float thr, uint64_t *out)
{
    int64_t i;
    for (i = 0; i < b; ++i)
        lp_pack_f32(x + i * k, k, thr, out + i * lpn_words(k));
}

void lpn_pack_planes(const uint8_t *x, int64_t b, int32_t k, uint64_t *planes, int32_t *pops)
{
    int64_t i;
    for (i = 0; i < b; ++i)
        lp_pack_planes(x + i * k, k, planes + i * 8 * lpn_words(k), pops + i * 8);
}

void lpn_affine_argmax(const int32_t *y, int64_t b, int32_t c, const int64_t *scale, const int64_t *offset,
                       int64_t *scores, int64_t *label)
{
    int64_t i;
    int32_t j;
    for (i = 0; i < b; ++i) {
        int64_t best = 0, best_j = 0;
        for (j = 0; j < c; ++j) {
            /* modulo 2^64 like ONNX/numpy int64 Mul and Add (unsigned: no undefined overflow); the exported
             * networks bound |scale * y + offset| well inside int64, so this is the exact value */
            const uint64_t v = (uint64_t)scale[j] * (uint64_t)(int64_t)y[i * c + j] + (uint64_t)offset[j];
            const int64_t sv = (v <= (uint64_t)INT64_MAX) ? (int64_t)v : -(int64_t)(~v) - 1;
            if (scores)
                scores[i * c + j] = sv;
            if (j == 0 || sv > best) { /* strict: ties keep the first maximum */
                best = sv;
                best_j = j;
            }
        }
        if (label)
            label[i] = best_j;
    }
}

void lpn_field_lookup(const int32_t *y, int64_t count, int32_t k, const uint32_t *table, uint32_t *out)
{
    int64_t i;
    for (i = 0; i < count; ++i)
        out[i] = table[((int64_t)y[i] + k) >> 1];
}

void lpn_unit_field_lookup(const int32_t *y, int64_t count, int32_t k, int64_t units, const uint32_t *table,
                           uint32_t *out)
{
    int64_t i;
    for (i = 0; i < count; ++i)
        out[i] = table[(i % units) * ((int64_t)k + 1) + (((int64_t)y[i] + k) >> 1)];
}

int lpn_mlp_run(const lp_mlp *net, const void *x, int32_t b, const lp_mlp_out *out, const lp_exec *ex)
{
    const int32_t nl = net->n_layers, k0 = net->layers[0].k, nw0 = lpn_words(k0);
    const int planes = net->in_kind == LP_IN_PLANES;
    void *scratch[4] = {NULL, NULL, NULL, NULL}; /* input rows, plane popcounts, two hidden buffers */
    int32_t *y_last = NULL;
    const uint64_t *cur;
    int32_t i, status = LP_OK;
    size_t hid_words = 0;

    if (nl < 1 || b < 0)
        return LP_ERR_ARG;
    if (b == 0)
        return LP_OK;
    if (lpn_resolve_path(ex->path) < 0)
        return LP_ERR_PATH;
    for (i = 0; i + 1 < nl; ++i) {
        const size_t words = (size_t)b * (size_t)lpn_words(net->layers[i].n);
        if (words > hid_words)
            hid_words = words;
    }
    /* packed input (or its bit-planes) */
    if (planes) {
        scratch[0] = malloc(sizeof(uint64_t) * (size_t)b * 8 * (size_t)nw0);
        scratch[1] = malloc(sizeof(int32_t) * (size_t)b * 8);
        if (!scratch[0] || !scratch[1]) {
            status = LP_ERR_NOMEM;
            goto done;
        }
        lpn_pack_planes((const uint8_t *)x, b, k0, (uint64_t *)scratch[0], (int32_t *)scratch[1]);
        cur = (const uint64_t *)scratch[0];
    } else {
        uint64_t *xp = out->xp;
        if (!xp) {
            xp = (uint64_t *)(scratch[0] = malloc(sizeof(uint64_t) * (size_t)b * (size_t)nw0));
            if (!xp) {
                status = LP_ERR_NOMEM;
                goto done;
            }
        }
        if (net->in_kind == LP_IN_PM1)
            lpn_pack_rows_i8((const int8_t *)x, b, k0, xp);
        else if (net->in_kind == LP_IN_U8)
            lpn_pack_rows_u8((const uint8_t *)x, b, k0, net->thr_u8, xp);
        else
            lpn_pack_rows_f32((const float *)x, b, k0, net->thr_f32, xp);
        cur = xp;
    }
    if (hid_words) {
        scratch[2] = malloc(sizeof(uint64_t) * hid_words);
        scratch[3] = malloc(sizeof(uint64_t) * hid_words);
        if (!scratch[2] || !scratch[3]) {
            status = LP_ERR_NOMEM;
            goto done;
        }
    }
    for (i = 0; i < nl; ++i) {
        const lp_layer *L = &net->layers[i];
        lp_rows rows;
        lp_output o;
        memset(&o, 0, sizeof o);
        rows.b = b;
        rows.x = cur;
        rows.pops = (i == 0 && planes) ? (const int32_t *)scratch[1] : NULL;
        o.y = out->y ? out->y[i] : NULL;
        if (i + 1 < nl) {
            o.act = LP_ACT_THRESHOLD;
            o.s = net->s[i];
            o.t = net->t[i];
            o.bits = (out->h && out->h[i]) ? out->h[i] : (uint64_t *)scratch[2 + (i & 1)];
        } else if (!o.y) {
            o.y = y_last = (int32_t *)malloc(sizeof(int32_t) * (size_t)b * (size_t)L->n);
            if (!y_last) {
                status = LP_ERR_NOMEM;
                goto done;
            }
        }
        status = lpn_layer_run(L, &rows, &o, ex);
        if (status != LP_OK)
            goto done;
        if (i + 1 < nl)
            cur = o.bits;
        else if (out->scores || out->label)
            lpn_affine_argmax(o.y, b, L->n, net->scale, net->offset, out->scores, out->label);
    }
done:
    for (i = 0; i < 4; ++i)
        free(scratch[i]);
    free(y_last);
    return status;
}

/* Conv patch rows, compact: output pixel (i, j) of image bi gets one row of ceil(k*k*C/64) words holding the
 * k*k neighbouring pixels' C channel bits in (di, dj, c) order -- row bit (di*k + dj)*C + c = bit c of pixel
 * (i + di - k/2, j + dj - k/2) -- i.e. the conv weights (O, k, k, C) read as one layout-v1 row of K = k*k*C bits.
 * A position outside the image reads the pad pixel: all C bits = pad_bit. Input pixels are Wc = ceil(C/64)
 * words; their bits past C are masked off, so the rows' pad bits are zero and the GEMM runs with the true K. */
void lpn_conv_rows(const uint64_t *xp, int32_t b, int32_t h, int32_t w, int32_t c, int32_t k, int32_t pad_bit,
                   uint64_t *rows)
{
    const int32_t wc = lpn_words(c), nw = lpn_words(k * k * c), r = k / 2;
    int64_t pix;
    for (pix = 0; pix < (int64_t)b * h * w; ++pix) {
        const int64_t img = pix / ((int64_t)h * w);
        const int32_t i = (int32_t)(pix / w % h), j = (int32_t)(pix % w);
        uint64_t *row = rows + pix * nw;
        int64_t pos = 0;
        int32_t di, dj, q;
        memset(row, 0, sizeof(uint64_t) * (size_t)nw);
        for (di = 0; di < k; ++di) {
            for (dj = 0; dj < k; ++dj) {
                const int32_t y = i + di - r, x = j + dj - r;
                const int inside = y >= 0 && y < h && x >= 0 && x < w;
                const uint64_t *px = inside ? xp + ((img * h + y) * w + x) * wc : NULL;
                for (q = 0; q < wc; ++q) {
                    const int32_t nbits = c - 64 * q < 64 ? c - 64 * q : 64;
                    const uint64_t mask = nbits == 64 ? ~(uint64_t)0 : (((uint64_t)1 << nbits) - 1);
                    const uint64_t v = (inside ? px[q] : (pad_bit ? ~(uint64_t)0 : 0)) & mask;
                    const int32_t sh = (int32_t)(pos & 63);
                    row[pos >> 6] |= v << sh;
                    if (sh + nbits > 64)
                        row[(pos >> 6) + 1] |= v >> (64 - sh);
                    pos += nbits;
                }
            }
        }
    }
}

void lpn_pool_fields_threshold(const int32_t *y, int32_t b, int32_t h, int32_t w, int32_t n, const int8_t *s,
                               const int32_t *t, int32_t *m, uint64_t *bits)
{
    const int64_t pooled = (int64_t)(h / 2) * (w / 2);
    int64_t img, p;
    for (img = 0; img < b; ++img)
        lp_max_pool2_fields(y + img * h * w * n, h, w, n, m + img * pooled * n);
    for (p = 0; p < b * pooled; ++p)
        lp_threshold_pack(m + p * n, s, t, n, bits + p * lpn_words(n));
}
