"""Reading one Markdown file with YAML front matter, defensively: the file comes from a pull
request, so size, encoding and YAML features are all checked before anything trusts it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

MAX_BYTES = 200_000
FENCE = "---"


@dataclass
class Problem:
    path: str
    line: int
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message} - {self.fix}"


class UnsafeYAML(yaml.YAMLError):
    def __init__(self, message: str, fix: str, mark):
        super().__init__(message)
        self.message, self.fix, self.mark = message, fix, mark


# libyaml when installed (about ten times faster), the pure-Python loader otherwise.
_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def screen_yaml(text: str) -> None:
    """Refuse aliases, anchors and explicit tags before anything is built.

    Aliases are refused outright (not just limited) so a 'billion laughs' document cannot be built,
    and tags so that nothing but plain data can come out of a case file."""
    for event in yaml.parse(text, Loader=_SAFE):
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeYAML(f"YAML alias '*{event.anchor}' is not allowed",
                             "write the value out in full instead of using anchors and aliases", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise UnsafeYAML(f"YAML anchor '&{anchor}' is not allowed",
                             "remove the anchor and write each value out in full", event.start_mark)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise UnsafeYAML(f"YAML tag '{tag}' is not allowed",
                             "remove the tag; plain strings, numbers, lists and mappings are all a case file needs",
                             event.start_mark)


class StrictLoader(_SAFE):
    """The safe loader without implicit dates, so dates stay strings and validate as declared."""


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _SAFE.yaml_implicit_resolvers.items()
}


@dataclass
class Document:
    """A parsed file: its front matter as data plus the YAML node tree (for line numbers)."""
    path: Path
    display: str
    data: dict
    node: yaml.Node
    body: str
    body_line: int  # 1-based file line on which the body starts

    def line_of(self, json_path: tuple) -> int:
        """File line of the value at json_path, or of its nearest existing parent."""
        node = self.node
        for step in json_path:
            child = None
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                for key, value in node.value:
                    if key.value == step:
                        child = value if not isinstance(value, yaml.ScalarNode) else key
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                child = node.value[step]
            if child is None:
                break
            node = child
        return node.start_mark.line + 2  # +1 for 1-based, +1 for the opening fence


def _decode(raw: bytes, display: str) -> tuple[str | None, list[Problem]]:
    if len(raw) > MAX_BYTES:
        return None, [Problem(display, 1, f"file is {len(raw) // 1000} KB, over the {MAX_BYTES // 1000} KB limit",
                              "shorten the case or split it into separate cases")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return None, [Problem(display, line, f"file is not valid UTF-8 (byte 0x{raw[err.start]:02x})",
                              "save the file with UTF-8 encoding")]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, [Problem(display, line, "file contains a NUL byte", "save it as plain UTF-8 text")]
    return text.lstrip("\ufeff").replace("\r\n", "\n"), []


def read_document(path: Path, display: str | None = None) -> tuple[Document | None, list[Problem]]:
    display = display or str(path)
    text, problems = _decode(path.read_bytes(), display)
    if text is None:
        return None, problems
    lines = text.split("\n")
    if not lines or lines[0].strip() != FENCE:
        return None, [Problem(display, 1, "file does not start with front matter",
                              "make the first line `---`, then the YAML fields, then a line `---` before the text")]
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == FENCE)
    except StopIteration:
        return None, [Problem(display, 1, "front matter is not closed",
                              "add a line `---` after the last YAML field")]
    yaml_text = "\n".join(lines[1:end])
    try:
        screen_yaml(yaml_text)
        loader = StrictLoader(yaml_text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except UnsafeYAML as err:
        return None, [Problem(display, err.mark.line + 2, err.message, err.fix)]
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 2 if mark else 2
        what = (err.problem or "malformed YAML").strip()
        fix = "check the indentation and quoting on this line and the one before (quote text containing ': ' or '#')"
        if "\t" in "".join(lines[max(1, line - 2):line]):  # the line reported and the one before
            fix = "use spaces, not a tab: YAML indents with spaces only"
        return None, [Problem(display, line, f"malformed YAML: {what}", fix)]
    except yaml.YAMLError as err:
        return None, [Problem(display, 2, f"malformed YAML: {err}", "check the front matter's syntax")]
    if not isinstance(data, dict):
        return None, [Problem(display, 2, "front matter is not a set of `field: value` lines",
                              "write the front matter as YAML fields, one `name: value` per line")]
    body = "\n".join(lines[end + 1:])
    return Document(path, display, data, node, body, end + 2), []


# Raw HTML is off so a case file cannot inject script into the site; markdown-it also refuses
# javascript: links by default.
MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def plain_text(markdown: str) -> str:
    """Markdown as one line of plain text: list markers and emphasis marks dropped."""
    text = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", markdown, flags=re.M)
    text = re.sub(r"[*_`#>]", "", text)
    return " ".join(text.split())


@dataclass
class Section:
    heading: str
    line: int           # file line of the heading
    markdown: str       # the section's text without its heading
    bullets: list[tuple[int, str]]  # top-level list items: (file line, text)
    html: str = ""      # the section's text (without its heading) as HTML


def split_sections(body: str, body_line: int) -> tuple[list[Section], list[tuple[int, str]]]:
    """Level-2 sections of a body, and any level-1 or stray text before the first one.

    The body is parsed once; each section's HTML is rendered from its slice of the tokens."""
    tokens = MARKDOWN.parse(body)
    lines = body.split("\n")
    heads = [(i, t) for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    sections: list[Section] = []
    stray: list[tuple[int, str]] = []
    first = heads[0][1].map[0] if heads else len(lines)
    for n, text in enumerate(lines[:first]):
        if text.strip():
            stray.append((body_line + n, text.strip()))
    for k, (i, tok) in enumerate(heads):
        start = tok.map[1]
        stop = heads[k + 1][1].map[0] if k + 1 < len(heads) else len(lines)
        heading = tokens[i + 1].content.strip()
        bullets = []
        depth = 0
        for t in tokens[i:]:
            if t.map and t.map[0] >= stop:
                break
            if t.type in ("bullet_list_open", "ordered_list_open"):
                depth += 1
            elif t.type in ("bullet_list_close", "ordered_list_close"):
                depth -= 1
            elif t.type == "list_item_open" and depth == 1 and t.map:
                item = "\n".join(lines[t.map[0]:t.map[1]])
                item = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", item, count=1)
                bullets.append((body_line + t.map[0], " ".join(item.split())))
        last = heads[k + 1][0] if k + 1 < len(heads) else len(tokens)
        html = MARKDOWN.renderer.render(tokens[i + 3:last], MARKDOWN.options, {})
        sections.append(Section(heading, body_line + tok.map[0], "\n".join(lines[start:stop]).strip(), bullets, html))
    return sections, stray
