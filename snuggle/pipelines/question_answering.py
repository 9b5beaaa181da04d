"""question-answering: extract the answer span to a question from a context.

The (question, context) pair is tokenized with the context truncated into overlapping windows of at most
`max_seq_len` tokens (`doc_stride` tokens of overlap), each window runs through an
`AutoModelForQuestionAnswering` model, and in each window every span (start <= end, at most
`max_answer_len` tokens, context tokens only) scores softmax(start_logits)[start] * softmax(end_logits)[end],
the softmaxes taken over the window's context tokens and [CLS]. Each window proposes its `top_k` best spans;
spans are mapped to character offsets of the context (widened to whole words with `align_to_words`), spans
with the same text (ignoring case) add their scores, and the `top_k` best answers are returned.
With `handle_impossible_answer` the empty answer competes with the score start[CLS] * end[CLS] (its smallest
value over the windows). This is the algorithm of transformers 4.x's QuestionAnsweringPipeline (5.x dropped it).

>>> qa = pipeline("question-answering", model="./bert-squad")                       # doctest: +SKIP
>>> qa(question="Where do I live?", context="My name is Sarah and I live in London")  # doctest: +SKIP
{'score': 0.99, 'start': 31, 'end': 37, 'answer': 'London'}
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from snuggle.pipelines.base import KeyDataset, PipelineError, _is_dataset
from snuggle.pipelines.chunk_pipeline import ChunkPipeline

NULL_SCORE_START = 1_000_000.0  # larger than any probability: the first window's null score always replaces it
MASKED_LOGIT = -10_000.0        # what the reference writes over logits that cannot be part of an answer


class SquadExample:
    """One question with its context (the fields of transformers' SquadExample that the pipeline reads)."""

    def __init__(self, qas_id, question_text: str, context_text: str, answer_text=None, start_position_character=None,
                 title=None, answers=None, is_impossible=False):
        self.qas_id = qas_id
        self.question_text = question_text
        self.context_text = context_text
        self.answer_text = answer_text
        self.title = title
        self.answers = answers or []
        self.is_impossible = is_impossible

    def __repr__(self) -> str:
        return f"SquadExample(question={self.question_text!r}, context={self.context_text[:40]!r}...)"


def _check_text(name: str, value) -> str:
    if value is None:
        raise PipelineError(f"question-answering: `{name}` cannot be None")
    if not isinstance(value, str):
        raise PipelineError(f"question-answering: `{name}` must be a str, got {type(value).__name__}")
    if not value:
        raise PipelineError(f"question-answering: `{name}` cannot be empty")
    return value


def to_example(item) -> SquadExample:
    """A SquadExample-like object (question_text/context_text) or a {"question", "context"} dict -> SquadExample."""
    if hasattr(item, "question_text") and hasattr(item, "context_text"):
        _check_text("question", item.question_text)
        _check_text("context", item.context_text)
        return item
    if isinstance(item, dict):
        for key in ("question", "context"):
            if key not in item:
                raise PipelineError(f"question-answering: the input dict needs the keys 'question' and 'context'; "
                                    f"'{key}' is missing (got keys {sorted(item)})")
        return SquadExample(None, _check_text("question", item["question"]), _check_text("context", item["context"]))
    raise PipelineError(f"question-answering: each input must be a {{'question': str, 'context': str}} dict or a "
                        f"SquadExample, got {type(item).__name__}")


class QuestionAnsweringPipeline(ChunkPipeline):
    """Extractive question answering (see the module docstring)."""

    default_input_names = "question,context"

    @staticmethod
    def create_sample(question, context):
        """SquadExample(s) from a question and context (or equal-length lists of them)."""
        if isinstance(question, list):
            return [SquadExample(None, q, c) for q, c in zip(question, context)]
        return SquadExample(None, question, context)

    def _sanitize_parameters(self, padding=None, topk=None, top_k=None, doc_stride=None, max_answer_len=None,
                             max_seq_len=None, max_question_len=None, handle_impossible_answer=None,
                             align_to_words=None, **unknown):
        if unknown:
            raise PipelineError(f"question-answering got unknown arguments {sorted(unknown)}; it accepts top_k, "
                                f"doc_stride, max_answer_len, max_seq_len, max_question_len, "
                                f"handle_impossible_answer, align_to_words, padding")
        preprocess, postprocess = {}, {}
        if padding is not None:
            preprocess["padding"] = padding
        for name, value in (("doc_stride", doc_stride), ("max_seq_len", max_seq_len),
                            ("max_question_len", max_question_len)):
            if value is not None:
                if not isinstance(value, int) or value < (0 if name == "doc_stride" else 1):
                    raise PipelineError(f"question-answering: {name} must be a positive int, got {value!r}")
                preprocess[name] = value
        top_k = topk if top_k is None else top_k  # `topk` is the reference's deprecated spelling
        if top_k is not None:
            if not isinstance(top_k, int) or top_k < 1:
                raise PipelineError(f"question-answering: top_k must be an int >= 1, got {top_k!r}")
            postprocess["top_k"] = top_k
        if max_answer_len is not None:
            if not isinstance(max_answer_len, int) or max_answer_len < 1:
                raise PipelineError(f"question-answering: max_answer_len must be an int >= 1, got {max_answer_len!r}")
            postprocess["max_answer_len"] = max_answer_len
        if handle_impossible_answer is not None:
            postprocess["handle_impossible_answer"] = bool(handle_impossible_answer)
        if align_to_words is not None:
            postprocess["align_to_words"] = bool(align_to_words)
        return preprocess, {}, postprocess

    # ----- inputs ------------------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """qa(question=..., context=...), qa({"question", "context"}), qa([dicts]), qa(question_str, context_str),
        qa(generator or KeyDataset of dicts). One example gives one result; a list gives a list of results."""
        inputs = self._parse_inputs(args, kwargs)
        if isinstance(inputs, list) and len(inputs) == 1:
            return super().__call__(inputs[0], **kwargs)
        return super().__call__(inputs, **kwargs)

    def _parse_inputs(self, args: tuple, kwargs: dict):
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            return [to_example({"question": args[0], "context": args[1]})]
        if len(args) > 1:
            return [to_example(a) for a in args]
        if args:
            inputs = args[0]
        elif "X" in kwargs or "data" in kwargs:
            inputs = kwargs.pop("X") if "X" in kwargs else kwargs.pop("data")
        elif "question" in kwargs or "context" in kwargs:
            return self._pair_inputs(kwargs.pop("question", None), kwargs.pop("context", None))
        else:
            raise PipelineError("question-answering needs question= and context= (or a {'question', 'context'} "
                                "dict, a list of them, or a generator of them)")
        if isinstance(inputs, KeyDataset) or _is_dataset(inputs) or (
                isinstance(inputs, Iterable) and not isinstance(inputs, (dict, str, list, tuple))
                and not hasattr(inputs, "question_text")):
            return inputs  # lazy: each item is checked when it is preprocessed
        if isinstance(inputs, (dict, str)) or hasattr(inputs, "question_text"):
            return [to_example(inputs)]
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise PipelineError("question-answering needs at least one input, got an empty list")
            return [to_example(item) for item in inputs]
        raise PipelineError(f"question-answering: cannot understand the input {inputs!r}")

    @staticmethod
    def _pair_inputs(question, context) -> list[SquadExample]:
        if question is None or context is None:
            missing = "question" if question is None else "context"
            raise PipelineError(f"question-answering: `{missing}` is missing; pass both question= and context=")
        if isinstance(question, list) and isinstance(context, str):
            return [to_example({"question": q, "context": context}) for q in question]
        if isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise PipelineError(f"question-answering: {len(question)} questions but {len(context)} contexts; "
                                    f"the lists must have the same length")
            return [to_example({"question": q, "context": c}) for q, c in zip(question, context)]
        if isinstance(context, list):
            raise PipelineError("question-answering: a list of contexts needs a list of questions of the same length")
        return [to_example({"question": question, "context": context})]

    # ----- preprocess: one chunk per window ------------------------------------------------------------------
    def preprocess(self, example, padding="do_not_pad", doc_stride=None, max_question_len=64, max_seq_len=None):
        """max_question_len is accepted for compatibility: like the reference with a fast tokenizer, the
        question is never truncated (only the context is)."""
        import torch

        example = to_example(example)
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length, 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise PipelineError(f"question-answering: doc_stride ({doc_stride}) is larger than max_seq_len "
                                f"({max_seq_len})")
        question_first = self.tokenizer.padding_side == "right"
        first, second = ((example.question_text, example.context_text) if question_first
                         else (example.context_text, example.question_text))
        try:
            encoded = self.tokenizer(first, second, padding=padding,
                                     truncation="only_second" if question_first else "only_first",
                                     max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
                                     return_overflowing_tokens=True, return_offsets_mapping=True,
                                     return_special_tokens_mask=True)
        except ValueError as err:  # e.g. the question leaves no room for the context in max_seq_len tokens
            raise PipelineError(f"question-answering: cannot fit the question and windows of the context in "
                                f"max_seq_len={max_seq_len} tokens with doc_stride={doc_stride}: {err}") from err
        encodings = getattr(encoded, "encodings", None)
        if not encodings:
            raise PipelineError("question-answering needs a fast tokenizer (character offsets of the windows)")
        context_sequence = 1 if question_first else 0
        cls_id = getattr(self.tokenizer, "cls_token_id", None)
        n_windows = len(encoded["input_ids"])
        for i in range(n_windows):
            ids = encoded["input_ids"][i]
            # p_mask: 1 where a token cannot be part of an answer (question, special tokens, padding);
            # [CLS] stays 0 because models use it for "no answer"
            p_mask = [0 if (seq == context_sequence or (cls_id is not None and tok == cls_id)) else 1
                      for seq, tok in zip(encodings[i].sequence_ids, ids)]
            chunk = {"input_ids": torch.tensor([ids], dtype=torch.long),
                     "attention_mask": torch.tensor([encoded["attention_mask"][i]], dtype=torch.long),
                     "p_mask": p_mask, "encoding": encodings[i], "example": example,
                     "context_sequence": context_sequence, "is_last": i == n_windows - 1}
            if "token_type_ids" in encoded:
                chunk["token_type_ids"] = torch.tensor([encoded["token_type_ids"][i]], dtype=torch.long)
            yield chunk

    def _forward(self, model_inputs):
        if "use_cache" in inspect.signature(self.model.forward).parameters:
            model_inputs["use_cache"] = False
        output = self.model(**model_inputs)
        return {"start_logits": output["start_logits"], "end_logits": output["end_logits"]}

    # ----- postprocess -------------------------------------------------------------------------------------
    def postprocess(self, model_outputs, top_k=1, handle_impossible_answer=False, max_answer_len=15,
                    align_to_words=True):
        min_null_score = NULL_SCORE_START
        answers = []
        for out in model_outputs:
            spans, null_score = best_spans(out["start_logits"][0], out["end_logits"][0], out["p_mask"],
                                           out["attention_mask"][0], top_k, max_answer_len)
            if handle_impossible_answer:
                min_null_score = min(min_null_score, null_score)
            context = out["example"].context_text
            for start_token, end_token, score in spans:
                start, end = self._char_span(out["encoding"], start_token, end_token, out["context_sequence"],
                                             align_to_words)
                text = context[start:end]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score  # the same answer found again (another window, another sub-span)
                else:
                    answers.append({"score": score, "start": start, "end": end, "answer": text})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    @staticmethod
    def _char_span(encoding, start_token: int, end_token: int, sequence: int, align_to_words: bool) -> tuple[int, int]:
        """Character offsets in the context of tokens start..end; with align_to_words, of their whole words."""
        if align_to_words:
            start_word, end_word = encoding.token_to_word(start_token), encoding.token_to_word(end_token)
            if start_word is not None and end_word is not None:
                start_chars = encoding.word_to_chars(start_word, sequence)
                end_chars = encoding.word_to_chars(end_word, sequence)
                if start_chars is not None and end_chars is not None:
                    return start_chars[0], end_chars[1]
        # tokenizers without words keep to the token offsets
        return encoding.offsets[start_token][0], encoding.offsets[end_token][1]


def best_spans(start_logits, end_logits, p_mask, attention_mask, top_k: int, max_answer_len: int):
    """The `top_k` best answer spans of one window and the window's null ([CLS]) score.

    Returns ([(start_token, end_token, score), ...] best first, null_score). A span needs start <= end,
    end - start < max_answer_len, and both ends on answerable tokens (p_mask 0, attention 1, not position 0);
    its score is softmax(start)[start] * softmax(end)[end] where the softmaxes run over the answerable tokens
    and position 0 (the [CLS] null answer). Equal scores rank by position (earlier start, then earlier end).

    >>> import torch
    >>> spans, null = best_spans(torch.tensor([0., 0., 5., 0.]), torch.tensor([0., 0., 0., 5.]),
    ...                          [0, 1, 0, 0], torch.tensor([1, 1, 1, 1]), top_k=1, max_answer_len=15)
    >>> [(s, e) for s, e, _ in spans]
    [(2, 3)]
    """
    import torch

    allowed = (torch.as_tensor(p_mask) == 0) & (torch.as_tensor(attention_mask) == 1)  # (seq,)
    masked_value = torch.tensor(MASKED_LOGIT, dtype=torch.float32)
    start = torch.where(allowed, start_logits.float(), masked_value).softmax(dim=-1)
    end = torch.where(allowed, end_logits.float(), masked_value).softmax(dim=-1)
    null_score = (start[0] * end[0]).item()
    answerable = allowed.clone()
    answerable[0] = False  # position 0 is the null answer, never a span end
    length = start.shape[0]
    scores = start[:, None] * end[None, :]  # (seq start, seq end)
    offsets = torch.arange(length)[None, :] - torch.arange(length)[:, None]  # end - start
    valid = (offsets >= 0) & (offsets < max_answer_len) & answerable[:, None] & answerable[None, :]
    flat = torch.where(valid, scores, torch.tensor(-1.0)).flatten()
    n_valid = int(valid.sum())
    if n_valid == 0:
        return [], null_score
    k = min(top_k, n_valid)
    if k == 1:
        best = [int(flat.argmax())]  # first maximum: earliest start, then earliest end
    else:
        best = torch.sort(flat, descending=True, stable=True).indices[:k].tolist()
    return [(i // length, i % length, flat[i].item()) for i in best], null_score
