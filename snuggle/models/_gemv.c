/* Decode-time fp32 kernels for small models on the CPU: the `snuggle.models._gemv` extension (optional).
 *
 * Why: decoding one token multiplies 1-16 rows by every weight matrix once, so a step costs the time to
 * stream the weights from DRAM plus, in torch, ~25 small ops per layer of dispatch. Here one C call runs a
 * whole decoder layer (_decode_layer.c) and the products stream the weights on two threads with register
 * blocking across the rows (_decode_kernels.c).
 *
 * Threads: a persistent worker thread joins the calling thread for each call (the caller is thread 0).
 * Between the phases of a layer both meet at a spin barrier. After a call the worker spins (pause) for
 * ~2 ms waiting for the next one, then sleeps on a condition variable, so the calls of one decode step do
 * not pay a wake-up. The GIL is released during a call. Use it while torch itself runs one thread (torch's
 * spinning OpenMP threads would compete for the same two cores): generate's decode loop arranges that.
 *
 * Python API (pointers as ints, tensor.data_ptr(); the caller checks dtypes, shapes and lifetimes):
 *   gemv(x, w, y, B, K, N, ldw, init[, packed])
 *                                         y = init + x @ W_t, x (B, K) contiguous, W_t (K, N) rows ldw apart
 *                                         (packed: in panels ldw apart, see Gemm in _decode.h), y (B, N)
 *                                         contiguous, init 0 or a (B, N) contiguous buffer (may be y)
 *   pack_panels(src, s0, s1, K, N, dst)   copy a weight into the packed layout (see Gemm in _decode.h)
 *   layer_plan(...)                       the constant part of one decoder layer (weights, sizes) as a capsule
 *   decoder_layers(plans, ...)            run a step's layers (one or all) in one call, optionally then the final
 *                                         norm and the LM head (see py_decoder_layers)
 *   copy_row(src, stride, n, dst)         n floats stride apart into a contiguous buffer (an embedding row)
 *   screen_argmax(...)                    decoder_layers' screened greedy pick for a given row (tests)
 *   screen_counts()                       what the greedy screen did so far (see py_decoder_layers)
 *   kernel_name(), kernel_names(), use_kernels(name), set_max_threads(1 or 2), set_spin_us(us)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_decode.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_PAUSE() _mm_pause()
#else
#define CPU_PAUSE() ((void)0)
#endif

const Kernels *decode_kernels = &decode_kernels_generic;

/* ------------------------------------------------------------------------------------------ the thread pool */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER; /* one caller at a time uses the worker */
static atomic_ulong job_seq = 0, done_seq = 0;
static atomic_int worker_sleeping = 0;
static int worker_started = 0;
static ParallelFn job_fn;
static void *job_ctx;
static long spin_ns = 2000000; /* the worker spins this long after a job before sleeping */
static int max_threads = 2;     /* set_max_threads(1): the calling thread only */
/* barrier arrivals of thread 0 and 1, each on its own cache line */
static struct {
    _Alignas(64) atomic_uint count;
} arrivals[2];

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/* One pause per poll; after ~100 us of polling also yield the core (a loaded machine may have descheduled
 * the thread we wait for). */
static inline void wait_a_little(unsigned *spins) {
    CPU_PAUSE();
    if (++*spins > 1000u) sched_yield();
}

void pool_barrier(int tid, int nthreads) {
    if (nthreads < 2) return;
    const unsigned mine = atomic_load_explicit(&arrivals[tid].count, memory_order_relaxed) + 1;
    atomic_store_explicit(&arrivals[tid].count, mine, memory_order_release);
    unsigned spins = 0;
    while (atomic_load_explicit(&arrivals[1 - tid].count, memory_order_acquire) < mine) wait_a_little(&spins);
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
        job_fn(job_ctx, 1, 2);
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

void pool_run(ParallelFn fn, void *ctx, int want_threads) {
    if (want_threads < 2 || max_threads < 2 || pthread_mutex_trylock(&call_lock) != 0) {
        fn(ctx, 0, 1);
        return;
    }
    if (!ensure_worker()) {
        pthread_mutex_unlock(&call_lock);
        fn(ctx, 0, 1);
        return;
    }
    atomic_store_explicit(&arrivals[0].count, 0, memory_order_relaxed);
    atomic_store_explicit(&arrivals[1].count, 0, memory_order_relaxed);
    job_fn = fn;
    job_ctx = ctx;
    const unsigned long seq = atomic_fetch_add(&job_seq, 1) + 1; /* seq_cst: pairs with worker_sleeping */
    if (atomic_load(&worker_sleeping)) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_signal(&sleep_cond);
        pthread_mutex_unlock(&sleep_lock);
    }
    fn(ctx, 0, 2);
    unsigned spins = 0;
    while (atomic_load_explicit(&done_seq, memory_order_acquire) != seq) wait_a_little(&spins);
    pthread_mutex_unlock(&call_lock);
}

/* --------------------------------------------------------------------------------------------------- gemv */
/* Below this many weight floats one thread is faster than handing half to the worker. */
#define SPLIT_MIN_FLOATS 32768

typedef struct {
    Gemm gemm;
    ptrdiff_t n;
} WholeGemm;

static void run_gemm(void *ctx, int tid, int nthreads) {
    const WholeGemm *job = (const WholeGemm *)ctx;
    ptrdiff_t c0, c1;
    if (job->gemm.packed) split_panels(job->n, tid, nthreads, &c0, &c1);
    else split_columns(job->n, tid, nthreads, &c0, &c1);
    if (c0 < c1) decode_kernels->gemm_cols(&job->gemm, c0, c1);
}

static PyObject *py_gemv(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 8 && nargs != 9) {
        PyErr_SetString(PyExc_TypeError,
                        "gemv(x_ptr, w_ptr, y_ptr, B, K, N, ldw, init_ptr[, packed]) takes 8 or 9 arguments");
        return NULL;
    }
    const int packed = nargs == 9 ? PyObject_IsTrue(args[8]) : 0;
    if (packed < 0) return NULL;
    void *x = PyLong_AsVoidPtr(args[0]), *w = PyLong_AsVoidPtr(args[1]), *y = PyLong_AsVoidPtr(args[2]);
    Py_ssize_t rows = PyLong_AsSsize_t(args[3]), k = PyLong_AsSsize_t(args[4]), n = PyLong_AsSsize_t(args[5]),
               ldw = PyLong_AsSsize_t(args[6]);
    void *init = PyLong_AsVoidPtr(args[7]);
    if (PyErr_Occurred()) return NULL;
    const Py_ssize_t min_ldw = packed ? DECODE_PANEL * k : n;
    if (rows < 1 || rows > DECODE_MAX_ROWS || k < 0 || n < 0 || ldw < min_ldw || x == NULL || w == NULL ||
        y == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "gemv: expected 1 <= B <= %d, K >= 0, N >= 0, ldw >= %s and non-null pointers, got B=%zd "
                     "K=%zd N=%zd ldw=%zd",
                     DECODE_MAX_ROWS, packed ? "48 K (packed)" : "N", rows, k, n, ldw);
        return NULL;
    }
    if (n == 0) Py_RETURN_NONE;
    WholeGemm job = {{(const float *)x, k, (const float *)w, ldw, (float *)y, n, (const float *)init, n, NULL,
                      (int)rows, k, packed},
                     n};
    const int threads = k * n >= SPLIT_MIN_FLOATS && n >= 32 ? 2 : 1;
    Py_BEGIN_ALLOW_THREADS
    pool_run(run_gemm, &job, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* pack_panels(src, s0, s1, K, N, dst): dst (ceil(N / 48), K, 48) contiguous = the (K, N) matrix at src (element
 * (k, c) at src[k * s0 + c * s1]) in panels of 48 columns, the last one zero-padded (see Gemm in _decode.h).
 * Either s1 == 1 (input-major rows: 48-float runs are copied) or s0 == 1 (output-major: each column is read
 * once, contiguously, and spread over its panel). */
static PyObject *py_pack_panels(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "pack_panels(src_ptr, s0, s1, K, N, dst_ptr) takes 6 arguments");
        return NULL;
    }
    const float *src = PyLong_AsVoidPtr(args[0]);
    const Py_ssize_t s0 = PyLong_AsSsize_t(args[1]), s1 = PyLong_AsSsize_t(args[2]), k = PyLong_AsSsize_t(args[3]),
                     n = PyLong_AsSsize_t(args[4]);
    float *dst = PyLong_AsVoidPtr(args[5]);
    if (PyErr_Occurred()) return NULL;
    if (!src || !dst || k < 1 || n < 1 || (s1 != 1 && s0 != 1) || (s1 == 1 && s0 < n) || (s0 == 1 && s1 < k)) {
        PyErr_Format(PyExc_ValueError,
                     "pack_panels: expected non-null pointers, K, N >= 1 and rows (s1 == 1, s0 >= N) or columns "
                     "(s0 == 1, s1 >= K) contiguous, got K=%zd N=%zd s0=%zd s1=%zd", k, n, s0, s1);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const ptrdiff_t panels = (n + DECODE_PANEL - 1) / DECODE_PANEL;
    for (ptrdiff_t p = 0; p < panels; p++) {
        float *panel = dst + p * k * DECODE_PANEL;
        const ptrdiff_t c0 = p * DECODE_PANEL, width = n - c0 < DECODE_PANEL ? n - c0 : DECODE_PANEL;
        if (width < DECODE_PANEL) memset(panel, 0, (size_t)(k * DECODE_PANEL) * sizeof(float));
        if (s1 == 1) {
            for (ptrdiff_t i = 0; i < k; i++)
                memcpy(panel + i * DECODE_PANEL, src + i * s0 + c0, (size_t)width * sizeof(float));
        } else {
            for (ptrdiff_t c = 0; c < width; c++) {
                const float *column = src + (c0 + c) * s1;
                for (ptrdiff_t i = 0; i < k; i++) panel[i * DECODE_PANEL + c] = column[i];
            }
        }
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ decoder layer */
static const char PLAN_NAME[] = "snuggle.models._gemv.layer_plan";

static void plan_free(PyObject *capsule) { free(PyCapsule_GetPointer(capsule, PLAN_NAME)); }

/* layer_plan(hidden, q_heads, kv_heads, head_dim, inter, eps1, eps2, scale, norm1, norm2,
 *            w_qkv, b_qkv, ld_qkv, w_o, b_o, ld_o, w_gate_up, b_gate_up, ld_gate_up, w_down, b_down, ld_down,
 *            [packed])
 * weights input-major (in, out) with rows ld apart, or (packed true) all four packed in panels ld floats apart
 * (see Gemm in _decode.h); biases 0 or (out) contiguous. */
static PyObject *py_layer_plan(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 22 && nargs != 23) {
        PyErr_SetString(PyExc_TypeError, "layer_plan takes 22 or 23 arguments (see _gemv.c)");
        return NULL;
    }
    Layer l;
    memset(&l, 0, sizeof l);
    l.hidden = (int)PyLong_AsLong(args[0]);
    l.q_heads = (int)PyLong_AsLong(args[1]);
    l.kv_heads = (int)PyLong_AsLong(args[2]);
    l.head_dim = (int)PyLong_AsLong(args[3]);
    l.inter = (int)PyLong_AsLong(args[4]);
    l.eps1 = (float)PyFloat_AsDouble(args[5]);
    l.eps2 = (float)PyFloat_AsDouble(args[6]);
    l.scale = (float)PyFloat_AsDouble(args[7]);
    l.norm1 = PyLong_AsVoidPtr(args[8]);
    l.norm2 = PyLong_AsVoidPtr(args[9]);
    l.w_qkv = PyLong_AsVoidPtr(args[10]);
    l.b_qkv = PyLong_AsVoidPtr(args[11]);
    l.ld_qkv = PyLong_AsSsize_t(args[12]);
    l.w_o = PyLong_AsVoidPtr(args[13]);
    l.b_o = PyLong_AsVoidPtr(args[14]);
    l.ld_o = PyLong_AsSsize_t(args[15]);
    l.w_gate_up = PyLong_AsVoidPtr(args[16]);
    l.b_gate_up = PyLong_AsVoidPtr(args[17]);
    l.ld_gate_up = PyLong_AsSsize_t(args[18]);
    l.w_down = PyLong_AsVoidPtr(args[19]);
    l.b_down = PyLong_AsVoidPtr(args[20]);
    l.ld_down = PyLong_AsSsize_t(args[21]);
    l.packed = nargs == 23 ? PyObject_IsTrue(args[22]) : 0;
    if (l.packed < 0 || PyErr_Occurred()) return NULL;
    /* the least distance between rows (input-major) or panels (packed) */
    const ptrdiff_t qkv_n = (ptrdiff_t)(l.q_heads + 2 * l.kv_heads) * l.head_dim;
    const ptrdiff_t att_n = (ptrdiff_t)l.q_heads * l.head_dim;
    const ptrdiff_t min_qkv = l.packed ? DECODE_PANEL * (ptrdiff_t)l.hidden : qkv_n;
    const ptrdiff_t min_o = l.packed ? DECODE_PANEL * att_n : l.hidden;
    const ptrdiff_t min_gate_up = l.packed ? DECODE_PANEL * (ptrdiff_t)l.hidden : 2 * (ptrdiff_t)l.inter;
    const ptrdiff_t min_down = l.packed ? DECODE_PANEL * (ptrdiff_t)l.inter : l.hidden;
    if (l.hidden < 1 || l.q_heads < 1 || l.kv_heads < 1 || l.q_heads % l.kv_heads != 0 || l.head_dim < 2 ||
        l.head_dim % 2 != 0 || l.inter < 1 || !l.norm1 || !l.norm2 || !l.w_qkv || !l.w_o || !l.w_gate_up ||
        !l.w_down || l.ld_qkv < min_qkv || l.ld_o < min_o || l.ld_gate_up < min_gate_up || l.ld_down < min_down) {
        PyErr_SetString(PyExc_ValueError, "layer_plan: inconsistent sizes, strides or null weight pointers");
        return NULL;
    }
    Layer *plan = malloc(sizeof *plan);
    if (plan == NULL) return PyErr_NoMemory();
    *plan = l;
    PyObject *capsule = PyCapsule_New(plan, PLAN_NAME, plan_free);
    if (capsule == NULL) free(plan);
    return capsule;
}

static _Thread_local float *thread_scratch = NULL; /* per calling thread: calls may come from several threads */
static _Thread_local size_t thread_scratch_floats = 0;

/* Grow the calling thread's scratch to `floats` floats; 0 when out of memory (a Python error is set). */
static int ensure_scratch(size_t floats) {
    if (floats <= thread_scratch_floats) return 1;
    float *grown = malloc(floats * sizeof(float) + 64);
    if (grown == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    free(thread_scratch);
    thread_scratch = grown;
    thread_scratch_floats = floats;
    return 1;
}

/* greedy steps through the screen: calls, calls that computed every column, candidates computed exactly */
static unsigned long long screen_counts[3];

/* decoder_layers' screen argument into head (see py_decoder_layers); 0 with a Python error when malformed */
static int parse_screen(PyObject *screen, int rows, Head *head) {
    if (!PyTuple_Check(screen) || PyTuple_GET_SIZE(screen) != 6) {
        PyErr_SetString(PyExc_TypeError, "decoder_layers: screen must be a tuple (q, ldq, scale, bound, bans, token)");
        return 0;
    }
    head->screen.q = PyLong_AsVoidPtr(PyTuple_GET_ITEM(screen, 0));
    head->screen.ldq = PyLong_AsSsize_t(PyTuple_GET_ITEM(screen, 1));
    head->screen.scale = PyLong_AsVoidPtr(PyTuple_GET_ITEM(screen, 2));
    head->screen.bound = PyLong_AsVoidPtr(PyTuple_GET_ITEM(screen, 3));
    head->token = PyLong_AsVoidPtr(PyTuple_GET_ITEM(screen, 5));
    PyObject *bans = PyTuple_GET_ITEM(screen, 4);
    if (PyErr_Occurred()) return 0;
    if (!head->screen.q || !head->screen.scale || !head->screen.bound || !head->token || rows != 1 ||
        head->screen.ldq < (ptrdiff_t)SCREEN_PANEL) {
        PyErr_SetString(PyExc_ValueError, "decoder_layers: the screen needs one row, non-null pointers and ldq >= 64");
        return 0;
    }
    if (bans == Py_None) return 1;
    if (!PyTuple_Check(bans) || PyTuple_GET_SIZE(bans) > SCREEN_MAX_BANS) {
        PyErr_Format(PyExc_ValueError, "decoder_layers: screen bans must be None or a tuple of at most %d pairs",
                     SCREEN_MAX_BANS);
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(bans); i++) {
        PyObject *pair = PyTuple_GET_ITEM(bans, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "decoder_layers: each screen ban must be an (address, count) tuple");
            return 0;
        }
        head->ban_ids[i] = PyLong_AsVoidPtr(PyTuple_GET_ITEM(pair, 0));
        head->ban_counts[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 1));
        if (PyErr_Occurred()) return 0;
        if (head->ban_counts[i] < 0 || (head->ban_counts[i] > 0 && head->ban_ids[i] == NULL)) {
            PyErr_SetString(PyExc_ValueError, "decoder_layers: a screen ban has a null address or a negative count");
            return 0;
        }
    }
    head->bans = (int)PyTuple_GET_SIZE(bans);
    return 1;
}

static void count_screen(const Head *head) {
    screen_counts[0] += 1;
    screen_counts[1] += head->full;
    screen_counts[2] += head->screened;
}

static PyObject *py_screen_counts(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return Py_BuildValue("(KKK)", screen_counts[0], screen_counts[1], screen_counts[2]);
}

/* decoder_layers(plans, x, out, rows, cos, sin, ld_rope, caches, mask, mask_sb, threads
 *                [, norm, eps, head, ldw, n, packed, logits])
 * One or more decoder layers of a decode step (one token per row) in one call: plans a tuple of layer_plan
 * capsules (one hidden size), caches a tuple of as many (keys, k_sb, k_sh, k_ss, values, v_sb, v_sh, v_ss, kv_len)
 * tuples: each layer's cache views (batch, kv_heads, kv_len, head_dim) with element strides and head_dim stride 1,
 * whose last position the layer writes. x is the first layer's input and out the last layer's output ((rows,
 * hidden) contiguous, not overlapping); cos / signed sin (rows, head_dim) rows ld_rope apart (0: one row for all)
 * and the mask (0, or additive (rows, kv_len) rows mask_sb apart) are shared by all layers. Between layers the
 * hidden states alternate between out and a scratch buffer, so that the last layer writes out. With the head
 * arguments the final RMSNorm and the LM head follow (Head in _decode.h), into logits (rows, n).
 * A 19th argument, screen = (q, ldq, scale, bound, bans, token) for one row, picks a greedy token instead (Head,
 * screened_head): q, scale and bound the head's int8 screen (Screen in _decode.h), bans a tuple of at most
 * SCREEN_MAX_BANS (ids address, count) pairs or None (int64 ids whose logits are -inf), token the address of
 * the int64 the token is stored in; the call then returns the token, and the logits are scratch. */
static PyObject *py_decoder_layers(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 11 && nargs != 18 && nargs != 19) {
        PyErr_SetString(PyExc_TypeError, "decoder_layers takes 11, 18 or 19 arguments (see _gemv.c)");
        return NULL;
    }
    PyObject *plans = args[0], *caches = args[7];
    if (!PyTuple_Check(plans) || !PyTuple_Check(caches) || PyTuple_GET_SIZE(plans) < 1 ||
        PyTuple_GET_SIZE(plans) != PyTuple_GET_SIZE(caches)) {
        PyErr_SetString(PyExc_TypeError, "decoder_layers: plans and caches must be tuples of the same, non-zero length");
        return NULL;
    }
    const Py_ssize_t count = PyTuple_GET_SIZE(plans);
    const float *x = PyLong_AsVoidPtr(args[1]);
    float *out = PyLong_AsVoidPtr(args[2]);
    const int rows = (int)PyLong_AsLong(args[3]);
    const float *cos = PyLong_AsVoidPtr(args[4]), *sin = PyLong_AsVoidPtr(args[5]);
    const ptrdiff_t ld_rope = PyLong_AsSsize_t(args[6]);
    const float *mask = PyLong_AsVoidPtr(args[8]);
    const ptrdiff_t mask_sb = PyLong_AsSsize_t(args[9]);
    const int threads = (int)PyLong_AsLong(args[10]);
    Head head = {0};
    if (nargs >= 18) {
        head.norm = PyLong_AsVoidPtr(args[11]);
        head.eps = (float)PyFloat_AsDouble(args[12]);
        head.w = PyLong_AsVoidPtr(args[13]);
        head.ldw = PyLong_AsSsize_t(args[14]);
        head.n = PyLong_AsSsize_t(args[15]);
        head.packed = PyObject_IsTrue(args[16]);
        head.logits = PyLong_AsVoidPtr(args[17]);
        if (!PyErr_Occurred() && (head.packed < 0 || !head.norm || !head.w || !head.logits || head.n < 1)) {
            PyErr_SetString(PyExc_ValueError, "decoder_layers: expected non-null head pointers and n >= 1");
            return NULL;
        }
    }
    if (nargs == 19 && !PyErr_Occurred() && !parse_screen(args[18], rows, &head)) return NULL;
    if (PyErr_Occurred()) return NULL;
    if (rows < 1 || rows > DECODE_MAX_ROWS || !x || !out || !cos || !sin) {
        PyErr_Format(PyExc_ValueError, "decoder_layers: expected 1 <= rows <= %d and non-null pointers",
                     DECODE_MAX_ROWS);
        return NULL;
    }
    Layer *layers = malloc((size_t)count * sizeof(Layer));
    if (layers == NULL) return PyErr_NoMemory();
    size_t need = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const Layer *plan = PyCapsule_GetPointer(PyTuple_GET_ITEM(plans, i), PLAN_NAME);
        PyObject *cache = PyTuple_GET_ITEM(caches, i);
        if (plan == NULL) goto fail;
        if (!PyTuple_Check(cache) || PyTuple_GET_SIZE(cache) != 9) {
            PyErr_Format(PyExc_TypeError, "decoder_layers: caches[%zd] must be a tuple of 9 ints", i);
            goto fail;
        }
        Layer *l = &layers[i];
        *l = *plan;
        l->rows = rows;
        l->cos = cos;
        l->sin = sin;
        l->ld_rope = ld_rope;
        l->mask = mask;
        l->mask_sb = mask_sb;
        l->keys = PyLong_AsVoidPtr(PyTuple_GET_ITEM(cache, 0));
        l->k_sb = PyLong_AsSsize_t(PyTuple_GET_ITEM(cache, 1));
        l->k_sh = PyLong_AsSsize_t(PyTuple_GET_ITEM(cache, 2));
        l->k_ss = PyLong_AsSsize_t(PyTuple_GET_ITEM(cache, 3));
        l->values = PyLong_AsVoidPtr(PyTuple_GET_ITEM(cache, 4));
        l->v_sb = PyLong_AsSsize_t(PyTuple_GET_ITEM(cache, 5));
        l->v_sh = PyLong_AsSsize_t(PyTuple_GET_ITEM(cache, 6));
        l->v_ss = PyLong_AsSsize_t(PyTuple_GET_ITEM(cache, 7));
        l->kv_len = (int)PyLong_AsLong(PyTuple_GET_ITEM(cache, 8));
        if (PyErr_Occurred()) goto fail;
        if (l->hidden != layers[0].hidden || l->kv_len < 1 || !l->keys || !l->values) {
            PyErr_Format(PyExc_ValueError,
                         "decoder_layers: layer %zd: expected the first layer's hidden size, kv_len >= 1 and "
                         "non-null cache pointers", i);
            goto fail;
        }
        const size_t floats = decode_layer_scratch_floats(l);
        if (floats > need) need = floats;
    }
    const int hidden = layers[0].hidden;
    if (nargs >= 18 && head.ldw < (head.packed ? (ptrdiff_t)DECODE_PANEL * hidden : head.n)) {
        PyErr_Format(PyExc_ValueError, "decoder_layers: head ldw %zd is too small for %zd outputs of %d inputs",
                     head.ldw, head.n, hidden);
        goto fail;
    }
    /* then the hidden states between two layers, then the head's normed rows (one copy per thread), then the
     * screen's low, high and candidates */
    const size_t offset = (need + 15) / 16 * 16, head_offset = offset + ((size_t)rows * hidden + 15) / 16 * 16;
    const size_t screen_offset = head_offset + (2 * (size_t)rows * hidden + 15) / 16 * 16;
    const size_t screen_floats = head.screen.q ? 3 * ((size_t)head.n + 16) : 0;
    if (!ensure_scratch(screen_offset + screen_floats)) goto fail;
    float *other = thread_scratch + offset;
    head.normed = thread_scratch + head_offset;
    if (head.screen.q) {
        head.low = thread_scratch + screen_offset;
        head.high = head.low + head.n + 16;
        head.picked = (int32_t *)(head.high + head.n + 16);
    }
    const float *source = x;
    for (Py_ssize_t i = 0; i < count; i++) {
        float *target = (count - 1 - i) % 2 == 0 ? out : other;
        layers[i].x = source;
        layers[i].out = target;
        layers[i].scratch = thread_scratch;
        source = target;
    }
    Py_BEGIN_ALLOW_THREADS
    decode_layers(layers, (int)count, threads, nargs >= 18 ? &head : NULL);
    Py_END_ALLOW_THREADS
    free(layers);
    if (head.screen.q == NULL) Py_RETURN_NONE;
    count_screen(&head);
    return PyLong_FromLongLong((long long)*head.token);
fail:
    free(layers);
    return NULL;
}

/* screen_argmax(x, k, w, ldw, n, packed, logits, screen, threads): decoder_layers' greedy pick through the
 * screen (the 19th argument there) for one given row x (k floats, taken as the normalized input of a head w with
 * k inputs and n outputs laid out as Head's): the token it returns and stores. For tests of the screen. */
static PyObject *py_screen_argmax(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "screen_argmax(x, k, w, ldw, n, packed, logits, screen, threads) takes 9 arguments");
        return NULL;
    }
    Head head = {0};
    const float *x = PyLong_AsVoidPtr(args[0]);
    const Py_ssize_t k = PyLong_AsSsize_t(args[1]);
    head.w = PyLong_AsVoidPtr(args[2]);
    head.ldw = PyLong_AsSsize_t(args[3]);
    head.n = PyLong_AsSsize_t(args[4]);
    head.packed = PyObject_IsTrue(args[5]);
    head.logits = PyLong_AsVoidPtr(args[6]);
    const int threads = (int)PyLong_AsLong(args[8]);
    if (PyErr_Occurred() || !parse_screen(args[7], 1, &head)) return NULL;
    if (!x || !head.w || !head.logits || head.packed < 0 || k < 1 || k > INT_MAX || head.n < 1 ||
        head.ldw < (head.packed ? (ptrdiff_t)DECODE_PANEL * k : head.n)) {
        PyErr_SetString(PyExc_ValueError, "screen_argmax: expected non-null pointers, k, n >= 1 and ldw for them");
        return NULL;
    }
    if (!ensure_scratch(3 * ((size_t)head.n + 16))) return NULL;
    head.low = thread_scratch;
    head.high = head.low + head.n + 16;
    head.picked = (int32_t *)(head.high + head.n + 16);
    Py_BEGIN_ALLOW_THREADS
    decode_screened_head(&head, x, (int)k, threads);
    Py_END_ALLOW_THREADS
    count_screen(&head);
    return PyLong_FromLongLong((long long)*head.token);
}

/* copy_row(src, stride, n, dst): dst[i] = src[i * stride] for i < n (floats): one embedding row into the
 * decode loop's input buffer, without the torch ops (view, embedding) that run cold between decode steps. */
static PyObject *py_copy_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "copy_row(src_ptr, stride, n, dst_ptr) takes 4 arguments");
        return NULL;
    }
    const float *src = PyLong_AsVoidPtr(args[0]);
    const Py_ssize_t stride = PyLong_AsSsize_t(args[1]), n = PyLong_AsSsize_t(args[2]);
    float *dst = PyLong_AsVoidPtr(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (src == NULL || dst == NULL || n < 0 || stride < 1) {
        PyErr_SetString(PyExc_ValueError, "copy_row: expected non-null pointers, n >= 0 and stride >= 1");
        return NULL;
    }
    if (stride == 1) memcpy(dst, src, (size_t)n * sizeof(float));
    else
        for (Py_ssize_t i = 0; i < n; i++) dst[i] = src[i * stride];
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------------- module */
static PyObject *py_kernel_name(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(decode_kernels->name);
}

static PyObject *py_set_spin_us(PyObject *self, PyObject *arg) {
    (void)self;
    long us = PyLong_AsLong(arg);
    if (us == -1 && PyErr_Occurred()) return NULL;
    spin_ns = us < 0 ? 0 : us * 1000L;
    Py_RETURN_NONE;
}

static PyObject *py_set_max_threads(PyObject *self, PyObject *arg) {
    (void)self;
    long threads = PyLong_AsLong(arg);
    if (threads == -1 && PyErr_Occurred()) return NULL;
    if (threads < 1 || threads > 2) {
        PyErr_Format(PyExc_ValueError, "set_max_threads: expected 1 or 2, got %ld", threads);
        return NULL;
    }
    max_threads = (int)threads;
    Py_RETURN_NONE;
}

static PyObject *py_kernel_names(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    const Kernels *sets[4];
    const int count = decode_supported_kernels(sets);
    PyObject *names = PyList_New(count);
    if (names == NULL) return NULL;
    for (int i = 0; i < count; i++) {
        PyObject *name = PyUnicode_FromString(sets[i]->name);
        if (name == NULL) {
            Py_DECREF(names);
            return NULL;
        }
        PyList_SET_ITEM(names, i, name);
    }
    return names;
}

static PyObject *py_use_kernels(PyObject *self, PyObject *arg) {
    (void)self;
    const char *wanted = PyUnicode_AsUTF8(arg);
    if (wanted == NULL) return NULL;
    const Kernels *sets[4];
    const int count = decode_supported_kernels(sets);
    for (int i = 0; i < count; i++)
        if (strcmp(sets[i]->name, wanted) == 0) {
            decode_kernels = sets[i];
            Py_RETURN_NONE;
        }
    PyErr_Format(PyExc_ValueError, "use_kernels: %R is not one of this CPU's kernel sets (see kernel_names())", arg);
    return NULL;
}

static PyMethodDef methods[] = {
    {"gemv", (PyCFunction)(void (*)(void))py_gemv, METH_FASTCALL,
     "gemv(x_ptr, w_ptr, y_ptr, B, K, N, ldw, init_ptr[, packed]): y = init + x @ W_t in fp32 (see the module "
     "source)."},
    {"pack_panels", (PyCFunction)(void (*)(void))py_pack_panels, METH_FASTCALL,
     "pack_panels(src_ptr, s0, s1, K, N, dst_ptr): a (K, N) matrix in 48-column panels (see the module source)."},
    {"layer_plan", (PyCFunction)(void (*)(void))py_layer_plan, METH_FASTCALL,
     "layer_plan(...): the sizes and weights of one decoder layer, for decoder_layers (see the module source)."},
    {"decoder_layers", (PyCFunction)(void (*)(void))py_decoder_layers, METH_FASTCALL,
     "decoder_layers(plans, ...): every decoder layer of a decode step in one call (see the module source)."},
    {"copy_row", (PyCFunction)(void (*)(void))py_copy_row, METH_FASTCALL,
     "copy_row(src_ptr, stride, n, dst_ptr): n floats stride apart into a contiguous buffer."},
    {"screen_argmax", (PyCFunction)(void (*)(void))py_screen_argmax, METH_FASTCALL,
     "screen_argmax(x, k, w, ldw, n, packed, logits, screen, threads): the screened greedy pick for one row."},
    {"screen_counts", py_screen_counts, METH_NOARGS,
     "(calls, calls that computed every logit, candidates computed exactly) of decoder_layers with a screen."},
    {"kernel_name", py_kernel_name, METH_NOARGS, "The instruction set the kernels were chosen for."},
    {"set_spin_us", py_set_spin_us, METH_O, "How long the worker spins after a job before sleeping."},
    {"set_max_threads", py_set_max_threads, METH_O, "set_max_threads(1): run on the calling thread only; 2: default."},
    {"kernel_names", py_kernel_names, METH_NOARGS, "The kernel sets this CPU runs, best first."},
    {"use_kernels", py_use_kernels, METH_O, "use_kernels(name): switch kernel set (tests, benchmarks)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gemv", "Decode-time fp32 kernels (see the source).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__gemv(void) {
    const Kernels *sets[4];
    decode_supported_kernels(sets);
    decode_kernels = sets[0];
    pthread_atfork(NULL, NULL, after_fork_in_child);
    return PyModule_Create(&module);
}
