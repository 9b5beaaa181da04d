"""snuggle.generation: GenerationConfig, logits processors, stopping criteria and `generate`.

Names resolve lazily, so `import snuggle.generation` does not import torch.

>>> from snuggle.generation import GenerationConfig
>>> GenerationConfig(max_new_tokens=4).max_new_tokens
4
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_MODULES = {
    "snuggle.generation.configuration": ("GenerationConfig", "GENERATION_CONFIG_NAME"),
    "snuggle.generation.logits_process": (
        "LogitsProcessor", "LogitsWarper", "LogitsProcessorList", "TemperatureLogitsWarper", "TopKLogitsWarper",
        "TopPLogitsWarper", "MinPLogitsWarper", "TypicalLogitsWarper", "RepetitionPenaltyLogitsProcessor",
        "NoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor", "MinNewTokensLengthLogitsProcessor",
        "MinLengthLogitsProcessor", "build_logits_processor",
        # issue 6, processors part
        "EpsilonLogitsWarper", "EtaLogitsWarper", "SuppressTokensLogitsProcessor",
        "SuppressTokensAtBeginLogitsProcessor", "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor",
        "SequenceBiasLogitsProcessor", "ExponentialDecayLengthPenalty", "EncoderRepetitionPenaltyLogitsProcessor",
        "EncoderNoRepeatNGramLogitsProcessor", "InfNanRemoveLogitsProcessor", "LogitNormalization", "TopHLogitsWarper",
    ),
    "snuggle.generation.streamers": ("BaseStreamer", "TextStreamer", "TextIteratorStreamer"),
    "snuggle.generation.stopping_criteria": (
        "StoppingCriteria", "StoppingCriteriaList", "MaxLengthCriteria", "EosTokenCriteria",
        "StopStringCriteria", "MaxTimeCriteria",
    ),
    "snuggle.generation.utils": (
        "generate", "GenerateDecoderOnlyOutput", "GenerateEncoderDecoderOutput", "GenerateBeamDecoderOnlyOutput",
        "GenerateBeamEncoderDecoderOutput", "GenerationMixin",
    ),
}

__getattr__, __dir__ = lazy_exports(
    __name__, {name: module for module, names in _MODULES.items() for name in names}, globals()
)
__all__ = sorted(name for names in _MODULES.values() for name in names)
