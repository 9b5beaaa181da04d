"""ChunkPipeline: a pipeline whose one input becomes several model calls (windows, label hypotheses).

Question answering splits a long context into overlapping windows, token classification with `stride`
splits a long text, zero-shot classification makes one premise/hypothesis pair per candidate label. As in
transformers' `ChunkPipeline`, `preprocess(item)` yields *chunks* (dicts holding model-input tensors with a
batch dimension of 1 plus any Python metadata), the chunks of a group of items are run through the model
`batch_size` at a time, and `postprocess` receives the list of per-chunk outputs of one item.

>>> class Windows(ChunkPipeline):                                   # doctest: +SKIP
...     def preprocess(self, text):
...         for window in split(text):
...             yield {**self.tokenizer(window, return_tensors="pt"), "window": window}
...     def _forward(self, model_inputs): return {"logits": self.model(**model_inputs)["logits"]}
...     def postprocess(self, chunks): return [c["window"] for c in chunks]
"""

from __future__ import annotations

import inspect

from snuggle.pipelines.base import Pipeline

# tensors from the tokenizer that the model consumes; everything else in a chunk is metadata for postprocess
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


class ChunkPipeline(Pipeline):
    """Base for pipelines where `preprocess` yields several chunks per input (see the module docstring)."""

    def _model_input_keys(self, chunk: dict) -> list[str]:
        # the tokenizer's model_input_names decide, as in the reference (RoBERTa tokenizers leave out token types)
        names = getattr(self.tokenizer, "model_input_names", None) or MODEL_INPUT_KEYS
        keys = [k for k in MODEL_INPUT_KEYS if k in chunk and k in names]
        # models without token types (DistilBERT) must not receive them
        if "token_type_ids" in keys and "token_type_ids" not in inspect.signature(self.model.forward).parameters:
            keys.remove("token_type_ids")
        return keys

    def _forward_chunks(self, chunks: list[dict], forward_params: dict) -> list[dict]:
        """Run `chunks` (all of the same item group) through the model in one padded batch and return one
        output dict per chunk: the chunk's own entries plus the model outputs cut back to its length."""
        import torch

        keys = self._model_input_keys(chunks[0])
        inputs = [{k: chunk[k] for k in keys} for chunk in chunks]
        lengths = [item["input_ids"].shape[1] for item in inputs]
        outputs = self.forward(self._collate(inputs), **forward_params)
        padded = max(lengths)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        results = []
        for i, (chunk, length) in enumerate(zip(chunks, lengths)):
            out = dict(chunk)
            for name, value in outputs.items():
                if not isinstance(value, torch.Tensor):
                    out[name] = value
                    continue
                row = value[i : i + 1]
                if row.dim() >= 2 and row.shape[1] == padded and length != padded:
                    # drop the batch padding so each chunk looks as if it had run alone
                    row = row[:, padded - length :] if left else row[:, :length]
                out[name] = row
            results.append(out)
        return results

    def _run_chunk(self, items, preprocess_params, forward_params, postprocess_params) -> list:
        per_item = [list(self.preprocess(x, **preprocess_params)) for x in items]
        flat = [chunk for chunks in per_item for chunk in chunks]
        step = max(1, len(items))  # the group holds `batch_size` items: run `batch_size` chunks at a time
        outputs = []
        for start in range(0, len(flat), step):
            outputs.extend(self._forward_chunks(flat[start : start + step], forward_params))
        results, at = [], 0
        for chunks in per_item:
            results.append(self.postprocess(outputs[at : at + len(chunks)], **postprocess_params))
            at += len(chunks)
        return results
