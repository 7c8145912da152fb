"""The embedding model exported to ONNX, for a published site that answers searches without PyTorch.

`export` (needs PyTorch, so it runs where the build runs) writes a folder holding model.onnx, the
tokenizer and kb-onnx.json (which model it is, its dimensions and sequence length). `OnnxEncoder`
runs that folder with ONNX Runtime and the tokenizers library: the same tokens, the same
transformer, then the mean pooling and normalisation sentence-transformers applies, in numpy.

Where an export is looked for: the folder named by KB_ONNX_DIR (a published site's plugins/kb_model.py
sets it to the export `kb publish` ships beside the plugins), else kb/model/ in the project folder,
where `kb export-onnx` writes by default (never in git, never in the wheel)."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

MANIFEST = "kb-onnx.json"
ENV = "KB_ONNX_DIR"
LOCAL = Path(__file__).resolve().parent / "model"
# The pipeline the export reproduces; any other sentence-transformers model is refused.
PIPELINE = ["Transformer", "Pooling", "Normalize"]


class OnnxError(RuntimeError):
    """A missing, mismatched or unexportable model, with a message that says what to do."""


def read_manifest(directory: Path) -> dict | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if (directory / "model.onnx").is_file() and (directory / "tokenizer.json").is_file() else None


def find_export(model_name: str) -> Path | None:
    """The folder holding an ONNX export of model_name, or None if there is none."""
    if os.environ.get(ENV):
        directory = Path(os.environ[ENV])
        manifest = read_manifest(directory)
        if manifest is None:
            raise OnnxError(f"{ENV}={directory}: no ONNX export there (model.onnx, tokenizer.json, {MANIFEST}) - "
                            f"run `kb export-onnx --out {directory}` or unset {ENV}")
        if manifest.get("model") != model_name:
            raise OnnxError(f"{ENV}={directory}: holds {manifest.get('model')}, but the database was embedded with "
                            f"{model_name} - export that model with `kb export-onnx --model {model_name}`")
        return directory
    manifest = read_manifest(LOCAL)
    return LOCAL if manifest and manifest.get("model") == model_name else None


class OnnxEncoder:
    """Sentence embeddings from an exported folder: tokenizers + ONNX Runtime + mean pooling."""

    def __init__(self, directory: Path, threads: int | None = None):
        import onnxruntime
        from tokenizers import Tokenizer

        manifest = read_manifest(Path(directory))
        if manifest is None:
            raise OnnxError(f"{directory}: not an ONNX export - run `kb export-onnx --out {directory}`")
        self.model = manifest["model"]
        self.dimensions = int(manifest["dimensions"])
        self.inputs = list(manifest["inputs"])
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if threads:  # else ONNX Runtime's default: every core, each thread spinning while it waits
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(Path(directory) / "model.onnx"), options,
                                                    providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(Path(directory) / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(manifest["max_seq_length"]))
        self.pad_id = int(manifest["pad_id"])

    def encode(self, texts: list[str], batch_size: int = 32, tokens: dict | None = None) -> np.ndarray:
        """Each text's vector; with `tokens`, each text's word vectors too, from the same pass (see
        token_vectors), put in it by text."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        for batch in _batches([len(e.ids) for e in encodings], batch_size):
            arrays = _padded([encodings[k] for k in batch], self.pad_id)
            hidden = self.session.run(None, {name: arrays[name] for name in self.inputs})[0]
            mask = arrays["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[batch] = pooled / norms
            if tokens is not None:
                for row, k in enumerate(batch):
                    tokens[texts[k]] = _words(hidden[row], encodings[k])
        return out

    def token_vectors(self, texts: list[str], batch_size: int = 32) -> list[tuple[np.ndarray, list[str]]]:
        """Each text's tokens with the transformer's vector for each, normalised (what the mean pooling
        of encode averages), its special tokens left out: encode's pass, its word vectors kept."""
        words: dict = {}
        self.encode(texts, batch_size, tokens=words)
        return [words[text] for text in texts]


def _words(hidden: np.ndarray, encoding) -> tuple[np.ndarray, list[str]]:
    """One text's tokens, its special tokens left out, with their vectors normalised."""
    keep = [j for j, special in enumerate(encoding.special_tokens_mask) if not special]
    vectors = hidden[keep]
    vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    return vectors.astype(np.float32), [encoding.tokens[j] for j in keep]


def _padded(encodings, pad_id: int) -> dict[str, np.ndarray]:
    """A batch's inputs, padded to its longest text."""
    width = max(len(e.ids) for e in encodings)
    arrays = {name: np.zeros((len(encodings), width), dtype=np.int64)
              for name in ("input_ids", "attention_mask", "token_type_ids")}
    arrays["input_ids"][:] = pad_id
    for row, e in enumerate(encodings):
        arrays["input_ids"][row, :len(e.ids)] = e.ids
        arrays["attention_mask"][row, :len(e.ids)] = e.attention_mask
        arrays["token_type_ids"][row, :len(e.ids)] = e.type_ids
    return arrays


def _batches(lengths: list[int], size: int, waste: float = 0.25) -> list[list[int]]:
    """Texts in batches of similar length: each batch is padded to its longest text, and the padding
    is computed like any token (a query's short readings padded to its long one cost twice its
    embedding), so a batch takes the next-longest text only while padding stays under `waste` of its
    tokens."""
    order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
    batches: list[list[int]] = []
    for k in order:
        batch = batches[-1] if batches else None
        if batch and len(batch) < size and lengths[batch[0]] * (len(batch) + 1) <= (1 + waste) * (
                sum(lengths[j] for j in batch) + lengths[k]):
            batch.append(k)
        else:
            batches.append([k])
    return batches


def _check_pipeline(model) -> None:
    kinds = [type(module).__name__ for module in model]
    if kinds != PIPELINE:
        raise OnnxError(f"the model's modules are {kinds}; only {PIPELINE} (mean pooling) can be exported")
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode_mean_tokens", None)
    if mode is None:
        mode = getattr(pooling, "pooling_mode", None) == "mean"
    if not mode:
        raise OnnxError("the model pools otherwise than by the mean of its tokens; only mean pooling can be exported")


def _dimensions(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


PROBES = ["a district council sharing staff with a neighbour",
          "Which councils moved adult social care assessments online, and what did they save over three years?"]


def export(model, model_name: str, out_dir: Path) -> Path:
    """Export a loaded SentenceTransformer to out_dir (written aside and swapped in when complete).
    The export checks itself: its vectors for a few probe texts must match PyTorch's (cosine >= 0.999)."""
    import torch

    _check_pipeline(model)
    tokenizer = model.tokenizer
    transformer = model[0].auto_model.eval()
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    sample = tokenizer(PROBES, padding=True, return_tensors="pt")
    args = tuple(sample[n] for n in names)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=int(transformer.config.max_position_embeddings))
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".onnx-", dir=out_dir.parent))
    try:
        # The exporter reports each pass on stdout and warns about traced shapes: neither is actionable here.
        exporter_log = logging.getLogger("torch.onnx")
        level = exporter_log.level
        exporter_log.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(Wrapped(), args, str(work / "model.onnx"), input_names=names,
                                  output_names=["last_hidden_state"],
                                  dynamic_shapes={n: {0: batch, 1: seq} for n in names},
                                  dynamo=True, external_data=False)
        finally:
            exporter_log.setLevel(level)
        tokenizer.backend_tokenizer.save(str(work / "tokenizer.json"))
        manifest = {"model": model_name, "dimensions": _dimensions(model),
                    "max_seq_length": int(model.max_seq_length), "pad_id": int(tokenizer.pad_token_id),
                    "pad_token": tokenizer.pad_token, "inputs": names, "pooling": "mean", "normalize": True,
                    "exported_with": {"torch": torch.__version__}}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        expected = model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        got = OnnxEncoder(work).encode(PROBES)
        cosine = float((expected * got).sum(axis=1).min())
        if cosine < 0.999:
            raise OnnxError(f"the ONNX export of {model_name} disagrees with PyTorch (cosine {cosine:.5f} < 0.999)")
        work.chmod(0o755)  # mkdtemp's 0700 would hide the model from a server running as another user
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir
