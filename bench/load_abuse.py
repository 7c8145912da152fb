"""Load with and without an abusive client (a benchmark, not a test; run by hand).

    .venv/bin/python bench/load_abuse.py                      # 3 rounds of 10 s + 10 s, 4 normal clients
    .venv/bin/python bench/load_abuse.py --seconds 30 --rounds 2 --clients 6 --db kb.db

Starts `kb serve` on a free 127.0.0.1 port (never another host), then runs rounds of two phases of
the same length: normal clients alone (search, table and case pages in turn), then the same clients while an
abuser runs expensive SQL from three threads and requests missing pages from two more, connecting
from 127.0.0.2 (another loopback address) as a second machine would. Prints, for
the normal clients, throughput and p50/p99 latency in each phase and the ratio, the abuser's answers
by status, and the server's peak memory. Stops by itself; the server is stopped on exit.
Target (issue 9): normal clients keep at least 70% of their throughput and p99 stays under 1 s.
"""
from __future__ import annotations

import argparse
import collections
import http.client
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live_server import running_server  # noqa: E402


QUERIES = ["reablement for older people", "shared services between district councils", "channel shift to online",
           "leisure centres run by the community", "waste collection savings", "children's social care demand"]
TABLES = ["/kb/cases?council_types__arraycontains=district-council", "/kb/cases.json?_size=20",
          "/kb/lessons?_search=pilot", "/kb/figures?_sort_desc=amount_gbp", "/kb/cases?services__arraycontains=adult-social-care"]
ABUSIVE_SQL = [
    "select length(randomblob(1e9))",
    "select printf('%.*c', 1e9, 'x')",
    "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r",
    "with recursive r(s) as (select 'x' union all select s || s from r) select length(s) from r",
    "select kb_cosine(zeroblob(900000), zeroblob(900000))",
    "select length(ltrim(replace(hex(zeroblob(400000)), '0', 'a'), replace(hex(zeroblob(400000)), '0', 'b') || 'a'))",
    "select a.body_html, b.body_html from cases a, cases b order by random()",
    "with recursive r(n, s) as (select 1, zeroblob(900000) union all select n + 1, s from r where n < 5000) select s from r",
    "select hex(fts3_tokenizer('simple'))",
]


# The abuser connects from another loopback address, as another client would from another machine:
# the server's per-client limits can tell it apart from the normal clients (still on 127.0.0.1 only).
ABUSER_ADDRESS = "127.0.0.2"


def get(url: str, timeout: float = 30, source: str | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "127.0.0.1", url
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        connection.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        response = connection.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        connection.close()
    return status, time.perf_counter() - started


def normal_urls(base: str, case_ids: list[str], rng: random.Random):
    while True:
        yield f"{base}/-/search?" + urllib.parse.urlencode({"q": rng.choice(QUERIES), "mode": rng.choice(["hybrid", "keyword"])})
        yield base + rng.choice(TABLES)
        yield f"{base}/kb/cases/{rng.choice(case_ids)}"


def run_phase(base: str, case_ids: list[str], seconds: float, clients: int, abuse: str) -> dict:
    stop = threading.Event()
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    statuses = collections.Counter()
    abuser = collections.Counter()
    lock = threading.Lock()

    def normal(seed: int):
        urls = normal_urls(base, case_ids, random.Random(seed))
        while not stop.is_set():
            url = next(urls)
            status, took = get(url)
            if stop.is_set():  # finished after the phase ended: not counted
                break
            kind = "search" if "/-/search" in url else "case" if "/kb/cases/" in url else "table"
            with lock:
                latencies.append(took)
                by_kind[kind].append(took)
                statuses[status] += 1

    def expensive_sql(seed: int):
        rng = random.Random(seed)
        while not stop.is_set():
            sql = rng.choice(ABUSIVE_SQL)
            status, _ = get(f"{base}/kb.json?sql=" + urllib.parse.quote(sql), timeout=60, source=ABUSER_ADDRESS)
            with lock:
                abuser[f"sql {status}"] += 1

    def missing_pages(seed: int):
        n = seed * 10_000_000
        while not stop.is_set():
            n += 1
            status, _ = get(f"{base}/kb/cases/no-such-case-{n}" if n % 2 else f"{base}/no-such-page-{n}",
                            source=ABUSER_ADDRESS)
            with lock:
                abuser[f"missing {status}"] += 1

    threads = [threading.Thread(target=normal, args=(i,)) for i in range(clients)]
    if abuse in ("sql", "both"):
        threads += [threading.Thread(target=expensive_sql, args=(100 + i,)) for i in range(3)]
    if abuse in ("missing", "both"):
        threads += [threading.Thread(target=missing_pages, args=(200 + i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(120)
    elapsed = seconds
    return {"latencies": latencies, "by_kind": by_kind, "throughput": len(latencies) / elapsed,
            "statuses": dict(statuses), "abuser": dict(abuser)}


def merge(rounds: list[dict], seconds: float) -> dict:
    latencies = sorted(x for r in rounds for x in r["latencies"])
    statuses, abuser = collections.Counter(), collections.Counter()
    for r in rounds:
        statuses.update(r["statuses"])
        abuser.update(r["abuser"])
    kinds = {kind: sorted(x for r in rounds for x in r["by_kind"].get(kind, [])) for kind in ("search", "table", "case")}
    return {"requests": len(latencies), "throughput": len(latencies) / (seconds * len(rounds)),
            "p99_by_kind": {k: round(v[min(len(v) - 1, int(0.99 * len(v)))] * 1000) for k, v in kinds.items() if v},
            "per_round": [round(r["throughput"], 1) for r in rounds],
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan"),
            "statuses": dict(statuses), "abuser": dict(abuser)}


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (without, with) phases (default 3)")
    parser.add_argument("--clients", type=int, default=4, help="normal clients (default 4)")
    parser.add_argument("--abuse", choices=["both", "sql", "missing"], default="both",
                        help="what the abuser does: expensive SQL (3 threads), missing pages (2 threads), or both (default)")
    parser.add_argument("--db", type=Path, default=None, help="database to serve (default: build the corpus with the stand-in model)")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 600 or not 1 <= args.rounds <= 20:
        parser.error("--seconds must be between 1 and 600 and --rounds between 1 and 20")
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if db is None:
            from ingest.build import build

            db = Path(tmp) / "kb.db"
            build(ROOT, db, model="hash:384", progress=False)
        import sqlite3
        case_ids = [r[0] for r in sqlite3.connect(db).execute("select id from cases")]
        log = Path(tmp) / "server.log"
        with running_server(db, log=log) as (base, proc):
            assert base.startswith("http://127.0.0.1:")
            for _ in range(3):  # warm up: templates, the search engine's indexes
                for url in list(zip(range(3), normal_urls(base, case_ids, random.Random(0)))):
                    get(url[1])
            # phases alternate, so that load from elsewhere on the machine falls on both alike
            phases = {"none": [], args.abuse: []}
            peaks = {}
            for _ in range(args.rounds):
                for abuse in phases:
                    phases[abuse].append(run_phase(base, case_ids, args.seconds, args.clients, abuse=abuse))
                    peaks[abuse] = peak_memory_mb(proc.pid)
            calm, abused = merge(phases["none"], args.seconds), merge(phases[args.abuse], args.seconds)
            calm_peak, abused_peak = peaks["none"], peaks[args.abuse]
        server_log = log.read_text(errors="replace")
    print(f"normal clients: {args.clients}; {args.rounds} rounds of {args.seconds:.0f} s without and {args.seconds:.0f} s "
          f"with the abuser ({args.abuse}); server on {base}")
    for name, phase, peak in (("without abuser", calm, calm_peak), ("with abuser", abused, abused_peak)):
        print(f"{name:>15}: {phase['throughput']:6.1f} req/s ({phase['requests']} requests; rounds {phase['per_round']}), "
              f"p50 {phase['p50'] * 1000:6.0f} ms, p99 {phase['p99'] * 1000:6.0f} ms, statuses {phase['statuses']}, "
              f"server peak RSS {peak:.0f} MB")
    print(f"    p99 by kind (ms): without {calm['p99_by_kind']}, with {abused['p99_by_kind']}")
    print(f"    abuser answers: {abused['abuser']}")
    tracebacks = server_log.count("Traceback (most recent call last)")
    five_hundreds = sum(1 for line in server_log.splitlines() if re.search(r'HTTP/1\.[01]" 5\d\d', line))
    print(f"server log: {len(server_log.splitlines())} lines, {tracebacks} tracebacks, {five_hundreds} 5xx answers")
    if tracebacks:
        first = server_log.index("Traceback (most recent call last)")
        print(server_log[first:first + 3000])
    ratio = abused["throughput"] / calm["throughput"] if calm["throughput"] else float("nan")
    ok = ratio >= 0.7 and abused["p99"] < 1.0
    print(f"throughput kept: {ratio:.0%}; p99 with abuser {abused['p99'] * 1000:.0f} ms "
          f"-> {'meets' if ok else 'MISSES'} the target (>= 70%, p99 < 1 s)")


if __name__ == "__main__":
    main()
