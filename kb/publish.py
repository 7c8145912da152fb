"""`kb publish`: hand the site to Datasette's own publishing, with the parts a bare Datasette lacks.

The parts (`stage`): kb.db, the metadata file, the templates, the plugins, the brand folder (served
as static files at kb-brand/), a wheel of this project (kb, search, ingest) that the plugins import,
and, when kb.db was embedded with a real model, the model's ONNX export in plugins/kb-model/ (where
plugins/kb_model.py points the search engine), so the site answers searches with onnxruntime and
no PyTorch. Settings, the base URL among them, travel as
Datasette `--setting` options.

- docker: Datasette's own `temporary_docker_directory` (what `datasette package` builds) writes the
  build context: its Dockerfile installs Datasette and the wheel, inspects kb.db and runs
  `datasette serve -i kb.db ...`. The context is kept in --out and built with `docker build` where
  Docker exists.
- cloudrun, fly, vercel: `datasette publish TARGET` (built in for Cloud Run; the datasette-publish-fly
  and datasette-publish-vercel plugins for the others) run in the staged folder, with any further
  options (--service, --app, --project, ...) passed through, read first as the publisher will read them
  (check_options). Cloud Run and Fly run through kb.publish_image, which sets their Dockerfile's base.

Every image starts FROM a supported base (kb.publish_image.BASE_IMAGE) and pip installs with
constraints.txt, the versions CI tests.

Nothing here touches the network itself; `--dry-run` stages the parts and prints the command."""
from __future__ import annotations

import secrets
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import ROOT
from .publish_image import BASE_IMAGE, ImageError, kb_dockerfile
from .site import BRAND_MOUNT, PLUGINS, TEMPLATES, Site, SiteError

TARGETS = ("docker", "cloudrun", "fly", "vercel")
# The targets that build an image from a Dockerfile (Vercel installs requirements.txt into its own runtime).
IMAGE_TARGETS = ("docker", "cloudrun", "fly")
# What the wheel is built from: the project's packages and the files its metadata names.
SOURCE = ("pyproject.toml", "README.md", "LICENSE", "kb", "ingest", "search")
MARKER = ".kb-publish"
APP_NAME = "kb-site"
MODEL_DIR = "kb-model"  # beside the plugins; plugins/kb_model.py knows the name
# The versions CI tests: the image installs exactly these (pip's --constraint), not whatever is newest
# on the day it is built. Shipped beside the wheel, where every publisher copies the plugins folder.
CONSTRAINTS = ROOT / "constraints.txt"
# Project folders that plugins read beside their own folder (as ../static): shipped next to plugins/
# through Datasette's --static, the one way every publisher copies a folder into the site.
SITE_FOLDERS = {"static": ROOT / "static"}


class PublishError(SiteError):
    """A problem that stops publishing, said in one line with what to do."""


@dataclass
class Parts:
    """The staged parts, each relative to `directory` (where `datasette publish` runs)."""
    directory: Path
    database: str
    metadata: str
    templates: str = "templates"
    plugins: str = "plugins"
    wheel: str = ""
    constraints: str = ""
    static: list[tuple[str, str]] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    model: str | None = None
    extras: tuple[str, ...] = ()  # the wheel's optional dependencies the site needs (pyproject.toml)

    @property
    def install(self) -> list[str]:
        """What `pip install` gets beside Datasette: the wheel, and the pins as one word (Datasette puts
        these on the Dockerfile's pip line; the Vercel plugin writes each as a line of requirements.txt)."""
        pins = [f"--constraint=./{self.plugins}/{self.constraints}"] if self.constraints else []
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return [f"./{self.plugins}/{self.wheel}{extras}", *pins]

    @property
    def extra_options(self) -> str:
        return " ".join(f"--setting {name} {_text(value)}" for name, value in self.settings.items())


def _text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def database_model(db_path: Path) -> str:
    """The embedding model kb.db was built with (build_info.model)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            row = conn.execute("select model from build_info").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise PublishError(f"{db_path}: not a database built by `kb build` ({err}) - run `kb build` first")
    if not row or not row[0]:
        raise PublishError(f"{db_path}: records no embedding model - run `kb build` again")
    return row[0]


def model_export(model: str, work: Path) -> Path | None:
    """The ONNX export the site needs for kb.db's model: an existing one, else made now (needs PyTorch);
    None for the stand-in model, which needs none."""
    if model.startswith("hash:"):
        return None
    from .onnx_model import find_export

    found = find_export(model)
    if found is not None:
        return found
    from .embedding import export_onnx

    try:
        return export_onnx(work / "onnx", model)
    except ImportError as err:
        raise PublishError(f"exporting {model} to ONNX needs PyTorch ({err.name} is missing) - install the build "
                           "extra (pip install '.[build]') or set KB_ONNX_DIR to an export made elsewhere")


def build_wheel(out_dir: Path) -> Path:
    """A wheel of the project's code (installed as a package, not editable)."""
    with tempfile.TemporaryDirectory(prefix="kb-wheel-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "model", "*.egg-info")
        for name in SOURCE:
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=ignore)
            elif path.is_file():
                shutil.copy2(path, source / name)
        # the build backend pyproject.toml declares, called as pip would call it (PEP 517)
        result = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                                 "build_meta.build_wheel(sys.argv[1])", str(Path(out_dir).resolve())],
                                cwd=source, capture_output=True, text=True)
        if result.returncode:
            last = (result.stderr.strip().splitlines() or ["the build backend failed"])[-1]
            raise PublishError(f"building the project's wheel failed: {last} - install the build extra "
                               "(pip install '.[build]'), which brings setuptools")
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise PublishError(f"{out_dir}: expected one wheel, found {len(wheels)}")
    return wheels[0]


def check_out(directory: Path) -> Path:
    """Refuse, before any work, a folder that kb publish did not make: only those are ever cleared."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or (any(directory.iterdir()) and not (directory / MARKER).exists())):
        raise PublishError(f"{directory}: exists and was not made by kb publish - give --out an empty or new folder")
    return directory


def _fresh(directory: Path) -> Path:
    """An empty folder to stage into (see check_out)."""
    if check_out(directory).exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("Made by `kb publish`; cleared and rewritten by the next one.\n", encoding="utf-8")
    return directory


def stage(site: Site, out: Path, extras: tuple[str, ...] = ()) -> Parts:
    """Copy every part the published site needs into out (cleared first); extras are the project's
    optional dependencies the image installs too (`scale` for a large collection)."""
    site.check()
    if not CONSTRAINTS.is_file():
        raise PublishError(f"{CONSTRAINTS}: missing - the image would install untested versions; restore it from "
                           "the repository (git checkout constraints.txt)")
    if not site.db_path.is_file():
        raise PublishError(f"{site.db_path}: no such database - run `kb build` first or give --db")
    model = database_model(site.db_path)
    out = _fresh(Path(out))
    shutil.copy2(site.db_path, out / site.db_path.name)
    metadata = "metadata" + (site.metadata_path.suffix or ".yml")
    shutil.copy2(site.metadata_path, out / metadata)
    shutil.copytree(TEMPLATES, out / "templates", ignore=shutil.ignore_patterns(".*"))
    (out / "plugins").mkdir()
    for plugin in sorted(PLUGINS.glob("*.py")):
        shutil.copy2(plugin, out / "plugins" / plugin.name)
    shutil.copytree(site.brand_dir, out / BRAND_MOUNT, ignore=shutil.ignore_patterns(".*"))
    static = [(BRAND_MOUNT, BRAND_MOUNT)]
    for name, folder in SITE_FOLDERS.items():
        if folder.is_dir():
            shutil.copytree(folder, out / name, ignore=shutil.ignore_patterns(".*"))
            static.append((name, name))
    with tempfile.TemporaryDirectory(prefix="kb-export-") as work:
        export = model_export(model, Path(work))
        if export is not None:
            shutil.copytree(export, out / "plugins" / MODEL_DIR)
    wheel = build_wheel(out / "plugins")
    shutil.copy2(CONSTRAINTS, out / "plugins" / CONSTRAINTS.name)
    return Parts(directory=out, database=site.db_path.name, metadata=metadata, wheel=wheel.name,
                 constraints=CONSTRAINTS.name, static=static, settings=site.settings(), model=model,
                 extras=tuple(extras))


def docker_context(parts: Parts, out: Path, port: int = 8001, base_image: str = BASE_IMAGE) -> Path:
    """Datasette's own Docker build context for the staged parts, kept in out, FROM base_image."""
    from datasette.utils import temporary_docker_directory

    # temporary_docker_directory changes into its own folder while open: a relative out (the default,
    # dist/docker) would otherwise name a folder inside the context being copied
    out = Path(out).absolute()
    d = parts.directory
    with (d / parts.metadata).open(encoding="utf-8") as metadata:
        with temporary_docker_directory(
                files=[str(d / parts.database)], name=APP_NAME, metadata=metadata, extra_options=parts.extra_options,
                branch=None, template_dir=str(d / parts.templates), plugins_dir=str(d / parts.plugins),
                static=[(mount, str(d / path)) for mount, path in parts.static], install=parts.install,
                spatialite=False, version_note=None, secret=secrets.token_hex(32), port=port) as context:
            out = _fresh(Path(out))
            shutil.copytree(context, out, dirs_exist_ok=True)
    dockerfile = out / "Dockerfile"
    try:
        dockerfile.write_text(kb_dockerfile(dockerfile.read_text(encoding="utf-8"), base_image), encoding="utf-8")
    except ImageError as err:
        raise PublishError(str(err))
    return out


def publish_command(target: str, parts: Parts, extra: list[str], base_image: str = BASE_IMAGE) -> list[str]:
    """The `datasette publish TARGET` command for the staged parts (run in parts.directory); for the
    publishers that write a Dockerfile, run through kb.publish_image so that it starts FROM base_image."""
    datasette = ["-m", "datasette"] if target not in IMAGE_TARGETS else ["-m", "kb.publish_image", "--base-image", base_image]
    command = [sys.executable, *datasette, "publish", target, parts.database, "--metadata", parts.metadata,
               "--template-dir", parts.templates, "--plugins-dir", parts.plugins]
    for mount, path in parts.static:
        command += ["--static", f"{mount}:{path}"]
    for item in parts.install:
        command += ["--install", item]
    if target == "vercel":
        # the Vercel publisher takes settings one by one; the others pass options to `datasette serve`
        for name, value in parts.settings.items():
            command += ["--setting", name, _text(value)]
    elif parts.settings:
        command += ["--extra-options", parts.extra_options]
    return command + list(extra)


def show(command: list[str], cwd: Path | None = None) -> str:
    text = shlex.join(command)
    return f"cd {shlex.quote(str(cwd))} && {text}" if cwd else text


def check_publisher(target: str) -> None:
    module = {"fly": "datasette_publish_fly", "vercel": "datasette_publish_vercel"}.get(target)
    if module is None:
        return
    try:
        __import__(module)
    except ImportError:
        raise PublishError(f"`datasette publish {target}` needs the {module.replace('_', '-')} plugin - "
                           "install the publish extra (pip install '.[publish]')")


# Options a publisher does not require but asks for at a prompt, which a script or CI cannot answer.
PROMPTED = {"cloudrun": "service"}


def check_options(target: str, db_path: Path, extra: list[str]) -> None:
    """Read the options meant for `datasette publish TARGET` as it will, before anything is staged: a
    missing required option (Fly's --app, Vercel's --project, Cloud Run's --service) or a wrong one
    is said now, with an example, not after staging by the publisher itself."""
    import click
    from datasette.cli import publish

    command = publish.commands[target]
    example = f"kb publish {target} --brand my-brand --metadata my-metadata.yml"

    def needs(param) -> PublishError:
        flag = max(param.opts, key=len)
        what = f' ("{param.help}")' if param.help else ""
        return PublishError(f"kb publish {target}: give {flag} NAME{what}, e.g. `{example} {flag} my-kb`")

    try:
        ctx = command.make_context(f"datasette publish {target}", [str(db_path), *extra])
    except click.MissingParameter as err:
        raise needs(err.param)
    except click.UsageError as err:
        raise PublishError(f"kb publish {target}: {err.format_message()} - see `datasette publish {target} --help` "
                           "for the options it takes")
    prompted = PROMPTED.get(target)
    if prompted and not ctx.params.get(prompted):
        raise needs(next(p for p in command.params if p.name == prompted))
