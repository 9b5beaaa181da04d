"""snuggle.models.gguf: dequantizers against gguf-py's reference ones, q/k un-permutation, names, errors."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q
from gguf import quants

from snuggle.errors import ModelError
from snuggle.models import gguf as G
from tests.models.tiny_gguf import (
    HEADS,
    HIDDEN,
    KV_HEADS,
    LAYERS,
    VOCAB,
    random_blocks,
    write_tiny_llama_gguf,
)


def _random_raw(rng: np.random.Generator, qtype: Q, n_blocks: int) -> np.ndarray:
    """Random blocks of `qtype` with finite, varied fp16 scales (flat uint8)."""
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    if qtype in (Q.Q4_K, Q.Q6_K):
        return random_blocks(rng, qtype, n_blocks, block_values, scale=4.0).reshape(-1)
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    scale_fields = {Q.Q8_0: (0,), Q.Q4_0: (0,), Q.Q4_1: (0, 2)}[qtype]
    for offset in scale_fields:
        raw[:, offset : offset + 2] = rng.normal(size=n_blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return raw.reshape(-1)


@pytest.mark.parametrize("qtype", [Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q4_K, Q.Q6_K])
def test_dequantize_matches_gguf_reference(qtype):
    rng = np.random.default_rng(int(qtype))
    block_values, _ = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = 48
    raw = _random_raw(rng, qtype, n_blocks)
    expected = quants.dequantize(raw, qtype).reshape(-1)
    ours = G.dequantize(torch.from_numpy(raw.copy()), int(qtype), (n_blocks * block_values,))
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("qtype,dtype", [(Q.F32, torch.float32), (Q.F16, torch.float16), (Q.BF16, torch.bfloat16)])
def test_float_types_are_copied_not_viewed(qtype, dtype):
    values = torch.randn(4, 8).to(dtype)
    raw = values.clone().view(torch.uint8).reshape(-1)
    out = G.dequantize(raw, int(qtype), (4, 8))
    assert out.dtype == dtype and torch.equal(out, values)
    raw.zero_()
    assert torch.equal(out, values)  # not a view of the file bytes


def test_dequantize_unsupported_type_names_it():
    with pytest.raises(ModelError, match="Q5_K"):
        G.dequantize(torch.zeros(176, dtype=torch.uint8), int(Q.Q5_K), (256,))


def _llama_cpp_permute(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    # what llama.cpp's convert_hf_to_gguf.py does to q_proj / k_proj rows
    rows = weight.shape[0]
    return weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


@pytest.mark.parametrize("n_heads,rows,cols", [(4, 256, 32), (2, 128, 8), (9, 576, 3)])
def test_reverse_permute_undoes_llama_cpp_permute(n_heads, rows, cols):
    weight = torch.randn(rows, cols)
    assert torch.equal(G.reverse_permute(_llama_cpp_permute(weight, n_heads), n_heads), weight)
    bias = torch.randn(rows)
    assert torch.equal(G.reverse_permute(_llama_cpp_permute(bias, n_heads), n_heads), bias)
    assert not torch.equal(_llama_cpp_permute(weight, n_heads), weight)


def test_reverse_permute_rejects_bad_head_count():
    with pytest.raises(ModelError, match="7 heads"):
        G.reverse_permute(torch.zeros(64, 4), 7)


@pytest.mark.parametrize(
    "gguf_name,expected",
    [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
        ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"),
        ("blk.12.attn_q.weight", "model.layers.12.self_attn.q_proj.weight"),
        ("blk.3.attn_k.bias", "model.layers.3.self_attn.k_proj.bias"),
        ("blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight"),
        ("blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"),
        ("blk.1.attn_q_norm.weight", "model.layers.1.self_attn.q_norm.weight"),
        ("blk.1.ffn_norm.weight", "model.layers.1.post_attention_layernorm.weight"),
        ("blk.1.ffn_gate.weight", "model.layers.1.mlp.gate_proj.weight"),
        ("blk.1.ffn_up.weight", "model.layers.1.mlp.up_proj.weight"),
        ("blk.29.ffn_down.weight", "model.layers.29.mlp.down_proj.weight"),
        ("rope_freqs.weight", None),
    ],
)
def test_tensor_names(gguf_name, expected):
    assert G.transformers_tensor_name(gguf_name) == expected


@pytest.mark.parametrize("name", ["blk.0.ffn_gate_exps.weight", "mystery.weight", "blk.0.attn_q.scale"])
def test_unknown_tensor_name_is_an_error(name):
    with pytest.raises(ModelError, match="no transformers equivalent"):
        G.transformers_tensor_name(name)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf", tied=False)


def test_header_and_config(tiny_file):
    header = G.read_gguf_header(tiny_file)
    assert header.metadata["general.architecture"] == "llama"
    assert [t.name for t in header.tensors][:3] == ["token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight"]
    assert header.tensors[0].shape == (VOCAB, HIDDEN)
    config = G.gguf_config_dict(header, tiny_file)
    assert config["model_type"] == "llama"
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (HIDDEN, LAYERS, HEADS)
    assert (config["num_key_value_heads"], config["head_dim"], config["vocab_size"]) == (KV_HEADS, HIDDEN // HEADS, VOCAB)
    assert (config["intermediate_size"], config["max_position_embeddings"], config["rope_theta"]) == (512, 128, 10000.0)
    assert (config["bos_token_id"], config["eos_token_id"]) == (1, 2)
    assert config["tie_word_embeddings"] is False


def test_state_dict_is_dequantized_and_unpermuted(tiny_file):
    _config, state_dict = G.load_gguf_checkpoint(tiny_file)
    reader = gguf.GGUFReader(tiny_file)  # the slow reference reader: fine on a tiny file
    assert len(state_dict) == len(reader.tensors)
    for tensor in reader.tensors:
        expected = torch.from_numpy(np.array(quants.dequantize(tensor.data, tensor.tensor_type)))
        kind = tensor.name.split(".")[-2]
        if kind == "attn_q":
            expected = _reverse_permute_numpy(expected, HEADS)
        elif kind == "attn_k":
            expected = _reverse_permute_numpy(expected, KV_HEADS)
        ours = state_dict[G.transformers_tensor_name(tensor.name)]
        assert ours.dtype == torch.float32 and ours.shape == expected.shape, tensor.name
        torch.testing.assert_close(ours, expected.float(), rtol=1e-6, atol=1e-7, msg=tensor.name)
    assert "lm_head.weight" in state_dict


def _reverse_permute_numpy(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    array = weight.numpy()
    rows = array.shape[0]
    return torch.from_numpy(array.reshape(n_heads, rows // n_heads // 2, 2, -1).swapaxes(1, 2).reshape(array.shape).copy())


def test_tied_file_has_no_lm_head(tmp_path):
    path = write_tiny_llama_gguf(tmp_path / "tied.gguf", tied=True)
    config, state_dict = G.load_gguf_checkpoint(str(tmp_path), "tied.gguf", dtype=torch.bfloat16)
    assert config["tie_word_embeddings"] is True
    assert "lm_head.weight" not in state_dict
    assert all(t.dtype == torch.bfloat16 for t in state_dict.values())
    assert G.resolve_gguf_path(tmp_path, path) == path


def test_truncated_file_names_the_file(tiny_file, tmp_path):
    data = Path(tiny_file).read_bytes()
    for cut in (len(data) - 100, 40, 2000):
        broken = tmp_path / f"cut{cut}.gguf"
        broken.write_bytes(data[:cut])
        with pytest.raises(ModelError, match=f"cut{cut}.gguf") as info:
            G.load_gguf_checkpoint(str(broken))
        assert "truncated" in str(info.value) or "past the end" in str(info.value)


def test_not_gguf_and_missing_files(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(ModelError, match="model.gguf.*magic"):
        G.load_gguf_checkpoint(str(bad))
    with pytest.raises(ModelError, match="not found"):
        G.load_gguf_checkpoint(str(tmp_path), "absent.gguf")


def test_unsupported_quant_type_names_it(tmp_path):
    path = write_tiny_llama_gguf(tmp_path / "q5.gguf", types={"ffn_down": Q.Q5_0})
    with pytest.raises(ModelError, match=r"blk\.0\.ffn_down\.weight.*Q5_0.*supported types: F32"):
        G.load_gguf_checkpoint(path)


def test_unsupported_architecture(tmp_path):
    path = write_tiny_llama_gguf(tmp_path / "gpt2.gguf", architecture="gpt2")
    with pytest.raises(ModelError, match="'gpt2' is not supported; supported: llama"):
        G.load_gguf_checkpoint(path)


def test_auto_tokenizer_from_gguf_metadata(tiny_file):
    from snuggle.errors import TokenizerFileError
    from snuggle.tokenizers import AutoTokenizer

    folder, name = os.path.split(tiny_file)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    assert (tokenizer.bos_token, tokenizer.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (1, 2)
    assert tokenizer("AB<|im_end|>")["input_ids"] == [3 + ord("A") - ord("!"), 3 + ord("B") - ord("!"), 2]
    with pytest.raises(TokenizerFileError, match="absent.gguf"):
        AutoTokenizer.from_pretrained(folder, gguf_file="absent.gguf")
