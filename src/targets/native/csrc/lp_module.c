/*
 * lp_module.c - the CPython binding of the native kernels: targets.native._lpnative.
 *
 * Plain CPython C API and the buffer protocol (no numpy headers): every array argument is any C-contiguous
 * buffer whose item size is checked here, and whose length must hold what the kernel reads or writes, so a
 * wrong argument is a TypeError/ValueError and never an out-of-bounds access. The Python layer
 * (targets/native/runtime.py) passes numpy arrays of the right dtypes. Kernels run with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "lp_native.h"

#define MAXBUF 24

typedef struct {
    Py_buffer view[MAXBUF];
    int n;
} bufset;

static void bufs_release(bufset *bs)
{
    int i;
    for (i = 0; i < bs->n; ++i)
        PyBuffer_Release(&bs->view[i]);
    bs->n = 0;
}

/* Acquire `obj` as a C-contiguous buffer of `count` items of `itemsize` bytes (at least); None -> NULL when
 * optional. Returns 0 on success (with *ptr set), -1 with a Python exception set. */
static int get_buf(bufset *bs, PyObject *obj, const char *name, Py_ssize_t itemsize, Py_ssize_t count,
                   int writable, int optional, void **ptr)
{
    Py_buffer *v;
    *ptr = NULL;
    if (obj == Py_None) {
        if (optional)
            return 0;
        PyErr_Format(PyExc_TypeError, "%s: expected an array, got None", name);
        return -1;
    }
    if (bs->n >= MAXBUF) {
        PyErr_SetString(PyExc_RuntimeError, "too many buffers in one call");
        return -1;
    }
    v = &bs->view[bs->n];
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) != 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous%s array", name, writable ? " writable" : "");
        return -1;
    }
    bs->n++;
    if (v->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected %zd-byte items, got %zd-byte items", name, itemsize,
                     v->itemsize);
        return -1;
    }
    if (v->len < itemsize * count) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd items, got %zd", name, count,
                     v->len / itemsize);
        return -1;
    }
    *ptr = v->buf;
    return 0;
}

static PyObject *status_error(int status)
{
    switch (status) {
    case LP_ERR_PATH:
        return PyErr_Format(PyExc_ValueError, "the requested code path is not supported on this CPU");
    case LP_ERR_NOMEM:
        return PyErr_NoMemory();
    case LP_ERR_THREAD:
        return PyErr_Format(PyExc_RuntimeError, "could not start worker threads");
    default:
        return PyErr_Format(PyExc_ValueError, "invalid kernel arguments (status %d)", status);
    }
}

static int check_exec(int path, int threads, lp_exec *ex, long long min_work)
{
    if (threads < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be >= 1, got %d", threads);
        return -1;
    }
    if (lpn_resolve_path(path) < 0) {
        PyErr_Format(PyExc_ValueError, "code path %s (%d) is not supported on this CPU", lpn_path_name(path), path);
        return -1;
    }
    ex->path = path;
    ex->threads = threads;
    ex->min_work = (int64_t)min_work;
    return 0;
}

static int32_t words(int32_t k)
{
    return (k + 63) / 64;
}

/* ------------------------------------------------------------------------------------------ paths */

static PyObject *py_paths(PyObject *self, PyObject *args)
{
    const uint32_t mask = lpn_supported_paths();
    PyObject *out = PyList_New(0);
    int p;
    (void)self;
    (void)args;
    if (!out)
        return NULL;
    for (p = LP_PATH_PORTABLE; p < LP_PATH_COUNT; ++p) {
        if (mask & (1u << p)) {
            PyObject *s = PyUnicode_FromString(lpn_path_name(p));
            if (!s || PyList_Append(out, s) != 0) {
                Py_XDECREF(s);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(s);
        }
    }
    return out;
}

static PyObject *py_best_path(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyUnicode_FromString(lpn_path_name(lpn_resolve_path(LP_PATH_AUTO)));
}

/* ------------------------------------------------------------------------------------------ one layer */

static int layer_from(bufset *bs, int kind, int k, int n, PyObject *w, PyObject *m, PyObject *nnz, lp_layer *L)
{
    void *p;
    const Py_ssize_t need = (Py_ssize_t)n * words(k);
    if (kind < LP_XNOR || kind > LP_TERNARY_BITPLANE || k < 1 || n < 1) {
        PyErr_Format(PyExc_ValueError, "layer: kind must be 0..3 and K, N >= 1, got kind %d, K %d, N %d", kind, k, n);
        return -1;
    }
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->k = k;
    L->n = n;
    if (get_buf(bs, w, "weights", 8, need, 0, 0, &p) < 0)
        return -1;
    L->w = (const uint64_t *)p;
    if (get_buf(bs, m, "mask", 8, need, 0, kind == LP_XNOR || kind == LP_BITPLANE, &p) < 0)
        return -1;
    L->m = (const uint64_t *)p;
    if (get_buf(bs, nnz, "nnz", 4, n, 0, kind != LP_TERNARY, &p) < 0)
        return -1;
    L->nnz = (const int32_t *)p;
    return 0;
}

static PyObject *py_layer(PyObject *self, PyObject *args)
{
    int kind, k, n, b, act, path, threads;
    unsigned int stream;
    long long min_work;
    PyObject *x, *pops, *w, *m, *nnz, *y, *bits, *s, *t, *table, *thr, *seeds;
    bufset bs;
    lp_layer L;
    lp_rows rows;
    lp_output o;
    lp_exec ex;
    void *p;
    int status, planes;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "iiiiOOOOOOiOOOOOOIiiL", &kind, &k, &n, &b, &x, &pops, &w, &m, &nnz, &y, &act,
                          &bits, &s, &t, &table, &thr, &seeds, &stream, &path, &threads, &min_work))
        return NULL;
    if (b < 0 || act < LP_ACT_NONE || act > LP_ACT_SAMPLE) {
        PyErr_Format(PyExc_ValueError, "layer: batch must be >= 0 and act 0..2, got %d and %d", b, act);
        return NULL;
    }
    if (check_exec(path, threads, &ex, min_work) < 0 || layer_from(&bs, kind, k, n, w, m, nnz, &L) < 0)
        goto fail;
    planes = kind == LP_BITPLANE || kind == LP_TERNARY_BITPLANE;
    memset(&rows, 0, sizeof rows);
    memset(&o, 0, sizeof o);
    rows.b = b;
    if (get_buf(&bs, x, "x", 8, (Py_ssize_t)b * (planes ? 8 : 1) * words(k), 0, 0, &p) < 0)
        goto fail;
    rows.x = (const uint64_t *)p;
    if (get_buf(&bs, pops, "pops", 4, (Py_ssize_t)b * 8, 0, kind != LP_BITPLANE, &p) < 0)
        goto fail;
    rows.pops = (const int32_t *)p;
    o.act = act;
    if (get_buf(&bs, y, "y", 4, (Py_ssize_t)b * n, 1, 1, &p) < 0)
        goto fail;
    o.y = (int32_t *)p;
    if (get_buf(&bs, bits, "bits", 8, (Py_ssize_t)b * words(n), 1, act == LP_ACT_NONE, &p) < 0)
        goto fail;
    o.bits = (uint64_t *)p;
    if (get_buf(&bs, s, "s", 1, n, 0, act != LP_ACT_THRESHOLD, &p) < 0)
        goto fail;
    o.s = (const int8_t *)p;
    if (get_buf(&bs, t, "t", 4, n, 0, act != LP_ACT_THRESHOLD, &p) < 0)
        goto fail;
    o.t = (const int32_t *)p;
    if (act == LP_ACT_SAMPLE && planes) {
        PyErr_SetString(PyExc_ValueError, "layer: sampling needs a packed +-1 layer, not bit-plane input");
        goto fail;
    }
    if (get_buf(&bs, table, "table", 4, (Py_ssize_t)k + 1, 0, act != LP_ACT_SAMPLE, &p) < 0)
        goto fail;
    o.table = (const uint32_t *)p;
    if (p) { /* K + 1 entries: one table shared by the N units; N (K + 1): one row per unit (RBM fields) */
        const Py_ssize_t items = bs.view[bs.n - 1].len / 4;
        if (items == (Py_ssize_t)k + 1)
            o.table_stride = 0;
        else if (items == (Py_ssize_t)n * ((Py_ssize_t)k + 1))
            o.table_stride = (int64_t)k + 1;
        else {
            PyErr_Format(PyExc_ValueError, "table: expected K + 1 = %d or N (K + 1) = %zd entries, got %zd", k + 1,
                         (Py_ssize_t)n * ((Py_ssize_t)k + 1), items);
            goto fail;
        }
    }
    if (get_buf(&bs, thr, "thr", 4, (Py_ssize_t)b * n, 1, 1, &p) < 0)
        goto fail;
    o.thr = (uint32_t *)p;
    if (get_buf(&bs, seeds, "seeds", 4, b, 0, act != LP_ACT_SAMPLE, &p) < 0)
        goto fail;
    o.seeds = (const uint32_t *)p;
    o.stream = stream;
    Py_BEGIN_ALLOW_THREADS
    status = lpn_layer_run(&L, &rows, &o, &ex);
    Py_END_ALLOW_THREADS
    bufs_release(&bs);
    if (status != LP_OK)
        return status_error(status);
    Py_RETURN_NONE;
fail:
    bufs_release(&bs);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ small ops */

static PyObject *py_pack(PyObject *self, PyObject *args)
{
    int kind, k, b, thr_u8;
    float thr;
    PyObject *x, *out;
    bufset bs;
    void *px, *po;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "iiiOfiO", &kind, &k, &b, &x, &thr, &thr_u8, &out))
        return NULL;
    if (kind < LP_IN_PM1 || kind > LP_IN_F32 || k < 1 || b < 0 || thr_u8 < 0 || thr_u8 > 256) {
        PyErr_Format(PyExc_ValueError, "pack: kind 0..2, K >= 1, batch >= 0, thr_u8 in [0, 256]; got %d, %d, %d, %d",
                     kind, k, b, thr_u8);
        return NULL;
    }
    if (get_buf(&bs, x, "x", kind == LP_IN_F32 ? 4 : 1, (Py_ssize_t)b * k, 0, 0, &px) < 0 ||
        get_buf(&bs, out, "out", 8, (Py_ssize_t)b * words(k), 1, 0, &po) < 0) {
        bufs_release(&bs);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    if (kind == LP_IN_PM1)
        lpn_pack_rows_i8((const int8_t *)px, b, k, (uint64_t *)po);
    else if (kind == LP_IN_U8)
        lpn_pack_rows_u8((const uint8_t *)px, b, k, thr_u8, (uint64_t *)po);
    else
        lpn_pack_rows_f32((const float *)px, b, k, thr, (uint64_t *)po);
    Py_END_ALLOW_THREADS
    bufs_release(&bs);
    Py_RETURN_NONE;
}

static PyObject *py_planes(PyObject *self, PyObject *args)
{
    int k, b;
    PyObject *x, *out, *pops;
    bufset bs;
    void *px, *po, *pp;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "iiOOO", &k, &b, &x, &out, &pops))
        return NULL;
    if (k < 1 || b < 0) {
        PyErr_Format(PyExc_ValueError, "planes: K >= 1 and batch >= 0, got %d, %d", k, b);
        return NULL;
    }
    if (get_buf(&bs, x, "x", 1, (Py_ssize_t)b * k, 0, 0, &px) < 0 ||
        get_buf(&bs, out, "planes", 8, (Py_ssize_t)b * 8 * words(k), 1, 0, &po) < 0 ||
        get_buf(&bs, pops, "pops", 4, (Py_ssize_t)b * 8, 1, 0, &pp) < 0) {
        bufs_release(&bs);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    lpn_pack_planes((const uint8_t *)px, b, k, (uint64_t *)po, (int32_t *)pp);
    Py_END_ALLOW_THREADS
    bufs_release(&bs);
    Py_RETURN_NONE;
}

static PyObject *py_conv_rows(PyObject *self, PyObject *args)
{
    int b, h, w, c, k, pad_bit;
    PyObject *x, *out;
    bufset bs;
    void *px, *po;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "iiiiiiOO", &b, &h, &w, &c, &k, &pad_bit, &x, &out))
        return NULL;
    if (b < 0 || h < 1 || w < 1 || c < 1 || k < 1 || k % 2 == 0 || (int64_t)k * k * c > INT32_MAX ||
        (pad_bit != 0 && pad_bit != 1)) {
        PyErr_Format(PyExc_ValueError, "conv_rows: batch >= 0, H, W, C >= 1, odd kernel >= 1 with k*k*C in int32, "
                     "pad_bit 0 or 1; got %d, %d, %d, %d, %d, %d", b, h, w, c, k, pad_bit);
        return NULL;
    }
    if (get_buf(&bs, x, "x", 8, (Py_ssize_t)b * h * w * words(c), 0, 0, &px) < 0 ||
        get_buf(&bs, out, "rows", 8, (Py_ssize_t)b * h * w * words(k * k * c), 1, 0, &po) < 0) {
        bufs_release(&bs);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    lpn_conv_rows((const uint64_t *)px, b, h, w, c, k, pad_bit, (uint64_t *)po);
    Py_END_ALLOW_THREADS
    bufs_release(&bs);
    Py_RETURN_NONE;
}

static PyObject *py_pool_fields(PyObject *self, PyObject *args)
{
    int b, h, w, n;
    PyObject *y, *s, *t, *m, *bits;
    bufset bs;
    void *py, *ps, *pt, *pm, *pb;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "iiiiOOOOO", &b, &h, &w, &n, &y, &s, &t, &m, &bits))
        return NULL;
    if (b < 0 || h < 2 || w < 2 || h % 2 || w % 2 || n < 1) {
        PyErr_Format(PyExc_ValueError, "pool_fields: batch >= 0, even H, W >= 2 and N >= 1; got %d, %d, %d, %d",
                     b, h, w, n);
        return NULL;
    }
    if (get_buf(&bs, y, "y", 4, (Py_ssize_t)b * h * w * n, 0, 0, &py) < 0 ||
        get_buf(&bs, s, "s", 1, n, 0, 0, &ps) < 0 || get_buf(&bs, t, "t", 4, n, 0, 0, &pt) < 0 ||
        get_buf(&bs, m, "m", 4, (Py_ssize_t)b * (h / 2) * (w / 2) * n, 1, 0, &pm) < 0 ||
        get_buf(&bs, bits, "bits", 8, (Py_ssize_t)b * (h / 2) * (w / 2) * words(n), 1, 0, &pb) < 0) {
        bufs_release(&bs);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    lpn_pool_fields_threshold((const int32_t *)py, b, h, w, n, (const int8_t *)ps, (const int32_t *)pt,
                              (int32_t *)pm, (uint64_t *)pb);
    Py_END_ALLOW_THREADS
    bufs_release(&bs);
    Py_RETURN_NONE;
}

static PyObject *py_affine_argmax(PyObject *self, PyObject *args)
{
    int b, c;
    PyObject *y, *scale, *offset, *scores, *label;
    bufset bs;
    void *py, *psc, *pof, *pso, *pla;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "iiOOOOO", &b, &c, &y, &scale, &offset, &scores, &label))
        return NULL;
    if (b < 0 || c < 1) {
        PyErr_Format(PyExc_ValueError, "affine_argmax: batch >= 0 and C >= 1, got %d, %d", b, c);
        return NULL;
    }
    if (get_buf(&bs, y, "y", 4, (Py_ssize_t)b * c, 0, 0, &py) < 0 ||
        get_buf(&bs, scale, "scale", 8, c, 0, 0, &psc) < 0 || get_buf(&bs, offset, "offset", 8, c, 0, 0, &pof) < 0 ||
        get_buf(&bs, scores, "scores", 8, (Py_ssize_t)b * c, 1, 1, &pso) < 0 ||
        get_buf(&bs, label, "label", 8, b, 1, 1, &pla) < 0) {
        bufs_release(&bs);
        return NULL;
    }
    lpn_affine_argmax((const int32_t *)py, b, c, (const int64_t *)psc, (const int64_t *)pof, (int64_t *)pso,
                      (int64_t *)pla);
    bufs_release(&bs);
    Py_RETURN_NONE;
}

static PyObject *py_lookup(PyObject *self, PyObject *args)
{
    int k;
    Py_ssize_t count, units = 0;
    PyObject *y, *table, *out;
    bufset bs;
    void *py, *pt, *po;
    const int32_t *yy;
    Py_ssize_t i;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "niOOO|n", &count, &k, &y, &table, &out, &units))
        return NULL;
    if (count < 0 || k < 1 || units < 0 || (units > 0 && count % units != 0)) {
        PyErr_Format(PyExc_ValueError, "lookup: count >= 0, K >= 1 and units 0 or dividing count, got %zd, %d, %zd",
                     count, k, units);
        return NULL;
    }
    if (get_buf(&bs, y, "y", 4, count, 0, 0, &py) < 0 ||
        get_buf(&bs, table, "table", 4, ((Py_ssize_t)k + 1) * (units ? units : 1), 0, 0, &pt) < 0 ||
        get_buf(&bs, out, "out", 4, count, 1, 0, &po) < 0) {
        bufs_release(&bs);
        return NULL;
    }
    yy = (const int32_t *)py;
    for (i = 0; i < count; ++i) { /* a field outside {-K, -K+2, ..., K} would index outside the table */
        const int64_t z = (int64_t)yy[i] + k;
        if (z < 0 || z > 2 * (int64_t)k || (z & 1)) {
            bufs_release(&bs);
            return PyErr_Format(PyExc_ValueError, "lookup: field %d is not one of -K, -K+2, ..., K for K=%d",
                                (int)yy[i], k);
        }
    }
    if (units)
        lpn_unit_field_lookup(yy, count, k, units, (const uint32_t *)pt, (uint32_t *)po);
    else
        lpn_field_lookup(yy, count, k, (const uint32_t *)pt, (uint32_t *)po);
    bufs_release(&bs);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ whole MLP */

#define MLP_MAX_LAYERS 64

typedef struct {
    lp_mlp net;
    lp_layer layers[MLP_MAX_LAYERS];
    const int8_t *s[MLP_MAX_LAYERS];
    const int32_t *t[MLP_MAX_LAYERS];
    PyObject *keep; /* the argument tuple: keeps every array alive while the handle exists */
    Py_buffer views[3 * MLP_MAX_LAYERS + 2 * MLP_MAX_LAYERS + 2];
    int nviews;
} mlp_handle;

static void mlp_free(PyObject *capsule)
{
    mlp_handle *h = (mlp_handle *)PyCapsule_GetPointer(capsule, "lowprec.native.mlp");
    int i;
    if (!h)
        return;
    for (i = 0; i < h->nviews; ++i)
        PyBuffer_Release(&h->views[i]);
    Py_XDECREF(h->keep);
    PyMem_Free(h);
}

/* Buffers of the handle are acquired through a bufset and then moved into the handle. */
static int keep_views(mlp_handle *h, bufset *bs)
{
    int i;
    for (i = 0; i < bs->n; ++i)
        h->views[h->nviews++] = bs->view[i];
    bs->n = 0;
    return 0;
}

static PyObject *py_mlp_build(PyObject *self, PyObject *args)
{
    int in_kind, thr_u8, i, nl;
    float thr;
    PyObject *layers, *slist, *tlist, *scale, *offset, *cap;
    mlp_handle *h;
    bufset bs;
    void *p;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "ifiO!O!O!OO", &in_kind, &thr, &thr_u8, &PyTuple_Type, &layers, &PyTuple_Type,
                          &slist, &PyTuple_Type, &tlist, &scale, &offset))
        return NULL;
    nl = (int)PyTuple_GET_SIZE(layers);
    if (in_kind < LP_IN_PM1 || in_kind > LP_IN_PLANES || thr_u8 < 0 || thr_u8 > 256 || nl < 1 ||
        nl > MLP_MAX_LAYERS || PyTuple_GET_SIZE(slist) != nl - 1 || PyTuple_GET_SIZE(tlist) != nl - 1) {
        PyErr_Format(PyExc_ValueError, "mlp_build: bad input kind %d, thr_u8 %d or layer count %d (max %d)", in_kind,
                     thr_u8, nl, MLP_MAX_LAYERS);
        return NULL;
    }
    h = (mlp_handle *)PyMem_Calloc(1, sizeof(mlp_handle));
    if (!h)
        return PyErr_NoMemory();
    for (i = 0; i < nl; ++i) {
        PyObject *spec = PyTuple_GET_ITEM(layers, i);
        int kind, k, n;
        PyObject *w, *m, *nnz;
        if (!PyTuple_Check(spec) || !PyArg_ParseTuple(spec, "iiiOOO", &kind, &k, &n, &w, &m, &nnz)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "mlp_build: each layer is a tuple (kind, K, N, w, m, nnz)");
            goto fail;
        }
        if (layer_from(&bs, kind, k, n, w, m, nnz, &h->layers[i]) < 0)
            goto fail;
        keep_views(h, &bs);
        if ((kind == LP_BITPLANE || kind == LP_TERNARY_BITPLANE) != (i == 0 && in_kind == LP_IN_PLANES)) {
            PyErr_SetString(PyExc_ValueError, "mlp_build: bit-plane layers are exactly layer 0 of bit-plane input");
            goto fail;
        }
        if (i > 0 && k != h->layers[i - 1].n) {
            PyErr_Format(PyExc_ValueError, "mlp_build: layer %d has K=%d but layer %d has N=%d", i, k, i - 1,
                         h->layers[i - 1].n);
            goto fail;
        }
        if (i + 1 < nl) {
            if (get_buf(&bs, PyTuple_GET_ITEM(slist, i), "s", 1, n, 0, 0, &p) < 0)
                goto fail;
            h->s[i] = (const int8_t *)p;
            if (get_buf(&bs, PyTuple_GET_ITEM(tlist, i), "t", 4, n, 0, 0, &p) < 0)
                goto fail;
            h->t[i] = (const int32_t *)p;
            keep_views(h, &bs);
        }
    }
    if (get_buf(&bs, scale, "scale", 8, h->layers[nl - 1].n, 0, 0, &p) < 0)
        goto fail;
    h->net.scale = (const int64_t *)p;
    if (get_buf(&bs, offset, "offset", 8, h->layers[nl - 1].n, 0, 0, &p) < 0)
        goto fail;
    h->net.offset = (const int64_t *)p;
    keep_views(h, &bs);
    h->net.in_kind = in_kind;
    h->net.thr_f32 = thr;
    h->net.thr_u8 = thr_u8;
    h->net.n_layers = nl;
    h->net.layers = h->layers;
    h->net.s = h->s;
    h->net.t = h->t;
    Py_INCREF(args);
    h->keep = args;
    cap = PyCapsule_New(h, "lowprec.native.mlp", mlp_free);
    if (!cap) {
        Py_DECREF(args);
        h->keep = NULL;
        goto fail;
    }
    return cap;
fail:
    bufs_release(&bs);
    for (i = 0; i < h->nviews; ++i)
        PyBuffer_Release(&h->views[i]);
    PyMem_Free(h);
    return NULL;
}

static PyObject *py_mlp_run(PyObject *self, PyObject *args)
{
    PyObject *cap, *x, *xp, *ys, *hs, *scores, *label;
    int b, path, threads, i, status;
    long long min_work;
    mlp_handle *h;
    bufset bs;
    void *p, *px;
    int32_t *yptr[MLP_MAX_LAYERS];
    uint64_t *hptr[MLP_MAX_LAYERS];
    lp_mlp_out out;
    lp_exec ex;
    int32_t nl, k0, c;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "OOiOOOOOiiL", &cap, &x, &b, &xp, &ys, &hs, &scores, &label, &path, &threads,
                          &min_work))
        return NULL;
    h = (mlp_handle *)PyCapsule_GetPointer(cap, "lowprec.native.mlp");
    if (!h)
        return NULL;
    if (b < 0) {
        PyErr_Format(PyExc_ValueError, "mlp_run: batch must be >= 0, got %d", b);
        return NULL;
    }
    if (check_exec(path, threads, &ex, min_work) < 0)
        return NULL;
    nl = h->net.n_layers;
    k0 = h->layers[0].k;
    c = h->layers[nl - 1].n;
    memset(&out, 0, sizeof out);
    if (get_buf(&bs, x, "x", h->net.in_kind == LP_IN_F32 ? 4 : 1, (Py_ssize_t)b * k0, 0, 0, &px) < 0)
        goto fail;
    if (h->net.in_kind == LP_IN_PLANES && xp != Py_None) {
        PyErr_SetString(PyExc_ValueError, "mlp_run: a bit-plane model has no packed input output");
        goto fail;
    }
    if (get_buf(&bs, xp, "xp", 8, (Py_ssize_t)b * words(k0), 1, 1, &p) < 0)
        goto fail;
    out.xp = (uint64_t *)p;
    if (ys != Py_None) {
        if (!PyTuple_Check(ys) || PyTuple_GET_SIZE(ys) != nl) {
            PyErr_Format(PyExc_TypeError, "mlp_run: ys must be a tuple of %d arrays or None", nl);
            goto fail;
        }
        for (i = 0; i < nl; ++i) {
            if (get_buf(&bs, PyTuple_GET_ITEM(ys, i), "y", 4, (Py_ssize_t)b * h->layers[i].n, 1, 1, &p) < 0)
                goto fail;
            yptr[i] = (int32_t *)p;
        }
        out.y = yptr;
    }
    if (hs != Py_None) {
        if (!PyTuple_Check(hs) || PyTuple_GET_SIZE(hs) != nl - 1) {
            PyErr_Format(PyExc_TypeError, "mlp_run: hs must be a tuple of %d arrays or None", nl - 1);
            goto fail;
        }
        for (i = 0; i + 1 < nl; ++i) {
            if (get_buf(&bs, PyTuple_GET_ITEM(hs, i), "h", 8, (Py_ssize_t)b * words(h->layers[i].n), 1, 1, &p) < 0)
                goto fail;
            hptr[i] = (uint64_t *)p;
        }
        out.h = hptr;
    }
    if (get_buf(&bs, scores, "scores", 8, (Py_ssize_t)b * c, 1, 1, &p) < 0)
        goto fail;
    out.scores = (int64_t *)p;
    if (get_buf(&bs, label, "label", 8, b, 1, 1, &p) < 0)
        goto fail;
    out.label = (int64_t *)p;
    Py_BEGIN_ALLOW_THREADS
    status = lpn_mlp_run(&h->net, px, b, &out, &ex);
    Py_END_ALLOW_THREADS
    bufs_release(&bs);
    if (status != LP_OK)
        return status_error(status);
    Py_RETURN_NONE;
fail:
    bufs_release(&bs);
    return NULL;
}

static PyObject *py_popcount_probe(PyObject *self, PyObject *args)
{
    PyObject *a, *b;
    int nw;
    long long reps;
    bufset bs;
    void *pa, *pb;
    unsigned long long total;
    (void)self;
    bs.n = 0;
    if (!PyArg_ParseTuple(args, "OOiL", &a, &b, &nw, &reps))
        return NULL;
    if (nw < 4 || nw % 4 || reps < 1) {
        PyErr_Format(PyExc_ValueError, "popcount_probe: nw must be a positive multiple of 4 and reps >= 1");
        return NULL;
    }
    if (get_buf(&bs, a, "a", 8, nw, 0, 0, &pa) < 0 || get_buf(&bs, b, "b", 8, nw, 0, 0, &pb) < 0) {
        bufs_release(&bs);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    total = (unsigned long long)lpn_popcount_probe((const uint64_t *)pa, (const uint64_t *)pb, nw, (int64_t)reps);
    Py_END_ALLOW_THREADS
    bufs_release(&bs);
    return PyLong_FromUnsignedLongLong(total);
}

static PyMethodDef methods[] = {
    {"popcount_probe", py_popcount_probe, METH_VARARGS,
     "popcount_probe(a, b, nw, reps) -> sum of popcount(a ^ b) over reps passes (scalar popcount bound)"},
    {"paths", py_paths, METH_NOARGS, "paths() -> names of the code paths this CPU runs, slowest first"},
    {"best_path", py_best_path, METH_NOARGS, "best_path() -> the path chosen automatically"},
    {"layer", py_layer, METH_VARARGS,
     "layer(kind, K, N, B, x, pops, w, m, nnz, y, act, bits, s, t, table, thr, seeds, stream, path, threads, "
     "min_work)"},
    {"pack", py_pack, METH_VARARGS, "pack(kind, K, B, x, thr_f32, thr_u8, out)"},
    {"planes", py_planes, METH_VARARGS, "planes(K, B, x, planes_out, pops_out)"},
    {"conv_rows", py_conv_rows, METH_VARARGS, "conv_rows(B, H, W, C, k, pad_bit, xp, rows_out)"},
    {"pool_fields", py_pool_fields, METH_VARARGS, "pool_fields(B, H, W, N, y, s, t, m_out, bits_out)"},
    {"affine_argmax", py_affine_argmax, METH_VARARGS, "affine_argmax(B, C, y, scale, offset, scores, label)"},
    {"lookup", py_lookup, METH_VARARGS, "lookup(count, K, y, table, out[, units]): units > 0 = one table row per unit"},
    {"mlp_build", py_mlp_build, METH_VARARGS, "mlp_build(in_kind, thr_f32, thr_u8, layers, s, t, scale, offset)"},
    {"mlp_run", py_mlp_run, METH_VARARGS, "mlp_run(handle, x, B, xp, ys, hs, scores, label, path, threads, min_work)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lpnative",
                                    "Native XNOR-popcount kernels of lowprec-rbm (see targets/native).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__lpnative(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddIntConstant(m, "ABI", LP_NATIVE_ABI) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
