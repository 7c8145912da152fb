"""The plan of the code: every import runs down.

core (kb: schema, vocabularies, parsing, validation, generated files, the embedding model, the site's
settings) imports nothing above it; the build (ingest) and search each import only the core and
themselves, never each other; the site (plugins) and the command line (kb.cli) sit on top."""
import ast
from pathlib import Path

from kb import ROOT

TOP = {"kb.cli", "kb.__main__"}
PACKAGES = ("kb", "ingest", "search", "plugins")


def layer(module: str) -> str:
    if module in TOP or module.startswith("plugins"):
        return "top"
    return module.split(".")[0]


ALLOWED = {
    "kb": {"kb"},
    "ingest": {"kb", "ingest"},
    "search": {"kb", "search"},
    "top": {"kb", "ingest", "search", "top", "plugins"},
}


def modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = f"{package}.{path.stem}" if path.stem != "__init__" else package
            yield name, path


def project_imports(name: str, path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within the same package
                base = name.split(".")[0] if not name.count(".") else name.rsplit(".", node.level)[0]
                targets = [f"{base}.{node.module}" if node.module else base]
            else:
                targets = [node.module or ""]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield node.lineno, target


def test_every_import_runs_down():
    wrong = []
    for name, path in modules():
        for line, target in project_imports(name, path):
            if layer(target) not in ALLOWED[layer(name)]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} ({layer(name)}) imports {target} ({layer(target)})")
    assert wrong == []


def test_the_layer_rule_catches_an_upward_import(tmp_path):
    bad = tmp_path / "schema.py"
    bad.write_text("from search.engine import Engine\nfrom . import vocabulary\n")
    found = list(project_imports("kb.schema", bad))
    assert found == [(1, "search.engine"), (2, "kb")]
    assert layer(found[0][1]) not in ALLOWED[layer("kb.schema")]
