"""zero-shot-classification: rank candidate labels for a text with an NLI model.

Each label becomes a hypothesis ("This example is {label}.") paired with the text as premise; the model's
*entailment* logit says how well the label fits. Without multi_label the entailment logits are softmaxed
across the labels (scores sum to 1); with multi_label (or a single label) each label gets its own softmax
of entailment vs. contradiction.

>>> clf = pipeline("zero-shot-classification", model="./nli-model")          # doctest: +SKIP
>>> clf("The match ended 2-1", candidate_labels=["sports", "politics"])     # doctest: +SKIP
{'sequence': 'The match ended 2-1', 'labels': ['sports', 'politics'], 'scores': [0.93, 0.07]}
"""

from __future__ import annotations

import inspect
import logging

from snuggle.errors import TokenizerError
from snuggle.pipelines.base import PipelineError
from snuggle.pipelines.chunk_pipeline import ChunkPipeline

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "This example is {}."


def parse_candidate_labels(labels) -> list[str]:
    """A list of labels, or one comma-separated string of them.

    >>> parse_candidate_labels("sports, politics ,")
    ['sports', 'politics']
    """
    if isinstance(labels, str):
        return [label.strip() for label in labels.split(",") if label.strip()]
    if isinstance(labels, (list, tuple)) and all(isinstance(label, str) for label in labels):
        return list(labels)
    raise PipelineError(f"candidate_labels must be a list of str or a comma-separated str, got {labels!r}")


class ZeroShotClassificationPipeline(ChunkPipeline):
    """NLI-based zero-shot classification with an `AutoModelForSequenceClassification` model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.entailment_id == -1:
            logger.warning("zero-shot-classification: no label starting with 'entail' in the model's "
                           "config.label2id %s; using the last label as entailment (set a descriptive label2id)",
                           dict(self.model.config.label2id))

    @property
    def entailment_id(self) -> int:
        """Id of the first label2id entry whose name starts with "entail" (any case); -1 when there is none."""
        for label, index in self.model.config.label2id.items():
            if label.lower().startswith("entail"):
                return index
        return -1

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, multi_label=None, **unknown):
        if unknown:
            raise PipelineError(f"zero-shot-classification got unknown arguments {sorted(unknown)}; it accepts "
                                f"candidate_labels, hypothesis_template, multi_label")
        preprocess, postprocess = {}, {}
        if candidate_labels is not None:
            preprocess["candidate_labels"] = parse_candidate_labels(candidate_labels)
        if hypothesis_template is not None:
            if not isinstance(hypothesis_template, str):
                raise PipelineError(f"hypothesis_template must be a str with a {{}} for the label, "
                                    f"got {hypothesis_template!r}")
            preprocess["hypothesis_template"] = hypothesis_template
        if multi_label is not None:
            postprocess["multi_label"] = bool(multi_label)
        return preprocess, {}, postprocess

    def __call__(self, sequences=None, *args, **kwargs):
        # the reference also takes the labels as the second positional argument
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
        elif args:
            raise PipelineError(f"zero-shot-classification: cannot understand the extra positional arguments {args}")
        if isinstance(sequences, str) and not sequences:
            raise PipelineError("zero-shot-classification needs a non-empty sequence, got ''")
        return super().__call__(sequences, **kwargs)

    def preprocess(self, sequence, candidate_labels=None, hypothesis_template=DEFAULT_TEMPLATE):
        if not candidate_labels:
            raise PipelineError("zero-shot-classification needs candidate_labels (a list of labels or a "
                                f"comma-separated str), got {candidate_labels!r}")
        if not isinstance(sequence, str):
            raise PipelineError(f"zero-shot-classification expects each sequence to be a str, "
                                f"got {type(sequence).__name__}")
        if hypothesis_template.format(candidate_labels[0]) == hypothesis_template:
            raise PipelineError(f"hypothesis_template {hypothesis_template!r} has no {{}} where the label goes")
        for i, label in enumerate(candidate_labels):
            encoded = self._encode_pair(sequence, hypothesis_template.format(label))
            yield {"candidate_label": label, "sequence": sequence, "is_last": i == len(candidate_labels) - 1,
                   **encoded}

    def _encode_pair(self, premise: str, hypothesis: str):
        """Truncate only the premise so the hypothesis (the label) is never cut; when even an empty premise
        would not fit, the tokenizer refuses and, like the reference, the pair goes in untruncated."""
        try:
            return self.tokenizer(premise, hypothesis, truncation="only_first", return_tensors="pt")
        except TokenizerError:
            return self.tokenizer(premise, hypothesis, truncation=False, return_tensors="pt")

    def _forward(self, model_inputs):
        if "use_cache" in inspect.signature(self.model.forward).parameters:
            model_inputs["use_cache"] = False
        return {"logits": self.model(**model_inputs)["logits"]}

    def postprocess(self, model_outputs, multi_label=False):
        import torch

        labels = [out["candidate_label"] for out in model_outputs]
        logits = torch.cat([out["logits"].float() for out in model_outputs])  # (labels, nli classes)
        entailment = self.entailment_id
        if multi_label or len(labels) == 1:
            contradiction = -1 if entailment == 0 else 0
            pair = logits[:, [contradiction, entailment]]
            scores = pair.softmax(dim=-1)[:, 1]
        else:
            scores = logits[:, entailment].softmax(dim=-1)
        values = scores.tolist()
        # best first; equal scores keep the reference's order (later label first)
        order = sorted(range(len(values)), key=lambda i: (values[i], i), reverse=True)
        return {"sequence": model_outputs[0]["sequence"], "labels": [labels[i] for i in order],
                "scores": [values[i] for i in order]}
