"""token-classification / ner: a label per token, optionally fused into entities.

`aggregation_strategy` says how tokens become entities, as in transformers:
- "none": one dict per token that is not ignored: entity, score, index, word, start, end.
- "simple": adjacent tokens with the same tag (B-X then I-X, or plain X X) become one group whose score is the
  mean of the token scores; a B- tag always starts a new group.
- "first" / "average" / "max": first make every *word* agree on one label (the first sub-token's label, the
  label of the averaged scores, or the label of the most confident sub-token), then group like "simple".
Grouped results have the keys entity_group, score, word, start, end. `start`/`end` are character offsets into
the input text; labels in `ignore_labels` (default ["O"]) are dropped. `stride` runs texts longer than the
tokenizer's model_max_length as overlapping windows and keeps the longest (then best) of overlapping entities.

>>> ner = pipeline("ner", model="./bert-ner", aggregation_strategy="simple")        # doctest: +SKIP
>>> ner("My name is Sarah and I live in London")                                   # doctest: +SKIP
[{'entity_group': 'PER', 'score': 0.99, 'word': 'sarah', 'start': 11, 'end': 16}, ...]
"""

from __future__ import annotations

import warnings
from enum import Enum

from snuggle.pipelines.base import PipelineError
from snuggle.pipelines.chunk_pipeline import ChunkPipeline

STRATEGIES = ("none", "simple", "first", "average", "max")
WORD_STRATEGIES = ("first", "average", "max")


class AggregationStrategy(str, Enum):
    """The valid aggregation_strategy values (plain strings work as well)."""

    NONE = "none"
    SIMPLE = "simple"
    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"


def _argmax(values: list[float]) -> int:
    """Index of the first largest value (numpy's argmax tie rule)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def split_tag(label: str) -> tuple[str, str]:
    """("B"|"I", tag) for an IOB label; a label without B-/I- counts as a continuation ("I").

    >>> split_tag("B-PER"), split_tag("LOC")
    (('B', 'PER'), ('I', 'LOC'))
    """
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


class TokenClassificationPipeline(ChunkPipeline):
    """Label each token with an `AutoModelForTokenClassification` model (see the module docstring)."""

    default_input_names = "sequences"

    def _sanitize_parameters(self, ignore_labels=None, aggregation_strategy=None, offset_mapping=None,
                             is_split_into_words=None, stride=None, delimiter=None, **unknown):
        if unknown:
            raise PipelineError(f"token-classification got unknown arguments {sorted(unknown)}; it accepts "
                                f"aggregation_strategy, ignore_labels, stride, is_split_into_words, delimiter, "
                                f"offset_mapping")
        preprocess = {}
        # only what this call sets, so that constructor settings survive calls that do not repeat them
        if is_split_into_words is not None:
            preprocess["is_split_into_words"] = bool(is_split_into_words)
        if delimiter is not None:
            preprocess["delimiter"] = delimiter
        if offset_mapping is not None:
            preprocess["offset_mapping"] = offset_mapping
        postprocess = {}
        if aggregation_strategy is not None:
            aggregation_strategy = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
            if aggregation_strategy not in STRATEGIES:
                raise PipelineError(f"aggregation_strategy must be one of {STRATEGIES}, got {aggregation_strategy!r}")
            if aggregation_strategy in WORD_STRATEGIES and not getattr(self.tokenizer, "is_fast", False):
                raise PipelineError(f'aggregation_strategy={aggregation_strategy!r} needs a fast tokenizer (word '
                                    f'boundaries); use "simple"')
            postprocess["aggregation_strategy"] = aggregation_strategy
        if ignore_labels is not None:
            postprocess["ignore_labels"] = list(ignore_labels)
        if stride is not None:
            max_length = getattr(self.tokenizer, "model_max_length", None)
            if not isinstance(stride, int) or stride < 0 or (max_length is not None and stride >= max_length):
                raise PipelineError(f"stride must be an int in [0, tokenizer.model_max_length={max_length}), "
                                    f"got {stride!r}")
            if aggregation_strategy == "none":
                raise PipelineError('stride runs long texts as windows and needs an aggregation_strategy other '
                                    'than "none" to merge them')
            preprocess["tokenizer_params"] = {"return_overflowing_tokens": True, "padding": True, "stride": stride}
        return preprocess, {}, postprocess

    def __call__(self, inputs=None, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and not inputs:
            raise PipelineError("token-classification needs at least one input, got an empty list")
        split = kwargs.get("is_split_into_words", self._preprocess_params.get("is_split_into_words"))
        if split and isinstance(inputs, (list, tuple)) and not all(isinstance(x, (list, tuple)) for x in inputs):
            # one pre-split sentence: the reference answers it as a batch of one
            return super().__call__([list(inputs)], *args, **kwargs)
        return super().__call__(inputs, *args, **kwargs)

    # ----- preprocess: one chunk per window ------------------------------------------------------------------
    def preprocess(self, sentence, is_split_into_words=False, delimiter=" ", offset_mapping=None,
                   tokenizer_params=None):
        tokenizer_params = dict(tokenizer_params or {})
        word_to_chars = None
        if is_split_into_words:
            if not isinstance(sentence, (list, tuple)) or not all(isinstance(w, str) for w in sentence):
                raise PipelineError(f"with is_split_into_words=True each input must be a list of str (words), "
                                    f"got {type(sentence).__name__}")
            words = list(sentence)
            sentence = delimiter.join(words)  # offsets are reported into this joined text
            word_to_chars, at = [], 0
            for word in words:
                word_to_chars.append((at, at + len(word)))
                at += len(word) + len(delimiter)
            text = words
            tokenizer_params["is_split_into_words"] = True
        else:
            if not isinstance(sentence, str):
                raise PipelineError(f"token-classification expects each input to be a str, "
                                    f"got {type(sentence).__name__}")
            text = sentence
        max_length = getattr(self.tokenizer, "model_max_length", None)
        is_fast = getattr(self.tokenizer, "is_fast", False)
        encoded = self.tokenizer(text, return_tensors="pt", truncation=bool(max_length and max_length > 0),
                                 return_special_tokens_mask=True, return_offsets_mapping=is_fast, **tokenizer_params)
        n_windows = len(encoded["input_ids"])
        for i in range(n_windows):
            chunk = {k: v[i : i + 1] for k, v in encoded.items() if k != "overflow_to_sample_mapping"}
            if offset_mapping is not None:
                chunk["offset_mapping"] = offset_mapping
            chunk["sentence"] = sentence
            if word_to_chars is not None:
                chunk["word_ids"] = encoded.word_ids(i)
                chunk["word_to_chars"] = word_to_chars
            yield chunk

    def _forward(self, model_inputs):
        return {"logits": self.model(**model_inputs)["logits"]}

    # ----- postprocess ---------------------------------------------------------------------------------------
    def postprocess(self, model_outputs, aggregation_strategy="none", ignore_labels=None):
        ignore_labels = ["O"] if ignore_labels is None else ignore_labels
        entities = []
        for out in model_outputs:
            scores = out["logits"][0].float().softmax(dim=-1).tolist()  # (seq, labels)
            tokens = self._gather_tokens(out, scores, aggregation_strategy)
            grouped = self._aggregate(tokens, aggregation_strategy)
            entities.extend(e for e in grouped
                            if e.get("entity") not in ignore_labels and e.get("entity_group") not in ignore_labels)
        if len(model_outputs) > 1:
            entities = self._merge_overlapping(entities)
        return entities

    def _offsets(self, out):
        given = out.get("offset_mapping")
        if given is None:
            return None
        if hasattr(given, "tolist"):
            return [tuple(pair) for pair in given[0].tolist()]
        # user-given offsets: a list of (start, end), or the reference's batch of such lists
        if given and isinstance(given[0], (list, tuple)) and given[0] and isinstance(given[0][0], (list, tuple)):
            given = given[0]
        return [tuple(pair) for pair in given]

    def _word_aware(self) -> bool:
        backend = getattr(self.tokenizer, "_tokenizer", None)
        return bool(backend is not None and getattr(getattr(backend, "model", None), "continuing_subword_prefix", None))

    def _gather_tokens(self, out, scores, strategy) -> list[dict]:
        """One dict per non-special token: word (the token string), scores, char start/end, index, is_subword."""
        sentence = out["sentence"]
        input_ids = out["input_ids"][0].tolist()
        special = out["special_tokens_mask"][0].tolist()
        offsets = self._offsets(out)
        word_ids, word_to_chars = out.get("word_ids"), out.get("word_to_chars")
        word_aware = self._word_aware()
        unk_id = getattr(self.tokenizer, "unk_token_id", None)
        tokens = []
        for idx, token_scores in enumerate(scores):
            if special[idx]:
                continue
            word = self.tokenizer.convert_ids_to_tokens(input_ids[idx])
            if offsets is not None:
                start, end = (int(x) for x in offsets[idx])
                if word_ids is not None and word_to_chars is not None and word_ids[idx] is not None:
                    # pre-split words: the offsets are inside each word; move them into the joined sentence
                    shift = word_to_chars[word_ids[idx]][0]
                    start, end = start + shift, end + shift
                text_piece = sentence[start:end]
                if word_aware:
                    # a "##ing" token is longer than its text "ing": that is how sub-words show themselves
                    is_subword = len(word) != len(text_piece)
                else:
                    if strategy in WORD_STRATEGIES:
                        warnings.warn("Tokenizer does not support real words, using fallback heuristic", UserWarning)
                    is_subword = start > 0 and " " not in sentence[start - 1 : start + 1]
                if input_ids[idx] == unk_id:
                    word, is_subword = text_piece, False
            else:
                start = end = None
                is_subword = False
            tokens.append({"word": word, "scores": token_scores, "start": start, "end": end, "index": idx,
                           "is_subword": is_subword})
        return tokens

    def _aggregate(self, tokens: list[dict], strategy: str) -> list[dict]:
        id2label = self.model.config.id2label
        if strategy in ("none", "simple"):
            entities = []
            for token in tokens:
                best = _argmax(token["scores"])
                entities.append({"entity": id2label[best], "score": token["scores"][best], "index": token["index"],
                                 "word": token["word"], "start": token["start"], "end": token["end"]})
        else:
            entities = self._aggregate_words(tokens, strategy)
        if strategy == "none":
            return entities
        return self._group_entities(entities)

    def _aggregate_words(self, tokens: list[dict], strategy: str) -> list[dict]:
        """Make the sub-tokens of each word agree on one label (word = a token plus its following sub-words)."""
        words, group = [], []
        for token in tokens:
            if group and not token["is_subword"]:
                words.append(self._aggregate_word(group, strategy))
                group = []
            group.append(token)
        if group:
            words.append(self._aggregate_word(group, strategy))
        return words

    def _aggregate_word(self, group: list[dict], strategy: str) -> dict:
        id2label = self.model.config.id2label
        if strategy == "first":
            scores = group[0]["scores"]
        elif strategy == "max":
            scores = max(group, key=lambda t: max(t["scores"]))["scores"]  # first most confident token wins ties
        else:  # average
            n = len(group)
            scores = [sum(t["scores"][k] for t in group) / n for k in range(len(group[0]["scores"]))]
        best = _argmax(scores)
        return {"entity": id2label[best], "score": scores[best],
                "word": self.tokenizer.convert_tokens_to_string([t["word"] for t in group]),
                "start": group[0]["start"], "end": group[-1]["end"]}

    def _group_entities(self, entities: list[dict]) -> list[dict]:
        """Fuse adjacent entities with the same tag; a B- tag starts a new group."""
        groups, current = [], []
        for entity in entities:
            if current:
                bi, tag = split_tag(entity["entity"])
                _, last_tag = split_tag(current[-1]["entity"])
                if not (tag == last_tag and bi != "B"):
                    groups.append(self._group(current))
                    current = []
            current.append(entity)
        if current:
            groups.append(self._group(current))
        return groups

    def _group(self, entities: list[dict]) -> dict:
        return {"entity_group": entities[0]["entity"].split("-", 1)[-1],
                "score": sum(e["score"] for e in entities) / len(entities),
                "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in entities]),
                "start": entities[0]["start"], "end": entities[-1]["end"]}

    @staticmethod
    def _merge_overlapping(entities: list[dict]) -> list[dict]:
        """Across stride windows: of entities whose spans overlap keep the longer one, then the better score."""
        if not entities:
            return entities
        entities = sorted(entities, key=lambda e: e["start"])
        merged, previous = [], entities[0]
        for entity in entities:
            if previous["start"] <= entity["start"] < previous["end"]:
                length, previous_length = entity["end"] - entity["start"], previous["end"] - previous["start"]
                if length > previous_length or (length == previous_length and entity["score"] > previous["score"]):
                    previous = entity
            else:
                merged.append(previous)
                previous = entity
        merged.append(previous)
        return merged


NerPipeline = TokenClassificationPipeline
