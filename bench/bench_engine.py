"""Engine benchmark (issues 4 and 8). Run by hand: python bench/bench_engine.py
(``python bench/run.py`` runs it with the other benchmarks, at three sizes).

A batch campaign over 100,000 people — three filters (pushed down to SQL),
six steps with a choice and an ``execute campaign ... use parent token
context`` of a two-step child — against a plain-Python function that does
the same work on the same data in the same process, written as a careful
script would: one query for the smart list and the qualification rule,
people a chunk at a time, and the same rows written (runs, field updates,
list memberships, activities with the same JSON) with ``executemany``. Both
run on identical in-memory copies of one store. Prints people per second for
each and the ratio (issue 8's target: the engine within 2x), checks that the
two wrote the same activity log, and writes bench/results/engine.json.

``--people 20000`` runs another size. The module also holds the data
(``populate``) and the plain functions (``plain_python``,
``plain_batch_filter``, ``plain_rich_filter``) that bench/run.py imports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

from campaignlang.clock import Clock, iso
from campaignlang.api import compile_text
from campaignlang.engine import Engine
from campaignlang.store import Store
from campaignlang.values import dumps

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
    campaign "Filters" batch {
        smart list logic "(1 or 2) and 3 and (4 or 5) and 6" {
            filter lead.Country is "US", "CA"
            filter lead."First Name" starts with "a", "b"
            filter lead."Lead Score" between 20 and 80
            filter lead."Created At" in past 30 days
            filter lead.Unsubscribed is true
            filter lead."Lead Status" is not "Disqualified"
        }
        flow { interesting moment milestone "filtered" }
    }
}
"""

COUNTRIES = ["US", "US", "US", "CA", "DE", "DE", "FR", "BR", "us", "ca"]


STATUSES = [None, None, "Open", "Disqualified", "disqualified", "Working"]


def populate(store: Store, n: int, seed: int = 7, chunk: int = 50_000) -> None:
    """``n`` people with random fields, written in chunks (a million fit in
    little memory). The batch reads Country, Lead Score, Unsubscribed and
    First Name; the filter benchmark also Created At and Lead Status."""
    rng = random.Random(seed)
    other = random.Random(seed + 1)   # the columns added later draw apart: the batch's data stay the same
    cols = store.columns
    names = ["email address", "first name", "country", "lead score", "unsubscribed", "created at", "lead status"]
    sql = (f"INSERT INTO people (email_key, {', '.join(chr(34) + cols[k] + chr(34) for k in names)}) "
           f"VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    start = Clock().now
    created = [iso(start - dt.timedelta(days=d, hours=h)) for d in range(60) for h in (0, 7, 13)]
    with store.transaction():
        for lo in range(0, n, chunk):
            rows = []
            for i in range(lo, min(n, lo + chunk)):
                email = f"person{i}@example.com"
                first = rng.choice(["Ann", "Bob", None, "Cy", "Dee"])
                rows.append((email, email, first, rng.choice(COUNTRIES), rng.randrange(0, 100),
                             1 if rng.random() < 0.05 else 0, other.choice(created), other.choice(STATUSES)))
            store.db.executemany(sql, rows)


# -- the filter benchmark: the same smart lists as plain functions ------------------------

_US_CA_DE = frozenset({"us", "ca", "de"})
_US_CA = frozenset({"us", "ca"})


def plain_batch_filter(p) -> bool:
    """The smart list of "Batch" by hand: Country is US, CA, DE; Lead Score >= 10; not Unsubscribed."""
    score = p.get("lead score")
    return ((p.get("country") or "").casefold() in _US_CA_DE and score is not None and score >= 10
            and not p.get("unsubscribed"))


def plain_rich_filter(now: dt.datetime):
    """The smart list of "Filters" by hand ("(1 or 2) and 3 and (4 or 5) and 6")."""
    lo = now - dt.timedelta(days=30)

    def qualifies(p) -> bool:
        score = p.get("lead score")
        created = p.get("created at")
        return (((p.get("country") or "").casefold() in _US_CA
                 or (p.get("first name") or "").casefold().startswith(("a", "b")))
                and score is not None and 20 <= score <= 80
                and ((created is not None and lo <= created <= now) or bool(p.get("unsubscribed")))
                and (p.get("lead status") or "").casefold() != "disqualified")
    return qualifies


def plain_python(store: Store, chunk: int = 2000) -> int:
    """The same work as the engine, written by hand the way a careful script
    would: one query for the smart list and the qualification rule (the
    person has not run the campaign), people fetched a chunk at a time, the
    list membership of the chunk read once, and every write of a chunk —
    runs, field updates, list memberships, activities — made with
    ``executemany``. The caller holds the transaction."""
    db = store.db
    c = store.columns
    now = iso(Clock().now)
    batch, child = '"Bench"."Batch"', '"Bench"."Child"'
    lst, email = '"Bench"."Processed"', '"Bench"."Hello"'
    select = (
        f'SELECT id, "{c["country"]}", "{c["lead score"]}", "{c["behavior score"]}", "{c["first name"]}", '
        f'"{c["region"]}", "{c["lead status"]}" FROM people WHERE deleted = 0 '
        f'AND coalesce(cf("{c["country"]}"), \'\') IN (?, ?, ?) '
        f'AND "{c["lead score"]}" IS NOT NULL AND "{c["lead score"]}" >= ? '
        f'AND coalesce("{c["unsubscribed"]}", 0) = 0 '
        f'AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.person = people.id AND r.campaign = ?) '
        f'AND id > ? ORDER BY id LIMIT {chunk}')
    upd_region = f'UPDATE people SET "{c["region"]}"=? WHERE id=?'
    upd_score = f'UPDATE people SET "{c["lead score"]}"=? WHERE id=?'
    upd_behavior = f'UPDATE people SET "{c["behavior score"]}"=? WHERE id=?'
    upd_status = f'UPDATE people SET "{c["lead status"]}"=? WHERE id=?'
    aid = (db.execute("SELECT max(id) FROM activities").fetchone()[0] or 0) + 1
    run = 1
    last = -(2 ** 63)
    entered = 0
    while True:
        rows = db.execute(select, ("us", "ca", "de", 10, batch, last)).fetchall()
        if not rows:
            break
        members = {r[0] for r in db.execute("SELECT person FROM list_members WHERE list = ? AND person "
                                            "BETWEEN ? AND ?", (lst, rows[0][0], rows[-1][0]))}
        runs, regions, scores, behaviors, statuses, joined, acts = [], [], [], [], [], [], []
        for pid, country, score, behavior, first, region, status in rows:
            runs.append((pid, batch, now, run))
            new_region = "NA" if country.casefold() in ("us", "ca") else "EMEA"
            if new_region != region:
                regions.append((new_region, pid))
                acts.append((aid, pid, "Change Data Value", batch, run, now, "region",
                             dumps({"field": "Region"}), dumps(region) if region is not None else None,
                             dumps(new_region)))
                aid += 1
            acts.append((aid, pid, "Executed Campaign", batch, run, now, child,
                         dumps({"campaign": child, "parent": batch, "qualified": True,
                                "use parent token context": True}), None, None))
            aid += 1
            runs.append((pid, child, now, run))
            new_score = (score or 0) + 5
            scores.append((new_score, pid))
            acts.append((aid, pid, "Change Score", child, run, now, "lead score",
                         dumps({"field": "Lead Score", "change": "+5"}), dumps(score), dumps(new_score)))
            aid += 1
            new_behavior = (behavior or 0) + 1
            behaviors.append((new_behavior, pid))
            acts.append((aid, pid, "Change Score", child, run, now, "behavior score",
                         dumps({"field": "Behavior Score", "change": "+1"}),
                         dumps(behavior) if behavior is not None else None, dumps(new_behavior)))
            aid += 1
            if pid not in members:
                joined.append((lst, pid, now))
                acts.append((aid, pid, "Add to List", batch, run, now, lst, dumps({"list": lst}), None, None))
                aid += 1
            acts.append((aid, pid, "Send Email", batch, run, now, email,
                         dumps({"email": email, "subject": f"Hi {first or 'there'}"}), None, None))
            aid += 1
            acts.append((aid, pid, "Interesting Moment", batch, run, now, None,
                         dumps({"type": "milestone", "description": f"processed {country}"}), None, None))
            aid += 1
            if status != "Touched":
                statuses.append(("Touched", pid))
                acts.append((aid, pid, "Change Data Value", batch, run, now, "lead status",
                             dumps({"field": "Lead Status"}), dumps(status) if status is not None else None,
                             dumps("Touched")))
                aid += 1
            run += 1
        db.executemany("INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)", runs)
        for sql, params in ((upd_region, regions), (upd_score, scores), (upd_behavior, behaviors),
                            (upd_status, statuses)):
            db.executemany(sql, params)
        db.executemany("INSERT INTO list_members VALUES (?, ?, ?)", joined)
        db.executemany("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", acts)
        entered += len(rows)
        last = rows[-1][0]
    return entered


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/engine.json")
    args = ap.parse_args()

    program = compile_text(PROGRAM, "bench.campaign")
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
          f"(target 2x); same writes: {same}")
    if not args.no_write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "engine.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
