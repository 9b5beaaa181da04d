"""Logits warpers: the processors that reshape the next-token distribution before sampling.

Temperature, top-k, top-h, top-p (nucleus), min-p, typical, epsilon and eta sampling. They are
applied only when do_sample=True (after the other processors, see logits_process_builder.py), and
each matches the transformers class of the same name. Removed tokens get `filter_value` (-inf).

>>> import torch
>>> TopPLogitsWarper(top_p=0.5)(None, torch.tensor([[0.0, 2.0, 1.0]]))
tensor([[-inf, 2., -inf]])
"""

from __future__ import annotations

import torch

from snuggle.generation.logits_process import (
    NEG_INF, LogitsProcessor, _check, _check_min_tokens_to_keep, _is_int,
)


class TemperatureLogitsWarper(LogitsProcessor):
    """Divide the scores by `temperature` (<1 sharpens, >1 flattens)."""

    def __init__(self, temperature: float) -> None:
        ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0
        hint = " (for greedy decoding set do_sample=False)" if temperature == 0 else ""
        _check(ok, "temperature", "a strictly positive float" + hint, temperature)
        self.temperature = temperature

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the `top_k` highest scores (ties with the k-th all kept)."""

    def __init__(self, top_k: int, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        _check(_is_int(top_k) and top_k > 0, "top_k", "a strictly positive integer", top_k)
        self.top_k = max(top_k, min_tokens_to_keep)
        self.filter_value, self.min_tokens_to_keep = filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        k = min(self.top_k, scores.size(-1))
        kth_best = torch.topk(scores, k)[0][..., -1, None]
        return scores.masked_fill(scores < kth_best, self.filter_value)


class TopHLogitsWarper(LogitsProcessor):
    """Top-H: among the 100 best tokens, keep the most likely ones until their cumulative entropy
    contribution exceeds `top_h` times the entropy of that top-100 distribution (the best one always stays)."""

    top_n = 100  # the candidates considered (a cap for speed and numerical stability, as in the reference)

    def __init__(self, top_h: float, filter_value: float = NEG_INF) -> None:
        ok = isinstance(top_h, (int, float)) and not isinstance(top_h, bool) and 0 < top_h <= 1
        _check(ok, "top_h", "a float in (0, 1]", top_h)
        self.top_h, self.filter_value = top_h, filter_value

    def __call__(self, input_ids, scores):
        top_logits, top_indices = torch.topk(scores, min(self.top_n, scores.shape[-1]), dim=-1, sorted=True)
        # Entropy the way torch.distributions.Categorical computes it (normalised logits clamped to the dtype min).
        log_norm = top_logits - top_logits.logsumexp(dim=-1, keepdim=True)
        probs = log_norm.softmax(dim=-1)
        entropy = -(log_norm.clamp(min=torch.finfo(log_norm.dtype).min) * probs).sum(-1)
        threshold = (entropy * self.top_h).unsqueeze(-1)
        cumulative = torch.cumsum(-probs * torch.log(probs), dim=-1)  # (batch, top_n), best first
        selected = cumulative <= threshold
        selected[:, 0] = True
        keep = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, top_indices, selected)
        return scores.masked_fill(~keep, self.filter_value)


def _remove_sorted(scores: torch.Tensor, sorted_indices: torch.Tensor, sorted_remove: torch.Tensor, filter_value: float):
    """Map a removal mask over sorted positions back to vocabulary order and apply it."""
    remove = sorted_remove.scatter(-1, sorted_indices, sorted_remove)
    return scores.masked_fill(remove, filter_value)


def _below_kth_best(scores: torch.Tensor, k: int) -> torch.Tensor:
    """True where a score is strictly below the k-th best of its row (so the best k always survive)."""
    k = min(k, scores.size(-1))
    return scores < torch.topk(scores, k)[0][..., -1, None]


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus sampling: keep the smallest set of best tokens whose probability mass reaches `top_p`."""

    def __init__(self, top_p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        top_p = float(top_p)
        _check(0 <= top_p <= 1.0, "top_p", "a float in [0, 1]", top_p)
        self.top_p, self.filter_value = top_p, filter_value
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids, scores):
        fast = self._after_top_k(scores)
        if fast is not None:
            return fast
        # Ascending sort: the tokens whose cumulative mass stays within (1 - top_p) are the tail to drop.
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_remove = cumulative <= (1 - self.top_p)
        sorted_remove[..., -self.min_tokens_to_keep:] = False
        return _remove_sorted(scores, sorted_indices, sorted_remove, self.filter_value)

    def _after_top_k(self, scores: torch.Tensor) -> torch.Tensor | None:
        """The same result without sorting the whole vocabulary, when most scores are already -inf.

        After top-k only a few scores are finite. The reference's ascending sort is then a block of
        -inf followed by the finite scores in increasing order, so we build that exact array from a
        small topk and run the same softmax/cumsum on it: bit-identical probabilities and decisions.
        Only used when the finite scores are all distinct (their order is then unique; with ties the
        order would depend on the sort implementation) and filter_value is -inf (so the order inside
        the -inf block cannot matter). Returns None when the shortcut does not apply.
        """
        if scores.dim() != 2 or self.filter_value != NEG_INF:
            return None
        vocab = scores.shape[-1]
        finite_count = int((scores != NEG_INF).sum(dim=-1).max())
        if finite_count * 4 > vocab or finite_count < 1:
            return None
        top_values, top_indices = torch.topk(scores, finite_count, dim=-1)  # descending
        if bool(torch.isnan(top_values).any() or torch.isposinf(top_values).any()):
            return None
        finite = top_values != NEG_INF
        if bool(((top_values[:, 1:] == top_values[:, :-1]) & finite[:, 1:]).any()):
            return None  # tied finite scores: leave their order to the real sort
        ascending_values, ascending_indices = top_values.flip(-1), top_indices.flip(-1)
        sorted_logits = scores.new_full(scores.shape, NEG_INF)
        sorted_logits[:, vocab - finite_count:] = ascending_values
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_remove = cumulative <= (1 - self.top_p)
        sorted_remove[..., -self.min_tokens_to_keep:] = False
        # Only the finite tail can change; removing a -inf score leaves it -inf.
        remove = torch.zeros_like(scores, dtype=torch.bool)
        remove.scatter_(1, ascending_indices, sorted_remove[:, vocab - finite_count:])
        return scores.masked_fill(remove, self.filter_value)


class MinPLogitsWarper(LogitsProcessor):
    """Keep tokens whose probability is at least `min_p` times the best token's probability."""

    def __init__(self, min_p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        _check(isinstance(min_p, (int, float)) and 0 <= min_p <= 1.0, "min_p", "a float in [0, 1]", min_p)
        self.min_p, self.filter_value = min_p, filter_value
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids, scores):
        probs = torch.softmax(scores, dim=-1)
        too_unlikely = probs < self.min_p * probs.amax(dim=-1, keepdim=True)
        # The min_tokens_to_keep most probable tokens survive whatever their probability.
        k = min(self.min_tokens_to_keep, probs.shape[-1])
        too_unlikely.scatter_(-1, torch.topk(probs, k, dim=-1).indices, False)
        return scores.masked_fill(too_unlikely, self.filter_value)


class TypicalLogitsWarper(LogitsProcessor):
    """Locally typical sampling: keep tokens whose surprisal is closest to the entropy, up to mass `mass`."""

    def __init__(self, mass: float = 0.9, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        mass = float(mass)
        _check(0 < mass < 1, "typical_p", "a float in (0, 1)", mass)
        self.mass, self.filter_value = mass, filter_value
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

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


def _check_cutoff(epsilon, name: str) -> float:
    ok = isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool) and 0 < epsilon < 1
    _check(ok, name, "a float in (0, 1)", epsilon)
    return float(epsilon)


class EpsilonLogitsWarper(LogitsProcessor):
    """Epsilon sampling: drop tokens whose probability is below `epsilon` (the best min_tokens_to_keep stay)."""

    def __init__(self, epsilon: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1) -> None:
        self.epsilon = _check_cutoff(epsilon, "epsilon_cutoff")
        self.filter_value = filter_value
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids, scores):
        remove = (scores.softmax(dim=-1) < self.epsilon) & _below_kth_best(scores, self.min_tokens_to_keep)
        return scores.masked_fill(remove, self.filter_value)


class EtaLogitsWarper(LogitsProcessor):
    """Eta sampling: the cutoff is min(epsilon, sqrt(epsilon) * exp(-entropy)), so it adapts to the row's entropy."""

    def __init__(self, epsilon: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1, device: str = "cpu") -> None:
        self.epsilon = torch.tensor(_check_cutoff(epsilon, "eta_cutoff"), device=device)
        self.filter_value = filter_value
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids, scores):
        probs = scores.softmax(dim=-1)
        # Entropy as torch.distributions.Categorical computes it: -inf log-probs clamp to the dtype's min, times p=0.
        log_probs = scores - scores.logsumexp(dim=-1, keepdim=True)
        plogp = log_probs.clamp(min=torch.finfo(log_probs.dtype).min) * log_probs.softmax(dim=-1)
        entropy = -plogp.sum(-1)
        epsilon = self.epsilon.to(scores.device)
        eta = torch.min(epsilon, torch.sqrt(epsilon) * torch.exp(-entropy))[..., None]
        remove = (probs < eta) & _below_kth_best(scores, self.min_tokens_to_keep)
        return scores.masked_fill(remove, self.filter_value)
