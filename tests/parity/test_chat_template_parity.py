"""Parity: apply_chat_template against transformers for every template in the shared bundle.

Each real template renders conversations with system, user, assistant and tool messages,
with and without tools (JSON schemas and Python functions) and documents, with
add_generation_prompt and continue_final_message; the rendered text (or the error) must be the
reference's. Tokenized outputs (ids, dict, tensors, assistant masks) are compared too.
"""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest
import transformers
from transformers.utils import get_json_schema as ref_get_json_schema

from snuggle.tokenizers.pretrained import AutoTokenizer
from snuggle.tokenizers.tool_schema import get_json_schema
from tests.conftest import DATASETS

transformers.logging.set_verbosity_error()

TEMPLATE_DIR = DATASETS / "chat_templates"
TEMPLATES = sorted(p.name for p in TEMPLATE_DIR.glob("*.jinja"))


def get_current_weather(location: str, unit: str = "celsius") -> dict:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
        unit: The unit of temperature (choices: ["celsius", "fahrenheit"])

    Returns:
        The weather report.
    """
    return {}


def search_docs(query: str, top_k: int | None = None, tags: list[str] | None = None) -> list:
    """Search the documents.

    Args:
        query: What to look for
        top_k: How many hits to return
        tags: Only documents with
            one of these tags
    """
    return []


WEATHER_SCHEMA = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}

SIMPLE = [
    {"role": "user", "content": "Hello, how are you?"},
    {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
    {"role": "user", "content": "I'd like to show off how chat templating works! Ünïcödé 😀 <tags> & \"quotes\""},
]
WITH_SYSTEM = [{"role": "system", "content": "You are a friendly chatbot who always responds in the style of a pirate"}] + SIMPLE
TOOL_CALLING = [
    {"role": "system", "content": "You are a bot that responds to weather queries."},
    {"role": "user", "content": "Hey, what's the temperature in Paris right now?"},
    {
        "role": "assistant",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_current_weather", "arguments": {"location": "Paris, France", "unit": "celsius"}}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "name": "get_current_weather", "content": "22.0"},
    {"role": "assistant", "content": "It is 22 degrees in Paris."},
]
TOOL_CALLING_JSON_ARGS = [
    {**m, "tool_calls": [{**c, "function": {**c["function"], "arguments": json.dumps(c["function"]["arguments"])}} for c in m["tool_calls"]]}
    if "tool_calls" in m else m
    for m in TOOL_CALLING
]
DOCUMENTS = [
    {"title": "Tall penguins", "text": "Emperor penguins are the tallest."},
    {"title": "Penguin habitats", "text": "Emperor penguins only live in Antarctica."},
]

CASES = {
    "simple": dict(conversation=SIMPLE),
    "system": dict(conversation=WITH_SYSTEM),
    "system_gen": dict(conversation=WITH_SYSTEM, add_generation_prompt=True),
    "continue": dict(conversation=SIMPLE + [{"role": "assistant", "content": "Sure! Here is"}], continue_final_message=True),
    "tools_schema": dict(conversation=TOOL_CALLING, tools=[WEATHER_SCHEMA], add_generation_prompt=True),
    "tools_functions": dict(conversation=WITH_SYSTEM, tools=[get_current_weather, search_docs]),
    "documents": dict(conversation=SIMPLE, documents=DOCUMENTS, add_generation_prompt=True),
    "kwargs": dict(conversation=SIMPLE, date_string="26 Jul 2024", functions=[WEATHER_SCHEMA], custom="value"),
    "tools_simple": dict(conversation=SIMPLE, tools=[WEATHER_SCHEMA], add_generation_prompt=True),
    "tool_calls_json_args": dict(conversation=TOOL_CALLING_JSON_ARGS, tools=[get_current_weather], functions="[]", datetime="today"),
    "functions_string": dict(conversation=WITH_SYSTEM, functions=json.dumps([WEATHER_SCHEMA]), datetime="2024-07-26", add_generation_prompt=True),
}


@pytest.fixture(scope="module")
def tokenizers_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(DATASETS / "tokenizers" / "gpt2" / name, folder / name)
    return transformers.AutoTokenizer.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def _outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # the template's own raise_exception, or an unsupported case
        return ("error", type(e).__name__)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("template_name", TEMPLATES)
def test_rendering_matches_reference(tokenizers_pair, template_name, case):
    ref, ours = tokenizers_pair
    template = (TEMPLATE_DIR / template_name).read_text(encoding="utf-8")
    args = dict(CASES[case])
    conversation = args.pop("conversation")
    expected = _outcome(lambda: ref.apply_chat_template(conversation, chat_template=template, tokenize=False, **args))
    got = _outcome(lambda: ours.apply_chat_template(conversation, chat_template=template, tokenize=False, **args))
    if expected[0] == "error":
        assert got[0] == "error", (template_name, case, got)
    else:
        assert got == expected, (template_name, case)


@pytest.mark.parametrize("template_name", TEMPLATES)
def test_every_template_renders_some_case(tokenizers_pair, template_name):
    """Guards the comparison above against being vacuous: each template renders at least one case."""
    _, ours = tokenizers_pair
    template = (TEMPLATE_DIR / template_name).read_text(encoding="utf-8")
    rendered = []
    for args in CASES.values():
        args = dict(args)
        conversation = args.pop("conversation")
        outcome = _outcome(lambda: ours.apply_chat_template(conversation, chat_template=template, tokenize=False, **args))
        if outcome[0] == "ok":
            rendered.append(outcome[1])
    assert rendered and all("Hello, how are you?" in r or "weather" in r for r in rendered)


@pytest.mark.parametrize("template_name", ["Qwen-Qwen2.5-7B-Instruct.jinja", "meta-llama-Llama-3.1-8B-Instruct.jinja", "community-chatml.jinja"])
def test_tokenized_outputs_match(tokenizers_pair, template_name):
    ref, ours = tokenizers_pair
    template = (TEMPLATE_DIR / template_name).read_text(encoding="utf-8")
    batch = [SIMPLE, WITH_SYSTEM]
    for kwargs in ({}, {"return_dict": False}, {"add_generation_prompt": True, "return_dict": True},
                   {"return_tensors": "pt"}, {"truncation": True, "max_length": 20}):
        r = ref.apply_chat_template(SIMPLE, chat_template=template, **kwargs)
        o = ours.apply_chat_template(SIMPLE, chat_template=template, **kwargs)
        if isinstance(r, list):
            assert o == r, kwargs
        else:
            assert {k: v.tolist() if hasattr(v, "tolist") else v for k, v in r.items()} == {
                k: v.tolist() if hasattr(v, "tolist") else v for k, v in o.items()
            }, kwargs
    ref.pad_token = ours.pad_token = "<|endoftext|>"
    try:
        r = ref.apply_chat_template(batch, chat_template=template, padding=True, return_tensors="np")
        o = ours.apply_chat_template(batch, chat_template=template, padding=True, return_tensors="np")
    finally:
        ref.pad_token = ours.pad_token = None
    assert r["input_ids"].tolist() == o["input_ids"].tolist()
    assert r["attention_mask"].tolist() == o["attention_mask"].tolist()


def test_no_double_bos(tokenizers_pair):
    """The rendered text already has BOS; tokenizing must not add another one."""
    ref, ours = tokenizers_pair
    template = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    ids = ours.apply_chat_template(SIMPLE, chat_template=template, return_dict=False)
    assert ids == ref.apply_chat_template(SIMPLE, chat_template=template, return_dict=False)
    assert ids.count(ours.bos_token_id) == 1


def test_assistant_mask_matches(tokenizers_pair):
    ref, ours = tokenizers_pair
    template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' %}<|a|>{% generation %}{{ m['content'] }}<|end|>"
        "{% endgeneration %}\n{% else %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endif %}{% endfor %}"
    )
    for kwargs in ({}, {"return_tensors": "pt"}):
        r = ref.apply_chat_template(SIMPLE, chat_template=template, return_assistant_tokens_mask=True, **kwargs)
        o = ours.apply_chat_template(SIMPLE, chat_template=template, return_assistant_tokens_mask=True, **kwargs)
        assert o["assistant_masks"].tolist() if kwargs else o["assistant_masks"] == (
            r["assistant_masks"].tolist() if kwargs else r["assistant_masks"]
        )
        assert 1 in (o["assistant_masks"].tolist()[0] if kwargs else o["assistant_masks"])
    batch = [SIMPLE, WITH_SYSTEM]
    r = ref.apply_chat_template(batch, chat_template=template, return_assistant_tokens_mask=True)
    o = ours.apply_chat_template(batch, chat_template=template, return_assistant_tokens_mask=True)
    assert o["assistant_masks"] == r["assistant_masks"]


@pytest.mark.parametrize("fn", [get_current_weather, search_docs])
def test_get_json_schema_matches(fn):
    assert get_json_schema(fn) == ref_get_json_schema(fn)


def test_template_sandbox_filters_match(tokenizers_pair):
    ref, ours = tokenizers_pair
    template = (
        "{{ messages | tojson }}|{{ messages | tojson(indent=2) }}|{{ {'b': 1, 'a': '<&>'} | tojson(sort_keys=True) }}"
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}"
        "{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ dict(a=1) }}"
    )
    assert ours.apply_chat_template(SIMPLE, chat_template=template, tokenize=False) == ref.apply_chat_template(
        SIMPLE, chat_template=template, tokenize=False
    )
