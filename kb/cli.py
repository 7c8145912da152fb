"""The `kb` command: a thin layer over kb/, ingest/ and search/."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import ROOT
from search.engine import MODES

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


@cli.command(name="validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def validate_cmd(ctx, paths):
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


@cli.command(name="build")
@click.option("--db", "db_path", default="kb.db", show_default=True,
              help="SQLite file to write; an existing file is replaced only if `kb build` wrote it (or with --force).")
@click.option("--force", is_flag=True, help="Replace --db even if it is not a database `kb build` wrote.")
@click.option("--model", default=None, help="Embedding model name or path (default: the packaged all-MiniLM-L6-v2; env KB_MODEL).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def build_cmd(ctx, db_path, force, model, quiet):
    """Validate, then write the SQLite database (swapped in only when complete)."""
    from ingest.build import BuildFailed, DatabaseNotChanged, build as run_build

    try:
        report = run_build(ctx.obj["root"], db_path, model=model, progress=not quiet, force=force)
    except BuildFailed as failed:
        for problem in failed.problems:
            click.echo(str(problem))
        click.echo(f"Build stopped: {len(failed.problems)} problem(s); {db_path} was not changed.", err=True)
        sys.exit(1)
    except DatabaseNotChanged as refused:
        click.echo(f"Build stopped: {refused}.", err=True)
        sys.exit(1)
    except KeyboardInterrupt as stopped:
        click.echo(f"Build stopped ({stopped or 'interrupted'}); {db_path} was not changed.", err=True)
        sys.exit(130)
    size = report.path.stat().st_size
    click.echo(f"Built {report.path} ({size / 1e6:.1f} MB) in {report.seconds:.1f}s: {report.cases} cases, "
               f"{report.sources} sources, {report.lessons} lessons, {report.savings} figures; "
               f"{report.chunks} chunks ({report.embedded} embedded, {report.reused} reused).", err=True)


@cli.command(name="serve")
@click.option("--db", "db_path", default="kb.db", show_default=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=click.IntRange(1, 65535))
@click.option("--sql/--no-sql", "allow_sql", default=None,
              help="Allow arbitrary SQL queries (default: on, with the limits in README 'Security decisions'; env KB_SQL).")
@click.option("--download/--no-download", "allow_download", default=None,
              help="Offer the whole database file for download at /kb.db (default: on; env KB_DOWNLOAD).")
def serve_cmd(db_path, host, port, allow_sql, allow_download):
    """Serve the database with Datasette (read-only, with time limits) on HOST:PORT."""
    import os
    import socket

    from ingest.build import is_project_database

    from .site import serve_args

    if not db_path.is_file():
        raise _fail(f"{db_path}: {'is not a file' if db_path.exists() else 'does not exist'} - run `kb build` first, or give --db PATH")
    if not is_project_database(db_path):
        raise _fail(f"{db_path}: is not a database `kb build` wrote - run `kb build --db {db_path}` or give another --db")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:
        raise _fail(f"{host}:{port}: cannot listen there ({err.strerror or err}) - choose another --port, or stop what uses it")
    for name, value in (("KB_SQL", allow_sql), ("KB_DOWNLOAD", allow_download)):
        if value is not None:
            os.environ[name] = "on" if value else "off"
    # exec, not a child process: signals (and a test's terminate()) reach Datasette itself
    os.execv(sys.executable, [sys.executable, "-m", "datasette", *serve_args(db_path, host, port)])


def _fail(message: str) -> SystemExit:
    click.echo(message, err=True)
    return SystemExit(1)


def _facet_options(func):
    """One --<facet> option per facet declared in kb/schema.yml, each repeatable (values OR-ed)."""
    from .schema import facets

    for facet in reversed(facets()):
        name = facet.column.replace("_", "-")
        func = click.option(f"--{name}", facet.column, multiple=True,
                            help=f"Filter by {facet.label.lower()} (repeat to allow several).")(func)
    return func


def _answer(argument: str, run, as_json: bool) -> None:
    """Run one query (or, for '-', one per stdin line as JSON lines) and print the results."""
    import json

    from search.engine import QueryError

    if argument == "-":
        for line in sys.stdin:
            line = line.rstrip("\n")
            try:
                click.echo(json.dumps(run(line)))
            except QueryError as err:
                click.echo(json.dumps({"error": str(err), "query": line[:100]}))
        return
    try:
        results = run(argument)
    except QueryError as err:
        raise click.UsageError(str(err))
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        _print_table(results)


def _print_table(results: list[dict]) -> None:
    if not results:
        click.echo("No results.")
        return
    for n, r in enumerate(results, 1):
        click.echo(f"{n:>2}. {r['title']}  [{r['id']}]  score {r['score']:.4f}")
        passage = r.get("passage", "")
        if passage:
            click.echo("    " + (passage[:220] + ("..." if len(passage) > 220 else "")))


@cli.command(name="search")
@click.argument("query")
@click.option("--db", "db_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=Path("kb.db"), show_default=True)
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--limit", default=10, show_default=True, type=int)
@click.option("--lessons", is_flag=True, help="Search lessons instead of cases.")
@click.option("--min-savings", type=float, default=None, help="Achieved yearly saving of at least this many £.")
@click.option("--max-savings", type=float, default=None, help="Achieved yearly saving of at most this many £.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results, best first.")
@_facet_options
def search_cmd(query, db_path, mode, limit, lessons, min_savings, max_savings, as_json, **filters):
    """Search cases (or lessons) for QUERY; QUERY '-' reads one query per line from stdin and
    prints one JSON line per query."""
    from search.engine import engine_for

    engine = engine_for(db_path)
    target = "lessons" if lessons else "cases"
    filters = {k: list(v) for k, v in filters.items() if v}
    _answer(query, lambda q: [r.as_dict() for r in engine.search(
        q, mode=mode, target=target, filters=filters, min_savings=min_savings, max_savings=max_savings,
        limit=limit).results], as_json)


@cli.command(name="similar")
@click.argument("case_id")
@click.option("--db", "db_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=Path("kb.db"), show_default=True)
@click.option("--limit", default=5, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def similar_cmd(case_id, db_path, limit, as_json):
    """Cases most like CASE_ID (precomputed at build time); '-' reads ids from stdin, one JSON line each."""
    from search.engine import engine_for

    engine = engine_for(db_path)
    _answer(case_id, lambda case: engine.similar(case.strip(), limit), as_json)


@cli.command(name="evaluate")
@click.option("--db", "db_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=Path("kb.db"), show_default=True)
@click.option("--queries", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Query set (default: search/queries.yml, or search/lesson_queries.yml with --lessons).")
@click.option("--lessons", is_flag=True, help="Evaluate lesson search instead of case search.")
@click.option("--json", "as_json", is_flag=True)
def evaluate_cmd(db_path, queries, lessons, as_json):
    """nDCG@10, recall@5 and MRR per mode, by query form and voice; and nDCG@5 of similar cases."""
    import json

    from search.evaluate import LESSON_QUERIES_FILE, evaluate, evaluate_similar, format_table, load_queries

    target = "lessons" if lessons else "cases"
    table = evaluate(db_path, load_queries(queries or (LESSON_QUERIES_FILE if lessons else None)), target=target)
    similar = None if lessons else evaluate_similar(db_path)
    if as_json:
        click.echo(json.dumps({"search": table, "similar": similar}, indent=2))
        return
    click.echo(f"{target.capitalize()} search\n" + format_table(table))
    if similar:
        click.echo(f"\nSimilar cases: nDCG@5 {similar['ndcg@5']:.3f} over {similar['targets']} judged target cases")


@cli.command(name="schema")
@click.option("--check", is_flag=True, help="Exit 1 if the generated files are out of date.")
def schema_cmd(check):
    """Write schema/*.schema.json and docs/contributing.md from kb/schema.yml and kb/vocabulary.yml."""
    from . import ROOT
    from .docs import generated_files

    stale = []
    for path, text in generated_files().items():
        target = ROOT / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    if check and stale:
        click.echo(f"Out of date: {', '.join(stale)} - run `kb schema`.", err=True)
        sys.exit(1)
    click.echo(("Up to date." if check else f"Wrote {len(stale)} file(s).") if not stale or not check else "", err=True)
