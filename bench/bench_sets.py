"""The set-based engine's benchmark (issue 16). Run by hand:
``python bench/bench_sets.py --sizes 100000,1000000`` (``python bench/run.py
--only sets`` runs it with the others).

The batch of bench_engine.py (3 filters, 6 steps with a choice and an
``execute`` of a 2-step child passing its context) over a file store of N
people, three ways, each in its own process (peak memory: ``VmHWM``) on its
own copy of one populated store:

* ``sets``: ``Engine.run_batch(..., engine="duckdb")`` -- read the store into
  Arrow, run the plan on DuckDB, write back into SQLite (phases timed);
* ``engine``: the per-person engine (the reference);
* ``script``: a hand-written DuckDB script doing the same writes -- the same
  columns read into DuckDB, the smart list, the rule and every activity row
  (ids, JSON) computed in one SQL query written for this batch and its data
  (ASCII names: no JSON escaping needed), handed to SQLite with
  ``executemany``: the floor of any engine that keeps SQLite as the store of
  record.

The three stores must end up identical (a hash of every row of the activity
log, people, lists and runs at 100,000 people and below; row counts above).
Prints seconds, ratios, peak memory, the phases of the set-based run and
the growth from one size to the next; writes bench/results/sets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_engine  # noqa: E402

KINDS = ("sets", "engine", "script")


def sq(text: str) -> str:
    """An SQL string literal (the hand-written scripts')."""
    return "'" + text.replace("'", "''") + "'"


def js(value) -> str:
    """Canonical JSON (as ``values.dumps`` writes it) as an SQL string literal."""
    return sq(json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False))


def hand_duckdb(store) -> int:
    """The batch by hand on DuckDB, writing what the engine writes (the caller holds the transaction)."""
    import duckdb
    import pyarrow as pa

    from campaignlang.clock import Clock, iso

    db, c = store.db, store.columns
    now = iso(Clock().now)
    batch, child = '"Bench"."Batch"', '"Bench"."Child"'
    lst, email = '"Bench"."Processed"', '"Bench"."Hello"'
    keys = ["country", "lead score", "behavior score", "first name", "region", "lead status", "unsubscribed"]
    rows = db.execute(f"SELECT id, {', '.join(chr(34) + c[k] + chr(34) for k in keys)} FROM people "
                      f"WHERE deleted = 0").fetchall()
    cols = list(zip(*rows))
    del rows
    folds: dict = {}
    people = pa.table({
        "id": pa.array(cols[0], pa.int64()), "country": pa.array(cols[1], pa.string()),
        "cf": pa.array([None if v is None else folds.setdefault(v, v.casefold()) for v in cols[1]], pa.string()),
        "score": pa.array(cols[2], pa.int64()), "behavior": pa.array(cols[3], pa.int64()),
        "first": pa.array(cols[4], pa.string()), "region": pa.array(cols[5], pa.string()),
        "status": pa.array(cols[6], pa.string()), "unsub": pa.array(cols[7], pa.int64())})
    del cols
    ran = pa.table({"person": pa.array([r[0] for r in db.execute(
        "SELECT person FROM runs WHERE campaign = ?", (batch,))], pa.int64())})
    member = pa.table({"person": pa.array([r[0] for r in db.execute(
        "SELECT person FROM list_members WHERE list = ?", (lst,))], pa.int64())})
    con = duckdb.connect()
    con.register("p", people)
    con.register("ran", ran)
    con.register("member", member)
    run0 = store.run_counter()
    aid0 = (db.execute("SELECT max(id) FROM activities").fetchone()[0] or 0) + 1
    con.execute(f"""
        CREATE TEMP TABLE sel AS
        SELECT p.*, {run0} - 1 + row_number() OVER (ORDER BY p.id) AS run,
               CASE WHEN p.cf IN ('us', 'ca') THEN 'NA' ELSE 'EMEA' END AS new_region,
               EXISTS (SELECT 1 FROM member m WHERE m.person = p.id) AS is_member
        FROM p
        WHERE coalesce(p.cf, '') IN ('us', 'ca', 'de') AND p.score IS NOT NULL AND p.score >= 10
          AND coalesce(p.unsub, 0) = 0 AND NOT EXISTS (SELECT 1 FROM ran r WHERE r.person = p.id)""")
    acts = f"""
        SELECT id AS person, 0 AS slot, 'Change Data Value' AS type, {sq(batch)} AS campaign, run, 'region' AS asset,
               '{{"field":"Region"}}' AS attrs, '"' || region || '"' AS old, '"' || new_region || '"' AS new
          FROM sel WHERE region IS DISTINCT FROM new_region
        UNION ALL SELECT id, 1, 'Executed Campaign', {sq(batch)}, run, {sq(child)},
               {js({"campaign": child, "parent": batch, "qualified": True, "use parent token context": True})},
               NULL, NULL FROM sel
        UNION ALL SELECT id, 2, 'Change Score', {sq(child)}, run, 'lead score',
               '{{"change":"+5","field":"Lead Score"}}', CAST(score AS VARCHAR), CAST(score + 5 AS VARCHAR) FROM sel
        UNION ALL SELECT id, 3, 'Change Score', {sq(child)}, run, 'behavior score',
               '{{"change":"+1","field":"Behavior Score"}}', CAST(behavior AS VARCHAR),
               CAST(coalesce(behavior, 0) + 1 AS VARCHAR) FROM sel
        UNION ALL SELECT id, 4, 'Add to List', {sq(batch)}, run, {sq(lst)},
               {js({"list": lst})}, NULL, NULL FROM sel WHERE NOT is_member
        UNION ALL SELECT id, 5, 'Send Email', {sq(batch)}, run, {sq(email)},
               {sq('{"email":' + json.dumps(email) + ',"subject":"Hi ')} || coalesce(first, 'there') || '"}}',
               NULL, NULL FROM sel
        UNION ALL SELECT id, 6, 'Interesting Moment', {sq(batch)}, run, NULL,
               '{{"description":"processed ' || country || '","type":"milestone"}}', NULL, NULL FROM sel
        UNION ALL SELECT id, 7, 'Change Data Value', {sq(batch)}, run, 'lead status', '{{"field":"Lead Status"}}',
               '"' || status || '"', '"Touched"' FROM sel WHERE status IS DISTINCT FROM 'Touched'"""
    sel = con.execute("SELECT id, run, region, new_region, score, behavior, status, is_member FROM sel "
                      "ORDER BY id").fetchall()
    runs = []
    for pid, run, *_ in sel:
        runs.append((pid, batch, now, run))
        runs.append((pid, child, now, run))
    db.executemany("INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)", runs)
    del runs
    for col, params in (
            (c["region"], [(new, pid) for pid, _r, old, new, *_ in sel if old != new]),
            (c["lead score"], [(s + 5, pid) for pid, _r, _o, _n, s, *_ in sel]),
            (c["behavior score"], [((b or 0) + 1, pid) for pid, _r, _o, _n, _s, b, *_ in sel]),
            (c["lead status"], [("Touched", pid) for pid, *rest in sel if rest[5] != "Touched"])):
        db.executemany(f'UPDATE people SET "{col}" = ? WHERE id = ?', params)
    db.executemany("INSERT INTO list_members VALUES (?, ?, ?)", [(lst, r[0], now) for r in sel if not r[7]])
    cur = con.execute(f"SELECT {aid0} - 1 + row_number() OVER (ORDER BY person, slot), person, type, "
                      f"campaign, run, '{now}', asset, attrs, old, new FROM ({acts}) ORDER BY person, slot")
    while True:   # a chunk at a time: the log of a million people does not fit in memory at once
        chunk = cur.fetchmany(200_000)
        if not chunk:
            break
        db.executemany("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk)
    con.close()
    store.set_meta("next_run", str(run0 + len(sel)))
    return len(sel)


# -- (b) Parquet in, Parquet out ---------------------------------------------------------


def people_parquet(path: Path, n: int) -> None:
    """``n`` people as one Parquet file, made by DuckDB in one statement
    (seconds for ten million; no Python row): the columns and the mix of
    values ``bench_engine.populate`` gives the store (its country codes in
    mixed case, 5 % unsubscribed, some first names and statuses blank),
    drawn from a hash of the row number, so every size is the same data."""
    import duckdb

    def pick(values: list, salt: int) -> str:
        lit = ", ".join("NULL" if v is None else "'" + v + "'" for v in values)
        return f"[{lit}][1 + CAST(hash(i, {salt}) % {len(values)} AS BIGINT)]"

    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'person' || i || '@example.com' AS "Email Address",
        {pick(["Ann", "Bob", None, "Cy", "Dee"], 1)} AS "First Name",
        {pick(bench_engine.COUNTRIES, 2)} AS "Country",
        CAST(hash(i, 3) % 100 AS BIGINT) AS "Lead Score",
        hash(i, 4) % 100 < 5 AS "Unsubscribed",
        {pick(bench_engine.STATUSES, 5)} AS "Lead Status"
        FROM range({n}) AS r(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 122880)""")
    con.close()


def hand_parquet(src: str, out: str) -> int:
    """The batch by hand on DuckDB, Parquet to Parquet, written for this
    batch and its data (ASCII text: ``lower`` is the casefold, no JSON
    escaping needed): people numbered by their lower-cased address (the
    rule of a Parquet source), the smart list, then each folder of ``--out``
    with one ``COPY``: the floor of the set-based engine's Parquet path."""
    import duckdb

    from campaignlang.clock import Clock, iso

    now = iso(Clock().now)
    batch, child = '"Bench"."Batch"', '"Bench"."Child"'
    lst, email = '"Bench"."Processed"', '"Bench"."Hello"'

    config = {}
    if os.environ.get("CAMPAIGN_DUCKDB_MEMORY_LIMIT"):   # the engine's cap and spill folder, for a fair comparison
        config["memory_limit"] = os.environ["CAMPAIGN_DUCKDB_MEMORY_LIMIT"]
    if os.environ.get("CAMPAIGN_DUCKDB_TEMP"):
        config["temp_directory"] = os.environ["CAMPAIGN_DUCKDB_TEMP"]
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")
    con.execute(f"""CREATE TEMP TABLE sel AS
        SELECT *, CAST(row_number() OVER (ORDER BY id) AS BIGINT) AS run,
               CASE WHEN lower(country) IN ('us', 'ca') THEN 'NA' ELSE 'EMEA' END AS new_region
        FROM (SELECT CAST(row_number() OVER (ORDER BY lower("Email Address")) AS BIGINT) AS id,
                     "Email Address" AS email, "First Name" AS first, "Country" AS country,
                     "Lead Score" AS score, CAST("Unsubscribed" AS BIGINT) AS unsub, "Lead Status" AS status
              FROM read_parquet({sq(src)}))
        WHERE lower(country) IN ('us', 'ca', 'de') AND score >= 10 AND coalesce(unsub, 0) = 0""")
    acts = f"""
        SELECT id AS person, 0 AS slot, 'Change Data Value' AS type, {sq(batch)} AS campaign, run,
               'region' AS asset, '{{"field":"Region"}}' AS attributes, CAST(NULL AS VARCHAR) AS old,
               '"' || new_region || '"' AS new FROM sel
        UNION ALL SELECT id, 1, 'Executed Campaign', {sq(batch)}, run, {sq(child)},
               {js({"campaign": child, "parent": batch, "qualified": True, "use parent token context": True})},
               NULL, NULL FROM sel
        UNION ALL SELECT id, 2, 'Change Score', {sq(child)}, run, 'lead score',
               '{{"change":"+5","field":"Lead Score"}}', CAST(score AS VARCHAR), CAST(score + 5 AS VARCHAR) FROM sel
        UNION ALL SELECT id, 3, 'Change Score', {sq(child)}, run, 'behavior score',
               '{{"change":"+1","field":"Behavior Score"}}', NULL, '1' FROM sel
        UNION ALL SELECT id, 4, 'Add to List', {sq(batch)}, run, {sq(lst)}, {js({"list": lst})}, NULL, NULL FROM sel
        UNION ALL SELECT id, 5, 'Send Email', {sq(batch)}, run, {sq(email)},
               {sq('{"email":' + json.dumps(email) + ',"subject":"Hi ')} || coalesce(first, 'there') || '"}}',
               NULL, NULL FROM sel
        UNION ALL SELECT id, 6, 'Interesting Moment', {sq(batch)}, run, NULL,
               '{{"description":"processed ' || country || '","type":"milestone"}}', NULL, NULL FROM sel
        UNION ALL SELECT id, 7, 'Change Data Value', {sq(batch)}, run, 'lead status', '{{"field":"Lead Status"}}',
               '"' || status || '"', '"Touched"' FROM sel WHERE status IS DISTINCT FROM 'Touched'"""
    queries = {
        "activities": f"SELECT CAST(row_number() OVER (ORDER BY person, slot) AS BIGINT) AS id, person, type, "
                      f"campaign, run, '{now}' AS at, asset, attributes, old, new FROM ({acts}) ORDER BY id",
        "runs": f"SELECT CAST(row_number() OVER (ORDER BY person, k) AS BIGINT) AS id, person, campaign, "
                f"'{now}' AS at, run FROM (SELECT id AS person, 0 AS k, {sq(batch)} AS campaign, run FROM sel "
                f"UNION ALL SELECT id, 1, {sq(child)}, run FROM sel) ORDER BY id",
        "list_members": f"SELECT {sq(lst)} AS list, id AS person, '{now}' AS added_at FROM sel ORDER BY id",
        "program_members": "SELECT CAST(NULL AS VARCHAR) AS program, CAST(NULL AS BIGINT) AS person, "
                           "CAST(NULL AS VARCHAR) AS status, CAST(NULL AS VARCHAR) AS data, "
                           "CAST(NULL AS VARCHAR) AS since WHERE FALSE",
        "people": f"""SELECT id, email AS "Email Address", CAST(1 AS BIGINT) AS "Behavior Score",
                      country AS "Country", first AS "First Name", score + 5 AS "Lead Score",
                      'Touched' AS "Lead Status", new_region AS "Region", unsub AS "Unsubscribed" FROM sel ORDER BY id""",
    }
    for name, query in queries.items():
        os.makedirs(os.path.join(out, name))
        con.execute(f"COPY ({query}) TO {sq(os.path.join(out, name, 'part-0.parquet'))} (FORMAT parquet)")
    n = con.execute("SELECT count(*) FROM sel").fetchone()[0]
    con.close()
    return n


def parquet_digest(out: str) -> dict:
    """Each folder of a Parquet run: rows, column names, and a hash of every row (in id order when it has ids)."""
    import duckdb

    con = duckdb.connect()
    got = {}
    for name in ("activities", "runs", "list_members", "program_members", "people"):
        rel = con.sql(f"SELECT * FROM read_parquet('{out}/{name}/*.parquet')")
        cols = ", ".join('"' + c + '"' for c in rel.columns)
        n, h = con.execute(f"SELECT count(*), sum(hash({cols})) FROM read_parquet('{out}/{name}/*.parquet')").fetchone()
        got[name] = [n, rel.columns, str(h)]
    con.close()
    return got


def parquet_worker(kind: str, src: str, out: str) -> dict:
    """One Parquet run in this process: the command line's own path
    (``campaign run ... --engine duckdb --people parquet:SRC --out DIR``), or the script."""
    from run import peak_rss_mb

    result: dict = {}
    t0 = time.perf_counter()
    if kind == "parquet":
        import contextlib
        import io

        from campaignlang.cli import main as cli_main
        from campaignlang.sets import run as sets_run

        program = Path(out).parent / "bench.campaign"
        program.write_text(bench_engine.PROGRAM)
        said = io.StringIO()
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            try:
                # ten million people start 6.8 million runs: past the default limit of one action
                cli_main(["run", str(program), "Bench/Batch", "--engine", "duckdb", "--people", f"parquet:{src}",
                          "--out", out, "--max-runs", "100000000"], standalone_mode=False)
            except SystemExit as exc:
                if exc.code:
                    raise RuntimeError(said.getvalue()) from None
        result["phases"] = dict(sets_run.last_timings)
        result["entered"] = int(said.getvalue().split(" people entered")[0].rsplit(" ", 1)[1])
    else:
        result["entered"] = hand_parquet(src, out)
    result["seconds"] = time.perf_counter() - t0
    result["peak_mb"] = peak_rss_mb()
    return result


PARQUET_KINDS = ("parquet", "parquet-script")


def measure_parquet(sizes: list[int], tmp: Path, kinds: tuple[str, ...] = PARQUET_KINDS) -> list[dict]:
    """(b): people in a Parquet file, results to Parquet, each way in its
    own process; the folders must hold the same rows (``parquet_digest``)."""
    rows = []
    for size in sizes:
        src = tmp / f"people-{size}.parquet"
        t = time.perf_counter()
        people_parquet(src, size)
        print(f"  wrote {size:,} people as Parquet in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        results, digests = {}, {}
        for kind in kinds:
            out = tmp / f"out-{kind}-{size}"
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--src",
                                   str(src), "--out", str(out)], capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{kind} at {size:,} people failed: {done.stderr.strip()[-2000:]}")
            results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
            results[kind]["load_average"] = os.getloadavg()[0]
            digests[kind] = json.dumps(parquet_digest(str(out)))
            shutil.rmtree(out)
            print(f"  {size:,} {kind}: {results[kind]['seconds']:.2f} s, peak {results[kind]['peak_mb']:.0f} MB",
                  file=sys.stderr, flush=True)
        src.unlink()
        row = {"people": size, "entered": results[kinds[0]]["entered"],
               "same_writes": len(set(digests.values())) == 1, "results": results}
        for kind in kinds[1:]:
            row[f"{kinds[0]}_over_{kind}"] = results[kinds[0]]["seconds"] / results[kind]["seconds"]
        rows.append(row)
    for a, b in zip(rows, rows[1:]):
        b["growth_from_previous"] = {k: b["results"][k]["seconds"] / a["results"][k]["seconds"] for k in kinds}
        b["people_growth"] = b["people"] / a["people"]
    return rows


def worker(kind: str, db: str) -> dict:
    from campaignlang.api import compile_text
    from campaignlang.engine import Engine
    from campaignlang.store import Store
    from run import peak_rss_mb

    program = compile_text(bench_engine.PROGRAM, "bench.campaign")
    store = Store(db)
    engine = Engine(program, store)
    out: dict = {}
    t0 = time.perf_counter()
    if kind == "sets":
        from campaignlang.sets import run as sets_run
        result = engine.run_batch("Bench/Batch", engine="duckdb")
        out["phases"] = dict(sets_run.last_timings)
        out["entered"] = len(result.entered)
    elif kind == "engine":
        out["entered"] = len(engine.run_batch("Bench/Batch").entered)
    else:
        with store.transaction():
            out["entered"] = hand_duckdb(store)
    out["seconds"] = time.perf_counter() - t0
    store.close()
    out["peak_mb"] = peak_rss_mb()
    return out


def run_worker(kind: str, db: Path) -> dict:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--db", str(db)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(sizes: list[int], tmp: Path, kinds: tuple[str, ...] = KINDS) -> list[dict]:
    from run import digest, run_worker as populate_worker

    rows = []
    for size in sizes:
        template = tmp / f"sets-people-{size}.db"
        t = time.perf_counter()
        populate_worker("populate", template, size)
        print(f"  populated {size:,} people in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
        results, digests = {}, {}
        for kind in kinds:
            db = tmp / f"sets-{kind}-{size}.db"
            shutil.copyfile(template, db)
            results[kind] = run_worker(kind, db)
            results[kind]["load_average"] = os.getloadavg()[0]
            digests[kind] = digest(db, size <= 100_000)
            db.unlink()
            print(f"  {size:,} {kind}: {results[kind]['seconds']:.2f} s, peak {results[kind]['peak_mb']:.0f} MB",
                  file=sys.stderr, flush=True)
        template.unlink()
        same = len(set(digests.values())) == 1
        row = {"people": size, "entered": results[kinds[0]]["entered"], "same_writes": same, "results": results}
        s = results["sets"]["seconds"]
        for kind in kinds[1:]:
            row[f"sets_over_{kind}"] = s / results[kind]["seconds"]
        rows.append(row)
    for a, b in zip(rows, rows[1:]):
        b["growth_from_previous"] = {k: b["results"][k]["seconds"] / a["results"][k]["seconds"] for k in kinds}
    return rows


def report(rows: list[dict]) -> str:
    out = [f"{'people':>10} {'entered':>9} {'sets s':>8} {'engine s':>9} {'script s':>9} {'sets/engine':>12} "
           f"{'sets/script':>12} {'peak MB sets/engine/script':>28}  same"]
    for r in rows:
        res = r["results"]
        out.append(f"{r['people']:>10,} {r['entered']:>9,} {res['sets']['seconds']:>8.2f} "
                   f"{res.get('engine', {}).get('seconds', float('nan')):>9.2f} "
                   f"{res.get('script', {}).get('seconds', float('nan')):>9.2f} "
                   f"{r.get('sets_over_engine', float('nan')):>11.2f}x {r.get('sets_over_script', float('nan')):>11.2f}x "
                   f"{'/'.join(format(res[k]['peak_mb'], '.0f') for k in res):>28}  {r['same_writes']}")
        phases = res["sets"].get("phases", {})
        out.append("           set-based phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
        if "growth_from_previous" in r:
            out.append("           growth from the previous size: " + ", ".join(
                f"{k} {v:.1f}x" for k, v in r["growth_from_previous"].items()))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="people, (a) the SQLite store; 0: none")
    ap.add_argument("--kinds", default=",".join(KINDS), help="which of sets,engine,script (sets first)")
    ap.add_argument("--parquet-sizes", default="100000,1000000",
                    help="people, (b) Parquet in, Parquet out (10000000 runs the issue's ten million); 0: none")
    ap.add_argument("--parquet-kinds", default=",".join(PARQUET_KINDS), help="which of parquet,parquet-script")
    ap.add_argument("--tmp", default=None, help="folder for the stores and files (default: the system's)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker in PARQUET_KINDS:
        print(json.dumps(parquet_worker(args.worker, args.src, args.out)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.db)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if int(s)]
    psizes = [int(s) for s in args.parquet_sizes.split(",") if int(s)]
    kinds = tuple(args.kinds.split(","))
    pkinds = tuple(args.parquet_kinds.split(","))
    started = os.getloadavg()[0]
    def save(rows: list, prows: list) -> None:
        """After each part, so a later failure keeps the earlier figures; a part
        not run this time (no sizes) keeps the figures of the last run."""
        if args.no_write:
            return
        path = HERE / "results" / "sets.json"
        path.parent.mkdir(exist_ok=True)
        old = json.loads(path.read_text()) if path.exists() else {}
        old = old if isinstance(old, dict) else {}
        def merged(part: str, got: list) -> list:   # by size: a run of other sizes keeps these
            sizes = {r["people"] for r in got}
            out = sorted([r for r in old.get(part, []) if r["people"] not in sizes] + got, key=lambda r: r["people"])
            for a, b in zip(out, out[1:]):
                b["growth_from_previous"] = {k: b["results"][k]["seconds"] / a["results"][k]["seconds"]
                                             for k in b["results"] if k in a["results"]}
                b["people_growth"] = b["people"] / a["people"]
            return out
        new = {"store": merged("store", rows), "parquet": merged("parquet", prows),
               "load_average_at_start": {**(old.get("load_average_at_start")
                                            if isinstance(old.get("load_average_at_start"), dict) else {}),
                                         **({"store": started} if rows else {}),
                                         **({"parquet": started} if prows else {})}}
        path.write_text(json.dumps(new, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="campaign-bench-sets-", dir=args.tmp) as tmp:
        rows = measure(sizes, Path(tmp), kinds) if sizes else []
        if rows:
            print(report(rows), flush=True)
            save(rows, [])
        prows = measure_parquet(psizes, Path(tmp), pkinds) if psizes else []
    if prows:
        print(report_parquet(prows))
        save(rows, prows)


def report_parquet(rows: list[dict]) -> str:
    kinds = list(rows[0]["results"])
    out = [f"{'people':>11} {'entered':>10} " + " ".join(f"{k + ' s':>16}" for k in kinds)
           + f" {'ratio':>7} {'peak MB':>16}  same"]
    for r in rows:
        res = r["results"]
        ratio = res[kinds[0]]["seconds"] / res[kinds[-1]]["seconds"]
        out.append(f"{r['people']:>11,} {r['entered']:>10,} " + " ".join(f"{res[k]['seconds']:>16.2f}" for k in kinds)
                   + f" {ratio:>6.2f}x {'/'.join(format(res[k]['peak_mb'], '.0f') for k in kinds):>16}  "
                   f"{r['same_writes']}")
        phases = res[kinds[0]].get("phases", {})
        out.append("            phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
                   + "; load average " + ", ".join(f"{res[k]['load_average']:.1f}" for k in kinds))
        if "growth_from_previous" in r:
            out.append(f"            growth from the previous size ({r['people_growth']:.0f}x the people): "
                       + ", ".join(f"{k} {v:.1f}x" for k, v in r["growth_from_previous"].items()))
    return "\n".join(out)


if __name__ == "__main__":
    main()
