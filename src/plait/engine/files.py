"""File values, as they sit in the variable pool: Dify's file objects.

A file variable (a start input of type ``file``/``file-list``, ``sys.files``, a tool's or an
HTTP response's files) is a dict in Dify's shape::

    {"dify_model_identity": "__dify__file__", "id", "tenant_id", "type": image|document|
     audio|video|custom, "transfer_method": local_file|remote_url|tool_file, "remote_url",
     "related_id" (the upload's id), "filename", "extension", "mime_type", "size", "url"}

The engine never reads bytes itself: nodes ask ``ctx.services.files`` (uploads come from
the file store, remote URLs through the egress).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

FILE_IDENTITY = "__dify__file__"
FILE_TYPES = ("image", "document", "audio", "video", "custom")


def is_file(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("dify_model_identity") == FILE_IDENTITY


def files_in(value: Any) -> list[Mapping[str, Any]]:
    """The files a variable holds: one file, or the files of a list."""
    if is_file(value):
        return [value]
    if isinstance(value, list):
        return [item for item in value if is_file(item)]
    return []


def file_label(file: Mapping[str, Any]) -> str:
    return str(file.get("filename") or file.get("remote_url") or file.get("related_id") or "file")


def data_url(content: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(content).decode()}"


def markdown(file: Mapping[str, Any]) -> str:
    """How a file reads in an Answer or template, as Dify renders it: a Markdown link
    (an image link for images)."""
    url = str(file.get("url") or file.get("remote_url") or "")
    label = file_label(file)
    return f"![{label}]({url})" if file.get("type") == "image" else f"[{label}]({url})"
