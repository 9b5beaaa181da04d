"""`snuggle tokenizer train|encode|decode`: the tokenizers engine from the shell.

    snuggle tokenizer train --files corpus.txt --model bpe --vocab-size 8000 --out tokenizer.json
    snuggle tokenizer encode --tokenizer tokenizer.json "Hello world"
    snuggle tokenizer decode --tokenizer tokenizer.json 15496 995
"""

from __future__ import annotations

import json
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("tokenizer", help="train, encode and decode with tokenizer.json files")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="<action>")

    t = tsub.add_parser("train", help="train a tokenizer on text files (one sequence per line)")
    t.add_argument("--files", nargs="+", required=True, help="UTF-8 text files")
    t.add_argument("--model", choices=["bpe", "wordpiece", "unigram", "wordlevel"], default="bpe")
    t.add_argument("--vocab-size", type=int, default=8000)
    t.add_argument("--min-frequency", type=int, default=0)
    t.add_argument("--special-tokens", nargs="*", default=None, help="default: <|endoftext|> for bpe, BERT's for wordpiece")
    t.add_argument("--out", required=True, help="where to write tokenizer.json")
    t.set_defaults(func=run_train)

    e = tsub.add_parser("encode", help="encode text (arguments, or stdin lines) and print ids and tokens as JSON")
    e.add_argument("--tokenizer", required=True, help="a tokenizer.json file, or a folder holding one")
    e.add_argument("--no-special-tokens", action="store_true", help="do not add special tokens (add_special_tokens=False)")
    e.add_argument("text", nargs="*")
    e.set_defaults(func=run_encode)

    d = tsub.add_parser("decode", help="decode token ids")
    d.add_argument("--tokenizer", required=True)
    d.add_argument("--keep-special-tokens", action="store_true")
    d.add_argument("ids", nargs="+", type=int)
    d.set_defaults(func=run_decode)

    p.set_defaults(func=lambda args: p.print_help() or 0)


def build_trainable(model: str, vocab_size: int, min_frequency: int, special_tokens: list[str] | None):
    """A fresh Tokenizer and matching trainer for `model`, with the usual components."""
    from snuggle.tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if model == "bpe":
        special = ["<|endoftext|>"] if special_tokens is None else special_tokens
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=special,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=True,
        )
    elif model == "wordpiece":
        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] if special_tokens is None else special_tokens
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special)
    elif model == "unigram":
        special = ["<unk>"] if special_tokens is None else special_tokens
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=special, unk_token=special[0] if special else None)
    else:
        special = ["[UNK]"] if special_tokens is None else special_tokens
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special)
    return tok, trainer


def run_train(args) -> int:
    tok, trainer = build_trainable(args.model, args.vocab_size, args.min_frequency, args.special_tokens)
    start = time.perf_counter()
    tok.train(args.files, trainer)
    tok.save(args.out)
    print(f"trained {args.model} with {tok.get_vocab_size()} tokens in {time.perf_counter() - start:.1f}s -> {args.out}")
    return 0


def load_tokenizer(path: str):
    """A Tokenizer from a tokenizer.json path or a folder containing one."""
    import os

    from snuggle.tokenizers import Tokenizer

    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    return Tokenizer.from_file(path)


def run_encode(args) -> int:
    tok = load_tokenizer(args.tokenizer)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin]
    for text in texts:
        enc = tok.encode(text, add_special_tokens=not args.no_special_tokens)
        print(json.dumps({"ids": enc.ids, "tokens": enc.tokens, "offsets": enc.offsets}, ensure_ascii=False))
    return 0


def run_decode(args) -> int:
    tok = load_tokenizer(args.tokenizer)
    print(tok.decode(args.ids, skip_special_tokens=not args.keep_special_tokens))
    return 0
