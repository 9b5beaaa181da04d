"""TemplateProcessing: special tokens described by a template string, as in `tokenizers`.

A template is a list of pieces separated by single spaces. `$A` / `$B` stand for the
first / second input sequence, anything else names a special token; `:N` sets the type id
(default 0). `$N` alone means sequence A with type id N, and `$` alone means `$A`.

>>> t = TemplateProcessing(
...     single="[CLS] $A [SEP]",
...     pair="[CLS] $A [SEP] $B:1 [SEP]:1",
...     special_tokens=[("[CLS]", 1), ("[SEP]", 0)],
... )
>>> t.num_special_tokens_to_add(is_pair=True)
3
>>> [p.to_json() for p in parse_template("$B:1 <eos>:1")]
[{'Sequence': {'id': 'B', 'type_id': 1}}, {'SpecialToken': {'id': '<eos>', 'type_id': 1}}]

In tokenizer.json the templates are lists of {"Sequence": {...}} / {"SpecialToken": {...}}
objects and `special_tokens` maps each id to {"id", "ids", "tokens"} (a special token may
stand for several ids, e.g. a multi-token prompt).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.encoding import Encoding
from snuggle.tokenizers.processors import PostProcessor, _mark_sequence, _special_encoding


class Piece(NamedTuple):
    """One template element: kind is "Sequence" (id "A" or "B") or "SpecialToken" (id = its name)."""

    kind: str
    id: str
    type_id: int

    def to_json(self) -> dict:
        return {self.kind: {"id": self.id, "type_id": self.type_id}}

    def __str__(self) -> str:
        name = f"${self.id}" if self.kind == "Sequence" else self.id
        return f"{name}:{self.type_id}"


class SpecialToken(NamedTuple):
    """A special token of a template: its name in the template, and the ids/tokens it adds."""

    id: str
    ids: list[int]
    tokens: list[str]

    def to_json(self) -> dict:
        return {"id": self.id, "ids": list(self.ids), "tokens": list(self.tokens)}


def _parse_u32(text: str) -> int | None:
    # Rust's u32 parsing: ASCII digits with an optional '+', nothing else
    digits = text[1:] if text.startswith("+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if value < 2**32 else None


def parse_piece(text: str) -> Piece:
    """Parse one template piece such as "$A", "$B:1", "$1", "[SEP]:1".

    >>> parse_piece("$1"), parse_piece("[SEP]:1")
    (Piece(kind='Sequence', id='A', type_id=1), Piece(kind='SpecialToken', id='[SEP]', type_id=1))
    """
    parts = text.split(":")
    if len(parts) > 2:
        raise TokenizerError(f'Cannot build Piece from string "{text}"')
    name = parts[0]
    type_id = 0
    if len(parts) == 2:
        parsed = _parse_u32(parts[1])
        if parsed is None:
            raise TokenizerError(f'Cannot build Piece from string "{text}" (type id must be a number)')
        type_id = parsed
    if not name.startswith("$"):
        return Piece("SpecialToken", name, type_id)
    rest = name[1:]
    if rest in ("", "A", "a"):
        return Piece("Sequence", "A", type_id)
    if rest in ("B", "b"):
        return Piece("Sequence", "B", type_id)
    number = _parse_u32(rest)
    if number is None:
        raise TokenizerError(f'Cannot build Piece from string "{text}" (expected $A, $B or $<type id>)')
    # "$N" means sequence A with type id N; an explicit ":M" wins
    return Piece("Sequence", "A", type_id if len(parts) == 2 else number)


def parse_template(template: str | list[str]) -> list[Piece]:
    """Parse a template given as a string (pieces separated by single spaces) or a list."""
    if isinstance(template, str):
        items = template.split(" ")
    elif isinstance(template, (list, tuple)) and all(isinstance(x, str) for x in template):
        items = list(template)
    else:
        raise TokenizerError(f"TemplateProcessing: a template must be a str or a list of str, got {template!r}")
    return [parse_piece(x) for x in items]


def _parse_special_token(item: Any) -> SpecialToken:
    if isinstance(item, dict):
        try:
            sid, ids, tokens = item["id"], list(item["ids"]), list(item["tokens"])
        except (KeyError, TypeError) as e:
            raise TokenizerError(
                f"TemplateProcessing: a special token dict needs 'id', 'ids' and 'tokens', got {item!r}"
            ) from e
        if not isinstance(sid, str) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise TokenizerError(f"TemplateProcessing: bad special token {item!r} (id: str, ids: list of int)")
        if not all(isinstance(t, str) for t in tokens):
            raise TokenizerError(f"TemplateProcessing: special token {sid!r} has non-string tokens {tokens!r}")
        if len(ids) != len(tokens):
            raise TokenizerError("SpecialToken: ids and tokens must be of the same length")
        return SpecialToken(sid, ids, tokens)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        a, b = item
        if isinstance(a, str) and isinstance(b, int) and not isinstance(b, bool):
            return SpecialToken(a, [b], [a])
        if isinstance(b, str) and isinstance(a, int) and not isinstance(a, bool):
            return SpecialToken(b, [a], [b])
    raise TokenizerError(
        f"TemplateProcessing: special tokens must be (str, int), (int, str) or dict, got {item!r}"
    )


class TemplateProcessing(PostProcessor):
    """Add special tokens following a template for single inputs and one for pairs.

    >>> from snuggle.tokenizers.encoding import Encoding
    >>> a = Encoding([7], tokens=["hi"], offsets=[(0, 2)])
    >>> b = Encoding([8], tokens=["yo"], offsets=[(0, 2)])
    >>> t = TemplateProcessing("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1", [("[CLS]", 1), ("[SEP]", 0)])
    >>> out = t.process(a, b)
    >>> out.tokens, out.type_ids
    (['[CLS]', 'hi', '[SEP]', 'yo', '[SEP]'], [0, 0, 0, 1, 1])
    """

    def __init__(
        self,
        single: str | list[str] | None = None,
        pair: str | list[str] | None = None,
        special_tokens: list | None = None,
    ):
        self.single = parse_template("$0" if single is None else single)
        self.pair = parse_template("$A:0 $B:1" if pair is None else pair)
        tokens = [_parse_special_token(x) for x in (special_tokens or [])]
        self.special_tokens: dict[str, SpecialToken] = {t.id: t for t in tokens}
        self._validate()

    def _validate(self) -> None:
        used = {p.id for p in self.pair if p.kind == "Sequence"}
        if used != {"A", "B"}:
            raise TokenizerError("Template for `pair` must use both sequences")
        missing = [
            p.id for p in self.single + self.pair if p.kind == "SpecialToken" and p.id not in self.special_tokens
        ]
        if missing:
            names = ", ".join(dict.fromkeys(missing))
            raise TokenizerError(f"Missing SpecialToken(s) with id(s) `{names}`")

    @classmethod
    def _from_json(cls, d: dict, where: str) -> "TemplateProcessing":
        # Like the reference, a file is not validated (a missing special token only fails
        # when the template is applied).
        self = cls.__new__(cls)
        self.single = _pieces_from_json(d.get("single"), f"{where}.single")
        self.pair = _pieces_from_json(d.get("pair", [Piece("Sequence", "A", 0).to_json(),
                                                     Piece("Sequence", "B", 1).to_json()]), f"{where}.pair")
        raw = d.get("special_tokens", {})
        if not isinstance(raw, dict):
            raise TokenizerFileError(f"special_tokens must be an object, found {raw!r}", where=where)
        self.special_tokens = {}
        for key, value in raw.items():
            try:
                tok = _parse_special_token(value)
            except TokenizerError as e:
                raise TokenizerFileError(str(e), where=f"{where}.special_tokens[{key!r}]") from e
            self.special_tokens[key] = tok
        return self

    def _count(self, template: list[Piece]) -> int:
        return sum(
            len(self.special_tokens[p.id].ids)
            for p in template
            if p.kind == "SpecialToken" and p.id in self.special_tokens
        )

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return self._count(self.pair if is_pair else self.single)

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if len(encodings) == 1:
            template = self.single
        elif len(encodings) == 2:
            template = self.pair
        else:
            raise TokenizerError(f"TemplateProcessing expects 1 or 2 encodings, got {len(encodings)}")
        out = []
        for piece in template:
            if piece.kind == "Sequence":
                index = 0 if piece.id == "A" else 1
                if index >= len(encodings):
                    raise TokenizerError(
                        f"TemplateProcessing: the single template uses sequence ${piece.id}, "
                        "but only one sequence was given"
                    )
                e = encodings[index]
                e.type_ids = [piece.type_id] * len(e.ids)
                _mark_sequence(e, index)
                out.append(e.copy())
            elif add_special_tokens:
                tok = self.special_tokens.get(piece.id)
                if tok is None:
                    raise TokenizerError(
                        f"TemplateProcessing: the template uses special token {piece.id!r}, "
                        f"which is not in special_tokens ({', '.join(self.special_tokens) or 'none'})"
                    )
                out.append(_special_encoding(tok.ids, tok.tokens, piece.type_id))
        return out

    def single_specials(self):
        """The single template as SpecialTokensAround (None when it is not `specials $A specials`)."""
        from snuggle.tokenizers.encoding import SpecialTokensAround

        seq = [i for i, p in enumerate(self.single) if p.kind == "Sequence"]
        if len(seq) != 1 or self.single[seq[0]].id != "A":
            return None
        parts: list[list[tuple[int, str, int]]] = [[], []]
        for i, p in enumerate(self.single):
            if p.kind == "Sequence":
                continue
            tok = self.special_tokens.get(p.id)
            if tok is None:
                return None  # the generic path raises the clear error
            parts[i > seq[0]].extend((tid, t, p.type_id) for tid, t in zip(tok.ids, tok.tokens))
        return SpecialTokensAround(parts[0], parts[1], self.single[seq[0]].type_id)

    def to_dict(self) -> dict:
        return {
            "type": "TemplateProcessing",
            "single": [p.to_json() for p in self.single],
            "pair": [p.to_json() for p in self.pair],
            # the reference writes this map sorted by key
            "special_tokens": {k: self.special_tokens[k].to_json() for k in sorted(self.special_tokens)},
        }

    def __repr__(self) -> str:
        single = " ".join(str(p) for p in self.single)
        pair = " ".join(str(p) for p in self.pair)
        specials = [t.to_json() for t in self.special_tokens.values()]
        return f"TemplateProcessing(single={single!r}, pair={pair!r}, special_tokens={specials!r})"


def _pieces_from_json(raw: Any, where: str) -> list[Piece]:
    if not isinstance(raw, list):
        raise TokenizerFileError(f"expected a list of template pieces, found {raw!r}", where=where)
    pieces = []
    for i, item in enumerate(raw):
        ok = isinstance(item, dict) and len(item) == 1
        kind, body = next(iter(item.items())) if ok else (None, None)
        ok = ok and kind in ("Sequence", "SpecialToken") and isinstance(body, dict)
        ok = ok and isinstance(body.get("id"), str) and isinstance(body.get("type_id"), int)
        if ok and kind == "Sequence":
            ok = body["id"] in ("A", "B")
        if not ok:
            raise TokenizerFileError(
                'expected {"Sequence": {"id": "A"|"B", "type_id": int}} or '
                f'{{"SpecialToken": {{"id": str, "type_id": int}}}}, found {item!r}',
                where=f"{where}[{i}]",
            )
        pieces.append(Piece(kind, body["id"], body["type_id"]))
    return pieces


__all__ = ["TemplateProcessing", "Piece", "SpecialToken", "parse_piece", "parse_template"]
