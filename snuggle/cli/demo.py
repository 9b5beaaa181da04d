"""`snuggle demo` (what `make demo` runs): the main job on the embedded defaults.

For now: train a byte-level BPE tokenizer on tinyshakespeare, save it, reload it, encode
and decode a sample, and report vocabulary size and encoding throughput.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from snuggle.errors import SnuggleError


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="train, save, reload and use a tokenizer on tinyshakespeare")
    p.add_argument("--data", default=None, help="text file to train on (default: shared tinyshakespeare)")
    p.add_argument("--vocab-size", type=int, default=2000)
    p.add_argument("--out", default=None, help="where to save tokenizer.json (default: a temp folder)")
    p.set_defaults(func=run)


def shared_datasets_dir() -> Path:
    """../shared/datasets beside the repository, or $SNUGGLE_SHARED_DATASETS."""
    env = os.environ.get("SNUGGLE_SHARED_DATASETS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "datasets"


def run(args) -> int:
    from snuggle.cli.tokenizer import build_trainable
    from snuggle.tokenizers import Tokenizer

    data = Path(args.data) if args.data else shared_datasets_dir() / "tinyshakespeare" / "input.txt"
    if not data.is_file():
        raise SnuggleError(f"demo data not found at {data}; pass --data FILE or set SNUGGLE_SHARED_DATASETS")
    text = data.read_text(encoding="utf-8")
    print(f"[1/4] training a byte-level BPE (vocab {args.vocab_size}) on {data.name} ({len(text) / 1e6:.2f} MB)")
    tok, trainer = build_trainable("bpe", args.vocab_size, 0, ["<|endoftext|>"])
    trainer.show_progress = False
    start = time.perf_counter()
    tok.train([str(data)], trainer)
    print(f"      trained in {time.perf_counter() - start:.2f}s, vocab size {tok.get_vocab_size()}")

    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="snuggle-demo-"))
    out = out_dir / "tokenizer.json" if out_dir.suffix != ".json" else out_dir
    out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out))
    print(f"[2/4] saved to {out}")

    reloaded = Tokenizer.from_file(str(out))
    assert reloaded.to_str() == tok.to_str(), "reloaded tokenizer differs from the saved one"
    print(f"[3/4] reloaded: vocab size {reloaded.get_vocab_size()}")

    sample = "ROMEO:\nBut soft, what light through yonder window breaks? 🌙"
    enc = reloaded.encode(sample)
    decoded = reloaded.decode(enc.ids)
    print(f"      sample: {sample!r}")
    print(f"      {len(enc.ids)} tokens: {enc.tokens[:12]}{' ...' if len(enc.tokens) > 12 else ''}")
    print(f"      decoded back equal: {decoded == sample}")

    lines = text.splitlines()
    start = time.perf_counter()
    encs = reloaded.encode_batch(lines)
    elapsed = time.perf_counter() - start
    n_tokens = sum(len(e.ids) for e in encs)
    mb = len(text.encode("utf-8")) / 1e6
    print(f"[4/4] encoded {len(lines)} lines ({mb:.2f} MB) into {n_tokens} tokens in {elapsed:.2f}s: {mb / elapsed:.1f} MB/s")
    return 0
