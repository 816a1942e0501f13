"""Knowledge data for the route-isolation test, and its probes: every ``/v1/datasets...`` and
``/console/api/datasets...`` route aimed at another tenant's datasets, documents, batches,
segments, child chunks, tags, metadata fields, uploads and keys.

A route's path ids are filled from the other tenant's ids, then again with the caller's own
ids for the leading ones (its own dataset and a foreign document, its own document and a
foreign segment, ...), so that every level of nesting is checked, not only the dataset."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.ids import new_id

KNOWLEDGE_SECRET = "their secret handbook chapter"
TREE_RULE = {
    "mode": "hierarchical",
    "rules": {
        "pre_processing_rules": [],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 300},
        "parent_mode": "paragraph",
        "subchunk_segmentation": {"separator": " ", "max_tokens": 50},
    },
}
# Which tenant id fills a path parameter; the leading ones are swapped for the caller's own.
ID_PARAMS = {
    "dataset_id": "dataset_id",
    "document_id": "document_id",
    "batch": "batch",
    "segment_id": "segment_id",
    "child_chunk_id": "child_chunk_id",
    "metadata_id": "metadata_id",
    "api_key_id": "dataset_key_id",
}
FIXED_PARAMS = {"action": "enable"}
KNOWLEDGE_PREFIXES = ("/v1/datasets", "/console/api/datasets")


async def knowledge_data(client: httpx.AsyncClient, plait: Plait, workspace_id: str) -> tuple[dict[str, str], str]:
    """A ds- key (returned), a dataset with a completed text document, a tag bound to it and
    a metadata field; a parent-child dataset with child chunks; a console upload."""
    key = await plait.keys.create(workspace_id, CLI, kind="dataset")
    auth = {"Authorization": f"Bearer {key.token}"}

    async def ok(method: str, url: str, **kwargs: Any) -> Any:
        response = await client.request(method, url, headers=auth, **kwargs)
        assert response.status_code in (200, 201, 204), f"{method} {url}: {response.text}"
        return response.json() if response.content else None

    text = await ok("POST", "/v1/datasets", json={"name": "Their secret handbook"})
    made = await ok(
        "POST",
        f"/v1/datasets/{text['id']}/document/create-by-text",
        json={"name": "secret.txt", "text": KNOWLEDGE_SECRET, "indexing_technique": "high_quality"},
    )
    tree = await ok("POST", "/v1/datasets", json={"name": "Their secret tree"})
    tree_made = await ok(
        "POST",
        f"/v1/datasets/{tree['id']}/document/create-by-text",
        json={
            "name": "tree.txt",
            "text": f"{KNOWLEDGE_SECRET} one.\n\n{KNOWLEDGE_SECRET} two.",
            "indexing_technique": "high_quality",
            "doc_form": "hierarchical_model",
            "process_rule": TREE_RULE,
        },
    )
    await plait.indexing.queue.drain()
    document_id, tree_document_id = made["document"]["id"], tree_made["document"]["id"]
    segments = await ok("GET", f"/v1/datasets/{text['id']}/documents/{document_id}/segments")
    tree_segments = await ok("GET", f"/v1/datasets/{tree['id']}/documents/{tree_document_id}/segments")
    tag = await ok("POST", "/v1/datasets/tags", json={"name": "secret-tag"})
    await ok("POST", "/v1/datasets/tags/binding", json={"tag_ids": [tag["id"]], "target_id": text["id"]})
    field = await ok("POST", f"/v1/datasets/{text['id']}/metadata", json={"type": "string", "name": "owner"})
    upload = await plait.knowledge_uploads.upload(
        workspace_id, None, filename="secret.txt", mime_type="text/plain", content=KNOWLEDGE_SECRET.encode()
    )
    ids = {
        "dataset_id": text["id"],
        "document_id": document_id,
        "batch": made["batch"],
        "segment_id": segments["data"][0]["id"],
        "metadata_id": field["id"],
        "tag_id": tag["id"],
        "tree_dataset_id": tree["id"],
        "tree_document_id": tree_document_id,
        "tree_batch": tree_made["batch"],
        "tree_segment_id": tree_segments["data"][0]["id"],
        "tree_child_chunk_id": tree_segments["data"][0]["child_chunks"][0]["id"],
        "dataset_key_id": key.id,
        "upload_file_id": upload.id,
    }
    return ids, key.token


def _files() -> dict[str, Any]:
    return {"files": {"file": ("pwned.txt", b"pwned", "text/plain")}}


def _request(method: str, path: str, b: dict[str, str]) -> tuple[dict[str, Any], bool]:
    """A valid request for the route apart from its ids, and whether its body or query names
    the other tenant's ids (then it is also sent with all path ids the caller's own)."""
    tail = path.split("{dataset_id}", 1)[-1]
    if path.endswith("/document/create-by-text"):
        return {"json": {"name": "pwned", "text": "pwned", "indexing_technique": "economy"}}, False
    if path.endswith("/document/create-by-file"):
        return {**_files(), "data": {"data": json.dumps({"indexing_technique": "economy"})}}, False
    if path.endswith("/update-by-text"):
        return {"json": {"name": "pwned", "text": "pwned"}}, False
    if path.endswith("/update-by-file") or (method == "PATCH" and tail == "/documents/{document_id}"):
        return _files(), False
    if path.endswith("/documents/status/{action}"):
        return {"json": {"document_ids": [b["document_id"]]}}, True
    if path.endswith("/documents/status/{action}/batch"):
        return {"params": {"document_id": [b["document_id"]]}}, True
    if path.endswith(("/hit-testing", "/retrieve")):
        return {"json": {"query": "secret"}}, False
    if method == "POST" and path.endswith("/segments"):
        return {"json": {"segments": [{"content": "pwned"}]}}, False
    if method == "POST" and path.endswith("/segments/{segment_id}"):
        return {"json": {"segment": {"content": "pwned"}}}, False
    if method in ("POST", "PATCH") and ("/child_chunks" in path):
        return {"json": {"content": "pwned"}}, False
    if method == "POST" and path.endswith("/metadata"):
        if path.endswith("/documents/metadata"):
            values = [{"id": b["metadata_id"], "name": "owner", "value": "pwned"}]
            operation = {"document_id": b["document_id"], "metadata_list": values, "partial_update": False}
            return {"json": {"operation_data": [operation]}}, True
        return {"json": {"type": "string", "name": "pwned"}}, False
    if method == "PATCH" and path.endswith("/metadata/{metadata_id}"):
        return {"json": {"name": "pwned"}}, False
    if method == "PATCH" and tail == "":
        return {"json": {"description": "pwned"}}, False
    if method == "POST" and path == "/console/api/datasets/{dataset_id}/documents":
        source = {"file_info_list": {"file_ids": [b["upload_file_id"]]}}
        body = {"data_source": {"type": "upload_file", "info_list": source}, "indexing_technique": "economy"}
        return {"json": body}, True
    return {}, False


def _tenant_value(ids: dict[str, str], param: str, tree: bool) -> str:
    name = ID_PARAMS[param]
    return ids[f"tree_{name}"] if tree and f"tree_{name}" in ids else ids[name]


def knowledge_probes(
    routes: Iterable[tuple[str, str]], mine: dict[str, str], theirs: dict[str, str]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Probes for every knowledge route whose path parameters are all known here (a route
    with a new parameter gets none, so the isolation test names it), plus the routes that
    take the other tenant's ids in a body or query."""
    probes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for method, path in routes:
        if not path.startswith(KNOWLEDGE_PREFIXES) or "{" not in path:
            continue
        params = re.findall(r"\{(\w+)\}", path)
        if any(p not in ID_PARAMS and p not in FIXED_PARAMS for p in params):
            continue
        tree = "child_chunk" in path
        id_params = [p for p in params if p in ID_PARAMS]
        extra, carries = _request(method, path, theirs)
        requests = []
        for own in range(len(id_params) + (1 if carries else 0)):
            values = {p: FIXED_PARAMS[p] for p in params if p in FIXED_PARAMS}
            for index, param in enumerate(id_params):
                values[param] = _tenant_value(mine if index < own else theirs, param, tree)
            requests.append({"auth": "dataset", "path": values, **extra})
        probes[(method, path)] = requests
    b, a = theirs, mine
    dataset = {"auth": "dataset"}
    probes |= {
        ("PATCH", "/v1/datasets/tags"): [{**dataset, "json": {"tag_id": b["tag_id"], "name": "pwned"}}],
        ("DELETE", "/v1/datasets/tags"): [{**dataset, "json": {"tag_id": b["tag_id"]}}],
        ("POST", "/v1/datasets/tags/binding"): [
            {**dataset, "json": {"tag_ids": [b["tag_id"]], "target_id": a["dataset_id"]}},
            {**dataset, "json": {"tag_ids": [a["tag_id"]], "target_id": b["dataset_id"]}},
        ],
        ("POST", "/v1/datasets/tags/unbinding"): [
            # Unbinding a tag the dataset does not carry does nothing, as for an unknown tag.
            {
                **dataset,
                "json": {"tag_ids": [b["tag_id"]], "target_id": a["dataset_id"]},
                "unknown_json": {"tag_ids": [new_id()], "target_id": a["dataset_id"]},
            },
            {**dataset, "json": {"tag_ids": [a["tag_id"]], "target_id": b["dataset_id"]}},
        ],
        ("POST", "/console/api/datasets/indexing-estimate"): [
            {"json": {"info_list": {"file_info_list": {"file_ids": [b["upload_file_id"]]}}}}
        ],
    }
    return probes


# Lists filtered by the other tenant's ids: 200, and nothing in them.
def empty_list_probes(theirs: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    b = theirs
    return [
        ("dataset", "/v1/datasets", {"tag_ids": [b["tag_id"]]}),
        ("console", "/console/api/datasets", {"tag_ids": [b["tag_id"]]}),
        ("console", "/console/api/datasets", {"ids": [b["dataset_id"], b["tree_dataset_id"]]}),
    ]
