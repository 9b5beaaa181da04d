"""Write tiny llama-family GGUF files with the `gguf` package (llama.cpp's own writer), for tests.

Every supported tensor type appears once: quantizable types go through `gguf.quants.quantize`,
K-quants (which gguf-py cannot quantize) are random blocks with finite fp16 scales.
"""

from __future__ import annotations

import os

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import quants

HIDDEN, INTERMEDIATE, HEADS, KV_HEADS, LAYERS, VOCAB = 256, 512, 4, 2, 2, 96

# tensor kind -> ggml type used in the tiny file
TENSOR_TYPES = {
    "token_embd": Q.Q8_0,
    "attn_q": Q.Q4_K,
    "attn_k": Q.Q4_0,
    "attn_v": Q.Q4_1,
    "attn_output": Q.Q6_K,
    "ffn_gate": Q.F16,
    "ffn_up": Q.BF16,
    "ffn_down": Q.Q8_0,
    "attn_norm": Q.F32,
    "ffn_norm": Q.F32,
    "output_norm": Q.F32,
    "output": Q.Q6_K,
}

# fp16 fields (byte offsets) of each K-quant block, filled with finite scales
_K_SCALE_OFFSETS = {Q.Q4_K: (0, 2), Q.Q6_K: (208,)}


def random_blocks(rng: np.random.Generator, qtype: Q, rows: int, cols: int, scale: float = 0.01) -> np.ndarray:
    """Random raw bytes of a (rows, cols) tensor of a K-quant type, shaped (rows, bytes per row)."""
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = rows * cols // block_values
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for offset in _K_SCALE_OFFSETS[qtype]:
        halves = (rng.random(n_blocks) * scale).astype(np.float16)
        raw[:, offset : offset + 2] = halves.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(rows, cols // block_values * block_bytes)


def encode(rng: np.random.Generator, qtype: Q, shape: tuple[int, ...]) -> np.ndarray:
    """A random tensor of `shape` stored as `qtype` (the array GGUFWriter.add_tensor takes)."""
    if qtype in _K_SCALE_OFFSETS:
        return random_blocks(rng, qtype, shape[0], shape[1])
    values = rng.normal(0.0, 0.05, size=shape).astype(np.float32)
    if qtype == Q.F32:
        return 1.0 + values
    if qtype == Q.F16:
        return values.astype(np.float16)
    return quants.quantize(values, qtype)


def write_tiny_llama_gguf(
    path: str | os.PathLike,
    *,
    tied: bool = True,
    seed: int = 0,
    architecture: str = "llama",
    types: dict | None = None,
) -> str:
    """A 2-layer llama GGUF (hidden 256, 4 heads, 2 KV heads, vocab 96) with a small byte-level vocab."""
    path = os.fspath(path)
    types = {**TENSOR_TYPES, **(types or {})}
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, architecture)
    writer.add_name("tiny-llama-test")
    writer.add_context_length(128)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(INTERMEDIATE)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_vocab_size(VOCAB)
    # special tokens, single characters "!".."{", and two merged tokens
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [chr(ord("!") + i) for i in range(VOCAB - 5)]
    tokens += ["He", "ll"]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3, 3, 3] + [1] * (VOCAB - 3))
    writer.add_token_merges(["H e", "l l"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)

    def add(name: str, kind: str, shape: tuple[int, ...]) -> None:
        qtype = types[kind]
        data = encode(rng, qtype, shape)
        writer.add_tensor(name, data, raw_dtype=None if qtype in (Q.F32, Q.F16) else qtype)

    head_dim = HIDDEN // HEADS
    add("token_embd.weight", "token_embd", (VOCAB, HIDDEN))
    for layer in range(LAYERS):
        prefix = f"blk.{layer}."
        add(prefix + "attn_norm.weight", "attn_norm", (HIDDEN,))
        add(prefix + "attn_q.weight", "attn_q", (HIDDEN, HIDDEN))
        add(prefix + "attn_k.weight", "attn_k", (KV_HEADS * head_dim, HIDDEN))
        add(prefix + "attn_v.weight", "attn_v", (KV_HEADS * head_dim, HIDDEN))
        add(prefix + "attn_output.weight", "attn_output", (HIDDEN, HIDDEN))
        if architecture == "qwen2":  # Qwen2 has q/k/v biases
            for kind, rows in (("attn_q", HIDDEN), ("attn_k", KV_HEADS * head_dim), ("attn_v", KV_HEADS * head_dim)):
                writer.add_tensor(f"{prefix}{kind}.bias", rng.normal(0.0, 0.05, size=(rows,)).astype(np.float32))
        add(prefix + "ffn_norm.weight", "ffn_norm", (HIDDEN,))
        add(prefix + "ffn_gate.weight", "ffn_gate", (INTERMEDIATE, HIDDEN))
        add(prefix + "ffn_up.weight", "ffn_up", (INTERMEDIATE, HIDDEN))
        add(prefix + "ffn_down.weight", "ffn_down", (HIDDEN, INTERMEDIATE))
    add("output_norm.weight", "output_norm", (HIDDEN,))
    if not tied:
        add("output.weight", "output", (VOCAB, HIDDEN))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
