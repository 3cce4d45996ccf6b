"""Where the store lives (issue 16): the figures behind the choice in
docs/scale.md. ``python bench/bench_store_choice.py [--rows N] [--lookups K]``.

Two costs decide it, each measured on SQLite (the store of record today)
and on a DuckDB file, in the same run, on the same rows:

* **bulk write**: N rows of the store's ``activities`` table (the shape the
  set-based engine writes: ids in order, a person, a type, a campaign, a
  run, the time, an asset, the attributes JSON, old and new) written in one
  transaction. SQLite: the rows made Python tuples (timed apart: that is the
  crossing from a columnar engine into Python) and ``executemany`` into the
  store's own schema (``id INTEGER PRIMARY KEY`` and the ``person`` index).
  DuckDB: ``INSERT INTO activities SELECT ...`` from the Arrow table, with
  and without a primary key (no Python objects at all).
* **point work**: K single-person reads (``SELECT ... WHERE id = ?``) and K
  single-row activity inserts in one transaction, the pattern of the
  per-person engine, the REPL, ``events`` and ``request`` (a handful of such
  statements per person and step).

Prints seconds, rows per second and the ratios; writes
bench/results/store_choice.json. Needs the ``sets`` extra (duckdb, pyarrow).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

_ACTIVITIES_SQLITE = """
CREATE TABLE activities (id INTEGER PRIMARY KEY, person INTEGER, type TEXT NOT NULL,
                         campaign TEXT, run INTEGER, at TEXT NOT NULL, asset TEXT,
                         attributes TEXT NOT NULL, old TEXT, new TEXT);
CREATE INDEX activities_person ON activities (person);
CREATE TABLE people (id INTEGER PRIMARY KEY, email_key TEXT UNIQUE, deleted INTEGER NOT NULL DEFAULT 0,
                     "f_country" TEXT, "f_score" INTEGER);
"""

_COLUMNS = ("id BIGINT{pk}, person BIGINT, type VARCHAR NOT NULL, campaign VARCHAR, run BIGINT, "
            "\"at\" VARCHAR NOT NULL, asset VARCHAR, attributes VARCHAR NOT NULL, old VARCHAR, new VARCHAR")

_TYPES = ("Change Data Value", "Change Score", "Add to List", "Send Email", "Execute Campaign")


def rows(n: int):
    """N activity rows as an Arrow table, made by DuckDB (five types, two campaigns,
    attributes JSON of the store's shape, old/new on a third of them)."""
    import duckdb

    con = duckdb.connect()
    types = "[" + ", ".join(f"'{t}'" for t in _TYPES) + "]"
    table = con.sql(f"""
        SELECT i + 1 AS id, i // 6 + 1 AS person, {types}[i % 5 + 1] AS type,
               CASE WHEN i % 7 = 0 THEN '"Bench"."Child"' ELSE '"Bench"."Batch"' END AS campaign,
               i // 6 + 1 AS run, '2026-01-01T00:00:00' AS at,
               CASE WHEN i % 5 = 2 THEN '"Bench"."Processed"' ELSE NULL END AS asset,
               '{{"field": "Region", "reason": "' || (i % 97)::VARCHAR || '"}}' AS attributes,
               CASE WHEN i % 3 = 0 THEN '"' || (i % 1000)::VARCHAR || '"' ELSE NULL END AS old,
               CASE WHEN i % 3 = 0 THEN '"' || (i % 1009)::VARCHAR || '"' ELSE NULL END AS new
        FROM range({n}) t(i) ORDER BY id""").to_arrow_table()
    con.close()
    return table


def sqlite_write(path: str, table) -> dict[str, float]:
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(_ACTIVITIES_SQLITE)
    t = time.perf_counter()
    tuples = []
    for batch in table.to_batches(100_000):
        tuples.extend(zip(*(c.to_pylist() for c in batch.columns)))
    to_python = time.perf_counter() - t
    t = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", tuples)
    db.execute("COMMIT")
    insert = time.perf_counter() - t
    db.close()
    return {"to_python": to_python, "insert": insert, "total": to_python + insert}


def duckdb_write(path: str, table, pk: bool) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(path)
    con.execute(f"CREATE TABLE activities ({_COLUMNS.format(pk=' PRIMARY KEY' if pk else '')})")
    con.register("incoming", table)
    t = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO activities SELECT * FROM incoming")
    con.execute("COMMIT")
    insert = time.perf_counter() - t
    con.close()
    return {"to_python": 0.0, "insert": insert, "total": insert}


def point_work(kind: str, path: str, k: int) -> dict[str, float]:
    """K reads of one person and K one-row activity inserts, one transaction."""
    people = [(i, f"p{i}@example.com", 0, "US" if i % 2 else "DE", i % 100) for i in range(1, k + 1)]
    if kind == "sqlite":
        db: object = sqlite3.connect(path, isolation_level=None)
        db.executescript(_ACTIVITIES_SQLITE)   # type: ignore[attr-defined]
        db.execute("BEGIN")   # type: ignore[attr-defined]
        db.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)", people)   # type: ignore[attr-defined]
        db.execute("COMMIT")   # type: ignore[attr-defined]
    else:
        import duckdb
        db = duckdb.connect(path)
        db.execute(f"CREATE TABLE activities ({_COLUMNS.format(pk=' PRIMARY KEY')})")   # type: ignore[attr-defined]
        db.execute("CREATE TABLE people (id BIGINT PRIMARY KEY, email_key VARCHAR UNIQUE, deleted BIGINT, "   # type: ignore[attr-defined]
                   "f_country VARCHAR, f_score BIGINT)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)", people)   # type: ignore[attr-defined]
    t = time.perf_counter()
    for i in range(1, k + 1):
        db.execute("SELECT id, f_country, f_score FROM people WHERE id = ?", (i,)).fetchone()   # type: ignore[attr-defined]
    reads = time.perf_counter() - t
    t = time.perf_counter()
    db.execute("BEGIN TRANSACTION" if kind == "duckdb" else "BEGIN")   # type: ignore[attr-defined]
    for i in range(1, k + 1):
        db.execute("INSERT INTO activities VALUES (?, ?, 'Send Email', '\"B\".\"C\"', ?, "   # type: ignore[attr-defined]
                   "'2026-01-01T00:00:00', NULL, '{}', NULL, NULL)", (i, i, i))
    db.execute("COMMIT")   # type: ignore[attr-defined]
    inserts = time.perf_counter() - t
    db.close()   # type: ignore[attr-defined]
    return {"reads": reads, "inserts": inserts, "per_read_us": reads / k * 1e6,
            "per_insert_us": inserts / k * 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000,
                    help="activity rows to write (a million people's batch writes about 5.5 million)")
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--out", default=str(HERE / "results" / "store_choice.json"))
    args = ap.parse_args(argv)
    table = rows(args.rows)
    out: dict[str, object] = {"rows": args.rows, "lookups": args.lookups,
                              "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        write = {
            "sqlite": sqlite_write(os.path.join(tmp, "a.db"), table),
            "duckdb": duckdb_write(os.path.join(tmp, "a.duckdb"), table, pk=False),
            "duckdb_pk": duckdb_write(os.path.join(tmp, "b.duckdb"), table, pk=True),
        }
        point = {kind: point_work(kind, os.path.join(tmp, f"p.{kind}"), args.lookups)
                 for kind in ("sqlite", "duckdb")}
    out["write"] = write
    out["point"] = point
    out["write_sqlite_over_duckdb"] = write["sqlite"]["total"] / write["duckdb"]["total"]
    out["read_duckdb_over_sqlite"] = point["duckdb"]["reads"] / point["sqlite"]["reads"]
    out["insert_duckdb_over_sqlite"] = point["duckdb"]["inserts"] / point["sqlite"]["inserts"]
    print(f"bulk write of {args.rows:,} activity rows (load average {out['load_average']:.1f}):")
    for kind, w in write.items():
        print(f"  {kind:10} {w['total']:7.2f} s  ({args.rows / w['total']:>12,.0f} rows/s; "
              f"to Python {w['to_python']:.2f} s, insert {w['insert']:.2f} s)")
    print(f"point work, {args.lookups:,} reads and {args.lookups:,} one-row inserts:")
    for kind, p in point.items():
        print(f"  {kind:10} read {p['per_read_us']:7.1f} us  insert {p['per_insert_us']:7.1f} us")
    print(f"SQLite/DuckDB bulk write: {out['write_sqlite_over_duckdb']:.1f}x; DuckDB/SQLite point read: "
          f"{out['read_duckdb_over_sqlite']:.1f}x, point insert: {out['insert_duckdb_over_sqlite']:.1f}x")
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
