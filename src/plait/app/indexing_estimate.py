"""The chunk preview the console shows before a document is added (Dify's
``POST /datasets/indexing-estimate``).

The uploaded files are parsed, cleaned and cut exactly as the indexing job will do it
(same parser registry, same :func:`~plait.rag.chunk.split`, same process-rule checks), so
what the user sees is what gets indexed; nothing is stored and no embedding is made. The
reply counts every chunk of every file but previews only the first
:data:`PREVIEW_CHUNKS`, as Dify does. For ``qa_model`` the first chunk is also turned into
question-answer pairs by the workspace's chat model (Dify's ``qa_preview``): one model call,
so that the user can judge the generated questions before paying for a whole document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plait.app.knowledge_uploads import KnowledgeUploads
from plait.errors import InvalidInput
from plait.providers.base import ChatModel
from plait.rag.chunk import Chunk, split
from plait.rag.parse.registry import parse_document_async
from plait.rag.process_rules import DOC_FORMS, parse_process_rule
from plait.rag.qa import generate_qa

PREVIEW_CHUNKS = 10
ChatModelFor = Callable[[str], Awaitable[ChatModel]]


@dataclass(frozen=True)
class Estimate:
    total_segments: int
    preview: list[Chunk]
    qa_preview: list[Chunk] | None = None


class IndexingEstimates:
    def __init__(self, uploads: KnowledgeUploads, *, chat_model_for: ChatModelFor, max_tokens_limit: int) -> None:
        self._uploads = uploads
        self._chat_model_for = chat_model_for
        self._max_tokens_limit = max_tokens_limit

    async def estimate(
        self,
        workspace_id: str,
        file_ids: Sequence[str],
        *,
        process_rule: Mapping[str, Any] | None,
        doc_form: str | None,
        doc_language: str | None = None,
    ) -> Estimate:
        form = doc_form or "text_model"
        if form not in DOC_FORMS:
            raise InvalidInput(f"doc_form must be one of {', '.join(DOC_FORMS)}", params="doc_form")
        rule = parse_process_rule(process_rule, doc_form=form, max_tokens_limit=self._max_tokens_limit)
        chunks: list[Chunk] = []
        for source in await self._uploads.sources(workspace_id, file_ids):
            parsed = await parse_document_async(source.content or b"", filename=source.name, mime_type=source.mime_type)
            chunks.extend(await asyncio.to_thread(split, parsed.text, rule, doc_form=form))
        qa_preview = None
        if form == "qa_model" and chunks:
            model = await self._chat_model_for(workspace_id)
            qa_preview = await generate_qa(chunks[:1], model, language=doc_language or "English")
        return Estimate(len(chunks), chunks[:PREVIEW_CHUNKS], qa_preview)
