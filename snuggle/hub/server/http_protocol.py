"""uvicorn's httptools HTTP/1.1 protocol with a bound on the request head (imported only if httptools is).

httptools (llhttp, C) parses a request for about 0.3 ms less CPU than h11 (pure Python), but unlike
uvicorn's h11 protocol (h11_max_incomplete_event_size) nothing limits how much a client may send
before its headers end. This subclass answers 400 and closes the connection once more than
MAX_REQUEST_HEAD bytes arrived between the start of a request and the end of its headers.

    uvicorn.run(app, http=BoundedHttpToolsProtocol)
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_REQUEST_HEAD = 64 * 1024  # request line + headers; the clients send a few KiB at most


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol refusing request heads over MAX_REQUEST_HEAD bytes (counted per received chunk,
    so the bound is exceeded by at most one read)."""

    _head_bytes: int | None = None  # None: not inside a request head

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_REQUEST_HEAD:
                self._head_bytes = None
                self.send_400_response("Request line and headers too large.")
                return
        super().data_received(data)
