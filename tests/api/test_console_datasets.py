"""Knowledge bases in the console, as the web UI drives them against a live Plait: datasets,
uploads, the chunk preview, documents from files and URLs in one batch, indexing status,
segments, hit testing, the workspace's ``ds-`` keys, and who may do what."""

from __future__ import annotations

from typing import Any

import httpx
from argon2 import PasswordHasher

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.tables import Account, Membership, Workspace

from .test_service_workflows import assert_envelope

DATASETS = "/console/api/datasets"
UPLOAD = "/console/api/files/upload"
HANDBOOK = (
    "Expense reports are due within thirty days of travel.\n\n"
    "Remote work is allowed two days per week with manager approval.\n\n"
    "The office closes at six in the evening on Fridays."
)
CUSTOM_RULE = {
    "mode": "custom",
    "rules": {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 300, "chunk_overlap": 0},
    },
}
HIERARCHICAL_RULE = {
    "mode": "hierarchical",
    "rules": {
        "pre_processing_rules": [],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 300},
        "parent_mode": "paragraph",
        "subchunk_segmentation": {"separator": " ", "max_tokens": 50},
    },
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def upload(client: httpx.AsyncClient, token: str, name: str, content: bytes, mime: str = "text/plain") -> str:
    response = await client.post(UPLOAD, headers=auth(token), files={"file": (name, content, mime)})
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def create_dataset(client: httpx.AsyncClient, token: str, name: str = "Handbook", **body: Any) -> dict[str, Any]:
    response = await client.post(DATASETS, headers=auth(token), json={"name": name, **body})
    assert response.status_code == 201, response.text
    dataset: dict[str, Any] = response.json()
    return dataset


def from_files(*file_ids: str, **body: Any) -> dict[str, Any]:
    return {
        "data_source": {
            "type": "upload_file",
            "info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": list(file_ids)}},
        },
        "indexing_technique": "high_quality",
        "process_rule": CUSTOM_RULE,
        "doc_form": "text_model",
        "doc_language": "English",
        **body,
    }


async def member(plait: Plait, client: httpx.AsyncClient, owner_token: str, role: str) -> str:
    """A console session for a new member of the owner's workspace with ``role``."""
    workspace = (await client.get("/console/api/workspaces/current", headers=auth(owner_token))).json()
    email = f"{role}@example.com"
    async with plait.db.transaction() as session:
        account = Account(email=email, name=role, password_hash=PasswordHasher().hash("member-passw0rd"))
        session.add(account)
        await session.flush()
        session.add(Membership(workspace_id=workspace["id"], account_id=account.id, role=role))
    login = await client.post("/console/api/login", json={"email": email, "password": "member-passw0rd"})
    token: str = login.json()["data"]["access_token"]
    return token


async def workspace_id(client: httpx.AsyncClient, token: str) -> str:
    found: str = (await client.get("/console/api/workspaces/current", headers=auth(token))).json()["id"]
    return found


async def test_dataset_crud_and_list_filters(client: httpx.AsyncClient, owner_token: str, plait: Plait) -> None:
    assert_envelope(await client.get(DATASETS), 401, "unauthorized")
    handbook = await create_dataset(client, owner_token)
    assert handbook["name"] == "Handbook"
    assert handbook["permission"] == "only_me"
    assert handbook["tags"] == []
    other = await create_dataset(client, owner_token, "Recipes")
    duplicate = await client.post(DATASETS, headers=auth(owner_token), json={"name": "Handbook"})
    assert_envelope(duplicate, 409, "dataset_name_duplicate")

    listed = (await client.get(DATASETS, headers=auth(owner_token), params={"page": 1, "limit": 1})).json()
    assert (listed["total"], listed["has_more"], len(listed["data"])) == (2, True, 1)
    found = (await client.get(DATASETS, headers=auth(owner_token), params={"keyword": "recip"})).json()
    assert [d["id"] for d in found["data"]] == [other["id"]]
    by_id = (await client.get(DATASETS, headers=auth(owner_token), params={"ids": [handbook["id"]]})).json()
    assert [d["id"] for d in by_id["data"]] == [handbook["id"]]
    workspace = await workspace_id(client, owner_token)
    tag = await plait.dataset_tags.create(workspace, CLI, "policies")
    await plait.dataset_tags.bind(workspace, CLI, [tag.tag.id], handbook["id"])
    tagged = (await client.get(DATASETS, headers=auth(owner_token), params={"tag_ids": [tag.tag.id]})).json()
    assert [d["id"] for d in tagged["data"]] == [handbook["id"]]
    assert [t["name"] for t in tagged["data"][0]["tags"]] == ["policies"]

    url = f"{DATASETS}/{handbook['id']}"
    change = {"description": "Rules", "permission": "all_team_members"}
    patched = await client.patch(url, headers=auth(owner_token), json=change)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["description"], patched.json()["permission"]) == ("Rules", "all_team_members")
    fetched = (await client.get(url, headers=auth(owner_token))).json()
    assert fetched["description"] == "Rules"
    assert [t["name"] for t in fetched["tags"]] == ["policies"]
    assert_envelope(await client.patch(url, headers=auth(owner_token), json={"name": ""}), 400, "invalid_param")
    assert (await client.delete(url, headers=auth(owner_token))).status_code == 204
    assert_envelope(await client.get(url, headers=auth(owner_token)), 404, "not_found")
    assert_envelope(await client.get(f"{DATASETS}/not-an-id", headers=auth(owner_token)), 404, "not_found")


async def test_preview_cuts_uploaded_files_without_storing_anything(
    client: httpx.AsyncClient, owner_token: str, plait: Plait
) -> None:
    file_id = await upload(client, owner_token, "handbook.txt", HANDBOOK.encode())
    body = {
        "info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": [file_id]}},
        "process_rule": CUSTOM_RULE,
        "doc_form": "text_model",
        "doc_language": "English",
    }
    response = await client.post(f"{DATASETS}/indexing-estimate", headers=auth(owner_token), json=body)
    assert response.status_code == 200, response.text
    estimate = response.json()
    assert estimate["total_segments"] == 3
    assert [p["content"] for p in estimate["preview"]] == HANDBOOK.split("\n\n")
    assert estimate["qa_preview"] is None

    parent_child = {**body, "process_rule": HIERARCHICAL_RULE, "doc_form": "hierarchical_model"}
    tree = (await client.post(f"{DATASETS}/indexing-estimate", headers=auth(owner_token), json=parent_child)).json()
    assert tree["total_segments"] == 3
    assert tree["preview"][0]["content"] == HANDBOOK.split("\n\n")[0]
    assert len(tree["preview"][0]["child_chunks"]) >= 1
    assert "".join(tree["preview"][0]["child_chunks"]).replace(" ", "") == HANDBOOK.split("\n\n")[0].replace(" ", "")

    # The fake model echoes the chunk, so a chunk written as a Q&A pair comes back as one.
    qa_file = await upload(client, owner_token, "faq.md", b"Q1: When are reports due?\nA1: Within thirty days.")
    qa_body = {**body, "info_list": {"file_info_list": {"file_ids": [qa_file]}}, "doc_form": "qa_model"}
    qa = (await client.post(f"{DATASETS}/indexing-estimate", headers=auth(owner_token), json=qa_body)).json()
    assert qa["qa_preview"] == [{"question": "When are reports due?", "answer": "Within thirty days."}]

    bad_rule = {
        **body,
        "process_rule": {"mode": "custom", "rules": {"segmentation": {"separator": "", "max_tokens": 10}}},
    }
    refused = await client.post(f"{DATASETS}/indexing-estimate", headers=auth(owner_token), json=bad_rule)
    assert_envelope(refused, 400, "invalid_param")
    missing = {**body, "info_list": {"file_info_list": {"file_ids": ["00000000-0000-0000-0000-000000000000"]}}}
    refused = await client.post(f"{DATASETS}/indexing-estimate", headers=auth(owner_token), json=missing)
    assert_envelope(refused, 404, "file_not_found")
    listed = (await client.get(DATASETS, headers=auth(owner_token))).json()
    assert listed["total"] == 0


async def test_upload_checks_match_the_knowledge_api(client: httpx.AsyncClient, owner_token: str) -> None:
    config = (await client.get(UPLOAD, headers=auth(owner_token))).json()
    assert config["file_size_limit"] == 15
    types = (await client.get("/console/api/files/support-type", headers=auth(owner_token))).json()
    assert {"txt", "md", "pdf"} <= set(types["allowed_extensions"])
    unsupported = await client.post(UPLOAD, headers=auth(owner_token), files={"file": ("tool.exe", b"MZ", "x/y")})
    assert_envelope(unsupported, 415, "unsupported_file_type")
    nothing = await client.post(UPLOAD, headers=auth(owner_token), data={"other": "x"})
    assert_envelope(nothing, 400, "no_file_uploaded")
    uploaded = await client.post(
        UPLOAD, headers=auth(owner_token), files={"file": ("notes.txt", b"hello", "text/plain")}
    )
    item = uploaded.json()
    assert (item["name"], item["size"], item["extension"], item["mime_type"]) == ("notes.txt", 5, "txt", "text/plain")
    assert_envelope(
        await client.post(UPLOAD, files={"file": ("notes.txt", b"hello", "text/plain")}), 401, "unauthorized"
    )


async def test_documents_from_uploads_index_in_one_batch(
    client: httpx.AsyncClient, owner_token: str, plait: Plait
) -> None:
    dataset = await create_dataset(client, owner_token)
    base = f"{DATASETS}/{dataset['id']}"
    first = await upload(client, owner_token, "handbook.txt", HANDBOOK.encode())
    second = await upload(client, owner_token, "badges.md", b"# Badges\n\nSecurity badges must be worn visibly.")
    response = await client.post(f"{base}/documents", headers=auth(owner_token), json=from_files(first, second))
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["dataset"]["indexing_technique"] == "high_quality"
    assert [d["name"] for d in created["documents"]] == ["handbook.txt", "badges.md"]
    assert {d["created_from"] for d in created["documents"]} == {"web"}
    batch = created["batch"]
    await plait.indexing.queue.drain()

    statuses = (await client.get(f"{base}/batch/{batch}/indexing-status", headers=auth(owner_token))).json()["data"]
    assert [s["indexing_status"] for s in statuses] == ["completed", "completed"]
    assert statuses[0]["total_segments"] == statuses[0]["completed_segments"] == 3
    handbook_id = created["documents"][0]["id"]
    one = (await client.get(f"{base}/documents/{handbook_id}/indexing-status", headers=auth(owner_token))).json()
    assert (one["id"], one["indexing_status"], one["total_segments"]) == (handbook_id, "completed", 3)
    unknown_batch = await client.get(f"{base}/batch/20240101000000123456/indexing-status", headers=auth(owner_token))
    assert_envelope(unknown_batch, 404, "not_found")

    listed = (await client.get(f"{base}/documents", headers=auth(owner_token))).json()
    assert listed["total"] == 2
    assert {d["display_status"] for d in listed["data"]} == {"available"}
    detail = (await client.get(f"{base}/documents/{handbook_id}", headers=auth(owner_token))).json()
    assert detail["segment_count"] == 3
    assert detail["document_process_rule"]["mode"] == "custom"

    segments = (await client.get(f"{base}/documents/{handbook_id}/segments", headers=auth(owner_token))).json()
    assert [s["content"] for s in segments["data"]] == HANDBOOK.split("\n\n")
    assert (segments["total"], segments["total_pages"], segments["doc_form"]) == (3, 1, "text_model")
    found = await client.get(
        f"{base}/documents/{handbook_id}/segments", headers=auth(owner_token), params={"keyword": "fridays"}
    )
    assert [s["position"] for s in found.json()["data"]] == [3]

    query = {
        "query": "When are expense reports due?",
        "retrieval_model": {
            "search_method": "semantic_search",
            "reranking_enable": False,
            "top_k": 2,
            "score_threshold_enabled": False,
        },
    }
    hits = (await client.post(f"{base}/hit-testing", headers=auth(owner_token), json=query)).json()
    assert hits["query"] == {"content": query["query"]}
    assert hits["records"][0]["segment"]["content"].startswith("Expense reports")

    disable = await client.patch(
        f"{base}/documents/status/disable/batch", headers=auth(owner_token), params={"document_id": [handbook_id]}
    )
    assert disable.json() == {"result": "success"}
    status = (await client.get(f"{base}/documents/{handbook_id}", headers=auth(owner_token))).json()
    assert status["display_status"] == "disabled"
    hits = (await client.post(f"{base}/hit-testing", headers=auth(owner_token), json=query)).json()
    assert all(r["segment"]["document_id"] != handbook_id for r in hits["records"])
    await client.patch(
        f"{base}/documents/status/enable/batch", headers=auth(owner_token), params={"document_id": [handbook_id]}
    )
    unknown = await client.patch(
        f"{base}/documents/status/enable/batch",
        headers=auth(owner_token),
        params={"document_id": ["00000000-0000-0000-0000-000000000000"]},
    )
    assert_envelope(unknown, 404, "not_found")

    assert (await client.delete(f"{base}/documents/{handbook_id}", headers=auth(owner_token))).status_code == 204
    assert_envelope(await client.get(f"{base}/documents/{handbook_id}", headers=auth(owner_token)), 404, "not_found")
    remaining = (await client.get(f"{base}/documents", headers=auth(owner_token))).json()
    assert [d["name"] for d in remaining["data"]] == ["badges.md"]


async def test_document_sources_are_checked(client: httpx.AsyncClient, owner_token: str, plait: Plait) -> None:
    dataset = await create_dataset(client, owner_token)
    base = f"{DATASETS}/{dataset['id']}/documents"
    # Another workspace's upload is not this workspace's file.
    async with plait.db.transaction() as session:
        other = Workspace(name="Other")
        session.add(other)
    theirs = await plait.knowledge_uploads.upload(
        other.id, None, filename="t.txt", mime_type="text/plain", content=b"theirs"
    )
    refused = await client.post(base, headers=auth(owner_token), json=from_files(theirs.id))
    assert_envelope(refused, 404, "file_not_found")
    empty = await client.post(base, headers=auth(owner_token), json=from_files())
    assert_envelope(empty, 400, "invalid_param")
    mine = await upload(client, owner_token, "a.txt", b"alpha")
    no_technique = {**from_files(mine), "indexing_technique": None}
    assert_envelope(await client.post(base, headers=auth(owner_token), json=no_technique), 400, "invalid_param")
    bad_form = await client.post(base, headers=auth(owner_token), json={"data_source": {"type": "notion_import"}})
    assert_envelope(bad_form, 400, "invalid_param")
    assert (await client.get(base, headers=auth(owner_token))).json()["total"] == 0

    pages = {
        "data_source": {"type": "url", "urls": ["https://docs.example.com/guide"]},
        "indexing_technique": "economy",
    }
    response = await client.post(base, headers=auth(owner_token), json=pages)
    assert response.status_code == 200, response.text
    document = response.json()["documents"][0]
    assert (document["data_source_type"], document["data_source_info"]) == (
        "website_crawl",
        {"url": "https://docs.example.com/guide"},
    )
    crawl = {
        "data_source": {
            "type": "website_crawl",
            "info_list": {"data_source_type": "website_crawl", "website_info_list": {"urls": ["ftp://x/y"]}},
        }
    }
    assert_envelope(await client.post(base, headers=auth(owner_token), json=crawl), 400, "invalid_param")


async def test_dataset_api_keys(client: httpx.AsyncClient, owner_token: str, plait: Plait) -> None:
    keys = f"{DATASETS}/api-keys"
    assert (await client.get(keys, headers=auth(owner_token))).json() == {"data": []}
    created = await client.post(keys, headers=auth(owner_token))
    assert created.status_code == 200, created.text
    key = created.json()
    assert key["type"] == "dataset"
    assert key["token"].startswith("ds-")
    listed = (await client.get(keys, headers=auth(owner_token))).json()["data"]
    assert [(k["id"], k["token"]) for k in listed] == [(key["id"], f"ds-...{key['token'][-4:]}")]

    service = {"Authorization": f"Bearer {key['token']}"}
    made = await client.post("/v1/datasets", headers=service, json={"name": "Via key"})
    assert made.status_code == 200, made.text
    assert [d["name"] for d in (await client.get(DATASETS, headers=auth(owner_token))).json()["data"]] == ["Via key"]

    # An app key is not a dataset key, whatever route names its id.
    app = await client.post("/console/api/apps", headers=auth(owner_token), json={"name": "A", "mode": "workflow"})
    app_key = (await client.post(f"/console/api/apps/{app.json()['id']}/api-keys", headers=auth(owner_token))).json()
    assert_envelope(await client.delete(f"{keys}/{app_key['id']}", headers=auth(owner_token)), 404, "not_found")

    assert (await client.delete(f"{keys}/{key['id']}", headers=auth(owner_token))).status_code == 204
    assert_envelope(await client.get("/v1/datasets", headers=service), 401, "unauthorized")
    assert (await client.get(keys, headers=auth(owner_token))).json() == {"data": []}
    assert_envelope(await client.delete(f"{keys}/{key['id']}", headers=auth(owner_token)), 404, "not_found")


async def test_roles(client: httpx.AsyncClient, owner_token: str, plait: Plait) -> None:
    dataset = await create_dataset(client, owner_token, permission="all_team_members")
    base = f"{DATASETS}/{dataset['id']}"
    reader = await member(plait, client, owner_token, "normal")
    assert (await client.get(DATASETS, headers=auth(reader))).json()["total"] == 1
    assert (await client.get(base, headers=auth(reader))).status_code == 200
    assert_envelope(await client.post(DATASETS, headers=auth(reader), json={"name": "No"}), 403, "forbidden")
    assert_envelope(await client.patch(base, headers=auth(reader), json={"name": "No"}), 403, "forbidden")
    assert_envelope(await client.delete(base, headers=auth(reader)), 403, "forbidden")
    refused = await client.post(UPLOAD, headers=auth(reader), files={"file": ("a.txt", b"a", "text/plain")})
    assert_envelope(refused, 403, "forbidden")
    assert_envelope(await client.get(f"{DATASETS}/api-keys", headers=auth(reader)), 403, "forbidden")

    operator = await member(plait, client, owner_token, "dataset_operator")
    made = await client.post(DATASETS, headers=auth(operator), json={"name": "Operated"})
    assert made.status_code == 201, made.text
    file_id = await upload(client, operator, "a.txt", b"alpha beta")
    added = await client.post(f"{base}/documents", headers=auth(operator), json=from_files(file_id))
    assert added.status_code == 200, added.text
    assert_envelope(await client.post(f"{DATASETS}/api-keys", headers=auth(operator)), 403, "forbidden")

    editor = await member(plait, client, owner_token, "editor")
    assert (await client.patch(base, headers=auth(editor), json={"description": "ok"})).status_code == 200
    assert_envelope(await client.post(f"{DATASETS}/api-keys", headers=auth(editor)), 403, "forbidden")
    await plait.indexing.queue.drain()


async def test_dataset_permissions_decide_who_sees_it(
    client: httpx.AsyncClient, owner_token: str, plait: Plait
) -> None:
    """``only_me``: the creator (and owners and admins); ``all_team_members``: everyone;
    ``partial_members``: the listed members."""
    alice = await member(plait, client, owner_token, "editor")
    bob_session = await member(plait, client, owner_token, "normal")
    bob = (await client.get("/console/api/account/profile", headers=auth(bob_session))).json()["id"]
    private = await create_dataset(client, alice, "Alice only")
    team = await create_dataset(client, alice, "Everyone", permission="all_team_members")
    listed = await create_dataset(
        client, alice, "Alice and Bob", permission="partial_members", partial_member_list=[{"user_id": bob}]
    )
    assert bob in listed["partial_member_list"]

    def names(response: httpx.Response) -> set[str]:
        return {item["name"] for item in response.json()["data"]}

    assert names(await client.get(DATASETS, headers=auth(alice))) == {"Alice only", "Everyone", "Alice and Bob"}
    assert names(await client.get(DATASETS, headers=auth(owner_token))) == {"Alice only", "Everyone", "Alice and Bob"}
    assert names(await client.get(DATASETS, headers=auth(bob_session))) == {"Everyone", "Alice and Bob"}
    assert_envelope(await client.get(f"{DATASETS}/{private['id']}", headers=auth(bob_session)), 403, "forbidden")
    assert (await client.get(f"{DATASETS}/{team['id']}", headers=auth(bob_session))).status_code == 200
    assert (await client.get(f"{DATASETS}/{listed['id']}", headers=auth(bob_session))).status_code == 200

    # Taking Bob off the list hides it from him again.
    changed = await client.patch(f"{DATASETS}/{listed['id']}", headers=auth(alice), json={"partial_member_list": []})
    assert changed.status_code == 200, changed.text
    assert_envelope(await client.get(f"{DATASETS}/{listed['id']}", headers=auth(bob_session)), 403, "forbidden")
    refused = await client.patch(
        f"{DATASETS}/{listed['id']}", headers=auth(alice), json={"partial_member_list": [{"user_id": "not-an-id"}]}
    )
    assert_envelope(refused, 400, "invalid_param")
