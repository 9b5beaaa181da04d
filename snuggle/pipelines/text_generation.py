"""text-generation: continue a prompt, or answer a chat, with a causal LM (`model.generate` under the hood).

Inputs and outputs are those of the transformers 5 pipeline:
- a string -> `[{"generated_text": prompt + continuation}]` (`return_full_text=False`: the continuation only;
  `return_tensors=True`: `[{"generated_token_ids": [...]}]`); a list of strings -> a list of such lists;
- a chat (a list of `{"role", "content"}` dicts) -> `[{"generated_text": messages + [assistant reply]}]`; the chat
  is rendered with the tokenizer's chat template and `add_generation_prompt=True`, or, when it ends with an
  assistant message (or `continue_final_message=True`), that message is continued and extended in place;
  a list of chats -> a list of such lists.
Every other keyword goes to `generate` (max_new_tokens, do_sample, temperature, num_return_sequences, streamer,
generation_config, ...). Unless the model's generation_config.json says otherwise, the pipeline generates 256 new
tokens by sampling at temperature 0.7, as the reference does (pass do_sample=False for greedy decoding).

>>> generator = pipeline("text-generation", model="./smollm2")                          # doctest: +SKIP
>>> generator([{"role": "user", "content": "Hi"}], max_new_tokens=8, do_sample=False)   # doctest: +SKIP
[{'generated_text': [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello! How can I'}]}]

Batches (`batch_size=n`) are left-padded, so the tokenizer is switched to padding_side="left"; a tokenizer without
a pad token pads with eos (said once, at info level), where the reference refuses to batch.
"""

from __future__ import annotations

import enum
import logging
import types

from snuggle.pipelines.base import KeyDataset, Pipeline, PipelineError
from snuggle.pipelines.generation_kwargs import (
    TEXT_GENERATION_DEFAULTS,
    WarnOnce,
    call_generate,
    check_generative_model,
    context_length,
    effective_param,
    resolve_generate_kwargs,
    split_sequences,
)

logger = logging.getLogger(__name__)


class ReturnType(enum.Enum):
    TENSORS = 0
    NEW_TEXT = 1
    FULL_TEXT = 2


class Chat:
    """A list of messages travelling through the pipeline as one item (a list would read as a batch)."""

    def __init__(self, messages):
        for message in messages:
            if not _is_message(message):
                raise PipelineError("text-generation: every message of a chat must be a dict with 'role' and "
                                    f"'content' keys, got {message!r}")
        self.messages = list(messages)

    def __repr__(self) -> str:
        return f"Chat({self.messages!r})"


def _is_message(obj) -> bool:
    return isinstance(obj, dict) and "role" in obj and "content" in obj


def _reattach(first, rest):
    yield first
    yield from rest


def _as_chats(inputs):
    """Wrap chat-shaped inputs in Chat so the base class sees one item per conversation."""
    if isinstance(inputs, types.GeneratorType):
        try:
            first = next(inputs)
        except StopIteration:
            return iter(())
        if _is_message(first):
            return Chat([first, *inputs])
        if isinstance(first, (list, tuple)) and first and _is_message(first[0]):
            return (Chat(chat) for chat in _reattach(first, inputs))
        return _reattach(first, inputs)
    if isinstance(inputs, (list, tuple, KeyDataset)) and len(inputs) > 0:
        if _is_message(inputs[0]):
            return Chat(inputs)
        if isinstance(inputs[0], (list, tuple)) and all(chat and _is_message(chat[0]) for chat in inputs):
            return [Chat(chat) for chat in inputs]
    return inputs


class TextGenerationPipeline(Pipeline):
    """Generate text (or chat replies) with an `AutoModelForCausalLM` model; see the module docstring."""

    _default_generation_config = TEXT_GENERATION_DEFAULTS

    def __init__(self, model, tokenizer=None, **kwargs):
        self.prefix = getattr(getattr(model, "config", None), "prefix", None)
        self._warn = WarnOnce(logger)
        check_generative_model(model, "text-generation", encoder_decoder=False)
        if tokenizer is None:
            raise PipelineError("text-generation needs a tokenizer (pass tokenizer=... or a model folder that has one)")
        # decoder-only models continue the last position, so batches must be padded on the left
        if getattr(tokenizer, "padding_side", "left") == "right":
            tokenizer.padding_side = "left"
        super().__init__(model, tokenizer=tokenizer, **kwargs)
        if "prefix" not in self._preprocess_params and self.prefix:
            pre, fwd, _ = self._sanitize_parameters(prefix=self.prefix, **self._forward_params)
            self._preprocess_params = {**self._preprocess_params, **pre}
            self._forward_params = {**self._forward_params, **fwd}

    # ----- parameters ------------------------------------------------------------------------------------
    def _sanitize_parameters(self, return_full_text=None, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, prefix=None, handle_long_generation=None,
                             stop_sequence=None, truncation=None, max_length=None, continue_final_message=None,
                             skip_special_tokens=None, tokenizer_encode_kwargs=None, tools=None, documents=None,
                             **generate_kwargs):
        preprocess = {}
        add_special_tokens = False
        if "add_special_tokens" in generate_kwargs:
            add_special_tokens = preprocess["add_special_tokens"] = generate_kwargs.pop("add_special_tokens")
        if "padding" in generate_kwargs:
            preprocess["padding"] = generate_kwargs.pop("padding")
        if truncation is not None:
            preprocess["truncation"] = truncation
        if max_length is not None:
            # as in the reference, max_length bounds both the tokenized prompt and the generated total
            preprocess["max_length"] = max_length
            generate_kwargs["max_length"] = max_length
        if tools is not None:
            preprocess["tools"] = tools
        if documents is not None:
            preprocess["documents"] = documents
        if prefix is not None:
            preprocess["prefix"] = prefix
        if prefix:
            prefix_ids = self.tokenizer(prefix, padding=False, add_special_tokens=add_special_tokens)["input_ids"]
            generate_kwargs["prefix_length"] = len(prefix_ids)
        if handle_long_generation is not None:
            if handle_long_generation != "hole":
                raise PipelineError(f"handle_long_generation must be None or 'hole', got {handle_long_generation!r}")
            preprocess["handle_long_generation"] = handle_long_generation
        if continue_final_message is not None:
            preprocess["continue_final_message"] = continue_final_message
        if tokenizer_encode_kwargs is not None:
            preprocess["tokenizer_encode_kwargs"] = tokenizer_encode_kwargs
        preprocess.update(generate_kwargs)  # "hole" needs to know how many tokens will be generated

        if stop_sequence is not None:
            generate_kwargs["stop_strings"] = [stop_sequence] if isinstance(stop_sequence, str) else stop_sequence
            generate_kwargs["tokenizer"] = self.tokenizer
        forward = generate_kwargs

        postprocess = {}
        if tools is not None:
            postprocess["tools"] = tools
        if return_full_text is not None and return_type is None:
            if return_text is not None:
                raise PipelineError("`return_text` is mutually exclusive with `return_full_text`")
            if return_tensors is not None:
                raise PipelineError("`return_full_text` is mutually exclusive with `return_tensors`")
            return_type = ReturnType.FULL_TEXT if return_full_text else ReturnType.NEW_TEXT
        if return_tensors is not None and return_type is None:
            if return_text is not None:
                raise PipelineError("`return_text` is mutually exclusive with `return_tensors`")
            return_type = ReturnType.TENSORS
        if return_type is not None:
            postprocess["return_type"] = return_type
        if clean_up_tokenization_spaces is not None:
            postprocess["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if continue_final_message is not None:
            postprocess["continue_final_message"] = continue_final_message
        if skip_special_tokens is not None:
            postprocess["skip_special_tokens"] = skip_special_tokens
        return preprocess, forward, postprocess

    def __call__(self, text_inputs=None, *args, **kwargs):
        """Complete a prompt, a list of prompts, a chat or a list of chats (see the module docstring)."""
        return super().__call__(_as_chats(text_inputs), *args, **kwargs)

    # ----- batching ------------------------------------------------------------------------------------------
    def _pad_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is not None:
            return pad
        eos = effective_param(self.model, {}, "eos_token_id", getattr(self.tokenizer, "eos_token_id", None))
        eos = eos[0] if isinstance(eos, (list, tuple)) else eos
        if eos is None:
            raise PipelineError("text-generation cannot batch prompts: the tokenizer has no pad token and the model "
                                "no eos token; set tokenizer.pad_token")
        return eos

    def _pad_values(self) -> dict:
        values = super()._pad_values()
        values["input_ids"] = self._pad_id()
        return values

    # ----- the three steps -----------------------------------------------------------------------------------
    def preprocess(self, prompt_text, prefix="", handle_long_generation=None, add_special_tokens=None,
                   truncation=None, padding=None, max_length=None, continue_final_message=None,
                   tokenizer_encode_kwargs=None, tools=None, documents=None, **generate_kwargs):
        tokenizer_kwargs = {"add_special_tokens": add_special_tokens, "truncation": truncation, "padding": padding,
                            "max_length": max_length}
        tokenizer_kwargs = {k: v for k, v in tokenizer_kwargs.items() if v is not None}
        tokenizer_kwargs.update(tokenizer_encode_kwargs or {})
        context = context_length(self.model)
        if tokenizer_kwargs.get("truncation") and "max_length" not in tokenizer_kwargs and context is not None:
            # truncation asked without a length: the tokenizer's limit, never beyond the model's context
            limit = getattr(self.tokenizer, "model_max_length", None) or context
            tokenizer_kwargs["max_length"] = min(limit, context)

        if isinstance(prompt_text, Chat):
            tokenizer_kwargs.pop("add_special_tokens", None)  # chat templates write their own special tokens
            if continue_final_message is None:
                continue_final_message = prompt_text.messages[-1]["role"] == "assistant"
            if not getattr(self.tokenizer, "chat_template", None):
                raise PipelineError("text-generation got a chat, but the tokenizer has no chat_template; pass a "
                                    "string prompt or set tokenizer.chat_template")
            inputs = self.tokenizer.apply_chat_template(
                prompt_text.messages, add_generation_prompt=not continue_final_message,
                continue_final_message=continue_final_message, return_dict=True, return_tensors="pt",
                tools=tools, documents=documents, **tokenizer_kwargs)
        elif isinstance(prompt_text, str):
            inputs = self.tokenizer(prefix + prompt_text, return_tensors="pt", **tokenizer_kwargs)
        else:
            raise PipelineError(f"text-generation expects a str, a chat (list of {{'role', 'content'}} dicts) or a "
                                f"list of those, got {type(prompt_text).__name__}")
        inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        prompt_length = inputs["input_ids"].shape[-1]

        if handle_long_generation == "hole":
            inputs = self._cut_hole(inputs, generate_kwargs)
        elif context is not None and prompt_length > context:
            raise PipelineError(
                f"text-generation: the prompt is {prompt_length} tokens long but the model's context is {context} "
                f"tokens; shorten it, or pass truncation=True (keeps the first {context} tokens) or "
                f"handle_long_generation='hole' (keeps the last ones and leaves room for the new tokens)")
        if prompt_length == 0:
            # an empty prompt starts from BOS (generate(input_ids=None) in the reference)
            bos = getattr(self.tokenizer, "bos_token_id", None)
            bos = effective_param(self.model, {}, "bos_token_id", bos) if bos is None else bos
            if bos is None:
                raise PipelineError("text-generation got an empty prompt and the model has no bos_token_id to start "
                                    "from")
            import torch

            inputs = {"input_ids": torch.tensor([[bos]]), "attention_mask": torch.ones(1, 1, dtype=torch.long)}
        inputs["empty_prompt"] = prompt_length == 0
        inputs["prompt_text"] = prompt_text
        return inputs

    def _cut_hole(self, inputs: dict, generate_kwargs: dict) -> dict:
        """handle_long_generation="hole": keep the end of the prompt, leaving room for the new tokens."""
        current = inputs["input_ids"].shape[-1]
        kwargs = resolve_generate_kwargs(self.model, generate_kwargs, self._default_generation_config)
        new_tokens = effective_param(self.model, kwargs, "max_new_tokens")
        if new_tokens is None:
            new_tokens = effective_param(self.model, kwargs, "max_length", 20) - current
            if new_tokens < 0:
                raise PipelineError(f"handle_long_generation='hole': max_length is shorter than the prompt "
                                    f"({current} tokens), so the number of new tokens is unknown")
        limit = getattr(self.tokenizer, "model_max_length", None)
        context = context_length(self.model)
        if context is not None:
            limit = context if limit is None else min(limit, context)
        if limit is not None and current + new_tokens > limit:
            keep = limit - new_tokens
            if keep <= 0:
                raise PipelineError(f"handle_long_generation='hole': {new_tokens} new tokens do not fit in the "
                                    f"model's {limit}-token context")
            inputs = {k: v[:, -keep:] for k, v in inputs.items()}
        return inputs

    def _forward(self, model_inputs, prefix_length=0, **generate_kwargs):
        input_ids = model_inputs["input_ids"]
        attention_mask = model_inputs.get("attention_mask")
        prompt_text = model_inputs.pop("prompt_text")
        empty = model_inputs.get("empty_prompt", False)
        in_batch = input_ids.shape[0]
        kwargs = resolve_generate_kwargs(self.model, generate_kwargs, self._default_generation_config,
                                         pad_token_id=self._pad_id_for_generate())
        if prefix_length:  # a total length (not a number of new tokens) must include the prefix
            for length, new_tokens in (("max_length", "max_new_tokens"), ("min_length", "min_new_tokens")):
                total = effective_param(self.model, kwargs, length)
                if total is not None and effective_param(self.model, kwargs, new_tokens) is None:
                    kwargs[length] = total + prefix_length
        self._check_room(input_ids.shape[-1], kwargs)
        output = call_generate(self.model, input_ids, attention_mask, **kwargs)
        sequences, others = split_sequences(output, in_batch)
        return {"generated_sequence": sequences, "input_ids": input_ids, "prompt_text": prompt_text,
                "empty_prompt": empty if isinstance(empty, list) else [empty],
                **others}

    def _pad_id_for_generate(self):
        """The tokenizer's pad id; without one, eos (what generate would pick) stated once, not per call."""
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is None and not getattr(self, "_said_pad", False):
            self._said_pad = True
            logger.info("The tokenizer has no pad token: padding with eos_token_id for open-ended generation.")
        return pad

    def _check_room(self, prompt_length: int, kwargs: dict) -> None:
        context = context_length(self.model)
        if context is None:
            return
        new_tokens = effective_param(self.model, kwargs, "max_new_tokens")
        total = prompt_length + new_tokens if new_tokens is not None else effective_param(self.model, kwargs,
                                                                                          "max_length", 20)
        if total > context:
            self._warn(f"text-generation: prompt ({prompt_length} tokens) + new tokens can reach {total} tokens, "
                       f"beyond the model's {context}-token context; outputs past it are unreliable "
                       f"(pass handle_long_generation='hole' or fewer max_new_tokens)")

    def postprocess(self, model_outputs, return_type=ReturnType.FULL_TEXT, clean_up_tokenization_spaces=None,
                    continue_final_message=None, skip_special_tokens=None, tools=None):
        sequences = model_outputs["generated_sequence"][0].tolist()
        prompt_text = model_outputs["prompt_text"]
        prompt_length = model_outputs["input_ids"].shape[-1]
        empty = model_outputs["empty_prompt"]
        if (empty[0] if isinstance(empty, list) else empty):
            prompt_length = 0  # the BOS we started from is not part of the prompt
        extra = {k: v[0].tolist() for k, v in model_outputs.items()
                 if k not in ("generated_sequence", "input_ids") and hasattr(v, "shape")}
        skip_special_tokens = True if skip_special_tokens is None else skip_special_tokens
        records = []
        for index, sequence in enumerate(sequences):
            if return_type == ReturnType.TENSORS:
                records.append({"generated_token_ids": sequence})
                continue
            text = self.tokenizer.decode(sequence[prompt_length:], skip_special_tokens=skip_special_tokens,
                                         clean_up_tokenization_spaces=clean_up_tokenization_spaces)
            if return_type == ReturnType.FULL_TEXT:
                text = self._full_text(prompt_text, text, continue_final_message)
            record = {"generated_text": text}
            for key, values in extra.items():
                record[key] = values[index]
            records.append(record)
        return records

    @staticmethod
    def _full_text(prompt_text, new_text: str, continue_final_message):
        if isinstance(prompt_text, str):
            return prompt_text + new_text
        messages = list(prompt_text.messages)
        if continue_final_message is None:
            continue_final_message = messages[-1]["role"] == "assistant"
        if continue_final_message:  # a prefilled reply is extended in place
            last = messages[-1]
            return messages[:-1] + [{"role": last["role"], "content": last["content"] + new_text}]
        return messages + [{"role": "assistant", "content": new_text}]
