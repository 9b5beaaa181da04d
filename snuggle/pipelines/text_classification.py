"""text-classification / sentiment-analysis: labels and scores for a text (or a text pair).

>>> clf = pipeline("text-classification", model="./minilm-clf")      # doctest: +SKIP
>>> clf("great movie")                                               # doctest: +SKIP
[{'label': 'LABEL_1', 'score': 0.53}]
>>> clf("great movie", top_k=None)                                   # all labels, best first  # doctest: +SKIP
"""

from __future__ import annotations

import inspect

from snuggle.pipelines.base import Pipeline, PipelineError

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

    def _sanitize_parameters(self, function_to_apply=None, top_k="", **tokenizer_kwargs):
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

    def preprocess(self, inputs, **tokenizer_kwargs):
        if isinstance(inputs, dict):
            return self.tokenizer(**inputs, return_tensors="pt", **tokenizer_kwargs)
        if isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], list) and len(inputs[0]) == 2:
            return self.tokenizer(text=inputs[0][0], text_pair=inputs[0][1], return_tensors="pt", **tokenizer_kwargs)
        if isinstance(inputs, list):
            raise PipelineError('text-classification got a list as one input; send a text pair as '
                                '{"text": "My text", "text_pair": "My pair"}')
        if not isinstance(inputs, str):
            raise PipelineError(f"text-classification expects a str (or text-pair dict), got {type(inputs).__name__}")
        return self.tokenizer(inputs, return_tensors="pt", **tokenizer_kwargs)

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
