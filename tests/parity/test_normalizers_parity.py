"""Parity of snuggle.tokenizers.normalizers with the reference `tokenizers` library:
normalized strings, per-char alignments to the original, and tokenizer.json objects."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import tokenizers
from tokenizers import normalizers as RN
from tokenizers import pre_tokenizers as RP

from snuggle.tokenizers import normalizers as N
from snuggle.tokenizers import pre_tokenizers as P
from snuggle.tokenizers.normalized import NormalizedString, PreTokenizedString, Regex

DATA = Path("/work/shared/datasets")

HARD_STRINGS = [
    "",
    " ",
    "Hello, how are you?",
    "  Héllo\tWORLD\n ",
    "ΟΔΟΣ ΣΑΣ Σ",
    "ﬁx ａｂｃ ① ㍻ ﬀ ẛ̣ Ⅻ ǅ",
    "e\u0301 é a\u0323\u0302 o\u0302\u0323 q\u0307\u0323 \u0301start",
    "\u1100\u1161\u11a8 한국어 텍스트 \u1100\u1161",
    "漢字かなカナー abc 123 한글",
    "x😀y 👨\u200d👩\u200d👧 🇫🇷 ❤️",
    "\u200bzero\u200d width\ufeff joiner\u200c",
    "\x00\x01ctrl\x7f\ufffd\x1c\x1f\x0b\x0c",
    "don't  I'll 2024!! -- ...",
    "a" * 300,
    "tabs\t\tand\n\n\nnewlines\r\n  end  ",
    "\u3000ideographic\u3000space\u00a0nbsp\u2009thin",
    "İstanbul ǈ ß ẞ ﬃ",
    "Ελληνικά Русский עברית العربية हिन्दी ไทย",
    "\u0915\u094d\u0937 \u0e01\u0e49\u0e33",
    "\U0001d400\U0001d41a math ℌ ℍ ℕ",
]


def corpus_lines(limit: int = 60) -> list[str]:
    lines: list[str] = []
    for rel, n in (
        ("tinyshakespeare/input.txt", limit),
        ("wikitext2/wiki.test.raw", limit),
        ("sst2/dev.tsv", limit // 2),
        ("sentencepiece/botchan.txt", limit // 2),
        ("tinystories/tinystories_train_head_2MiB.txt", limit // 2),
    ):
        path = DATA / rel
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= n:
                    break
                lines.append(line.rstrip("\n"))
    return lines


SAMPLES = HARD_STRINGS + corpus_lines()


def ref_alignments(ref_normalizer, text: str):
    """(normalized, [original (start, end) of each normalized char]) from the reference."""
    pre = tokenizers.PreTokenizedString(text)
    pre.normalize(lambda n: ref_normalizer.normalize(n))
    pre.split(lambda i, n: n.split(tokenizers.Regex(r"[\s\S]"), "isolated"))
    splits = pre.get_splits(offset_referential="original", offset_type="char")
    return "".join(s for s, _, _ in splits), [o for _, o, _ in splits]


def our_alignments(normalizer, text: str):
    n = NormalizedString(text)
    normalizer.normalize(n)
    return n.normalized, [n.convert_offsets_to_original(i, i + 1) for i in range(len(n.normalized))]


def pegasus_normalizer_json() -> dict:
    return json.loads((DATA / "tokenizers/pegasus-unigram/tokenizer.json").read_text())["normalizer"]


def component_pairs():
    peg = pegasus_normalizer_json()
    return [
        (N.NFC(), RN.NFC()),
        (N.NFD(), RN.NFD()),
        (N.NFKC(), RN.NFKC()),
        (N.NFKD(), RN.NFKD()),
        (N.Lowercase(), RN.Lowercase()),
        (N.Strip(), RN.Strip()),
        (N.Strip(left=False), RN.Strip(left=False)),
        (N.Strip(right=False), RN.Strip(right=False)),
        (N.StripAccents(), RN.StripAccents()),
        (N.Sequence([N.NFD(), N.StripAccents()]), RN.Sequence([RN.NFD(), RN.StripAccents()])),
        (N.Sequence([N.NFKD(), N.StripAccents(), N.Lowercase()]), RN.Sequence([RN.NFKD(), RN.StripAccents(), RN.Lowercase()])),
        (N.Replace(" ", "\u2581"), RN.Replace(" ", "\u2581")),
        (N.Replace("ll", ""), RN.Replace("ll", "")),
        (N.Replace(Regex(r"\s+"), " "), RN.Replace(tokenizers.Regex(r"\s+"), " ")),
        (N.Replace(Regex(r"[aeiou]"), "<v>"), RN.Replace(tokenizers.Regex(r"[aeiou]"), "<v>")),
        (N.Prepend("\u2581"), RN.Prepend("\u2581")),
        (N.BertNormalizer(), RN.BertNormalizer()),
        (N.BertNormalizer(lowercase=False), RN.BertNormalizer(lowercase=False)),
        (N.BertNormalizer(strip_accents=True, lowercase=False), RN.BertNormalizer(strip_accents=True, lowercase=False)),
        (N.BertNormalizer(clean_text=False, handle_chinese_chars=False), RN.BertNormalizer(clean_text=False, handle_chinese_chars=False)),
        (N.BertNormalizer(strip_accents=False), RN.BertNormalizer(strip_accents=False)),
        (N.Nmt(), RN.Nmt()),
        (N.ByteLevel(), RN.ByteLevel()),
        (N.from_dict(peg), RN.Sequence([RN.Precompiled(bytes(N.from_dict(peg)[0].precompiled_charsmap))] + [
            RN.Replace(tokenizers.Regex(n["pattern"]["Regex"]), n["content"]) if "Regex" in n["pattern"] else RN.Replace(n["pattern"]["String"], n["content"])
            for n in peg["normalizers"][1:]
        ])),
    ]


PAIRS = component_pairs()


@pytest.mark.parametrize("pair", PAIRS, ids=[repr(p[0])[:60] for p in PAIRS])
def test_normalize_str_matches_reference(pair):
    ours, ref = pair
    for text in SAMPLES:
        assert ours.normalize_str(text) == ref.normalize_str(text), repr(text)


@pytest.mark.parametrize("pair", PAIRS, ids=[repr(p[0])[:60] for p in PAIRS])
def test_alignments_match_reference(pair):
    ours, ref = pair
    for text in SAMPLES:
        assert our_alignments(ours, text) == ref_alignments(ref, text), repr(text)


def test_pegasus_tokenizer_normalizer_on_corpus():
    ref = tokenizers.Tokenizer.from_file(str(DATA / "tokenizers/pegasus-unigram/tokenizer.json")).normalizer
    ours = N.from_dict(pegasus_normalizer_json())
    for text in SAMPLES + corpus_lines(200):
        assert ours.normalize_str(text) == ref.normalize_str(text), repr(text)


def _sentencepiece_charsmap(path: Path) -> bytes:
    import sentencepiece.sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    m.ParseFromString(path.read_bytes())
    return m.normalizer_spec.precompiled_charsmap


@pytest.mark.parametrize("model", ["sentencepiece/test_model.model", "sentencepiece/test_ja_model.model", "tokenizers/llama2/tokenizer.model"])
def test_sentencepiece_model_charsmaps(model):
    charsmap = _sentencepiece_charsmap(DATA / model)
    if not charsmap:
        # llama2 uses the identity normalizer: nothing to compare, but say so loudly.
        assert model.endswith("llama2/tokenizer.model")
        return
    ours, ref = N.Precompiled(charsmap), RN.Precompiled(charsmap)
    for text in SAMPLES:
        assert ours.normalize_str(text) == ref.normalize_str(text), repr(text)
        assert our_alignments(ours, text) == ref_alignments(ref, text), repr(text)


def test_serialization_matches_reference_json():
    for ours, ref in PAIRS:
        expected = json.loads(ref.__getstate__())
        assert ours.to_dict() == expected
        assert list(ours.to_dict()) == list(expected)  # same key order
        rebuilt = N.from_dict(expected)
        assert rebuilt == ours
        assert rebuilt.to_dict() == expected
        assert pickle.loads(pickle.dumps(ours)) == ours


def test_alignments_through_pre_tokenizer_offsets():
    """End to end: normalizer + pre-tokenizer offsets in the original string."""
    combos = [
        (N.BertNormalizer(), P.BertPreTokenizer(), RN.BertNormalizer(), RP.BertPreTokenizer()),
        (N.NFKC(), P.ByteLevel(), RN.NFKC(), RP.ByteLevel()),
        (N.Sequence([N.NFD(), N.StripAccents(), N.Lowercase()]), P.Whitespace(),
         RN.Sequence([RN.NFD(), RN.StripAccents(), RN.Lowercase()]), RP.Whitespace()),
    ]
    for n, p, rn, rp in combos:
        for text in SAMPLES:
            pre = PreTokenizedString(text)
            pre.normalize(n.normalize)
            p.pre_tokenize(pre)
            ours = [(s, o) for s, o, _ in pre.get_splits("original", "char")]
            rpre = tokenizers.PreTokenizedString(text)
            rpre.normalize(lambda x: rn.normalize(x))
            rp.pre_tokenize(rpre)
            ref = [(s, o) for s, o, _ in rpre.get_splits(offset_referential="original", offset_type="char")]
            assert ours == ref, repr(text)
