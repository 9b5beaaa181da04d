"""Streamer parity with transformers: the same token stream (prompt, then one token per step, then end)
gives the same printed text and the same iterated chunks, on GPT-2 (byte-level) and Llama-2 (byte-fallback)."""

import queue
import shutil
import threading

import pytest
import torch
import transformers
from transformers.generation import streamers as ref

from snuggle.generation import streamers as ours
from snuggle.tokenizers.pretrained import AutoTokenizer
from tests.conftest import DATASETS

TOKENIZERS = DATASETS / "tokenizers"
PROMPT = "Write a short poem:"
CONTINUATIONS = [
    " The quick brown fox jumps over the lazy dog.\nSecond line, with punctuation!\n\nDone",
    " Emoji 🤗🚀 and accents: café, naïve, Ærø. Numbers 3.14159 and 42%",
    " 中文字符测试，日本語のテキスト。 mixed 中文 and English\n",
    "\n\n  indented   spaces\tand tabs... \"quotes\" (parens) [brackets] {braces}",
    " wordsplitting-supercalifragilisticexpialidocious antidisestablishmentarianism",
]


@pytest.fixture(scope="module", params=["gpt2", "llama2"])
def tokenizers(request, tmp_path_factory):
    if request.param == "gpt2":
        path = TOKENIZERS / "gpt2"
    else:
        path = tmp_path_factory.mktemp("llama2")
        shutil.copy(TOKENIZERS / "llama2" / "tokenizer.model", path / "tokenizer.model")
        (path / "tokenizer_config.json").write_text(
            '{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}'
        )
    return AutoTokenizer.from_pretrained(str(path)), transformers.AutoTokenizer.from_pretrained(str(path))


def _stream(streamer, prompt_ids, new_ids, step_shape):
    """Feed a streamer the way generate does."""
    streamer.put(torch.tensor([prompt_ids]))
    for token in new_ids:
        streamer.put(torch.tensor([[token]]) if step_shape == "2d" else torch.tensor([token]))
    streamer.end()


def _token_stream(tokenizer, continuation):
    prompt_ids = tokenizer(PROMPT)["input_ids"]  # with the tokenizer's special tokens (e.g. <s>)
    new_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return prompt_ids, new_ids + ([eos] if eos is not None else [])


@pytest.mark.parametrize("continuation", CONTINUATIONS, ids=range(len(CONTINUATIONS)))
@pytest.mark.parametrize("options", [dict(), dict(skip_prompt=True), dict(skip_prompt=True, skip_special_tokens=True)],
                         ids=["plain", "skip_prompt", "skip_special"])
def test_text_streamer_prints_the_same(tokenizers, continuation, options, capsys):
    ours_tok, ref_tok = tokenizers
    prompt_ids, new_ids = _token_stream(ref_tok, continuation)
    _stream(ref.TextStreamer(ref_tok, **options), prompt_ids, new_ids, "2d")
    expected = capsys.readouterr().out
    _stream(ours.TextStreamer(ours_tok, **options), prompt_ids, new_ids, "2d")
    assert capsys.readouterr().out == expected
    assert continuation.strip()[:5] in expected  # the stream did produce the text


@pytest.mark.parametrize("continuation", CONTINUATIONS, ids=range(len(CONTINUATIONS)))
@pytest.mark.parametrize("step_shape", ["1d", "2d"])
def test_iterator_streamer_chunks_are_the_same(tokenizers, continuation, step_shape):
    ours_tok, ref_tok = tokenizers
    prompt_ids, new_ids = _token_stream(ref_tok, continuation)
    theirs = ref.TextIteratorStreamer(ref_tok, skip_prompt=True)
    mine = ours.TextIteratorStreamer(ours_tok, skip_prompt=True)
    _stream(theirs, prompt_ids, new_ids, step_shape)
    _stream(mine, prompt_ids, new_ids, step_shape)
    expected = list(theirs)
    assert list(mine) == expected
    assert len(expected) > 3


def test_iterator_streamer_from_a_thread(tokenizers):
    """The producer runs in a thread (as generate does); the consumer iterates as chunks arrive."""
    ours_tok, ref_tok = tokenizers
    prompt_ids, new_ids = _token_stream(ref_tok, CONTINUATIONS[0] + CONTINUATIONS[2])
    results = {}
    for name, streamer in (("theirs", ref.TextIteratorStreamer(ref_tok, timeout=10)),
                           ("ours", ours.TextIteratorStreamer(ours_tok, timeout=10))):
        producer = threading.Thread(target=_stream, args=(streamer, prompt_ids, new_ids, "2d"))
        producer.start()
        results[name] = [chunk for chunk in streamer]
        producer.join()
    assert results["ours"] == results["theirs"]


def test_iterator_timeout_raises_queue_empty_like_reference(tokenizers):
    ours_tok, ref_tok = tokenizers
    for streamer in (ref.TextIteratorStreamer(ref_tok, timeout=0.05), ours.TextIteratorStreamer(ours_tok, timeout=0.05)):
        with pytest.raises(queue.Empty):
            next(streamer)


def test_streamer_reused_across_two_streams(tokenizers, capsys):
    """end() resets the state: a second generate call with the same streamer prints the same as a fresh one."""
    ours_tok, ref_tok = tokenizers
    outputs = []
    for tok, module in ((ref_tok, ref), (ours_tok, ours)):
        streamer = module.TextStreamer(tok, skip_prompt=True)
        for continuation in CONTINUATIONS[:2]:
            _stream(streamer, *_token_stream(ref_tok, continuation), "1d")
        outputs.append(capsys.readouterr().out)
    assert outputs[1] == outputs[0]
