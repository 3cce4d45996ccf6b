"""``campaign replay`` benchmark (issue 17). Run by hand:
``python bench/bench_marketo.py [--people 10000] [--activities 100000]``.

Generates an extract with bench/marketo_extract.py (100,000 activities over
10,000 people by default), then, in one process and on the same machine load:

* replay: what ``campaign replay`` does (read the CSV, replay its trigger
  activities through the engine's event replay on the virtual clock, compare
  per campaign and type) -- activities replayed per second, over every row of
  the extract, and events per second over the rows that were events;
* baseline: the engine's own ``campaign events`` path (``datafiles.replay``:
  read and validate the same events as JSON lines, replay them in a fresh
  store in memory) -- events per second;
* the ratio of the two event rates (what reading the extract, creating the
  people and comparing cost on top of the engine's replay).

It also checks the results: all matched with the generated project, and,
with "Pricing" broadened to Canada, the first person the extract shows
visiting /pricing from Canada is the first one pinpointed. Writes
bench/results/marketo.json. Medians of ``--runs`` runs (default 1: the
machine is shared; the whole run takes about a minute).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import marketo_extract  # noqa: E402

from campaignlang.check import check  # noqa: E402
from campaignlang.datafiles import replay as events_replay  # noqa: E402
from campaignlang.engine import Engine  # noqa: E402
from campaignlang.loader import load_paths  # noqa: E402
from campaignlang.marketo.replay import Ids, events_of, read_extract, replay, write_events  # noqa: E402
from campaignlang.store import Store  # noqa: E402


def program_of(folder: Path):
    result = check(load_paths([folder / "marketo.campaign"]))
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--activities", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        extract = marketo_extract.write(folder, args.people, args.activities)
        gen_s = time.perf_counter() - t0
        program = program_of(folder)
        ids = Ids(json.loads((folder / "marketo-ids.json").read_text()))
        types = ids.activity_types()
        events_file = folder / "events.jsonl"
        n_events = write_events(events_of(read_extract(extract), ids, types), events_file)

        replay_s, base_s = [], []
        result = None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            rows = read_extract(extract)
            result, engine = replay(program, rows, ids)
            replay_s.append(time.perf_counter() - t0)
            engine.store.close()
            # baseline: campaign events on the same events (people created as they come)
            t0 = time.perf_counter()
            first_at = rows[0].at
            from campaignlang.clock import Clock
            base = Engine(program, Store(":memory:"), Clock(first_at))
            events_replay(base, events_file)
            base_s.append(time.perf_counter() - t0)
            base.store.close()
        assert result is not None
        assert result.matched, "the generated extract must replay all matched"
        assert result.events == n_events

        # a changed campaign is pinpointed
        text = (folder / "Default.campaign").read_text()
        (folder / "Default.campaign").write_text(
            text.replace('filter lead.Country is "US"', 'filter lead.Country is "US", "CA"'))
        changed, engine = replay(program_of(folder), read_extract(extract), ids)
        engine.store.close()
        (pricing,) = [t for t in changed.tallies if t.campaign == '"Scoring"."Pricing"']
        with open(extract, newline="") as f:
            country: dict[str, str] = {}
            hot: set[str] = set()
            first = None
            for r in csv.DictReader(f):
                if r["activityTypeId"] == "24":
                    hot.add(r["leadId"])
                if r["activityTypeId"] == "13" and not r["campaignId"] and r["primaryAttributeValue"] == "Country":
                    country[r["leadId"]] = json.loads(r["attributes"])["New Value"]
                if (first is None and r["activityTypeId"] == "1" and r["leadId"] not in hot
                        and json.loads(r["attributes"])["Webpage URL"] == "/pricing"
                        and country.get(r["leadId"]) == "CA"):
                    first = r
        assert first is not None and pricing.people[0].lead == int(first["leadId"])

    rep, bas = statistics.median(replay_s), statistics.median(base_s)
    out = {
        "people": args.people, "activities": args.activities, "events": n_events,
        "generate_s": round(gen_s, 2),
        "replay_s": round(rep, 2), "activities_per_s": round(args.activities / rep),
        "replay_events_per_s": round(n_events / rep),
        "baseline_campaign_events_s": round(bas, 2), "baseline_events_per_s": round(n_events / bas),
        "ratio_replay_to_baseline": round(rep / bas, 2),
        "all_matched": result.matched,
        "changed_campaign": {"campaign": pricing.campaign, "extra": pricing.extra, "missing": pricing.missing,
                             "first_person": pricing.people[0].lead},
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    print(json.dumps(out, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "marketo.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
