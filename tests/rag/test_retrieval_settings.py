"""Dify's ``retrieval_model`` and the node's ``multiple_retrieval_config``, read into
RetrievalSettings and written back."""

from __future__ import annotations

from typing import Any

import pytest

from plait.errors import InvalidInput
from plait.rag.retrieval_settings import (
    DEFAULT_FUSION,
    DEFAULT_SETTINGS,
    NO_RERANKING,
    ReciprocalRankFusion,
    RerankModel,
    RetrievalSettings,
    WeightedScore,
    parse_multiple_retrieval_config,
    parse_retrieval_model,
    to_dify,
)

RERANK = {"reranking_provider_name": "langgenius/cohere/cohere", "reranking_model_name": "rerank-v3.5"}
WEIGHTS = {
    "weight_type": "customized",
    "vector_setting": {
        "vector_weight": 0.6,
        "embedding_provider_name": "langgenius/openai/openai",
        "embedding_model_name": "text-embedding-3-small",
    },
    "keyword_setting": {"keyword_weight": 0.4},
}


def dify(**fields: Any) -> dict[str, Any]:
    """A retrieval_model as Dify's UI sends it, with ``fields`` changed."""
    body: dict[str, Any] = {
        "search_method": "semantic_search",
        "reranking_enable": False,
        "reranking_mode": None,
        "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
        "weights": None,
        "top_k": 4,
        "score_threshold_enabled": False,
        "score_threshold": 0.5,
    }
    return {**body, **fields}


def test_nothing_given_is_difys_default() -> None:
    assert parse_retrieval_model(None) == DEFAULT_SETTINGS
    assert RetrievalSettings("semantic_search", 4, None, NO_RERANKING) == DEFAULT_SETTINGS
    assert parse_retrieval_model(dify()) == DEFAULT_SETTINGS


def test_semantic_search_with_a_threshold_and_a_rerank_model() -> None:
    settings = parse_retrieval_model(
        dify(top_k=7, score_threshold_enabled=True, score_threshold=0.35, reranking_enable=True, reranking_model=RERANK)
    )
    assert settings == RetrievalSettings(
        "semantic_search", 7, 0.35, RerankModel("langgenius/cohere/cohere", "rerank-v3.5")
    )
    assert settings.uses_vectors
    assert not settings.uses_text


def test_a_rerank_model_counts_only_when_reranking_is_enabled() -> None:
    assert parse_retrieval_model(dify(reranking_model=RERANK)).reranking == NO_RERANKING


def test_a_disabled_threshold_is_none_whatever_its_value() -> None:
    assert parse_retrieval_model(dify(score_threshold_enabled=False, score_threshold=0.9)).score_threshold is None


def test_keyword_search_searches_full_text_only() -> None:
    settings = parse_retrieval_model(dify(search_method="keyword_search"))
    assert settings.uses_text
    assert not settings.uses_vectors
    assert to_dify(settings)["search_method"] == "keyword_search"


def test_hybrid_with_weights() -> None:
    settings = parse_retrieval_model(
        dify(search_method="hybrid_search", reranking_mode="weighted_score", weights=WEIGHTS)
    )
    assert settings.uses_vectors
    assert settings.uses_text
    assert settings.reranking == WeightedScore(
        0.6, 0.4, "customized", "langgenius/openai/openai", "text-embedding-3-small"
    )


def test_hybrid_without_a_mode_reranks_with_the_model_as_dify_did_before_weights() -> None:
    settings = parse_retrieval_model(dify(search_method="hybrid_search", reranking_enable=True, reranking_model=RERANK))
    assert settings.reranking == RerankModel("langgenius/cohere/cohere", "rerank-v3.5")
    incomplete = parse_retrieval_model(dify(search_method="hybrid_search", reranking_enable=True))
    assert incomplete.reranking == DEFAULT_FUSION


def test_hybrid_with_a_rerank_model() -> None:
    settings = parse_retrieval_model(
        dify(
            search_method="hybrid_search",
            reranking_enable=True,
            reranking_mode="reranking_model",
            reranking_model=RERANK,
        )
    )
    assert settings.reranking == RerankModel("langgenius/cohere/cohere", "rerank-v3.5")


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"reranking_mode": "reranking_model"},  # the mode, but reranking disabled
        {"reranking_mode": "weighted_score"},  # the mode without weights
    ],
)
def test_hybrid_without_a_usable_reranking_fuses_by_default_weights(fields: dict[str, Any]) -> None:
    settings = parse_retrieval_model(dify(search_method="hybrid_search", **fields))
    assert settings.reranking == DEFAULT_FUSION == WeightedScore(0.7, 0.3, "semantic_first")


def test_reciprocal_rank_fusion_is_a_plait_mode() -> None:
    settings = parse_retrieval_model(dify(search_method="hybrid_search", reranking_mode="reciprocal_rank_fusion"))
    assert settings.reranking == ReciprocalRankFusion(60)
    assert to_dify(settings)["reranking_mode"] == "reciprocal_rank_fusion"
    assert parse_retrieval_model(to_dify(settings)) == settings


def test_weights_mean_nothing_to_a_single_search() -> None:
    settings = parse_retrieval_model(
        dify(search_method="full_text_search", reranking_mode="weighted_score", weights=WEIGHTS)
    )
    assert settings.reranking == NO_RERANKING


@pytest.mark.parametrize(
    "settings",
    [
        DEFAULT_SETTINGS,
        RetrievalSettings("full_text_search", 10, 0.2, RerankModel("cohere", "rerank-v3.5")),
        RetrievalSettings("hybrid_search", 3, None, WeightedScore(0.25, 0.75, "keyword_first", "openai", "te3")),
        RetrievalSettings("hybrid_search", 5, 0.0, ReciprocalRankFusion()),
        RetrievalSettings("keyword_search", 1, None, NO_RERANKING),
    ],
)
def test_round_trip_through_difys_dict(settings: RetrievalSettings) -> None:
    assert parse_retrieval_model(to_dify(settings)) == settings


def test_to_dify_writes_difys_fields() -> None:
    body = to_dify(RetrievalSettings("hybrid_search", 6, 0.4, WeightedScore(0.7, 0.3, "semantic_first", "p", "m")))
    assert body == {
        "search_method": "hybrid_search",
        "reranking_enable": False,
        "reranking_mode": "weighted_score",
        "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
        "weights": {
            "weight_type": "semantic_first",
            "vector_setting": {"vector_weight": 0.7, "embedding_provider_name": "p", "embedding_model_name": "m"},
            "keyword_setting": {"keyword_weight": 0.3},
        },
        "top_k": 6,
        "score_threshold_enabled": True,
        "score_threshold": 0.4,
    }


def test_fields_left_out_keep_the_defaults() -> None:
    dataset = RetrievalSettings("hybrid_search", 8, 0.3, RerankModel("cohere", "rerank-v3.5"))
    assert parse_retrieval_model({"top_k": 2}, default=dataset) == RetrievalSettings(
        "hybrid_search", 2, 0.3, RerankModel("cohere", "rerank-v3.5")
    )
    # A weighted fusion inherited by a semantic search no longer applies.
    weighted = RetrievalSettings("hybrid_search", 8, None, WeightedScore(0.5, 0.5))
    assert parse_retrieval_model({"search_method": "semantic_search"}, default=weighted).reranking == NO_RERANKING
    semantic = RetrievalSettings("semantic_search")
    assert parse_retrieval_model({"search_method": "hybrid_search"}, default=semantic).reranking == DEFAULT_FUSION


def test_weights_summing_to_one_within_a_millionth_are_accepted() -> None:
    weights = {"vector_setting": {"vector_weight": 0.1 + 0.2}, "keyword_setting": {"keyword_weight": 0.7 - 1e-7}}
    settings = parse_retrieval_model(
        dify(search_method="hybrid_search", reranking_mode="weighted_score", weights=weights)
    )
    assert isinstance(settings.reranking, WeightedScore)
    assert settings.reranking.weight_type == "customized"


@pytest.mark.parametrize(
    ("fields", "params"),
    [
        ({"search_method": "vector_search"}, "retrieval_model.search_method"),
        ({"top_k": 0}, "retrieval_model.top_k"),
        ({"top_k": 101}, "retrieval_model.top_k"),
        ({"top_k": 2.5}, "retrieval_model.top_k"),
        ({"top_k": "5"}, "retrieval_model.top_k"),
        ({"top_k": True}, "retrieval_model.top_k"),
        ({"score_threshold_enabled": True, "score_threshold": 1.5}, "retrieval_model.score_threshold"),
        ({"score_threshold_enabled": True, "score_threshold": None}, "retrieval_model.score_threshold"),
        ({"score_threshold_enabled": "yes"}, "retrieval_model.score_threshold_enabled"),
        ({"reranking_enable": True}, "retrieval_model.reranking_model"),
        (
            {"reranking_enable": True, "reranking_model": {"reranking_provider_name": "cohere"}},
            "retrieval_model.reranking_model",
        ),
        (
            {
                "search_method": "hybrid_search",
                "reranking_enable": True,
                "reranking_mode": "reranking_model",
                "reranking_model": {"reranking_provider_name": "", "reranking_model_name": "rerank-v3.5"},
            },
            "retrieval_model.reranking_model",
        ),
        ({"search_method": "hybrid_search", "reranking_mode": "best_guess"}, "retrieval_model.reranking_mode"),
        (
            {
                "search_method": "hybrid_search",
                "reranking_mode": "weighted_score",
                "weights": {"vector_setting": {"vector_weight": 0.7}, "keyword_setting": {"keyword_weight": 0.4}},
            },
            "retrieval_model.weights",
        ),
        (
            {
                "search_method": "hybrid_search",
                "reranking_mode": "weighted_score",
                "weights": {"vector_setting": {"vector_weight": 1.2}, "keyword_setting": {"keyword_weight": -0.2}},
            },
            "retrieval_model.weights.vector_setting.vector_weight",
        ),
        (
            {
                "search_method": "hybrid_search",
                "reranking_mode": "weighted_score",
                "weights": {**WEIGHTS, "weight_type": "balanced"},
            },
            "retrieval_model.weights.weight_type",
        ),
    ],
)
def test_invalid_settings_name_the_field(fields: dict[str, Any], params: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_retrieval_model(dify(**fields))
    assert raised.value.params == params
    assert params.rsplit(".", 1)[-1] in raised.value.message


def test_the_error_prefix_is_the_callers_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_retrieval_model({"top_k": -1}, field="body.retrieval_model")
    assert raised.value.params == "body.retrieval_model.top_k"
    with pytest.raises(InvalidInput, match="must be an object"):
        parse_retrieval_model(["semantic_search"])  # type: ignore[arg-type]


# --- the knowledge-retrieval node ---------------------------------------------------------------


def test_multiple_retrieval_config_with_a_rerank_model() -> None:
    settings = parse_multiple_retrieval_config(
        {
            "top_k": 6,
            "score_threshold": 0.25,
            "reranking_enable": True,
            "reranking_mode": "reranking_model",
            "reranking_model": {"provider": "langgenius/jina/jina", "model": "jina-reranker-v2-base-multilingual"},
        }
    )
    assert settings.top_k == 6
    assert settings.score_threshold == 0.25
    assert settings.reranking == RerankModel("langgenius/jina/jina", "jina-reranker-v2-base-multilingual")


def test_multiple_retrieval_config_with_weights() -> None:
    settings = parse_multiple_retrieval_config(
        {
            "top_k": 3,
            "score_threshold": None,
            "reranking_enable": True,
            "reranking_mode": "weighted_score",
            "weights": WEIGHTS,
        }
    )
    assert settings.score_threshold is None
    assert settings.reranking == WeightedScore(
        0.6, 0.4, "customized", "langgenius/openai/openai", "text-embedding-3-small"
    )


def test_multiple_retrieval_config_reranks_only_when_enabled() -> None:
    raw = {"top_k": 4, "reranking_enable": False, "reranking_mode": "reranking_model", "score_threshold": 0}
    settings = parse_multiple_retrieval_config(raw)
    assert settings == RetrievalSettings("hybrid_search", 4, None, NO_RERANKING)
    assert parse_multiple_retrieval_config(None) == RetrievalSettings("hybrid_search", 4, None, NO_RERANKING)
    rrf = parse_multiple_retrieval_config({"reranking_enable": True, "reranking_mode": "reciprocal_rank_fusion"})
    assert rrf.reranking == ReciprocalRankFusion()


@pytest.mark.parametrize(
    ("raw", "params"),
    [
        ({"top_k": 0}, "multiple_retrieval_config.top_k"),
        ({"score_threshold": 2}, "multiple_retrieval_config.score_threshold"),
        ({"reranking_enable": True, "reranking_mode": "reranking_model"}, "multiple_retrieval_config.reranking_model"),
        (
            {"reranking_enable": True, "reranking_mode": "reranking_model", "reranking_model": {"provider": "cohere"}},
            "multiple_retrieval_config.reranking_model",
        ),
        ({"reranking_enable": True, "reranking_mode": "weighted_score"}, "multiple_retrieval_config.weights"),
        ({"reranking_enable": True, "reranking_mode": "magic"}, "multiple_retrieval_config.reranking_mode"),
    ],
)
def test_invalid_node_config_names_the_field(raw: dict[str, Any], params: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_multiple_retrieval_config(raw)
    assert raised.value.params == params
