"""The benchmark command (issue 8): ``python bench/run.py [--quick]``.

Measures, each against a baseline timed in the same run, and prints a table:

* parse: a generated 50,000-line program to an AST with spans, against Lark's
  bare LALR parse of the same text (bench_parse.py);
* check: ``check`` of generated programs of 1,000 (and, without --quick,
  10,000) campaigns, against parsing and loading the same text (bench_check.py);
* start-up: ``campaign check`` of a one-campaign file in a fresh process,
  against ``python -c "import lark, attrs, click"``;
* filters: the compiled smart lists of bench_engine.py evaluated on 100,000
  people, against plain Python functions evaluating the same smart lists on
  the same ``Person`` objects (values decoded before timing, for both);
* batch: the bench_engine.py campaign (3 filters, 6 steps with a choice and an
  ``execute`` of a 2-step child passing its context) over 10,000, 100,000 and
  (without --quick) 1,000,000 people in a file store, against
  ``bench_engine.plain_python`` doing the same work with the same SQLite
  writes in one transaction; every run in its own process, which reports
  its peak memory (``VmHWM``, else ``ru_maxrss``); the two stores must end up
  identical;
* import: ``people import`` of 100,000 and (without --quick) 1,000,000 CSV
  rows, and the same people from Parquet, against a hand-written ``csv`` +
  ``executemany`` of the same rows into the same schema (bench_import.py);
* trigger events: a stream of form fills through 10 trigger campaigns (each
  with a filter and two steps), one ``fire`` per event (one transaction per
  event, as an API caller firing events one by one) and 100 people per
  ``fire``, in memory; and one per ``fire`` in a file store, with SQLite's
  rollback journal (the default) and with ``Store(write_ahead=True)`` (no
  target: they show what the disk costs);
* sets: the same batch with ``--engine duckdb`` (the set-based engine) at
  100,000 and (without --quick) 1,000,000 people, against a hand-written
  DuckDB script doing the same writes, the per-person engine beside them
  (bench_sets.py).

Medians of several runs (the machine is shared: expect noise of 10-30 %;
the load average is printed). Writes bench/results/run.json. ``--quick``
skips the 1,000,000-person batch and the 10,000-campaign check and runs
fewer repetitions (about a minute; the whole run takes about ten).
``--only batch --sizes 100000 --batch-runs 1`` and the like run a part.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_check   # noqa: E402
import bench_engine  # noqa: E402
import bench_import  # noqa: E402
import bench_parse   # noqa: E402
import bench_sets    # noqa: E402

TARGETS = {
    "filters": "<= 2x plain Python",
    "sets": "<= 2x the hand-written DuckDB script",
    "batch": "<= 2x plain Python; 1M people < 60 s and < 500 MB; 10x people <= 11x time",
    "triggers": ">= 20,000 events/s",
    "import": "<= 2x a hand-written csv + executemany load",
}


def median(xs):
    return statistics.median(xs)


def timed(fn, runs: int):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times), times


# --------------------------------------------------------------------------
# parse, check, start-up (bench_parse.py, bench_check.py)


def measure_parse(quick: bool) -> dict:
    text = bench_parse.generate(50_000)
    ours, bare = bench_parse.parse_times(text, 3 if quick else 5)
    return {"name": f"parse {text.count(chr(10)):,} lines", "ours": ours, "baseline": bare,
            "baseline_name": "Lark bare LALR parse", "unit": "s"}


def measure_check(quick: bool) -> list[dict]:
    from campaignlang.check import check
    from campaignlang.loader import load_text

    rows = []
    for size in ([1000] if quick else [1000, 10_000]):
        text = bench_check.generate(size)
        load_s, loaded = timed_value(lambda: load_text(text, f"bench-{size}.campaign"), 1 if size > 1000 else 3)
        check_s, result = timed_value(lambda: check(loaded), 3)
        assert result.ok and len(result.model.campaigns) == size
        rows.append({"name": f"check {size:,} campaigns", "ours": check_s, "baseline": load_s,
                     "baseline_name": "parse + load of the same text", "unit": "s"})
    return rows


def timed_value(fn, runs: int):
    times, value = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return median(times), value


def measure_startup(quick: bool) -> dict:
    ours, floor = bench_parse.startup_times(5 if quick else 10)
    return {"name": "start-up: campaign check (1 campaign)", "ours": ours, "baseline": floor,
            "baseline_name": "python -c 'import lark, attrs, click'", "unit": "s"}


# --------------------------------------------------------------------------
# filters


def measure_filters(quick: bool, people: int = 100_000) -> list[dict]:
    from campaignlang.api import compile_text
    from campaignlang.engine import Engine
    from campaignlang.store import Store

    program = compile_text(bench_engine.PROGRAM, "bench.campaign")
    store = Store(":memory:")
    engine = Engine(program, store)
    bench_engine.populate(store, people)
    persons = store.people()
    rows = []
    runs = 5 if quick else 9
    for name, campaign, plain in (
            ("filters: 3 filters, ALL", "Bench/Batch", bench_engine.plain_batch_filter),
            ("filters: 6 filters, advanced logic", "Bench/Filters", bench_engine.plain_rich_filter(engine.now))):
        c = engine.campaign(campaign)
        pred = engine.evaluator.smart_list_pred(c.smart_list, c.program)
        want = [p.id for p in persons if plain(p)]          # decodes the values (both read them)
        assert [p.id for p in persons if pred(p)] == want, name
        ours, theirs = [], []
        for _ in range(runs):                                # interleaved: the same noise for both
            ours.append(timed(lambda: sum(1 for p in persons if pred(p)), 1)[0])
            theirs.append(timed(lambda: sum(1 for p in persons if plain(p)), 1)[0])
        rows.append({"name": f"{name} ({people:,} people, {len(want):,} match)", "ours": median(ours),
                     "baseline": median(theirs), "baseline_name": "plain Python function", "unit": "s",
                     "target": TARGETS["filters"], "ok": median(ours) <= 2 * median(theirs)})
    store.close()
    return rows


# --------------------------------------------------------------------------
# batch: one process per run (peak memory), file stores


def worker(args: argparse.Namespace) -> None:
    """``--worker populate|engine|plain --db PATH [--people N]``: one JSON line out."""
    from campaignlang.api import compile_text
    from campaignlang.engine import Engine
    from campaignlang.store import Store

    program = compile_text(bench_engine.PROGRAM, "bench.campaign")
    out: dict = {}
    if args.worker == "populate":
        store = Store(args.db)
        Engine(program, store)
        bench_engine.populate(store, args.people)
        store.close()
    elif args.worker == "engine":
        store = Store(args.db)
        engine = Engine(program, store)
        t0 = time.perf_counter()
        result = engine.run_batch("Bench/Batch")
        out["seconds"] = time.perf_counter() - t0
        out["entered"] = len(result.entered)
        store.close()
    else:
        store = Store(args.db)
        Engine(program, store).store.close()   # the same store set-up as the engine's
        store = Store(args.db)
        t0 = time.perf_counter()
        with store.transaction():
            entered = bench_engine.plain_python(store)
        out["seconds"] = time.perf_counter() - t0
        out["entered"] = entered
        store.close()
    out["maxrss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` (Linux), which starts
    afresh at ``exec`` -- unlike ``ru_maxrss``, which keeps the peak of the
    parent the worker was forked from -- else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(kind: str, db: Path, people: int = 0) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--db", str(db), "--people", str(people)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def digest(db: Path, full: bool) -> str:
    """What the run wrote: row counts, and (``full``) a hash of every row of
    the activity log, the people, the lists and the runs."""
    import sqlite3

    con = sqlite3.connect(str(db))
    h = hashlib.sha256()
    for table, order in (("activities", "id"), ("people", "id"), ("list_members", "list, person"),
                         ("runs", "id"), ("program_members", "program, person")):
        h.update(f"{table}:{con.execute(f'SELECT count(*) FROM {table}').fetchone()[0]};".encode())
        if full:
            for row in con.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                h.update(repr(row).encode())
    con.close()
    return h.hexdigest()[:16]


def measure_batch(sizes: list[int], quick: bool, tmp: Path, runs_wanted: int | None = None) -> list[dict]:
    rows = []
    for size in sizes:
        runs = runs_wanted or (2 if quick and size >= 100_000 else 3)
        template = tmp / f"people-{size}.db"
        run_worker("populate", template, size)
        ours, theirs, mem_ours, mem_theirs, same = [], [], [], [], True
        entered = 0
        for i in range(runs):
            results = {}
            for kind in ("engine", "plain") if i % 2 == 0 else ("plain", "engine"):
                db = tmp / f"{kind}-{size}.db"
                shutil.copyfile(template, db)
                results[kind] = run_worker(kind, db)
            ours.append(results["engine"]["seconds"])
            theirs.append(results["plain"]["seconds"])
            mem_ours.append(results["engine"]["maxrss_mb"])
            mem_theirs.append(results["plain"]["maxrss_mb"])
            entered = results["engine"]["entered"]
            if i == 0:
                full = size <= 100_000
                same = digest(tmp / f"engine-{size}.db", full) == digest(tmp / f"plain-{size}.db", full)
            for kind in ("engine", "plain"):
                (tmp / f"{kind}-{size}.db").unlink()
        template.unlink()
        row = {"name": f"batch {size:,} people ({entered:,} enter)", "people": size, "entered": entered,
               "ours": median(ours), "baseline": median(theirs), "runs_ours": ours, "runs_baseline": theirs,
               "baseline_name": "plain Python, same SQLite writes", "unit": "s",
               "peak_mb": max(mem_ours), "peak_mb_baseline": max(mem_theirs), "same_writes": same,
               "target": TARGETS["batch"]}
        row["ok"] = row["ours"] <= 2 * row["baseline"] and same
        if size >= 1_000_000:
            row["ok"] = row["ok"] and row["ours"] < 60 and row["peak_mb"] < 500
        rows.append(row)
        print(f"  batch {size:,}: engine {row['ours']:.2f} s, plain {row['baseline']:.2f} s, "
              f"peak {row['peak_mb']:.0f} MB, same writes {same}", file=sys.stderr, flush=True)
    return rows


# --------------------------------------------------------------------------
# trigger events


TRIGGERS = "".join(f'''
    form "Form {k}"
    campaign "Visitor {k}" trigger {{
        smart list {{
            trigger fills out form "Form {k}"
            filter lead.Unsubscribed is false
        }}
        flow {{
            change score lead."Lead Score" by +1
            interesting moment web "filled out {{{{trigger.Name}}}} from {{{{lead.Country:default=nowhere}}}}"
        }}
        qualify every time
    }}''' for k in range(10))
TRIGGER_PROGRAM = 'program "Events" {' + TRIGGERS + "\n}\n"


def measure_triggers(quick: bool) -> list[dict]:
    from campaignlang.api import compile_text
    from campaignlang.engine import Engine
    from campaignlang.store import Store

    program = compile_text(TRIGGER_PROGRAM, "events.campaign")
    n_people = 10_000
    rows = []
    for per_call, where in ((1, ":memory:"), (100, ":memory:"), (1, "file"), (1, "file + WAL")):
        rates = []
        n_events = (10_000 if quick else 30_000) if where == ":memory:" else 3_000
        for r in range(3):
            tmp = tempfile.TemporaryDirectory() if where != ":memory:" else None
            engine = Engine(program, Store(os.path.join(tmp.name, "events.db"), write_ahead="WAL" in where)
                            if tmp else Store(":memory:"))
            engine.import_people({"Email Address": f"p{i}@example.com", "Country": random.Random(i).choice(
                ["US", "DE", None])} for i in range(n_people))
            rng = random.Random(r)
            calls = [([rng.randrange(1, n_people + 1) for _ in range(per_call)], f'"Events"."Form {rng.randrange(10)}"')
                     for _ in range(n_events // per_call)]
            t0 = time.perf_counter()
            for people, form in calls:
                engine.fire("fills out form", people, form)
            rates.append(n_events / (time.perf_counter() - t0))
            assert len(engine.store.run_history()) == n_events
            engine.store.close()
            if tmp is not None:
                tmp.cleanup()
        rate = median(rates)
        row = {"name": f"trigger events, {per_call} per fire() ({n_events:,} events, 10 campaigns"
                       f"{'' if where == ':memory:' else ', ' + where})",
               "ours": rate, "baseline": None, "unit": "events/s", "runs_ours": rates}
        if where == ":memory:":
            row.update(target=TARGETS["triggers"], ok=rate >= 20_000)
        else:
            row["target"] = "none (the disk's share)"
        rows.append(row)
    return rows


# --------------------------------------------------------------------------


def measure_sets(quick: bool, tmp: Path) -> list[dict]:
    """bench_sets.py's rows in this table's shape (the per-person engine in the notes)."""
    rows = []
    for r in bench_sets.measure([100_000] if quick else [100_000, 1_000_000], tmp):
        res = r["results"]
        rows.append({"name": f"sets: batch {r['people']:,} people, --engine duckdb", "people_sets": r["people"],
                     "ours": res["sets"]["seconds"], "baseline": res["script"]["seconds"], "unit": "s",
                     "baseline_name": f"hand-written DuckDB script, same writes (per-person engine "
                                      f"{res['engine']['seconds']:.1f} s)",
                     "peak_mb": res["sets"]["peak_mb"], "peak_mb_baseline": res["script"]["peak_mb"],
                     "same_writes": r["same_writes"], "phases": res["sets"].get("phases"),
                     "target": TARGETS["sets"],
                     "ok": r["same_writes"] and res["sets"]["seconds"] <= 2 * res["script"]["seconds"]})
    return rows


def table(rows: list[dict]) -> str:
    out = [f"{'measure':74} {'ours':>11} {'baseline':>11} {'ratio':>7}  baseline / notes"]
    for r in rows:
        unit = r["unit"]
        if unit == "events/s":
            ours, base, ratio = f"{r['ours']:,.0f}/s", "", ""
            note = f"target {r['target']}"
        else:
            ours, base = f"{r['ours']:.3f} s", f"{r['baseline']:.3f} s"
            ratio = f"{r['ours'] / r['baseline']:.2f}x"
            note = r["baseline_name"]
            if "peak_mb" in r:
                note += f"; peak {r['peak_mb']:.0f} MB (baseline {r['peak_mb_baseline']:.0f} MB)"
                note += "" if r["same_writes"] else "; WRITES DIFFER"
        if "ok" in r:
            note = ("ok   " if r["ok"] else "MISS ") + note
        out.append(f"{r['name']:74} {ours:>11} {base:>11} {ratio:>7}  {note}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1,000,000-person batch; fewer runs")
    ap.add_argument("--only", default="", help="comma list of: parse,check,startup,filters,batch,triggers,import,sets")
    ap.add_argument("--sizes", default="", help="batch sizes (default 10000,100000,1000000)")
    ap.add_argument("--batch-runs", type=int, default=None, help="runs of each batch size (default 3)")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/run.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--people", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    only = set(filter(None, args.only.split(","))) or {"parse", "check", "startup", "filters", "batch", "triggers",
                                                     "import", "sets"}
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    rows: list[dict] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        for part, fn in (("parse", lambda: [measure_parse(args.quick)]),
                         ("check", lambda: measure_check(args.quick)),
                         ("startup", lambda: [measure_startup(args.quick)]),
                         ("filters", lambda: measure_filters(args.quick)),
                         ("batch", lambda: measure_batch(sizes, args.quick, Path(tmp), args.batch_runs)),
                         ("triggers", lambda: measure_triggers(args.quick)),
                         ("import", lambda: bench_import.measure(
                             [100_000] if args.quick else [100_000, 1_000_000], Path(tmp))),
                         ("sets", lambda: measure_sets(args.quick, Path(tmp)))):
            if part in only:
                print(f"measuring {part}...", file=sys.stderr, flush=True)
                rows.extend(fn())
    batches = {r["people"]: r for r in rows if "people" in r and "source" not in r}
    scaling = []
    for small, big in ((10_000, 100_000), (100_000, 1_000_000)):
        if small in batches and big in batches:
            ratio = batches[big]["ours"] / batches[small]["ours"]
            scaling.append({"from": small, "to": big, "time_ratio": ratio, "ok": ratio <= 11})
    scaling += [dict(s, ok=s["time_ratio"] <= 11, what=f"people import ({s['source']})")
                for s in bench_import.scaling([r for r in rows if "source" in r])]
    print(table(rows))
    for s in scaling:
        print(f"{'ok  ' if s['ok'] else 'MISS'} {s.get('what', 'batch')}: 10x people "
              f"({s['from']:,} -> {s['to']:,}) costs "
              f"{s['time_ratio']:.1f}x the time (target <= 11x)")
    load = os.getloadavg()
    print(f"(medians; {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} / {load[1]:.1f} at the end; {time.perf_counter() - started:.0f} s in all)")
    if not args.no_write:
        (HERE / "results").mkdir(exist_ok=True)
        report = {"quick": args.quick, "rows": rows, "scaling": scaling, "python": platform.python_version(),
                  "cores": os.cpu_count(), "load_average": load}
        (HERE / "results" / "run.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
