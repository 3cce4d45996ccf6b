"""Fuzz campaignlang by hand: python bench/fuzz.py N [--jobs J] [--seed S] [--out DIR]

Runs N cases of the fuzz property (tests/fuzzing.py: parse, check, fmt,
test, run and plan raise nothing but CampaignError, and every diagnostic's
span lies inside its file) over mutated sources, generated syntax trees,
coherent programs and the attack classes of issue 14 (nested My Tokens,
deep and long logic, many filters, smart-list chains, huge literals,
control characters and lone surrogates, unclosed strings of escaped quotes,
folders of symbolic links, loops and FIFOs), in J processes. A worker whose
peak memory passes 1 GB records a finding. A case that crashes, breaks the property
or takes longer than --timeout seconds of CPU time (or, blocked, six times as long
on the wall clock, at least a minute) is written to DIR (default
bench/results/fuzz-crashes/) and listed, one line per distinct crash site.
Prints the number of cases run and of crashes; exits 1 when there is one.
CI runs the same property on a couple of thousand cases (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


class Timeout(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise Timeout("wall clock: blocked" if signum == signal.SIGALRM else "CPU time")


# A hang is measured in the worker's CPU time (SIGPROF): on a shared machine,
# and niced, a case can wait for a core far longer than it works, which is no
# hang. A case blocked without working (a read from a FIFO) spends no CPU: a
# wall-clock alarm of WALL_FACTOR times the timeout (at least a minute) ends it.
WALL_FACTOR = 6


def _site(exc: BaseException) -> str:
    """Where a crash happened: the innermost frame inside campaignlang."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "/interpreter/" in f.filename or "/stdlib/" in f.filename]
    f = (inside or frames or [None])[-1]
    where = f"{Path(f.filename).name}:{f.lineno}" if f is not None else "?"
    return f"{type(exc).__name__} at {where}"


def worker(args: tuple[int, int, int, str, float]) -> dict:
    count, seed, job, out, timeout = args
    memory_limit = 1 << 30   # issue 14: no process over 1 GB (the peak so far, checked after each case)
    from hypothesis import HealthCheck, Phase, given, seed as hseed, settings
    from hypothesis import strategies as st

    import fuzzing

    out_dir = Path(out)
    crashes: dict[str, dict] = {}
    ran = [0]
    stages: dict[str, int] = {}
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPROF, _alarm)
    wall = max(60, int(WALL_FACTOR * timeout))

    trees = st.lists(st.sampled_from(fuzzing.TREE_KINDS), min_size=1, max_size=6)

    @hseed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(fuzzing.mutated(), fuzzing.generated(), fuzzing.coherent(), fuzzing.attacks(), trees))
    def run(text: "str | list[str]") -> None:
        ran[0] += 1
        signal.setitimer(signal.ITIMER_PROF, timeout)
        signal.alarm(wall)
        try:
            if isinstance(text, list):   # a folder of symbolic links, loops and FIFOs
                fuzzing.exercise_tree(text)
                stages["tree"] = stages.get("tree", 0) + 1
                return
            done = fuzzing.exercise(text)
            for k, v in done.items():
                stages[k] = stages.get(k, 0) + v
        except Timeout as exc:
            _record(crashes, out_dir, f"hang ({exc})", text if isinstance(text, str) else repr(text), exc)
        except BaseException as exc:   # noqa: BLE001 - every escape is a finding
            if isinstance(exc, KeyboardInterrupt):
                raise
            _record(crashes, out_dir, _site(exc), text if isinstance(text, str) else repr(text), exc)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.alarm(0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if peak > memory_limit:
            _record(crashes, out_dir, "memory over the limit", text if isinstance(text, str) else repr(text),
                    MemoryError(f"{peak / 1e9:.2f} GB"))

    run()
    return {"ran": ran[0], "crashes": crashes, "stages": stages}


def _record(crashes: dict, out_dir: Path, site: str, text: str, exc: BaseException) -> None:
    entry = crashes.setdefault(site, {"count": 0, "file": None, "message": ""})
    entry["count"] += 1
    if entry["file"] is None or len(text) < entry["size"]:
        out_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(site.encode()).hexdigest()[:10]
        path = out_dir / f"crash-{digest}.campaign"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        (out_dir / f"crash-{digest}.txt").write_text(
            site + "\n" + "".join(traceback.format_exception(exc)), encoding="utf-8")
        entry.update(file=str(path), size=len(text), message=f"{type(exc).__name__}: {str(exc)[:200]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", type=int, nargs="?", default=1000)
    ap.add_argument("--jobs", type=int, default=mp.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds of CPU time per case before it counts as a hang")
    ap.add_argument("--out", default=str(HERE / "results" / "fuzz-crashes"))
    ap.add_argument("--chunk", type=int, default=2000, help="cases per worker task")
    opts = ap.parse_args(argv)

    tasks = []
    left, n = opts.cases, 0
    while left > 0:
        k = min(opts.chunk, left)
        tasks.append((k, opts.seed * 1_000_003 + n, n, opts.out, opts.timeout))
        left -= k
        n += 1
    start = time.monotonic()
    total, crashes, stages = 0, {}, {}
    with mp.Pool(max(1, opts.jobs)) as pool:
        for res in pool.imap_unordered(worker, tasks):
            total += res["ran"]
            for k, v in res["stages"].items():
                stages[k] = stages.get(k, 0) + v
            for site, entry in res["crashes"].items():
                have = crashes.setdefault(site, {"count": 0, "file": entry["file"], "message": entry["message"]})
                have["count"] += entry["count"]
            print(f"  {total} cases, {sum(c['count'] for c in crashes.values())} crashing, "
                  f"{time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - start
    print(f"fuzz: {total} cases in {elapsed:.0f} s, {len(crashes)} distinct crash sites "
          f"({sum(c['count'] for c in crashes.values())} crashing cases)")
    print("stages reached: " + json.dumps(stages, sort_keys=True))
    for site, entry in sorted(crashes.items()):
        print(f"  {entry['count']:>6}  {site}: {entry['message']}  -> {entry['file']}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
