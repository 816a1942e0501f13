"""Model providers in the console (Dify's paths under ``/workspaces/current``): the
catalog, credentials (shown masked, checked by a real call before they are saved), custom
models, default models. Reading needs a console session; changing needs owner or admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from plait.api.deps import ConsoleAdmin, ConsoleUser, PlaitDep

router = APIRouter(prefix="/workspaces/current", tags=["console: model providers"])


@router.get("/model-providers")
async def list_providers(user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    return {"data": await plait.model_providers.catalog(user.workspace_id)}


class CredentialsBody(BaseModel):
    credentials: dict[str, Any] = Field(default_factory=dict)


@router.get("/model-providers/{provider:path}/credentials")
async def get_credentials(provider: str, user: ConsoleAdmin, plait: PlaitDep) -> dict[str, Any]:
    return {"credentials": await plait.model_providers.credentials(user.workspace_id, provider)}


@router.post("/model-providers/{provider:path}/credentials/validate")
async def validate_credentials(
    provider: str, body: CredentialsBody, user: ConsoleAdmin, plait: PlaitDep
) -> dict[str, Any]:
    await plait.model_providers.validate(user.workspace_id, provider, body.credentials)
    return {"result": "success"}


@router.post("/model-providers/{provider:path}/credentials")
async def save_credentials(provider: str, body: CredentialsBody, user: ConsoleAdmin, plait: PlaitDep) -> dict[str, Any]:
    saved = await plait.model_providers.save(user.workspace_id, provider, body.credentials, account_id=user.account_id)
    return {"result": "success", "credentials": saved.values}


@router.delete("/model-providers/{provider:path}/credentials", status_code=204)
async def delete_credentials(provider: str, user: ConsoleAdmin, plait: PlaitDep) -> Response:
    await plait.model_providers.delete(user.workspace_id, provider)
    return Response(status_code=204)


class CustomModelBody(BaseModel):
    model: str = Field(min_length=1, max_length=255)
    model_type: str
    credentials: dict[str, Any] = Field(default_factory=dict)


@router.post("/model-providers/{provider:path}/models")
async def save_model(provider: str, body: CustomModelBody, user: ConsoleAdmin, plait: PlaitDep) -> dict[str, Any]:
    saved = await plait.model_providers.save(
        user.workspace_id,
        provider,
        body.credentials,
        model_type=body.model_type,
        model_name=body.model,
        account_id=user.account_id,
    )
    return {"result": "success", "credentials": saved.values}


class ModelRef(BaseModel):
    model: str = Field(min_length=1, max_length=255)
    model_type: str


@router.delete("/model-providers/{provider:path}/models", status_code=204)
async def delete_model(provider: str, body: ModelRef, user: ConsoleAdmin, plait: PlaitDep) -> Response:
    await plait.model_providers.delete(user.workspace_id, provider, model_type=body.model_type, model_name=body.model)
    return Response(status_code=204)


@router.get("/models/model-types/{model_type}")
async def models_of_type(model_type: str, user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    return {"data": await plait.model_providers.models_of_type(user.workspace_id, model_type)}


@router.get("/default-model")
async def get_default_model(model_type: str, user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    found = await plait.model_providers.default(user.workspace_id, model_type)
    return {"data": found or None}


class DefaultModelChoice(BaseModel):
    model_type: str
    provider: str
    model: str


class DefaultModelsBody(BaseModel):
    model_settings: list[DefaultModelChoice] = Field(min_length=1, max_length=10)


@router.post("/default-model")
async def set_default_models(body: DefaultModelsBody, user: ConsoleAdmin, plait: PlaitDep) -> dict[str, str]:
    await plait.model_providers.set_defaults(user.workspace_id, [choice.model_dump() for choice in body.model_settings])
    return {"result": "success"}
