"""PreTrainedTokenizerFast: transformers' tokenizer API over a `snuggle.tokenizers.Tokenizer`.

The backend (`backend_tokenizer`) does the tokenizing, truncating and padding; this class
turns the arguments of `__call__` into backend settings for one call, then reshapes the
resulting Encodings into a `BatchEncoding` the way transformers 5 does (overflowing windows
become extra rows, a single input loses its batch dimension, tensors on request).

>>> tok = PreTrainedTokenizerFast(tokenizer_file="tokenizer.json", pad_token="[PAD]")  # doctest: +SKIP
>>> tok(["a b", "c"], padding=True)["attention_mask"]                                 # doctest: +SKIP
[[1, 1], [1, 0]]
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

from snuggle.errors import TokenizerError
from snuggle.tokenizers.added_vocabulary import AddedToken
from snuggle.tokenizers.batch_encoding import BatchEncoding
from snuggle.tokenizers.padding_strategies import PaddingStrategy, TruncationStrategy
from snuggle.tokenizers.pretrained_base import (
    _LEFT_PADDING,
    _MODEL_INPUT_NAMES,
    PreTrainedTokenizerBase,
    _class_key,
    _is_text_input,
    _to_py,
)
from snuggle.utils.lazy import gc_paused

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


class PreTrainedTokenizerFast(PreTrainedTokenizerBase):
    """A pretrained tokenizer backed by `snuggle.tokenizers.Tokenizer` (transformers 5 behaviour).

    Build it with `from_pretrained(folder)`, or directly from a backend:
    `PreTrainedTokenizerFast(tokenizer_object=tok)` / `(tokenizer_file="tokenizer.json")`,
    plus any special tokens and settings as keyword arguments.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        from snuggle.tokenizers.tokenizer import Tokenizer

        tokenizer_object = kwargs.pop("tokenizer_object", None)
        tokenizer_file = kwargs.pop("tokenizer_file", None)
        class_name = kwargs.pop("_tokenizer_class", None)
        owned_backend = kwargs.pop("_owned_backend", None)  # from_pretrained's fresh backend: no copy needed
        if owned_backend is not None:
            backend = owned_backend
        elif tokenizer_object is not None:
            backend = copy.deepcopy(tokenizer_object)
        elif tokenizer_file is not None:
            if not os.path.isfile(tokenizer_file):
                raise TokenizerError(f"tokenizer_file {tokenizer_file!r} does not exist")
            backend = Tokenizer.from_file(tokenizer_file)
        else:
            raise TokenizerError(
                "PreTrainedTokenizerFast needs a backend: pass tokenizer_object=Tokenizer(...) or "
                "tokenizer_file='tokenizer.json', or use PreTrainedTokenizerFast.from_pretrained(folder)"
            )
        object.__setattr__(self, "_tokenizer", backend)
        object.__setattr__(self, "_tokenizer_class_name", class_name)
        key = _class_key(class_name)
        if key in _MODEL_INPUT_NAMES:
            kwargs.setdefault("model_input_names", _MODEL_INPUT_NAMES[key])
        if key in _LEFT_PADDING:
            kwargs.setdefault("padding_side", "left")
        # Settings baked into tokenizer.json become defaults, as in the reference (and are saved back).
        trunc = backend.truncation
        if trunc is not None:
            kwargs.setdefault("max_length", trunc["max_length"])
            kwargs.setdefault("truncation_side", trunc.get("direction", "right"))
            kwargs.setdefault("stride", trunc.get("stride", 0))
            kwargs.setdefault("truncation_strategy", trunc.get("strategy", "longest_first"))
        pad = backend.padding
        if pad is not None:
            kwargs.setdefault("pad_token", pad["pad_token"])
            kwargs.setdefault("pad_token_type_id", pad["pad_type_id"])
            kwargs.setdefault("padding_side", pad["direction"])
            kwargs.setdefault("max_length", pad["length"])
            kwargs.setdefault("pad_to_multiple_of", pad["pad_to_multiple_of"])
        kwargs.setdefault("backend", "tokenizers")
        added_tokens_decoder = kwargs.pop("added_tokens_decoder", None) or {}
        add_prefix_space = kwargs.get("add_prefix_space", False)
        super().__init__(**kwargs)
        self.init_inputs = tuple(args)
        self.add_prefix_space = add_prefix_space
        self._register_added_tokens(added_tokens_decoder)

    def _register_added_tokens(self, added_tokens_decoder: dict) -> None:
        """Add the config's added tokens and special tokens the backend does not know yet."""
        known = {repr(t) for t in self.added_tokens_decoder.values()}
        to_add: list[Any] = []
        for _, token in sorted(((int(i), t) for i, t in added_tokens_decoder.items()), key=lambda x: x[0]):
            if isinstance(token, dict):
                token = AddedToken(**{k: v for k, v in token.items() if k != "__type"})
            if repr(token) not in known:
                to_add.append(token)
        encoder = set(self.added_tokens_encoder) | {str(t) for t in to_add}
        for value in list(self._special_tokens_map.values()) + list(self._extra_special_tokens):
            if value is not None and str(value) not in encoder and value not in to_add:
                to_add.append(value)
        if not to_add:
            return
        named = {str(t) for t in self._special_tokens_map.values() if t}
        tokens = []
        for token in to_add:
            if isinstance(token, str):
                token = AddedToken(token, special=True)
            elif not token.special and str(token) in named:
                token = AddedToken(token.content, token.single_word, token.lstrip, token.rstrip, token.normalized, True)
            tokens.append(token)
        self.add_tokens(tokens)

    # ---- backend access -----------------------------------------------------------------
    @property
    def backend_tokenizer(self):
        """The `snuggle.tokenizers.Tokenizer` doing the work."""
        return self._tokenizer

    @property
    def decoder(self):
        return self._tokenizer.decoder

    @property
    def is_fast(self) -> bool:
        return True

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        """Vocabulary size including added tokens."""
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (without added tokens)."""
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        return self.get_vocab()

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._tokenizer.get_added_tokens_decoder().items()))

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return {t.content: i for i, t in self.added_tokens_decoder.items()}

    def get_added_vocab(self) -> dict[str, int]:
        return self.added_tokens_encoder

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair)

    def _convert_token_to_id_with_added_voc(self, token: str) -> int | None:
        index = self._tokenizer.token_to_id(token)
        return self.unk_token_id if index is None else index

    def _add_tokens(self, new_tokens: list, special_tokens: bool = False) -> int:
        if special_tokens:
            return self._tokenizer.add_special_tokens(new_tokens)
        return self._tokenizer.add_tokens(new_tokens)

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """Id -> token string (None for an unknown id); a list maps element-wise."""
        ids = _to_py(ids)
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._tokenizer.id_to_token(int(i)) for i in ids if int(i) not in skip]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self._tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    # ---- encoding --------------------------------------------------------------------------
    def __call__(
        self,
        text=None,
        text_pair=None,
        text_target=None,
        text_pair_target=None,
        add_special_tokens: bool = True,
        padding=False,
        truncation=None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        tokenizer_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> BatchEncoding:
        """Tokenize one text, a pair, or a batch of them, for a model.

        >>> tok(["Hello world", "Hi"], padding=True, return_tensors="pt")["input_ids"].shape   # doctest: +SKIP
        torch.Size([2, 2])
        """
        options = dict(
            add_special_tokens=add_special_tokens,
            stride=stride,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
            verbose=verbose,
            split_special_tokens=kwargs.pop("split_special_tokens", self.split_special_tokens),
        )
        max_target_length = kwargs.pop("max_target_length", None)
        if tokenizer_kwargs:
            kwargs = {**tokenizer_kwargs, **kwargs}
        for k in list(kwargs):
            if k in options:
                options[k] = kwargs.pop(k)
        padding = kwargs.pop("padding", padding)
        truncation = kwargs.pop("truncation", truncation)
        max_length = kwargs.pop("max_length", max_length)
        if kwargs:
            logger.debug("ignored tokenizer arguments: %s", sorted(kwargs))
        if text is None and text_target is None:
            raise TokenizerError("pass `text` (and/or `text_target`) to tokenize")
        padding_strategy, truncation_strategy, max_length, _ = self._get_padding_truncation_strategies(
            padding=padding, truncation=truncation, max_length=max_length,
            pad_to_multiple_of=options["pad_to_multiple_of"], verbose=verbose,
        )
        encodings = None
        if text is not None:
            encodings = self._encode_plus(text, text_pair, padding_strategy, truncation_strategy, max_length, **options)
        if text_target is None:
            return encodings
        target_length = max_target_length if max_target_length is not None else max_length
        targets = self._encode_plus(text_target, text_pair_target, padding_strategy, truncation_strategy, target_length, **options)
        if encodings is None:
            return targets
        encodings["labels"] = targets["input_ids"]
        return encodings

    def _set_truncation_and_padding(self, padding_strategy, truncation_strategy, max_length, stride, pad_to_multiple_of, padding_side):
        backend = self._tokenizer
        if truncation_strategy == TruncationStrategy.DO_NOT_TRUNCATE:
            backend.no_truncation()
        else:
            backend.enable_truncation(max_length, stride=stride, strategy=truncation_strategy.value, direction=self.truncation_side)
        if padding_strategy == PaddingStrategy.DO_NOT_PAD:
            backend.no_padding()
        else:
            backend.enable_padding(
                direction=padding_side if padding_side is not None else self.padding_side,
                pad_id=self.pad_token_id,
                pad_type_id=self.pad_token_type_id,
                pad_token=self.pad_token,
                length=max_length if padding_strategy == PaddingStrategy.MAX_LENGTH else None,
                pad_to_multiple_of=pad_to_multiple_of,
            )

    def _encode_plus(
        self,
        text,
        text_pair,
        padding_strategy: PaddingStrategy,
        truncation_strategy: TruncationStrategy,
        max_length: int | None,
        *,
        add_special_tokens: bool = True,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool = False,
    ) -> BatchEncoding:
        for name, value in (("text", text), ("text_pair", text_pair)):
            if value is not None and not _is_text_input(value):
                raise TokenizerError(
                    f"{name} must be a str, a list of str (a batch, or one pre-split text with "
                    f"is_split_into_words=True) or a list of lists of str; got {type(value).__name__}"
                )
        if is_split_into_words:
            is_batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            is_batched = isinstance(text, (list, tuple))
        if is_batched:
            if isinstance(text_pair, str):
                raise TokenizerError("for a batch of texts, text_pair must be a list of the same length, not a str")
            if text_pair is not None and len(text) != len(text_pair):
                raise TokenizerError(f"text has {len(text)} items but text_pair has {len(text_pair)}")
            batch = list(zip(text, text_pair)) if text_pair is not None else list(text)
        else:
            batch = [(text, text_pair)] if text_pair else [text]

        backend = self._tokenizer
        saved = (backend.truncation, backend.padding, getattr(backend, "encode_special_tokens", False))
        try:
            self._set_truncation_and_padding(padding_strategy, truncation_strategy, max_length, stride, pad_to_multiple_of, padding_side)
            backend.encode_special_tokens = bool(split_special_tokens)
            encodings = backend.encode_batch(batch, add_special_tokens=add_special_tokens, is_pretokenized=is_split_into_words)
        finally:
            self._restore_backend(*saved)

        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        fields: dict[str, list] = {"input_ids": []}
        if return_token_type_ids:
            fields["token_type_ids"] = []
        if return_attention_mask:
            fields["attention_mask"] = []
        if return_special_tokens_mask:
            fields["special_tokens_mask"] = []
        if return_offsets_mapping:
            fields["offset_mapping"] = []
        if return_length:
            fields["length"] = []
        rows = []
        sample_of_row = []
        for i, enc in enumerate(encodings):
            parts = [enc] + list(enc.overflowing) if return_overflowing_tokens else [enc]
            rows.extend(parts)
            sample_of_row.extend([i] * len(parts))
        for e in rows:
            fields["input_ids"].append(list(e.ids))
            if return_token_type_ids:
                fields["token_type_ids"].append(list(e.type_ids))
            if return_attention_mask:
                fields["attention_mask"].append(list(e.attention_mask))
            if return_special_tokens_mask:
                fields["special_tokens_mask"].append(list(e.special_tokens_mask))
            if return_offsets_mapping:
                fields["offset_mapping"].append([tuple(o) for o in e.offsets])
            if return_length:
                fields["length"].append(len(e.ids))
        if return_overflowing_tokens:
            fields["overflow_to_sample_mapping"] = sample_of_row
        for ids in fields["input_ids"]:
            self._warn_if_too_long(ids, max_length, verbose)
        out = BatchEncoding(fields, rows, tensor_type=return_tensors)
        if not is_batched and return_tensors is None and not return_overflowing_tokens:
            out = BatchEncoding(
                {k: (v[0] if v and isinstance(v[0], list) else v) for k, v in out.items()}, out.encodings
            )
        return out

    def _restore_backend(self, truncation, padding, encode_special_tokens) -> None:
        backend = self._tokenizer
        if truncation is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(**truncation)
        if padding is None:
            backend.no_padding()
        else:
            backend.enable_padding(**padding)
        backend.encode_special_tokens = encode_special_tokens

    def _warn_if_too_long(self, ids: list[int], max_length: int | None, verbose: bool) -> None:
        if max_length is None and len(ids) > self.model_max_length and verbose and self.model_max_length != 0:
            _warn_once(
                f"Token indices sequence length is longer than the specified maximum sequence length for this model "
                f"({len(ids)} > {self.model_max_length}). Running this sequence through the model will result in "
                "indexing errors"
            )

    def encode(
        self,
        text,
        text_pair=None,
        add_special_tokens: bool = True,
        padding=False,
        truncation=None,
        max_length: int | None = None,
        stride: int = 0,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        **kwargs: Any,
    ):
        """Token ids of one text (or pair): `tok.encode("Hi there")` -> [..ids..]."""
        return self(
            text, text_pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
            max_length=max_length, stride=stride, padding_side=padding_side, return_tensors=return_tensors, **kwargs,
        )["input_ids"]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs: Any) -> list[str]:
        """Token strings of a text: `tok.tokenize("Hello world")` -> ['Hello', 'Ġworld']."""
        return self(text, pair, add_special_tokens=add_special_tokens, **kwargs).tokens()

    # ---- decoding --------------------------------------------------------------------------
    def decode(self, token_ids, skip_special_tokens: bool = False, **kwargs: Any):
        """Ids -> text; a list of id lists decodes each (like transformers 5).

        `clean_up_tokenization_spaces` (default: the tokenizer's setting) removes spaces before
        punctuation, except for BPE models, where it would corrupt the text.
        """
        token_ids = _to_py(token_ids)
        if isinstance(token_ids, (list, tuple)) and token_ids and isinstance(token_ids[0], (list, tuple)):
            return [self._decode(seq, skip_special_tokens, **kwargs) for seq in token_ids]
        return self._decode(token_ids, skip_special_tokens, **kwargs)

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None, **kwargs: Any) -> list[str]:
        sequences = _to_py(sequences)
        if len(sequences) == 0:
            return []
        out = self.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)
        return [out] if isinstance(out, str) else out

    def _decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None, **kwargs: Any) -> str:
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if isinstance(token_ids, dict):
            token_ids = token_ids["input_ids"]
        text = self._tokenizer.decode([int(i) for i in token_ids], skip_special_tokens=skip_special_tokens)
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        if clean:
            if self._model_type() == "BPE" and not self.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output:
                _warn_once(
                    "Ignoring clean_up_tokenization_spaces=True for a BPE tokenizer: the clean-up is meant for "
                    "WordPiece and strips real spaces before punctuation. Set clean_up_tokenization_spaces=False "
                    "to silence this."
                )
            else:
                text = self.clean_up_tokenization(text)
        return text

    def _model_type(self) -> str:
        # the class name is the model type (BPE, WordPiece, ...); to_dict() would copy the whole vocab
        return type(self._tokenizer.model).__name__

    # ---- chat templates, loading and saving --------------------------------------------------
    def apply_chat_template(self, conversation, **kwargs: Any):
        """Render (and by default tokenize) a conversation; see `snuggle.tokenizers.chat_template`."""
        from snuggle.tokenizers.chat_template import apply_chat_template

        return apply_chat_template(self, conversation, **kwargs)

    def get_chat_template(self, chat_template: str | None = None, tools: list | None = None) -> str:
        from snuggle.tokenizers.chat_template import select_chat_template

        return select_chat_template(self.chat_template, chat_template, tools)

    @classmethod
    @gc_paused()
    def from_pretrained(cls, pretrained_model_name_or_path, *init_inputs: Any, **kwargs: Any) -> "PreTrainedTokenizerFast":
        """Load from a folder saved by `save_pretrained` (ours or transformers'), or from slow files."""
        from snuggle.tokenizers.pretrained_io import load_pretrained

        return load_pretrained(cls, pretrained_model_name_or_path, *init_inputs, **kwargs)

    def save_pretrained(self, save_directory, legacy_format: bool | None = None, filename_prefix: str | None = None, **kwargs: Any) -> tuple[str, ...]:
        """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json (+ chat templates)."""
        from snuggle.tokenizers.pretrained_io import save_pretrained

        return save_pretrained(self, save_directory, filename_prefix=filename_prefix, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any):
        """Save the tokenizer files and commit them to the Hub repo `repo_id` ("Upload tokenizer");
        keyword arguments as snuggle.hub.push.push_to_hub (private, token, revision, create_pr, ...)."""
        from snuggle.hub.push import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)

    def __repr__(self) -> str:
        added = "\n\t".join(f"{k}: {v!r}," for k, v in self.added_tokens_decoder.items())
        added = f"\n\t{added}\n" if added else ""
        return (
            f"{type(self).__name__}(name_or_path='{self.name_or_path}', vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, padding_side='{self.padding_side}', "
            f"truncation_side='{self.truncation_side}', special_tokens={self.special_tokens_map}, "
            f"added_tokens_decoder={{{added}}})"
        )
