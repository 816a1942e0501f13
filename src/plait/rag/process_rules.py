"""How a knowledge-base document is cleaned and cut: Dify's ``process_rule``.

A document create body (``create-by-text``, ``create-by-file``) carries a ``doc_form`` and a
``process_rule``; :func:`parse_process_rule` turns them into one typed, checked
:class:`ProcessRule`, and :func:`to_dify` gives back the form Dify stores and shows as a
document's ``dataset_process_rule`` / ``document_process_rule``.

The three modes, as in Dify:

- ``automatic``: Dify's fixed defaults; any ``rules`` sent are ignored. Extra spaces are
  removed, URLs and e-mails kept, and the text is cut into pieces of up to 500 tokens that
  overlap by 50 (the stored form says ``delimiter "\\n"``, but Dify's automatic splitter never
  cuts on it first: it merges paragraphs and sentences up to the size, and so does Plait).
- ``custom``: the body's ``pre_processing_rules`` and ``segmentation``. The text is first
  cut at every ``separator``; a piece longer than ``max_tokens`` is cut further.
- ``hierarchical`` (``doc_form: hierarchical_model``, parent-child): ``parent_mode``
  ``paragraph`` makes parents from ``segmentation`` and children from
  ``subchunk_segmentation``; ``full-doc`` makes the whole document one parent.

Checks are Dify's, made when the body arrives instead of when indexing runs (where Dify
fails the document): a known mode, a non-empty separator, ``max_tokens`` between 50 and the
deployment's ``INDEXING_MAX_SEGMENTATION_TOKENS_LENGTH`` (4000 by default), an overlap below
``max_tokens``, a known ``parent_mode``, and a ``doc_form`` that fits the mode. Where Dify
wants a field that has an obvious default (a missing ``pre_processing_rules`` list, a
hierarchical body without ``rules``, a missing ``parent_mode``), Plait takes Dify's console
defaults instead of refusing. Separators arrive escaped as Dify's console sends them
(``"\\\\n\\\\n"`` for a blank line) and are decoded here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from plait.errors import InvalidInput

Mode = Literal["automatic", "custom", "hierarchical"]
ParentMode = Literal["paragraph", "full-doc"]
DocForm = Literal["text_model", "hierarchical_model", "qa_model"]

MODES: tuple[Mode, ...] = get_args(Mode)
PARENT_MODES: tuple[ParentMode, ...] = get_args(ParentMode)
DOC_FORMS: tuple[DocForm, ...] = get_args(DocForm)
PRE_PROCESSING_RULE_IDS = ("remove_extra_spaces", "remove_urls_emails", "remove_stopwords")

# Dify's INDEXING_MAX_SEGMENTATION_TOKENS_LENGTH default, and the floor its splitter checks.
MAX_TOKENS_LIMIT = 4000
MIN_MAX_TOKENS = 50


@dataclass(frozen=True, slots=True)
class Segmentation:
    """Where to cut and how big a chunk may be. ``separator`` is the decoded text
    (a real newline, not ``"\\\\n"``); sizes are in tokens."""

    separator: str
    max_tokens: int
    chunk_overlap: int = 0

    def __post_init__(self) -> None:
        # A last guard for rules built in code; bodies are checked, with field paths, by
        # parse_process_rule before they get here.
        if self.max_tokens < 1:
            raise InvalidInput("max_tokens must be at least 1", params="max_tokens")
        if not 0 <= self.chunk_overlap < self.max_tokens:
            raise InvalidInput("chunk_overlap must be at least 0 and less than max_tokens", params="chunk_overlap")


@dataclass(frozen=True, slots=True)
class PreProcessing:
    remove_extra_spaces: bool = False
    remove_urls_emails: bool = False
    remove_stopwords: bool = False


@dataclass(frozen=True, slots=True)
class ProcessRule:
    mode: Mode
    pre_processing: PreProcessing
    segmentation: Segmentation
    parent_mode: ParentMode | None = None
    subchunk_segmentation: Segmentation | None = None

    @property
    def hierarchical(self) -> bool:
        return self.mode == "hierarchical"


AUTOMATIC_RULE = ProcessRule(
    mode="automatic",
    pre_processing=PreProcessing(remove_extra_spaces=True, remove_urls_emails=False),
    segmentation=Segmentation("\n", 500, 50),
)

# Dify's console defaults for parent-child chunking.
DEFAULT_PARENT_SEGMENTATION = Segmentation("\n\n", 500, 0)
DEFAULT_CHILD_SEGMENTATION = Segmentation("\n", 200, 0)
HIERARCHICAL_RULE = ProcessRule(
    mode="hierarchical",
    pre_processing=PreProcessing(remove_extra_spaces=True, remove_urls_emails=False),
    segmentation=DEFAULT_PARENT_SEGMENTATION,
    parent_mode="paragraph",
    subchunk_segmentation=DEFAULT_CHILD_SEGMENTATION,
)

# The stored form of an automatic rule, exactly as Dify writes it (note "delimiter").
_AUTOMATIC_RULES_DIFY: dict[str, Any] = {
    "pre_processing_rules": [
        {"id": "remove_extra_spaces", "enabled": True},
        {"id": "remove_urls_emails", "enabled": False},
    ],
    "segmentation": {"delimiter": "\n", "max_tokens": 500, "chunk_overlap": 50},
}


@dataclass(frozen=True, slots=True)
class _Path:
    """A field path for error messages: ``process_rule.rules.segmentation.max_tokens``."""

    parts: tuple[str, ...] = field(default=("process_rule",))

    def __truediv__(self, name: str) -> _Path:
        return _Path((*self.parts, name))

    def __str__(self) -> str:
        return ".".join(self.parts)


def parse_process_rule(
    raw: Mapping[str, Any] | None, *, doc_form: str, max_tokens_limit: int = MAX_TOKENS_LIMIT
) -> ProcessRule:
    """The rule a create body asks for, checked; raises :class:`InvalidInput` naming the
    field at fault. ``raw`` is the body's ``process_rule`` (``None`` when it has none: then
    Dify's automatic rule, or its parent-child defaults for ``hierarchical_model``)."""
    form = _doc_form(doc_form)
    root = _Path()
    if raw is None:
        rule = HIERARCHICAL_RULE if form == "hierarchical_model" else AUTOMATIC_RULE
    else:
        if not isinstance(raw, Mapping):
            raise InvalidInput("process_rule must be an object", params=str(root))
        mode = raw.get("mode")
        if not mode:
            raise InvalidInput("process_rule.mode is required", params=str(root / "mode"))
        if mode not in MODES:
            raise InvalidInput(
                f"process_rule.mode must be one of {', '.join(MODES)}, not {mode!r}", params=str(root / "mode")
            )
        rules = raw.get("rules")
        if mode == "automatic":
            rule = AUTOMATIC_RULE
        elif mode == "hierarchical" and not rules:
            rule = HIERARCHICAL_RULE
        else:
            rule = _parse_rules(mode, rules, root / "rules", max_tokens_limit)
    check_doc_form(rule, form)
    return rule


def check_doc_form(rule: ProcessRule, doc_form: str) -> None:
    """Parent-child documents need a hierarchical rule, and only they can use one."""
    form = _doc_form(doc_form)
    if form == "hierarchical_model" and not rule.hierarchical:
        raise InvalidInput(
            f"doc_form hierarchical_model needs process_rule.mode hierarchical, not {rule.mode}", params="doc_form"
        )
    if form != "hierarchical_model" and rule.hierarchical:
        raise InvalidInput(
            f"process_rule.mode hierarchical needs doc_form hierarchical_model, not {form}", params="doc_form"
        )


def _doc_form(doc_form: str) -> DocForm:
    for form in DOC_FORMS:
        if doc_form == form:
            return form
    raise InvalidInput(f"doc_form must be one of {', '.join(DOC_FORMS)}, not {doc_form!r}", params="doc_form")


def _parse_rules(mode: Mode, rules: Any, path: _Path, limit: int) -> ProcessRule:
    if not rules:
        raise InvalidInput(f"{path} is required for mode {mode}", params=str(path))
    if not isinstance(rules, Mapping):
        raise InvalidInput(f"{path} must be an object", params=str(path))
    if mode == "custom":
        pre_processing = _pre_processing(rules.get("pre_processing_rules"), path / "pre_processing_rules")
        segmentation = _segmentation(rules.get("segmentation"), path / "segmentation", limit)
        return ProcessRule("custom", pre_processing, segmentation)

    raw_pre = rules.get("pre_processing_rules")
    pre_processing = (
        HIERARCHICAL_RULE.pre_processing if raw_pre is None else _pre_processing(raw_pre, path / "pre_processing_rules")
    )
    parent_mode = _parent_mode(rules.get("parent_mode"), path / "parent_mode")
    # A full-doc parent is the whole document: Dify asks for no parent segmentation then.
    parent = _segmentation(
        rules.get("segmentation"),
        path / "segmentation",
        limit,
        default=DEFAULT_PARENT_SEGMENTATION if parent_mode == "full-doc" else None,
    )
    child = _segmentation(
        rules.get("subchunk_segmentation"),
        path / "subchunk_segmentation",
        limit,
        default=DEFAULT_CHILD_SEGMENTATION,
        separator_default="\\n",
    )
    return ProcessRule("hierarchical", pre_processing, parent, parent_mode, child)


def _pre_processing(raw: Any, path: _Path) -> PreProcessing:
    if raw is None:
        return PreProcessing()
    if not isinstance(raw, list):
        raise InvalidInput(f"{path} must be a list", params=str(path))
    enabled: dict[str, bool] = {}
    for index, item in enumerate(raw):
        item_path = _Path((*path.parts[:-1], f"{path.parts[-1]}[{index}]"))
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{item_path} must be an object with id and enabled", params=str(item_path))
        rule_id = item.get("id")
        if not rule_id:
            raise InvalidInput(f"{item_path / 'id'} is required", params=str(item_path / "id"))
        if rule_id not in PRE_PROCESSING_RULE_IDS:
            raise InvalidInput(
                f"{item_path / 'id'} must be one of {', '.join(PRE_PROCESSING_RULE_IDS)}, not {rule_id!r}",
                params=str(item_path / "id"),
            )
        flag = item.get("enabled")
        if not isinstance(flag, bool):
            raise InvalidInput(f"{item_path / 'enabled'} must be true or false", params=str(item_path / "enabled"))
        # A repeated id: the last one wins, as in Dify.
        enabled[rule_id] = flag
    return PreProcessing(
        remove_extra_spaces=enabled.get("remove_extra_spaces", False),
        remove_urls_emails=enabled.get("remove_urls_emails", False),
        remove_stopwords=enabled.get("remove_stopwords", False),
    )


def _parent_mode(raw: Any, path: _Path) -> ParentMode:
    if raw is None or raw == "":
        return "paragraph"
    for mode in PARENT_MODES:
        if raw == mode:
            return mode
    raise InvalidInput(f"{path} must be one of {', '.join(PARENT_MODES)}, not {raw!r}", params=str(path))


def _segmentation(
    raw: Any, path: _Path, limit: int, *, default: Segmentation | None = None, separator_default: str | None = None
) -> Segmentation:
    """A ``segmentation`` object. ``default`` stands in when it is absent (else it is
    required) and for a missing size; ``separator_default`` for a missing separator."""
    if raw is None:
        if default is None:
            raise InvalidInput(f"{path} is required", params=str(path))
        return default
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{path} must be an object", params=str(path))
    separator = raw.get("separator")
    if separator is None and separator_default is not None:
        separator = separator_default
    if not isinstance(separator, str) or not separator:
        raise InvalidInput(
            f"{path / 'separator'} is required and must be a non-empty string", params=str(path / "separator")
        )
    max_tokens = _integer(raw.get("max_tokens"), path / "max_tokens")
    if max_tokens is None:
        if default is None:
            raise InvalidInput(f"{path / 'max_tokens'} is required", params=str(path / "max_tokens"))
        max_tokens = default.max_tokens
    if not MIN_MAX_TOKENS <= max_tokens <= limit:
        raise InvalidInput(
            f"{path / 'max_tokens'} must be between {MIN_MAX_TOKENS} and {limit}, not {max_tokens}",
            params=str(path / "max_tokens"),
        )
    overlap = _integer(raw.get("chunk_overlap"), path / "chunk_overlap") or 0
    if not 0 <= overlap < max_tokens:
        raise InvalidInput(
            f"{path / 'chunk_overlap'} must be at least 0 and less than max_tokens ({max_tokens}), not {overlap}",
            params=str(path / "chunk_overlap"),
        )
    return Segmentation(decode_separator(separator), max_tokens, overlap)


def _integer(raw: Any, path: _Path) -> int | None:
    """A whole number as JSON bodies write them (``500``, ``500.0``, ``"500"``); ``None``
    when absent. Booleans are refused although Python counts them as integers."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise InvalidInput(f"{path} must be a whole number", params=str(path))
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
        return int(raw)
    raise InvalidInput(f"{path} must be a whole number, not {raw!r}", params=str(path))


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "0": "\0", "f": "\f", "v": "\v"}


def decode_separator(separator: str) -> str:
    """``"\\\\n\\\\n"`` → a blank line. Dify decodes with Python's ``unicode_escape``, which
    mangles any non-ASCII separator (``"。"``); this decodes the escapes and leaves every
    other character as it is, an unknown escape included."""

    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "ux" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        return _SIMPLE_ESCAPES.get(escape, match.group(0))

    return _ESCAPE.sub(replace, separator)


def encode_separator(separator: str) -> str:
    """The escaped form Dify's console sends and shows (the inverse of :func:`decode_separator`)."""
    return separator.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def to_dify(rule: ProcessRule) -> dict[str, Any]:
    """The rule as Dify stores and returns it: ``{"mode": ..., "rules": {...}}``."""
    if rule.mode == "automatic":
        return {"mode": "automatic", "rules": copy.deepcopy(_AUTOMATIC_RULES_DIFY)}
    rules: dict[str, Any] = {
        "pre_processing_rules": _pre_processing_rules(rule.pre_processing),
        "segmentation": _segmentation_dict(rule.segmentation),
    }
    if rule.hierarchical:
        rules["parent_mode"] = rule.parent_mode
        rules["subchunk_segmentation"] = _segmentation_dict(rule.subchunk_segmentation or DEFAULT_CHILD_SEGMENTATION)
    return {"mode": rule.mode, "rules": rules}


def _pre_processing_rules(pre: PreProcessing) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"id": "remove_extra_spaces", "enabled": pre.remove_extra_spaces},
        {"id": "remove_urls_emails", "enabled": pre.remove_urls_emails},
    ]
    # Dify's console offers no stop-word switch; show it only when a client turned it on.
    if pre.remove_stopwords:
        items.append({"id": "remove_stopwords", "enabled": True})
    return items


def _segmentation_dict(segmentation: Segmentation) -> dict[str, Any]:
    return {
        "separator": encode_separator(segmentation.separator),
        "max_tokens": segmentation.max_tokens,
        "chunk_overlap": segmentation.chunk_overlap,
    }
