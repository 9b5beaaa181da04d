"""Repo cards (snuggle.hub.cards) against huggingface_hub's on the same texts: metadata dicts, rebuilt
files, key order, line endings, model-index, and files saved by one read by the other."""

from __future__ import annotations

import pytest

from snuggle.hub import card_data as ours_data
from snuggle.hub import cards as ours

ref = pytest.importorskip("huggingface_hub.repocard")
ref_data = pytest.importorskip("huggingface_hub.repocard_data")

MODEL_INDEX_CARD = """---
language:
- en
- fr
license: apache-2.0
library_name: transformers
tags:
- text-classification
- generated_from_trainer
datasets:
- imdb
metrics:
- accuracy
base_model: bert-base-uncased
model-index:
- name: tiny-bert-imdb
  results:
  - task:
      type: text-classification
      name: Text Classification
    dataset:
      name: IMDB
      type: imdb
      config: plain_text
      split: test
    metrics:
    - type: accuracy
      value: 0.875
      name: Accuracy
    - type: f1
      value: 0.87
pipeline_tag: text-classification
---

# tiny-bert-imdb

Fine-tuned on IMDB.
"""

DATASET_CARD = """---
license: mit
pretty_name: Tiny ünïcödé set
task_categories:
- text-classification
train-eval-index:
- config: default
  task: text-classification
dataset_info:
  features:
  - name: text
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': neg
          '1': pos
  splits:
  - name: train
    num_bytes: 120
    num_examples: 4
  download_size: 1500
  dataset_size: 120
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
---
# Tiny set
"""

TEXTS = {
    "simple": "---\nlanguage: en\nlicense: mit\n---\n\n# My repo\n",
    "crlf": "---\r\nlicense: mit\r\ntags:\r\n- a\r\n- b\r\n---\r\n# Title\r\nbody\r\n",
    "leading_space": "\n\n---\nlicense: mit\n---\ntext",
    "order_kept": "---\nzeta: 1\nalpha: [1, 2]\nlicense: mit\nnested: {b: 1, a: {c: x}}\n---\nbody",
    "empty_block": "---\n---\n# nothing\n",
    "dates_and_unicode": "---\nreleased: 2024-05-01\ntitle: Café ☕\nlong: " + "word " * 30 + "\n---\n",
    "duplicate_tags": "---\ntags:\n- x\n- y\n- x\n---\n",
    "model_index": MODEL_INDEX_CARD,
    "dataset": DATASET_CARD,
}


def _pair(name, cls_name="ModelCard"):
    text = TEXTS[name]
    return getattr(ours, cls_name)(text), getattr(ref, cls_name)(text)


@pytest.mark.parametrize("name", list(TEXTS))
@pytest.mark.parametrize("cls_name", ["RepoCard", "ModelCard", "DatasetCard"])
def test_parse_and_rebuild_like_reference(name, cls_name):
    card, expected = _pair(name, cls_name)
    assert card.data.to_dict() == expected.data.to_dict()
    assert card.text == expected.text
    assert str(card) == str(expected)
    assert card.data.to_yaml() == expected.data.to_yaml()


def test_no_metadata_block():
    card, expected = ours.RepoCard("# just markdown\n"), ref.RepoCard("# just markdown\n")
    assert card.data.to_dict() == expected.data.to_dict() == {}
    assert card.text == expected.text
    assert str(card) == str(expected)


def test_edits_rebuild_like_reference():
    card, expected = _pair("model_index")
    for c in (card, expected):
        c.data.license = "mit"
        c.data["new_key"] = {"x": [1, 2]}
        c.data.tags.append("snuggle")
        c.data.pop("pipeline_tag")
        c.text = "\nnew body\n"
    assert str(card) == str(expected)


def test_model_index_becomes_eval_results():
    card = ours.ModelCard(MODEL_INDEX_CARD)
    assert card.data.model_name == "tiny-bert-imdb"
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [("accuracy", 0.875), ("f1", 0.87)]
    expected = ref.ModelCard(MODEL_INDEX_CARD).data
    assert [vars(r) for r in card.data.eval_results] == [vars(r) for r in expected.eval_results]


def test_eval_results_to_model_index_like_reference():
    kwargs = [dict(task_type="t", dataset_type="d", dataset_name="D", metric_type="acc", metric_value=0.5),
              dict(task_type="t", dataset_type="d", dataset_name="D", metric_type="f1", metric_value=0.25,
                   dataset_split="test", source_name="lb", source_url="http://x"),
              dict(task_type="t2", dataset_type="d", dataset_name="D", metric_type="acc", metric_value=1,
                   verified=False, metric_args={"k": 1})]
    got = ours_data.eval_results_to_model_index("m", [ours_data.EvalResult(**k) for k in kwargs])
    want = ref_data.eval_results_to_model_index("m", [ref_data.EvalResult(**k) for k in kwargs])
    assert got == want
    name, back = ours_data.model_index_to_eval_results(got)
    assert name == "m" and [r.metric_value for r in back] == [0.5, 0.25, 1]


def test_card_data_classes_like_reference():
    kwargs = dict(language="en", license="mit", library_name="snuggle", tags=["a", "b", "a"], base_model="x/y",
                  datasets=["imdb"], metrics=["accuracy"], pipeline_tag="fill-mask", custom={"k": [1]})
    assert ours_data.ModelCardData(**kwargs).to_yaml() == ref_data.ModelCardData(**kwargs).to_yaml()
    dkw = dict(language=["en"], license="mit", pretty_name="P", task_categories=["translation"],
               train_eval_index=[{"config": "default"}], size_categories="n<1K")
    assert ours_data.DatasetCardData(**dkw).to_yaml() == ref_data.DatasetCardData(**dkw).to_yaml()
    skw = dict(title="Demo", sdk="gradio", app_file="app.py", tags=["x"])
    assert ours_data.SpaceCardData(**skw).to_dict() == ref_data.SpaceCardData(**skw).to_dict()
    with_results = dict(model_name="m", eval_results=[ours_data.EvalResult("t", "d", "D", "acc", 0.5)])
    ref_results = dict(model_name="m", eval_results=[ref_data.EvalResult("t", "d", "D", "acc", 0.5)])
    assert ours_data.ModelCardData(**with_results).to_yaml() == ref_data.ModelCardData(**ref_results).to_yaml()


def test_eval_results_need_model_name():
    with pytest.raises(ValueError, match="model_name"):
        ours_data.ModelCardData(eval_results=[ours_data.EvalResult("t", "d", "D", "acc", 0.5)])


def test_bad_metadata_raises_and_can_be_ignored():
    with pytest.raises(ValueError, match="should be a dict"):
        ours.RepoCard("---\n- a list\n---\n")
    bad = "---\nmodel-index:\n- name: m\n  results:\n  - metrics: []\n---\n"
    with pytest.raises(ValueError, match="model-index"):
        ours.ModelCard(bad)
    card = ours.ModelCard(bad, ignore_metadata_errors=True)
    assert card.data.eval_results is None


def test_saved_cards_load_in_the_other_library(tmp_path):
    for name in TEXTS:
        ours.ModelCard(TEXTS[name]).save(tmp_path / "ours.md")
        ref.ModelCard(TEXTS[name]).save(tmp_path / "ref.md")
        assert (tmp_path / "ours.md").read_bytes() == (tmp_path / "ref.md").read_bytes(), name
        assert ref.ModelCard.load(tmp_path / "ours.md").data.to_dict() == ours.ModelCard(TEXTS[name]).data.to_dict()
        assert ours.ModelCard.load(tmp_path / "ref.md").data.to_dict() == ref.ModelCard(TEXTS[name]).data.to_dict()


def test_metadata_load_save_like_reference(tmp_path):
    for name in ("simple", "crlf", "model_index"):
        a, b = tmp_path / f"{name}-ours.md", tmp_path / f"{name}-ref.md"
        for p in (a, b):
            p.write_bytes(TEXTS[name].encode())
        assert ours.metadata_load(a) == ref.metadata_load(b)
        data = {"license": "mit", "tags": ["x", "ü"], "nested": {"a": 1}}
        ours.metadata_save(a, data)
        ref.metadata_save(b, data)
        assert a.read_bytes() == b.read_bytes(), name
    new_a, new_b = tmp_path / "new-ours.md", tmp_path / "new-ref.md"
    ours.metadata_save(new_a, {"a": 1})
    ref.metadata_save(new_b, {"a": 1})
    assert new_a.read_bytes() == new_b.read_bytes()
    (tmp_path / "none.md").write_text("# no metadata")
    assert ours.metadata_load(tmp_path / "none.md") is None


def test_metadata_eval_result_like_reference():
    kw = dict(model_pretty_name="m", task_pretty_name="Text Classification", task_id="text-classification",
              metrics_pretty_name="Accuracy", metrics_id="accuracy", metrics_value=0.9, dataset_pretty_name="IMDB",
              dataset_id="imdb", dataset_split="test")
    assert ours.metadata_eval_result(**kw) == ref.metadata_eval_result(**kw)


def test_from_template():
    data = ours_data.ModelCardData(language="en", license="mit", tags=["x"])
    card = ours.ModelCard.from_template(data, model_id="alice/tiny", model_description="A tiny model.")
    assert card.data.to_dict() == {"language": "en", "license": "mit", "tags": ["x"]}
    assert "# alice/tiny" in card.text and "A tiny model." in card.text
    assert ref.ModelCard(str(card)).data.to_dict() == card.data.to_dict()
    dcard = ours.DatasetCard.from_template(ours_data.DatasetCardData(pretty_name="Toy"), pretty_name="Toy")
    assert "# Dataset Card for Toy" in dcard.text and dcard.data.pretty_name == "Toy"
    custom = ours.RepoCard.from_template(ours_data.CardData(a=1), template_str="---\n{{ card_data }}\n---\n{{ a }}!")
    assert custom.data.to_dict() == {"a": 1} and custom.text == "1!"
