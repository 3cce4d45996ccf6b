"""Engine benchmark (issue 4). Run by hand: python bench/bench_engine.py

A batch campaign over 100,000 people — three filters (pushed down to SQL),
six steps with a choice and an ``execute campaign ... use parent token
context`` of a two-step child — against a plain-Python function that does
the same work on the same data in the same process: the same SQL selection,
the same qualification reads, the same rows written (runs, field updates,
list memberships, activities with the same JSON). Both run on identical
in-memory copies of one store. Prints people per second for each and the
ratio (target: the engine within 5x of the plain function), checks that the
two wrote the same activity log, and writes bench/results/engine.json.

``--people 20000`` runs another size.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from campaignlang.clock import Clock, iso
from campaignlang.engine import Engine, program_from_text
from campaignlang.store import Store, dumps

HERE = Path(__file__).resolve().parent

PROGRAM = """
fields {
    "Region": text
    "Behavior Score": score
}
program "Bench" {
    tokens { my.Score = +5 }
    list "Processed"
    email "Hello" { subject "Hi {{lead.First Name:default=there}}" }
    campaign "Child" executable {
        flow {
            change score lead."Lead Score" by {{my.Score}}
            change score lead."Behavior Score" by +1
        }
        qualify every time
    }
    campaign "Batch" batch {
        smart list {
            filter lead.Country is "US", "CA", "DE"
            filter lead."Lead Score" >= 10
            filter lead.Unsubscribed is false
        }
        flow {
            change data value lead.Region {
                if lead.Country is "US", "CA" then to "NA"
                else to "EMEA"
            }
            execute campaign "Child" use parent token context
            add to list "Processed"
            send email "Hello"
            interesting moment milestone "processed {{lead.Country}}"
            change data value lead."Lead Status" to "Touched"
        }
    }
}
"""

COUNTRIES = ["US", "US", "US", "CA", "DE", "DE", "FR", "BR", "us", "ca"]


def populate(store: Store, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    cols = store.columns
    names = ["email address", "first name", "country", "lead score", "unsubscribed", "created at"]
    sql = (f"INSERT INTO people (email_key, {', '.join(chr(34) + cols[k] + chr(34) for k in names)}) "
           f"VALUES (?, ?, ?, ?, ?, ?, ?)")
    created = iso(Clock().now)
    rows = []
    for i in range(n):
        email = f"person{i}@example.com"
        first = rng.choice(["Ann", "Bob", None, "Cy", "Dee"])
        rows.append((email, email, first, rng.choice(COUNTRIES), rng.randrange(0, 100),
                     1 if rng.random() < 0.05 else 0, created))
    with store.transaction():
        store.db.executemany(sql, rows)


def plain_python(store: Store) -> int:
    """The same work as the engine, written by hand."""
    db = store.db
    c = store.columns
    now = iso(Clock().now)
    batch, child = '"Bench"."Batch"', '"Bench"."Child"'
    lst, email = '"Bench"."Processed"', '"Bench"."Hello"'
    rows = db.execute(
        f'SELECT id, "{c["country"]}", "{c["lead score"]}", "{c["behavior score"]}", "{c["first name"]}", '
        f'"{c["region"]}", "{c["lead status"]}" FROM people WHERE deleted = 0 '
        f'AND coalesce(cf("{c["country"]}"), \'\') IN (?, ?, ?) '
        f'AND "{c["lead score"]}" IS NOT NULL AND "{c["lead score"]}" >= ? '
        f'AND coalesce("{c["unsubscribed"]}", 0) = 0 ORDER BY id', ("us", "ca", "de", 10)).fetchall()
    acts: list[tuple] = []
    aid = (db.execute("SELECT max(id) FROM activities").fetchone()[0] or 0) + 1
    run = 1
    upd_region = f'UPDATE people SET "{c["region"]}"=? WHERE id=?'
    upd_score = f'UPDATE people SET "{c["lead score"]}"=? WHERE id=?'
    upd_behavior = f'UPDATE people SET "{c["behavior score"]}"=? WHERE id=?'
    upd_status = f'UPDATE people SET "{c["lead status"]}"=? WHERE id=?'
    ran = "SELECT 1 FROM runs WHERE person=? AND campaign=? LIMIT 1"
    for pid, country, score, behavior, first, region, status in rows:
        if db.execute(ran, (pid, batch)).fetchone():
            continue
        db.execute("INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)", (pid, batch, now, run))
        new_region = "NA" if country.casefold() in ("us", "ca") else "EMEA"
        if new_region != region:
            db.execute(upd_region, (new_region, pid))
            acts.append((aid, pid, "Change Data Value", batch, run, now, "region",
                         dumps({"field": "Region"}), dumps(region) if region is not None else None,
                         dumps(new_region)))
            aid += 1
        acts.append((aid, pid, "Executed Campaign", batch, run, now, child,
                     dumps({"campaign": child, "parent": batch, "qualified": True,
                            "use parent token context": True}), None, None))
        aid += 1
        db.execute("INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)", (pid, child, now, run))
        new_score = (score or 0) + 5
        db.execute(upd_score, (new_score, pid))
        acts.append((aid, pid, "Change Score", child, run, now, "lead score",
                     dumps({"field": "Lead Score", "change": "+5"}), dumps(score), dumps(new_score)))
        aid += 1
        new_behavior = (behavior or 0) + 1
        db.execute(upd_behavior, (new_behavior, pid))
        acts.append((aid, pid, "Change Score", child, run, now, "behavior score",
                     dumps({"field": "Behavior Score", "change": "+1"}),
                     dumps(behavior) if behavior is not None else None, dumps(new_behavior)))
        aid += 1
        if db.execute("INSERT OR IGNORE INTO list_members VALUES (?, ?, ?)", (lst, pid, now)).rowcount:
            acts.append((aid, pid, "Add to List", batch, run, now, lst, dumps({"list": lst}), None, None))
            aid += 1
        acts.append((aid, pid, "Send Email", batch, run, now, email,
                     dumps({"email": email, "subject": f"Hi {first or 'there'}"}), None, None))
        aid += 1
        acts.append((aid, pid, "Interesting Moment", batch, run, now, None,
                     dumps({"type": "milestone", "description": f"processed {country}"}), None, None))
        aid += 1
        if status != "Touched":
            db.execute(upd_status, ("Touched", pid))
            acts.append((aid, pid, "Change Data Value", batch, run, now, "lead status",
                         dumps({"field": "Lead Status"}), dumps(status) if status is not None else None,
                         dumps("Touched")))
            aid += 1
        if len(acts) >= 4096:
            db.executemany("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", acts)
            acts.clear()
        run += 1
    db.executemany("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", acts)
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/engine.json")
    args = ap.parse_args()

    program = program_from_text(PROGRAM, "bench.campaign")
    base = Store(":memory:")
    Engine(program, base)                      # creates the field columns
    t = time.perf_counter()
    populate(base, args.people)
    print(f"populated {args.people:,} people in {time.perf_counter() - t:.1f} s")

    # the engine
    store = base.copy_to_memory()
    engine = Engine(program, store)
    t = time.perf_counter()
    result = engine.run_batch("Bench/Batch")
    engine_s = time.perf_counter() - t
    entered = len(result.entered)

    # the plain-Python function, same data, same writes
    plain_store = base.copy_to_memory()
    t = time.perf_counter()
    with plain_store.transaction():
        plain_entered = plain_python(plain_store)
    plain_s = time.perf_counter() - t

    same = (engine.store.counts() == plain_store.counts()
            and [(a.person, a.type, a.attributes, a.old, a.new) for a in engine.store.activities()]
            == [(a.person, a.type, a.attributes, a.old, a.new) for a in plain_store.activities()])

    out = {
        "people": args.people,
        "entered": entered,
        "steps_per_person": 8,
        "engine_seconds": engine_s,
        "plain_python_seconds": plain_s,
        "engine_people_per_second": entered / engine_s,
        "plain_python_people_per_second": plain_entered / plain_s,
        "ratio": engine_s / plain_s,
        "same_writes": same,
        "python": sys.version.split()[0],
    }
    print(f"{'':22}{'seconds':>10}{'people/s':>12}")
    print(f"{'engine':22}{engine_s:>10.2f}{out['engine_people_per_second']:>12,.0f}")
    print(f"{'plain Python':22}{plain_s:>10.2f}{out['plain_python_people_per_second']:>12,.0f}")
    print(f"{entered:,} of {args.people:,} people entered; ratio engine / plain = {out['ratio']:.2f}x "
          f"(target 5x); same writes: {same}")
    if not args.no_write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "engine.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
