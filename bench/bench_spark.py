"""Spark benchmark (issue 16). Run by hand: python bench/bench_spark.py

The batch of bench_engine.py (three filters, six steps with a choice and an
``execute campaign ... use parent token context`` of a two-step child) over
100,000 people (``--people N``), run in one process on identical in-memory
copies of one store by:

* the set-based engine on DuckDB (``run_batch(engine="duckdb")``): the
  baseline;
* the set-based engine on Spark, ``local[2]`` (the session started, and
  warmed by a run over 1,000 people, before timing; both reported apart);
* the per-person engine (the reference);

and, from the same people written as Parquet (``--out`` of
``campaign run --people parquet:``), the run over Parquet people on DuckDB
and on Spark, results written as Parquet. The stores must end up identical
(activity log included) and the Parquet activity logs equal. Prints seconds
and the ratios against DuckDB, writes bench/results/spark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engine import PROGRAM, populate  # noqa: E402

from campaignlang.api import compile_text  # noqa: E402
from campaignlang.clock import iso  # noqa: E402
from campaignlang.engine import Engine  # noqa: E402
from campaignlang.sets.backend import DuckDBBackend  # noqa: E402
from campaignlang.sets.parquet import ParquetPeople, write_results  # noqa: E402
from campaignlang.sets.spark import SparkBackend, session  # noqa: E402
from campaignlang.store import Store  # noqa: E402


def _snapshot(store: Store) -> tuple:
    store.flush()
    return (store.activity_log_jsonl(),
            *(store.db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
              for t in ("people", "list_members", "runs")))


def _export_people(store: Store, folder: Path) -> None:
    """The store's people as Parquet, columns named as the fields."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = {"email address": "Email Address", "first name": "First Name", "country": "Country",
             "lead score": "Lead Score", "unsubscribed": "Unsubscribed", "lead status": "Lead Status"}
    cols = ", ".join(f'"{store.columns[k]}"' for k in names)
    rows = store.db.execute(f"SELECT {cols} FROM people ORDER BY id").fetchall()
    data = list(zip(*rows))
    types = [pa.string(), pa.string(), pa.string(), pa.int64(), pa.bool_(), pa.string()]
    arrays = [pa.array([None if v is None else bool(v) for v in c], t) if t == pa.bool_() else pa.array(c, t)
              for c, t in zip(data, types)]
    folder.mkdir(parents=True)
    table = pa.table(dict(zip(names.values(), arrays)))
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), folder / "part-0.parquet")
    pq.write_table(table.slice(half), folder / "part-1.parquet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/spark.json")
    args = ap.parse_args()

    program = compile_text(PROGRAM, "bench.campaign")
    base = Store(":memory:")
    Engine(program, base)
    populate(base, args.people)
    out: dict = {"people": args.people, "master": "local[2]", "python": sys.version.split()[0]}

    t = time.perf_counter()
    spark = session("local[2]", {"spark.driver.memory": "2g"}, app_name="campaignlang-bench")
    spark.sql("SELECT 1").collect()
    out["spark_startup_seconds"] = time.perf_counter() - t
    # a first run warms the JVM (class loading, code generation): 1,000 people, timed apart
    small = Store(":memory:")
    Engine(program, small)
    populate(small, 1000)
    t = time.perf_counter()
    warm = SparkBackend(spark)
    Engine(program, small).run_batch("Bench/Batch", engine="spark", backend=warm)
    warm.close()
    out["spark_warmup_seconds"] = time.perf_counter() - t

    timings: dict[str, float] = {}
    snapshots = {}
    for name in ("duckdb", "spark", "python"):
        engine = Engine(program, base.copy_to_memory())
        backend = DuckDBBackend() if name == "duckdb" else SparkBackend(spark) if name == "spark" else None
        t = time.perf_counter()
        if backend is None:
            result = engine.run_batch("Bench/Batch")
        else:
            result = engine.run_batch("Bench/Batch", engine=name, backend=backend)
        timings[name] = time.perf_counter() - t
        out["entered"] = len(result.entered)
        snapshots[name] = _snapshot(engine.store)
        if backend is not None:
            backend.close()
    out["same_store"] = snapshots["duckdb"] == snapshots["spark"] == snapshots["python"]

    # people in Parquet, results as Parquet
    tmp = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        _export_people(base, tmp / "people")
        logs = {}
        for name in ("duckdb", "spark"):
            engine = Engine(program, Store(":memory:"))
            inner = DuckDBBackend() if name == "duckdb" else SparkBackend(spark)
            backend = ParquetPeople(inner, str(tmp / "people"), engine.model, engine.store.columns,
                                    engine.store.field_types, iso(engine.clock.now), out=str(tmp / f"out-{name}"))
            t = time.perf_counter()
            done = engine.run_batch("Bench/Batch", engine=name, backend=backend)
            write_results(backend, engine.store, str(tmp / f"out-{name}"), engine.model, done.written or {})
            timings[f"parquet_{name}"] = time.perf_counter() - t
            import pyarrow.parquet as pq
            logs[name] = pq.read_table(tmp / f"out-{name}" / "activities").to_pylist()
            backend.close()
        out["same_parquet_log"] = logs["duckdb"] == logs["spark"]
        out["parquet_activities"] = len(logs["spark"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    spark.stop()

    out["seconds"] = timings
    out["ratio_spark_to_duckdb"] = timings["spark"] / timings["duckdb"]
    out["ratio_python_to_duckdb"] = timings["python"] / timings["duckdb"]
    out["ratio_parquet_spark_to_parquet_duckdb"] = timings["parquet_spark"] / timings["parquet_duckdb"]
    out["load_average"] = os.getloadavg()[0]
    print(f"{args.people:,} people, {out['entered']:,} entered; Spark start-up {out['spark_startup_seconds']:.1f} s, "
          f"warm-up run {out['spark_warmup_seconds']:.1f} s (not counted); load average {out['load_average']:.1f}")
    print(f"{'':28}{'seconds':>10}{'x DuckDB':>10}")
    for name, s in timings.items():
        base_s = timings["parquet_duckdb"] if name.startswith("parquet") else timings["duckdb"]
        print(f"{name:28}{s:>10.2f}{s / base_s:>10.2f}")
    print(f"same store on all three engines: {out['same_store']}; same Parquet activity log: "
          f"{out['same_parquet_log']} ({out['parquet_activities']:,} activities)")
    if not args.no_write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "spark.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
