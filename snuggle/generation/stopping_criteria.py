"""Stopping criteria: each returns a (batch,) bool tensor, True where that sequence is finished.

MaxLengthCriteria, MaxTimeCriteria, EosTokenCriteria and StopStringCriteria (stop once the decoded
text ends with a stop string, with the reference's rule for strings spread over several tokens).

>>> import torch
>>> MaxLengthCriteria(max_length=3)(torch.tensor([[1, 2, 3]]), None)
tensor([True])
"""

from __future__ import annotations

import json
import time
from typing import Any

import torch

from snuggle.errors import ConfigError


class StoppingCriteria:
    """Base class: `__call__(input_ids, scores) -> BoolTensor (batch,)`."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor | None, **kwargs) -> torch.BoolTensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")


class MaxLengthCriteria(StoppingCriteria):
    """Stop once the sequence (prompt included) reaches `max_length` tokens."""

    def __init__(self, max_length: int, max_position_embeddings: int | None = None) -> None:
        if not isinstance(max_length, int) or max_length <= 0:
            raise ConfigError(f"`max_length` must be a positive integer, but is {max_length!r}")
        self.max_length = max_length
        self.max_position_embeddings = max_position_embeddings

    def __call__(self, input_ids, scores, **kwargs):
        done = input_ids.shape[-1] >= self.max_length
        return torch.full((input_ids.shape[0],), done, device=input_ids.device, dtype=torch.bool)


class MaxTimeCriteria(StoppingCriteria):
    """Stop every sequence once `max_time` seconds have passed since `initial_timestamp` (default: creation).

    >>> MaxTimeCriteria(max_time=3600.0)(torch.tensor([[1, 2]]), None)
    tensor([False])
    """

    def __init__(self, max_time: float, initial_timestamp: float | None = None) -> None:
        if isinstance(max_time, bool) or not isinstance(max_time, (int, float)) or max_time < 0:
            raise ConfigError(f"`max_time` must be a non-negative number of seconds, but is {max_time!r}")
        self.max_time = max_time
        self.initial_timestamp = time.time() if initial_timestamp is None else initial_timestamp

    def __call__(self, input_ids, scores, **kwargs):
        done = time.time() - self.initial_timestamp > self.max_time
        return torch.full((input_ids.shape[0],), done, device=input_ids.device, dtype=torch.bool)


class EosTokenCriteria(StoppingCriteria):
    """Stop a sequence whose last token is one of the eos ids."""

    def __init__(self, eos_token_id: int | list[int] | torch.Tensor) -> None:
        if not isinstance(eos_token_id, torch.Tensor):
            eos_token_id = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        self.eos_token_id = eos_token_id

    def __call__(self, input_ids, scores, **kwargs):
        return torch.isin(input_ids[:, -1], self.eos_token_id.to(input_ids.device))


class StoppingCriteriaList(list):
    """All criteria OR-ed together."""

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for criteria in self:
            done = done | criteria(input_ids, scores, **kwargs)
        return done

    @property
    def max_length(self) -> int | None:
        for criteria in self:
            if isinstance(criteria, MaxLengthCriteria):
                return criteria.max_length
        return None


# ---- stop strings -------------------------------------------------------------------------------

# Decoded as a prefix before each token so that convert_tokens_to_string's word-boundary handling
# (leading-space stripping, "##" joining) treats the token as the middle of a text, as the reference does.
_STATIC_PREFIX = "abcdef"


def _decoder_types(config: Any) -> set[str]:
    """Every "type" named anywhere in a decoder's to_dict() (Sequence decoders nest others)."""
    if isinstance(config, dict):
        found = {config["type"]} if isinstance(config.get("type"), str) else set()
        for value in config.values():
            found |= _decoder_types(value)
        return found
    if isinstance(config, list):
        return set().union(*(_decoder_types(v) for v in config)) if config else set()
    return set()


def _matching_mode(tokenizer) -> str | None:
    """"byte_level" / "byte_fallback" when tokens stand for bytes (matched as UTF-8 bytes), else None (str)."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder is None:
        return None
    if type(decoder).__name__ == "ByteLevel":
        return "byte_level"
    config = None
    if hasattr(decoder, "to_dict"):
        config = decoder.to_dict()
    elif hasattr(decoder, "__getstate__"):  # a decoder exposing only its JSON state
        try:
            state = decoder.__getstate__()
            config = json.loads(state) if isinstance(state, (str, bytes)) else None
        except (TypeError, ValueError):
            config = None
    types = _decoder_types(config)
    if "ByteFallback" in types:  # explicit <0xNN> tokens win when both markers appear
        return "byte_fallback"
    if "ByteLevel" in types:
        return "byte_level"
    return None


class StopStringCriteria(StoppingCriteria):
    """Stop a sequence as soon as its decoded text ends with one of `stop_strings`.

    A stop string counts when it occurs in the text of the last tokens *and its last character is
    inside the final token* (the reference's rule): for the stop string "stop", the token sequences
    ["st", "op"], ["stop"], ["st", "opera"], ["sto", "pper"], ["las", "topper"] all stop, while
    ["stop", "at"] does not (the final token can be removed without destroying the match, so the
    check already fired - or deliberately did not - one step earlier). Tokens are turned into the
    text they yield (bytes for byte-level and byte-fallback vocabularies, so a stop string can end
    in the middle of a multi-byte character), lazily and cached per token id.

    >>> criteria = StopStringCriteria(tokenizer=tok, stop_strings=["\\n\\n", "User:"])   # doctest: +SKIP
    >>> criteria(input_ids, None)                                                      # doctest: +SKIP
    tensor([False,  True])
    """

    def __init__(self, tokenizer, stop_strings: str | list[str]) -> None:
        if tokenizer is None:
            raise ConfigError("StopStringCriteria: `tokenizer` is required to decode the tokens; pass tokenizer=...")
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        if (not isinstance(stop_strings, (list, tuple)) or not stop_strings
                or not all(isinstance(s, str) and s for s in stop_strings)):
            raise ConfigError(f"`stop_strings` must be a non-empty string or a list of non-empty strings, "
                              f"but is {stop_strings!r}")
        self.stop_strings: tuple[str, ...] = tuple(stop_strings)
        self.tokenizer = tokenizer
        self._mode = _matching_mode(tokenizer)
        self._targets: tuple[str | bytes, ...] = (
            self.stop_strings if self._mode is None else tuple(s.encode("utf-8") for s in self.stop_strings)
        )
        # One token yields at least one character, so a match never spans more tokens than characters.
        self.maximum_token_len = max(len(t) for t in self._targets)
        vocab = tokenizer.get_vocab()
        self._id_to_token = {index: token for token, index in vocab.items()}
        base_ids = tokenizer(_STATIC_PREFIX, add_special_tokens=False)["input_ids"]
        self._prefix_tokens = list(tokenizer.convert_ids_to_tokens(list(base_ids)))
        self._byte_decoder = None
        if self._mode == "byte_level":
            from snuggle.tokenizers.pre_tokenizers import bytes_to_unicode

            self._byte_decoder = {char: byte for byte, char in bytes_to_unicode().items()}
        self._pieces: dict[int, str | bytes | None] = {}

    def _piece(self, token_id: int) -> str | bytes | None:
        """The text (str, or bytes in byte modes) token_id yields in the middle of a text; None if unknown."""
        piece = self._pieces.get(token_id, False)
        if piece is not False:
            return piece
        token = self._id_to_token.get(token_id)
        if token is None:
            piece = None
        elif self._mode == "byte_level" and all(char in self._byte_decoder for char in token):
            piece = bytes(self._byte_decoder[char] for char in token)
        elif (self._mode == "byte_fallback" and len(token) == 6 and token.startswith("<0x") and token.endswith(">")
              and all(c in "0123456789abcdefABCDEF" for c in token[3:5])):
            piece = bytes([int(token[3:5], 16)])
        else:
            text = self.tokenizer.convert_tokens_to_string(self._prefix_tokens + [token])
            start = text.find(_STATIC_PREFIX)
            text = text[start + len(_STATIC_PREFIX):] if start >= 0 else text
            piece = text if self._mode is None else text.encode("utf-8")
        self._pieces[token_id] = piece
        return piece

    def _row_matches(self, token_ids: list[int]) -> bool:
        pieces = [self._piece(t) for t in token_ids]
        # An unknown id breaks every match through it: only the text after it counts.
        if None in pieces:
            pieces = pieces[len(pieces) - pieces[::-1].index(None):]
        if not pieces:
            return False
        text = pieces[0][:0].join(pieces)
        last_start = len(text) - len(pieces[-1])
        for target in self._targets:
            # An occurrence ending inside the final token starts after last_start - len(target).
            if text.find(target, max(0, last_start - len(target) + 1)) != -1:
                return True
        return False

    def __call__(self, input_ids, scores, **kwargs):
        tails = input_ids[:, -self.maximum_token_len:].tolist()
        done = [self._row_matches(row) for row in tails]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
