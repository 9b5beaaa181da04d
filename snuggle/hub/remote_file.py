"""Read a Hub file over HTTP without downloading it: a seekable file object backed by Range requests.

`snuggle.data` streams Hub datasets through this (registered with `snuggle.data.remote_files`), so a
Parquet reader fetches only the footer and the row groups it needs, and JSON Lines / CSV / text files are
read block by block. Requests go through the shared Hub session: the token is sent to the endpoint only,
HF_HUB_OFFLINE is honoured and errors are the huggingface_hub ones.

>>> reader = HubFileReader(token=None, endpoint="http://127.0.0.1:8080")         # doctest: +SKIP
>>> with reader.open("http://127.0.0.1:8080/datasets/a/b/resolve/main/x.csv") as f:  # doctest: +SKIP
...     f.readline()
b'a,b\\n'
"""

from __future__ import annotations

import io
import os
from typing import Any

DEFAULT_BLOCK_SIZE = 1 << 20


class HubRangeFile(io.RawIOBase):
    """A read-only raw file over one URL: every `readinto` is one `Range: bytes=a-b` GET."""

    def __init__(self, url: str, size: int, *, token: Any = None, endpoint: str | None = None):
        super().__init__()
        self.url = url
        self.size = size
        self.token = token
        self.endpoint = endpoint
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer) -> int:
        from snuggle.hub import http

        if self._pos >= self.size or len(buffer) == 0:
            return 0
        end = min(self._pos + len(buffer), self.size) - 1
        response = http.request("GET", self.url, token=self.token, endpoint=self.endpoint,
                                headers={"Range": f"bytes={self._pos}-{end}", "Accept-Encoding": "identity"})
        data = response.content
        if response.status_code == 200:  # Range ignored: cut our slice out of the whole body
            data = data[self._pos:end + 1]
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


class HubFileReader:
    """Opens and sizes Hub /resolve URLs for `snuggle.data.remote_files` (one per token/endpoint)."""

    def __init__(self, token: Any = None, endpoint: str | None = None):
        self.token = token
        self.endpoint = endpoint
        self.known: dict[str, tuple] = {}  # url -> (size, etag), pre-filled from a listing when there is one

    def info(self, url: str) -> tuple[int | None, str | None]:
        """(size, etag): from the listing, else a HEAD (kept: URLs pinned to a commit never change)."""
        if url not in self.known:
            from snuggle.hub.download import get_hf_file_metadata

            meta = get_hf_file_metadata(url, token=self.token, endpoint=self.endpoint)
            self.known[url] = (meta.size, meta.etag)
        return self.known[url]

    def open(self, url: str, block_size: int = DEFAULT_BLOCK_SIZE) -> io.BufferedReader:
        size = self.info(url)[0]
        if size is None:
            raise OSError(f"{url}: the server did not send the file size; cannot read it with Range requests")
        raw = HubRangeFile(url, size, token=self.token, endpoint=self.endpoint)
        return io.BufferedReader(raw, buffer_size=block_size)
