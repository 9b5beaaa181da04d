"""Tokenizers benchmark: snuggle.tokenizers vs the `tokenizers` library and tiktoken, in one run.

Prints `name: snuggle/reference = ratio` lines (ratio > 1 means snuggle is faster for
throughput figures, and lower-is-better figures are inverted so > 1 is always "snuggle wins").

    .venv/bin/python bench/tokenizers_bench.py [--train-mb 5] [--encode-mb 10] [--vocab 16000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import corpus_lines, corpus_text  # noqa: E402


def threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def report(name: str, ours: float, ref: float, unit: str, higher_is_better: bool, ref_name: str) -> None:
    ratio = ours / ref if higher_is_better else ref / ours
    print(f"{name}: snuggle/{ref_name} = {ratio:.2f}x   (snuggle {ours:.3g} {unit}, {ref_name} {ref:.3g} {unit}; threads={threads()})", flush=True)


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def byte_level_bpe_pair(vocab_size: int, train_file: str):
    """Train the same byte-level BPE in both libraries; returns (ours, ref, seconds ours, seconds ref)."""
    import tokenizers as hf
    from tokenizers import decoders as hd
    from tokenizers import models as hm
    from tokenizers import pre_tokenizers as hp
    from tokenizers import trainers as ht

    from snuggle.tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    ref = hf.Tokenizer(hm.BPE())
    ref.pre_tokenizer = hp.ByteLevel(add_prefix_space=False)
    ref.decoder = hd.ByteLevel()
    rtrainer = ht.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=hp.ByteLevel.alphabet(), show_progress=False)
    t = time.perf_counter()
    ref.train([train_file], rtrainer)
    ref_s = time.perf_counter() - t

    ours = Tokenizer(models.BPE())
    ours.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    ours.decoder = decoders.ByteLevel()
    otrainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t = time.perf_counter()
    ours.train([train_file], otrainer)
    ours_s = time.perf_counter() - t
    same = json.loads(ours.to_str())["model"] == json.loads(ref.to_str())["model"]
    print(f"  trained {vocab_size} byte-level BPE; identical vocab+merges: {same}", flush=True)
    return ours, ref, ours_s, ref_s


def tiktoken_from(ref_tokenizer):
    """A tiktoken Encoding with the same ranks as a trained byte-level BPE (ids = ranks)."""
    import tiktoken

    from snuggle.tokenizers.pre_tokenizers import GPT2_PATTERN, UNICODE_TO_BYTE

    vocab = json.loads(ref_tokenizer.to_str())["model"]["vocab"]
    ranks = {}
    special = {}
    for tok, i in vocab.items():
        try:
            ranks[bytes(UNICODE_TO_BYTE[c] for c in tok)] = i
        except KeyError:
            special[tok] = i
    return tiktoken.Encoding("bench", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens=special)


def import_cost(module: str) -> tuple[float, float]:
    """(seconds, MB of resident memory added) to import `module` in a fresh interpreter (best of 3)."""
    code = (
        "import time\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 1e6\n"
        f"r0 = rss(); t = time.perf_counter(); import {module}; dt = time.perf_counter() - t\n"
        "print(dt, rss() - r0)"
    )
    best = (float("inf"), 0.0)
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        dt, mb = float(out[0]), float(out[1])
        if dt < best[0]:
            best = (dt, mb)
    return best


def transformers_layer(ref, ours, lines) -> None:
    """AutoTokenizer-style batch call with padding to torch tensors, both layers on the same tokenizer.json."""
    import transformers

    from snuggle.tokenizers.pretrained import PreTrainedTokenizerFast

    with tempfile.TemporaryDirectory() as d:
        ref.save(os.path.join(d, "tokenizer.json"))
        theirs = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), pad_token="<|endoftext|>")
        mine = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), pad_token="<|endoftext|>")
    batches = [lines[i : i + 32] for i in range(0, min(len(lines), 32 * 1000), 32)]
    mb = sum(len(x.encode("utf-8")) for b in batches for x in b) / 1e6

    def run(tok):
        for b in batches:
            tok(b, padding=True, truncation=True, max_length=128, return_tensors="pt")

    t_mine, t_theirs = best_of(lambda: run(mine), 2), best_of(lambda: run(theirs), 2)
    report("PreTrainedTokenizerFast(batch of 32, pad, truncate, pt)", mb / t_mine, mb / t_theirs, "MB/s", True, "transformers")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-mb", type=float, default=5)
    ap.add_argument("--encode-mb", type=float, default=10)
    ap.add_argument("--vocab", type=int, default=16000)
    args = ap.parse_args()
    print(f"# tokenizers benchmark, {time.strftime('%Y-%m-%d')}, threads={threads()}, load={os.getloadavg()[0]:.2f}")

    for ours_mod, ref_mod in [("snuggle.tokenizers", "tokenizers"), ("snuggle", "transformers")]:
        o, r = import_cost(ours_mod), import_cost(ref_mod)
        report(f"import {ours_mod} vs {ref_mod} (time)", o[0], r[0], "s", False, ref_mod)
        print(f"  import memory: {ours_mod} {o[1]:.1f} MB, {ref_mod} {r[1]:.1f} MB")

    with tempfile.TemporaryDirectory() as d:
        train_file = os.path.join(d, "train.txt")
        Path(train_file).write_text(corpus_text(int(args.train_mb * 1e6)), encoding="utf-8")
        ours, ref, ours_s, ref_s = byte_level_bpe_pair(args.vocab, train_file)
        report(f"BPE training {args.vocab} on {args.train_mb:g} MB", ours_s, ref_s, "s", False, "tokenizers")

    lines = corpus_lines(int(args.encode_mb * 1e6))
    mb = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    mismatch = sum(o.ids != r.ids for o, r in zip(ours.encode_batch(lines[:2000]), ref.encode_batch(lines[:2000])))
    print(f"  encode check on 2000 lines: {mismatch} mismatches")

    t_ours = best_of(lambda: [ours.encode(x) for x in lines], 2)
    t_ref = best_of(lambda: [ref.encode(x) for x in lines], 2)
    report(f"encode single calls ({mb:.1f} MB, {len(lines)} lines)", mb / t_ours, mb / t_ref, "MB/s", True, "tokenizers")

    # Both libraries build their Python lists on first access: also time encode + reading fields.
    def read_all(e):
        return e.ids, e.tokens, e.offsets, e.attention_mask

    t_ours_r = best_of(lambda: [read_all(ours.encode(x)) for x in lines], 2)
    t_ref_r = best_of(lambda: [read_all(ref.encode(x)) for x in lines], 2)
    report("encode single calls + read ids/tokens/offsets/mask", mb / t_ours_r, mb / t_ref_r, "MB/s", True, "tokenizers")

    t_ours_b = best_of(lambda: ours.encode_batch(lines), 2)
    t_ref_b = best_of(lambda: ref.encode_batch(lines), 2)
    report("encode_batch", mb / t_ours_b, mb / t_ref_b, "MB/s", True, "tokenizers")

    t_ours_br = best_of(lambda: [read_all(e) for e in ours.encode_batch(lines)], 2)
    t_ref_br = best_of(lambda: [read_all(e) for e in ref.encode_batch(lines)], 2)
    report("encode_batch + read ids/tokens/offsets/mask", mb / t_ours_br, mb / t_ref_br, "MB/s", True, "tokenizers")

    transformers_layer(ref, ours, lines)

    enc = tiktoken_from(ref)
    t_tt = best_of(lambda: [enc.encode_ordinary(x) for x in lines], 2)
    report("encode single calls vs tiktoken (same ranks)", mb / t_ours, mb / t_tt, "MB/s", True, "tiktoken")
    t_tt_b = best_of(lambda: enc.encode_ordinary_batch(lines, num_threads=threads()), 2)
    report("encode_batch vs tiktoken (same ranks)", mb / t_ours_b, mb / t_tt_b, "MB/s", True, "tiktoken")


if __name__ == "__main__":
    main()
