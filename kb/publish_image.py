"""The image a published site runs in: the base image its Dockerfile starts from, and whose proxy
it trusts for the reader's address.

Datasette 0.65 writes every Dockerfile (`datasette package`, `datasette publish cloudrun`, and the
Fly plugin, all through datasette.utils.make_dockerfile) FROM python:3.11.0-slim-bullseye, fixed in
its code: Debian 11 is past its support and Python 3.11.0 lacks years of security fixes. kb rewrites
that line: in the Docker context it writes itself, and, for the publishers that write their own, by
running `datasette publish` through `python -m kb.publish_image --base-image IMAGE publish TARGET ...`,
which is Datasette's own command with make_dockerfile's FROM line replaced. Both also save search's
arrays into the image (with_arrays).

BASE_IMAGE is the Python minor version CI tests (.github/workflows/*.yml run in python:3.11-bookworm;
constraints.txt was frozen there) on Debian 12: a floating tag, so each build of the image takes
Python's and Debian's latest security fixes. `kb publish --base-image` chooses another."""
from __future__ import annotations

import re
import shlex

import click

BASE_IMAGE = "python:3.11-slim-bookworm"


class ImageError(ValueError):
    """A base image kb cannot use, or a Dockerfile whose FROM line it cannot find."""


def check_image(image: str) -> str:
    if not re.fullmatch(r"\w[\w.\-/:@]*", image or ""):
        raise ImageError(f"base image {image!r}: give an image reference such as {BASE_IMAGE}")
    return image


def from_image(dockerfile: str, image: str) -> str:
    """The Dockerfile with its one FROM line starting from image instead."""
    check_image(image)
    lines = dockerfile.splitlines()
    found = [n for n, line in enumerate(lines) if re.match(r"FROM\s", line.strip(), re.IGNORECASE)]
    if len(found) != 1:
        # a Datasette upgrade changed the Dockerfile it writes: publish nothing rather than the old base
        raise ImageError(f"Datasette's Dockerfile has {len(found)} FROM lines, not one - kb.publish_image "
                                   "needs updating for this Datasette version")
    # The container is reached only through the platform's proxy (Cloud Run, Fly, a host's nginx),
    # never from 127.0.0.1, where uvicorn trusts X-Forwarded-For by default: without this every
    # reader has the proxy's address, and one client's errors slow them all (kb_guard's throttle).
    lines[found[0]:found[0] + 1] = [f"FROM {image}", 'ENV FORWARDED_ALLOW_IPS="*"']
    return "\n".join(lines) + ("\n" if dockerfile.endswith("\n") else "")


def with_arrays(dockerfile: str) -> str:
    """The Dockerfile with search's arrays saved beside each database it inspects (kb/arrays.py), as
    `kb build` saves them: each replica then opens its search engine from the image (0.4 s at 100,000
    cases, against 11 s reading kb.db) and writes nothing when it starts, where a platform keeps a
    container's disk in its memory (Cloud Run; 3.7 GB at 100,000 cases)."""
    lines = dockerfile.splitlines()
    found = [n for n, line in enumerate(lines) if re.match(r"RUN\s+datasette\s+inspect\s", line.strip())]
    if len(found) != 1:
        raise ImageError(f"Datasette's Dockerfile has {len(found)} `datasette inspect` lines, not one - kb.publish_image "
                         "needs updating for this Datasette version")
    words = shlex.split(lines[found[0]].strip())[3:]
    files = words[:words.index("--inspect-file")] if "--inspect-file" in words else words
    save = "import sys; from search.engine import save_arrays; [save_arrays(f) for f in sys.argv[1:]]"
    lines.insert(found[0] + 1, shlex.join(["RUN", "python", "-c", save, *files]))
    return "\n".join(lines) + ("\n" if dockerfile.endswith("\n") else "")


def kb_dockerfile(dockerfile: str, image: str) -> str:
    """Datasette's Dockerfile as kb publishes it: FROM image, with search's arrays saved in it."""
    return with_arrays(from_image(dockerfile, image))


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.option("--base-image", default=BASE_IMAGE, show_default=True)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def main(base_image, args):
    """`datasette ARGS...` (e.g. `publish cloudrun ...`), every Dockerfile it writes FROM base_image."""
    import datasette.utils

    written_by_datasette = datasette.utils.make_dockerfile

    def make_dockerfile(*a, **kw):
        try:
            return kb_dockerfile(written_by_datasette(*a, **kw), base_image)
        except ImageError as err:
            raise click.ClickException(str(err))

    # temporary_docker_directory looks make_dockerfile up in datasette.utils when it runs, so every
    # publisher (cloudrun built in, the Fly plugin) writes its Dockerfile through this one
    datasette.utils.make_dockerfile = make_dockerfile
    from datasette.cli import cli

    cli.main(list(args), prog_name="datasette")


if __name__ == "__main__":
    main()
