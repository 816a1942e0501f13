"""The ``json_process`` built-ins: parse, insert, replace and delete inside a JSON document.

Names, parameters and texts are Dify's, so imported workflows behave the same: the text
of a scalar result is Python's ``str`` of it (``True``, ``None``), as in Dify. Dify 1.x
writes ``json_string`` for ``content``, and Dify's fixtures call ``json_parse`` with no
filter (the whole document); both are accepted. Every tool also exposes its result as the
``result`` variable, typed (an object stays an object).
"""

from __future__ import annotations

import json
from typing import Any

from plait.tools.base import FunctionTool, StaticToolProvider, ToolEnvironment, ToolOutput
from plait.tools.builtin.jsonpath import JsonPath, JsonPathError, Match, create
from plait.tools.errors import ToolArgumentError

_CONTENT = {"type": "string", "description": "The JSON document, as text."}
_QUERY = {"type": "string", "description": "A JSONPath: $.a.b, $.a[0], $.a[*].b"}
_ENSURE_ASCII = {"type": "boolean", "default": True, "description": "Escape non-ASCII characters in the output."}
_VALUE_DECODE = {
    "type": "boolean",
    "default": True,
    "description": "Read the new value as JSON when it is valid JSON (else it is a string).",
}
_ALIASES = {"json_string": "content"}


def provider(environment: ToolEnvironment) -> StaticToolProvider:
    del environment  # pure functions: nothing from the outside
    return StaticToolProvider(
        "json_process",
        [
            FunctionTool(
                "json_parse",
                "Parse a JSON document and extract the values a JSONPath selects.",
                _schema(
                    {"content": _CONTENT, "json_filter": {**_QUERY, "description": "A JSONPath; the whole if empty."}},
                    ensure_ascii=True,
                ),
                json_parse,
                label="JSON Parse",
                aliases={**_ALIASES, "query": "json_filter"},
            ),
            FunctionTool(
                "json_insert",
                "Insert a value into a JSON document: merged into an object, added to an array, or set.",
                _schema(
                    {
                        "content": _CONTENT,
                        "query": _QUERY,
                        "new_value": {"type": "string", "description": "The value to insert (JSON or text)."},
                        "index": {"type": "integer", "description": "Where to insert into an array (default: append)."},
                        "create_path": {"type": "boolean", "default": False, "description": "Create a missing path."},
                        "value_decode": _VALUE_DECODE,
                    },
                    ensure_ascii=True,
                    required=("content", "query", "new_value"),
                ),
                json_insert,
                label="JSON Insert",
                aliases={**_ALIASES, "json_filter": "query"},
            ),
            FunctionTool(
                "json_replace",
                "Replace in a JSON document: a substring of text values (pattern), a key's name, or a value.",
                _schema(
                    {
                        "content": _CONTENT,
                        "query": _QUERY,
                        "replace_model": {"type": "string", "enum": ["pattern", "key", "value"], "default": "value"},
                        "replace_pattern": {"type": "string", "description": "The text to replace (pattern model)."},
                        "replace_value": {"type": "string", "description": "The replacement."},
                        "value_decode": {**_VALUE_DECODE, "default": False},
                    },
                    ensure_ascii=True,
                    required=("content", "query", "replace_value"),
                ),
                json_replace,
                label="JSON Replace",
                aliases={**_ALIASES, "json_filter": "query"},
            ),
            FunctionTool(
                "json_delete",
                "Delete the members or elements a JSONPath selects from a JSON document.",
                _schema({"content": _CONTENT, "query": _QUERY}, ensure_ascii=True, required=("content", "query")),
                json_delete,
                label="JSON Delete",
                aliases={**_ALIASES, "json_filter": "query"},
            ),
        ],
        label="JSON Process",
        description="Tools for parsing and editing JSON documents.",
    )


def json_parse(arguments: dict[str, Any]) -> ToolOutput:
    document = _document("json_parse", arguments)
    query = arguments.get("json_filter") or "$"
    values = [match.value for match in _find("json_parse", document, query, "json_filter")]
    result: Any = values[0] if len(values) == 1 else values
    if isinstance(result, dict | list):
        text = json.dumps(result, ensure_ascii=arguments["ensure_ascii"])
    else:
        text = str(result)
    return ToolOutput(text=text, json=_objects(result), variables={"result": result})


def json_insert(arguments: dict[str, Any]) -> ToolOutput:
    document = _document("json_insert", arguments)
    value = _value(arguments["new_value"], arguments["value_decode"])
    matches = _find("json_insert", document, arguments["query"], "query")
    if not matches and arguments["create_path"]:
        try:
            create(document, JsonPath.parse(arguments["query"]), value)
        except JsonPathError as error:
            raise ToolArgumentError(f"tool 'json_insert': {error}", parameter="query") from None
    for match in matches:
        if isinstance(match.value, dict):
            if not isinstance(value, dict):
                raise ToolArgumentError(
                    f"tool 'json_insert': {arguments['query']!r} selects an object; only an object can be merged in",
                    parameter="new_value",
                )
            match.value.update(value)
        elif isinstance(match.value, list):
            index = arguments.get("index")
            if index is None:
                match.value.append(value)
            else:
                match.value.insert(index, value)
        else:
            document = _set(document, match, value)
    return _edited(document, arguments)


def json_replace(arguments: dict[str, Any]) -> ToolOutput:
    document = _document("json_replace", arguments)
    model = arguments["replace_model"]
    replacement = arguments["replace_value"]
    for match in _find("json_replace", document, arguments["query"], "query"):
        if model == "pattern":
            pattern = arguments.get("replace_pattern")
            if not pattern:
                raise ToolArgumentError(
                    "tool 'json_replace': the pattern model needs replace_pattern", parameter="replace_pattern"
                )
            if isinstance(match.value, str):
                document = _set(document, match, match.value.replace(pattern, replacement))
        elif model == "key":
            if not isinstance(match.parent, dict) or not isinstance(match.key, str):
                raise ToolArgumentError(
                    f"tool 'json_replace': {arguments['query']!r} selects no object member to rename", parameter="query"
                )
            renamed = {(replacement if key == match.key else key): item for key, item in match.parent.items()}
            match.parent.clear()
            match.parent.update(renamed)
        else:
            document = _set(document, match, _value(replacement, arguments["value_decode"]))
    return _edited(document, arguments)


def json_delete(arguments: dict[str, Any]) -> ToolOutput:
    document = _document("json_delete", arguments)
    matches = _find("json_delete", document, arguments["query"], "query")
    if any(match.parent is None for match in matches):
        raise ToolArgumentError("tool 'json_delete': the whole document ('$') cannot be deleted", parameter="query")
    # Highest index first, so deleting one array element does not shift the next one.
    for match in sorted(matches, key=lambda found: found.key if isinstance(found.key, int) else -1, reverse=True):
        assert match.parent is not None
        assert match.key is not None
        if isinstance(match.parent, dict):
            match.parent.pop(str(match.key), None)
        elif isinstance(match.key, int):
            del match.parent[match.key]
    return _edited(document, arguments)


def _schema(
    properties: dict[str, Any], *, ensure_ascii: bool, required: tuple[str, ...] = ("content",)
) -> dict[str, Any]:
    if ensure_ascii:
        properties = {**properties, "ensure_ascii": _ENSURE_ASCII}
    return {"type": "object", "properties": properties, "required": list(required)}


def _document(tool: str, arguments: dict[str, Any]) -> Any:
    try:
        return json.loads(arguments["content"])
    except ValueError as error:
        raise ToolArgumentError(f"tool {tool!r}: the content is not valid JSON: {error}", parameter="content") from None


def _find(tool: str, document: Any, query: str, parameter: str) -> list[Match]:
    try:
        return JsonPath.parse(query).find(document)
    except JsonPathError as error:
        raise ToolArgumentError(f"tool {tool!r}: {parameter}: {error}", parameter=parameter) from None


def _value(text: str, decode: bool) -> Any:
    if not decode:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _set(document: Any, match: Match, value: Any) -> Any:
    """``document`` with the matched value replaced; the root itself is replaced by returning it."""
    if match.parent is None:
        return value
    if isinstance(match.parent, dict):
        match.parent[str(match.key)] = value
    elif isinstance(match.key, int):
        match.parent[match.key] = value
    return document


def _edited(document: Any, arguments: dict[str, Any]) -> ToolOutput:
    text = json.dumps(document, ensure_ascii=arguments["ensure_ascii"])
    return ToolOutput(text=text, json=_objects(document), variables={"result": document})


def _objects(value: Any) -> list[dict[str, Any]]:
    """Dify's ``json`` output is a list of objects: an object, or an array of only objects."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return list(value)
    return []
