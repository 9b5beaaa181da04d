/* Small-batch fp32 matrix products for decoding: y = init + x @ W_t with x (B, K), W_t (K, N) input-major.
 *
 * Why: decoding one token multiplies 1-16 rows by every weight matrix once, so the time is the time to stream
 * the weights from DRAM. The BLAS one-row product runs on one thread and reaches ~16 GB/s on the small
 * per-layer matrices; two threads streaming halves of the matrix reach the machine's ~25 GB/s.
 *
 * How: the K rows are split in two halves; the calling thread streams the first half into y, a persistent
 * worker thread streams the second half into a scratch buffer, and the calling thread adds the scratch to y.
 * Each thread walks its rows over column tiles sized so the B x tile accumulators stay in L1; four weight
 * rows are consumed per pass over the accumulators. The worker spins (pause) for ~2 ms after a job, then
 * sleeps on a condition variable, so back-to-back calls of one decode step do not pay a wake-up.
 * The GIL is released during the product.
 *
 * Python API: gemv(x_ptr, w_ptr, y_ptr, B, K, N, ldw, init_ptr) -> None, pointers as ints (tensor.data_ptr()),
 * x and y contiguous, ldw the row stride of W_t in floats (>= N), init_ptr 0 (y = x @ W_t) or a (B, N)
 * contiguous buffer (y = init + x @ W_t; init may be y itself). The caller checks dtypes and shapes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#define CPU_PAUSE() _mm_pause()
#else
#define HAVE_X86 0
#define CPU_PAUSE() ((void)0)
#endif

#define MAX_ROWS 16
#define TILE_FLOATS 8192 /* B * tile floats of accumulators: 32 KB */

typedef struct {
    const float *x;
    Py_ssize_t ldx;
    const float *w;
    Py_ssize_t ldw;
    Py_ssize_t k0, k1;
    float *out;
    Py_ssize_t ldo;
    const float *init; /* NULL: start from zero */
    Py_ssize_t ldi;
    int rows;
    Py_ssize_t n;
} Job;

typedef void (*KernelFn)(const Job *job);

static Py_ssize_t tile_for(int rows, Py_ssize_t n) {
    Py_ssize_t tile = TILE_FLOATS / rows;
    tile = tile >= 1024 ? 1024 : (tile / 16) * 16;
    if (tile < 16) tile = 16;
    return n < tile ? n : tile;
}

/* Each output row's tile starts from `init` (copied unless it is the output itself) or from zero. */
static inline __attribute__((always_inline)) void start_tile(const Job *job, Py_ssize_t c0, Py_ssize_t width) {
    for (int b = 0; b < job->rows; b++) {
        float *acc = job->out + b * job->ldo + c0;
        if (job->init == NULL) memset(acc, 0, (size_t)width * sizeof(float));
        else if (job->init + b * job->ldi != job->out + b * job->ldo)
            memcpy(acc, job->init + b * job->ldi + c0, (size_t)width * sizeof(float));
    }
}

/* ---------------------------------------------------------------------------------------------- plain C */
static inline __attribute__((always_inline)) void kernel_body(const Job *job) {
    const int rows = job->rows;
    const Py_ssize_t n = job->n, tile = tile_for(rows, n);
    for (Py_ssize_t c0 = 0; c0 < n; c0 += tile) {
        const Py_ssize_t width = n - c0 < tile ? n - c0 : tile;
        start_tile(job, c0, width);
        Py_ssize_t k = job->k0;
        for (; k + 4 <= job->k1; k += 4) {
            const float *w0 = job->w + k * job->ldw + c0, *w1 = w0 + job->ldw, *w2 = w1 + job->ldw,
                        *w3 = w2 + job->ldw;
            for (int b = 0; b < rows; b++) {
                const float *xb = job->x + b * job->ldx + k;
                const float a0 = xb[0], a1 = xb[1], a2 = xb[2], a3 = xb[3];
                float *acc = job->out + b * job->ldo + c0;
                for (Py_ssize_t c = 0; c < width; c++)
                    acc[c] += a0 * w0[c] + a1 * w1[c] + a2 * w2[c] + a3 * w3[c];
            }
        }
        for (; k < job->k1; k++) {
            const float *w0 = job->w + k * job->ldw + c0;
            for (int b = 0; b < rows; b++) {
                const float a0 = job->x[b * job->ldx + k];
                float *acc = job->out + b * job->ldo + c0;
                for (Py_ssize_t c = 0; c < width; c++) acc[c] += a0 * w0[c];
            }
        }
    }
}

static void kernel_generic(const Job *job) { kernel_body(job); }

#if HAVE_X86
__attribute__((target("avx2,fma"))) static void kernel_avx2(const Job *job) { kernel_body(job); }

/* AVX-512: 16 columns per register, masked tail. */
__attribute__((target("avx512f"))) static void kernel_avx512(const Job *job) {
    const int rows = job->rows;
    const Py_ssize_t n = job->n, tile = tile_for(rows, n), ldw = job->ldw;
    for (Py_ssize_t c0 = 0; c0 < n; c0 += tile) {
        const Py_ssize_t width = n - c0 < tile ? n - c0 : tile;
        start_tile(job, c0, width);
        const Py_ssize_t full = width & ~(Py_ssize_t)15;
        const __mmask16 tail = (__mmask16)((1u << (width - full)) - 1u);
        Py_ssize_t k = job->k0;
        for (; k + 4 <= job->k1; k += 4) {
            const float *w0 = job->w + k * ldw + c0;
            for (Py_ssize_t c = 0; c < full; c += 16) {
                const __m512 v0 = _mm512_loadu_ps(w0 + c), v1 = _mm512_loadu_ps(w0 + ldw + c),
                             v2 = _mm512_loadu_ps(w0 + 2 * ldw + c), v3 = _mm512_loadu_ps(w0 + 3 * ldw + c);
                for (int b = 0; b < rows; b++) {
                    const float *xb = job->x + b * job->ldx + k;
                    float *acc = job->out + b * job->ldo + c0 + c;
                    __m512 a = _mm512_loadu_ps(acc);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[0]), v0, a);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[1]), v1, a);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[2]), v2, a);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[3]), v3, a);
                    _mm512_storeu_ps(acc, a);
                }
            }
            if (tail) {
                const Py_ssize_t c = full;
                const __m512 v0 = _mm512_maskz_loadu_ps(tail, w0 + c),
                             v1 = _mm512_maskz_loadu_ps(tail, w0 + ldw + c),
                             v2 = _mm512_maskz_loadu_ps(tail, w0 + 2 * ldw + c),
                             v3 = _mm512_maskz_loadu_ps(tail, w0 + 3 * ldw + c);
                for (int b = 0; b < rows; b++) {
                    const float *xb = job->x + b * job->ldx + k;
                    float *acc = job->out + b * job->ldo + c0 + c;
                    __m512 a = _mm512_maskz_loadu_ps(tail, acc);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[0]), v0, a);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[1]), v1, a);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[2]), v2, a);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(xb[3]), v3, a);
                    _mm512_mask_storeu_ps(acc, tail, a);
                }
            }
        }
        for (; k < job->k1; k++) {
            const float *w0 = job->w + k * ldw + c0;
            for (Py_ssize_t c = 0; c < width; c += 16) {
                const __mmask16 m = width - c >= 16 ? (__mmask16)0xFFFF : tail;
                const __m512 v0 = _mm512_maskz_loadu_ps(m, w0 + c);
                for (int b = 0; b < rows; b++) {
                    float *acc = job->out + b * job->ldo + c0 + c;
                    __m512 a = _mm512_maskz_loadu_ps(m, acc);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(job->x[b * job->ldx + k]), v0, a);
                    _mm512_mask_storeu_ps(acc, m, a);
                }
            }
        }
    }
}
#endif

static KernelFn kernel = kernel_generic;
static const char *kernel_name = "generic";

/* ----------------------------------------------------------------------------------------- the worker */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER; /* one caller at a time uses the worker */
static atomic_ulong job_seq = 0, done_seq = 0;
static atomic_int worker_sleeping = 0;
static int worker_started = 0;
static Job worker_job;
static float *scratch = NULL;
static size_t scratch_floats = 0;
static long spin_ns = 2000000; /* spin this long after a job before sleeping */

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

static void *worker_main(void *unused) {
    (void)unused;
    /* done_seq, not job_seq: the first job may be posted before this thread runs */
    unsigned long seen = atomic_load(&done_seq);
    for (;;) {
        long start = now_ns();
        unsigned spins = 0;
        while (atomic_load_explicit(&job_seq, memory_order_acquire) == seen) {
            CPU_PAUSE();
            if ((++spins & 1023u) == 0 && now_ns() - start > spin_ns) {
                pthread_mutex_lock(&sleep_lock);
                atomic_store(&worker_sleeping, 1);
                while (atomic_load(&job_seq) == seen) pthread_cond_wait(&sleep_cond, &sleep_lock);
                atomic_store(&worker_sleeping, 0);
                pthread_mutex_unlock(&sleep_lock);
                break;
            }
        }
        seen = atomic_load_explicit(&job_seq, memory_order_acquire);
        kernel(&worker_job);
        atomic_store_explicit(&done_seq, seen, memory_order_release);
    }
    return NULL;
}

static void after_fork_in_child(void) {
    /* the worker thread does not exist in a forked child: start a new one on first use */
    worker_started = 0;
    pthread_mutex_init(&sleep_lock, NULL);
    pthread_cond_init(&sleep_cond, NULL);
    pthread_mutex_init(&call_lock, NULL);
    atomic_store(&worker_sleeping, 0);
    atomic_store(&done_seq, atomic_load(&job_seq));
}

static int ensure_worker(void) {
    if (worker_started) return 1;
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int ok = pthread_create(&thread, &attr, worker_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    worker_started = ok;
    return ok;
}

/* Below this many weight floats one thread is faster than handing half to the worker. */
#define SPLIT_MIN_FLOATS 32768

static void run(const Job *whole) {
    const Py_ssize_t rows_k = whole->k1 - whole->k0;
    const size_t need = (size_t)whole->rows * (size_t)whole->n;
    if (rows_k < 8 || rows_k * whole->n < SPLIT_MIN_FLOATS || pthread_mutex_trylock(&call_lock) != 0) {
        kernel(whole);
        return;
    }
    if (!ensure_worker()) {
        pthread_mutex_unlock(&call_lock);
        kernel(whole);
        return;
    }
    if (need > scratch_floats) {
        float *grown = (float *)aligned_alloc(64, ((need * sizeof(float) + 63) / 64) * 64);
        if (grown == NULL) {
            pthread_mutex_unlock(&call_lock);
            kernel(whole);
            return;
        }
        free(scratch);
        scratch = grown;
        scratch_floats = need;
    }
    /* split at a multiple of 4 rows so both halves use the 4-row passes */
    const Py_ssize_t middle = whole->k0 + ((rows_k / 2) & ~(Py_ssize_t)3);
    Job mine = *whole;
    mine.k1 = middle;
    worker_job = *whole;
    worker_job.k0 = middle;
    worker_job.out = scratch;
    worker_job.ldo = whole->n;
    worker_job.init = NULL;
    const unsigned long seq = atomic_fetch_add(&job_seq, 1) + 1; /* seq_cst: pairs with worker_sleeping */
    if (atomic_load(&worker_sleeping)) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_signal(&sleep_cond);
        pthread_mutex_unlock(&sleep_lock);
    }
    kernel(&mine);
    while (atomic_load_explicit(&done_seq, memory_order_acquire) != seq) CPU_PAUSE();
    for (int b = 0; b < whole->rows; b++) {
        float *y = whole->out + b * whole->ldo;
        const float *s = scratch + b * whole->n;
        for (Py_ssize_t c = 0; c < whole->n; c++) y[c] += s[c];
    }
    pthread_mutex_unlock(&call_lock);
}

/* ----------------------------------------------------------------------------------------- Python */
static PyObject *py_gemv(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "gemv(x_ptr, w_ptr, y_ptr, B, K, N, ldw, init_ptr) takes 8 arguments");
        return NULL;
    }
    void *x = PyLong_AsVoidPtr(args[0]), *w = PyLong_AsVoidPtr(args[1]), *y = PyLong_AsVoidPtr(args[2]);
    Py_ssize_t rows = PyLong_AsSsize_t(args[3]), k = PyLong_AsSsize_t(args[4]), n = PyLong_AsSsize_t(args[5]),
               ldw = PyLong_AsSsize_t(args[6]);
    void *init = PyLong_AsVoidPtr(args[7]);
    if (PyErr_Occurred()) return NULL;
    if (rows < 1 || rows > MAX_ROWS || k < 0 || n < 0 || ldw < n || x == NULL || w == NULL || y == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "gemv: expected 1 <= B <= %d, K >= 0, ldw >= N >= 0 and non-null pointers, got B=%zd K=%zd "
                     "N=%zd ldw=%zd",
                     MAX_ROWS, rows, k, n, ldw);
        return NULL;
    }
    if (n == 0) Py_RETURN_NONE;
    Job job = {(const float *)x, k, (const float *)w, ldw, 0, k, (float *)y, n, (const float *)init, n,
               (int)rows, n};
    Py_BEGIN_ALLOW_THREADS
    run(&job);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_kernel_name(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(kernel_name);
}

static PyObject *py_set_spin_us(PyObject *self, PyObject *arg) {
    (void)self;
    long us = PyLong_AsLong(arg);
    if (us == -1 && PyErr_Occurred()) return NULL;
    spin_ns = us < 0 ? 0 : us * 1000L;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"gemv", (PyCFunction)(void (*)(void))py_gemv, METH_FASTCALL,
     "gemv(x_ptr, w_ptr, y_ptr, B, K, N, ldw, init_ptr): y = init + x @ W_t in fp32 (see the module source)."},
    {"kernel_name", py_kernel_name, METH_NOARGS, "The instruction set the kernel was chosen for."},
    {"set_spin_us", py_set_spin_us, METH_O, "How long the worker spins after a job before sleeping."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gemv", "Small-batch fp32 products for decoding.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__gemv(void) {
#if HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        kernel = kernel_avx512;
        kernel_name = "avx512f";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        kernel = kernel_avx2;
        kernel_name = "avx2";
    }
#endif
    pthread_atfork(NULL, NULL, after_fork_in_child);
    return PyModule_Create(&module);
}
