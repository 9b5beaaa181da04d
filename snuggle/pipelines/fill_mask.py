"""fill-mask: the most likely tokens for each mask token of a text.

>>> fm = pipeline("fill-mask", model="./bert-mlm")                       # doctest: +SKIP
>>> fm("Paris is the [MASK] of France.", top_k=2)                       # doctest: +SKIP
[{'score': 0.9, 'token': 3007, 'token_str': 'capital', 'sequence': 'paris is the capital of france.'}, ...]
"""

from __future__ import annotations

from snuggle.pipelines.base import Pipeline, PipelineError
from snuggle.pipelines.text_inputs import (
    check_length,
    check_text,
    check_tokenizer_kwargs,
    with_truncation_limit,
)


class FillMaskPipeline(Pipeline):
    """Predict masked tokens with an `AutoModelForMaskedLM` model."""

    # one text's predictions do not depend on its batch mates (padding is masked): batch by length
    batch_by_length = True

    def _sanitize_parameters(self, top_k=None, targets=None, tokenizer_kwargs=None):
        if getattr(self.tokenizer, "mask_token_id", None) is None:
            raise PipelineError("fill-mask needs a tokenizer with a mask_token; this tokenizer defines none")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise PipelineError(f"fill-mask: top_k must be a positive int, got {top_k!r}")
        if targets is not None and not (isinstance(targets, str) or (
                isinstance(targets, (list, tuple)) and all(isinstance(t, str) for t in targets))):
            raise PipelineError(f"fill-mask: targets must be a str or a list of str, got {targets!r}")
        preprocess, postprocess = {}, {}
        if tokenizer_kwargs is not None:
            if not isinstance(tokenizer_kwargs, dict):
                raise PipelineError(f"fill-mask: tokenizer_kwargs must be a dict, got {type(tokenizer_kwargs).__name__}")
            check_tokenizer_kwargs("fill-mask", self.tokenizer, tokenizer_kwargs)
            preprocess["tokenizer_kwargs"] = tokenizer_kwargs
        if targets is not None:
            postprocess["target_ids"] = self._target_ids(targets)
        if top_k is not None:
            postprocess["top_k"] = top_k
        return preprocess, {}, postprocess

    def _target_ids(self, targets) -> list[int]:
        """Vocabulary ids of the target words; a word outside the vocabulary uses its first sub-token."""
        targets = [targets] if isinstance(targets, str) else list(targets)
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in targets:
            id_ = vocab.get(target)
            if id_ is None:
                pieces = self.tokenizer(target, add_special_tokens=False, return_attention_mask=False,
                                        return_token_type_ids=False, max_length=1, truncation=True)["input_ids"]
                if not pieces:
                    continue
                id_ = pieces[0]
            ids.append(id_)
        ids = list(set(ids))
        if not ids:
            raise PipelineError(f"fill-mask targets {targets!r}: none of them maps to a vocabulary token")
        return ids

    def __call__(self, inputs=None, *args, **kwargs):
        outputs = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, list) and len(inputs) == 1:
            return outputs[0]
        return outputs

    def preprocess(self, inputs, tokenizer_kwargs=None):
        text = check_text("fill-mask", inputs)
        tokenizer_kwargs = with_truncation_limit(self.tokenizer, self.model, tokenizer_kwargs or {})
        model_inputs = self.tokenizer(text, return_tensors="pt", **tokenizer_kwargs)
        check_length("fill-mask", self.model, model_inputs["input_ids"].shape[-1], text)
        if not (model_inputs["input_ids"] == self.tokenizer.mask_token_id).any():
            raise PipelineError(f"fill-mask: no mask_token ({self.tokenizer.mask_token}) found in the input {inputs!r}")
        return model_inputs

    def _forward(self, model_inputs):
        outputs = dict(self.model(**model_inputs))
        outputs["input_ids"] = model_inputs["input_ids"]
        return outputs

    def postprocess(self, model_outputs, top_k=5, target_ids=None):
        import torch

        if target_ids is not None and len(target_ids) < top_k:
            top_k = len(target_ids)
        input_ids = model_outputs["input_ids"][0]
        masked_index = torch.nonzero(input_ids == self.tokenizer.mask_token_id, as_tuple=False).squeeze(-1)
        probs = model_outputs["logits"][0, masked_index, :].softmax(dim=-1)
        if target_ids is not None:
            probs = probs[..., torch.tensor(target_ids)]
        values, predictions = probs.topk(top_k)
        single_mask = values.shape[0] == 1
        pad_id = self.tokenizer.pad_token_id
        result = []
        for i, (row_values, row_predictions) in enumerate(zip(values.tolist(), predictions.tolist())):
            row = []
            for score, prediction in zip(row_values, row_predictions):
                token = target_ids[prediction] if target_ids is not None else prediction
                tokens = input_ids.clone()
                tokens[masked_index[i]] = token
                kept = [t for t in tokens.tolist() if t != pad_id]
                # with several masks the reference keeps special tokens in "sequence"
                sequence = self.tokenizer.decode(kept, skip_special_tokens=single_mask)
                row.append({"score": score, "token": token, "token_str": self.tokenizer.decode([token]),
                            "sequence": sequence})
            result.append(row)
        return result[0] if single_mask else result
