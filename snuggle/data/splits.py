"""Split names and the split slicing syntax of `load_dataset(..., split=...)`.

The syntax is the reference's: a split name, optionally sliced with absolute row numbers or
percents, and several of them joined with `+`:

    "train"                  all rows of train
    "train[:10%]"            the first 10 % (rounded to the closest row)
    "train[10:20]"           rows 10..19
    "train[:-1000]"          all but the last 1000 rows
    "train[50%:](pct1_dropremainder)"  percent boundaries as multiples of 1 % of the rows, truncated
    "train[:10%]+test[-5:]"  rows of both, concatenated in that order

>>> ReadInstruction.from_spec("train[:10%]+test[-5:]").to_absolute({"train": 600, "test": 200})
[AbsoluteSlice(split='train', start=0, stop=60), AbsoluteSlice(split='test', start=195, stop=200)]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from snuggle.errors import DataError

# A split name is words joined by dots (as the reference's naming rule).
SPLIT_NAME_RE = r"\w+(\.\w+)*"

_SLICE_SPEC_RE = re.compile(
    rf"""
    ^(?P<split>{SPLIT_NAME_RE})
    (\[
        ((?P<from>-?[\d_]+)(?P<from_pct>%)?)?
        :
        ((?P<to>-?[\d_]+)(?P<to_pct>%)?)?
    \])?
    (\((?P<rounding>[^)]*)\))?$
    """,
    re.X,
)
_PLUS_RE = re.compile(r"\s*\+\s*")

ROUNDINGS = ("closest", "pct1_dropremainder")


class NamedSplit(str):
    """A split name ("train", "test", "train[:10%]" ...); a plain `str` that compares by value.

    >>> NamedSplit("train") == "train"
    True
    """

    def __repr__(self) -> str:
        return f"NamedSplit({str(self)!r})"


class Split:
    """The standard split names.

    >>> Split.TRAIN
    NamedSplit('train')
    """

    TRAIN = NamedSplit("train")
    VALIDATION = NamedSplit("validation")
    TEST = NamedSplit("test")
    ALL = NamedSplit("all")


class AbsoluteSlice(NamedTuple):
    """Rows [start, stop) of one split, after percents and negative indices are resolved."""

    split: str
    start: int
    stop: int


@dataclass(frozen=True)
class RelativeSlice:
    """One `+`-separated part of a split spec, as written (percent or absolute, maybe negative)."""

    split: str
    from_: int | None = None
    to: int | None = None
    unit: str = "abs"  # "abs" or "%"
    rounding: str | None = None

    def __post_init__(self):
        if self.unit not in ("abs", "%"):
            raise DataError(f"split slice unit must be 'abs' or '%', got {self.unit!r}")
        if self.rounding is not None and self.rounding not in ROUNDINGS:
            raise DataError(f"split slice rounding must be one of {list(ROUNDINGS)}, got {self.rounding!r}")
        if self.unit != "%" and self.rounding is not None:
            raise DataError(f"split '{self.split}': a rounding mode is only allowed with percent slicing")
        if self.unit == "%":
            for bound in (self.from_, self.to):
                if bound is not None and abs(bound) > 100:
                    raise DataError(f"split '{self.split}': percent slice boundaries must be within -100..100, got {bound}")
            if self.rounding is None:
                object.__setattr__(self, "rounding", "closest")

    def to_spec(self) -> str:
        """The string form of this part (the inverse of parsing)."""
        if self.from_ is None and self.to is None:
            return self.split
        unit = "%" if self.unit == "%" else ""
        from_ = "" if self.from_ is None else f"{self.from_}{unit}"
        to = "" if self.to is None else f"{self.to}{unit}"
        rounding = f"({self.rounding})" if unit and self.rounding not in (None, "closest") else ""
        return f"{self.split}[{from_}:{to}]{rounding}"

    def to_absolute(self, name2len: dict[str, int]) -> AbsoluteSlice:
        """Resolve percents and negative bounds against the split sizes in `name2len`."""
        if self.split not in name2len:
            raise DataError(f'Unknown split "{self.split}". Should be one of {list(name2len)}.')
        num_rows = name2len[self.split]
        if self.unit == "%":
            to_rows = _percent_to_rows_closest if self.rounding == "closest" else _percent_to_rows_pct1
            start = 0 if self.from_ is None else to_rows(self.from_, num_rows, self.split)
            stop = num_rows if self.to is None else to_rows(self.to, num_rows, self.split)
        else:
            start = 0 if self.from_ is None else self.from_
            stop = num_rows if self.to is None else self.to
        if start < 0:
            start = max(num_rows + start, 0)
        if stop < 0:
            stop = max(num_rows + stop, 0)
        return AbsoluteSlice(self.split, min(start, num_rows), min(stop, num_rows))


def _percent_to_rows_closest(percent: int, num_rows: int, split: str) -> int:
    # Python's round(): halves go to the even neighbour, exactly like the reference.
    return int(round(percent * num_rows / 100.0))


def _percent_to_rows_pct1(percent: int, num_rows: int, split: str) -> int:
    if num_rows < 100:
        raise DataError(
            f'split "{split}" has {num_rows} rows: "pct1_dropremainder" rounding needs at least 100 rows '
            "(with fewer it always selects nothing); use the default 'closest' rounding"
        )
    # trunc, not floor: -99.5 % must give -99 %, not -100 %.
    return percent * math.trunc(num_rows / 100.0)


class ReadInstruction:
    """A parsed split spec: a list of `RelativeSlice` read one after the other.

    >>> ReadInstruction("test", to=33, unit="%").to_spec()
    'test[:33%]'
    >>> str(ReadInstruction.from_spec("train[1:-1] + test"))
    'train[1:-1]+test'
    """

    def __init__(self, split_name: str, rounding: str | None = None, from_: int | None = None,
                 to: int | None = None, unit: str | None = None):
        self._relative_slices = [RelativeSlice(split_name, from_, to, unit or "abs", rounding)]

    @classmethod
    def _from_slices(cls, slices: list[RelativeSlice]) -> "ReadInstruction":
        instruction = cls.__new__(cls)
        instruction._relative_slices = list(slices)
        return instruction

    @classmethod
    def from_spec(cls, spec: str) -> "ReadInstruction":
        """Parse a split string such as "train[:10%]+test[-5:]"."""
        spec = str(spec)
        parts = _PLUS_RE.split(spec.strip())
        if not parts or any(not p for p in parts):
            raise DataError(f"split {spec!r}: empty part; expected e.g. 'train', 'train[:10%]' or 'train+test'")
        instruction = cls._from_slices([_parse_part(parts[0], spec)])
        for part in parts[1:]:
            instruction = instruction + cls._from_slices([_parse_part(part, spec)])
        return instruction

    @property
    def relative_slices(self) -> list[RelativeSlice]:
        return list(self._relative_slices)

    def __add__(self, other: "ReadInstruction") -> "ReadInstruction":
        if not isinstance(other, ReadInstruction):
            raise TypeError("ReadInstruction can only be added to another ReadInstruction")
        mine, theirs = self._relative_slices[0], other._relative_slices[0]
        if mine.unit != "abs" and theirs.unit != "abs" and mine.rounding != theirs.rounding:
            raise DataError("cannot join split slices with different rounding modes "
                            f"({mine.rounding!r} and {theirs.rounding!r})")
        return ReadInstruction._from_slices(self._relative_slices + other._relative_slices)

    def to_spec(self) -> str:
        return "+".join(s.to_spec() for s in self._relative_slices)

    def to_absolute(self, name2len: dict[str, int]) -> list[AbsoluteSlice]:
        """Resolve every part against the split sizes; unknown split -> DataError listing the splits."""
        return [s.to_absolute(name2len) for s in self._relative_slices]

    def split_names(self) -> list[str]:
        return [s.split for s in self._relative_slices]

    def __str__(self) -> str:
        return self.to_spec()

    def __repr__(self) -> str:
        return f"ReadInstruction({self._relative_slices})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ReadInstruction) and self._relative_slices == other._relative_slices

    def __hash__(self) -> int:
        return hash(self.to_spec())


def _parse_part(part: str, spec: str) -> RelativeSlice:
    match = _SLICE_SPEC_RE.match(part)
    if not match:
        raise DataError(
            f"Unrecognized split {spec!r} (part {part!r}); expected NAME, NAME[from:to] with row numbers or "
            "percents, optionally (closest|pct1_dropremainder), joined with '+', e.g. 'train[:10%]+test[-5:]'"
        )
    unit = "%" if match.group("from_pct") or match.group("to_pct") else "abs"
    from_ = int(match.group("from")) if match.group("from") else None
    to = int(match.group("to")) if match.group("to") else None
    return RelativeSlice(match.group("split"), from_, to, unit, match.group("rounding"))


def resolve_split_spec(split, name2len: dict[str, int]) -> list[AbsoluteSlice]:
    """Parse `split` (str, NamedSplit or ReadInstruction; "all" = every split) and resolve it.

    >>> resolve_split_spec("all", {"train": 3, "test": 2})
    [AbsoluteSlice(split='train', start=0, stop=3), AbsoluteSlice(split='test', start=0, stop=2)]
    """
    if not isinstance(split, ReadInstruction):
        split = str(split)
        if split == "all":
            split = "+".join(name2len)
        split = ReadInstruction.from_spec(split)
    return split.to_absolute(name2len)


def split_display_name(split, split_names) -> NamedSplit:
    """The name a dataset built from `split` reports as `.split`: the spec itself, "all" spelled out.

    >>> split_display_name("all", ["train", "test"])
    NamedSplit('train+test')
    """
    split = str(split)
    if split == "all":
        split = "+".join(split_names)
    return NamedSplit(split)
