/* One Llama decoder layer for 1-16 single-token rows (a decode step), on the two threads of the pool.
 *
 * The same computation as llama_inference.fast_layer_forward (the pure-torch reference it is tested against):
 *
 *     xn = rms_norm(x)                                      each thread, into its own buffer (no barrier)
 *     qkv = xn @ W_qkv (+ b)                                inputs split (gemm_split_k)   | barrier | sum | barrier
 *     per (row, kv head), split between the threads:
 *         rotate k, write k and v at the cache's last position, rotate the group's queries,
 *         softmax(q k^T * scale + mask) v over the cache                                            | barrier
 *     out = x + att @ W_o (+ b)                             inputs split                  | barrier | sum | barrier
 *     xn = rms_norm(out)                                    each thread
 *     gate|up = xn @ W_gate_up                             inputs split                  | barrier
 *     h = silu(gate) * up                                   each thread its gate/up columns (after the sum) | barrier
 *     out += h @ W_down (+ b)                               inputs split                  | barrier | sum (end)
 *
 * With packed weights (see Gemm) each product splits whole panels between the threads instead: no partial sums,
 * one barrier per product.
 *
 * The cache slot for the new token is reserved by the caller (cache.update with a placeholder), so the keys
 * and values live in the very tensors the Python path uses. Rotary tables: cos and signed sin as built by
 * llama_inference.rotary_tables (x * cos + roll(x, d/2) * signed_sin).
 */
#include <math.h>
#include <string.h>

#include "_argmax.h"
#include "_decode.h"

/* scratch layout (floats): 2 normed copies | qkv | attention output | gate|up | thread 1's partial product (as
 * wide as the widest product) | per-thread query + scores */
static size_t qkv_width(const Layer *l) { return (size_t)(l->q_heads + 2 * l->kv_heads) * l->head_dim; }
static size_t group_size(const Layer *l) { return (size_t)(l->q_heads / l->kv_heads); }
static size_t per_thread_floats(const Layer *l) {
    return group_size(l) * ((size_t)l->head_dim + (size_t)l->kv_len);
}

/* per thread, when the threads split the positions of each attention item (see run_layer): its attention
 * output | each query's top score | each query's exp sum | the outputs of all threads combined */
static size_t split_floats(const Layer *l) { return (size_t)l->rows * l->q_heads * (2 * (size_t)l->head_dim + 2); }

static size_t partial_width(const Layer *l) {
    size_t widest = qkv_width(l) > (size_t)l->hidden ? qkv_width(l) : (size_t)l->hidden;
    return widest > 2 * (size_t)l->inter ? widest : 2 * (size_t)l->inter;
}

size_t decode_layer_scratch_floats(const Layer *l) {
    const size_t rows = (size_t)l->rows;
    return 2 * rows * l->hidden + rows * qkv_width(l) + rows * l->q_heads * l->head_dim + rows * 2 * l->inter +
           rows * partial_width(l) + 2 * per_thread_floats(l) + 2 * split_floats(l) + 64;
}

static void rotate(const float *x, const float *cos, const float *sin, int dim, float *out) {
    const int half = dim / 2;
    for (int i = 0; i < half; i++) out[i] = x[i] * cos[i] + x[i + half] * sin[i];
    for (int i = half; i < dim; i++) out[i] = x[i] * cos[i] + x[i - half] * sin[i];
}

/* g over all columns on the pool's threads, then a barrier.
 * Input-major weight: the k inputs are split between the threads, so each streams one contiguous half of the
 * weight (~20% faster than splitting the columns: half rows are short runs for the prefetcher). Thread 0
 * accumulates into g->y (from init and bias), thread 1 into `partial` (rows, n) from zero; after the barrier
 * the caller adds partial to y for its columns (add_partial).
 * Packed weight: each thread takes whole panels (one sequential stream each) and writes y directly. */
static void gemm_split_k(const Kernels *kern, const Gemm *g, ptrdiff_t n, float *partial, int tid, int nthreads) {
    Gemm mine = *g;
    if (g->packed) {
        ptrdiff_t c0, c1;
        split_panels(n, tid, nthreads, &c0, &c1);
        if (c0 < c1) kern->gemm_cols(&mine, c0, c1);
        pool_barrier(tid, nthreads);
        return;
    }
    if (nthreads > 1) {
        const ptrdiff_t middle = (g->k / 2 / 16) * 16;
        if (tid == 0) {
            mine.k = middle;
        } else {
            mine.x += middle;
            mine.w += middle * g->ldw;
            mine.k = g->k - middle;
            mine.y = partial;
            mine.ldy = n;
            mine.init = NULL;
            mine.bias = NULL;
        }
    }
    kern->gemm_cols(&mine, 0, n);
    pool_barrier(tid, nthreads);
}

/* y[:, c0:c1] += partial[:, c0:c1] after an input-major gemm_split_k on two threads (nothing to add otherwise) */
static void add_partial(float *y, ptrdiff_t ldy, const float *partial, ptrdiff_t n, int rows, ptrdiff_t c0,
                        ptrdiff_t c1, int nthreads, int packed) {
    if (nthreads < 2 || packed) return;
    for (int r = 0; r < rows; r++)
        for (ptrdiff_t c = c0; c < c1; c++) y[r * ldy + c] += partial[r * n + c];
}

static void run_layer(const Layer *l, int tid, int nthreads) {
    const Kernels *kern = decode_kernels;
    const int rows = l->rows, hidden = l->hidden, dim = l->head_dim, group = (int)group_size(l);
    const ptrdiff_t qkv_n = (ptrdiff_t)qkv_width(l), att_n = (ptrdiff_t)l->q_heads * dim, inter = l->inter;
    float *normed = l->scratch + (size_t)tid * rows * hidden;
    float *qkv = l->scratch + 2 * (size_t)rows * hidden;
    float *att = qkv + (size_t)rows * qkv_n;
    float *gate_up = att + (size_t)rows * att_n;
    float *partial = gate_up + (size_t)rows * 2 * inter; /* thread 1's half of each product */
    float *mine = partial + (size_t)rows * partial_width(l) + (size_t)tid * per_thread_floats(l);
    ptrdiff_t c0, c1;

    /* attention block */
    for (int r = 0; r < rows; r++)
        kern->rms_norm(l->x + (size_t)r * hidden, l->norm1, l->eps1, normed + (size_t)r * hidden, hidden);
    Gemm g = {normed, hidden, l->w_qkv, l->ld_qkv, qkv, qkv_n, NULL, 0, l->b_qkv, rows, hidden, l->packed};
    gemm_split_k(kern, &g, qkv_n, partial, tid, nthreads);
    if (!l->packed) {
        split_columns(qkv_n, tid, nthreads, &c0, &c1);
        add_partial(qkv, qkv_n, partial, qkv_n, rows, c0, c1, nthreads, l->packed);
        pool_barrier(tid, nthreads);
    }

    /* Items are (row, kv head). When they share out evenly, each thread takes whole items. Otherwise (one row
     * of 3 kv heads: 2 and 1) every thread takes its part of each item's positions, and after the barrier each
     * combines all parts into its own copy of the output (softmax over the union from each part's top score
     * and exp sum). The last thread's part holds the new token's slot, which it writes before reading. */
    float *query = mine, *scores = mine + (size_t)group * dim;
    const int slot = l->kv_len - 1, items = rows * l->kv_heads, by_positions = nthreads > 1 && items % nthreads;
    const size_t heads_total = (size_t)rows * l->q_heads;
    float *split = partial + (size_t)rows * partial_width(l) + 2 * per_thread_floats(l);
    const int j0 = by_positions ? (int)((long)l->kv_len * tid / nthreads) : 0;
    const int j1 = by_positions ? (int)((long)l->kv_len * (tid + 1) / nthreads) : l->kv_len;
    float *part = split + (size_t)tid * split_floats(l); /* out (rows, att_n) | top | total | combined */
    for (int item = by_positions ? 0 : tid; item < items; item += by_positions ? 1 : nthreads) {
        const int r = item / l->kv_heads, h = item % l->kv_heads;
        const float *row = qkv + (size_t)r * qkv_n;
        const float *cos = l->cos + (size_t)r * l->ld_rope, *sin = l->sin + (size_t)r * l->ld_rope;
        float *keys = l->keys + r * l->k_sb + h * l->k_sh, *values = l->values + r * l->v_sb + h * l->v_sh;
        if (j1 == l->kv_len) {
            rotate(row + (size_t)(l->q_heads + h) * dim, cos, sin, dim, keys + slot * l->k_ss);
            memcpy(values + slot * l->v_ss, row + (size_t)(l->q_heads + l->kv_heads + h) * dim,
                   (size_t)dim * sizeof(float));
        }
        for (int q = 0; q < group; q++) rotate(row + (size_t)(h * group + q) * dim, cos, sin, dim, query + q * dim);
        const size_t first = (size_t)r * l->q_heads + (size_t)h * group; /* the group's first query head */
        HeadGroup head = {query, keys + j0 * l->k_ss, l->k_ss, values + j0 * l->v_ss, l->v_ss,
                          l->mask ? l->mask + r * l->mask_sb + j0 : NULL, group, j1 - j0, dim, l->scale, scores,
                          (by_positions ? part : att) + first * dim, by_positions ? part + heads_total * dim + first : NULL,
                          by_positions ? part + heads_total * (dim + 1) + first : NULL};
        if (j1 > j0) {
            kern->attend(&head);
        } else { /* no positions in this part */
            memset(head.out, 0, (size_t)group * dim * sizeof(float));
            for (int q = 0; q < group; q++) {
                head.top[q] = -INFINITY;
                head.total[q] = 0.0f;
            }
        }
    }
    pool_barrier(tid, nthreads);
    const float *att_in = att;
    if (by_positions) {
        float *combined = part + heads_total * (dim + 2);
        for (size_t q = 0; q < heads_total; q++) {
            float best = -INFINITY;
            for (int t = 0; t < nthreads; t++) {
                const float top = split[(size_t)t * split_floats(l) + heads_total * dim + q];
                best = top > best ? top : best;
            }
            float *out = combined + q * dim;
            memset(out, 0, (size_t)dim * sizeof(float));
            if (best == -INFINITY) continue; /* every position masked: zeros, as attend gives */
            float weights[2], sum = 0.0f; /* the pool runs at most two threads */
            for (int t = 0; t < nthreads; t++) {
                const float *other = split + (size_t)t * split_floats(l);
                const float top = other[heads_total * dim + q];
                weights[t] = top == -INFINITY ? 0.0f : other[heads_total * (dim + 1) + q] * expf(top - best);
                sum += weights[t];
            }
            for (int t = 0; t < nthreads; t++) {
                const float *part_out = split + (size_t)t * split_floats(l) + q * dim;
                const float w = weights[t] / sum;
                for (int d = 0; d < dim; d++) out[d] += w * part_out[d];
            }
        }
        att_in = combined;
    }

    g = (Gemm){att_in, att_n, l->w_o, l->ld_o, l->out, hidden, l->x, hidden, l->b_o, rows, att_n, l->packed};
    gemm_split_k(kern, &g, hidden, partial, tid, nthreads);
    if (!l->packed) {
        split_columns(hidden, tid, nthreads, &c0, &c1);
        add_partial(l->out, hidden, partial, hidden, rows, c0, c1, nthreads, l->packed);
        pool_barrier(tid, nthreads);
    }

    /* MLP block: after the product, each thread finishes its gate columns [c0, c1) and the matching up
     * columns inter + [c0, c1) and applies silu(gate) * up to them */
    for (int r = 0; r < rows; r++)
        kern->rms_norm(l->out + (size_t)r * hidden, l->norm2, l->eps2, normed + (size_t)r * hidden, hidden);
    g = (Gemm){normed, hidden, l->w_gate_up, l->ld_gate_up, gate_up, 2 * inter, NULL, 0, l->b_gate_up, rows, hidden,
               l->packed};
    gemm_split_k(kern, &g, 2 * inter, partial, tid, nthreads);
    split_columns(inter, tid, nthreads, &c0, &c1);
    add_partial(gate_up, 2 * inter, partial, 2 * inter, rows, c0, c1, nthreads, l->packed);
    add_partial(gate_up, 2 * inter, partial, 2 * inter, rows, inter + c0, inter + c1, nthreads, l->packed);
    for (int r = 0; r < rows; r++)
        kern->silu_mul(gate_up + (size_t)r * 2 * inter + c0, gate_up + (size_t)r * 2 * inter + inter + c0, c1 - c0);
    pool_barrier(tid, nthreads);

    g = (Gemm){gate_up, 2 * inter, l->w_down, l->ld_down, l->out, hidden, l->out, hidden, l->b_down, rows, inter,
               l->packed};
    gemm_split_k(kern, &g, hidden, partial, tid, nthreads);
    split_columns(hidden, tid, nthreads, &c0, &c1);
    add_partial(l->out, hidden, partial, hidden, rows, c0, c1, nthreads, l->packed);
}


typedef struct {
    Layer *layers;
    int count;
    Head *head;
} Step;

/* The head's columns [c0, c1) of every row: logits = normed @ w (normed: this thread's normalized rows). */
static void head_columns(const Head *head, const float *normed, int rows, int hidden, ptrdiff_t c0, ptrdiff_t c1) {
    const Gemm g = {normed, hidden, head->w, head->ldw, head->logits, head->n, NULL, 0, NULL, rows, hidden,
                    head->packed};
    if (c0 < c1) decode_kernels->gemm_cols(&g, c0, c1);
}

static void head_share(const Head *head, const float *normed, int rows, int hidden, int tid, int nthreads) {
    ptrdiff_t c0, c1;
    if (head->packed) split_panels(head->n, tid, nthreads, &c0, &c1);
    else split_columns(head->n, tid, nthreads, &c0, &c1);
    head_columns(head, normed, rows, hidden, c0, c1);
}

static void ban(const Head *head, float *values) {
    for (int b = 0; b < head->bans; b++)
        for (ptrdiff_t i = 0; i < head->ban_counts[b]; i++) {
            const int64_t id = head->ban_ids[b][i];
            if (id >= 0 && id < head->n) values[id] = -INFINITY;
        }
}

/* After every column was computed (by this call's threads, then a barrier): the bans and the argmax. */
static void pick_from_all(Head *head) {
    ban(head, head->logits);
    *head->token = argmax_first(head->logits, head->n);
    head->full = 1;
}

/* A greedy step's token for one row without computing every logit. The int8 screen (Screen) gives each column
 * an interval [low, high] that holds its fp32 logit. L, the largest low (bans excluded), is at most the best
 * logit, so only the columns whose high reaches L can be the argmax: thread 0 computes their panels of the fp32
 * head exactly, with the same kernel as the full product (so the same values), and picks among them with
 * torch.argmax's rule. A column left out has a logit strictly below L, so it can neither win nor tie. The
 * screen reads a quarter of the head's bytes; on SmolLM2 a step keeps ~5 candidates of 49152 (56 at most).
 * Every column is computed instead (both threads) when the row's norm is not finite or huge, when no low is
 * finite (everything banned), or when more than max(16, n / 256) candidates remain. */
static void screened_head(Head *head, const float *normed, int hidden, int tid, int nthreads) {
    const ptrdiff_t n = head->n;
    double squares = 0.0;
    for (int i = 0; i < hidden; i++) squares += (double)normed[i] * normed[i];
    const float norm = (float)sqrt(squares);
    const int all = !(norm <= 1e30f); /* NaN too; below it no product of the bounded weights overflows */
    if (!all) {
        const ptrdiff_t panels = (n + SCREEN_PANEL - 1) / SCREEN_PANEL;
        ptrdiff_t cut = nthreads == 1 ? n : (panels + 1) / 2 * SCREEN_PANEL;
        if (cut > n) cut = n;
        decode_kernels->screen_cols(&head->screen, normed, hidden, norm, n, tid == 0 ? 0 : cut, tid == 0 ? cut : n,
                                    head->low, head->high);
        pool_barrier(tid, nthreads);
        if (tid == 0) {
            ban(head, head->low);
            ban(head, head->high);
            float top = -INFINITY;
            for (ptrdiff_t c = 0; c < n; c++) top = head->low[c] > top ? head->low[c] : top;
            const ptrdiff_t limit = n / 256 > 16 ? n / 256 : 16;
            ptrdiff_t count = 0;
            if (isfinite(top))
                for (ptrdiff_t c = 0; c < n && count <= limit; c++)
                    if (head->high[c] >= top) head->picked[count++] = (int32_t)c;
            head->full = !isfinite(top) || count > limit;
            head->screened = head->full ? 0 : count;
        }
        pool_barrier(tid, nthreads); /* every thread reads the decision */
        if (!head->full) {
            if (tid != 0) return;
            ptrdiff_t best = -1, computed = -1; /* the panel last computed: the candidates ascend */
            for (ptrdiff_t i = 0; i < head->screened; i++) {
                const ptrdiff_t c = head->picked[i], p0 = c / DECODE_PANEL * DECODE_PANEL;
                if (!head->packed) {
                    head_columns(head, normed, 1, hidden, c, c + 1);
                } else if (p0 != computed) {
                    head_columns(head, normed, 1, hidden, p0, p0 + DECODE_PANEL < n ? p0 + DECODE_PANEL : n);
                    computed = p0;
                }
                const float value = head->logits[c];
                if (!isfinite(value)) { /* not within the bound's assumptions: every column, on this thread */
                    head_columns(head, normed, 1, hidden, 0, n);
                    pick_from_all(head);
                    head->screened = 0;
                    return;
                }
                if (best < 0 || value > head->logits[best]) best = c;
            }
            *head->token = best;
            return;
        }
    }
    head_share(head, normed, 1, hidden, tid, nthreads);
    pool_barrier(tid, nthreads);
    if (tid == 0) pick_from_all(head);
}

/* Every layer, a barrier after each (the next reads its whole output), then the head: each thread normalizes
 * all rows into its own buffer and multiplies them by its panels (or columns) of the head, or for a greedy row
 * with a screen picks the token (screened_head). One run of the pool per step instead of one per layer and one
 * for the head. */
static void run_step(void *ctx, int tid, int nthreads) {
    const Step *step = (const Step *)ctx;
    for (int i = 0; i < step->count; i++) {
        run_layer(&step->layers[i], tid, nthreads);
        pool_barrier(tid, nthreads);
    }
    Head *head = step->head;
    if (head == NULL) return;
    const Layer *last = &step->layers[step->count - 1];
    const int rows = last->rows, hidden = last->hidden;
    float *normed = head->normed + (size_t)tid * rows * hidden;
    for (int r = 0; r < rows; r++)
        decode_kernels->rms_norm(last->out + (size_t)r * hidden, head->norm, head->eps, normed + (size_t)r * hidden,
                                 hidden);
    if (head->screen.q != NULL && rows == 1) screened_head(head, normed, hidden, tid, nthreads);
    else head_share(head, normed, rows, hidden, tid, nthreads);
}

void decode_layers(Layer *layers, int count, int want_threads, Head *head) {
    Step step = {layers, count, head};
    pool_run(run_step, &step, want_threads);
}

typedef struct {
    Head *head;
    const float *x;
    int hidden;
} Pick;

static void run_pick(void *ctx, int tid, int nthreads) {
    const Pick *pick = (const Pick *)ctx;
    screened_head(pick->head, pick->x, pick->hidden, tid, nthreads);
}

void decode_screened_head(Head *head, const float *x, int hidden, int want_threads) {
    Pick pick = {head, x, hidden};
    pool_run(run_pick, &pick, want_threads);
}
