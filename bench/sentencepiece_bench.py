"""SentencePiece-style tokenizers: snuggle.tokenizers vs the `tokenizers` library.

Single `encode` calls (no padding or truncation) over corpus lines, ids read back, for
Pegasus (Precompiled + WhitespaceSplit/Metaspace + Unigram) and Llama 2 (the tokenizer.json
dict our converter makes from tokenizer.model: Metaspace + byte-fallback BPE). Each library
gets a fresh tokenizer for the "cold" pass (every word new to its cache), then a warm pass.
Prints `name: snuggle/tokenizers = ratio` (> 1: snuggle is faster).

    .venv/bin/python bench/sentencepiece_bench.py [--mb 1]
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

from bench.corpus import DATASETS, corpus_lines  # noqa: E402


def threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def timed_pass(tokenizer, lines: list[str]) -> float:
    gc.collect()
    t = time.perf_counter()
    for line in lines:
        tokenizer.encode(line).ids
    return time.perf_counter() - t


def bench(name: str, tokenizer_json: str, lines: list[str]) -> None:
    import tokenizers as hf

    from snuggle.tokenizers import Tokenizer

    n_bytes = sum(len(line.encode("utf-8")) for line in lines)
    ours, ref = Tokenizer.from_str(tokenizer_json), hf.Tokenizer.from_str(tokenizer_json)
    ours.encode("warm up the lazy tables"), ref.encode("warm up")
    for label in ("cold", "warm"):
        ours_s, ref_s = timed_pass(ours, lines), timed_pass(ref, lines)
        ours_mb, ref_mb = n_bytes / ours_s / 1e6, n_bytes / ref_s / 1e6
        print(f"{name} encode {label}: snuggle/tokenizers = {ours_mb / ref_mb:.2f}x   "
              f"(snuggle {ours_mb:.2f} MB/s, tokenizers {ref_mb:.2f} MB/s; threads={threads()})", flush=True)
    same = all(ours.encode(line).ids == ref.encode(line).ids for line in lines[:500])
    print(f"  {name}: first 500 lines identical ids: {same}; fast path: {ours._fast_path()!r}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0, help="MB of corpus lines per tokenizer")
    args = parser.parse_args()
    from snuggle.tokenizers.converters import from_sentencepiece

    lines = corpus_lines(int(args.mb * 1e6))
    print(f"{len(lines)} lines, {sum(len(x.encode()) for x in lines) / 1e6:.2f} MB; threads={threads()}", flush=True)
    pegasus = (DATASETS / "tokenizers" / "pegasus-unigram" / "tokenizer.json").read_text(encoding="utf-8")
    bench("pegasus-unigram", pegasus, lines)
    llama2 = json.dumps(from_sentencepiece(str(DATASETS / "tokenizers" / "llama2" / "tokenizer.model")))
    bench("llama2-bpe", llama2, lines)


if __name__ == "__main__":
    main()
