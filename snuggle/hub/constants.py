"""Hub constants and the environment variables of huggingface_hub, read at CALL time.

The reference client reads `HF_ENDPOINT`, `HF_HOME`, `HF_TOKEN_PATH`, `HF_HUB_OFFLINE`, ... once, when
`huggingface_hub` is imported; changing them later has no effect there. snuggle reads them every time a
value is needed, so `os.environ["HF_ENDPOINT"] = ...` (or `monkeypatch.setenv`) takes effect on the next
call. The upper-case names of the reference (`constants.ENDPOINT`, `constants.HF_HUB_CACHE`, ...) are also
available here and are computed on access.

>>> import os
>>> os.environ["HF_ENDPOINT"] = "http://127.0.0.1:8080/"
>>> endpoint()
'http://127.0.0.1:8080'
>>> from snuggle.hub import constants
>>> constants.ENDPOINT
'http://127.0.0.1:8080'
>>> del os.environ["HF_ENDPOINT"]
"""

from __future__ import annotations

import os
import re

# ---- fixed values (same as huggingface_hub.constants) ----
ENV_VARS_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}

CONFIG_NAME = "config.json"
REPOCARD_NAME = "README.md"
PYTORCH_WEIGHTS_NAME = "pytorch_model.bin"
SAFETENSORS_SINGLE_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
DEFAULT_ETAG_TIMEOUT = 10
DEFAULT_DOWNLOAD_TIMEOUT = 10
DEFAULT_REQUEST_TIMEOUT = 10
DOWNLOAD_CHUNK_SIZE = 10 * 1024 * 1024
MAX_HTTP_DOWNLOAD_SIZE = 50 * 1000 * 1000 * 1000  # 50 GB, the reference's cap

DEFAULT_REVISION = "main"
REGEX_COMMIT_OID = re.compile(r"[A-Fa-f0-9]{5,40}")
REGEX_COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")

DEFAULT_ENDPOINT = "https://huggingface.co"
REPO_ID_SEPARATOR = "--"

REPO_TYPE_DATASET = "dataset"
REPO_TYPE_SPACE = "space"
REPO_TYPE_MODEL = "model"
REPO_TYPES = [None, REPO_TYPE_MODEL, REPO_TYPE_DATASET, REPO_TYPE_SPACE]
SPACES_SDK_TYPES = ["gradio", "streamlit", "docker", "static"]
REPO_TYPES_URL_PREFIXES = {REPO_TYPE_DATASET: "datasets/", REPO_TYPE_SPACE: "spaces/"}
REPO_TYPES_MAPPING = {"datasets": REPO_TYPE_DATASET, "spaces": REPO_TYPE_SPACE, "models": REPO_TYPE_MODEL}

DISCUSSION_TYPES = ("all", "discussion", "pull_request")
DISCUSSION_STATUS = ("all", "open", "closed")

# headers the download code reads
HUGGINGFACE_HEADER_X_REPO_COMMIT = "X-Repo-Commit"
HUGGINGFACE_HEADER_X_LINKED_ETAG = "X-Linked-Etag"
HUGGINGFACE_HEADER_X_LINKED_SIZE = "X-Linked-Size"


# ---- environment parsing ----
def _is_true(value: str | None) -> bool:
    return value is not None and value.upper() in ENV_VARS_TRUE_VALUES


def _as_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value) or default
    except ValueError:
        from snuggle.errors import ConfigError

        raise ConfigError(f"environment variable {name}={value!r}: expected an integer number of seconds") from None


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def endpoint() -> str:
    """Base URL of the Hub: `HF_ENDPOINT` without trailing '/', default https://huggingface.co.

    >>> endpoint()  # doctest: +SKIP
    'https://huggingface.co'
    """
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_home() -> str:
    """`HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` (user and vars expanded)."""
    default = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                           "huggingface")
    return _expand(os.environ.get("HF_HOME") or default)


def hub_cache() -> str:
    """The download cache: `HF_HUB_CACHE`, else legacy `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`."""
    value = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return _expand(value or os.path.join(hf_home(), "hub"))


def assets_cache() -> str:
    """`HF_ASSETS_CACHE`, else legacy `HUGGINGFACE_ASSETS_CACHE`, else `$HF_HOME/assets`."""
    value = os.environ.get("HF_ASSETS_CACHE") or os.environ.get("HUGGINGFACE_ASSETS_CACHE")
    return _expand(value or os.path.join(hf_home(), "assets"))


def token_path() -> str:
    """The token file: `HF_TOKEN_PATH`, else `$HF_HOME/token` (same file as huggingface_hub)."""
    return _expand(os.environ.get("HF_TOKEN_PATH") or os.path.join(hf_home(), "token"))


def stored_tokens_path() -> str:
    """The named-tokens file `stored_tokens`, next to the token file (configparser format)."""
    return os.path.join(os.path.dirname(token_path()), "stored_tokens")


def is_offline() -> bool:
    """True when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is 1/ON/YES/TRUE: no request is made."""
    return _is_true(os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"))


# the reference's name for the same question
is_offline_mode = is_offline


def progress_bars_disabled() -> bool | None:
    """`HF_HUB_DISABLE_PROGRESS_BARS`: True/False when set, None when unset (then code decides)."""
    value = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    return None if value is None else _is_true(value)


def etag_timeout() -> int:
    """Seconds to wait for the metadata (HEAD) request of a download: `HF_HUB_ETAG_TIMEOUT`, default 10."""
    return _as_int("HF_HUB_ETAG_TIMEOUT", DEFAULT_ETAG_TIMEOUT)


def download_timeout() -> int:
    """Seconds of read timeout for downloads and other requests: `HF_HUB_DOWNLOAD_TIMEOUT`, default 10."""
    return _as_int("HF_HUB_DOWNLOAD_TIMEOUT", DEFAULT_DOWNLOAD_TIMEOUT)


def implicit_token_disabled() -> bool:
    """`HF_HUB_DISABLE_IMPLICIT_TOKEN`: when true, token=None sends no token."""
    return _is_true(os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN"))


def disable_symlinks() -> bool:
    """`HF_HUB_DISABLE_SYMLINKS`: copy files into snapshots instead of symlinking."""
    return _is_true(os.environ.get("HF_HUB_DISABLE_SYMLINKS"))


def repo_url_prefix(repo_type: str | None) -> str:
    """'' for models, 'datasets/' or 'spaces/' (the prefix of file and web URLs)."""
    return REPO_TYPES_URL_PREFIXES.get(repo_type or REPO_TYPE_MODEL, "")


# upper-case names of huggingface_hub.constants, computed on access (module __getattr__, PEP 562)
_DYNAMIC = {
    "ENDPOINT": endpoint,
    "HF_HOME": hf_home,
    "HF_HUB_CACHE": hub_cache,
    "HUGGINGFACE_HUB_CACHE": hub_cache,
    "HF_ASSETS_CACHE": assets_cache,
    "HF_TOKEN_PATH": token_path,
    "HF_STORED_TOKENS_PATH": stored_tokens_path,
    "HF_HUB_OFFLINE": is_offline,
    "HF_HUB_DISABLE_PROGRESS_BARS": progress_bars_disabled,
    "HF_HUB_ETAG_TIMEOUT": etag_timeout,
    "HF_HUB_DOWNLOAD_TIMEOUT": download_timeout,
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": implicit_token_disabled,
    "HF_HUB_DISABLE_SYMLINKS": disable_symlinks,
    "HUGGINGFACE_CO_URL_TEMPLATE": lambda: endpoint() + "/{repo_id}/resolve/{revision}/{filename}",
}


def __getattr__(name: str):
    fn = _DYNAMIC.get(name)
    if fn is None:
        raise AttributeError(f"module 'snuggle.hub.constants' has no attribute {name!r}")
    return fn()
