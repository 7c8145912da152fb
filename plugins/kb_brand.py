"""The publisher's brand on every page: its name, logo, colours, the site's navigation and the
footer's pages (as `kb_site` for templates/base.html), and those pages themselves at <base_url>about,
privacy and accessibility. The brand folder is the one served as static files at kb-brand/ (see
kb/site.py), so it travels with `kb serve --brand` and `kb publish --brand` alike."""
import re
import weakref
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup

from kb.site import BRAND, BRAND_MOUNT, FEED_QUERY, PAGES, brand_at

# the site's stylesheet, beside plugins/ as in the repository and in a published context (kb/publish.py)
SITE_CSS = Path(__file__).resolve().parent.parent / "static" / "site.css"


def _brand(datasette):
    for mount, path in datasette.static_mounts:
        if mount == BRAND_MOUNT:
            return brand_at(path, SITE_CSS)
    # a bare `datasette serve` of the project, without --static: the project's own brand
    return brand_at(BRAND, SITE_CSS) if (BRAND / "brand.yml").is_file() else None


def _database(datasette):
    for name, db in datasette.databases.items():
        if name != "_internal" and db.path:
            return name
    return None


def site_title(datasette) -> str | None:
    """The site's title: the metadata file's where it gives one, else the brand's name (never the project's)."""
    brand = _brand(datasette)
    return datasette.metadata("title") or (brand.name if brand else None)


# Each site's template variables, worked out once per version of its brand: every page asks for them,
# and working them out (the metadata five times over, every plugin's part of it) was a tenth of a page's time
_SITE_VARS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def site_vars(datasette) -> dict | None:
    brand = _brand(datasette)
    if brand is None:
        return None
    databases = tuple(datasette.databases)
    kept = _SITE_VARS.get(datasette)
    if kept is None or kept[0] is not brand or kept[1] != databases:
        kept = _SITE_VARS[datasette] = (brand, databases, _site_vars(datasette, brand))
    return dict(kept[2])


def _site_vars(datasette, brand) -> dict:
    urls = datasette.urls
    out = brand.template_vars(urls)
    out["title"] = site_title(datasette)
    database = _database(datasette)
    nav = [{"label": "Search", "url": urls.path("-/search")}]
    if database:
        nav += [{"label": "Cases", "url": urls.table(database, "cases")},
                {"label": "Lessons", "url": urls.table(database, "lessons")},
                {"label": "Charts", "url": urls.path("-/charts")}]
    out["nav"] = nav + [{"label": "About", "url": urls.path("about")}]
    out["feed_url"] = urls.query(database, FEED_QUERY, format="atom") if database else None
    out["credits"] = {key: datasette.metadata(key) for key in ("license", "license_url", "source", "source_url")}
    return out


@hookimpl
def extra_template_vars(datasette, request):
    # kb_here: this page's address without its query string, the canonical address of a page that
    # shows the same whatever is appended to it (templates/base.html, block canonical)
    # kb_card: the brand's card at its full address, as link previews need it
    site = site_vars(datasette)
    card = site and site["card_path"] and request and datasette.absolute_url(request, site["card_path"])
    return {"kb_site": site, "kb_here": request.url.split("?")[0] if request else None, "kb_card": card or None}


async def brand_page(request, datasette):
    slug = request.url_vars["page"]
    brand = _brand(datasette)
    if brand is None or slug not in brand.pages:
        raise NotFound(f"No {slug} page")
    page_html = brand.page_html(slug)
    # shared, the page is described by its first paragraph
    first = re.search(r"<p>(.*?)</p>", page_html, re.S)
    html = await datasette.render_template(
        "kb_brand_page.html", {"page_title": brand.pages[slug]["title"], "page_html": page_html,
                               "page_description": Markup(first.group(1)).striptags() if first else ""},
        request=request)
    return Response.html(html)


async def favicon(request, datasette):
    """The brand's icon, not Datasette's: pages name it in their head, and this answers a browser or
    crawler that asks the site's /favicon.ico all the same."""
    brand = _brand(datasette)
    url = brand.favicon_url(datasette.urls) if brand else None
    if url is None:
        raise NotFound("No icon")
    return Response.redirect(url)


@hookimpl
def register_routes():
    return [(rf"^/(?P<page>{'|'.join(PAGES)})$", brand_page), (r"^/favicon\.ico$", favicon)]
