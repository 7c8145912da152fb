"""The lean runtime: query vectors from the ONNX export match PyTorch's, and the Docker build context
`kb publish docker` writes, installed into a fresh virtual environment exactly as its Dockerfile
would (no PyTorch in it), serves another publisher's site under a sub-path on 127.0.0.1.

The real model's tests are marked `model` (./run test and CI run them); the rest run by default."""
import json
import re
import urllib.error
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.embedding import Embedder, export_onnx
from kb.onnx_model import ENV, OnnxEncoder, OnnxError, find_export
from search.evaluate import LESSON_QUERIES_FILE, load_queries
from tests.container import ContainerEquivalent
from tests.test_publish_site import PNG


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    return export_onnx(tmp_path_factory.mktemp("onnx") / "all-MiniLM-L6-v2")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.model
@pytest.mark.parametrize("queries_file", [None, LESSON_QUERIES_FILE], ids=["case-queries", "lesson-queries"])
def test_onnx_and_pytorch_give_the_same_query_vectors(onnx_export, queries_file):
    queries = [q["query"] for q in load_queries(queries_file)]
    assert len(queries) >= 60
    torch_vectors = Embedder(backend="torch").encode(queries)
    onnx_vectors = OnnxEncoder(onnx_export).encode(queries)
    cos = cosines(torch_vectors, onnx_vectors)
    print(f"\nONNX vs PyTorch over {len(queries)} queries: cosine min {cos.min():.7f}, median {np.median(cos):.7f}")
    assert cos.min() >= 0.999


@pytest.mark.model
def test_onnx_and_pytorch_give_the_same_word_vectors(onnx_export):
    """Lesson search re-ranks by the words' vectors (search/token_match.py): the build may work them
    out with PyTorch and a published site the query's with ONNX Runtime."""
    texts = [q["query"] for q in load_queries(LESSON_QUERIES_FILE)][:30]
    torch_found = Embedder(backend="torch").token_vectors(texts)
    onnx_found = OnnxEncoder(onnx_export).token_vectors(texts)
    for (t_vectors, t_tokens), (o_vectors, o_tokens), text in zip(torch_found, onnx_found, texts):
        assert t_tokens == o_tokens and t_tokens
        assert "[CLS]" not in t_tokens and "[SEP]" not in t_tokens
        assert cosines(t_vectors, o_vectors).min() >= 0.999
    # the sentence vector is the mean of the words' with the special tokens, so near their mean without
    vectors, _ = onnx_found[0]
    assert float(OnnxEncoder(onnx_export).encode(texts[:1])[0] @ vectors.mean(axis=0)) > 0.9 * np.linalg.norm(vectors.mean(axis=0))


@pytest.mark.model
def test_a_batch_of_mixed_lengths_gives_each_text_its_own_vector(onnx_export):
    """Texts are batched by length (a short reading of a query is not padded to its long one): the
    vectors are those of each text embedded alone, in the order given."""
    queries = [q["query"] for q in load_queries(None)][:40]
    encoder = OnnxEncoder(onnx_export)
    together = encoder.encode(queries)
    alone = np.stack([encoder.encode([q])[0] for q in queries])
    assert np.abs(together - alone).max() < 1e-5


def test_texts_are_batched_by_length_with_little_padding():
    from kb.onnx_model import _batches

    lengths = [10, 100, 30, 95, 12, 11, 9]
    batches = _batches(lengths, size=32)
    assert sorted(k for b in batches for k in b) == list(range(len(lengths)))
    for batch in batches:  # padding to the batch's longest is at most a quarter of its tokens
        assert max(lengths[k] for k in batch) * len(batch) <= 1.25 * sum(lengths[k] for k in batch)
    assert [1, 3] in batches and [2] in batches  # the two long ones together; 30 alone
    assert all(len(b) <= 2 for b in _batches([5] * 5, size=2))


@pytest.mark.model
def test_the_embedder_runs_the_export_when_one_is_found(onnx_export, monkeypatch):
    monkeypatch.setenv(ENV, str(onnx_export))
    embedder = Embedder("default")
    vectors = embedder.encode(["a district council sharing staff with a neighbour"])
    assert embedder.backend == "onnx" and vectors.shape == (1, 384)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.model
def test_a_search_engine_embeds_queries_on_one_onnx_thread(onnx_export, monkeypatch):
    """ONNX Runtime would otherwise run every query on all cores, spinning: a server runs several
    queries at once, so each waits on the others. A build keeps every core."""
    from search.engine import QUERY_THREADS, _one_thread

    monkeypatch.setenv(ENV, str(onnx_export))
    served = _one_thread(Embedder("default"))
    assert served.backend == "onnx" and QUERY_THREADS == 1
    assert served._load().session.get_session_options().intra_op_num_threads == 1
    built = Embedder("default").load()
    assert built._load().session.get_session_options().intra_op_num_threads == 0  # ONNX Runtime's default


def test_a_missing_or_mismatched_export_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(OnnxError, match=r"KB_ONNX_DIR=.*: no ONNX export there .* run `kb export-onnx --out"):
        find_export("sentence-transformers/all-MiniLM-L6-v2")
    (tmp_path / "model.onnx").write_bytes(b"")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "kb-onnx.json").write_text(json.dumps({"model": "other/model"}))
    with pytest.raises(OnnxError, match=r"holds other/model, but the database was embedded with sentence-transformers/all-MiniLM-L6-v2"):
        Embedder("default", backend="onnx").encode(["x"])
    monkeypatch.delenv(ENV)
    monkeypatch.setattr("kb.onnx_model.LOCAL", tmp_path / "nothing-here")
    with pytest.raises(OnnxError, match="no ONNX export of sentence-transformers/all-MiniLM-L6-v2 was found"):
        Embedder("default", backend="onnx").encode(["x"])


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode("utf-8", "replace")


@pytest.mark.model
def test_the_docker_context_runs_as_its_dockerfile_says_without_pytorch(model_corpus_db, onnx_export, tmp_path):
    from search.engine import Engine

    brand = tmp_path / "brand"
    brand.mkdir()
    (brand / "crest.png").write_bytes(PNG)
    (brand / "brand.yml").write_text("name: Northshire Evidence Library\nlogo: crest.png\nlogo_alt: Northshire crest\n"
                                     "colours: {text: '#0b0c0c', background: '#ffffff', link: '#6a1b4d', "
                                     "header_text: '#ffffff', header_background: '#2f4f2f', focus: '#ffdd00'}\n"
                                     "pages:\n" + "".join(f"  {p}: {{title: Northshire {p}, file: {p}.md}}\n"
                                                          for p in ("about", "privacy", "accessibility")))
    for page in ("about", "privacy", "accessibility"):
        (brand / f"{page}.md").write_text(f"# Northshire {page}\n\nNorthshire's own {page} text.\n")
    metadata = tmp_path / "metadata.yml"
    metadata.write_text("title: Northshire evidence\nsettings:\n  allow_download: false\n")
    context = tmp_path / "context"
    result = CliRunner().invoke(cli, ["publish", "docker", "--db", str(model_corpus_db), "--out", str(context),
                                      "--metadata", str(metadata), "--brand", str(brand), "--base-url", "/evidence/",
                                      "--dry-run"], env={ENV: str(onnx_export)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (context / "plugins" / "kb-model" / "model.onnx").is_file()

    image = ContainerEquivalent(context, tmp_path / "image")
    image.install()
    assert image.has_module("onnxruntime") and image.has_module("kb.site") and image.has_module("datasette_atom")
    assert not image.has_module("torch") and not image.has_module("sentence_transformers")

    query = "two neighbouring district councils sharing one management team and staff"
    expected = [r.id for r in Engine(model_corpus_db, embedder=Embedder(backend="torch")).search(
        query, mode="semantic", limit=5).results]
    db = model_corpus_db.stem
    # search's arrays were saved in the image (kb.publish_image.with_arrays): the site opens from them
    # and writes nothing beside its database, where a platform keeps a container's disk in memory
    saved = image.app / f".{model_corpus_db.name}.arrays"
    assert {part.name for part in saved.glob("*/*")} >= {"cases-float32", "lessons-float32"}
    files = {str(f.relative_to(image.app)): f.stat().st_mtime_ns for f in image.app.rglob("*") if f.is_file()}
    with image.running(ready_path="/evidence/-/versions.json") as (base, _, _):
        assert fetch(f"{base}/evidence/-/search?q=reablement&target=lessons")[0] == 200
        status, headers, body = fetch(f"{base}/evidence/-/search.json?q={query.replace(' ', '+')}&mode=semantic")
        assert status == 200
        got = [r["id"] for r in json.loads(body)["results"][:5]]
        assert got[:3] == expected[:3] and set(got) == set(expected)
        assert "script-src 'self' 'unsafe-inline'" in headers["content-security-policy"]

        status, _, home = fetch(f"{base}/evidence/")
        assert status == 200 and "<title>Northshire evidence - Northshire Evidence Library</title>" in home
        assert '<img src="/evidence/kb-brand/crest.png" alt="Northshire crest">' in home
        assert "Council transformation case studies" not in home and "Powered by Datasette" not in home
        status, _, case = fetch(f"{base}/evidence/{db}/cases/brighton-hove-reablement")
        assert status == 200 and "Similar cases" in case
        similar = re.search(rf'href="(/evidence/{db}/cases/[^"]+)"', case.split('id="similar"')[1]).group(1)
        assert fetch(base + similar)[0] == 200
        assert fetch(f"{base}/evidence/{db}/cases/brighton-hove-reablement.json")[0] == 200
        assert "Northshire's own privacy text." in fetch(f"{base}/evidence/privacy")[2]
        assert fetch(f"{base}/evidence/kb-brand/crest.png")[0] == 200
        sitemap = fetch(f"{base}/evidence/sitemap.xml")[2]
        assert f"{base}/evidence/{db}/cases/brighton-hove-reablement</loc>" in sitemap
        assert f"Sitemap: {base}/evidence/sitemap.xml" in fetch(f"{base}/evidence/robots.txt")[2]
        feed = fetch(f"{base}/evidence/{db}/recent_cases.atom")[2]
        assert "<title>New and changed cases - Northshire evidence</title>" in feed
        assert f'<link href="{base}/evidence/{db}/cases/' in feed
        assert fetch(f"{base}/evidence/{db}.db")[0] == 403
        assert {str(f.relative_to(image.app)): f.stat().st_mtime_ns for f in image.app.rglob("*") if f.is_file()} == files
