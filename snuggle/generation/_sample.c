/* torch.multinomial(probs, 1) on CPU, bit for bit, without drawing what cannot win.
 *
 * torch draws one sample per row as argmax(p / q), q = Exp(1) for EVERY element: with d1, d2 two consecutive
 * mt19937 outputs, u = ((d1 << 32 | d2) & (2^53 - 1)) * 2^-53 and q = (float)(-log1p(-u)); then p / q in
 * float32 and the first maximum. Elements with p == 0 (everything top-k / top-p filtered out) can never win,
 * but they consume their two draws. This kernel advances the same mt19937 stream over all elements (cheap) and
 * computes the logarithm and the ratio only where p > 0: same token, same generator state afterwards.
 *
 * Python API: sample(probs_ptr, rows, cols, key_bytes(624 x uint32, writable buffer), pos) -> (tokens list, pos)
 *   or None (invalid input, or more than a quarter of the entries nonzero: torch's own loop is as fast then).
 *   `key` is the mt19937 state (updated in place), `pos` the next index into it (624: twist first).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#include "../models/_argmax.h"

#define N 624
#define M 397

#define MIX(a, b, c) ((c) ^ ((((a) & 0x80000000U) | ((b) & 0x7fffffffU)) >> 1) ^ (-((b) & 1U) & 0x9908b0dfU))

/* The mt19937 state transition, in the three index ranges that need no modulo (vectorises). */
static void twist(uint32_t *mt) {
    int i = 0;
    for (; i < N - M; i++) mt[i] = MIX(mt[i], mt[i + 1], mt[i + M]);
    for (; i < N - 1; i++) mt[i] = MIX(mt[i], mt[i + 1], mt[i + M - N]);
    mt[N - 1] = MIX(mt[N - 1], mt[0], mt[M - 1]);
}

static inline uint32_t temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

/* One element of torch's argmax(p / q): q from the element's two raw (untempered) mt19937 words. */
static inline void consider(float pc, Py_ssize_t c, uint32_t w1, uint32_t w2, float *best, int64_t *arg, int *have) {
    uint64_t bits = (((uint64_t)temper(w1) << 32) | temper(w2)) & ((1ULL << 53) - 1);
    float q = (float)(-log1p(-(double)bits * 0x1p-53));
    float ratio = pc / q;
    if (!*have || ratio > *best || (isnan(ratio) && !isnan(*best))) {
        *best = ratio;
        *arg = c;
        *have = 1;
    }
}

static PyObject *py_sample(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "sample(probs_ptr, rows, cols, key, pos)");
        return NULL;
    }
    const float *probs = (const float *)PyLong_AsVoidPtr(args[0]);
    Py_ssize_t rows = PyLong_AsSsize_t(args[1]), cols = PyLong_AsSsize_t(args[2]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred()) return NULL;
    Py_buffer key;
    if (PyObject_GetBuffer(args[3], &key, PyBUF_WRITABLE) < 0) return NULL;
    if (key.len != N * 4 || pos < 0 || pos > N || rows < 0 || cols <= 0) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "sample: key must be 624 uint32, 0 <= pos <= 624, cols > 0");
        return NULL;
    }
    /* torch's checks (it raises on negative, inf or nan entries and on all-zero rows) and the density test:
     * on any of them return None and leave the state alone, so the caller runs torch.multinomial itself. */
    Py_ssize_t nonzero = 0;
    int invalid = 0;
    for (Py_ssize_t r = 0; r < rows && !invalid; r++) {
        const float *row = probs + r * cols;
        Py_ssize_t row_nonzero = 0;
        for (Py_ssize_t c = 0; c < cols; c++) {
            float v = row[c];
            invalid |= !(v >= 0.0f) | (v == INFINITY);
            row_nonzero += v != 0.0f;
        }
        invalid |= row_nonzero == 0;
        nonzero += row_nonzero;
    }
    if (invalid || nonzero * 4 > rows * cols) {
        PyBuffer_Release(&key);
        Py_RETURN_NONE;
    }
    uint32_t *mt = (uint32_t *)key.buf;
    PyObject *tokens = PyList_New(rows);
    if (!tokens) {
        PyBuffer_Release(&key);
        return NULL;
    }
    int64_t *best_index = PyMem_Malloc(sizeof(int64_t) * (rows ? rows : 1));
    if (!best_index) {
        Py_DECREF(tokens);
        PyBuffer_Release(&key);
        return PyErr_NoMemory();
    }
    int p = (int)pos;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const float *row = probs + r * cols;
        float best = -INFINITY;
        int64_t arg = 0;
        int have = 0;
        for (Py_ssize_t c = 0; c < cols; c++) {
            float pc = row[c];
            if (p >= N - 1) { /* the two draws may straddle a twist: take them one by one */
                if (p == N) { twist(mt); p = 0; }
                uint32_t d1 = mt[p++];
                if (p == N) { twist(mt); p = 0; }
                if (pc != 0.0f) consider(pc, c, d1, mt[p], &best, &arg, &have);
                p++;
                continue;
            }
            if (pc != 0.0f) consider(pc, c, mt[p], mt[p + 1], &best, &arg, &have);
            p += 2;
        }
        best_index[r] = arg;
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&key);
    for (Py_ssize_t r = 0; r < rows; r++) {
        PyObject *v = PyLong_FromLongLong(best_index[r]);
        if (!v) {
            PyMem_Free(best_index);
            Py_DECREF(tokens);
            return NULL;
        }
        PyList_SET_ITEM(tokens, r, v);
    }
    PyMem_Free(best_index);
    return Py_BuildValue("(Ni)", tokens, p);
}

/* argmax_into(scores_ptr, cols, out_ptr) -> int: torch.argmax of `cols` contiguous floats (the first largest,
 * or the first NaN if there is one), also stored as an int64 at out_ptr unless it is 0. For generate's greedy
 * step right after a decode step: torch's argmax and index_put run cold there (~150 us together on SmolLM2, their
 * code evicted by the weight stream); this is a few cache lines of code. */
static PyObject *py_argmax_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "argmax_into(scores_ptr, cols, out_ptr)");
        return NULL;
    }
    const float *x = PyLong_AsVoidPtr(args[0]);
    const Py_ssize_t cols = PyLong_AsSsize_t(args[1]);
    int64_t *out = PyLong_AsVoidPtr(args[2]);
    if (PyErr_Occurred()) return NULL;
    if (x == NULL || cols < 1) {
        PyErr_SetString(PyExc_ValueError, "argmax_into: expected a non-null pointer and cols >= 1");
        return NULL;
    }
    const Py_ssize_t index = argmax_first(x, cols);
    if (out != NULL) *out = (int64_t)index;
    return PyLong_FromSsize_t(index);
}

/* fill_ids(scores_ptr, rows, cols, row_stride, ids_ptr, count, value): scores[r, ids[k]] = value for every row
 * r and every int64 id (each checked to lie in [0, cols)); scores rows are row_stride floats apart. */
static PyObject *py_fill_ids(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "fill_ids(scores_ptr, rows, cols, row_stride, ids_ptr, count, value)");
        return NULL;
    }
    float *x = PyLong_AsVoidPtr(args[0]);
    const Py_ssize_t rows = PyLong_AsSsize_t(args[1]), cols = PyLong_AsSsize_t(args[2]),
                     stride = PyLong_AsSsize_t(args[3]);
    const int64_t *ids = PyLong_AsVoidPtr(args[4]);
    const Py_ssize_t count = PyLong_AsSsize_t(args[5]);
    const float value = (float)PyFloat_AsDouble(args[6]);
    if (PyErr_Occurred()) return NULL;
    if (x == NULL || rows < 0 || cols < 0 || stride < cols || count < 0 || (count > 0 && ids == NULL)) {
        PyErr_SetString(PyExc_ValueError, "fill_ids: expected non-null pointers, rows, cols, count >= 0, row_stride >= cols");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < count; k++)
        if (ids[k] < 0 || ids[k] >= cols) {
            PyErr_Format(PyExc_IndexError, "fill_ids: token id %lld is outside the vocabulary [0, %zd)",
                         (long long)ids[k], cols);
            return NULL;
        }
    for (Py_ssize_t r = 0; r < rows; r++)
        for (Py_ssize_t k = 0; k < count; k++) x[r * stride + ids[k]] = value;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"sample", (PyCFunction)(void (*)(void))py_sample, METH_FASTCALL,
     "sample(probs_ptr, rows, cols, key, pos) -> (tokens, pos): torch.multinomial(probs, 1) on the given mt19937 state."},
    {"argmax_into", (PyCFunction)(void (*)(void))py_argmax_into, METH_FASTCALL,
     "argmax_into(scores_ptr, cols, out_ptr) -> int: torch.argmax of one row, also stored at out_ptr (see source)."},
    {"fill_ids", (PyCFunction)(void (*)(void))py_fill_ids, METH_FASTCALL,
     "fill_ids(scores_ptr, rows, cols, row_stride, ids_ptr, count, value): scores[:, ids] = value (see source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sample",
                                    "Exact CPU multinomial sampling (see snuggle/generation/fast_sampling.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__sample(void) { return PyModule_Create(&module); }
