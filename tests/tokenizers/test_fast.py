"""The C byte-level BPE fast path against the `regex` module and a pure-Python encode.

The scanners must give exactly `regex.finditer(pattern)`'s spans; the encoder must give
exactly the ids, char offsets and word indices of the pure-Python pipeline (regex
pre-tokenization, ByteLevel spelling, snuggle's BPE model).
"""

from __future__ import annotations

import itertools
import random

import pytest
import regex

from snuggle.errors import TokenizerError
from snuggle.tokenizers import fast
from snuggle.tokenizers.converters import bytes_to_unicode
from snuggle.tokenizers.fast import GPT2_PATTERN, LLAMA3_PATTERN, QWEN2_PATTERN, plan_fast_path
from snuggle.tokenizers.models.bpe import BPE

DATA = "/work/shared/datasets"
PATTERNS = {"gpt2": GPT2_PATTERN, "llama3": LLAMA3_PATTERN, "qwen2": QWEN2_PATTERN}
BYTE_CHARS = bytes_to_unicode()

# Characters that stress the scanners: every class, case-folding apostrophe suffixes
# (U+017F folds to 's' under (?i)), \r\n mixes, unusual spaces, numbers that are not
# digits, combining marks, emoji with joiners, CJK, and the separators regex's \s excludes.
HARD_CHARS = (
    list("aZsStTrReEvVlLmMdDxX'' \t\n\r09!.,\"-_?")
    + ["  ", "\r\n", "\n\n", "'s", "'LL", "'Re", " '", "\u017f", "\x0b", "\x0c", "\x85", "\xa0", "\u3000", "\u2028"]
    + ["\u0663", "\u00bd", "\u216b", "\u00e9", "e\u0301", "\u0301", "\u200d", "\U0001f600", "\U0001f469\u200d\U0001f4bb"]
    + ["\u4e2d\u6587", "\u00df", "\u0130", "\x1c", "\x1f", "\x00", "\U0010ffff", "\u2603", "\ufeff", "123456", "ab12"]
)


def hard_strings(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = ["", " ", "  ", "\n", " \n ", "a", "'", "'s", " 's", "  a", "\t\tx", "x  ", "\r\n\r\n  \n x"]
    for _ in range(count):
        out.append("".join(rng.choice(HARD_CHARS) for _ in range(rng.randint(1, 24))))
    return out


def exhaustive_strings(alphabet: str, max_len: int) -> list[str]:
    return ["".join(p) for n in range(1, max_len + 1) for p in itertools.product(alphabet, repeat=n)]


def corpus_lines(limit: int) -> list[str]:
    with open(f"{DATA}/tinyshakespeare/input.txt", encoding="utf-8") as f:
        shakespeare = f.read().splitlines(keepends=True)[:limit]
    with open(f"{DATA}/wikitext2/wiki.test.raw", encoding="utf-8") as f:
        wiki = f.read().splitlines(keepends=True)[:limit]
    return shakespeare + wiki


def identity_encoder(kind: str, add_prefix_space: bool = False):
    """A FastPath with no merges: one token per byte, for scanner checks."""
    vocab = {ch: b for b, ch in BYTE_CHARS.items()}
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": PATTERNS[kind]}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    ]}
    return plan_fast_path(None, pre, BPE(vocab, []))


# ---- the pure-Python reference --------------------------------------------------------------
def reference_encode(text: str, pattern: str, model: BPE, add_prefix_space: bool = False):
    """Regex pre-tokenization, ByteLevel spelling, then the BPE model, with char offsets."""
    if add_prefix_space and text and not text.startswith(" "):
        chars = [" "] + list(text)
        origin = [(0, 1)] + [(i, i + 1) for i in range(len(text))]  # the added space sits on char 0
    else:
        chars = list(text)
        origin = [(i, i + 1) for i in range(len(text))]
    shifted = "".join(chars)
    ids, offsets, words = [], [], []
    for word, m in enumerate(regex.finditer(pattern, shifted)):
        spelled, char_of_symbol = [], []
        for i in range(m.start(), m.end()):
            for byte in shifted[i].encode("utf-8"):
                spelled.append(BYTE_CHARS[byte])
                char_of_symbol.append(i)
        for token in model.tokenize("".join(spelled)):
            a, b = token.offsets
            ids.append(token.id)
            offsets.append((origin[char_of_symbol[a]][0], origin[char_of_symbol[b - 1]][1]))
            words.append(word)
    return ids, offsets, words


@pytest.fixture(scope="module")
def gpt2_model() -> BPE:
    return BPE.from_file(f"{DATA}/tokenizers/gpt2/vocab.json", f"{DATA}/tokenizers/gpt2/merges.txt")


def fast_for(model: BPE, kind: str, add_prefix_space: bool = False):
    if kind == "gpt2" and add_prefix_space:
        pre = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    else:
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERNS[kind]}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ]}
    path = plan_fast_path(None, pre, model)
    assert path is not None
    return path


# ---- scanners ---------------------------------------------------------------------------------
def test_char_classes_match_regex_on_samples():
    table = fast.char_classes()
    rng = random.Random(1)
    for cp in list(range(0x3000)) + rng.sample(range(0x110000), 5000):
        ch = chr(cp)
        expected = 1 if regex.match(r"\p{L}", ch) else 2 if regex.match(r"\p{N}", ch) else 3 if regex.match(r"\s", ch) else 0
        assert table[cp] == expected, hex(cp)


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_scanner_matches_regex_on_hard_strings(kind):
    encoder = identity_encoder(kind)
    compiled = regex.compile(PATTERNS[kind])
    strings = hard_strings(6000) + exhaustive_strings(" a'\n1.s\r", 4) + exhaustive_strings("S\u017f 9x\t!", 3)
    for s in strings:
        assert encoder.split(s) == [m.span() for m in compiled.finditer(s)], repr(s)


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_scanner_matches_regex_on_corpus(kind):
    encoder = identity_encoder(kind)
    compiled = regex.compile(PATTERNS[kind])
    lines = corpus_lines(3000)
    for s in lines:
        assert encoder.split(s) == [m.span() for m in compiled.finditer(s)], repr(s)
    whole = "".join(lines)
    assert encoder.split(whole) == [m.span() for m in compiled.finditer(whole)]


# ---- encoder vs the pure-Python reference -----------------------------------------------------
@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_encode_matches_reference_gpt2_merges(gpt2_model, kind):
    path = fast_for(gpt2_model, kind)
    for s in hard_strings(1500, seed=2) + corpus_lines(400):
        assert path.encode(s) == reference_encode(s, PATTERNS[kind], gpt2_model), repr(s)


def test_encode_add_prefix_space(gpt2_model):
    path = fast_for(gpt2_model, "gpt2", add_prefix_space=True)
    for s in hard_strings(1500, seed=3) + corpus_lines(200):
        assert path.encode(s) == reference_encode(s, GPT2_PATTERN, gpt2_model, add_prefix_space=True), repr(s)
    assert path.encode("") == ([], [], [])
    ids, offsets, _ = path.encode("\nfoo")
    assert offsets[:2] == [(0, 1), (0, 1)]  # the added space and the newline both sit on char 0


def test_ignore_merges_uses_whole_words():
    # "abc" is in the vocab but no merge builds it; a merge builds "ab" only.
    vocab = {ch: b for b, ch in BYTE_CHARS.items()}
    vocab.update({"ab": 256, "abc": 257, "bc": 258})
    merges = [("a", "b"), ("b", "c")]
    for ignore in (False, True):
        model = BPE(dict(vocab), list(merges), ignore_merges=ignore)
        path = fast_for(model, "llama3")
        for s in ["abc", "abcd abc", "xabc", "bc abc\n"] + hard_strings(300, seed=4):
            assert path.encode(s) == reference_encode(s, LLAMA3_PATTERN, model), (ignore, s)
    assert fast_for(BPE(dict(vocab), list(merges), ignore_merges=True), "llama3").encode("abc")[0] == [257]


def test_long_words_use_the_heap_loop_and_match(gpt2_model):
    rng = random.Random(5)
    path = fast_for(gpt2_model, "gpt2")
    words = ["a" * 1000, "ab" * 300, "".join(rng.choice("etaoinshrdlu") for _ in range(5000)),
             "!" * 700 + "?" * 70, "\u00e9\u4e2d" * 200, "9" * 500]
    for w in words:
        for s in (w, " " + w, w + " x"):
            assert path.encode(s) == reference_encode(s, GPT2_PATTERN, gpt2_model), s[:40]


def test_merges_with_random_small_vocab():
    # A random merge table over a small alphabet: many competing ranks, ties and chains.
    rng = random.Random(6)
    vocab = {ch: b for b, ch in BYTE_CHARS.items()}
    merges = []
    symbols = list("abcd")
    while len(merges) < 120:
        a, b = rng.choice(symbols), rng.choice(symbols)
        if a + b in vocab or len(a + b) > 12:
            continue
        vocab[a + b] = len(vocab)
        merges.append((a, b))
        symbols.append(a + b)
    model = BPE(vocab, merges)
    path = fast_for(model, "qwen2")
    for _ in range(400):
        s = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 150)))
        assert path.encode(s) == reference_encode(s, QWEN2_PATTERN, model), s


def test_large_string_is_linear_and_consistent(gpt2_model):
    with open(f"{DATA}/tinyshakespeare/input.txt", encoding="utf-8") as f:
        text = f.read() + " " + "x" * 200_000 + "\u4e2d" * 100_000  # ~1.4 MB, two huge words
    path = fast_for(gpt2_model, "gpt2")
    ids, offsets, words = path.encode(text)
    assert len(ids) == len(offsets) == len(words)
    assert offsets[0][0] == 0 and offsets[-1][1] == len(text)
    assert all(a[1] <= b[0] for a, b in zip(offsets, offsets[1:]))
    assert words[-1] == len(path.split(text)) - 1
    tail = text[-1000:]
    assert path.encode(tail)[0] == reference_encode(tail, GPT2_PATTERN, gpt2_model)[0]


# ---- batches, threads and inputs the path declines --------------------------------------------
def test_encode_batch_equals_single_encodes(gpt2_model):
    path = fast_for(gpt2_model, "llama3")
    texts = corpus_lines(2000)  # above the parallel threshold: runs on two threads
    assert sum(map(len, texts)) > fast.PARALLEL_MIN_CHARS
    assert path.encode_batch(texts) == [path.encode(t) for t in texts]
    assert path.encode_batch(["a", "b c"]) == [path.encode("a"), path.encode("b c")]
    assert path.encode_batch([]) == []
    singles = [path.encode(t) for t in texts]
    for threads in (1, 2, 3, 8):  # native threads each take a contiguous share
        assert path.encoder.encode_many(texts, threads=threads) == singles
    assert path.encoder.encode_many(texts[:2], threads=8) == singles[:2]
    assert path.encoder.encode_many(texts, threads=2, ids_only=True) == [ids for ids, _, _ in singles]
    assert path.encoder.encode_ids(texts[5]) == singles[5][0]


def test_batch_surrogate_in_any_share_raises(gpt2_model):
    path = fast_for(gpt2_model, "gpt2")
    texts = ["x" * 20_000, "y" * 20_000, "bad \ud800"]
    with pytest.raises(TokenizerError, match="surrogate"):
        path.encode_batch(texts)


def test_nfc_normalizer_declines_non_nfc_text(gpt2_model):
    pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    path = plan_fast_path({"type": "NFC"}, pre, gpt2_model)
    assert path.encode("caf\u00e9") == fast_for(gpt2_model, "gpt2").encode("caf\u00e9")
    assert path.encode("cafe\u0301") is None
    assert path.encode_batch(["ok", "cafe\u0301"])[1] is None


def test_lone_surrogate_raises_tokenizer_error(gpt2_model):
    with pytest.raises(TokenizerError, match="surrogate"):
        fast_for(gpt2_model, "gpt2").encode("a\ud800b")


def test_plan_declines_what_it_cannot_reproduce(gpt2_model):
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    assert plan_fast_path(None, byte_level, gpt2_model) is not None
    assert plan_fast_path({"type": "Lowercase"}, byte_level, gpt2_model) is None
    assert plan_fast_path(None, {**byte_level, "use_regex": False}, gpt2_model) is None
    assert plan_fast_path(None, {"type": "Whitespace"}, gpt2_model) is None
    unknown_pattern = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"\w+|\s+"}, "behavior": "Isolated", "invert": False},
        {**byte_level, "use_regex": False}]}
    assert plan_fast_path(None, unknown_pattern, gpt2_model) is None
    removed = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": GPT2_PATTERN}, "behavior": "Removed", "invert": False},
        {**byte_level, "use_regex": False}]}
    assert plan_fast_path(None, removed, gpt2_model) is None
    vocab = {ch: b for b, ch in BYTE_CHARS.items()}
    assert plan_fast_path(None, byte_level, BPE(dict(vocab), [], dropout=0.1)) is None
    assert plan_fast_path(None, byte_level, BPE(dict(vocab), [], continuing_subword_prefix="##")) is None
    del vocab[BYTE_CHARS[200]]
    assert plan_fast_path(None, byte_level, BPE(vocab, [])) is None  # a byte without a token
    # two merges making one token: declined (the reference's stale-entry rule differs there)
    vocab = {ch: b for b, ch in BYTE_CHARS.items()}
    vocab.update({"ab": 256, "bc": 257, "abc": 258})
    assert plan_fast_path(None, byte_level, BPE(vocab, [("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")])) is None


# ---- against the pure-Python pipeline components --------------------------------------------
def pipeline_encode(text: str, normalizer, pre_tokenizer, model):
    """What the generic Tokenizer path computes for one segment (no added tokens)."""
    from snuggle.tokenizers.encoding import Encoding
    from snuggle.tokenizers.normalized import PreTokenizedString

    pre = PreTokenizedString(text)
    if normalizer is not None:
        pre.normalize(normalizer.normalize)
    pre_tokenizer.pre_tokenize(pre)
    pre.tokenize(lambda n: model.tokenize(n.normalized))
    enc = Encoding.from_items(pre.to_encoding_items(None, 0))
    return enc.ids, enc.offsets, enc.words


def component_configs():
    from snuggle.tokenizers.normalized import Regex
    from snuggle.tokenizers.normalizers import NFC
    from snuggle.tokenizers.pre_tokenizers import ByteLevel, Sequence, Split

    def split_then_bytes(pattern):
        return Sequence([Split(Regex(pattern), behavior="isolated", invert=False),
                         ByteLevel(add_prefix_space=False, use_regex=False)])

    return [
        (None, ByteLevel(add_prefix_space=False)),
        (None, ByteLevel(add_prefix_space=True)),
        (NFC(), split_then_bytes(LLAMA3_PATTERN)),
        (None, split_then_bytes(QWEN2_PATTERN)),
        (NFC(), split_then_bytes(GPT2_PATTERN)),
    ]


def test_fast_path_equals_python_pipeline_components(gpt2_model):
    texts = hard_strings(800, seed=7) + corpus_lines(150)
    for normalizer, pre_tokenizer in component_configs():
        path = plan_fast_path(normalizer, pre_tokenizer, gpt2_model)
        assert path is not None, pre_tokenizer.to_dict()
        for s in texts:
            got = path.encode(s)
            if got is None:  # declined: NFC would change this text
                assert normalizer is not None and s != normalizer.normalize_str(s)
                continue
            assert got == pipeline_encode(s, normalizer, pre_tokenizer, gpt2_model), (pre_tokenizer.to_dict(), s)


# ---- encode_full: token strings, shifted offsets and words, built in C --------------------------
@pytest.mark.parametrize("kind,add_prefix_space", [("gpt2", False), ("gpt2", True), ("llama3", False), ("qwen2", False)])
def test_encode_full_equals_encode_lookup_and_shifts(gpt2_model, kind, add_prefix_space):
    path = fast_for(gpt2_model, kind, add_prefix_space)
    texts = hard_strings(300, seed=11) + corpus_lines(100)
    for i, text in enumerate(texts):
        char_base, word_base = (i * 7) % 1000, (i * 3) % 50
        ids, offsets, words = path.encode(text)
        got = path.encode_full(text, char_base, word_base)
        assert got[0] == ids
        assert got[1] == [gpt2_model.vocab_r[t] for t in ids]
        assert got[2] == [(a + char_base, b + char_base) for a, b in offsets]
        assert got[3] == [w + word_base for w in words]
        # every pre-token makes at least one token, so the count is the last word + 1
        assert got[4] == (words[-1] + 1 if words else 0)
        if not add_prefix_space:
            assert got[4] == len(path.split(text))
    assert path.encode_full("") == ([], [], [], [], 0)
    assert path.encode_full("hi there") == path.encode_full("hi there", 0, 0)


def test_encode_full_tokens_are_the_models_strings(gpt2_model):
    path = fast_for(gpt2_model, "gpt2")
    ids, tokens, _, _, _ = path.encode_full("Hello world, hello again!" * 3)
    assert all(token is gpt2_model.vocab_r[i] for i, token in zip(ids, tokens))


def test_encode_full_batch_equals_singles(gpt2_model):
    path = fast_for(gpt2_model, "llama3")
    texts = corpus_lines(2000)  # above the parallel threshold: two native threads
    assert sum(map(len, texts)) > fast.PARALLEL_MIN_CHARS
    singles = [path.encode_full(t) for t in texts]
    assert path.encode_full_batch(texts) == singles
    for threads in (1, 3):
        assert path.encoder.encode_full_many(texts, threads=threads) == singles
    char_bases, word_bases = list(range(0, 5 * len(texts), 5)), list(range(len(texts)))
    shifted = [path.encode_full(t, c, w) for t, c, w in zip(texts, char_bases, word_bases)]
    assert path.encode_full_batch(texts, char_bases, word_bases) == shifted
    assert path.encoder.encode_full_many(texts, threads=2, char_bases=char_bases, word_bases=word_bases) == shifted
    assert path.encode_full_batch([]) == []


def test_encode_full_declines_non_nfc_and_keeps_bases_aligned(gpt2_model):
    pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    path = plan_fast_path({"type": "NFC"}, pre, gpt2_model)
    assert path.encode_full("cafe\u0301", 3, 1) is None
    got = path.encode_full_batch(["ab", "cafe\u0301", "c d"], char_bases=[1, 2, 3], word_bases=[4, 5, 6])
    assert got == [path.encode_full("ab", 1, 4), None, path.encode_full("c d", 3, 6)]


def test_encode_full_bad_input(gpt2_model):
    path = fast_for(gpt2_model, "gpt2")
    with pytest.raises(TokenizerError, match="surrogate"):
        path.encode_full("a\ud800b")
    with pytest.raises(TokenizerError, match="surrogate"):
        path.encode_full_batch(["x" * 20_000, "y" * 20_000, "bad \ud800"])
    with pytest.raises(ValueError, match="char_base"):
        path.encoder.encode_full("a", -1)
    with pytest.raises(ValueError, match="word_bases must have one int per text"):
        path.encoder.encode_full_many(["a", "b"], word_bases=[0])
    with pytest.raises(TypeError, match="str or None"):
        path.encoder.set_token_strings([b"x"])


def test_encode_full_needs_token_strings_for_every_id():
    from snuggle.tokenizers import _fast

    vocab = {ch: b for b, ch in BYTE_CHARS.items()}
    vocab["hi"] = 256
    path = plan_fast_path(None, {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                 "use_regex": True}, BPE(vocab, [("h", "i")]))
    bare = _fast.ByteLevelBPE(list(range(256)), [(104, 105, 256)], fast.char_classes(), 0, False)
    with pytest.raises(RuntimeError, match="set_token_strings"):
        bare.encode_full("hi")
    bare.set_token_strings([BYTE_CHARS[b] for b in range(256)])  # no string for id 256
    with pytest.raises(ValueError, match="token id 256 has no token string"):
        bare.encode_full("hi")
    bare.set_token_strings([BYTE_CHARS[b] for b in range(256)] + ["hi"])
    assert bare.encode_full("hi!") == path.encode_full("hi!")


def test_encode_full_does_not_leak(gpt2_model):
    import gc
    import sys
    import tracemalloc

    path = fast_for(gpt2_model, "gpt2")
    text = "The quick brown fox jumps over the lazy dog, \u00e9t\u00e9 \U0001f600 again."
    token = gpt2_model.vocab_r[path.encode(text)[0][1]]
    for _ in range(1000):  # warm up caches (word cache, shared int objects)
        path.encode_full(text, 5, 2)
    gc.collect()
    refs_before = sys.getrefcount(token)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            path.encode_full(text, i % 7, i % 3)
        if_many = path.encoder.encode_full_many([text] * 1000, threads=2)
        del if_many
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert sys.getrefcount(token) == refs_before
    assert grown < 64 * 1024, grown


def test_encode_packed_equals_encode_full_and_unpacks_into_an_equal_encoding():
    """The packed result (int32 bytes) holds the same ids, offsets and words as encode_full,
    and an Encoding built on it unpacks to the same lists (tokens via the token strings)."""
    import array

    from snuggle.tokenizers import Tokenizer
    from snuggle.tokenizers.encoding import Encoding
    from tests.conftest import DATASETS
    from tests.corpus import all_inputs

    tok = Tokenizer.from_file(str(DATASETS / "tokenizers" / "gpt2" / "tokenizer.json"))
    fast = tok._fast_path()
    texts = all_inputs(30)
    batch = fast.encode_packed_batch(texts)
    for text, packed in zip(texts, batch):
        ids, tokens, offsets, words, n_words = fast.encode_full(text, 3, 2)
        p_ids, p_offs, p_words, p_n = fast.encode_packed(text, 3, 2)
        assert array.array("i", p_ids).tolist() == ids
        flat = array.array("i", p_offs).tolist()
        assert list(zip(flat[0::2], flat[1::2])) == offsets
        assert array.array("i", p_words).tolist() == words and p_n == n_words
        e = Encoding.from_packed(packed[0], packed[1], packed[2], 1, fast.encoder)
        assert len(e) == len(ids)
        full = fast.encode_full(text)
        assert (e.ids, e.tokens, e.offsets, e.words) == tuple(full[:4])
        assert e.type_ids == [1] * len(ids) and e.attention_mask == [1] * len(ids)
        assert e.special_tokens_mask == [0] * len(ids) and e.overflowing == []
