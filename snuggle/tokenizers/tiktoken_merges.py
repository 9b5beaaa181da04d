"""tiktoken rank files, and the BPE merges hidden in them.

A tiktoken file lists `base64(token bytes) rank` per line; tiktoken's BPE joins, at each step, the
adjacent pair whose concatenation has the lowest rank. HF's BPE needs explicit merges instead, so
for every token we replay tiktoken's loop on the token's own bytes, allowing only lower ranks: the
last join it makes is the token's merge. Merges ordered by rank then reproduce tiktoken exactly
(with `ignore_merges=True`, as a whole-word vocabulary hit comes first in tiktoken too).

>>> ranks = {b"a": 0, b"b": 1, b"c": 2, b"bc": 3, b"ab": 4, b"abc": 5}
>>> merges_from_ranks(ranks)
[(b'b', b'c'), (b'a', b'b'), (b'a', b'bc')]
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from snuggle.errors import TokenizerFileError


def check_file(path: str | os.PathLike, what: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TokenizerFileError(f"{what} not found (expected a file at this path)", path=path)
    return path


def load_tiktoken_ranks(path: str | os.PathLike) -> dict[bytes, int]:
    """Read a tiktoken file: one `base64(token bytes) rank` per line.

    >>> load_tiktoken_ranks("llama3/tokenizer.model")[b"!"]     # doctest: +SKIP
    0
    """
    path = check_file(path, "tiktoken rank file")
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise TokenizerFileError(
                    f"expected 'base64-token rank', found {line[:60]!r}", path=path, where=f"line {line_number}"
                )
            try:
                token = base64.b64decode(parts[0], validate=True)
            except (binascii.Error, ValueError):
                raise TokenizerFileError(
                    f"token {parts[0][:40]!r} is not valid base64", path=path, where=f"line {line_number}"
                ) from None
            try:
                rank = int(parts[1])
            except ValueError:
                raise TokenizerFileError(
                    f"rank {parts[1][:20]!r} is not an integer", path=path, where=f"line {line_number}"
                ) from None
            if token in ranks:
                raise TokenizerFileError(
                    f"token {parts[0][:40]!r} already has rank {ranks[token]}", path=path, where=f"line {line_number}"
                )
            ranks[token] = rank
    if not ranks:
        raise TokenizerFileError("no ranks found (the file is empty)", path=path)
    return ranks


def last_merge(token: bytes, rank: int, ranks: Mapping[bytes, int]) -> tuple[bytes, bytes] | None:
    """The pair tiktoken's BPE joins last when it builds `token`, using only ranks below `rank`.

    tiktoken repeatedly joins the adjacent pair whose concatenation has the lowest rank (leftmost
    on ties). Stopping just before `token`'s own rank leaves two parts when `token` is reachable;
    those two parts are its merge. Unreachable tokens (only matched whole) get no merge.

    >>> last_merge(b"abc", 3, {b"a": 0, b"b": 1, b"c": 2, b"ab": 4, b"bc": 5, b"abc": 3})
    """
    # tiktoken's own loop: `bounds` are the part boundaries, `pair_ranks[i]` the rank of joining
    # parts i and i+1 (or `rank` when that join is not allowed), updated only around each join.
    bounds = list(range(len(token) + 1))
    pair_ranks = [_pair_rank(token, i, i + 2, ranks, rank) for i in range(len(token) - 1)]
    while len(bounds) > 3:
        best = min(pair_ranks)
        if best >= rank:
            return None
        index = pair_ranks.index(best)  # leftmost on ties, like tiktoken
        del bounds[index + 1]
        del pair_ranks[index]
        if index < len(pair_ranks):
            pair_ranks[index] = _pair_rank(token, bounds[index], bounds[index + 2], ranks, rank) if index + 2 < len(bounds) else rank
        if index > 0:
            pair_ranks[index - 1] = _pair_rank(token, bounds[index - 1], bounds[index + 1], ranks, rank)
    left, right = token[: bounds[1]], token[bounds[1] :]
    if len(bounds) == 3 and left in ranks and right in ranks:
        return left, right
    return None


def _pair_rank(token: bytes, start: int, end: int, ranks: Mapping[bytes, int], limit: int) -> int:
    found = ranks.get(token[start:end])
    return limit if found is None or found >= limit else found


def merges_from_ranks(ranks: Mapping[bytes, int]) -> list[tuple[bytes, bytes]]:
    """One merge per reachable multi-byte token, ordered by the token's rank."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) > 1:
            merge = last_merge(token, rank, ranks)
            if merge is not None:
                merges.append(merge)
    return merges
