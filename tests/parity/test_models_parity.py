"""Parity of snuggle.tokenizers.models with the reference `tokenizers.models` (0.23).

Each test builds the same model in both libraries from real files (GPT-2 and Qwen2 BPE,
BERT WordPiece, Pegasus Unigram) or from a model the reference trains right here, runs
`tokenize` on thousands of words cut from the shared corpora plus hand-picked hard
strings, and compares (id, value, offsets). The reference returns byte offsets; they
are converted to character offsets the way the reference's own Encoding does.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
import regex
from tokenizers import Tokenizer as RefTokenizer
from tokenizers import models as ref_models
from tokenizers import pre_tokenizers as ref_pre_tokenizers
from tokenizers import trainers as ref_trainers

from snuggle.errors import TokenizerError
from snuggle.tokenizers import models
from snuggle.tokenizers.models.base import serde_format_float, serde_parse_float

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("SNUGGLE_SHARED", REPO.parent / "shared")) / "datasets"
TOK = DATASETS / "tokenizers"

HARD_STRINGS = [
    "a",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ab" * 300,
    "supercalifragilisticexpialidocious",
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "naïve café résumé",
    "日本語のテキストです",
    "😀🎉👍🏽👨‍👩‍👧",
    "Ελληνικά Русский العربية עברית हिन्दी",
    "\u0000\u0001\u007f\u0085\u00a0\u2028\u3000",
    "x\u0301\u0302y\u0303",
    "1234567890" * 5,
    "<unk>",
    "[UNK]",
    "<|endoftext|>",
    "</s>",
    "ǅ ẞ ß ﬁ",
    "\U0010fffd\U0001f600",
    "   ",
    "\n\n\t\r",
]


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what the ByteLevel pre-tokenizer applies)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_UNICODE = byte_to_unicode()
GPT2_SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def byte_level(word: str) -> str:
    return "".join(BYTE_TO_UNICODE[b] for b in word.encode("utf-8"))


def read_text(relpath: str, limit: int) -> str:
    with open(DATASETS / relpath, encoding="utf-8") as f:
        return f.read(limit)


@functools.lru_cache(maxsize=None)
def corpus_text() -> str:
    return (
        read_text("wikitext2/wiki.test.raw", 200_000)
        + read_text("tinyshakespeare/input.txt", 100_000)
        + read_text("tinystories/tinystories_train_head_2MiB.txt", 100_000)
        + read_text("sentencepiece/botchan.txt", 60_000)
        + "\n".join(HARD_STRINGS)
    )


def unique(words) -> list[str]:
    return [w for w in dict.fromkeys(words) if w]


def spread(words: list[str], n: int) -> list[str]:
    """`n` words taken evenly across the list (the fast tests' sample; slow tests use all)."""
    step = max(1, len(words) // n)
    return words[::step][:n]


@functools.lru_cache(maxsize=None)
def byte_level_words() -> list[str]:
    return unique(byte_level(w) for w in GPT2_SPLIT.findall(corpus_text())) + [byte_level("x" * 3000)]


def ref_tokens_in_chars(word: str, tokens) -> list[tuple]:
    """Reference tokens with byte offsets mapped to the characters that contain them (as its
    pipeline reports them: a byte inside a character stands for that whole character)."""
    char_of_byte = []
    for i, ch in enumerate(word):
        char_of_byte.extend([i] * len(ch.encode("utf-8")))
    out = []
    for t in tokens:
        start, end = t.offsets
        end_char = char_of_byte[end - 1] + 1 if end > start else char_of_byte[start] if start < len(char_of_byte) else len(word)
        out.append((t.id, t.value, (char_of_byte[start], end_char)))
    return out


def assert_same_tokens(ours, ref, words: list[str]) -> None:
    mismatches = []
    for w in words:
        expected = ref_tokens_in_chars(w, ref.tokenize(w))
        got = [tuple(t) for t in ours.tokenize(w)]
        if got != expected:
            mismatches.append((w, got, expected))
    assert not mismatches, f"{len(mismatches)} of {len(words)} words differ, first: {mismatches[0]}"


def ref_model_json(model) -> dict:
    return json.loads(RefTokenizer(model).to_str())["model"]


# --- BPE ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt2_pair():
    vocab, merges = str(TOK / "gpt2/vocab.json"), str(TOK / "gpt2/merges.txt")
    return models.BPE.from_file(vocab, merges), ref_models.BPE.from_file(vocab, merges)


def test_gpt2_bpe_matches_reference_on_corpus_words(gpt2_pair):
    ours, ref = gpt2_pair
    words = byte_level_words()
    assert len(words) > 10_000
    assert_same_tokens(ours, ref, spread(words, 4000) + [byte_level(w) for w in HARD_STRINGS])


@pytest.mark.slow
def test_gpt2_bpe_matches_reference_on_all_corpus_words(gpt2_pair):
    ours, ref = gpt2_pair
    assert_same_tokens(ours, ref, byte_level_words())


def test_gpt2_bpe_to_dict_equals_reference_json(gpt2_pair):
    ours, ref = gpt2_pair
    ref_json = ref_model_json(ref)
    assert ours.to_dict() == ref_json
    assert list(ours.to_dict()) == list(ref_json)  # same key order
    # and the tokenizer.json shipped in the bundle loads to the same model
    with open(TOK / "gpt2/tokenizer.json", encoding="utf-8") as f:
        shipped = json.load(f)["model"]
    assert models.from_dict(shipped).to_dict() == ref_model_json(RefTokenizer.from_file(str(TOK / "gpt2/tokenizer.json")).model)


def test_gpt2_bpe_save_loads_in_reference(gpt2_pair, tmp_path):
    ours, ref = gpt2_pair
    vocab_path, merges_path = ours.save(str(tmp_path))
    with open(vocab_path, encoding="utf-8") as f:
        assert json.load(f) == ref_model_json(ref)["vocab"]
    reloaded = ref_models.BPE.from_file(vocab_path, merges_path)
    assert ref_model_json(reloaded) == ref_model_json(ref)
    # byte-identical files to what the reference writes
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref_files = ref.save(str(ref_dir), "x")
    our_files = ours.save(str(tmp_path), "x")
    for a, b in zip(our_files, ref_files):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read(), os.path.basename(a)


@pytest.fixture(scope="module")
def qwen2_pair():
    vocab, merges = str(TOK / "qwen2/vocab.json"), str(TOK / "qwen2/merges.txt")
    return models.BPE.from_file(vocab, merges), ref_models.BPE.from_file(vocab, merges)


def test_qwen2_bpe_matches_reference(qwen2_pair):
    ours, ref = qwen2_pair
    assert_same_tokens(ours, ref, spread(byte_level_words(), 2000) + [byte_level(w) for w in HARD_STRINGS])
    assert ours.get_vocab() == RefTokenizer(ref).get_vocab()


@pytest.mark.slow
def test_qwen2_bpe_matches_reference_on_all_corpus_words(qwen2_pair):
    ours, ref = qwen2_pair
    assert_same_tokens(ours, ref, byte_level_words())


def test_llama2_byte_fallback_bpe_matches_reference():
    """The Llama-2 SentencePiece BPE (byte_fallback, fuse_unk), whole lines as single words
    the way its Metaspace(split=False) pre-tokenizer hands them to the model."""
    from snuggle.tokenizers.converters import from_sentencepiece

    spec = from_sentencepiece(TOK / "llama2/tokenizer.model")["model"]
    ours = models.from_dict(spec)
    ref = RefTokenizer.from_str(json.dumps({"version": "1.0", "model": spec})).model
    assert ours.to_dict() == ref_model_json(ref)
    lines = [line.strip() for line in corpus_text().split("\n") if line.strip()]
    words = ["▁" + line.replace(" ", "▁") for line in spread(lines, 120)]
    assert_same_tokens(ours, ref, words + ["▁" + w.replace(" ", "▁") for w in HARD_STRINGS])


@functools.lru_cache(maxsize=None)
def plain_words() -> list[str]:
    return unique(regex.findall(r"\w+|[^\w\s]+", corpus_text()))


@pytest.fixture(scope="module")
def trained_bpe_json():
    """A BPE the reference trains on the corpus with prefix, suffix and unk settings."""
    model = ref_models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>")
    tok = RefTokenizer(model)
    tok.pre_tokenizer = ref_pre_tokenizers.Whitespace()
    trainer = ref_trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=["[UNK]"],
        continuing_subword_prefix="##",
        end_of_word_suffix="</w>",
        limit_alphabet=60,
        show_progress=False,
    )
    tok.train_from_iterator([read_text("tinyshakespeare/input.txt", 300_000)], trainer)
    return json.loads(tok.to_str())["model"]


@pytest.mark.parametrize("fuse_unk", [False, True])
@pytest.mark.parametrize("ignore_merges", [False, True])
def test_trained_bpe_with_prefix_suffix_unk_matches_reference(trained_bpe_json, fuse_unk, ignore_merges):
    spec = dict(trained_bpe_json, fuse_unk=fuse_unk, ignore_merges=ignore_merges)
    ours = models.from_dict(spec)
    ref = RefTokenizer.from_str(json.dumps({"version": "1.0", "model": spec})).model
    assert ours.to_dict() == ref_model_json(ref)
    assert_same_tokens(ours, ref, spread(plain_words(), 2500) + HARD_STRINGS)


def test_bpe_dropout_extremes_match_reference(trained_bpe_json):
    words = spread(plain_words(), 1500)
    for dropout in (0.0, 1.0):
        spec = dict(trained_bpe_json, dropout=dropout)
        ours = models.from_dict(spec)
        ref = RefTokenizer.from_str(json.dumps({"version": "1.0", "model": spec})).model
        assert_same_tokens(ours, ref, words)


def test_bpe_byte_fallback_matches_reference():
    """A Llama-style vocab: some characters, some merges, and all 256 <0xXX> byte pieces."""
    vocab = {"<unk>": 0}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in "abcdefghijklmnopqrstuvwxyz▁éあ":
        vocab[ch] = len(vocab)
    merges = [("t", "h"), ("th", "e"), ("▁", "the"), ("a", "n"), ("an", "d"), ("i", "n"), ("in", "g")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    # also byte pieces that merge (byte_fallback output can be merged like any symbol)
    vocab["<0xE6><0x97>"] = len(vocab)
    merges.append(("<0xE6>", "<0x97>"))
    for fuse_unk in (False, True):
        ours = models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True, fuse_unk=fuse_unk)
        ref = ref_models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True, fuse_unk=fuse_unk)
        words = ["▁the", "▁thing", "▁andé", "日本", "あ日あ", "😀", "abc日", "ÿ", "▁" + "日本語" * 20] + HARD_STRINGS
        assert_same_tokens(ours, ref, words)
    # without the byte pieces the fallback falls back to unk, with and without fusing
    small = {k: v for k, v in vocab.items() if not k.startswith("<0x")}
    small_merges = [m for m in merges if not m[0].startswith("<0x")]
    for fuse_unk in (False, True):
        ours = models.BPE(small, small_merges, unk_token="<unk>", byte_fallback=True, fuse_unk=fuse_unk)
        ref = ref_models.BPE(small, small_merges, unk_token="<unk>", byte_fallback=True, fuse_unk=fuse_unk)
        assert_same_tokens(ours, ref, ["日本", "a日本b", "xyz", "thexx"] + HARD_STRINGS)


def test_bpe_without_unk_drops_unknown_characters_like_reference():
    vocab = {"a": 0, "b": 1, "ab": 2}
    ours, ref = models.BPE(vocab, [("a", "b")]), ref_models.BPE(vocab, [("a", "b")])
    assert_same_tokens(ours, ref, ["ab", "axb", "xxab", "abx", "x"])


# --- WordPiece ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bert_pair():
    path = str(TOK / "bert-base-uncased/vocab.txt")
    return models.WordPiece.from_file(path), ref_models.WordPiece.from_file(path)


def test_bert_wordpiece_matches_reference_on_corpus_words(bert_pair):
    ours, ref = bert_pair
    words = spread(unique(w.lower() for w in plain_words()), 4000) + spread(plain_words(), 2000)
    words += HARD_STRINGS + ["a" * 100, "a" * 101]
    assert_same_tokens(ours, ref, words)


def test_bert_wordpiece_round_trip_and_save(bert_pair, tmp_path):
    ours, ref = bert_pair
    assert ours.to_dict() == ref_model_json(ref)
    assert models.from_dict(ref_model_json(ref)).to_dict() == ref_model_json(ref)
    (path,) = ours.save(str(tmp_path), "bert")
    assert ref_model_json(ref_models.WordPiece.from_file(path)) == ref_model_json(ref)
    assert models.WordPiece.read_file(path) == ref_models.WordPiece.read_file(str(TOK / "bert-base-uncased/vocab.txt"))


def test_wordpiece_options_match_reference(bert_pair):
    vocab = models.WordPiece.read_file(str(TOK / "bert-base-uncased/vocab.txt"))
    ours = models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=8, continuing_subword_prefix="##")
    ref = ref_models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=8, continuing_subword_prefix="##")
    assert_same_tokens(ours, ref, spread(plain_words(), 2000))


# --- Unigram ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pegasus_text() -> str:
    with open(TOK / "pegasus-unigram/tokenizer.json", encoding="utf-8") as f:
        return f.read()


def load_like_reference(text: str) -> dict:
    """Parse tokenizer.json text with the reference's (serde_json's) float rounding."""
    return json.loads(text, parse_float=serde_parse_float)


@pytest.fixture(scope="module")
def pegasus_model(pegasus_text) -> dict:
    return load_like_reference(pegasus_text)["model"]


@pytest.fixture(scope="module")
def pegasus_pair(pegasus_text, pegasus_model):
    return models.from_dict(pegasus_model), RefTokenizer.from_str(pegasus_text).model


@functools.lru_cache(maxsize=None)
def metaspace_words() -> list[str]:
    return unique("▁" + w for w in corpus_text().split()) + ["▁" + w.replace(" ", "▁") for w in HARD_STRINGS]


def test_pegasus_unigram_matches_reference(pegasus_pair):
    ours, ref = pegasus_pair
    assert_same_tokens(ours, ref, spread(metaspace_words(), 4000) + ["▁<unk>▁</s>▁<pad>"])
    assert ours.to_dict() == ref_model_json(ref)


@pytest.mark.slow
def test_pegasus_unigram_matches_reference_on_all_corpus_words(pegasus_pair):
    ours, ref = pegasus_pair
    assert_same_tokens(ours, ref, metaspace_words())


def test_serde_float_parsing_matches_reference(pegasus_text, pegasus_model, pegasus_pair):
    """serde_json rounds some scores differently from Python's json; we must read them its way."""
    ref_scores = [s for _, s in ref_model_json(pegasus_pair[1])["vocab"]]
    ours = [s for _, s in pegasus_model["vocab"]]
    python = [s for _, s in json.loads(pegasus_text)["model"]["vocab"]]
    assert ours == ref_scores
    assert python != ref_scores  # the reason serde_parse_float exists


def test_serde_float_parse_and_format_match_reference_on_random_numbers():
    """Random JSON numbers in every shape: our reading and writing agree with serde_json's."""
    import random

    rng = random.Random(0)
    texts = ["123456789012345678901234567890.5", "0.000000000000000000000000000001234567890123456789",
             "1e-320", "4.9e-324", "1.7976931348623157e308", "18446744073709551615.5", "18446744073709551616.0",
             "-0.0", "1e22", "1e23", "9999999999999999999.5", "1e-400", "0.0e5"]  # fmt: skip
    for _ in range(3000):
        x = rng.uniform(-10, 10)
        texts.append(rng.choice([repr(x * 10 ** rng.randint(-12, 12)), f"{x:.{rng.randint(1, 25)}f}",
                                 f"{x:.{rng.randint(1, 20)}e}".replace("e+", "E") + ""]))  # fmt: skip
    body = ",".join(f'["p{i}",{t}]' for i, t in enumerate(texts))
    text = '{"version":"1.0","model":{"type":"Unigram","unk_id":null,"vocab":[' + body + '],"byte_fallback":false}}'
    ref = RefTokenizer.from_str(text).model
    written = RefTokenizer(ref).to_str()
    ref_values = [v for _, v in json.loads(written)["model"]["vocab"]]
    ours = [v for _, v in load_like_reference(text)["model"]["vocab"]]
    assert ours == ref_values
    assert [repr(v) for v in ours] == [repr(v) for v in ref_values]  # signs of zeros too
    ours_written = ",".join(f'["p{i}",{serde_format_float(v)}]' for i, v in enumerate(ours))
    assert ours_written in written


def test_unigram_byte_fallback_matches_reference(pegasus_model):
    """Pegasus pieces plus the 256 byte pieces, with byte_fallback on."""
    model = pegasus_model
    vocab = [tuple(p) for p in model["vocab"][:20_000]]
    vocab += [(f"<0x{b:02X}>", -20.0) for b in range(256)]
    ours = models.Unigram(vocab, model["unk_id"], True)
    ref = ref_models.Unigram(vocab, model["unk_id"], True)
    assert_same_tokens(ours, ref, spread(metaspace_words(), 1500) + metaspace_words()[-len(HARD_STRINGS):])


@pytest.mark.parametrize("name", ["test_model", "test_ja_model"])
def test_small_sentencepiece_unigrams_match_reference(name):
    """The SentencePiece test models (1,000 and 8,000 pieces): small vocabularies, so many
    unknown characters and fused unk runs, in English and Japanese."""
    from snuggle.tokenizers.converters import from_sentencepiece

    spec = from_sentencepiece(DATASETS / f"sentencepiece/{name}.model")["model"]
    text = json.dumps({"version": "1.0", "model": spec})
    ours = models.from_dict(load_like_reference(text)["model"])
    ref = RefTokenizer.from_str(text).model
    with open(DATASETS / f"sentencepiece/{name}.vectors.jsonl", encoding="utf-8") as f:
        lines = [json.loads(line)["text"] for line in f]
    words = ["▁" + line.replace(" ", "▁") for line in lines] + spread(metaspace_words(), 1500)
    assert_same_tokens(ours, ref, words)


def test_unigram_without_unk_id_raises_like_reference():
    vocab = [("a", -1.0), ("b", -2.0)]
    ours, ref = models.Unigram(vocab), ref_models.Unigram(vocab)
    assert_same_tokens(ours, ref, ["ab", "ba", "aab"])
    with pytest.raises(Exception):
        ref.tokenize("ax")
    with pytest.raises(TokenizerError):
        ours.tokenize("ax")


def test_unigram_save_matches_reference_file(pegasus_text, tmp_path):
    small = {"type": "Unigram", "unk_id": 2, "vocab": json.loads(pegasus_text)["model"]["vocab"][100:400], "byte_fallback": False}
    small["vocab"][5] = ["tiny", 1e-05]  # scores serde_json and Python print differently
    small["vocab"][6] = ["huge", -1.5e17]
    small["vocab"][7] = ["small", 1.25e-7]
    text = json.dumps({"version": "1.0", "model": small})
    ours = models.from_dict(load_like_reference(text)["model"])
    ref = RefTokenizer.from_str(text).model
    (path,) = ours.save(str(tmp_path))
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    (ref_path,) = ref.save(str(ref_dir))
    with open(path, encoding="utf-8") as a, open(ref_path, encoding="utf-8") as b:
        assert a.read() == b.read()


# --- WordLevel ----------------------------------------------------------------------------
def test_wordlevel_matches_reference(tmp_path):
    words = plain_words()
    vocab = {w: i for i, w in enumerate(words[:3000])}
    vocab["<unk>"] = len(vocab)
    ours, ref = models.WordLevel(vocab, unk_token="<unk>"), ref_models.WordLevel(vocab, unk_token="<unk>")
    assert_same_tokens(ours, ref, spread(words, 3000) + words[:1000] + HARD_STRINGS)
    assert ours.to_dict() == ref_model_json(ref)
    (path,) = ours.save(str(tmp_path))
    assert ref_model_json(ref_models.WordLevel.from_file(path, unk_token="<unk>")) == ref_model_json(ref)


# --- Unigram sampling ---------------------------------------------------------------------
SAMPLING_VOCAB = [("<unk>", 0.0), ("a", -1.0), ("b", -1.2), ("ab", -1.5), ("ba", -1.7), ("aba", -2.6)]


def sample_frequencies(model, word: str, draws: int) -> dict[tuple[str, ...], float]:
    counts: dict[tuple[str, ...], int] = {}
    for _ in range(draws):
        seg = tuple(t.value for t in model.tokenize(word))
        counts[seg] = counts.get(seg, 0) + 1
    return {k: v / draws for k, v in counts.items()}


def test_unigram_full_lattice_sampling_matches_reference_distribution():
    ours = models.Unigram(SAMPLING_VOCAB, 0, False, alpha=0.7)
    ref = ref_models.Unigram(SAMPLING_VOCAB, 0, False, alpha=0.7)
    ours.set_sampling_seed(3)
    got, expected = sample_frequencies(ours, "ababa", 4000), sample_frequencies(ref, "ababa", 4000)
    for seg in set(got) | set(expected):
        assert abs(got.get(seg, 0.0) - expected.get(seg, 0.0)) < 0.04, seg


def test_unigram_nbest_sampling_matches_reference_set():
    ours = models.Unigram(SAMPLING_VOCAB, 0, False, alpha=0.5, nbest_size=3)
    ref = ref_models.Unigram(SAMPLING_VOCAB, 0, False, alpha=0.5, nbest_size=3)
    ours.set_sampling_seed(0)
    assert set(sample_frequencies(ours, "abab", 300)) == set(sample_frequencies(ref, "abab", 300))
