"""Checkpoint files: safetensors (single and sharded + index json) and PyTorch .bin (weights_only only).

Reading never executes pickled code: .bin files go through `torch.load(weights_only=True)`.
Writing is atomic: every shard is written under a temporary name and renamed once complete, so a
crash never leaves a half-written shard under a final name.

>>> import tempfile, torch
>>> d = tempfile.mkdtemp()
>>> files = save_state_dict({"w": torch.ones(2, 2)}, d)
>>> files, sorted(CheckpointFiles.find(d).keys())
(['model.safetensors'], ['w'])
>>> parse_size("200MB"), parse_size("1GiB"), parse_size(10)
(200000000, 1073741824, 10)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import torch

from snuggle.errors import ModelError
from snuggle.models.hub_files import resolve_model_file
from snuggle.utils.atomic import atomic_write_text

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "pytorch_model.bin"
WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"

_UNITS = {"GIB": 2**30, "MIB": 2**20, "KIB": 2**10, "GB": 10**9, "MB": 10**6, "KB": 10**3}


def parse_size(size: int | str) -> int:
    """'5GB' -> 5_000_000_000, '200MiB' -> 200 * 2**20, ints unchanged (the reference's units).

    A lower-case 'b' suffix means bits ('8Gb' -> 1 GB), as in the reference.
    """
    if isinstance(size, int):
        return size
    text = str(size).strip()
    for unit, factor in _UNITS.items():
        if text.upper().endswith(unit):
            number = text[: -len(unit)]
            try:
                value = int(float(number) * factor)
            except ValueError:
                break
            return value // 8 if text.endswith("b") and unit in ("GB", "MB", "KB") else value
    raise ModelError(f"max_shard_size={size!r}: expected bytes as an int or a string like '200MB', '5GB', '1GiB'")


def _with_variant(name: str, variant: str | None) -> str:
    if not variant:
        return name
    stem, _, ext = name.partition(".")
    return f"{stem}.{variant}.{ext}"


# ----------------------------------------------------------------------------- reading
class CheckpointFiles:
    """The weight files of one checkpoint and which tensor lives in which file.

    `find(folder)` picks model.safetensors, then the sharded safetensors index, then the .bin forms.
    Tensors are read one file at a time with `iter_tensors()` so only one shard is open at once.
    """

    def __init__(self, files: list[str], key_to_file: dict[str, str], fmt: str, metadata: dict | None = None):
        self.files = files
        self.key_to_file = key_to_file
        self.format = fmt  # "safetensors" or "bin"
        self.metadata = metadata or {}

    @classmethod
    def find(
        cls,
        name_or_path: str | os.PathLike,
        use_safetensors: bool | None = None,
        variant: str | None = None,
        **hub_kwargs: Any,
    ) -> CheckpointFiles:
        candidates = []
        if use_safetensors is not False:
            candidates += [(SAFE_WEIGHTS_NAME, "safetensors", False), (SAFE_WEIGHTS_INDEX_NAME, "safetensors", True)]
        if not use_safetensors:
            candidates += [(WEIGHTS_NAME, "bin", False), (WEIGHTS_INDEX_NAME, "bin", True)]
        for name, fmt, sharded in candidates:
            path = resolve_model_file(name_or_path, _with_variant(name, variant), required=False, **hub_kwargs)
            if path is None:
                continue
            if sharded:
                return cls.from_index(path, fmt, name_or_path, **hub_kwargs)
            return cls.from_single_file(path)
        wanted = ", ".join(_with_variant(n, variant) for n, _, _ in candidates)
        raise ModelError(f"{name_or_path}: no model weights found; expected one of {wanted}")

    @classmethod
    def from_single_file(cls, path: str) -> CheckpointFiles:
        if path.endswith(".safetensors"):
            keys = safetensors_keys(path)
            return cls([path], {k: path for k in keys}, "safetensors", _safetensors_metadata(path))
        state = load_bin(path)
        return cls([path], {k: path for k in state}, "bin")

    @classmethod
    def from_index(cls, index_path: str, fmt: str, name_or_path: Any = None, **hub_kwargs: Any) -> CheckpointFiles:
        try:
            with open(index_path, encoding="utf-8") as f:
                index = json.load(f)
            weight_map = index["weight_map"]
            if not isinstance(weight_map, dict):
                raise TypeError("weight_map is not an object")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelError(f"{index_path}: not a valid weights index ({err}); expected {{'weight_map': {{...}}}}") from None
        folder = os.path.dirname(index_path)
        shard_paths: dict[str, str] = {}
        for shard in dict.fromkeys(weight_map.values()):
            local = os.path.join(folder, shard)
            if os.path.isfile(local):
                shard_paths[shard] = local
                continue
            remote = None
            if name_or_path is not None and not os.path.isdir(os.fspath(name_or_path)):
                remote = resolve_model_file(name_or_path, shard, required=False, **hub_kwargs)
            if remote is None:
                raise ModelError(f"{index_path}: shard {shard} listed in the index is missing from {folder}")
            shard_paths[shard] = remote
        key_to_file = {key: shard_paths[shard] for key, shard in weight_map.items()}
        return cls(list(shard_paths.values()), key_to_file, fmt, index.get("metadata") or {})

    def keys(self) -> list[str]:
        return list(self.key_to_file)

    def iter_tensors(self, wanted: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield (key, cpu tensor) shard by shard; only `wanted` keys are read (all if None)."""
        for path in self.files:
            keys = [k for k, f in self.key_to_file.items() if f == path and (wanted is None or k in wanted)]
            if not keys:
                continue
            if self.format == "safetensors":
                yield from _iter_safetensors(path, keys)
            else:
                state = load_bin(path)
                for key in keys:
                    if key not in state:
                        raise ModelError(f"{path}: tensor {key!r} listed in the index is not in this shard")
                    yield key, state[key]
                del state

    def first_floating_dtype(self) -> torch.dtype | None:
        """dtype of the first floating-point tensor (what dtype='auto' uses when config.dtype is unset)."""
        for path in self.files:
            if self.format == "safetensors":
                header = read_safetensors_header(path)
                for key, info in header.items():
                    if key != "__metadata__" and info["dtype"] in _SAFETENSORS_FLOAT_DTYPES:
                        return _SAFETENSORS_FLOAT_DTYPES[info["dtype"]]
            else:
                for tensor in load_bin(path).values():
                    if tensor.is_floating_point():
                        return tensor.dtype
        return None

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every tensor without reading tensor data (safetensors headers; .bin is loaded mmap)."""
        shapes: dict[str, tuple[int, ...]] = {}
        for path in self.files:
            if self.format == "safetensors":
                for key, info in read_safetensors_header(path).items():
                    if key != "__metadata__":
                        shapes[key] = tuple(info["shape"])
            else:
                shapes.update({k: tuple(v.shape) for k, v in load_bin(path).items()})
        return shapes


_SAFETENSORS_FLOAT_DTYPES = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
}


def read_safetensors_header(path: str) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes, offsets); checks the file size."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ValueError("file shorter than the 8-byte header length")
            header_len = int.from_bytes(prefix, "little")
            if header_len > size - 8:
                raise ValueError(f"header length {header_len} exceeds the file size {size}")
            header = json.loads(f.read(header_len))
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: not a valid safetensors file ({err}); the download may be truncated") from None
    data_end = max((info["data_offsets"][1] for k, info in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + data_end > size:
        raise ModelError(
            f"{path}: truncated safetensors file ({size} bytes, header promises {8 + header_len + data_end}); "
            "download it again"
        )
    return header


def safetensors_keys(path: str) -> list[str]:
    return [k for k in read_safetensors_header(path) if k != "__metadata__"]


def _safetensors_metadata(path: str) -> dict:
    return read_safetensors_header(path).get("__metadata__") or {}


def _iter_safetensors(path: str, keys: list[str]) -> Iterator[tuple[str, torch.Tensor]]:
    from safetensors import safe_open

    read_safetensors_header(path)  # size check first: a clear error for truncated files
    try:
        handle = safe_open(path, framework="pt", device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError
        raise ModelError(f"{path}: cannot open safetensors file ({err})") from None
    with handle as f:
        for key in keys:
            try:
                tensor = f.get_tensor(key)
            except Exception as err:
                raise ModelError(f"{path}: cannot read tensor {key!r} ({err})") from None
            yield key, tensor


def load_bin(path: str) -> dict[str, torch.Tensor]:
    """A PyTorch .bin state dict, loaded with weights_only=True (no arbitrary pickle code runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        # Old (non-zip) .bin files cannot be memory-mapped; load them normally, still weights_only.
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ModelError(f"{path}: cannot load PyTorch weights safely ({err})") from None
    except Exception as err:
        raise ModelError(
            f"{path}: cannot load PyTorch weights with weights_only=True ({err}); "
            "only plain tensor state dicts are accepted"
        ) from None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Every tensor of one weights file (safetensors or .bin) as a dict."""
    if path.endswith(".safetensors"):
        return dict(_iter_safetensors(path, safetensors_keys(path)))
    return load_bin(path)


# ----------------------------------------------------------------------------- writing
def shard_state_dict(state_dict: dict[str, torch.Tensor], max_shard_size: int | str) -> list[dict[str, torch.Tensor]]:
    """Split into consecutive groups no larger than `max_shard_size` bytes (a bigger tensor gets its own shard)."""
    limit = parse_size(max_shard_size)
    shards: list[dict[str, torch.Tensor]] = [{}]
    current = 0
    for key, tensor in state_dict.items():
        size = tensor.numel() * tensor.element_size()
        if shards[-1] and current + size > limit:
            shards.append({})
            current = 0
        shards[-1][key] = tensor
        current += size
    return shards


def _dedupe_shared(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Safetensors refuses tensors sharing memory: keep the first name of each shared storage."""
    seen: dict[tuple, str] = {}
    result = {}
    for key, tensor in state_dict.items():
        if tensor.device.type != "meta" and tensor.numel() > 0:
            ident = (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
                     tuple(tensor.shape), tuple(tensor.stride()))
            if ident in seen:
                continue
            seen[ident] = key
        result[key] = tensor
    return result


def save_state_dict(
    state_dict: dict[str, torch.Tensor],
    save_directory: str | os.PathLike,
    max_shard_size: int | str = "50GB",
    safe_serialization: bool = True,
    variant: str | None = None,
) -> list[str]:
    """Write weights (one file or shards + index) into `save_directory`; returns the file names written.

    Old weight files of the same kind that the new save does not use are removed afterwards, so a
    folder never mixes shards of two saves.
    """
    save_directory = os.fspath(save_directory)
    os.makedirs(save_directory, exist_ok=True)
    state_dict = _dedupe_shared(state_dict) if safe_serialization else state_dict
    weights_name = _with_variant(SAFE_WEIGHTS_NAME if safe_serialization else WEIGHTS_NAME, variant)
    index_name = _with_variant(SAFE_WEIGHTS_INDEX_NAME if safe_serialization else WEIGHTS_INDEX_NAME, variant)
    shards = shard_state_dict(state_dict, max_shard_size)
    if len(shards) == 1:
        names = [weights_name]
    else:
        stem, _, ext = weights_name.partition(".")
        n = len(shards)
        names = [f"{stem}-{i + 1:05d}-of-{n:05d}.{ext}" for i in range(n)]

    # Write every shard under a temporary name first; rename only when all are complete.
    temp_paths: list[str] = []
    try:
        for name, shard in zip(names, shards):
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=save_directory)
            os.close(fd)
            temp_paths.append(tmp)
            _write_weights_file(shard, tmp, safe_serialization)
        for name, tmp in zip(names, temp_paths):
            os.replace(tmp, os.path.join(save_directory, name))
    except BaseException:
        for tmp in temp_paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise

    index_path = os.path.join(save_directory, index_name)
    if len(shards) > 1:
        weight_map = {key: name for name, shard in zip(names, shards) for key in shard}
        index = {
            "metadata": {
                "total_parameters": sum(t.numel() for t in state_dict.values()),
                "total_size": sum(t.numel() * t.element_size() for t in state_dict.values()),
            },
            "weight_map": dict(sorted(weight_map.items())),
        }
        atomic_write_text(index_path, json.dumps(index, indent=2, sort_keys=True) + "\n")
    _remove_stale_weight_files(save_directory, weights_name, set(names) | ({index_name} if len(shards) > 1 else set()))
    return names + ([index_name] if len(shards) > 1 else [])


def _write_weights_file(tensors: dict[str, torch.Tensor], path: str, safe_serialization: bool) -> None:
    tensors = {k: v.detach().contiguous().cpu() if v.device.type != "cpu" else v.detach().contiguous()
               for k, v in tensors.items()}
    if safe_serialization:
        from safetensors.torch import save_file

        save_file(tensors, path, metadata={"format": "pt"})
    else:
        torch.save(tensors, path)
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _remove_stale_weight_files(save_directory: str, weights_name: str, keep: set[str]) -> None:
    stem, _, ext = weights_name.partition(".")
    for name in os.listdir(save_directory):
        is_ours = name == weights_name or name == f"{weights_name}.index.json" or (
            name.startswith(f"{stem}-") and name.endswith(f".{ext}") and "-of-" in name
        )
        if is_ours and name not in keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(save_directory, name))
