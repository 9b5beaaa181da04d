"""Parse a commit's NDJSON body incrementally, streaming inline file content into the blob store (spec §8.4).

One `file` line can carry hundreds of MiB of base64, so lines are never required to fit in memory:
short lines (the usual case) are parsed with `json.loads`; a line longer than `SMALL_LINE` is parsed by a
small streaming JSON reader that hands the bytes of its `"content"` string, base64-decoded strictly on the
fly, straight to `store(chunks) -> (sha256, size)`.

>>> lines = [b'{"key": "header", "value": {"summary": "s"}}', b'{"key": "file", "value": {"content": "aGk=", "path": "a.txt", "encoding": "base64"}}']
>>> stored = []
>>> def store(chunks):
...     data = b"".join(chunks); stored.append(data); return ("sha", len(data))
>>> [(o["key"], o["value"].get("path")) for o in iter_commit_lines([b"\\n".join(lines)], store=store)]
[('header', None), ('file', 'a.txt')]
>>> stored
[b'hi']
"""

from __future__ import annotations

import binascii
import json
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from snuggle.hub.server.errors import BadRequest, TooLarge

SMALL_LINE = 4 * 1024 * 1024
MAX_SMALL_STRING = 16 * 1024 * 1024
_WS = b" \t\r"


@dataclass(frozen=True)
class StoredContent:
    """A `content` string that was decoded and stored while parsing: its blob key and decoded size."""

    sha256: str
    size: int


def decode_base64_strict(text: str | bytes, max_size: int | None = None) -> bytes:
    """Strict base64 (no stray characters, padding only at the end); 400 otherwise."""
    data = text.encode("ascii", "strict") if isinstance(text, str) else text
    if len(data) % 4:
        raise BadRequest("Invalid base64 content: its length is not a multiple of 4")
    try:
        out = binascii.a2b_base64(data, strict_mode=True) if data else b""
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"Invalid base64 content: {e}") from None
    if max_size is not None and len(out) > max_size:
        raise TooLarge(f"Inline file of {len(out)} bytes exceeds the inline limit of {max_size} bytes; "
                       "upload it through LFS")
    return out


def decode_base64_stream(raw_chunks: Iterable[bytes], max_size: int | None = None) -> Iterator[bytes]:
    """Strictly decode base64 arriving in arbitrary chunks, yielding decoded chunks."""
    pending = b""
    ended = False
    total = 0
    for chunk in raw_chunks:
        data = pending + bytes(chunk) if pending else bytes(chunk)
        n = len(data) - len(data) % 4
        block, pending = data[:n], data[n:]
        if not block:
            continue
        if ended:
            raise BadRequest("Invalid base64 content: data after the '=' padding")
        try:
            out = binascii.a2b_base64(block, strict_mode=True)
        except (binascii.Error, ValueError) as e:
            raise BadRequest(f"Invalid base64 content: {e}") from None
        ended = block.endswith(b"=")
        total += len(out)
        if max_size is not None and total > max_size:
            raise TooLarge(f"Inline file exceeds the inline limit of {max_size} bytes; upload it through LFS")
        yield out
    if pending:
        raise BadRequest("Invalid base64 content: its length is not a multiple of 4")


class _Reader:
    """Byte reader over an iterable of chunks with a body-size limit and a per-line length limit."""

    def __init__(self, chunks: Iterable[bytes], max_body: int | None, max_line: int | None):
        self.it = iter(chunks)
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.total = 0
        self.max_body = max_body
        self.max_line = max_line
        self.line_start = 0  # absolute offset where the current line began
        self.base = 0  # absolute offset of buf[0]

    def _more(self) -> bool:
        if self.eof:
            return False
        if self.pos > (1 << 20) and self.pos * 2 > len(self.buf):
            del self.buf[: self.pos]
            self.base += self.pos
            self.pos = 0
        for chunk in self.it:
            if not chunk:
                continue
            self.total += len(chunk)
            if self.max_body is not None and self.total > self.max_body:
                raise TooLarge(f"Commit body exceeds the limit of {self.max_body} bytes")
            self.buf += chunk
            return True
        self.eof = True
        return False

    def _check_line(self) -> None:
        if self.max_line is not None and self.base + self.pos - self.line_start > self.max_line:
            raise TooLarge(f"An NDJSON line exceeds the limit of {self.max_line} bytes")

    def at_end(self) -> bool:
        while self.pos >= len(self.buf):
            if not self._more():
                return True
        return False

    def peek(self) -> int | None:
        while self.pos >= len(self.buf):
            if not self._more():
                return None
        return self.buf[self.pos]

    def take(self) -> int:
        c = self.peek()
        if c is None:
            raise BadRequest("Malformed NDJSON: unexpected end of body inside a line")
        self.pos += 1
        return c

    def skip_ws(self) -> None:
        while (c := self.peek()) is not None and c in _WS:
            self.pos += 1

    def small_line(self, limit: int) -> bytes | None:
        """The next line (without its newline) if it ends within `limit` bytes, else None (pos unchanged)."""
        scanned = 0  # bytes after pos already known to hold no newline
        while True:
            nl = self.buf.find(b"\n", self.pos + scanned, self.pos + limit + 1)
            if nl >= 0:
                line = bytes(self.buf[self.pos:nl])
                self.pos = nl + 1
                return line
            if len(self.buf) - self.pos > limit:
                return None
            scanned = len(self.buf) - self.pos
            if not self._more():
                line = bytes(self.buf[self.pos:])
                self.pos = len(self.buf)
                return line

    def string_chunks(self, allow_escapes: bool) -> Iterator[bytes]:
        """Raw bytes of a JSON string whose opening quote was consumed, up to (and consuming) the closing one.

        With allow_escapes, a backslash and the byte after it are always yielded together, so an escaped
        quote never ends the string; without, any backslash is an error (base64 needs no escapes)."""
        while True:
            if self.pos >= len(self.buf) and not self._more():
                raise BadRequest("Malformed NDJSON: unterminated string")
            q = self.buf.find(b'"', self.pos)
            limit = q if q >= 0 else len(self.buf)
            b = self.buf.find(b"\\", self.pos, limit)
            if b >= 0:
                if not allow_escapes:
                    raise BadRequest("Malformed NDJSON: escapes are not allowed inside base64 content")
                rel = b - self.pos
                while self.pos + rel + 1 >= len(self.buf):
                    if not self._more():
                        raise BadRequest("Malformed NDJSON: unterminated string")
                piece = bytes(self.buf[self.pos:self.pos + rel + 2])
                self.pos += rel + 2
                self._check_line()
                yield piece
                continue
            piece = bytes(self.buf[self.pos:limit])
            self.pos = limit + 1 if q >= 0 else limit
            self._check_line()
            if piece:
                yield piece
            if q >= 0:
                return


class _StreamingLineParser:
    """Recursive-descent JSON for one long line; `"content"` strings are streamed into `store`."""

    def __init__(self, reader: _Reader, store: Callable, max_inline: int | None):
        self.r = reader
        self.store = store
        self.max_inline = max_inline

    def value(self, key: str | None):
        r = self.r
        r.skip_ws()
        c = r.peek()
        if c == 0x7B:  # {
            r.take()
            obj = {}
            r.skip_ws()
            if r.peek() == 0x7D:
                r.take()
                return obj
            while True:
                r.skip_ws()
                if r.take() != 0x22:
                    raise BadRequest("Malformed NDJSON: expected a string key")
                k = self.small_string()
                r.skip_ws()
                if r.take() != 0x3A:
                    raise BadRequest("Malformed NDJSON: expected ':'")
                obj[k] = self.value(k)
                r.skip_ws()
                c = r.take()
                if c == 0x2C:
                    continue
                if c == 0x7D:
                    return obj
                raise BadRequest("Malformed NDJSON: expected ',' or '}'")
        if c == 0x5B:  # [
            r.take()
            arr = []
            r.skip_ws()
            if r.peek() == 0x5D:
                r.take()
                return arr
            while True:
                arr.append(self.value(None))
                r.skip_ws()
                c = r.take()
                if c == 0x2C:
                    continue
                if c == 0x5D:
                    return arr
                raise BadRequest("Malformed NDJSON: expected ',' or ']'")
        if c == 0x22:  # "
            r.take()
            if key == "content":
                chunks = decode_base64_stream(r.string_chunks(allow_escapes=False), self.max_inline)
                sha, size = self.store(chunks)
                return StoredContent(sha, size)
            return self.small_string()
        token = bytearray()
        while (c := r.peek()) is not None and c not in b",}] \t\r\n":
            token.append(r.take())
            if len(token) > 64:
                raise BadRequest("Malformed NDJSON: literal too long")
        try:
            return json.loads(bytes(token))
        except ValueError:
            raise BadRequest(f"Malformed NDJSON: invalid literal {bytes(token)[:20]!r}") from None

    def small_string(self) -> str:
        parts, size = [], 0
        for piece in self.r.string_chunks(allow_escapes=True):
            size += len(piece)
            if size > MAX_SMALL_STRING:
                raise TooLarge("A string in the commit body is too long")
            parts.append(piece)
        try:
            return json.loads(b'"' + b"".join(parts) + b'"')
        except ValueError:
            raise BadRequest("Malformed NDJSON: invalid string") from None


class StagedContents:
    """Inline file contents of one commit, held until the whole body is parsed and validated.

    Used as the parser's `store` callback: it hashes each content (sha256) and keeps it in memory up to
    `memory_budget` bytes in total, in anonymous temporary files (unlinked at creation, so a crash leaves
    nothing) beyond. `publish(store_blob)` then moves everything into the blob store; a rejected commit
    never touches the store.

    >>> staged = StagedContents()
    >>> sha, size = staged([b"he", b"llo"])
    >>> size, sha[:8]
    (5, '2cf24dba')
    >>> stored = {}
    >>> staged.publish(lambda chunks, **kw: stored.setdefault(kw["expected_sha256"], b"".join(chunks)))
    >>> stored[sha]
    b'hello'
    >>> staged.close()
    """

    def __init__(self, tmp_dir=None, memory_budget: int = 16 * 1024 * 1024):
        self.tmp_dir = tmp_dir
        self.memory_left = memory_budget
        self.items: dict[str, tuple[int, object]] = {}  # sha256 -> (size, bytes | open temp file)

    def __call__(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        import hashlib
        import tempfile

        h = hashlib.sha256()
        memory = bytearray()
        spill = None
        size = 0
        try:
            for chunk in chunks:
                h.update(chunk)
                size += len(chunk)
                if spill is None and len(memory) + len(chunk) <= self.memory_left:
                    memory += chunk
                    continue
                if spill is None:
                    if self.tmp_dir is not None:
                        os.makedirs(self.tmp_dir, exist_ok=True)
                    spill = tempfile.TemporaryFile(prefix="commit-", dir=self.tmp_dir)
                    spill.write(memory)
                    memory = bytearray()
                spill.write(chunk)
        except BaseException:
            if spill is not None:
                spill.close()
            raise
        sha = h.hexdigest()
        if sha in self.items:
            if spill is not None:
                spill.close()
        elif spill is None:
            self.memory_left -= len(memory)
            self.items[sha] = (size, bytes(memory))
        else:
            self.items[sha] = (size, spill)
        return sha, size

    def publish(self, store_blob: Callable) -> None:
        """store_blob(chunks, expected_sha256=, expected_size=) for every staged content."""
        for chunks, sha, size in self.contents():
            store_blob(chunks, expected_sha256=sha, expected_size=size)

    def contents(self) -> Iterator[tuple]:
        """(chunks, sha256, size) of every staged content, for HubBackend.store_blobs (one batch)."""
        for sha, (size, held) in self.items.items():
            if isinstance(held, bytes):
                chunks = [held] if held else []
            else:
                held.seek(0)
                chunks = iter(lambda f=held: f.read(1 << 20), b"")
            yield chunks, sha, size

    def close(self) -> None:
        for _, held in self.items.values():
            if not isinstance(held, bytes):
                held.close()
        self.items.clear()


def iter_commit_lines(chunks: Iterable[bytes], *, store: Callable, max_body: int | None = None,
                      max_line: int | None = None, max_inline: int | None = None) -> Iterator[dict]:
    """Yield each NDJSON line as a dict; `file` lines get `value["content"]` as a StoredContent.

    `store(decoded_chunks) -> (sha256, size)` persists inline content (it must consume the iterator)."""
    reader = _Reader(chunks, max_body, max_line)
    lineno = 0
    while not reader.at_end():
        lineno += 1
        reader.line_start = reader.base + reader.pos
        line = reader.small_line(SMALL_LINE)
        if line is not None:
            if max_line is not None and len(line) > max_line:
                raise TooLarge(f"NDJSON line {lineno} exceeds the limit of {max_line} bytes")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError) as e:
                raise BadRequest(f"Malformed NDJSON: line {lineno} is not valid JSON ({e})") from None
            _store_small_content(obj, store, max_inline)
        else:
            obj = _StreamingLineParser(reader, store, max_inline).value(None)
            reader.skip_ws()
            c = reader.peek()
            if c is not None:
                if c != 0x0A:
                    raise BadRequest(f"Malformed NDJSON: line {lineno} has data after its JSON object")
                reader.take()
        if not isinstance(obj, dict):
            raise BadRequest(f"Malformed NDJSON: line {lineno} is not a JSON object")
        yield obj


def _store_small_content(obj, store: Callable, max_inline: int | None) -> None:
    value = obj.get("value") if isinstance(obj, dict) else None
    if not isinstance(value, dict) or "content" not in value or obj.get("key") != "file":
        return
    content = value["content"]
    if not isinstance(content, str):
        raise BadRequest("Malformed NDJSON: 'content' must be a base64 string")
    encoding = value.get("encoding", "base64")
    if encoding == "base64":
        try:
            data = decode_base64_strict(content, max_inline)
        except UnicodeEncodeError:
            raise BadRequest("Invalid base64 content: non-ASCII characters") from None
    elif encoding in ("utf-8", "utf8"):
        data = content.encode("utf-8")
        if max_inline is not None and len(data) > max_inline:
            raise TooLarge(f"Inline file exceeds the inline limit of {max_inline} bytes")
    else:
        raise BadRequest(f"Unsupported encoding {encoding!r}: expected 'base64'")
    sha, size = store([data] if data else [])
    value["content"] = StoredContent(sha, size)
