"""Post-processors vs `tokenizers.processors`: same Encoding fields, same JSON.

Inputs are real encodings made by reference Tokenizers (GPT-2 byte-level BPE, BERT
WordPiece) with their post-processor removed, with and without truncation overflow. The
same encodings are rebuilt as snuggle Encodings from the reference's fields, both
processors run, and every field is compared, overflowing parts included (recursively).
"""

from __future__ import annotations

import json

import pytest
import tokenizers
from tokenizers import processors as ref_processors

from snuggle.tokenizers import processors as ours
from snuggle.tokenizers.encoding import Encoding

from tests.conftest import DATASETS

TEXTS = [
    "Hello there, my friend!",
    "  leading spaces and trailing  ",
    "The quick brown fox jumps over the lazy dog.",
    "naïve café — déjà vu\tand\nnew lines",
    "a",
    "",
]
PAIRS = [(TEXTS[0], TEXTS[2]), (TEXTS[1], TEXTS[3]), (TEXTS[4], TEXTS[0]), (TEXTS[2], TEXTS[5])]


def _reference_tokenizer(kind: str) -> tokenizers.Tokenizer:
    if kind == "gpt2":
        tok = tokenizers.Tokenizer.from_file(str(DATASETS / "tokenizers/gpt2/tokenizer.json"))
    else:
        vocab = str(DATASETS / "tokenizers/bert-base-uncased/vocab.txt")
        tok = tokenizers.Tokenizer(tokenizers.models.WordPiece.from_file(vocab, unk_token="[UNK]"))
        tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tok.post_processor = None
    return tok


@pytest.fixture(scope="module")
def ref_tokenizers():
    return {k: _reference_tokenizer(k) for k in ("gpt2", "bert")}


def _encode(tok: tokenizers.Tokenizer, text: str, max_length: int | None, stride: int = 0):
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length, stride=stride)
    try:
        return tok.encode(text)
    finally:
        tok.no_truncation()


def to_ours(ref: tokenizers.Encoding) -> Encoding:
    # encodings straight out of a Tokenizer without post-processor carry no sequence ranges
    return Encoding(
        list(ref.ids),
        list(ref.type_ids),
        list(ref.tokens),
        [tuple(o) for o in ref.offsets],
        list(ref.word_ids),
        list(ref.special_tokens_mask),
        list(ref.attention_mask),
        [to_ours(o) for o in ref.overflowing],
        {},
    )


def sequence_ids(enc: Encoding) -> list[int | None]:
    # the reference's rule: with no ranges, sequence 0 covers everything
    if not enc.sequence_ranges:
        return [0] * len(enc.ids)
    out: list[int | None] = [None] * len(enc.ids)
    for sid in range(len(enc.sequence_ranges)):
        s, e = enc.sequence_ranges.get(sid, (0, len(enc.ids)))
        out[s:e] = [sid] * (e - s)
    return out


def assert_same(ref: tokenizers.Encoding, got: Encoding, where: str = "encoding") -> None:
    assert got.ids == ref.ids, where
    assert got.type_ids == ref.type_ids, where
    assert got.tokens == ref.tokens, where
    assert got.offsets == [tuple(o) for o in ref.offsets], where
    assert got.words == ref.word_ids, where
    assert got.special_tokens_mask == ref.special_tokens_mask, where
    assert got.attention_mask == ref.attention_mask, where
    assert sequence_ids(got) == ref.sequence_ids, where
    assert (len(got.sequence_ranges) or 1) == ref.n_sequences, where
    assert len(got.overflowing) == len(ref.overflowing), where
    for i, (r, g) in enumerate(zip(ref.overflowing, got.overflowing)):
        assert_same(r, g, f"{where}.overflowing[{i}]")


def processor_pairs():
    """(reference, ours) processors built with the same arguments."""
    bert_template = dict(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 101), ("[SEP]", 102)],
    )
    fancy_template = dict(
        single=["<bos>:3", "$0", "<eos>:2"],
        pair="<bos> $B:1 <mid> $A:2 <eos>:1",
        special_tokens=[
            {"id": "<bos>", "ids": [1, 2], "tokens": ["<s>", "<start>"]},
            (9, "<mid>"),
            ("<eos>", 3),
        ],
    )
    return [
        ("bert_template", ref_processors.TemplateProcessing(**bert_template), ours.TemplateProcessing(**bert_template)),
        ("fancy_template", ref_processors.TemplateProcessing(**fancy_template), ours.TemplateProcessing(**fancy_template)),
        ("default_template", ref_processors.TemplateProcessing(), ours.TemplateProcessing()),
        (
            "bert",
            ref_processors.BertProcessing(("[SEP]", 102), ("[CLS]", 101)),
            ours.BertProcessing(("[SEP]", 102), ("[CLS]", 101)),
        ),
        (
            "roberta",
            ref_processors.RobertaProcessing(("</s>", 2), ("<s>", 0)),
            ours.RobertaProcessing(("</s>", 2), ("<s>", 0)),
        ),
        (
            "roberta_no_prefix",
            ref_processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False),
            ours.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False),
        ),
        (
            "roberta_no_trim",
            ref_processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False),
            ours.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False),
        ),
        ("bytelevel", ref_processors.ByteLevel(trim_offsets=True), ours.ByteLevel(trim_offsets=True)),
        (
            "bytelevel_no_prefix",
            ref_processors.ByteLevel(trim_offsets=True, add_prefix_space=False),
            ours.ByteLevel(trim_offsets=True, add_prefix_space=False),
        ),
        (
            "sequence",
            ref_processors.Sequence(
                [ref_processors.ByteLevel(), ref_processors.TemplateProcessing(**bert_template)]
            ),
            ours.Sequence([ours.ByteLevel(), ours.TemplateProcessing(**bert_template)]),
        ),
    ]


PROCESSORS = processor_pairs()
IDS = [name for name, _, _ in PROCESSORS]


@pytest.mark.parametrize("name,ref_proc,our_proc", PROCESSORS, ids=IDS)
@pytest.mark.parametrize("kind", ["gpt2", "bert"])
@pytest.mark.parametrize("add_special_tokens", [True, False])
def test_single_and_pair_without_truncation(ref_tokenizers, name, ref_proc, our_proc, kind, add_special_tokens):
    tok = ref_tokenizers[kind]
    for text in TEXTS:
        ref_in = _encode(tok, text, None)
        ref_out = ref_proc.process(ref_in, add_special_tokens=add_special_tokens)
        assert_same(ref_out, our_proc.process(to_ours(ref_in), add_special_tokens=add_special_tokens), text)
    for a, b in PAIRS:
        ra, rb = _encode(tok, a, None), _encode(tok, b, None)
        ref_out = ref_proc.process(ra, rb, add_special_tokens=add_special_tokens)
        got = our_proc.process(to_ours(ra), to_ours(rb), add_special_tokens=add_special_tokens)
        assert_same(ref_out, got, f"{a!r} + {b!r}")


@pytest.mark.parametrize("name,ref_proc,our_proc", PROCESSORS, ids=IDS)
@pytest.mark.parametrize("kind", ["gpt2", "bert"])
def test_overflowing_parts_are_processed_like_the_reference(ref_tokenizers, name, ref_proc, our_proc, kind):
    tok = ref_tokenizers[kind]
    long_a = TEXTS[2] + " " + TEXTS[0]
    long_b = TEXTS[3] + " " + TEXTS[1]
    # single input with several overflowing windows (with and without stride)
    for max_length, stride in [(4, 0), (5, 2)]:
        ra = _encode(tok, long_a, max_length, stride)
        assert ra.overflowing, "the reference should have produced overflowing windows"
        assert_same(ref_proc.process(ra), our_proc.process(to_ours(ra)), f"single {max_length}/{stride}")
    # pairs: only A overflows, only B overflows, both overflow
    full_a, full_b = _encode(tok, TEXTS[0], None), _encode(tok, TEXTS[4], None)
    trunc_a, trunc_b = _encode(tok, long_a, 6, 1), _encode(tok, long_b, 7)
    for ra, rb, label in [
        (trunc_a, full_b, "A overflows"),
        (full_a, trunc_b, "B overflows"),
        (trunc_a, trunc_b, "both overflow"),
    ]:
        for add in (True, False):
            ref_out = ref_proc.process(ra, rb, add_special_tokens=add)
            assert_same(ref_out, our_proc.process(to_ours(ra), to_ours(rb), add_special_tokens=add), label)


@pytest.mark.parametrize("name,ref_proc,our_proc", PROCESSORS, ids=IDS)
def test_num_special_tokens_and_json(name, ref_proc, our_proc):
    for is_pair in (False, True):
        assert our_proc.num_special_tokens_to_add(is_pair) == ref_proc.num_special_tokens_to_add(is_pair)
    ref_json = json.loads(ref_proc.__getstate__())
    assert our_proc.to_dict() == ref_json
    # key order too: tokenizer.json files written by us must match byte for byte
    assert json.dumps(our_proc.to_dict()) == json.dumps(ref_json)
    again = ours.from_dict(json.loads(json.dumps(our_proc.to_dict())))
    assert again == our_proc and type(again) is type(our_proc)


def test_real_tokenizer_json_post_processors_round_trip(minilm_path):
    """The post_processor objects of real tokenizer.json files load and serialize unchanged."""
    files = [
        minilm_path / "tokenizer.json",
        DATASETS / "tokenizers/gpt2/tokenizer.json",
        DATASETS / "tokenizers/pegasus-unigram/tokenizer.json",
    ]
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        entry = data.get("post_processor")
        if entry is None:
            continue
        proc = ours.from_dict(entry)
        ref = tokenizers.Tokenizer.from_file(str(path)).post_processor
        assert proc.to_dict() == json.loads(ref.__getstate__())


def test_minilm_full_pipeline_post_processing(minilm_path):
    """MiniLM's own TemplateProcessing applied to its own encodings matches the reference."""
    ref_tok = tokenizers.Tokenizer.from_file(str(minilm_path / "tokenizer.json"))
    proc = ours.from_dict(json.loads(ref_tok.post_processor.__getstate__()))
    ref_proc = ref_tok.post_processor
    ref_tok.post_processor = None
    ref_tok.no_padding()
    for a, b in PAIRS:
        ra, rb = ref_tok.encode(a), ref_tok.encode(b)
        assert_same(ref_proc.process(ra, rb), proc.process(to_ours(ra), to_ours(rb)))
