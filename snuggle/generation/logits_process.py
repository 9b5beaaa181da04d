"""Logits processors and warpers: each maps (input_ids, scores) -> new scores for the next token.

`scores` is (batch, vocab) float; `input_ids` is (batch, seq) with everything generated so far
(prompt included). Removed tokens get `filter_value` (-inf), so softmax gives them probability 0.
Each class matches the transformers class of the same name on the same inputs.

>>> import torch
>>> scores = torch.tensor([[1.0, 3.0, 2.0]])
>>> TopKLogitsWarper(top_k=2)(torch.tensor([[0]]), scores)
tensor([[-inf, 3., 2.]])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch

from snuggle.errors import ConfigError

if TYPE_CHECKING:
    from snuggle.generation.configuration import GenerationConfig

NEG_INF = -float("inf")


def _check(condition: bool, name: str, expected: str, value) -> None:
    if not condition:
        raise ConfigError(f"`{name}` must be {expected}, but is {value!r}")


class LogitsProcessor:
    """Base class: subclasses implement `__call__(input_ids, scores) -> scores`."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")


# Warpers are processors used only when sampling; the split is kept for familiarity.
LogitsWarper = LogitsProcessor


class LogitsProcessorList(list):
    """A list of processors applied in order; extra kwargs go to processors that accept them."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        for processor in self:
            scores = processor(input_ids, scores, **kwargs) if kwargs else processor(input_ids, scores)
        return scores


class TemperatureLogitsWarper(LogitsProcessor):
    """Divide the scores by `temperature` (<1 sharpens, >1 flattens)."""

    def __init__(self, temperature: float) -> None:
        _check(isinstance(temperature, (int, float)) and temperature > 0, "temperature", "a strictly positive float", temperature)
        self.temperature = temperature

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the `top_k` highest scores (ties with the k-th all kept)."""

    def __init__(self, top_k: int, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        _check(isinstance(top_k, int) and top_k > 0, "top_k", "a strictly positive integer", top_k)
        self.top_k = max(top_k, min_tokens_to_keep)
        self.filter_value = filter_value

    def __call__(self, input_ids, scores):
        k = min(self.top_k, scores.size(-1))
        kth_best = torch.topk(scores, k)[0][..., -1, None]
        return scores.masked_fill(scores < kth_best, self.filter_value)


def _remove_sorted(scores: torch.Tensor, sorted_indices: torch.Tensor, sorted_remove: torch.Tensor, filter_value: float):
    """Map a removal mask over sorted positions back to vocabulary order and apply it."""
    remove = sorted_remove.scatter(-1, sorted_indices, sorted_remove)
    return scores.masked_fill(remove, filter_value)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus sampling: keep the smallest set of best tokens whose probability mass reaches `top_p`."""

    def __init__(self, top_p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        top_p = float(top_p)
        _check(0 <= top_p <= 1.0, "top_p", "a float in [0, 1]", top_p)
        _check(isinstance(min_tokens_to_keep, int) and min_tokens_to_keep >= 1, "min_tokens_to_keep", "a positive integer", min_tokens_to_keep)
        self.top_p, self.filter_value, self.min_tokens_to_keep = top_p, filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        # Ascending sort: the tokens whose cumulative mass stays within (1 - top_p) are the tail to drop.
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_remove = cumulative <= (1 - self.top_p)
        sorted_remove[..., -self.min_tokens_to_keep:] = False
        return _remove_sorted(scores, sorted_indices, sorted_remove, self.filter_value)


class MinPLogitsWarper(LogitsProcessor):
    """Keep tokens whose probability is at least `min_p` times the best token's probability."""

    def __init__(self, min_p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        _check(0 <= min_p <= 1.0, "min_p", "a float in [0, 1]", min_p)
        _check(isinstance(min_tokens_to_keep, int) and min_tokens_to_keep >= 1, "min_tokens_to_keep", "a positive integer", min_tokens_to_keep)
        self.min_p, self.filter_value, self.min_tokens_to_keep = min_p, filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probs = torch.softmax(scores, dim=-1)
        threshold = self.min_p * probs.amax(dim=-1, keepdim=True)
        too_unlikely = probs < threshold
        # The best min_tokens_to_keep tokens survive whatever their probability.
        sorted_indices = torch.argsort(scores, descending=True, dim=-1)
        sorted_remove = torch.gather(too_unlikely, dim=-1, index=sorted_indices)
        sorted_remove[..., : self.min_tokens_to_keep] = False
        return _remove_sorted(scores, sorted_indices, sorted_remove, self.filter_value)


class TypicalLogitsWarper(LogitsProcessor):
    """Locally typical sampling: keep tokens whose surprisal is closest to the entropy, up to mass `mass`."""

    def __init__(self, mass: float = 0.9, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        mass = float(mass)
        _check(0 < mass < 1, "typical_p", "a float in (0, 1)", mass)
        _check(isinstance(min_tokens_to_keep, int) and min_tokens_to_keep >= 1, "min_tokens_to_keep", "a positive integer", min_tokens_to_keep)
        self.mass, self.filter_value, self.min_tokens_to_keep = mass, filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        log_probs = torch.nn.functional.log_softmax(scores, dim=-1)
        entropy = -(log_probs * log_probs.exp()).nansum(-1, keepdim=True)
        distance = torch.abs(-log_probs - entropy)
        sorted_distance, sorted_indices = torch.sort(distance, descending=False)
        cumulative = scores.gather(-1, sorted_indices).softmax(dim=-1).cumsum(dim=-1)
        last_kept = (cumulative < self.mass).sum(dim=1).clamp_(max=sorted_distance.shape[-1] - 1)
        sorted_remove = sorted_distance > sorted_distance.gather(1, last_kept.view(-1, 1))
        sorted_remove[..., : self.min_tokens_to_keep] = False
        return _remove_sorted(scores, sorted_indices, sorted_remove, self.filter_value)


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Penalise tokens already present: positive scores divided by `penalty`, negative ones multiplied."""

    def __init__(self, penalty: float, prompt_ignore_length: int | None = None) -> None:
        _check(isinstance(penalty, float) and penalty > 0, "repetition_penalty", "a strictly positive float", penalty)
        self.penalty = penalty
        self.prompt_ignore_length = prompt_ignore_length

    def __call__(self, input_ids, scores):
        if self.prompt_ignore_length:
            input_ids = input_ids[:, self.prompt_ignore_length:]
        seen = torch.gather(scores, 1, input_ids)
        penalised = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter(1, input_ids, penalised)


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid any token that would complete an n-gram already present in the sequence."""

    def __init__(self, ngram_size: int) -> None:
        _check(isinstance(ngram_size, int) and ngram_size > 0, "no_repeat_ngram_size", "a strictly positive integer", ngram_size)
        self.ngram_size = ngram_size

    def __call__(self, input_ids, scores):
        n, cur_len = self.ngram_size, input_ids.shape[-1]
        if cur_len + 1 < n:
            return scores
        scores = scores.clone()
        for row, tokens in enumerate(input_ids.tolist()):
            prefix = tuple(tokens[cur_len + 1 - n:]) if n > 1 else ()
            banned = [
                tokens[start + n - 1]
                for start in range(cur_len - n + 1)
                if tuple(tokens[start:start + n - 1]) == prefix
            ]
            if banned:
                scores[row, banned] = NEG_INF
        return scores


class NoBadWordsLogitsProcessor(LogitsProcessor):
    """Forbid token sequences: a bad word's last token is banned when the sequence ends with its prefix."""

    def __init__(self, bad_words_ids: list[list[int]], eos_token_id: int | list[int] | torch.Tensor | None = None) -> None:
        ok = isinstance(bad_words_ids, list) and bad_words_ids and all(
            isinstance(word, list) and word and all(isinstance(t, int) and t >= 0 for t in word) for word in bad_words_ids
        )
        _check(bool(ok), "bad_words_ids", "a non-empty list of non-empty lists of non-negative token ids", bad_words_ids)
        if eos_token_id is not None:
            eos = eos_token_id.tolist() if isinstance(eos_token_id, torch.Tensor) else eos_token_id
            eos = [eos] if isinstance(eos, int) else list(eos)
            # The reference drops bad words that are exactly an eos token, so generation can still stop.
            bad_words_ids = [word for word in bad_words_ids if not (len(word) == 1 and word[0] in eos)]
        self.bad_words_ids = bad_words_ids

    def __call__(self, input_ids, scores):
        rows = input_ids.tolist()
        mask = torch.zeros_like(scores, dtype=torch.bool)
        vocab = scores.shape[-1]
        for word in self.bad_words_ids:
            *prefix, last = word
            if last >= vocab:
                continue
            for row, tokens in enumerate(rows):
                if not prefix or (len(tokens) >= len(prefix) and tokens[len(tokens) - len(prefix):] == prefix):
                    mask[row, last] = True
        return scores.masked_fill(mask, NEG_INF)


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """Forbid the eos tokens until `min_new_tokens` tokens have been generated after the prompt."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int, eos_token_id: int | Iterable[int] | torch.Tensor) -> None:
        for name, value in (("prompt_length_to_skip", prompt_length_to_skip), ("min_new_tokens", min_new_tokens)):
            _check(isinstance(value, int) and value >= 0, name, "a non-negative integer", value)
        if not isinstance(eos_token_id, torch.Tensor):
            eos_token_id = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        self.prompt_length_to_skip, self.min_new_tokens, self.eos_token_id = prompt_length_to_skip, min_new_tokens, eos_token_id

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip >= self.min_new_tokens:
            return scores
        is_eos = torch.isin(torch.arange(scores.shape[-1], device=scores.device), self.eos_token_id.to(scores.device))
        return scores.masked_fill(is_eos, NEG_INF)


class MinLengthLogitsProcessor(MinNewTokensLengthLogitsProcessor):
    """Forbid the eos tokens until the whole sequence (prompt included) has `min_length` tokens."""

    def __init__(self, min_length: int, eos_token_id) -> None:
        super().__init__(0, min_length, eos_token_id)


def build_logits_processor(config: GenerationConfig, prompt_length: int, eos: list[int] | None) -> LogitsProcessorList:
    """The processors (then, when sampling, the warpers) in the reference's order."""
    processors = LogitsProcessorList()
    if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(penalty=float(config.repetition_penalty)))
    if config.no_repeat_ngram_size:
        processors.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if config.bad_words_ids is not None:
        processors.append(NoBadWordsLogitsProcessor(config.bad_words_ids, eos))
    if eos and config.min_length and config.min_length > 0:
        processors.append(MinLengthLogitsProcessor(config.min_length, eos))
    if eos and config.min_new_tokens and config.min_new_tokens > 0:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_length, config.min_new_tokens, eos))
    if config.do_sample:
        keep = 2 if config.num_beams > 1 else 1
        if config.temperature is not None and config.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(config.temperature))
        if config.top_k is not None and config.top_k != 0:
            processors.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=keep))
        if config.top_p is not None and config.top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=keep))
        if config.min_p is not None:
            processors.append(MinPLogitsWarper(min_p=config.min_p, min_tokens_to_keep=keep))
        if config.typical_p is not None and config.typical_p < 1.0:
            processors.append(TypicalLogitsWarper(mass=config.typical_p, min_tokens_to_keep=keep))
    return processors
