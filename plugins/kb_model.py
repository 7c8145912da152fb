"""On a published site, point the search engine at the model's ONNX export that `kb publish` ships
beside the plugins (plugins/kb-model/), so query embeddings need onnxruntime and no PyTorch. An
explicit KB_ONNX_DIR wins; in the project folder there is no kb-model/ and nothing changes."""
import os
from pathlib import Path

from kb.onnx_model import ENV

SHIPPED = Path(__file__).resolve().parent / "kb-model"

if SHIPPED.is_dir():
    os.environ.setdefault(ENV, str(SHIPPED))
