"""Build the optional C fast paths (tokenizers engine, fp32 decode kernels: whole layers and small-batch products;
counter-based dropout for CPU training; exact CPU multinomial sampling).

The extension is optional: when no C compiler is present, snuggle falls back to its
pure-Python reference implementation (same results, slower).
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "snuggle.tokenizers._fast",
            sources=["snuggle/tokenizers/_fast.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=True,
        ),
        Extension(
            "snuggle.tokenizers._fast_wordpiece",
            sources=["snuggle/tokenizers/_fast_wordpiece.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=True,
        ),
        Extension(
            "snuggle.tokenizers._train",
            sources=["snuggle/tokenizers/_train.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=True,
        ),
        Extension(
            "snuggle.models._gemv",
            sources=["snuggle/models/_gemv.c", "snuggle/models/_decode_kernels.c", "snuggle/models/_decode_layer.c"],
            depends=["snuggle/models/_decode.h", "snuggle/models/_argmax.h"],
            extra_compile_args=["-O3", "-std=c11", "-pthread", "-ffp-contract=fast"],
            extra_link_args=["-pthread"],
            optional=True,
        ),
        Extension(
            "snuggle.generation._sample",
            sources=["snuggle/generation/_sample.c"],
            depends=["snuggle/models/_argmax.h"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=True,
        ),
        Extension(
            "snuggle.models._dropout",
            sources=["snuggle/models/_dropout.c"],
            extra_compile_args=["-O3", "-std=c11", "-pthread"],
            extra_link_args=["-pthread"],
            optional=True,
        ),
    ]
)
