"""Links that keep the base URL once. Behind a proxy that passes the path through (Datasette's
documented set-up for base_url), Datasette 0.65 builds some links from the request's path, which
already starts with base_url, and then prefixes base_url again: exports, sorting, facets, pagination
and the JSON alternate come out as /kb/kb/... (fixed upstream for 1.0: simonw/datasette#2759).

The wrong form is exact: base_url followed by the request's own path. This rewrites that string, where
it ends a URL or is followed by its format, query or fragment, to the request's path, in HTML and
JSON bodies and in Location and Link headers. Nothing else is touched; with base_url '/' it does nothing.
Drop this plugin when the site moves to a Datasette with the upstream fix, but for the last part:

Datasette also answers paths outside base_url (the home page at '/'), so a container reached at its
platform's own address was a second copy of the site, its links under base_url and its canonical
address outside it. Such a path is a 404 that links to the site (not a redirect: behind a proxy that
strips the prefix, against the documented set-up, a redirect would loop)."""
import re

from datasette import hookimpl

REWRITTEN = (b"text/html", b"application/json")
# headers that carry the site's own URLs: redirects, and the JSON alternate and next page (Link)
URL_HEADERS = (b"location", b"link")


async def _elsewhere(send, base: str) -> None:
    body = (f'<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8"><title>Not found</title>'
            f'<meta name="robots" content="noindex"></head><body><h1>Not found</h1><p>This site lives at '
            f'<a href="{base}">{base}</a>.</p></body></html>').encode()
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(headers, name: bytes):
    return next((v for k, v in headers if k.lower() == name), b"")


@hookimpl
def asgi_wrapper(datasette):
    base = datasette.setting("base_url") or "/"

    def wrap(app):
        if base == "/":
            return app

        async def fixed(scope, receive, send):
            raw = scope.get("raw_path") or scope.get("path", "").encode("latin-1")
            path = raw.partition(b"?")[0]
            if scope["type"] == "http" and not (path + b"/").startswith(base.encode()):
                return await _elsewhere(send, base)
            if scope["type"] != "http" or not path.startswith(base.encode()):
                return await app(scope, receive, send)
            wrong = re.compile(re.escape(base.encode() + path[1:]) + rb"(?=[\"'.?#<\s]|$)")
            held = {}

            async def rewrite(event):
                if event["type"] == "http.response.start":
                    headers = [(k, wrong.sub(lambda _: path, v) if k.lower() in URL_HEADERS else v) for k, v in event.get("headers", [])]
                    event = dict(event, headers=headers)
                    if _header(headers, b"content-type").startswith(REWRITTEN):
                        held["start"], held["body"] = event, []
                        return
                    return await send(event)
                if event["type"] == "http.response.body" and "start" in held:
                    held["body"].append(event.get("body", b""))
                    if event.get("more_body"):
                        return
                    body = wrong.sub(lambda _: path, b"".join(held.pop("body")))
                    start = held.pop("start")
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    await send(dict(start, headers=headers + [(b"content-length", str(len(body)).encode())]))
                    return await send({"type": "http.response.body", "body": body})
                await send(event)

            await app(scope, receive, rewrite)
        return fixed
    return wrap
