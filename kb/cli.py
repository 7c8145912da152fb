"""The `kb` command: a thin layer over kb/, ingest/ and search/."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import ROOT
from .validate import check_collection, discover


def _paths(paths: tuple[str, ...], root: Path) -> list[Path]:
    if not paths:
        found = discover(root)
        return found["source"] + found["case"]
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.md")) if p.is_dir() else [p])
    return out


@click.group()
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding cases/ and sources/ (default: the project folder).")
@click.pass_context
def cli(ctx, root):
    """Build, check, search and serve the council transformation knowledge base."""
    if root is None:
        root = Path.cwd() if (Path.cwd() / "cases").is_dir() else ROOT
    ctx.obj = {"root": root.resolve()}


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def validate(ctx, paths):
    """Check case and source files; print every problem as file:line: problem - fix."""
    root = ctx.obj["root"]
    files = _paths(paths, root)
    records, problems = check_collection(files, root)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        bad = len({p.path for p in problems})
        click.echo(f"{len(problems)} problem(s) in {bad} of {len(files)} file(s).", err=True)
        sys.exit(1)
    click.echo(f"{len(files)} file(s) OK.", err=True)


def main():  # pragma: no cover
    cli()


@cli.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("kb.db"),
              show_default=True, help="SQLite file to write.")
@click.option("--model", default=None, help="Embedding model name or path (default: the packaged all-MiniLM-L6-v2; env KB_MODEL).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def build(ctx, db_path, model, quiet):
    """Validate, then write the SQLite database (swapped in only when complete)."""
    from ingest.build import BuildFailed, build as run_build

    try:
        report = run_build(ctx.obj["root"], db_path, model=model, progress=not quiet)
    except BuildFailed as failed:
        for problem in failed.problems:
            click.echo(str(problem))
        click.echo(f"Build stopped: {len(failed.problems)} problem(s); {db_path} was not changed.", err=True)
        sys.exit(1)
    size = report.path.stat().st_size
    click.echo(f"Built {report.path} ({size / 1e6:.1f} MB) in {report.seconds:.1f}s: {report.cases} cases, "
               f"{report.sources} sources, {report.lessons} lessons, {report.savings} figures; "
               f"{report.chunks} chunks ({report.embedded} embedded, {report.reused} reused).", err=True)


@cli.command()
@click.option("--db", "db_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=Path("kb.db"),
              show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
def serve(db_path, host, port):
    """Serve the database with Datasette (read-only, with time limits) on HOST:PORT."""
    import subprocess

    from . import ROOT

    args = [sys.executable, "-m", "datasette", "serve", "-i", str(db_path), "--host", host, "--port", str(port),
            "--metadata", str(ROOT / "metadata.yml"), "--plugins-dir", str(ROOT / "plugins"),
            "--template-dir", str(ROOT / "templates"), "--setting", "sql_time_limit_ms", "1000",
            "--setting", "facet_time_limit_ms", "500", "--setting", "default_page_size", "50"]
    sys.exit(subprocess.call(args))
