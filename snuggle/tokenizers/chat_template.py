"""Chat templates: render a conversation with the model's Jinja template, then tokenize it.

Templates run in Jinja2's `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`
with the `loopcontrols` extension and what transformers provides to templates: the
`raise_exception` and `strftime_now` globals, its own `tojson` filter (non-ASCII kept; `indent`,
`separators`, `sort_keys`), a `{% generation %}` block for assistant masks, and a `namespace`
that refuses underscore attributes. Tools may be JSON schemas or Python functions (see
`snuggle.tokenizers.tool_schema.get_json_schema`).

>>> msgs = [{"role": "user", "content": "Hi"}]
>>> render_chat([msgs], chat_template="{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}")[0]
['<user>Hi']
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from inspect import isfunction, ismethod
from typing import Any

from snuggle.errors import TokenizerError
from snuggle.tokenizers.tool_schema import get_json_schema

_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # Jinja's own tojson escapes HTML characters (<, >, &, '), which changes prompts.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


@lru_cache(maxsize=64)
def compile_chat_template(chat_template: str):
    """Compile a template once (cached by its text) in the sandboxed environment."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    import jinja2.utils
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTracker(jinja2.ext.Extension):
        """`{% generation %}...{% endgeneration %}` records where assistant text lands in the output."""

        tags = {"generation"}

        def __init__(self, environment):
            super().__init__(environment)
            environment.extend(activate_tracker=self.activate_tracker)
            self._tracking: ContextVar = ContextVar("generation_tracker", default=None)

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_generation", []), [], [], body).set_lineno(lineno)

        def _generation(self, caller):
            text = caller()
            tracking = self._tracking.get()
            if tracking is not None:
                blocks, spans = tracking
                start = len("".join(blocks))
                spans.append((start, start + len(text)))
            return text

        @contextmanager
        def activate_tracker(self, blocks: list, spans: list):
            token = self._tracking.set((blocks, spans))
            try:
                yield
            finally:
                self._tracking.reset(token)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    class TemplateDict:
        # `dict(...)` inside templates, without exposing the real type object
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class SafeNamespace(jinja2.utils.Namespace):
        # namespace(...) that refuses dunder/underscore attributes (a sandbox escape route)
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                SafeNamespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            SafeNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"chat templates cannot set underscore attributes ({name!r})")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = SafeNamespace
    try:
        return env.from_string(chat_template)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise TokenizerError(f"chat template has a syntax error at line {e.lineno}: {e.message}") from None


def _plain(value: Any) -> Any:
    """Rebuild inputs from plain JSON types: the sandbox cannot vet methods of arbitrary objects."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return _plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def normalize_messages(conversation: Any) -> list[dict]:
    """Messages as dicts, without keys whose value is None (templates print "None" otherwise)."""
    messages = getattr(conversation, "messages", conversation)
    out = []
    for message in messages:
        if dataclasses.is_dataclass(message) and not isinstance(message, type):
            message = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
        elif callable(getattr(message, "model_dump", None)):
            message = message.model_dump()
        if not isinstance(message, Mapping):
            raise TokenizerError(f"chat messages must be dicts like {{'role': ..., 'content': ...}}, got {message!r}")
        out.append({k: v for k, v in message.items() if v is not None})
    return out


def _alias_reasoning(chat: list[dict]) -> list[dict]:
    out = []
    for m in chat:
        reasoning = next((m[k] for k in _REASONING_FIELDS if m.get(k) is not None), None)
        if reasoning is not None:
            m = {"thinking": reasoning, **m, "reasoning_content": reasoning}
        out.append(m)
    return out


def tool_schemas(tools: list | None) -> list[dict] | None:
    """JSON schemas for tools given as schemas or as documented, type-hinted Python functions."""
    if tools is None:
        return None
    out = []
    for tool in tools:
        if isinstance(tool, dict):
            out.append(tool)
        elif isfunction(tool) or ismethod(tool):
            out.append(get_json_schema(tool))
        else:
            raise TokenizerError(f"tools must be JSON schema dicts or Python functions, got {type(tool).__name__}")
    return out


def select_chat_template(own: str | dict | None, chat_template: str | None = None, tools: list | None = None) -> str:
    """Pick the template text: an explicit template or template name, else the tokenizer's own
    (with several named templates: "tool_use" when tools are given, else "default")."""
    if isinstance(own, dict):
        if chat_template is not None and chat_template in own:
            return own[chat_template]
        if chat_template is None:
            if tools is not None and "tool_use" in own:
                return own["tool_use"]
            if "default" in own:
                return own["default"]
            raise TokenizerError(
                f"this tokenizer has several chat templates and no 'default'; pass chat_template= one of {sorted(own)}"
            )
        return chat_template
    if chat_template is not None:
        return chat_template
    if own is None:
        raise TokenizerError(
            "this tokenizer has no chat template (tokenizer_config.json 'chat_template' or chat_template.jinja); "
            "pass chat_template= or set tokenizer.chat_template"
        )
    return own


def render_chat(
    conversations: list,
    chat_template: str,
    tools: list | None = None,
    documents: list | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool | str = False,
    return_assistant_tokens_mask: bool = False,
    **template_kwargs: Any,
) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Render each conversation; returns (texts, assistant character spans per conversation)."""
    import jinja2

    compiled = compile_chat_template(chat_template)
    schemas = _plain(tool_schemas(tools))
    if documents is not None and not all(isinstance(d, dict) for d in documents):
        raise TokenizerError("documents must be a list of dicts, e.g. {'title': ..., 'text': ...}")
    documents = _plain(documents)
    template_kwargs = _plain(template_kwargs)
    rendered: list[str] = []
    all_spans: list[list[tuple[int, int]]] = []
    for conversation in conversations:
        chat = _alias_reasoning(_plain(normalize_messages(conversation)))
        final_text = None
        if continue_final_message:
            field = continue_final_message if isinstance(continue_final_message, str) else "content"
            final_text = chat[-1].get(field) if chat else None
            if final_text is None:
                raise TokenizerError(f"continue_final_message is set but the last message has no {field!r} to continue")
            fields = [f for f in _REASONING_FIELDS if chat[-1].get(f) == final_text] if field in _REASONING_FIELDS else [field]
            if not any(f in chat_template for f in fields):
                raise TokenizerError(f"continue_final_message={field!r} but the chat template never reads that field")
            if isinstance(final_text, (list, tuple)):
                for block in reversed(final_text):
                    if "text" in block:
                        final_text = block["text"]
                        block["text"] = block["text"] + _CONTINUE_TAG
                        break
                else:
                    raise TokenizerError("continue_final_message is set but the last message has no text block")
            else:
                for f in fields:
                    chat[-1][f] = chat[-1][f] + _CONTINUE_TAG
        context = dict(messages=chat, tools=schemas, documents=documents, add_generation_prompt=add_generation_prompt, **template_kwargs)
        try:
            if return_assistant_tokens_mask:
                blocks: list[str] = []
                spans: list[tuple[int, int]] = []
                with compiled.environment.activate_tracker(blocks, spans):
                    for block in compiled.generate(**context):
                        blocks.append(block)
                text = "".join(blocks)
                all_spans.append(spans)
            else:
                text = compiled.render(**context)
        except jinja2.exceptions.TemplateError as e:
            raise TokenizerError(f"chat template failed: {e}") from e
        if continue_final_message:
            tag = _CONTINUE_TAG.strip()
            if final_text.strip() not in text or tag not in text:
                raise TokenizerError(
                    "continue_final_message is set but the final message does not appear in the rendered chat; "
                    "the template must keep the message text"
                )
            at = text.rindex(tag)
            text = text[:at] if text[at : at + len(_CONTINUE_TAG)] == _CONTINUE_TAG else text[:at].rstrip()
        rendered.append(text)
    return rendered, all_spans


def apply_chat_template(
    tokenizer,
    conversation,
    tools: list | None = None,
    documents: list | None = None,
    chat_template: str | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool | str = False,
    tokenize: bool = True,
    padding=False,
    truncation: bool = False,
    max_length: int | None = None,
    return_tensors: str | None = None,
    return_dict: bool = True,
    return_assistant_tokens_mask: bool = False,
    tokenizer_kwargs: dict | None = None,
    sanitize_control_tokens: bool = False,
    **template_kwargs: Any,
):
    """Render a conversation (or a batch of them) with the chat template and tokenize it.

    The rendered text is tokenized with `add_special_tokens=False`: templates write BOS/EOS
    themselves, so adding them again would double them. Returns the text when
    `tokenize=False`, the BatchEncoding when `return_dict=True` (the transformers 5 default),
    else the input ids. The template sees `messages`, `tools`, `documents`,
    `add_generation_prompt`, the special tokens (`bos_token`, ...) and `template_kwargs`.

    >>> tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)   # doctest: +SKIP
    '<|im_start|>user\\nHi<|im_end|>\\n'
    """
    if sanitize_control_tokens:
        raise TokenizerError("sanitize_control_tokens=True is not supported yet; validate user strings before rendering")
    if not tokenize:
        return_dict = False
    if return_assistant_tokens_mask and not (return_dict and tokenize):
        raise TokenizerError("return_assistant_tokens_mask=True needs tokenize=True and return_dict=True")
    template = select_chat_template(tokenizer.chat_template, chat_template, tools)
    if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
        raise TokenizerError("cannot apply a chat template to an empty conversation")
    is_batched = isinstance(conversation, (list, tuple)) and (
        isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
    )
    conversations = list(conversation) if is_batched else [conversation]
    if continue_final_message and add_generation_prompt:
        raise TokenizerError("continue_final_message and add_generation_prompt cannot both be set")
    if continue_final_message and return_assistant_tokens_mask:
        raise TokenizerError("continue_final_message cannot be combined with return_assistant_tokens_mask")
    if return_assistant_tokens_mask and not re.search(r"\{%-?\s*generation\s*-?%\}", template):
        import logging

        logging.getLogger(__name__).warning("return_assistant_tokens_mask=True but the template has no {% generation %} block")
    context = {**tokenizer.special_tokens_map, **template_kwargs}
    rendered, spans = render_chat(
        conversations, template, tools=tools, documents=documents, add_generation_prompt=add_generation_prompt,
        continue_final_message=continue_final_message, return_assistant_tokens_mask=return_assistant_tokens_mask, **context,
    )
    text = rendered if is_batched else rendered[0]
    if not tokenize:
        return text
    out = tokenizer(
        text, padding=padding, truncation=truncation, max_length=max_length, add_special_tokens=False,
        return_tensors=return_tensors, **(tokenizer_kwargs or {}),
    )
    if not return_dict:
        return out["input_ids"]
    if return_assistant_tokens_mask:
        masks = []
        for i, encoding in enumerate(out.encodings):
            mask = [0] * len(encoding.ids)
            span_index = 0
            for t, (start, end) in enumerate(encoding.offsets):
                while span_index < len(spans[i]) and start >= spans[i][span_index][1]:
                    span_index += 1
                if span_index == len(spans[i]):
                    break
                if end > spans[i][span_index][0]:
                    mask[t] = 1
            masks.append(mask)
        out["assistant_masks"] = masks if (is_batched or return_tensors) else masks[0]
        if return_tensors:
            out.convert_to_tensors(return_tensors)
    return out
