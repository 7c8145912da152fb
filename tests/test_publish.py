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
    assert command[1:5] == ["-m", "datasette", "publish", target]
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
    assert command[1:5] == ["-m", "datasette", "publish", "cloudrun"] and command[-2:] == ["--service", "kb-test"]
    assert (out / corpus_db.name).is_file() and (out / "plugins" / command[command.index("--install") + 1].split("/")[-1]).is_file()
    # the default brand gives readers no contact: the publisher is told how to add one
    assert "gives no contact" in result.stderr and "contact: {title: Report a problem" in result.stderr


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
