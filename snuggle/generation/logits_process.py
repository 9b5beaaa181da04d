"""Logits processors and warpers: each maps (input_ids, scores) -> new scores for the next token.

`scores` is (batch, vocab) float; `input_ids` is (batch, seq) with everything generated so far
(prompt included). Removed tokens get `filter_value` (-inf), so softmax gives them probability 0.
Each class matches the transformers class of the same name on the same inputs (constructor
arguments, validation, output). This file has the base classes and the processors that apply in
every mode (penalties, n-gram and bad-word bans, biases, forced/suppressed tokens); the sampling
warpers (temperature, top-k/p, ...) are in logits_warpers.py and `build_logits_processor` (in
logits_process_builder.py) turns a GenerationConfig into the list generate applies, in the
reference's order. All of them can be imported from here.

>>> import torch
>>> SuppressTokensLogitsProcessor([1])(torch.tensor([[0]]), torch.tensor([[1.0, 3.0, 2.0]]))
tensor([[1., -inf, 2.]])
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import torch

from snuggle.errors import ConfigError
from snuggle.generation.fast_sampling import fill_ids_

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

    def _process_owned(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        """`self(input_ids, scores)` when the caller owns `scores` and will not read it again (generate's loop
        when the raw logits are not returned): a processor may then write into it instead of building a new
        vocabulary-sized tensor. Same values as __call__."""
        return self(input_ids, scores)

    # Processors that only forbid tokens also define `_banned(length, vocab) -> (address, count) | None`: the CPU
    # int64 ids whose scores become -inf when the sequences are `length` long (None: none), so that generate's
    # greedy loop can apply them with C stores on the logits' memory (fast_sampling.greedy_token).


def _vocab_ids(token_ids: torch.Tensor, vocab: int, device, cache: dict) -> torch.Tensor:
    """The ids inside the vocabulary (as `_vocab_mask` selects them), int64 contiguous, kept in `cache`."""
    key = ("ids", vocab, device)
    ids = cache.get(key)
    if ids is None:
        ids = token_ids.to(device).flatten()
        ids = ids[(ids >= 0) & (ids < vocab)].contiguous()
        cache[key] = ids
    return ids


def _fill_ids_(scores: torch.Tensor, token_ids: torch.Tensor, cache: dict) -> torch.Tensor:
    """scores[:, ids] = -inf in place for the ids inside the vocabulary: a few stores (`fill_ids_`, or one
    index_fill_), where masked_fill writes a new (rows, vocab) tensor."""
    ids = _vocab_ids(token_ids, scores.shape[-1], scores.device, cache)
    if fill_ids_(scores, ids, NEG_INF):
        return scores
    return scores.index_fill_(-1, ids, NEG_INF)


def _banned_ids(token_ids: torch.Tensor, vocab: int, cache: dict) -> tuple[int, int]:
    """(address, count) of the CPU int64 ids inside the vocabulary, for `LogitsProcessor._banned`."""
    key = ("address", vocab)
    found = cache.get(key)
    if found is None:
        ids = _vocab_ids(token_ids, vocab, torch.device("cpu"), cache)
        found = cache[key] = (ids.data_ptr(), ids.numel())
    return found


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

    def _process_owned(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        """The list applied to scores the caller owns (see LogitsProcessor._process_owned). After a processor
        from outside snuggle the result is no longer known to be ours alone, so later ones build new tensors."""
        owned = True
        for processor in self:
            if owned and isinstance(processor, LogitsProcessor):
                scores = processor._process_owned(input_ids, scores)
            else:
                scores = processor(input_ids, scores)
            owned = owned and type(processor).__module__.startswith("snuggle.")
        return scores


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

    def _process_owned(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip >= self.min_new_tokens:
            return scores
        return _fill_ids_(scores, self.eos_token_id, self._masks)

    def _banned(self, length: int, vocab: int) -> tuple[int, int] | None:
        if length - self.prompt_length_to_skip >= self.min_new_tokens:
            return None
        return _banned_ids(self.eos_token_id, vocab, self._masks)


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

    def _process_owned(self, input_ids, scores):
        return _fill_ids_(scores, self.suppress_tokens, self._masks)

    def _banned(self, length: int, vocab: int) -> tuple[int, int] | None:
        return _banned_ids(self.suppress_tokens, vocab, self._masks)


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

    def _process_owned(self, input_ids, scores):
        if input_ids.shape[-1] != self.begin_index:
            return scores
        return _fill_ids_(scores, self.begin_suppress_tokens, self._masks)

    def _banned(self, length: int, vocab: int) -> tuple[int, int] | None:
        return None if length != self.begin_index else _banned_ids(self.begin_suppress_tokens, vocab, self._masks)


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


# The warpers (logits_warpers.py) and build_logits_processor (logits_process_builder.py) live in their
# own modules, one idea per file; they stay importable from here, where transformers users look for them.
_ELSEWHERE = {
    **dict.fromkeys(
        ("TemperatureLogitsWarper", "TopKLogitsWarper", "TopHLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper",
         "TypicalLogitsWarper", "EpsilonLogitsWarper", "EtaLogitsWarper"),
        "snuggle.generation.logits_warpers",
    ),
    "build_logits_processor": "snuggle.generation.logits_process_builder",
}


def __getattr__(name: str):
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted([*globals(), *_ELSEWHERE])

