"""Fixtures shared by the tests of the optional C kernels (test_gemv.py, test_decode_kernel.py)."""

import pytest

from snuggle.models import llama_inference

_gemv = llama_inference._gemv  # None when the extension is not built
KERNEL_SETS = _gemv.kernel_names() if _gemv is not None else []  # e.g. ["avx512f", "avx2", "generic"]


@pytest.fixture(params=KERNEL_SETS)
def kernels(request):
    """Run the test once with every kernel set this CPU can execute, then restore the best one."""
    best = _gemv.kernel_name()
    _gemv.use_kernels(request.param)
    yield request.param
    _gemv.use_kernels(best)


@pytest.fixture(params=["packed", "input-major"])
def packing(request, monkeypatch):
    """Run the test with the decode kernels reading packed copies of the weights, then the weights themselves."""
    monkeypatch.setenv("SNUGGLE_PACKED_WEIGHTS", "1" if request.param == "packed" else "0")
    return request.param
