"""Text inputs of the encoder pipelines: type checks, tokenizer keywords, the model's length limit, and
tokenizing a whole list of texts in one tokenizer call.

The per-item path of transformers calls the tokenizer once per text; here `tokenize_texts` encodes a
list with one (batch) call and splits the result into per-item tensors of shape (1, tokens), which the
base class pads per batch. Texts longer than the model can take are a PipelineError that names the item
and says how to truncate, instead of an index error from inside the embeddings.

>>> check_text("text-classification", 3, where="inputs")             # doctest: +SKIP
PipelineError: text-classification: inputs must be a str, got int 3
"""

from __future__ import annotations

from snuggle.pipelines.base import PipelineError

# model types whose position ids start after the padding index (positions 0..pad_id are never used)
_OFFSET_POSITION_MODELS = ("roberta", "xlm-roberta", "camembert")
# keys the fast tokenizer returns that the model consumes; the per-item tensors carry only these
_TENSOR_KEYS = ("input_ids", "token_type_ids", "attention_mask")


def check_text(task: str, value, where: str = "inputs") -> str:
    """`value` itself when it is a str, else a PipelineError naming `where` and the type found."""
    if isinstance(value, str):
        return value
    if value is None:
        raise PipelineError(f"{task}: {where} is missing; pass a str or a list of str")
    raise PipelineError(f"{task}: {where} must be a str, got {type(value).__name__} {_short(value)}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _tokenizer_keywords(tokenizer) -> set[str] | None:
    """Keywords `tokenizer(...)` takes; None when that cannot be known (a foreign tokenizer with **kwargs).
    snuggle's tokenizer takes **kwargs only to log and ignore unknown ones, so its named ones are the list."""
    import inspect

    try:
        params = inspect.signature(type(tokenizer).__call__).parameters.values()
    except (TypeError, ValueError):
        return None
    named = {p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                  inspect.Parameter.KEYWORD_ONLY)}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    if takes_any and not type(tokenizer).__module__.startswith("snuggle."):
        return None
    return (named | {"split_special_tokens", "max_target_length"}) - {"self", "text", "text_pair", "text_target",
                                                                        "text_pair_target"}


def check_tokenizer_kwargs(task: str, tokenizer, kwargs: dict) -> dict:
    """The keywords a pipeline forwards to its tokenizer must be ones the tokenizer takes: a misspelt
    keyword (e.g. `trunaction=True`) is a PipelineError naming it, not silently ignored."""
    if not kwargs or tokenizer is None:
        return kwargs
    accepted = _tokenizer_keywords(tokenizer)
    if accepted is None:
        return kwargs
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise PipelineError(f"{task}: unknown keyword argument(s) {unknown}: neither the pipeline nor its "
                            f"tokenizer takes them (tokenizer keywords: {sorted(accepted)})")
    return kwargs


def model_max_length(model) -> int | None:
    """The longest token sequence `model` can embed (absolute positions), or None when it has no such limit."""
    config = getattr(model, "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    if getattr(config, "position_embedding_type", "absolute") not in ("absolute", None):
        return limit
    if getattr(config, "model_type", None) in _OFFSET_POSITION_MODELS:
        limit -= (getattr(config, "pad_token_id", None) or 0) + 1
    return limit


def with_truncation_limit(tokenizer, model, tokenizer_kwargs: dict) -> dict:
    """When truncation is asked without max_length and the tokenizer's own model_max_length is larger
    than what the model embeds (or unset), truncate to the model's limit instead."""
    if not tokenizer_kwargs.get("truncation") or tokenizer_kwargs.get("max_length") is not None:
        return tokenizer_kwargs
    limit = model_max_length(model)
    own = getattr(tokenizer, "model_max_length", None)
    if limit is not None and (not isinstance(own, int) or own > limit):
        return {**tokenizer_kwargs, "max_length": limit}
    return tokenizer_kwargs


def check_length(task: str, model, length: int, text=None) -> None:
    """A PipelineError when `length` tokens are more than `model` embeds (naming the text when given)."""
    limit = model_max_length(model)
    if limit is not None and length > limit:
        which = "the input" if text is None else f"the input {_short(text)}"
        raise PipelineError(f"{task}: {which} is {length} tokens long, more than the {limit} tokens "
                            f"{type(model).__name__} can take (config.max_position_embeddings); pass "
                            f"truncation=True to cut it to {limit} tokens, or split the text")


def tokenize_texts(task: str, tokenizer, model, texts: list[str], tokenizer_kwargs: dict) -> list[dict]:
    """Tokenize `texts` in one tokenizer call; one dict of (1, tokens) int64 tensors per text.

    >>> items = tokenize_texts("feature-extraction", tok, model, ["a b", "c"], {})   # doctest: +SKIP
    >>> items[0]["input_ids"].shape                                                 # doctest: +SKIP
    torch.Size([1, 4])
    """
    import torch

    kwargs = with_truncation_limit(tokenizer, model, tokenizer_kwargs)
    encoded = tokenizer(texts, **kwargs)
    keys = [k for k in _TENSOR_KEYS if k in encoded]
    columns = [encoded[k] for k in keys]
    items = []
    for i, ids in enumerate(columns[0]):
        check_length(task, model, len(ids), text=texts[i])
        items.append({k: torch.tensor([column[i]], dtype=torch.long) for k, column in zip(keys, columns)})
    return items
