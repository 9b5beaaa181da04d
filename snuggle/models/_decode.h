/* Shared declarations of the `_gemv` extension (decode-time fp32 kernels), see _gemv.c for the overview.
 *
 *   _gemv.c            Python module, the two-thread pool (persistent worker + spin barrier), dispatch
 *   _decode_kernels.c  the instruction-set specific pieces: register-blocked small-batch GEMM, attention for one
 *                      group of query heads, SiLU(gate) * up, RMSNorm; generic C / AVX2+FMA / AVX-512F builds
 *   _decode_layer.c    one Llama decoder layer for 1-16 tokens, split over the two threads
 */
#ifndef SNUGGLE_DECODE_H
#define SNUGGLE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define DECODE_MAX_ROWS 16
#define DECODE_PANEL 48 /* columns per panel of a packed weight (3 AVX-512 vectors, 6 AVX2 vectors) */

/* y[:, c0:c1] = init[:, c0:c1] + bias[c0:c1] + x @ w[:, c0:c1] for `rows` rows.
 * x (rows, k) row stride ldx; y row stride ldy; init NULL (start from zero) or (rows, n) row stride ldi (may equal
 * y: accumulate in place); bias NULL or (n). The weight is either
 *   input-major (packed 0): (k, n) with row stride ldw (columns contiguous), or
 *   packed in panels (packed 1): panel p holds columns [48p, 48p + 48) as a contiguous (k, 48) block that starts
 *   p * ldw floats after w (ldw >= 48 k; the last panel zero-padded), so that the product reads one sequential
 *   stream; c0 is then a multiple of DECODE_PANEL. */
typedef struct {
    const float *x;
    ptrdiff_t ldx;
    const float *w;
    ptrdiff_t ldw;
    float *y;
    ptrdiff_t ldy;
    const float *init;
    ptrdiff_t ldi;
    const float *bias;
    int rows;
    ptrdiff_t k;
    int packed;
} Gemm;

/* Attention of one token (one batch row) for the query heads that share one kv head. */
typedef struct {
    const float *queries; /* (group, head_dim), already rotated */
    const float *keys;    /* (kv_len, head_dim) rows ks apart */
    ptrdiff_t ks;
    const float *values; /* (kv_len, head_dim) rows vs apart */
    ptrdiff_t vs;
    const float *mask; /* additive (kv_len) or NULL */
    int group, kv_len, head_dim;
    float scale;
    float *scores; /* scratch (group, kv_len) */
    float *out;    /* (group, head_dim) */
    /* NULL, or (group): each query's largest score and sum of exp(score - largest), so that two threads can
     * each attend over part of the positions and combine (-INFINITY and 0 where every position is masked) */
    float *top, *total;
} HeadGroup;

/* The int8 copy of an LM head that screens a greedy step's argmax (see screened_head in _decode_layer.c).
 * Column c of the (hidden, n) head is about scale[c] * q[:, c]; for any input h, the head's fp32 product
 * (by gemm_cols) differs from scale[c] * (h . q[:, c]) (by screen_cols) by at most |h|_2 * bound[c]: the
 * quantization error plus both products' rounding (llama_inference.screen_head works the bound out). q is in
 * panels like a packed weight: panel p holds columns [64p, 64p + 64) as a contiguous (hidden, 64) int8 block
 * that starts p * ldq bytes after q (the last panel zero-padded). */
#define SCREEN_PANEL 64
#define SCREEN_MAX_BANS 8
typedef struct {
    const int8_t *q;
    ptrdiff_t ldq;
    const float *scale, *bound; /* (n) */
} Screen;

typedef struct {
    const char *name;
    void (*gemm_cols)(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1);
    /* low[c], high[c] = scale[c] * (x . q[:, c]) -/+ norm * bound[c] for the columns c in [c0, c1) below n (c0 a
     * multiple of SCREEN_PANEL); x has k floats */
    void (*screen_cols)(const Screen *s, const float *x, ptrdiff_t k, float norm, ptrdiff_t n, ptrdiff_t c0,
                        ptrdiff_t c1, float *low, float *high);
    void (*attend)(const HeadGroup *h);
    void (*silu_mul)(float *gate, const float *up, ptrdiff_t n); /* gate = silu(gate) * up */
    void (*rms_norm)(const float *x, const float *weight, float eps, float *out, ptrdiff_t n);
} Kernels;

extern const Kernels *decode_kernels; /* the set in use */
extern const Kernels decode_kernels_generic;
/* The sets this CPU runs, best first (generic last); fills out[0..count) (at most 4), returns count. */
int decode_supported_kernels(const Kernels **out);

/* Two-thread pool: run fn(ctx, tid, nthreads) on the caller (tid 0) and the worker (tid 1), or on the
 * caller alone (nthreads 1) when the worker is busy or cannot start. Returns when both are done. */
typedef void (*ParallelFn)(void *ctx, int tid, int nthreads);
void pool_run(ParallelFn fn, void *ctx, int want_threads);
void pool_barrier(int tid, int nthreads); /* inside fn: wait until every thread of the run got here */

/* Column range [c0, c1) of thread tid out of nthreads for n columns, cut at multiples of 16 floats. */
static inline void split_columns(ptrdiff_t n, int tid, int nthreads, ptrdiff_t *c0, ptrdiff_t *c1) {
    ptrdiff_t cut = nthreads == 1 ? n : ((n / 2 + 8) / 16) * 16;
    if (cut > n) cut = n;
    *c0 = tid == 0 ? 0 : cut;
    *c1 = tid == 0 ? cut : n;
}

/* The same for a packed weight: cut at a panel boundary (whole panels per thread). */
static inline void split_panels(ptrdiff_t n, int tid, int nthreads, ptrdiff_t *c0, ptrdiff_t *c1) {
    const ptrdiff_t panels = (n + DECODE_PANEL - 1) / DECODE_PANEL;
    ptrdiff_t cut = nthreads == 1 ? n : (panels + 1) / 2 * DECODE_PANEL;
    if (cut > n) cut = n;
    *c0 = tid == 0 ? 0 : cut;
    *c1 = tid == 0 ? cut : n;
}

/* One Llama decoder layer for `rows` single-token rows (see _decode_layer.c). */
typedef struct {
    int rows, hidden, q_heads, kv_heads, head_dim, inter;
    float eps1, eps2, scale;
    const float *norm1, *norm2;                         /* (hidden) */
    const float *w_qkv, *b_qkv; ptrdiff_t ld_qkv;       /* (hidden, (q + 2 kv) * head_dim) */
    const float *w_o, *b_o; ptrdiff_t ld_o;             /* (q * head_dim, hidden) */
    const float *w_gate_up, *b_gate_up; ptrdiff_t ld_gate_up; /* (hidden, 2 * inter): gate | up */
    const float *w_down, *b_down; ptrdiff_t ld_down;    /* (inter, hidden) */
    int packed; /* the four weights are packed in panels (see Gemm), ld_* the floats between panels */
    const float *x; /* (rows, hidden) contiguous */
    float *out;     /* (rows, hidden) contiguous, may not alias x */
    const float *cos, *sin; ptrdiff_t ld_rope; /* (rows, head_dim) rows ld_rope apart (0: shared); sin signed */
    float *keys, *values; /* cache views (batch, kv_heads, kv_len, head_dim); the last position is written */
    ptrdiff_t k_sb, k_sh, k_ss, v_sb, v_sh, v_ss;
    int kv_len;
    const float *mask; ptrdiff_t mask_sb; /* additive (rows, kv_len) rows mask_sb apart, or NULL */
    float *scratch; /* decode_layer_scratch_floats() floats */
} Layer;

/* The final norm and LM head after the last layer of a step (decode_layers): logits = rms_norm(x) @ w. */
typedef struct {
    const float *norm; /* (hidden) RMSNorm weight */
    float eps;
    const float *w; /* (hidden, n): input-major rows ldw apart, or packed in panels ldw apart (see Gemm) */
    ptrdiff_t ldw, n;
    int packed;
    float *logits; /* (rows, n) contiguous */
    float *normed; /* scratch: rows x hidden per thread (2) */
    /* A greedy step of one row may pick its token instead (screen.q not NULL): the argmax of the logits after
     * the banned ids (ban_ids[i][0..ban_counts[i]), inside [0, n)) become -inf, equal to torch.argmax over the
     * full logits, written to *token. The logits are then scratch (only some are computed). */
    Screen screen;
    const int64_t *ban_ids[SCREEN_MAX_BANS];
    ptrdiff_t ban_counts[SCREEN_MAX_BANS];
    int bans;
    int64_t *token;
    float *low, *high;  /* scratch: n floats each */
    int32_t *picked;    /* scratch: n ints */
    int full;           /* set by the step: the screen left too many candidates, every column was computed */
    ptrdiff_t screened; /* set by the step: the candidates computed exactly (0 when full) */
} Head;

size_t decode_layer_scratch_floats(const Layer *layer);
/* layers[0..count) one after the other (layer i + 1 reads layer i's out) in one run of the pool, then the head
 * (NULL: none) on the last layer's output */
void decode_layers(Layer *layers, int count, int want_threads, Head *head);
/* The greedy pick of a screened head (head->screen set) for the one row x (hidden floats, already normalized;
 * head->norm unused), as decode_layers makes it after the last layer. */
void decode_screened_head(Head *head, const float *x, int hidden, int want_threads);

#endif
