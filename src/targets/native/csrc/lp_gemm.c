/*
 * lp_gemm.c - run-time path selection, the blocked layer GEMM with its fused epilogues, and the thread split.
 *
 * Blocking. The output (B rows x N channels) is cut into tasks of up to LP_ROWS rows x 64 channels. A task
 * walks its channels two at a time (the block kernels of lp_blocks.h: 4 rows x 2 weight rows in registers,
 * 1-row kernels for the leftover rows); the task's rows (<= LP_ROWS x nw words) stay in L1/L2 while every
 * weight pair is streamed once per task, and consecutive tasks share a channel chunk so its weights stay in
 * L2 across the row blocks. 64 channels per task means a task owns whole output words: the packed
 * activation bits are written without any shared word between threads.
 *
 * Threads. T threads (pthreads; the caller's thread is one of them) take the next task from a shared atomic
 * counter until none is left, so a thread that the OS preempts (a shared machine) delays only its current
 * task instead of a fixed share of the layer. T is
 * min(requested, tasks, 1 + work / min_work), work = popcount words of the layer, so small layers (batch 1)
 * do not pay thread start-up for microseconds of work.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "lp_blocks.h"
#include "lp_native.h"

#define LOWPREC_WORD_BITS 64
#include "lowprec_kernels.h" /* lp_mix32, lp_stream_key: the counter-based PRNG shared with the device C */

#define LP_CHUNK 64          /* channels per task = one output word */
#define LP_LDC (LP_CHUNK + 2) /* count row stride; +2: a clamped 2-column block may write one column past */
#define LP_ROWS 32           /* activation rows per task (plane rows for bit-plane layers: 4 images) */

/* ------------------------------------------------------------------------------------------ paths */

static const char *const lp_names[LP_PATH_COUNT] = {"auto", "portable", "popcnt", "avx2", "avx512"};

const char *lpn_path_name(int32_t path)
{
    return (path >= 0 && path < LP_PATH_COUNT) ? lp_names[path] : "unknown";
}

uint32_t lpn_supported_paths(void)
{
    uint32_t mask = 1u << LP_PATH_PORTABLE;
#if defined(LP_HAVE_X86_PATHS)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt"))
        mask |= 1u << LP_PATH_POPCNT;
    if (__builtin_cpu_supports("popcnt") && __builtin_cpu_supports("avx2"))
        mask |= 1u << LP_PATH_AVX2;
    if (__builtin_cpu_supports("popcnt") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vpopcntdq"))
        mask |= 1u << LP_PATH_AVX512;
#elif defined(__GNUC__) || defined(__clang__)
    mask |= 1u << LP_PATH_POPCNT; /* __builtin_popcountll: the ISA's count instruction where it has one */
#endif
    return mask;
}

int32_t lpn_resolve_path(int32_t path)
{
    const uint32_t mask = lpn_supported_paths();
    int32_t p;
    if (path == LP_PATH_AUTO) {
        for (p = LP_PATH_COUNT - 1; p > LP_PATH_AUTO; --p)
            if (mask & (1u << p))
                return p;
        return LP_PATH_PORTABLE;
    }
    if (path <= LP_PATH_AUTO || path >= LP_PATH_COUNT || !(mask & (1u << path)))
        return -1;
    return path;
}

static const lp_block_table *lp_table(int32_t path)
{
    switch (path) {
#if defined(LP_HAVE_X86_PATHS)
    case LP_PATH_AVX512:
        return &lp_blocks_avx512;
    case LP_PATH_AVX2:
        return &lp_blocks_avx2;
#endif
    case LP_PATH_POPCNT:
        return &lp_blocks_popcnt;
    default:
        return &lp_blocks_portable;
    }
}

/* ------------------------------------------------------------------------------------------ one task */

typedef struct {
    const lp_layer *layer;
    const lp_rows *rows;
    const lp_output *out;
    const lp_block_table *tab;
    int32_t nw, nwo;       /* words per input row, per output row */
    int32_t planes;        /* 8 for bit-plane layers, else 1: activation rows per image */
    int32_t img_per_task;  /* images per task */
    int32_t n_rb;          /* row blocks */
    int64_t n_tasks;
    int32_t threads;
    int64_t next;          /* next task to take (atomic) */
    int32_t two;           /* ternary bit-plane: two count buffers per task */
} lp_job;

/* cnt[r * LP_LDC + c] for the task's activation rows r (plane rows) and channels c0 + c. */
static void lp_count(const lp_job *jb, int op, const uint64_t *w, const uint64_t *m, int64_t row0, int32_t nrows,
                     int32_t c0, int32_t c1, int32_t *cnt)
{
    const int32_t nw = jb->nw;
    const uint64_t *x = jb->rows->x + row0 * nw;
    int32_t c, r;
    for (c = c0; c < c1; c += 2) {
        const int32_t c2 = (c + 1 < c1) ? c + 1 : c; /* odd tail: the second column repeats the first */
        const uint64_t *w0 = w + (int64_t)c * nw, *w1 = w + (int64_t)c2 * nw;
        const uint64_t *m0 = m ? m + (int64_t)c * nw : NULL, *m1 = m ? m + (int64_t)c2 * nw : NULL;
        int32_t *col = cnt + (c - c0);
        for (r = 0; r + 4 <= nrows; r += 4)
            jb->tab->r4[op](x + (int64_t)r * nw, nw, w0, w1, m0, m1, nw, col + r * LP_LDC, LP_LDC);
        for (; r < nrows; ++r)
            jb->tab->r1[op](x + (int64_t)r * nw, nw, w0, w1, m0, m1, nw, col + r * LP_LDC, LP_LDC);
    }
}

static void lp_task(const lp_job *jb, int64_t task, int32_t *cnt, int32_t *cnt2)
{
    const lp_layer *L = jb->layer;
    const lp_output *o = jb->out;
    const int32_t rb = (int32_t)(task % jb->n_rb), cc = (int32_t)(task / jb->n_rb);
    const int64_t b0 = (int64_t)rb * jb->img_per_task;
    const int32_t nimg = (int32_t)((jb->rows->b - b0 < jb->img_per_task) ? jb->rows->b - b0 : jb->img_per_task);
    const int32_t c0 = cc * LP_CHUNK, c1 = (L->n - c0 < LP_CHUNK) ? L->n : c0 + LP_CHUNK;
    const int32_t nrows = nimg * jb->planes;
    int32_t i, c, j;

    switch (L->kind) {
    case LP_XNOR:
        lp_count(jb, LP_OP_XOR, L->w, NULL, b0, nrows, c0, c1, cnt);
        break;
    case LP_TERNARY:
        lp_count(jb, LP_OP_XORAND, L->w, L->m, b0, nrows, c0, c1, cnt);
        break;
    case LP_BITPLANE:
        lp_count(jb, LP_OP_AND, L->w, NULL, b0 * 8, nrows, c0, c1, cnt);
        break;
    default: /* LP_TERNARY_BITPLANE: popcount(P_j AND s) and popcount(P_j AND m) */
        lp_count(jb, LP_OP_AND, L->w, NULL, b0 * 8, nrows, c0, c1, cnt);
        lp_count(jb, LP_OP_AND, L->m, NULL, b0 * 8, nrows, c0, c1, cnt2);
        break;
    }

    for (i = 0; i < nimg; ++i) {
        const int64_t b = b0 + i;
        uint32_t key = 0;
        uint64_t word = 0;
        if (o->act == LP_ACT_SAMPLE)
            key = lp_stream_key(o->seeds[b], o->stream);
        for (c = c0; c < c1; ++c) {
            const int32_t at = c - c0;
            int32_t y;
            if (L->kind == LP_XNOR) {
                y = L->k - 2 * cnt[i * LP_LDC + at];
            } else if (L->kind == LP_TERNARY) {
                y = L->nnz[c] - 2 * cnt[i * LP_LDC + at];
            } else {
                /* y = sum_j 2^j (2 a_j - b_j): |y| <= 255 K < 2^31 (export.network checks it) */
                int64_t acc = 0;
                for (j = 0; j < 8; ++j) {
                    const int64_t a = cnt[(i * 8 + j) * LP_LDC + at];
                    const int64_t z = (L->kind == LP_BITPLANE) ? jb->rows->pops[b * 8 + j]
                                                                : cnt2[(i * 8 + j) * LP_LDC + at];
                    acc += (2 * a - z) * ((int64_t)1 << j);
                }
                y = (int32_t)acc;
            }
            if (o->y)
                o->y[b * L->n + c] = y;
            if (o->act == LP_ACT_THRESHOLD) {
                /* s * y in int64: exact for every int32 y (even -2^31 with s = -1) */
                word |= (uint64_t)((int64_t)o->s[c] * y >= (int64_t)o->t[c]) << at;
            } else if (o->act == LP_ACT_SAMPLE) {
                /* a sum of K terms +-1 has the parity of K: (y + K) is even and (y + K) / 2 in [0, K] */
                const uint32_t thr = o->table[(int64_t)c * o->table_stride + (((int64_t)y + L->k) >> 1)];
                const uint32_t u = lp_mix32(lp_mix32((uint32_t)(key + (uint32_t)c)));
                if (o->thr)
                    o->thr[b * L->n + c] = thr;
                word |= (uint64_t)(u < thr) << at;
            }
        }
        if (o->act != LP_ACT_NONE)
            o->bits[b * jb->nwo + cc] = word; /* bits past N stay 0: the pad rule */
    }
}

/* The job lives on the heap with a reference count: a worker that the OS starts late (a loaded machine) may
 * find every task done and the caller already returned; it then only reads the two counters and drops its
 * reference. The caller never waits for a thread to be scheduled, only for tasks that were taken to finish. */
typedef struct {
    lp_job jb;
    int64_t done;   /* tasks finished (atomic) */
    int32_t refs;   /* caller + started workers (atomic) */
} lp_shared;

static void lp_release(lp_shared *sh)
{
    if (__atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(sh);
}

/* Take tasks until none is left; returns LP_OK, or LP_ERR_NOMEM if no count buffer could be allocated
 * (then no task was taken: the others, or the caller, do them). */
static int lp_drain(lp_shared *sh)
{
    lp_job *jb = &sh->jb;
    int32_t *cnt;
    int64_t t;
    const int two = jb->two; /* the job's own copy: the caller's structs are read only inside a taken task */
    if (__atomic_load_n(&jb->next, __ATOMIC_RELAXED) >= jb->n_tasks)
        return LP_OK;
    cnt = (int32_t *)malloc(sizeof(int32_t) * (size_t)LP_ROWS * LP_LDC * (two ? 2u : 1u));
    if (!cnt)
        return LP_ERR_NOMEM;
    while ((t = __atomic_fetch_add(&jb->next, 1, __ATOMIC_RELAXED)) < jb->n_tasks) {
        lp_task(jb, t, cnt, two ? cnt + LP_ROWS * LP_LDC : NULL);
        __atomic_add_fetch(&sh->done, 1, __ATOMIC_RELEASE);
    }
    free(cnt);
    return LP_OK;
}

static void *lp_work(void *arg)
{
    lp_shared *sh = (lp_shared *)arg;
    (void)lp_drain(sh);
    lp_release(sh);
    return NULL;
}

int lpn_layer_run(const lp_layer *layer, const lp_rows *rows, const lp_output *out, const lp_exec *ex)
{
    lp_shared *sh;
    lp_job *jb;
    pthread_attr_t attr;
    pthread_t tid;
    int64_t work, cap;
    int32_t t, path;
    int status;

    if (!layer || !rows || !out || !ex || layer->k < 1 || layer->n < 1 || rows->b < 0 || ex->threads < 1)
        return LP_ERR_ARG;
    if (out->act != LP_ACT_NONE && !out->bits)
        return LP_ERR_ARG;
    path = lpn_resolve_path(ex->path);
    if (path < 0)
        return LP_ERR_PATH;
    if (rows->b == 0)
        return LP_OK;
    sh = (lp_shared *)calloc(1, sizeof *sh);
    if (!sh)
        return LP_ERR_NOMEM;
    jb = &sh->jb;
    jb->layer = layer;
    jb->rows = rows;
    jb->out = out;
    jb->tab = lp_table(path);
    jb->nw = (layer->k + 63) / 64;
    jb->nwo = (layer->n + 63) / 64;
    jb->two = layer->kind == LP_TERNARY_BITPLANE;
    jb->planes = (layer->kind == LP_BITPLANE || layer->kind == LP_TERNARY_BITPLANE) ? 8 : 1;
    jb->img_per_task = LP_ROWS / jb->planes;
    jb->n_rb = (int32_t)((rows->b + jb->img_per_task - 1) / jb->img_per_task);
    jb->n_tasks = (int64_t)jb->n_rb * jb->nwo;
    work = (int64_t)rows->b * jb->planes * layer->n * jb->nw * (layer->kind == LP_TERNARY_BITPLANE ? 2 : 1);
    cap = ex->threads;
    if (cap > 64)
        cap = 64;
    if (cap > jb->n_tasks)
        cap = jb->n_tasks;
    if (ex->min_work > 0 && cap > 1 + work / ex->min_work)
        cap = 1 + work / ex->min_work;
    jb->threads = (int32_t)cap;
    sh->refs = 1;
    if (jb->threads > 1 && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        for (t = 1; t < jb->threads; ++t) {
            __atomic_add_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL);
            if (pthread_create(&tid, &attr, lp_work, sh) != 0) {
                __atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL); /* fewer threads: same result, slower */
                break;
            }
        }
        pthread_attr_destroy(&attr);
    }
    status = lp_drain(sh);
    if (status == LP_OK) {
        /* every task is taken; wait for those still running on workers (no wait for unscheduled threads) */
        while (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) < jb->n_tasks)
            sched_yield();
    } else {
        /* no buffer here: wait until the workers have done everything, or fail if none could start */
        while (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) < jb->n_tasks &&
               __atomic_load_n(&sh->refs, __ATOMIC_ACQUIRE) > 1)
            sched_yield();
        if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) == jb->n_tasks)
            status = LP_OK;
    }
    lp_release(sh);
    return status;
}

/* ------------------------------------------------------------------------------------------ popcount bound */

/* The machine's scalar popcount bound: sum of popcount(a[i] ^ b[i]) over L1-resident arrays, `reps` times,
 * four independent accumulators (no dependency chain), with the hardware instruction where the CPU has one.
 * The empty asm with a memory clobber makes every repetition reload the words, so the compiler cannot hoist
 * the loop-invariant sum out of the repetition loop. Returns the total (so the work is not dead code). */
#if defined(LP_HAVE_X86_PATHS)
LP_TARGET("popcnt")
#endif
static uint64_t lpn_probe_hw(const uint64_t *a, const uint64_t *b, int32_t nw, int64_t reps)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t r;
    int32_t i;
    for (r = 0; r < reps; ++r) {
        __asm__ volatile("" : : "r"(a), "r"(b) : "memory");
        for (i = 0; i + 4 <= nw; i += 4) {
            s0 += (uint64_t)__builtin_popcountll(a[i] ^ b[i]);
            s1 += (uint64_t)__builtin_popcountll(a[i + 1] ^ b[i + 1]);
            s2 += (uint64_t)__builtin_popcountll(a[i + 2] ^ b[i + 2]);
            s3 += (uint64_t)__builtin_popcountll(a[i + 3] ^ b[i + 3]);
        }
    }
    return s0 + s1 + s2 + s3;
}

uint64_t lpn_popcount_probe(const uint64_t *a, const uint64_t *b, int32_t nw, int64_t reps)
{
    if (!(lpn_supported_paths() & (1u << LP_PATH_POPCNT)))
        return 0;
    return lpn_probe_hw(a, b, nw, reps);
}
