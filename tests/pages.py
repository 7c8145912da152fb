"""What the reader-review tests share: a request to the site and a page's text as read."""
import asyncio
import re
from html import unescape


def get(site, path):
    return asyncio.run(site.client.get(path))


def text(html: str) -> str:
    """A page's words as a reader meets them: no tags, entities read, spaces collapsed."""
    html = re.sub(r"</?abbr\b[^>]*>", "", html)  # a marked abbreviation is a word of its sentence
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()
