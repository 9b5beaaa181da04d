"""The inference fast path of the Llama-family decoder layer: fused projections and few ops per layer.

Decoding one token of a small model is dominated by weight reads and per-op dispatch, not arithmetic:
SmolLM2-135M reads ~540 MB of weights per token (~20 ms at DRAM speed) while the module-by-module forward
issues ~60 torch ops per layer. Under `torch.no_grad()` / `torch.inference_mode()` (eval mode, SDPA) a layer
instead runs `fast_layer_forward`, ~27 ops of which ~12 are kernels:

    rms_norm -> linear(qkv) -> rotary on q and k together -> cache update -> sdpa -> addmm(o_proj + residual)
    rms_norm -> linear(gate|up) -> silu * up -> addmm(down_proj + residual)

Decode steps (one token per row, 1-16 rows, fp32 on the CPU, torch on one thread as generate arranges) go
further when the optional `_gemv` C extension is built: `decode_layers_step` runs every layer of the step in
one call on two threads (the extension's worker joins the caller; `decode_layer_step` runs one layer, the
fallback), with the cache slots reserved through `cache.update` / `reserve_token` so the KV
cache is the same object the torch ops would fill. The torch ops stay the reference:
tests/models/test_decode_kernel.py compares the two on tiny random models. In a generate() call of at least
PACK_MIN_STEPS new tokens the kernels switch to packed copies of the weights (`pack_panels`, a second copy;
see `pack_requested`), kept from then on and made again when a weight changes.

Fused weights. q/k/v (and gate/up) are concatenated once into one input-major (in, out) matrix (the layout
a one-token matmul streams fastest, see `_fuse`), and the original parameters are then re-pointed
(`param.data = fused_t[:, cols].t()`) at column blocks of it: no extra memory, the module tree, parameter
shapes, values and state_dict keys do not change (the parameters become non-contiguous views), training (the
module forward) and optimizer steps (in-place updates) keep working and write through into the fused matrix. If a parameter is later replaced (`.to()`, `param.data =`,
load with assign) its data pointer no longer matches and the fused weight is rebuilt on the next call.

The module forward in llama.py stays the readable reference; tests/models/test_fast_decode.py proves this
path equals it (and transformers).

>>> import torch
>>> from snuggle.models.llama import LlamaConfig, LlamaForCausalLM
>>> model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
...                                      num_attention_heads=4, num_key_value_heads=2)).eval()
>>> with torch.no_grad():
...     fast = model(torch.tensor([[1, 2, 3]])).logits
>>> reference = model(torch.tensor([[1, 2, 3]])).logits            # grad enabled: the module path
>>> bool(torch.allclose(fast, reference, atol=1e-6))
True
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _module_globals

from snuggle.errors import ModelError
from snuggle.models.cache import DynamicCache, StaticCache
from snuggle.models.fast_linear import linear, mkl_avx512, onednn_applies
from snuggle.utils import hugepages
from snuggle.utils.env import env_flag

try:  # optional C extension (setup.py): 2-thread decode kernels (whole layers, small-batch products)
    from snuggle.models import _gemv
except ImportError:  # pragma: no cover - exercised by monkeypatching in tests/models/test_gemv.py
    _gemv = None

# the C kernels take at most this many rows (batch * seq); longer inputs (prefill) keep torch's GEMM
SMALL_MATMUL_MAX_ROWS = 16
# a decode-step layer in C uses the worker thread too when its weights have at least this many floats (below,
# handing half of the work over costs more than it saves); tests set 0 to run the two-thread code on tiny models
DECODE_TWO_THREADS_MIN_FLOATS = 65536

# ---------------------------------------------------------------------------------------------------------------
# Fused weights sharing storage with the parameters
# ---------------------------------------------------------------------------------------------------------------
_FUSED_ATTRIBUTE = "_snuggle_fused"


def _is_plain_linear(module) -> bool:
    """An nn.Linear with no hooks: LoRA wrappers, quantized layers or hooked modules keep the module path."""
    return type(module) is nn.Linear and not module._forward_hooks and not module._forward_pre_hooks


def _signature(linears: list[nn.Linear]) -> tuple:
    # _parameters, not .weight / .bias: nn.Module.__getattr__ is slow, and this runs per layer per decode step
    signature = []
    for linear in linears:
        parameters = linear._parameters
        bias = parameters["bias"]
        signature.append((parameters["weight"].data_ptr(), None if bias is None else bias.data_ptr()))
    return tuple(signature)


def _submodules(layer: nn.Module) -> tuple[nn.Module, nn.Module, dict, dict]:
    """(attention, mlp, attention's submodules, mlp's submodules), read from the module dicts."""
    attention, mlp = layer._modules["self_attn"], layer._modules["mlp"]
    return attention, mlp, attention._modules, mlp._modules


def _fuse(linears: list[nn.Linear]) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Store the linears' weights as one (in, sum of out) matrix and re-point the parameters at its columns.

    The input-major layout matters: for one token, x @ W_t with W_t (in, out) contiguous streams the weight at
    close to DRAM speed, while x @ W.T with W (out, in) contiguous (nn.Linear's layout) reaches about 60% of
    it on this machine's BLAS. The parameters become transposed views `W_t[:, cols].t()` (same shape and
    values, non-contiguous), so the module path, state_dict and save_pretrained see exactly the same weights.
    A single linear is re-laid out the same way. Returns (weight view (sum out, in), bias or None), or None
    when the linears cannot share one matrix.
    """
    weights = [linear.weight for linear in linears]
    first = weights[0]
    has_bias = [linear.bias is not None for linear in linears]
    if first.device.type == "meta" or any(has_bias) != all(has_bias):
        return None
    if any(w.dtype != first.dtype or w.device != first.device or w.dim() != 2 or w.shape[1] != first.shape[1]
           for w in weights):
        return None
    # plain tensors (not inference tensors) so the re-pointed parameters still work for training later
    with torch.inference_mode(False), torch.no_grad():
        fused_t = torch.cat([w.detach().t() for w in weights], dim=1)  # (in, sum out), contiguous
        fused_bias = torch.cat([linear.bias.detach() for linear in linears], dim=0) if has_bias[0] else None
        column = 0
        for linear in linears:
            rows = linear.weight.shape[0]
            linear.weight.data = fused_t[:, column:column + rows].t()
            if fused_bias is not None:
                linear.bias.data = fused_bias[column:column + rows]
            column += rows
    return fused_t.t(), fused_bias


def make_input_major(linear: nn.Linear) -> None:
    """Re-lay out a plain nn.Linear's weight in place as a transposed view of an (in, out) matrix (see `_fuse`).

    Used for the LM head, the largest single matrix (a tied embedding shares the parameter and simply reads
    its rows strided). Idempotent: an input-major weight is left alone, so calling it every step costs one
    stride check.
    """
    weight = linear.weight
    if type(linear) is not nn.Linear or weight.dim() != 2 or weight.device.type == "meta":
        return
    if weight.stride(0) == 1 and weight.stride(1) == weight.shape[0]:
        return
    with torch.inference_mode(False), torch.no_grad():
        weight.data = weight.detach().t().contiguous().t()


class LayerWeights(NamedTuple):
    """What the fast path multiplies by, for one layer (fused weights share storage with the parameters)."""

    qkv_weight: torch.Tensor  # ((q_heads + 2 kv_heads) * head_dim, hidden), a view of an input-major matrix
    qkv_bias: torch.Tensor | None
    gate_up_weight: torch.Tensor  # (2 * intermediate, hidden), same layout
    gate_up_bias: torch.Tensor | None
    o_weight_t: torch.Tensor  # (q_heads * head_dim, hidden), contiguous: addmm's right operand
    o_bias: torch.Tensor | None
    down_weight_t: torch.Tensor  # (intermediate, hidden), contiguous
    down_bias: torch.Tensor | None


def layer_weights(layer: nn.Module) -> LayerWeights | None:
    """The fused weights of a decoder layer, built on first use and rebuilt when a parameter was replaced.

    Call only when `fast_path_available(layer)` (every projection a plain nn.Linear). Returns None when the
    projections cannot be fused (meta weights, mixed dtypes).
    """
    _, _, attention, mlp = _submodules(layer)
    qkv = [attention["q_proj"], attention["k_proj"], attention["v_proj"]]
    gate_up = [mlp["gate_proj"], mlp["up_proj"]]
    linears = [*qkv, *gate_up, attention["o_proj"], mlp["down_proj"]]
    cached = layer.__dict__.get(_FUSED_ATTRIBUTE)
    signature = _signature(linears)
    if cached is not None and cached[0] == signature:
        return cached[1]
    weights = None
    fused_qkv, fused_gate_up = _fuse(qkv), _fuse(gate_up)
    fused_o, fused_down = _fuse([attention["o_proj"]]), _fuse([mlp["down_proj"]])
    if None not in (fused_qkv, fused_gate_up, fused_o, fused_down):
        weights = LayerWeights(*fused_qkv, *fused_gate_up, fused_o[0].t(), fused_o[1], fused_down[0].t(),
                               fused_down[1])
    signature = _signature(linears)  # the parameters now point into the fused weights
    layer.__dict__[_FUSED_ATTRIBUTE] = (signature, weights)
    return weights


# ---------------------------------------------------------------------------------------------------------------
# Eligibility
# ---------------------------------------------------------------------------------------------------------------
def fast_path_available(layer: nn.Module) -> bool:
    """The layer is the stock Llama-family layer with plain nn.Linear projections and no hooks anywhere (so
    skipping the modules' __call__ changes nothing)."""
    if _module_globals._global_forward_hooks or _module_globals._global_forward_pre_hooks:
        return False
    # the module dicts rather than attribute access (nn.Module.__getattr__): this runs per layer per step
    modules = layer._modules
    attention, mlp, attention_modules, mlp_modules = _submodules(layer)
    for module in (layer, attention, mlp, modules["input_layernorm"], modules["post_attention_layernorm"]):
        if module._forward_hooks or module._forward_pre_hooks:
            return False
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        if not _is_plain_linear(attention_modules[name]):
            return False
    for name in ("gate_proj", "up_proj", "down_proj"):
        if not _is_plain_linear(mlp_modules[name]):
            return False
    act_fn = mlp_modules.get("act_fn") or mlp.__dict__.get("act_fn")
    return act_fn is F.silu or isinstance(act_fn, nn.SiLU)


# ---------------------------------------------------------------------------------------------------------------
# The layer step
# ---------------------------------------------------------------------------------------------------------------
def rotary_tables(cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step tables for `rotate_queries_and_keys`: (cos, signed sin), each (batch, seq, 1, head_dim).

    rotate_half(x) * sin == roll(x, d/2) * signed_sin with signed_sin = (-sin[:d/2], sin[d/2:]): the same
    products (negating a factor is exact), one op instead of slice/neg/cat, and computed once per step.
    """
    half = sin.shape[-1] // 2
    signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
    return cos.unsqueeze(2), signed_sin.unsqueeze(2)


def rotate_queries_and_keys(query_key: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """RoPE on q and k heads at once: query_key (batch, seq, q_heads + kv_heads, head_dim), tables from
    `rotary_tables`. Bit-identical to `apply_rotary_pos_emb` (x * cos + rotate_half(x) * sin).
    """
    return query_key * cos + query_key.roll(query_key.shape[-1] // 2, -1) * signed_sin


def sdpa_additive_mask(mask: torch.Tensor | None, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """A boolean SDPA mask as the additive float mask SDPA would build from it (0 / -inf), once per step
    instead of once per layer."""
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


def _rms_norm(norm: nn.Module, hidden_states: torch.Tensor) -> torch.Tensor:
    # F.rms_norm computes x * rsqrt(mean(x^2) + eps) * weight in float32 like LlamaRMSNorm (bit-identical in fp32)
    if hidden_states.dtype != torch.float32 or norm.weight.dtype != torch.float32:
        return norm(hidden_states)
    return F.rms_norm(hidden_states, norm.weight.shape, norm.weight, norm.variance_epsilon)


def _small_rows_apply(hidden: torch.Tensor, inputs: int) -> bool:
    """The C kernels take `hidden` (rows, inputs) for a product: fp32 CPU contiguous, 1-16 rows, no autograd,
    torch on one thread."""
    # the kernel's worker thread spins between calls: next to torch's own 2-thread ops it halves the speed
    # (measured 4 tok/s instead of 21), so it is used only while torch runs on one thread (the decode loop
    # of generate sets that, see `snuggle.generation.utils`)
    if _gemv is None or torch.is_grad_enabled() or torch.get_num_threads() != 1:
        return False
    return (
        hidden.dim() == 2 and 0 < hidden.shape[0] <= SMALL_MATMUL_MAX_ROWS and hidden.shape[1] == inputs
        and hidden.dtype == torch.float32 and hidden.device.type == "cpu" and hidden.is_contiguous()
    )


def _small_matmul_applies(hidden: torch.Tensor, weight_t: torch.Tensor) -> bool:
    return (
        weight_t.dim() == 2 and _small_rows_apply(hidden, weight_t.shape[0])
        and weight_t.dtype == torch.float32 and weight_t.device.type == "cpu"
        and weight_t.stride(1) == 1 and weight_t.stride(0) >= weight_t.shape[1]
    )


def input_major_matmul(hidden: torch.Tensor, weight_t: torch.Tensor, residual: torch.Tensor | None = None):
    """hidden @ weight_t (+ residual) for an input-major (in, out) weight; None when the C kernel does not apply.

    Decoding multiplies 1-16 rows by each weight once, so the time is the time to stream the weight: the
    `_gemv` extension splits the weight's rows over two threads (~25 GB/s here vs ~16 GB/s for the BLAS
    one-row product on the small per-layer matrices). Applies to fp32 CPU tensors without autograd,
    hidden (rows <= SMALL_MATMUL_MAX_ROWS, in) contiguous, weight_t rows contiguous, residual (rows, out)
    contiguous fp32. The accumulation order differs from BLAS (results equal to ~1e-6 relative).

    >>> import torch
    >>> with torch.no_grad():
    ...     x, w = torch.ones(1, 4), torch.ones(4, 3)
    ...     out = input_major_matmul(x, w)
    >>> out is None or out.tolist() == [[4.0, 4.0, 4.0]]
    True
    """
    if not _small_matmul_applies(hidden, weight_t):
        return None
    rows, columns = hidden.shape[0], weight_t.shape[1]
    init = 0
    if residual is not None:
        if (residual.dtype != torch.float32 or residual.device.type != "cpu" or not residual.is_contiguous()
                or tuple(residual.shape) != (rows, columns)):
            return None
        init = residual.data_ptr()
    out = torch.empty((rows, columns), dtype=torch.float32)
    _gemv.gemv(hidden.data_ptr(), weight_t.data_ptr(), out.data_ptr(), rows, weight_t.shape[0], columns,
               weight_t.stride(0), init)
    return out


def _linear(hidden: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
    """F.linear for a weight that is a transposed view of an input-major matrix (the fused projections).

    Where MKL runs AVX-512 code (`mkl_avx512`: Intel) it reads these weights faster than oneDNN, which seems to
    re-lay them out on every call: a SmolLM2 prompt of 41 tokens took 73 ms through MKL and 102 ms through
    oneDNN on a 2-core Xeon. Elsewhere (AMD, where MKL runs AVX2 code) the products go through oneDNN."""
    if bias is None:
        out = input_major_matmul(hidden, weight.t())
        if out is not None:
            return out
    if mkl_avx512():
        return F.linear(hidden, weight, bias)
    return linear(hidden, weight, bias)


def _residual_linear(residual: torch.Tensor, hidden: torch.Tensor, weight_t: torch.Tensor, bias) -> torch.Tensor:
    """residual + hidden @ weight_t (+ bias), 2D, as one addmm when there is no bias (see `_linear` for when
    oneDNN takes the product instead)."""
    if bias is None:
        out = input_major_matmul(hidden, weight_t, residual)
        if out is not None:
            return out
    if (bias is not None or residual.dtype != weight_t.dtype
            or (not mkl_avx512() and onednn_applies(hidden, weight_t.t(), None))):
        return residual + _linear(hidden, weight_t.t(), bias)
    return torch.addmm(residual, hidden, weight_t)


# ---------------------------------------------------------------------------------------------------------------
# A decode step's layer in one C call
# ---------------------------------------------------------------------------------------------------------------
_PLAN_ATTRIBUTE = "_snuggle_decode_plan"

# ---------------------------------------------------------------------------------------------------------------
# Packed copies for the decode kernels
# ---------------------------------------------------------------------------------------------------------------
PANEL = 48  # columns per panel of a packed weight (DECODE_PANEL in _decode.h)
_PACKED_HEAD_ATTRIBUTE = "_snuggle_packed_head"
# a packed copy is made while it takes at most this share of the memory the system has available
PACKED_MAX_SHARE_OF_AVAILABLE = 0.25
# ... and for a generate() call of at least this many new tokens: packing costs about as much as 20-40 steps
# (mostly first-touch page faults of the new memory) and makes each step ~20% faster, so such a call about
# breaks even and later calls gain
PACK_MIN_STEPS = 128


def pack_requested(session: dict | None) -> bool:
    """Whether this decode step should use packed weights (made on first use, kept while the weights stay):
    `SNUGGLE_PACKED_WEIGHTS=1` always, `=0` never; unset, inside a generate() call of at least PACK_MIN_STEPS
    new tokens (`session`, see LlamaForCausalLM._decode_session), where packing pays for itself. Copies made
    by an earlier call stay in use."""
    setting = env_flag("SNUGGLE_PACKED_WEIGHTS", None)
    if setting is not None:
        return setting
    return session is not None and session.get("steps", 0) >= PACK_MIN_STEPS


def packing_wanted(nbytes: int) -> bool:
    """Whether a packed copy of `nbytes` of weights may be made now that one is requested: always with
    `SNUGGLE_PACKED_WEIGHTS=1`; else while the copy takes at most a quarter of the memory the system has
    available (psutil), so a model that already fills the memory decodes from its own weights."""
    setting = env_flag("SNUGGLE_PACKED_WEIGHTS", None)
    if setting is not None:
        return setting
    import psutil

    return nbytes <= PACKED_MAX_SHARE_OF_AVAILABLE * psutil.virtual_memory().available


def pack_panels(weight_t: torch.Tensor) -> torch.Tensor:
    """A copy of an input-major (in, out) weight (any strides) in the kernels' panel order.

    Returns (ceil(out / 48), in, 48) contiguous: panel p holds output columns 48p..48p+47 for every input, the
    last panel zero-padded. A one-token product then reads the weight as one sequential stream per thread,
    which on a 2-core AMD Zen 5 streams ~35% faster than the (in, out) rows themselves (16 strided streams).

    >>> w = torch.arange(2 * 50, dtype=torch.float32).view(2, 50)
    >>> packed = pack_panels(w)
    >>> tuple(packed.shape), packed[1, :, :2].tolist(), float(packed[1, 0, 2])
    ((2, 2, 48), [[48.0, 49.0], [98.0, 99.0]], 0.0)
    """
    k, n = weight_t.shape
    full, panels = n // PANEL, -(-n // PANEL)
    with torch.inference_mode(False), torch.no_grad():
        if weight_t.device.type == "cpu":  # streamed at every decode step: huge pages where the system has them
            packed = hugepages.empty((panels, k, PANEL), dtype=weight_t.dtype)
        else:
            packed = torch.empty((panels, k, PANEL), dtype=weight_t.dtype, device=weight_t.device)
        s0, s1 = weight_t.stride()
        if (_gemv is not None and hasattr(_gemv, "pack_panels") and weight_t.dtype == torch.float32
                and weight_t.device.type == "cpu" and k > 0 and n > 0
                and ((s1 == 1 and s0 >= n) or (s0 == 1 and s1 >= k))):
            # ~20x faster than the strided copy below (torch's copy kernels handle this layout poorly)
            _gemv.pack_panels(weight_t.data_ptr(), s0, s1, k, n, packed.data_ptr())
            return packed
        if full:
            packed[:full].copy_(weight_t[:, :full * PANEL].unflatten(1, (full, PANEL)).transpose(0, 1))
        if full < panels:
            packed[full].zero_()
            packed[full, :, :n - full * PANEL].copy_(weight_t[:, full * PANEL:])
    return packed


def _version(tensor: torch.Tensor) -> int:
    """The tensor's in-place version counter (shared with its views); -1 for an inference tensor (no counter:
    made under torch.inference_mode, which also refuses in-place updates to it outside that mode)."""
    try:
        return tensor._version
    except RuntimeError:  # "Inference tensors do not track version counter"
        return -1


def _weight_key(weight: torch.Tensor) -> tuple:
    """What a copy made from `weight` (packed_head, screen_head) stays valid for: its storage, in-place version,
    shape and strides."""
    return weight.data_ptr(), _version(weight), tuple(weight.shape), weight.stride()


_PROJECTIONS = (("q_proj", "k_proj", "v_proj", "o_proj"), ("gate_proj", "up_proj", "down_proj"))


def _weight_versions(layer: nn.Module) -> tuple:
    """The in-place versions of a layer's projection weights: an optimizer step or load_state_dict bumps them
    (each parameter has its own counter, even as a view of the fused matrix). Runs per layer per decode step."""
    _, _, attention, mlp = _submodules(layer)
    return tuple(_version(modules[name]._parameters["weight"])
                 for modules, names in zip((attention, mlp), _PROJECTIONS) for name in names)


def packed_head(lm_head: nn.Linear, pack: bool = True) -> torch.Tensor | None:
    """The packed copy of an LM head's (out, in) weight: made on the first use with `pack` (see
    `pack_requested`), then kept, and made again after the weight changed (replaced or updated in place); None
    while none is wanted or allowed (`packing_wanted`)."""
    weight = lm_head.weight
    key = _weight_key(weight)
    cached = lm_head.__dict__.get(_PACKED_HEAD_ATTRIBUTE)
    if cached is not None and cached[0] == key and (cached[2] or not pack):
        return cached[1]
    if not pack:
        return None
    packed = None
    if weight.dtype == torch.float32 and weight.device.type == "cpu" and packing_wanted(weight.numel() * 4):
        packed = pack_panels(weight.detach().t())
    lm_head.__dict__[_PACKED_HEAD_ATTRIBUTE] = (key, packed, True)  # True: packing was tried for this weight
    return packed


_SCREEN_ATTRIBUTE = "_snuggle_head_screen"
SCREEN_PANEL = 64  # columns per panel of the screen (SCREEN_PANEL in _decode.h)
SCREEN_MAX_NORM = 1e6  # a column norm above this (or a non-finite weight): no screen (see screen_head)
_UNIT = 2.0 ** -24  # fp32 unit roundoff


def screen_head(lm_head: nn.Linear, make: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The int8 screen of an LM head (Screen in _decode.h) with which a greedy decode step finds its token
    without computing all the logits: (q, scale, bound), made on first use when `make` (DecodeLoop: when packed
    weights are wanted, see `pack_requested`) and kept while the weight stays; None with
    `SNUGGLE_GREEDY_SCREEN=0`, or when the weight is not a float32 CPU matrix whose values are finite and whose
    rows have norms up to SCREEN_MAX_NORM.

    Row c of the (n, k) weight w becomes scale[c] * q[c] (q int8, scale = max |w[c]| / 127, rounded to nearest);
    q is laid out in panels of 64 rows, (ceil(n / 64), k, 64), so the screen streams a quarter of the head's
    bytes. For any fp32 input h, the fp32 logit F (any summation order) and the screen's A = scale * (h . q) (fp32)
    differ by at most |h|_2 * bound[c]:

        |F - A| <= |h| (rho + (2 gamma + 16 u) (|w[c]| + rho)),   rho = |w[c] - scale q[c]|_2,
        u = 2^-24, gamma = (k + 2) u / (1 - (k + 2) u)

    (F's and A's rounding are each at most gamma sum |h| |w| or |sq| <= gamma |h| (|w| + rho), plus u |A| for the
    scaling; the 16 u also covers rho's own fp32 rounding and the additions of low and high), and bound takes
    that times (1 + 2^-10) for the norms' rounding. Building it reads the weight once (~0.1 s for SmolLM2's
    113 MB head) and keeps 28 MB."""
    weight = lm_head.weight
    if not env_flag("SNUGGLE_GREEDY_SCREEN", True):
        return None
    key = _weight_key(weight)
    cached = lm_head.__dict__.get(_SCREEN_ATTRIBUTE)
    if cached is not None and cached[0] == key:
        return cached[1]
    if not make:
        return None
    screen = None
    if weight.dim() == 2 and weight.dtype == torch.float32 and weight.device.type == "cpu" and weight.numel():
        screen = _build_screen(weight.detach())
    lm_head.__dict__[_SCREEN_ATTRIBUTE] = (key, screen)
    return screen


def _build_screen(weight: torch.Tensor, chunk: int = 4096) -> tuple | None:
    n, k = weight.shape
    panels = -(-n // SCREEN_PANEL)
    gamma = (k + 2) * _UNIT / (1 - (k + 2) * _UNIT)
    with torch.inference_mode(False), torch.no_grad():
        q = hugepages.empty((panels, k, SCREEN_PANEL), dtype=torch.int8)
        scale = torch.empty(n, dtype=torch.float32)
        bound = torch.empty(n, dtype=torch.float32)
        for r0 in range(0, n, chunk):  # whole panels per chunk (chunk is a multiple of 64)
            rows = weight[r0:r0 + chunk]
            if not bool(torch.isfinite(rows).all()):
                return None
            part = rows.abs().amax(dim=1) / 127
            quantized = torch.where(part[:, None] > 0, rows / part[:, None].clamp_min(torch.finfo(torch.float32).tiny),
                                    0.0).round_().clamp_(-127, 127)
            rho = (rows - quantized * part[:, None]).norm(dim=1)
            norms = rows.norm(dim=1)
            if bool((norms > SCREEN_MAX_NORM).any()):
                return None
            scale[r0:r0 + chunk] = part
            bound[r0:r0 + chunk] = (rho + (2 * gamma + 16 * _UNIT) * (norms + rho)) * (1 + 2.0 ** -10)
            rows_here = rows.shape[0]
            padded = -(-rows_here // SCREEN_PANEL) * SCREEN_PANEL
            block = torch.zeros((padded, k), dtype=torch.int8)
            block[:rows_here] = quantized.to(torch.int8)
            p0 = r0 // SCREEN_PANEL
            q[p0:p0 + padded // SCREEN_PANEL] = block.view(-1, SCREEN_PANEL, k).transpose(1, 2)
    return q, scale, bound


def lm_head_matmul(hidden: torch.Tensor, lm_head: nn.Linear, pack: bool = False) -> torch.Tensor | None:
    """hidden @ lm_head.weight.T through the small-batch C kernel, reading the head's packed copy (`packed_head`)
    or else its weight re-laid out input-major (`make_input_major`); None when the kernel does not apply (see
    `input_major_matmul`)."""
    weight = lm_head.weight
    if (weight.dim() != 2 or weight.dtype != torch.float32 or weight.device.type != "cpu"
            or not _small_rows_apply(hidden, weight.shape[1])):
        return None
    packed = packed_head(lm_head, pack)
    if packed is None:
        make_input_major(lm_head)  # once: the (in, out) layout streams faster for a few tokens
        return input_major_matmul(hidden, weight.t())
    rows, columns = hidden.shape[0], weight.shape[0]
    out = torch.empty((rows, columns), dtype=torch.float32)
    _gemv.gemv(hidden.data_ptr(), packed.data_ptr(), out.data_ptr(), rows, packed.shape[1], columns,
               packed.stride(0), 0, True)
    return out


def _f32_cpu(tensor: torch.Tensor | None) -> bool:
    return tensor is None or (tensor.dtype == torch.float32 and tensor.device.type == "cpu")


def _pointer(tensor: torch.Tensor | None) -> int:
    return 0 if tensor is None else tensor.data_ptr()


def layer_plan(layer: nn.Module, weights: LayerWeights, pack: bool = False):
    """The `_gemv.layer_plan` capsule of a layer (sizes and weight pointers), cached next to its fused weights;
    None when the C layer cannot run it (no extension, q/k norms, other dtypes, uneven head groups).

    The capsule holds raw pointers: it is rebuilt whenever the fused weights are (a replaced parameter) or a
    norm weight was replaced, and the cache entry keeps the fused weights alive. With `pack` (see
    `pack_requested`, `packing_wanted`) the four matrices are also copied in panel order (`pack_panels`) for the
    kernels; a packed plan is kept for later calls without `pack`, and its copies are made again when a
    projection weight changed in place (an optimizer step, load_state_dict).
    """
    modules = layer._modules
    norms = (modules["input_layernorm"], modules["post_attention_layernorm"])
    norm_weights = (norms[0]._parameters["weight"], norms[1]._parameters["weight"])
    key = (norm_weights[0].data_ptr(), norm_weights[1].data_ptr(), norms[0].variance_epsilon,
           norms[1].variance_epsilon, _weight_versions(layer))
    cached = layer.__dict__.get(_PLAN_ATTRIBUTE)
    if cached is not None and cached[0] is weights and cached[1] == key and (cached[4] or not pack):
        return cached[2]
    pack = pack or (cached is not None and cached[4])  # a layer packed once stays packed
    attention, mlp = layer.self_attn, layer.mlp
    plan = packed = None
    q_heads, kv_heads, head_dim = attention.num_heads, attention.num_key_value_heads, attention.head_dim
    matrices = (weights.qkv_weight.t(), weights.o_weight_t, weights.gate_up_weight.t(), weights.down_weight_t)
    biases = (weights.qkv_bias, weights.o_bias, weights.gate_up_bias, weights.down_bias)
    usable = (
        _gemv is not None and hasattr(_gemv, "decoder_layers") and not hasattr(attention, "q_norm")
        and q_heads % kv_heads == 0 and head_dim % 2 == 0
        and all(_f32_cpu(t) and t.stride(1) == 1 for t in matrices)
        and all(_f32_cpu(b) and (b is None or b.is_contiguous()) for b in biases)
        and all(_f32_cpu(n.weight) and n.weight.is_contiguous() for n in norms)
    )
    if usable:
        if pack and packing_wanted(sum(m.numel() for m in matrices) * 4):
            packed = tuple(pack_panels(m) for m in matrices)
            qkv, o, gate_up, down = packed
            strides = tuple(p.stride(0) for p in packed)
        else:
            qkv, o, gate_up, down = matrices
            strides = tuple(m.stride(0) for m in matrices)
        plan = _gemv.layer_plan(
            matrices[1].shape[1], q_heads, kv_heads, head_dim, mlp.down_proj.in_features,
            float(norms[0].variance_epsilon), float(norms[1].variance_epsilon), float(attention.scaling),
            norms[0].weight.data_ptr(), norms[1].weight.data_ptr(),
            qkv.data_ptr(), _pointer(biases[0]), strides[0], o.data_ptr(), _pointer(biases[1]), strides[1],
            gate_up.data_ptr(), _pointer(biases[2]), strides[2], down.data_ptr(), _pointer(biases[3]), strides[3],
            packed is not None,
        )
    # the entry keeps the packed copies alive; its last item: packing was tried (done or not allowed)
    layer.__dict__[_PLAN_ATTRIBUTE] = (weights, key, plan, packed, pack)
    return plan


def _rope_row_stride(table: torch.Tensor, batch: int, head_dim: int) -> int | None:
    """Row stride of a (batch or 1, 1, 1, head_dim) rotary table, 0 when shared by all rows; None otherwise."""
    if (table.dim() != 4 or table.dtype != torch.float32 or tuple(table.shape[1:]) != (1, 1, head_dim)
            or table.stride(3) != 1 or table.shape[0] not in (1, batch)):
        return None
    return 0 if table.shape[0] == 1 else table.stride(0)


class _StepInputs(NamedTuple):
    """What every layer of one decode step passes to the kernel besides its own weights and cache."""

    cos: torch.Tensor  # kept so the identity check below stays valid
    signed_sin: torch.Tensor
    mask: torch.Tensor | None
    batch: int
    head_dim: int
    rope_stride: int
    mask_length: int | None  # the key length the mask covers (None: no mask)
    mask_stride: int


_last_step: list[_StepInputs | None] = [None]


def _step_inputs(cos, signed_sin, mask, batch: int, head_dim: int) -> _StepInputs | None:
    """Validate the step's rotary tables and mask once per step (all layers share them); None when the C layer
    cannot take them (then every layer of the step uses the torch ops)."""
    last = _last_step[0]
    if (last is not None and last.cos is cos and last.signed_sin is signed_sin and last.mask is mask
            and last.batch == batch and last.head_dim == head_dim):
        return last
    rope_stride = _rope_row_stride(cos, batch, head_dim)
    if rope_stride is None or _rope_row_stride(signed_sin, batch, head_dim) != rope_stride:
        return None
    mask_length = mask_stride = None
    if mask is None:
        mask_stride = 0
    elif (mask.dtype == torch.float32 and mask.device.type == "cpu" and mask.dim() == 4
          and tuple(mask.shape[1:3]) == (1, 1) and mask.shape[0] in (1, batch) and mask.stride(3) == 1):
        mask_length, mask_stride = mask.shape[3], 0 if mask.shape[0] == 1 else mask.stride(0)
    if mask_stride is None:
        return None
    inputs = _StepInputs(cos, signed_sin, mask, batch, head_dim, rope_stride, mask_length, mask_stride)
    _last_step[0] = inputs
    return inputs


_CACHE_TYPES = (DynamicCache, StaticCache)  # caches whose update returns views of their own storage
_placeholders: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor]] = {}


def _placeholder(batch: int, kv_heads: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(keys, values) of shape (batch, kv_heads, 1, head_dim) that `cache.update` copies into the new slot."""
    pair = _placeholders.get((batch, kv_heads, head_dim))
    if pair is None:
        with torch.inference_mode(False):  # usable under no_grad and inference_mode alike
            pair = torch.zeros((2, batch, kv_heads, 1, head_dim)).unbind(0)
        _placeholders[(batch, kv_heads, head_dim)] = pair
    return pair


def _step_applies(hidden_states, batch, cache) -> bool:
    """The conditions every C decode call shares: one token per row, those of the small-batch products
    (`_small_rows_apply`), a DynamicCache/StaticCache or none."""
    return (hidden_states.shape[0] == batch and _small_rows_apply(hidden_states, hidden_states.shape[-1])
            and (cache is None or type(cache) in _CACHE_TYPES))


def _slot_prefix(keys: torch.Tensor, values: torch.Tensor) -> tuple:
    """(keys pointer, 3 strides, values pointer, 3 strides) of a layer's cache views or buffers, as the kernel
    reads them; `_reserve_slot` adds kv_len."""
    return (keys.data_ptr(), *keys.stride()[:3], values.data_ptr(), *values.stride()[:3])


def _reserve_slot(cache, layer_idx, batch, kv_heads, head_dim, kv_len, like) -> tuple:
    """Reserve the new token's cache position of a layer; (keys pointer, 3 strides, values pointer, 3 strides,
    kv_len) for the C layer, which writes the rotated key and the value there."""
    if cache is None or kv_len == 1:
        # a cache seeing its first token stores the tensors it is given: two distinct new ones
        keys, values = like.new_empty((2, batch, kv_heads, 1, head_dim)).unbind(0)
    else:  # the cache copies the placeholder's (meaningless) values into the new slot, if it copies
        keys, values = _placeholder(batch, kv_heads, head_dim)
    if type(cache) is DynamicCache:
        keys, values = cache.reserve_token(keys, values, layer_idx)
    elif cache is not None:
        keys, values = cache.update(keys, values, layer_idx)
    if (keys.shape != (batch, kv_heads, kv_len, head_dim) or values.shape != keys.shape or keys.stride(3) != 1
            or values.stride(3) != 1):
        raise ModelError(f"{type(cache).__name__}.update returned keys of shape {tuple(keys.shape)} for layer "
                         f"{layer_idx}, expected {(batch, kv_heads, kv_len, head_dim)}")
    return (*_slot_prefix(keys, values), kv_len)


def _decode_call(plan, layer_idx, kv_heads, head_dim, threads, hidden_states, batch, attention_mask, cos,
                 signed_sin, cache):
    """One layer's `_gemv.decoder_layers` call for its plan (see `decode_layer_step`); None when it does not apply.

    The new token's cache slot is reserved first (`_reserve_slot`), and the kernel writes the rotated key and
    the value into it, so the cache holds exactly what the torch path would have appended."""
    if not _step_applies(hidden_states, batch, cache):
        return None
    step = _step_inputs(cos, signed_sin, attention_mask, batch, head_dim)
    if step is None:
        return None
    kv_len = 1 if cache is None else cache.get_seq_length(layer_idx) + 1
    if step.mask_length is not None and step.mask_length != kv_len:
        return None
    slot = _reserve_slot(cache, layer_idx, batch, kv_heads, head_dim, kv_len, hidden_states)
    out = torch.empty_like(hidden_states)
    _gemv.decoder_layers((plan,), hidden_states.data_ptr(), out.data_ptr(), batch, cos.data_ptr(),
                         signed_sin.data_ptr(), step.rope_stride, (slot,), _pointer(attention_mask), step.mask_stride,
                         threads)
    return out


# ---------------------------------------------------------------------------------------------------------------
# The per-layer memo of decode steps
# ---------------------------------------------------------------------------------------------------------------
_ENTRY_ATTRIBUTE = "_snuggle_decode_entry"


class _DecodeEntry(NamedTuple):
    """What the C decode calls need of a layer, and the `_layer_state` it was checked against."""

    state: tuple
    plan: object  # the `layer_plan` capsule; None: the layer cannot take the C path (until its state changes)
    layer_idx: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    threads: int = 1
    weights: LayerWeights | None = None  # keeps the fused weights (and, through the plan cache, packed copies) alive
    pack: bool = False  # built with packing requested (packed, or not allowed: see `layer_plan`)


def _layer_state(layer: nn.Module) -> tuple | None:
    """Everything a layer's decode entry depends on, read in one pass: the submodules (identity), their hooks,
    the projections' parameters (storage and in-place version), the norms' weights and epsilons. None when a
    hook is set (then the layer takes the checked path). Global hooks are checked by the caller."""
    modules = layer._modules
    attention, mlp = modules["self_attn"], modules["mlp"]
    norm1, norm2 = modules["input_layernorm"], modules["post_attention_layernorm"]
    attention_modules, mlp_modules = attention._modules, mlp._modules
    state = [attention, mlp, norm1, norm2, mlp_modules.get("act_fn") or mlp.__dict__.get("act_fn"),
             norm1._parameters["weight"].data_ptr(), norm2._parameters["weight"].data_ptr(),
             norm1.variance_epsilon, norm2.variance_epsilon]
    for module in (layer, attention, mlp, norm1, norm2):
        if module._forward_hooks or module._forward_pre_hooks:
            return None
    for modules, names in zip((attention_modules, mlp_modules), _PROJECTIONS):
        for name in names:
            linear = modules[name]
            if linear._forward_hooks or linear._forward_pre_hooks:
                return None
            parameters = linear._parameters
            weight, bias = parameters["weight"], parameters["bias"]
            state += (linear, weight.data_ptr(), _version(weight), None if bias is None else bias.data_ptr())
    return tuple(state)


def decode_layers_possible() -> bool:
    """Whether a decode step may try `decode_layer_step` at all: the extension is built, torch runs on one thread
    (generate's decode loop) and no global module hook is set (they would be skipped)."""
    return (_gemv is not None and torch.get_num_threads() == 1 and not _module_globals._global_forward_hooks
            and not _module_globals._global_forward_pre_hooks)


def _decode_entry(layer: nn.Module, pack: bool = False) -> _DecodeEntry | None:
    """A layer's entry for the C decode calls, or None when the layer cannot take them.

    The checks of `fast_path_available`, `layer_weights` and `layer_plan` are memoized per layer: while nothing
    they depend on changed (`_layer_state`), this costs one comparison; otherwise (or when `pack` is asked of an
    entry built without it) they run again. Global hooks are the caller's to check (`decode_layers_possible`)."""
    state = _layer_state(layer)
    if state is None:
        return None
    entry = layer.__dict__.get(_ENTRY_ATTRIBUTE)
    if entry is not None and entry.state == state and (entry.pack or not pack):
        return entry if entry.plan is not None else None
    pack = pack or (entry is not None and entry.pack)
    entry = None
    if fast_path_available(layer):
        weights = layer_weights(layer)
        plan = None if weights is None else layer_plan(layer, weights, pack)
        if plan is not None:
            attention = layer._modules["self_attn"]
            threads = 2 if weights.gate_up_weight.numel() >= DECODE_TWO_THREADS_MIN_FLOATS else 1
            # the state after fusing (the parameters now point into the fused weights)
            entry = _DecodeEntry(_layer_state(layer), plan, attention.layer_idx, attention.num_key_value_heads,
                                 attention.head_dim, threads, weights, pack)
    layer.__dict__[_ENTRY_ATTRIBUTE] = entry if entry is not None else _DecodeEntry(state, None, pack=pack)
    return entry


def decode_layer_step(layer: nn.Module, hidden_states, batch, attention_mask, cos, signed_sin, cache,
                      pack: bool = False):
    """`fast_layer_forward` of a decode step (one token per row) through the C layer, its checks memoized
    (`_decode_entry`). None when the C layer does not take the step (the caller then takes the checked path).
    Call only when `decode_layers_possible()`; `pack`: see `pack_requested`."""
    entry = _decode_entry(layer, pack)
    if entry is None:
        return None
    return _decode_call(entry.plan, entry.layer_idx, entry.kv_heads, entry.head_dim, entry.threads, hidden_states,
                        batch, attention_mask, cos, signed_sin, cache)


SESSION_ATTRIBUTE = "_snuggle_decode_session"


def session_rotary_rows(session: dict, rotary: nn.Module, like: torch.Tensor, position: int):
    """`rotary_tables` of one decode step at `position` (every row of the batch there), as views of a table made
    once per generate() call (`session`, see LlamaForCausalLM._decode_session) for every position it can reach;
    None for a "dynamic" RoPE, whose frequencies depend on the length.

    Per step this replaces ~13 small torch ops (angles, cos, sin, scaling, signed sin), each of which costs ~50
    us right after a step has streamed the weights through the caches. The table holds the same values: the
    same elementwise ops on more positions (checked bit for bit in the tests)."""
    if getattr(rotary, "rope_type", None) == "dynamic":
        return None
    inv_freq = rotary.inv_freq
    key = (inv_freq.data_ptr(), _version(inv_freq), float(rotary.attention_scaling), like.dtype, like.device)
    table = session.get("rotary")
    if table is None or table[0] != key or position >= table[1].shape[1]:
        length = position + 1 + max(session.get("steps", 0), 0)
        cos, sin = rotary(like, torch.arange(length, device=like.device).unsqueeze(0))
        table = (key, *rotary_tables(cos, sin))  # each (1, length, 1, head_dim)
        session["rotary"] = table
    return table[1].narrow(1, position, 1), table[2].narrow(1, position, 1)


def _session_entries(layers, session: dict | None) -> list[_DecodeEntry] | None:
    """Every layer's decode entry (`_decode_entry`), checked at a generate() call's first step and reused by its
    later ones (`session`); None when a layer cannot take the C path."""
    reused = session.get("entries") if session is not None else None
    if reused is not None and reused[0] is layers:
        return reused[1]
    pack = pack_requested(session)
    entries = []
    for layer in layers:
        entry = _decode_entry(layer, pack)
        if entry is None:
            return None
        entries.append(entry)
    if session is not None:
        session["entries"] = (layers, entries)
    return entries


def decode_layers_step(layers, hidden_states, batch, attention_mask, cos, signed_sin, cache, session=None):
    """Every layer of a decode step in one `_gemv.decoder_layers` call (no Python between layers: at a few tens of
    microseconds per layer, with the caches cold from streaming the weights, that was ~10% of a SmolLM2 step).
    All layers share `attention_mask`. None, with the cache untouched, when any layer or the step cannot take
    it: the caller then runs the layers one by one. Call only when `decode_layers_possible()`.

    `session`: a dict that lives for one generate() call (LlamaForCausalLM._decode_session); the layers' checks
    (`_decode_entry`) run at its first step only, and later steps reuse their result. It also decides whether
    the layers use packed weights (`pack_requested`).
    """
    entries = _session_entries(layers, session)
    if not entries or not hasattr(_gemv, "decoder_layers") or not _step_applies(hidden_states, batch, cache):
        return None
    head_dim = entries[0].head_dim
    step = _step_inputs(cos, signed_sin, attention_mask, batch, head_dim)
    if step is None:
        return None
    kv_lens = []
    for entry in entries:  # every check before the first slot is reserved
        kv_len = 1 if cache is None else cache.get_seq_length(entry.layer_idx) + 1
        if entry.head_dim != head_dim or (step.mask_length is not None and step.mask_length != kv_len):
            return None
        kv_lens.append(kv_len)
    slots = tuple(_reserve_slot(cache, entry.layer_idx, batch, entry.kv_heads, head_dim, kv_len, hidden_states)
                  for entry, kv_len in zip(entries, kv_lens))
    out = torch.empty_like(hidden_states)
    _gemv.decoder_layers(tuple(entry.plan for entry in entries), hidden_states.data_ptr(), out.data_ptr(), batch,
                         cos.data_ptr(), signed_sin.data_ptr(), step.rope_stride, slots, _pointer(attention_mask),
                         step.mask_stride, max(entry.threads for entry in entries))
    return out


class DecodeLoop:
    """The decode steps of one generate() call with as little outside the C kernels as they allow.

    Around its C layers, a decode step through the modules (LlamaForCausalLM.forward) runs ~1.5 ms of Python and
    small torch ops on SmolLM2: output objects, masks, positions, and two new cache views per layer; right after
    the weights streamed through the CPU caches, each of them runs cold. A step here is the embedding row and one
    `decoder_layers` call, which also applies the final norm and the LM head (`_fused_head`). The cache's buffers
    get room for every step of the call, LOOP_ROOM tokens at a time (`DynamicCache._buffers_with_room`; a call
    allowed many tokens that stops early at eos does not hold room for all of them), the kernel writes each new
    key and value there, and `close` sets the cache's views to the length reached (the caller closes it in a
    `finally`).

    Made by `decode_loop` (LlamaForCausalLM._decode_loop checks the model first). `step` returns None when the
    step cannot take this path, before changing anything; the caller then closes the loop and calls the model.
    """

    LOOP_ROOM = 256  # tokens of cache room made at a time

    def __init__(self, embedding_weight, entries, norm, lm_head, rope, cache, rows, length, capacity, limit,
                 prefixes, pack):
        self.embedding_weight, self.norm, self.lm_head = embedding_weight, norm, lm_head
        self.cache, self.rows = cache, rows
        # the call's rotary table (`session_rotary_rows`, made at the start for every step), read by address:
        # position p's rows start p * row_bytes after the first
        self.rope, self.rope_stride, self.row_bytes = rope[:2], rope[2], rope[0].stride(1) * rope[0].element_size()
        self.layer_ids = [entry.layer_idx for entry in entries]
        self.plans = tuple(entry.plan for entry in entries)
        self.head_dim = entries[0].head_dim
        self.threads = max(entry.threads for entry in entries)
        self.pack = pack
        self.length, self.capacity, self.limit, self.prefixes = length, capacity, limit, prefixes
        self.start_length = length
        self.vocab = lm_head.weight.shape[0]  # the logits' columns
        self.out = None  # the layers' output, reused from step to step
        # the final norm and LM head inside the layers' call: the tensors (kept alive) and decoder_layers' head
        # arguments before the logits address
        self.head = _fused_head(norm, lm_head, pack)
        self.head_arguments = None
        if self.head is not None:
            norm_weight, eps, head_weight, ldw, columns, packed = self.head
            self.head_arguments = (norm_weight.data_ptr(), eps, head_weight.data_ptr(), ldw, columns, packed)
        self.token_buffers = None  # step_token's (input, output, logits) buffers and their addresses
        # step_greedy's (q, scale, bound) from screen_head and decoder_layers' screen prefix; False: none
        self.screen = None

    def _room(self) -> bool:
        """Whether the cache has room for one more token (made when the call's limit allows)."""
        return self.length < self.capacity or self._grow()

    def _layers(self, x: int, out: int, *head) -> int | None:
        """One `decoder_layers` call from the input at address x to out (then, given its arguments, the head; with
        a screen, the token it returns): every layer writes the new token's key and value at position `length`,
        which then advances."""
        kv_len = self.length + 1
        offset = self.length * self.row_bytes
        chosen = _gemv.decoder_layers(self.plans, x, out, self.rows, self.rope[0].data_ptr() + offset,
                                      self.rope[1].data_ptr() + offset, self.rope_stride,
                                      tuple((*prefix, kv_len) for prefix in self.prefixes), 0, 0, self.threads, *head)
        self.length = kv_len
        return chosen

    def step(self, token_ids: torch.Tensor) -> torch.Tensor | None:
        """(rows, vocab) float32 logits after the tokens `token_ids` (rows, 1); None (nothing done) when the step
        cannot take this path."""
        if token_ids.shape != (self.rows, 1) or not self._room():
            return None
        hidden = F.embedding(token_ids.view(-1), self.embedding_weight)
        if not _step_applies(hidden, self.rows, self.cache):
            return None
        out = self.out
        if out is None or out.shape != hidden.shape:
            out = self.out = torch.empty_like(hidden)
        if self.head_arguments is not None:
            logits = torch.empty((self.rows, self.vocab), dtype=torch.float32)
            self._layers(hidden.data_ptr(), out.data_ptr(), *self.head_arguments, logits.data_ptr())
            return logits
        self._layers(hidden.data_ptr(), out.data_ptr())
        normed = _rms_norm(self.norm, out)
        logits = lm_head_matmul(normed, self.lm_head, self.pack)
        return logits if logits is not None else self.lm_head(normed)

    def step_token(self, token: int) -> torch.Tensor | None:
        """`step` for one row whose token is given as an int, without a torch op: the embedding row is copied by
        C (`_gemv.copy_row`) and the logits land in a buffer reused from step to step, so the caller must be done
        with them before the next step (generate's greedy loop reads them once, `fast_sampling.greedy_token`).
        None (nothing done) when this does not apply: several rows, the head outside the call, a token outside
        the embedding, a non-float32 embedding."""
        if not self._token_applies(token):
            return None
        self._token_layers(token)
        return self.token_buffers[0][2]

    def _token_applies(self, token: int) -> bool:
        """Whether a step can start from `token` as an int (step_token, step_greedy); makes cache room."""
        weight = self.embedding_weight
        return (self.rows == 1 and self.head_arguments is not None and 0 <= token < weight.shape[0]
                and _f32_cpu(weight) and self._room())

    def _token_layers(self, token: int, *screen) -> int | None:
        """The step from `token`: its embedding row copied by C into a buffer reused from step to step, then the
        layers and the head into the reused logits buffer (with a screen, the token they pick: `_layers`)."""
        if self.token_buffers is None:
            hidden = self.embedding_weight.shape[1]
            buffers = (torch.empty((1, hidden), dtype=torch.float32), torch.empty((1, hidden), dtype=torch.float32),
                       torch.empty((1, self.vocab), dtype=torch.float32))
            self.token_buffers = (buffers, tuple(buffer.data_ptr() for buffer in buffers))
        _, (x, out, logits_address) = self.token_buffers
        weight = self.embedding_weight
        _gemv.copy_row(weight.data_ptr() + token * weight.stride(0) * 4, weight.stride(1), weight.shape[1], x)
        return self._layers(x, out, *self.head_arguments, logits_address, *screen)

    def step_greedy(self, token: int, bans: list, out_address: int) -> int | None:
        """`step_token`, then the greedy choice after it: the argmax of the logits once the `bans` (pairs from
        LogitsProcessor._banned, or None) are -inf, stored as int64 at out_address and returned. The LM head's
        int8 screen (`screen_head`) bounds every logit, so only the few that can be the largest are computed in
        fp32 (screened_head in _decode_layer.c); the token equals torch.argmax over all of them. None (nothing
        done) when this does not apply: step_token's conditions, no screen, more than 8 ban lists."""
        if self.screen is None:  # looked up once per call
            screen = screen_head(self.lm_head, self.pack) if self.head_arguments is not None else None
            self.screen = False
            if screen is not None:
                q, scale, bound = screen
                self.screen = (screen, (q.data_ptr(), q.stride(0), scale.data_ptr(), bound.data_ptr()))
        if not self.screen:
            return None
        listed = tuple(pair for pair in bans if pair is not None and pair[1])
        if len(listed) > 8 or not self._token_applies(token):
            return None
        return self._token_layers(token, (*self.screen[1], listed, out_address))

    def _grow(self) -> bool:
        """LOOP_ROOM more tokens of room (up to the call's limit), the cache's views set first."""
        if self.capacity >= self.limit:
            return False
        self.close()
        capacity = min(self.limit, self.capacity + self.LOOP_ROOM)
        prefixes = []
        for layer_idx in self.layer_ids:
            buffers = self.cache._buffers_with_room(layer_idx, capacity)
            if buffers is None:
                return False
            prefixes.append(_slot_prefix(*buffers))
        self.capacity, self.prefixes = capacity, tuple(prefixes)
        return True

    def close(self) -> None:
        """Set the cache's views to the tokens written (idempotent)."""
        if self.length != self.start_length:
            for layer_idx in self.layer_ids:
                self.cache._set_length(layer_idx, self.length)
            self.start_length = self.length


def _fused_head(norm: nn.Module, lm_head: nn.Linear, pack: bool) -> tuple | None:
    """(norm weight, eps, head weight, ldw, outputs, packed) for `_gemv.decoder_layers` to apply the final RMSNorm
    and the LM head after the last layer: the head's packed copy (`packed_head`) or its input-major weight, as
    `lm_head_matmul` reads them; None when they do not fit (the step then runs them itself)."""
    weight, head = norm.weight, lm_head.weight
    if (not _f32_cpu(weight) or weight.dim() != 1 or not weight.is_contiguous() or not _f32_cpu(head)
            or head.dim() != 2 or weight.shape[0] != head.shape[1]):
        return None
    eps = float(norm.variance_epsilon)
    packed = packed_head(lm_head, pack)
    if packed is not None:
        return weight, eps, packed, packed.stride(0), head.shape[0], True
    make_input_major(lm_head)
    weight_t = lm_head.weight.t()
    if weight_t.stride(1) != 1 or weight_t.stride(0) < weight_t.shape[1]:
        return None
    return weight, eps, weight_t, weight_t.stride(0), weight_t.shape[1], False


def decode_loop(embedding_weight, layers, norm, lm_head, rotary, cache, session, rows: int,
                steps: int) -> DecodeLoop | None:
    """A `DecodeLoop` for up to `steps` one-token steps of `rows` rows after what `cache` holds, or None when
    its conditions do not hold: the C layers take every layer (`_session_entries`), torch on one thread, a
    DynamicCache holding the same number of tokens for each layer, plain 4D float32 buffers."""
    if (session is None or not hasattr(_gemv, "decoder_layers") or not decode_layers_possible()
            or type(cache) is not DynamicCache or not 0 < rows <= SMALL_MATMUL_MAX_ROWS or steps < 1):
        return None
    entries = _session_entries(layers, session)
    if not entries or any(entry.head_dim != entries[0].head_dim for entry in entries):
        return None
    lengths = {cache.get_seq_length(entry.layer_idx) for entry in entries}
    if len(lengths) != 1 or min(lengths) < 1:
        return None
    length = lengths.pop()
    limit = length + steps
    capacity = min(limit, length + DecodeLoop.LOOP_ROOM)
    rope = session_rotary_rows(session, rotary, embedding_weight, length)  # made for every position of the call
    if rope is None:
        return None
    table = session["rotary"]
    step = _step_inputs(rope[0], rope[1], None, rows, entries[0].head_dim)
    if (step is None or table[1].shape[1] < limit or table[1].stride() != table[2].stride()
            or table[1].dtype != torch.float32 or table[2].dtype != torch.float32):
        return None
    prefixes = []
    for entry in entries:
        buffers = cache._buffers_with_room(entry.layer_idx, capacity)
        if buffers is None:
            return None
        keys, values = buffers
        if (keys.shape[:2] != (rows, entry.kv_heads) or keys.shape[3] != entry.head_dim or values.shape != keys.shape
                or keys.dtype != torch.float32 or values.dtype != torch.float32 or keys.device.type != "cpu"
                or keys.stride(3) != 1 or values.stride(3) != 1):
            return None
        prefixes.append(_slot_prefix(keys, values))
    return DecodeLoop(embedding_weight, entries, norm, lm_head, (table[1], table[2], step.rope_stride), cache, rows,
                      length, capacity, limit, tuple(prefixes), pack_requested(session))


def fast_layer_forward(
    layer: nn.Module,
    hidden_states: torch.Tensor,
    batch: int,
    attention_mask: torch.Tensor | None,
    cos: torch.Tensor,
    signed_sin: torch.Tensor,
    cache,
) -> torch.Tensor | None:
    """One decoder layer without autograd, module calls or per-head ops; None when the layer cannot take it.

    hidden_states (batch * seq, hidden), kept 2D between layers; cos/signed_sin from `rotary_tables`, shared
    by all layers of the step; `attention_mask` is the SDPA mask of `causal_attention_mask` (None = causal /
    attend to everything), preferably made additive once per step with `sdpa_additive_mask`.
    Call only when `fast_path_available(layer)`. Decode steps that the C layer can take go to
    `decode_layers_step` / `decode_layer_step` first (LlamaModel.forward).
    """
    weights = layer_weights(layer)
    if weights is None:
        return None
    attention = layer.self_attn
    seq_len = hidden_states.shape[0] // batch
    head_dim = attention.head_dim
    q_heads, kv_heads = attention.num_heads, attention.num_key_value_heads

    # attention block: (batch * seq, (q_heads + 2 kv_heads) * head_dim)
    normed = _rms_norm(layer.input_layernorm, hidden_states)
    projected = _linear(normed, weights.qkv_weight, weights.qkv_bias)
    # (batch, seq, q_heads + kv_heads, head_dim) and (batch, seq, kv_heads, head_dim) views
    query_key, value = projected.view(batch, seq_len, q_heads + 2 * kv_heads, head_dim).split_with_sizes(
        (q_heads + kv_heads, kv_heads), dim=2
    )
    if hasattr(attention, "q_norm"):
        query_key = torch.cat(
            (attention.q_norm(query_key[:, :, :q_heads]), attention.k_norm(query_key[:, :, q_heads:])), dim=2
        )
    query_key = rotate_queries_and_keys(query_key, cos, signed_sin)
    # (batch, heads, seq, head_dim) views
    query, key = query_key.transpose(1, 2).split_with_sizes((q_heads, kv_heads), dim=1)
    value = value.transpose(1, 2)
    if cache is not None:
        key, value = cache.update(key, value, attention.layer_idx)

    # enable_gqa broadcasts the kv heads inside the kernel (no repeat copies; equal to repeat_kv, with or
    # without a mask)
    attended = F.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, scale=attention.scaling,
        is_causal=attention_mask is None and seq_len > 1, enable_gqa=kv_heads != q_heads,
    )
    # (batch, heads, seq, head_dim) -> (batch * seq, heads * head_dim); a plain view for one token
    if seq_len == 1:
        attended = attended.view(batch, q_heads * head_dim)
    else:
        attended = attended.transpose(1, 2).reshape(batch * seq_len, q_heads * head_dim)
    hidden_states = _residual_linear(hidden_states, attended, weights.o_weight_t, weights.o_bias)

    # MLP block: (batch * seq, 2 * intermediate)
    normed = _rms_norm(layer.post_attention_layernorm, hidden_states)
    gate_and_up = _linear(normed, weights.gate_up_weight, weights.gate_up_bias)
    gate, up = gate_and_up.chunk(2, dim=-1)
    return _residual_linear(hidden_states, F.silu(gate) * up, weights.down_weight_t, weights.down_bias)
