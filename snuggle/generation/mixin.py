"""GenerationMixin: gives every model whose `can_generate()` is True a `model.generate(...)` method.

PreTrainedModel inherits it, so causal LMs (Llama, GPT-2, Qwen2, Mistral, ...) and
T5ForConditionalGeneration get `generate`; models without an LM head raise a ModelError that names
the class. This module stays import-light (no torch at import time): `generate` lives in
snuggle/generation/utils.py and is imported on first use.

>>> model.generate(input_ids, max_new_tokens=8)                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


class GenerationMixin:
    """Adds `generate` (greedy, sampling, beam search; see snuggle.generation.utils.generate)."""

    def generate(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        generation_config: Any = None,
        logits_processor: Any = None,
        stopping_criteria: Any = None,
        streamer: Any = None,
        **kwargs: Any,
    ):
        """Generate continuations of `input_ids`; every GenerationConfig attribute can be a keyword.

        >>> out = model.generate(input_ids, attention_mask=mask, max_new_tokens=20, do_sample=True, top_p=0.9)  # doctest: +SKIP
        """
        can_generate = getattr(type(self), "can_generate", None)
        if can_generate is not None and not can_generate():
            from snuggle.errors import ModelError

            raise ModelError(
                f"{type(self).__name__} cannot generate: it has no language-modeling head; use a *ForCausalLM, "
                "*LMHeadModel or *ForConditionalGeneration class"
            )
        from snuggle.generation.utils import generate

        return generate(
            self, input_ids, attention_mask=attention_mask, generation_config=generation_config,
            logits_processor=logits_processor, stopping_criteria=stopping_criteria, streamer=streamer, **kwargs,
        )

    def compute_transition_scores(self, sequences, scores, beam_indices=None, normalize_logits: bool = False):
        """Score of each generated token (see snuggle.generation.transition_scores).

        >>> model.compute_transition_scores(out.sequences, out.scores, out.beam_indices)   # doctest: +SKIP
        """
        from snuggle.generation.transition_scores import compute_transition_scores

        return compute_transition_scores(sequences, scores, beam_indices, normalize_logits)
