/* The C fast path for byte-level BPE encoding (GPT-2, Llama 3, Qwen2 style).
 *
 * One object, ByteLevelBPE, holds everything needed to turn a Python str into
 * token ids, char offsets and word (pre-token) indices:
 *   - the 256 byte -> id table of the byte-level alphabet,
 *   - the merges as a hash map (left_id, right_id) -> (rank, merged_id),
 *   - optionally the whole vocabulary bytes -> id (for ignore_merges),
 *   - a char class table (0x110000 bytes: 0 other, 1 \p{L}, 2 \p{N}, 3 \s as the
 *     `regex` module defines them), computed once in Python,
 *   - which pre-tokenization regex family to emulate.
 *
 * The regexes are emulated by hand-written scanners (next_pretoken_*) that give the
 * same leftmost-alternative, greedy-with-backtracking matches as the `regex` module;
 * tests/tokenizers/test_fast.py checks them against `regex.findall` on many strings.
 * The merge loop applies the lowest-rank pair first (leftmost on ties), which is the
 * semantics of the pure-Python BPE model and of the reference library.
 *
 * All scanning and merging runs with the GIL released; only building the result
 * lists holds it. A word cache (bytes -> tokens) lives in the object and is used by
 * one call at a time (a lock taken without waiting); a concurrent call uses a
 * private cache instead, so threads never block each other.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { CC_OTHER = 0, CC_L = 1, CC_N = 2, CC_WS = 3 };
enum { PAT_GPT2 = 0, PAT_LLAMA3 = 1, PAT_QWEN2 = 2 };

#define CACHE_MAX_WORD 256        /* longer words are not cached */
#define CACHE_MAX_ENTRIES (1u << 20)
#define N_CACHES 4
#define POSITION_OBJECTS (1 << 16)
#define SMALL_WORD 64             /* words up to this many bytes use the array merge loop */

/* ------------------------------------------------------------------ hashing */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ mix64(w)) * 0x9E3779B97F4A7C15ULL;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ mix64(w)) * 0x9E3779B97F4A7C15ULL;
    return mix64(h);
}

/* ------------------------------------------------------------ merge table */

typedef struct {
    uint64_t key; /* (left << 32) | right; UINT64_MAX marks an empty slot */
    int32_t rank;
    int32_t new_id;
} MergeSlot;

typedef struct {
    MergeSlot *slots;
    uint64_t mask;
} MergeTable;

static inline const MergeSlot *merge_find(const MergeTable *t, uint32_t left, uint32_t right) {
    uint64_t key = ((uint64_t)left << 32) | right;
    uint64_t i = mix64(key) & t->mask;
    for (;;) {
        const MergeSlot *s = &t->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        i = (i + 1) & t->mask;
    }
}

/* ------------------------------------------------ bytes -> value hash map */
/* Used twice: the vocabulary (bytes -> id, for ignore_merges) and the word cache
 * (bytes -> list of tokens). Keys and values live in growable arenas. */

typedef struct {
    int32_t id;
    int32_t end; /* byte end of the token inside its word */
} Tok;

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len; /* key_len == 0: empty slot (words are never empty) */
    uint32_t val_off, val_len;
} BytesSlot;

typedef struct {
    BytesSlot *slots;
    size_t cap, count;
    uint8_t *keys;
    size_t keys_len, keys_cap;
    Tok *vals;
    size_t vals_len, vals_cap;
} BytesMap;

static void bytesmap_free(BytesMap *m) {
    free(m->slots);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static int bytesmap_init(BytesMap *m, size_t cap) {
    memset(m, 0, sizeof(*m));
    m->cap = cap;
    m->slots = calloc(cap, sizeof(BytesSlot));
    return m->slots ? 0 : -1;
}

static void bytesmap_clear(BytesMap *m) {
    memset(m->slots, 0, m->cap * sizeof(BytesSlot));
    m->count = m->keys_len = m->vals_len = 0;
}

static const BytesSlot *bytesmap_get(const BytesMap *m, const uint8_t *key, size_t n, uint64_t h) {
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        const BytesSlot *s = &m->slots[i];
        if (s->key_len == 0) return NULL;
        if (s->hash == h && s->key_len == n && memcmp(m->keys + s->key_off, key, n) == 0) return s;
        i = (i + 1) & mask;
    }
}

static int grow_buffer(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) ncap *= 2;
    void *nb = realloc(*buf, ncap * elem);
    if (!nb) return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static int bytesmap_rehash(BytesMap *m, size_t ncap) {
    BytesSlot *ns = calloc(ncap, sizeof(BytesSlot));
    if (!ns) return -1;
    for (size_t j = 0; j < m->cap; j++) {
        BytesSlot *s = &m->slots[j];
        if (s->key_len == 0) continue;
        size_t i = s->hash & (ncap - 1);
        while (ns[i].key_len != 0) i = (i + 1) & (ncap - 1);
        ns[i] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

/* Insert a key that is known to be absent. */
static int bytesmap_put(BytesMap *m, const uint8_t *key, size_t n, uint64_t h, const Tok *vals, size_t nv) {
    if ((m->count + 1) * 2 > m->cap && bytesmap_rehash(m, m->cap * 2) < 0) return -1;
    if (grow_buffer((void **)&m->keys, &m->keys_cap, m->keys_len + n, 1) < 0) return -1;
    if (grow_buffer((void **)&m->vals, &m->vals_cap, m->vals_len + nv, sizeof(Tok)) < 0) return -1;
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key_len != 0) i = (i + 1) & (m->cap - 1);
    BytesSlot *s = &m->slots[i];
    s->hash = h;
    s->key_off = (uint32_t)m->keys_len;
    s->key_len = (uint32_t)n;
    s->val_off = (uint32_t)m->vals_len;
    s->val_len = (uint32_t)nv;
    memcpy(m->keys + m->keys_len, key, n);
    m->keys_len += n;
    memcpy(m->vals + m->vals_len, vals, nv * sizeof(Tok));
    m->vals_len += nv;
    m->count++;
    return 0;
}

/* -------------------------------------------------------------- the object */

typedef struct {
    PyObject_HEAD
    int32_t byte_ids[256];
    MergeTable merges;
    BytesMap vocab;      /* only when ignore_merges */
    int ignore_merges;
    int pattern;
    int add_prefix_space;
    PyObject *classes;   /* bytes of length 0x110000, kept alive */
    const uint8_t *cls;
    /* word caches, each used by one call at a time (threads of encode_batch each
     * find a free one); a call that finds none uses a private cache */
    BytesMap cache[N_CACHES];
    PyThread_type_lock cache_lock[N_CACHES];
    int ready;
    /* one shared int object per token id, made on first use (ids repeat a lot, so this
     * saves most int allocations when building result lists) */
    PyObject **id_objects;
    Py_ssize_t n_id_objects;
    /* token id -> its str (or None), a tuple set by set_token_strings; encode_full puts
     * these very objects in its tokens lists (a reference each, no copies) */
    PyObject *token_strings;
    /* shared int objects for offsets and word indices below POSITION_OBJECTS, made on
     * first use: most results then allocate no int at all (at most ~2 MiB) */
    PyObject **position_objects;
} ByteLevelBPE;

/* ---------------------------------------------------------- text access */
/* The text as the scanners see it: the str, optionally with one virtual space in
 * front (ByteLevel add_prefix_space). Index v of the virtual text is char v-prefix
 * of the str. */

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;      /* virtual length */
    int prefix;        /* 1 when a space is prepended */
    const uint8_t *cls;
} Text;

static inline uint32_t cp_at(const Text *t, Py_ssize_t v) {
    if (t->prefix) {
        if (v == 0) return ' ';
        v -= 1;
    }
    return PyUnicode_READ(t->kind, t->data, v);
}

static inline int class_of(const Text *t, uint32_t c) { return c < 0x110000 ? t->cls[c] : CC_OTHER; }
static inline int cls_at(const Text *t, Py_ssize_t v) { return class_of(t, cp_at(t, v)); }

static inline Py_ssize_t run_of_class(const Text *t, Py_ssize_t v, int k) {
    while (v < t->n && cls_at(t, v) == k) v++;
    return v;
}

static inline int is_newline(uint32_t c) { return c == '\r' || c == '\n'; }

/* Whitespace at v: the end of `\s+(?!\S)|\s+` (shared by all families). */
static inline Py_ssize_t whitespace_tail(const Text *t, Py_ssize_t v, Py_ssize_t run_end) {
    if (run_end == t->n) return run_end;      /* \s+ up to the end: lookahead holds */
    if (run_end - v >= 2) return run_end - 1; /* back off one so the next char is \s */
    return v + 1;                             /* plain \s+ of one char */
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static Py_ssize_t next_pretoken_gpt2(const Text *t, Py_ssize_t v) {
    uint32_t c = cp_at(t, v);
    if (c == '\'' && v + 1 < t->n) {
        uint32_t d = cp_at(t, v + 1);
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return v + 2;
        if (v + 2 < t->n) {
            uint32_t e = cp_at(t, v + 2);
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return v + 3;
        }
    }
    if (c == ' ' && v + 1 < t->n) {
        int k2 = cls_at(t, v + 1);
        if (k2 != CC_WS) return run_of_class(t, v + 1, k2);
    }
    int k = class_of(t, c);
    if (k != CC_WS) return run_of_class(t, v + 1, k);
    return whitespace_tail(t, v, run_of_class(t, v + 1, CC_WS));
}

static inline int folds_to(uint32_t c, char lower) {
    /* (?i) in the `regex` module: simple case folding; U+017F LONG S folds to 's'. */
    return c == (uint32_t)lower || c == (uint32_t)(lower - 32) || (lower == 's' && c == 0x17F);
}

/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
 * |\s*[\r\n]+|\s+(?!\S)|\s+ */
static Py_ssize_t next_pretoken_llama(const Text *t, Py_ssize_t v, int max_digits) {
    uint32_t c = cp_at(t, v);
    if (c == '\'' && v + 1 < t->n) {
        uint32_t d = cp_at(t, v + 1);
        if (folds_to(d, 's') || folds_to(d, 't') || folds_to(d, 'm') || folds_to(d, 'd')) return v + 2;
        if (v + 2 < t->n) {
            uint32_t e = cp_at(t, v + 2);
            if ((folds_to(d, 'r') && folds_to(e, 'e')) || (folds_to(d, 'v') && folds_to(e, 'e')) ||
                (folds_to(d, 'l') && folds_to(e, 'l')))
                return v + 3;
        }
    }
    int k = class_of(t, c);
    if (k == CC_L) return run_of_class(t, v + 1, CC_L);
    if (k != CC_N && !is_newline(c) && v + 1 < t->n && cls_at(t, v + 1) == CC_L)
        return run_of_class(t, v + 2, CC_L);
    if (k == CC_N) {
        Py_ssize_t e = v + 1;
        while (e < t->n && e < v + max_digits && cls_at(t, e) == CC_N) e++;
        return e;
    }
    Py_ssize_t other_start = -1;
    if (k == CC_OTHER) other_start = v;
    else if (c == ' ' && v + 1 < t->n && cls_at(t, v + 1) == CC_OTHER) other_start = v + 1;
    if (other_start >= 0) {
        Py_ssize_t e = run_of_class(t, other_start + 1, CC_OTHER);
        while (e < t->n && is_newline(cp_at(t, e))) e++;
        return e;
    }
    /* whitespace: \s*[\r\n]+ ends right after the last newline of the run */
    Py_ssize_t run_end = v + 1, last_newline = is_newline(c) ? v : -1;
    while (run_end < t->n) {
        uint32_t d = cp_at(t, run_end);
        if (class_of(t, d) != CC_WS) break;
        if (is_newline(d)) last_newline = run_end;
        run_end++;
    }
    if (last_newline >= 0) return last_newline + 1;
    return whitespace_tail(t, v, run_end);
}

static inline Py_ssize_t next_pretoken(const Text *t, Py_ssize_t v, int pattern) {
    switch (pattern) {
    case PAT_GPT2: return next_pretoken_gpt2(t, v);
    case PAT_LLAMA3: return next_pretoken_llama(t, v, 3);
    default: return next_pretoken_llama(t, v, 1);
    }
}

/* ------------------------------------------------------- per-call buffers */

typedef struct {
    int32_t *ids, *starts, *ends, *words;
    size_t len, cap;
} Output;

typedef struct {
    uint8_t *bytes;     /* UTF-8 of the current word */
    int32_t *char_of;   /* byte index -> char index inside the word */
    size_t bytes_cap;
    /* merge loop scratch, all sized to the word length */
    int32_t *ids, *ranks, *next, *prev;
    Tok *toks;
    uint64_t *heap;
    size_t scratch_cap;
} Scratch;

static void scratch_free(Scratch *s) {
    free(s->bytes); free(s->char_of);
    free(s->ids); free(s->ranks); free(s->next); free(s->prev); free(s->toks); free(s->heap);
    memset(s, 0, sizeof(*s));
}

static int scratch_reserve(Scratch *s, size_t n) {
    if (n <= s->scratch_cap) return 0;
    size_t cap = s->scratch_cap ? s->scratch_cap : 256;
    while (cap < n) cap *= 2;
#define REALLOC_FIELD(f, T) do { void *p = realloc(s->f, cap * sizeof(T)); if (!p) return -1; s->f = p; } while (0)
    REALLOC_FIELD(bytes, uint8_t);
    REALLOC_FIELD(char_of, int32_t);
    REALLOC_FIELD(ids, int32_t);
    REALLOC_FIELD(ranks, int32_t);
    REALLOC_FIELD(next, int32_t);
    REALLOC_FIELD(prev, int32_t);
    REALLOC_FIELD(toks, Tok);
    /* one merge can push two entries: 3n bounds the heap */
    { void *p = realloc(s->heap, 3 * cap * sizeof(uint64_t)); if (!p) return -1; s->heap = p; }
#undef REALLOC_FIELD
    s->scratch_cap = s->bytes_cap = cap;
    return 0;
}

static int output_push(Output *o, int32_t id, int32_t start, int32_t end, int32_t word) {
    if (o->len == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        int32_t *a = realloc(o->ids, cap * sizeof(int32_t)); if (!a) return -1; o->ids = a;
        a = realloc(o->starts, cap * sizeof(int32_t)); if (!a) return -1; o->starts = a;
        a = realloc(o->ends, cap * sizeof(int32_t)); if (!a) return -1; o->ends = a;
        a = realloc(o->words, cap * sizeof(int32_t)); if (!a) return -1; o->words = a;
        o->cap = cap;
    }
    o->ids[o->len] = id; o->starts[o->len] = start; o->ends[o->len] = end; o->words[o->len] = word;
    o->len++;
    return 0;
}

static void output_free(Output *o) {
    free(o->ids); free(o->starts); free(o->ends); free(o->words);
    memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------ merge loops */

#define NO_RANK INT32_MAX

static inline int32_t pair_rank(const ByteLevelBPE *self, int32_t a, int32_t b, int32_t *new_id) {
    const MergeSlot *m = merge_find(&self->merges, (uint32_t)a, (uint32_t)b);
    if (!m) return NO_RANK;
    *new_id = m->new_id;
    return m->rank;
}

/* Short words: ids[] with the rank of each adjacent pair; merge the lowest rank
 * (leftmost on ties), update the two neighbouring ranks, repeat. */
static size_t merge_small(const ByteLevelBPE *self, Scratch *s, size_t n) {
    /* ranks[i], merged[i]: the pair (ids[i], ids[i+1]) */
    int32_t *ids = s->ids, *ranks = s->ranks, *ends = s->next, *merged = s->prev;
    for (size_t i = 0; i < n; i++) { ids[i] = self->byte_ids[s->bytes[i]]; ends[i] = (int32_t)i + 1; }
    for (size_t i = 0; i + 1 < n; i++) ranks[i] = pair_rank(self, ids[i], ids[i + 1], &merged[i]);
    size_t m = n;
    while (m > 1) {
        int32_t best = NO_RANK;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (ranks[i] < best) { best = ranks[i]; at = i; }
        if (best == NO_RANK) break;
        ids[at] = merged[at];
        ends[at] = ends[at + 1];
        /* drop symbol at+1 and the pair (at+1, at+2) */
        memmove(ids + at + 1, ids + at + 2, (m - at - 2) * sizeof(int32_t));
        memmove(ends + at + 1, ends + at + 2, (m - at - 2) * sizeof(int32_t));
        if (at + 3 <= m) {
            memmove(ranks + at + 1, ranks + at + 2, (m - at - 3) * sizeof(int32_t));
            memmove(merged + at + 1, merged + at + 2, (m - at - 3) * sizeof(int32_t));
        }
        m--;
        if (at + 1 < m) ranks[at] = pair_rank(self, ids[at], ids[at + 1], &merged[at]);
        if (at > 0) ranks[at - 1] = pair_rank(self, ids[at - 1], ids[at], &merged[at - 1]);
    }
    for (size_t i = 0; i < m; i++) { s->toks[i].id = ids[i]; s->toks[i].end = ends[i]; }
    return m;
}

/* Binary min-heap of (rank << 32 | position): lowest rank, then leftmost. */
static inline void heap_push(uint64_t *h, size_t *n, uint64_t x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= x) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], x = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = x;
    return top;
}

/* Long words: a linked list of symbols and a heap of candidate merges, so a word
 * of n bytes costs O(n log n) rather than O(n^2). A heap entry is stale when the
 * pair at its position no longer has its rank (ranks identify pairs uniquely). */
static size_t merge_large(const ByteLevelBPE *self, Scratch *s, size_t n) {
    int32_t *ids = s->ids, *next = s->next, *prev = s->prev;
    uint64_t *heap = s->heap;
    size_t hn = 0;
    int32_t dummy;
    for (size_t i = 0; i < n; i++) {
        ids[i] = self->byte_ids[s->bytes[i]];
        next[i] = (int32_t)i + 1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = pair_rank(self, ids[i], ids[i + 1], &dummy);
        if (r != NO_RANK) heap_push(heap, &hn, ((uint64_t)(uint32_t)r << 32) | i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        int32_t rank = (int32_t)(top >> 32), pos = (int32_t)(top & 0xffffffffu);
        if (ids[pos] < 0 || next[pos] >= (int32_t)n) continue;
        int32_t nx = next[pos], new_id = 0;
        if (pair_rank(self, ids[pos], ids[nx], &new_id) != rank) continue;
        ids[pos] = new_id;
        ids[nx] = -1;
        next[pos] = next[nx];
        if (next[nx] < (int32_t)n) prev[next[nx]] = pos;
        if (prev[pos] >= 0) {
            int32_t r = pair_rank(self, ids[prev[pos]], ids[pos], &dummy);
            if (r != NO_RANK) heap_push(heap, &hn, ((uint64_t)(uint32_t)r << 32) | (uint32_t)prev[pos]);
        }
        if (next[pos] < (int32_t)n) {
            int32_t r = pair_rank(self, ids[pos], ids[next[pos]], &dummy);
            if (r != NO_RANK) heap_push(heap, &hn, ((uint64_t)(uint32_t)r << 32) | (uint32_t)pos);
        }
    }
    size_t m = 0;
    for (int32_t i = 0; i < (int32_t)n; i = next[i]) {
        s->toks[m].id = ids[i];
        s->toks[m].end = next[i];
        m++;
    }
    return m;
}

/* Tokens of the word in s->bytes[0:n]; *out points at them (cache or scratch). */
static int encode_word(ByteLevelBPE *self, BytesMap *cache, Scratch *s, size_t n, const Tok **out, size_t *count) {
    uint64_t h = 0;
    int cacheable = cache && n <= CACHE_MAX_WORD;
    if (cacheable) {
        h = hash_bytes(s->bytes, n);
        const BytesSlot *hit = bytesmap_get(cache, s->bytes, n, h);
        if (hit) {
            *out = cache->vals + hit->val_off;
            *count = hit->val_len;
            return 0;
        }
    }
    size_t m;
    if (n == 1) {
        s->toks[0].id = self->byte_ids[s->bytes[0]];
        s->toks[0].end = 1;
        m = 1;
    } else {
        const BytesSlot *whole = NULL;
        if (self->ignore_merges) whole = bytesmap_get(&self->vocab, s->bytes, n, hash_bytes(s->bytes, n));
        if (whole) {
            s->toks[0].id = self->vocab.vals[whole->val_off].id;
            s->toks[0].end = (int32_t)n;
            m = 1;
        } else {
            m = n <= SMALL_WORD ? merge_small(self, s, n) : merge_large(self, s, n);
        }
    }
    if (cacheable) {
        if (cache->count >= CACHE_MAX_ENTRIES) bytesmap_clear(cache);
        if (bytesmap_put(cache, s->bytes, n, h, s->toks, m) < 0) return -1;
    }
    *out = s->toks;
    *count = m;
    return 0;
}

/* Error codes of encode_text (no Python calls may happen without the GIL). */
enum { ENC_OK = 0, ENC_NOMEM = -1, ENC_SURROGATE = -2 };

/* Encode one str into o (appending). Runs without the GIL. *n_words receives the
 * number of pre-tokens. */
static int encode_text(ByteLevelBPE *self, BytesMap *cache, Scratch *s, PyObject *str, Output *o, int32_t *n_words) {
    Text t;
    Py_ssize_t len = PyUnicode_GET_LENGTH(str);
    t.kind = PyUnicode_KIND(str);
    t.data = PyUnicode_DATA(str);
    t.cls = self->cls;
    /* ByteLevel prepends a space when the text does not start with one (never to "") */
    t.prefix = self->add_prefix_space && len > 0 && PyUnicode_READ(t.kind, t.data, 0) != ' ';
    t.n = len + t.prefix;
    int32_t word = 0;
    Py_ssize_t v = 0;
    while (v < t.n) {
        Py_ssize_t e = next_pretoken(&t, v, self->pattern);
        size_t need = (size_t)(e - v) * 4;
        if (scratch_reserve(s, need) < 0) return ENC_NOMEM;
        size_t nb = 0;
        for (Py_ssize_t j = v; j < e; j++) {
            uint32_t c = cp_at(&t, j);
            int32_t rel = (int32_t)(j - v);
            uint8_t *b = s->bytes + nb;
            if (c < 0x80) {
                b[0] = (uint8_t)c;
                s->char_of[nb++] = rel;
            } else if (c < 0x800) {
                b[0] = (uint8_t)(0xC0 | (c >> 6));
                b[1] = (uint8_t)(0x80 | (c & 0x3F));
                s->char_of[nb++] = rel; s->char_of[nb++] = rel;
            } else if (c < 0x10000) {
                if (c >= 0xD800 && c < 0xE000) return ENC_SURROGATE;
                b[0] = (uint8_t)(0xE0 | (c >> 12));
                b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
                b[2] = (uint8_t)(0x80 | (c & 0x3F));
                s->char_of[nb++] = rel; s->char_of[nb++] = rel; s->char_of[nb++] = rel;
            } else {
                b[0] = (uint8_t)(0xF0 | (c >> 18));
                b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
                b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
                b[3] = (uint8_t)(0x80 | (c & 0x3F));
                s->char_of[nb++] = rel; s->char_of[nb++] = rel; s->char_of[nb++] = rel; s->char_of[nb++] = rel;
            }
        }
        const Tok *toks;
        size_t m;
        if (encode_word(self, cache, s, nb, &toks, &m) < 0) return ENC_NOMEM;
        int32_t byte_start = 0;
        for (size_t k = 0; k < m; k++) {
            /* virtual char range of the token: each byte stands for its whole char */
            Py_ssize_t vs = v + s->char_of[byte_start], ve = v + s->char_of[toks[k].end - 1] + 1;
            /* the prepended space is aligned to the first real char */
            int32_t start = (int32_t)(t.prefix ? (vs > 0 ? vs - 1 : 0) : vs);
            int32_t end = (int32_t)(t.prefix ? (ve > 1 ? ve - 1 : 1) : ve);
            if (output_push(o, toks[k].id, start, end, word) < 0) return ENC_NOMEM;
            byte_start = toks[k].end;
        }
        word++;
        v = e;
    }
    *n_words = word;
    return ENC_OK;
}

/* ----------------------------------------------------- Python result lists */

static PyObject *id_object(ByteLevelBPE *self, int32_t id) {
    if (id < 0 || id >= self->n_id_objects) return PyLong_FromLong(id);
    PyObject *obj = self->id_objects[id];
    if (!obj) {
        if (!(obj = PyLong_FromLong(id))) return NULL;
        self->id_objects[id] = obj;
    }
    Py_INCREF(obj);
    return obj;
}

/* A char offset or word index as an int object (shared below POSITION_OBJECTS). */
static inline PyObject *position_object(ByteLevelBPE *self, Py_ssize_t v) {
    if (v < 0 || v >= POSITION_OBJECTS) return PyLong_FromSsize_t(v);
    PyObject *obj = self->position_objects[v];
    if (!obj) {
        if (!(obj = PyLong_FromSsize_t(v))) return NULL;
        self->position_objects[v] = obj;
    }
    Py_INCREF(obj);
    return obj;
}

static PyObject *build_ids(ByteLevelBPE *self, const Output *o, size_t lo, size_t hi) {
    PyObject *ids = PyList_New((Py_ssize_t)(hi - lo));
    if (!ids) return NULL;
    for (size_t i = lo; i < hi; i++) {
        PyObject *id = id_object(self, o->ids[i]);
        if (!id) { Py_DECREF(ids); return NULL; }
        PyList_SET_ITEM(ids, (Py_ssize_t)(i - lo), id);
    }
    return ids;
}

/* What a call wants back for each text. */
enum { RESULT_TRIPLE = 0, RESULT_IDS = 1, RESULT_FULL = 2, RESULT_PACKED = 3 };

typedef struct {
    int kind;
    PyObject *strings;             /* RESULT_FULL: the token strings tuple (a reference held by the caller) */
    const Py_ssize_t *char_bases;  /* RESULT_FULL: added to text i's offsets; NULL: 0 */
    const Py_ssize_t *word_bases;  /* RESULT_FULL: added to text i's word indices; NULL: 0 */
} ResultSpec;

/* [(start + base, end + base), ...] for o[lo:hi]. Building these tuples is most of the
 * cost of a result, so: a token's start is usually the previous token's end (one int
 * object serves both), and tokens that split one multi-byte char share one tuple. */
static PyObject *build_offsets(ByteLevelBPE *self, const Output *o, size_t lo, size_t hi, Py_ssize_t base) {
    Py_ssize_t n = (Py_ssize_t)(hi - lo);
    PyObject *offsets = PyList_New(n);
    if (!offsets) return NULL;
    PyObject *last_pair = NULL, *last_end = NULL;
    int32_t last_start_v = -1, last_end_v = -1; /* offsets are >= 0: nothing matches at first */
    for (Py_ssize_t k = 0; k < n; k++) {
        size_t i = lo + (size_t)k;
        int32_t s = o->starts[i], e = o->ends[i];
        if (s == last_start_v && e == last_end_v) {
            Py_INCREF(last_pair);
            PyList_SET_ITEM(offsets, k, last_pair);
            continue;
        }
        PyObject *start;
        if (s == last_end_v) { start = last_end; Py_INCREF(start); }
        else if (!(start = position_object(self, (Py_ssize_t)s + base))) goto fail;
        PyObject *end = position_object(self, (Py_ssize_t)e + base);
        if (!end) { Py_DECREF(start); goto fail; }
        PyObject *pair = PyTuple_New(2);
        if (!pair) { Py_DECREF(start); Py_DECREF(end); goto fail; }
        PyTuple_SET_ITEM(pair, 0, start);
        PyTuple_SET_ITEM(pair, 1, end);
        /* A tuple of two ints can never be part of a cycle: untrack it now (as the GC
         * itself would on its first pass) so millions of offsets cost the GC nothing. */
        PyObject_GC_UnTrack(pair);
        PyList_SET_ITEM(offsets, k, pair);
        last_pair = pair; last_end = end;
        last_start_v = s; last_end_v = e;
    }
    return offsets;
fail:
    Py_DECREF(offsets); /* unset items are NULL, which list dealloc skips */
    return NULL;
}

/* [word + base, ...] for o[lo:hi]; a word's tokens share one int object. */
static PyObject *build_words(ByteLevelBPE *self, const Output *o, size_t lo, size_t hi, Py_ssize_t base) {
    Py_ssize_t n = (Py_ssize_t)(hi - lo);
    PyObject *words = PyList_New(n);
    if (!words) return NULL;
    PyObject *last_word = NULL;
    int32_t last_word_v = -1;
    for (Py_ssize_t k = 0; k < n; k++) {
        int32_t w = o->words[lo + (size_t)k];
        if (last_word && w == last_word_v) {
            Py_INCREF(last_word);
        } else {
            if (!(last_word = position_object(self, (Py_ssize_t)w + base))) { Py_DECREF(words); return NULL; }
            last_word_v = w;
        }
        PyList_SET_ITEM(words, k, last_word);
    }
    return words;
}

/* [strings[id], ...] for o[lo:hi]: the shared str objects themselves. */
static PyObject *build_tokens(PyObject *strings, const Output *o, size_t lo, size_t hi) {
    Py_ssize_t n = (Py_ssize_t)(hi - lo), n_strings = PyTuple_GET_SIZE(strings);
    PyObject *tokens = PyList_New(n);
    if (!tokens) return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        int32_t id = o->ids[lo + (size_t)k];
        PyObject *str = id >= 0 && id < n_strings ? PyTuple_GET_ITEM(strings, id) : Py_None;
        if (str == Py_None) {
            PyErr_Format(PyExc_ValueError,
                         "ByteLevelBPE.encode_full: token id %d has no token string (set_token_strings got %zd strings)",
                         (int)id, n_strings);
            Py_DECREF(tokens);
            return NULL;
        }
        Py_INCREF(str);
        PyList_SET_ITEM(tokens, k, str);
    }
    return tokens;
}

/* (ids, offsets, words, n_words) for o[lo:hi] as native int32 bytes: ids; start, end
 * pairs (+ char_base); words (+ word_base). bytes objects are not tracked by the garbage
 * collector and hold no references, so an Encoding built on them costs the GC nothing
 * until a field is read (the Python side turns them into lists on first access). */
static PyObject *build_packed(const Output *o, size_t lo, size_t hi, Py_ssize_t char_base, Py_ssize_t word_base,
                              int32_t n_words) {
    Py_ssize_t n = (Py_ssize_t)(hi - lo);
    PyObject *ids = PyBytes_FromStringAndSize(NULL, n * 4);
    PyObject *offs = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *words = PyBytes_FromStringAndSize(NULL, n * 4);
    PyObject *count = PyLong_FromLong(n_words);
    PyObject *r = (ids && offs && words && count) ? PyTuple_New(4) : NULL;
    if (!r) { Py_XDECREF(ids); Py_XDECREF(offs); Py_XDECREF(words); Py_XDECREF(count); return NULL; }
    int32_t *pi = (int32_t *)PyBytes_AS_STRING(ids), *po = (int32_t *)PyBytes_AS_STRING(offs),
            *pw = (int32_t *)PyBytes_AS_STRING(words);
    for (Py_ssize_t k = 0; k < n; k++) {
        size_t i = lo + (size_t)k;
        pi[k] = o->ids[i];
        po[2 * k] = (int32_t)(o->starts[i] + char_base);
        po[2 * k + 1] = (int32_t)(o->ends[i] + char_base);
        pw[k] = (int32_t)(o->words[i] + word_base);
    }
    PyTuple_SET_ITEM(r, 0, ids);
    PyTuple_SET_ITEM(r, 1, offs);
    PyTuple_SET_ITEM(r, 2, words);
    PyTuple_SET_ITEM(r, 3, count);
    return r;
}

/* The result for one text: o[lo:hi] as the spec asks. */
static PyObject *build_result(ByteLevelBPE *self, const ResultSpec *spec, const Output *o, size_t lo, size_t hi,
                              Py_ssize_t text_index, int32_t n_words) {
    if (spec->kind == RESULT_IDS) return build_ids(self, o, lo, hi);
    if (spec->kind == RESULT_PACKED)
        return build_packed(o, lo, hi, spec->char_bases ? spec->char_bases[text_index] : 0,
                            spec->word_bases ? spec->word_bases[text_index] : 0, n_words);
    Py_ssize_t char_base = spec->char_bases ? spec->char_bases[text_index] : 0;
    Py_ssize_t word_base = spec->word_bases ? spec->word_bases[text_index] : 0;
    int full = spec->kind == RESULT_FULL;
    PyObject *r = PyTuple_New(full ? 5 : 3);
    if (!r) return NULL;
    PyObject *ids = build_ids(self, o, lo, hi);
    if (!ids) goto fail;
    PyTuple_SET_ITEM(r, 0, ids);
    PyObject *tokens = NULL;
    if (full) {
        if (!(tokens = build_tokens(spec->strings, o, lo, hi))) goto fail;
        PyTuple_SET_ITEM(r, 1, tokens);
    }
    PyObject *offsets = build_offsets(self, o, lo, hi, char_base);
    if (!offsets) goto fail;
    PyTuple_SET_ITEM(r, full ? 2 : 1, offsets);
    PyObject *words = build_words(self, o, lo, hi, word_base);
    if (!words) goto fail;
    PyTuple_SET_ITEM(r, full ? 3 : 2, words);
    if (full) {
        PyObject *count = PyLong_FromLong(n_words);
        if (!count) goto fail;
        PyTuple_SET_ITEM(r, 4, count);
    }
    return r;
fail:
    Py_DECREF(r); /* unset items are NULL, which tuple dealloc skips */
    return NULL;
}

/* One worker's share of a batch: texts[lo:hi] into its own output. */
typedef struct {
    ByteLevelBPE *self;
    PyObject **texts;
    Py_ssize_t lo, hi;
    Output o;
    size_t *bounds;   /* bounds[i - lo] .. bounds[i - lo + 1]: text i's tokens in o */
    int32_t *n_words; /* n_words[i - lo]: text i's number of pre-tokens */
    int rc;
    Py_ssize_t failed_at;
} Job;

/* Runs without the GIL: takes a free shared word cache (or makes a private one). */
static void run_job(Job *job) {
    ByteLevelBPE *self = job->self;
    BytesMap private_cache, *cache = NULL;
    int slot = 0;
    for (; slot < N_CACHES; slot++)
        if (PyThread_acquire_lock(self->cache_lock[slot], NOWAIT_LOCK)) { cache = &self->cache[slot]; break; }
    int own_lock = cache != NULL;
    if (!own_lock) {
        if (bytesmap_init(&private_cache, 4096) < 0) { job->rc = ENC_NOMEM; return; }
        cache = &private_cache;
    }
    Scratch s = {0};
    job->rc = ENC_OK;
    job->bounds[0] = 0;
    for (Py_ssize_t i = job->lo; i < job->hi; i++) {
        job->rc = encode_text(self, cache, &s, job->texts[i], &job->o, &job->n_words[i - job->lo]);
        if (job->rc != ENC_OK) { job->failed_at = i; break; }
        job->bounds[i - job->lo + 1] = job->o.len;
    }
    scratch_free(&s);
    if (own_lock) PyThread_release_lock(self->cache_lock[slot]);
    else bytesmap_free(&private_cache);
}

static void *job_thread(void *arg) {
    run_job((Job *)arg);
    return NULL;
}

#define MAX_JOBS 8

/* Encode texts[0:n] with the GIL released, on up to n_threads native threads (the
 * texts cut into contiguous shares of about equal length); then build the results
 * on this thread as `spec` asks: (ids, offsets, words), ids, or
 * (ids, tokens, offsets, words, n_words). Building Python objects needs the GIL, so
 * it is done once, after the parallel part, rather than by several Python threads
 * taking turns. */
static PyObject *encode_texts(ByteLevelBPE *self, PyObject **texts, Py_ssize_t n, const ResultSpec *spec, int n_threads) {
    size_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_Check(texts[i])) {
            PyErr_Format(PyExc_TypeError, "ByteLevelBPE.encode: expected str, found %.100s", Py_TYPE(texts[i])->tp_name);
            return NULL;
        }
        if (PyUnicode_READY(texts[i]) < 0) return NULL;
        total += (size_t)PyUnicode_GET_LENGTH(texts[i]);
    }
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MAX_JOBS) n_threads = MAX_JOBS;
    if (n_threads > n) n_threads = (int)(n > 0 ? n : 1);
    Job jobs[MAX_JOBS];
    memset(jobs, 0, sizeof(jobs));
    size_t *bounds = malloc((size_t)(n + n_threads) * sizeof(size_t));
    int32_t *n_words = malloc((size_t)(n + 1) * sizeof(int32_t));
    if (!bounds || !n_words) { free(bounds); free(n_words); return PyErr_NoMemory(); }
    /* contiguous shares of about total / n_threads chars each */
    int n_jobs = 0;
    Py_ssize_t lo = 0;
    size_t acc = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        acc += (size_t)PyUnicode_GET_LENGTH(texts[i]);
        int last_job = n_jobs == n_threads - 1;
        if (i == n - 1 || (!last_job && acc * (size_t)n_threads >= total * (size_t)(n_jobs + 1))) {
            jobs[n_jobs].lo = lo;
            jobs[n_jobs].hi = i + 1;
            n_jobs++;
            lo = i + 1;
        }
    }
    size_t bounds_used = 0;
    for (int j = 0; j < n_jobs; j++) {
        jobs[j].self = self;
        jobs[j].texts = texts;
        jobs[j].bounds = bounds + bounds_used;
        jobs[j].n_words = n_words + jobs[j].lo;
        bounds_used += (size_t)(jobs[j].hi - jobs[j].lo + 1);
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_t threads[MAX_JOBS];
    int started[MAX_JOBS] = {0};
    for (int j = 1; j < n_jobs; j++) started[j] = pthread_create(&threads[j], NULL, job_thread, &jobs[j]) == 0;
    for (int j = 0; j < n_jobs; j++)
        if (j == 0 || !started[j]) run_job(&jobs[j]); /* this thread's share, and any that failed to start */
    for (int j = 1; j < n_jobs; j++)
        if (started[j]) pthread_join(threads[j], NULL);
    Py_END_ALLOW_THREADS
    PyObject *results = NULL;
    int rc = ENC_OK;
    Py_ssize_t failed_at = 0;
    for (int j = 0; j < n_jobs && rc == ENC_OK; j++) { rc = jobs[j].rc; failed_at = jobs[j].failed_at; }
    if (rc == ENC_NOMEM) PyErr_NoMemory();
    else if (rc == ENC_SURROGATE)
        PyErr_Format(PyExc_ValueError, "ByteLevelBPE.encode: text %zd contains a lone surrogate, which has no UTF-8 encoding", failed_at);
    else if ((results = PyList_New(n))) {
        /* Every offsets tuple counts as a GC allocation, so building results would run a
         * young-generation collection every ~700 tokens (and older ones in turn), each
         * traversing the lists being filled: that was ~40% of encode_full_many's
         * instructions. No Python code runs here (the GIL is held, nothing is freed), so
         * collections are paused until the results are complete; the one collection that
         * follows sees them once. The previous state is restored. */
        int gc_was_enabled = PyGC_Disable();
        for (int j = 0; j < n_jobs && results; j++) {
            for (Py_ssize_t i = jobs[j].lo; i < jobs[j].hi; i++) {
                size_t a = jobs[j].bounds[i - jobs[j].lo], b = jobs[j].bounds[i - jobs[j].lo + 1];
                PyObject *r = build_result(self, spec, &jobs[j].o, a, b, i, n_words[i]);
                if (!r) { Py_CLEAR(results); break; }
                PyList_SET_ITEM(results, i, r);
            }
        }
        if (gc_was_enabled) PyGC_Enable();
    }
    for (int j = 0; j < n_jobs; j++) output_free(&jobs[j].o);
    free(bounds);
    free(n_words);
    return results;
}

static PyObject *encode_one(ByteLevelBPE *self, PyObject *text, const ResultSpec *spec) {
    PyObject *results = encode_texts(self, &text, 1, spec, 1);
    if (!results) return NULL;
    PyObject *r = PyList_GET_ITEM(results, 0);
    Py_INCREF(r);
    Py_DECREF(results);
    return r;
}

static PyObject *ByteLevelBPE_encode(ByteLevelBPE *self, PyObject *text) {
    ResultSpec spec = {RESULT_TRIPLE, NULL, NULL, NULL};
    return encode_one(self, text, &spec);
}

static PyObject *ByteLevelBPE_encode_ids(ByteLevelBPE *self, PyObject *text) {
    ResultSpec spec = {RESULT_IDS, NULL, NULL, NULL};
    return encode_one(self, text, &spec);
}

static PyObject *ByteLevelBPE_encode_many(ByteLevelBPE *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"texts", "threads", "ids_only", NULL};
    PyObject *texts;
    int threads = 1, ids_only = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|ip", kwlist, &texts, &threads, &ids_only)) return NULL;
    /* a private copy of the items: the list may change while the GIL is released */
    PyObject *seq = PySequence_Tuple(texts);
    if (!seq) return NULL;
    ResultSpec spec = {ids_only ? RESULT_IDS : RESULT_TRIPLE, NULL, NULL, NULL};
    PyObject *r = encode_texts(self, &PyTuple_GET_ITEM(seq, 0), PyTuple_GET_SIZE(seq), &spec, threads);
    Py_DECREF(seq);
    return r;
}

/* The token strings tuple, with a new reference (set_token_strings may replace the
 * object's own while results are built), or NULL with an exception. */
static PyObject *token_strings_ref(ByteLevelBPE *self) {
    if (!self->token_strings) {
        PyErr_SetString(PyExc_RuntimeError,
                        "ByteLevelBPE.encode_full: no token strings; call set_token_strings(strings) first");
        return NULL;
    }
    Py_INCREF(self->token_strings);
    return self->token_strings;
}

static int check_base(Py_ssize_t base, const char *name) {
    if (base >= 0) return 0;
    PyErr_Format(PyExc_ValueError, "ByteLevelBPE.encode_full: %s must be >= 0, found %zd", name, base);
    return -1;
}

static PyObject *ByteLevelBPE_encode_full(ByteLevelBPE *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"text", "char_base", "word_base", NULL};
    PyObject *text;
    Py_ssize_t char_base = 0, word_base = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|nn", kwlist, &text, &char_base, &word_base)) return NULL;
    if (check_base(char_base, "char_base") < 0 || check_base(word_base, "word_base") < 0) return NULL;
    PyObject *strings = token_strings_ref(self);
    if (!strings) return NULL;
    ResultSpec spec = {RESULT_FULL, strings, &char_base, &word_base};
    PyObject *r = encode_one(self, text, &spec);
    Py_DECREF(strings);
    return r;
}

/* n non-negative ints from a sequence (char_bases / word_bases), or NULL for None. */
static int read_bases(PyObject *obj, Py_ssize_t n, const char *name, Py_ssize_t **out) {
    *out = NULL;
    if (obj == Py_None) return 0;
    PyObject *seq = PySequence_Fast(obj, "ByteLevelBPE.encode_full_many: bases must be a sequence of ints");
    if (!seq) return -1;
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        PyErr_Format(PyExc_ValueError, "ByteLevelBPE.encode_full_many: %s must have one int per text (%zd), found %zd",
                     name, n, PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return -1;
    }
    Py_ssize_t *bases = malloc((size_t)(n + 1) * sizeof(Py_ssize_t));
    if (!bases) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) {
        bases[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i));
        if ((bases[i] == -1 && PyErr_Occurred()) || check_base(bases[i], name) < 0) {
            free(bases);
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    *out = bases;
    return 0;
}

static PyObject *ByteLevelBPE_encode_full_many(ByteLevelBPE *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"texts", "threads", "char_bases", "word_bases", NULL};
    PyObject *texts, *char_bases_obj = Py_None, *word_bases_obj = Py_None;
    int threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|iOO", kwlist, &texts, &threads, &char_bases_obj, &word_bases_obj))
        return NULL;
    PyObject *seq = PySequence_Tuple(texts); /* a private copy: the list may change while the GIL is released */
    if (!seq) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    Py_ssize_t *char_bases = NULL, *word_bases = NULL;
    PyObject *strings = NULL, *r = NULL;
    if (read_bases(char_bases_obj, n, "char_bases", &char_bases) == 0 &&
        read_bases(word_bases_obj, n, "word_bases", &word_bases) == 0 && (strings = token_strings_ref(self))) {
        ResultSpec spec = {RESULT_FULL, strings, char_bases, word_bases};
        r = encode_texts(self, &PyTuple_GET_ITEM(seq, 0), n, &spec, threads);
    }
    Py_XDECREF(strings);
    free(char_bases);
    free(word_bases);
    Py_DECREF(seq);
    return r;
}

static PyObject *ByteLevelBPE_encode_packed(ByteLevelBPE *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"text", "char_base", "word_base", NULL};
    PyObject *text;
    Py_ssize_t char_base = 0, word_base = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|nn", kwlist, &text, &char_base, &word_base)) return NULL;
    if (check_base(char_base, "char_base") < 0 || check_base(word_base, "word_base") < 0) return NULL;
    ResultSpec spec = {RESULT_PACKED, NULL, &char_base, &word_base};
    return encode_one(self, text, &spec);
}

static PyObject *ByteLevelBPE_encode_packed_many(ByteLevelBPE *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"texts", "threads", "char_bases", "word_bases", NULL};
    PyObject *texts, *char_bases_obj = Py_None, *word_bases_obj = Py_None;
    int threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|iOO", kwlist, &texts, &threads, &char_bases_obj, &word_bases_obj))
        return NULL;
    PyObject *seq = PySequence_Tuple(texts); /* a private copy: the list may change while the GIL is released */
    if (!seq) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    Py_ssize_t *char_bases = NULL, *word_bases = NULL;
    PyObject *r = NULL;
    if (read_bases(char_bases_obj, n, "char_bases", &char_bases) == 0 &&
        read_bases(word_bases_obj, n, "word_bases", &word_bases) == 0) {
        ResultSpec spec = {RESULT_PACKED, NULL, char_bases, word_bases};
        r = encode_texts(self, &PyTuple_GET_ITEM(seq, 0), n, &spec, threads);
    }
    free(char_bases);
    free(word_bases);
    Py_DECREF(seq);
    return r;
}

/* unpack(ids, offsets, words) -> (ids, tokens, offsets, words) lists from an encode_packed
 * result: the same shared int objects, token strings and GC-untracked offsets tuples as
 * encode_full builds. */
static PyObject *ByteLevelBPE_unpack(ByteLevelBPE *self, PyObject *args) {
    Py_buffer ids_b, offs_b, words_b;
    if (!PyArg_ParseTuple(args, "y*y*y*", &ids_b, &offs_b, &words_b)) return NULL;
    PyObject *r = NULL, *strings = NULL;
    Py_ssize_t n = ids_b.len / 4;
    Output o = {0};
    if (offs_b.len != n * 8 || words_b.len != n * 4) {
        PyErr_SetString(PyExc_ValueError, "ByteLevelBPE.unpack: ids, offsets and words have different lengths");
        goto done;
    }
    if (!(strings = token_strings_ref(self))) goto done;
    o.ids = (int32_t *)ids_b.buf;
    o.words = (int32_t *)words_b.buf;
    o.starts = malloc((size_t)(n + 1) * sizeof(int32_t));
    o.ends = malloc((size_t)(n + 1) * sizeof(int32_t));
    if (!o.starts || !o.ends) { PyErr_NoMemory(); goto done; }
    const int32_t *po = (const int32_t *)offs_b.buf;
    for (Py_ssize_t k = 0; k < n; k++) { o.starts[k] = po[2 * k]; o.ends[k] = po[2 * k + 1]; }
    o.len = (size_t)n;
    int gc_was_enabled = PyGC_Disable(); /* as in encode_texts: no Python code runs while building */
    PyObject *ids = build_ids(self, &o, 0, (size_t)n);
    PyObject *tokens = ids ? build_tokens(strings, &o, 0, (size_t)n) : NULL;
    PyObject *offsets = tokens ? build_offsets(self, &o, 0, (size_t)n, 0) : NULL;
    PyObject *words = offsets ? build_words(self, &o, 0, (size_t)n, 0) : NULL;
    if (words) r = PyTuple_Pack(4, ids, tokens, offsets, words);
    Py_XDECREF(ids); Py_XDECREF(tokens); Py_XDECREF(offsets); Py_XDECREF(words);
    if (gc_was_enabled) PyGC_Enable();
done:
    free(o.starts); free(o.ends);
    Py_XDECREF(strings);
    PyBuffer_Release(&ids_b); PyBuffer_Release(&offs_b); PyBuffer_Release(&words_b);
    return r;
}

static PyObject *ByteLevelBPE_set_token_strings(ByteLevelBPE *self, PyObject *strings) {
    PyObject *t = PySequence_Tuple(strings);
    if (!t) return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *item = PyTuple_GET_ITEM(t, i);
        if (item != Py_None && !PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "ByteLevelBPE.set_token_strings: item %zd must be a str or None, found %.100s",
                         i, Py_TYPE(item)->tp_name);
            Py_DECREF(t);
            return NULL;
        }
    }
    Py_XSETREF(self->token_strings, t);
    Py_RETURN_NONE;
}

/* Pre-token char spans of the text (the scanner alone; used by tests). */
static PyObject *ByteLevelBPE_split(ByteLevelBPE *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "ByteLevelBPE.split: expected str, found %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (PyUnicode_READY(text) < 0) return NULL;
    Text t;
    t.kind = PyUnicode_KIND(text);
    t.data = PyUnicode_DATA(text);
    t.cls = self->cls;
    t.prefix = 0;
    t.n = PyUnicode_GET_LENGTH(text);
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (Py_ssize_t v = 0; v < t.n;) {
        Py_ssize_t e = next_pretoken(&t, v, self->pattern);
        PyObject *span = Py_BuildValue("(nn)", v, e);
        if (!span || PyList_Append(out, span) < 0) { Py_XDECREF(span); Py_DECREF(out); return NULL; }
        Py_DECREF(span);
        v = e;
    }
    return out;
}

static PyObject *ByteLevelBPE_clear_cache(ByteLevelBPE *self, PyObject *unused) {
    for (int i = 0; i < N_CACHES; i++) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->cache_lock[i], WAIT_LOCK);
        Py_END_ALLOW_THREADS
        bytesmap_clear(&self->cache[i]);
        PyThread_release_lock(self->cache_lock[i]);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------ construction */

static int ByteLevelBPE_init(ByteLevelBPE *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"byte_ids", "merges", "classes", "pattern", "add_prefix_space", "vocab", "token_strings", NULL};
    PyObject *byte_ids, *merges, *classes, *vocab = Py_None, *token_strings = Py_None;
    int pattern, add_prefix_space;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOSip|OO", kwlist, &byte_ids, &merges, &classes, &pattern,
                                     &add_prefix_space, &vocab, &token_strings))
        return -1;
    if (self->merges.slots) {
        PyErr_SetString(PyExc_RuntimeError, "ByteLevelBPE is already initialised");
        return -1;
    }
    if (pattern < PAT_GPT2 || pattern > PAT_QWEN2) {
        PyErr_Format(PyExc_ValueError, "ByteLevelBPE: pattern must be 0 (gpt2), 1 (llama3) or 2 (qwen2), found %d", pattern);
        return -1;
    }
    if (PyBytes_GET_SIZE(classes) != 0x110000) {
        PyErr_Format(PyExc_ValueError, "ByteLevelBPE: classes must be 0x110000 bytes, found %zd", PyBytes_GET_SIZE(classes));
        return -1;
    }
    PyObject *ids = PySequence_Fast(byte_ids, "ByteLevelBPE: byte_ids must be a sequence of 256 ints");
    if (!ids) return -1;
    if (PySequence_Fast_GET_SIZE(ids) != 256) {
        PyErr_Format(PyExc_ValueError, "ByteLevelBPE: byte_ids must have 256 entries, found %zd", PySequence_Fast_GET_SIZE(ids));
        Py_DECREF(ids);
        return -1;
    }
    for (int i = 0; i < 256; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(ids, i));
        if (v == -1 && PyErr_Occurred()) { Py_DECREF(ids); return -1; }
        self->byte_ids[i] = (int32_t)v;
    }
    Py_DECREF(ids);

    PyObject *ms = PySequence_Fast(merges, "ByteLevelBPE: merges must be a sequence of (left, right, new) triples");
    if (!ms) return -1;
    Py_ssize_t nm = PySequence_Fast_GET_SIZE(ms);
    uint64_t cap = 16;
    while (cap < (uint64_t)nm * 2 + 2) cap *= 2;
    self->merges.slots = malloc(cap * sizeof(MergeSlot));
    if (!self->merges.slots) { Py_DECREF(ms); PyErr_NoMemory(); return -1; }
    for (uint64_t i = 0; i < cap; i++) self->merges.slots[i].key = UINT64_MAX;
    self->merges.mask = cap - 1;
    for (Py_ssize_t r = 0; r < nm; r++) {
        long l, rt, nw;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(ms, r), "lll", &l, &rt, &nw)) { Py_DECREF(ms); return -1; }
        if (l < 0 || rt < 0 || nw < 0 || l > INT32_MAX || rt > INT32_MAX || nw > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "ByteLevelBPE: merge %zd has an id out of range", r);
            Py_DECREF(ms);
            return -1;
        }
        uint64_t key = ((uint64_t)l << 32) | (uint64_t)rt, i = mix64(key) & self->merges.mask;
        while (self->merges.slots[i].key != UINT64_MAX && self->merges.slots[i].key != key) i = (i + 1) & self->merges.mask;
        if (self->merges.slots[i].key == key) continue; /* first (lowest rank) wins */
        self->merges.slots[i].key = key;
        self->merges.slots[i].rank = (int32_t)r;
        self->merges.slots[i].new_id = (int32_t)nw;
    }
    Py_DECREF(ms);

    self->ignore_merges = vocab != Py_None;
    if (self->ignore_merges) {
        if (!PyDict_Check(vocab)) {
            PyErr_SetString(PyExc_TypeError, "ByteLevelBPE: vocab must be a dict bytes -> id or None");
            return -1;
        }
        size_t vcap = 16;
        while (vcap < (size_t)PyDict_GET_SIZE(vocab) * 2 + 2) vcap *= 2;
        if (bytesmap_init(&self->vocab, vcap) < 0) { PyErr_NoMemory(); return -1; }
        PyObject *k, *val;
        Py_ssize_t pos = 0;
        while (PyDict_Next(vocab, &pos, &k, &val)) {
            if (!PyBytes_Check(k) || PyBytes_GET_SIZE(k) == 0) {
                PyErr_SetString(PyExc_TypeError, "ByteLevelBPE: vocab keys must be non-empty bytes");
                return -1;
            }
            Tok tok = {(int32_t)PyLong_AsLong(val), 0};
            if (tok.id == -1 && PyErr_Occurred()) return -1;
            const uint8_t *kb = (const uint8_t *)PyBytes_AS_STRING(k);
            size_t kn = (size_t)PyBytes_GET_SIZE(k);
            uint64_t h = hash_bytes(kb, kn);
            if (bytesmap_get(&self->vocab, kb, kn, h)) continue;
            if (bytesmap_put(&self->vocab, kb, kn, h, &tok, 1) < 0) { PyErr_NoMemory(); return -1; }
        }
    }
    self->pattern = pattern;
    self->add_prefix_space = add_prefix_space;
    Py_INCREF(classes);
    self->classes = classes;
    self->cls = (const uint8_t *)PyBytes_AS_STRING(classes);
    for (int i = 0; i < N_CACHES; i++) {
        if (bytesmap_init(&self->cache[i], 4096) < 0) { PyErr_NoMemory(); return -1; }
        self->cache_lock[i] = PyThread_allocate_lock();
        if (!self->cache_lock[i]) { PyErr_NoMemory(); return -1; }
    }
    int32_t max_id = 0;
    for (int i = 0; i < 256; i++) if (self->byte_ids[i] > max_id) max_id = self->byte_ids[i];
    for (uint64_t i = 0; i <= self->merges.mask; i++)
        if (self->merges.slots[i].key != UINT64_MAX && self->merges.slots[i].new_id > max_id) max_id = self->merges.slots[i].new_id;
    for (size_t i = 0; i < self->vocab.vals_len; i++) if (self->vocab.vals[i].id > max_id) max_id = self->vocab.vals[i].id;
    self->n_id_objects = (Py_ssize_t)max_id + 1;
    self->id_objects = calloc((size_t)self->n_id_objects, sizeof(PyObject *));
    if (!self->id_objects) { PyErr_NoMemory(); return -1; }
    self->position_objects = calloc(POSITION_OBJECTS, sizeof(PyObject *));
    if (!self->position_objects) { PyErr_NoMemory(); return -1; }
    if (token_strings != Py_None) {
        PyObject *done = ByteLevelBPE_set_token_strings(self, token_strings);
        if (!done) return -1;
        Py_DECREF(done);
    }
    self->ready = 1;
    return 0;
}

static void ByteLevelBPE_dealloc(ByteLevelBPE *self) {
    free(self->merges.slots);
    bytesmap_free(&self->vocab);
    for (int i = 0; i < N_CACHES; i++) {
        bytesmap_free(&self->cache[i]);
        if (self->cache_lock[i]) PyThread_free_lock(self->cache_lock[i]);
    }
    Py_XDECREF(self->classes);
    Py_XDECREF(self->token_strings);
    if (self->id_objects) {
        for (Py_ssize_t i = 0; i < self->n_id_objects; i++) Py_XDECREF(self->id_objects[i]);
        free(self->id_objects);
    }
    if (self->position_objects) {
        for (Py_ssize_t i = 0; i < POSITION_OBJECTS; i++) Py_XDECREF(self->position_objects[i]);
        free(self->position_objects);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *ByteLevelBPE_uninitialised(ByteLevelBPE *self) {
    PyErr_SetString(PyExc_RuntimeError, "ByteLevelBPE was not initialised");
    return NULL;
}

#define REQUIRE_INIT(self) if (!(self)->ready) return ByteLevelBPE_uninitialised(self)

static PyObject *m_encode(ByteLevelBPE *self, PyObject *text) { REQUIRE_INIT(self); return ByteLevelBPE_encode(self, text); }
static PyObject *m_encode_ids(ByteLevelBPE *self, PyObject *text) { REQUIRE_INIT(self); return ByteLevelBPE_encode_ids(self, text); }
static PyObject *m_encode_many(ByteLevelBPE *self, PyObject *args, PyObject *kwds) { REQUIRE_INIT(self); return ByteLevelBPE_encode_many(self, args, kwds); }
static PyObject *m_encode_full(ByteLevelBPE *self, PyObject *args, PyObject *kwds) { REQUIRE_INIT(self); return ByteLevelBPE_encode_full(self, args, kwds); }
static PyObject *m_encode_full_many(ByteLevelBPE *self, PyObject *args, PyObject *kwds) { REQUIRE_INIT(self); return ByteLevelBPE_encode_full_many(self, args, kwds); }
static PyObject *m_encode_packed(ByteLevelBPE *self, PyObject *args, PyObject *kwds) { REQUIRE_INIT(self); return ByteLevelBPE_encode_packed(self, args, kwds); }
static PyObject *m_encode_packed_many(ByteLevelBPE *self, PyObject *args, PyObject *kwds) { REQUIRE_INIT(self); return ByteLevelBPE_encode_packed_many(self, args, kwds); }
static PyObject *m_unpack(ByteLevelBPE *self, PyObject *args) { REQUIRE_INIT(self); return ByteLevelBPE_unpack(self, args); }
static PyObject *m_set_token_strings(ByteLevelBPE *self, PyObject *strings) { REQUIRE_INIT(self); return ByteLevelBPE_set_token_strings(self, strings); }
static PyObject *m_split(ByteLevelBPE *self, PyObject *text) { REQUIRE_INIT(self); return ByteLevelBPE_split(self, text); }
static PyObject *m_clear_cache(ByteLevelBPE *self, PyObject *u) { REQUIRE_INIT(self); return ByteLevelBPE_clear_cache(self, u); }

static PyMethodDef ByteLevelBPE_methods[] = {
    {"unpack", (PyCFunction)m_unpack, METH_VARARGS,
     "unpack(ids, offsets, words) -> (ids, tokens, offsets, words) lists from an encode_packed result"},
    {"encode_packed", (PyCFunction)(void (*)(void))m_encode_packed, METH_VARARGS | METH_KEYWORDS,
     "encode_packed(text, char_base=0, word_base=0) -> (ids, offsets, words, n_words) as native int32 bytes"},
    {"encode_packed_many", (PyCFunction)(void (*)(void))m_encode_packed_many, METH_VARARGS | METH_KEYWORDS,
     "encode_packed_many(texts, threads=1, char_bases=None, word_bases=None) -> [encode_packed result, ...]"},
    {"encode", (PyCFunction)m_encode, METH_O, "encode(text) -> (ids, offsets, words)"},
    {"encode_ids", (PyCFunction)m_encode_ids, METH_O, "encode_ids(text) -> ids"},
    {"encode_many", (PyCFunction)(void (*)(void))m_encode_many, METH_VARARGS | METH_KEYWORDS,
     "encode_many(texts, threads=1, ids_only=False) -> [(ids, offsets, words), ...] (or [ids, ...]);\n"
     "threads: native threads for the C work"},
    {"encode_full", (PyCFunction)(void (*)(void))m_encode_full, METH_VARARGS | METH_KEYWORDS,
     "encode_full(text, char_base=0, word_base=0) -> (ids, tokens, offsets, words, n_words);\n"
     "tokens: the strings given to set_token_strings (shared objects); offsets shifted by char_base,\n"
     "words by word_base; n_words: the number of pre-tokens of text (the next segment's word_base step)"},
    {"encode_full_many", (PyCFunction)(void (*)(void))m_encode_full_many, METH_VARARGS | METH_KEYWORDS,
     "encode_full_many(texts, threads=1, char_bases=None, word_bases=None) -> [encode_full(text), ...];\n"
     "char_bases / word_bases: one int per text (None: all 0); threads: native threads for the C work"},
    {"set_token_strings", (PyCFunction)m_set_token_strings, METH_O,
     "set_token_strings(strings) -> None; strings[id]: the str of token id (or None), kept by reference"},
    {"split", (PyCFunction)m_split, METH_O, "split(text) -> [(start, end), ...] pre-token char spans (no prefix space)"},
    {"clear_cache", (PyCFunction)m_clear_cache, METH_NOARGS, "empty the word cache"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ByteLevelBPEType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "snuggle.tokenizers._fast.ByteLevelBPE",
    .tp_basicsize = sizeof(ByteLevelBPE),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ByteLevelBPE(byte_ids, merges, classes, pattern, add_prefix_space, vocab=None, token_strings=None)\n\n"
              "byte_ids: 256 ids; merges: (left, right, new) in rank order; classes: 0x110000 bytes\n"
              "(0 other, 1 letter, 2 number, 3 whitespace); pattern: 0 gpt2, 1 llama3, 2 qwen2;\n"
              "vocab: dict bytes -> id to look whole words up first (ignore_merges) or None;\n"
              "token_strings: as set_token_strings (needed by encode_full).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ByteLevelBPE_init,
    .tp_dealloc = (destructor)ByteLevelBPE_dealloc,
    .tp_methods = ByteLevelBPE_methods,
};

static struct PyModuleDef fast_module = {
    PyModuleDef_HEAD_INIT, "_fast", "C fast path for byte-level BPE encoding.", -1, NULL,
};

PyMODINIT_FUNC PyInit__fast(void) {
    if (PyType_Ready(&ByteLevelBPEType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fast_module);
    if (!m) return NULL;
    Py_INCREF(&ByteLevelBPEType);
    if (PyModule_AddObject(m, "ByteLevelBPE", (PyObject *)&ByteLevelBPEType) < 0) {
        Py_DECREF(&ByteLevelBPEType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "PATTERN_GPT2", PAT_GPT2) < 0 || PyModule_AddIntConstant(m, "PATTERN_LLAMA3", PAT_LLAMA3) < 0 ||
        PyModule_AddIntConstant(m, "PATTERN_QWEN2", PAT_QWEN2) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
