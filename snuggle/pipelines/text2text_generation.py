"""text2text-generation, summarization and translation: seq2seq models (T5, ...) through `model.generate`.

transformers 5 dropped these three pipelines; they behave here as in transformers 4.x:
- the input text gets the model's prefix: `config.task_specific_params[task]["prefix"]` (T5's "summarize: ",
  "translate English to French: ") or `config.prefix`; the other entries of that task block (num_beams,
  max_length, no_repeat_ngram_size, ...) become generation defaults, below the user's keywords;
- a string -> `[{"generated_text": ...}]` (`summary_text`, `translation_text`); a list of strings -> one dict per
  string (a list of dicts per string with num_return_sequences > 1); `return_tensors=True` gives
  `*_token_ids` instead;
- unless the model's generation config says otherwise: 256 new tokens with 4 beams (a `max_length` given by the
  user or the task block replaces the 256-new-tokens default instead of being silently overridden by it).

>>> summarizer = pipeline("summarization", model="./t5-small")                  # doctest: +SKIP
>>> summarizer("An apple a day keeps the doctor away.", max_length=20)         # doctest: +SKIP
[{'summary_text': '...'}]
>>> pipeline("translation_en_to_fr", model="./t5-small")("How old are you?")    # doctest: +SKIP
[{'translation_text': '...'}]
"""

from __future__ import annotations

import copy
import enum
import logging

from snuggle.pipelines.base import Pipeline, PipelineError
from snuggle.pipelines.generation_kwargs import (
    TEXT2TEXT_GENERATION_DEFAULTS,
    WarnOnce,
    call_generate,
    check_generative_model,
    effective_param,
    resolve_generate_kwargs,
    split_sequences,
)

logger = logging.getLogger(__name__)


class ReturnType(enum.Enum):
    TENSORS = 0
    TEXT = 1


def _task_params(model, task: str) -> dict:
    """A copy of config.task_specific_params[task] (empty when the model has none for this task)."""
    params = getattr(getattr(model, "config", None), "task_specific_params", None) or {}
    if not isinstance(params, dict):
        return {}
    entry = params.get(task)
    return copy.deepcopy(entry) if isinstance(entry, dict) else {}


class Text2TextGenerationPipeline(Pipeline):
    """Generate an output text from an input text with an `AutoModelForSeq2SeqLM` model."""

    return_name = "generated"  # output keys are f"{return_name}_text" / f"{return_name}_token_ids"
    _default_generation_config = TEXT2TEXT_GENERATION_DEFAULTS

    def __init__(self, model, tokenizer=None, task: str = "", **kwargs):
        if tokenizer is None:
            raise PipelineError(f"{task or 'text2text-generation'} needs a tokenizer (pass tokenizer=... or a model "
                                f"folder that has one)")
        self._warn = WarnOnce(logger)
        task = self._resolve_task(model, task)
        check_generative_model(model, task or "text2text-generation", encoder_decoder=True)
        config = getattr(model, "config", None)
        self.prefix = getattr(config, "prefix", None)
        self.task_params = _task_params(model, task)
        if "prefix" in self.task_params:
            self.prefix = self.task_params.pop("prefix")
        super().__init__(model, tokenizer=tokenizer, task=task, **kwargs)

    def _resolve_task(self, model, task: str) -> str:
        return task

    # ----- parameters ------------------------------------------------------------------------------------
    def _sanitize_parameters(self, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, truncation=None, stop_sequence=None,
                             **generate_kwargs):
        preprocess = {}
        if truncation is not None:
            preprocess["truncation"] = truncation
        postprocess = {}
        if return_tensors is not None and return_type is None:
            return_type = ReturnType.TENSORS if return_tensors else ReturnType.TEXT
        if return_type is not None:
            postprocess["return_type"] = return_type
        if clean_up_tokenization_spaces is not None:
            postprocess["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if stop_sequence is not None:
            # as in the reference: generation stops at the stop sequence's first token
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if not ids:
                raise PipelineError(f"stop_sequence {stop_sequence!r} encodes to no tokens")
            if len(ids) > 1:
                self._warn(f"stop_sequence {stop_sequence!r} is {len(ids)} tokens long; generation stops at its "
                           f"first token ({ids[0]}) (pass stop_strings=[...] and tokenizer=... to stop on the text)")
            generate_kwargs["eos_token_id"] = ids[0]
        return preprocess, generate_kwargs, postprocess

    def __call__(self, inputs=None, *args, **kwargs):
        """Generate for one text or a list of texts; see the module docstring for the output shape."""
        result = super().__call__(inputs, *args, **kwargs)
        if (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)
                and all(len(records) == 1 for records in result)):
            return [records[0] for records in result]
        return result

    # ----- the three steps -----------------------------------------------------------------------------------
    def preprocess(self, inputs, truncation=False, **_unused):
        if not isinstance(inputs, str):
            raise PipelineError(f"{self.task or 'text2text-generation'} expects a str or a list of str, got "
                                f"{type(inputs).__name__}")
        encoded = self.tokenizer((self.prefix or "") + inputs, truncation=truncation, return_tensors="pt")
        # token_type_ids are produced by some tokenizers but are not a generate() argument
        return {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask")}

    def check_inputs(self, input_length: int, kwargs: dict, user_kwargs: dict) -> None:
        """Warn about length settings that cannot do what the user wants (overridden per task)."""

    def _forward(self, model_inputs, **generate_kwargs):
        in_batch, input_length = model_inputs["input_ids"].shape
        kwargs = resolve_generate_kwargs(self.model, generate_kwargs, self._default_generation_config,
                                         task_params=self.task_params,
                                         pad_token_id=getattr(self.tokenizer, "pad_token_id", None))
        self.check_inputs(input_length, kwargs, generate_kwargs)
        if "forced_bos_token_id" in model_inputs:  # the target language of multilingual translation tokenizers
            forced = model_inputs["forced_bos_token_id"]
            kwargs.setdefault("forced_bos_token_id", int(forced.flatten()[0]) if hasattr(forced, "flatten") else forced)
        output = call_generate(self.model, model_inputs["input_ids"], model_inputs.get("attention_mask"), **kwargs)
        sequences, _ = split_sequences(output, in_batch)
        return {"output_ids": sequences}

    def postprocess(self, model_outputs, return_type=ReturnType.TEXT, clean_up_tokenization_spaces=False):
        records = []
        for output_ids in model_outputs["output_ids"][0]:
            if return_type == ReturnType.TENSORS:
                records.append({f"{self.return_name}_token_ids": output_ids})
            else:
                text = self.tokenizer.decode(output_ids.tolist(), skip_special_tokens=True,
                                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
                records.append({f"{self.return_name}_text": text})
        return records


class SummarizationPipeline(Text2TextGenerationPipeline):
    """Summarize documents (T5 uses its "summarization" task block: prefix "summarize: " and its lengths)."""

    return_name = "summary"

    def check_inputs(self, input_length: int, kwargs: dict, user_kwargs: dict) -> None:
        min_length = effective_param(self.model, kwargs, "min_length", 0)
        max_length = effective_param(self.model, kwargs, "max_length", 20)
        max_new = effective_param(self.model, kwargs, "max_new_tokens")
        min_new = effective_param(self.model, kwargs, "min_new_tokens")
        if max_new is None and max_length < min_length:
            self._warn(f"summarization: min_length={min_length} is larger than max_length={max_length}; the "
                       f"summary stops at max_length")
        if max_new is not None and min_new is not None and max_new < min_new:
            self._warn(f"summarization: min_new_tokens={min_new} is larger than max_new_tokens={max_new}; the "
                       f"summary stops at max_new_tokens")
        # only lengths the user chose: the defaults are not their mistake
        if "max_new_tokens" in user_kwargs and max_new is not None and input_length < max_new:
            self._warn(f"summarization: max_new_tokens={max_new} but the input is only {input_length} tokens long; "
                       f"summaries are usually shorter, e.g. max_new_tokens={input_length // 2}")
        elif "max_length" in user_kwargs and max_new is None and input_length < max_length:
            self._warn(f"summarization: max_length={max_length} but the input is only {input_length} tokens long; "
                       f"summaries are usually shorter, e.g. max_length={input_length // 2}")


class TranslationPipeline(Text2TextGenerationPipeline):
    """Translate texts; built from `pipeline("translation_en_to_fr", ...)` it uses T5's matching task block."""

    return_name = "translation"

    def _resolve_task(self, model, task: str) -> str:
        if task == "translation":
            # as transformers 4.x: plain "translation" picks the model's first translation_xx_to_yy block
            params = getattr(getattr(model, "config", None), "task_specific_params", None) or {}
            for key in params:
                if key.startswith("translation"):
                    logger.warning('"translation" task was used instead of "translation_XX_to_YY"; using %r', key)
                    return key
        return task

    def _sanitize_parameters(self, src_lang=None, tgt_lang=None, **kwargs):
        preprocess, forward, postprocess = super()._sanitize_parameters(**kwargs)
        if src_lang is not None:
            preprocess["src_lang"] = src_lang
        if tgt_lang is not None:
            preprocess["tgt_lang"] = tgt_lang
        if src_lang is None and tgt_lang is None:
            parts = (getattr(self, "task", "") or "").split("_")
            if len(parts) == 4 and parts[2] == "to":  # translation_XX_to_YY
                preprocess["src_lang"], preprocess["tgt_lang"] = parts[1], parts[3]
        return preprocess, forward, postprocess

    def preprocess(self, inputs, truncation=False, src_lang=None, tgt_lang=None):
        build = getattr(self.tokenizer, "_build_translation_inputs", None)
        if callable(build):  # multilingual tokenizers (Marian, M2M100, NLLB) set language codes themselves
            if not isinstance(inputs, str):
                raise PipelineError(f"translation expects a str or a list of str, got {type(inputs).__name__}")
            encoded = build(inputs, return_tensors="pt", truncation=truncation, src_lang=src_lang, tgt_lang=tgt_lang)
            return {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "forced_bos_token_id")}
        return super().preprocess(inputs, truncation=truncation)

    def check_inputs(self, input_length: int, kwargs: dict, user_kwargs: dict) -> None:
        max_length = effective_param(self.model, kwargs, "max_length", 20)
        if effective_param(self.model, kwargs, "max_new_tokens") is None and input_length > 0.9 * max_length:
            self._warn(f"translation: the input is {input_length} tokens long, more than 0.9 * max_length "
                       f"({max_length}); the translation may be cut, raise max_length (e.g. max_length=400)")
