"""Hardening benchmarks (issue 14, items 3 and 7). Run by hand:
python bench/bench_hardening.py [--quick]

* Linearity of the parser on pathological input: ``program "P" {
  description "`` followed by N escaped quotes (and other unclosed shapes),
  timed at N and 4N; the ratio is ~4 when the parse is linear (it was ~16).
  Baseline in the same run: a valid program of the same size.
* Memory per byte of source and throughput of ``check``: a 1 MB string
  literal and a generated valid program, each checked in a fresh process;
  peak resident memory above the same process's after imports, divided by
  the source's size, and megabytes of source per second.

Prints a table and writes bench/results/hardening.json.
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
import sys, time
from campaignlang.api import check_text

def kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

text = open(sys.argv[1], encoding="utf-8").read()
base = kb("VmRSS:")
t = time.perf_counter()
result = check_text(text)
elapsed = time.perf_counter() - t
peak = kb("VmHWM:")
print(len(text.encode()), elapsed, (peak - base) * 1024, len(result.diagnostics))
'''


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


def memory(sources: dict[str, str]) -> list[dict]:
    import tempfile

    rows = []
    for name, text in sources.items():
        with tempfile.NamedTemporaryFile("w", suffix=".campaign", delete=False, encoding="utf-8") as f:
            f.write(text)
        out = subprocess.run([sys.executable, "-c", MEASURE, f.name], capture_output=True, text=True,
                             timeout=3600)
        Path(f.name).unlink()
        size, elapsed, grown, diags = out.stdout.split()
        rows.append({"source": name, "bytes": int(size), "seconds": float(elapsed),
                     "mb_per_second": int(size) / float(elapsed) / 1e6,
                     "memory_bytes_per_source_byte": float(grown) / int(size), "diagnostics": int(diags)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller inputs")
    opts = ap.parse_args()
    from bench_parse import PROGRAM

    n = 10_000 if opts.quick else 40_000
    lin = linearity(n)
    print(f"{'input':28s} {'N':>8s} {'t(N) s':>9s} {'t(4N) s':>9s} {'ratio':>6s}")
    for r in lin:
        ratio = f"{r['ratio_4n_over_n']:.1f}" if r["ratio_4n_over_n"] else "-"
        t4 = f"{r['seconds_4n']:.3f}" if r["seconds_4n"] is not None else "-"
        print(f"{r['input']:28s} {r['n']:>8d} {r['seconds_n']:>9.3f} {t4:>9s} {ratio:>6s}")
    mb = 1 if opts.quick else 2
    literal = 'program "P" { description "' + "a" * (mb * 1_000_000) + '" }\n'
    valid = "".join(PROGRAM.format(n=i) for i in range(mb * 900))
    mem = memory({f"{mb} MB string literal": literal, f"valid program, {len(valid) // 1000} kB": valid})
    print()
    print(f"{'source':28s} {'bytes':>10s} {'s':>7s} {'MB/s':>6s} {'B mem/B src':>12s}")
    for r in mem:
        print(f"{r['source']:28s} {r['bytes']:>10d} {r['seconds']:>7.2f} {r['mb_per_second']:>6.2f} "
              f"{r['memory_bytes_per_source_byte']:>12.1f}")
    out = HERE / "results" / "hardening.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"linearity": lin, "memory": mem}, indent=2) + "\n")


if __name__ == "__main__":
    main()
