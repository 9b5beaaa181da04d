"""`Linear`: `torch.nn.Linear` whose CPU fp32 inference goes through oneDNN's matmul instead of MKL's sgemm.

torch's CPU `F.linear` calls MKL, whose sgemm runs its AVX2 code on AMD processors: ~150 GFLOP/s on two
Zen 5 cores, where oneDNN (shipped inside torch, `torch.ops.mkldnn._linear_pointwise`) uses AVX-512 and
does ~370 GFLOP/s on the same BERT-sized products (M = batch x tokens, K and N 384..1536). The results
differ from F.linear only by summation order (~1e-5 on MiniLM layers).

The module is an `nn.Linear` in every other respect (same parameters, state_dict keys, repr, hooks,
isinstance), and it uses oneDNN only where nothing can tell the difference but speed: CPU float32, no
gradient to record, no CPU autocast, at least MIN_ROWS rows (below that the two are on par), not while
torch.compile traces. Set SNUGGLE_TORCH_LINEAR=1 to always use F.linear.

>>> import torch
>>> layer = Linear(4, 3)
>>> x = torch.randn(32, 4)
>>> with torch.no_grad():
...     bool(torch.allclose(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias), atol=1e-6))
True
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from snuggle.utils.env import env_flag

MIN_ROWS = 16


def _onednn_linear_available() -> bool:
    if env_flag("SNUGGLE_TORCH_LINEAR", False):
        return False
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


_AVAILABLE = _onednn_linear_available()


def onednn_applies(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    """True when oneDNN's product gives F.linear's result (up to summation order) for these tensors."""
    if not (_AVAILABLE and torch.backends.mkldnn.enabled):
        return False
    if (x.dtype != torch.float32 or weight.dtype != torch.float32 or not x.is_cpu or not weight.is_cpu
            or x.layout != torch.strided or weight.layout != torch.strided or weight.dim() != 2
            or not (weight.is_contiguous() or weight.t().is_contiguous())  # (out, in) or a transposed view
            or x.dim() < 2 or x.shape[-1] == 0 or x.numel() < MIN_ROWS * x.shape[-1]):
        return False
    if bias is not None and (bias.dtype != torch.float32 or not bias.is_cpu or not bias.is_contiguous()):
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return False  # autograd needs F.linear's backward
    if torch.is_autocast_enabled("cpu"):
        return False  # autocast casts F.linear's inputs (e.g. to bfloat16): keep its dtype rules
    return not torch.compiler.is_compiling()


@functools.cache
def mkl_avx512() -> bool:
    """Whether MKL's sgemm (torch's F.linear on the CPU) runs its AVX-512 code here: an Intel processor with
    AVX-512 (on AMD it runs AVX2 code, see the module docstring). /proc/cpuinfo's first processor; False
    where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            vendor = flags = None
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id":
                    vendor = value.strip()
                elif key == "flags":
                    flags = value.split()
                if vendor is not None and flags is not None:
                    break
    except OSError:
        return False
    return vendor == "GenuineIntel" and flags is not None and "avx512f" in flags


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)`, through oneDNN where `onednn_applies`."""
    if onednn_applies(x, weight, bias):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """`nn.Linear` with the oneDNN inference product (see the module docstring)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return linear(input, self.weight, self.bias)
