"""Plait's knowledge pipeline: parse → chunk → embed → index → retrieve (DESIGN.md §2).

The ``rag`` layer sits between the engine (its ``document-extractor`` and
``knowledge-retrieval`` nodes) and the adapters below (providers for embeddings, storage
for vectors). It reads no settings: callers pass limits and models in.

- :mod:`plait.rag.parse` turns an uploaded file's bytes into text, sections and metadata,
  or into a :class:`~plait.rag.parse.DocumentUnreadable` that says, in words a user
  understands, why it could not.
"""
