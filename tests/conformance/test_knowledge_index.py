"""The knowledge index conformance suite: every backend, the same assertions.

``embedded`` runs on SQLite files in the test's temp dir; ``pgvector`` on the session's
embedded PostgreSQL (see conftest.py). Each test works on fresh dataset ids.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from plait.errors import InvalidInput
from plait.ids import new_id
from plait.storage.index import (
    DimensionMismatch,
    IndexEntry,
    IndexStore,
    KnowledgeIndex,
    SearchFilter,
    open_index_store,
)

OpenStore = Callable[[], Awaitable[IndexStore]]


@pytest.fixture(params=["embedded", "pgvector"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one location (the same directory, or the same database); all are
    closed at the end. Two of them act as two processes sharing the index."""
    url = request.getfixturevalue("pgvector_url") if request.param == "pgvector" else None
    opened: list[IndexStore] = []

    async def open_() -> IndexStore:
        store = open_index_store(request.param, root=tmp_path / "index", url=url)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> IndexStore:
    return await open_store()


@pytest.fixture
async def index(store: IndexStore) -> KnowledgeIndex:
    return await store.collection(new_id())


def entry(
    node: str,
    text: str = "",
    vector: list[float] | None = None,
    *,
    segment: str = "",
    document: str = "d1",
    enabled: bool = True,
) -> IndexEntry:
    return IndexEntry(node, segment or f"s-{node}", document, text, vector, enabled)


def nodes(hits: list) -> list[str]:
    return [hit.node_id for hit in hits]


# -- writes ----------------------------------------------------------------------------


async def test_upsert_replaces_instead_of_duplicating(index: KnowledgeIndex) -> None:
    batch = [entry("n1", "alpha apples", [1, 0, 0]), entry("n2", "beta bananas", [0, 1, 0])]
    await index.upsert(batch)
    await index.upsert(batch)
    assert await index.count() == 2
    assert await index.node_ids() == {"n1", "n2"}

    await index.upsert([entry("n1", "gamma grapes", [0, 0, 1], segment="s9", document="d9")])
    assert await index.count() == 2
    assert await index.search_text("apples", 5) == []
    [hit] = await index.search_text("grapes", 5)
    assert (hit.node_id, hit.segment_id, hit.document_id) == ("n1", "s9", "d9")
    assert nodes(await index.search_vector([0, 0.1, 1], 2)) == ["n1", "n2"]
    [old_direction] = await index.search_vector([1, 0, 0], 1)
    assert old_direction.score == pytest.approx(0.0, abs=1e-6)


async def test_a_batch_naming_a_node_twice_keeps_the_last(index: KnowledgeIndex) -> None:
    await index.upsert([entry("n1", "first words", [1, 0]), entry("n1", "second words", [0, 1])])
    assert await index.count() == 1
    assert nodes(await index.search_text("second", 5)) == ["n1"]
    assert await index.search_text("first", 5) == []
    [hit] = await index.search_vector([0, 1], 5)
    assert hit.score == pytest.approx(1.0, abs=1e-5)


async def test_delete_by_node_segment_and_document(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("n1", "shared word", [1, 0], segment="s1", document="d1"),
            entry("n2", "shared word", [1, 0], segment="s1", document="d1"),
            entry("n3", "shared word", [1, 0], segment="s3", document="d1"),
            entry("n4", "shared word", [1, 0], segment="s4", document="d2"),
            entry("n5", "shared word", [1, 0], segment="s5", document="d3"),
        ]
    )
    await index.delete(node_ids=["n5", "missing"])
    assert await index.node_ids() == {"n1", "n2", "n3", "n4"}
    await index.delete(segment_ids=["s1"])
    assert await index.node_ids() == {"n3", "n4"}
    await index.delete(document_ids=["d2"])
    assert await index.node_ids() == {"n3"}
    await index.delete(node_ids=["n3"], document_ids=["nothing"])
    await index.delete()
    assert await index.count() == 0
    assert await index.search_text("shared", 5) == []
    assert await index.search_vector([1, 0], 5) == []


async def test_set_enabled_hides_and_restores(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("n1", "lighthouse keeper", [1, 0], segment="s1", document="d1"),
            entry("n2", "lighthouse keeper", [1, 0], segment="s2", document="d1"),
            entry("n3", "lighthouse keeper", [1, 0], segment="s3", document="d2"),
            entry("n4", "lighthouse keeper", [1, 0], segment="s4", document="d2", enabled=False),
        ]
    )
    assert set(nodes(await index.search_text("lighthouse", 10))) == {"n1", "n2", "n3"}
    assert set(nodes(await index.search_vector([1, 0], 10))) == {"n1", "n2", "n3"}

    await index.set_enabled(False, document_ids=["d1"])
    await index.set_enabled(False, segment_ids=["s3"])
    assert await index.search_text("lighthouse", 10) == []
    assert await index.search_vector([1, 0], 10) == []
    assert await index.count() == 4  # disabled entries stay in the index

    await index.set_enabled(True, segment_ids=["s2", "s4"])
    assert set(nodes(await index.search_text("lighthouse", 10))) == {"n2", "n4"}
    assert set(nodes(await index.search_vector([1, 0], 10))) == {"n2", "n4"}
    await index.set_enabled(True, document_ids=["d1", "d2"])
    await index.set_enabled(True, document_ids=["d1"])  # enabling what is enabled is no error
    assert set(nodes(await index.search_text("keeper", 10))) == {"n1", "n2", "n3", "n4"}
    assert set(nodes(await index.search_vector([1, 0], 10))) == {"n1", "n2", "n3", "n4"}


async def test_an_upsert_of_a_disabled_entry_is_hidden_until_enabled(index: KnowledgeIndex) -> None:
    await index.upsert([entry("n1", "quiet harbour", [1, 0], enabled=True)])
    await index.upsert([entry("n1", "quiet harbour", [1, 0], enabled=False)])
    assert await index.search_text("harbour", 5) == []
    assert await index.search_vector([1, 0], 5) == []
    await index.set_enabled(True, segment_ids=["s-n1"])
    assert nodes(await index.search_text("harbour", 5)) == ["n1"]


# -- searches --------------------------------------------------------------------------


async def test_vector_search_ranks_by_cosine(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("east", vector=[1.0, 0.0, 0.0]),
            entry("north-east", vector=[1.0, 1.0, 0.0]),
            entry("north", vector=[0.0, 5.0, 0.0]),  # length does not matter, direction does
            entry("west", vector=[-1.0, 0.0, 0.0]),
            entry("up", vector=[0.0, 0.0, 1.0]),
        ]
    )
    hits = await index.search_vector([0.9, 0.1, 0.0], 3)
    assert nodes(hits) == ["east", "north-east", "north"]
    assert hits[0].score == pytest.approx(0.9939, abs=1e-3)
    assert hits[1].score == pytest.approx(0.7809, abs=1e-3)
    assert hits[2].score == pytest.approx(0.1104, abs=1e-3)
    everything = await index.search_vector([1.0, 0.0, 0.0], 10)
    assert len(everything) == 5
    assert nodes(everything)[:2] == ["east", "north-east"]
    assert all(0.0 <= hit.score <= 1.0 for hit in everything)
    assert everything[-1].node_id == "west"
    assert everything[-1].score == 0.0  # cosine -1, clipped
    assert await index.search_vector([1.0, 0.0, 0.0], 0) == []


async def test_the_first_vector_fixes_the_dimension(index: KnowledgeIndex) -> None:
    await index.upsert([entry("n1", "one", [1, 0, 0])])
    with pytest.raises(DimensionMismatch):
        await index.upsert([entry("n2", "two", [1, 0, 0, 0])])
    with pytest.raises(DimensionMismatch):
        await index.upsert([entry("n3", "three", [1, 0, 0]), entry("n4", "four", [1, 0])])
    with pytest.raises(DimensionMismatch):
        await index.search_vector([1, 0], 5)
    assert await index.node_ids() == {"n1"}  # a refused write leaves nothing behind
    assert await index.search_text("three four", 5) == []


async def test_vectors_must_be_finite_and_not_zero(index: KnowledgeIndex) -> None:
    with pytest.raises(InvalidInput):
        await index.upsert([entry("n1", "x", [0.0, 0.0])])
    with pytest.raises(InvalidInput):
        await index.upsert([entry("n1", "x", [float("nan"), 1.0])])
    await index.upsert([entry("n1", "x", [1.0, 1.0])])
    with pytest.raises(InvalidInput):
        await index.search_vector([0.0, 0.0], 5)
    assert await index.count() == 1


async def test_a_collection_without_vectors_searches_text_only(index: KnowledgeIndex) -> None:
    await index.upsert([entry("n1", "economy datasets keep keywords"), entry("n2", "nothing else")])
    assert await index.search_vector([1.0, 0.0], 5) == []
    assert nodes(await index.search_text("keywords", 5)) == ["n1"]
    await index.upsert([entry("n3", "now with vectors", [0.0, 1.0])])  # the first vector may come later
    assert nodes(await index.search_vector([0.0, 1.0], 5)) == ["n3"]


async def test_document_filter(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("a1", "orbital mechanics", [1.0, 0.0], document="A"),
            entry("a2", "orbital resonance", [0.9, 0.1], document="A"),
            entry("b1", "orbital decay", [0.0, 1.0], document="B"),
            entry("c1", "orbital period", [0.1, 0.9], document="C"),
        ]
    )
    only_b = SearchFilter(document_ids={"B"})
    assert nodes(await index.search_text("orbital", 10, only_b)) == ["b1"]
    assert nodes(await index.search_vector([1.0, 0.0], 10, only_b)) == ["b1"]
    b_or_c = SearchFilter(document_ids=["B", "C", "unknown"])
    assert set(nodes(await index.search_text("orbital", 10, b_or_c))) == {"b1", "c1"}
    # The two nearest rows are filtered out; the search still fills k from what is left.
    assert nodes(await index.search_vector([1.0, 0.0], 2, b_or_c)) == ["c1", "b1"]
    nothing = SearchFilter(document_ids=set())
    assert await index.search_text("orbital", 10, nothing) == []
    assert await index.search_vector([1.0, 0.0], 10, nothing) == []
    assert await index.search_text("orbital", 10, SearchFilter(document_ids=["unknown"])) == []


async def test_full_text_stems_english(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("runs", "The service runs nightly backups."),
            entry("walked", "She walked to the station."),
            entry("connection", "Connections are pooled."),
        ]
    )
    assert nodes(await index.search_text("running", 5)) == ["runs"]
    assert nodes(await index.search_text("RUN", 5)) == ["runs"]
    assert nodes(await index.search_text("walking", 5)) == ["walked"]
    assert nodes(await index.search_text("connected", 5)) == ["connection"]
    assert await index.search_text("the and of", 5) == []  # stopwords only
    assert await index.search_text("  ?!  ", 5) == []
    assert await index.search_text("submarine", 5) == []


async def test_full_text_finds_chinese_words_inside_runs(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("zh", "使用向量数据库进行检索"),
            entry("other", "今天天气很好"),
            entry("mixed", "Plait支持混合检索和GPU加速"),
        ]
    )
    assert nodes(await index.search_text("向量", 5)) == ["zh"]
    assert nodes(await index.search_text("数据库", 5)) == ["zh"]
    assert set(nodes(await index.search_text("检索", 5))) == {"zh", "mixed"}
    assert nodes(await index.search_text("gpu", 5)) == ["mixed"]
    assert nodes(await index.search_text("天气", 5)) == ["other"]
    assert await index.search_text("火车", 5) == []


async def test_full_text_finds_japanese_and_korean(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("ja", "東京駅から新幹線に乗ります"),
            entry("ja-kana", "コンピューターでデータを処理する"),
            entry("ko", "한국어 자연어 처리는 재미있습니다"),
        ]
    )
    assert nodes(await index.search_text("新幹線", 5)) == ["ja"]
    assert nodes(await index.search_text("データ", 5)) == ["ja-kana"]
    assert nodes(await index.search_text("자연어", 5)) == ["ko"]
    assert nodes(await index.search_text("처리", 5)) == ["ko"]


async def test_full_text_scores_are_relative_to_the_best_hit(index: KnowledgeIndex) -> None:
    await index.upsert(
        [
            entry("strong", "solar panels and solar inverters for solar farms"),
            entry("medium", "solar panels on a roof with a battery"),
            entry("weak", "a long text about gardens, trees, roses, tulips, and once the word solar"),
            entry("none", "wind turbines"),
        ]
    )
    hits = await index.search_text("solar inverters", 10)
    assert nodes(hits)[0] == "strong"
    assert set(nodes(hits)) == {"strong", "medium", "weak"}
    assert hits[0].score == 1.0
    assert all(0.0 < hit.score <= 1.0 for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert len(await index.search_text("solar", 2)) == 2


async def test_node_ids_and_count(index: KnowledgeIndex) -> None:
    assert await index.count() == 0
    assert await index.node_ids() == set()
    await index.upsert(
        [entry("n1", "x", document="d1"), entry("n2", "y", document="d1"), entry("n3", "z", document="d2")]
    )
    assert await index.count() == 3
    assert await index.node_ids(document_id="d1") == {"n1", "n2"}
    assert await index.node_ids(document_id="d3") == set()


# -- collections -----------------------------------------------------------------------


async def test_collections_are_separate_and_drop_removes_one(store: IndexStore) -> None:
    first, second = new_id(), new_id()
    one = await store.collection(first)
    two = await store.collection(second)
    assert one.dataset_id == first
    await one.upsert([entry("n1", "shared topic", [1.0, 0.0])])
    await two.upsert([entry("n2", "shared topic", [0.0, 1.0, 0.0])])  # dimensions are per collection
    assert nodes(await one.search_text("topic", 5)) == ["n1"]

    await store.drop(first)
    again = await store.collection(first)
    assert await again.count() == 0
    assert await again.search_text("topic", 5) == []
    await again.upsert([entry("n9", "fresh", [0.0, 0.0, 1.0])])  # a new dimension after the drop
    assert nodes(await again.search_vector([0.0, 0.0, 1.0], 5)) == ["n9"]
    assert nodes(await two.search_text("topic", 5)) == ["n2"]
    await store.drop(new_id())  # dropping what does not exist is no error


async def test_dataset_ids_must_be_uuids(store: IndexStore) -> None:
    with pytest.raises(InvalidInput):
        await store.collection("../../etc/passwd")
    dataset = new_id()
    assert (await store.collection(dataset.upper())) is not None


async def test_entries_persist_after_close(open_store: OpenStore) -> None:
    dataset = new_id()
    store = await open_store()
    index = await store.collection(dataset)
    await index.upsert([entry("n1", "durable storage", [1.0, 0.0]), entry("n2", "volatile", [0.0, 1.0])])
    await index.set_enabled(False, segment_ids=["s-n2"])
    await store.close()

    reopened = await (await open_store()).collection(dataset)
    assert await reopened.node_ids() == {"n1", "n2"}
    assert nodes(await reopened.search_text("durable", 5)) == ["n1"]
    assert nodes(await reopened.search_vector([0.0, 1.0], 5)) == ["n1"]
    with pytest.raises(DimensionMismatch):
        await reopened.upsert([entry("n3", "x", [1.0, 0.0, 0.0])])


async def test_writes_of_another_process_are_seen(open_store: OpenStore) -> None:
    dataset = new_id()
    mine = await (await open_store()).collection(dataset)
    theirs = await (await open_store()).collection(dataset)
    await mine.upsert([entry("n1", "first", [1.0, 0.0])])
    assert nodes(await mine.search_vector([1.0, 0.0], 5)) == ["n1"]  # loaded here

    await theirs.upsert([entry("n2", "second", [1.0, 0.1])])
    await theirs.set_enabled(False, segment_ids=["s-n1"])
    assert nodes(await mine.search_vector([1.0, 0.0], 5)) == ["n2"]
    assert nodes(await mine.search_text("second", 5)) == ["n2"]
    await mine.upsert([entry("n3", "third", [0.0, 1.0])])
    assert nodes(await theirs.search_vector([0.0, 1.0], 1)) == ["n3"]


async def test_concurrent_upserts(index: KnowledgeIndex) -> None:
    async def write(task: int) -> None:
        for batch in range(3):
            await index.upsert(
                [
                    entry(f"t{task}-b{batch}-{i}", f"task{task} batch{batch} common", [1.0, task, batch + i])
                    for i in range(5)
                ]
            )

    await asyncio.gather(*(write(task) for task in range(8)))
    assert await index.count() == 8 * 3 * 5
    assert len(await index.search_text("common", 500)) == 120
    assert len(await index.search_vector([1.0, 1.0, 1.0], 500)) == 120
    assert {hit.node_id for hit in await index.search_text("task3", 500)} == {
        f"t3-b{b}-{i}" for b in range(3) for i in range(5)
    }


async def test_a_cancelled_write_leaves_the_index_usable(index: KnowledgeIndex) -> None:
    batch = [entry(f"n{i}", f"bulk entry {i}", [1.0, float(i)]) for i in range(2000)]
    write = asyncio.ensure_future(index.upsert(batch))
    await asyncio.sleep(0.005)
    write.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await write
    await index.upsert([entry("after", "written after the cancel", [0.0, 1.0])])
    assert await index.count() in (1, 2001)  # all of the cancelled batch or none of it
    assert nodes(await index.search_text("cancel", 5)) == ["after"]
