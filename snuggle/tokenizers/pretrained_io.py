"""`from_pretrained` / `save_pretrained` for pretrained tokenizers, in transformers 5's file layout.

Loading merges, like the reference: tokenizer_config.json (settings), the chat templates
(.jinja files win over the config), the user's keyword arguments (win over both), and the
added tokens, taken from the config's `added_tokens_decoder` or else from the legacy
special_tokens_map.json + added_tokens.json + tokenizer.json `added_tokens`.

Saving writes tokenizer.json (the backend), tokenizer_config.json (sorted keys, with
`added_tokens_decoder`), special_tokens_map.json and the chat template(s), each atomically.

>>> tok = load_pretrained(PreTrainedTokenizerFast, "/work/shared/datasets/tokenizers/gpt2")  # doctest: +SKIP
>>> save_pretrained(tok, "/tmp/gpt2-copy")                                                  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.added_vocabulary import AddedToken
from snuggle.tokenizers.pretrained_base import SPECIAL_TOKENS_ATTRIBUTES
from snuggle.tokenizers.pretrained_files import (
    CHAT_TEMPLATE_DIR,
    CHAT_TEMPLATE_FILE,
    FILE_KEYS,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE,
    build_backend,
    read_json,
    read_tokenizer_config,
    resolve_tokenizer_files,
)
from snuggle.utils.atomic import atomic_write_text

# Special tokens the transformers class named by tokenizer_config.json sets when the config does not.
_CLASS_DEFAULT_SPECIAL_TOKENS = {
    "BertTokenizer": {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"},
    "GPT2Tokenizer": {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "LlamaTokenizer": {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"},
}


def _added_token(obj: Any, where: str) -> AddedToken:
    if isinstance(obj, AddedToken):
        return obj
    if isinstance(obj, dict):
        fields = {k: v for k, v in obj.items() if k not in ("__type", "id")}
        try:
            return AddedToken(**fields)
        except TypeError as e:
            raise TokenizerFileError(f"bad added token {obj!r}: {e}", where=where) from None
    return AddedToken(str(obj), special=True)


def _decode_added_tokens(obj: Any) -> Any:
    """Turn {"__type": "AddedToken", ...} dicts of old configs back into AddedTokens."""
    if isinstance(obj, dict) and obj.get("__type") == "AddedToken":
        return _added_token(obj, "tokenizer_config.json")
    if isinstance(obj, list):
        return [_decode_added_tokens(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _decode_added_tokens(v) for k, v in obj.items()}
    return obj


def load_pretrained(cls, name_or_path, *init_inputs: Any, **kwargs: Any):
    """Build `cls` (a PreTrainedTokenizerFast) from a folder or a single tokenizer file."""
    files = resolve_tokenizer_files(name_or_path, **kwargs)
    for hub_only in ("subfolder", "cache_dir", "force_download", "local_files_only", "token", "revision", "proxies"):
        kwargs.pop(hub_only, None)
    config = read_tokenizer_config(files)
    class_name = config.pop("tokenizer_class", None)
    saved_inputs = config.pop("init_inputs", ())
    if not init_inputs:
        init_inputs = tuple(saved_inputs or ())
    if files.get("tokenizer_file"):
        # add_bos/eos_token describe the slow conversion; tokenizer.json already encodes them
        config.pop("add_bos_token", None)
        config.pop("add_eos_token", None)
    init_kwargs = _decode_added_tokens(config)
    class_key = (class_name or "").removesuffix("Fast")
    for key, value in _CLASS_DEFAULT_SPECIAL_TOKENS.get(class_key, {}).items():
        init_kwargs.setdefault(key, value)
    init_kwargs.update(kwargs)
    if "additional_special_tokens" in init_kwargs and not init_kwargs.get("extra_special_tokens"):
        init_kwargs["extra_special_tokens"] = init_kwargs.pop("additional_special_tokens")
    init_kwargs.pop("additional_special_tokens", None)
    model_specific = {
        k: init_kwargs.pop(k)
        for k in list(init_kwargs)
        if k not in SPECIAL_TOKENS_ATTRIBUTES and k.endswith("_token") and isinstance(init_kwargs[k], (str, AddedToken))
    }
    if isinstance(init_kwargs.get("extra_special_tokens"), dict):
        model_specific.update(init_kwargs.pop("extra_special_tokens"))
    if model_specific:
        init_kwargs["model_specific_special_tokens"] = model_specific

    added_tokens_decoder: dict[int, AddedToken] = {}
    if "added_tokens_decoder" in init_kwargs:
        for idx, token in (init_kwargs["added_tokens_decoder"] or {}).items():
            added_tokens_decoder[int(idx)] = _added_token(token, f"added_tokens_decoder[{idx}]")
    else:
        _legacy_added_tokens(files, init_kwargs, kwargs, added_tokens_decoder)
    by_content = {t.content: t for t in added_tokens_decoder.values()}
    init_kwargs["added_tokens_decoder"] = added_tokens_decoder
    for key in SPECIAL_TOKENS_ATTRIBUTES:
        value = init_kwargs.get(key)
        if value is not None and by_content:
            init_kwargs[key] = by_content.get(str(value), value)

    backend = build_backend(files, init_kwargs)
    for key in FILE_KEYS:
        init_kwargs.pop(key, None)
    init_kwargs["name_or_path"] = os.fspath(name_or_path)
    return cls(*init_inputs, _owned_backend=backend, _tokenizer_class=class_name, **init_kwargs)


def _legacy_added_tokens(files: dict, init_kwargs: dict, user_kwargs: dict, decoder: dict[int, AddedToken]) -> None:
    """Old folders: special tokens in special_tokens_map.json, added tokens in added_tokens.json / tokenizer.json."""
    if files.get("special_tokens_map_file"):
        special_map = read_json(files["special_tokens_map_file"])
        for key, value in special_map.items():
            if key in user_kwargs and user_kwargs[key]:
                continue
            if key in ("additional_special_tokens", "extra_special_tokens") and isinstance(value, list):
                existing = list(init_kwargs.get("extra_special_tokens") or [])
                for tok in value:
                    tok = AddedToken(**{**tok, "special": True}) if isinstance(tok, dict) else tok
                    if tok not in existing:
                        existing.append(tok)
                init_kwargs["extra_special_tokens"] = existing
            elif isinstance(value, dict):
                init_kwargs[key] = AddedToken(**{k: v for k, v in value.items() if k != "special"}, special=True)
            else:
                init_kwargs[key] = value
    if files.get("added_tokens_file"):
        specials = {str(init_kwargs[k]) for k in SPECIAL_TOKENS_ATTRIBUTES if init_kwargs.get(k)}
        specials.update(str(t) for t in (init_kwargs.get("extra_special_tokens") or []))
        for content, index in read_json(files["added_tokens_file"]).items():
            special = content in specials
            decoder[int(index)] = AddedToken(content, normalized=not special, special=special)
    if files.get("tokenizer_file"):
        for entry in read_json(files["tokenizer_file"]).get("added_tokens") or []:
            decoder[int(entry["id"])] = _added_token(entry, "tokenizer.json added_tokens")


def _token_state(token: AddedToken, with_special: bool = True) -> dict:
    d = {"content": token.content, "lstrip": token.lstrip, "normalized": token.normalized,
         "rstrip": token.rstrip, "single_word": token.single_word}
    if with_special:
        d["special"] = token.special
    return d


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, AddedToken):
        return {**_token_state(obj), "__type": "AddedToken"}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return obj


def save_pretrained(tok, save_directory, filename_prefix: str | None = None, **kwargs: Any) -> tuple[str, ...]:
    """Write the tokenizer files into `save_directory`; returns their paths."""
    save_directory = os.fspath(save_directory)
    if os.path.isfile(save_directory):
        raise TokenizerError(f"save_pretrained needs a directory, but {save_directory!r} is a file")
    push_kwargs = None
    if kwargs.pop("push_to_hub", False):
        from snuggle.hub.push import split_push_kwargs

        push_kwargs = split_push_kwargs(kwargs)
    os.makedirs(save_directory, exist_ok=True)
    prefix = f"{filename_prefix}-" if filename_prefix else ""

    config = copy.deepcopy(tok.init_kwargs)
    for key in ("add_bos_token", "add_eos_token", "added_tokens_decoder", "additional_special_tokens",
                "model_specific_special_tokens", "chat_template", *FILE_KEYS):
        config.pop(key, None)
    for key in list(config) + ["model_max_length"]:
        if key in tok.__dict__ or key in tok.SPECIAL_TOKENS_ATTRIBUTES or key in ("model_max_length", "extra_special_tokens"):
            config[key] = getattr(tok, key)
    # unlike the reference, always keep the sides: a changed padding_side must survive a save
    config["padding_side"] = tok.padding_side
    config["truncation_side"] = tok.truncation_side
    config.update(tok.special_tokens_map)
    if tok._extra_special_tokens:
        config["extra_special_tokens"] = tok.extra_special_tokens
    written: list[str] = []
    save_jinja = kwargs.get("save_jinja_files", True)
    template = tok.chat_template
    if isinstance(template, str) and save_jinja:
        path = os.path.join(save_directory, prefix + CHAT_TEMPLATE_FILE)
        atomic_write_text(path, template)
        written.append(path)
    elif isinstance(template, dict) and save_jinja:
        for name, body in template.items():
            if name == "default":
                path = os.path.join(save_directory, prefix + CHAT_TEMPLATE_FILE)
            else:
                if os.path.basename(name) != name or name in ("", ".", ".."):
                    raise TokenizerError(f"chat template name {name!r} is not a plain file name")
                path = os.path.join(save_directory, prefix + CHAT_TEMPLATE_DIR, f"{name}.jinja")
            atomic_write_text(path, body)
            written.append(path)
    elif isinstance(template, dict):
        config["chat_template"] = [{"name": k, "template": v} for k, v in template.items()]
    elif template is not None:
        config["chat_template"] = template
    if tok.response_template is not None:
        config["response_template"] = tok.response_template
    if tok.chat_control_tokens is not None:
        config["chat_control_tokens"] = list(tok.chat_control_tokens)
    if tok.init_inputs:
        config["init_inputs"] = list(tok.init_inputs)
    config = _jsonable(config)
    config["added_tokens_decoder"] = {str(i): _token_state(t) for i, t in tok.added_tokens_decoder.items()}
    config["tokenizer_class"] = tok._tokenizer_class_name or "PreTrainedTokenizerFast"
    if tok._processor_class is not None:
        config["processor_class"] = tok._processor_class

    config_path = os.path.join(save_directory, prefix + TOKENIZER_CONFIG_FILE)
    atomic_write_text(config_path, json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    special_map: dict[str, Any] = {}
    for key in tok.SPECIAL_TOKENS_ATTRIBUTES:
        value = tok._special_tokens_map.get(key)
        if value is not None:
            special_map[key] = _token_state(value, with_special=False) if isinstance(value, AddedToken) else str(value)
    if tok._extra_special_tokens:
        special_map["additional_special_tokens"] = [
            _token_state(t, with_special=False) if isinstance(t, AddedToken) else str(t) for t in tok._extra_special_tokens
        ]
    special_path = os.path.join(save_directory, prefix + SPECIAL_TOKENS_MAP_FILE)
    atomic_write_text(special_path, json.dumps(special_map, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    tokenizer_path = os.path.join(save_directory, prefix + TOKENIZER_FILE)
    atomic_write_text(tokenizer_path, tok.backend_tokenizer.to_str(pretty=True))
    if push_kwargs is not None:
        from snuggle.hub.push import push_saved_directory

        push_saved_directory(tok, save_directory, **push_kwargs)
    return (config_path, *written, special_path, tokenizer_path)
