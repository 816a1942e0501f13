"""The JSONPath subset and the json_process built-ins, with Dify's texts and parameter names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plait.tools import StaticToolProvider, ToolArgumentError, ToolEnvironment
from plait.tools.builtin import json_process
from plait.tools.builtin.jsonpath import JsonPath, JsonPathError, create

DOCUMENT: dict[str, Any] = {
    "store": {
        "name": "corner",
        "books": [
            {"title": "Dune", "price": 9, "tags": ["sf"]},
            {"title": "Emma", "price": 5},
            {"title": "Ulysses", "price": 12},
        ],
        "odd key": {"x": 1},
    },
    "open": True,
}


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("$", [DOCUMENT]),
        ("$.store.name", ["corner"]),
        ("store.name", ["corner"]),
        ("$.store.books[0].title", ["Dune"]),
        ("$.store.books[-1].title", ["Ulysses"]),
        ("$.store.books[*].price", [9, 5, 12]),
        ("$['store']['odd key'].x", [1]),
        ('$["store"].books[1]["title"]', ["Emma"]),
        ("$.store.books[*].tags[0]", ["sf"]),
        ("$.open", [True]),
        ("$.*", [DOCUMENT["store"], True]),
        ("$.store.missing", []),
        ("$.store.books[7]", []),
        ("$.store.name.deeper", []),
    ],
)
def test_jsonpath_finds(path: str, values: list[Any]) -> None:
    assert [match.value for match in JsonPath.parse(path).find(DOCUMENT)] == values


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("$..price", "recursive descent"),
        ("$.books[?(@.price > 5)]", "filters"),
        ("$.books[0:2]", "slices"),
        ("$.books[0,1]", "unions"),
        ("$.books[", "never closed"),
        ("$.books[x]", "is not an index"),
        ("$.", "member name is missing"),
        ("$a", "unexpected 'a'"),
        ("$['open", "unterminated"),
        ("", "empty"),
    ],
)
def test_jsonpath_refuses_what_it_does_not_support(path: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        JsonPath.parse(path)


def test_create_makes_the_missing_containers() -> None:
    document: dict[str, Any] = {"a": {}}
    create(document, JsonPath.parse("$.a.b[0].c"), 1)
    assert document == {"a": {"b": [{"c": 1}]}}
    with pytest.raises(JsonPathError, match="wildcard"):
        create(document, JsonPath.parse("$.a[*].c"), 1)


@pytest.fixture
def provider() -> StaticToolProvider:
    return json_process.provider(ToolEnvironment())


async def run(provider: StaticToolProvider, tool: str, **arguments: Any) -> Any:
    return await provider.tool(tool).invoke(arguments)


async def test_parse_extracts_with_dify_s_texts(provider: StaticToolProvider) -> None:
    content = json.dumps(DOCUMENT)
    one = await run(provider, "json_parse", content=content, json_filter="$.store.books[1]")
    assert one.text == '{"title": "Emma", "price": 5}'
    assert one.json == [{"title": "Emma", "price": 5}]
    many = await run(provider, "json_parse", content=content, json_filter="$.store.books[*].price")
    assert (many.text, many.variables["result"], many.json) == ("[9, 5, 12]", [9, 5, 12], [])
    # A scalar's text is Python's str of it, as Dify writes it.
    assert (await run(provider, "json_parse", content=content, json_filter="$.open")).text == "True"
    unicode = await run(provider, "json_parse", content='{"city": "Zürich"}', json_filter="$", ensure_ascii=False)
    assert unicode.text == '{"city": "Zürich"}'


async def test_parse_takes_dify_1_x_s_json_string_and_no_filter(provider: StaticToolProvider) -> None:
    # As http_request_with_json_tool_workflow.yml calls it: the body as json_string, no filter.
    output = await run(provider, "json_parse", json_string='{"key": "value", "number": 42}')
    assert output.variables == {"result": {"key": "value", "number": 42}}
    assert output.json == [{"key": "value", "number": 42}]


async def test_parse_refuses_what_is_not_json(provider: StaticToolProvider) -> None:
    with pytest.raises(ToolArgumentError, match="the content is not valid JSON") as raised:
        await run(provider, "json_parse", content="{nope")
    assert raised.value.parameter == "content"
    with pytest.raises(ToolArgumentError, match="recursive descent") as raised:
        await run(provider, "json_parse", content="{}", json_filter="$..a")
    assert raised.value.parameter == "json_filter"


async def test_insert(provider: StaticToolProvider) -> None:
    content = '{"a": {"x": 1}, "list": [1, 2], "n": 0}'
    merged = await run(provider, "json_insert", content=content, query="$.a", new_value='{"y": 2}')
    assert merged.variables["result"]["a"] == {"x": 1, "y": 2}
    appended = await run(provider, "json_insert", content=content, query="$.list", new_value="3")
    assert appended.variables["result"]["list"] == [1, 2, 3]
    inserted = await run(provider, "json_insert", content=content, query="$.list", new_value="0", index="0")
    assert inserted.variables["result"]["list"] == [0, 1, 2]
    replaced = await run(provider, "json_insert", content=content, query="$.n", new_value="text")
    assert replaced.variables["result"]["n"] == "text"
    created = await run(provider, "json_insert", content=content, query="$.b.c", new_value="1", create_path=True)
    assert created.text == '{"a": {"x": 1}, "list": [1, 2], "n": 0, "b": {"c": 1}}'
    untouched = await run(provider, "json_insert", content=content, query="$.b.c", new_value="1")
    assert untouched.variables["result"] == json.loads(content)
    with pytest.raises(ToolArgumentError, match="only an object can be merged"):
        await run(provider, "json_insert", content=content, query="$.a", new_value="5")


async def test_replace(provider: StaticToolProvider) -> None:
    content = '{"user": {"name": "Ada Byron", "age": 36}, "tags": ["x-a", "x-b"]}'
    value = await run(provider, "json_replace", content=content, query="$.user.age", replace_value="37")
    assert value.variables["result"]["user"]["age"] == "37"
    decoded = await run(
        provider, "json_replace", content=content, query="$.user.age", replace_value="37", value_decode=True
    )
    assert decoded.variables["result"]["user"]["age"] == 37
    pattern = await run(
        provider,
        "json_replace",
        content=content,
        query="$.tags[*]",
        replace_model="pattern",
        replace_pattern="x-",
        replace_value="y-",
    )
    assert pattern.variables["result"]["tags"] == ["y-a", "y-b"]
    key = await run(
        provider, "json_replace", content=content, query="$.user.name", replace_model="key", replace_value="full_name"
    )
    assert key.text == '{"user": {"full_name": "Ada Byron", "age": 36}, "tags": ["x-a", "x-b"]}'
    with pytest.raises(ToolArgumentError, match="must be one of"):
        await run(provider, "json_replace", content=content, query="$.user", replace_model="regex", replace_value="")


async def test_delete(provider: StaticToolProvider) -> None:
    content = '{"a": 1, "b": {"c": 2, "d": 3}, "list": [0, 1, 2, 3]}'
    deleted = await run(provider, "json_delete", content=content, query="b.c")
    assert deleted.text == '{"a": 1, "b": {"d": 3}, "list": [0, 1, 2, 3]}'
    every = await run(provider, "json_delete", content=content, query="$.list[*]")
    assert every.variables["result"]["list"] == []
    last = await run(provider, "json_delete", content=content, query="$.list[-1]")
    assert last.variables["result"]["list"] == [0, 1, 2]
    with pytest.raises(ToolArgumentError, match="whole document"):
        await run(provider, "json_delete", content=content, query="$")
