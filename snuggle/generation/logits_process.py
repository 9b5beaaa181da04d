"""Logits processors and warpers: each maps (input_ids, scores) -> new scores for the next token.

`scores` is (batch, vocab) float; `input_ids` is (batch, seq) with everything generated so far
(prompt included). Removed tokens get `filter_value` (-inf), so softmax gives them probability 0.
Each class matches the transformers class of the same name on the same inputs (constructor
arguments, validation, output). `build_logits_processor` (in logits_process_builder.py) turns a
GenerationConfig into the list generate applies, in the reference's order.

>>> import torch
>>> scores = torch.tensor([[1.0, 3.0, 2.0]])
>>> TopKLogitsWarper(top_k=2)(torch.tensor([[0]]), scores)
tensor([[-inf, 3., 2.]])
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import torch

from snuggle.errors import ConfigError

NEG_INF = -float("inf")


def _check(condition: bool, name: str, expected: str, value) -> None:
    if not condition:
        raise ConfigError(f"`{name}` must be {expected}, but is {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_min_tokens_to_keep(value) -> int:
    _check(_is_int(value) and value >= 1, "min_tokens_to_keep", "a positive integer", value)
    return value


def _token_tensor(token_ids, name: str, device=None) -> torch.Tensor:
    """int | list[int] | tensor -> 1-D long tensor of non-negative ids (ConfigError naming `name` otherwise)."""
    if isinstance(token_ids, torch.Tensor):
        tensor = token_ids.reshape(-1)
    else:
        ids = [token_ids] if _is_int(token_ids) else token_ids
        ok = isinstance(ids, Iterable) and not isinstance(ids, (str, bytes)) and all(_is_int(t) for t in ids)
        _check(ok, name, "an int or a list of ints", token_ids)
        tensor = torch.tensor(list(ids), dtype=torch.long, device=device)
    _check(not torch.is_floating_point(tensor) and not bool((tensor < 0).any()), name,
           "non-negative integer token id(s)", token_ids)
    return tensor


def _vocab_mask(token_ids: torch.Tensor, scores: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
    """(vocab,) bool, True at the given ids (ids outside the vocabulary are ignored).

    `cache` (a dict owned by the processor) keeps the mask per (vocab size, device): it is built once per
    generate call instead of once per step.
    """
    key = (scores.shape[-1], scores.device)
    if cache is not None and key in cache:
        return cache[key]
    vocab = torch.arange(scores.shape[-1], device=scores.device)
    mask = torch.isin(vocab, token_ids.to(scores.device))
    if cache is not None:
        cache[key] = mask
    return mask


class LogitsProcessor:
    """Base class: subclasses implement `__call__(input_ids, scores) -> scores`."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")


# Warpers are processors used only when sampling; the split is kept for familiarity.
LogitsWarper = LogitsProcessor


def _extra_parameters(processor) -> list[str]:
    """Names a processor's __call__ takes beyond (input_ids, scores); these must come as kwargs."""
    return list(inspect.signature(processor.__call__).parameters)[2:]


class LogitsProcessorList(list):
    """A list of processors applied in order; extra kwargs go to the processors whose __call__ takes them."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        for processor in self:
            extra = _extra_parameters(processor) if kwargs else []
            if extra:
                if not all(name in kwargs for name in extra):
                    raise ConfigError(
                        f"{type(processor).__name__} needs the arguments {extra}; pass them to the processor list"
                    )
                scores = processor(input_ids, scores, **kwargs)
            else:
                scores = processor(input_ids, scores)
        return scores


# ---- warpers (sampling only) ------------------------------------------------------------------


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


# ---- penalties on what was already said -------------------------------------------------------


def _penalise(values: torch.Tensor, penalty: float) -> torch.Tensor:
    """Make a score less likely: negative scores multiplied by `penalty`, positive ones divided."""
    return torch.where(values < 0, values * penalty, values / penalty)


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Penalise tokens already present: positive scores divided by `penalty`, negative ones multiplied.

    `prompt_ignore_length` (int, or a (batch,) tensor such as each row's left-padding length) excludes the
    first tokens of each row from the penalty.
    """

    def __init__(self, penalty: float, prompt_ignore_length: int | torch.Tensor | None = None) -> None:
        ok = isinstance(penalty, (int, float)) and not isinstance(penalty, bool) and penalty > 0
        _check(ok, "repetition_penalty", "a strictly positive float", penalty)
        if _is_int(prompt_ignore_length):
            _check(prompt_ignore_length >= 0, "prompt_ignore_length", "a non-negative integer", prompt_ignore_length)
        elif isinstance(prompt_ignore_length, torch.Tensor):
            _check(prompt_ignore_length.dim() == 1, "prompt_ignore_length", "a 1-D tensor (batch,)", prompt_ignore_length)
        else:
            _check(prompt_ignore_length is None, "prompt_ignore_length", "an int, a (batch,) tensor or None",
                   prompt_ignore_length)
        self.penalty = penalty
        self.prompt_ignore_length = prompt_ignore_length

    def __call__(self, input_ids, scores):
        vocab = scores.shape[-1]
        ignore = self.prompt_ignore_length
        if _is_int(ignore):
            input_ids = input_ids[:, ignore:]
        elif isinstance(ignore, torch.Tensor):
            _check(ignore.shape[0] == input_ids.shape[0], "prompt_ignore_length", f"of length {input_ids.shape[0]} "
                   "(the batch size)", tuple(ignore.shape))
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            # Ignored positions point at a spare column past the vocabulary, dropped below.
            input_ids = input_ids.masked_fill(positions[None, :] < ignore.to(input_ids.device)[:, None], vocab)
        # Ids past the output vocabulary (embedding larger than lm_head) also go to the spare column.
        input_ids = input_ids.clamp(max=vocab)
        padded = torch.nn.functional.pad(scores, (0, 1))
        seen = torch.gather(padded, 1, input_ids)
        return padded.scatter(1, input_ids, _penalise(seen, self.penalty))[..., :vocab]


class EncoderRepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Encoder-decoder: make tokens of the encoder input *more* likely (penalty > 1), or less (< 1)."""

    def __init__(self, penalty: float, encoder_input_ids: torch.LongTensor) -> None:
        ok = isinstance(penalty, (int, float)) and not isinstance(penalty, bool) and penalty > 0
        _check(ok, "encoder_repetition_penalty", "a strictly positive float", penalty)
        _check(isinstance(encoder_input_ids, torch.Tensor) and encoder_input_ids.dim() == 2, "encoder_input_ids",
               "a (batch, seq) tensor of token ids", type(encoder_input_ids).__name__)
        self.penalty = 1 / penalty
        self.encoder_input_ids = encoder_input_ids

    def __call__(self, input_ids, scores):
        encoder_ids = self.encoder_input_ids.to(scores.device)
        if scores.shape[0] > encoder_ids.shape[0]:  # beams / return sequences: each row repeated
            encoder_ids = encoder_ids.repeat_interleave(scores.shape[0] // encoder_ids.shape[0], dim=0)
        seen = torch.gather(scores, 1, encoder_ids)
        return scores.scatter(1, encoder_ids, _penalise(seen, self.penalty))


def _ban_ngram_completions(windows: torch.Tensor, prefix: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Set -inf on the last token of every n-gram window whose first n-1 tokens equal the row's prefix.

    windows: (batch, num_windows, n); prefix: (batch, n-1).
    """
    vocab = scores.shape[-1]
    matches = (windows[..., :-1] == prefix.unsqueeze(1)).all(dim=-1)  # (batch, num_windows)
    # Non-matching windows (and ids past the vocabulary) write to a spare column that is dropped.
    banned = scores.new_zeros((scores.shape[0], vocab + 1), dtype=torch.bool)
    banned.scatter_(1, torch.where(matches, windows[..., -1].clamp(max=vocab), vocab), True)
    return scores.masked_fill(banned[:, :vocab], NEG_INF)


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid any token that would complete an n-gram already present in the sequence."""

    def __init__(self, ngram_size: int) -> None:
        _check(_is_int(ngram_size) and ngram_size > 0, "no_repeat_ngram_size", "a strictly positive integer", ngram_size)
        self.ngram_size = ngram_size

    def __call__(self, input_ids, scores):
        n, cur_len = self.ngram_size, input_ids.shape[-1]
        if cur_len < n:
            return scores
        # The window that starts at the prefix itself is incomplete, so unfold never produces it.
        windows = input_ids.unfold(dimension=1, size=n, step=1)
        return _ban_ngram_completions(windows, input_ids[:, cur_len + 1 - n:], scores)


class EncoderNoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Encoder-decoder: forbid decoder tokens that would repeat an n-gram of the encoder input."""

    def __init__(self, encoder_ngram_size: int, encoder_input_ids: torch.LongTensor) -> None:
        _check(_is_int(encoder_ngram_size) and encoder_ngram_size > 0, "encoder_no_repeat_ngram_size",
               "a strictly positive integer", encoder_ngram_size)
        _check(isinstance(encoder_input_ids, torch.Tensor) and encoder_input_ids.dim() in (1, 2), "encoder_input_ids",
               "a (batch, seq) tensor of token ids", type(encoder_input_ids).__name__)
        if encoder_input_ids.dim() == 1:
            encoder_input_ids = encoder_input_ids.unsqueeze(0)
        self.ngram_size = encoder_ngram_size
        self.batch_size = encoder_input_ids.shape[0]
        self.encoder_input_ids = encoder_input_ids

    def __call__(self, input_ids, scores):
        n, cur_len = self.ngram_size, input_ids.shape[-1]
        encoder_ids = self.encoder_input_ids.to(scores.device)
        if cur_len < n - 1 or encoder_ids.shape[-1] < n:
            return scores.clone()
        windows = encoder_ids.unfold(dimension=1, size=n, step=1)  # (batch, num_windows, n)
        hypotheses_per_row = scores.shape[0] // self.batch_size
        windows = windows.repeat_interleave(hypotheses_per_row, dim=0)
        return _ban_ngram_completions(windows, input_ids[:, cur_len + 1 - n:], scores)


# ---- token-level bans and biases --------------------------------------------------------------


class SequenceBiasLogitsProcessor(LogitsProcessor):
    """Add a bias to a token when the sequence so far ends with the token's biased prefix.

    `sequence_bias` is [[token_ids, bias], ...] or {tuple(token_ids): bias}: the bias applies to the last
    id of `token_ids` whenever the sequence ends with the ids before it (single ids: always).

    >>> import torch
    >>> SequenceBiasLogitsProcessor([[[2], -1.0], [[0, 1], 5.0]])(torch.tensor([[0]]), torch.zeros(1, 3))
    tensor([[ 0.,  5., -1.]])
    """

    _argument = "sequence_bias"

    def __init__(self, sequence_bias) -> None:
        self.sequence_bias = self._normalise(sequence_bias)
        self._single_token_bias: torch.Tensor | None = None
        self._multi_token_biases: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def _normalise(self, sequence_bias) -> dict[tuple[int, ...], float]:
        name = self._argument

        def valid_ids(ids) -> bool:
            return len(ids) > 0 and all(_is_int(t) and t >= 0 for t in ids)

        if isinstance(sequence_bias, dict) and sequence_bias:
            for ids, bias in sequence_bias.items():
                _check(isinstance(ids, tuple) and valid_ids(ids), name, "a dict whose keys are non-empty tuples of "
                       "non-negative token ids", sequence_bias)
                _check(isinstance(bias, float), name, "a dict whose values are floats", sequence_bias)
            return dict(sequence_bias)
        if isinstance(sequence_bias, list) and sequence_bias:
            for entry in sequence_bias:
                ok = (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], list)
                      and valid_ids(entry[0]) and isinstance(entry[1], float))
                _check(ok, name, "a list of [token_ids, float bias] pairs with non-empty lists of non-negative ids",
                       sequence_bias)
            return {tuple(ids): bias for ids, bias in sequence_bias}
        raise ConfigError(f"`{name}` must be a non-empty dict or a non-empty list of [token_ids, bias] pairs, "
                          f"but is {sequence_bias!r}")

    def _prepare(self, scores: torch.Tensor) -> None:
        """Build the bias tensors once the vocabulary size (scores.shape[-1]) is known."""
        vocab, device = scores.shape[-1], scores.device
        out_of_vocab = sorted({t for ids in self.sequence_bias for t in ids if t >= vocab})
        if out_of_vocab:
            raise ConfigError(f"`{self._argument}` refers to token ids {out_of_vocab}, but the model's vocabulary "
                              f"has {vocab} tokens")
        self._single_token_bias = torch.zeros(vocab, dtype=torch.float, device=device)
        singles = [(ids[0], bias) for ids, bias in self.sequence_bias.items() if len(ids) == 1]
        if singles:
            self._single_token_bias[[t for t, _ in singles]] = torch.tensor([b for _, b in singles], device=device)
        # Longer sequences grouped by prefix length: one comparison per group matches every row at once.
        groups: dict[int, list[tuple[tuple[int, ...], float]]] = {}
        for ids, bias in self.sequence_bias.items():
            if len(ids) > 1:
                groups.setdefault(len(ids) - 1, []).append((ids, bias))
        self._multi_token_biases = [
            (
                torch.tensor([ids[:-1] for ids, _ in group], device=device),   # (num, prefix_len)
                torch.tensor([ids[-1] for ids, _ in group], device=device),    # (num,)
                torch.tensor([bias for _, bias in group], dtype=torch.float, device=device),
            )
            for group in groups.values()
        ]

    def __call__(self, input_ids, scores):
        if self._single_token_bias is None:
            self._prepare(scores)
        bias = torch.zeros_like(scores)
        bias += self._single_token_bias
        for prefixes, last_tokens, biases in self._multi_token_biases:
            prefix_length = prefixes.shape[1]
            if prefix_length > input_ids.shape[1]:
                continue
            matching = (input_ids[:, None, -prefix_length:] == prefixes).all(dim=-1)  # (batch, num)
            bias.index_add_(1, last_tokens, torch.where(matching, biases, 0.0).to(bias.dtype))
        return scores + bias


class NoBadWordsLogitsProcessor(SequenceBiasLogitsProcessor):
    """Forbid token sequences: a bad word's last token is banned when the sequence ends with its prefix."""

    _argument = "bad_words_ids"

    def __init__(self, bad_words_ids: list[list[int]], eos_token_id: int | list[int] | torch.Tensor | None = None) -> None:
        ok = isinstance(bad_words_ids, list) and bad_words_ids and all(
            isinstance(word, list) and all(_is_int(t) and t >= 0 for t in word) for word in bad_words_ids
        )
        _check(bool(ok), "bad_words_ids", "a non-empty list of lists of non-negative token ids", bad_words_ids)
        if eos_token_id is not None:
            eos = _token_tensor(eos_token_id, "eos_token_id").tolist()
            # A bad word that is exactly an eos token is dropped, so generation can still stop.
            bad_words_ids = [word for word in bad_words_ids if not any(word == [e] for e in eos)]
        self.bad_words_ids = bad_words_ids
        # Forbidding a sequence is biasing it by -inf.
        super().__init__({tuple(word): NEG_INF for word in bad_words_ids})


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """Forbid the eos tokens until `min_new_tokens` tokens have been generated after the prompt."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int, eos_token_id, device: str = "cpu") -> None:
        for name, value in (("prompt_length_to_skip", prompt_length_to_skip), ("min_new_tokens", min_new_tokens)):
            _check(_is_int(value) and value >= 0, name, "a non-negative integer", value)
        self.prompt_length_to_skip, self.min_new_tokens = prompt_length_to_skip, min_new_tokens
        self.eos_token_id = _token_tensor(eos_token_id, "eos_token_id", device)
        self._masks: dict = {}

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip >= self.min_new_tokens:
            return scores.clone()
        return scores.masked_fill(_vocab_mask(self.eos_token_id, scores, self._masks), NEG_INF)


class MinLengthLogitsProcessor(MinNewTokensLengthLogitsProcessor):
    """Forbid the eos tokens until the whole sequence (prompt included) has `min_length` tokens."""

    def __init__(self, min_length: int, eos_token_id, device: str = "cpu") -> None:
        _check(_is_int(min_length) and min_length >= 0, "min_length", "a non-negative integer", min_length)
        super().__init__(0, min_length, eos_token_id, device)
        self.min_length = min_length


class SuppressTokensLogitsProcessor(LogitsProcessor):
    """Never generate the `suppress_tokens` (their scores become -inf at every step)."""

    def __init__(self, suppress_tokens, device: str = "cpu") -> None:
        self.suppress_tokens = _token_tensor(suppress_tokens, "suppress_tokens", device)
        self._masks: dict = {}

    def __call__(self, input_ids, scores):
        return scores.masked_fill(_vocab_mask(self.suppress_tokens, scores, self._masks), NEG_INF)


class SuppressTokensAtBeginLogitsProcessor(LogitsProcessor):
    """Forbid `begin_suppress_tokens` at the first generated step only (when the length is `begin_index`)."""

    def __init__(self, begin_suppress_tokens, begin_index: int, device: str = "cpu") -> None:
        self.begin_suppress_tokens = _token_tensor(begin_suppress_tokens, "begin_suppress_tokens", device)
        _check(_is_int(begin_index) and begin_index >= 0, "begin_index", "a non-negative integer", begin_index)
        self.begin_index = begin_index
        self._masks: dict = {}

    def set_begin_index(self, begin_index: int) -> None:
        self.begin_index = begin_index

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.begin_index:
            return scores
        return scores.masked_fill(_vocab_mask(self.begin_suppress_tokens, scores, self._masks), NEG_INF)


def _force(scores: torch.Tensor, token_ids) -> torch.Tensor:
    """Every score -inf except the forced token(s), which get 0."""
    forced = torch.full_like(scores, NEG_INF)
    forced[:, token_ids] = 0
    return forced


class ForcedBOSTokenLogitsProcessor(LogitsProcessor):
    """Force `bos_token_id` as the first generated token (encoder-decoder: right after the decoder start)."""

    def __init__(self, bos_token_id: int) -> None:
        _check(_is_int(bos_token_id) and bos_token_id >= 0, "forced_bos_token_id", "a non-negative token id", bos_token_id)
        self.bos_token_id = bos_token_id

    def __call__(self, input_ids, scores):
        return _force(scores, self.bos_token_id) if input_ids.shape[-1] == 1 else scores


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """Force an eos token as the last token when the sequence reaches `max_length`."""

    def __init__(self, max_length: int, eos_token_id, device: str = "cpu") -> None:
        _check(_is_int(max_length) and max_length > 0, "max_length", "a positive integer", max_length)
        self.max_length = max_length
        self.eos_token_id = _token_tensor(eos_token_id, "forced_eos_token_id", device)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.max_length - 1:
            return scores
        return _force(scores, self.eos_token_id.to(scores.device))


class ExponentialDecayLengthPenalty(LogitsProcessor):
    """After `start_index` new tokens, raise the eos scores by |score| * (factor ** steps_past_start - 1).

    `exponential_decay_length_penalty` is (start_index, decay_factor); counting starts after the prompt.
    """

    def __init__(self, exponential_decay_length_penalty: tuple[int, float], eos_token_id, input_ids_seq_length: int) -> None:
        value = exponential_decay_length_penalty
        ok = (isinstance(value, (tuple, list)) and len(value) == 2 and _is_int(value[0])
              and isinstance(value[1], (int, float)) and not isinstance(value[1], bool))
        _check(ok, "exponential_decay_length_penalty", "a (start_index: int, decay_factor: float) pair", value)
        _check(_is_int(input_ids_seq_length), "input_ids_seq_length", "an integer", input_ids_seq_length)
        self.regulation_start = value[0] + input_ids_seq_length
        self.regulation_factor = value[1]
        self.eos_token_id = _token_tensor(eos_token_id, "eos_token_id")

    def __call__(self, input_ids, scores):
        cur_len = input_ids.shape[-1]
        if cur_len <= self.regulation_start:
            return scores
        eos = self.eos_token_id = self.eos_token_id.to(scores.device)
        eos_scores = scores[:, eos]
        # |score| keeps the push towards eos upward for negative logits too; -inf/inf/nan eos scores stay put.
        penalty = torch.abs(eos_scores) * (pow(self.regulation_factor, cur_len - self.regulation_start) - 1)
        penalties = torch.zeros_like(scores)
        penalties[:, eos] = penalty.masked_fill(~torch.isfinite(eos_scores), 0.0)
        return scores + penalties


class InfNanRemoveLogitsProcessor(LogitsProcessor):
    """Replace nan by 0 and +-inf by the dtype's largest/smallest finite value (avoids sampling crashes)."""

    def __call__(self, input_ids, scores):
        finfo = torch.finfo(scores.dtype)
        return torch.nan_to_num(scores, nan=0.0, posinf=finfo.max, neginf=finfo.min)


class LogitNormalization(LogitsProcessor):
    """Log-softmax the scores (used last, so beam scores stay normalised after the other processors)."""

    def __call__(self, input_ids, scores):
        return scores.log_softmax(dim=-1)


def __getattr__(name: str):
    # build_logits_processor lives in its own module (one idea per file); keep the historical import path.
    if name == "build_logits_processor":
        from snuggle.generation.logits_process_builder import build_logits_processor

        return build_logits_processor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

