"""Streamers: words are held back until complete, lines flush at newline, CJK flushes at once; the iterator
works across threads and times out with queue.Empty; bad input raises ConfigError.

(Chunk-for-chunk parity with transformers on real tokenizers is in tests/parity/test_streamers_parity.py.)
"""

import queue
import threading

import pytest
import torch

from snuggle.errors import ConfigError
from snuggle.generation.streamers import BaseStreamer, TextIteratorStreamer, TextStreamer

PIECES = ["Hel", "lo", " wor", "ld", ",", " how", "\n", "中", "文", " a", "\ufffd", "é", "<eos>"]


class PieceTokenizer:
    def decode(self, ids, skip_special_tokens=False):
        ids = [ids] if isinstance(ids, int) else ids
        return "".join(PIECES[i] for i in ids if not (skip_special_tokens and PIECES[i] == "<eos>"))


class Recorder(TextStreamer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chunks = []

    def on_finalized_text(self, text, stream_end=False):
        self.chunks.append((text, stream_end))


def _feed(streamer, prompt, tokens):
    streamer.put(torch.tensor([prompt]))
    for t in tokens:
        streamer.put(torch.tensor([[t]]))
    streamer.end()


def _chunks(tokens):
    streamer = Recorder(PieceTokenizer(), skip_prompt=True)
    _feed(streamer, [0], tokens)
    return streamer.chunks


def test_words_are_released_when_complete():
    # "," may still grow into a longer symbol run: it waits, with its word, for the next space.
    assert _chunks([0, 1, 2, 3, 4, 5]) == [
        ("Hel", False), ("lo", False), (" wor", False), ("ld", False), ("", False), (", ", False), ("how", True),
    ]


def test_newline_flushes_the_line_and_cjk_flushes_at_once():
    # After the newline the cache restarts from the "\n" token, so the next chunks are computed from "\n中...".
    assert _chunks([9, 4, 6, 7, 8]) == [
        (" a", False), ("", False), (",\n", False), ("中", False), ("文", False), ("", True),
    ]


def test_partial_utf8_is_held_back():
    # "\ufffd" (half of a UTF-8 character) may still change, so nothing after the last space is released.
    assert _chunks([9, 10, 11]) == [(" a", False), ("", False), ("", False), ("\ufffdé", True)]


def test_prompt_is_printed_unless_skipped_and_decode_kwargs_apply(capsys):
    _feed(TextStreamer(PieceTokenizer(), skip_special_tokens=True), [0, 1], [2, 3, 12])
    assert capsys.readouterr().out == "Hello world\n"
    _feed(TextStreamer(PieceTokenizer(), skip_prompt=True), [0, 1], [2, 3])
    assert capsys.readouterr().out == " world\n"


def test_batch_of_two_is_refused():
    with pytest.raises(ConfigError, match="batch size 1"):
        TextStreamer(PieceTokenizer()).put(torch.tensor([[1], [2]]))
    with pytest.raises(ConfigError, match="tokenizer"):
        TextStreamer(object())


def test_iterator_from_a_thread_and_timeout():
    streamer = TextIteratorStreamer(PieceTokenizer(), skip_prompt=True, timeout=5)
    producer = threading.Thread(target=_feed, args=(streamer, [0], [0, 1, 2, 3, 6, 7]))
    producer.start()
    text = "".join(streamer)
    producer.join()
    assert text == "Hello world\n中"
    with pytest.raises(queue.Empty):
        next(TextIteratorStreamer(PieceTokenizer(), timeout=0.01))


def test_base_streamer_is_abstract():
    with pytest.raises(NotImplementedError):
        BaseStreamer().put(torch.tensor([1]))
