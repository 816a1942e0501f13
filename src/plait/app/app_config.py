"""What a published app version configures, read alike for prompt-based apps (Dify's
``model_config``) and chatflows (the DSL's ``workflow`` section): its features, and the model
that answers the app's helper calls (suggested questions, conversation names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plait.storage.db.tables import AppVersion


def features_of(version: AppVersion) -> Mapping[str, Any]:
    """A chatflow's ``workflow.features``; a prompt-based app keeps its features at the top
    of its ``model_config``."""
    if version.workflow is not None:
        features = version.workflow.get("features")
        return features if isinstance(features, Mapping) else {}
    return version.model_config_ or {}


def feature_enabled(version: AppVersion, name: str) -> bool:
    feature = features_of(version).get(name)
    return isinstance(feature, Mapping) and feature.get("enabled") is True


def helper_model_of(version: AppVersion) -> dict[str, Any]:
    """The model block (``{provider, name, completion_params}``) for an app's helper calls.

    A prompt-based app's own model. For a chatflow, its first LLM node's: Dify asks the
    workspace default there, but in Plait a workspace that has chosen none defaults to the
    offline 135M model, while the node's model is one the app's author picked and has
    credentials for. An empty block (the workspace default) when the app names none."""
    if version.workflow is not None:
        nodes = (version.workflow.get("graph") or {}).get("nodes") or []
        for node in nodes:
            data = node.get("data") if isinstance(node, Mapping) else None
            if isinstance(data, Mapping) and data.get("type") == "llm" and isinstance(data.get("model"), Mapping):
                return dict(data["model"])
        return {}
    model = (version.model_config_ or {}).get("model")
    return dict(model) if isinstance(model, Mapping) else {}
