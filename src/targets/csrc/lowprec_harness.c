/*
 * lowprec_harness.c - device test driver for a model emitted by export.c with prefix "model".
 *
 * Input (stdin, or the file LP_IN_PATH, e.g. through semihosting): "LPIN", uint32 B, then B rows of
 *   [uint32 seed (RBM only)] [MODEL_N_INPUT input elements: int8 / uint8 (1 byte) or float32 (4 bytes)]
 * Output (stdout, or LP_OUT_PATH): per row, every graph output of the ONNX artifact in graph order
 * (export.onnx.output_names), as raw little-endian bytes: int32 fields, packed bits as 64-bit words (rows
 * padded to whole 64-bit words with zero bits), uint32 thresholds, float32 bit patterns, int64 label;
 * then the trailer "LPOK", uint32 B. Exit status: 0 ok, 2 I/O error, 3 malformed input, 4 the fused Gibbs
 * step disagrees with the staged one, 5 model_predict() disagrees with model_forward() (CNN: in the label or the
 * output layer's int32 fields).
 *
 * Cost measurement: lp_run_row (the deployment calls for one row) runs between lp_mark_begin() and
 * lp_mark_end(); an empty begin/end pair first calibrates the glue. A qemu plugin or callgrind counts the
 * instructions in between. The RBM trace outputs (staged Gibbs fields/thresholds) are computed outside.
 *
 * MODEL_PREDICT_ONLY (MLP, CNN; defined for model.c and this file alike): the deployed build. model.c has no
 * forward(), lp_run_row is model_predict() with its own scratch, and each row's output is what predict()
 * exposes: the output layer's MODEL_N_CLASSES int32 fields (predict() leaves them in iscratch[0 ..
 * MODEL_N_CLASSES)), then the int64 label (targets.devices.harness_io.predict_layout). The program needs the
 * model's predict RAM, not a buffer for every intermediate; verify runs it where the full harness does not fit.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#if defined(__GNUC__)
#define LP_NOINLINE __attribute__((noinline))
#else
#define LP_NOINLINE
#endif

/* ------------------------------------------------------------------------------------ markers */
volatile uint32_t lp_marks_begin, lp_marks_end;
LP_NOINLINE void lp_mark_begin(void) { lp_marks_begin += 1u; }
LP_NOINLINE void lp_mark_end(void) { lp_marks_end += 2u; }

/* ------------------------------------------------------------------------------------ I/O */
static FILE *fin, *fout;
static int io_error;

static uint32_t get_u32(void)
{
    unsigned char b[4];
    if (fread(b, 1, 4, fin) != 4) {
        io_error = 1;
        return 0;
    }
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static void put_bytes(const unsigned char *b, size_t n)
{
    if (fwrite(b, 1, n, fout) != n)
        io_error = 1;
}

static void put_u32(uint32_t v)
{
    unsigned char b[4];
    b[0] = (unsigned char)(v & 0xffu);
    b[1] = (unsigned char)((v >> 8) & 0xffu);
    b[2] = (unsigned char)((v >> 16) & 0xffu);
    b[3] = (unsigned char)((v >> 24) & 0xffu);
    put_bytes(b, 4);
}

static void put_i32s(const int32_t *v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        put_u32((uint32_t)v[i]);
}

#if !defined(MODEL_PREDICT_ONLY)

#if defined(MODEL_KIND_MLP) || defined(MODEL_KIND_CNN)
static void put_i64s(const int64_t *v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const uint64_t u = (uint64_t)v[i]; /* two's complement, little-endian: low word first */
        put_u32((uint32_t)(u & 0xffffffffu));
        put_u32((uint32_t)(u >> 32));
    }
}
#endif

#if defined(MODEL_KIND_RBM)
static void put_u32s(const uint32_t *v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        put_u32(v[i]);
}
#endif

/* n_bits bits held in ceil(n_bits / MODEL_WORD_BITS) words -> ceil(n_bits / 64) little-endian uint64. */
static void put_bits(const model_word_t *w, int32_t n_bits)
{
    const int32_t n64 = (n_bits + 63) / 64;
    const int32_t nw = (n_bits + MODEL_WORD_BITS - 1) / MODEL_WORD_BITS;
    int32_t i;
    for (i = 0; i < n64 * (64 / 32); ++i) {
        /* 32-bit half i of the 64-bit stream (little-endian halves) */
#if MODEL_WORD_BITS == 64
        const uint32_t half = (i / 2 < nw) ? (uint32_t)(w[i / 2] >> (32 * (i % 2))) : 0u;
#else
        const uint32_t half = (i < nw) ? (uint32_t)w[i] : 0u;
#endif
        put_u32(half);
    }
}
#endif /* !MODEL_PREDICT_ONLY */

static model_input_t xin[MODEL_N_INPUT];

static void get_row(void)
{
    int32_t i;
    for (i = 0; i < MODEL_N_INPUT; ++i) {
        if (sizeof(model_input_t) == 1) {
            unsigned char c;
            if (fread(&c, 1, 1, fin) != 1) {
                io_error = 1;
                return;
            }
            memcpy(&xin[i], &c, 1);
        } else {
            const uint32_t u = get_u32();
            memcpy(&xin[i], &u, sizeof(u)); /* float32: IEEE-754 bit pattern */
        }
    }
}

#if defined(MODEL_PREDICT_ONLY)
/* ------------------------------------------------------------------------------------ deployed predict only */
#if !defined(MODEL_KIND_MLP) && !defined(MODEL_KIND_CNN)
#error "MODEL_PREDICT_ONLY is for MLP and CNN models"
#endif
static model_word_t pw[MODEL_PREDICT_WORDS];
static int32_t pi[MODEL_PREDICT_INTS], label;

LP_NOINLINE static void lp_run_row(void)
{
    label = model_predict(xin, pw, pi);
}

static int row(uint32_t seed)
{
    (void)seed;
    lp_mark_begin();
    lp_run_row();
    lp_mark_end();
    put_i32s(pi, MODEL_N_CLASSES);                     /* the output layer's int32 fields */
    put_u32((uint32_t)label);                          /* int64 label, little-endian */
    put_u32(label < 0 ? 0xffffffffu : 0u);
    return 0;
}
#elif defined(MODEL_KIND_MLP)
/* ------------------------------------------------------------------------------------ MLP */
static model_word_t scratch[MODEL_SCRATCH_WORDS], bits[MODEL_BITS_WORDS];
static int32_t fields[MODEL_FIELDS_LEN], label;
static int64_t scores[MODEL_N_CLASSES];

LP_NOINLINE static void lp_run_row(void)
{
    label = model_forward(xin, scratch, fields, bits, scores);
}

static void put_row(void)
{
    static const int32_t outs[] = MODEL_LAYER_OUTS_INIT;
    static const int32_t foff[] = MODEL_FIELD_OFFSETS_INIT;
    static const int32_t boff[] = MODEL_BITS_OFFSETS_INIT;
    int32_t l;
#if !defined(MODEL_INPUT_KIND_BITPLANES)
    put_bits(scratch, MODEL_N_INPUT); /* xp */
#endif
    for (l = 0; l < MODEL_N_LAYERS; ++l) {
        put_i32s(fields + foff[l], outs[l]);           /* y_l */
        if (l < MODEL_N_HIDDEN)
            put_bits(bits + boff[l], outs[l]);         /* h_l */
    }
    put_i64s(scores, MODEL_N_CLASSES);
    put_u32((uint32_t)label);                          /* int64 label, little-endian */
    put_u32(label < 0 ? 0xffffffffu : 0u);
}

static model_word_t pw[MODEL_PREDICT_WORDS];
static int32_t pi[MODEL_PREDICT_INTS];

static int row(uint32_t seed)
{
    (void)seed;
    lp_mark_begin();
    lp_run_row();
    lp_mark_end();
    put_row();
    /* the minimal-scratch entry point must agree with the full forward pass */
    return model_predict(xin, pw, pi) == label ? 0 : 5;
}
#elif defined(MODEL_KIND_CNN)
/* ------------------------------------------------------------------------------------ CNN */
static model_word_t bits[MODEL_BITS_WORDS];
static int32_t fields[MODEL_FIELDS_LEN], label;
static int64_t scores[MODEL_N_CLASSES];

LP_NOINLINE static void lp_run_row(void)
{
    label = model_forward(xin, fields, bits, scores);
}

/* the model header's output table, in ONNX graph order: int32 fields, or GROUPS packed rows (pixels) of BITS bits */
static void put_row(void)
{
    static const int32_t kind[] = MODEL_OUT_KIND_INIT;
    static const int32_t off[] = MODEL_OUT_OFFSET_INIT;
    static const int32_t groups[] = MODEL_OUT_GROUPS_INIT;
    static const int32_t nbits[] = MODEL_OUT_BITS_INIT;
    int32_t o, g;
    for (o = 0; o < MODEL_N_OUTPUTS; ++o) {
        if (kind[o] == 0) {
            put_i32s(fields + off[o], nbits[o]);
        } else {
            const int32_t nw = (nbits[o] + MODEL_WORD_BITS - 1) / MODEL_WORD_BITS;
            for (g = 0; g < groups[o]; ++g)
                put_bits(bits + off[o] + (long)g * nw, nbits[o]);
        }
    }
    put_i64s(scores, MODEL_N_CLASSES);
    put_u32((uint32_t)label);                          /* int64 label, little-endian */
    put_u32(label < 0 ? 0xffffffffu : 0u);
}

static model_word_t pw[MODEL_PREDICT_WORDS];
static int32_t pi[MODEL_PREDICT_INTS];

/* predict() (streamed rows, small scratch) must agree with forward() in the label and in the output layer's
 * int32 fields, which it leaves in iscratch[0 .. N_CLASSES): the last fields entry of the output table. */
static int predict_agrees(void)
{
    static const int32_t kind[] = MODEL_OUT_KIND_INIT;
    static const int32_t off[] = MODEL_OUT_OFFSET_INIT;
    int32_t o, last = -1;
    if (model_predict(xin, pw, pi) != label)
        return 0;
    for (o = 0; o < MODEL_N_OUTPUTS; ++o)
        if (kind[o] == 0)
            last = o;
    return last >= 0 && memcmp(pi, fields + off[last], MODEL_N_CLASSES * sizeof(int32_t)) == 0;
}

static int row(uint32_t seed)
{
    (void)seed;
    lp_mark_begin();
    lp_run_row();
    lp_mark_end();
    put_row();
    return predict_agrees() ? 0 : 5;
}
#elif defined(MODEL_KIND_RBM)
/* ------------------------------------------------------------------------------------ RBM */
#define STEPS MODEL_GIBBS_STEPS
#define VW MODEL_VIS_WORDS
#define HW MODEL_HID_WORDS
static model_word_t chain_v[(STEPS + 1) * VW], chain_h[(STEPS > 0 ? STEPS : 1) * HW], hbits[HW];
static model_word_t staged_h[HW], staged_v[VW];
static int32_t hfield[MODEL_N_HIDDEN], vfield[MODEL_N_VISIBLE];
static uint32_t prob[MODEL_N_HIDDEN], thr_v[MODEL_N_VISIBLE];
/* once the first outputs are written, their buffers hold the staged Gibbs values (less RAM on small MCUs) */
#define tfield_h hfield
#define tfield_v vfield
#define thr_h prob
static uint32_t row_seed;

LP_NOINLINE static void lp_run_row(void)
{
    int32_t t;
    model_pack_visible(xin, chain_v);
    model_hidden_field(chain_v, hfield);
    model_hidden_bits(hfield, hbits);
    model_hidden_prob(hfield, prob);
    model_visible_field(hbits, vfield);
    for (t = 0; t < STEPS; ++t)
        model_gibbs_step(chain_v + t * VW, row_seed, t, chain_h + t * HW, chain_v + (t + 1) * VW);
}

static int row(uint32_t seed)
{
    int32_t t;
    row_seed = seed;
    lp_mark_begin();
    lp_run_row();
    lp_mark_end();
    put_bits(chain_v, MODEL_N_VISIBLE);  /* vp */
    put_i32s(hfield, MODEL_N_HIDDEN);    /* hidden_field */
    put_bits(hbits, MODEL_N_HIDDEN);     /* hidden_bits */
    put_u32s(prob, MODEL_N_HIDDEN);      /* hidden_prob (float32 bits) */
    put_i32s(vfield, MODEL_N_VISIBLE);   /* visible_field */
    for (t = 0; t < STEPS; ++t) {
        /* the same step in stages: fields and thresholds are outputs too, and the staged draws must
         * equal the fused ones */
        model_hidden_field(chain_v + t * VW, tfield_h);
        model_hidden_thresholds(tfield_h, thr_h);
        model_sample_hidden(thr_h, seed, t, staged_h);
        if (memcmp(staged_h, chain_h + t * HW, sizeof(staged_h)) != 0)
            return 4;
        model_visible_field(chain_h + t * HW, tfield_v);
        model_visible_thresholds(tfield_v, thr_v);
        model_sample_visible(thr_v, seed, t, staged_v);
        if (memcmp(staged_v, chain_v + (t + 1) * VW, sizeof(staged_v)) != 0)
            return 4;
        if (t > 0)
            put_i32s(tfield_h, MODEL_N_HIDDEN);          /* gibbs_hfield_t */
        put_u32s(thr_h, MODEL_N_HIDDEN);                 /* gibbs_hthr_t */
        put_bits(chain_h + t * HW, MODEL_N_HIDDEN);      /* gibbs_h_t */
        put_i32s(tfield_v, MODEL_N_VISIBLE);             /* gibbs_vfield_t */
        put_u32s(thr_v, MODEL_N_VISIBLE);                /* gibbs_vthr_t */
        put_bits(chain_v + (t + 1) * VW, MODEL_N_VISIBLE); /* gibbs_v_{t+1} */
    }
    return 0;
}
#else
#error "model.h declares none of MODEL_KIND_MLP, MODEL_KIND_CNN, MODEL_KIND_RBM"
#endif

int main(void)
{
    uint32_t b, i;
    int rc = 0;
#ifdef LP_IN_PATH
    fin = fopen(LP_IN_PATH, "rb");
    fout = fopen(LP_OUT_PATH, "wb");
    if (fin == NULL || fout == NULL) {
        fprintf(stderr, "lowprec harness: cannot open %s / %s\n", LP_IN_PATH, LP_OUT_PATH);
        return 2;
    }
#else
    fin = stdin;
    fout = stdout;
#endif
    lp_mark_begin(); /* calibration: an empty region */
    lp_mark_end();
    if (get_u32() != 0x4E49504Cu) { /* "LPIN" */
        fprintf(stderr, "lowprec harness: input does not start with LPIN\n");
        return 3;
    }
    b = get_u32();
    for (i = 0; i < b; ++i) {
#if defined(MODEL_KIND_RBM)
        const uint32_t seed = get_u32();
#else
        const uint32_t seed = 0u;
#endif
        get_row();
        if (io_error)
            break;
        rc = row(seed);
        if (rc != 0 || io_error)
            break;
    }
    if (rc != 0) {
        fprintf(stderr, "lowprec harness: %s at row %lu\n",
                rc == 4 ? "fused and staged Gibbs draws differ" : "predict() and forward() disagree",
                (unsigned long)i);
        return rc;
    }
    if (io_error) {
        fprintf(stderr, "lowprec harness: input ended early or output failed at row %lu of %lu\n",
                (unsigned long)i, (unsigned long)b);
        return 3;
    }
    put_u32(0x4B4F504Cu); /* "LPOK" */
    put_u32(b);
    if (fflush(fout) != 0 || io_error)
        return 2;
#ifdef LP_IN_PATH
    fclose(fin);
    if (fclose(fout) != 0)
        return 2;
#endif
    return 0;
}
