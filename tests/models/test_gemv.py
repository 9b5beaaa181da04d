"""The optional `_gemv` kernel equals torch's matmul, and the fast path works without it."""

import pytest
import torch

from snuggle.models import llama_inference
from snuggle.models.llama import LlamaConfig, LlamaForCausalLM

_gemv = llama_inference._gemv  # None when the extension is not built


def _run(x, w_t, init=None):
    rows, depth = x.shape
    out = torch.empty(rows, w_t.shape[1])
    _gemv.gemv(x.data_ptr(), w_t.data_ptr(), out.data_ptr(), rows, depth, w_t.shape[1], w_t.stride(0),
               0 if init is None else init.data_ptr())
    return out


@pytest.mark.skipif(_gemv is None, reason="the C extension is not built (setup.py build_ext)")
@pytest.mark.parametrize("depth,columns", [(576, 960), (37, 5), (1536, 576), (100, 2100), (8, 3), (576, 17)])
def test_kernel_equals_torch_matmul_for_every_batch(depth, columns, kernels):
    generator = torch.Generator().manual_seed(depth * 7 + columns)
    w_t = torch.randn(depth, columns, generator=generator)
    for rows in range(1, 17):
        x = torch.randn(rows, depth, generator=generator)
        torch.testing.assert_close(_run(x, w_t), x @ w_t, rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(_gemv is None, reason="the C extension is not built (setup.py build_ext)")
def test_kernel_accumulates_and_reads_strided_rows(kernels):
    generator = torch.Generator().manual_seed(0)
    wide = torch.randn(300, 1200, generator=generator)
    w_t = wide[:, 100:1123]  # rows 1200 floats apart, 1023 columns
    for rows in (1, 3, 16):
        x = torch.randn(rows, 300, generator=generator)
        residual = torch.randn(rows, 1023, generator=generator)
        expected = residual + x @ w_t
        torch.testing.assert_close(_run(x, w_t, residual), expected, rtol=1e-5, atol=1e-4)
        in_place = residual.clone()
        _gemv.gemv(x.data_ptr(), w_t.data_ptr(), in_place.data_ptr(), rows, 300, 1023, 1200, in_place.data_ptr())
        torch.testing.assert_close(in_place, expected, rtol=1e-5, atol=1e-4)


def _run_packed(x, w_t, init=None, threads=2):
    packed = llama_inference.pack_panels(w_t)
    rows, depth = x.shape
    out = torch.empty(rows, w_t.shape[1])
    _gemv.set_max_threads(threads)
    try:
        _gemv.gemv(x.data_ptr(), packed.data_ptr(), out.data_ptr(), rows, depth, w_t.shape[1], packed.stride(0),
                   0 if init is None else init.data_ptr(), True)
    finally:
        _gemv.set_max_threads(2)
    return out


@pytest.mark.skipif(_gemv is None, reason="the C extension is not built (setup.py build_ext)")
@pytest.mark.parametrize("depth,columns", [(576, 960), (37, 5), (1536, 576), (100, 2100), (8, 3), (576, 17),
                                           (64, 48), (64, 96 + 40), (300, 1023)])
def test_packed_kernel_equals_torch_matmul_for_every_batch(depth, columns, kernels):
    generator = torch.Generator().manual_seed(depth * 11 + columns)
    wide = torch.randn(depth, columns + 7, generator=generator)
    w_t = wide[:, 3:3 + columns]  # strided rows: packing copies any layout
    atol = 1e-4 * max(1.0, depth / 576)  # sums of `depth` products in another order than torch's
    for rows in range(1, 17):
        x = torch.randn(rows, depth, generator=generator)
        residual = torch.randn(rows, columns, generator=generator)
        for threads in (1, 2):
            torch.testing.assert_close(_run_packed(x, w_t, threads=threads), x @ w_t, rtol=1e-5, atol=atol)
        torch.testing.assert_close(_run_packed(x, w_t, residual), residual + x @ w_t, rtol=1e-5, atol=atol)


def test_pack_panels_layout_and_padding():
    w_t = torch.randn(7, 100).t().contiguous().t()  # (7, 100) with column-major strides
    packed = llama_inference.pack_panels(w_t)
    assert packed.shape == (3, 7, 48) and packed.is_contiguous()
    for column in range(100):
        assert torch.equal(packed[column // 48, :, column % 48], w_t[:, column])
    assert not packed[2, :, 4:].any()  # the last panel's padding is zeros


@pytest.mark.skipif(_gemv is None, reason="the C extension is not built (setup.py build_ext)")
def test_kernel_rejects_bad_sizes():
    x = torch.ones(1, 4)
    with pytest.raises(ValueError, match="B <= 16"):
        _gemv.gemv(x.data_ptr(), x.data_ptr(), x.data_ptr(), 17, 4, 4, 4, 0)
    with pytest.raises(ValueError, match="ldw"):
        _gemv.gemv(x.data_ptr(), x.data_ptr(), x.data_ptr(), 1, 4, 4, 2, 0)
    with pytest.raises(ValueError, match="48 K"):  # packed: panels at least 48 * K floats apart
        _gemv.gemv(x.data_ptr(), x.data_ptr(), x.data_ptr(), 1, 4, 4, 100, 0, True)
    with pytest.raises(ValueError, match="kernel sets"):
        _gemv.use_kernels("avx1024")


def _tiny_model():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def test_single_thread_decode_equals_module_path_and_restores_threads():
    model = _tiny_model()
    ids = torch.tensor([[1, 5, 9, 3], [2, 7, 7, 4]])
    threads = torch.get_num_threads()
    out = model.generate(ids, max_new_tokens=6, do_sample=False)
    assert torch.get_num_threads() == threads
    with torch.no_grad(), llama_inference_disabled():
        expected = model.generate(ids, max_new_tokens=6, do_sample=False)
    assert out.tolist() == expected.tolist()
    with torch.no_grad():
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            fast = model(ids[:, :1]).logits
        finally:
            torch.set_num_threads(previous)
    reference = model(ids[:, :1]).logits  # grad enabled: the module path, torch's matmul
    torch.testing.assert_close(fast, reference.detach(), rtol=1e-5, atol=1e-5)


class llama_inference_disabled:
    """Pretend the extension is missing (as without a C compiler)."""

    def __enter__(self):
        self.saved = llama_inference._gemv
        llama_inference._gemv = None

    def __exit__(self, *exc):
        llama_inference._gemv = self.saved


def test_pure_torch_fallback_without_extension(monkeypatch):
    monkeypatch.setattr(llama_inference, "_gemv", None)
    model = _tiny_model()
    assert model._single_thread_decode(1) is False
    ids = torch.tensor([[1, 5, 9, 3]])
    with torch.no_grad():
        assert llama_inference.input_major_matmul(torch.ones(1, 4), torch.ones(4, 3)) is None
        fast = model(ids).logits
    torch.testing.assert_close(fast, model(ids).logits.detach(), rtol=1e-5, atol=1e-5)
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape == (1, 8)


def test_thread_count_restored_on_exception():
    model = _tiny_model()
    threads = torch.get_num_threads()

    def failing(input_ids, scores):
        raise RuntimeError("boom")

    from snuggle.generation.logits_process import LogitsProcessorList
    with pytest.raises(RuntimeError, match="boom"):
        model.generate(torch.tensor([[1, 2]]), max_new_tokens=3, do_sample=False,
                       logits_processor=LogitsProcessorList([failing]))
    assert torch.get_num_threads() == threads


@pytest.mark.skipif(_gemv is None or not hasattr(_gemv, "decoder_layers"),
                    reason="the C extension is not built (setup.py build_ext)")
def test_decoder_layers_rejects_bad_arguments():
    x = torch.ones(1, 4)
    pointer = x.data_ptr()
    with pytest.raises(TypeError, match="same, non-zero length"):
        _gemv.decoder_layers((), pointer, pointer, 1, pointer, pointer, 0, (), 0, 0, 1)
    with pytest.raises(ValueError, match="PyCapsule"):
        _gemv.decoder_layers((object(),), pointer, pointer, 1, pointer, pointer, 0, ((0,) * 9,), 0, 0, 1)
    with pytest.raises(ValueError, match="rows"):
        _gemv.decoder_layers((object(),), pointer, pointer, 17, pointer, pointer, 0, ((0,) * 9,), 0, 0, 1)
