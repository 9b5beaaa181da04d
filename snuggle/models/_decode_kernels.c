/* The instruction-set specific pieces of the decode kernels (see _decode.h): generic C, AVX2+FMA, AVX-512F.
 *
 * GEMM. Decoding multiplies 1-16 rows by each weight matrix once, so the product must stream the weight at
 * DRAM speed and, for 8-16 rows, load each weight vector once for all rows (register blocking). The weight is
 * input-major (k, n): the columns of one input are contiguous. Loop nest, per thread's column range:
 *
 *     column tile (the rows x tile outputs stay in L2; wide tiles keep the weight runs long)
 *       k block of KC inputs (KC weight rows are KC sequential streams; each strip also prefetches what the
 *       nest reads PF_AHEAD floats later: the hardware prefetcher alone fell 30-45% short of DRAM speed on
 *       AMD Zen 5, and 8-row blocks, whose compute hides less latency, the most)
 *         row block of up to R rows
 *           strip of V vectors: R x V accumulators in registers; for each k: V weight loads, R broadcasts,
 *           R x V FMAs
 *
 * AVX-512: R <= 8, V = 3 (24 accumulators + 3 weights + 1 broadcast of 32 registers); AVX2: R <= 4, V = 3
 * (12 + 3 + 1 of 16). The column tail uses one-vector strips, the last one masked.
 *
 * Attention, SiLU and RMSNorm are plain loops written so the compiler vectorizes them for each target
 * (fixed-width partial sums instead of one running sum; a polynomial exp instead of libm's expf).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_decode.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define INLINE static inline __attribute__((always_inline))
#ifndef KC
#define KC 16 /* inputs per k block */
#endif
#ifndef PF_AHEAD
#define PF_AHEAD 384 /* software prefetch distance along the weight stream, in floats (see gemm_driver) */
#endif
#ifndef PANEL_PF_AHEAD
#define PANEL_PF_AHEAD 1024 /* the same for a packed weight's single stream */
#endif
#ifndef PF_HINT
#define PF_HINT _MM_HINT_T0
#endif
#define TILE_BYTES 262144 /* rows x tile outputs; 24 KB (L1) streamed 30% slower for 8 rows */

/* -------------------------------------------------------------------------------------------- shared pieces */
/* Each output row starts from init (copied unless it is the output itself) or zero, plus the bias. */
INLINE void start_columns(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1) {
    for (int r = 0; r < g->rows; r++) {
        float *y = g->y + r * g->ldy;
        const float *init = g->init ? g->init + r * g->ldi : NULL;
        if (init == NULL) {
            if (g->bias) memcpy(y + c0, g->bias + c0, (size_t)(c1 - c0) * sizeof(float));
            else memset(y + c0, 0, (size_t)(c1 - c0) * sizeof(float));
            continue;
        }
        if (init != y) memcpy(y + c0, init + c0, (size_t)(c1 - c0) * sizeof(float));
        if (g->bias)
            for (ptrdiff_t c = c0; c < c1; c++) y[c] += g->bias[c];
    }
}

static ptrdiff_t tile_columns(int rows, int strip) {
    ptrdiff_t tile = TILE_BYTES / 4 / rows;
    tile = (tile / strip) * strip;
    return tile < strip ? strip : tile;
}

/* exp(x) for x <= 88.7 (Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, degree-5 polynomial; ~1 ulp), 0 below
 * -87.3 (where expf underflows to denormals); branch-free so loops over it vectorize. */
INLINE float exp_poly(float x) {
    const float clamped = x < -87.0f ? -87.0f : (x > 88.5f ? 88.5f : x);
    const float n = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = clamped - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : p * scale;
}

INLINE float dot(const float *a, const float *b, int n) {
    float lanes[16] = {0};
    int d = 0;
    for (; d + 16 <= n; d += 16)
        for (int l = 0; l < 16; l++) lanes[l] += a[d + l] * b[d + l];
    float sum = 0.0f;
    for (; d < n; d++) sum += a[d] * b[d];
    for (int l = 0; l < 16; l++) sum += lanes[l];
    return sum;
}

/* Query g's softmax over its scores s[0..len), whose largest is `top`: s[j] = exp(s[j] - top) (fixed-width
 * partial sums, so that the loop vectorizes), recording top and the exp sum where the caller combines parts
 * (h->top, h->total). Returns 1 / the sum, or 0 when every position is masked (top -inf: the output is zeros
 * rather than NaN). */
INLINE float softmax_scale(const HeadGroup *h, int g, float *s, int len, float top) {
    if (h->top) {
        h->top[g] = top;
        h->total[g] = 0.0f;
    }
    if (top == -INFINITY) return 0.0f;
    float lanes[16] = {0};
    int j = 0;
    for (; j + 16 <= len; j += 16)
        for (int l = 0; l < 16; l++) {
            s[j + l] = exp_poly(s[j + l] - top);
            lanes[l] += s[j + l];
        }
    float total = 0.0f;
    for (; j < len; j++) {
        s[j] = exp_poly(s[j] - top);
        total += s[j];
    }
    for (int l = 0; l < 16; l++) total += lanes[l];
    if (h->total) h->total[g] = total;
    return 1.0f / total;
}

/* softmax over each head's scores, then out = probabilities @ values; keys read once for the whole group */
INLINE void attend_body(const HeadGroup *h) {
    const int group = h->group, len = h->kv_len, dim = h->head_dim;
    for (int j = 0; j < len; j++) {
        const float *key = h->keys + j * h->ks;
        const float bias = h->mask ? h->mask[j] : 0.0f;
        for (int g = 0; g < group; g++) h->scores[g * len + j] = dot(h->queries + g * dim, key, dim) * h->scale + bias;
    }
    for (int g = 0; g < group; g++) {
        float *s = h->scores + g * len, *out = h->out + g * dim;
        float top = -INFINITY;
        for (int j = 0; j < len; j++) top = s[j] > top ? s[j] : top;
        memset(out, 0, (size_t)dim * sizeof(float));
        const float inv = softmax_scale(h, g, s, len, top);
        if (inv == 0.0f) continue;
        for (int j = 0; j < len; j++) {
            const float p = s[j] * inv;
            const float *value = h->values + j * h->vs;
            for (int d = 0; d < dim; d++) out[d] += p * value[d];
        }
    }
}

INLINE void silu_mul_body(float *gate, const float *up, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + exp_poly(-gate[i])) * up[i];
}

INLINE void rms_norm_body(const float *x, const float *weight, float eps, float *out, ptrdiff_t n) {
    float lanes[16] = {0};
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) lanes[l] += x[i + l] * x[i + l];
    float sum = 0.0f;
    for (; i < n; i++) sum += x[i] * x[i];
    for (int l = 0; l < 16; l++) sum += lanes[l];
    const float inv = 1.0f / sqrtf(sum / (float)n + eps);
    for (i = 0; i < n; i++) out[i] = x[i] * inv * weight[i];
}

/* low/high for the columns [p0, p0 + width) of one screen panel from its products acc (see Screen) */
INLINE void finish_screen(const Screen *s, const float *acc, float norm, ptrdiff_t p0, ptrdiff_t width, float *low,
                          float *high) {
    for (ptrdiff_t c = 0; c < width; c++) {
        const float approx = acc[c] * s->scale[p0 + c], margin = norm * s->bound[p0 + c];
        low[p0 + c] = approx - margin;
        high[p0 + c] = approx + margin;
    }
}

INLINE ptrdiff_t screen_width(ptrdiff_t n, ptrdiff_t c1, ptrdiff_t p0) {
    const ptrdiff_t end = c1 < n ? c1 : n;
    return end - p0 < SCREEN_PANEL ? end - p0 : SCREEN_PANEL;
}

INLINE void screen_body(const Screen *s, const float *x, ptrdiff_t k, float norm, ptrdiff_t n, ptrdiff_t c0,
                        ptrdiff_t c1, float *low, float *high) {
    for (ptrdiff_t p0 = c0; p0 < c1 && p0 < n; p0 += SCREEN_PANEL) {
        const int8_t *panel = s->q + (p0 / SCREEN_PANEL) * s->ldq;
        float acc[SCREEN_PANEL] = {0};
        for (ptrdiff_t i = 0; i < k; i++) {
            const float a = x[i];
            const int8_t *row = panel + i * SCREEN_PANEL;
            for (int c = 0; c < SCREEN_PANEL; c++) acc[c] += a * (float)row[c];
        }
        finish_screen(s, acc, norm, p0, screen_width(n, c1, p0), low, high);
    }
}

/* ------------------------------------------------------------------------------------------------- generic */
INLINE void gemm_generic_body(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1) {
    start_columns(g, c0, c1);
    const ptrdiff_t tile = tile_columns(g->rows, 16);
    for (ptrdiff_t t0 = c0; t0 < c1; t0 += tile) {
        const ptrdiff_t t1 = c1 - t0 < tile ? c1 : t0 + tile;
        ptrdiff_t k = 0;
        for (; k + 4 <= g->k; k += 4) {
            const float *w0 = g->w + k * g->ldw, *w1 = w0 + g->ldw, *w2 = w1 + g->ldw, *w3 = w2 + g->ldw;
            for (int r = 0; r < g->rows; r++) {
                const float *x = g->x + r * g->ldx + k;
                const float a0 = x[0], a1 = x[1], a2 = x[2], a3 = x[3];
                float *y = g->y + r * g->ldy;
                for (ptrdiff_t c = t0; c < t1; c++) y[c] += a0 * w0[c] + a1 * w1[c] + a2 * w2[c] + a3 * w3[c];
            }
        }
        for (; k < g->k; k++) {
            const float *w0 = g->w + k * g->ldw;
            for (int r = 0; r < g->rows; r++) {
                const float a0 = g->x[r * g->ldx + k];
                float *y = g->y + r * g->ldy;
                for (ptrdiff_t c = t0; c < t1; c++) y[c] += a0 * w0[c];
            }
        }
    }
}

/* the packed layout (see Gemm): one panel at a time, four inputs per pass */
INLINE void gemm_generic_packed_body(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1) {
    start_columns(g, c0, c1);
    for (ptrdiff_t p0 = c0; p0 < c1; p0 += DECODE_PANEL) {
        const float *panel = g->w + (p0 / DECODE_PANEL) * g->ldw;
        const ptrdiff_t width = c1 - p0 < DECODE_PANEL ? c1 - p0 : DECODE_PANEL;
        for (int r = 0; r < g->rows; r++) {
            const float *x = g->x + r * g->ldx;
            float *y = g->y + r * g->ldy + p0;
            ptrdiff_t k = 0;
            for (; k + 4 <= g->k; k += 4) {
                const float *w0 = panel + k * DECODE_PANEL, *w1 = w0 + DECODE_PANEL, *w2 = w1 + DECODE_PANEL,
                            *w3 = w2 + DECODE_PANEL;
                const float a0 = x[k], a1 = x[k + 1], a2 = x[k + 2], a3 = x[k + 3];
                for (ptrdiff_t c = 0; c < width; c++) y[c] += a0 * w0[c] + a1 * w1[c] + a2 * w2[c] + a3 * w3[c];
            }
            for (; k < g->k; k++) {
                const float *w0 = panel + k * DECODE_PANEL;
                for (ptrdiff_t c = 0; c < width; c++) y[c] += x[k] * w0[c];
            }
        }
    }
}

static void gemm_generic(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1) {
    if (g->packed) gemm_generic_packed_body(g, c0, c1);
    else gemm_generic_body(g, c0, c1);
}
static void attend_generic(const HeadGroup *h) { attend_body(h); }
static void silu_mul_generic(float *gate, const float *up, ptrdiff_t n) { silu_mul_body(gate, up, n); }
static void rms_norm_generic(const float *x, const float *w, float eps, float *out, ptrdiff_t n) {
    rms_norm_body(x, w, eps, out, n);
}
static void screen_generic(const Screen *s, const float *x, ptrdiff_t k, float norm, ptrdiff_t n, ptrdiff_t c0,
                           ptrdiff_t c1, float *low, float *high) {
    screen_body(s, x, k, norm, n, c0, c1, low, high);
}

const Kernels decode_kernels_generic = {"generic", gemm_generic, screen_generic, attend_generic, silu_mul_generic,
                                        rms_norm_generic};

#if HAVE_X86
/* A strip micro-kernel: y[r, 0:V*W] += x[r, 0:kc] @ w[0:kc, 0:V*W] for r < R (R, V compile-time). */
typedef void (*StripFn)(const float *x, ptrdiff_t ldx, const float *w, ptrdiff_t ldw, float *y, ptrdiff_t ldy,
                        ptrdiff_t kc, int tail, const float *pf);

/* Where a strip at column c prefetches (the same columns of its kc weight rows, PF_AHEAD floats on): along the
 * rows while the tile lasts, then on into the next k block's rows from the tile's start, which is what the loop
 * nest reads next; NULL past the last k block. The hardware prefetcher alone kept 16 short streams per thread
 * ~30-45% below the DRAM bandwidth here (narrow matrices and 8-row blocks the most). */
INLINE const float *ahead(const Gemm *g, const float *w, ptrdiff_t k0, ptrdiff_t t0, ptrdiff_t t1, ptrdiff_t c) {
    const ptrdiff_t target = c + PF_AHEAD;
    if (target < t1) return w + target;
    if (k0 + KC >= g->k) return NULL;
    const ptrdiff_t span = t1 - t0;
    return w + KC * g->ldw + t0 + (target - t1) % span;
}

/* A packed weight (see Gemm): per panel and row block, strips over all k inputs, reading the panel's (k, 48)
 * block front to back; the first row block prefetches PANEL_PF_AHEAD floats further along that one stream (into
 * the next panel at the end), later ones find the panel in cache. */
INLINE void gemm_packed(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1, int width, int max_rows, StripFn const *wide,
                        StripFn const *narrow, StripFn const *masked) {
    const int strip = 3 * width;
    for (ptrdiff_t p0 = c0; p0 < c1; p0 += DECODE_PANEL) {
        const float *panel = g->w + (p0 / DECODE_PANEL) * g->ldw;
        const ptrdiff_t p1 = c1 - p0 < DECODE_PANEL ? c1 : p0 + DECODE_PANEL;
        for (int r0 = 0; r0 < g->rows; r0 += max_rows) {
            const int rows = g->rows - r0 < max_rows ? g->rows - r0 : max_rows;
            const float *x = g->x + r0 * g->ldx;
            float *y = g->y + r0 * g->ldy;
            const int first = r0 == 0;
            ptrdiff_t c = p0;
            for (; c + strip <= p1; c += strip)
                wide[rows](x, g->ldx, panel + (c - p0), DECODE_PANEL, y + c, g->ldy, g->k, width,
                           first ? panel + (c - p0) + PANEL_PF_AHEAD : NULL);
            for (; c + width <= p1; c += width)
                narrow[rows](x, g->ldx, panel + (c - p0), DECODE_PANEL, y + c, g->ldy, g->k, width,
                             first ? panel + (c - p0) + PANEL_PF_AHEAD : NULL);
            if (c < p1)
                masked[rows](x, g->ldx, panel + (c - p0), DECODE_PANEL, y + c, g->ldy, g->k, (int)(p1 - c),
                             first ? panel + (c - p0) + PANEL_PF_AHEAD : NULL);
        }
    }
}

/* The driver shared by both instruction sets: tiles, k blocks, row blocks, strips (see the top comment). */
INLINE void gemm_driver(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1, int width, int max_rows, StripFn const *wide,
                        StripFn const *narrow, StripFn const *masked) {
    start_columns(g, c0, c1);
    if (g->packed) {
        gemm_packed(g, c0, c1, width, max_rows, wide, narrow, masked);
        return;
    }
    const int strip = 3 * width;
    const ptrdiff_t tile = tile_columns(g->rows, strip);
    for (ptrdiff_t t0 = c0; t0 < c1; t0 += tile) {
        const ptrdiff_t t1 = c1 - t0 < tile ? c1 : t0 + tile;
        for (ptrdiff_t k0 = 0; k0 < g->k; k0 += KC) {
            const ptrdiff_t kc = g->k - k0 < KC ? g->k - k0 : KC;
            const float *w = g->w + k0 * g->ldw;
            for (int r0 = 0; r0 < g->rows; r0 += max_rows) {
                const int rows = g->rows - r0 < max_rows ? g->rows - r0 : max_rows;
                const float *x = g->x + r0 * g->ldx + k0;
                float *y = g->y + r0 * g->ldy;
                const int first = r0 == 0; /* later row blocks find the weights in cache */
                ptrdiff_t c = t0;
                for (; c + strip <= t1; c += strip)
                    wide[rows](x, g->ldx, w + c, g->ldw, y + c, g->ldy, kc, width,
                               first ? ahead(g, w, k0, t0, t1, c) : NULL);
                for (; c + width <= t1; c += width)
                    narrow[rows](x, g->ldx, w + c, g->ldw, y + c, g->ldy, kc, width,
                                 first ? ahead(g, w, k0, t0, t1, c) : NULL);
                if (c < t1)
                    masked[rows](x, g->ldx, w + c, g->ldw, y + c, g->ldy, kc, (int)(t1 - c),
                                 first ? ahead(g, w, k0, t0, t1, c) : NULL);
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------- AVX2 + FMA */
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 INLINE __m256i avx2_tail_mask(int tail) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2 INLINE void strip_avx2(const int R, const int V, const int masked, const float *x, ptrdiff_t ldx,
                            const float *w, ptrdiff_t ldw, float *y, ptrdiff_t ldy, ptrdiff_t kc, int tail,
                            const float *pf) {
    const __m256i mask = avx2_tail_mask(tail);
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            acc[r][v] = masked ? _mm256_maskload_ps(y + r * ldy + 8 * v, mask) : _mm256_loadu_ps(y + r * ldy + 8 * v);
    for (ptrdiff_t k = 0; k < kc; k++) {
        const float *wk = w + k * ldw;
        __m256 wv[3];
        if (pf) {
            _mm_prefetch((const char *)(pf + k * ldw), PF_HINT);
            if (V > 2) _mm_prefetch((const char *)(pf + k * ldw + 16), PF_HINT);
        }
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) wv[v] = masked ? _mm256_maskload_ps(wk + 8 * v, mask) : _mm256_loadu_ps(wk + 8 * v);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m256 xb = _mm256_broadcast_ss(x + r * ldx + k);
#pragma GCC unroll 3
            for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(xb, wv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) {
            if (masked) _mm256_maskstore_ps(y + r * ldy + 8 * v, mask, acc[r][v]);
            else _mm256_storeu_ps(y + r * ldy + 8 * v, acc[r][v]);
        }
}

#define STRIP_AVX2(R, V, M)                                                                                      \
    AVX2 static void strip_avx2_##R##_##V##_##M(const float *x, ptrdiff_t ldx, const float *w, ptrdiff_t ldw,    \
                                                float *y, ptrdiff_t ldy, ptrdiff_t kc, int tail,                 \
                                                const float *pf) {                                               \
        strip_avx2(R, V, M, x, ldx, w, ldw, y, ldy, kc, tail, pf);                                               \
    }
#define STRIPS_AVX2(R) STRIP_AVX2(R, 3, 0) STRIP_AVX2(R, 1, 0) STRIP_AVX2(R, 1, 1)
STRIPS_AVX2(1)
STRIPS_AVX2(2)
STRIPS_AVX2(3)
STRIPS_AVX2(4)
static StripFn const avx2_wide[5] = {NULL, strip_avx2_1_3_0, strip_avx2_2_3_0, strip_avx2_3_3_0, strip_avx2_4_3_0};
static StripFn const avx2_narrow[5] = {NULL, strip_avx2_1_1_0, strip_avx2_2_1_0, strip_avx2_3_1_0,
                                       strip_avx2_4_1_0};
static StripFn const avx2_masked[5] = {NULL, strip_avx2_1_1_1, strip_avx2_2_1_1, strip_avx2_3_1_1,
                                       strip_avx2_4_1_1};

AVX2 static void gemm_avx2(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1) {
    gemm_driver(g, c0, c1, 8, 4, avx2_wide, avx2_narrow, avx2_masked);
}
AVX2 static void attend_avx2(const HeadGroup *h) { attend_body(h); }
AVX2 static void silu_mul_avx2(float *gate, const float *up, ptrdiff_t n) { silu_mul_body(gate, up, n); }
AVX2 static void rms_norm_avx2(const float *x, const float *w, float eps, float *out, ptrdiff_t n) {
    rms_norm_body(x, w, eps, out, n);
}
AVX2 static void screen_avx2(const Screen *s, const float *x, ptrdiff_t k, float norm, ptrdiff_t n, ptrdiff_t c0,
                             ptrdiff_t c1, float *low, float *high) {
    screen_body(s, x, k, norm, n, c0, c1, low, high);
}
static const Kernels kernels_avx2 = {"avx2", gemm_avx2, screen_avx2, attend_avx2, silu_mul_avx2, rms_norm_avx2};

/* ------------------------------------------------------------------------------------------------ AVX-512F */
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

AVX512 INLINE void strip_avx512(const int R, const int V, const float *x, ptrdiff_t ldx, const float *w,
                                ptrdiff_t ldw, float *y, ptrdiff_t ldy, ptrdiff_t kc, int tail, const float *pf) {
    /* the last vector of the strip is masked (all lanes for a full strip: same cost as a plain load) */
    const __mmask16 last = (__mmask16)(tail >= 16 ? 0xFFFFu : (1u << tail) - 1u);
    __m512 acc[8][3];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            acc[r][v] = v == V - 1 ? _mm512_maskz_loadu_ps(last, y + r * ldy + 16 * v) : _mm512_loadu_ps(y + r * ldy + 16 * v);
    for (ptrdiff_t k = 0; k < kc; k++) {
        const float *wk = w + k * ldw;
        __m512 wv[3];
        if (pf)
#pragma GCC unroll 3
            for (int v = 0; v < V; v++) _mm_prefetch((const char *)(pf + k * ldw + 16 * v), PF_HINT);
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            wv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(last, wk + 16 * v) : _mm512_loadu_ps(wk + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 xb = _mm512_set1_ps(x[r * ldx + k]);
#pragma GCC unroll 3
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) {
            if (v == V - 1) _mm512_mask_storeu_ps(y + r * ldy + 16 * v, last, acc[r][v]);
            else _mm512_storeu_ps(y + r * ldy + 16 * v, acc[r][v]);
        }
}

#define STRIP_AVX512(R, V)                                                                                       \
    AVX512 static void strip_avx512_##R##_##V(const float *x, ptrdiff_t ldx, const float *w, ptrdiff_t ldw,      \
                                              float *y, ptrdiff_t ldy, ptrdiff_t kc, int tail,                   \
                                              const float *pf) {                                                 \
        strip_avx512(R, V, x, ldx, w, ldw, y, ldy, kc, tail, pf);                                                \
    }
#define STRIPS_AVX512(R) STRIP_AVX512(R, 3) STRIP_AVX512(R, 1)
STRIPS_AVX512(1)
STRIPS_AVX512(2)
STRIPS_AVX512(3)
STRIPS_AVX512(4)
STRIPS_AVX512(5)
STRIPS_AVX512(6)
STRIPS_AVX512(7)
STRIPS_AVX512(8)
static StripFn const avx512_wide[9] = {NULL, strip_avx512_1_3, strip_avx512_2_3, strip_avx512_3_3,
                                       strip_avx512_4_3, strip_avx512_5_3, strip_avx512_6_3,
                                       strip_avx512_7_3, strip_avx512_8_3};
static StripFn const avx512_narrow[9] = {NULL, strip_avx512_1_1, strip_avx512_2_1, strip_avx512_3_1,
                                         strip_avx512_4_1, strip_avx512_5_1, strip_avx512_6_1,
                                         strip_avx512_7_1, strip_avx512_8_1};

AVX512 static void gemm_avx512(const Gemm *g, ptrdiff_t c0, ptrdiff_t c1) {
    gemm_driver(g, c0, c1, 16, 8, avx512_wide, avx512_narrow, avx512_narrow);
}
/* Attention for head dims that are whole vectors (64, 128, ...): each score is one dot product in vector lanes
 * reduced once (the generic loop reduces 16 scalar lanes serially per score), the group's queries share each
 * key load, the next keys and the values are prefetched while the scores are computed (the cache usually comes
 * from DRAM: the layer's weights went through the caches since it was last read), and the weighted sum of
 * values keeps the output in registers. */
#define ATTEND_MAX_VECTORS 16 /* head_dim <= 256 */
AVX512 INLINE void attend_vectors(const HeadGroup *h, const int nv) {
    const int group = h->group, len = h->kv_len, dim = h->head_dim;
    for (int j = 0; j < len; j++) {
        const float *key = h->keys + j * h->ks;
        _mm_prefetch((const char *)(key + 8 * h->ks), _MM_HINT_T0);
        _mm_prefetch((const char *)(key + 8 * h->ks + dim - 1), _MM_HINT_T0);
        const float *value = h->values + j * h->vs;
        for (int v = 0; v < dim; v += 16) _mm_prefetch((const char *)(value + v), _MM_HINT_T0);
        const float bias = h->mask ? h->mask[j] : 0.0f;
        for (int g = 0; g < group; g++) {
            const float *q = h->queries + g * dim;
            __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(key));
            for (int v = 1; v < nv; v++)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16 * v), _mm512_loadu_ps(key + 16 * v), acc);
            h->scores[g * len + j] = _mm512_reduce_add_ps(acc) * h->scale + bias;
        }
    }
    for (int g = 0; g < group; g++) {
        float *s = h->scores + g * len, *out = h->out + g * dim;
        __m512 top_v = _mm512_set1_ps(-INFINITY);
        int j = 0;
        for (; j + 16 <= len; j += 16) top_v = _mm512_max_ps(top_v, _mm512_loadu_ps(s + j));
        float top = _mm512_reduce_max_ps(top_v);
        for (; j < len; j++) top = s[j] > top ? s[j] : top;
        const float inv = softmax_scale(h, g, s, len, top);
        if (inv == 0.0f) { /* every position masked */
            memset(out, 0, (size_t)dim * sizeof(float));
            continue;
        }
        __m512 acc[ATTEND_MAX_VECTORS];
        for (int v = 0; v < nv; v++) acc[v] = _mm512_setzero_ps();
        for (j = 0; j < len; j++) {
            const __m512 p = _mm512_set1_ps(s[j] * inv);
            const float *value = h->values + j * h->vs;
            for (int v = 0; v < nv; v++) acc[v] = _mm512_fmadd_ps(p, _mm512_loadu_ps(value + 16 * v), acc[v]);
        }
        for (int v = 0; v < nv; v++) _mm512_storeu_ps(out + 16 * v, acc[v]);
    }
}

AVX512 static void attend_avx512(const HeadGroup *h) {
    if (h->head_dim == 64) attend_vectors(h, 4); /* constant vector counts: the accumulators stay in registers */
    else if (h->head_dim == 128) attend_vectors(h, 8);
    else if (h->head_dim % 16 == 0 && h->head_dim / 16 <= ATTEND_MAX_VECTORS) attend_vectors(h, h->head_dim / 16);
    else attend_body(h);
}
AVX512 static void silu_mul_avx512(float *gate, const float *up, ptrdiff_t n) { silu_mul_body(gate, up, n); }
AVX512 static void rms_norm_avx512(const float *x, const float *w, float eps, float *out, ptrdiff_t n) {
    rms_norm_body(x, w, eps, out, n);
}
/* A screen panel's 64 columns in four vectors: per input, 16 int8 weights widened to floats per vector
 * (vpmovsxbd, vcvtdq2ps) and one FMA; the panel is one sequential stream, prefetched SCREEN_PF_AHEAD bytes on. */
#ifndef SCREEN_PF_AHEAD
#define SCREEN_PF_AHEAD 2048
#endif
AVX512 static void screen_avx512(const Screen *s, const float *x, ptrdiff_t k, float norm, ptrdiff_t n, ptrdiff_t c0,
                                 ptrdiff_t c1, float *low, float *high) {
    for (ptrdiff_t p0 = c0; p0 < c1 && p0 < n; p0 += SCREEN_PANEL) {
        const int8_t *panel = s->q + (p0 / SCREEN_PANEL) * s->ldq;
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (ptrdiff_t i = 0; i < k; i++) {
            const int8_t *row = panel + i * SCREEN_PANEL;
            _mm_prefetch((const char *)(row + SCREEN_PF_AHEAD), _MM_HINT_T0);
            const __m512 a = _mm512_set1_ps(x[i]);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                const __m128i bytes = _mm_loadu_si128((const __m128i *)(row + 16 * v));
                acc[v] = _mm512_fmadd_ps(a, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)), acc[v]);
            }
        }
        float sums[SCREEN_PANEL];
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(sums + 16 * v, acc[v]);
        finish_screen(s, sums, norm, p0, screen_width(n, c1, p0), low, high);
    }
}
static const Kernels kernels_avx512 = {"avx512f", gemm_avx512, screen_avx512, attend_avx512, silu_mul_avx512,
                                       rms_norm_avx512};
#endif

int decode_supported_kernels(const Kernels **out) {
    int count = 0;
#if HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        out[count++] = &kernels_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out[count++] = &kernels_avx2;
#endif
    out[count++] = &decode_kernels_generic;
    return count;
}
