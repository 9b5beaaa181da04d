"""Parity of snuggle's Llama-family decoders (Llama, Mistral, Qwen2, Qwen3; every head) with transformers.

Each test builds a tiny random model in the reference (2 layers, hidden 64, 4 heads, 2 kv heads, vocab 99),
saves it with `save_pretrained`, loads the folder into both libraries and compares, on a left-padded batch
of 16 tokens: logits, every hidden state, the loss with labels and the gradient of every parameter (fp32,
atol 1e-4), for SDPA (and eager with `-m slow`). Mistral runs with a sliding window of 8 (shorter than the sequence), Qwen2
with q/k/v biases and a sliding-window second layer, Qwen3 with q/k norm. Then the checkpoints travel the
other way (our save_pretrained -> reference), sharded too, and incremental decoding is compared.
"""

from __future__ import annotations

import pytest
import torch
import transformers

import snuggle.models.llama as ours
from snuggle.models import auto as snuggle_auto

ATOL = 1e-4
VOCAB, BATCH, SEQ = 99, 2, 16
COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, pad_token_id=0, max_position_embeddings=64)
FAMILIES = {
    "llama": ("Llama", dict(rope_theta=20000.0)),
    "mistral": ("Mistral", dict(sliding_window=8)),
    "qwen2": ("Qwen2", dict(use_sliding_window=True, sliding_window=8, max_window_layers=1)),
    "qwen3": ("Qwen3", dict(head_dim=16, tie_word_embeddings=True)),
}
HEADS = ["Model", "ForCausalLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering"]
FAST_HEADS = {"Model", "ForCausalLM"}  # every family; the other heads of non-llama families run with -m slow


def _cases():
    for implementation in ("sdpa", "eager"):
        for family in FAMILIES:
            for head in HEADS:
                fast = implementation == "sdpa" and (family == "llama" or head in FAST_HEADS)
                marks = () if fast else (pytest.mark.slow,)
                yield pytest.param(family, head, implementation, marks=marks, id=f"{family}-{head}-{implementation}")


def reference_config(family, **overrides):
    prefix, extra = FAMILIES[family]
    return getattr(transformers, prefix + "Config")(**{**COMMON, **extra, **overrides})


def build_reference(family, head, folder, **overrides):
    torch.manual_seed(0)
    config = reference_config(family, num_labels=3, **overrides)
    model = getattr(transformers, FAMILIES[family][0] + head)(config)
    model.save_pretrained(folder)
    return model


def make_inputs(head):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1, VOCAB, (BATCH, SEQ), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, :5] = 0  # left padding
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if head == "ForCausalLM":
        inputs["labels"] = input_ids.masked_fill(attention_mask == 0, -100)
    elif head == "ForSequenceClassification":
        inputs["labels"] = torch.tensor([0, 2])
    elif head == "ForTokenClassification":
        inputs["labels"] = torch.randint(0, 3, (BATCH, SEQ), generator=generator).masked_fill(attention_mask == 0, -100)
    elif head == "ForQuestionAnswering":
        inputs["start_positions"] = torch.tensor([3, 7])
        inputs["end_positions"] = torch.tensor([5, 12])
    return inputs


def run(model, inputs, head):
    """Forward with hidden states, then backward of the loss (or of a fixed projection for the base model)."""
    model.zero_grad()
    out = model(**inputs, output_hidden_states=True)
    if head == "Model":
        weights = torch.linspace(-1, 1, out.last_hidden_state.numel()).view_as(out.last_hidden_state)
        loss = (out.last_hidden_state * weights).sum()
        main = out.last_hidden_state
    else:
        loss = out.loss
        main = out.start_logits if head == "ForQuestionAnswering" else out.logits
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return main.detach(), [h.detach() for h in out.hidden_states], loss.detach(), grads


def assert_same(reference, mine, what):
    torch.testing.assert_close(mine, reference, atol=ATOL, rtol=1e-4, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("family,head,implementation", list(_cases()))
def test_reference_checkpoint_loads_and_matches(family, head, implementation, tmp_path):
    build_reference(family, head, tmp_path)
    reference = getattr(transformers, FAMILIES[family][0] + head).from_pretrained(
        tmp_path, attn_implementation=implementation
    ).eval()
    mine = getattr(ours, FAMILIES[family][0] + head).from_pretrained(tmp_path, attn_implementation=implementation)
    mine.eval()
    assert set(mine.state_dict()) == set(reference.state_dict())
    inputs = make_inputs(head)
    ref_main, ref_hidden, ref_loss, ref_grads = run(reference, inputs, head)
    my_main, my_hidden, my_loss, my_grads = run(mine, inputs, head)
    assert_same(ref_main, my_main, "logits")
    assert len(my_hidden) == len(ref_hidden) == 3
    for i, (a, b) in enumerate(zip(ref_hidden, my_hidden)):
        assert_same(a, b, f"hidden state {i}")
    assert_same(ref_loss, my_loss, "loss")
    assert ref_grads.keys() == my_grads.keys()
    for name in ref_grads:
        assert_same(ref_grads[name], my_grads[name], f"grad {name}")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_auto_classes_pick_the_family(family, tmp_path):
    build_reference(family, "ForCausalLM", tmp_path)
    model = snuggle_auto.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(model).__name__ == FAMILIES[family][0] + "ForCausalLM"
    config = snuggle_auto.AutoConfig.from_pretrained(tmp_path)
    assert type(config).__name__ == FAMILIES[family][0] + "Config"
    assert config.rope_parameters == reference_config(family).rope_parameters
    base = snuggle_auto.AutoModel.from_pretrained(tmp_path)
    assert type(base).__name__ == FAMILIES[family][0] + "Model"


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("shard", [False, True])
def test_our_save_loads_in_the_reference(family, shard, tmp_path):
    torch.manual_seed(0)
    prefix, extra = FAMILIES[family]
    config = getattr(ours, prefix + "Config")(**{**COMMON, **extra})
    mine = getattr(ours, prefix + "ForCausalLM")(config).eval()
    mine.save_pretrained(tmp_path, **({"max_shard_size": "100KB"} if shard else {}))
    if shard:
        assert (tmp_path / "model.safetensors.index.json").exists()
    reference, info = getattr(transformers, prefix + "ForCausalLM").from_pretrained(tmp_path, output_loading_info=True)
    reference.eval()
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert type(reference.config) is type(reference_config(family))
    inputs = make_inputs("ForCausalLM")
    with torch.no_grad():
        a, b = reference(**inputs), mine(**inputs)
    assert_same(a.logits, b.logits, "logits")
    assert_same(a.loss, b.loss, "loss")


@pytest.mark.parametrize("family", ["mistral", "qwen2"])
def test_sharded_reference_checkpoint_loads(family, tmp_path):
    torch.manual_seed(0)
    config = reference_config(family)
    reference = getattr(transformers, FAMILIES[family][0] + "ForCausalLM")(config).eval()
    reference.save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    mine = snuggle_auto.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    inputs = make_inputs("ForCausalLM")
    with torch.no_grad():
        assert_same(reference(**inputs).logits, mine(**inputs).logits, "logits")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_incremental_decoding_matches_reference(family, tmp_path):
    """Prefill 10 left-padded tokens, then decode 6 one by one with the cache, in both libraries."""
    reference = build_reference(family, "ForCausalLM", tmp_path).eval()
    mine = getattr(ours, FAMILIES[family][0] + "ForCausalLM").from_pretrained(tmp_path).eval()
    inputs = make_inputs("ForCausalLM")
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)

    def decode(model):
        with torch.no_grad():
            out = model(ids[:, :10], attention_mask=mask[:, :10], position_ids=positions[:, :10], use_cache=True)
            logits, cache = [out.logits], out.past_key_values
            for t in range(10, SEQ):
                # transformers 5 names the argument `cache` (`past_key_values` is deprecated); snuggle takes both
                out = model(ids[:, t : t + 1], attention_mask=mask[:, : t + 1], position_ids=positions[:, t : t + 1],
                            cache=cache, use_cache=True)
                logits.append(out.logits)
                cache = out.past_key_values
        return torch.cat(logits, dim=1)

    assert_same(decode(reference), decode(mine), "decoded logits")


def test_rope_scaling_configs_match(tmp_path):
    """A llama3-scaled and a linear-scaled checkpoint give the reference's logits (frequencies enter every layer)."""
    for scaling in (
        {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 32},
        {"rope_type": "linear", "factor": 2.0},
        {"rope_type": "dynamic", "factor": 2.0},
    ):
        folder = tmp_path / scaling["rope_type"]
        reference = build_reference("llama", "ForCausalLM", folder, rope_parameters=dict(scaling)).eval()
        mine = ours.LlamaForCausalLM.from_pretrained(folder).eval()
        assert mine.config.rope_parameters == reference.config.rope_parameters
        ids = torch.randint(1, VOCAB, (1, 80), generator=torch.Generator().manual_seed(2))  # beyond 64 positions
        with torch.no_grad():
            assert_same(reference(ids).logits, mine(ids).logits, f"{scaling['rope_type']} logits")
