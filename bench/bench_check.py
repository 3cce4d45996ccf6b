"""Checker benchmark (issue 3). Run by hand: python bench/bench_check.py

Generates programs of 1,000 and 10,000 campaigns -- each program a batch
campaign that executes a chain of three executables through choices (with
and without parent token context), My Tokens in folders and programs,
emails with tokens, smart list assets, lists -- and times ``check`` on the
loaded modules (median of 3 runs each), then the ratio of the two. Parsing
and loading are timed apart, for information: the target is the checker's
(10,000 campaigns in under 5 s, the ratio under 12x for 10x the size).

For scale, the table shows two floors measured on the same trees: one bare
``ast.walk`` over every node, and a loop that only reads one attribute of
each campaign and step (the memory traffic of a pass, with no work). Memory,
not the algorithm, is what grows faster than linearly: a program of 1,000
campaigns stays in the processor's caches between passes, one of 10,000
does not, so even the empty loop costs more per campaign at 10,000.

Prints a table and writes bench/results/check.json. ``--sizes 100,1000``
runs other sizes (the first two give the ratio).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

from campaignlang import ast
from campaignlang.check import check
from campaignlang.loader import load_text

HERE = Path(__file__).resolve().parent

# Four campaigns per program: a batch start and a chain of three executables.
PROGRAM = '''    program "Program {n}" {{
        tokens {{
            my.Score = +{n}
            my."Event Name" = "Event {n}"
        }}
        list "Attendees {n}"
        smart list "Engaged {n}" any {{
            filter lead."Lead Score" >= 50
            filter member of list "Attendees {n}"
        }}
        email "Invite {n}" {{
            subject "Join {{{{my.Event Name}}}}"
            body "Hi {{{{lead.First Name:default=there}}}}, from {{{{my.Owner}}}}"
        }}
        campaign "Start {n}" batch {{
            smart list logic "1 and (2 or 3)" {{
                filter lead.Country is "US", "CA"
                filter member of smart list "Engaged {n}"
                filter lead."Created At" in past 30 days
            }}
            flow {{
                send email "Invite {n}"
                execute campaign {{
                    if lead."Lead Score" >= 100 then "Program {n}"."Route {n}" use parent token context
                    else if member of list "Attendees {n}" then "Route {n}"
                    else do nothing
                }}
            }}
        }}
        campaign "Route {n}" executable {{
            smart list {{ filter lead."Lead Status" is not "Disqualified" }}
            flow {{
                change data value lead.Country {{
                    if lead.Country is "USA" then to "US"
                    else to "{{{{my.Event Name}}}}"
                }}
                execute campaign "Score {n}" use parent token context
            }}
            qualify every time
        }}
        campaign "Score {n}" executable {{
            flow {{
                change score lead."Lead Score" by {{{{my.Score}}}}
                execute campaign "Tag {n}" use parent token context
            }}
        }}
        campaign "Tag {n}" executable {{
            flow {{
                add to list "Attendees {n}"
                interesting moment milestone "Scored by {{{{my.Score}}}}"
            }}
        }}
    }}
'''

FOLDER_SIZE = 25   # programs per folder


def generate(campaigns: int) -> str:
    programs = campaigns // 4
    out = ['workspace "Bench" {', '    tokens { my.Owner = "ops@example.com" }']
    for f in range(0, programs, FOLDER_SIZE):
        out.append(f'    folder "Folder {f // FOLDER_SIZE}" {{')
        out.append(f"        tokens {{ my.Region = \"R{f}\" }}")
        for n in range(f, min(f + FOLDER_SIZE, programs)):
            out.append(PROGRAM.format(n=n))
        out.append("    }")
    out.append("}")
    return "\n".join(out) + "\n"


def median_time(fn, runs: int = 3) -> tuple[float, object]:
    """Median wall time of ``fn``; as ``timeit`` does, the collector runs
    before each run and is off during it (so a run does not pay for the
    garbage of the parse before it)."""
    times = []
    result = None
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            c0 = time.process_time()
            result = fn()
            CPU.append(time.process_time() - c0)
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return statistics.median(times), result


#: CPU times of the runs of the last ``median_time`` (steadier than wall
#: time on a shared machine, where other processes take turns on the cores)
CPU: list[float] = []


def walk_all(loaded) -> int:
    """A floor: one bare walk over every node of the loaded modules."""
    return sum(1 for m in loaded.modules for _ in ast.walk(m))


def touch_all(result) -> int:
    """Another: read one attribute of each campaign and each of its flow's
    steps -- no work at all but the memory traffic of a pass."""
    return sum(len(c.node.kind) + sum(1 for s in c.steps if type(s) is ast.Choice)
               for c in result.model.campaigns)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        text = generate(size)
        t0 = time.perf_counter()
        loaded = load_text(text, f"bench-{size}.campaign")
        load_s = time.perf_counter() - t0
        assert loaded.ok, loaded.diagnostics[:3]
        CPU.clear()
        check_s, result = median_time(lambda: check(loaded), args.runs)
        check_cpu = statistics.median(CPU)
        walk_s, _ = median_time(lambda: walk_all(loaded), args.runs)
        touch_s, _ = median_time(lambda: touch_all(result), max(args.runs, 5))
        assert len(result.model.campaigns) == size, len(result.model.campaigns)
        assert result.ok, [(d.code, d.message) for d in result.errors[:3]]
        rows.append({"campaigns": size, "lines": text.count("\n"), "parse_load_seconds": load_s,
                     "check_seconds": check_s, "check_cpu_seconds": check_cpu,
                     "bare_walk_seconds": walk_s, "touch_seconds": touch_s,
                     "diagnostics": len(result.diagnostics)})
        print(f"{size:>7} campaigns  {text.count(chr(10)):>7} lines  parse+load {load_s:7.2f} s  "
              f"check {check_s:6.3f} s (cpu {check_cpu:6.3f} s)  bare AST walk {walk_s:6.3f} s  touch {touch_s * 1000:6.2f} ms "
              f"(medians)", flush=True)
    report: dict[str, object] = {"sizes": rows}
    if len(rows) >= 2:
        ratio = rows[1]["check_seconds"] / rows[0]["check_seconds"]
        cpu_ratio = rows[1]["check_cpu_seconds"] / rows[0]["check_cpu_seconds"]
        scale = rows[1]["campaigns"] / rows[0]["campaigns"]
        walk_ratio = rows[1]["bare_walk_seconds"] / rows[0]["bare_walk_seconds"]
        touch_ratio = rows[1]["touch_seconds"] / rows[0]["touch_seconds"]
        report.update(ratio=ratio, cpu_ratio=cpu_ratio, bare_walk_ratio=walk_ratio, touch_ratio=touch_ratio)
        print(f"check ratio {ratio:.2f}x (cpu {cpu_ratio:.2f}x) for {scale:.0f}x the campaigns "
              f"(target: under 12x; 10,000 campaigns under 5 s)")
        print(f"floors on this machine: a bare AST walk scales {walk_ratio:.2f}x, "
              f"touching each campaign and step once {touch_ratio:.2f}x")
    if not args.no_write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "check.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
