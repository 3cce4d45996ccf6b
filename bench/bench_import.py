"""People import benchmark (issue 16). Run by hand: python bench/bench_import.py

Times ``campaign people import``'s path (``campaignlang.import_people``) on
generated CSV files of 100,000 and 1,000,000 people into a new file store,
against a hand-written load of the same rows into the same schema in the same
run: ``csv.reader`` and one ``executemany`` into the store's ``people`` table
in one transaction, with the few conversions the rows need (whole numbers,
true/false, date-times to the second) and nothing else: no validation, no
activity log. Ours also checks every value, merges duplicate addresses and
writes a ``New Person`` activity per person. The two ``people`` tables must
come out identical. The same people from a Parquet file are timed too
(``pyarrow``; skipped without it).

Each load runs in its own process, which reports its peak memory (``VmHWM``,
else ``ru_maxrss``). Prints a table (people a second, the ratio to the
hand-written load, how the time grows from 100,000 to 1,000,000) and writes
bench/results/import.json. ``--sizes 10000,100000`` runs other sizes;
bench/run.py runs it as its ``import`` part.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

COLUMNS = ["Email Address", "First Name", "Last Name", "Company Name", "Country", "Lead Score",
           "Unsubscribed", "Created At"]
NOW = "2026-01-01T00:00:00"   # the virtual clock of a new store


def generate(path: Path, people: int) -> None:
    """A people file as a CRM export looks: some cells empty."""
    rnd = random.Random(people)
    countries = ["US", "CA", "DE", "FR", "GB", ""]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(people):
            w.writerow([f"person{i}@example{i % 97}.com", f"First{i % 1000}", f"Last{i % 5000}",
                        f"Company {i % 300}" if i % 7 else "", rnd.choice(countries), rnd.randint(0, 100),
                        rnd.choice(["true", "false", ""]),
                        f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}" if i % 5 else ""])


def to_parquet(csv_path: Path, path: Path) -> bool:
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        return False
    options = pacsv.ConvertOptions(strings_can_be_null=False,
                                   column_types={c: "string" for c in COLUMNS})
    pq.write_table(pacsv.read_csv(str(csv_path), convert_options=options), str(path), row_group_size=100_000)
    return True


def peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _new_store(db: Path):
    from campaignlang.api import compile_text
    from campaignlang.engine import Engine
    from campaignlang.store import Store

    if db.exists():
        db.unlink()
    return Engine(compile_text(""), Store(str(db)))


def hand_written(file: Path, db: Path) -> float:
    """The baseline: csv + executemany into the same people table."""
    engine = _new_store(db)
    cols = engine.store.columns
    engine.store.close()
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA cache_size = -65536")   # as the store's connection
    booleans = {"true": 1, "false": 0, "": None}
    t0 = time.perf_counter()
    with file.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        names = ["email_key", *(f'"{cols[c.casefold()]}"' for c in header), f'"{cols["updated at"]}"']
        score, unsub, created = header.index("Lead Score"), header.index("Unsubscribed"), header.index("Created At")

        def rows():
            for r in reader:
                r = [v or None for v in r]
                r[score] = int(r[score])
                r[unsub] = booleans[r[unsub] or ""]
                r[created] = r[created] + ":00" if r[created] else NOW
                yield (r[0].casefold(), *r, NOW)
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO people ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         rows())
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def ours(file: Path, db: Path) -> float:
    from campaignlang.datafiles import import_people

    engine = _new_store(db)
    t0 = time.perf_counter()
    report = import_people(engine, file)
    seconds = time.perf_counter() - t0
    assert report.merged == 0 and report.updated == 0
    engine.store.close()
    return seconds


def people_digest(db: Path) -> str:
    """The people table, row by row (what both loads write)."""
    conn = sqlite3.connect(str(db))
    h = hashlib.sha256()
    for row in conn.execute("SELECT * FROM people ORDER BY id"):
        h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def worker(kind: str, file: Path, db: Path) -> dict:
    seconds = hand_written(file, db) if kind == "hand" else ours(file, db)
    return {"seconds": seconds, "peak_mb": peak_mb(), "people_digest": people_digest(db)}


def run_worker(kind: str, file: Path, db: Path) -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--file", str(file), "--db", str(db)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def measure(sizes: list[int], tmp: Path, runs: int | None = None) -> list[dict]:
    """Rows for bench/run.py's table: ours against the hand-written load,
    CSV and Parquet, per size (medians of ``runs``; 1 run at a million)."""
    rows = []
    for n in sizes:
        csv_path = tmp / f"people-{n}.csv"
        generate(csv_path, n)
        parquet_path = tmp / f"people-{n}.parquet"
        has_parquet = to_parquet(csv_path, parquet_path)
        reps = runs or (1 if n >= 1_000_000 else 3)
        results: dict[str, list[dict]] = {"hand": [], "csv": [], "parquet": []}
        for _ in range(reps):   # interleaved: the machine's load hits all alike
            results["hand"].append(run_worker("hand", csv_path, tmp / "hand.db"))
            results["csv"].append(run_worker("ours", csv_path, tmp / "ours.db"))
            if has_parquet:
                results["parquet"].append(run_worker("ours", parquet_path, tmp / "parquet.db"))
        med = {k: sorted(v, key=lambda r: r["seconds"])[len(v) // 2] for k, v in results.items() if v}
        base = med["hand"]
        for kind, label in (("csv", "CSV"), ("parquet", "Parquet")):
            if kind not in med:
                continue
            r = med[kind]
            rows.append({"name": f"people import {n:,} people ({label})", "people": n, "source": kind,
                         "ours": r["seconds"], "baseline": base["seconds"],
                         "baseline_name": "csv + executemany by hand", "unit": "s",
                         "people_per_s": n / r["seconds"], "baseline_people_per_s": n / base["seconds"],
                         "peak_mb": r["peak_mb"], "peak_mb_baseline": base["peak_mb"],
                         "same_writes": r["people_digest"] == base["people_digest"]})
            if kind == "csv":   # the target is the CSV load's
                rows[-1].update(target="<= 2x the hand-written load", ok=r["seconds"] <= 2 * base["seconds"])
        for f in tmp.glob("*.db*"):
            f.unlink()
        csv_path.unlink()
        if has_parquet:
            parquet_path.unlink()
    return rows


def scaling(rows: list[dict]) -> list[dict]:
    out = []
    for source in ("csv", "parquet"):
        by = {r["people"]: r for r in rows if r["source"] == source}
        sizes = sorted(by)
        for small, big in zip(sizes, sizes[1:]):
            out.append({"source": source, "from": small, "to": big,
                        "time_ratio": by[big]["ours"] / by[small]["ours"],
                        "baseline_time_ratio": by[big]["baseline"] / by[small]["baseline"]})
    return out


def table(rows: list[dict]) -> str:
    lines = [f"{'measure':44} {'ours':>9} {'people/s':>10} {'hand':>9} {'people/s':>10} {'ratio':>6} "
             f"{'peak MB':>8} {'(hand)':>7}"]
    for r in rows:
        lines.append(f"{r['name']:44} {r['ours']:8.2f}s {r['people_per_s']:10,.0f} {r['baseline']:8.2f}s "
                     f"{r['baseline_people_per_s']:10,.0f} {r['ours'] / r['baseline']:5.2f}x "
                     f"{r['peak_mb']:8.0f} {r['peak_mb_baseline']:7.0f}"
                     + ("" if r["same_writes"] else "  PEOPLE DIFFER"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--runs", type=int, default=None, help="runs per size (default 3; 1 at a million)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.file), Path(args.db))))
        return 0
    import tempfile
    with tempfile.TemporaryDirectory(prefix="campaign-import-") as tmp:
        rows = measure([int(s) for s in args.sizes.split(",")], Path(tmp), args.runs)
    print(table(rows))
    grow = scaling(rows)
    for s in grow:
        print(f"{s['source']}: {s['to'] // s['from']}x the people ({s['from']:,} -> {s['to']:,}) costs "
              f"{s['time_ratio']:.1f}x the time (the hand-written load: {s['baseline_time_ratio']:.1f}x)")
    load = os.getloadavg()
    print(f"(load average {load[0]:.1f} / {load[1]:.1f})")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "import.json").write_text(json.dumps(
        {"rows": rows, "scaling": grow, "load_average": load}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
