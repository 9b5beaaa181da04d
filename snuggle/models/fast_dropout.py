"""Dropout for CPU training without torch's single-threaded Bernoulli fill.

torch's CPU dropout draws its mask element by element from one Mersenne-Twister on one thread
(`aten::bernoulli_`): on MiniLM that was about a fifth of a training step. Here each element's
keep/drop decision is a hash of (seed, index) — the splitmix64 stream, computed by the optional
`_dropout` C extension on two threads — so:

- one pass writes `x * mask / (1 - p)`; no mask tensor is kept: backward recomputes it from the seed;
- the seed is drawn from torch's default generator, so `torch.manual_seed`, checkpoint RNG state,
  gradient checkpointing's RNG replay and resumed training behave exactly as with torch's dropout;
- the drop probability is `p` to 2**-32 (threshold on a 32-bit uniform).

Masks differ from torch's (another generator), with the same distribution. `SNUGGLE_TORCH_DROPOUT=1`
switches back to `torch.nn.functional.dropout` (bit-for-bit torch masks); float16/bfloat16 inputs,
non-CPU tensors and torch.compile tracing use torch's dropout too.

>>> import torch
>>> x = torch.ones(4, 4)
>>> y = dropout(x, p=0.5, training=True)
>>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [2.0], [0.0])
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snuggle.utils.env import env_flag

try:
    from snuggle.models import _dropout as _ext
except ImportError:  # pragma: no cover - the extension is optional (no C compiler at install)
    _ext = None

_SEED_BOUND = 2**62


def fast_dropout_available() -> bool:
    """True when the C extension is built and `SNUGGLE_TORCH_DROPOUT` does not ask for torch's dropout."""
    return _ext is not None and not env_flag("SNUGGLE_TORCH_DROPOUT", False)


def _threshold(p: float) -> int:
    return min(2**32, round(p * 2**32))


class _CounterDropout(torch.autograd.Function):
    """y = x * keep(seed, i) / (1 - p); the backward pass applies the same mask to the gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        threshold, scale = _threshold(p), 1.0 / (1.0 - p)
        _ext.apply(x.data_ptr(), out.data_ptr(), x.numel(), threshold, scale, seed)
        ctx.mask_args = (threshold, scale, seed)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        out = torch.empty_like(grad)
        threshold, scale, seed = ctx.mask_args
        _ext.apply(grad.data_ptr(), out.data_ptr(), grad.numel(), threshold, scale, seed)
        return out, None, None


def _use_fast_path(x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and fast_dropout_available()
        and not torch.compiler.is_compiling()
        and not torch.jit.is_scripting()
    )


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> torch.Tensor:
    """`torch.nn.functional.dropout` with the counter-based CPU kernel when it applies.

    >>> _ = torch.manual_seed(0); a = dropout(torch.ones(1000), 0.1)
    >>> _ = torch.manual_seed(0); b = dropout(torch.ones(1000), 0.1)
    >>> bool(torch.equal(a, b))
    True
    """
    if not training or p == 0.0:
        return x
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if p == 1.0 or not _use_fast_path(x):
        return F.dropout(x, p, training, inplace)
    seed = int(torch.randint(0, _SEED_BOUND, (1,)).item())  # torch's default generator: seeded, checkpointed
    return _CounterDropout.apply(x, p, seed)


class Dropout(nn.Dropout):
    """`nn.Dropout` (same attributes, state dict and repr) backed by `dropout` above."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout(input, self.p, self.training, self.inplace)


def dropout_mask(shape, p: float, seed: int) -> torch.Tensor:
    """The mask `dropout` applies for `seed`, scaled by 1/(1-p) (tests and inspection).

    >>> m = dropout_mask((8,), 0.5, seed=3); sorted(set(m.tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    """
    if _ext is None:
        raise RuntimeError("dropout_mask needs the _dropout C extension (pip install -e . with a C compiler)")
    out = torch.empty(shape, dtype=torch.float32)
    _ext.mask(out.data_ptr(), out.numel(), _threshold(p), 1.0 / (1.0 - p), seed)
    return out
