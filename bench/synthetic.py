"""Synthetic corpora for the benchmark, made from the real one so that keyword statistics and
nearest-neighbour structure resemble it.

Text: synthetic case n is real case n modulo the number of real cases (front matter kept, so it
validates, with its own id and a title ending "(variant n)"), with each bullet of its body kept
with probability 0.85, a bullet from the same section of another real case added with probability
0.2 per section, and each paragraph's sentences dropped with probability 0.15 or swapped for a
sentence of another real case's same section with probability 0.15.

Vectors: `PerturbedEmbedder` gives each chunk the word-weighted mean of the real-model vectors of
the real chunks its sentences come from (looked up by sentence), plus Gaussian noise of norm
NOISE (0.5: a perturbed vector has cosine about 0.89 with its source, two perturbations of one chunk
about 0.8), normalised. Query vectors come from the real model, so a query's neighbours are
variants of the real cases it is near, as on the real corpus."""
from __future__ import annotations

import contextlib
import hashlib
import random
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import yaml

from kb.questions import WRITTEN, lessons_begun
from kb.schema import lessons_section

SENTENCE = re.compile(r"(?<=[.!?;])\s+")
NOISE = 0.5
KEEP_BULLET = 0.85
ADD_BULLET = 0.2
DROP_SENTENCE = 0.15
SWAP_SENTENCE = 0.15


def _split_body(text: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """Front matter (with its fences) and the body's sections as (heading line, blocks), a block
    being a bullet (with its continuation lines) or a paragraph."""
    _, front, body = text.split("---\n", 2)
    sections: list[tuple[str, list[str]]] = []
    for part in re.split(r"(?m)^(?=## )", body):
        if not part.startswith("## "):
            continue
        heading, _, rest = part.partition("\n")
        blocks, current = [], []
        for line in rest.splitlines():
            if line.startswith("- ") or not line.strip():
                if current:
                    blocks.append("\n".join(current))
                current = [line] if line.strip() else []
            else:
                current.append(line)
        if current:
            blocks.append("\n".join(current))
        sections.append((heading, blocks))
    return f"---\n{front}---\n", sections


def _sentences(block: str) -> list[str]:
    return [s for s in SENTENCE.split(" ".join(line.strip() for line in block.splitlines())) if s]


def make_corpus(size: int, into: Path, real_root: Path, seed: int = 7) -> None:
    """`size` case files under into/cases (and the real sources) made from the real cases."""
    (into / "cases").mkdir(parents=True)
    shutil.copytree(real_root / "sources", into / "sources")
    real = [_split_body(p.read_text(encoding="utf-8")) for p in sorted((real_root / "cases").glob("*.md"))]
    by_heading: dict[str, list[str]] = {}
    for _, sections in real:
        for heading, blocks in sections:
            by_heading.setdefault(heading, []).extend(blocks)
    rng = random.Random(seed)
    for n in range(size):
        front, sections = real[n % len(real)]
        case_id = f"synthetic-{n:06d}"
        front = re.sub(r"(?m)^id: .*$", f"id: {case_id}", front, count=1)
        front = re.sub(r"(?m)^title: (.*)$", lambda m: f"title: {m.group(1)} (variant {n})", front, count=1)
        body = []
        for heading, blocks in sections:
            pool = by_heading[heading]
            bullets = [b for b in blocks if b.startswith("- ")]
            if bullets:
                kept = [b for b in bullets if rng.random() < KEEP_BULLET] or [bullets[0]]
                if rng.random() < ADD_BULLET:
                    extra = rng.choice(pool)
                    kept.insert(rng.randrange(len(kept) + 1), extra if extra.startswith("- ") else f"- {extra}")
                out = kept
            else:
                out = []
                for block in blocks:
                    sentences = []
                    for s in _sentences(block):
                        r = rng.random()
                        if r < DROP_SENTENCE:
                            continue
                        if r < DROP_SENTENCE + SWAP_SENTENCE:
                            s = rng.choice(_sentences(rng.choice(pool)) or [s])
                        sentences.append(s)
                    out.append(" ".join(sentences or _sentences(block)))
            body.append(f"{heading}\n\n" + ("\n" if bullets else "\n\n").join(out) + "\n")
            if bullets and heading == f"## {lessons_section()}":
                front = _questions_kept(front, out)
        (into / "cases" / f"{case_id}.md").write_text(front + "\n" + "\n".join(body), encoding="utf-8")


def _questions_kept(front: str, bullets: list[str]) -> str:
    """The front matter with `lesson_questions` only for the lessons kept once (a dropped lesson's would
    name no lesson, and one another case's bullet repeats would name two), so a synthetic case holds
    about as many questions a lesson as a real one."""
    block = WRITTEN.search(front)
    if not block:
        return front
    lessons = [b[2:] for b in bullets]  # without the bullet's dash (lessons_begun reads spaces as one)
    kept = [e for e in (yaml.safe_load(block.group(0))["lesson_questions"] or []) if len(lessons_begun(e["lesson"], lessons)) == 1]
    said = yaml.safe_dump({"lesson_questions": kept}, width=1000, allow_unicode=True, sort_keys=False) if kept else ""
    return front[:block.start()] + said + front[block.end():]


class PerturbedEmbedder:
    """Vectors for synthetic chunks from the real model's vectors of the real chunks (see module doc)."""

    def __init__(self, real_db: Path, noise: float = NOISE):
        conn = sqlite3.connect(f"file:{real_db}?mode=ro", uri=True)
        rows = conn.execute("select text, vector, model from chunks").fetchall()
        with contextlib.suppress(sqlite3.OperationalError):  # the cases' tags in words (a build since they were)
            rows += conn.execute("select text, vector, model from case_tag_passages").fetchall()
        conn.close()
        self.name = f"perturbed:{rows[0][2]}:{noise}"
        self.noise = noise
        self.dims = len(rows[0][1]) // 4
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        for text, blob, _ in rows:
            vector = np.frombuffer(blob, dtype=np.float32)
            for sentence in SENTENCE.split(text):
                key = self._key(sentence)
                sums[key] = sums.get(key, 0) + vector
                counts[key] = counts.get(key, 0) + 1
        self.sentence_vectors = {k: v / counts[k] for k, v in sums.items()}

    @staticmethod
    def _key(sentence: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r"\(variant \d+\)", "", sentence)).strip().lower()

    @property
    def dimensions(self) -> int:
        return self.dims

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            rng = np.random.default_rng(seed)
            mean = np.zeros(self.dims, dtype=np.float32)
            for sentence in SENTENCE.split(text):
                found = self.sentence_vectors.get(self._key(sentence))
                if found is not None:
                    mean += found * len(sentence.split())
            norm = np.linalg.norm(mean)
            base = mean / norm if norm else np.zeros(self.dims, dtype=np.float32)
            noise = rng.standard_normal(self.dims).astype(np.float32)
            vector = base + (self.noise if norm else 1.0) * noise / np.linalg.norm(noise)
            out[i] = vector / np.linalg.norm(vector)
        return out
