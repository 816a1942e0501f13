"""Annotation reply: a chat turn whose query is close enough to an annotation's question is
answered with that annotation's answer, without calling a model, as Dify does.

The query is embedded with the app's configured model and compared (cosine) with every
annotation question embedded under that model; the best match at or above the threshold
wins. Question vectors are kept in memory per app and reread only when the app's
annotations or setting change (one cheap aggregate query tells), so a turn pays for one
embedding and a matrix product, not for decoding every vector from the database.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.annotations import UNKNOWN_AUTHOR, EmbeddingModelFor, is_current
from plait.errors import PlaitError
from plait.storage.db import Database
from plait.storage.db.tables import Account, Annotation, AnnotationHit, AnnotationSetting, App

log = structlog.get_logger(__name__)

CACHED_APPS = 64
# Float noise: the same text embeds to a cosine of 1 - 1e-16, which must pass a threshold of 1.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class AnnotationMatch:
    annotation_id: str
    question: str
    answer: str
    score: float
    account_id: str | None
    account_name: str

    @property
    def reply(self) -> dict[str, Any]:
        """``metadata.annotation_reply`` as Dify sends it."""
        return {"id": self.annotation_id, "account": {"id": self.account_id, "name": self.account_name}}


@dataclass(frozen=True)
class _Vectors:
    stamp: tuple[Any, ...]
    ids: list[str]
    unit: np.ndarray[Any, np.dtype[np.float64]]  # one L2-normalised row per annotation


def _stamp(setting: AnnotationSetting, count: int, last_change: datetime | None) -> tuple[Any, ...]:
    return (setting.embedding_provider_name, setting.embedding_model_name, count, last_change)


def _normalised(vectors: list[list[float]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: np.ndarray[Any, np.dtype[np.float64]] = matrix / norms
    return result


class AnnotationReplies:
    def __init__(self, db: Database, embedding_models: EmbeddingModelFor) -> None:
        self._db = db
        self._models = embedding_models
        self._vectors: OrderedDict[str, _Vectors] = OrderedDict()

    async def match(self, app: App, query: str) -> AnnotationMatch | None:
        """The annotation that answers ``query``, or None (reply off, nothing close enough,
        or the embedding model failing: then the turn goes to the model, as in Dify)."""
        async with self._db.reader() as session:
            setting = (
                await session.execute(select(AnnotationSetting).where(AnnotationSetting.app_id == app.id))
            ).scalar_one_or_none()
            if setting is None or not query.strip():
                return None
            count, last_change = (
                await session.execute(
                    select(func.count(), func.max(Annotation.updated_at)).where(Annotation.app_id == app.id)
                )
            ).one()
            stamp = _stamp(setting, int(count), last_change)
            vectors = self._vectors.get(app.id)
            if vectors is None or vectors.stamp != stamp:
                vectors = await self._load(session, app, setting, stamp)
            else:
                self._vectors.move_to_end(app.id)
        if not vectors.ids:
            return None
        try:
            model = await self._models(app.workspace_id, setting.embedding_provider_name, setting.embedding_model_name)
            embedded = await model.embed([query], input_type="query")
        except PlaitError as error:
            log.warning("annotation_reply.embedding_failed", app_id=app.id, error=error.message)
            return None
        query_vector = _normalised(embedded.vectors)[0]
        if query_vector.shape[0] != vectors.unit.shape[1]:
            log.warning("annotation_reply.dimensions_differ", app_id=app.id)
            return None
        scores = vectors.unit @ query_vector
        best = int(np.argmax(scores))
        score = float(scores[best])
        # Dify reads a threshold of 0 as 1 (only an exact match answers); kept for its apps.
        threshold = setting.score_threshold or 1.0
        if score + TOLERANCE < threshold:
            return None
        return await self._matched(vectors.ids[best], min(score, 1.0))

    async def _load(
        self, session: AsyncSession, app: App, setting: AnnotationSetting, stamp: tuple[Any, ...]
    ) -> _Vectors:
        rows = await session.execute(
            select(Annotation.id, Annotation.question, Annotation.embedding).where(
                Annotation.app_id == app.id, Annotation.embedding.is_not(None)
            )
        )
        ids: list[str] = []
        vectors: list[list[float]] = []
        for annotation_id, question, embedding in rows.all():
            # Stale vectors (another model, an edited question) wait for the enable job.
            if is_current(embedding, setting, question) and (
                not vectors or len(embedding["vector"]) == len(vectors[0])
            ):
                ids.append(annotation_id)
                vectors.append(embedding["vector"])
        loaded = _Vectors(stamp, ids, _normalised(vectors) if vectors else np.zeros((0, 0)))
        self._vectors[app.id] = loaded
        self._vectors.move_to_end(app.id)
        while len(self._vectors) > CACHED_APPS:
            self._vectors.popitem(last=False)
        return loaded

    async def _matched(self, annotation_id: str, score: float) -> AnnotationMatch | None:
        async with self._db.reader() as session:
            found = (
                await session.execute(
                    select(Annotation, Account.name)
                    .outerjoin(Account, Account.id == Annotation.created_by_account_id)
                    .where(Annotation.id == annotation_id)
                )
            ).first()
        if found is None:  # deleted since the vectors were read
            return None
        annotation, name = found
        return AnnotationMatch(
            annotation.id,
            annotation.question,
            annotation.answer,
            score,
            annotation.created_by_account_id,
            name or UNKNOWN_AUTHOR,
        )


async def record_hit(
    session: AsyncSession,
    app: App,
    match: AnnotationMatch,
    *,
    query: str,
    message_id: str,
    end_user_id: str | None = None,
    account_id: str | None = None,
    source: str = "api",
) -> None:
    """Count the hit and keep its history, in the caller's transaction (the one that stores
    the answered message)."""
    # updated_at stays: a hit is not an edit (and must not make every replica reread vectors).
    await session.execute(
        update(Annotation)
        .where(Annotation.id == match.annotation_id)
        .values(hit_count=Annotation.hit_count + 1, updated_at=Annotation.updated_at)
    )
    session.add(
        AnnotationHit(
            app_id=app.id,
            annotation_id=match.annotation_id,
            source=source,
            question=query,
            score=match.score,
            message_id=message_id,
            end_user_id=end_user_id,
            account_id=account_id,
            annotation_question=match.question,
            annotation_answer=match.answer,
        )
    )
