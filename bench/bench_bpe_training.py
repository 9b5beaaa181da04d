"""Side-by-side BPE training benchmark: snuggle vs `tokenizers` (byte-level BPE, 16k vocab, ~5 MB).

Run once on an idle machine:  .venv/bin/python bench/bench_bpe_training.py
Prints the reference's time (Tokenizer.train_from_iterator, word counting included), ours for
the trainer alone (word counting with Counter + merges) from the same pre-tokenized words, and
the pre-tokenization time (the same for both; ours is the Tokenizer's job, not the trainer's).
"""

from __future__ import annotations

import json
import time
from collections import Counter

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from snuggle.tokenizers.trainers import BpeTrainer

DATA = "/work/shared/datasets"
FILES = [
    f"{DATA}/tinystories/tinystories_train_head_2MiB.txt",
    f"{DATA}/tinyshakespeare/input.txt",
    f"{DATA}/wikitext2/wiki.test.raw",
    f"{DATA}/wikitext2/wiki.valid.tokens",
]


def corpus(limit: int = 5_000_000) -> list[str]:
    lines, size = [], 0
    for path in FILES:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if size >= limit:
                    return lines
                lines.append(line)
                size += len(line.encode())
    return lines


def main() -> None:
    lines = corpus()
    print(f"corpus: {sum(len(l.encode()) for l in lines) / 1e6:.1f} MB, {len(lines)} lines")
    options = dict(vocab_size=16000, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    t0 = time.perf_counter()
    tok.train_from_iterator(lines, trainers.BpeTrainer(show_progress=False, **options))
    t_ref = time.perf_counter() - t0
    ref = json.loads(tok.to_str())["model"]

    t0 = time.perf_counter()
    words = [[w for w, _ in pre.pre_tokenize_str(line)] for line in lines]
    t_pre = time.perf_counter() - t0

    # Reference trainer alone: byte-level words contain no spaces (space became 'Ġ'), so
    # the pre-tokenized lines re-split on whitespace give it the same words almost for free.
    joined = [" ".join(ws) for ws in words]
    tok2 = Tokenizer(models.BPE())
    tok2.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    t0 = time.perf_counter()
    tok2.train_from_iterator(joined, trainers.BpeTrainer(show_progress=False, **options))
    t_ref_train = time.perf_counter() - t0

    trainer = BpeTrainer(show_progress=False, **options)
    t0 = time.perf_counter()
    trainer.feed(iter(words), lambda ws: ws)
    t_count = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = trainer.train_from_word_counts(trainer._words)
    t_train = time.perf_counter() - t0

    same = result.vocab == ref["vocab"] and [list(m) for m in result.merges] == ref["merges"]
    print(f"reference train_from_iterator (pre-tokenize + count + merges): {t_ref:.2f} s")
    print(f"reference from pre-tokenized words (count + merges):        {t_ref_train:.2f} s")
    print(f"pre-tokenization alone (reference pre-tokenizer, 1 thread):   {t_pre:.2f} s")
    print(f"snuggle word counting (Counter):                             {t_count:.2f} s")
    print(f"snuggle train (alphabet + words + C merge loop):             {t_train:.2f} s")
    print(f"identical vocab and merges: {same}")


if __name__ == "__main__":
    main()
