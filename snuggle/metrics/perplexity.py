"""perplexity: exp of the mean token negative log-likelihood of each text under a causal LM.

Computed as evaluate's perplexity script does: texts are tokenized without special tokens,
truncated to max_length (minus one when a BOS token is prepended, add_start_token=True),
right-padded per batch, and each text's perplexity is exp(sum of masked token losses / number
of predicted tokens). model_id is a local model folder (loaded with snuggle's
AutoModelForCausalLM and AutoTokenizer) or an already loaded model, then pass tokenizer=.
Nothing is downloaded.

>>> from snuggle.metrics import load
>>> ppl = load("perplexity")
>>> # ppl.compute(predictions=["Hello world"], model_id="path/to/tiny-gpt2")
"""

from __future__ import annotations

import numpy as np

from snuggle.errors import ConfigError, DataError
from snuggle.metrics.base import EvaluationModule


def _load(model_id, tokenizer, device):
    import torch

    if isinstance(model_id, str):
        from snuggle.models import AutoModelForCausalLM
        from snuggle.tokenizers.pretrained import AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(model_id)
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_id)
    else:
        model = model_id
        if tokenizer is None:
            raise ConfigError("perplexity: model_id is a model object; also pass tokenizer=<its tokenizer>")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "gpu":
        device = "cuda"
    elif device not in ("cpu", "cuda"):
        raise ConfigError(f"perplexity: device={device!r}; expected 'cpu', 'cuda' or 'gpu'")
    model = model.to(device)
    model.eval()
    return model, tokenizer, device


def compute_perplexity(texts, model_id, *, tokenizer=None, batch_size=16, add_start_token=True, device=None,
                       max_length=None, progress=False) -> dict:
    """{'perplexities': [one per text], 'mean_perplexity': float}."""
    import torch
    from torch.nn import CrossEntropyLoss

    if not all(isinstance(t, str) for t in texts):
        raise DataError("perplexity: predictions must be a list of strings (the texts to score)")
    if batch_size < 1:
        raise ConfigError(f"perplexity: batch_size must be >= 1, got {batch_size}")
    model, tokenizer, device = _load(model_id, tokenizer, device)
    bos = getattr(tokenizer, "bos_token_id", None)
    if add_start_token and bos is None:
        raise ConfigError("perplexity: add_start_token=True needs a tokenizer with a BOS token; "
                          "use a model that has one or pass add_start_token=False")
    limit = (max_length - 1 if add_start_token else max_length) if max_length else None
    encoded = []
    for i, text in enumerate(texts):
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if limit is not None:
            ids = ids[:limit]
        need = 1 if add_start_token else 2
        if len(ids) < need:
            raise DataError(
                f"perplexity: predictions[{i}] has {len(ids)} token(s); each text needs at least {need}"
                + ("" if add_start_token else " when add_start_token=False (remove empty strings)")
            )
        encoded.append(([bos] if add_start_token else []) + ids)

    loss_fct = CrossEntropyLoss(reduction="none")
    ppls: list[float] = []
    from snuggle.utils.progress import progress_bar

    starts = range(0, len(encoded), batch_size)
    for start in progress_bar(starts, disable=not progress) if progress else starts:
        rows = encoded[start:start + batch_size]
        width = max(len(r) for r in rows)
        # right padding: padded positions come after every real token, so causal attention never sees them
        input_ids = torch.tensor([r + [0] * (width - len(r)) for r in rows], dtype=torch.long, device=device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long, device=device)
        with torch.no_grad():
            logits = model(input_ids, attention_mask=mask).logits
        shift_logits = logits[..., :-1, :].contiguous()
        shift_labels = input_ids[..., 1:].contiguous()
        shift_mask = mask[..., 1:].contiguous()
        nll = (loss_fct(shift_logits.transpose(1, 2), shift_labels) * shift_mask).sum(1) / shift_mask.sum(1)
        ppls += torch.exp(nll).tolist()
    return {"perplexities": ppls, "mean_perplexity": float(np.mean(ppls))}


class Perplexity(EvaluationModule):
    """{'perplexities', 'mean_perplexity'} of texts under a causal language model."""

    name = "perplexity"
    description = "Perplexity of texts under a causal language model (exp of mean token NLL)."
    input_names = ("predictions",)

    def _compute(self, predictions, model_id=None, batch_size=16, add_start_token=True, device=None,
                 max_length=None, tokenizer=None):
        if model_id is None:
            raise ConfigError("perplexity: pass model_id= (a local model folder or a loaded model + tokenizer=)")
        return compute_perplexity(predictions, model_id, tokenizer=tokenizer, batch_size=batch_size,
                                  add_start_token=add_start_token, device=device, max_length=max_length)
