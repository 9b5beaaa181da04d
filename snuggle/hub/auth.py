"""Tokens: where the client finds one, and login/logout that save it where huggingface_hub does.

Resolution order (same as huggingface_hub, without its Colab/OIDC sources): `HF_TOKEN` (or the legacy
`HUGGING_FACE_HUB_TOKEN`) environment variable, then the token file `$HF_HOME/token` (or `HF_TOKEN_PATH`).
Both are read at call time. Files are shared with the reference both ways: `login()` of either library
writes the active token to the token file and a named copy to `stored_tokens` (INI, section per token
name, key `hf_token`); either library reads both.

Per-call `token` argument (everywhere in snuggle.hub): a string is used as is; `False` sends no token
(anonymous); `True` requires a saved or env token (LocalTokenNotFoundError otherwise); `None` uses the
saved/env token when there is one (unless `HF_HUB_DISABLE_IMPLICIT_TOKEN=1`).

>>> get_token_to_send("hf_abc"), get_token_to_send(False)
('hf_abc', None)
"""

from __future__ import annotations

import configparser
import getpass
import io
import os
import sys
from pathlib import Path

from snuggle.hub import constants
from snuggle.hub.errors import LocalTokenNotFoundError
from snuggle.utils.atomic import atomic_write_text
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.hub.auth")


def _clean_token(token: str | None) -> str | None:
    """Strip newlines and spaces; an empty token is no token."""
    if token is None:
        return None
    return token.replace("\r", "").replace("\n", "").strip() or None


def _token_from_environment() -> str | None:
    return _clean_token(os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"))


def _token_from_file() -> str | None:
    try:
        return _clean_token(Path(constants.token_path()).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None


def get_token() -> str | None:
    """The token of this machine: `HF_TOKEN`, else the token file; None when not logged in.

    >>> get_token()  # doctest: +SKIP
    'hf_...'
    """
    return _token_from_environment() or _token_from_file()


def get_token_to_send(token: bool | str | None) -> str | None:
    """The token to put in the Authorization header for a per-call `token` argument (see module doc)."""
    if isinstance(token, str):
        return _clean_token(token)
    if token is False:
        return None
    if token is True:
        found = get_token()
        if found is None:
            raise LocalTokenNotFoundError(
                "Token is required (`token=True`), but no token was found: pass token='hf_...', set the HF_TOKEN "
                "environment variable, or log in with `snuggle hub login` / snuggle.hub.login()."
            )
        return found
    if constants.implicit_token_disabled():
        return None
    return get_token()


# ---- the stored_tokens file (INI: [name] hf_token = ...) ----
def _write_secret(path: str | os.PathLike, content: str) -> None:
    """Atomically write `content` readable by the owner only (0600); a new parent folder gets 0700."""
    parent = Path(path).parent
    if not parent.exists():
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(path, content)  # mkstemp creates the temp file 0600, os.replace keeps it
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass


def _read_stored_tokens_full() -> dict[str, dict[str, str]]:
    path = Path(constants.stored_tokens_path())
    if not path.exists():
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
        return {name: dict(parser.items(name)) for name in parser.sections()}
    except (configparser.Error, UnicodeDecodeError) as e:
        logger.error(f"{path}: cannot parse the stored tokens file ({e}); ignoring it")
        return {}


def _save_stored_tokens_full(tokens: dict[str, dict[str, str]]) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    for name in sorted(tokens):
        parser.add_section(name)
        for key, value in tokens[name].items():
            parser.set(name, key, value)
    buf = io.StringIO()
    parser.write(buf)
    _write_secret(constants.stored_tokens_path(), buf.getvalue())


def get_stored_tokens() -> dict[str, str]:
    """Named tokens saved by login(): {token name: token}. Empty when there are none.

    >>> get_stored_tokens()  # doctest: +SKIP
    {'default': 'hf_...'}
    """
    return {name: fields.get("hf_token", "") for name, fields in _read_stored_tokens_full().items()}


def _save_token(token: str, token_name: str) -> None:
    tokens = _read_stored_tokens_full()
    tokens[token_name] = {"hf_token": token}
    _save_stored_tokens_full(tokens)


# ---- login / logout ----
def login(
    token: str | None = None,
    *,
    add_to_git_credential: bool = False,
    skip_if_logged_in: bool = True,
    endpoint: str | None = None,
) -> None:
    """Save `token` as this machine's token ($HF_HOME/token, 0600, written atomically).

    The token is first checked with `whoami` against `endpoint` (default `HF_ENDPOINT`) unless
    `HF_HUB_OFFLINE=1`; an invalid token raises HfHubHTTPError (401) and nothing is written.
    Without `token`, asks for one on the terminal (getpass). `add_to_git_credential` is accepted for
    compatibility; snuggle does not configure git credential helpers and says so.

    >>> login("hf_xxx")  # doctest: +SKIP
    """
    if token is None:
        if skip_if_logged_in and get_token() is not None:
            logger.info("Already logged in (a token is set); pass a token to replace it.")
            return
        if not sys.stdin or not sys.stdin.isatty():
            raise LocalTokenNotFoundError(
                "login() needs a token: pass login(token='hf_...') or run `snuggle hub login` in a terminal."
            )
        token = getpass.getpass("Enter your token (input will not be visible): ")
    token = _clean_token(token)
    if token is None:
        raise ValueError("login(token=...): the token is empty; pass the token string printed by the Hub")
    if token.startswith("api_org"):
        raise ValueError("You must use your personal account token, not an organization token.")
    if add_to_git_credential:
        logger.warning("add_to_git_credential=True: snuggle does not write git credentials; the token is saved only "
                       "to the Hub token file.")

    token_name = "default"
    if not constants.is_offline():
        from snuggle.hub.client import HfApi

        info = HfApi(endpoint=endpoint).whoami(token=token)
        access = (info.get("auth") or {}).get("accessToken") or {}
        token_name = access.get("displayName") or f"oauth-{info.get('name', 'user')}"
        role = access.get("role")
        logger.info(f"Token is valid (permission: {role})." if role else "Token is valid.")
    else:
        logger.warning("HF_HUB_OFFLINE=1: the token is saved without checking it against the Hub.")

    _save_token(token, token_name)
    _write_secret(constants.token_path(), token)
    logger.info(f"Token saved to {constants.token_path()} (name: {token_name}).")
    if _token_from_environment():
        logger.warning("Note: the HF_TOKEN environment variable is set and takes precedence over the saved token.")


def logout(token_name: str | None = None) -> None:
    """Remove saved tokens: all of them (token file and stored_tokens), or only `token_name`.

    Raises OSError when `HF_TOKEN` is still set in the environment (the machine stays logged in).

    >>> logout()  # doctest: +SKIP
    """
    if get_token() is None and not get_stored_tokens():
        logger.warning("Not logged in!")
        return
    if not token_name:
        for path in (constants.token_path(), constants.stored_tokens_path()):
            Path(path).unlink(missing_ok=True)
    else:
        tokens = _read_stored_tokens_full()
        if token_name in tokens:
            fields = tokens.pop(token_name)
            _save_stored_tokens_full(tokens)
            if fields.get("hf_token") == _token_from_file():
                Path(constants.token_path()).unlink(missing_ok=True)
    if _token_from_environment() is not None:
        raise OSError(
            "Token has been deleted from your machine but you are still logged in.\n"
            "To log out, you must clear out both `HF_TOKEN` and `HUGGING_FACE_HUB_TOKEN` environment variables."
        )


def whoami(token: bool | str | None = None) -> dict:
    """Who the token belongs to: the /api/whoami-v2 answer (`name`, `type`, `orgs`, `auth`, ...).

    >>> whoami()["name"]  # doctest: +SKIP
    'alice'
    """
    from snuggle.hub.client import HfApi

    return HfApi().whoami(token=token)
