"""What a newcomer meets first: `./run` on a fresh clone, each `kb` command's --help, the README's map
of the code, and the errors a mistyped value gives."""
import os
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from kb import ROOT
from kb.cli import cli
from kb.vocabulary import load_vocabularies


def commands(group=cli, prefix=("kb",)):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, prefix + (name,))
        else:
            yield prefix + (name,), command


def test_every_option_of_every_command_says_what_it_is_for():
    silent = [f"{' '.join(path)} {param.opts[0]}" for path, command in commands() for param in command.params
              if isinstance(param, click.Option) and not param.hidden
              and not re.sub(r"\[(default|required)\b[^]]*\]", "", param.get_help_record(click.Context(command))[1]).strip()]
    assert silent == []


def help_of(command: str, option: str) -> str:
    cmd = cli.commands[command]
    param = next(p for p in cmd.params if option in p.opts)
    return param.get_help_record(click.Context(cmd))[1]


def test_an_option_taking_terms_lists_them_in_its_help():
    vocabularies = load_vocabularies()
    for command, option, vocabulary in (("new", "--status", "statuses"), ("new", "--council-type", "council_types"),
                                        ("search", "--regions", "regions"), ("search", "--outcome", "outcomes")):
        shown = help_of(command, option)
        assert all(slug in shown for slug in vocabularies[vocabulary].terms), (option, shown)
        assert "docs/contributing.md" in shown


def test_a_long_vocabulary_is_shown_in_part_with_its_count():
    count = len(load_vocabularies()["approaches"].terms)
    assert count > 15 and f"({count} in all" in help_of("new", "--approach")


def test_a_filter_value_that_is_no_term_is_answered_with_the_terms(engine):
    from search.engine import QueryError

    with pytest.raises(QueryError) as raised:
        engine.check_filters({"council_types": ["nonsense"]})
    assert all(slug in str(raised.value) for slug in load_vocabularies()["council_types"].terms)


def test_the_readme_names_every_module_in_how_the_code_is_laid_out():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### How the code is laid out", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`((?:kb|ingest|search)/\w+\.py)`", table))
    modules = {f"{p.parent.name}/{p.name}" for package in ("kb", "ingest", "search")
               for p in (ROOT / package).glob("*.py") if not p.name.startswith("__")}
    assert sorted(modules - named) == [] and sorted(named - modules) == []


@pytest.fixture
def fake_clone(tmp_path):
    """`./run` in a folder whose .venv already has a python and a pip that only record their calls."""
    clone = tmp_path / "clone"
    bin_dir = clone / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (clone / "run").write_bytes((ROOT / "run").read_bytes())
    (clone / "run").chmod(0o755)
    for name in ("python", "pip"):
        (bin_dir / name).write_text(f"#!/bin/sh\necho {name} \"$@\" >> \"$(dirname \"$0\")/calls\"\n")
        (bin_dir / name).chmod(0o755)
    return clone


def test_run_says_what_it_is_doing_before_the_silent_install(fake_clone):
    done = subprocess.run(["./run", "setup"], cwd=fake_clone, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    assert "pip install" in (fake_clone / ".venv" / "bin" / "calls").read_text()
    first = done.stderr.splitlines()[0]
    assert ".venv" in first and "minutes" in first


def test_the_readme_says_what_each_declared_library_does():
    import tomllib

    from packaging.requirements import Requirement

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Which library does what", 1)[1].split("\n## ", 1)[0].lower()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [Requirement(r).name.lower() for r in
             project["dependencies"] + sum(project["optional-dependencies"].values(), [])]
    assert [n for n in names if n not in table and n not in table.replace(" ", "")] == []


BENCH = sorted(p for p in (ROOT / "bench").glob("*.py") if "ArgumentParser(" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("script", BENCH, ids=lambda p: p.name)
def test_a_benchmark_s_help_gives_its_whole_description_and_says_what_each_option_is(script):
    import ast

    tree = ast.parse(script.read_text(encoding="utf-8"))
    silent = [node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
              and getattr(node.func, "attr", "") == "add_argument" and not any(k.arg == "help" for k in node.keywords)]
    assert silent == []
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                           cwd=ROOT).stdout
    assert " ".join(ast.get_docstring(tree, clean=False).split()) in " ".join(shown.split())


@pytest.mark.parametrize("args", [["search", "libraries"], ["similar", "barnet-capita-outsourcing"], ["evaluate"],
                                  ["publish", "docker", "--dry-run"]])
def test_a_command_run_before_kb_build_says_to_build_first(args, tmp_path):
    missing = tmp_path / "kb.db"
    result = CliRunner().invoke(cli, [*args, "--db", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.output and "run `kb build` first" in result.output


def test_the_examples_in_kb_help_are_commands_kb_takes(corpus_db, tmp_path, monkeypatch):
    import shlex
    import shutil

    monkeypatch.chdir(tmp_path)  # as the README's publishing steps leave the folder
    shutil.copytree(ROOT / "brand", "my-brand")
    shutil.copy(ROOT / "metadata.yml", "my-metadata.yml")
    shutil.copy(corpus_db, "kb.db")
    examples = {}
    for path, command in commands():
        shown = CliRunner().invoke(cli, [*path[1:], "--help"], terminal_width=200).output
        examples[path[-1]] = re.findall(rf"^\s+{' '.join(path)} (.+)$", shown, flags=re.M)
        for line in examples[path[-1]]:
            with command.make_context(path[-1], shlex.split(line)) as ctx:
                assert ctx.params, line
    assert examples["search"] and examples["publish"]
