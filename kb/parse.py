"""Reading one Markdown file with YAML front matter, defensively: the file comes from a pull
request, so what it is (a regular file inside the tree), its size, encoding, characters and YAML
features are all checked before anything trusts it."""
from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

MAX_BYTES = 200_000
# The case format nests three levels (front matter > savings > one figure); anything far deeper is
# an attack on the recursive parts of the YAML composer and the validator, not a case.
MAX_DEPTH = 8
FENCE = "---"
STR_TAG = "tag:yaml.org,2002:str"
# Characters that are invisible or reorder text on screen, so what a reviewer reads in a pull request
# differs from what is stored: C0/C1 controls (tab and newline excepted), bidirectional controls, and
# the Unicode line and paragraph separators (YAML counts them as line breaks, which would shift every
# line number after them).
HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
MESSAGE_CHARS = 400
# a value that opens with a word processor's quote mark: "key: \u201ctext" or "- \u2018text"
CURLY_QUOTED = re.compile("(?:^|:|-)[ \t]+[\u201c\u2018\u201e]")


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Text fit for a one-line message: anything unprintable escaped, long text cut."""
    text = "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value, limit: int = 60) -> str:
    """A value from a file, quoted and cut short, for a message."""
    return one_line(repr(value) if not isinstance(value, str) else f"'{value}'", limit)


@dataclass
class Problem:
    path: str
    line: int
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{one_line(self.path, 200)}:{self.line}: {one_line(self.message)} - {one_line(self.fix)}"


class UnsafeYAML(yaml.YAMLError):
    def __init__(self, message: str, fix: str, mark):
        super().__init__(message)
        self.message, self.fix, self.mark = message, fix, mark


# libyaml when installed (about ten times faster), the pure-Python loader otherwise.
_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def screen_yaml(text: str) -> None:
    """Refuse aliases, anchors, explicit tags and deep nesting before anything is built.

    Aliases are refused outright (not just limited) so a 'billion laughs' document cannot be built,
    tags so that nothing but plain data can come out of a case file, and nesting beyond MAX_DEPTH
    here, on the flat stream of events, before the recursive composer and validator see it."""
    depth = 0
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
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeYAML(f"front matter is nested more than {MAX_DEPTH} levels deep",
                                 "a case needs at most three levels (field, list, item); remove the extra brackets",
                                 event.start_mark)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _hidden_escape(display: str, node: yaml.ScalarNode) -> Problem:
    char = HIDDEN.search(node.value).group()
    return Problem(display, node.start_mark.line + 2,
                   f"a quoted value holds {'a text-direction control' if char in BIDI else 'an invisible control character'} "
                   f"(U+{ord(char):04X}, written as an escape such as \\x07 or \\u202e)",
                   "delete the escape: it can make the text show differently from what is stored")


def key_problems(node: yaml.Node, display: str) -> list[Problem]:
    """Field names that are not plain text (`1:`, `~:`, `true:`, `[a]:`) or appear twice in one
    mapping, and text that YAML escapes (`"\x07"`, `"\u202e"`) turn into hidden characters. YAML
    itself would turn the first into numbers, nulls or lists and let the last of a repeated field
    silently win."""
    problems = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.ScalarNode):
            if current.tag == STR_TAG and HIDDEN.search(current.value):
                problems.append(_hidden_escape(display, current))
        elif isinstance(current, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in current.value:
                line = key.start_mark.line + 2
                if not isinstance(key, yaml.ScalarNode) or key.tag != STR_TAG:
                    text = key.value if isinstance(key, yaml.ScalarNode) else "a list or mapping"
                    problems.append(Problem(display, line, f"field name {shown(text)} is not a word",
                                            "field names are words such as `title:`; remove this line or fix its name"))
                elif HIDDEN.search(key.value):
                    problems.append(_hidden_escape(display, key))
                elif key.value in first_line:
                    problems.append(Problem(display, line, f"field {shown(key.value)} appears twice (also on line "
                                                           f"{first_line[key.value]})",
                                            "keep one of the two: YAML would silently use the last one"))
                else:
                    first_line[key.value] = line
                stack.append(value)
    return sorted(problems, key=lambda p: p.line)


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
    front: str = ""  # the front matter's text, as YAML read it

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


def _kind_of_file(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _inside(path: str, root: str) -> bool:
    """Whether an absolute, normalised path is root or under it (strings: this runs once a file)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _resolved(path: str, folders: dict | None) -> str:
    """os.path.realpath(path), each folder resolved once per `folders` (one check of a collection)."""
    if folders is None or os.path.islink(path):
        return os.path.realpath(path)
    parent, name = os.path.split(path)
    if parent not in folders:
        folders[parent] = os.path.realpath(parent)
    return os.path.join(folders[parent], name)


def read_bytes(path: Path, display: str, root: Path | None = None, folders: dict | None = None
               ) -> tuple[bytes | None, list[Problem]]:
    """The file's bytes, refusing anything that is not a regular file inside the tree, and reading at
    most MAX_BYTES + 1 bytes: a link to /dev/zero or a named pipe must neither fill memory nor hang."""
    where = lambda what, fix: (None, [Problem(display, 1, what, fix)])
    if root is not None:
        root = _resolved(os.path.abspath(root), folders)
        lexical = os.path.abspath(path)
        if _inside(lexical, root) and not _inside(_resolved(lexical, folders), root):
            return where(f"is a link to {shown(os.path.realpath(path), 120)}, outside the project folder",
                         "replace the link with the file itself")
    try:
        # O_NONBLOCK: opening a named pipe returns at once instead of waiting for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return where("file does not exist", "check the file name")
    except PermissionError:
        return where("file cannot be read (permission denied)", "make the file readable")
    except OSError as err:
        return where(f"file cannot be opened ({err.strerror or err})", "replace it with a plain Markdown file")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return where(f"is {_kind_of_file(info.st_mode)}, not a file",
                         "remove it, or replace it with a Markdown file of the same name")
        if info.st_size > MAX_BYTES:
            return where(f"file is {info.st_size // 1000} KB, over the {MAX_BYTES // 1000} KB limit",
                         "shorten the case or split it into separate cases")
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), []
    except OSError as err:
        return where(f"file cannot be read ({err.strerror or err})", "replace it with a plain Markdown file")
    finally:
        os.close(fd)


def _decode(raw: bytes, display: str) -> tuple[str | None, list[Problem]]:
    if len(raw) > MAX_BYTES:
        return None, [Problem(display, 1, f"file is over the {MAX_BYTES // 1000} KB limit",
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
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    hidden = HIDDEN.search(text)
    if hidden:
        char = hidden.group()
        before = text[: hidden.start()]
        line, column = before.count("\n") + 1, hidden.start() - (before.rfind("\n") + 1) + 1
        name = f"U+{ord(char):04X}" + (f" {unicodedata.name(char)}" if unicodedata.name(char, "") else "")
        kind = "a text-direction control" if char in BIDI else "an invisible control character"
        return None, [Problem(display, line, f"line {line} column {column} holds {kind} ({name})",
                              "delete it: it can make the text show differently from what is stored")]
    return text, []


def read_document(path: Path, display: str | None = None, root: Path | None = None
                  ) -> tuple[Document | None, list[Problem]]:
    display = display or str(path)
    raw, problems = read_bytes(path, display, root)
    if raw is None:
        return None, problems
    return parse_document(raw, path, display)


def parse_document(raw: bytes, path: Path, display: str) -> tuple[Document | None, list[Problem]]:
    """A file's bytes (from read_bytes) as a Document, or the problems that stop it being one."""
    text, problems = _decode(raw, display)
    if text is None:
        return None, problems
    lines = text.split("\n")
    if not text.strip():
        return None, [Problem(display, 1, "file is empty",
                              "start from `kb new`, which writes the front matter and every section, with TODO "
                              "wherever you must write")]
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
        keys = key_problems(node, display) if node is not None else []
        if keys:
            return None, keys
        data = loader.construct_document(node) if node is not None else None
    except UnsafeYAML as err:
        return None, [Problem(display, err.mark.line + 2, err.message, err.fix)]
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 2 if mark else 2
        what = " ".join((err.problem or "malformed YAML").split())
        fix = "check the indentation and quoting on this line and the one before (quote text containing ': ' or '#')"
        reported = "".join(lines[max(1, line - 2):line])  # the line reported and the one before
        if "\t" in reported:
            fix = "use spaces, not a tab: YAML indents with spaces only"
        elif CURLY_QUOTED.search(lines[line - 1] if line <= len(lines) else ""):  # quoted, with a word processor's quotes
            fix = "curly quotes \u201c \u201d \u2018 \u2019 do not quote text in YAML: retype them as straight quotes \" or '"
        opened = unclosed_quote(lines[1:line])
        if opened:  # YAML reads on past the line's end to the next quote, and fails lines later
            return None, [Problem(display, opened + 1, f"malformed YAML: the quote opened on line {opened + 1} is "
                                                       "not closed on that line",
                                  "add the closing quote at the end of the value (a quote inside it is written twice: '' "
                                  "in '...', or \\\" in \"...\")")]
        return None, [Problem(display, line, f"malformed YAML: {what}", fix)]
    except yaml.YAMLError as err:
        return None, [Problem(display, 2, f"malformed YAML: {' '.join(str(err).split())}", "check the front matter's syntax")]
    if not isinstance(data, dict):
        return None, [Problem(display, 2, "front matter is not a set of `field: value` lines",
                              "write the front matter as YAML fields, one `name: value` per line")]
    body = "\n".join(lines[end + 1:])
    return Document(path, display, data, node, body, end + 2, yaml_text), []


OPENING_QUOTE = re.compile(r"^\s*(?:-\s+)?(?:[\w-]+:\s+)?([\"'])")


def unclosed_quote(lines: list[str]) -> int | None:
    """The number (from 1, in `lines`) of the first line whose value opens a quote it does not close.
    YAML lets a quoted value run over several lines, but no file here needs one."""
    for n, line in enumerate(lines, 1):
        found = OPENING_QUOTE.match(line)
        if not found:
            continue
        rest = line[found.end():]
        if found.group(1) == '"' and not re.search(r'(?<!\\)"', rest.replace("\\\\", "")):
            return n
        if found.group(1) == "'" and "'" not in rest.replace("''", ""):
            return n
    return None


# Raw HTML is off so a case file cannot inject script into the site; markdown-it also refuses
# javascript: links by default.
MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def plain_text(markdown: str) -> str:
    """Markdown as one line of plain text, the words as the page shows them: list markers, emphasis
    and link addresses dropped by markdown-it's own reading, so a wrapped line that starts with a
    number ("  2007. They ...") keeps it, and a text's own "#" or ">" stays."""
    words = []
    for token in MARKDOWN.parse(markdown):
        if token.type == "inline":
            words += [child.content if child.type in ("text", "code_inline") else " "
                      for child in token.children or [] if child.type in ("text", "code_inline", "softbreak", "hardbreak")]
            words.append(" ")
    return " ".join("".join(words).split())


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
                item = re.sub(r"^\s*(?:[-*+]|\d+[.)])(?:\s+|$)", "", item, count=1)  # a bare "-" too
                bullets.append((body_line + t.map[0], " ".join(item.split())))
        last = heads[k + 1][0] if k + 1 < len(heads) else len(tokens)
        html = MARKDOWN.renderer.render(tokens[i + 3:last], MARKDOWN.options, {})
        sections.append(Section(heading, body_line + tok.map[0], "\n".join(lines[start:stop]).strip(), bullets, html))
    return sections, stray
