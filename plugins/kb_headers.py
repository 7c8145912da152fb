"""Security headers for a read-only public site, on every response. The content-security policy
allows scripts, styles, images and fonts from this site only (Datasette's pages need inline scripts
and styles, and no page needs anything from another host), no plugins, no framing, and forms that
post only back to this site. A redirect stays on this site."""
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


def local_location(value: bytes) -> bytes:
    """A redirect to a path, kept a path of this site: browsers drop tabs and newlines from an address
    and read a backslash as a slash, so the `/\\evil.example` that Datasette makes of a request for
    `/\\evil.example/` (dropping the trailing slash) would take the reader to another host."""
    if not value.startswith((b"/", b"\\")):
        return value
    value = value.translate(None, b"\t\r\n").replace(b"\\", b"%5C")
    return b"/" + value.lstrip(b"/")


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def with_headers(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)

            async def send_with_headers(event):
                if event["type"] == "http.response.start":
                    kept = [(k, local_location(v) if k.lower() == b"location" else v)
                            for k, v in event.get("headers", []) if k.lower() not in NAMES]
                    event = dict(event, headers=kept + HEADERS)
                await send(event)

            await app(scope, receive, send_with_headers)
        return with_headers
    return wrap
