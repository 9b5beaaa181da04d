"""Unit tests of chat template rendering, template selection and tool schemas."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal, Optional

import pytest

from snuggle.errors import TokenizerError
from snuggle.tokenizers.chat_template import render_chat, select_chat_template
from snuggle.tokenizers.pretrained import AutoTokenizer
from snuggle.tokenizers.tool_schema import ToolSchemaError, get_json_schema
from tests.tokenizers.test_pretrained import ID, tiny_tokenizer_json

CHAT = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "the cat"}]


def render(template, conversation=CHAT, **kwargs):
    return render_chat([conversation], template, **kwargs)[0][0]


def test_trim_and_lstrip_blocks():
    template = "{% for m in messages %}\n    {% if m.role == 'user' %}\nU:{{ m.content }}\n    {% endif %}\n{% endfor %}"
    assert render(template) == "U:hello\n"


def test_globals_and_filters():
    assert render("{{ {'k': 'ü<&>'} | tojson }}") == '{"k": "ü<&>"}'  # no ASCII or HTML escaping
    assert render("{{ [1, 2] | tojson(indent=1) }}") == "[\n 1,\n 2\n]"
    assert render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=True, separators=(',', ':')) }}") == '{"a":2,"b":1}'
    assert render("{{ strftime_now('%Y') }}") == str(datetime.now().year)
    assert render("{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}{{ m.content }}{% endfor %}") == "the cat"
    assert render("{{ add_generation_prompt }}", add_generation_prompt=True) == "True"
    assert render("{{ custom }}-{{ tools | length }}", custom="x", tools=[{"type": "function", "function": {}}]) == "x-1"
    with pytest.raises(TokenizerError, match="roles must alternate"):
        render("{{ raise_exception('roles must alternate') }}")


def test_sandbox_refuses_escapes():
    with pytest.raises(TokenizerError):
        render("{% set ns = namespace(_secret=1) %}")
    with pytest.raises(Exception):
        render("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TokenizerError, match="syntax error"):
        render("{% for %}")


def test_continue_final_message():
    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}"
    prefill = CHAT + [{"role": "assistant", "content": "It is "}]
    text = render_chat([prefill], template, continue_final_message=True)[0][0]
    assert text.endswith("<assistant>It is ") and not text.endswith("</s>")


def test_none_values_are_dropped():
    template = "{% for m in messages %}{{ m.content }}{% if m.tool_calls is defined %}!{% endif %}{% endfor %}"
    assert render(template, [{"role": "user", "content": "a", "tool_calls": None}]) == "a"


def test_template_selection():
    named = {"default": "D", "tool_use": "T"}
    assert select_chat_template(named) == "D"
    assert select_chat_template(named, tools=[{}]) == "T"
    assert select_chat_template(named, "tool_use") == "T"
    assert select_chat_template("own", "explicit {{ x }}") == "explicit {{ x }}"
    with pytest.raises(TokenizerError, match="no chat template"):
        select_chat_template(None)
    with pytest.raises(TokenizerError, match="several chat templates"):
        select_chat_template({"a": "A", "b": "B"})


@pytest.fixture
def tok(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps(tiny_tokenizer_json()))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "chat_template": [{"name": "default", "template": "{{ cls_token }}{% for m in messages %} {{ m.content }}{% endfor %}"},
                          {"name": "tool_use", "template": "TOOLS {{ tools[0].function.name }}"}],
    }))
    return AutoTokenizer.from_pretrained(tmp_path)


def test_tokenized_without_double_special_tokens(tok):
    # the post-processor would add [CLS] ... [SEP]; the template already wrote [CLS]
    ids = tok.apply_chat_template(CHAT, return_dict=False)
    assert ids == [ID["[CLS]"], ID["hello"], ID["the"], ID["cat"]]
    out = tok.apply_chat_template([CHAT, CHAT[:1]], padding=True, return_tensors="pt")
    assert out["input_ids"].shape == (2, 4) and out["attention_mask"][1].tolist() == [1, 1, 0, 0]
    assert tok.apply_chat_template(CHAT, tokenize=False) == "[CLS] hello the cat"


def test_named_templates_from_config_and_tools(tok):
    def lookup(city: str) -> str:
        """Look a city up.

        Args:
            city: The city name
        """
        return city

    assert tok.apply_chat_template(CHAT, tools=[lookup], tokenize=False) == "TOOLS lookup"
    assert tok.get_chat_template() == tok.chat_template["default"]
    with pytest.raises(TokenizerError, match="empty conversation"):
        tok.apply_chat_template([])
    with pytest.raises(TokenizerError, match="cannot both"):
        tok.apply_chat_template(CHAT, add_generation_prompt=True, continue_final_message=True)


def test_chat_template_file_wins(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps(tiny_tokenizer_json()))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "from config"}))
    (tmp_path / "chat_template.jinja").write_text("from file")
    assert AutoTokenizer.from_pretrained(tmp_path).chat_template == "from file"


def test_get_json_schema():
    def pick(kind: str, count: int, ratio: float = 0.5, tag: Optional[str] = None, mode: Literal["a", "b"] = "a") -> list[int]:
        """Pick things.

        Args:
            kind: Which kind (choices: ["x", "y"])
            count: How many
                to pick
            ratio: A ratio
            tag: Optional tag
            mode: The mode

        Returns:
            The picked ids.
        """
        return []

    schema = get_json_schema(pick)
    assert schema["type"] == "function"
    fn = schema["function"]
    assert fn["name"] == "pick" and fn["description"] == "Pick things."
    props = fn["parameters"]["properties"]
    assert props["kind"] == {"type": "string", "enum": ["x", "y"], "description": "Which kind"}
    assert props["count"] == {"type": "integer", "description": "How many to pick"}
    assert props["tag"] == {"type": "string", "nullable": True, "description": "Optional tag"}
    assert props["mode"]["enum"] == ["a", "b"]
    assert fn["parameters"]["required"] == ["kind", "count"]
    assert fn["return"] == {"type": "array", "items": {"type": "integer"}, "description": "The picked ids."}

    def undocumented(x: int):
        return x

    def unhinted(x):
        """Doc.

        Args:
            x: thing
        """

    with pytest.raises(ToolSchemaError, match="no docstring"):
        get_json_schema(undocumented)
    with pytest.raises(ToolSchemaError, match="no type hint"):
        get_json_schema(unhinted)
