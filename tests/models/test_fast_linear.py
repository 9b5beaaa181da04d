"""snuggle.models.fast_linear.Linear: oneDNN for CPU fp32 inference, F.linear everywhere else."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snuggle.models import fast_linear
from snuggle.models.fast_linear import MIN_ROWS, Linear, onednn_applies

needs_onednn = pytest.mark.skipif(not fast_linear._AVAILABLE, reason="this torch build has no oneDNN linear")


@pytest.fixture
def calls(monkeypatch):
    """Counts the products that went to oneDNN."""
    seen = []
    real = torch.ops.mkldnn._linear_pointwise

    class Ops:
        @staticmethod
        def _linear_pointwise(*args):
            seen.append(args[0].shape)
            return real(*args)

    monkeypatch.setattr(fast_linear.torch.ops, "mkldnn", Ops, raising=False)
    return seen


def test_is_an_nn_linear_with_the_same_state():
    torch.manual_seed(0)
    ours, theirs = Linear(8, 5), nn.Linear(8, 5)
    theirs.load_state_dict(ours.state_dict())
    assert isinstance(ours, nn.Linear) and repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == ["weight", "bias"]


@needs_onednn
@pytest.mark.parametrize("shape", [(64, 384), (4, 20, 384), (2, 3, 7, 384)])
@pytest.mark.parametrize("bias", [True, False])
def test_inference_goes_through_onednn_with_f_linear_results(shape, bias, calls):
    torch.manual_seed(1)
    layer = Linear(384, 1536, bias=bias)
    x = torch.randn(shape)
    with torch.no_grad():
        got = layer(x)
    assert calls == [torch.Size(shape)]
    want = F.linear(x, layer.weight, layer.bias)
    assert got.shape == want.shape and got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=5e-5, rtol=1e-5)


@needs_onednn
def test_inference_mode_and_non_contiguous_inputs(calls):
    torch.manual_seed(2)
    layer = Linear(32, 16)
    x = torch.randn(40, 3, 32).transpose(0, 1)  # (3, 40, 32), not contiguous
    with torch.inference_mode():
        got = layer(x)
    assert len(calls) == 1
    torch.testing.assert_close(got, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)


@needs_onednn
def test_training_small_inputs_and_other_dtypes_use_f_linear(calls):
    torch.manual_seed(3)
    layer = Linear(32, 16)
    x = torch.randn(64, 32)
    out = layer(x)  # grad enabled, weight requires grad: autograd needs F.linear
    out.sum().backward()
    assert layer.weight.grad is not None and calls == []
    torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias), atol=0, rtol=0)
    with torch.no_grad():
        layer(torch.randn(MIN_ROWS - 1, 32))  # too few rows to gain
        layer.double()(torch.randn(64, 32, dtype=torch.float64))
    assert calls == []
    frozen = Linear(32, 16).requires_grad_(False)
    frozen(torch.randn(64, 32))  # nothing to record: oneDNN even with grad mode on
    assert len(calls) == 1


@needs_onednn
def test_switch_off_with_the_environment(monkeypatch, calls):
    monkeypatch.setenv("SNUGGLE_TORCH_LINEAR", "1")
    monkeypatch.setattr(fast_linear, "_AVAILABLE", fast_linear._onednn_linear_available())
    x = torch.randn(64, 8)
    assert not onednn_applies(x, torch.randn(4, 8), None)
    with torch.no_grad():
        Linear(8, 4)(x)
    assert calls == []


def test_hooks_still_run():
    layer = Linear(8, 4)
    seen = []
    layer.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    with torch.no_grad():
        layer(torch.randn(32, 8))
    assert seen == [torch.Size([32, 4])]


@needs_onednn
def test_weight_updates_are_seen_at_once():
    """No packed copy is cached: an in-place change through .data is used by the next call."""
    layer = Linear(16, 16)
    x = torch.randn(32, 16)
    with torch.no_grad():
        layer(x)
        layer.weight.data.zero_()
        layer.bias.data.fill_(2.0)
        assert torch.equal(layer(x), torch.full((32, 16), 2.0))


def test_encoder_models_use_it():
    from snuggle.models import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64))
    layer = model.encoder.layer[0]
    for module in (layer.attention.self.query, layer.attention.output.dense, layer.intermediate.dense,
                   layer.output.dense):
        assert type(module) is Linear


@needs_onednn
def test_transposed_weight_views_are_taken(calls):
    """The Llama fused projections are input-major matrices passed as (out, in) transposed views."""
    torch.manual_seed(4)
    input_major = torch.randn(24, 40)
    x = torch.randn(32, 24)
    with torch.no_grad():
        got = fast_linear.linear(x, input_major.t())
    assert len(calls) == 1
    torch.testing.assert_close(got, x @ input_major, atol=1e-5, rtol=1e-5)
    strided = torch.randn(40, 48)[:, ::2]  # (out, in) with neither layout contiguous: F.linear
    with torch.no_grad():
        fast_linear.linear(x, strided)
    assert len(calls) == 1


@needs_onednn
def test_cpu_autocast_keeps_f_linear_dtype_rules(calls):
    layer = Linear(16, 8)
    x = torch.randn(32, 16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    assert calls == [] and out.dtype == torch.bfloat16  # what F.linear gives under autocast


@needs_onednn
@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_zero_input_features_use_f_linear(calls):
    layer = Linear(0, 4)
    with torch.no_grad():
        out = layer(torch.randn(32, 0))
    assert calls == [] and out.shape == (32, 4)


def test_mkl_avx512_reads_the_first_processor(monkeypatch, tmp_path):
    from snuggle.models import fast_linear

    def answer(text):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        real_open = open
        monkeypatch.setattr("builtins.open", lambda file, *a, **k: real_open(path if file == "/proc/cpuinfo" else file,
                                                                            *a, **k))
        fast_linear.mkl_avx512.cache_clear()
        try:
            return fast_linear.mkl_avx512()
        finally:
            monkeypatch.undo()
            fast_linear.mkl_avx512.cache_clear()

    assert answer("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx2 avx512f avx512bw\n")
    assert not answer("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse avx2 avx512f\n")
    assert not answer("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx2\n")
    assert not answer("processor\t: 0\nCPU implementer\t: 0x41\n")  # no vendor_id (ARM)
