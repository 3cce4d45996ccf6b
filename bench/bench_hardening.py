"""Hardening benchmarks (issue 14, items 3 and 7). Run by hand:
python bench/bench_hardening.py [--quick]

* Linearity of the parser on pathological input: ``program "P" {
  description "`` followed by N escaped quotes (and other unclosed shapes),
  timed at N and 4N; the ratio is ~4 when the parse is linear (it was ~16).
  Baseline in the same run: a valid program of the same size.
* Memory per byte of source and throughput of ``check``: a 1 MB string
  literal and a generated valid program, each checked in a fresh process;
  peak resident memory above the same process's after imports, divided by
  the source's size, and megabytes of source per second (wall clock, and
  per second of the process's CPU time, which a busy machine disturbs less).
* Throughput of ``check`` on valid programs of 1, 2, 4 and 8 MB, medians
  of ``--runs`` runs (3) with the load average around each: the fast parse
  driver against Lark's own driver (the baseline) in the same run and, with
  ``--previous REV``, against the package as it was at a git revision; how
  the cost per MB grows with the size; and programs that name their My
  Tokens apart (the checker's token passes were quadratic in those).
* Events files stream (item 7): ``campaign events`` on 10k, 100k and 1M
  events (100 people; every fifth event a form fill that starts a run, the
  rest page visits) into a store file, each in a fresh process: peak
  resident memory above the process's after imports, and seconds; again
  with SQLite's page cache (64 MB, which a large store fills) held to 2 MB,
  which leaves the replay's own memory. Baseline
  in the same run: the peak of holding the same file's events as a list,
  as the replay did before (``read_events``).

Prints a table and writes bench/results/hardening.json. The throughput
before and after issue 14's speed-up: ``python bench/bench_hardening.py
--only throughput --previous c556b3e``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PATHOLOGICAL = {
    "escaped quotes": lambda n: 'program "P" { description "' + '\\"' * n,
    "bare quotes": lambda n: '"' * n,
    "unclosed tokens": lambda n: 'program "P" { description "' + "{{" * n,
    "backslashes": lambda n: 'program "P" { description "' + "\\" * n,
}

# Peak memory from /proc (VmHWM is the new program's own; ru_maxrss carries
# the parent's peak across fork and exec on Linux, which hid the growth).
MEASURE = r'''
import importlib, sys, time
from campaignlang.api import check_text

if len(sys.argv) > 2 and sys.argv[2] == "lark":   # the baseline: Lark's own driver parses
    P = importlib.import_module("campaignlang.parse")

    def refuse(*args, **kwargs):
        raise P._NotFast()

    P._fast_parse = refuse

def kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

text = open(sys.argv[1], encoding="utf-8").read()
base = kb("VmRSS:")
t, cpu = time.perf_counter(), time.process_time()
result = check_text(text)
elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
peak = kb("VmHWM:")
print(len(text.encode()), elapsed, (peak - base) * 1024, len(result.diagnostics), cpu)
'''


EVENTS = r'''
import json, sys, time

from campaignlang.api import compile_text
from campaignlang.datafiles import read_events, replay
from campaignlang.engine import Engine
from campaignlang.store import Store

def kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

program = compile_text(open(sys.argv[1], encoding="utf-8").read())
base = kb("VmRSS:")
t = time.perf_counter()
if sys.argv[3] == "list":   # the baseline: the events held as a list
    count = len(read_events(sys.argv[2]))
    runs = 0
else:
    store = Store(sys.argv[4])
    if sys.argv[3] == "small cache":   # SQLite's page cache (64 MB by default) held to 2 MB
        store.db.execute("PRAGMA cache_size = -2000")
    done = replay(Engine(program, store), sys.argv[2])
    count, runs = done.events, done.runs
elapsed = time.perf_counter() - t
print(count, runs, elapsed, (kb("VmHWM:") - base) * 1024)
'''

EVENTS_PROGRAM = """
program "P" {
    form "Contact Us"
    list "L"
    campaign "On Form" trigger {
        smart list { trigger fills out form "Contact Us" }
        flow { add to list "L" }
        qualify every time
    }
}
"""


def write_events(path: Path, n: int) -> None:
    """``n`` events a minute apart over 100 people: every fifth a form fill
    (a run), the rest visits to seven pages (as tests/test_events_stream.py)."""
    import datetime as dt

    start = dt.datetime(2026, 1, 2)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            at = (start + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M")
            if i % 5 == 0:
                ev = {"at": at, "person": f"p{i % 100}@example.com", "trigger": "fills out form",
                      "name": "Contact Us"}
            else:
                ev = {"at": at, "person": f"p{i % 100}@example.com", "trigger": "visits web page",
                      "name": f"/page/{i % 7}"}
            f.write(json.dumps(ev) + "\n")


def events(sizes: list[int]) -> list[dict]:
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        prog = Path(tmp) / "p.campaign"
        prog.write_text(EVENTS_PROGRAM, encoding="utf-8")
        for n in sizes:
            path = Path(tmp) / f"ev{n}.jsonl"
            write_events(path, n)
            row: dict = {"events": n, "file_bytes": path.stat().st_size}
            for mode in ("list", "replay", "small cache"):
                db = Path(tmp) / f"s{n}.db"
                if db.exists():
                    db.unlink()
                out = subprocess.run([sys.executable, "-c", EVENTS, str(prog), str(path), mode, str(db)],
                                     capture_output=True, text=True, timeout=7200)
                if out.returncode != 0:
                    raise SystemExit(out.stderr)
                count, runs, elapsed, grown = out.stdout.split()
                row[mode] = {"seconds": float(elapsed), "peak_bytes": int(grown), "runs": int(runs)}
            path.unlink()
            rows.append(row)
    return rows


def _time_parse(text: str) -> float:
    from campaignlang.parse import parse

    t = time.perf_counter()
    parse(text, "x.campaign")
    return time.perf_counter() - t


def linearity(n: int) -> list[dict]:
    from bench_parse import PROGRAM

    rows = []
    for name, make in PATHOLOGICAL.items():
        small, large = _time_parse(make(n)), _time_parse(make(4 * n))
        rows.append({"input": name, "n": n, "seconds_n": small, "seconds_4n": large,
                     "ratio_4n_over_n": large / small if small else None})
    size = len(PATHOLOGICAL["escaped quotes"](n))
    valid = "".join(PROGRAM.format(n=i) for i in range(max(1, size // 1100)))
    rows.append({"input": "valid program (baseline)", "n": len(valid), "seconds_n": _time_parse(valid),
                 "seconds_4n": None, "ratio_4n_over_n": None})
    return rows


def memory(sources: dict[str, str], driver: str = "fast") -> list[dict]:
    """``check`` of each source in a fresh process; ``driver="lark"``: the
    parse by Lark's own driver (the baseline of the fast one)."""
    import tempfile

    rows = []
    for name, text in sources.items():
        with tempfile.NamedTemporaryFile("w", suffix=".campaign", delete=False, encoding="utf-8") as f:
            f.write(text)
        out = subprocess.run([sys.executable, "-c", MEASURE, f.name, driver], capture_output=True, text=True,
                             timeout=3600)
        Path(f.name).unlink()
        size, elapsed, grown, diags, cpu = out.stdout.split()
        rows.append({"source": name, "driver": driver, "bytes": int(size), "seconds": float(elapsed),
                     "cpu_seconds": float(cpu), "mb_per_second": int(size) / float(elapsed) / 1e6,
                     "mb_per_cpu_second": int(size) / float(cpu) / 1e6,
                     "memory_bytes_per_source_byte": float(grown) / int(size), "diagnostics": int(diags)})
    return rows


#: a valid program naming its My Tokens apart (as a file of many teams'
#: programs does): the checker's token passes were quadratic in such a file
def _apart(i: int) -> str:
    from bench_parse import PROGRAM

    return PROGRAM.format(n=i).replace("my.Score", f"my.Score{i}").replace("Event Name", f"Event Name {i}")


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _check_once(path: str, driver: str, pythonpath: str | None) -> dict:
    """One ``check`` of the file at ``path`` in a fresh process (MEASURE),
    with the 1-minute load average of the machine before and after."""
    import os

    env = dict(os.environ)
    if pythonpath:   # the previous version of the package comes first on the path
        env["PYTHONPATH"] = pythonpath
    before = _load()
    out = subprocess.run([sys.executable, "-c", MEASURE, path, driver], capture_output=True, text=True,
                         timeout=3600, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    size, elapsed, grown, diags, cpu = out.stdout.split()
    return {"bytes": int(size), "seconds": float(elapsed), "cpu_seconds": float(cpu),
            "memory_bytes_per_source_byte": float(grown) / int(size), "diagnostics": int(diags),
            "load_before": before, "load_after": _load()}


def previous_version(rev: str, into: Path) -> Path:
    """The package as it was at git revision ``rev``, laid out under ``into``
    as pyproject.toml installs it (interpreter/ is campaignlang, stdlib/ and
    grammar/ its subpackages): a folder to put first on PYTHONPATH."""
    import io
    import tarfile

    archive = subprocess.run(["git", "archive", rev, "interpreter", "stdlib", "grammar"], cwd=HERE.parent,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / "tree")   # noqa: S202 - our own repository's files
    pkg = into / "campaignlang"
    (into / "tree" / "interpreter").rename(pkg)
    (into / "tree" / "stdlib").rename(pkg / "stdlib")
    (into / "tree" / "grammar").rename(pkg / "grammar")
    return into


def throughput(sizes_mb: list[int], runs: int = 1, previous: str | None = None) -> list[dict]:
    """``check`` of generated valid programs of 1, 2, 4, 8 MB, each in a
    fresh process, ``runs`` times (the sizes and drivers interleaved, so a
    burst of load on the machine falls on all of them): the fast driver and,
    in the same run, Lark's own driver (the baseline), and with ``previous``
    (a git revision) the package as it was then; then programs that name
    their My Tokens apart, by the fast driver and the previous version (at
    1 MB only: it was quadratic there). Each row holds the medians of its
    runs, and every run with the load average around it."""
    import statistics
    import tempfile

    from bench_parse import PROGRAM

    with tempfile.TemporaryDirectory() as tmp:
        prev = str(previous_version(previous, Path(tmp) / "previous")) if previous else None
        cases = []   # (source name, file, driver, PYTHONPATH)
        for shape, make, drivers in (
                ("valid program", lambda i: PROGRAM.format(n=i), ["lark", "fast"] + (["previous"] if prev else [])),
                ("tokens named apart", _apart, ["fast"] + (["previous"] if prev else []))):
            for mb in sizes_mb:
                text = "".join(make(i) for i in range(mb * 900))
                path = Path(tmp) / f"{shape.replace(' ', '_')}_{mb}.campaign"
                path.write_text(text, encoding="utf-8")
                for driver in drivers:
                    if shape == "tokens named apart" and driver == "previous" and mb > 1:
                        continue   # quadratic: 7 s at 1 MB, 25 s at 2 MB
                    cases.append((f"{shape}, {len(text) // 1000} kB", str(path), driver,
                                  prev if driver == "previous" else None))
        done: dict[tuple[str, str], list[dict]] = {}
        for _ in range(runs):
            for name, path, driver, pythonpath in cases:
                done.setdefault((name, driver), []).append(
                    _check_once(path, "fast" if driver == "previous" else driver, pythonpath))
    rows = []
    for (name, driver), got in done.items():
        med = {key: statistics.median(r[key] for r in got)
               for key in ("seconds", "cpu_seconds", "memory_bytes_per_source_byte")}
        size = got[0]["bytes"]
        rows.append({"source": name, "driver": driver, "bytes": size, **med,
                     "mb_per_second": size / med["seconds"] / 1e6, "mb_per_cpu_second": size / med["cpu_seconds"] / 1e6,
                     "diagnostics": got[0]["diagnostics"], "runs": got})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller inputs")
    ap.add_argument("--only", choices=["linearity", "memory", "throughput", "events"], action="append",
                    help="run these parts alone (repeatable); the others keep their last figures")
    ap.add_argument("--runs", type=int, default=3, help="throughput: runs per size and driver (medians)")
    ap.add_argument("--previous", metavar="REV",
                    help="throughput: also time the package as it was at this git revision")
    opts = ap.parse_args()
    parts = set(opts.only or ["linearity", "memory", "throughput", "events"])
    out = HERE / "results" / "hardening.json"
    results: dict = {}
    if "linearity" in parts:
        results["linearity"] = report_linearity(10_000 if opts.quick else 40_000)
    if "memory" in parts:
        results["memory"] = report_memory(1 if opts.quick else 2)
    if "throughput" in parts:
        results["throughput"] = report_throughput([1, 2] if opts.quick else [1, 2, 4, 8], opts.runs, opts.previous)
    if "events" in parts:
        results["events"] = report_events([10_000, 100_000] if opts.quick else [10_000, 100_000, 1_000_000])
    out.parent.mkdir(exist_ok=True)
    kept = json.loads(out.read_text()) if out.exists() else {}   # read now: another part may run meanwhile
    out.write_text(json.dumps({**kept, **results}, indent=2) + "\n")


def report_linearity(n: int) -> list[dict]:
    lin = linearity(n)
    print(f"{'input':28s} {'N':>8s} {'t(N) s':>9s} {'t(4N) s':>9s} {'ratio':>6s}")
    for r in lin:
        ratio = f"{r['ratio_4n_over_n']:.1f}" if r["ratio_4n_over_n"] else "-"
        t4 = f"{r['seconds_4n']:.3f}" if r["seconds_4n"] is not None else "-"
        print(f"{r['input']:28s} {r['n']:>8d} {r['seconds_n']:>9.3f} {t4:>9s} {ratio:>6s}")
    print()
    return lin


def report_memory(mb: int) -> list[dict]:
    from bench_parse import PROGRAM

    literal = 'program "P" { description "' + "a" * (mb * 1_000_000) + '" }\n'
    valid = "".join(PROGRAM.format(n=i) for i in range(mb * 900))
    mem = memory({f"{mb} MB string literal": literal, f"valid program, {len(valid) // 1000} kB": valid})
    print(f"{'source':28s} {'bytes':>10s} {'s':>7s} {'MB/s':>6s} {'MB/cpu s':>9s} {'B mem/B src':>12s}")
    for r in mem:
        print(f"{r['source']:28s} {r['bytes']:>10d} {r['seconds']:>7.2f} {r['mb_per_second']:>6.2f} "
              f"{r['mb_per_cpu_second']:>9.2f} {r['memory_bytes_per_source_byte']:>12.1f}")
    print()
    return mem


def report_throughput(sizes_mb: list[int], runs: int, previous: str | None) -> list[dict]:
    rows = throughput(sizes_mb, runs, previous)
    print(f"check, medians of {runs} runs    {'driver':>8s} {'s':>7s} {'cpu s':>7s} {'MB/s':>6s} "
          f"{'MB/cpu s':>9s} {'B mem/B src':>12s} {'load':>10s}")
    for r in rows:
        loads = [x for run in r["runs"] for x in (run["load_before"], run["load_after"])]
        print(f"{r['source']:31s} {r['driver']:>8s} {r['seconds']:>7.2f} {r['cpu_seconds']:>7.2f} "
              f"{r['mb_per_second']:>6.2f} {r['mb_per_cpu_second']:>9.2f} {r['memory_bytes_per_source_byte']:>12.1f} "
              f"{min(loads):>4.1f}-{max(loads):<4.1f}")
    valid = [r for r in rows if r["source"].startswith("valid program")]
    fast = [r for r in valid if r["driver"] == "fast"]
    for other in ("lark", "previous"):
        for a, b in zip([r for r in valid if r["driver"] == other], fast):
            print(f"  {b['bytes'] / 1e6:.1f} MB: fast / {other} = x{a['cpu_seconds'] / b['cpu_seconds']:.2f} "
                  f"(cpu), x{a['seconds'] / b['seconds']:.2f} (wall)")
    print(f"  cost per MB, {fast[0]['bytes'] / 1e6:.0f} MB -> {fast[-1]['bytes'] / 1e6:.0f} MB: "
          f"x{(fast[-1]['cpu_seconds'] / fast[-1]['bytes']) / (fast[0]['cpu_seconds'] / fast[0]['bytes']):.2f} "
          f"(1.0 is linear)")
    print()
    return rows


def report_events(sizes: list[int]) -> list[dict]:
    ev = events(sizes)
    print(f"{'events':>9s} {'replay s':>9s} {'replay MB':>10s} {'2 MB cache MB':>14s} {'list MB (baseline)':>19s}")
    for r in ev:
        print(f"{r['events']:>9d} {r['replay']['seconds']:>9.1f} {r['replay']['peak_bytes'] / 1e6:>10.1f} "
              f"{r['small cache']['peak_bytes'] / 1e6:>14.1f} {r['list']['peak_bytes'] / 1e6:>19.1f}")
    first, last = ev[0], ev[-1]
    print(f"growth from {first['events']} to {last['events']} events: replay peak x"
          f"{last['replay']['peak_bytes'] / max(1, first['replay']['peak_bytes']):.2f} (SQLite's page cache "
          f"fills to its 64 MB), with a 2 MB page cache x"
          f"{last['small cache']['peak_bytes'] / max(1, first['small cache']['peak_bytes']):.2f}, "
          f"list peak x{last['list']['peak_bytes'] / max(1, first['list']['peak_bytes']):.2f}")
    print()
    return ev


if __name__ == "__main__":
    main()
