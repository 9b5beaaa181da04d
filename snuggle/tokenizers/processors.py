"""Post-processors: add special tokens around encoded sequences, as `tokenizers.processors`.

`process(encoding, pair=None, add_special_tokens=True)` follows the reference exactly:
1. each input gets its sequence id (0 for the first, 1 for the pair; overflowing parts
   too) and its type ids are set to that sequence id;
2. the processor rewrites the list of encodings (`process_encodings`);
3. the results are merged into one encoding, without shifting offsets. Merging also
   combines the overflowing parts, so each overflowing window ends up with the same
   special tokens as the main one.

>>> from snuggle.tokenizers.encoding import Encoding
>>> enc = Encoding.from_items([(7, "hello", (0, 5), 0, 0), (8, "world", (6, 11), 1, 0)])
>>> from snuggle.tokenizers.processors import TemplateProcessing
>>> bert = TemplateProcessing("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1", [("[CLS]", 1), ("[SEP]", 2)])
>>> out = bert.process(enc)
>>> out.tokens, out.ids, out.special_tokens_mask
(['[CLS]', 'hello', 'world', '[SEP]'], [1, 7, 8, 2], [1, 0, 0, 1])
>>> out.sequence_ranges
{0: (1, 3)}
"""

from __future__ import annotations

from typing import Any, Iterable

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.component import Component
from snuggle.tokenizers.encoding import Encoding

WHERE = "post_processor"

# Rust's char::is_whitespace (the Unicode White_Space property). Python's str.isspace
# differs (it also accepts U+001C..U+001F), so the set is spelled out.
_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_BYTE_LEVEL_SPACE = "\u0120"  # 'Ġ', the GPT-2 byte-level char for b" "


# ---- encoding plumbing shared by all processors ------------------------------------------

def _mark_sequence(encoding: Encoding, sequence_id: int) -> None:
    # insert, not replace: ranges from an earlier processing step are kept
    encoding.sequence_ranges[sequence_id] = (0, len(encoding.ids))


def _merge_into(target: Encoding, other: Encoding) -> None:
    """Append `other` to `target` in place, combining overflowing parts like the reference.

    New overflowing = (each own overflow + other) and (each own overflow + each other
    overflow), then (target itself, overflow list included, + each other overflow).
    Offsets are not shifted.
    """
    combined: list[Encoding] = []
    for own in target.overflowing:
        n = own.copy()
        _merge_into(n, other.copy())
        combined.append(n)
        for theirs in other.overflowing:
            n = own.copy()
            _merge_into(n, theirs.copy())
            combined.append(n)
    for theirs in other.overflowing:
        n = target.copy()
        _merge_into(n, theirs.copy())
        combined.append(n)
    base = len(target.ids)
    for sid, (s, e) in other.sequence_ranges.items():
        target.sequence_ranges[sid] = (base + s, base + e)
    target.ids = target.ids + other.ids
    target.type_ids = target.type_ids + other.type_ids
    target.tokens = target.tokens + other.tokens
    target.words = target.words + other.words
    target.offsets = target.offsets + other.offsets
    target.special_tokens_mask = target.special_tokens_mask + other.special_tokens_mask
    target.attention_mask = target.attention_mask + other.attention_mask
    target.overflowing = combined


def _merge(encodings: Iterable[Encoding]) -> Encoding:
    out = Encoding()
    for e in encodings:
        _merge_into(out, e)
    return out


def _special_encoding(ids: list[int], tokens: list[str], type_id: int) -> Encoding:
    n = len(ids)
    return Encoding(list(ids), [type_id] * n, list(tokens), [(0, 0)] * n, [None] * n, [1] * n, [1] * n, [], {})


def _surround(
    encoding: Encoding,
    before: tuple[str, int] | None,
    after: tuple[str, int],
    type_ids: list[int],
    sequence_id: int,
) -> Encoding:
    """`before? + encoding + after` as Bert/Roberta build it: the content's special mask
    becomes 0, attention all 1, and the sequence range covers the content only."""
    head = [before] if before else []
    n = len(encoding.ids)
    ids = [t[1] for t in head] + encoding.ids + [after[1]]
    start = len(head)
    return Encoding(
        ids,
        type_ids,
        [t[0] for t in head] + encoding.tokens + [after[0]],
        [(0, 0)] * start + encoding.offsets + [(0, 0)],
        [None] * start + encoding.words + [None],
        [1] * start + [0] * n + [1],
        [1] * len(ids),
        [],
        {sequence_id: (start, start + n)},
    )


def trim_byte_level_offsets(encoding: Encoding, add_prefix_space: bool) -> None:
    """Shrink each token's offsets past its leading/trailing whitespace or 'Ġ' chars.

    The first token (or any token starting at offset 0) keeps a single leading 'Ġ' when
    `add_prefix_space` is on, since that space was added by the pre-tokenizer.

    >>> e = Encoding([1, 2], tokens=["Ġhi", "ĠthereĠĠ"], offsets=[(0, 3), (3, 11)])
    >>> trim_byte_level_offsets(e, add_prefix_space=False); e.offsets
    [(1, 3), (4, 9)]
    """
    new_offsets = []
    for i, (token, (start, end)) in enumerate(zip(encoding.tokens, encoding.offsets)):
        leading = 0
        for c in token:
            if c == _BYTE_LEVEL_SPACE or c in _WHITE_SPACE:
                leading += 1
            else:
                break
        trailing = 0
        for c in reversed(token):
            if c == _BYTE_LEVEL_SPACE or c in _WHITE_SPACE:
                trailing += 1
            else:
                break
        if leading > 0:
            is_first = i == 0 or start == 0
            if is_first and add_prefix_space and leading == 1:
                leading = 0
            start = min(start + leading, end)
        if trailing > 0 and end >= trailing:
            end = max(end - trailing, start)
        new_offsets.append((start, end))
    encoding.offsets = new_offsets


def _check_pair(value: Any, name: str, cls: str) -> tuple[str, int]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
        or value[1] < 0
    ):
        raise TokenizerError(f"{cls}: `{name}` must be a (token: str, id: int) pair, got {value!r}")
    return (value[0], value[1])


# ---- processors -------------------------------------------------------------------------

class PostProcessor(Component):
    _family_module = "snuggle.tokenizers.processors"
    """Base class: subclasses implement `process_encodings`, `num_special_tokens_to_add`, `to_dict`."""

    def single_specials(self):
        """SpecialTokensAround for one sequence, when this processor only adds tokens around it
        (lets packed encodings skip unpacking); None otherwise."""
        return None

    def num_special_tokens_to_add(self, is_pair: bool) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        raise NotImplementedError  # pragma: no cover - abstract

    def process(self, encoding: Encoding, pair: Encoding | None = None, add_special_tokens: bool = True) -> Encoding:
        """Add the special tokens to `encoding` (and `pair`) and merge them into one encoding.

        The inputs are not modified.

        >>> from snuggle.tokenizers.encoding import Encoding
        >>> a = Encoding([5], tokens=["a"], offsets=[(0, 1)])
        >>> BertProcessing(("[SEP]", 102), ("[CLS]", 101)).process(a, a).type_ids
        [0, 0, 0, 1, 1]
        """
        encodings = [encoding.copy()] if pair is None else [encoding.copy(), pair.copy()]
        for i, e in enumerate(encodings):
            _mark_sequence(e, i)
            for o in e.overflowing:
                _mark_sequence(o, i)
            e.type_ids = [i] * len(e.ids)
        return _merge(self.process_encodings(encodings, add_special_tokens))



class BertProcessing(PostProcessor):
    """`[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]` with type id 1 on the pair part.

    >>> from snuggle.tokenizers.encoding import Encoding
    >>> a = Encoding([5], tokens=["a"], offsets=[(0, 1)])
    >>> BertProcessing(("[SEP]", 102), ("[CLS]", 101)).process(a).tokens
    ['[CLS]', 'a', '[SEP]']
    """

    def __init__(self, sep: tuple[str, int] = ("[SEP]", 102), cls: tuple[str, int] = ("[CLS]", 101), **kwargs):
        if "cls_token" in kwargs:  # the reference's keyword name
            cls = kwargs.pop("cls_token")
        if kwargs:
            raise TokenizerError(f"BertProcessing: unexpected arguments {sorted(kwargs)}")
        self.sep = _check_pair(sep, "sep", "BertProcessing")
        self.cls = _check_pair(cls, "cls", "BertProcessing")

    def single_specials(self):
        from snuggle.tokenizers.encoding import SpecialTokensAround

        (cls_tok, cls_id), (sep_tok, sep_id) = self.cls, self.sep
        return SpecialTokensAround([(cls_id, cls_tok, 0)], [(sep_id, sep_tok, 0)], 0)

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return 3 if is_pair else 2

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if not add_special_tokens:
            return encodings
        out = []
        for i, e in enumerate(encodings):
            if i == 0:
                new = _surround(e, self.cls, self.sep, [0] + e.type_ids + [0], 0)
                new.overflowing = [_surround(o, self.cls, self.sep, [0] + o.type_ids + [0], 0) for o in e.overflowing]
            else:
                new = _surround(e, None, self.sep, e.type_ids + [1], 1)
                new.overflowing = [_surround(o, None, self.sep, o.type_ids + [1], 1) for o in e.overflowing]
            out.append(new)
        return out

    def to_dict(self) -> dict:
        return {"type": "BertProcessing", "sep": list(self.sep), "cls": list(self.cls)}


class RobertaProcessing(PostProcessor):
    """`<s> A </s>` and `<s> A </s></s> B </s>` (all type id 0), with byte-level offset trimming.

    >>> from snuggle.tokenizers.encoding import Encoding
    >>> a = Encoding([5], tokens=["Ġa"], offsets=[(0, 2)])
    >>> out = RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False).process(a, a)
    >>> out.tokens, out.offsets[1]
    (['<s>', 'Ġa', '</s>', '</s>', 'Ġa', '</s>'], (1, 2))
    """

    def __init__(
        self,
        sep: tuple[str, int] = ("</s>", 2),
        cls: tuple[str, int] = ("<s>", 0),
        trim_offsets: bool = True,
        add_prefix_space: bool = True,
        **kwargs,
    ):
        if "cls_token" in kwargs:
            cls = kwargs.pop("cls_token")
        if kwargs:
            raise TokenizerError(f"RobertaProcessing: unexpected arguments {sorted(kwargs)}")
        self.sep = _check_pair(sep, "sep", "RobertaProcessing")
        self.cls = _check_pair(cls, "cls", "RobertaProcessing")
        self.trim_offsets = bool(trim_offsets)
        self.add_prefix_space = bool(add_prefix_space)

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return 4 if is_pair else 2

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if self.trim_offsets:
            for e in encodings:
                trim_byte_level_offsets(e, self.add_prefix_space)
                for o in e.overflowing:
                    trim_byte_level_offsets(o, self.add_prefix_space)
        for e in encodings:  # Roberta uses type id 0 everywhere
            e.type_ids = [0] * len(e.ids)
        if not add_special_tokens:
            return encodings
        out = []
        for i, e in enumerate(encodings):
            first, sid = (self.cls, 0) if i == 0 else (self.sep, 1)
            new = _surround(e, first, self.sep, [0] + e.type_ids + [0], sid)
            new.overflowing = [_surround(o, first, self.sep, [0] * (len(o.ids) + 2), sid) for o in e.overflowing]
            out.append(new)
        return out

    def to_dict(self) -> dict:
        return {
            "type": "RobertaProcessing",
            "sep": list(self.sep),
            "cls": list(self.cls),
            "trim_offsets": self.trim_offsets,
            "add_prefix_space": self.add_prefix_space,
        }


class ByteLevel(PostProcessor):
    """Only trims byte-level whitespace ('Ġ') out of the offsets; adds no token.

    >>> from snuggle.tokenizers.encoding import Encoding
    >>> a = Encoding([5, 6], tokens=["Ġa", "Ġb"], offsets=[(0, 2), (2, 4)])
    >>> ByteLevel(trim_offsets=True).process(a).offsets
    [(0, 2), (3, 4)]
    """

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True, **kwargs):
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        self.use_regex = bool(use_regex)

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return 0

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if self.trim_offsets:
            for e in encodings:
                trim_byte_level_offsets(e, self.add_prefix_space)
                for o in e.overflowing:
                    trim_byte_level_offsets(o, self.add_prefix_space)
        for i, e in enumerate(encodings):
            _mark_sequence(e, i)
        return encodings

    def to_dict(self) -> dict:
        return {
            "type": "ByteLevel",
            "add_prefix_space": self.add_prefix_space,
            "trim_offsets": self.trim_offsets,
            "use_regex": self.use_regex,
        }


class Sequence(PostProcessor):
    """Run several processors one after the other on the list of encodings.

    >>> Sequence([ByteLevel(), BertProcessing()]).num_special_tokens_to_add(True)
    3
    """

    def __init__(self, processors: list[PostProcessor]):
        processors = list(processors)
        for i, p in enumerate(processors):
            if not isinstance(p, PostProcessor):
                raise TokenizerError(f"Sequence: processors[{i}] must be a PostProcessor, got {type(p).__name__}")
        self.processors = processors

    def __getitem__(self, index: int) -> PostProcessor:
        return self.processors[index]

    def __setitem__(self, index: int, value: PostProcessor) -> None:
        if not isinstance(value, PostProcessor):
            raise TokenizerError(f"Sequence: can only hold PostProcessors, got {type(value).__name__}")
        self.processors[index] = value

    def __len__(self) -> int:
        return len(self.processors)

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return sum(p.num_special_tokens_to_add(is_pair) for p in self.processors)

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        for p in self.processors:
            encodings = p.process_encodings(encodings, add_special_tokens)
        return encodings

    def to_dict(self) -> dict:
        return {"type": "Sequence", "processors": [p.to_dict() for p in self.processors]}

    def __repr__(self) -> str:
        return f"Sequence(processors=[{', '.join(repr(p) for p in self.processors)}])"


def __getattr__(name: str):
    # TemplateProcessing lives in its own module (it builds on the classes above); it is
    # re-exported lazily so that either module can be imported first.
    if name == "TemplateProcessing":
        from snuggle.tokenizers.template_processing import TemplateProcessing

        return TemplateProcessing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _template_from_json(d: dict, where: str) -> PostProcessor:
    from snuggle.tokenizers.template_processing import TemplateProcessing

    return TemplateProcessing._from_json(d, where)


# ---- tokenizer.json ---------------------------------------------------------------------

def _field(d: dict, key: str, where: str, default: Any = ...) -> Any:
    if key not in d:
        if default is ...:
            raise TokenizerFileError(f"missing field {key!r} in {d.get('type')} post-processor", where=where)
        return default
    return d[key]


def _bool(d: dict, key: str, where: str, default: bool) -> bool:
    value = _field(d, key, where, default)
    if not isinstance(value, bool):
        raise TokenizerFileError(f"field {key!r} must be true or false, found {value!r}", where=where)
    return value


_READERS = {
    "BertProcessing": lambda d, w: BertProcessing(_field(d, "sep", w), _field(d, "cls", w)),
    "RobertaProcessing": lambda d, w: RobertaProcessing(
        _field(d, "sep", w),
        _field(d, "cls", w),
        _bool(d, "trim_offsets", w, True),
        _bool(d, "add_prefix_space", w, True),
    ),
    "ByteLevel": lambda d, w: ByteLevel(
        _bool(d, "add_prefix_space", w, True), _bool(d, "trim_offsets", w, True), _bool(d, "use_regex", w, True)
    ),
    "TemplateProcessing": _template_from_json,
    "Sequence": lambda d, w: Sequence(
        [_from_dict(x, f"{w}.processors[{i}]") for i, x in enumerate(_list(d, "processors", w))]
    ),
}


def _list(d: dict, key: str, where: str) -> list:
    value = _field(d, key, where)
    if not isinstance(value, list):
        raise TokenizerFileError(f"field {key!r} must be a list, found {value!r}", where=where)
    return value


def _from_dict(d: Any, where: str) -> PostProcessor:
    if not isinstance(d, dict):
        raise TokenizerFileError(f"expected a JSON object, found {d!r}", where=where)
    kind = d.get("type")
    reader = _READERS.get(kind)
    if reader is None:
        raise TokenizerFileError(
            f"unknown post-processor type {kind!r}; expected one of {', '.join(_READERS)}", where=where
        )
    try:
        return reader(d, where)
    except TokenizerFileError:
        raise
    except TokenizerError as e:
        raise TokenizerFileError(str(e), where=where) from e


def from_dict(d: dict | None) -> PostProcessor | None:
    """Build a post-processor from its tokenizer.json object (None -> None).

    >>> from_dict({"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]})
    BertProcessing(sep=['[SEP]', 102], cls=['[CLS]', 101])
    """
    if d is None:
        return None
    return _from_dict(d, WHERE)


__all__ = [
    "PostProcessor",
    "BertProcessing",
    "RobertaProcessing",
    "ByteLevel",
    "TemplateProcessing",
    "Sequence",
    "from_dict",
    "trim_byte_level_offsets",
]
