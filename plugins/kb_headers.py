"""Security headers for a read-only public site, on every response. The content-security policy
allows scripts, styles, images and fonts from this site only (Datasette's pages need inline scripts
and styles, and no page needs anything from another host), no plugins, no framing, and forms that
post only back to this site. A redirect stays on this site.

Caching, for a public site behind a CDN: every successful answer may be kept by browsers and shared
caches for Datasette's `default_cache_ttl` (kb/site.py) unless it says otherwise (versioned assets
say a year); an error is never kept. The site reads no cookie, so a reader's cookies (a council's
own site sends its consent and analytics cookies to every path under it) are dropped before Datasette
sees them: otherwise it marks every answer `private, no-store` and no cache keeps anything."""
from datasette import hookimpl

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
NAMES = {name for name, _ in HEADERS}


def _cache_headers(headers: list, status: int, ttl: int) -> list:
    given = next((v for k, v in headers if k.lower() == b"cache-control"), None)
    if status >= 400:
        policy = b"no-store"
    elif given is None or given.strip().startswith(b"max-age="):
        # Datasette's own answers say a bare `max-age=TTL`; everything else (plugin routes, static files) nothing
        policy = b"public, " + (given.strip() if given else f"max-age={ttl}".encode())
    else:
        policy = given
    vary = [part.strip() for k, v in headers if k.lower() == b"vary" for part in v.split(b",")
            if part.strip() and part.strip().lower() != b"cookie"]
    kept = [(k, v) for k, v in headers if k.lower() not in (b"cache-control", b"vary")]
    return kept + [(b"cache-control", policy)] + ([(b"vary", b", ".join(vary))] if vary else [])


def _bracketed(value: bytes) -> bytes:
    """A Link header with its URI in <...> as RFC 8288 requires: Datasette 0.65 writes the HTML pages'
    JSON alternate bare (`Link: https://...; rel="alternate"`), which clients and CDNs cannot parse."""
    if value.lstrip().startswith(b"<"):
        return value
    uri, sep, params = value.strip().partition(b";")
    return b"<" + uri.strip() + b">" + sep + params


def local_location(value: bytes) -> bytes:
    """A redirect to a path, kept a path of this site: browsers drop tabs and newlines from an address
    and read a backslash as a slash, so the `/\\evil.example` that Datasette makes of a request for
    `/\\evil.example/` (dropping the trailing slash) would take the reader to another host."""
    if not value.startswith((b"/", b"\\")):
        return value
    value = value.translate(None, b"\t\r\n").replace(b"\\", b"%5C")
    return b"/" + value.lstrip(b"/")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def with_headers(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() != b"cookie"])
            # HEAD is answered as GET without its body: Datasette's own pages said "content-length: 0",
            # so a link checker or a cache saw an empty page
            head = scope.get("method") == "HEAD"
            if head:
                scope = dict(scope, method="GET")
            held = {"start": None, "length": 0}  # a HEAD's start, sent once its GET body has been counted

            async def send_with_headers(event):
                if event["type"] == "http.response.start":
                    kept = [(k, _bracketed(v) if k.lower() == b"link" else local_location(v) if k.lower() == b"location" else v)
                            for k, v in event.get("headers", []) if k.lower() not in NAMES]
                    kept = _cache_headers(kept, event["status"], datasette.setting("default_cache_ttl"))
                    event = dict(event, headers=kept + HEADERS)
                    if head:
                        held["start"] = event
                        return
                elif head and event["type"] == "http.response.body":
                    held["length"] += len(event.get("body", b""))
                    if event.get("more_body"):
                        return
                    start = held["start"]
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    await send(dict(start, headers=headers + [(b"content-length", str(held["length"]).encode())]))
                    event = {"type": "http.response.body", "body": b""}
                await send(event)

            await app(scope, receive, send_with_headers)
        return with_headers
    return wrap
