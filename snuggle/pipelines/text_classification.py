"""text-classification / sentiment-analysis: labels and scores for a text (or a text pair).

>>> clf = pipeline("text-classification", model="./minilm-clf")      # doctest: +SKIP
>>> clf("great movie")                                               # doctest: +SKIP
[{'label': 'LABEL_1', 'score': 0.53}]
>>> clf("great movie", top_k=None)                                   # all labels, best first  # doctest: +SKIP
"""

from __future__ import annotations

import inspect

from snuggle.pipelines.base import Pipeline, PipelineError
from snuggle.pipelines.text_inputs import (
    check_length,
    check_tokenizer_kwargs,
    tokenize_texts,
    with_truncation_limit,
)

FUNCTIONS = ("sigmoid", "softmax", "none")


def _apply(function: str, logits):
    import torch

    if function == "sigmoid":
        return torch.sigmoid(logits)
    if function == "softmax":
        # the reference shifts by the max before exp (numpy); torch.softmax is the same up to float rounding
        return torch.softmax(logits, dim=-1)
    return logits


class TextClassificationPipeline(Pipeline):
    """Classify texts with an `AutoModelForSequenceClassification` model."""

    # a text's logits do not depend on its batch mates (padding is masked): batch texts of similar length
    batch_by_length = True
    default_batch_size = 32  # lists run in length-sorted batches unless batch_size is given

    def _sanitize_parameters(self, function_to_apply=None, top_k="", **tokenizer_kwargs):
        check_tokenizer_kwargs("text-classification", self.tokenizer, tokenizer_kwargs)
        if not (top_k == "" or top_k is None or (isinstance(top_k, int) and not isinstance(top_k, bool)
                                                  and top_k >= 1)):
            raise PipelineError(f"top_k must be a positive int or None (all labels), got {top_k!r}")
        postprocess = {}
        # top_k left unset keeps the legacy single-best answer; an int or None asks for a sorted list
        if isinstance(top_k, int) or top_k is None:
            postprocess["top_k"] = top_k
            postprocess["_legacy"] = False
        if function_to_apply is not None:
            name = str(getattr(function_to_apply, "value", function_to_apply)).lower()
            if name not in FUNCTIONS:
                raise PipelineError(f"function_to_apply must be one of {FUNCTIONS}, got {function_to_apply!r}")
            postprocess["function_to_apply"] = name
        return tokenizer_kwargs, {}, postprocess

    def __call__(self, inputs=None, *args, **kwargs):
        result = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, str) and "top_k" not in kwargs:
            return [result]
        return result

    def preprocess_batch(self, inputs: list, **tokenizer_kwargs) -> list:
        # plain texts (the common case) are tokenized in one call; pairs go one by one
        if len(inputs) > 1 and all(isinstance(x, str) for x in inputs):
            return tokenize_texts("text-classification", self.tokenizer, self.model, inputs, tokenizer_kwargs)
        return [self.preprocess(x, **tokenizer_kwargs) for x in inputs]

    def preprocess(self, inputs, **tokenizer_kwargs):
        tokenizer_kwargs = with_truncation_limit(self.tokenizer, self.model, tokenizer_kwargs)
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - {"text", "text_pair"})
            if "text" not in inputs or unknown:
                raise PipelineError(f'text-classification: a text-pair input is {{"text": ..., "text_pair": ...}}; '
                                    f"got the keys {sorted(inputs)}")
            for key, value in inputs.items():
                if not isinstance(value, str):
                    raise PipelineError(f"text-classification: inputs[{key!r}] must be a str, got "
                                        f"{type(value).__name__}")
            encoded = self.tokenizer(**inputs, return_tensors="pt", **tokenizer_kwargs)
        elif isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], list) and len(inputs[0]) == 2:
            encoded = self.tokenizer(text=inputs[0][0], text_pair=inputs[0][1], return_tensors="pt",
                                     **tokenizer_kwargs)
        elif isinstance(inputs, list):
            raise PipelineError('text-classification got a list as one input; send a text pair as '
                                '{"text": "My text", "text_pair": "My pair"}')
        elif not isinstance(inputs, str):
            raise PipelineError(f"text-classification: inputs must be a str, a text-pair dict or a list of them; "
                                f"got {type(inputs).__name__} {inputs!r:.60}")
        else:
            encoded = self.tokenizer(inputs, return_tensors="pt", **tokenizer_kwargs)
        check_length("text-classification", self.model, encoded["input_ids"].shape[-1])
        return encoded

    def _forward(self, model_inputs):
        if "use_cache" in inspect.signature(self.model.forward).parameters:
            model_inputs["use_cache"] = False
        return self.model(**model_inputs)

    def _default_function(self) -> str:
        config = self.model.config
        problem = getattr(config, "problem_type", None)
        if problem == "regression":
            return "none"
        if problem == "multi_label_classification" or config.num_labels == 1:
            return "sigmoid"
        if problem == "single_label_classification" or config.num_labels > 1:
            return "softmax"
        return str(getattr(config, "function_to_apply", "none")).lower()

    def postprocess(self, model_outputs, function_to_apply=None, top_k=1, _legacy=True):
        function_to_apply = function_to_apply or self._default_function()
        scores = _apply(function_to_apply, model_outputs["logits"][0].float())
        id2label = self.model.config.id2label
        if top_k == 1 and _legacy:
            best = int(scores.argmax().item())
            return {"label": id2label[best], "score": scores[best].item()}
        ranked = [{"label": id2label[i], "score": s} for i, s in enumerate(scores.tolist())]
        if not _legacy:
            ranked.sort(key=lambda d: d["score"], reverse=True)
            if top_k is not None:
                ranked = ranked[:top_k]
        return ranked
