"""How a knowledge base is searched: Dify's ``retrieval_model`` as one frozen value.

Dify spreads a retrieval configuration over loosely related fields (``search_method``,
``reranking_enable``, ``reranking_mode``, ``reranking_model``, ``weights``, ``top_k``,
``score_threshold_enabled``, ``score_threshold``) whose combinations mean different things
per search method. :func:`parse_retrieval_model` reads them once, validates them, and
settles what they mean into :class:`RetrievalSettings`, so the retriever never re-reads
flags. :func:`to_dify` writes the value back as a dataset's ``retrieval_model_dict``;
:func:`parse_multiple_retrieval_config` reads the knowledge-retrieval node's
``multiple_retrieval_config``.

How Dify's combinations are settled (following Dify's ``RetrievalService``):

- ``keyword_search`` (the search of ``economy`` datasets) searches full text only.
- A rerank model applies only when ``reranking_enable`` is true; with semantic or
  full-text search it is the only reranking there is. Without a ``reranking_mode``, an
  enabled reranking means the rerank model, as in Dify.
- Hybrid search always fuses its two result lists: with ``weighted_score`` weights when
  given, with reciprocal rank fusion for ``reranking_mode: "reciprocal_rank_fusion"`` (a
  Plait extension), with a rerank model when enabled, and otherwise with
  :data:`DEFAULT_FUSION` (Dify's UI default, 0.7 vector / 0.3 keyword; Dify itself leaves
  such results unfused and unsorted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from plait.errors import InvalidInput

SearchMethod = Literal["semantic_search", "full_text_search", "hybrid_search", "keyword_search"]
SEARCH_METHODS: tuple[str, ...] = get_args(SearchMethod)
WeightType = Literal["semantic_first", "keyword_first", "customized"]

TOP_K_MAX = 100
"""The largest ``top_k`` accepted (Dify's UI stops at ``TOP_K_MAX_VALUE=10``; its API does not)."""
DEFAULT_TOP_K = 4
WEIGHT_TOLERANCE = 1e-6
RRF_K = 60


@dataclass(frozen=True, slots=True)
class NoReranking:
    """Results keep the scores of their search."""


@dataclass(frozen=True, slots=True)
class WeightedScore:
    """``vector_weight * vector score + keyword_weight * full-text score``; a hit missing
    from one list scores 0 there. The embedding names are kept for the round trip only."""

    vector_weight: float
    keyword_weight: float
    weight_type: WeightType = "customized"
    embedding_provider_name: str = ""
    embedding_model_name: str = ""


@dataclass(frozen=True, slots=True)
class RerankModel:
    """A rerank model scores the candidates; its scores replace the search's."""

    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class ReciprocalRankFusion:
    """``sum(1 / (k + rank))`` over the result lists, scaled so that rank 1 in every list
    scores 1.0. Ranks, not scores, so it needs no calibration between the two searches."""

    k: int = RRF_K


Reranking = NoReranking | WeightedScore | RerankModel | ReciprocalRankFusion
NO_RERANKING = NoReranking()
DEFAULT_FUSION: Reranking = WeightedScore(0.7, 0.3, "semantic_first")
"""How hybrid results are fused when the configuration names no way."""


@dataclass(frozen=True, slots=True)
class RetrievalSettings:
    search_method: SearchMethod = "semantic_search"
    top_k: int = DEFAULT_TOP_K
    score_threshold: float | None = None
    """Results scoring below are dropped (after reranking); ``None`` when disabled."""
    reranking: Reranking = NO_RERANKING

    @property
    def uses_vectors(self) -> bool:
        return self.search_method in ("semantic_search", "hybrid_search")

    @property
    def uses_text(self) -> bool:
        return self.search_method in ("full_text_search", "hybrid_search", "keyword_search")


DEFAULT_SETTINGS = RetrievalSettings()
"""Dify's ``default_retrieval_model``: semantic search, top 4, no threshold, no reranking."""


def parse_retrieval_model(
    raw: Mapping[str, Any] | None, *, default: RetrievalSettings | None = None, field: str = "retrieval_model"
) -> RetrievalSettings:
    """Read Dify's ``retrieval_model``. Fields left out keep ``default``'s values (a
    hit-testing request may send only some); ``field`` prefixes the names in errors."""
    base = default or DEFAULT_SETTINGS
    if raw is None:
        return base
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field} must be an object", params=field)
    method = raw.get("search_method")
    if method is None:
        method = base.search_method
    elif method not in SEARCH_METHODS:
        raise InvalidInput(
            f"{field}.search_method must be one of {', '.join(SEARCH_METHODS)}, not {method!r}",
            params=f"{field}.search_method",
        )
    search_method = cast(SearchMethod, method)
    top_k = _top_k(raw.get("top_k"), base.top_k, f"{field}.top_k")
    threshold = _threshold(raw, base.score_threshold, field)
    reranking = _reranking(
        search_method,
        enabled=_flag(raw.get("reranking_enable"), f"{field}.reranking_enable"),
        mode=raw.get("reranking_mode"),
        model=_rerank_model(raw.get("reranking_model"), f"{field}.reranking_model", "reranking_"),
        weights=raw.get("weights"),
        field=field,
        inherited=base.reranking if "reranking_enable" not in raw and "reranking_mode" not in raw else None,
    )
    return RetrievalSettings(search_method, top_k, threshold, reranking)


def parse_multiple_retrieval_config(
    raw: Mapping[str, Any] | None, *, field: str = "multiple_retrieval_config"
) -> RetrievalSettings:
    """Read the knowledge-retrieval node's ``multiple_retrieval_config``: how the results
    of all its datasets are merged. ``score_threshold`` is ``null`` when disabled; the
    rerank model is ``{provider, model}``. There is no search method at this level (each
    dataset searches its own way); the value says ``hybrid_search`` so that weights and
    rank fusion are accepted."""
    if raw is None:
        return RetrievalSettings("hybrid_search")
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field} must be an object", params=field)
    top_k = _top_k(raw.get("top_k"), DEFAULT_TOP_K, f"{field}.top_k")
    threshold = raw.get("score_threshold")
    score_threshold = None if threshold is None else _unit(threshold, f"{field}.score_threshold")
    reranking: Reranking = NO_RERANKING
    # As in Dify, the datasets' results are reranked only when reranking is enabled; a mode
    # without its model or weights is an error here (Dify fails on missing weights too).
    if _flag(raw.get("reranking_enable"), f"{field}.reranking_enable"):
        mode = _mode(raw.get("reranking_mode"), field)
        if mode == "reranking_model":
            model = _rerank_model(raw.get("reranking_model"), f"{field}.reranking_model", "")
            reranking = _model_or_error(model, field)
        elif mode == "weighted_score":
            if raw.get("weights") is None:
                raise InvalidInput(f"{field}.weights is required for weighted_score", params=f"{field}.weights")
            reranking = _weights(raw["weights"], f"{field}.weights")
        elif mode == "reciprocal_rank_fusion":
            reranking = ReciprocalRankFusion()
    # A threshold of 0 drops nothing; Dify's UI sends it for "disabled" too.
    return RetrievalSettings("hybrid_search", top_k, score_threshold or None, reranking)


def to_dify(settings: RetrievalSettings) -> dict[str, Any]:
    """The settings as Dify's ``retrieval_model_dict``."""
    reranking = settings.reranking
    body: dict[str, Any] = {
        "search_method": settings.search_method,
        "reranking_enable": isinstance(reranking, RerankModel),
        "reranking_mode": None,
        "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
        "weights": None,
        "top_k": settings.top_k,
        "score_threshold_enabled": settings.score_threshold is not None,
        "score_threshold": settings.score_threshold if settings.score_threshold is not None else 0.0,
    }
    match reranking:
        case RerankModel(provider, model):
            body["reranking_mode"] = "reranking_model"
            body["reranking_model"] = {"reranking_provider_name": provider, "reranking_model_name": model}
        case WeightedScore():
            body["reranking_mode"] = "weighted_score"
            body["weights"] = {
                "weight_type": reranking.weight_type,
                "vector_setting": {
                    "vector_weight": reranking.vector_weight,
                    "embedding_provider_name": reranking.embedding_provider_name,
                    "embedding_model_name": reranking.embedding_model_name,
                },
                "keyword_setting": {"keyword_weight": reranking.keyword_weight},
            }
        case ReciprocalRankFusion():
            body["reranking_mode"] = "reciprocal_rank_fusion"
    return body


# --- fields -----------------------------------------------------------------------------------


_RerankName = tuple[str, str] | None
"""(provider, model), ``None`` when not given, ``("", "")``-like when incomplete."""


def _reranking(
    method: SearchMethod,
    *,
    enabled: bool | None,
    mode: Any,
    model: _RerankName,
    weights: Any,
    field: str,
    inherited: Reranking | None,
) -> Reranking:
    if inherited is not None and model is None and weights is None:
        return inherited if _applies(inherited, method) else _fusion_or_none(method)
    mode = _mode(mode, field)
    # Without a mode Dify means a rerank model (datasets from before weighted scores); a
    # hybrid search without a complete one falls back to fusion rather than failing.
    named = model is not None and all(model)
    if enabled and (mode == "reranking_model" or (mode is None and (method != "hybrid_search" or named))):
        return _model_or_error(model, field)
    if method != "hybrid_search":
        return NO_RERANKING
    if mode == "weighted_score":
        return _weights(weights, f"{field}.weights") if weights is not None else DEFAULT_FUSION
    if mode == "reciprocal_rank_fusion":
        return ReciprocalRankFusion()
    return DEFAULT_FUSION


def _mode(raw: Any, field: str) -> str | None:
    if raw is not None and raw not in ("reranking_model", "weighted_score", "reciprocal_rank_fusion"):
        raise InvalidInput(
            f"{field}.reranking_mode must be reranking_model, weighted_score or reciprocal_rank_fusion, not {raw!r}",
            params=f"{field}.reranking_mode",
        )
    return cast(str | None, raw)


def _model_or_error(model: _RerankName, field: str) -> RerankModel:
    if model is None or not all(model):
        raise InvalidInput(
            f"{field}.reranking_model needs a provider and a model name when reranking is enabled",
            params=f"{field}.reranking_model",
        )
    return RerankModel(*model)


def _applies(reranking: Reranking, method: SearchMethod) -> bool:
    """Whether settings inherited for another search method still make sense for ``method``."""
    if isinstance(reranking, RerankModel):
        return True
    return isinstance(reranking, NoReranking) != (method == "hybrid_search")


def _fusion_or_none(method: SearchMethod) -> Reranking:
    return DEFAULT_FUSION if method == "hybrid_search" else NO_RERANKING


def _weights(raw: Any, field: str) -> WeightedScore:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field} must be an object", params=field)
    vector = raw.get("vector_setting") or {}
    keyword = raw.get("keyword_setting") or {}
    if not isinstance(vector, Mapping) or not isinstance(keyword, Mapping):
        raise InvalidInput(f"{field}.vector_setting and keyword_setting must be objects", params=field)
    vector_weight = _unit(vector.get("vector_weight"), f"{field}.vector_setting.vector_weight")
    keyword_weight = _unit(keyword.get("keyword_weight"), f"{field}.keyword_setting.keyword_weight")
    if abs(vector_weight + keyword_weight - 1.0) > WEIGHT_TOLERANCE:
        raise InvalidInput(
            f"{field}: vector_weight and keyword_weight must add up to 1, not {vector_weight + keyword_weight:g}",
            params=field,
        )
    weight_type = raw.get("weight_type") or "customized"
    if weight_type not in get_args(WeightType):
        raise InvalidInput(
            f"{field}.weight_type must be semantic_first, keyword_first or customized, not {weight_type!r}",
            params=f"{field}.weight_type",
        )
    return WeightedScore(
        vector_weight,
        keyword_weight,
        cast(WeightType, weight_type),
        str(vector.get("embedding_provider_name") or ""),
        str(vector.get("embedding_model_name") or ""),
    )


def _rerank_model(raw: Any, field: str, prefix: str) -> _RerankName:
    """Dataset settings name the fields ``reranking_provider_name``/``reranking_model_name``,
    the workflow node ``provider``/``model``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field} must be an object", params=field)
    keys = (f"{prefix}provider_name", f"{prefix}model_name") if prefix else ("provider", "model")
    provider, model = (raw.get(key) or "" for key in keys)
    if not isinstance(provider, str) or not isinstance(model, str):
        raise InvalidInput(f"{field}: {keys[0]} and {keys[1]} must be strings", params=field)
    return provider.strip(), model.strip()


def _top_k(raw: Any, default: int, field: str) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw):
        raise InvalidInput(f"{field} must be a whole number, not {raw!r}", params=field)
    if not 1 <= raw <= TOP_K_MAX:
        raise InvalidInput(f"{field} must be from 1 to {TOP_K_MAX}, not {int(raw)}", params=field)
    return int(raw)


def _threshold(raw: Mapping[str, Any], default: float | None, field: str) -> float | None:
    enabled = _flag(raw.get("score_threshold_enabled"), f"{field}.score_threshold_enabled")
    value = raw.get("score_threshold")
    if enabled is None:
        return default if value is None else _unit(value, f"{field}.score_threshold")
    if not enabled:
        return None
    if value is None:
        raise InvalidInput(
            f"{field}.score_threshold is required when score_threshold_enabled is true",
            params=f"{field}.score_threshold",
        )
    return _unit(value, f"{field}.score_threshold")


def _unit(raw: Any, field: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise InvalidInput(f"{field} must be a number from 0 to 1, not {raw!r}", params=field)
    if not 0.0 <= raw <= 1.0:
        raise InvalidInput(f"{field} must be from 0 to 1, not {raw:g}", params=field)
    return float(raw)


def _flag(raw: Any, field: str) -> bool | None:
    if raw is None or isinstance(raw, bool):
        return raw
    raise InvalidInput(f"{field} must be true or false, not {raw!r}", params=field)
