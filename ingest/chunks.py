"""Which text gets a vector: each case's summary (with the title), its sections cut to what the
model reads whole, its lessons, and each report finding; and, for cases like mine only, what each
case's tags say in words."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from kb.embedding import QUESTION_KIND
from kb.parse import plain_text
from kb.schema import facets, field_spec, lessons_section, similar_spec, summary_section
from kb.vocabulary import load_vocabularies

TAG_PASSAGES = "case_tag_passages"  # the table of tags_chunk's passages, by case

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


def cut_at_sentences(text: str, limit: int = MAX_WORDS) -> list[str]:
    """Pieces of at most `limit` words, cut at sentence ends (a sentence longer than that is cut)."""
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


def case_chunks(case_id: str, title: str, sections: list, lessons: list[tuple[str, str, list[str]]]) -> list[Chunk]:
    """The summary, each section (cut when long) and each lesson of a case (id, text, questions). The
    summary and the lessons carry the title, so they read on their own; the other sections do not, so
    that a title repeated on every chunk does not blur what each one is about."""
    chunks = []
    for section in sections:
        if section.heading == lessons_section():
            continue
        for n, piece in enumerate(cut_at_sentences(plain_text(section.markdown))):
            kind = section.heading.lower()
            text = f"{title}. {piece}" if section.heading == summary_section() else piece
            chunks.append(Chunk(f"{case_id}/{kind}/{n}", case_id, None, kind, len(chunks), text))
    for lesson_id, text, questions in lessons:
        chunks.append(Chunk(f"{case_id}/lesson/{lesson_id}", case_id, lesson_id, "lesson", len(chunks), f"{title}. {text}"))
        chunks.append(lesson_text_chunk(lesson_id, text))
        chunks += question_chunks(lesson_id, questions)
    return chunks


def lesson_text_chunk(lesson_id: str, text: str) -> Chunk:
    """A lesson read on its own, for lesson search: with its case's title or its report's theme the
    vector leans towards what the case is about; alone, towards what the lesson says. Lesson search
    uses both; case search only the first (this one has no case_id)."""
    return Chunk(f"{lesson_id}/text", None, lesson_id, "lesson text", 1, text)


def question_chunks(lesson_id: str, questions: list[str]) -> list[Chunk]:
    """Each question the lesson answers, for lesson search (no case_id): the model matches a question
    with a question far better than with the statement that answers it, which says it in other words
    (judged lesson questions 0.677 -> 0.741, docs/search-quality.md). Never shown as its passage."""
    return [Chunk(f"{lesson_id}/question/{n}", None, lesson_id, QUESTION_KIND, 2 + n, q) for n, q in enumerate(questions)]


def lesson_chunk_ids(lesson_id: str) -> list[str]:
    """The ids a lesson's passages without a case_id may have: read on its own, and each question."""
    most = field_spec("case", ("lesson_questions", 0, "questions"))["max"]
    return [lesson_text_chunk(lesson_id, "").id] + [c.id for c in question_chunks(lesson_id, [""] * most)]


def finding_chunks(lesson_id: str, theme: str, text: str, questions: list[str]) -> list[Chunk]:
    return [Chunk(lesson_id, None, lesson_id, "finding", 0, f"{theme}: {text}"), lesson_text_chunk(lesson_id, text),
            *question_chunks(lesson_id, questions)]


def tags_chunk(record) -> Chunk:
    """The case's tags in words after its title, group by group of those cases like mine weighs
    (kb/schema.yml similar_cases: "Service: Housing; Adult social care."), a term that says only that
    the source does not tell left out: what kind of change it is, as one more passage of the case's
    mean vector for cases like mine (ingest/similar.py). Not a search passage: as one, it put cases
    tagged like a query's words above cases that say what the query asks (cases 0.860 -> 0.858)."""
    vocabularies = load_vocabularies()
    wanted = similar_spec()["tags"]
    parts = [f"{record.data['title']}."]
    for facet in facets("case"):
        if facet.column in wanted and facet.vocabulary:
            terms = vocabularies[facet.vocabulary].terms
            labels = [terms[v].label for v in facet.values(record.data) if not terms[v].unknown]
            if labels:
                parts.append(f"{facet.label}: {'; '.join(labels)}.")
    return Chunk(f"{record.id}/tags", record.id, None, "tags", 0, " ".join(parts))


def label_chunks() -> list[Chunk]:
    """Each vocabulary term's label, whose vector search reads a query naming the term with: not a
    passage of any document."""
    return [Chunk(f"{v.key}/{t.slug}", None, None, "label", 0, t.label)
            for v in load_vocabularies().values() for t in v.terms.values()]
