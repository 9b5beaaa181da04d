"""Collators vs transformers' data collators on the MiniLM (BERT) and GPT-2 tokenizers.

Both sides get the same examples (tokenized by each side's own tokenizer, which agree) and must return
the same tensors; the MLM collator is compared under the same torch / numpy seed, since its random draws
are made in the same order and shapes as the reference's.
"""

from __future__ import annotations

import pytest
import torch
import transformers

from snuggle.tokenizers.pretrained import AutoTokenizer
from snuggle.training import collators as ours_mod
from tests.conftest import DATASETS, minilm_dir

TEXTS = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog, again and again.",
    "Short.",
    "Datasets and collators: padding, masking and labels for language models.",
]


@pytest.fixture(scope="module")
def toks():
    minilm = minilm_dir()
    gpt2 = DATASETS / "tokenizers" / "gpt2"
    out = {}
    for name, path in (("minilm", minilm), ("gpt2", gpt2)):
        ref = transformers.AutoTokenizer.from_pretrained(path)
        ours = AutoTokenizer.from_pretrained(path)
        if name == "gpt2":
            ref.pad_token = ref.eos_token
            ours.pad_token = ours.eos_token
        out[name] = (ours, ref)
    return out


def _features(tok, with_label=True, **kwargs):
    enc = [tok(t, **kwargs) for t in TEXTS]
    rows = [{k: list(v) for k, v in e.items()} for e in enc]
    if with_label:
        for i, r in enumerate(rows):
            r["label"] = i % 2
    return rows


def _assert_same(a: dict, b: dict):
    assert sorted(a.keys()) == sorted(b.keys())
    for k in b:
        va, vb = a[k], b[k]
        if vb is None:
            assert va is None
            continue
        assert type(va) is type(vb), k
        if isinstance(vb, torch.Tensor):
            assert va.dtype == vb.dtype, k
            assert torch.equal(va, vb), k
        else:
            assert va.tolist() == vb.tolist(), k


@pytest.mark.parametrize("name", ["minilm", "gpt2"])
@pytest.mark.parametrize("kwargs", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 40}])
@pytest.mark.parametrize("return_tensors", ["pt", "np"])
def test_with_padding(toks, name, kwargs, return_tensors):
    ours, ref = toks[name]
    got = ours_mod.DataCollatorWithPadding(ours, return_tensors=return_tensors, **kwargs)(_features(ours))
    want = transformers.DataCollatorWithPadding(ref, return_tensors=return_tensors, **kwargs)(_features(ref))
    _assert_same(dict(got), dict(want))


@pytest.mark.parametrize("return_tensors", ["pt", "np"])
def test_default_collator(toks, return_tensors):
    ours, ref = toks["minilm"]
    rows = [dict(r, label_ids=[1, 2]) for r in _features(ours, padding="max_length", max_length=24)]
    for r in rows:
        r.pop("label")
    ref_rows = [dict(r, label_ids=[1, 2]) for r in _features(ref, padding="max_length", max_length=24)]
    for r in ref_rows:
        r.pop("label")
    _assert_same(ours_mod.default_data_collator(rows, return_tensors),
                 transformers.default_data_collator(ref_rows, return_tensors))
    floats = [{"x": [1.0, 2.0], "label": 0.5}, {"x": [3.0, 4.0], "label": 1.5}]
    _assert_same(ours_mod.DefaultDataCollator(return_tensors)(floats),
                 transformers.DefaultDataCollator(return_tensors=return_tensors)(floats))


@pytest.mark.parametrize("name", ["minilm", "gpt2"])
@pytest.mark.parametrize("return_tensors", ["pt", "np"])
def test_token_classification(toks, name, return_tensors):
    ours, ref = toks[name]

    def rows(tok):
        out = _features(tok, with_label=False)
        for i, r in enumerate(out):
            r["labels"] = [(i + j) % 5 for j in range(len(r["input_ids"]))]
        return out

    for kwargs in ({}, {"pad_to_multiple_of": 16}):
        got = ours_mod.DataCollatorForTokenClassification(ours, return_tensors=return_tensors, **kwargs)(rows(ours))
        want = transformers.DataCollatorForTokenClassification(ref, return_tensors=return_tensors, **kwargs)(rows(ref))
        _assert_same(dict(got), dict(want))


@pytest.mark.parametrize("name", ["minilm", "gpt2"])
@pytest.mark.parametrize("kwargs", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 32},
                                    {"label_pad_token_id": 0}])
def test_seq2seq(toks, name, kwargs):
    ours, ref = toks[name]

    def rows(tok):
        out = _features(tok, with_label=False)
        for i, r in enumerate(out):
            r["labels"] = list(tok(TEXTS[-1 - i])["input_ids"])
        return out

    class Model:
        def prepare_decoder_input_ids_from_labels(self, labels):
            return labels.clamp(min=0) + 1

    got = ours_mod.DataCollatorForSeq2Seq(ours, model=Model(), **kwargs)(rows(ours))
    want = transformers.DataCollatorForSeq2Seq(ref, model=Model(), **kwargs)(rows(ref))
    _assert_same(dict(got), dict(want))
    # no labels at all -> labels None
    got = ours_mod.DataCollatorForSeq2Seq(ours)(_features(ours, with_label=False))
    want = transformers.DataCollatorForSeq2Seq(ref)(_features(ref, with_label=False))
    _assert_same(dict(got), dict(want))


@pytest.mark.parametrize("name", ["minilm", "gpt2"])
@pytest.mark.parametrize("as_lists", [False, True])
def test_causal_lm(toks, name, as_lists):
    ours, ref = toks[name]
    for kwargs in ({}, {"pad_to_multiple_of": 8}):
        a = _features(ours, with_label=False)
        b = _features(ref, with_label=False)
        if as_lists:
            a, b = [r["input_ids"] for r in a], [r["input_ids"] for r in b]
        got = ours_mod.DataCollatorForLanguageModeling(ours, mlm=False, **kwargs)(a)
        want = transformers.DataCollatorForLanguageModeling(ref, mlm=False, **kwargs)(b)
        _assert_same(dict(got), dict(want))


@pytest.mark.parametrize("seeded", ["collator_seed", "global_seed"])
@pytest.mark.parametrize("special_mask", [False, True])
def test_mlm_same_seed_same_masks(toks, seeded, special_mask):
    ours, ref = toks["minilm"]
    kw = {"return_special_tokens_mask": True} if special_mask else {}
    examples_ours = _features(ours, with_label=False, **kw) * 8  # enough tokens to hit every branch
    examples_ref = _features(ref, with_label=False, **kw) * 8
    args = {"mlm_probability": 0.3}
    if seeded == "collator_seed":
        got = ours_mod.DataCollatorForLanguageModeling(ours, seed=7, **args)(examples_ours)
        want = transformers.DataCollatorForLanguageModeling(ref, seed=7, **args)(examples_ref)
    else:
        torch.manual_seed(11)
        got = ours_mod.DataCollatorForLanguageModeling(ours, **args)(examples_ours)
        torch.manual_seed(11)
        want = transformers.DataCollatorForLanguageModeling(ref, **args)(examples_ref)
    _assert_same(dict(got), dict(want))
    assert (want["labels"] != -100).any()


def test_mlm_numpy_same_seed(toks):
    ours, ref = toks["minilm"]
    got = ours_mod.DataCollatorForLanguageModeling(ours, seed=3, return_tensors="np")(_features(ours, with_label=False) * 8)
    want = transformers.DataCollatorForLanguageModeling(ref, seed=3, return_tensors="np")(_features(ref, with_label=False) * 8)
    _assert_same(dict(got), dict(want))


def test_mlm_gpt2_without_mask_token_refused_like_reference(toks):
    ours, ref = toks["gpt2"]
    with pytest.raises(ValueError):
        transformers.DataCollatorForLanguageModeling(ref)
    with pytest.raises(Exception, match="mask token"):
        ours_mod.DataCollatorForLanguageModeling(ours)
