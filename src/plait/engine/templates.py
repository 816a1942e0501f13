"""Templates: Dify's ``{{#node.var#}}`` references, and Jinja2 for template-transform.

Inline templates are parsed once, at compile time, into literal text and selectors. Jinja2
runs in a sandboxed environment (no access to attributes starting with ``_``, no
module-level objects, no imports) with bounded output.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Template
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from plait.engine.variables import Selector, VariablePool, to_text

REFERENCE = re.compile(r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}")
MAX_TEMPLATE_OUTPUT = 400_000


@dataclass(frozen=True, slots=True)
class Reference:
    selector: Selector


Segment = str | Reference


def parse(template: str) -> tuple[Segment, ...]:
    """Split ``template`` into literal strings and references, in order."""
    segments: list[Segment] = []
    position = 0
    for match in REFERENCE.finditer(template):
        if match.start() > position:
            segments.append(template[position : match.start()])
        segments.append(Reference(tuple(match.group(1).split("."))))
        position = match.end()
    if position < len(template):
        segments.append(template[position:])
    return tuple(segments)


def references(template: str) -> list[Selector]:
    return [tuple(match.group(1).split(".")) for match in REFERENCE.finditer(template)]


def render(segments: tuple[Segment, ...], pool: VariablePool, *, markdown: bool = False) -> str:
    parts = []
    for segment in segments:
        if isinstance(segment, str):
            parts.append(segment)
        else:
            parts.append(to_text(pool.get(segment.selector), markdown=markdown))
    return "".join(parts)


class TemplateRenderError(Exception):
    pass


_jinja = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@functools.lru_cache(maxsize=2048)
def _compiled(template: str) -> Template:
    # Compiling is far costlier than rendering; a workflow renders the same few templates.
    return _jinja.from_string(template)


def render_jinja(template: str, variables: Mapping[str, Any], *, max_output: int = MAX_TEMPLATE_OUTPUT) -> str:
    """Render a Jinja2 template in the sandboxed environment."""
    try:
        output = _compiled(template).render(**variables)
    except SecurityError as error:
        raise TemplateRenderError(f"template not allowed: {error}") from None
    except TemplateError as error:
        raise TemplateRenderError(f"template error: {error}") from None
    if len(output) > max_output:
        raise TemplateRenderError(f"template output is longer than {max_output} characters")
    return output
