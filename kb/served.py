"""The site as an ASGI application, for `kb serve --workers N`: uvicorn starts N processes, each
calling `app()`, which builds the Datasette that `datasette serve` would build from the same
arguments (KB_SERVE_ARGS, written by `kb serve`).

Why processes: a search and a page are mostly Python, which one process runs on one core at a time,
so one server process on two cores served new queries at about two thirds of what its CPU time
allowed (docs/performance.md). Each process holds its own search engine and model (about 300 MB on
the real corpus); all of them read the same database file."""
from __future__ import annotations

import json
import os

ARGS = "KB_SERVE_ARGS"  # `datasette serve` arguments as a JSON list, from `kb serve`


def app():
    """One worker's application: Datasette's, with its startup hooks (the search engine's loading
    among them) run before the worker takes its first request, as `datasette serve` runs them, and
    its search page asked for once."""
    from datasette.cli import serve
    from datasette.utils.asgi import AsgiLifespan

    args = json.loads(os.environ[ARGS])
    if args[:1] == ["serve"]:
        args = args[1:]
    context = serve.make_context("serve", list(args))
    context.params["return_instance"] = True
    with context:
        datasette = serve.invoke(context)

    async def warm():
        # a worker's first page compiles the templates and reads what every page needs (about 0.3 s on
        # the real corpus, against 0.03 s after): paid here, not by the first reader each worker takes
        await datasette.client.get("/-/search?q=ready")
    return AsgiLifespan(datasette.app(), on_startup=[datasette.invoke_startup, warm])
