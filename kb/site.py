"""The site's configuration in one place, used by `kb serve`, `kb publish`, the tests and the
benchmarks: the files Datasette loads, its settings, the publisher's metadata and brand, the base URL,
and what the build stored in kb.db for the site to read.

A metadata file is Datasette's metadata (YAML or JSON) plus an optional `settings:` mapping of
Datasette settings (e.g. `allow_download: false`), which become `--setting` options (Datasette 0.65
ignores the key itself). A brand is a
folder holding brand.yml (name, logo, colours, pages), its logo and its pages in Markdown; it is
served as static files at <base_url>kb-brand/ and read from there by plugins/kb_brand.py."""
from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import urllib.parse
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from . import ROOT
from .declared import line_of

METADATA = ROOT / "metadata.yml"
PLUGINS = ROOT / "plugins"
TEMPLATES = ROOT / "templates"
BRAND = ROOT / "brand"
BRAND_MOUNT = "kb-brand"
# The canned query behind the Atom feed of new and changed cases (plugins/kb_crawl.py).
FEED_QUERY = "recent_cases"
SETTINGS = {
    "sql_time_limit_ms": 1000,
    "facet_time_limit_ms": 500,
    "default_page_size": 50,
    # Datasette would try every column of a table page as a facet (a query each) to suggest more;
    # the declared facets are shown anyway, and one request should not fan out into dozens of queries.
    "suggest_facets": False,
    # How long a browser or CDN may keep an answer (Cache-Control max-age, plugins/kb_headers.py).
    # kb.db is immutable: a page changes only when a new build is rolled out. Datasette's default is 5 s.
    "default_cache_ttl": 300,
}
# The two decisions a publisher may want the other way (README, "Security decisions"): arbitrary SQL
# (on, within the limits below) and downloading the whole database file (on: it is open data, and one
# streamed file costs the server less than crawling every JSON page). Switched off by `kb serve
# --no-sql/--no-download`, the environment variables KB_SQL and KB_DOWNLOAD (on/off), or the metadata
# file's settings (`default_allow_sql: false`, `allow_download: false`).
SWITCHES = {"KB_SQL": "default_allow_sql", "KB_DOWNLOAD": "allow_download"}
# What one request may take (plugins/kb_guard.py applies these to every SQLite connection).
LIMITS = {
    "max_value_bytes": 1_000_000,      # longest string or blob a query may make or read
    "max_sql_chars": 20_000,           # longest SQL text
    "max_columns": 100,                # columns in a result
    "max_expression_depth": 200,
    "max_compound_selects": 20,        # SELECT ... UNION SELECT ...
    "max_like_pattern_chars": 1000,
    "max_function_args": 100,
    "max_result_bytes": 20_000_000,    # all values of one statement's rows together
    "max_printf_width": 1000,          # printf('%.*c', 1e9, 'x') runs one uninterruptible C loop
    "sqlite_heap_bytes": 256_000_000,  # SQLite's own memory, all connections of the process together
    "concurrent_sql_queries": 1,       # arbitrary SQL runs one query at a time; others wait
    "sql_queue": 4,                    # ... this many at most; more get 503 at once
    "sql_cooldown": 3,                 # after a query of t seconds the next waits 3t: SQL gets <= 1/4 of a thread
    "errors_per_window": 20,           # a client with this many 4xx/5xx answers ...
    "error_window_s": 10,              # ... within this many seconds ...
    "error_penalty_s": 1.0,            # ... waits this long before each further request
    "tracked_clients": 10_000,
    "max_query_string_bytes": 32_768,
    "max_facets": 10,                  # facets asked for in one table page's address (each draws up to 1,000 values)
}


def switch(name: str) -> bool:
    """A switch from the environment: on unless set to off/0/false/no."""
    return os.environ.get(name, "on").strip().lower() not in ("off", "0", "false", "no")



# The colour pairs a reader sees as text on a background; each must reach WCAG AA (4.5:1).
COLOUR_PAIRS = [("text", "background"), ("link", "background"), ("header_text", "header_background")]
COLOURS = ("text", "background", "link", "header_text", "header_background", "focus")
PAGES = ("about", "privacy", "accessibility")
MIN_CONTRAST = 4.5
# Focus outlines are not text: WCAG's non-text contrast (1.4.11) asks 3:1 of them.
MIN_NON_TEXT_CONTRAST = 3.0
# The site's own colours that meet the brand's (static/site.css, :root): the panels, tags and highlights
# the brand's text and links are written on, and the grey of notes written on the brand's background.
# A "site:" colour is one of these; each pair is (foreground, background, minimum, where a reader sees it).
STYLESHEET = ROOT / "static" / "site.css"
SITE_PAIRS = [
    ("text", "site:surface", MIN_CONTRAST, "on the site's white panels and tables"),
    ("link", "site:surface", MIN_CONTRAST, "on the site's white panels and tables, and as the buttons' colour under white text"),
    ("text", "site:pale", MIN_CONTRAST, "on the site's pale boxes (tags, the citation, the compare table's headings)"),
    ("link", "site:pale", MIN_CONTRAST, "on the site's pale boxes (tags, the compare table's headings)"),
    ("text", "site:mark", MIN_CONTRAST, "on the highlight of a search's words"),
    ("text", "site:notice", MIN_CONTRAST, "on the site's notices"),
    ("site:secondary", "background", MIN_CONTRAST, "(the site's grey for notes and counts) on the page"),
    ("text", "focus", MIN_CONTRAST, "on a focused link, whose background is the focus colour"),
    ("focus", "header_background", MIN_NON_TEXT_CONTRAST, "as the focus outline in the header and footer"),
]
# Every key brand.yml may hold, and what each mapping inside it may hold: anything else is a mistyped key.
BRAND_KEYS = {"name": None, "logo": None, "logo_alt": None, "favicon": None, "card": None, "card_alt": None,
              "colours": COLOURS, "pages": PAGES,
              "contact": ("title", "url"), "repository": ("title", "url")}
PAGE_KEYS = ("title", "file")


class SiteError(ValueError):
    """A problem with a metadata file or brand folder: one line naming the file, the line and the fix."""


# -- metadata and settings ------------------------------------------------------------------------

def load_metadata(path: Path = METADATA) -> tuple[dict, dict]:
    """(Datasette metadata, settings from its `settings:` mapping) of a YAML or JSON metadata file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except OSError as err:
        raise SiteError(f"{path}: cannot read the metadata file ({err.strerror}) - give an existing file to --metadata")
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", -1) + 1
        raise SiteError(f"{path}:{line or 1}: not valid YAML or JSON ({getattr(err, 'problem', err)}) - fix the syntax there")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SiteError(f"{path}:1: metadata must be a mapping of keys (title, description_html, ...) - see metadata.yml")
    settings = data.pop("settings", None) or {}
    if not isinstance(settings, dict):
        raise SiteError(f"{path}:{line_of(path, 'settings')}: settings must map Datasette setting names to values, "
                        "e.g. `allow_download: false`")
    from datasette.app import DEFAULT_SETTINGS

    for name in settings:
        if name not in DEFAULT_SETTINGS:
            raise SiteError(f"{path}:{line_of(path, 'settings', name)}: '{name}' is not a Datasette setting - "
                            "see https://docs.datasette.io/en/stable/settings.html")
    return data, settings


def public_url(metadata: dict, base_url: str = "/", path: Path | str = "the metadata file") -> tuple[str, str] | None:
    """The metadata's `public_url` as (scheme, host): the address readers reach the site at, which every
    absolute address the site writes uses (plugins/kb_origin.py); None when not given. SiteError when it
    is no http(s) address or its path is not the base URL's."""
    url = metadata.get("public_url")
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url.strip()) if isinstance(url, str) else None
    where = lambda: f"{path}:{line_of(Path(path), 'public_url')}" if Path(str(path)).is_file() else str(path)
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SiteError(f"{where()}: public_url {url!r} is not a web address - give the address readers reach the "
                        f"site at, e.g. `public_url: https://www.example.org{base_url}`")
    if (parts.path or "/").rstrip("/") + "/" not in ("/", base_url):
        raise SiteError(f"{where()}: public_url {url!r} ends in {parts.path or '/'}, not the base URL {base_url} - give "
                        f"the same path to --base-url, or write `public_url: {parts.scheme}://{parts.netloc}{base_url}`")
    return parts.scheme, parts.netloc


def normal_base_url(base_url: str | None) -> str:
    """'/kb', 'kb/' and '/kb/' all mean '/kb/'; Datasette wants the slashes at both ends."""
    parts = [p for p in (base_url or "/").split("/") if p]
    if any(not re.fullmatch(r"[A-Za-z0-9._~-]+", p) or p in (".", "..") for p in parts):
        raise SiteError(f"base URL {base_url!r}: use letters, digits, '.', '_', '~' and '-' between slashes (not . or .. alone), e.g. /kb/")
    return "/" + "".join(p + "/" for p in parts)


# -- brand -------------------------------------------------------------------------------------------

@dataclass
class Brand:
    directory: Path
    name: str
    logo: str | None
    logo_alt: str
    colours: dict[str, str]
    pages: dict[str, dict] = field(default_factory=dict)  # slug -> {"title", "file"}
    links: list[dict] = field(default_factory=list)  # {"key", "title", "url"}: contact and repository, where given
    favicon: str | None = None  # the browser tab's icon: brand.yml's `favicon`, else the logo
    card: str | None = None  # the picture a shared link shows (og:image): brand.yml's `card`
    card_alt: str = ""
    notes: list[str] = field(default_factory=list)  # what a publisher should hear, though nothing is wrong

    def favicon_url(self, urls) -> str | None:
        return urls.path(f"{BRAND_MOUNT}/{self.favicon}") if self.favicon else None

    def template_vars(self, urls) -> dict:
        """What base.html and the brand pages need, with every URL under the base URL."""
        return {"name": self.name, "logo_alt": self.logo_alt, "colours": self.colours,
                "logo_url": urls.path(f"{BRAND_MOUNT}/{self.logo}") if self.logo else None,
                "favicon_url": self.favicon_url(urls),
                "card_path": urls.path(f"{BRAND_MOUNT}/{self.card}") if self.card else None,
                "card_alt": self.card_alt or self.name,
                "pages": [{"slug": slug, "title": page["title"], "url": urls.path(slug)} for slug, page in self.pages.items()],
                "links": list(self.links)}

    def page_html(self, slug: str) -> str:
        """A page's Markdown, first filled in as a template whose `contact` and `repository` are the
        brand's links (None where not given): a page promises a link only when the brand gives it."""
        from markdown_it import MarkdownIt

        # raw HTML is refused when the brand loads (load_brand) and escaped here as well
        return MarkdownIt("commonmark", {"html": False}).render(_page_text(self.directory / self.pages[slug]["file"],
                                                                            self.links))


def _raw_html(markdown: str) -> tuple[int, str] | None:
    """(line, the HTML) of the first raw HTML a page's Markdown holds, if any."""
    from markdown_it import MarkdownIt

    for token in MarkdownIt("commonmark").parse(markdown):
        found = token if token.type == "html_block" else next(
            (child for child in token.children or [] if child.type == "html_inline"), None)
        if found is not None:
            return (token.map[0] + 1 if token.map else 1), found.content.strip()[:60]
    return None


def _page_template(path: Path):
    # sandboxed: a brand folder may come from anyone, and its pages only need `if` and the links;
    # strict: a misspelt name (`{{ contact.ulr }}`) is an error, not an empty link
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                               undefined=StrictUndefined)
    return env.from_string(path.read_text(encoding="utf-8"))


def _page_text(path: Path, links: list[dict]) -> str:
    return _page_template(path).render({key: None for key in BRAND_LINKS} | {link["key"]: link for link in links})


def _template_line(err: Exception) -> int:
    """The line of a brand page where rendering it failed (jinja2 puts the template's frames in the traceback)."""
    line, tb = getattr(err, "lineno", None) or 1, err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def site_colours(stylesheet: Path = STYLESHEET) -> dict[str, str]:
    """The site's own colours, by name without --kb- (surface, pale, mark, secondary, ...), as
    static/site.css declares them in its first :root block: the one place they are written."""
    block = re.search(r":root\s*\{(.*?)\}", stylesheet.read_text(encoding="utf-8"), re.S)
    return {name: _hex(value) for name, value in re.findall(r"--kb-([\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\b", block.group(1) if block else "")}


def _unknown_keys(data: dict, fail) -> None:
    """A mistyped key (`contacts:`, `logo-alt:`, `colors:`) was read as no key at all: the footer lost its
    contact link without a word. Refuse it, naming the key brand.yml means where one is close."""
    import difflib

    def check(mapping, known, where: tuple):
        for key in mapping:
            if key in known:
                continue
            name = ".".join((*where, str(key)))
            close = difflib.get_close_matches(str(key).replace("-", "_"), list(known), n=1, cutoff=0.5)
            hint = f"did you mean `{close[0]}`? " if close else ""
            fail((*where, str(key)), f"{name} is not a key brand.yml knows - {hint}"
                                     f"{'.'.join(where) + ' takes' if where else 'brand.yml takes'} {', '.join(known)}")

    check(data, BRAND_KEYS, ())
    for key, inner in BRAND_KEYS.items():
        if inner and isinstance(data.get(key), dict):
            check(data[key], inner, (key,))
    for slug, page in (data.get("pages") or {}).items() if isinstance(data.get("pages"), dict) else ():
        if isinstance(page, dict):
            check(page, PAGE_KEYS, ("pages", str(slug)))


def _hex(value) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        value = "#" + "".join(c * 2 for c in value[1:])
    return value if re.fullmatch(r"#[0-9a-f]{6}", value) else None


# The picture a shared link shows: what chat, email and social sites read (og:image) and accept.
CARD_FORMATS = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF"}
# The project's own card (brand/card.png), which prints the project's name: a publisher who copies brand/
# and renames the site must not have every shared link say the project's name (tests check the hash).
PROJECT_CARD = {"sha256": "3e9e31c462c1def9fb9765b57c0d07360f32131b599b111d63552ac068d0b262", "name": "Council transformation case studies"}


# The pictures a brand may have (its logo, icon and card), by the ending of their names, each with how its
# file begins: the site serves these and nothing else of the brand folder (plugins/kb_guard.py)
BRAND_IMAGES = {".svg": (b"<svg", b"<?xml"), ".png": (b"\x89PNG",), ".jpg": (b"\xff\xd8\xff",),
                ".jpeg": (b"\xff\xd8\xff",), ".gif": (b"GIF8",), ".ico": (b"\x00\x00\x01\x00",),
                ".webp": (b"RIFF",)}


def _picture_problem(directory: Path, name) -> str | None:
    """What is wrong with a logo's or an icon's file, if anything: a file the site would not serve (its
    kind, or a name an address cuts short, "logo #1.png"), or one that is not the picture its name says."""
    if not isinstance(name, str) or "/" in name or not (directory / name).is_file():
        return f"{name!r} is not a file in {directory} - put the picture beside brand.yml and give its name"
    kind = Path(name).suffix.lower()
    if kind not in BRAND_IMAGES:
        return f"{name!r} is not a picture the site serves - use {', '.join(BRAND_IMAGES)}"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        return f"{name!r} has characters an address cannot carry as they are - rename the file with letters, digits, '.', '_' and '-'"
    head = (directory / name).read_bytes()[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not any(head.startswith(magic) for magic in BRAND_IMAGES[kind]) and not (kind == ".svg" and b"<svg" in head):
        return f"{name!r} is not a {kind[1:].upper()} file, whatever its name - save the picture as {kind[1:].upper()}"
    return None


def _card(directory: Path, data: dict, name: str, fail) -> tuple[str | None, list[str]]:
    """brand.yml's `card`, checked: a file beside it in a format link previews show (no SVG: chat and
    social sites ignore it). The project's own card in a renamed brand is left out, with a note."""
    card = data.get("card")
    if card is None:
        return None, []
    if not isinstance(card, str) or "/" in card or not (directory / card).is_file():
        fail("card", f"card {card!r} is not a file in {directory} - put the picture (PNG or JPEG, 1200 x 630 "
                     "pixels) beside brand.yml and give its name")
    content = (directory / card).read_bytes()
    if not any(content.startswith(magic) for magic in CARD_FORMATS):
        kinds = list(CARD_FORMATS.values())
        fail("card", f"card {card!r} is not a {', '.join(kinds[:-1])} or {kinds[-1]} - link previews show no other kind (an SVG is "
                     "ignored); save it as PNG or JPEG, 1200 x 630 pixels")
    if hashlib.sha256(content).hexdigest() == PROJECT_CARD["sha256"] and name != PROJECT_CARD["name"]:
        return None, [f"{directory / 'brand.yml'}: card {card} is the project's own picture, which shows the project's "
                      "name, so shared links show no picture; make your own (PNG or JPEG, 1200 x 630 pixels) "
                      "and give its name as `card:`."]
    size = _picture_size(content)
    if size and (size[0] < CARD_SIZE[0] // 2 or abs(size[0] / size[1] - CARD_SIZE[0] / CARD_SIZE[1]) > 0.1):
        # chat and social sites crop a card of another shape, or show a small one as a thumbnail
        return card, [f"{directory / 'brand.yml'}: card {card} is {size[0]} x {size[1]} pixels; link previews show "
                      f"{CARD_SIZE[0]} x {CARD_SIZE[1]} (or that shape, at least {CARD_SIZE[0] // 2} wide) whole and "
                      "crop or shrink others."]
    return card, []


CARD_SIZE = (1200, 630)


def _picture_size(content: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG, read from its header; None when it cannot be read."""
    if content.startswith(b"\x89PNG") and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    if content.startswith(b"GIF8") and len(content) >= 10:
        return int.from_bytes(content[6:8], "little"), int.from_bytes(content[8:10], "little")
    at = 2
    while content.startswith(b"\xff\xd8") and at + 9 < len(content) and content[at] == 0xFF:
        marker, length = content[at + 1], int.from_bytes(content[at + 2:at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame's header: its size
            return int.from_bytes(content[at + 7:at + 9], "big"), int.from_bytes(content[at + 5:at + 7], "big")
        at += 2 + length
    return None


# Links a publisher may give in brand.yml, each shown in every footer, with its default title.
BRAND_LINKS = {"contact": "Report a problem", "repository": "Source and contributions"}


def load_brand(directory: Path = BRAND, stylesheet: Path = STYLESHEET) -> Brand:
    """Read and check a brand folder; every problem is a SiteError naming brand.yml's line and the fix.
    `stylesheet` is the site's site.css, whose colours the brand's must read on (a published site's
    plugins name the one shipped beside them: an installed kb has no static/ of its own)."""
    directory = Path(directory)
    path = directory / "brand.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        raise SiteError(f"{path}: no brand.yml in the brand folder - copy brand/brand.yml from the project and edit it")
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", -1) + 1
        raise SiteError(f"{path}:{line or 1}: not valid YAML ({getattr(err, 'problem', err)}) - fix the syntax there")
    if not isinstance(data, dict):
        raise SiteError(f"{path}:1: brand.yml must be a mapping (name, logo, colours, pages) - see brand/brand.yml")

    def fail(keys: str | tuple, problem: str):
        # the line where the fix goes: the key's own, or, when it is missing, the mapping it belongs in
        raise SiteError(f"{path}:{line_of(path, *((keys,) if isinstance(keys, str) else keys))}: {problem}")

    from .parse import key_problems

    # a key given twice: YAML keeps the last, and a second `name:` put the project's own name back
    for problem in key_problems(yaml.compose(path.read_text(encoding="utf-8")), str(path)):
        raise SiteError(f"{path}:{problem.line - 1}: {problem.message} - {problem.fix}")
    _unknown_keys(data, fail)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        fail("name", "name is missing - give the site's name as readers should see it, e.g. `name: Our council's cases`")
    logo = data.get("logo")
    if logo is not None and (problem := _picture_problem(directory, logo)):
        fail("logo", f"logo {problem}")
    favicon = data.get("favicon", logo)
    if favicon is not None and (problem := _picture_problem(directory, favicon)):
        fail("favicon", f"favicon {problem} (an icon: SVG, PNG or ICO)")
    card, notes = _card(directory, data, name.strip(), fail)
    if not data.get("contact") and name.strip() != PROJECT_CARD["name"]:
        # the accessibility statement asks readers to report a problem, and a public body's must say how
        # (the project's own brand has no home of its own to name: a publisher's does)
        notes.append("brand.yml gives no `contact`: readers have nowhere to report a problem, which the "
                     "accessibility statement asks them to do - add one, e.g. "
                     "`contact: {title: Report a problem, url: \"mailto:team@example.org\"}`")
    colours_in = data.get("colours")
    if not isinstance(colours_in, dict):
        fail("colours", f"colours is missing - give {', '.join(COLOURS)} as #rrggbb")
    colours = {}
    for key in COLOURS:
        value = _hex(colours_in.get(key))
        if value is None and key in colours_in and colours_in.get(key) is None:
            # `link: #6b1f5c` unquoted: YAML reads everything from the # as a comment
            fail(("colours", key), f"colours.{key} is empty - a colour written #rrggbb must be in quotes, "
                                   f"`{key}: '#6b1f5c'` (YAML reads an unquoted # as the start of a comment)")
        if value is None:
            fail(("colours", key), f"colours.{key} is {colours_in.get(key)!r} - give it as #rrggbb, e.g. '#1d4f91'")
        colours[key] = value
    for fg, bg in COLOUR_PAIRS:
        ratio = contrast(colours[fg], colours[bg])
        if ratio < MIN_CONTRAST:
            fail(("colours", fg), f"colours.{fg} {colours[fg]} on {bg} {colours[bg]} has contrast {ratio:.1f}:1 - "
                     f"choose colours with at least {MIN_CONTRAST}:1 (WCAG AA)")
    # the brand's colours also meet the site's own (its panels are white, its notes grey): a dark
    # background or a dark focus colour passed the pairs above and left text unreadable elsewhere
    site = site_colours(stylesheet)
    for fg, bg, minimum, where in SITE_PAIRS:
        pair = [(key, site[key[5:]], f"the site's {key[5:]} colour {site[key[5:]]} (static/site.css --kb-{key[5:]})")
                if key.startswith("site:") else (key, colours[key], f"colours.{key} {colours[key]}") for key in (fg, bg)]
        ratio = contrast(pair[0][1], pair[1][1])
        if ratio < minimum:
            # the colour to change: the focus colour where it is one of the two, else the brand's own
            mine = "focus" if "focus" in (fg, bg) else next(key for key, _, _ in pair if not key.startswith("site:"))
            fail(("colours", mine), f"{pair[0][2]} {where} has contrast {ratio:.1f}:1 against {pair[1][2]} - "
                     f"choose colours.{mine} so that it reaches {minimum:g}:1 (WCAG AA)")
    pages_in = data.get("pages")
    if not isinstance(pages_in, dict):
        fail("pages", f"pages is missing - give {', '.join(PAGES)}, each with a title and a Markdown file")
    pages = {}
    for slug in PAGES:
        page = pages_in.get(slug)
        if not isinstance(page, dict) or not isinstance(page.get("title"), str) or not page["title"].strip() \
                or not isinstance(page.get("file"), str):
            fail(("pages", slug), f"pages.{slug} needs a title and a file, e.g. `{slug}: {{title: ..., file: {slug}.md}}`")
        if not (directory / page["file"]).is_file():
            fail(("pages", slug, "file"), f"pages.{slug}.file {page['file']!r} is not a file in {directory} - write it beside brand.yml")
        try:
            _page_template(directory / page["file"])
        except Exception as err:  # jinja2's TemplateSyntaxError, with its line in the page
            fail(("pages", slug, "file"), f"pages.{slug}.file {page['file']}:{getattr(err, 'lineno', 1)}: {err} - "
                       "a page may use {% if contact %}...{% endif %} and {{ contact.url }}; write a literal {{ as {{ '{{' }}")
        pages[slug] = {"title": page["title"], "file": page["file"]}
    links = []
    for key, default in BRAND_LINKS.items():
        link = data.get(key)
        if link is None:
            continue
        if isinstance(link, str):
            link = {"url": link}
        url = link.get("url") if isinstance(link, dict) else None
        if not isinstance(url, str) or not re.match(r"(https?://[^\s/]+\S*|mailto:[^\s@]+@[^\s@]+)$", url.strip()):
            fail((key, "url"), f"{key} needs a url (https://... or mailto:...), e.g. `{key}: {{title: {default}, url: https://example.org/...}}`")
        links.append({"key": key, "title": str(link.get("title") or default).strip(), "url": url.strip()})
    # each page filled in as a reader will get it, so a page that would fail (a 500 for every reader) or
    # write an empty link is refused now
    for slug, page in pages.items():
        try:
            text = _page_text(directory / page["file"], links)
        except Exception as err:  # jinja2's UndefinedError, SecurityError, or any error of the page's own
            fail(("pages", slug, "file"), f"pages.{slug}.file {page['file']}:{_template_line(err)}: {err} - a page may use "
                 "only contact and repository (each with .title and .url), inside {% if contact %}...{% endif %} "
                 "where the brand may not give it")
        # a brand folder may come from anyone: its pages show no HTML of their own, a script least of all
        raw = _raw_html((directory / page["file"]).read_text(encoding="utf-8"))
        if raw:
            fail(("pages", slug, "file"), f"pages.{slug}.file {page['file']}:{raw[0]}: HTML ({raw[1]}) - write the page in "
                 "Markdown only: the site shows no HTML from a brand's pages, so that none can run a script")
        raw = _raw_html(text)
        if raw:  # none in the page itself: it came in with a link's title or address
            fail(next(((link["key"], "title") for link in links), ("pages", slug, "file")),
                 f"a link's title or address holds HTML ({raw[1]}), "
                 f"which pages.{slug}.file shows - write it in words")
    return Brand(directory=directory, name=name.strip(), logo=logo, logo_alt=str(data.get("logo_alt") or ""),
                 colours=colours, pages=pages, links=links, favicon=favicon, card=card,
                 card_alt=str(data.get("card_alt") or "").strip(), notes=notes)


@lru_cache(maxsize=8)
def _cached_brand(directory: str, mtime: float, stylesheet: str) -> Brand:
    return load_brand(Path(directory), Path(stylesheet))


def brand_at(directory: str | Path, stylesheet: Path = STYLESHEET) -> Brand:
    """The brand in a folder, read again only when its brand.yml changes (for the plugins)."""
    path = Path(directory)
    return _cached_brand(str(path), (path / "brand.yml").stat().st_mtime, str(stylesheet))


def pin(db_path: Path) -> Path:
    """A hard link to the database as it is now, for a server to open instead of the file itself.

    A rebuild swaps a new file in under the same name; through the link the running server keeps
    reading the build it started with, every page and the search engine alike, until it restarts.
    Links left by servers that have stopped are removed. Where a link cannot be made (another
    file system, no permission) the file itself is served. The arrays search saved for the file
    (kb/arrays.py) are linked beside it too, so the server's engine opens from them."""
    import os

    import shutil

    from .arrays import link as link_arrays
    from .arrays import process_alive

    db_path = Path(db_path).resolve()
    folder = db_path.parent / ".kb-serving"
    for old in folder.glob("*/*") if folder.exists() else []:
        if process_alive(old.parent.name):
            continue
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)  # the arrays linked beside it
        else:
            old.unlink(missing_ok=True)
        try:
            old.parent.rmdir()
        except OSError:
            pass
    link = folder / str(os.getpid()) / db_path.name
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        os.link(db_path, link)
    except OSError:
        return db_path
    link_arrays(db_path, link)  # search's arrays for this file, found beside the link
    return link


# -- the site ----------------------------------------------------------------------------------------

@dataclass
class Site:
    """One site: a database with a metadata file, a brand and a base URL."""
    db_path: Path
    metadata_path: Path = METADATA
    brand_dir: Path = BRAND
    base_url: str = "/"

    def __post_init__(self):
        self.db_path = Path(self.db_path)
        self.metadata_path = Path(self.metadata_path)
        self.brand_dir = Path(self.brand_dir)
        self.base_url = normal_base_url(self.base_url)

    def check(self) -> "Site":
        """Raise SiteError for a bad metadata file or brand, before anything starts; the brand read
        is kept (`brand`) for what `kb serve` and `kb publish` say of it."""
        public_url(self.metadata(), self.base_url, self.metadata_path)
        self.brand = load_brand(self.brand_dir)
        return self

    def metadata(self) -> dict:
        return load_metadata(self.metadata_path)[0]

    def settings(self) -> dict:
        """Datasette settings: the defaults above, the metadata file's own, the switches where set
        (`kb serve --no-sql` and the like), and the base URL."""
        out = dict(SETTINGS)
        out.update(load_metadata(self.metadata_path)[1])
        out.update({setting: switch(name) for name, setting in SWITCHES.items() if os.environ.get(name)})
        if self.base_url != "/":
            out["base_url"] = self.base_url
        return out

    def setting_args(self) -> list[str]:
        args = []
        for name, value in self.settings().items():
            args += ["--setting", name, _setting_text(value)]
        return args

    def static(self) -> list[tuple[str, str]]:
        return [(BRAND_MOUNT, str(self.brand_dir))]

    def serve_args(self, host: str, port: int) -> list[str]:
        """`datasette serve` arguments. Datasette ignores the metadata file's `settings:` mapping;
        its settings arrive as --setting options."""
        args = ["serve", "-i", str(self.db_path), "--host", host, "--port", str(port), "--metadata", str(self.metadata_path),
                "--plugins-dir", str(PLUGINS), "--template-dir", str(TEMPLATES)]
        for mount, path in self.static():
            args += ["--static", f"{mount}:{path}"]
        return args + self.setting_args()

    def datasette(self):
        """An in-process Datasette configured exactly as `kb serve` runs it (for tests and benchmarks)."""
        from datasette.app import Datasette

        return Datasette(immutables=[str(self.db_path)], metadata=self.metadata(), plugins_dir=str(PLUGINS),
                         template_dir=str(TEMPLATES), settings=self.settings(), static_mounts=self.static())


def _setting_text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def make_datasette(db_path: Path, metadata: Path = METADATA, brand: Path = BRAND, base_url: str = "/"):
    """An in-process Datasette with the same configuration as `kb serve` (for tests)."""
    return Site(db_path, metadata, brand, base_url).datasette()


# -- what the build stored ---------------------------------------------------------------------------

PROJECT_TABLE = "build_info"  # a database with this table was written by `kb build`
SQLITE_HEADER = b"SQLite format 3\x00"


def ro_uri(path: Path) -> str:
    """A read-only SQLite URI for a path, whatever characters ('?', '#', '%') the path holds."""
    return "file:" + urllib.parse.quote(str(path)) + "?mode=ro"


def is_project_database(path: Path) -> bool:
    """A regular SQLite file with the table every `kb build` writes."""
    try:
        with open(path, "rb") as f:
            if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return False
        conn = sqlite3.connect(ro_uri(path), uri=True)
        try:
            return conn.execute("select 1 from sqlite_master where type = 'table' and name = ?",
                                [PROJECT_TABLE]).fetchone() is not None
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        return False


@lru_cache(maxsize=8)
def _stored(path: str, mtime: float) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {key: json.loads(value) for key, value in conn.execute("select key, value from kb_meta")}
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


def stored_metadata(db_path: str | Path) -> dict:
    """What the build stored for the site: 'site_metadata' (per-table) and 'facets' (the catalogue)."""
    path = Path(db_path)
    try:
        return _stored(str(path), path.stat().st_mtime)
    except OSError:
        return {}


def for_datasette(meta: dict) -> dict:
    """A table's metadata as a plugin hands it to Datasette: copied two levels down, as deep as it goes,
    since Datasette merges the other plugins' metadata into the dicts it is given (into the stored ones
    it put titles and "hidden" into what the build declared)."""
    return {key: dict(value) if isinstance(value, dict) else value for key, value in meta.items()}


def under_base_url(path: str, base_url: str) -> str:
    """A request's path as Datasette routes it: without the site's base URL (Datasette's base_url
    setting), where the path starts with it."""
    return "/" + path[len(base_url):] if base_url != "/" and path.startswith(base_url) else path


def plugin_module(beside: str, name: str):
    """The plugin file `name`.py in the folder of `beside` (a plugin's __file__), as a module.

    Datasette loads plugin files by path, not as a package, so one plugin reaches the helpers of
    another this way; the module is loaded once and shared."""
    import importlib.util
    import sys

    key = name
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(beside).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
