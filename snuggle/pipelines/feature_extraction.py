"""feature-extraction: the base model's last hidden state as nested lists (or tensors), plus sentence
embeddings (mean pooling over the attention mask, optional L2 normalisation) as sentence-transformers
computes them for MiniLM.

>>> fe = pipeline("feature-extraction", model="./all-MiniLM-L6-v2")           # doctest: +SKIP
>>> len(fe("hello")[0][0])                                                    # [1][tokens][384]  # doctest: +SKIP
384
>>> fe("hello", pooling="mean", normalize=True)                              # [384] floats  # doctest: +SKIP
"""

from __future__ import annotations

from snuggle.pipelines.base import Pipeline, PipelineError
from snuggle.pipelines.text_inputs import (
    check_length,
    check_text,
    check_tokenizer_kwargs,
    tokenize_texts,
    with_truncation_limit,
)

POOLINGS = ("mean", "cls", "max")


def mean_pooling(last_hidden_state, attention_mask):
    """Average the token vectors where attention_mask is 1 (sentence-transformers' mean pooling)."""
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def pool(last_hidden_state, attention_mask, pooling: str):
    import torch

    if pooling == "mean":
        return mean_pooling(last_hidden_state, attention_mask)
    if pooling == "cls":
        return last_hidden_state[:, 0]
    masked = last_hidden_state.masked_fill(attention_mask.unsqueeze(-1) == 0, torch.finfo(last_hidden_state.dtype).min)
    return masked.max(dim=1).values


class FeatureExtractionPipeline(Pipeline):
    """Hidden states of a base model (`AutoModel`), optionally pooled into one vector per text.

    Each text's hidden states are cut back to its own tokens: with batch_size > 1 transformers also returns
    vectors for the batch's padding positions (so its output changes with batch_size); here it does not.
    """

    # a text's hidden states do not depend on its batch mates (padding is masked): batch by length
    batch_by_length = True
    default_batch_size = 32  # lists run in length-sorted batches unless batch_size is given

    def _sanitize_parameters(self, truncation=None, tokenize_kwargs=None, return_tensors=None, pooling=None,
                             normalize=None, **kwargs):
        tokenize_kwargs = dict(tokenize_kwargs or {})
        tokenize_kwargs.update(kwargs)
        check_tokenizer_kwargs("feature-extraction", self.tokenizer, tokenize_kwargs)
        if truncation is not None:
            if "truncation" in tokenize_kwargs:
                raise PipelineError("truncation given twice (as a keyword and inside tokenize_kwargs)")
            tokenize_kwargs["truncation"] = truncation
        forward, postprocess = {}, {}
        if return_tensors is not None:
            postprocess["return_tensors"] = return_tensors
        if pooling is not None:
            if pooling not in POOLINGS:
                raise PipelineError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
            forward["pooling"] = pooling
        if normalize is not None:
            forward["normalize"] = bool(normalize)
        return tokenize_kwargs, forward, postprocess

    def preprocess_batch(self, inputs: list, **tokenize_kwargs) -> list:
        texts = [check_text("feature-extraction", x) for x in inputs]
        return tokenize_texts("feature-extraction", self.tokenizer, self.model, texts, tokenize_kwargs)

    def preprocess(self, inputs, **tokenize_kwargs):
        text = check_text("feature-extraction", inputs)
        tokenize_kwargs = with_truncation_limit(self.tokenizer, self.model, tokenize_kwargs)
        encoded = self.tokenizer(text, return_tensors="pt", **tokenize_kwargs)
        check_length("feature-extraction", self.model, encoded["input_ids"].shape[-1], text)
        return encoded

    def _forward(self, model_inputs, pooling=None, normalize=False):
        import torch

        hidden = self.model(**model_inputs)[0]
        mask = model_inputs.get("attention_mask")
        if pooling is None and not normalize:
            # the mask lets postprocess drop this text's padding positions
            return {"last_hidden_state": hidden} if mask is None else {"last_hidden_state": hidden,
                                                                        "attention_mask": mask}
        if mask is None:
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        vectors = pool(hidden, mask, pooling or "mean")
        if normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
        return {"sentence_embedding": vectors}

    def postprocess(self, model_outputs, return_tensors=False):
        if "sentence_embedding" in model_outputs:
            vector = model_outputs["sentence_embedding"][0]
            return vector if return_tensors else vector.tolist()
        hidden = model_outputs["last_hidden_state"]
        mask = model_outputs.get("attention_mask")
        if mask is not None and not bool(mask.all()):
            hidden = hidden[0][mask[0].bool()].unsqueeze(0)  # (1, own tokens, hidden), either padding side
        return hidden if return_tensors else hidden.tolist()
