"""The one-exit rule: only ``plait.egress`` may open an HTTP client or a socket.

An SSRF guard at one exit is only worth something if there is no other exit: Dify's
2026 bypasses were all new fetch paths that skipped its proxy. Nothing is allow-listed;
a module that needs the network asks ``plait.egress`` for it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "plait"
EGRESS = SRC / "egress"

FORBIDDEN_MODULES = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "aiohttp",
    "requests",
    "urllib3",
    "urllib.request",
    "http.client",
)
FORBIDDEN_FROM_IMPORTS = {
    ("urllib", "request"),
    ("http", "client"),
    ("socket", "create_connection"),
    ("socket", "socket"),
}
FORBIDDEN_CALLS = {("socket", "create_connection"), ("socket", "socket")}


def _is_forbidden_module(name: str) -> bool:
    return any(name == module or name.startswith(module + ".") for module in FORBIDDEN_MODULES)


def violations(source: str) -> list[str]:
    """Each way ``source`` reaches the network on its own, as ``line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {alias.name}" for alias in node.names if _is_forbidden_module(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _is_forbidden_module(node.module):
                found.append(f"{node.lineno}: from {node.module} import ...")
            found += [
                f"{node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if (node.module, alias.name) in FORBIDDEN_FROM_IMPORTS
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in FORBIDDEN_CALLS
        ):
            found.append(f"{node.lineno}: {node.func.value.id}.{node.func.attr}()")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("__import__",):
            names = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
            found += [f"{node.lineno}: __import__({name!r})" for name in names if _is_forbidden_module(name)]
    return found


def test_no_module_outside_egress_opens_the_network() -> None:
    files = [path for path in sorted(SRC.rglob("*.py")) if EGRESS not in path.parents]
    assert files, f"no sources found under {SRC}"
    problems = [
        f"{path.relative_to(SRC.parent)}:{problem}"
        for path in files
        for problem in violations(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "outbound HTTP must go through plait.egress:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import httpx",
        "import httpcore",
        "import httpx2",
        "from httpcore2 import AsyncConnectionPool",
        "import aiohttp.client",
        "import requests",
        "import urllib3",
        "import urllib.request",
        "import http.client as hc",
        "from httpx import AsyncClient",
        "from urllib import request",
        "from urllib.request import urlopen",
        "from http import client",
        "from socket import create_connection",
        "from socket import socket",
        "import socket\nsocket.create_connection(('h', 80))",
        "import socket\nsocket.socket()",
        "def f():\n    import httpx",
        "__import__('httpx')",
    ],
)
def test_the_scan_catches(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "import socket\nsocket.gethostname()",
        "from urllib.parse import urlsplit",
        "import http\nhttp.HTTPStatus.OK",
        "from http import HTTPStatus",
        "from plait.egress import Egress",
    ],
)
def test_the_scan_allows(source: str) -> None:
    assert not violations(source)
