"""Open data files that may be local paths or http(s) URLs, for streaming.

Remote files go through fsspec's HTTPFileSystem: reads are HTTP Range requests of `block_size` bytes, so a
Parquet reader fetches only the footer and the row groups it needs, and a JSON Lines / CSV / text reader
streams the file block by block instead of downloading it first. Local paths use the built-in `open`.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
>>> _ = open(path, "w").write("hello\\n")
>>> with open_data_file(path, "r") as f:
...     f.read()
'hello\\n'
"""

from __future__ import annotations

import io

from snuggle.errors import DataError

REMOTE_PREFIXES = ("http://", "https://")
DEFAULT_BLOCK_SIZE = 1 << 20  # bytes per Range request

# URL prefix -> reader for URLs another package serves itself (snuggle.hub: its session and auth header).
# A reader has open(url, block_size) -> seekable binary file and info(url) -> (size, etag).
_URL_READERS: dict = {}


def register_url_reader(prefix: str, reader) -> None:
    """Read URLs that start with `prefix` through `reader` instead of fsspec (e.g. Hub files with a token)."""
    _URL_READERS[prefix] = reader


def _reader_for(url: str):
    for prefix, reader in _URL_READERS.items():
        if url.startswith(prefix):
            return reader
    return None


def is_remote_url(path) -> bool:
    """True for http(s) URLs."""
    return isinstance(path, str) and path.startswith(REMOTE_PREFIXES)


def _http_filesystem():
    try:
        import fsspec
    except ImportError as e:  # pragma: no cover - fsspec is a dependency of the data extra
        from snuggle.errors import MissingDependencyError

        raise MissingDependencyError("streaming from http(s) URLs needs fsspec and aiohttp: pip install fsspec aiohttp") from e
    return fsspec.filesystem("http")


def open_data_file(path: str, mode: str = "rb", encoding: str | None = None, errors: str | None = None,
                   block_size: int = DEFAULT_BLOCK_SIZE):
    """A file object for `path` (local or http(s)); text modes decode with `encoding` (default utf-8).

    Remote files are seekable (Range requests), so `pyarrow.parquet.ParquetFile(open_data_file(url))` works.
    """
    if mode not in ("r", "rb", "rt"):
        raise DataError(f"open_data_file: mode {mode!r} is not supported; data files are opened read-only")
    if not is_remote_url(path):
        if mode == "rb":
            return open(path, "rb")
        return open(path, "r", encoding=encoding or "utf-8", errors=errors)
    reader = _reader_for(path)
    try:
        if reader is not None:
            raw = reader.open(path, block_size=block_size)
        else:
            raw = _http_filesystem().open(path, mode="rb", block_size=block_size)
    except FileNotFoundError:
        raise DataError(f"{path}: not found (HTTP 404)") from None
    except Exception as e:  # noqa: BLE001 - aiohttp / fsspec raise many types; name the URL and the cause
        raise DataError(f"{path}: cannot open ({type(e).__name__}: {e})") from None
    if mode == "rb":
        return raw
    return io.TextIOWrapper(raw, encoding=encoding or "utf-8", errors=errors, newline=None)


def data_file_size(path: str) -> int | None:
    """Size in bytes of a local or remote file (None when the server does not say)."""
    if not is_remote_url(path):
        import os

        return os.path.getsize(path)
    if _reader_for(path) is not None:
        return _reader_for(path).info(path)[0]
    return _http_filesystem().info(path).get("size")


def data_file_info(url: str) -> tuple:
    """(size, ETag or Last-Modified) of a remote file: what a cache key of its content can use."""
    if _reader_for(url) is not None:
        return tuple(_reader_for(url).info(url))
    info = _http_filesystem().info(url)
    return (info.get("size"), info.get("ETag") or info.get("etag") or info.get("Last-Modified") or info.get("last_modified"))
