/* Counter-based dropout for CPU training: out[i] = keep(seed, i) ? x[i] * scale : 0.
 *
 * Why: torch's CPU dropout fills a Bernoulli mask with a sequential Mersenne-Twister on one thread
 * (`aten::bernoulli_`), about a fifth of a MiniLM training step here. A counter-based generator
 * (the splitmix64 output function applied to seed + i * golden gamma: the splitmix64 stream itself)
 * decides element i from (seed, i) alone, so
 *   - the loop vectorises and splits over threads with no shared state;
 *   - backward regenerates the same mask from the seed: no mask tensor is stored;
 *   - the same seed gives the same mask whatever the thread count.
 * Each 64-bit hash gives two 32-bit uniforms, used for elements 2k and 2k+1.
 *
 * Python API (pointers are tensor.data_ptr() of contiguous float32 tensors):
 *   apply(src_ptr, dst_ptr, n, threshold, scale, seed)  dst may equal src (in place)
 *   mask(dst_ptr, n, threshold, scale, seed)             dst[i] = keep ? scale : 0 (tests, reference)
 * `threshold` = round(p * 2**32): element i is dropped when its uniform u32 < threshold.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>

#define GAMMA 0x9E3779B97F4A7C15ULL
#define PARALLEL_MIN (1 << 17) /* below this, a second thread costs more than it saves */

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct {
    const float *src; /* NULL: write the mask itself */
    float *dst;
    int64_t begin, end; /* even begin, so pairs never straddle two workers */
    uint64_t threshold, seed;
    float scale;
} job_t;

/* One build runs everywhere: the loader picks the widest vector ISA this CPU has (glibc ifunc). */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void run_job(const job_t *j) {
    const float *src = j->src;
    float *dst = j->dst;
    const uint64_t thr = j->threshold, seed = j->seed;
    const float scale = j->scale;
    int64_t i = j->begin;
    const int64_t pairs_end = j->begin + ((j->end - j->begin) & ~(int64_t)1);
    if (src) {
        for (; i < pairs_end; i += 2) {
            uint64_t h = mix64(seed + (uint64_t)(i >> 1) * GAMMA);
            float k0 = (h & 0xFFFFFFFFULL) >= thr ? scale : 0.0f;
            float k1 = (h >> 32) >= thr ? scale : 0.0f;
            dst[i] = src[i] * k0;
            dst[i + 1] = src[i + 1] * k1;
        }
        if (i < j->end) {
            uint64_t h = mix64(seed + (uint64_t)(i >> 1) * GAMMA);
            dst[i] = src[i] * ((h & 0xFFFFFFFFULL) >= thr ? scale : 0.0f);
        }
    } else {
        for (; i < pairs_end; i += 2) {
            uint64_t h = mix64(seed + (uint64_t)(i >> 1) * GAMMA);
            dst[i] = (h & 0xFFFFFFFFULL) >= thr ? scale : 0.0f;
            dst[i + 1] = (h >> 32) >= thr ? scale : 0.0f;
        }
        if (i < j->end) {
            uint64_t h = mix64(seed + (uint64_t)(i >> 1) * GAMMA);
            dst[i] = (h & 0xFFFFFFFFULL) >= thr ? scale : 0.0f;
        }
    }
}

static void *thread_main(void *arg) {
    run_job((const job_t *)arg);
    return NULL;
}

static int max_threads = 2;

static void run(const float *src, float *dst, int64_t n, uint64_t thr, float scale, uint64_t seed) {
    job_t jobs[2] = {{src, dst, 0, n, thr, seed, scale}, {src, dst, n, n, thr, seed, scale}};
    pthread_t worker;
    int spawned = 0;
    if (max_threads > 1 && n >= PARALLEL_MIN) {
        int64_t half = (n / 2) & ~(int64_t)1;
        jobs[0].end = half;
        jobs[1].begin = half;
        spawned = pthread_create(&worker, NULL, thread_main, &jobs[1]) == 0;
        if (!spawned) jobs[0].end = n;
    }
    run_job(&jobs[0]);
    if (spawned) pthread_join(worker, NULL);
}

static int parse_common(PyObject *const *args, int64_t *n, uint64_t *thr, float *scale, uint64_t *seed) {
    *n = PyLong_AsLongLong(args[0]);
    *thr = PyLong_AsUnsignedLongLong(args[1]);
    *scale = (float)PyFloat_AsDouble(args[2]);
    *seed = PyLong_AsUnsignedLongLongMask(args[3]);
    if (PyErr_Occurred()) return -1;
    if (*n < 0 || *thr > 0x100000000ULL) {
        PyErr_SetString(PyExc_ValueError, "_dropout: n must be >= 0 and threshold <= 2**32");
        return -1;
    }
    return 0;
}

static PyObject *py_apply(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "apply(src_ptr, dst_ptr, n, threshold, scale, seed)");
        return NULL;
    }
    const float *src = (const float *)PyLong_AsVoidPtr(args[0]);
    float *dst = (float *)PyLong_AsVoidPtr(args[1]);
    int64_t n;
    uint64_t thr, seed;
    float scale;
    if (PyErr_Occurred() || parse_common(args + 2, &n, &thr, &scale, &seed)) return NULL;
    Py_BEGIN_ALLOW_THREADS run(src, dst, n, thr, scale, seed);
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject *py_mask(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "mask(dst_ptr, n, threshold, scale, seed)");
        return NULL;
    }
    float *dst = (float *)PyLong_AsVoidPtr(args[0]);
    int64_t n;
    uint64_t thr, seed;
    float scale;
    if (PyErr_Occurred() || parse_common(args + 1, &n, &thr, &scale, &seed)) return NULL;
    Py_BEGIN_ALLOW_THREADS run(NULL, dst, n, thr, scale, seed);
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject *py_set_max_threads(PyObject *self, PyObject *arg) {
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    max_threads = v < 1 ? 1 : (v > 2 ? 2 : (int)v);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"apply", (PyCFunction)(void (*)(void))py_apply, METH_FASTCALL,
     "apply(src_ptr, dst_ptr, n, threshold, scale, seed): dst = src * keep-mask * scale."},
    {"mask", (PyCFunction)(void (*)(void))py_mask, METH_FASTCALL,
     "mask(dst_ptr, n, threshold, scale, seed): dst = keep-mask * scale."},
    {"set_max_threads", py_set_max_threads, METH_O, "set_max_threads(1 or 2)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dropout",
                                    "Counter-based CPU dropout (see snuggle/models/fast_dropout.py).", -1, methods};

PyMODINIT_FUNC PyInit__dropout(void) { return PyModule_Create(&module); }
