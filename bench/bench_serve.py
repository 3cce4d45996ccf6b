"""Throughput of ``campaign serve`` (issue 18): ``python bench/bench_serve.py``.

A real server process (``campaign serve --db FILE``, the store in SQLite's
write-ahead log, as ``serve`` opens it) and this process as its client
(the standard library's ``http.client`` on one kept-alive connection: a
lean client, so the figure is the server's, not a client library's), each
figure against a baseline timed in the same run: the same work through the
engine in-process, on the same kind of store.

* request: a one-person Request Campaign with a My Token
  (``POST /rest/v1/campaigns/{id}/trigger.json``), against
  ``Engine.request(campaign, [person], tokens)``;
* push: people through Sync Leads (``POST /rest/v1/leads.json``, 300 a
  request, Marketo's limit), against ``Engine.import_people`` of the same
  records in the same batches of 300.

Prints a table and writes bench/results/serve.json (ratios: ours / baseline
throughput). ``--requests N`` and ``--people N`` size the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

import http.client  # noqa: E402

import campaignlang  # noqa: E402
from campaignlang.store import Store  # noqa: E402
from serve_helpers import CLIENT_ID, CLIENT_SECRET, PROGRAM, Server  # noqa: E402

WITH_CONTEXT = 2   # "Webinar"."With Context" (tests/serve/webinar.campaign)
TOKENS = [{"name": "{{my.Event Name}}", "value": "Bench Webinar"}]


def people(n: int, offset: int = 0) -> list[dict]:
    return [{"email": f"b{offset + i}@example.com", "firstName": f"B{i}", "country": "US" if i % 3 else "DE",
             "leadScore": 0} for i in range(n)]


def bench_http(n_requests: int, n_people: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "store.db") as s:
        conn = http.client.HTTPConnection(s.url.split("//", 1)[1], timeout=120)

        def call(method: str, path: str, body: object = None, headers: dict | None = None) -> dict:
            conn.request(method, path, None if body is None else json.dumps(body), headers or {})
            out = json.loads(conn.getresponse().read())
            assert out.get("success", True), out
            return out

        everyone = people(n_people)   # made before the first call: uvicorn closes a connection idle 5 s
        batches = [everyone[i:i + 300] for i in range(0, n_people, 300)]
        tok = call("GET", f"/identity/oauth/token?grant_type=client_credentials&client_id={CLIENT_ID}"
                          f"&client_secret={CLIENT_SECRET}")["access_token"]
        headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
        t0 = time.perf_counter()
        for b in batches:
            call("POST", "/rest/v1/leads.json", {"input": b}, headers)
        push = n_people / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(n_requests):
            call("POST", f"/rest/v1/campaigns/{WITH_CONTEXT}/trigger.json",
                 {"input": {"leads": [{"id": 1 + i % n_people}], "tokens": TOKENS}}, headers)
        req = n_requests / (time.perf_counter() - t0)
        conn.close()
        return {"push": push, "request": req}


def bench_engine(n_requests: int, n_people: int) -> dict[str, float]:
    program = campaignlang.compile_paths([str(PROGRAM)])
    with tempfile.TemporaryDirectory() as tmp:
        engine = campaignlang.Engine(program, Store(str(Path(tmp) / "store.db"), write_ahead=True))
        records = [{"Email Address": p["email"], "First Name": p["firstName"], "Country": p["country"],
                    "Lead Score": p["leadScore"]} for p in people(n_people)]
        t0 = time.perf_counter()
        for i in range(0, n_people, 300):
            engine.import_people(records[i:i + 300])
        push = n_people / (time.perf_counter() - t0)
        tokens = {"my.Event Name": "Bench Webinar"}
        campaign = '"Webinar"."With Context"'
        t0 = time.perf_counter()
        for i in range(n_requests):
            engine.request(campaign, [1 + i % n_people], tokens)
        req = n_requests / (time.perf_counter() - t0)
        engine.store.close()
        return {"push": push, "request": req}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--people", type=int, default=30_000)
    args = ap.parse_args()
    base = bench_engine(args.requests, args.people)
    ours = bench_http(args.requests, args.people)
    rows = [
        {"name": "one-person trigger request with a My Token", "unit": "requests/s",
         "ours": ours["request"], "baseline": base["request"], "baseline_name": "Engine.request in-process"},
        {"name": f"leads push ({args.people:,} people, 300 a request)", "unit": "people/s",
         "ours": ours["push"], "baseline": base["push"], "baseline_name": "Engine.import_people in-process"},
    ]
    print(f"{'what':48} {'serve':>12} {'baseline':>12} {'ratio':>7}  baseline")
    for r in rows:
        r["ratio"] = r["ours"] / r["baseline"]
        print(f"{r['name']:48} {r['ours']:>10,.0f}/s {r['baseline']:>10,.0f}/s {r['ratio']:>7.2f}  "
              f"{r['baseline_name']} ({r['unit']})")
    out = {"rows": rows, "python": platform.python_version(), "load": os.getloadavg()[0],
           "requests": args.requests, "people": args.people}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "serve.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
