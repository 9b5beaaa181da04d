"""BertForSequenceClassification skips the last layer's non-[CLS] positions when nothing else is needed:
the logits must equal the full computation (grad enabled), on a padded batch, for eager and SDPA."""

import pytest
import torch

from snuggle.models import BertConfig, BertForSequenceClassification, BertModel


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_shortcut_logits_equal_full_forward(attn):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=64, num_labels=3, attn_implementation=attn)
    model = BertForSequenceClassification(config).eval()
    ids = torch.randint(5, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    full = model(input_ids=ids, attention_mask=mask).logits  # grad enabled: the full path
    assert full.requires_grad
    with torch.inference_mode():
        short = model(input_ids=ids, attention_mask=mask).logits
        with_states = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert torch.allclose(short, full.detach(), atol=1e-6)
    assert torch.allclose(with_states.logits, full.detach(), atol=1e-6)
    assert all(h.shape[1] == 9 for h in with_states.hidden_states)  # no shortcut when states are asked


def test_base_model_pooled_output_only():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64)
    model = BertModel(config).eval()
    ids = torch.randint(5, 100, (2, 7))
    with torch.no_grad():
        full = model(input_ids=ids)
        short = model(input_ids=ids, pooled_output_only=True)
    assert short.last_hidden_state.shape == (2, 1, 32)
    assert torch.allclose(short.last_hidden_state[:, 0], full.last_hidden_state[:, 0], atol=1e-6)
    assert torch.allclose(short.pooler_output, full.pooler_output, atol=1e-6)
