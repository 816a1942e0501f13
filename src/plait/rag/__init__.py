"""Plait's knowledge pipeline: parse → chunk → embed → index → retrieve (DESIGN.md §2).

The ``rag`` layer sits between the engine (its ``document-extractor`` and
``knowledge-retrieval`` nodes) and the adapters below (providers for embeddings, storage
for vectors). It reads no settings: callers pass limits and models in.

- :mod:`plait.rag.parse` turns an uploaded file's bytes into text, sections and metadata,
  or into a :class:`~plait.rag.parse.DocumentUnreadable` that says, in words a user
  understands, why it could not.
- :mod:`plait.rag.process_rules`, :mod:`plait.rag.clean` and :mod:`plait.rag.chunk` read
  Dify's process rules and cut cleaned text into chunks sized in tokens (general,
  parent-child); :mod:`plait.rag.qa` has a model write Q&A pairs instead.
- :mod:`plait.rag.embed` batches the embedding calls of concurrent indexing jobs and waits
  out rate limits.
- :mod:`plait.rag.retrieval_settings`, :mod:`plait.rag.metadata_filter` and
  :mod:`plait.rag.retrieve` read Dify's retrieval settings and filters and search the
  knowledge index (``storage.index``): semantic, full text or hybrid, fused or reranked,
  the score threshold after reranking.
"""
