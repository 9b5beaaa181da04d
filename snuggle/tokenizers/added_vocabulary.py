"""Added tokens: tokens matched in the text *before* the model sees it.

Special tokens (`<|endoftext|>`, `[CLS]`) and user-added tokens live here, outside the
model's own vocabulary. `AddedVocabulary.extract_and_normalize` cuts an input into
pieces: added tokens (already tokenized) and the text between them (normalized, to be
pre-tokenized and tokenized by the model). Matching is leftmost-longest, with the
`single_word`, `lstrip` and `rstrip` options of each token, as in the reference.

>>> vocab = AddedVocabulary()
>>> t = AddedToken("[MASK]", lstrip=True, special=True)
>>> t.content, t.lstrip, t.normalized
('[MASK]', True, False)
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

import regex

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.normalized import NormalizedString, PreTokenizedString, Split, Token

_ENDS_WITH_WORD = regex.compile(r"\w$")
_STARTS_WITH_WORD = regex.compile(r"^\w")


class AddedToken:
    """A token added to a Tokenizer, with its matching options (as `tokenizers.AddedToken`).

    `normalized` defaults to the opposite of `special` (special tokens match the raw text).
    """

    __slots__ = ("content", "single_word", "lstrip", "rstrip", "normalized", "special")

    def __init__(
        self,
        content: str = "",
        single_word: bool = False,
        lstrip: bool = False,
        rstrip: bool = False,
        normalized: bool | None = None,
        special: bool = False,
    ):
        if not isinstance(content, str):
            raise TokenizerError(f"AddedToken content must be a str, got {type(content).__name__}")
        self.content = content
        self.single_word = bool(single_word)
        self.lstrip = bool(lstrip)
        self.rstrip = bool(rstrip)
        self.special = bool(special)
        self.normalized = (not self.special) if normalized is None else bool(normalized)

    def to_dict(self) -> dict:
        return {
            "content": self.content,
            "single_word": self.single_word,
            "lstrip": self.lstrip,
            "rstrip": self.rstrip,
            "normalized": self.normalized,
            "special": self.special,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "AddedToken":
        try:
            return cls(
                d["content"],
                single_word=d.get("single_word", False),
                lstrip=d.get("lstrip", False),
                rstrip=d.get("rstrip", False),
                normalized=d.get("normalized", True),
                special=d.get("special", False),
            )
        except KeyError as e:
            raise TokenizerError(f"added token {d!r} has no 'content' field") from e

    __getstate__ = to_dict

    def __setstate__(self, state: dict) -> None:
        other = AddedToken.from_dict(state)
        for k in self.__slots__:
            setattr(self, k, getattr(other, k))

    def __str__(self) -> str:
        return self.content

    def __repr__(self) -> str:
        return (
            f'AddedToken("{self.content}", rstrip={self.rstrip}, lstrip={self.lstrip}, '
            f"single_word={self.single_word}, normalized={self.normalized}, special={self.special})"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.content == other
        if not isinstance(other, AddedToken):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.content)

    def __lt__(self, other: "AddedToken") -> bool:
        return self.content < str(other)


def as_added_token(token: "str | AddedToken", special: bool) -> AddedToken:
    """Strings become AddedTokens with the defaults of add_tokens / add_special_tokens."""
    if isinstance(token, AddedToken):
        if special and not token.special:
            # add_special_tokens marks the token special, like the reference
            t = AddedToken.from_dict(token.to_dict())
            t.special = True
            return t
        return token
    if isinstance(token, str):
        return AddedToken(token, special=special, normalized=not special)
    raise TokenizerError(f"added tokens must be str or AddedToken, got {type(token).__name__}: {token!r}")


class _Matcher:
    """Leftmost-longest matcher over a set of literal strings (one compiled alternation)."""

    __slots__ = ("pattern", "ids")

    def __init__(self, contents: list[str], ids: list[int]):
        # Longest first so that the alternation picks the longest match at the leftmost start;
        # among equal strings the first added wins.
        order = sorted(range(len(contents)), key=lambda i: (-len(contents[i]), i))
        seen: dict[str, int] = {}
        for i in order:
            if contents[i] and contents[i] not in seen:
                seen[contents[i]] = ids[i]
        self.ids = seen
        # stdlib `re` is the faster engine for a plain alternation of literals
        self.pattern = re.compile("|".join(re.escape(c) for c in seen)) if seen else None

    def find(self, text: str, tokens_by_id: dict[int, AddedToken], skip_special: bool) -> list[tuple[int | None, int, int]]:
        """Cover `text` with (id or None, start, end) pieces."""
        if not text:
            return [(None, 0, 0)]
        if self.pattern is None or self.pattern.search(text) is None:
            return [(None, 0, len(text))]
        out: list[tuple[int | None, int, int]] = []
        start_offset = 0
        for m in self.pattern.finditer(text):
            start, stop = m.span()
            tid = self.ids[m.group()]
            tok = tokens_by_id[tid]
            if skip_special and tok.special:
                continue
            if tok.single_word:
                start_space = start == 0 or not _ENDS_WITH_WORD.search(text, 0, start)
                stop_space = stop == len(text) or not _STARTS_WITH_WORD.match(text, stop)
                if not (start_space and stop_space):
                    continue
            if tok.lstrip:
                new_start = start
                while new_start > 0 and text[new_start - 1].isspace():
                    new_start -= 1
                start = max(new_start, start_offset)
            if tok.rstrip:
                while stop < len(text) and text[stop].isspace():
                    stop += 1
            if start_offset < start:
                out.append((None, start_offset, start))
            out.append((tid, start, stop))
            start_offset = stop
        if start_offset != len(text):
            out.append((None, start_offset, len(text)))
        return out


class AddedVocabulary:
    """The added tokens of a tokenizer and the machinery to find them in text."""

    def __init__(self) -> None:
        self.added_tokens_map: dict[str, int] = {}  # content -> id
        self.added_tokens_map_r: dict[int, AddedToken] = {}  # id -> token
        self.added_tokens: list[AddedToken] = []  # non-special, in insertion order
        self.special_tokens: list[AddedToken] = []  # special, in insertion order
        self.special_tokens_set: set[str] = set()
        self.encode_special_tokens = False
        self._normalized_content: dict[int, str] = {}  # id -> content after the normalizer
        self._raw = _Matcher([], [])
        self._normalized = _Matcher([], [])

    def __len__(self) -> int:
        return len(self.added_tokens_map)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.added_tokens_map)

    def get_added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self.added_tokens_map_r.items()))

    def token_to_id(self, token: str, model) -> int | None:
        tid = self.added_tokens_map.get(token)
        return tid if tid is not None else model.token_to_id(token)

    def id_to_token(self, tid: int, model) -> str | None:
        """The token string for an id; normalized added tokens read back normalized, like the reference."""
        tok = self.added_tokens_map_r.get(tid)
        if tok is None:
            return model.id_to_token(tid)
        return self._normalized_content.get(tid, tok.content)

    def is_special_token(self, token: str) -> bool:
        return token in self.special_tokens_set

    def add_tokens(self, tokens: Iterable[AddedToken], model, normalizer) -> int:
        """Add tokens (ids after the model's vocab unless the model knows them); returns how many were new."""
        tokens = list(tokens)
        for t in tokens:
            if t.special and t.content and t.content not in self.special_tokens_set:
                self.special_tokens.append(t)
                self.special_tokens_set.add(t.content)
        ignored = 0
        for t in tokens:
            if not t.content or any(v == t for v in self.added_tokens_map_r.values()):
                ignored += 1
                continue
            new_id = self.token_to_id(t.content, model)
            if new_id is None:
                vocab_size = model.get_vocab_size()
                if self.added_tokens_map:
                    mx = max(self.added_tokens_map.values())
                    new_id = mx + 1 if (mx >= vocab_size or vocab_size == 0) else vocab_size
                else:
                    new_id = vocab_size
            old_id = self.added_tokens_map.get(t.content)
            self.added_tokens_map[t.content] = new_id
            if old_id is not None and old_id != new_id and self.added_tokens_map_r.get(old_id) == t:
                pass
            self.added_tokens_map_r[new_id] = t
            if t.content not in self.special_tokens_set:
                self.added_tokens.append(t)
        self.refresh(model, normalizer)
        return len(tokens) - ignored

    def refresh(self, model, normalizer) -> None:
        """Rebuild the raw and normalized matchers (after adding tokens or changing the normalizer)."""
        raw_c, raw_i, norm_c, norm_i = [], [], [], []
        self._normalized_content = {}
        for t in self.special_tokens + self.added_tokens:
            tid = self.token_to_id(t.content, model)
            if tid is None:  # pragma: no cover - add_tokens always assigns one
                raise TokenizerError(f"added token {t.content!r} has no id")
            if t.normalized:
                content = t.content
                if normalizer is not None:
                    n = NormalizedString(content)
                    normalizer.normalize(n)
                    content = n.normalized
                    if content != t.content:
                        self._normalized_content[tid] = content
                norm_c.append(content)
                norm_i.append(tid)
            else:
                raw_c.append(t.content)
                raw_i.append(tid)
        self._raw = _Matcher(raw_c, raw_i)
        self._normalized = _Matcher(norm_c, norm_i)

    @property
    def has_raw(self) -> bool:
        return self._raw.pattern is not None

    @property
    def has_normalized(self) -> bool:
        return self._normalized.pattern is not None

    def _split_with(self, matcher: _Matcher, n: NormalizedString) -> list[Split]:
        pieces = matcher.find(n.normalized, self.added_tokens_map_r, self.encode_special_tokens)
        out = []
        for tid, s, e in pieces:
            piece = n.slice(s, e)
            if tid is None:
                out.append(Split(piece))
            else:
                out.append(Split(piece, [Token(tid, piece.normalized, (0, len(piece.normalized)))]))
        return out

    def extract_and_normalize(self, normalizer, sequence: str) -> PreTokenizedString:
        """Split out raw-matched tokens, normalize the rest, then split out normalized-matched tokens."""
        pre = PreTokenizedString(sequence)
        if self.has_raw:
            pre.split(lambda _, n: self._split_with(self._raw, n))

        def normalize_then_split(_, n: NormalizedString):
            if normalizer is not None:
                normalizer.normalize(n)
            if self.has_normalized:
                return self._split_with(self._normalized, n)
            return [Split(n)]

        pre.split(normalize_then_split)
        return pre

    def split_raw(self, sequence: str) -> list[tuple[int | None, int, int]]:
        """Fast-path helper: (added id or None, start, end) pieces of the raw text."""
        return self._raw.find(sequence, self.added_tokens_map_r, self.encode_special_tokens)

    def to_list(self) -> list[dict]:
        """The `added_tokens` array of tokenizer.json (ordered by id)."""
        return [{"id": tid, **tok.to_dict()} for tid, tok in sorted(self.added_tokens_map_r.items())]


def load_added_tokens(entries: list, model, normalizer, vocab: AddedVocabulary, where: Callable[[int], str]) -> None:
    """Fill `vocab` from the tokenizer.json `added_tokens` array, keeping each declared id."""
    for i, d in enumerate(entries):
        if not isinstance(d, dict) or "content" not in d or "id" not in d:
            raise TokenizerFileError(f"expected an object with 'id' and 'content', got {d!r}", where=where(i))
        tok = AddedToken.from_dict(d)
        tid = int(d["id"])
        if tok.special and tok.content and tok.content not in vocab.special_tokens_set:
            vocab.special_tokens.append(tok)
            vocab.special_tokens_set.add(tok.content)
        vocab.added_tokens_map[tok.content] = tid
        vocab.added_tokens_map_r[tid] = tok
        if tok.content not in vocab.special_tokens_set:
            vocab.added_tokens.append(tok)
    vocab.refresh(model, normalizer)
