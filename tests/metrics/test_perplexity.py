"""perplexity metric vs a manual computation through transformers on a tiny random GPT-2 folder."""

from __future__ import annotations

import math
import shutil

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from snuggle.errors import ConfigError, DataError
from snuggle.metrics import load
from tests.conftest import DATASETS

TEXTS = ["The tower is 324 metres tall.", "Hello world", "A much longer sentence about the history of Paris, France.",
         "x"]


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=16, n_layer=2, n_head=2)
    transformers.GPT2LMHeadModel(config).eval().save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
        if (DATASETS / "tokenizers" / "gpt2" / name).exists():
            shutil.copy(DATASETS / "tokenizers" / "gpt2" / name, path / name)
    return path


def _manual(path, texts, add_start_token=True, max_length=None):
    model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    tok = transformers.AutoTokenizer.from_pretrained(path)
    out = []
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if max_length:
            ids = ids[: max_length - 1 if add_start_token else max_length]
        ids = ([tok.bos_token_id] if add_start_token else []) + ids
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0]
        loss = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:])
        out.append(math.exp(loss.item()))
    return out


def test_perplexity_matches_manual_transformers(tiny_gpt2):
    torch.set_num_threads(1)
    ppl = load("perplexity")
    for kw in ({"batch_size": 1}, {"batch_size": 3}, {"batch_size": 2, "max_length": 5}):
        res = ppl.compute(predictions=TEXTS, model_id=str(tiny_gpt2), **kw)
        expected = _manual(tiny_gpt2, TEXTS, max_length=kw.get("max_length"))
        assert res["perplexities"] == pytest.approx(expected, rel=1e-5)
        assert res["mean_perplexity"] == pytest.approx(sum(expected) / len(expected), rel=1e-5)
    res = ppl.compute(predictions=TEXTS[:3], model_id=str(tiny_gpt2), add_start_token=False, batch_size=2)
    assert res["perplexities"] == pytest.approx(_manual(tiny_gpt2, TEXTS[:3], add_start_token=False), rel=1e-5)


def test_perplexity_with_a_loaded_model_and_errors(tiny_gpt2):
    from snuggle.models import AutoModelForCausalLM
    from snuggle.tokenizers.pretrained import AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2))
    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2))
    res = load("perplexity").compute(predictions=TEXTS[:2], model_id=model, tokenizer=tok)
    assert res["perplexities"] == pytest.approx(_manual(tiny_gpt2, TEXTS[:2]), rel=1e-5)
    with pytest.raises(ConfigError, match="tokenizer="):
        load("perplexity").compute(predictions=["a b"], model_id=model)
    with pytest.raises(DataError, match="at least 2"):
        load("perplexity").compute(predictions=["x"], model_id=model, tokenizer=tok, add_start_token=False)
    with pytest.raises(ConfigError, match="model_id"):
        load("perplexity").compute(predictions=["a"])
    with pytest.raises(DataError, match="unexpected input"):
        load("perplexity").compute(predictions=["a"], references=["b"], model_id=model, tokenizer=tok)
