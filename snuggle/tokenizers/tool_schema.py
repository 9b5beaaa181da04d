"""JSON schemas for tools, built from a Python function's type hints and Google-style docstring.

Chat templates that support tool calling expect each tool as
`{"type": "function", "function": {"name", "description", "parameters": {...}}}`;
`get_json_schema(fn)` writes that from the function, as transformers' helper of the same name.

>>> def multiply(x: float, y: float = 2.0):
...     '''Multiply two numbers.
...
...     Args:
...         x: The first number
...         y: The second number
...     '''
>>> get_json_schema(multiply)["function"]["parameters"]["required"]
['x']
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
from typing import Any, Callable, Literal, Union, get_args, get_origin, get_type_hints

from snuggle.errors import TokenizerError

_JSON_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}
_BASIC = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"}, bool: {"type": "boolean"},
          type(None): {"type": "null"}, list: {"type": "array"}, tuple: {"type": "array"}, dict: {"type": "object"}, Any: {}}

_DESCRIPTION = re.compile(r"^(.*?)[\n\s]*(Args:|Returns:|Raises:|\Z)", re.DOTALL)
_ARGS_BLOCK = re.compile(r"\n\s*Args:\n(.*?)[\n\s]*(Returns:|Raises:|\Z)", re.DOTALL)
# one "name (type): description" entry; the description runs until the next entry at the same indent
_ARG_ENTRY = re.compile(
    r"(?:^|\n)([ \t]*)(\w+)(?:[ \t]*\([^()\n]*\))?:\s*(.*?)\s*(?=\n(?!\1[ \t])[ \t]*\w+(?:[ \t]*\([^()\n]*\))?:|\Z)",
    re.DOTALL,
)
_RETURNS_BLOCK = re.compile(r"\n\s*Returns:\n\s*(.*?)[\n\s]*(Raises:|\Z)", re.DOTALL)
_CHOICES = re.compile(r"\(choices:\s*(.*?)\)\s*$", re.IGNORECASE)


class ToolSchemaError(TokenizerError):
    """A function cannot be described as a tool (missing docstring, argument docs or type hints)."""


def _enum_schema(values: list) -> dict:
    kinds = list(dict.fromkeys(_JSON_SCALARS[type(v)] for v in values))
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}


def type_hint_schema(hint: Any) -> dict:
    """The JSON schema of one type hint: int -> {"type": "integer"}, list[str] -> array of strings, ..."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is None and isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint]
        if not values or any(type(v) not in _JSON_SCALARS for v in values):
            raise ToolSchemaError(f"Enum {hint.__name__} needs members with JSON scalar values")
        return _enum_schema(values)
    if origin is None:
        if hint in _BASIC:
            return dict(_BASIC[hint])
        raise ToolSchemaError(
            f"cannot turn the type hint {hint!r} into a JSON schema; use int, float, str, bool, Enum, Literal, "
            "list, tuple, dict or unions of those, or pass a hand-written schema"
        )
    if origin is Union or origin is types.UnionType:
        subs = [type_hint_schema(a) for a in args if a is not type(None)]
        if len(subs) == 1:
            out = subs[0]
        elif all(s.keys() == {"type"} and isinstance(s["type"], str) for s in subs):
            names = sorted({s["type"] for s in subs})
            out = {"type": names[0] if len(names) == 1 else names}
        else:
            out = {"anyOf": subs}
        if type(None) in args:
            out["nullable"] = True
        return out
    if origin is Literal and args:
        if any(type(a) not in _JSON_SCALARS for a in args):
            raise ToolSchemaError("typing.Literal may only list int, float, str, bool or None values")
        return _enum_schema(list(args))
    if origin is list:
        return {"type": "array", "items": type_hint_schema(args[0])} if args else {"type": "array"}
    if origin is tuple:
        if not args:
            return {"type": "array"}
        if len(args) == 1 or ... in args:
            raise ToolSchemaError(f"tuple hint {hint!r}: use list[...] for variable length, or 2+ fixed element types")
        return {"type": "array", "prefixItems": [type_hint_schema(a) for a in args]}
    if origin is dict:
        out = {"type": "object"}
        if len(args) == 2:
            out["additionalProperties"] = type_hint_schema(args[1])
        return out
    raise ToolSchemaError(f"cannot turn the type hint {hint!r} into a JSON schema")


def parse_google_docstring(doc: str) -> tuple[str | None, dict[str, str], str | None]:
    """(description, {arg: description}, returns description) of a Google-style docstring."""
    description = _DESCRIPTION.search(doc)
    args_block = _ARGS_BLOCK.search(doc)
    returns = _RETURNS_BLOCK.search(doc)
    args: dict[str, str] = {}
    if args_block:
        block = "\n".join(line for line in args_block.group(1).split("\n") if line.strip())
        for _, name, text in _ARG_ENTRY.findall(block):
            args[name] = re.sub(r"\s*\n+\s*", " ", text.strip())
    return (
        description.group(1).strip() if description else None,
        args,
        returns.group(1).strip() if returns else None,
    )


def get_json_schema(func: Callable) -> dict:
    """The tool schema of `func` from its type hints and Google-style docstring (see module doc)."""
    name = getattr(func, "__name__", "operation")
    doc = inspect.getdoc(func)
    if not doc:
        raise ToolSchemaError(f"cannot describe {name} as a tool: it has no docstring")
    description, arg_docs, returns_doc = parse_google_docstring(doc.strip())
    hints = get_type_hints(func)
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    implicit = params[0].name if params and params[0].name in ("self", "cls") and params[0].annotation is inspect.Parameter.empty else None
    required = []
    for p in params:
        if p.name == implicit:
            continue
        if p.annotation is inspect.Parameter.empty:
            raise ToolSchemaError(f"argument {p.name} of {name} has no type hint")
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
    properties: dict[str, dict] = {}
    return_schema = None
    for arg, hint in hints.items():
        if arg == implicit:
            continue
        if arg == "return":
            try:
                return_schema = type_hint_schema(hint)
            except ToolSchemaError:
                pass  # the model never produces the return value; an odd return hint is harmless
            continue
        properties[arg] = type_hint_schema(hint)
    for arg, schema in properties.items():
        if arg not in arg_docs:
            raise ToolSchemaError(f"the docstring of {name} has no description for argument {arg!r} (Args: section)")
        text = arg_docs[arg]
        choices = _CHOICES.search(text)
        if choices:
            schema["enum"] = [c.strip() if isinstance(c, str) else c for c in json.loads(choices.group(1))]
            text = text[: choices.start()].strip()
        schema["description"] = text
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    out: dict[str, Any] = {"name": name, "description": description, "parameters": parameters}
    if return_schema is not None:
        if returns_doc is not None:
            return_schema["description"] = returns_doc
        out["return"] = return_schema
    return {"type": "function", "function": out}
