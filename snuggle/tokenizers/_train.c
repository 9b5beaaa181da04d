/* Fast path of BPE training: the merge loop of snuggle.tokenizers.trainers.
 *
 * bpe_merge_loop(words, counts, id_to_word, word_to_id, vocab_size, min_frequency,
 *                max_token_length, prefix, on_merge) -> list[(left_id, right_id, new_id)]
 *
 * Same algorithm, same results as trainers.merge_loop_python (a test checks it):
 *   - pair counts over all words, plus for each pair the list of words containing it;
 *   - a max-heap of (count, pair, seq, positions); ties: smallest (left, right), then seq;
 *   - pop: if the count is stale, push it back with the current count (lazy update);
 *     otherwise merge the pair in the words of `positions` only, apply the count changes,
 *     and push one entry per pair that gained occurrences, with the words where it did.
 * Python objects are touched only to build new token strings (once per merge).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_LIMIT ((int64_t)1 << 62)

static inline uint64_t pair_key(uint32_t a, uint32_t b) { return ((uint64_t)a << 32) | b; }

static inline uint64_t mix64(uint64_t x) { /* splitmix64 finalizer */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31; return x;
}

/* ---------- growable int32 list (word indices) ---------- */
typedef struct { int32_t *v; int32_t n, cap; } IdxList;

static int idx_push(IdxList *l, int32_t x) {
    if (l->n == l->cap) {
        int32_t cap = l->cap ? l->cap * 2 : 4;
        int32_t *v = realloc(l->v, (size_t)cap * sizeof(int32_t));
        if (!v) return -1;
        l->v = v; l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

/* ---------- open-addressing map uint64 -> int64 ---------- */
typedef struct { uint64_t *keys; int64_t *vals; uint8_t *used; size_t cap, size; } Map;

static int map_init(Map *m, size_t cap) {
    size_t c = 16;
    while (c < cap * 2) c <<= 1;
    m->keys = calloc(c, sizeof(uint64_t)); m->vals = calloc(c, sizeof(int64_t)); m->used = calloc(c, 1);
    m->cap = c; m->size = 0;
    return (m->keys && m->vals && m->used) ? 0 : -1;
}
static void map_free(Map *m) { free(m->keys); free(m->vals); free(m->used); memset(m, 0, sizeof(*m)); }

/* slot of key (existing or the empty slot where it would go) */
static inline size_t map_slot(const Map *m, uint64_t key) {
    size_t mask = m->cap - 1, i = (size_t)mix64(key) & mask;
    while (m->used[i] && m->keys[i] != key) i = (i + 1) & mask;
    return i;
}
static int map_grow(Map *m) {
    Map n;
    if (map_init(&n, m->cap) < 0) return -1; /* doubles: map_init reserves 2x */
    for (size_t i = 0; i < m->cap; i++) if (m->used[i]) {
        size_t s = map_slot(&n, m->keys[i]);
        n.used[s] = 1; n.keys[s] = m->keys[i]; n.vals[s] = m->vals[i]; n.size++;
    }
    map_free(m); *m = n;
    return 0;
}
/* pointer to the value of key, inserting `init` if absent (NULL on OOM); *fresh set if inserted */
static int64_t *map_get_or_insert(Map *m, uint64_t key, int64_t init, int *fresh) {
    if ((m->size + 1) * 2 > m->cap && map_grow(m) < 0) return NULL;
    size_t s = map_slot(m, key);
    if (!m->used[s]) { m->used[s] = 1; m->keys[s] = key; m->vals[s] = init; m->size++; if (fresh) *fresh = 1; }
    else if (fresh) *fresh = 0;
    return &m->vals[s];
}
static inline int64_t map_get(const Map *m, uint64_t key) {
    size_t s = map_slot(m, key);
    return m->used[s] ? m->vals[s] : 0;
}

/* ---------- pair -> positions, in first-insertion order ---------- */
typedef struct { uint64_t key; IdxList *pos; size_t slot; } PairPos;
typedef struct { Map index; PairPos *items; size_t n, cap; } WhereMap;

static int where_init(WhereMap *w, size_t cap) {
    w->items = NULL; w->n = w->cap = 0;
    return map_init(&w->index, cap);
}
/* add word i to the positions of key (dedup: a word's changes arrive together) */
static int where_add(WhereMap *w, uint64_t key, int32_t i) {
    int fresh;
    int64_t *slot = map_get_or_insert(&w->index, key, (int64_t)w->n, &fresh);
    if (!slot) return -1;
    if (fresh) {
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            PairPos *it = realloc(w->items, cap * sizeof(PairPos));
            if (!it) return -1;
            w->items = it; w->cap = cap;
        }
        IdxList *l = calloc(1, sizeof(IdxList));
        if (!l) return -1;
        w->items[w->n].key = key; w->items[w->n].pos = l; w->n++;
    }
    IdxList *l = w->items[*slot].pos;
    if (l->n && l->v[l->n - 1] == i) return 0;
    return idx_push(l, i);
}
/* forget the entries (their position lists now belong to the heap or were freed) */
static void where_clear(WhereMap *w) {
    /* unmark only the used slots: the table may be large, the round small.
       Clearing every key at once keeps the probe chains consistent. */
    if (w->n * 8 > w->index.cap) {
        memset(w->index.used, 0, w->index.cap);
    } else {
        /* find every slot first (all probe chains intact), then unmark them */
        for (size_t k = 0; k < w->n; k++) w->items[k].slot = map_slot(&w->index, w->items[k].key);
        for (size_t k = 0; k < w->n; k++) w->index.used[w->items[k].slot] = 0;
    }
    w->index.size = 0;
    w->n = 0;
}
static void where_free(WhereMap *w) { map_free(&w->index); free(w->items); }

/* ---------- heap ---------- */
typedef struct { int64_t count; uint32_t a, b; uint64_t seq; IdxList *pos; } Entry;
typedef struct { Entry *e; size_t n, cap; } Heap;

/* x comes out before y */
static inline int before(const Entry *x, const Entry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    if (x->b != y->b) return x->b < y->b;
    return x->seq < y->seq;
}
static int heap_push(Heap *h, Entry x) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        Entry *e = realloc(h->e, cap * sizeof(Entry));
        if (!e) return -1;
        h->e = e; h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&x, &h->e[p])) break;
        h->e[i] = h->e[p]; i = p;
    }
    h->e[i] = x;
    return 0;
}
static Entry heap_pop(Heap *h) {
    Entry top = h->e[0], last = h->e[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        const Entry *bx = &last;
        if (l < n && before(&h->e[l], bx)) { best = l; bx = &h->e[l]; }
        if (r < n && before(&h->e[r], bx)) { best = r; }
        if (best == i) break;
        h->e[i] = h->e[best]; i = best;
    }
    if (n) h->e[i] = last;
    return top;
}

/* ---------- words ---------- */
typedef struct { int32_t *ids; int32_t *lens; int32_t n; } Word;

typedef struct { uint64_t key; int32_t change; } Change;
typedef struct { Change *c; size_t n, cap; } Changes;

static int change_push(Changes *ch, uint32_t a, uint32_t b, int32_t change) {
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 64;
        Change *c = realloc(ch->c, cap * sizeof(Change));
        if (!c) return -1;
        ch->c = c; ch->cap = cap;
    }
    ch->c[ch->n].key = pair_key(a, b); ch->c[ch->n].change = change; ch->n++;
    return 0;
}

/* merge every non-overlapping (a, b) left to right; see trainers._merge_word */
static int merge_word(Word *w, uint32_t a, uint32_t b, uint32_t new_id, int64_t max_len, Changes *ch) {
    int32_t i = 0;
    while (i < w->n) {
        if ((uint32_t)w->ids[i] == a && i + 1 < w->n && (uint32_t)w->ids[i + 1] == b) {
            int64_t new_len = (int64_t)w->lens[i] + w->lens[i + 1];
            if (i > 0) {
                if (change_push(ch, (uint32_t)w->ids[i - 1], a, -1) < 0) return -1;
                if (w->lens[i - 1] + new_len < max_len && change_push(ch, (uint32_t)w->ids[i - 1], new_id, 1) < 0) return -1;
            }
            uint32_t second = (uint32_t)w->ids[i + 1];
            w->ids[i] = (int32_t)new_id; w->lens[i] = (int32_t)new_len;
            memmove(w->ids + i + 1, w->ids + i + 2, (size_t)(w->n - i - 2) * sizeof(int32_t));
            memmove(w->lens + i + 1, w->lens + i + 2, (size_t)(w->n - i - 2) * sizeof(int32_t));
            w->n--;
            if (i < w->n - 1) {
                if (change_push(ch, second, (uint32_t)w->ids[i + 1], -1) < 0) return -1;
                if (w->lens[i + 1] + new_len < max_len && change_push(ch, new_id, (uint32_t)w->ids[i + 1], 1) < 0) return -1;
            }
        }
        i++;
    }
    return 0;
}

/* new token string: left + right, with the continuing prefix stripped from right */
static PyObject *join_tokens(PyObject *left, PyObject *right, PyObject *prefix) {
    if (prefix != Py_None && PyUnicode_GET_LENGTH(prefix) > 0) {
        Py_ssize_t plen = PyUnicode_GET_LENGTH(prefix), rlen = PyUnicode_GET_LENGTH(right);
        Py_ssize_t m = PyUnicode_Tailmatch(right, prefix, 0, rlen, -1);
        if (m < 0) return NULL;
        if (m == 1) {
            PyObject *stripped = PyUnicode_Substring(right, plen, rlen);
            if (!stripped) return NULL;
            PyObject *r = PyUnicode_Concat(left, stripped);
            Py_DECREF(stripped);
            return r;
        }
    }
    return PyUnicode_Concat(left, right);
}

static PyObject *bpe_merge_loop(PyObject *self, PyObject *args) {
    PyObject *py_words, *py_counts, *id_to_word, *word_to_id, *py_max_len, *prefix, *on_merge;
    Py_ssize_t vocab_size;
    long long min_frequency;
    if (!PyArg_ParseTuple(args, "O!O!O!O!nLOOO", &PyList_Type, &py_words, &PyList_Type, &py_counts,
                          &PyList_Type, &id_to_word, &PyDict_Type, &word_to_id, &vocab_size,
                          &min_frequency, &py_max_len, &prefix, &on_merge))
        return NULL;
    if (prefix != Py_None && !PyUnicode_Check(prefix)) {
        PyErr_SetString(PyExc_TypeError, "prefix must be a str or None");
        return NULL;
    }
    int64_t max_len = NO_LIMIT;
    if (py_max_len != Py_None) {
        max_len = PyLong_AsLongLong(py_max_len);
        if (max_len == -1 && PyErr_Occurred()) return NULL;
    }
    Py_ssize_t nwords = PyList_GET_SIZE(py_words);
    if (PyList_GET_SIZE(py_counts) != nwords) {
        PyErr_SetString(PyExc_ValueError, "words and counts must have the same length");
        return NULL;
    }

    PyObject *result = NULL;
    Word *words = calloc((size_t)nwords + 1, sizeof(Word));
    int64_t *counts = calloc((size_t)nwords + 1, sizeof(int64_t));
    Map pair_counts = {0};
    WhereMap where = {0};
    Heap heap = {0};
    Changes ch = {0};
    PyObject *merges = PyList_New(0);
    size_t total_symbols = 0;
    if (!words || !counts || !merges) { PyErr_NoMemory(); goto done; }

    for (Py_ssize_t i = 0; i < nwords; i++) {
        PyObject *lst = PyList_GET_ITEM(py_words, i);
        if (!PyList_Check(lst)) { PyErr_SetString(PyExc_TypeError, "each word must be a list of ids"); goto done; }
        Py_ssize_t n = PyList_GET_SIZE(lst);
        words[i].ids = malloc(((size_t)n + 1) * sizeof(int32_t));
        words[i].lens = malloc(((size_t)n + 1) * sizeof(int32_t));
        if (!words[i].ids || !words[i].lens) { PyErr_NoMemory(); goto done; }
        for (Py_ssize_t j = 0; j < n; j++) {
            long v = PyLong_AsLong(PyList_GET_ITEM(lst, j));
            if (v == -1 && PyErr_Occurred()) goto done;
            words[i].ids[j] = (int32_t)v; words[i].lens[j] = 1;
        }
        words[i].n = (int32_t)n;
        total_symbols += (size_t)n;
        counts[i] = PyLong_AsLongLong(PyList_GET_ITEM(py_counts, i));
        if (counts[i] == -1 && PyErr_Occurred()) goto done;
    }

    /* initial pair counts and positions */
    if (map_init(&pair_counts, total_symbols / 4 + 16) < 0 || where_init(&where, total_symbols / 4 + 16) < 0) {
        PyErr_NoMemory(); goto done;
    }
    for (Py_ssize_t i = 0; i < nwords; i++) {
        Word *w = &words[i];
        for (int32_t j = 0; j + 1 < w->n; j++) {
            uint64_t key = pair_key((uint32_t)w->ids[j], (uint32_t)w->ids[j + 1]);
            int64_t *c = map_get_or_insert(&pair_counts, key, 0, NULL);
            if (!c || where_add(&where, key, (int32_t)i) < 0) { PyErr_NoMemory(); goto done; }
            *c += counts[i];
        }
    }
    uint64_t seq = 0;
    for (size_t k = 0; k < where.n; k++) {
        int64_t c = map_get(&pair_counts, where.items[k].key);
        Entry e = {c, (uint32_t)(where.items[k].key >> 32), (uint32_t)where.items[k].key, seq++, where.items[k].pos};
        if (c > 0) { if (heap_push(&heap, e) < 0) { PyErr_NoMemory(); goto done; } }
        else { free(e.pos->v); free(e.pos); }
    }
    where_clear(&where);

    while (PyDict_GET_SIZE(word_to_id) < vocab_size && heap.n > 0) {
        Entry top = heap_pop(&heap);
        int64_t current = map_get(&pair_counts, pair_key(top.a, top.b));
        if (top.count != current) {
            top.count = current; top.seq = seq++;
            if (heap_push(&heap, top) < 0) { PyErr_NoMemory(); goto done; }
            continue;
        }
        if (current < 1 || (int64_t)min_frequency > current) { heap_push(&heap, top); break; }

        /* build (or find) the new token */
        PyObject *tok = join_tokens(PyList_GET_ITEM(id_to_word, top.a), PyList_GET_ITEM(id_to_word, top.b), prefix);
        if (!tok) { heap_push(&heap, top); goto done; }
        PyObject *existing = PyDict_GetItemWithError(word_to_id, tok);
        long new_id;
        if (existing) {
            new_id = PyLong_AsLong(existing);
        } else {
            if (PyErr_Occurred()) { Py_DECREF(tok); heap_push(&heap, top); goto done; }
            new_id = (long)PyList_GET_SIZE(id_to_word);
            PyObject *py_id = PyLong_FromLong(new_id);
            if (!py_id || PyList_Append(id_to_word, tok) < 0 || PyDict_SetItem(word_to_id, tok, py_id) < 0) {
                Py_XDECREF(py_id); Py_DECREF(tok); heap_push(&heap, top); goto done;
            }
            Py_DECREF(py_id);
        }
        Py_DECREF(tok);
        PyObject *m = Py_BuildValue("(kkl)", (unsigned long)top.a, (unsigned long)top.b, new_id);
        if (!m || PyList_Append(merges, m) < 0) { Py_XDECREF(m); heap_push(&heap, top); goto done; }
        Py_DECREF(m);

        /* merge in the words where the pair was seen, then apply the count changes */
        for (int32_t k = 0; k < top.pos->n; k++) {
            int32_t i = top.pos->v[k];
            ch.n = 0;
            if (merge_word(&words[i], top.a, top.b, (uint32_t)new_id, max_len, &ch) < 0) {
                PyErr_NoMemory(); heap_push(&heap, top); goto done;
            }
            for (size_t c = 0; c < ch.n; c++) {
                int64_t *cnt = map_get_or_insert(&pair_counts, ch.c[c].key, 0, NULL);
                if (!cnt) { PyErr_NoMemory(); heap_push(&heap, top); goto done; }
                *cnt += (int64_t)ch.c[c].change * counts[i];
                if (ch.c[c].change > 0 && where_add(&where, ch.c[c].key, i) < 0) {
                    PyErr_NoMemory(); heap_push(&heap, top); goto done;
                }
            }
        }
        free(top.pos->v); free(top.pos);
        for (size_t k = 0; k < where.n; k++) {
            int64_t c = map_get(&pair_counts, where.items[k].key);
            Entry e = {c, (uint32_t)(where.items[k].key >> 32), (uint32_t)where.items[k].key, 0, where.items[k].pos};
            if (c > 0) {
                e.seq = seq++;
                if (heap_push(&heap, e) < 0) { PyErr_NoMemory(); goto done; }
            } else { free(e.pos->v); free(e.pos); }
        }
        where_clear(&where);

        if (on_merge != Py_None) {
            PyObject *r = PyObject_CallFunction(on_merge, "i", 1);
            if (!r) goto done;
            Py_DECREF(r);
        }
    }
    result = merges;
    merges = NULL;

done:
    Py_XDECREF(merges);
    for (size_t k = 0; k < heap.n; k++) { free(heap.e[k].pos->v); free(heap.e[k].pos); }
    free(heap.e);
    for (size_t k = 0; k < where.n; k++) { free(where.items[k].pos->v); free(where.items[k].pos); }
    where_free(&where);
    map_free(&pair_counts);
    free(ch.c);
    if (words) for (Py_ssize_t i = 0; i < nwords; i++) { free(words[i].ids); free(words[i].lens); }
    free(words);
    free(counts);
    return result;
}

static PyMethodDef methods[] = {
    {"bpe_merge_loop", bpe_merge_loop, METH_VARARGS,
     "bpe_merge_loop(words, counts, id_to_word, word_to_id, vocab_size, min_frequency, max_token_length, prefix, on_merge)\n"
     "Learn BPE merges; returns [(left_id, right_id, new_id)]. See snuggle.tokenizers.trainers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_train", "Fast path of BPE training.", -1, methods};

PyMODINIT_FUNC PyInit__train(void) { return PyModule_Create(&module); }
