"""Parity of the BERT-family causal-LM heads (BertLMHeadModel, RobertaForCausalLM) with transformers.

Tiny random decoders (is_decoder=True, 2 layers, hidden 32) are built and saved by the reference,
loaded by both libraries and compared on a right-padded batch: logits, the shifted causal-LM loss
and every parameter's gradient (fp32, atol 1e-4), for both attention backends. Incremental decoding
with a DynamicCache must equal one full forward pass (ours, and the reference's cached logits), and
our save_pretrained must load in the reference.
"""

from __future__ import annotations

import pytest
import torch
import transformers

from snuggle.models import AutoModelForCausalLM
from snuggle.models.bert import BertLMHeadModel
from snuggle.models.cache import DynamicCache
from snuggle.models.roberta import RobertaForCausalLM

ATOL = 1e-4
VOCAB = 99
BATCH, SEQ = 3, 7

COMMON = {
    "vocab_size": VOCAB, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 37, "max_position_embeddings": 64, "is_decoder": True,
}
FAMILIES = {
    # family: (reference config, reference model, ours, extra config, pad id)
    "bert": (transformers.BertConfig, transformers.BertLMHeadModel, BertLMHeadModel, {"type_vocab_size": 2}, 0),
    "roberta": (
        transformers.RobertaConfig, transformers.RobertaForCausalLM, RobertaForCausalLM,
        {"type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}, 1,
    ),
}


def build_reference(family, tmp_path, attn_implementation="sdpa"):
    config_class, model_class, _, extra, _ = FAMILIES[family]
    torch.manual_seed(0)
    config = config_class(**COMMON, **extra)
    reference = model_class(config).eval()
    folder = tmp_path / "ref"
    reference.save_pretrained(folder)
    reference = model_class.from_pretrained(folder, attn_implementation=attn_implementation).eval()
    return folder, reference


def padded_batch(pad_id):
    """Right-padded rows of lengths 7, 5, 3 (no token id equals the pad id inside a row); flip for left padding."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, VOCAB, (BATCH, SEQ), generator=generator)
    attention_mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    for row, length in enumerate((7, 5, 3)):
        attention_mask[row, length:] = 0
        input_ids[row, length:] = pad_id
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    return input_ids, attention_mask, labels


def reference_cache(output):
    # transformers 5.x renamed past_key_values to cache; accept either name
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_logits_loss_and_gradients_match(family, attn_implementation, tmp_path):
    folder, reference = build_reference(family, tmp_path, attn_implementation)
    ours = FAMILIES[family][2].from_pretrained(folder, attn_implementation=attn_implementation).eval()
    assert sorted(ours.state_dict()) == sorted(reference.state_dict())
    input_ids, attention_mask, labels = padded_batch(FAMILIES[family][4])

    expected = reference(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    got = ours(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    torch.testing.assert_close(got.logits, expected.logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.loss, expected.loss, atol=ATOL, rtol=0)
    assert got.past_key_values is None  # labels switch the cache off, as in the reference

    expected.loss.backward()
    got.loss.backward()
    reference_params = dict(reference.named_parameters())
    for name, parameter in ours.named_parameters():
        assert parameter.grad is not None, name
        torch.testing.assert_close(parameter.grad, reference_params[name].grad, atol=ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_incremental_decoding_with_cache_equals_full_forward(family, tmp_path):
    folder, reference = build_reference(family, tmp_path)
    ours = FAMILIES[family][2].from_pretrained(folder).eval()
    input_ids = torch.randint(3, VOCAB, (2, SEQ), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = ours(input_ids=input_ids, use_cache=False).logits
        full_reference = reference(input_ids=input_ids, use_cache=False).logits
        torch.testing.assert_close(full, full_reference, atol=ATOL, rtol=0)

        prompt = 4
        cache = DynamicCache()
        step = ours(input_ids=input_ids[:, :prompt], past_key_values=cache, use_cache=True)
        assert step.past_key_values is cache and cache.get_seq_length() == prompt
        pieces = [step.logits]
        reference_out = reference(input_ids=input_ids[:, :prompt], use_cache=True)
        reference_pieces = [reference_out.logits]
        for position in range(prompt, SEQ):
            token = input_ids[:, position : position + 1]
            mask = torch.ones(2, position + 1, dtype=torch.long)
            step = ours(input_ids=token, attention_mask=mask, past_key_values=step.past_key_values)
            pieces.append(step.logits)
            reference_out = reference(input_ids=token, attention_mask=mask, cache=reference_cache(reference_out))
            reference_pieces.append(reference_out.logits)
        assert step.past_key_values.get_seq_length() == SEQ
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.cat(pieces, dim=1), torch.cat(reference_pieces, dim=1), atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_our_save_loads_in_the_reference_and_auto_picks_the_head(family, tmp_path):
    folder, reference = build_reference(family, tmp_path)
    ours = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert type(ours) is FAMILIES[family][2]
    ours.save_pretrained(tmp_path / "ours")
    reloaded = FAMILIES[family][1].from_pretrained(tmp_path / "ours").eval()
    input_ids, attention_mask, _ = padded_batch(FAMILIES[family][4])
    with torch.no_grad():
        expected = reference(input_ids=input_ids, attention_mask=attention_mask).logits
        torch.testing.assert_close(reloaded(input_ids=input_ids, attention_mask=attention_mask).logits, expected,
                                   atol=ATOL, rtol=0)
        torch.testing.assert_close(ours(input_ids=input_ids, attention_mask=attention_mask).logits, expected,
                                   atol=ATOL, rtol=0)


def test_cross_attention_is_refused_clearly():
    from snuggle.errors import ModelError
    from snuggle.models.bert import BertConfig

    with pytest.raises(ModelError, match="add_cross_attention"):
        BertLMHeadModel(BertConfig(**COMMON, add_cross_attention=True))


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_left_padding_matches_including_fully_masked_rows(attn_implementation, tmp_path):
    # a left-padded row's first queries see no real key at all; both libraries must agree there too
    folder, reference = build_reference("bert", tmp_path, attn_implementation)
    ours = BertLMHeadModel.from_pretrained(folder, attn_implementation=attn_implementation).eval()
    input_ids, attention_mask, _ = padded_batch(0)
    input_ids, attention_mask = input_ids.flip(-1), attention_mask.flip(-1)
    with torch.no_grad():
        expected = reference(input_ids=input_ids, attention_mask=attention_mask).logits
        got = ours(input_ids=input_ids, attention_mask=attention_mask).logits
    assert not torch.isnan(got).any()
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
