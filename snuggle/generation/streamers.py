"""Streamers: show generated text while `generate` runs, one finished word at a time.

generate calls `streamer.put(ids)` first with the prompt ids, then once per step with the new
token(s), then `streamer.end()`. Decoding token by token would print broken text (a word split
over two tokens, half of a UTF-8 character), so TextStreamer re-decodes the tokens since the last
newline and only releases text that can no longer change: everything when the pending text is
plain letters/digits/spaces or ends in a CJK character, otherwise up to the last space; at a
newline the line is flushed and decoding restarts from its last token. This is exactly what
transformers' streamers print, chunk for chunk.

>>> streamer = TextStreamer(tokenizer, skip_prompt=True)        # doctest: +SKIP
>>> model.generate(input_ids, max_new_tokens=20, streamer=streamer)   # doctest: +SKIP
"""

from __future__ import annotations

import unicodedata
from queue import Queue
from typing import Any

from snuggle.errors import ConfigError

# CJK Unified Ideographs blocks (+ extensions and compatibility ideographs): each is a word by itself.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def _is_settled(text: str) -> bool:
    """True when no character of `text` can change as more tokens arrive (letters, marks, digits, spaces)."""
    return all(char.isspace() or unicodedata.category(char)[0] in "LMN" for char in text)


class BaseStreamer:
    """What generate talks to: `put(token_ids_tensor)` per step and `end()` once."""

    def put(self, value) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement put")

    def end(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement end")


class TextStreamer(BaseStreamer):
    """Print the generated text to stdout as words complete.

    tokenizer: anything with `decode(ids, **decode_kwargs) -> str`.
    skip_prompt: do not print the first `put` (the prompt ids).
    decode_kwargs: passed to `tokenizer.decode` (e.g. skip_special_tokens=True).

    >>> streamer = TextStreamer(tokenizer, skip_special_tokens=True)   # doctest: +SKIP
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, **decode_kwargs: Any) -> None:
        if not callable(getattr(tokenizer, "decode", None)):
            raise ConfigError(f"{type(self).__name__}: `tokenizer` must have a decode method, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs
        self.token_cache: list[int] = []  # tokens since the last newline (plus the one that ended it)
        self.print_len = 0                # characters of decode(token_cache) already released
        self.next_tokens_are_prompt = True

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, **self.decode_kwargs)

    def put(self, value) -> None:
        """Take the next token ids: a (1, n) or (n,) tensor (or list); release the text that is final."""
        shape = tuple(getattr(value, "shape", ()))
        if len(shape) > 1 and shape[0] > 1:
            raise ConfigError(f"{type(self).__name__} only supports batch size 1, but got ids of shape {shape}")
        if len(shape) > 1:
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        ids = value.tolist() if hasattr(value, "tolist") else value
        self.token_cache.extend([ids] if isinstance(ids, int) else ids)
        text = self._decode(self.token_cache)
        if text.endswith("\n"):
            # The line is done: release it, and restart from its last token (which keeps the spacing right).
            printable = text[self.print_len:]
            self.token_cache = self.token_cache[-1:]
            self.print_len = len(self._decode(self.token_cache))
        elif text and _is_cjk(text[-1]):
            printable = text[self.print_len:]
            self.print_len += len(printable)
        elif _is_settled(text[self.print_len:]):
            printable = text[self.print_len:]
            self.print_len += len(printable)
        else:
            # Something that may still change (punctuation, a partial UTF-8 char): hold back the last word.
            printable = text[self.print_len: text.rfind(" ") + 1]
            self.print_len += len(printable)
        self.on_finalized_text(printable)

    def end(self) -> None:
        """Release whatever is left and reset, so the streamer can be used for another generate call."""
        printable = ""
        if self.token_cache:
            printable = self._decode(self.token_cache)[self.print_len:]
            self.token_cache = []
            self.print_len = 0
        self.next_tokens_are_prompt = True
        self.on_finalized_text(printable, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Where released text goes: stdout (a newline after the last chunk). Override to send it elsewhere."""
        print(text, flush=True, end=None if stream_end else "")


class TextIteratorStreamer(TextStreamer):
    """Hand the released text chunks to another thread: iterate over the streamer while generate runs.

    timeout: seconds `next()` (and a full-queue `put`) waits; on expiry queue.Empty is raised.

    >>> streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)            # doctest: +SKIP
    >>> Thread(target=model.generate, kwargs=dict(input_ids=ids, streamer=streamer)).start()   # doctest: +SKIP
    >>> "".join(streamer)                                                         # doctest: +SKIP
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, timeout: float | None = None, **decode_kwargs: Any) -> None:
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: Queue = Queue()
        self.stop_signal = None
        self.timeout = timeout

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        value = self.text_queue.get(timeout=self.timeout)
        if value is self.stop_signal:
            raise StopIteration()
        return value
