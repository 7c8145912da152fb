"""The address readers reach the site at, from the metadata's `public_url`: every request is read as
made to it, so that what the site writes in full (canonical links, the sitemap, robots.txt, the feed,
a case's citation, the address column of an export) names the publisher's site, whatever host a
request or a proxy in front names. Without it, they follow the request's host (kb serve on a laptop)."""
from __future__ import annotations

from datasette import hookimpl

from kb.site import SiteError, public_url

# the headers that name another host or scheme than the public one; one Host replaces them
FORWARDED = (b"host", b"x-forwarded-host", b"x-forwarded-proto", b"forwarded")


# applied last, so outermost: the other plugins' wrappers (the feed's and sitemap's, kb_crawl.py) read
# the request as made to the public address too
@hookimpl(trylast=True)
def asgi_wrapper(datasette):
    def wrap(app):
        # read once: the metadata does not change while the site is served (one that cannot be the site's
        # address is refused, with its line, by `kb serve` and `kb publish` before they start: Site.check)
        try:
            origin = public_url(datasette.metadata() or {}, datasette.setting("base_url") or "/")
        except SiteError:
            origin = None

        async def inner(scope, receive, send):
            if origin and scope.get("type") == "http":
                scheme, host = origin
                headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in FORWARDED]
                scope = dict(scope, scheme=scheme, headers=[*headers, (b"host", host.encode("latin-1"))])
            await app(scope, receive, send)
        return inner
    return wrap
