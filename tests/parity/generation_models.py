"""Tiny random models saved by transformers, loaded by both libraries, for the generation parity tests.

Each builder writes a folder (config.json, generation_config.json, model.safetensors) once per
session; `load_pair(kind)` returns (reference model, snuggle model) in eval mode.
"""

from __future__ import annotations

import functools
import tempfile

import torch
import transformers

VOCAB = 48
EOS = 5
PAD = 0

_CAUSAL_CONFIGS = {
    "llama": lambda: transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD, max_position_embeddings=128),
    "gpt2": lambda: transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, eos_token_id=EOS, bos_token_id=EOS),
    "qwen2": lambda: transformers.Qwen2Config(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD, max_position_embeddings=128),
    "mistral": lambda: transformers.MistralConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD, max_position_embeddings=128, sliding_window=None),
    "qwen3": lambda: transformers.Qwen3Config(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, eos_token_id=EOS, pad_token_id=PAD, max_position_embeddings=128),
}
CAUSAL_KINDS = tuple(_CAUSAL_CONFIGS)


@functools.cache
def model_folder(kind: str) -> str:
    """Save a tiny random `kind` model with transformers (seeded) and return the folder."""
    folder = tempfile.mkdtemp(prefix=f"snuggle-gen-{kind}-")
    torch.manual_seed(0)
    if kind == "t5":
        config = transformers.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                       decoder_start_token_id=PAD, eos_token_id=1, pad_token_id=PAD)
        model = transformers.T5ForConditionalGeneration(config)
    else:
        model = transformers.AutoModelForCausalLM.from_config(_CAUSAL_CONFIGS[kind]())
    # Larger weights give peakier distributions, so beams and eos behave less uniformly than at init scale.
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:
                param.mul_(3.0)
    model.save_pretrained(folder)
    return folder


@functools.cache
def load_pair(kind: str):
    """(transformers model, snuggle model) loaded from the same folder."""
    from snuggle.models import AutoModelForCausalLM, T5ForConditionalGeneration

    folder = model_folder(kind)
    if kind == "t5":
        reference = transformers.T5ForConditionalGeneration.from_pretrained(folder).eval()
        ours = T5ForConditionalGeneration.from_pretrained(folder).eval()
    else:
        reference = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
        ours = AutoModelForCausalLM.from_pretrained(folder).eval()
    return reference, ours


def left_padded_batch():
    """Three prompts of different lengths, left-padded with PAD, and their mask."""
    input_ids = torch.tensor([
        [PAD, PAD, PAD, 7, 8, 9],
        [11, 12, 13, 14, 15, 16],
        [PAD, 21, 22, 23, 24, 25],
    ])
    return input_ids, (input_ids != PAD).long()


def encoder_batch():
    """Right-padded encoder inputs (as T5 tokenizers produce) and their mask."""
    input_ids = torch.tensor([[7, 8, 9, 1, PAD, PAD], [11, 12, 13, 14, 15, 1]])
    return input_ids, (input_ids != PAD).long()


def frequent_token(reference, input_ids, attention_mask, step: int = 3) -> int:
    """A token the reference's greedy output produces early (used as eos so that eos stopping happens)."""
    out = reference.generate(input_ids, attention_mask=attention_mask, max_new_tokens=step + 1, do_sample=False,
                             eos_token_id=None, pad_token_id=PAD)
    prompt = 1 if reference.config.is_encoder_decoder else input_ids.shape[1]
    return int(out[0, prompt + step - 1])
