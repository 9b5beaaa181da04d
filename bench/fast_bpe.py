"""Benchmark: snuggle's C byte-level BPE fast path vs `tokenizers` (Rust) and tiktoken.

All three use the same 16k byte-level BPE: GPT-2's 256 byte tokens plus its first
15,744 merges (tiktoken gets the same tokens as ranks), the GPT-2 split regex, on
~10 MB of English text (tinyshakespeare + wikitext2 + tinystories, repeated).

- single: one `encode` call on the whole text. snuggle returns ids, char offsets and
  word indices; `tokenizers` is timed up to `.ids` and `.offsets` (what we return);
  tiktoken returns ids only, so snuggle's ids-only `encode_ids` is shown beside it.
- batch: the text cut into ~1 KB documents, `encode_batch` on 2 cores (snuggle: threads
  (native, GIL released) vs one thread vs worker processes; `tokenizers`: rayon;
  tiktoken: its thread pool).

Prints `name: snuggle/reference = ratio` (MB/s of UTF-8 input). Run on a quiet machine:
    .venv/bin/python bench/fast_bpe.py [--mb 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time

DATA = os.environ.get("SNUGGLE_DATA", "/work/shared/datasets")
VOCAB_SIZE = 16_000
THREADS = 2


def load_text(megabytes: float) -> str:
    parts = []
    for path in ("tinyshakespeare/input.txt", "wikitext2/wiki.test.raw", "tinystories/tinystories_train_head_2MiB.txt"):
        with open(os.path.join(DATA, path), encoding="utf-8") as f:
            parts.append(f.read().replace("<|endoftext|>", ""))
    base = "".join(parts)
    target = int(megabytes * 1e6)
    text = base * (target // len(base.encode()) + 1)
    return text[:target]


def documents(text: str, size: int = 1000) -> list[str]:
    """Cut at the first newline after every `size` chars (documents of ~1 KB)."""
    docs, start = [], 0
    while start < len(text):
        cut = text.find("\n", start + size)
        end = len(text) if cut < 0 else cut + 1
        docs.append(text[start:end])
        start = end
    return docs


def small_gpt2_bpe():
    """(vocab str->id, merges) of the first VOCAB_SIZE tokens of GPT-2."""
    with open(os.path.join(DATA, "tokenizers/gpt2/vocab.json"), encoding="utf-8") as f:
        full = json.load(f)
    with open(os.path.join(DATA, "tokenizers/gpt2/merges.txt"), encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().splitlines()[1:] if line]
    vocab = {t: i for t, i in full.items() if i < 256}
    kept = []
    for a, b in merges:
        if len(vocab) >= VOCAB_SIZE:
            break
        if a in vocab and b in vocab and a + b not in vocab:
            vocab[a + b] = len(vocab)
            kept.append((a, b))
    return vocab, kept


def build_snuggle(vocab, merges):
    from snuggle.tokenizers.fast import plan_fast_path
    from snuggle.tokenizers.models.bpe import BPE

    pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    path = plan_fast_path(None, pre, BPE(dict(vocab), list(merges)))
    assert path is not None, "the fast path did not accept the benchmark tokenizer"
    return path


def build_tokenizers(vocab, merges):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.BPE(dict(vocab), list(merges)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return tok


def build_tiktoken(vocab):
    import tiktoken

    from snuggle.tokenizers.converters import bytes_to_unicode
    from snuggle.tokenizers.fast import GPT2_PATTERN

    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {bytes(byte_of[c] for c in t): i for t, i in vocab.items()}
    return tiktoken.Encoding("gpt2-16k", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})


def best_seconds(fn, arg, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(arg)
        best = min(best, time.perf_counter() - start)
        del result
    return best


# ---- snuggle in worker processes (for the threads-vs-processes question) -------------------------
_worker_path = None


def _worker_init(vocab, merges):
    global _worker_path
    _worker_path = build_snuggle(vocab, merges)


def _worker_encode(texts):
    return _worker_path.encoder.encode_many(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=10.0, help="megabytes of text (default 10)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement, best kept")
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(THREADS))

    text = load_text(args.mb)
    docs = documents(text)
    mb = len(text.encode("utf-8")) / 1e6
    vocab, merges = small_gpt2_bpe()
    snuggle, hf, tk = build_snuggle(vocab, merges), build_tokenizers(vocab, merges), build_tiktoken(vocab)
    print(f"text: {mb:.1f} MB, {len(docs)} documents; vocab {len(vocab)}; threads: {THREADS}; cpus: {os.cpu_count()}")
    print(f"load: {os.getloadavg()[0]:.2f}")

    # identical output first: a benchmark of different results means nothing
    ids, offsets, _ = snuggle.encode(docs[0])
    reference = hf.encode(docs[0])
    assert ids == reference.ids and offsets == reference.offsets, "snuggle and tokenizers disagree"
    assert ids == tk.encode_ordinary(docs[0]), "snuggle and tiktoken disagree"

    def rate(seconds: float) -> float:
        return mb / seconds

    single = {
        "snuggle": rate(best_seconds(snuggle.encode, text, args.repeat)),
        "snuggle_ids": rate(best_seconds(snuggle.encoder.encode_ids, text, args.repeat)),
        "tokenizers": rate(best_seconds(lambda t: (lambda e: (e.ids, e.offsets))(hf.encode(t)), text, 1)),
        "tiktoken": rate(best_seconds(tk.encode_ordinary, text, args.repeat)),
    }
    batch = {
        "snuggle": rate(best_seconds(snuggle.encode_batch, docs, args.repeat)),
        "snuggle_1thread": rate(best_seconds(snuggle.encoder.encode_many, docs, args.repeat)),
        "snuggle_ids": rate(best_seconds(lambda d: snuggle.encoder.encode_many(d, threads=THREADS, ids_only=True), docs, args.repeat)),
        "tokenizers": rate(best_seconds(lambda d: [(e.ids, e.offsets) for e in hf.encode_batch(d)], docs, args.repeat)),
        "tiktoken": rate(best_seconds(lambda d: tk.encode_ordinary_batch(d, num_threads=THREADS), docs, args.repeat)),
    }
    with multiprocessing.get_context("fork").Pool(THREADS, _worker_init, (vocab, merges)) as pool:
        half = len(docs) // 2
        chunks = [docs[:half], docs[half:]]
        pool.map(_worker_encode, [["warm up"]] * THREADS)
        batch["snuggle_processes"] = rate(best_seconds(lambda c: pool.map(_worker_encode, c), chunks, args.repeat))

    for name, value in {**{f"single {k}": v for k, v in single.items()}, **{f"batch {k}": v for k, v in batch.items()}}.items():
        print(f"  {name}: {value:.2f} MB/s")
    print(f"encode (1 call, ids+offsets): snuggle/tokenizers = {single['snuggle'] / single['tokenizers']:.2f}")
    print(f"encode (1 call, ids): snuggle/tiktoken = {single['snuggle_ids'] / single['tiktoken']:.2f}")
    print(f"encode (1 call, ids+offsets+words vs ids): snuggle/tiktoken = {single['snuggle'] / single['tiktoken']:.2f}")
    print(f"encode_batch ({THREADS} threads, ids+offsets): snuggle/tokenizers = {batch['snuggle'] / batch['tokenizers']:.2f}")
    print(f"encode_batch ({THREADS} threads, ids): snuggle/tiktoken = {batch['snuggle_ids'] / batch['tiktoken']:.2f}")
    print(f"encode_batch ({THREADS} threads, ids+offsets+words vs ids): snuggle/tiktoken = {batch['snuggle'] / batch['tiktoken']:.2f}")
    print(f"encode_batch threads/processes (snuggle) = {batch['snuggle'] / batch['snuggle_processes']:.2f}")
    print(f"encode_batch {THREADS} threads/1 thread (snuggle) = {batch['snuggle'] / batch['snuggle_1thread']:.2f}")


if __name__ == "__main__":
    main()
