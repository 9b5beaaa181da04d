"""`torch.multinomial(probs, 1)` on CPU, bit for bit, without the draws that cannot win.

torch samples one token per row as argmax(p / q) with q ~ Exp(1) drawn for every element of the
(batch, vocab) matrix on one thread (~12 ms for 8 x 49,152 here, a sixth of a batch-8 SmolLM2 decode
step). After top-k / top-p filtering almost every p is 0 and cannot win, but each element still consumes
two outputs of the generator's mt19937 stream. The optional `_sample` C extension walks the same stream
(cheap) and takes the logarithm only where p > 0, then writes the advanced state back into the generator:
the same tokens as torch and the same random stream afterwards, so seeded sampling stays equal to the
reference library's. Anything else (other devices, dtypes, generators, torch.compile) uses torch.

>>> import torch
>>> probs = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
>>> _ = torch.manual_seed(0); a = multinomial_one(probs)
>>> _ = torch.manual_seed(0); b = torch.multinomial(probs, 1)
>>> bool(torch.equal(a, b))
True
"""

from __future__ import annotations

import struct

import torch

from snuggle.utils.env import env_flag

try:
    from snuggle.generation import _sample as _ext
except ImportError:  # pragma: no cover - optional C extension
    _ext = None

_MT_N = 624
_KEY_OFFSET = 24  # CPUGeneratorImpl state bytes: <QiiQ seed, left, seeded, next> then 624 x uint64 key
_STATE_BYTES = 5056


def fast_sampling_available() -> bool:
    return _ext is not None and not env_flag("SNUGGLE_TORCH_MULTINOMIAL", False)


def multinomial_one(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One sample per row of `probs` (rows, vocab): `torch.multinomial(probs, 1, generator=generator)`."""
    if not (
        fast_sampling_available()
        and probs.dim() == 2
        and probs.device.type == "cpu"
        and probs.dtype == torch.float32
        and (generator is None or generator.device.type == "cpu")
        and not torch.compiler.is_compiling()
    ):
        return torch.multinomial(probs, 1, generator=generator)
    gen = generator if generator is not None else torch.default_generator
    state = gen.get_state()
    if state.numel() != _STATE_BYTES:  # another torch build's layout: stay exact by using torch itself
        return torch.multinomial(probs, 1, generator=generator)
    raw = bytearray(state.numpy().tobytes())
    _, left, _, nxt = struct.unpack_from("<QiiQ", raw, 0)
    words = memoryview(raw)[_KEY_OFFSET : _KEY_OFFSET + 8 * _MT_N].cast("Q")
    key = bytearray(struct.pack(f"<{_MT_N}I", *words))
    pos = _MT_N if left == 1 else nxt
    probs = probs.contiguous()
    result = _ext.sample(probs.data_ptr(), probs.shape[0], probs.shape[1], key, pos)
    if result is None:  # invalid rows (torch raises its own error) or dense rows (torch is as fast)
        return torch.multinomial(probs, 1, generator=generator)
    tokens, pos = result
    struct.pack_into("<iiQ", raw, 8, _MT_N + 1 - pos, 1, pos)
    struct.pack_into(f"<{_MT_N}Q", raw, _KEY_OFFSET, *struct.unpack(f"<{_MT_N}I", key))
    gen.set_state(torch.frombuffer(raw, dtype=torch.uint8).clone())
    return torch.tensor(tokens, dtype=torch.long).unsqueeze(-1)


def argmax_into(scores: torch.Tensor, out_address: int = 0) -> int | None:
    """`int(torch.argmax(scores))` of one row, scores (1, vocab) float32 on the CPU with unit column stride, also
    stored as an int64 at `out_address` (0: nowhere); None when the extension or the layout does not apply.

    Generate's greedy loop writes the token straight into its sequence buffer this way: right after a decode
    step has streamed the weights through the caches, torch's argmax and index_put run cold (~150 us together
    for SmolLM2's 49,152 logits), this loop in a few cache lines of code.

    >>> import torch
    >>> argmax_into(torch.tensor([[0.5, 2.0, 2.0, -1.0]])) in (1, None)
    True
    """
    if (_ext is None or not hasattr(_ext, "argmax_into") or scores.dtype != torch.float32
            or scores.device.type != "cpu" or scores.dim() != 2 or scores.shape[0] != 1 or scores.shape[1] < 1
            or scores.stride(1) != 1):
        return None
    return _ext.argmax_into(scores.data_ptr(), scores.shape[1], out_address)


def fill_ids_(scores: torch.Tensor, ids: torch.Tensor, value: float) -> bool:
    """scores[:, ids] = value in place, for scores (rows, vocab) float32 on the CPU with unit column stride and ids
    an int64 CPU vector inside the vocabulary; False (nothing done) when the extension or the layout does not
    apply (then use index_fill_)."""
    if (_ext is None or not hasattr(_ext, "fill_ids") or scores.dtype != torch.float32
            or scores.device.type != "cpu" or scores.dim() != 2 or scores.stride(1) != 1
            or scores.stride(0) < scores.shape[1] or ids.dtype != torch.long or ids.device.type != "cpu"
            or ids.dim() != 1 or not ids.is_contiguous()):
        return False
    _ext.fill_ids(scores.data_ptr(), scores.shape[0], scores.shape[1], scores.stride(0), ids.data_ptr(),
                  ids.numel(), value)
    return True


def greedy_token_available() -> bool:
    """Whether `greedy_token` can run (the C extension is built)."""
    return _ext is not None and hasattr(_ext, "argmax_into") and hasattr(_ext, "fill_ids")


def greedy_token(scores_address: int, vocab: int, banned: list, out_address: int) -> int:
    """The argmax of one row of `vocab` contiguous float32 logits at `scores_address` after setting the scores of
    the `banned` (address, count) id lists (LogitsProcessor._banned) to -inf, stored as int64 at out_address:
    the processors that only forbid tokens and torch.argmax, without a torch call (see `argmax_into`). Needs the
    extension (`greedy_token_available`)."""
    for ids in banned:
        if ids is not None and ids[1]:
            _ext.fill_ids(scores_address, 1, vocab, vocab, ids[0], ids[1], float("-inf"))
    return _ext.argmax_into(scores_address, vocab, out_address)
