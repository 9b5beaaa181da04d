/* The C WordPiece fast path: ASCII BERT-style pre-tokenization + greedy WordPiece in one pass.
 *
 * snuggle/tokenizers/fast_wordpiece.py decides when this is exact (which normalizer /
 * pre-tokenizer / model) and holds the pure-Python reference `PyWordPieceEncoder`, which this
 * type mirrors method for method (the tests compare the two). Per text:
 *
 *   1. the text must be ASCII (else None: the generic pipeline runs); \t \n \r and space are
 *      whitespace, any other control char declines the text (BertNormalizer would remove it,
 *      which shifts offsets);
 *   2. pre-tokens are cut by the configured kind (BERT: letter/digit runs and single
 *      punctuation chars; Whitespace: \w runs and runs of other non-spaces; WhitespaceSplit:
 *      runs of non-spaces), optionally lowercased;
 *   3. each pre-token is split by greedy longest-match-first against a hash table of the
 *      vocabulary's UTF-8 bytes (continuing pieces looked up with the prefix, e.g. "##");
 *      a word longer than max_chars, or with a position no piece matches, becomes unk.
 *
 * Results are native int32 arrays (ids; start, end char offsets; word indices) returned as
 * bytes, unpacked into Python lists on demand by `unpack`. encode_packed_many runs the work
 * on native threads with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_BERT = 0, KIND_WHITESPACE = 1, KIND_WHITESPACE_SPLIT = 2 };
/* char classes of the scanner */
enum { C_SPACE = 0, C_WORD = 1, C_PUNCT = 2, C_BAD = 3 };

typedef struct {
    uint64_t hash;
    uint32_t offset; /* into arena */
    uint32_t length;
    int32_t id;
} VocabEntry;

typedef struct {
    PyObject_HEAD
    VocabEntry *entries;
    Py_ssize_t n_entries;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    uint64_t mask;
    char *arena;
    PyObject *strings; /* list: id -> token str (or None) */
    int32_t unk_id;
    char *prefix;
    Py_ssize_t prefix_len;
    Py_ssize_t max_chars;
    Py_ssize_t longest; /* longest vocab entry in bytes: no longer candidate can match */
    int kind;
    int lowercase;
    unsigned char classes[128];
} WordPieceEncoder;

static uint64_t hash_bytes(const char *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int32_t vocab_lookup(const WordPieceEncoder *self, const char *s, Py_ssize_t n) {
    uint64_t h = hash_bytes(s, n);
    for (uint64_t i = h & self->mask;; i = (i + 1) & self->mask) {
        uint32_t slot = self->slots[i];
        if (slot == 0)
            return -1;
        const VocabEntry *e = &self->entries[slot - 1];
        if (e->hash == h && e->length == (uint32_t)n && memcmp(self->arena + e->offset, s, (size_t)n) == 0)
            return e->id;
    }
}

/* ---- one text ------------------------------------------------------------------------ */

typedef struct {
    int32_t *ids, *offsets, *words;
    Py_ssize_t n_tokens, n_words;
    int declined;
} Packed;

static void packed_free(Packed *p) {
    free(p->ids);
    free(p->offsets);
    free(p->words);
    p->ids = p->offsets = p->words = NULL;
}

/* Encode `n` ASCII chars at `data`. Returns 0 (p filled, or p->declined set) or -1 (out of
 * memory). Needs no GIL. */
static int encode_ascii(const WordPieceEncoder *self, const unsigned char *data, Py_ssize_t n,
                        Py_ssize_t char_base, Py_ssize_t word_base, Packed *p) {
    memset(p, 0, sizeof(*p));
    Py_ssize_t cap = n > 0 ? n : 1; /* every token covers at least one char */
    Py_ssize_t word_cap = self->max_chars < n ? self->max_chars : n;
    p->ids = malloc(sizeof(int32_t) * cap);
    p->offsets = malloc(sizeof(int32_t) * 2 * cap);
    p->words = malloc(sizeof(int32_t) * cap);
    /* scratch: prefix + the (lowercased) word */
    char *buf = malloc((size_t)(self->prefix_len + word_cap + 1));
    if (!p->ids || !p->offsets || !p->words || !buf) {
        free(buf);
        packed_free(p);
        return -1;
    }
    memcpy(buf, self->prefix, (size_t)self->prefix_len);
    char *word = buf + self->prefix_len;
    const unsigned char *classes = self->classes;
    Py_ssize_t nt = 0, nw = 0, i = 0;
    while (i < n) {
        unsigned char c = classes[data[i]];
        if (c == C_SPACE) {
            i++;
            continue;
        }
        if (c == C_BAD) {
            p->declined = 1;
            break;
        }
        Py_ssize_t j = i + 1;
        if (!(c == C_PUNCT && self->kind == KIND_BERT)) /* BERT punctuation stands alone */
            while (j < n && classes[data[j]] == c)
                j++;
        Py_ssize_t len = j - i;
        int32_t w = (int32_t)(word_base + nw);
        Py_ssize_t first = nt;
        int unknown = len > self->max_chars;
        if (!unknown) {
            for (Py_ssize_t k = 0; k < len; k++) {
                unsigned char ch = data[i + k];
                word[k] = (char)(self->lowercase && ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
            }
            Py_ssize_t start = 0;
            while (start < len) {
                /* candidate bytes: word[start:end], or prefix + word[start:end] after the first */
                Py_ssize_t extra = start ? self->prefix_len : 0;
                Py_ssize_t end = len;
                if (end - start + extra > self->longest)
                    end = start + self->longest - extra;
                int32_t tid = -1;
                char *cand;
                if (start) {
                    cand = word + start - self->prefix_len;
                    /* put the prefix just before word[start], over bytes restored below; the
                     * scratch is [prefix][word], so word + start - prefix_len stays inside it */
                    char saved[16];
                    int small = self->prefix_len <= 16;
                    char *tmp = NULL;
                    if (small)
                        memcpy(saved, cand, (size_t)self->prefix_len);
                    else {
                        tmp = malloc((size_t)self->prefix_len);
                        if (!tmp) {
                            free(buf);
                            packed_free(p);
                            return -1;
                        }
                        memcpy(tmp, cand, (size_t)self->prefix_len);
                    }
                    memcpy(cand, self->prefix, (size_t)self->prefix_len);
                    for (; end > start; end--) {
                        tid = vocab_lookup(self, cand, end - start + self->prefix_len);
                        if (tid >= 0)
                            break;
                    }
                    memcpy(cand, small ? saved : tmp, (size_t)self->prefix_len);
                    free(tmp);
                } else {
                    cand = word;
                    for (; end > start; end--) {
                        tid = vocab_lookup(self, cand, end);
                        if (tid >= 0)
                            break;
                    }
                }
                if (tid < 0) {
                    unknown = 1;
                    break;
                }
                p->ids[nt] = tid;
                p->offsets[2 * nt] = (int32_t)(char_base + i + start);
                p->offsets[2 * nt + 1] = (int32_t)(char_base + i + end);
                p->words[nt] = w;
                nt++;
                start = end;
            }
        }
        if (unknown) {
            if (self->unk_id < 0) { /* the generic path raises the missing-unk error */
                p->declined = 1;
                break;
            }
            nt = first;
            p->ids[nt] = self->unk_id;
            p->offsets[2 * nt] = (int32_t)(char_base + i);
            p->offsets[2 * nt + 1] = (int32_t)(char_base + j);
            p->words[nt] = w;
            nt++;
        }
        nw++;
        i = j;
    }
    free(buf);
    if (p->declined) {
        packed_free(p);
        return 0;
    }
    p->n_tokens = nt;
    p->n_words = nw;
    return 0;
}

static PyObject *packed_to_tuple(Packed *p) {
    PyObject *ids = PyBytes_FromStringAndSize((const char *)p->ids, p->n_tokens * 4);
    PyObject *offs = PyBytes_FromStringAndSize((const char *)p->offsets, p->n_tokens * 8);
    PyObject *words = PyBytes_FromStringAndSize((const char *)p->words, p->n_tokens * 4);
    packed_free(p);
    if (!ids || !offs || !words) {
        Py_XDECREF(ids);
        Py_XDECREF(offs);
        Py_XDECREF(words);
        return NULL;
    }
    PyObject *out = Py_BuildValue("(NNNn)", ids, offs, words, p->n_words);
    return out;
}

/* ASCII chars of `text`, or NULL (not ASCII). */
static const unsigned char *ascii_data(PyObject *text) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) { /* legacy (wstr) strings only; a failure just declines */
        PyErr_Clear();
        return NULL;
    }
#endif
    if (!PyUnicode_IS_ASCII(text))
        return NULL;
    return (const unsigned char *)PyUnicode_DATA(text);
}

static PyObject *WordPieceEncoder_encode_packed(WordPieceEncoder *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"text", "char_base", "word_base", NULL};
    PyObject *text;
    Py_ssize_t char_base = 0, word_base = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|nn", kwlist, &text, &char_base, &word_base))
        return NULL;
    const unsigned char *data = ascii_data(text);
    if (!data)
        Py_RETURN_NONE;
    Packed p;
    if (encode_ascii(self, data, PyUnicode_GET_LENGTH(text), char_base, word_base, &p) < 0)
        return PyErr_NoMemory();
    if (p.declined)
        Py_RETURN_NONE;
    return packed_to_tuple(&p);
}

/* ---- batches on native threads -------------------------------------------------------- */

typedef struct {
    const WordPieceEncoder *self;
    const unsigned char **data; /* NULL: not ASCII */
    Py_ssize_t *lengths;
    Packed *out;
    Py_ssize_t begin, end;
    int failed;
} BatchJob;

static void *run_batch_job(void *arg) {
    BatchJob *job = arg;
    for (Py_ssize_t k = job->begin; k < job->end; k++) {
        if (!job->data[k]) {
            memset(&job->out[k], 0, sizeof(Packed));
            job->out[k].declined = 1;
        } else if (encode_ascii(job->self, job->data[k], job->lengths[k], 0, 0, &job->out[k]) < 0) {
            job->out[k].declined = 1;
            job->failed = 1;
        }
    }
    return NULL;
}

static PyObject *WordPieceEncoder_encode_packed_many(WordPieceEncoder *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"texts", "threads", NULL};
    PyObject *texts;
    int threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|i", kwlist, &texts, &threads))
        return NULL;
    /* a tuple we own: items stay alive while the GIL is released */
    PyObject *seq = PySequence_Tuple(texts);
    if (!seq)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    const unsigned char **data = calloc((size_t)(n ? n : 1), sizeof(*data));
    Py_ssize_t *lengths = calloc((size_t)(n ? n : 1), sizeof(*lengths));
    Packed *out = calloc((size_t)(n ? n : 1), sizeof(*out));
    PyObject *result = NULL;
    if (!data || !lengths || !out) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *t = PyTuple_GET_ITEM(seq, k);
        if (!PyUnicode_Check(t)) {
            PyErr_Format(PyExc_TypeError, "encode_packed_many expects str items, got %.100s at %zd",
                         Py_TYPE(t)->tp_name, k);
            goto done;
        }
        data[k] = ascii_data(t);
        lengths[k] = PyUnicode_GET_LENGTH(t);
        total += lengths[k];
    }
    if (threads < 1)
        threads = 1;
    if (threads > 16)
        threads = 16;
    if (threads > n)
        threads = n ? (int)n : 1;
    BatchJob jobs[16];
    /* contiguous chunks of about equal char counts */
    Py_ssize_t k = 0, acc = 0;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (BatchJob){self, data, lengths, out, k, k, 0};
        Py_ssize_t goal = total * (t + 1) / threads;
        while (k < n && (t == threads - 1 || acc < goal)) {
            acc += lengths[k];
            k++;
        }
        jobs[t].end = k;
    }
    pthread_t ids[16];
    int started[16] = {0};
    Py_BEGIN_ALLOW_THREADS
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, run_batch_job, &jobs[t]) == 0;
    run_batch_job(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            run_batch_job(&jobs[t]);
    }
    Py_END_ALLOW_THREADS
    for (int t = 0; t < threads; t++)
        if (jobs[t].failed) {
            PyErr_NoMemory();
            goto done;
        }
    result = PyList_New(n);
    if (!result)
        goto done;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *item;
        if (out[j].declined) {
            item = Py_None;
            Py_INCREF(item);
        } else {
            item = packed_to_tuple(&out[j]);
            if (!item) {
                Py_CLEAR(result);
                goto done;
            }
        }
        PyList_SET_ITEM(result, j, item);
    }
done:
    if (out)
        for (Py_ssize_t j = 0; j < n; j++)
            packed_free(&out[j]);
    free(out);
    free(lengths);
    free(data);
    Py_DECREF(seq);
    return result;
}

/* ---- unpack ------------------------------------------------------------------------- */

/* Offsets and word indices repeat across encodings: ints below SHARED_INTS are made once and
 * shared (created on first use; only touched with the GIL held). */
#define SHARED_INTS 65536
static PyObject *shared_ints[SHARED_INTS];

static PyObject *int_object(int32_t v) {
    if (v >= 0 && v < SHARED_INTS) {
        PyObject *o = shared_ints[v];
        if (!o) {
            o = PyLong_FromLong(v);
            if (!o)
                return NULL;
            shared_ints[v] = o;
        }
        Py_INCREF(o);
        return o;
    }
    return PyLong_FromLong(v);
}

static int get_int32s(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0)
        return -1;
    if (view->len % 4) {
        PyErr_Format(PyExc_ValueError, "%s: expected int32 bytes, got %zd bytes", what, view->len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *WordPieceEncoder_unpack(WordPieceEncoder *self, PyObject *args) {
    PyObject *ids_o, *offs_o, *words_o;
    if (!PyArg_ParseTuple(args, "OOO", &ids_o, &offs_o, &words_o))
        return NULL;
    Py_buffer vi, vo, vw;
    if (get_int32s(ids_o, &vi, "ids") < 0)
        return NULL;
    if (get_int32s(offs_o, &vo, "offsets") < 0) {
        PyBuffer_Release(&vi);
        return NULL;
    }
    if (get_int32s(words_o, &vw, "words") < 0) {
        PyBuffer_Release(&vi);
        PyBuffer_Release(&vo);
        return NULL;
    }
    PyObject *ids = NULL, *tokens = NULL, *offsets = NULL, *words = NULL, *result = NULL;
    Py_ssize_t n = vi.len / 4;
    if (vo.len != 8 * n || vw.len != 4 * n) {
        PyErr_SetString(PyExc_ValueError, "unpack: ids, offsets and words disagree in length");
        goto done;
    }
    const int32_t *pi = vi.buf, *po = vo.buf, *pw = vw.buf;
    Py_ssize_t n_strings = PyList_GET_SIZE(self->strings);
    ids = PyList_New(n);
    tokens = PyList_New(n);
    offsets = PyList_New(n);
    words = PyList_New(n);
    if (!ids || !tokens || !offsets || !words)
        goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        int32_t id = pi[k];
        if (id < 0 || id >= n_strings || PyList_GET_ITEM(self->strings, id) == Py_None) {
            PyErr_Format(PyExc_ValueError, "unpack: id %d has no token", (int)id);
            goto done;
        }
        PyObject *tok = PyList_GET_ITEM(self->strings, id);
        Py_INCREF(tok);
        PyList_SET_ITEM(tokens, k, tok);
        PyObject *v = int_object(id);
        if (!v)
            goto done;
        PyList_SET_ITEM(ids, k, v);
        PyObject *pair = PyTuple_New(2);
        if (!pair)
            goto done;
        PyList_SET_ITEM(offsets, k, pair);
        PyObject *start = int_object(po[2 * k]), *end = start ? int_object(po[2 * k + 1]) : NULL;
        if (!end) {
            Py_XDECREF(start);
            goto done;
        }
        PyTuple_SET_ITEM(pair, 0, start);
        PyTuple_SET_ITEM(pair, 1, end);
        PyObject_GC_UnTrack(pair); /* two ints can hold no reference cycle: keep it out of the GC's scans */
        v = int_object(pw[k]);
        if (!v)
            goto done;
        PyList_SET_ITEM(words, k, v);
    }
    result = PyTuple_Pack(4, ids, tokens, offsets, words);
done:
    Py_XDECREF(ids);
    Py_XDECREF(tokens);
    Py_XDECREF(offsets);
    Py_XDECREF(words);
    PyBuffer_Release(&vi);
    PyBuffer_Release(&vo);
    PyBuffer_Release(&vw);
    return result;
}

/* ---- construction -------------------------------------------------------------------- */

static int WordPieceEncoder_init(WordPieceEncoder *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"vocab", "strings", "unk_id", "prefix", "max_chars", "kind", "lowercase", NULL};
    PyObject *vocab, *strings, *prefix;
    int unk_id, kind, lowercase;
    Py_ssize_t max_chars;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!iUnip", kwlist, &PyDict_Type, &vocab, &PyList_Type,
                                     &strings, &unk_id, &prefix, &max_chars, &kind, &lowercase))
        return -1;
    if (kind < KIND_BERT || kind > KIND_WHITESPACE_SPLIT) {
        PyErr_Format(PyExc_ValueError, "WordPieceEncoder: unknown pre-tokenizer kind %d", kind);
        return -1;
    }
    if (self->entries) {
        PyErr_SetString(PyExc_RuntimeError, "WordPieceEncoder is already initialised");
        return -1;
    }
    Py_ssize_t plen;
    const char *pbytes = PyUnicode_AsUTF8AndSize(prefix, &plen);
    if (!pbytes)
        return -1;
    self->prefix = malloc((size_t)plen + 1);
    if (!self->prefix) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->prefix, pbytes, (size_t)plen + 1);
    self->prefix_len = plen;
    Py_ssize_t n = PyDict_GET_SIZE(vocab);
    /* pass 1: arena size */
    Py_ssize_t pos = 0, total = 0;
    PyObject *key, *value;
    while (PyDict_Next(vocab, &pos, &key, &value)) {
        Py_ssize_t len;
        if (!PyUnicode_Check(key) || !PyUnicode_AsUTF8AndSize(key, &len)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "WordPieceEncoder: vocab keys must be str");
            return -1;
        }
        total += len;
    }
    if (total > UINT32_MAX || n >= (Py_ssize_t)UINT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "WordPieceEncoder: vocab too large");
        return -1;
    }
    uint64_t size = 16;
    while (size < (uint64_t)n * 2)
        size <<= 1;
    self->entries = calloc((size_t)(n ? n : 1), sizeof(VocabEntry));
    self->slots = calloc((size_t)size, sizeof(uint32_t));
    self->arena = malloc((size_t)(total ? total : 1));
    if (!self->entries || !self->slots || !self->arena) {
        PyErr_NoMemory();
        return -1;
    }
    self->mask = size - 1;
    pos = 0;
    Py_ssize_t k = 0, at = 0, longest = 0;
    while (PyDict_Next(vocab, &pos, &key, &value)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(key, &len);
        long id = PyLong_AsLong(value);
        if (id == -1 && PyErr_Occurred())
            return -1;
        if (id < 0 || id > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "WordPieceEncoder: id %ld out of range", id);
            return -1;
        }
        memcpy(self->arena + at, s, (size_t)len);
        VocabEntry *e = &self->entries[k];
        e->hash = hash_bytes(s, len);
        e->offset = (uint32_t)at;
        e->length = (uint32_t)len;
        e->id = (int32_t)id;
        uint64_t i = e->hash & self->mask;
        while (self->slots[i])
            i = (i + 1) & self->mask;
        self->slots[i] = (uint32_t)(k + 1);
        if (len > longest)
            longest = len;
        at += len;
        k++;
    }
    self->n_entries = k;
    self->longest = longest;
    Py_INCREF(strings);
    self->strings = strings;
    self->unk_id = unk_id;
    self->max_chars = max_chars < 0 ? 0 : max_chars;
    self->kind = kind;
    self->lowercase = lowercase;
    for (int c = 0; c < 128; c++) {
        unsigned char cls;
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            cls = C_SPACE;
        else if (c < 0x20 || c == 0x7f)
            cls = C_BAD;
        else if (kind == KIND_WHITESPACE_SPLIT)
            cls = C_WORD;
        else if (alnum || (kind == KIND_WHITESPACE && c == '_'))
            cls = C_WORD;
        else
            cls = C_PUNCT;
        self->classes[c] = cls;
    }
    return 0;
}

static void WordPieceEncoder_dealloc(WordPieceEncoder *self) {
    free(self->entries);
    free(self->slots);
    free(self->arena);
    free(self->prefix);
    Py_XDECREF(self->strings);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef WordPieceEncoder_methods[] = {
    {"encode_packed", (PyCFunction)(void (*)(void))WordPieceEncoder_encode_packed, METH_VARARGS | METH_KEYWORDS,
     "encode_packed(text, char_base=0, word_base=0) -> (ids, offsets, words int32 bytes, n_words) or None"},
    {"encode_packed_many", (PyCFunction)(void (*)(void))WordPieceEncoder_encode_packed_many,
     METH_VARARGS | METH_KEYWORDS, "encode_packed_many(texts, threads=1) -> list of encode_packed results"},
    {"unpack", (PyCFunction)WordPieceEncoder_unpack, METH_VARARGS,
     "unpack(ids, offsets, words) -> (ids, tokens, offsets, words) lists"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WordPieceEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "snuggle.tokenizers._fast_wordpiece.WordPieceEncoder",
    .tp_basicsize = sizeof(WordPieceEncoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "WordPieceEncoder(vocab, strings, unk_id, prefix, max_chars, kind, lowercase)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WordPieceEncoder_init,
    .tp_dealloc = (destructor)WordPieceEncoder_dealloc,
    .tp_methods = WordPieceEncoder_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fast_wordpiece", "C WordPiece fast path (see fast_wordpiece.py).", -1, NULL,
};

PyMODINIT_FUNC PyInit__fast_wordpiece(void) {
    if (PyType_Ready(&WordPieceEncoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&WordPieceEncoderType);
    if (PyModule_AddObject(m, "WordPieceEncoder", (PyObject *)&WordPieceEncoderType) < 0) {
        Py_DECREF(&WordPieceEncoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
