"""PreTrainedTokenizerBase: special-token attributes, strategies and `pad`, shared by pretrained tokenizers.

Named special tokens (`bos_token` ... `mask_token`, and model-specific `*_token` names) are
attributes with transformers 5 semantics: `tok.pad_token` is a str or None, `tok.pad_token_id`
its id, assigning either updates the map; `extra_special_tokens` (alias
`additional_special_tokens`) holds the unnamed ones.

>>> PreTrainedTokenizerBase.clean_up_tokenization(None, "hi , you !")
'hi, you!'
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Sequence

from snuggle.errors import TokenizerError
from snuggle.tokenizers.added_vocabulary import AddedToken
from snuggle.tokenizers.batch_encoding import BatchEncoding
from snuggle.tokenizers.padding_strategies import (
    VERY_LARGE_INTEGER,
    PaddingStrategy,
    pad_encoded_inputs,
    resolve_strategies,
)

logger = logging.getLogger(__name__)

SPECIAL_TOKENS_ATTRIBUTES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

# Class-level defaults of the transformers tokenizer classes a tokenizer_config.json may name:
# which inputs the model takes (BERT-like models take token_type_ids) and the padding side.
_MODEL_INPUT_NAMES = {
    "BertTokenizer": ["input_ids", "token_type_ids", "attention_mask"],
    "DPRQuestionEncoderTokenizer": ["input_ids", "token_type_ids", "attention_mask"],
    "LxmertTokenizer": ["input_ids", "token_type_ids", "attention_mask"],
    "MobileBertTokenizer": ["input_ids", "token_type_ids", "attention_mask"],
    "MarkupLMTokenizer": ["input_ids", "token_type_ids", "attention_mask"],
    "CanineTokenizer": ["input_ids", "attention_mask", "token_type_ids"],
    "DebertaTokenizer": ["input_ids", "attention_mask", "token_type_ids"],
    "DebertaV2Tokenizer": ["input_ids", "attention_mask", "token_type_ids"],
    "LayoutLMv2Tokenizer": ["input_ids", "attention_mask", "token_type_ids"],
    "TapasTokenizer": ["input_ids", "attention_mask", "token_type_ids"],
    "FNetTokenizer": ["input_ids", "token_type_ids"],
}
_LEFT_PADDING = {"LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer", "CohereTokenizer", "XLNetTokenizer", "Siglip2Tokenizer"}
_CLEANUP_RULES = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                  (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]


def _class_key(name: str | None) -> str:
    return (name or "")[:-4] if (name or "").endswith("Fast") else (name or "")


def _to_py(obj: Any) -> Any:
    """Tensors / arrays / numpy scalars -> Python lists and ints (no torch import)."""
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [_to_py(o) for o in obj]
    return obj


def _is_text_input(t: Any) -> bool:
    """str, list[str], list[list[str]] or list[tuple[list[str], list[str]]] (as the reference checks)."""
    if isinstance(t, str):
        return True
    if not isinstance(t, (list, tuple)):
        return False
    if len(t) == 0 or isinstance(t[0], str):
        return True
    if isinstance(t[0], (list, tuple)):
        if len(t[0]) == 0 or isinstance(t[0][0], str):
            return True
        if isinstance(t[0][0], (list, tuple)):
            return len(t[0][0]) == 0 or isinstance(t[0][0][0], str)
    return False


class PreTrainedTokenizerBase:
    """Special-token bookkeeping shared by every pretrained tokenizer (transformers 5 semantics).

    Named special tokens (`bos_token` ... `mask_token`, plus model-specific `*_token` names) are
    attributes; `<name>_id` gives the id. `extra_special_tokens` (alias `additional_special_tokens`)
    lists the unnamed ones.
    """

    model_input_names: list[str] = ["input_ids", "attention_mask"]
    padding_side: str = "right"
    truncation_side: str = "right"

    def __init__(self, **kwargs: Any):
        if "additional_special_tokens" in kwargs and "extra_special_tokens" not in kwargs:
            kwargs["extra_special_tokens"] = kwargs.pop("additional_special_tokens")
        object.__setattr__(self, "SPECIAL_TOKENS_ATTRIBUTES", list(SPECIAL_TOKENS_ATTRIBUTES))
        object.__setattr__(self, "_special_tokens_map", dict.fromkeys(SPECIAL_TOKENS_ATTRIBUTES))
        object.__setattr__(self, "_extra_special_tokens", [])
        self.init_inputs = ()
        self.init_kwargs = copy.deepcopy(kwargs)
        self.name_or_path = kwargs.pop("name_or_path", "")
        self._processor_class = kwargs.pop("processor_class", None)
        self._pad_token_type_id = 0
        self.verbose = kwargs.pop("verbose", False)
        model_specific = dict(kwargs.pop("model_specific_special_tokens", None) or {})
        for key in list(kwargs):
            value = kwargs[key]
            if key in SPECIAL_TOKENS_ATTRIBUTES:
                kwargs.pop(key)
                if value is None:
                    continue
                if not isinstance(value, (str, AddedToken)):
                    raise TokenizerError(f"special token {key} must be a str or AddedToken, got {type(value).__name__}")
                self._special_tokens_map[key] = value
            elif key == "extra_special_tokens":
                kwargs.pop(key)
                if isinstance(value, dict):
                    model_specific.update(value)
                elif isinstance(value, (list, tuple)):
                    self._extra_special_tokens = list(value)
                elif value is not None:
                    raise TokenizerError("extra_special_tokens must be a list of tokens or a dict of named tokens")
            elif key.endswith("_token") and isinstance(value, (str, AddedToken)):
                model_specific.setdefault(key, kwargs.pop(key))
        max_len = kwargs.pop("model_max_length", kwargs.pop("max_len", None))
        self.model_max_length = max_len if max_len is not None else VERY_LARGE_INTEGER
        self.padding_side = kwargs.pop("padding_side", type(self).padding_side)
        self.truncation_side = kwargs.pop("truncation_side", type(self).truncation_side)
        for side, name in ((self.padding_side, "padding_side"), (self.truncation_side, "truncation_side")):
            if side not in ("left", "right"):
                raise TokenizerError(f"{name} must be 'left' or 'right', got {side!r}")
        self.model_input_names = list(kwargs.pop("model_input_names", type(self).model_input_names))
        self.clean_up_tokenization_spaces = kwargs.pop("clean_up_tokenization_spaces", False)
        self.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output = kwargs.pop(
            "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False
        )
        self.split_special_tokens = kwargs.pop("split_special_tokens", False)
        chat_template = kwargs.pop("chat_template", None)
        if isinstance(chat_template, (list, tuple)):
            # tokenizer_config.json stores several templates as [{"name", "template"}, ...]
            chat_template = {t["name"]: t["template"] for t in chat_template}
        self.chat_template = chat_template
        self.response_template = kwargs.pop("response_template", None)
        self.chat_control_tokens = kwargs.pop("chat_control_tokens", None)
        if model_specific:
            self._set_model_specific_special_tokens(model_specific)
        self.deprecation_warnings: dict[str, bool] = {}

    def _set_model_specific_special_tokens(self, special_tokens: dict[str, Any]) -> None:
        """Named tokens beyond the standard seven (e.g. `image_token`), saved in the config."""
        for key, value in special_tokens.items():
            if not isinstance(value, (str, AddedToken)):
                raise TokenizerError(f"special token {key} must be a str or AddedToken, got {type(value).__name__}")
            if key not in self.SPECIAL_TOKENS_ATTRIBUTES:
                self.SPECIAL_TOKENS_ATTRIBUTES.append(key)
            self._special_tokens_map[key] = value

    # ---- special-token attributes --------------------------------------------------------
    @staticmethod
    def _strip_id(key: str) -> str:
        return key.removesuffix("_ids").removesuffix("_id") if key.endswith(("_id", "_ids")) else key

    def __getattr__(self, key: str):
        # only called when normal lookup fails: special tokens and their ids
        d = self.__dict__
        base = self._strip_id(key)
        if base == "additional_special_tokens":
            base = "extra_special_tokens"
        if base in d.get("SPECIAL_TOKENS_ATTRIBUTES", SPECIAL_TOKENS_ATTRIBUTES):
            value = d.get("_special_tokens_map", {}).get(base)
            if value is None:
                return None
            return self.convert_tokens_to_ids(str(value)) if key != base else str(value)
        if base == "extra_special_tokens":
            tokens = [str(t) for t in d.get("_extra_special_tokens", [])]
            return self.convert_tokens_to_ids(tokens) if key.endswith(("_id", "_ids")) else tokens
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        base = self._strip_id(key)
        if base == "additional_special_tokens":
            base = "extra_special_tokens"
        if base in self.__dict__.get("SPECIAL_TOKENS_ATTRIBUTES", SPECIAL_TOKENS_ATTRIBUTES):
            if key != base and value is not None:
                value = self.convert_ids_to_tokens(value)
            if value is not None and not isinstance(value, (str, AddedToken)):
                raise TokenizerError(f"{base} must be a str or AddedToken, got {type(value).__name__}")
            self._special_tokens_map[base] = value
            return
        if base == "extra_special_tokens":
            if value is not None and not isinstance(value, (list, tuple)):
                raise TokenizerError(f"extra_special_tokens must be a list, got {type(value).__name__}")
            if key != base and value is not None:
                value = [self.convert_ids_to_tokens(v) for v in value]
            object.__setattr__(self, "_extra_special_tokens", list(value or []))
            return
        object.__setattr__(self, key, value)

    @property
    def pad_token_type_id(self) -> int:
        return self._pad_token_type_id

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """Named special tokens that are set, as strings: {"eos_token": "</s>", ...}."""
        return {a: str(self._special_tokens_map[a]) for a in self.SPECIAL_TOKENS_ATTRIBUTES if self._special_tokens_map.get(a) is not None}

    @property
    def all_special_tokens(self) -> list[str]:
        """Named then extra special tokens, each once."""
        out: list[str] = []
        for value in [self._special_tokens_map.get(a) for a in self.SPECIAL_TOKENS_ATTRIBUTES] + list(self._extra_special_tokens):
            if value is not None and str(value) not in out:
                out.append(str(value))
        return out

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        """1 where an id is a special token (for sequences that already carry them)."""
        if not already_has_special_tokens:
            raise TokenizerError("get_special_tokens_mask needs already_has_special_tokens=True for fast tokenizers")
        if token_ids_1 is not None:
            raise TokenizerError("pass one sequence when already_has_special_tokens=True")
        special = set(self.all_special_ids)
        return [1 if int(t) in special else 0 for t in token_ids_0]

    def add_special_tokens(self, special_tokens_dict: dict[str, Any], replace_extra_special_tokens: bool = True) -> int:
        """Set named special tokens (and extra ones) and add the new ones to the vocabulary.

        >>> tok.add_special_tokens({"pad_token": "[PAD]"})   # doctest: +SKIP
        1
        """
        if not special_tokens_dict:
            return 0
        special_tokens_dict = dict(special_tokens_dict)
        if "additional_special_tokens" in special_tokens_dict and not special_tokens_dict.get("extra_special_tokens"):
            special_tokens_dict["extra_special_tokens"] = special_tokens_dict.pop("additional_special_tokens")
        allowed = set(self.SPECIAL_TOKENS_ATTRIBUTES) | {"extra_special_tokens"}
        to_add: list[AddedToken | str] = []
        for key, value in special_tokens_dict.items():
            if key not in allowed:
                raise TokenizerError(f"{key!r} is not a special-token key; valid keys: {sorted(allowed)}")
            if key == "extra_special_tokens":
                if not isinstance(value, (list, tuple)) or not all(isinstance(t, (str, AddedToken)) for t in value):
                    raise TokenizerError(f"extra_special_tokens must be a list of str or AddedToken, got {value!r}")
                existing = [str(t) for t in self._extra_special_tokens]
                new = [
                    AddedToken(t, normalized=False, special=True) if isinstance(t, str) else t
                    for t in value
                    if replace_extra_special_tokens or str(t) not in existing
                ]
                if replace_extra_special_tokens and new:
                    self._extra_special_tokens = list(new)
                else:
                    self._extra_special_tokens.extend(new)
                to_add.extend(new)
            else:
                if not isinstance(value, (str, AddedToken)):
                    raise TokenizerError(f"{key} must be a str or AddedToken, got {type(value).__name__}")
                if isinstance(value, str):
                    value = AddedToken(value, normalized=False, special=True)
                setattr(self, key, value)
                to_add.append(value)
        return self.add_tokens(to_add, special_tokens=True)

    def add_tokens(self, new_tokens: Any, special_tokens: bool = False) -> int:
        """Add tokens (str or AddedToken) not yet in the vocabulary; returns how many were new."""
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        return self._add_tokens(list(new_tokens), special_tokens=special_tokens)

    def _add_tokens(self, new_tokens: list, special_tokens: bool = False) -> int:
        raise NotImplementedError

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self._convert_token_to_id_with_added_voc(tokens)
        return [self._convert_token_to_id_with_added_voc(t) for t in tokens]

    def _convert_token_to_id_with_added_voc(self, token: str) -> int | None:
        raise NotImplementedError

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        raise NotImplementedError

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def clean_up_tokenization(self, text: str) -> str:
        """Undo the spaces WordPiece decoding leaves before punctuation and English contractions.

        >>> PreTrainedTokenizerBase.clean_up_tokenization(None, "it 's fine , is n't it ?")
        "it's fine, isn't it?"
        """
        for old, new in _CLEANUP_RULES:
            text = text.replace(old, new)
        return text

    # ---- padding / truncation strategies ---------------------------------------------------
    def _get_padding_truncation_strategies(
        self, padding=False, truncation=None, max_length=None, pad_to_multiple_of=None, verbose=True, **kwargs
    ):
        padding_strategy, truncation_strategy, max_length = resolve_strategies(
            padding, truncation, max_length, pad_to_multiple_of, self.model_max_length, verbose
        )
        if padding_strategy != PaddingStrategy.DO_NOT_PAD and (self.pad_token is None or (self.pad_token_id or 0) < 0):
            raise TokenizerError(
                "padding was requested but the tokenizer has no pad token; set one, e.g. "
                "`tokenizer.pad_token = tokenizer.eos_token`, or add one with "
                "`tokenizer.add_special_tokens({'pad_token': '[PAD]'})`"
            )
        return padding_strategy, truncation_strategy, max_length, kwargs

    def pad(
        self,
        encoded_inputs,
        padding=True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pad a dict of lists (or a list of dicts, e.g. a DataLoader batch) to equal lengths.

        >>> tok.pad([{"input_ids": [1, 2, 3]}, {"input_ids": [4]}])["attention_mask"]   # doctest: +SKIP
        [[1, 1, 1], [1, 0, 0]]
        """
        padding_strategy, _, max_length, _ = self._get_padding_truncation_strategies(
            padding=padding, max_length=max_length, verbose=verbose
        )
        data, inferred = pad_encoded_inputs(
            encoded_inputs,
            main_input=self.model_input_names[0],
            padding_strategy=padding_strategy,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side or self.padding_side,
            return_attention_mask=("attention_mask" in self.model_input_names) if return_attention_mask is None else return_attention_mask,
            pad_token_id=self.pad_token_id,
            pad_token_type_id=self.pad_token_type_id,
        )
        if isinstance(data, BatchEncoding) or not isinstance(data, dict):
            return data
        return BatchEncoding(data, tensor_type=return_tensors or inferred)
