"""The files of a pretrained tokenizer folder: find them, read them, build the backend, write them.

A folder saved by `save_pretrained` (ours or transformers') holds `tokenizer.json` (the whole
pipeline), `tokenizer_config.json` (the transformers-level settings: special tokens,
model_max_length, padding side, chat template, ...), optionally `special_tokens_map.json`,
`added_tokens.json` and `chat_template.jinja` / `chat_templates/*.jinja`. Older folders ship
only "slow" files (`vocab.json` + `merges.txt`, `vocab.txt`, `tokenizer.model`, `*.tiktoken`);
those are converted with `snuggle.tokenizers.converters`.

`resolve_tokenizer_files` is the one place that maps a name or path to files on disk, so the
Hub-cache lookup plugs in there.

>>> files = resolve_tokenizer_files("/work/shared/datasets/tokenizers/gpt2")   # doctest: +SKIP
>>> os.path.basename(files["tokenizer_file"])                                 # doctest: +SKIP
'tokenizer.json'
"""

from __future__ import annotations

import json
import os
from typing import Any

from snuggle.errors import TokenizerFileError

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHAT_TEMPLATE_DIR = "chat_templates"

# The slow files we can convert, in the order they are tried after tokenizer.json.
SLOW_FILES = {
    "vocab_json_file": "vocab.json",
    "merges_file": "merges.txt",
    "vocab_txt_file": "vocab.txt",
    "spm_file": "tokenizer.model",
}

# Keys of tokenizer_config.json that name files or the load context: never saved back.
FILE_KEYS = (
    "tokenizer_file",
    "vocab_file",
    "merges_file",
    "special_tokens_map_file",
    "added_tokens_file",
    "full_tokenizer_file",
    "name_or_path",
    "is_local",
    "local_files_only",
    "files_loaded",
    "device_map",
    "slow_tokenizer_class",
    "gguf_file",
)


def resolve_tokenizer_files(name_or_path: str | os.PathLike, **kwargs: Any) -> dict[str, Any]:
    """Map a folder (or a tokenizer.json / vocab file path) to the tokenizer files it holds.

    Returns a dict with keys `tokenizer_file`, `tokenizer_config_file`, `special_tokens_map_file`,
    `added_tokens_file`, `chat_template_file`, `chat_template_files` ({name: path}), the slow files
    of `SLOW_FILES`, `tiktoken_file`, and `is_local`; a missing file maps to None.
    `subfolder=` looks inside a sub-folder. Names that are not local paths raise
    TokenizerFileError (the Hub-cache lookup will hook in here).

    >>> resolve_tokenizer_files("no/such/dir")   # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    snuggle.errors.TokenizerFileError: ...
    """
    path = os.fspath(name_or_path)
    subfolder = kwargs.get("subfolder") or ""
    if kwargs.get("gguf_file"):
        return _resolve_gguf_file(os.path.join(path, subfolder) if subfolder else path, kwargs["gguf_file"])
    files: dict[str, Any] = {
        "tokenizer_file": None,
        "tokenizer_config_file": None,
        "special_tokens_map_file": None,
        "added_tokens_file": None,
        "chat_template_file": None,
        "chat_template_files": {},
        "tiktoken_file": None,
        "is_local": True,
        **dict.fromkeys(SLOW_FILES),
    }
    if os.path.isfile(path):
        # a single file: tokenizer.json, or one slow vocabulary file
        base = os.path.basename(path)
        if base.endswith(".json") and base != "vocab.json":
            files["tokenizer_file"] = path
        elif base.endswith(".txt"):
            files["vocab_txt_file"] = path
        elif base.endswith(".tiktoken"):
            files["tiktoken_file"] = path
        elif base.endswith(".model"):
            files["spm_file"] = path
        else:
            raise TokenizerFileError(
                "expected a tokenizer.json, vocab.txt, .model or .tiktoken file, or a folder", path=path
            )
        return files
    folder = os.path.join(path, subfolder) if subfolder else path
    if not os.path.isdir(folder) and not os.path.exists(path):
        folder = _hub_tokenizer_folder(path, subfolder, kwargs)  # a Hub id: fetch the tokenizer files
    if not os.path.isdir(folder):
        raise TokenizerFileError(
            "no such local folder; pass a folder that holds tokenizer.json (and tokenizer_config.json) "
            "or slow tokenizer files (vocab.json + merges.txt, vocab.txt, tokenizer.model)",
            path=folder,
        )

    def present(name: str) -> str | None:
        p = os.path.join(folder, name)
        return p if os.path.isfile(p) else None

    files["tokenizer_config_file"] = present(TOKENIZER_CONFIG_FILE)
    tokenizer_name = TOKENIZER_FILE
    if files["tokenizer_config_file"] is not None:
        # transformers lets a config point at versioned tokenizer files; we take the plain one
        # unless only a versioned one exists
        config = read_json(files["tokenizer_config_file"])
        versioned = config.get("fast_tokenizer_files") if isinstance(config, dict) else None
        if versioned and not present(TOKENIZER_FILE):
            tokenizer_name = sorted(versioned)[-1]
    files["tokenizer_file"] = present(tokenizer_name)
    files["special_tokens_map_file"] = present(SPECIAL_TOKENS_MAP_FILE)
    files["added_tokens_file"] = present(ADDED_TOKENS_FILE)
    files["chat_template_file"] = present(CHAT_TEMPLATE_FILE)
    template_dir = os.path.join(folder, CHAT_TEMPLATE_DIR)
    if os.path.isdir(template_dir):
        for name in sorted(os.listdir(template_dir)):
            if name.endswith(".jinja"):
                files["chat_template_files"][name[: -len(".jinja")]] = os.path.join(template_dir, name)
    for key, name in SLOW_FILES.items():
        files[key] = present(name)
    tiktoken = [n for n in sorted(os.listdir(folder)) if n.endswith(".tiktoken")]
    if tiktoken:
        files["tiktoken_file"] = os.path.join(folder, tiktoken[0])
    return files


def _resolve_gguf_file(folder: str, gguf_file: str | os.PathLike) -> dict[str, Any]:
    """`gguf_file=` given: the tokenizer comes from that GGUF file's metadata only (as in transformers)."""
    gguf_file = os.fspath(gguf_file)
    path = os.path.join(folder, gguf_file)
    if not os.path.isfile(path) and os.path.isfile(gguf_file):
        path = gguf_file
    if not os.path.isfile(path):
        raise TokenizerFileError(f"GGUF file {gguf_file!r} not found in the folder", path=folder)
    return {"gguf_file": path, "is_local": True, "chat_template_files": {}}


def read_gguf_tokenizer_config(path: str) -> dict[str, Any]:
    """The tokenizer_config.json settings a GGUF file carries: chat template and special tokens."""
    from snuggle.tokenizers.gguf_vocab import read_gguf_tokenizer_metadata

    meta = read_gguf_tokenizer_metadata(path)
    tokens = meta.get("tokenizer.ggml.tokens") or []
    config: dict[str, Any] = {}
    if "tokenizer.chat_template" in meta:
        config["chat_template"] = meta["tokenizer.chat_template"]
    for name, key in (("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"), ("pad_token", "padding")):
        token_id = meta.get(f"tokenizer.ggml.{key}_token_id")
        if token_id is not None and 0 <= token_id < len(tokens):
            config[name] = tokens[token_id]
    return config


def read_json(path: str) -> Any:
    """Parse a JSON file; a broken file raises TokenizerFileError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise TokenizerFileError(f"invalid JSON: {e.msg}", path=path, where=f"line {e.lineno} column {e.colno}") from None
    except UnicodeDecodeError as e:
        raise TokenizerFileError(f"not UTF-8 text ({e.reason})", path=path) from None


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_tokenizer_config(files: dict[str, Any]) -> dict[str, Any]:
    """tokenizer_config.json as a dict ({} when absent), with chat templates from .jinja files merged in."""
    if files.get("gguf_file"):
        return read_gguf_tokenizer_config(files["gguf_file"])
    config: dict[str, Any] = {}
    if files.get("tokenizer_config_file"):
        config = read_json(files["tokenizer_config_file"])
        if not isinstance(config, dict):
            raise TokenizerFileError(
                f"expected a JSON object, found {type(config).__name__}", path=files["tokenizer_config_file"]
            )
    templates: dict[str, str] = {}
    if files.get("chat_template_file"):
        templates["default"] = read_text(files["chat_template_file"])
    for name, p in (files.get("chat_template_files") or {}).items():
        templates[name] = read_text(p)
    if len(templates) == 1 and "default" in templates:
        config["chat_template"] = templates["default"]
    elif templates:
        config["chat_template"] = templates
    return config


def build_backend(files: dict[str, Any], config: dict[str, Any]):
    """The `snuggle.tokenizers.Tokenizer` of a folder: tokenizer.json, else a converted slow file."""
    from snuggle.tokenizers import converters
    from snuggle.tokenizers.tokenizer import Tokenizer

    if files.get("tokenizer_file"):
        return Tokenizer.from_file(files["tokenizer_file"])
    if files.get("gguf_file"):
        return Tokenizer.from_str(json.dumps(converters.from_gguf(files["gguf_file"])))
    if files.get("vocab_json_file") and files.get("merges_file"):
        specials = [str(_content(config[k])) for k in ("bos_token", "eos_token", "unk_token") if config.get(k)]
        d = converters.from_vocab_merges(
            files["vocab_json_file"],
            files["merges_file"],
            special_tokens=specials or ("<|endoftext|>",),
            add_prefix_space=bool(config.get("add_prefix_space", False)),
        )
    elif files.get("vocab_txt_file"):
        lower = config.get("do_lower_case", True)
        d = converters.from_wordpiece_vocab(
            files["vocab_txt_file"],
            do_lower_case=True if lower is None else bool(lower),
            tokenize_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
            strip_accents=config.get("strip_accents"),
            unk_token=_content(config.get("unk_token")) or "[UNK]",
            cls_token=_content(config.get("cls_token")) or "[CLS]",
            sep_token=_content(config.get("sep_token")) or "[SEP]",
        )
    elif files.get("spm_file"):
        d = _convert_model_file(files["spm_file"], config)
    elif files.get("tiktoken_file"):
        d = converters.from_tiktoken(files["tiktoken_file"], special_tokens=_tiktoken_specials(config))
    else:
        raise TokenizerFileError(
            "no tokenizer files found: expected tokenizer.json, or vocab.json + merges.txt, vocab.txt, "
            "tokenizer.model or a .tiktoken file",
            path=str(files.get("folder") or ""),
        )
    return Tokenizer.from_str(json.dumps(d))


def _convert_model_file(path: str, config: dict[str, Any]) -> dict:
    """tokenizer.model is SentencePiece, or (Llama 3) a tiktoken rank file: try SentencePiece first."""
    from snuggle.tokenizers import converters

    with open(path, "rb") as f:
        head = f.read(64)
    looks_tiktoken = all(b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n\r" for b in head)
    if not looks_tiktoken:
        # transformers 5 adds BOS only when the config asks for it (add_bos_token defaults to False)
        return converters.from_sentencepiece(
            path,
            add_bos_token=bool(config.get("add_bos_token", False)),
            add_eos_token=bool(config.get("add_eos_token", False)),
            legacy=config.get("legacy"),  # None: the layout's own default, as in transformers
        )
    return converters.from_tiktoken(path, special_tokens=_tiktoken_specials(config))


def _tiktoken_specials(config: dict[str, Any]) -> dict[str, int]:
    """Special tokens for a tiktoken file come from added_tokens_decoder ({id: token})."""
    out: dict[str, int] = {}
    for key, tok in (config.get("added_tokens_decoder") or {}).items():
        out[_content(tok)] = int(key)
    return out


def _content(token: Any) -> str | None:
    """The text of a token written as a str, an AddedToken or its JSON dict."""
    if token is None:
        return None
    if isinstance(token, dict):
        return token.get("content")
    return str(token)


# The files a tokenizer folder may hold (see resolve_tokenizer_files); fetched by name from a Hub repo.
_HUB_TOKENIZER_PATTERNS = [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE,
                           CHAT_TEMPLATE_FILE, f"{CHAT_TEMPLATE_DIR}/*.jinja", "tokenizer*.json", *SLOW_FILES.values(),
                           "*.tiktoken"]


def _hub_tokenizer_folder(name: str, subfolder: str, kwargs: dict) -> str:
    """The cache snapshot folder holding a Hub repo's tokenizer files (snuggle.models.hub_files)."""
    from snuggle.models.hub_files import _looks_like_repo_id, resolve_model_folder

    if not _looks_like_repo_id(name):
        return os.path.join(name, subfolder) if subfolder else name
    hub_kwargs = {k: kwargs.get(k) for k in ("revision", "cache_dir", "token", "force_download")}
    try:
        return resolve_model_folder(name, _HUB_TOKENIZER_PATTERNS, subfolder=subfolder,
                                    local_files_only=bool(kwargs.get("local_files_only")), **hub_kwargs)
    except Exception as err:  # ModelError from the hub seam: report it as a tokenizer file problem
        raise TokenizerFileError(f"cannot get the tokenizer files from the Hub: {err}", path=name) from err
