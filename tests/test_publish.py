"""`kb publish`: the parts it stages, the Docker build context Datasette's own code writes, and the
`datasette publish` commands it would run (`--dry-run`; nothing here reaches the network)."""
import re
import shlex
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.publish import Parts, publish_command, stage
from kb.site import Site


def run(*args, env=None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def staged(corpus_db, tmp_path_factory):
    return stage(Site(corpus_db, base_url="/kb/"), tmp_path_factory.mktemp("staged") / "parts")


def test_stage_holds_every_part_a_bare_datasette_lacks(staged, corpus_db):
    d = staged.directory
    assert (d / corpus_db.name).read_bytes() == corpus_db.read_bytes()
    assert (d / staged.metadata).is_file() and (d / "templates" / "base.html").is_file()
    assert {p.name for p in (d / "plugins").glob("*.py")} >= {"kb_search.py", "kb_brand.py", "kb_crawl.py", "kb_headers.py"}
    assert (d / "kb-brand" / "brand.yml").is_file() and (d / "kb-brand" / "about.md").is_file()
    # the stand-in model needs no model at all, so none is shipped
    assert staged.model == "hash:384" and not (d / "plugins" / "kb-model").exists()
    assert staged.settings["base_url"] == "/kb/" and staged.settings["sql_time_limit_ms"] == 1000


def test_the_wheel_is_the_project_as_a_package_without_torch_at_run_time(staged):
    wheel = staged.directory / "plugins" / staged.wheel
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert {"kb/site.py", "kb/schema.yml", "kb/vocabulary.yml", "search/engine.py", "kb/onnx_model.py"} <= names
    assert not any(n.startswith("kb/model/") or n.endswith(".onnx") for n in names)
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    runtime = [r for r in requires if "extra ==" not in r]
    assert any("onnxruntime" in r for r in runtime) and any("datasette" in r for r in runtime)
    assert not any(re.search(r"torch|sentence-transformers", r) for r in runtime), runtime
    assert any(r.startswith("Requires-Dist: torch==2.13.0") and "build" in r for r in requires)


@pytest.mark.parametrize("target, extra, expect", [
    ("cloudrun", ["--service", "kb-site"], ["--extra-options", "--service", "kb-site"]),
    ("fly", ["--app", "kb-site"], ["--extra-options", "--app", "kb-site"]),
    ("vercel", ["--project", "kb-site"], ["--setting", "--project", "kb-site"]),
])
def test_hosted_targets_hand_the_same_parts_to_datasette_publish(staged, target, extra, expect):
    command = publish_command(target, staged, extra)
    # Datasette's own command; where it writes a Dockerfile, through kb.publish_image for the base image
    start = command.index("publish")
    assert command[1:start] == (["-m", "datasette"] if target == "vercel" else
                                ["-m", "kb.publish_image", "--base-image", "python:3.11-slim-bookworm"])
    assert command[start + 1] == target
    command = [command[0], "-m", "datasette", *command[start:]]
    for option, value in [("--metadata", staged.metadata), ("--template-dir", "templates"), ("--plugins-dir", "plugins"),
                          ("--static", "kb-brand:kb-brand"), ("--install", f"./plugins/{staged.wheel}")]:
        assert command[command.index(option) + 1] == value
    assert command[5] == staged.database
    assert all(e in command for e in expect)
    joined = " ".join(command)
    assert "base_url /kb/" in joined and "sql_time_limit_ms 1000" in joined


def test_dry_run_prints_the_command_and_runs_nothing(corpus_db, tmp_path):
    out = tmp_path / "cloudrun"
    result = run("publish", "cloudrun", "--db", str(corpus_db), "--out", str(out), "--dry-run", "--service", "kb-test",
                 "--base-url", "/kb/")
    assert result.exit_code == 0, result.output
    printed = result.stdout.strip().splitlines()[-1]
    assert printed.startswith(f"cd {out} && ")
    command = shlex.split(printed.split(" && ", 1)[1])
    assert command[1:7] == ["-m", "kb.publish_image", "--base-image", "python:3.11-slim-bookworm", "publish", "cloudrun"]
    assert command[-2:] == ["--service", "kb-test"]
    assert (out / corpus_db.name).is_file() and (out / "plugins" / command[command.index("--install") + 1].split("/")[-1]).is_file()
    # the default brand gives readers no contact: the publisher is told how to add one, once
    assert "gives no contact" in result.stderr and "contact: {title: Report a problem" in result.stderr
    assert result.stderr.count("contact") == result.stderr.count("gives no contact") * 2
    # and that Cloud Run's default memory is too little for a replica
    assert "add `--memory 1Gi`" in result.stderr
    again = run("publish", "cloudrun", "--db", str(corpus_db), "--out", str(tmp_path / "again"), "--dry-run",
                "--service", "kb-test", "--memory", "1Gi")
    assert again.exit_code == 0 and "--memory 1Gi`" not in again.stderr


def test_docker_context_is_datasettes_own_and_kept_where_docker_is_missing(corpus_db, tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    out = tmp_path / "docker"
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(out), "--base-url", "/kb", "--tag", "northshire/kb")
    assert result.exit_code == 0, result.output
    assert "Docker is not installed here" in result.stderr
    assert result.stdout.strip() == f"docker build -t northshire/kb {out}"
    dockerfile = (out / "Dockerfile").read_text()
    wheel = next((out / "plugins").glob("*.whl")).name
    assert f"RUN pip install -U datasette ./plugins/{wheel}" in dockerfile
    assert f"RUN datasette inspect {corpus_db.name}" in dockerfile
    _assert_saves_arrays(dockerfile, corpus_db.name)
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    for part in (f"-i {corpus_db.name}", "--metadata metadata.json", "--template-dir templates/", "--plugins-dir plugins/",
                 "--static kb-brand:kb-brand", "--setting base_url /kb/", "--setting sql_time_limit_ms 1000"):
        assert part in cmd
    assert "torch" not in dockerfile
    assert (out / "metadata.json").is_file() and (out / "kb-brand" / "logo.svg").is_file()
    assert (out / "templates" / "base.html").is_file() and (out / corpus_db.name).is_file()


def test_publish_never_clears_a_folder_it_did_not_make(corpus_db, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(out), "--dry-run")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{out}: exists and was not made by kb publish - give --out an empty or new folder"
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_database_not_built_by_kb_is_refused_in_one_line(tmp_path):
    import sqlite3

    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("create table t (x)").connection.close()
    result = run("publish", "fly", "--db", str(db), "--out", str(tmp_path / "fly"), "--dry-run", "--app", "x")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"{db}: not a database built by `kb build`")
    assert "Traceback" not in result.output


def test_parts_quote_settings_as_datasette_reads_them():
    parts = Parts(directory=Path("."), database="kb.db", metadata="metadata.yml", wheel="x.whl",
                  settings={"allow_download": False, "sql_time_limit_ms": 1000})
    assert parts.extra_options == "--setting allow_download off --setting sql_time_limit_ms 1000"


def test_folders_the_plugins_read_beside_them_travel_with_the_site(corpus_db, tmp_path, monkeypatch):
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "site.css").write_text("body { color: black; }")
    monkeypatch.setattr("kb.publish.SITE_FOLDERS", {"static": folder})
    out = tmp_path / "docker"
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(out), "--dry-run")
    assert result.exit_code == 0, result.output
    assert (out / "static" / "site.css").read_text() == "body { color: black; }"
    assert "--static static:static" in (out / "Dockerfile").read_text()


def test_the_readmes_docker_command_works_from_the_project_folder_with_relative_paths(corpus_db, tmp_path, monkeypatch):
    """`kb publish docker --brand my-brand --metadata my-metadata.yml` with the default --out (dist/docker,
    relative): Datasette's temporary_docker_directory changes into its own folder, so a relative --out
    was resolved inside the context being copied and the copy recursed until Python gave up."""
    import shutil as sh

    from kb.site import BRAND, METADATA

    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.chdir(tmp_path)
    sh.copytree(BRAND, tmp_path / "my-brand")
    sh.copy(METADATA, tmp_path / "my-metadata.yml")
    sh.copy(corpus_db, tmp_path / "kb.db")
    result = run("publish", "docker", "--brand", "my-brand", "--metadata", "my-metadata.yml", "--base-url", "/kb/",
                 "--tag", "my-kb")
    assert result.exit_code == 0, result.output
    context = tmp_path / "dist" / "docker"
    assert (context / "Dockerfile").is_file() and (context / "kb.db").is_file()
    assert not (context / "dist").exists()
    assert result.stdout.strip() == f"docker build -t my-kb {context}"
    assert Path.cwd() == tmp_path


# -- the image: a supported base and the tested versions --------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
PINNED = ROOT / "constraints.txt"


def _ci_python_minor() -> str:
    """The Python minor version CI tests in (its container image), which constraints.txt was frozen on."""
    found = {re.search(r"container:\s*python:(\d+\.\d+)", (ROOT / ".github" / "workflows" / name).read_text()).group(1)
             for name in ("main.yml", "pull-request.yml")}
    assert len(found) == 1, found
    return found.pop()


def _assert_saves_arrays(dockerfile: str, db_name: str):
    """Search's arrays are saved in the image right after Datasette inspects the database (see
    kb.publish_image.with_arrays), by the image's own Python."""
    lines = dockerfile.splitlines()
    inspect = next(n for n, line in enumerate(lines) if line.startswith(f"RUN datasette inspect {db_name}"))
    assert re.fullmatch(rf"RUN python -c '[^']*from search\.engine import save_arrays[^']*' {re.escape(db_name)}",
                        lines[inspect + 1]), lines[inspect + 1]


def _assert_supported_base(dockerfile: str):
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(froms) == 1, froms
    # Debian 12 (bookworm), the Python minor version CI tests, and no fixed patch release: each image
    # build takes the latest security fixes of both
    match = re.fullmatch(r"FROM python:(\d+\.\d+)-slim-bookworm", froms[0])
    assert match, froms[0]
    assert match.group(1) == _ci_python_minor()


def _assert_installs_the_tested_versions(context: Path, pip_words: list[str]):
    """pip_words: what the build hands pip. The pins are constraints.txt as it is, found where the build looks."""
    constraint = [w for w in pip_words if w.startswith(("--constraint=", "-c"))]
    assert len(constraint) == 1, pip_words
    path = constraint[0].split("=", 1)[1] if "=" in constraint[0] else constraint[0][2:]
    assert (context / path).read_text() == PINNED.read_text()


def _dockerfile_pip_words(dockerfile: str) -> list[str]:
    line = next(line for line in dockerfile.splitlines() if line.startswith("RUN pip install"))
    return shlex.split(line)[3:]


def test_the_docker_image_starts_from_a_supported_python_and_installs_the_tested_versions(corpus_db, tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    out = tmp_path / "docker"
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(out))
    assert result.exit_code == 0, result.output
    dockerfile = (out / "Dockerfile").read_text()
    _assert_supported_base(dockerfile)
    _assert_installs_the_tested_versions(out, _dockerfile_pip_words(dockerfile))


def test_numba_goes_into_the_image_only_for_a_collection_large_enough_to_load_it(corpus_db, tmp_path, monkeypatch):
    """The compiled loop (the `scale` extra, 208 MB with llvmlite) is installed only where a collection
    reaches search.kernels.COMPILED_FROM passages; the real collection's site, far below it, goes without it."""
    import search.kernels

    monkeypatch.setattr("shutil.which", lambda name: None)

    def wheel_word(out):
        assert run("publish", "docker", "--db", str(corpus_db), "--out", str(out)).exit_code == 0
        words = _dockerfile_pip_words((out / "Dockerfile").read_text())
        return next(w for w in words if ".whl" in w)

    assert wheel_word(tmp_path / "small").endswith(".whl")
    monkeypatch.setattr(search.kernels, "COMPILED_FROM", 1)  # the test corpus counts as a large one
    assert wheel_word(tmp_path / "large").endswith(".whl[scale]")
    assert not search.kernels.uses_compiled_loop(tmp_path / "missing.db")


def test_numba_is_an_extra_of_the_project_not_a_dependency_of_the_runtime():
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert not any(dep.lower().startswith("numba") for dep in project["dependencies"])
    assert any(dep.lower().startswith("numba") for dep in project["optional-dependencies"]["scale"])


def test_a_publisher_can_choose_another_base_image(corpus_db, tmp_path):
    out = tmp_path / "docker"
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(out), "--dry-run",
                 "--base-image", "registry.example.org/python:3.11-slim-bookworm@sha256:" + "a" * 64)
    assert result.exit_code == 0, result.output
    assert (out / "Dockerfile").read_text().splitlines()[0] == f"FROM registry.example.org/python:3.11-slim-bookworm@sha256:{'a' * 64}"
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(tmp_path / "bad"), "--base-image", "python 3.11; rm -rf /")
    assert result.exit_code == 1 and "base image 'python 3.11; rm -rf /'" in result.stderr
    assert not (tmp_path / "bad").exists()
    result = run("publish", "vercel", "--db", str(corpus_db), "--base-image", "python:3.12-slim-bookworm", "--project", "x")
    assert result.exit_code == 2 and "vercel builds no image" in result.output


def test_without_its_pins_or_with_a_dockerfile_of_another_shape_nothing_is_published(corpus_db, tmp_path, monkeypatch):
    from kb.publish_image import ImageError, from_image, with_arrays

    monkeypatch.setattr("kb.publish.CONSTRAINTS", tmp_path / "constraints.txt")
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(tmp_path / "docker"), "--dry-run")
    assert result.exit_code == 1 and "constraints.txt: missing - the image would install untested versions" in result.stderr
    assert not (tmp_path / "docker").exists()
    # a later Datasette writing two stages, or none, is refused rather than published from its own base
    for dockerfile in ("COPY . /app\nRUN pip install datasette\n", "FROM a AS build\nFROM b\n"):
        with pytest.raises(ImageError, match="needs updating for this Datasette version"):
            from_image(dockerfile, "python:3.11-slim-bookworm")
    # or one that no longer inspects its database in one line (where the arrays are saved after it)
    with pytest.raises(ImageError, match="0 `datasette inspect` lines, not one - kb.publish_image needs updating"):
        with_arrays("FROM a\nCOPY . /app\nRUN pip install datasette\nCMD datasette serve -i kb.db\n")


def _fake_command(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def _with_project_on_path(monkeypatch, bin_dir: Path | None = None):
    # the publisher runs as `python -m kb.publish_image`: this worktree's kb, whatever the venv installed
    import os

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    if bin_dir is not None:
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_fly_writes_an_image_from_a_supported_python_with_the_tested_versions(corpus_db, tmp_path, monkeypatch):
    """The Fly plugin writes its Dockerfile with Datasette's code, as `datasette publish fly --generate-dir`
    shows (it stops there, without flyctl or the network)."""
    _with_project_on_path(monkeypatch)
    app = tmp_path / "app"
    result = run("publish", "fly", "--db", str(corpus_db), "--out", str(tmp_path / "fly"), "--app", "kb-test",
                 "--generate-dir", str(app))
    assert result.exit_code == 0, result.output
    dockerfile = (app / "Dockerfile").read_text()
    _assert_supported_base(dockerfile)
    _assert_saves_arrays(dockerfile, corpus_db.name)
    _assert_installs_the_tested_versions(app, _dockerfile_pip_words(dockerfile))
    assert 'app = "kb-test"' in (app / "fly.toml").read_text()


def test_cloud_run_builds_an_image_from_a_supported_python_with_the_tested_versions(corpus_db, tmp_path, monkeypatch):
    """Datasette's Cloud Run publisher, run to the end against a stand-in gcloud that keeps what
    `gcloud builds submit` would upload."""
    bin_dir, uploaded, calls = tmp_path / "bin", tmp_path / "uploaded", tmp_path / "calls"
    _fake_command(bin_dir, "gcloud", f"""echo "$*" >> {calls}
case "$*" in
  "config get-value project") echo test-project ;;
  "builds submit"*) cp -r . {uploaded} ;;
esac
""")
    _with_project_on_path(monkeypatch, bin_dir)
    result = run("publish", "cloudrun", "--db", str(corpus_db), "--out", str(tmp_path / "cloudrun"), "--service", "kb-test")
    assert result.exit_code == 0, result.output
    dockerfile = (uploaded / "Dockerfile").read_text()
    _assert_supported_base(dockerfile)
    _assert_saves_arrays(dockerfile, corpus_db.name)
    _assert_installs_the_tested_versions(uploaded, _dockerfile_pip_words(dockerfile))
    assert "run deploy --allow-unauthenticated --platform=managed --image us-docker.pkg.dev/test-project/datasette/datasette-kb-test kb-test" in calls.read_text()


def test_vercel_installs_the_tested_versions(corpus_db, tmp_path, monkeypatch):
    """Vercel installs requirements.txt into its own Python runtime (no Dockerfile, so no base image)."""
    bin_dir, app = tmp_path / "bin", tmp_path / "app"
    _fake_command(bin_dir, "vercel", "exit 1\n")  # the plugin wants it installed even to --generate-dir
    _with_project_on_path(monkeypatch, bin_dir)
    result = run("publish", "vercel", "--db", str(corpus_db), "--out", str(tmp_path / "vercel"), "--project", "kb-test",
                 "--generate-dir", str(app))
    assert result.exit_code == 0, result.output
    lines = (app / "requirements.txt").read_text().splitlines()
    # pip reads a requirements file's nested constraint path from the file's own folder
    _assert_installs_the_tested_versions(app, lines)


@pytest.mark.slow
def test_the_docker_context_installs_exactly_the_versions_ci_tests(corpus_db, tmp_path, monkeypatch):
    """The context installed into a fresh virtual environment as its Dockerfile says (pip fetches from
    the registry): every package in it is at constraints.txt's version."""
    import subprocess

    from tests.container import ContainerEquivalent

    monkeypatch.setattr("shutil.which", lambda name: None)
    context = tmp_path / "docker"
    assert run("publish", "docker", "--db", str(corpus_db), "--out", str(context)).exit_code == 0
    image = ContainerEquivalent(context, tmp_path / "image")
    image.install()
    frozen = subprocess.run([str(image.venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout
    def versions(lines):
        return {re.sub(r"[-_.]+", "-", name).lower(): version
                for name, version in (line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))}

    pins, installed = versions(PINNED.read_text().splitlines()), versions(frozen.splitlines())
    ours = "council-transformation-kb"
    unpinned = sorted(set(installed) - set(pins) - {"pip", "setuptools", "wheel", ours})
    assert not unpinned, f"installed but not in constraints.txt: {unpinned}"
    differ = {name: (version, pins[name]) for name, version in installed.items() if name in pins and version != pins[name]}
    assert not differ, differ
    assert "datasette" in installed and "onnxruntime" in installed and "torch" not in installed
    assert "numba" not in installed and "llvmlite" not in installed  # the real collection's site never loads them
    with image.running() as (base, _, _):
        import urllib.request

        assert urllib.request.urlopen(base + "/-/versions.json", timeout=10).status == 200


# -- the publisher's options, read before anything is staged --------------------------------------------------

@pytest.mark.parametrize("target, extra, option", [
    ("fly", [], "--app"),
    ("vercel", [], "--project"),
    # Datasette's Cloud Run publisher would stop at a prompt for it, which a script or CI never answers
    ("cloudrun", ["--memory", "1Gi"], "--service"),
])
def test_a_missing_required_option_is_named_with_an_example_before_anything_is_staged(corpus_db, tmp_path, target, extra, option):
    out = tmp_path / target
    result = run("publish", target, "--db", str(corpus_db), "--out", str(out), "--dry-run", *extra)
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert message.startswith(f'kb publish {target}: give {option} NAME ("') and "\n" not in message
    assert message.endswith(f"e.g. `kb publish {target} --brand my-brand --metadata my-metadata.yml {option} my-kb`")
    assert not out.exists() and "Traceback" not in result.output


def test_an_option_the_publisher_does_not_take_is_refused_before_anything_is_staged(corpus_db, tmp_path):
    out = tmp_path / "cloudrun"
    result = run("publish", "cloudrun", "--db", str(corpus_db), "--out", str(out), "--dry-run", "--service", "kb",
                 "--memroy", "1Gi")
    assert result.exit_code == 1
    assert "No such option '--memroy'. Did you mean '--memory'?" in result.stderr and "datasette publish cloudrun --help" in result.stderr
    result = run("publish", "cloudrun", "--db", str(corpus_db), "--out", str(out), "--dry-run", "--service", "kb",
                 "--memory", "lots")
    assert result.exit_code == 1 and "--memory should be a number then Gi/G/Mi/M e.g 1Gi" in result.stderr
    assert not out.exists()


def test_a_failed_docker_build_says_where_the_context_is_and_how_to_build_it_again(corpus_db, tmp_path, monkeypatch):
    """Docker installed but its daemon not running (or the build failing): Docker's own error is not all."""
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("subprocess.call", lambda command, cwd=None: 1)
    out = tmp_path / "docker"
    result = run("publish", "docker", "--db", str(corpus_db), "--out", str(out), "--tag", "my-kb")
    assert result.exit_code == 1
    assert f"docker build -t my-kb {out}" in result.stderr
    assert "failed" in result.stderr and (out / "Dockerfile").is_file()
