"""UnigramTrainer: SentencePiece-style EM training of a Unigram model (`tokenizers` API).

The algorithm follows the reference trainer step by step:
  1. seeds: every character (scored by its weighted count) plus every repeated,
     right-maximal substring of the distinct words (the internal nodes of their suffix
     tree; scored by occurrences x length), turned into log probabilities;
  2. EM: E-step = forward-backward over each word's lattice of pieces, M-step = keep
     pieces expected at least 0.5 times and re-score them with digamma (a sparse prior);
  3. prune: drop the pieces whose removal costs the least likelihood (each piece is
     replaced by its second-best segmentation), shrinking by `shrinking_factor`, until the
     vocab is within 10% of `vocab_size`;
  4. finalize: required characters first, then the best pieces, special tokens in front.

Results match the reference closely but not bit for bit: the reference sums expectations
in parallel (float order) and iterates hash sets in places (which characters missing from
the final model get which small penalty).

>>> t = UnigramTrainer(vocab_size=12, show_progress=False)
>>> pieces = t.train_from_word_counts({"hello": 5, "yellow": 3, "fellow": 2}).vocab
>>> "ello" in [p for p, _ in pieces]
True
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Mapping, Sequence

from snuggle.errors import TokenizerError
from snuggle.tokenizers.trainers import TrainedVocab, Trainer, _first_chars

_UNK_PENALTY = 10.0  # an unknown character scores min_score - 10, as in the reference model
_SEED_SIZE = 1_000_000
_NAN = float("nan")


def digamma(x: float) -> float:
    """Digamma by recurrence + asymptotic series (the reference's approximation)."""
    result = 0.0
    while x < 7.0:
        result -= 1.0 / x
        x += 1.0
    x -= 0.5
    xx = 1.0 / x
    xx2 = xx * xx
    xx4 = xx2 * xx2
    result += math.log(x) + xx2 / 24.0 - 7.0 / 960.0 * xx4 + 31.0 / 8064.0 * xx4 * xx2 - 127.0 / 30720.0 * xx4 * xx4
    return result


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


class _PieceModel:
    """Piece lookup used during training: id by string, scores, longest piece length.

    `cache` maps a sentence to the substrings (by position) that were pieces when it was
    first seen. Training only ever removes pieces, so a cached list stays a superset for
    every later model and the lattice needs no fresh substring scan.
    """

    def __init__(self, pieces: list[tuple[str, float]], cache: dict | None = None):
        self.pieces = pieces
        self.ids = {}
        for i, (piece, _) in enumerate(pieces):
            self.ids[piece] = i  # a duplicate keeps the later id, like the reference's map
        scores = [s for _, s in pieces if not math.isnan(s)]
        self.min_score = min(scores) if scores else math.inf
        self.max_len = max((len(p) for p, _ in pieces), default=1)
        self.cache = {} if cache is None else cache

    def _candidates(self, sentence: str) -> list[list[tuple[int, str]]]:
        rows = self.cache.get(sentence)
        if rows is None:
            ids, n = self.ids, len(sentence)
            rows = []
            for pos in range(n):
                row = []
                for length in range(1, min(self.max_len, n - pos) + 1):
                    sub = sentence[pos : pos + length]
                    if sub in ids:
                        row.append((length, sub))
                rows.append(row)
            self.cache[sentence] = rows
        return rows

    def lattice(self, sentence: str) -> list[list[tuple[int, int, int, float]]]:
        """Nodes by begin position: (node_id, piece_id, length, score); shortest first,
        an unknown-character node when no single-character piece matches (as populate_nodes)."""
        ids, pieces = self.ids, self.pieces
        unk_score = self.min_score - _UNK_PENALTY
        begins: list[list] = []
        node_id = 2  # 0 = BOS, 1 = EOS
        for row in self._candidates(sentence):
            nodes = []
            has_single = False
            for length, sub in row:
                piece_id = ids.get(sub)
                if piece_id is not None:
                    nodes.append((node_id, piece_id, length, pieces[piece_id][1]))
                    node_id += 1
                    if length == 1:
                        has_single = True
            if not has_single:
                nodes.append((node_id, 0, 1, unk_score))
                node_id += 1
            begins.append(nodes)
        begins.append([])
        return begins


def viterbi(begins: list[list], n: int, skip_node: int = -1) -> list[tuple] | None:
    """Best path as a list of nodes; ties keep the earliest left node (strict >).

    `skip_node` removes one node from the lattice (used for second-best segmentations).
    """
    best = {0: (0.0, None)}  # node_id -> (backtrace score, previous node)
    ends_at: list[list] = [[] for _ in range(n + 1)]
    ends_at[0].append((0, 0, 0, 0.0))  # BOS
    for pos in range(n + 1):
        rnodes = begins[pos] if pos < n else [(1, -1, 0, 0.0)]  # EOS at the end
        if not ends_at[pos]:
            return None
        for rnode in rnodes:
            if rnode[0] == skip_node:
                continue
            best_score, best_node = 0.0, None
            for lnode in ends_at[pos]:
                score = best[lnode[0]][0] + rnode[3]
                if best_node is None or score > best_score:
                    best_score, best_node = score, lnode
            best[rnode[0]] = (best_score, best_node)
            if rnode[2]:
                ends_at[pos + rnode[2]].append(rnode)
    path = []
    node = best[1][1]
    while node[0] != 0:
        path.append(node)
        node = best[node[0]][1]
    path.reverse()
    return path


def populate_marginal(begins: list[list], n: int, freq: float, expected: list[float]) -> float:
    """Forward-backward over the lattice; adds freq * P(node) to expected[piece]; returns freq * log Z.

    A node's forward score depends only on where it begins (log-sum over the nodes ending
    there) and its backward score only on where it ends, so both are kept per position;
    the log-sums are taken in the reference's order, giving the same floats.
    """
    exp, log = math.exp, math.log
    ends: list[list] = [[] for _ in range(n + 1)]
    for pos in range(n):
        for node in begins[pos]:
            ends[pos + node[2]].append((pos, node[3]))
    forward = [0.0] * (n + 1)  # forward[0]: only BOS (score 0) ends at 0
    for pos in range(1, n + 1):
        first = True
        acc = 0.0
        for begin, score in ends[pos]:
            v = score + forward[begin]
            if first:
                acc, first = v, False
            elif acc > v:
                acc = acc if acc > v + 50.0 else acc + log(exp(v - acc) + 1.0)
            else:
                acc = v if v > acc + 50.0 else v + log(exp(acc - v) + 1.0)
        forward[pos] = acc
    backward = [0.0] * (n + 1)  # backward[n]: only EOS (score 0) begins at n
    for pos in range(n - 1, -1, -1):
        first = True
        acc = 0.0
        for node in begins[pos]:
            v = node[3] + backward[pos + node[2]]
            if first:
                acc, first = v, False
            elif acc > v:
                acc = acc if acc > v + 50.0 else acc + log(exp(v - acc) + 1.0)
            else:
                acc = v if v > acc + 50.0 else v + log(exp(acc - v) + 1.0)
        backward[pos] = acc
    z = forward[n]
    for pos in range(n):
        a = forward[pos]
        for _, piece_id, length, score in begins[pos]:
            expected[piece_id] += freq * exp(a + score + backward[pos + length] - z)
    return freq * z


def right_maximal_repeats(words: Sequence[str], max_len: int) -> dict[str, int]:
    """Substrings (2..max_len chars) of the distinct words that occur at least twice and
    are followed by at least two different characters (word end counts as one): exactly
    the suffix-tree internal nodes the reference enumerates with a suffix array.
    Returns {substring: number of occurrences}.
    """
    occurrences: Counter = Counter()
    followers: dict[str, str | set] = {}
    end = "\0"
    for word in words:
        n = len(word)
        for i in range(n):
            for j in range(i + 2, min(n, i + max_len) + 1):
                s = word[i:j]
                occurrences[s] += 1
                nxt = word[j] if j < n else end
                seen = followers.get(s)
                if seen is None:
                    followers[s] = nxt
                elif isinstance(seen, str):
                    if seen != nxt:
                        followers[s] = {seen, nxt}
                else:
                    seen.add(nxt)
    return {s: c for s, c in occurrences.items() if c >= 2 and not isinstance(followers[s], str)}


class UnigramTrainer(Trainer):
    """Trainer for a Unigram model (same arguments as `tokenizers.trainers.UnigramTrainer`)."""

    _model_type = "Unigram"

    def __init__(
        self,
        vocab_size: int = 8000,
        show_progress: bool = True,
        special_tokens: Sequence = (),
        initial_alphabet: Sequence[str] = (),
        shrinking_factor: float = 0.75,
        unk_token: str | None = None,
        max_piece_length: int = 16,
        n_sub_iterations: int = 2,
    ):
        super().__init__(show_progress, special_tokens)
        if not 0.0 < float(shrinking_factor) < 1.0:
            raise TokenizerError(f"UnigramTrainer: shrinking_factor must be in (0, 1), got {shrinking_factor}")
        self.vocab_size = int(vocab_size)
        self.initial_alphabet = initial_alphabet
        self.shrinking_factor = float(shrinking_factor)
        self.unk_token = unk_token
        self.max_piece_length = int(max_piece_length)
        self.n_sub_iterations = int(n_sub_iterations)

    @property
    def initial_alphabet(self) -> list[str]:
        return list(self._initial_alphabet)

    @initial_alphabet.setter
    def initial_alphabet(self, alphabet: Sequence[str]) -> None:
        self._initial_alphabet = _first_chars(alphabet)

    def _repr_fields(self) -> dict:
        return {
            "vocab_size": self.vocab_size,
            **super()._repr_fields(),
            "shrinking_factor": self.shrinking_factor,
            "unk_token": self.unk_token,
            "max_piece_length": self.max_piece_length,
            "n_sub_iterations": self.n_sub_iterations,
        }

    # -- steps ----------------------------------------------------------------------------
    def _seed_pieces(self, sentences: list[tuple[str, int]]) -> list[tuple[str, float]]:
        chars: Counter = Counter()
        for word, count in sentences:
            for ch in word:
                if ch != "\0":
                    chars[ch] += count
        seeds = [(ch, float(c)) for c, ch in sorted(((c, ch) for ch, c in chars.items()), reverse=True)]
        repeats = right_maximal_repeats([w for w, _ in sentences], self.max_piece_length)
        scored = sorted(((c * len(s), s) for s, c in repeats.items() if "\0" not in s), reverse=True)
        for score, s in scored:
            if len(seeds) >= _SEED_SIZE:
                break
            seeds.append((s, float(score)))
        log_total = math.log(sum(score for _, score in seeds))
        return [(s, math.log(score) - log_total) for s, score in seeds]

    def _e_step(self, model: _PieceModel, sentences) -> list[float]:
        expected = [0.0] * len(model.pieces)
        for word, count in sentences:
            z = populate_marginal(model.lattice(word), len(word), float(count), expected)
            if math.isnan(z):
                raise TokenizerError("UnigramTrainer: likelihood is NaN; an input word may be too long")
        return expected

    @staticmethod
    def _m_step(pieces, expected) -> list[tuple[str, float]]:
        kept = []
        total = 0.0
        for i, ((piece, _), freq) in enumerate(zip(pieces, expected)):
            if i == 0:
                kept.append((piece, _NAN))
                continue
            if freq < 0.5:
                continue
            kept.append((piece, freq))
            total += freq
        log_total = digamma(total)
        return [(p, _NAN if math.isnan(f) else digamma(f) - log_total) for p, f in kept]

    def _prune(self, model: _PieceModel, pieces, sentences) -> list[tuple[str, float]]:
        always_keep = [True] * len(pieces)
        alternatives: list[list[int]] = [[] for _ in pieces]
        for pid, (token, _) in enumerate(pieces):
            if pid == 0:
                always_keep[pid] = False
                continue
            begins = model.lattice(token)
            best = viterbi(begins, len(token))
            if best is None:
                continue
            if len(best) >= 2:
                always_keep[pid] = False
            else:
                # second-best segmentation: the best path that avoids the whole-piece node
                second = viterbi(begins, len(token), skip_node=best[0][0])
                always_keep[pid] = True
                if second:
                    alternatives[pid] = [node[1] for node in second]

        vsum = 0.0
        freq = [0.0] * len(pieces)
        inverted: list[list[int]] = [[] for _ in pieces]
        for i, (word, count) in enumerate(sentences):
            vsum += count
            for node in viterbi(model.lattice(word), len(word)) or ():
                freq[node[1]] += count
                inverted[node[1]].append(i)

        total = sum(freq)
        log_total = _log(total)
        kept = [pieces[0]]
        candidates = []
        for pid, (token, score) in enumerate(pieces):
            if pid == 0:
                continue
            if freq[pid] == 0.0 and not always_keep[pid]:
                continue  # never on a best path: safe to drop
            if not alternatives[pid]:
                kept.append((token, score))
                continue
            f = sum(sentences[n][1] for n in inverted[pid])
            if f == 0.0:
                continue
            f /= vsum
            logprob_piece = _log(freq[pid]) - log_total
            # The reference uses the number of pieces here (not of alternatives); kept for parity.
            log_total_alt = _log(total + freq[pid] * (len(alternatives) - 1))
            logprob_alt = sum(_log(freq[n] + freq[pid]) - log_total_alt for n in alternatives[pid])
            candidates.append((pid, f * (logprob_piece - logprob_alt)))

        desired = self.vocab_size * 11 // 10
        pruned_size = max(desired, int(len(pieces) * self.shrinking_factor))
        candidates.sort(key=lambda c: -c[1])  # stable: equal losses keep piece order
        for pid, _ in candidates:
            if len(kept) == pruned_size:
                break
            kept.append(pieces[pid])
        return kept

    def _finalize(self, model: _PieceModel, required_chars: list[str]) -> TrainedVocab:
        existing = {p: s for p, s in model.pieces}
        pieces: list[tuple[str, float]] = []
        inserted = {"<UNK>"}
        penalty = 0.0
        for ch in required_chars:
            if ch in existing:
                pieces.append((ch, existing[ch]))
            else:
                pieces.append((ch, model.min_score + penalty))
                penalty += 0.0001
            inserted.add(ch)

        specials = [t.content for t in self._special_tokens]
        unk_id, need_unk = None, False
        if self.unk_token is not None:
            if self.unk_token in specials:
                unk_id = specials.index(self.unk_token)
            else:
                unk_id, need_unk = 0, True
        budget = self.vocab_size - len(specials) - (1 if need_unk else 0)
        for token, score in model.pieces:
            if token in inserted:
                continue
            inserted.add(token)
            pieces.append((token, 0.0 if math.isnan(score) else score))
            if len(pieces) == budget:
                break
        pieces.sort(key=lambda p: -p[1])  # stable, like the reference's sort_by
        head = ([self.unk_token] if need_unk else []) + specials
        return TrainedVocab([(t, 0.0) for t in head] + pieces, unk_id=unk_id)

    def _learn(self, word_counts: Mapping[str, int]) -> TrainedVocab:
        sentences = [(w, c) for w, c in word_counts.items() if w]
        if not sentences:  # nothing to learn from: only the special tokens (as the reference)
            return self._finalize(_PieceModel([("<UNK>", _NAN)]), sorted(self._initial_alphabet))
        bar = self._progress(len(sentences), "Suffix array seeds")
        pieces = [("<UNK>", _NAN)] + self._seed_pieces(sentences)
        bar.update(len(sentences))
        bar.close()

        desired = self.vocab_size * 11 // 10
        expected_loops = int((math.log(desired) - math.log(len(pieces))) / math.log(self.shrinking_factor)) + 1
        bar = self._progress(max(expected_loops, 1) * self.n_sub_iterations, "EM training")
        required = set(ch for word, _ in sentences for ch in word) | set(self._initial_alphabet)
        cache: dict = {}
        model = _PieceModel(pieces, cache)
        try:
            while True:
                for _ in range(self.n_sub_iterations):
                    expected = self._e_step(model, sentences)
                    pieces = self._m_step(pieces, expected)
                    model = _PieceModel(pieces, cache)
                    bar.update(1)
                if len(pieces) <= desired:
                    break
                pieces = self._prune(model, pieces, sentences)
                model = _PieceModel(pieces, cache)
        finally:
            bar.close()
        # The reference walks a hash set here; sorted order makes ours reproducible.
        return self._finalize(model, sorted(required))

    # -- public entry points --------------------------------------------------------------
    def train_from_word_counts(self, word_counts: Mapping[str, int]) -> TrainedVocab:
        """Learn [(piece, score)] and unk_id from {word: count}; also kept for a later `train`."""
        self._words = dict(word_counts)
        return self._learn(self._words)

    def train(self, model) -> list:
        """Replace the Unigram model in place with the trained pieces; return the special tokens."""
        self._check_model(model)
        learned = self._learn(self._words)
        model.__init__(vocab=learned.vocab, unk_id=learned.unk_id, byte_fallback=False)
        return self.special_tokens
