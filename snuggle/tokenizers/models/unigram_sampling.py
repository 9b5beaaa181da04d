"""Subword regularization for Unigram: sample a segmentation instead of taking the best.

Used when `alpha` > 0, as `tokenizers.models.Unigram(alpha=, nbest_size=)` does:
- `nbest_size` > 1: find the `nbest_size` best segmentations and pick one with
  probability proportional to exp(alpha * total score) (ties among equal scores may
  pick a different n-best set than the reference's A* search);
- `nbest_size` None or 0: sample from *all* segmentations with probability
  proportional to exp(alpha * total score), by forward filtering (log-sum-exp of path
  scores up to each position) then backward sampling;
- `nbest_size` 1: the best segmentation (no sampling).

Both work on the lattice of pieces found by walking the model's prefix table, with the
same unknown-character rule as Viterbi (an unk piece scoring min_score - 10 wherever no
single-character piece exists). Returned paths are lists of (start, end, piece_id).

>>> import random
>>> from snuggle.tokenizers.models import Unigram
>>> u = Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("ab", -1.5)], unk_id=0)
>>> [(score, [pid for _, _, pid in path]) for score, path in nbest_paths(lattice_edges(u, "ab"), 2)]
[(-1.5, [3]), (-2.0, [1, 2])]
"""

from __future__ import annotations

import math
import random

from snuggle.errors import TokenizerError

Edge = tuple[int, int, float]  # (start, piece_id, score) of a piece ending at some position


def lattice_edges(model, text: str) -> list[list[Edge]]:
    """ending_at[j]: every piece that ends at char position j, as (start, piece_id, score)."""
    n = len(text)
    prefixes, scores, unk_id = model._prefixes, model._scores, model.unk_id
    unk_score = model.min_score - 10.0
    ending_at: list[list[Edge]] = [[] for _ in range(n + 1)]
    for i in range(n):
        has_single = False
        j = i + 1
        while j <= n:
            pid = prefixes.get(text[i:j])
            if pid is None:
                break
            if pid >= 0:
                ending_at[j].append((i, pid, scores[pid]))
                has_single = has_single or j == i + 1
            j += 1
        if not has_single:
            if unk_id is None:
                raise TokenizerError(f"Unigram: character {text[i]!r} is not in the vocabulary and the model has no unk_id")
            ending_at[i + 1].append((i, unk_id, unk_score))
    return ending_at


def sample_path(ending_at: list[list[Edge]], alpha: float, rng: random.Random) -> list[tuple[int, int, int]]:
    """One segmentation drawn with probability proportional to exp(alpha * score)."""
    n = len(ending_at) - 1
    forward = [-math.inf] * (n + 1)  # log of the summed weights of all paths covering text[:j]
    forward[0] = 0.0
    for j in range(1, n + 1):
        terms = [forward[i] + alpha * score for i, _, score in ending_at[j] if forward[i] > -math.inf]
        if terms:
            top = max(terms)
            forward[j] = top + math.log(sum(math.exp(t - top) for t in terms))
    if forward[n] == -math.inf:
        raise TokenizerError("Unigram: no segmentation covers the input")
    path = []
    j = n
    while j > 0:
        choices = [(i, pid, forward[i] + alpha * score) for i, pid, score in ending_at[j] if forward[i] > -math.inf]
        weights = [math.exp(w - forward[j]) for _, _, w in choices]
        i, pid, _ = rng.choices(choices, weights=weights)[0]
        path.append((i, j, pid))
        j = i
    path.reverse()
    return path


def nbest_paths(ending_at: list[list[Edge]], n_best: int) -> list[tuple[float, list[tuple[int, int, int]]]]:
    """The `n_best` highest-scoring segmentations as (score, path), best first."""
    n = len(ending_at) - 1
    # best[j]: up to n_best (score, start, rank at start, piece_id) for paths covering text[:j]
    best: list[list[tuple[float, int, int, int]]] = [[] for _ in range(n + 1)]
    best[0] = [(0.0, -1, -1, -1)]
    for j in range(1, n + 1):
        candidates = []
        for i, pid, score in ending_at[j]:
            for rank, entry in enumerate(best[i]):
                candidates.append((entry[0] + score, i, rank, pid))
        candidates.sort(key=lambda c: -c[0])
        best[j] = candidates[:n_best]
    results = []
    for rank, (score, *_rest) in enumerate(best[n]):
        path = []
        j, r = n, rank
        while j > 0:
            _, i, prev_rank, pid = best[j][r]
            path.append((i, j, pid))
            j, r = i, prev_rank
        path.reverse()
        results.append((score, path))
    return results


def sample_nbest_path(ending_at: list[list[Edge]], n_best: int, alpha: float, rng: random.Random) -> list[tuple[int, int, int]]:
    """One of the `n_best` best segmentations, drawn with probability ∝ exp(alpha * score)."""
    ranked = nbest_paths(ending_at, n_best)
    if not ranked:
        raise TokenizerError("Unigram: no segmentation covers the input")
    top = ranked[0][0]
    weights = [math.exp(alpha * (score - top)) for score, _ in ranked]
    return rng.choices([path for _, path in ranked], weights=weights)[0]
