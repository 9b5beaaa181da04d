"""Turn tokenizers that do not ship a tokenizer.json into a tokenizer.json *dict*.

Each `from_*` function reads one kind of "slow" tokenizer file and returns the dict that the
reference stack (tokenizers 0.23 / transformers 5) would serialize for the same tokenizer, so

    Tokenizer.from_str(json.dumps(from_sentencepiece("tokenizer.model")))

gives a working tokenizer. Supported inputs:

- SentencePiece `.model` (BPE with byte fallback like Llama 2, or Unigram like T5/ALBERT/XLNet);
- tiktoken rank files (Llama 3, Qwen): byte-level BPE with merges recovered from the ranks;
- GPT-2 `vocab.json` + `merges.txt`;
- BERT `vocab.txt` (WordPiece);
- GGUF files' `tokenizer.ggml.*` metadata (see `snuggle.tokenizers.gguf_vocab`).

The dict layouts (key order included) follow what the reference serializes; the small builders
at the top of this file are the only place that spells those layouts out.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping

from snuggle.tokenizers.pre_tokenizers import bytes_to_unicode
from snuggle.errors import TokenizerFileError
from snuggle.tokenizers.sentencepiece_model import SentencePieceModel, load_sentencepiece_model
# load_tiktoken_ranks and last_merge are re-exported: callers import them from here.
from snuggle.tokenizers.tiktoken_merges import check_file, last_merge, load_tiktoken_ranks, merges_from_ranks  # noqa: F401

SPIECE_UNDERLINE = "\u2581"

# The split regex of GPT-4's cl100k_base, which Llama 3 uses (transformers' TikTokenConverter default).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


# --- layout builders: one per reference JSON object --------------------------------------------


def added_token(token_id: int, content: str, special: bool = True, normalized: bool = False) -> dict:
    """One entry of tokenizer.json's `added_tokens` list."""
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": normalized,
        "special": special,
    }


def template_processing(single: list[str], pair: list[str], special_tokens: Mapping[str, int]) -> dict:
    """TemplateProcessing from piece lists like ["<s>:0", "$A:0"] (the reference's string syntax)."""

    def pieces(spec: list[str]) -> list[dict]:
        out = []
        for item in spec:
            name, _, type_id = item.rpartition(":")
            if name in ("$A", "$B"):
                out.append({"Sequence": {"id": name[1], "type_id": int(type_id)}})
            else:
                out.append({"SpecialToken": {"id": name, "type_id": int(type_id)}})
        return out

    return {
        "type": "TemplateProcessing",
        "single": pieces(single),
        "pair": pieces(pair),
        "special_tokens": {
            token: {"id": token, "ids": [token_id], "tokens": [token]} for token, token_id in special_tokens.items()
        },
    }


def bos_eos_template(bos: tuple[str, int] | None, eos: tuple[str, int] | None) -> dict:
    """The template transformers 5 builds in `update_post_processor` (add_bos_token / add_eos_token)."""
    single = ([f"{bos[0]}:0"] if bos else []) + ["$A:0"] + ([f"{eos[0]}:0"] if eos else [])
    pair = single + ([f"{bos[0]}:1"] if bos else []) + ["$B:1"] + ([f"{eos[0]}:1"] if eos else [])
    specials = dict([bos] if bos else []) | dict([eos] if eos else [])
    return template_processing(single, pair, specials)


def byte_level(add_prefix_space: bool = False, trim_offsets: bool = True, use_regex: bool = True) -> dict:
    """ByteLevel pre-tokenizer / decoder / post-processor (the three share one layout)."""
    return {
        "type": "ByteLevel",
        "add_prefix_space": add_prefix_space,
        "trim_offsets": trim_offsets,
        "use_regex": use_regex,
    }


def replace(pattern: str, content: str, regex: bool = False) -> dict:
    return {"type": "Replace", "pattern": {"Regex" if regex else "String": pattern}, "content": content}


def metaspace(prepend_scheme: str, split: bool) -> dict:
    return {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": prepend_scheme, "split": split}


def bpe_model(
    vocab: dict[str, int],
    merges: list[tuple[str, str]],
    *,
    unk_token: str | None = None,
    continuing_subword_prefix: str | None = None,
    end_of_word_suffix: str | None = None,
    fuse_unk: bool = False,
    byte_fallback: bool = False,
    ignore_merges: bool = False,
) -> dict:
    return {
        "type": "BPE",
        "dropout": None,
        "unk_token": unk_token,
        "continuing_subword_prefix": continuing_subword_prefix,
        "end_of_word_suffix": end_of_word_suffix,
        "fuse_unk": fuse_unk,
        "byte_fallback": byte_fallback,
        "ignore_merges": ignore_merges,
        "vocab": vocab,
        "merges": [[left, right] for left, right in merges],
    }


def wordpiece_model(vocab: dict[str, int], unk_token: str = "[UNK]", prefix: str = "##") -> dict:
    return {
        "type": "WordPiece",
        "unk_token": unk_token,
        "continuing_subword_prefix": prefix,
        "max_input_chars_per_word": 100,
        "vocab": vocab,
    }


def tokenizer_dict(
    model: dict,
    *,
    added_tokens: list[dict] = (),
    normalizer: dict | None = None,
    pre_tokenizer: dict | None = None,
    post_processor: dict | None = None,
    decoder: dict | None = None,
) -> dict:
    """The top-level tokenizer.json object; added tokens are sorted by id, as the reference writes them."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": sorted(added_tokens, key=lambda token: token["id"]),
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": decoder,
        "model": model,
    }


_BYTE_SPELLING = bytes_to_unicode()
# Latin-1 decoding maps byte b to chr(b); this table then respells it (str.translate is fast).
_LATIN1_TO_SPELLING = {byte: char for byte, char in _BYTE_SPELLING.items()}


def spell_bytes(token: bytes) -> str:
    """Write raw token bytes in GPT-2's byte alphabet.

    >>> spell_bytes(b" hi")
    'Ġhi'
    """
    return token.decode("latin-1").translate(_LATIN1_TO_SPELLING)


# --- SentencePiece ------------------------------------------------------------------------------


def merges_by_vocab_order(vocab: Mapping[str, int], scores: Mapping[str, float] | None = None) -> list[tuple[str, str]]:
    """Recover BPE merges from a vocabulary: every split of a token into two vocabulary tokens.

    This is transformers' `generate_merges`: merges of a token are ordered by the ids of their
    halves, then all merges by the token's id (or by descending `scores` when given), then by the
    lengths of the halves. SentencePiece BPE vocabularies are sorted by merge order, so the id is
    the merge rank.

    >>> merges_by_vocab_order({"a": 0, "b": 1, "ab": 2})
    [('a', 'b')]
    """
    by_score = scores is not None
    keys = scores if by_score else vocab
    found = []
    for token, key in keys.items():
        local = []
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in vocab and right in vocab:
                local.append((left, right, key))
        local.sort(key=lambda merge: (vocab[merge[0]], vocab[merge[1]]))
        found.extend(local)
    found.sort(key=lambda merge: (merge[2], len(merge[0]), len(merge[1])), reverse=by_score)
    return [(left, right) for left, right, _ in found]


def _merges_by_piece_score(model: SentencePieceModel, vocab: Mapping[str, int]) -> list[tuple[str, str]]:
    """Merges between NORMAL pieces ranked by score (best first), then id, then the halves' text.

    This is what transformers' generic `build_tokenizer_from_spm_proto` uses: SentencePiece BPE
    only ever merges normal pieces, in score order.
    """
    normal = {piece.piece: (piece.score, index) for index, piece in enumerate(model.pieces) if piece.type == "NORMAL"}
    ranked = []
    for token, (score, index) in normal.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in normal and right in normal:
                ranked.append((-score, index, left, right))
    ranked.sort()
    return [(left, right) for _, _, left, right in ranked]


def _special_template(model: SentencePieceModel, add_bos_token: bool, add_eos_token: bool) -> dict:
    spec = model.trainer_spec
    bos = (model.pieces[spec.bos_id].piece, spec.bos_id) if add_bos_token and 0 <= spec.bos_id < len(model.pieces) else None
    eos = (model.pieces[spec.eos_id].piece, spec.eos_id) if add_eos_token and 0 <= spec.eos_id < len(model.pieces) else None
    return bos_eos_template(bos, eos)


def from_sentencepiece(
    path: str | os.PathLike,
    *,
    layout: str = "auto",
    add_bos_token: bool | None = None,
    add_eos_token: bool = False,
    legacy: bool | None = None,
    add_prefix_space: bool = True,
) -> dict:
    """A tokenizer.json dict for a SentencePiece `.model` file.

    `layout` picks which reference conversion to reproduce:

    - ``"llama"``: transformers 5 `LlamaTokenizer` built from a `tokenizer.model` (BPE with byte
      fallback, no normalizer, `Metaspace(prepend_scheme="first", split=False)`, merges from
      `generate_merges`, decoder Replace/ByteFallback/Fuse/Strip). `add_bos_token` defaults to
      True, as in every Llama `tokenizer_config.json`; `legacy=True` prepends "▁" to every chunk
      between added tokens (prepend_scheme "always"); `add_prefix_space=False` prepends nothing.
      Like transformers, the BPE model has no unk_token (byte fallback covers every character),
      and ids differ from sentencepiece's on text that starts with a space or holds runs of
      spaces (one Metaspace word instead of whitespace-split pieces).
    - ``"sentencepiece"``: transformers 5's generic `build_tokenizer_from_spm_proto`, which
      follows the model's own normalizer spec and encodes like `SentencePieceProcessor.encode`
      (Precompiled charsmap + whitespace Replaces + Metaspace + Unigram/BPE). `add_bos_token`
      defaults to False; `legacy` (default True, as transformers) picks Metaspace's prepend
      scheme ("always" vs "first").
    - ``"auto"``: "llama" for BPE models with byte fallback, "sentencepiece" otherwise.

    >>> d = from_sentencepiece("llama2/tokenizer.model")            # doctest: +SKIP
    >>> d["model"]["type"], d["pre_tokenizer"]["type"]  # doctest: +SKIP
    ('BPE', 'Metaspace')
    """
    path = check_file(path, "SentencePiece model")
    return from_sentencepiece_model(
        load_sentencepiece_model(path), path, layout=layout, add_bos_token=add_bos_token,
        add_eos_token=add_eos_token, legacy=legacy, add_prefix_space=add_prefix_space,
    )


def from_sentencepiece_model(
    model: SentencePieceModel,
    path: str = "<model>",
    *,
    layout: str = "auto",
    add_bos_token: bool | None = None,
    add_eos_token: bool = False,
    legacy: bool | None = None,
    add_prefix_space: bool = True,
) -> dict:
    """`from_sentencepiece` for an already parsed (or assembled, e.g. from GGUF) model; `path` names it in errors."""
    spec = model.trainer_spec
    if spec.model_type not in ("BPE", "UNIGRAM"):
        raise TokenizerFileError(
            f"trainer_spec.model_type is {spec.model_type}; only UNIGRAM and BPE models can be converted",
            path=path,
        )
    if layout == "auto":
        layout = "llama" if spec.model_type == "BPE" and spec.byte_fallback else "sentencepiece"
    if layout == "llama":
        if spec.model_type != "BPE":
            raise TokenizerFileError("layout='llama' needs a BPE model, this one is UNIGRAM", path=path)
        return _llama_layout(model, path, add_bos_token=True if add_bos_token is None else add_bos_token,
                             add_eos_token=add_eos_token, legacy=bool(legacy), add_prefix_space=add_prefix_space)
    if layout == "sentencepiece":
        return _sentencepiece_layout(model, path, add_bos_token=bool(add_bos_token), add_eos_token=add_eos_token,
                                     legacy=True if legacy is None else legacy)
    raise TokenizerFileError(f"unknown layout {layout!r}; expected 'auto', 'llama' or 'sentencepiece'", path=path)


def _spm_added_tokens(model: SentencePieceModel, include_user_defined: bool) -> list[dict]:
    """unk/bos/eos and CONTROL pieces as special added tokens; USER_DEFINED ones as plain ones."""
    spec = model.trainer_spec
    chosen: dict[int, dict] = {}
    for index in (spec.unk_id, spec.bos_id, spec.eos_id):
        if 0 <= index < len(model.pieces):
            chosen[index] = added_token(index, model.pieces[index].piece, special=True)
    for index, piece in enumerate(model.pieces):
        if piece.type == "CONTROL":
            chosen[index] = added_token(index, piece.piece, special=True)
        elif piece.type == "USER_DEFINED" and include_user_defined:
            chosen[index] = added_token(index, piece.piece, special=False)
    return list(chosen.values())


def _vocab_of(model: SentencePieceModel, path: str) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for index, piece in enumerate(model.pieces):
        # A repeated piece would silently shift ids in a dict vocabulary: refuse it.
        if piece.piece in vocab:
            raise TokenizerFileError(
                f"piece {piece.piece!r} appears twice (ids {vocab[piece.piece]} and {index})", path=path
            )
        vocab[piece.piece] = index
    return vocab


def _llama_layout(
    model: SentencePieceModel, path: str, add_bos_token: bool, add_eos_token: bool, legacy: bool,
    add_prefix_space: bool,
) -> dict:
    vocab = _vocab_of(model, path)
    merges = merges_by_vocab_order(vocab)
    decoders = [replace(SPIECE_UNDERLINE, " "), {"type": "ByteFallback"}, {"type": "Fuse"}]
    if add_prefix_space:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    prepend_scheme = ("always" if legacy else "first") if add_prefix_space else "never"
    return tokenizer_dict(
        bpe_model(vocab, merges, fuse_unk=True, byte_fallback=True),
        added_tokens=_spm_added_tokens(model, include_user_defined=True),
        pre_tokenizer=metaspace(prepend_scheme, split=False),
        post_processor=_special_template(model, add_bos_token, add_eos_token),
        decoder={"type": "Sequence", "decoders": decoders},
    )


def _sentencepiece_layout(
    model: SentencePieceModel, path: str, add_bos_token: bool, add_eos_token: bool, legacy: bool
) -> dict:
    spec, norm = model.trainer_spec, model.normalizer_spec
    user_defined = [piece.piece for piece in model.pieces if piece.type == "USER_DEFINED"]
    if spec.model_type == "BPE":
        vocab = _vocab_of(model, path)
        merges = _merges_by_piece_score(model, vocab)
        unk_piece = spec.unk_piece
        core = bpe_model(vocab, merges, unk_token=unk_piece, fuse_unk=True, byte_fallback=spec.byte_fallback,
                         ignore_merges=bool(user_defined))
    else:
        core = {
            "type": "Unigram",
            "unk_id": spec.unk_id,
            "vocab": [[piece.piece, piece.score] for piece in model.pieces],
            "byte_fallback": spec.byte_fallback,
        }

    # SentencePiece's own order: charsmap, whitespace clean-up, escaping, dummy prefix.
    normalizers = []
    if norm.precompiled_charsmap:
        normalizers.append({
            "type": "Precompiled",
            "precompiled_charsmap": base64.b64encode(norm.precompiled_charsmap).decode("ascii"),
        })
    if norm.remove_extra_whitespaces:
        # Only spaces: SentencePiece leaves other whitespace, such as newlines, alone.
        normalizers += [replace(r"\A +| +\z", "", regex=True), replace(" {2,}", " ", regex=True)]
    if norm.escape_whitespaces:
        normalizers.append(replace(" ", SPIECE_UNDERLINE))
    if norm.add_dummy_prefix and legacy:
        # Metaspace skips its prefix when the text already starts with "▁"; SentencePiece does not.
        normalizers.append(replace(r"\A" + SPIECE_UNDERLINE, SPIECE_UNDERLINE * 2, regex=True))

    pre_tokenizers = []
    if norm.add_dummy_prefix:
        pre_tokenizers.append(metaspace("always" if legacy else "first", split=False))
    if user_defined:
        # SentencePiece emits user-defined pieces whole: isolate them.
        pattern = "|".join(re.escape(piece) for piece in sorted(user_defined, key=len, reverse=True))
        pre_tokenizers.append(
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}
        )

    decoders = [replace(SPIECE_UNDERLINE, " ")]
    if spec.byte_fallback:
        decoders.append({"type": "ByteFallback"})
    if norm.add_dummy_prefix:
        # Strip acts per token, so fuse first to strip only the start of the text.
        decoders += [{"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]
    elif spec.byte_fallback:
        decoders.append({"type": "Fuse"})

    return tokenizer_dict(
        core,
        added_tokens=_spm_added_tokens(model, include_user_defined=False),
        normalizer={"type": "Sequence", "normalizers": normalizers},
        pre_tokenizer={"type": "Sequence", "pretokenizers": pre_tokenizers} if pre_tokenizers else None,
        post_processor=_special_template(model, add_bos_token, add_eos_token),
        decoder={"type": "Sequence", "decoders": decoders},
    )


# --- tiktoken rank files ------------------------------------------------------------------------


def from_tiktoken(
    path: str | os.PathLike,
    pattern: str = LLAMA3_PATTERN,
    special_tokens: Mapping[str, int] | None = None,
    *,
    bos_token: str | None = None,
    normalizer: dict | None = None,
) -> dict:
    """A byte-level BPE tokenizer.json dict for a tiktoken rank file (Llama 3, Qwen).

    The pre-tokenizer is `Split(Regex(pattern), "isolated")` then `ByteLevel(use_regex=False)`;
    the model has `ignore_merges=True` (a whole word found in the vocabulary wins, as in
    tiktoken). `special_tokens` become special added tokens with the given ids. With `bos_token`
    the post-processor prepends it (Llama 3's `<|begin_of_text|>`), otherwise it is
    `ByteLevel(trim_offsets=False)` as transformers' TikTokenConverter sets. `normalizer` is a
    tokenizer.json normalizer object, e.g. ``{"type": "NFC"}`` for Qwen.

    >>> d = from_tiktoken("llama3/tokenizer.model", special_tokens={"<|begin_of_text|>": 128000})  # doctest: +SKIP
    >>> len(d["model"]["vocab"]), d["model"]["ignore_merges"]  # doctest: +SKIP
    (128000, True)
    """
    ranks = load_tiktoken_ranks(path)
    vocab = {spell_bytes(token): rank for token, rank in sorted(ranks.items(), key=lambda item: item[1])}
    merges = [(spell_bytes(left), spell_bytes(right)) for left, right in merges_from_ranks(ranks)]
    special_tokens = dict(special_tokens or {})
    taken = {rank: token for token, rank in ranks.items()}
    for content, token_id in special_tokens.items():
        if token_id in taken:
            raise TokenizerFileError(
                f"special token {content!r} has id {token_id}, which the rank file already gives to "
                f"{taken[token_id]!r}; special ids must lie outside the ranks",
                path=os.fspath(path),
            )
    if bos_token is not None:
        if bos_token not in special_tokens:
            raise TokenizerFileError(f"bos_token {bos_token!r} is not among special_tokens", path=os.fspath(path))
        post_processor = bos_eos_template((bos_token, special_tokens[bos_token]), None)
    else:
        post_processor = byte_level(True, trim_offsets=False)
    return tokenizer_dict(
        bpe_model(vocab, merges, ignore_merges=True),
        added_tokens=[added_token(token_id, content) for content, token_id in special_tokens.items()],
        normalizer=normalizer,
        pre_tokenizer={
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                byte_level(False, trim_offsets=True, use_regex=False),
            ],
        },
        post_processor=post_processor,
        decoder=byte_level(True, trim_offsets=True, use_regex=True),
    )


# --- GPT-2 vocab.json + merges.txt ---------------------------------------------------------------


def load_merges_txt(path: str | os.PathLike, vocab: Mapping[str, int] | None = None) -> list[tuple[str, str]]:
    """Read merges.txt: optional `#version` header, then `left right` per line."""
    path = check_file(path, "merges file")
    merges = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if line_number == 1 and line.startswith("#version"):
                continue
            if not line.strip():
                continue
            parts = line.split(" ")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise TokenizerFileError(
                    f"expected two tokens separated by one space, found {line[:60]!r}",
                    path=path, where=f"line {line_number}",
                )
            if vocab is not None:
                for part in (parts[0], parts[1], parts[0] + parts[1]):
                    if part not in vocab:
                        raise TokenizerFileError(
                            f"merge {line!r} uses {part!r}, which is not in the vocabulary",
                            path=path, where=f"line {line_number}",
                        )
            merges.append((parts[0], parts[1]))
    return merges


def load_vocab_json(path: str | os.PathLike) -> dict[str, int]:
    path = check_file(path, "vocabulary file")
    try:
        with open(path, encoding="utf-8") as handle:
            vocab = json.load(handle)
    except json.JSONDecodeError as error:
        raise TokenizerFileError(f"not valid JSON ({error.msg})", path=path,
                                 where=f"line {error.lineno} column {error.colno}") from None
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise TokenizerFileError("expected a JSON object mapping token strings to integer ids", path=path)
    return vocab


def from_vocab_merges(
    vocab_path: str | os.PathLike,
    merges_path: str | os.PathLike,
    *,
    special_tokens: Iterable[str] = ("<|endoftext|>",),
    add_prefix_space: bool = False,
) -> dict:
    """A GPT-2 style byte-level BPE tokenizer.json dict (what transformers 5 `GPT2Tokenizer` builds).

    `special_tokens` that are in the vocabulary become special added tokens.

    >>> d = from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")      # doctest: +SKIP
    >>> d["added_tokens"][0]["content"], len(d["model"]["merges"])  # doctest: +SKIP
    ('<|endoftext|>', 50000)
    """
    vocab = load_vocab_json(vocab_path)
    merges = load_merges_txt(merges_path, vocab)
    added = [added_token(vocab[token], token) for token in special_tokens if token in vocab]
    return tokenizer_dict(
        bpe_model(vocab, merges, continuing_subword_prefix="", end_of_word_suffix=""),
        added_tokens=added,
        pre_tokenizer=byte_level(add_prefix_space, trim_offsets=True, use_regex=True),
        post_processor=bos_eos_template(None, None),
        decoder=byte_level(True, trim_offsets=True, use_regex=True),
    )


# --- BERT vocab.txt ------------------------------------------------------------------------------

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def load_vocab_txt(path: str | os.PathLike) -> dict[str, int]:
    """One token per line; the id is the line index (a repeated token keeps its last line)."""
    path = check_file(path, "vocabulary file")
    vocab: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for index, line in enumerate(handle):
                vocab[line.rstrip("\n")] = index
    except UnicodeDecodeError as error:
        raise TokenizerFileError(f"not UTF-8 text ({error.reason})", path=path,
                                 where=f"byte offset {error.start}") from None
    return vocab


def from_wordpiece_vocab(
    path: str | os.PathLike,
    do_lower_case: bool = True,
    *,
    tokenize_chinese_chars: bool = True,
    strip_accents: bool | None = None,
    unk_token: str = "[UNK]",
    cls_token: str = "[CLS]",
    sep_token: str = "[SEP]",
) -> dict:
    """A BERT WordPiece tokenizer.json dict (what transformers 5 `BertTokenizer` builds from vocab.txt).

    >>> d = from_wordpiece_vocab("bert-base-uncased/vocab.txt")         # doctest: +SKIP
    >>> [t["content"] for t in d["added_tokens"]]  # doctest: +SKIP
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    """
    vocab = load_vocab_txt(path)
    for token in (unk_token, cls_token, sep_token):
        if token not in vocab:
            raise TokenizerFileError(f"special token {token!r} is not in the vocabulary", path=os.fspath(path))
    specials = dict.fromkeys([*BERT_SPECIAL_TOKENS, unk_token, cls_token, sep_token])
    added = [added_token(vocab[token], token) for token in specials if token in vocab]
    return tokenizer_dict(
        wordpiece_model(vocab, unk_token=unk_token),
        added_tokens=added,
        normalizer={
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": tokenize_chinese_chars,
            "strip_accents": strip_accents,
            "lowercase": do_lower_case,
        },
        pre_tokenizer={"type": "BertPreTokenizer"},
        post_processor=template_processing(
            [f"{cls_token}:0", "$A:0", f"{sep_token}:0"],
            [f"{cls_token}:0", "$A:0", f"{sep_token}:0", "$B:1", f"{sep_token}:1"],
            {cls_token: vocab[cls_token], sep_token: vocab[sep_token]},
        ),
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": True},
    )


def from_gguf(path: str | os.PathLike) -> dict:
    """The tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata, as a tokenizer.json dict.

    >>> d = from_gguf("ggml-vocab-llama-spm.gguf")                      # doctest: +SKIP
    """
    from snuggle.tokenizers.gguf_vocab import tokenizer_dict_from_gguf

    return tokenizer_dict_from_gguf(path)
