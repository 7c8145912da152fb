"""The `kb` command: a thin layer over kb/, ingest/ and search/."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import ROOT
from .help_format import Group
from search.engine import CORES_ENV, MODES, save_arrays, usable_cores

from .site import BRAND, METADATA

DB_HELP = "The database `kb build` wrote (in the --root folder when one is given)."


def _not_built(path: Path) -> str:
    return f"{'is not a file' if path.exists() else 'does not exist'} - run `kb build` first, or give --db PATH"


def _under_root(ctx, param, value):
    """--db left at its default names kb.db in the folder --root gives, when it gives one (as `kb
    validate` looks there): `kb --root DIR serve` run from elsewhere looked for ./kb.db."""
    obj = ctx.find_root().obj or {}
    if obj.get("root_given") and ctx.get_parameter_source(param.name) == click.core.ParameterSource.DEFAULT:
        under = obj["root"] / value  # as the option gives it: a Path, or the text `kb build` checks itself
        return under if isinstance(value, Path) else str(under)
    return value


def _built(ctx, param, value: Path) -> Path:
    value = _under_root(ctx, param, value)
    if not value.is_file():
        raise click.BadParameter(f"{value} {_not_built(value)}")
    return value


_db_option = click.option("--db", "db_path", type=click.Path(path_type=Path), default=Path("kb.db"), show_default=True,
                          callback=_built, help=DB_HELP)


def _paths(paths: tuple[str, ...], root: Path) -> list[Path]:
    # imported here: the published site's lean install runs `kb` without the validator's libraries
    from .validate import discover

    if not paths:
        found = discover(root)
        return found["source"] + found["case"]
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.md")) if p.is_dir() else [p])
    return out


@click.group(cls=Group)
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding cases/ and sources/ (default: the current folder if it has cases/, else the project folder).")
@click.pass_context
def cli(ctx, root):
    """Build, check, search and serve the council transformation knowledge base."""
    if _DECLARATION_ERROR:  # both files are read as the options are made (see _facet_options)
        click.echo(f"{_DECLARATION_ERROR[0]}", err=True)
        ctx.exit(1)
    ctx.obj = {"root": (root or (Path.cwd() if (Path.cwd() / "cases").is_dir() else ROOT)).resolve(),
               "root_given": root is not None}


def _emit(fmt: str, title: str, errors, warnings=(), notes=(), extra=None, summary: Path | None = None,
          headline: str = "", more: list[str] = ()) -> None:
    """Problems, warnings and notes in the chosen format; with `summary` (github format) also as
    Markdown under `headline`, with `more` lines that the command prints on its own."""
    from .annotations import markdown, render

    if summary is not None and fmt != "github":
        raise click.UsageError("--summary is for --format github (a workflow's job summary)")
    summarised = summary is not None
    out, err = render(fmt, title, errors, warnings, notes, extra, summarised)
    for line in out:
        click.echo(line)
    for line in err:
        click.echo(line, err=True)
    if summarised:
        with summary.open("a", encoding="utf-8") as f:
            f.write(markdown(f"{title}: {headline}" if headline else title, errors, warnings, [*notes, *more]))


def _summary_option(func):
    return click.option(
        "--summary", "summary_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="With --format github, also add every problem to this Markdown file, e.g. \"$GITHUB_STEP_SUMMARY\" "
             "(GitHub shows only the first 10 annotations of each kind).")(func)


def _similar(records, root: Path, db_path: Path, whole: bool) -> tuple[list, list[str], str | None]:
    """Near-duplicate warnings for the valid cases among records (compared with every case, or with
    each other when they are `whole` corpus), notes on what was not checked, and what was."""
    import sqlite3

    from ingest.duplicates import by_meaning, by_organisation, gone_mentions, once

    from .validate import check_collection, discover

    checked = [r for r in records if r.kind == "case"]
    if not checked:
        return [], [], None
    corpus = checked if whole else check_collection(discover(root)["case"], root)[0]
    warnings = by_organisation(checked, corpus)
    if not db_path.is_file():
        return warnings, [f"no database at {db_path}, so near-duplicates by meaning were not checked (run `kb build` "
                          "first)"], None
    current = {path.stem for path in discover(root)["case"]}  # a case's file is named by its id
    try:
        meaning = by_meaning(checked, db_path, current=current)
        warnings = once(warnings, meaning) + gone_mentions(checked, db_path, current) + meaning
    except (sqlite3.Error, OSError, TypeError, ValueError) as err:
        return warnings, [f"could not compare by meaning with {db_path} ({err}); rebuild it with `kb build`"], None
    return warnings, [], (f"near-duplicates checked: {len(checked)} case(s) compared by title and by meaning with every "
                          f"case in {db_path}; {len(warnings) or 'none'} found")


def _declared_problems() -> list:
    """Each bad entry of the declared lists the build stores (kb/abbreviations.yml, kb/thesaurus.yml,
    kb/shorthand.yml) as a Problem: file, line, what is wrong and the fix."""
    from . import abbreviations, shorthand, thesaurus
    from .declared import problem_of

    out = []
    for load, path, error in ((abbreviations.load_abbreviations, abbreviations.ABBREVIATIONS_FILE, abbreviations.AbbreviationError),
                              (thesaurus.load_thesaurus, thesaurus.THESAURUS_FILE, thesaurus.ThesaurusError),
                              (shorthand.load_shorthand, shorthand.SHORTHAND_FILE, shorthand.ShorthandError)):
        try:
            load(path)
        except error as err:
            out.append(problem_of(err))
    return out


def _generated_out_of_date(root: Path) -> list[str]:
    """A note when the files `kb schema` writes no longer match the declarations (a term renamed in
    kb/vocabulary.yml): a test fails on it, and the reference contributors read is wrong until then."""
    from . import ROOT
    from .docs import out_of_date

    if root.resolve() != ROOT.resolve():  # another project folder: its generated files are its own affair
        return []
    stale = out_of_date(ROOT)
    return [f"{', '.join(stale)} out of date with kb/*.yml - run `kb schema`"] if stale else []


def _stale(records) -> list:
    from .history import REVIEW_YEARS, review_due
    from .parse import Problem

    return [Problem(r.document.display, r.document.line_of(("reviewed",)),
                    f"last reviewed {r.data['reviewed']}, {REVIEW_YEARS} or more years ago",
                    "check it against its sources, then set `reviewed:` to the date you did")
            for r in records if r.kind == "case" and review_due(r.data["reviewed"])]


@cli.command(name="validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True,
              help="text: file:line: problem - fix; github: annotations on a pull request; json: the records and problems.")
@click.option("--stale", is_flag=True, help="Also list cases not reviewed for two years.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Database whose embeddings find near-duplicates (default: kb.db in the project folder).")
@click.option("--duplicates/--no-duplicates", default=True, show_default=True,
              help="Warn of near-duplicate cases (a pull request's workflow checks them once it has built the database).")
@_summary_option
@click.pass_context
def validate_cmd(ctx, paths, fmt, stale, db_path, duplicates, summary_path):
    """Check case and source files (every one when no PATH is given); print every problem as
    file:line: problem - fix, and warn of near-duplicate cases."""
    from .validate import check_collection, strays

    root = ctx.obj["root"]
    files = _paths(paths, root)
    records, problems = check_collection(files, root)
    problems = strays(root, [*map(Path, paths), *files] if paths else None) + problems
    declared = _declared_problems() if not paths else []
    problems = declared + problems
    warnings, notes, checked = _similar(records, root, db_path or root / "kb.db", whole=not paths) if duplicates \
        else ([], [], None)
    if checked and fmt != "text":
        notes.append(checked)  # a reviewer of the pull request sees that they were checked, and how
    if stale:
        warnings += _stale(records)
    if not paths and not declared:  # the generated reference is written from the declared lists
        notes += _generated_out_of_date(root)
    extra = {"records": [{"kind": r.kind, "id": r.id, "path": r.document.display, "data": r.data} for r in records]}
    closing = (f"{len(problems)} problem(s) in {len({p.path for p in problems})} of {len(files)} file(s)." if problems
               else f"{len(files)} file(s) OK" + (f", {len(warnings)} warning(s)." if warnings else "."))
    _emit(fmt, "kb validate", problems, warnings, notes, extra, summary_path, closing)
    click.echo(closing, err=True)
    if problems:
        sys.exit(1)


@cli.command(name="verify")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--texts", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder holding source texts (by their `text_file` names), e.g. ../shared/seeds; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True,
              help="text: file:line: problem - fix; github: annotations on a pull request; json: the counts and problems.")
@_summary_option
@click.pass_context
def verify_cmd(ctx, paths, texts, fmt, summary_path):
    """Check every figure, its period, and every number and sum of money in the text against the cited
    lines of its source's text, and that no case's body or report's finding copies a run of words from
    it: of the cases given (of every case when none is given, or when a source record is)."""
    from .parse import Problem
    from .validate import check_collection, discover, strays
    from .copying import copied
    from .verify import find_texts, finding_lines, verify

    root = ctx.obj["root"]
    sources = discover(root)["source"]
    given = _paths(paths, root) if paths else []
    misplaced = strays(root, [*map(Path, paths), *given]) if given else []
    if misplaced:  # read as a case here, it would be verified though nothing else ever reads it
        closing = f"{len(misplaced)} file(s) no check or build reads: fix them first."
        _emit(fmt, "kb verify", misplaced, summary=summary_path, headline=closing)
        click.echo(closing, err=True)
        sys.exit(1)
    # a changed source record can break any case that cites it: then every case is verified
    cases = [p for p in given if p.parent.name != "sources"]
    if not given or len(cases) < len(given):
        cases = discover(root)["case"]
    records, invalid = check_collection(sources + cases, root)
    if invalid and (not records or any(p.path.startswith("sources") for p in invalid)):
        closing = f"{len(invalid)} problem(s) found by `kb validate`: fix them first."
        _emit(fmt, "kb verify", invalid, summary=summary_path, headline=closing)
        click.echo(closing, err=True)
        sys.exit(1)
    if fmt == "github":
        # the validate step has annotated these problems already: one error a file says why it was not verified
        first = {p.path: p for p in reversed(invalid)}
        invalid = [Problem(p.path, p.line, "not verified: `kb validate` finds problems in this file",
                           "fix them, and its figures are checked on the next push") for p in first.values()]
    checked = [r for r in records if r.kind == "case"]
    # only the sources these cases cite (and any record given): a note about another source's text, or
    # counting its text as used, would mislead
    cited = {src["id"] for r in checked for src in r.data["sources"]}
    given_sources = {p.resolve() for p in given if p.parent.name == "sources"}
    used = [r for r in records if r.kind == "source" and (r.id in cited or r.document.path.resolve() in given_sources)]
    found, problems, notes = find_texts(root, used, list(texts))
    if not given:
        # over the whole collection, a source no case cites yet is checked too: a text of another version
        # (its sha256) is a problem whether or not a case cites it; only its notes would mislead
        uncited = [r for r in records if r.kind == "source" and r not in used]
        more, wrong, _ = find_texts(root, uncited, list(texts))
        problems += wrong
        found = {**found, **more}
        used += [r for r in uncited if r.id in more]
    problems += finding_lines([r for r in used if r.id in found], found)
    report = verify(checked, found, addresses={r.id: r.data["url"] for r in used})
    # a report's findings when it is given or every file is (not for each case that cites it)
    problems += copied(checked + [r for r in used if r.id in found and (not given or r.document.path.resolve() in given_sources)],
                       found)
    what = " and ".join(part for part in (
        f"{report.figures_skipped} figure(s)" if report.unchecked else "",
        f"the text of {len(report.results_unchecked)} case(s)" if report.results_unchecked else "") if part)
    unchecked = (f"{what} NOT checked against their source, whose text is not here: a reviewer must check each by "
                 "hand at the address and place its warning gives") if what else ""
    warnings = sorted(report.unchecked + report.results_unchecked, key=lambda p: (p.path, p.line))
    if fmt == "text" and not given and warnings:
        # over the whole collection a line for every figure of every case (65 here) would bury the
        # problems; the notes name each source without its text, and a case given lists its own
        unchecked = (f"{what} NOT checked against their source, whose text is not here: `kb verify FILE` lists a "
                     "case's, each with the report's address and the place to check it by hand")
        warnings = []
    closing = [f"Verified {report.figures} figure(s) against {len({f for f in found if f in cited})} source text(s), "
               f"and {report.numbers} number(s) and sum(s) in the text of {len(checked) - report.cases_skipped} case(s)"
               + (f"; {len(problems) + len(report.problems)} problem(s)." if problems or report.problems else ".")]
    if invalid:
        closing.append(f"{len({p.path for p in invalid})} file(s) not verified: fix what `kb validate` finds in them first.")
    if unchecked:
        closing.append(f"Warning: {unchecked}.")
    if unchecked and fmt == "github":
        from .annotations import summary

        # first: GitHub shows only the first 10 warnings of a step, and there is one for each figure
        click.echo(summary(unchecked, "kb verify"))
    _emit(fmt, "kb verify", invalid + problems + report.problems, warnings, notes=notes,
          extra={"figures_verified": report.figures, "figures_unchecked": report.figures_skipped,
                 "numbers_verified": report.numbers, "results_unchecked": len(report.results_unchecked)},
          summary=summary_path, headline=closing[0], more=closing[1:])
    for line in closing:
        click.echo(line, err=True)
    if invalid or problems or report.problems:
        sys.exit(1)


def _ask_choice(path: tuple, prompt: str, many: bool = False, optional: bool = False):
    """Ask for a term (or several, comma-separated), showing each with its definition."""
    from .scaffold import choose
    from .validate import vocabulary_of
    from .vocabulary import load_vocabularies

    vocab = load_vocabularies()[vocabulary_of("case", path)]
    click.echo(f"\n{prompt}:")
    for n, term in enumerate(vocab.terms.values(), 1):
        click.echo(f"  {n:>2}. {term.slug} - {term.definition}")
    while True:
        answer = click.prompt("Number(s) or name(s), comma-separated" if many else "Number or name",
                              default="" if optional else None, show_default=False).strip()
        try:
            picked = [choose(path, list(vocab.terms)[int(a) - 1] if a.isdigit() and 0 < int(a) <= len(vocab.terms)
                             else a) for a in (x.strip() for x in answer.split(",")) if a]
        except ValueError as err:
            click.echo(str(err))
            continue
        if picked or optional:
            return picked if many else picked[0]


class _TermsOption(click.Option):
    """An option that takes a vocabulary's terms: its help lists them, read from kb/vocabulary.yml only
    when help is shown (loading the vocabularies would slow every command)."""

    def __init__(self, *args, vocabulary: str | tuple, **kwargs):
        super().__init__(*args, **kwargs)
        self.vocabulary, self.lead = vocabulary, self.help or ""

    def get_help_record(self, ctx):
        from .vocabulary import load_vocabularies

        name = self.vocabulary
        if isinstance(name, tuple):  # the field at this path of a case file
            from .validate import vocabulary_of

            name = vocabulary_of("case", name)
        vocab = load_vocabularies()[name]
        terms = list(vocab.terms)
        shown = ", ".join(terms) if len(terms) <= 15 else f"{', '.join(terms[:5])}, ... ({len(terms)} in all;"
        lead = self.lead or vocab.description.split(". ")[0].rstrip(".") + "."
        self.help = f"{lead} One of {shown}{' (' if len(terms) <= 15 else ' '}definitions in docs/contributing.md)."
        return super().get_help_record(ctx)


def _vocab_option(path: tuple):
    """A click callback turning aliases and labels into slugs, with "did you mean" for typos."""
    from .scaffold import choose

    def one(param, value: str) -> str:
        slug = choose(path, value)
        if slug != value:  # an alias or a label read as a term: said, so that a surprise is seen at once
            click.echo(f"note: {param.opts[0]} '{value}' read as {slug}", err=True)
        return slug

    def convert(ctx, param, value):
        try:
            return [one(param, v) for v in value] if isinstance(value, tuple) else (one(param, value) if value else None)
        except ValueError as err:
            raise click.BadParameter(str(err))
    return convert


def _cited(sources: tuple[str, ...], known: list[str]) -> list[dict]:
    """ID[:LINES] answers as the case's sources; ValueError naming the nearest known id."""
    import difflib

    cited = [dict(zip(("id", "lines"), s.split(":", 1))) for s in sources]
    for src in cited:
        if src["id"] not in known:
            near = difflib.get_close_matches(src["id"], known, n=1)
            raise ValueError(f"'{src['id']}' is not a source in sources/" + (
                f" - did you mean '{near[0]}'?" if near else " - add it first with `kb source add`"))
    return cited


@cli.command(name="new")
@click.option("--id", "case_id", help="File name without .md (default: made from the title).")
@click.option("--title", help="A plain headline saying who did what.")
@click.option("--organisation", "organisations", multiple=True, help="Organisation as the source names it; repeatable.")
@click.option("--council-type", "council_types", multiple=True, callback=_vocab_option(("organisations", 0, "council_type")),
              cls=_TermsOption, vocabulary=("organisations", 0, "council_type"),
              help="Council type of each --organisation, in the same order.")
@click.option("--region", "regions", multiple=True, callback=_vocab_option(("organisations", 0, "region")),
              cls=_TermsOption, vocabulary=("organisations", 0, "region"),
              help="Region of each --organisation, in the same order.")
@click.option("--service", "services", multiple=True, callback=_vocab_option(("services",)),
              cls=_TermsOption, vocabulary=("services",), help="A service area of the case; repeatable.")
@click.option("--approach", "approaches", multiple=True, callback=_vocab_option(("approaches",)),
              cls=_TermsOption, vocabulary=("approaches",), help="How the savings or change were made; repeatable.")
@click.option("--key-attribute", "key_attributes", multiple=True, callback=_vocab_option(("key_attributes",)),
              cls=_TermsOption, vocabulary=("key_attributes",), help="What made it work; repeatable.")
@click.option("--no-key-attributes", is_flag=True, help="The source says nothing of what made it work.")
@click.option("--start", type=int, help="First year.")
@click.option("--end", type=int, help="Last year, if it has ended.")
@click.option("--status", callback=_vocab_option(("status",)), cls=_TermsOption, vocabulary=("status",))
@click.option("--outcome", callback=_vocab_option(("outcome",)), cls=_TermsOption, vocabulary=("outcome",))
@click.option("--evidence", callback=_vocab_option(("evidence",)), cls=_TermsOption, vocabulary=("evidence",))
@click.option("--figure", "figures", multiple=True, help="A money figure exactly as printed, e.g. '£1.2 million a year'; repeatable.")
@click.option("--source", "sources", multiple=True, metavar="ID[:LINES]",
              help="A source id with the line range(s) that tell the case, e.g. dclg-2014-good-practice-savings:1674-1768.")
@click.option("--interactive/--no-interactive", default=None,
              help="Ask for what is missing (default: only when run in a terminal).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.pass_context
def new_cmd(ctx, case_id, title, organisations, council_types, regions, services, approaches, key_attributes,
            no_key_attributes, start, end, status, outcome, evidence, figures, sources, interactive, force):
    """Write cases/<id>.md with every field and section, TODO wherever a person must write;
    `kb validate` then lists each TODO as a line to fill in."""
    import os
    import re

    from .scaffold import Answers, render, slug
    from .validate import TODO, case_titles, discover, title_key

    root = ctx.obj["root"]
    known = [p.stem for p in discover(root)["source"]]
    if interactive is None:
        interactive = sys.stdin.isatty()
    if interactive:
        title = title or click.prompt("Title (who did what)")
        if not organisations:
            organisations = (click.prompt("Organisation, as the source names it"),)
        council_types = council_types or tuple(_ask_choice(("organisations", 0, "council_type"), f"Council type of {o}")
                                               for o in organisations)
        regions = regions or tuple(_ask_choice(("organisations", 0, "region"), f"Region of {o}") for o in organisations)
        services = services or _ask_choice(("services",), "Services", many=True)
        approaches = approaches or _ask_choice(("approaches",), "Approaches", many=True)
        if not key_attributes and not no_key_attributes:
            key_attributes = _ask_choice(("key_attributes",), "Key attributes (empty if the source says nothing)",
                                         many=True, optional=True)
            no_key_attributes = not key_attributes
        status = status or _ask_choice(("status",), "Status")
        outcome = outcome or _ask_choice(("outcome",), "Outcome")
        evidence = evidence or _ask_choice(("evidence",), "Evidence")
        while not sources:
            click.echo(f"\nSources: {', '.join(known)}")
            sources = (click.prompt("Source id and the lines that tell the case (ID:LINES)"),)
            try:
                _cited(sources, known)
            except ValueError as err:
                click.echo(str(err))
                sources = ()
        if not figures:
            figures = tuple(iter(lambda: click.prompt("Figure as printed (empty to finish)", default="",
                                                      show_default=False).strip(), ""))
    if not case_id and not title:
        raise click.UsageError("give --title (or --id)")
    case_id = case_id or slug(title)
    target = root / "cases" / f"{case_id}.md"
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists already - choose another --id, or give --force to replace it")
    orgs = [{"name": name, "council_type": council_types[i] if i < len(council_types) else None,
             "region": regions[i] if i < len(regions) else None} for i, name in enumerate(organisations)]
    try:
        cited = _cited(sources, known)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--source")
    answers = Answers(case_id, title, orgs, list(services), list(approaches),
                      [] if no_key_attributes else (list(key_attributes) or None), start, end, status, outcome, evidence,
                      list(figures), cited)
    text = render(answers)
    same = case_titles(root, {os.path.abspath(target)}).get(title_key(title), []) if title else []
    target.parent.mkdir(parents=True, exist_ok=True)
    replaced = target.exists()
    target.write_text(text, encoding="utf-8")
    todo = len(re.findall(rf"\b{TODO}\b", text))
    click.echo(f"Wrote {target.relative_to(root)} with {todo} place(s) to fill in (marked TODO); "
               f"`kb validate {target.relative_to(root)}` lists them.", err=True)
    if replaced:
        click.echo(f"Warning: it replaced the existing case {target.relative_to(root)} (--force).", err=True)
    if same:
        click.echo(f"Warning: the title is also the title of {', '.join(same)}: if it is the same initiative, add to "
                   "that case instead; if not, give this one a title saying what differs.", err=True)


@cli.group(name="source")
def source_group():
    """Source reports: their line-numbered texts and records in sources/."""


@source_group.command(name="add")
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "source_id", required=True, help="Lower-case words joined by hyphens, e.g. lga-2016-transformational-models.")
@click.option("--url", required=True, help="The report's public address.")
@click.option("--title", help="Title as the cover prints it (default: TODO, with the PDF's own title to confirm).")
@click.option("--publisher", help="The organisation that published the report, as the report names it.")
@click.option("--date", help="Publication date as YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--licence", help="The report's licence as it states it, e.g. 'Open Government Licence v3.0'.")
@click.option("--keep/--no-keep", default=None,
              help="Keep the text in the repository (default: only when the licence allows republishing, e.g. the OGL).")
@click.option("--force", is_flag=True, help="Replace an existing record and text.")
@click.pass_context
def source_add_cmd(ctx, pdf, source_id, url, title, publisher, date, licence, keep, force):
    """Extract REPORT.pdf to a line-numbered text and write sources/<id>.md with its address, the
    text's sha256 and the line on which each page starts."""
    from .source_text import SourceError, add_source

    root = ctx.obj["root"]
    try:
        record, text_path, text = add_source(root, pdf, source_id, url, title, publisher, date, licence, keep, force)
    except SourceError as err:
        raise click.UsageError(str(err))
    where = "kept in the repository" if text_path.parent.name == "text" else "kept out of git (licence)"
    click.echo(f"Wrote {record.relative_to(root)} and {text_path.relative_to(root)} ({where}): {len(text.lines)} lines, "
               f"{len(text.page_lines)} pages, sha256 {text.sha256[:12]}...; `kb validate {record.relative_to(root)}` "
               "lists what to fill in.", err=True)


@cli.command(name="build")
@click.option("--db", "db_path", default="kb.db", show_default=True, callback=_under_root,
              help="SQLite file to write (in the --root folder when one is given); an existing file is replaced only if `kb build` wrote it (or with --force).")
@click.option("--force", is_flag=True, help="Replace --db even if it is not a database `kb build` wrote.")
@click.option("--model", default=None, help="Embedding model name or path (default: the packaged all-MiniLM-L6-v2; env KB_MODEL).")
@click.option("--quiet", is_flag=True, help="No progress bars (they are shown only at a terminal).")
@click.pass_context
def build_cmd(ctx, db_path, force, model, quiet):
    """Validate, then write the SQLite database (swapped in only when complete)."""
    from ingest.build import BuildFailed, DatabaseNotChanged, build as run_build

    from .embedding import ModelError

    # the site reads the declared abbreviations on every page: a bad entry stops the build, not a page
    if declared := _declared_problems():
        for problem in declared:
            click.echo(str(problem))
        click.echo(f"Build stopped: {len(declared)} problem(s); {db_path} was not changed.", err=True)
        sys.exit(1)
    try:
        # a log (CI, a redirect) gets no bars either: their redraws are noise there
        report = run_build(ctx.obj["root"], db_path, model=model, progress=not quiet and sys.stderr.isatty(), force=force)
    except BuildFailed as failed:
        for problem in failed.problems:
            click.echo(str(problem))
        click.echo(f"Build stopped: {len(failed.problems)} problem(s); {db_path} was not changed.", err=True)
        sys.exit(1)
    except DatabaseNotChanged as refused:
        click.echo(f"Build stopped: {refused}.", err=True)
        sys.exit(1)
    except ModelError as err:
        click.echo(f"Build stopped: {err}; {db_path} was not changed.", err=True)
        sys.exit(1)
    except KeyboardInterrupt as stopped:
        click.echo(f"Build stopped ({str(stopped) or 'interrupted'}); {db_path} was not changed.", err=True)
        sys.exit(130)
    save_arrays(report.path)  # so the site's search engine opens in a second
    size = report.path.stat().st_size
    click.echo(f"Built {report.path} ({size / 1e6:.1f} MB) in {report.seconds:.1f}s: {report.cases} cases, "
               f"{report.sources} sources, {report.lessons} lessons, {report.savings} figures; "
               f"{report.chunks} chunks ({report.embedded} embedded, {report.reused} reused)" +
               ("; nothing had changed." if report.unchanged else
                f"; {report.patched} changed case(s) patched into the previous database." if report.patched is not None
                else "."), err=True)


def _site_options(func):
    """--metadata, --brand and --base-url, shared by `kb serve` and `kb publish`."""
    func = click.option("--base-url", default="/", show_default=True,
                        help="Path the site is served under behind a proxy, e.g. /kb/ (Datasette's base_url).")(func)
    func = click.option("--brand", "brand_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                        default=BRAND, show_default=True,
                        help="Brand folder: brand.yml (name, logo, colours, pages), the logo and the pages.")(func)
    func = click.option("--metadata", "metadata_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        default=METADATA, show_default=True,
                        help="Datasette metadata (YAML or JSON), with an optional settings: mapping.")(func)
    return func


def _site(db_path, metadata_path, brand_dir, base_url):
    from .site import Site, SiteError

    try:
        site = Site(db_path, metadata_path, brand_dir, base_url).check()
    except SiteError as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    for note in site.brand.notes:
        click.echo(f"Note: {note}", err=True)
    return site


@cli.command(name="serve")
@click.option("--db", "db_path", default="kb.db", show_default=True, type=click.Path(path_type=Path), help=DB_HELP,
              callback=_under_root)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on: this machine only by default (put a proxy in front to publish it).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--sql/--no-sql", "allow_sql", default=None,
              help="Allow arbitrary SQL queries (default: on, with the limits in README 'Security decisions'; env KB_SQL).")
@click.option("--download/--no-download", "allow_download", default=None,
              help="Offer the whole database file for download at /kb.db (default: on; env KB_DOWNLOAD).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), envvar="KB_WORKERS",
              help="Server processes sharing the port (env KB_WORKERS): one per core serves more readers "
                   "at once, each holding its own search engine (README 'Publishing').")
@_site_options
def serve_cmd(db_path, host, port, allow_sql, allow_download, workers, metadata_path, brand_dir, base_url):
    """Serve the database with Datasette (read-only, with time limits) on HOST:PORT."""
    import os
    import socket

    from .site import is_project_database, pin

    if not db_path.is_file():
        raise _fail(f"{db_path}: {_not_built(db_path)}")
    if not is_project_database(db_path):
        raise _fail(f"{db_path}: is not a database `kb build` wrote - run `kb build --db {db_path}` or give another --db")
    for name, value in (("KB_SQL", allow_sql), ("KB_DOWNLOAD", allow_download)):
        if value is not None:
            os.environ[name] = "on" if value else "off"
    # what was asked for first (a bad brand or metadata is the reader's to mend), then the machine
    site = _site(db_path, metadata_path, brand_dir, base_url)
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:
        raise _fail(f"{host}:{port}: cannot listen there ({err.strerror or err}) - choose another --port, or stop what uses it")
    save_arrays(site.db_path)  # once per build (quick once saved): pin links them beside the served file
    site.db_path = pin(site.db_path)
    # exec, not a child process: signals (and a test's terminate()) reach Datasette itself; the
    # process keeps its id, so the pinned link is found stale once the server has stopped
    if workers == 1:
        os.execv(sys.executable, [sys.executable, "-m", "datasette", *site.serve_args(host, port)])
        return  # (os.execv does not return; a test's stand-in for it does)
    import json
    import secrets

    from .served import ARGS

    os.environ[ARGS] = json.dumps(site.serve_args(host, port))
    if not os.environ.get(CORES_ENV):
        # a search running alone in one worker spreads over its share of the cores, not over the
        # others' (two workers on 2 cores, alternating: 43.1 and 36.6 new queries a second against 36.9 and 37.5)
        os.environ[CORES_ENV] = str(max(1, usable_cores() // workers))
    # every process signs as the others do (Datasette makes a secret of its own when none is given)
    os.environ.setdefault("DATASETTE_SECRET", secrets.token_hex(32))
    os.execv(sys.executable, [sys.executable, "-m", "uvicorn", "kb.served:app", "--factory", "--workers", str(workers),
                              "--host", host, "--port", str(port), "--lifespan", "on", "--log-level", "info"])


@cli.command(name="publish", context_settings={"ignore_unknown_options": True})
@click.argument("target", type=click.Choice(["docker", "cloudrun", "fly", "vercel"]))
@_db_option
@_site_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the staged parts (docker: the build context) [default: dist/TARGET].")
@click.option("--tag", default="council-kb", show_default=True, help="docker: the image's name.")
@click.option("--base-image", default=None,
              help="docker, cloudrun, fly: the image the site's Dockerfile starts FROM "
                   "[default: python:3.11-slim-bookworm, the Python CI tests; see README 'Publishing'].")
@click.option("--dry-run", is_flag=True, help="Stage the parts and print the command, without running it.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def publish_cmd(target, db_path, metadata_path, brand_dir, base_url, out, tag, base_image, dry_run, extra):
    """Publish the site: a Docker build context (built where Docker exists), or `datasette publish`
    to Cloud Run, Fly or Vercel. Options after the target that kb does not know (--service, --app,
    --project, --memory, ...) go to `datasette publish`. For example (README 'Publishing'):

    \b
      kb publish docker --brand my-brand --metadata my-metadata.yml --base-url /kb/ --tag my-kb
      kb publish cloudrun --brand my-brand --metadata my-metadata.yml --service my-kb --memory 1Gi"""
    import shutil
    import subprocess
    import tempfile

    from .onnx_model import OnnxError
    from .publish import (IMAGE_TARGETS, PublishError, check_options, check_out, check_publisher, docker_context,
                          publish_command, show, stage)
    from .publish_image import BASE_IMAGE, ImageError, check_image
    from .site import SiteError

    if target == "docker" and extra:
        raise click.UsageError(f"docker takes no further options ({' '.join(extra)}); they are for the hosted targets")
    if base_image is not None and target not in IMAGE_TARGETS:
        raise click.UsageError(f"{target} builds no image from a Dockerfile, so --base-image does not apply to it")
    site = _site(db_path, metadata_path, brand_dir, base_url)
    out = out or Path("dist") / target
    from search.kernels import uses_compiled_loop

    extras = ("scale",) if uses_compiled_loop(site.db_path) else ()
    try:
        image = check_image(base_image or BASE_IMAGE)
        check_out(out)
        check_publisher(target)
        if target == "docker":
            with tempfile.TemporaryDirectory(prefix="kb-stage-") as work:
                context = docker_context(stage(site, Path(work) / "parts", extras), out, base_image=image)
            command, cwd = ["docker", "build", "-t", tag, str(context)], None
            click.echo(f"Wrote the Docker build context to {context}.", err=True)
        else:
            check_options(target, site.db_path, list(extra))
            parts = stage(site, out, extras)
            command, cwd = publish_command(target, parts, list(extra), base_image=image), parts.directory
            click.echo(f"Staged the parts in {parts.directory}.", err=True)
    except (PublishError, SiteError, OnnxError, ImageError) as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    # a published site's readers need a way to report a problem, even on the project's own brand (whose
    # notes, said above, leave it out when served at home); said once, not again after the brand's
    if not any(link["key"] == "contact" for link in site.brand.links) and \
            not any("gives no `contact`" in note for note in site.brand.notes):
        click.echo(f"Note: {site.brand_dir / 'brand.yml'} gives no contact, so readers have no way to report a problem; "
                   "add `contact: {title: Report a problem, url: https://...}` to show one in every footer.", err=True)
    for note in _hosting_notes(target, list(extra)):
        click.echo(f"Note: {note}", err=True)
    if dry_run:
        click.echo(show(command, cwd))
        return
    if target == "docker" and shutil.which("docker") is None:
        click.echo("Docker is not installed here; build the image where it is with:", err=True)
        click.echo(show(command))
        return
    code = subprocess.call(command, cwd=cwd)
    if code:
        # the tool's own error is above; what was staged is kept, so the same command can be run again
        click.echo(f"{command[0]} failed (exit code {code}); what was staged is kept. Once what it says above is put "
                   f"right, run:\n{show(command, cwd)}", err=True)
    sys.exit(code)


@cli.command(name="export-onnx")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write (default: kb/model, the export the site and `kb publish` use).")
@click.option("--model", default=None, help="Model name or path (default: the packaged all-MiniLM-L6-v2; env KB_MODEL).")
def export_onnx_cmd(out, model):
    """Export the embedding model to ONNX, so searches need onnxruntime but not PyTorch."""
    from .embedding import export_onnx
    from .onnx_model import LOCAL, OnnxError

    try:
        path = export_onnx(out or LOCAL, model)
    except OnnxError as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    size = sum(f.stat().st_size for f in path.iterdir())
    click.echo(f"Exported to {path} ({size / 1e6:.0f} MB).", err=True)



def _fail(message: str) -> SystemExit:
    click.echo(message, err=True)
    return SystemExit(1)


# A broken kb/schema.yml or kb/vocabulary.yml, found when the options were made: every command says
# so (see cli), where a traceback from YAML's parser named neither the file nor the fix
_DECLARATION_ERROR: list[Exception] = []


def _facet_options(func):
    """One --<facet> option per facet declared in kb/schema.yml, each repeatable (values OR-ed)."""
    from .declared import DeclarationError
    from .schema import facets

    try:
        options = []
        for facet in reversed(facets()):
            name = facet.column.replace("_", "-")
            lead = f"Filter by {facet.label.lower()} (repeat to allow several)."
            options.append(click.option(f"--{name}", facet.column, multiple=True, cls=_TermsOption,
                                        vocabulary=facet.vocabulary, help=lead) if facet.vocabulary else
                           click.option(f"--{name}", facet.column, multiple=True,
                                        help=f"{lead[:-1]}: a file name in sources/ without .md."))
    except DeclarationError as error:
        _DECLARATION_ERROR.append(error)
        return func
    for option in options:
        func = option(func)
    return func


def _hosting_notes(target: str, extra: list[str]) -> list[str]:
    """What the README says a host needs that the command line leaves out."""
    if target == "cloudrun" and not any(a == "--memory" or a.startswith("--memory=") for a in extra):
        return ["Cloud Run gives a service 512 MiB unless told otherwise, less than one replica needs under "
                "load (README, \"Scaling out\"): add `--memory 1Gi`."]
    if target == "vercel":
        return ["Vercel does not fit: a Python function may hold 250 MB unzipped and the runtime's packages alone "
                "are about 256 MB (README, \"Publishing\"); prefer docker, cloudrun or fly."]
    return []


class Refused(click.ClickException):
    """A query or a case id the engine cannot answer: "Error: ..." in one line, exit status 2 as a
    usage error's, without the usage lines before it (the message says what to give)."""
    exit_code = 2


def _answer(argument: str, run, as_json: bool) -> None:
    """Run one query (or, for '-', one per stdin line as JSON lines) and print the results."""
    import json

    from search.engine import QueryError

    if argument == "-":
        refused = 0
        for line in sys.stdin:
            line = line.rstrip("\n")
            try:
                click.echo(json.dumps(run(line)))
            except QueryError as err:
                refused += 1
                click.echo(json.dumps({"error": str(err), "query": line[:100]}))
        if refused:  # each line said why; the exit status says that some did
            sys.exit(1)
        return
    try:
        results = run(argument)
    except QueryError as err:
        raise Refused(str(err))
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


class _Pounds(click.ParamType):
    """A savings bound typed as on the search page (250000, 250,000, £250,000, £250k or £1.5m)."""
    name = "pounds"

    def convert(self, value, param, ctx):
        from .amounts import typed_pounds

        if isinstance(value, float):
            return value
        try:
            return typed_pounds(str(value))
        except ValueError as err:
            self.fail(f"{value!r} {err}", param, ctx)


@cli.command(name="search")
@click.argument("query")
@_db_option
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="hybrid: the words and their meaning; keyword: the words only; semantic: the meaning only "
                   "(README 'Search').")
@click.option("--limit", default=10, show_default=True, type=int, help="How many results to print.")
@click.option("--lessons", is_flag=True, help="Search lessons instead of cases.")
@click.option("--min-savings", type=_Pounds(), default=None,
              help="Achieved yearly saving of at least this many pounds, e.g. 250000, £250,000 or £1.5m.")
@click.option("--max-savings", type=_Pounds(), default=None, help="Achieved yearly saving of at most this many pounds.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results, best first.")
@click.option("--exact-spelling", is_flag=True, help="Search the words as typed (misspelt words are corrected and shorthand written out otherwise).")
@_facet_options
def search_cmd(query, db_path, mode, limit, lessons, min_savings, max_savings, as_json, exact_spelling, **filters):
    """Search cases (or lessons) for QUERY; QUERY '-' reads one query per line from stdin and
    prints one JSON line per query. A corrected spelling is said on stderr. For example:

    \b
      kb search "district council sharing waste collection with a neighbour"
      kb search "reablement" --council-types unitary-authority --min-savings 250000 --json"""
    from search.engine import engine_for

    engine = engine_for(db_path)
    target = "lessons" if lessons else "cases"
    filters = {k: list(v) for k, v in filters.items() if v}

    def run(q):
        found = engine.search(q, mode=mode, target=target, filters=filters, min_savings=min_savings,
                              max_savings=max_savings, limit=limit, spelling=not exact_spelling)
        if found.unquoted:
            click.echo("No document has " + " or ".join(f'"{p}"' for p in found.unquoted) +
                       " as written: searched its words without the quotation marks", err=True)
        if found.shortened_from:
            click.echo(f"Searched the first {len(found.query):,} of the query's {found.shortened_from:,} characters", err=True)
        if found.corrected_from:
            what = " and ".join(w for w, did in (("spelling corrected", len(found.shorthand) < len(found.corrections)),
                                                  ("shorthand written out", found.shorthand)) if did)
            click.echo(f"Searched for: {found.query} ({what}; --exact-spelling searches as typed)", err=True)
        elif found.suggestion:
            click.echo(f"Did you mean: {found.suggestion}?", err=True)
        return [r.as_dict() for r in found.results]

    _answer(query, run, as_json)


@cli.command(name="similar")
@click.argument("case_id")
@_db_option
@click.option("--limit", default=5, show_default=True, type=int, help="How many cases to print.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a list.")
def similar_cmd(case_id, db_path, limit, as_json):
    """Cases most like CASE_ID (precomputed at build time); '-' reads ids from stdin, one JSON line each."""
    from search.engine import engine_for

    engine = engine_for(db_path)
    _answer(case_id, lambda case: engine.similar(case.strip(), limit), as_json)


@cli.command(name="evaluate")
@_db_option
@click.option("--queries", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Query set (default: search/queries.yml, or search/lesson_queries.yml with --lessons).")
@click.option("--lessons", is_flag=True, help="Evaluate lesson search instead of case search.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate_cmd(db_path, queries, lessons, as_json):
    """nDCG@10, recall@5 and MRR per mode, by query form and voice; nDCG@5 of similar cases; and how
    often the vocabulary's everyday words that no case writes find their term's cases."""
    import json

    from search.evaluate import (LESSON_QUERIES_FILE, QUERIES_FILE, evaluate, evaluate_close, evaluate_everyday,
                                 evaluate_similar, format_table, load_queries, unknown_ids)

    target = "lessons" if lessons else "cases"
    queries = queries or (LESSON_QUERIES_FILE if lessons else QUERIES_FILE)
    chosen = load_queries(queries)
    # a case withdrawn or renamed since the sets were judged: said here, not as a traceback mid-way
    unknown = unknown_ids(db_path, chosen, target, Path(queries), similar=not lessons)
    if unknown:
        raise click.ClickException("\n".join(unknown))
    table = evaluate(db_path, chosen, target=target)
    close = evaluate_close(db_path, chosen, target=target)
    similar = None if lessons else evaluate_similar(db_path)
    everyday = None if lessons else evaluate_everyday(db_path)
    if as_json:
        click.echo(json.dumps({"search": table, "close": close, "similar": similar, "everyday": everyday}, indent=2))
        return
    click.echo(f"{target.capitalize()} search\n" + format_table(table))
    click.echo(f"\nClose matches: {close['precision']:.0%} judged useful; {close['recall_exact']:.0%} of the exactly "
               f"relevant flagged close; {close['close_per_query']:.1f} per query")
    if similar:
        click.echo(f"\nSimilar cases: nDCG@5 {similar['ndcg@5']:.3f} over {similar['targets']} judged target cases")
    if everyday and everyday["names"]:
        click.echo(f"\nEveryday words: of the vocabulary's {everyday['names']} other names that no case writes, each searched "
                   f"alone, {everyday['first_tagged']:.1%} find a case tagged with their term first "
                   f"({everyday['top3_tagged']:.1%} of the first three results)")


@cli.command(name="schema")
@click.option("--check", is_flag=True, help="Exit 1 if the generated files are out of date.")
def schema_cmd(check):
    """Write schema/*.schema.json and docs/contributing.md from kb/schema.yml and kb/vocabulary.yml."""
    from . import ROOT
    from .docs import out_of_date

    if declared := _declared_problems():
        for problem in declared:
            click.echo(str(problem))
        click.echo(f"Nothing written: {len(declared)} problem(s) in the declared lists.", err=True)
        sys.exit(1)
    stale = out_of_date(ROOT)
    for path, text in stale.items() if not check else ():
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text(text, encoding="utf-8")
    if check and stale:
        click.echo(f"Out of date: {', '.join(stale)} - run `kb schema`.", err=True)
        sys.exit(1)
    click.echo(("Up to date." if check else f"Wrote {len(stale)} file(s).") if not stale or not check else "", err=True)
