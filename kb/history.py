"""Dates from history: when each file was first added and last changed, read from git at build time
(as simonw/til's build_database.py does), and which cases are due a review.

Without history (a tarball, a folder git does not track, no git at all) every date is simply
unknown: nothing fails. A shallow clone knows only its own commits, so CI fetches the whole history."""
from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

REVIEW_YEARS = 2  # a case not checked against its sources for this long is listed as due a review


def file_dates(root: Path, folder: str = "cases") -> dict[str, tuple[str, str]]:
    """{path relative to root: (first added, last changed)} as YYYY-MM-DD commit dates in UTC. A file
    renamed keeps the day its first name was added: a case renamed is not new (the feed said "Added")."""
    try:
        log = subprocess.run(["git", "-C", str(root), "log", "--format=%x00%ct", "--name-status", "--find-renames",
                              "--relative", "--", folder], capture_output=True, text=True, timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    dates: dict[str, tuple[str, str]] = {}
    later: dict[str, str] = {}  # a name a file had before, to the name it has now
    now = lambda path: later.get(path, path)
    for entry in log.split("\x00")[1:]:  # newest commit first
        stamp, *lines = entry.strip().split("\n")
        day = datetime.datetime.fromtimestamp(int(stamp), datetime.timezone.utc).date().isoformat()
        for line in filter(None, lines):
            status, *paths = line.split("\t")
            path = now(paths[-1])
            if status.startswith("R") and len(paths) == 2:
                later[paths[0]] = path
            dates[path] = (day, dates[path][1] if path in dates else day)
    return dates


def review_due(reviewed: str, today: datetime.date | None = None) -> bool:
    """Whether a case last reviewed on `reviewed` (YYYY-MM-DD) is REVIEW_YEARS or more behind today."""
    today = today or datetime.date.today()
    try:
        limit = today.replace(year=today.year - REVIEW_YEARS)
    except ValueError:  # 29 February
        limit = today.replace(year=today.year - REVIEW_YEARS, day=28)
    return datetime.date.fromisoformat(reviewed) <= limit
