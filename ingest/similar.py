"""Cases like this one, precomputed at build time so the site needs no model.

A case's list is its SIMILAR_PER_CASE best by the cosine of the cases' mean vectors (its passages'
and its tags' in words, ingest/chunks.py tags_chunk) + each
tag group's weight x the cosine of the cases' tags in it (kb/schema.yml similar_cases; each tag
weighted by its rarity), less half the mean of each case's SIMILAR_HUB best scores (CSLS), so a case
that is near everything (a programme-wide overview) does not top every list. Chosen on
search/similar_judgments.yml (README, "Search").

Every pair is scored, exactly, in blocks of BLOCK cases against every case (two passes: the hub
terms, then the lists); what a rebuild saves is in scoring only the lists a change can affect
(_affected), from the previous build's hub terms and lists."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from kb.schema import similar_spec
from kb.site_metadata import facet_catalogue
from kb.vocabulary import load_vocabularies

from .chunks import TAG_PASSAGES
from .patch import PATCHED, id_table, replace_rows

SIMILAR_PER_CASE = 5
SIMILAR_HUB = 5
BLOCK = 512  # rows at a time: the full case-by-case matrix would not fit in memory at 100,000 cases
TOP_GROUPS = 256


def _unknown() -> dict[str, frozenset[str]]:
    """Each case column's terms that say only that the source does not tell (kb/vocabulary.yml's
    `unknown`): two cases whose reports both leave their services unnamed are not alike in them."""
    vocabularies = load_vocabularies()
    return {f["column"]: frozenset(slug for slug, term in vocabularies[f["vocabulary"]].terms.items() if term.unknown)
            for f in facet_catalogue() if f["vocabulary"]}


def _tag_matrix(db, ids: list[str], columns: list[str]) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """One row per case, one column per (facet, value): the value's rarity, log(N / cases with it),
    where the case has it; rows scaled to length 1. A value that says the source does not tell has
    no column."""
    unknown = _unknown()
    found: dict[tuple[str, str], int] = {}
    rows, cols = [], []
    position = {case_id: i for i, case_id in enumerate(ids)}
    parsed: dict[str, list] = {}  # a corpus has few distinct tag lists: each is parsed once
    for row in db.execute(f"select id, {', '.join(columns)} from cases").fetchall():
        for facet, raw in zip(columns, row[1:]):
            if raw not in parsed:
                parsed[raw] = json.loads(raw or "[]")
            for value in parsed[raw]:
                if value in unknown.get(facet, ()):
                    continue
                rows.append(position[row[0]])
                cols.append(found.setdefault((facet, value), len(found)))
    tags = np.zeros((len(ids), max(1, len(found))), dtype=np.float32)
    tags[rows, cols] = 1.0
    rarity = np.log((len(ids) + 1) / (tags.sum(axis=0) + 1)) + 1
    tags *= rarity
    tags /= np.maximum(np.linalg.norm(tags, axis=1, keepdims=True), 1e-9)
    return tags, list(found)


def _weighted_tags(db, ids: list[str]) -> np.ndarray:
    """The tag groups' matrices side by side, each scaled by the square root of its weight, so that
    the dot product of two rows is the weighted sum of the groups' cosines."""
    groups = similar_spec()["tags"]
    return np.hstack([np.sqrt(np.float32(weight)) * _tag_matrix(db, ids, [column])[0] for column, weight in groups.items()])


def _raw_scores(vectors: np.ndarray, tags: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine of mean vectors + the tag groups' weighted cosines (see _weighted_tags), of these rows
    against every case (a case against itself: -inf), as float32 worked out in float64."""
    # float64, rounded to float32 at the end: a float32 product's last bit depends on how many rows are
    # multiplied at once and where a row sits among them (OpenBLAS's kernels on some processors, AMD's
    # EPYC among them), so a patched build's scores differed from a fresh build's and a subset's from
    # every row's; float64's differences are far below a float32's last bit.
    # In place: a block of 512 x 100,000 scores is 400 MB, and more such arrays took as long as the products
    vectors, tags = _float64(vectors), _float64(tags)
    scores = vectors[rows] @ vectors.T
    scores += tags[rows] @ tags.T
    scores = scores.astype(np.float32)
    scores[np.arange(len(rows)), rows] = -np.inf
    return scores


def _float64(matrix: np.ndarray) -> np.ndarray:
    return matrix if matrix.dtype == np.float64 else matrix.astype(np.float64)


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best columns and their scores, best first (equal scores by column). Only the
    columns at least as good as a bound are sorted: the k-th best of TOP_GROUPS column groups'
    maxima, which k of the row's scores reach. Six times quicker than partitioning every row of a
    block of 100,000 columns, with the same result."""
    rows, n = scores.shape
    k = min(k, n)
    starts = np.unique(np.linspace(0, n, min(n, max(TOP_GROUPS, k)) + 1).astype(np.int64)[:-1])
    maxima = np.maximum.reduceat(scores, starts, axis=1)
    bound = np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]
    r, c = np.nonzero(scores >= bound[:, None])
    v = scores[r, c]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    first = np.searchsorted(r, np.arange(rows))
    if (np.diff(np.append(first, len(r))) < k).any():  # a NaN score: no bound holds
        raise FloatingPointError("similar cases: a case's scores are not numbers (a zero mean vector?)")
    take = first[:, None] + np.arange(k)[None, :]
    return c[take], v[take]


class _Similarity:
    """Cases like mine over the cases' mean vectors and tag vectors, for any subset of rows, in
    blocks of BLOCK rows against every case: the raw scores' SIMILAR_HUB best (a case's hub term,
    kept so a later build can tell whether a change moved it), then each row's SIMILAR_PER_CASE
    best after CSLS. Scoring every pair is exact; on near-duplicate corpora a bound from a few
    candidates saves little (tried: most rows fall back to every pair)."""

    def __init__(self, vectors: np.ndarray, tags: np.ndarray):
        self.vectors, self.tags = _float64(vectors), _float64(tags)  # once, not for every block
        self.n = len(vectors)
        self.hub_k = min(SIMILAR_HUB, self.n - 1)
        self.k = min(SIMILAR_PER_CASE, self.n - 1)

    def raw_top(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's SIMILAR_HUB best raw scores (columns and scores, best first)."""
        ids, values = [np.zeros((0, self.hub_k), np.int64)], [np.zeros((0, self.hub_k), np.float32)]
        for start in range(0, len(rows), BLOCK):
            top, value = _top(_raw_scores(self.vectors, self.tags, rows[start:start + BLOCK]), self.hub_k)
            ids.append(top)
            values.append(value)
        return np.vstack(ids), np.vstack(values)

    def lists(self, rows: np.ndarray, hub: np.ndarray):
        """Each row's best SIMILAR_PER_CASE by CSLS: (row, [(column, score)])."""
        for start in range(0, len(rows), BLOCK):
            block = rows[start:start + BLOCK]
            scores = _raw_scores(self.vectors, self.tags, block)
            scores -= 0.5 * (hub[block, None] + hub[None, :])
            top, value = _top(scores, self.k)
            for row, cand, csls in zip(block, top, value):
                yield int(row), [(int(c), float(v)) for c, v in zip(cand, csls)]


def _sum_vectors(rows) -> tuple[list[str], list[np.ndarray]]:
    """(case id, vector) rows ordered by case: each case's vectors summed in that order."""
    ids: list[str] = []
    sums: list[np.ndarray] = []
    for case_id, blob in rows:
        vec = np.frombuffer(blob, dtype=np.float32)
        if ids and ids[-1] == case_id:
            sums[-1] = sums[-1] + vec
        else:
            ids.append(case_id)
            sums.append(vec.copy())
    return ids, sums


def _with_tags(db, ids: list[str], sums: list[np.ndarray], where: str) -> list[np.ndarray]:
    """Each case's sum of passage vectors plus its tags' vector (added last, in a fresh build and a
    patched one alike, so that both give the same bits)."""
    tags = {case_id: np.frombuffer(blob, dtype=np.float32)
            for case_id, blob in db.execute(f"select case_id, vector from {TAG_PASSAGES} where {where}")}
    return [s + tags[case_id] if case_id in tags else s for case_id, s in zip(ids, sums)]


def _normalised(sums: list[np.ndarray]) -> np.ndarray:
    matrix = np.vstack(sums)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def _case_matrices(db, patched: list[str] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every case with chunks: ids, normalised mean chunk vector, tag vector (rarity-weighted). For a
    patched copy of the previous database, the mean vectors of the cases not patched are its
    case_vectors (the same numbers), and only the patched cases' chunks are read."""
    kept = None
    if patched is not None:
        kept = dict(db.execute("select case_id, vector from case_vectors"))
        have = {r[0] for r in db.execute("select distinct case_id from chunks where case_id is not null")}
        if not kept or have != set(kept) | set(patched):
            kept = None
    if kept is None:
        ids, sums = _sum_vectors(db.execute("select case_id, vector from chunks where case_id is not null "
                                            "order by case_id, rowid"))
        if not ids:
            return ids, np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
        matrix = _normalised(_with_tags(db, ids, sums, "1"))
    else:
        ids = sorted(set(kept) | set(patched))
        blank = bytes(len(next(iter(kept.values()))))  # a patched case new to case_vectors: filled below
        matrix = np.frombuffer(b"".join(kept.get(i, blank) for i in ids), dtype=np.float32).reshape(len(ids), -1).copy()
        new_ids, sums = _sum_vectors(db.execute(f"select case_id, vector from chunks where case_id in "
                                                f"(select id from {PATCHED}) order by case_id, rowid"))
        if new_ids:
            position = {case_id: n for n, case_id in enumerate(ids)}
            matrix[[position[i] for i in new_ids]] = _normalised(
                _with_tags(db, new_ids, sums, f"case_id in (select id from {PATCHED})"))
    tags = _weighted_tags(db, ids)
    return ids, matrix, tags


def _old_similarity(old_db: Path, basis: str):
    """The previous build's case matrices, hubs and lists, if it was built on the same basis (code,
    declarations and model), for recomputing only the lists a change can affect."""
    if not old_db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{old_db}?mode=ro", uri=True)
        try:
            stored = dict(conn.execute("select key, value from kb_meta where key = 'similar_basis'").fetchall())
            if stored.get("similar_basis") != json.dumps(basis):
                return None
            rows = conn.execute("select case_id, vector from case_vectors order by case_id").fetchall()
            ids = [r[0] for r in rows]
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1 if rows else 0)
            tags = _weighted_tags(conn, ids)
            state = {r[0]: (r[1], json.loads(r[2])) for r in conn.execute("select case_id, hub, raw_top from similar_state")}
            lists: dict[str, list[tuple]] = {}  # rows of similar_cases by case, in rank order
            for r in conn.execute("select case_id, similar_id, rank, score, reason from similar_cases order by case_id, rank"):
                lists.setdefault(r[0], []).append(r)
            return ids, vectors, tags, state, lists
        finally:
            conn.close()
    except (sqlite3.Error, json.JSONDecodeError, KeyError, ValueError):
        return None


def _affected(ids, vectors, tags, old, sim: _Similarity) -> tuple[np.ndarray, dict] | None:
    """The rows whose similar-case list (or hub) a change can affect, with the new hubs, when the
    previous build's cases are the same ones with the same tag rarities; else None (score all)."""
    old_ids, old_vectors, old_tags, state, _ = old
    if old_ids != ids or old_tags.shape != tags.shape or set(state) != set(ids):
        return None
    changed = np.flatnonzero((old_vectors != vectors).any(axis=1) | (old_tags != tags).any(axis=1))
    if len(changed) and not np.array_equal(np.count_nonzero(old_tags, axis=0), np.count_nonzero(tags, axis=0)):
        return None  # a tag's rarity moved: every tag vector changed
    if not np.array_equal(old_tags[np.setdiff1d(np.arange(len(ids)), changed)],
                          tags[np.setdiff1d(np.arange(len(ids)), changed)]):
        return None
    hub = np.array([state[i][0] for i in ids])
    position = {case_id: n for n, case_id in enumerate(ids)}
    if not len(changed):
        return changed, hub
    # a row's hub moves if a changed case was among its hub_k best or now beats its hub_k-th best
    to_changed = _raw_scores(vectors, tags, changed).T  # every case against each changed one
    hub_rows = set(changed.tolist())
    for n, case_id in enumerate(ids):
        best = state[case_id][1]
        if any(position.get(b[0]) in hub_rows for b in best) or (len(best) and to_changed[n].max() > best[-1][1]):
            hub_rows.add(n)
    moved = np.array(sorted(hub_rows))
    _, raw = sim.raw_top(moved)
    hub[moved] = raw.mean(axis=1)
    # lists that can change: those holding a moved case, and those a moved case now enters
    lists = old[4]
    fifth = np.array([lists[i][-1][3] if lists.get(i) else -np.inf for i in ids])
    to_moved = (_raw_scores(vectors, tags, moved).T - 0.5 * (hub[:, None] + hub[moved][None, :])).max(axis=1)
    rows = set(moved.tolist())
    moved_ids = {ids[m] for m in moved}
    for n, case_id in enumerate(ids):
        # stored scores are rounded to 4 places: a margin of 1e-4 keeps the test on the safe side
        if any(s[1] in moved_ids for s in lists.get(case_id, [])) or to_moved[n] >= fifth[n] - 1e-4:
            rows.add(n)
    return np.array(sorted(rows)), hub


def _create_tables(db) -> None:
    db["case_vectors"].create({"case_id": str, "vector": bytes}, pk="case_id", foreign_keys=[("case_id", "cases", "id")])
    db["similar_cases"].create({"case_id": str, "similar_id": str, "rank": int, "score": float, "reason": str},
                               pk=("case_id", "similar_id"),
                               foreign_keys=[("case_id", "cases", "id"), ("similar_id", "cases", "id")])
    db["similar_state"].create({"case_id": str, "hub": float, "raw_top": str}, pk="case_id")


def write_similar(db, old_db: Path, basis: str, patched: list[str] | None = None) -> int:
    """The similar-case tables. Lists the change cannot affect are those of the previous build. In
    a fresh database every row is written; in a patched copy of the previous one (`patched`: the
    cases whose rows were replaced, ingest/patch.py) only the rows that changed. Returns how many
    lists were computed."""
    ids, matrix, tags = _case_matrices(db, patched)
    if patched is None:
        _create_tables(db)
    db["kb_meta"].insert({"key": "similar_basis", "value": json.dumps(basis)}, pk="key", replace=True)
    old = _old_similarity(old_db, basis) if len(ids) >= 2 else None
    sim = _Similarity(matrix, tags)
    found = _affected(ids, matrix, tags, old, sim) if old else None
    if patched is not None and found is None:  # every list is computed: write every row afresh
        for table in ("case_vectors", "similar_cases", "similar_state"):
            db.execute(f"drop table {table}")
        _create_tables(db)
        patched = None
    if patched is None:
        db["case_vectors"].insert_all({"case_id": i, "vector": v.astype(np.float32).tobytes()} for i, v in zip(ids, matrix))
    else:
        mine = set(patched)
        replace_rows(db, "case_vectors", f"case_id in (select id from {PATCHED})",
                     ({"case_id": i, "vector": v.astype(np.float32).tobytes()} for i, v in zip(ids, matrix) if i in mine),
                     ("case_id",))
    if len(ids) < 2:
        return 0
    if found is None:
        rows = np.arange(len(ids))
        candidates, raw = sim.raw_top(rows)
        hub = raw.mean(axis=1)
    else:
        rows, hub = found
        candidates, raw = sim.raw_top(rows)
    computed = {}
    for row, best in sim.lists(rows, hub):
        computed[ids[row]] = best
    reasons = _reasons(db, set(computed) | {ids[b] for best in computed.values() for b, _ in best})
    labels = {f["column"]: f for f in facet_catalogue()}
    out = [{"case_id": mine, "similar_id": ids[b], "rank": n + 1, "score": round(score, 4),
            "reason": _reason(reasons[mine], reasons[ids[b]], labels)}
           for mine, best in computed.items() for n, (b, score) in enumerate(best)]
    state = [{"case_id": ids[row], "hub": float(hub[row]),
              "raw_top": json.dumps([[ids[c], float(v)] for c, v in zip(candidates[n], raw[n])])}
             for n, row in enumerate(rows)]
    if patched is not None:
        done = id_table(db, "similar_computed", computed)
        db.execute(f"delete from similar_cases where case_id in (select id from {done})")
        db["similar_cases"].insert_all(out)
        replace_rows(db, "similar_state", f"case_id in (select id from {done})", state, ("case_id",))
        return len(computed)
    if found is not None:
        # a fresh database after a change: the lists and hub state it cannot affect are the previous build's
        for n, case_id in enumerate(ids):
            if case_id not in computed:
                out.extend(dict(zip(("case_id", "similar_id", "rank", "score", "reason"), r)) for r in old[4].get(case_id, []))
                state.append({"case_id": case_id, "hub": float(hub[n]), "raw_top": json.dumps(old[3][case_id][1])})
    db["similar_cases"].insert_all(out)
    db["similar_state"].insert_all(state)
    return len(computed)


def _reasons(db, wanted: set[str]) -> dict[str, dict[str, set[str]]]:
    columns = similar_spec()["reasons"]
    rows = db.execute(f"select id, {', '.join(columns)} from cases").fetchall()
    unknown = _unknown()
    return {r[0]: {c: set(json.loads(v or "[]")) - unknown.get(c, frozenset()) for c, v in zip(columns, r[1:])}
            for r in rows if r[0] in wanted}


def _reason(mine: dict[str, set[str]], theirs: dict[str, set[str]], labels: dict) -> str:
    """In a few words why two cases are alike: the tags they share, e.g. 'shared approach: Sharing
    council; shared service: Whole council'."""
    parts = []
    for column, values in mine.items():
        shared = sorted(values & theirs.get(column, set()))
        if shared:
            facet = labels[column]
            names = ", ".join(facet["values"].get(v, {}).get("label", v) for v in shared)
            parts.append(f"shared {facet['label'].lower()}: {names}")
    return "; ".join(parts) or "alike in what they did"
