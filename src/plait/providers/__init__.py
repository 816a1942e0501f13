"""Model providers: chat, embedding and rerank models behind small protocols, one module
per vendor, plus the deterministic fake used by tests and offline runs."""
