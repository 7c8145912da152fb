"""The `kb` command's help, wrapped at spaces only. Click wraps with textwrap's defaults, which break
a line after any hyphen and cut a word longer than its column: a vocabulary term in an option's help
("environmental-and-regulatory", "fire-and-rescue-authority") came out in two halves, and a reader
copying it from the terminal got half a term. Click 8.5 has no setting for this (pallets/click#3362),
so the two methods that wrap text are Click's own with a wrapper that keeps every word whole: a word
longer than its column runs past it instead."""
from __future__ import annotations

import textwrap

import click
from click.formatting import iter_rows, measure_table


def wrap_text(text: str, width: int, initial_indent: str = "", subsequent_indent: str = "") -> str:
    """click.formatting.wrap_text with preserve_paragraphs: paragraphs apart, each at its own
    indentation, and one after a line holding only \\b left as written (an example command)."""
    paragraphs: list[tuple[int, bool, list[str]]] = []
    for block in text.expandtabs().split("\n\n"):
        lines = [line for line in block.splitlines() if line]
        if not lines:
            continue
        indent = len(lines[0]) - len(lines[0].lstrip())
        raw = lines[0].strip() == "\b"
        paragraphs.append((indent, raw, lines[1:] if raw else [line.strip() for line in lines]))
    out = []
    for indent, raw, lines in paragraphs:
        first, rest = initial_indent + " " * indent, subsequent_indent + " " * indent
        if raw:
            out.append("\n".join((rest if n else first) + line for n, line in enumerate(lines)))
            continue
        out.append(textwrap.fill(" ".join(lines), width, initial_indent=first, subsequent_indent=rest,
                                 replace_whitespace=False, break_on_hyphens=False, break_long_words=False))
    return "\n\n".join(out)


class HelpFormatter(click.HelpFormatter):
    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        self.write(wrap_text(text, self.width, initial_indent=indent, subsequent_indent=indent))
        self.write("\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        widths = measure_table(rows)
        if len(widths) != 2:
            raise TypeError("Expected two columns for definition list")
        first_col = min(widths[0], col_max) + col_spacing
        for first, second in iter_rows(rows, len(widths)):
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = wrap_text(second, max(self.width - first_col - 2, 10)).splitlines() or [""]
            self.write(f"{lines[0]}\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n" if line else "\n")


class Context(click.Context):
    formatter_class = HelpFormatter


class Command(click.Command):
    context_class = Context


class Group(click.Group):
    """`@click.group(cls=Group)`: the group and every command and group made under it use HelpFormatter."""
    context_class = Context
    command_class = Command
    group_class = type  # a group made under it is one of these too
