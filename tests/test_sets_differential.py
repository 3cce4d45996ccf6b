"""The differential test of the set-based engine (issue 16): hypothesis
generates programs -- every step the set-based engine runs, choices,
``execute campaign`` chains with and without the parent's token context,
qualification rules, filters of every family, tokens -- and people (unicode,
quotes, control characters, empty values, memberships, earlier runs), runs
the batch with the per-person engine and with each backend on copies of one
store, and compares everything: the activity log byte for byte, people,
list and program memberships, the run history and the meta values (run
counter, clock).

A program the set-based engine cannot run yet must say so before it runs
(``RunError``) and, with ``fallback``, run per person with a note: so every
generated case compares. ``SETS_EXAMPLES=2000`` runs more by hand.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from campaignlang.api import compile_text  # noqa: E402
from campaignlang.clock import Clock, iso  # noqa: E402
from campaignlang.engine import Engine  # noqa: E402
from campaignlang.errors import DiagnosticError, RunError  # noqa: E402
from campaignlang.store import Store  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 30)
EXAMPLES = int(os.environ.get("SETS_EXAMPLES", "60"))
#: generated cases tried on Spark (``SETS_SPARK_EXAMPLES`` for more by hand)
SPARK_EXAMPLES = int(os.environ.get("SETS_SPARK_EXAMPLES", "25"))

STEPS = [
    'change data value lead.Region to "NA"',
    'change data value lead.Region to "straße \\"q\\" ü"',
    'change data value lead.Region to "{{lead.Country}}-{{my.Tok}}"',
    'change data value lead.Region to "{{lead.First Name:default=nobody}}"',
    'change data value lead.Seats to 3',
    'change data value lead.Vip to true',
    'change data value lead.Vip to false',
    'change data value lead."Lead Status" to "Touched"',
    'change score lead."Lead Score" by +5',
    'change score lead."Lead Score" by -2',
    'change score lead."Lead Score" by =7',
    'change score lead."Lead Score" by {{my.Score}}',
    'change score lead."Behavior Score" by +1',
    'add to list "L1"',
    'remove from list "L1"',
    'add to list "L2"',
    'send email "E1"',
    'send email "E2"',
    'interesting moment milestone "m {{lead.Country}} {{my.Tok}} {{lead.Seats}} {{lead.Vip}} {{campaign.name}}"',
    'interesting moment web "w {{lead.First Name}}"',
    'change program status "P" to "Invited"',
    'change program status "P" to "Attended"',
    'send alert "E1" to "ops@x.com", "{{my.Tok}}"',
    'change data value lead.Region {\n if lead.Country is "US", "CA" then to "NA"\n'
    ' else if member of list "L1" then to "L"\n else to "EMEA"\n}',
    'add to list {\n if lead.Vip is true then "L2"\n else do nothing\n}',
    'interesting moment milestone {\n if lead."Lead Score" >= 50 then "hot"\n'
    ' else if lead.Region is "NA" then "na {{lead.Region}}"\n else "cold"\n}',
    'change program status "P" {\n if member of program "P" status is "Invited" then to "Attended"\n'
    ' else to "Invited"\n}',
    'remove from list {\n if campaign was run "Q"."C1" then "L2"\n}',
    'send email {\n if lead."First Name" starts with "a", "Z" then "E1"\n else "E2"\n}',
    'change data value lead.Since to 2026-03-01',
    'change data value lead.Since to {{my.Day}}',
    'change data value lead.Seen to 2026-03-01T09:30',
    'change data value lead.Seen to {{system.dateTime}}',
    'interesting moment milestone "d {{lead.Since}} {{lead.Seen}} {{lead.Since:default=never}}"',
    'change data value lead.Revenue to 1.5',
    'change data value lead.Revenue to {{my.Rev}}',
    'change data value lead.Revenue to null',
    'change lead partition to "Partners"',
    'change lead partition to "Ünïcode \\"p\\""',
    'request campaign "Q"."T"',
    'remove from flow "Q"."X1"',
    'remove from flow "Q"."T", "Q"."X2"',
]
#: steps of the batch's own flow and its children's that end the run (the campaign named runs)
ENDING = ['delete person', 'delete person {\n if lead.Vip is true then\n}', 'remove from flow this campaign', 'remove from flow "P"."B"', 'remove from flow {\n if lead.Vip is true then this campaign\n}']
EXECUTES = ['execute campaign {c}', 'execute campaign {c} use parent token context',
            'execute campaign {{\n if lead.Vip is true then {c} use parent token context\n else {c}\n}}']
FILTERS = ['lead.Region is not "zz"', 'lead.Country not contains "x"', 'lead.Country is "US", "CA"', 'lead."Lead Score" >= 10', 'lead.Vip is false', 'lead.Vip is true',
           'member of list "L1"', 'not member of list "L2"', 'lead.Region is empty', 'lead.Region is "NA"',
           'member of program "P"', 'lead."First Name" starts with "a", "ß"', 'lead.Seats between 1 and 5',
           'campaign was run "Q"."C1" in past 3 days', 'was sent email "E1"', 'lead."Lead Status" is not "Touched"',
           'lead.Since before 2026-03-01', 'lead.Seen is empty', 'lead.Since is 2026-03-01',
           'lead."Lead Partition" is "Partners"', 'lead.Revenue >= 1.5']
RULES = ["", "qualify every time", "qualify once every 2 days"]


def _hook(calls: list):
    """A webhook handler that records each request and answers by the person's
    Region: 200 with seats (the response mapping writes them), a raise (an
    Error, the run ends), or a 500 (no mapping)."""
    def handler(request):
        calls.append((request.webhook, request.method, request.url, request.payload, request.email))
        if "r=NA" in request.url or "r=TR" in request.url:
            return 200, {"seats": len(calls) % 5}
        if "r=EMEA" in request.url:
            raise RuntimeError("the hook is down")
        return 500, {"error": "no"}
    return handler


@st.composite
def smart_list(draw, need: bool):
    broad = st.sampled_from(FILTERS[:2])   # most people pass these: most cases run for several
    filters = draw(st.lists(st.one_of(broad, broad, st.sampled_from(FILTERS)), min_size=1 if need else 0,
                            max_size=3))
    if not filters:
        return ""
    logic = draw(st.sampled_from(["", "any ", "advanced"]))
    if logic == "advanced":
        logic = draw(st.sampled_from(['logic "(1 or 2) and 3" ', 'logic "1 or (2 and 3)" '])) \
            if len(filters) == 3 else ""
    return f"smart list {logic}{{\n" + "\n".join(f"filter {f}" for f in filters) + "\n}"


#: steps only a batch's own flow may hold (a wait resumes per person from the queue)
TOP_STEPS = ["wait 2 days", "wait until 2026-03-01", "wait until 2026-03-03T08:00"]


@st.composite
def flows(draw, child: str | None, size: int = 4, top: bool = False):
    steps = draw(st.lists(st.sampled_from(STEPS + TOP_STEPS if top else STEPS), min_size=1, max_size=size))
    if draw(st.integers(0, 5)) == 0:
        steps.insert(draw(st.integers(0, len(steps))), draw(st.sampled_from(ENDING)))
    if child is not None:
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, len(steps)))
            steps.insert(at, draw(st.sampled_from(EXECUTES)).format(c=child))
    return "flow {\n" + "\n".join(steps) + "\n}"


C1, C2 = '"Q"."C1"', '"Q"."C2"'
#: the requested campaign's flow calls the webhook or not
T_CALLS = ["", 'call webhook "W"\n']
T_FILTERS = ["", "filter lead.Vip is not true", 'filter member of list "L1"']


#: what a trigger campaign listens to: every event a batch's step can fire
LISTENS = ['trigger data value changes lead.Region', 'trigger data value changes lead.Region to "NA"',
           'trigger data value changes lead.Region from "na"',
           'trigger data value changes lead.Vip to true', 'trigger data value changes lead.Seats from 3',
           'trigger data value changes lead."Lead Status"', 'trigger score is changed lead."Lead Score"',
           'trigger score is changed lead."Behavior Score"', 'trigger added to list "P"."L1"',
           'trigger removed from list "P"."L1"', 'trigger added to list "P"."L2"',
           'trigger program status is changed "P"', 'trigger program status is changed "P" to "Attended"',
           'trigger campaign is requested', 'trigger data value changes lead.Since',
           'trigger data value changes lead.Seen', 'trigger data value changes lead."Lead Partition"',
           'trigger data value changes lead.Revenue']
X_FILTERS = T_FILTERS + ['filter lead.Region is "NA"', 'filter lead."Lead Score" >= 10',
                         'filter not member of list "P"."L1"', 'filter member of program "P" status is "Attended"']
#: steps of a triggered run (per person, after the batch): more events, requests, executes, removals
X_STEPS = ['interesting moment milestone "x {{trigger.Trigger Name}} {{trigger.Name}} {{trigger.Old Value}}>'
           '{{trigger.New Value}} {{trigger.Change}} {{lead.Region}} {{my.Tok}}"',
           'change data value lead."Lead Status" to "Triggered"', 'change data value lead.Region to "TR"',
           'add to list "L2"', 'request campaign "T"', 'execute campaign "C1" use parent token context',
           'execute campaign "C1"', 'remove from flow "P"."B"', 'remove from flow "X1"', 'wait 1 day',
           'change program status "P" to "Done"', 'call webhook "W"']


@st.composite
def triggered(draw, name: str):
    broad = st.sampled_from([LISTENS[i] for i in (0, 6, 8, 11)])   # events most batches make: most cases fire
    listens = draw(st.lists(st.one_of(broad, st.sampled_from(LISTENS)), min_size=1, max_size=3, unique=True))
    steps = draw(st.lists(st.sampled_from(X_STEPS), min_size=1, max_size=3))
    return (f'campaign "{name}" trigger {{\nsmart list {{\n' + "\n".join(listens) + "\n"
            + draw(st.one_of(st.just(""), st.sampled_from(X_FILTERS))) + "\n}\nflow {\n" + "\n".join(steps)
            + "\n}\n"
            + draw(st.sampled_from(RULES)) + "\n}")


@st.composite
def programs(draw):
    c2 = f'campaign "C2" executable {{\n{draw(smart_list(False))}\n{draw(flows(None, 2))}\n' \
         f'{draw(st.sampled_from(RULES))}\n}}'
    c1 = f'campaign "C1" executable {{\n{draw(smart_list(False))}\n' \
         f'{draw(flows(C2 if draw(st.booleans()) else None, 3))}\n' \
         f'{draw(st.sampled_from(RULES))}\n}}'
    batch = f'campaign "B" batch {{\n{draw(smart_list(True))}\n{draw(flows(C1, top=True))}\n' \
            f'{draw(st.sampled_from(RULES))}\n}}'
    t = f'campaign "T" trigger {{\nsmart list {{\ntrigger campaign is requested\n' \
        f'{draw(st.sampled_from(T_FILTERS))}\n}}\n' \
        f'flow {{\nchange score lead."Behavior Score" by +1\n{draw(st.sampled_from(T_CALLS))}' \
        f'interesting moment milestone "req {{{{trigger.Trigger Name}}}} {{{{trigger.Name}}}} {{{{lead.Region}}}}"\n}}\n' \
        f'{draw(st.sampled_from(RULES))}\n}}'
    xs = draw(triggered("X1")) + "\n" + draw(triggered("X2"))
    return PROGRAM.replace("@B@", batch).replace("@C@", c2 + "\n" + c1 + "\n" + t + "\n" + xs)


PROGRAM = """
fields {
    "Region": text
    "Seats": integer
    "Vip": boolean
    "Behavior Score": score
    "Since": date
    "Seen": datetime
    "Revenue": decimal
}
program "P" {
    statuses "Invited", "Attended", "Done"
    tokens {
        my.Score = +5
        my.Tok = "p\\"q ü"
        my.Day = 2026-02-03
        my.Rev = 1.50
    }
    list "L1"
    list "L2"
    email "E1" { subject "Hi {{lead.First Name:default=there}} {{my.Tok}}" }
    email "E2" { subject "Fixed" }
@B@
}
program "Q" {
    tokens {
        my.Score = +2
        my.Tok = "child 'tok'"
        my.Day = 2026-04-05
        my.Rev = 7
    }
    list "L1"
    list "L2"
    email "E1" { subject "Q {{my.Tok}} {{lead.Country:default=?}}" }
    email "E2" { subject "{{my.Score}}" }
    webhook "W" {
        url "https://hook.example.com/{{lead.Email Address}}?r={{lead.Region}}&t={{my.Tok}}&n={{trigger.Name}}"
        method post
        payload "{\\"r\\": \\"{{lead.Region}}\\", \\"s\\": \\"{{lead.Seats}}\\"}"
        response "seats" -> lead.Seats
    }
@C@
}
"""

TEXTS = [None, "", "Ann", "ann", "Zoë", "O\"Brien", "tab\tx", "nl\nx", "\x01ctl", "ß", "back\\slash", "😀",
         "US", "us", "NA", "a"]
person = st.fixed_dictionaries({
    "first name": st.sampled_from(TEXTS),
    "country": st.sampled_from([None, "", "US", "us", "CA", "DE", "ß", "Zoë"]),
    "region": st.sampled_from([None, "", "NA", "na", "EMEA", "straße \"q\" ü"]),
    "lead score": st.one_of(st.none(), st.integers(-3, 100)),
    "behavior score": st.one_of(st.none(), st.integers(0, 3)),
    "seats": st.one_of(st.none(), st.integers(0, 6)),
    "vip": st.one_of(st.none(), st.booleans()),
    "lead status": st.sampled_from([None, "Touched", "Open"]),
    "lead partition": st.sampled_from([None, "Default", "Partners", "partners"]),
    "since": st.one_of(st.none(), st.sampled_from([dt.date(2026, 3, 1), dt.date(2026, 2, 3)]),
                       st.dates(dt.date(2025, 12, 1), dt.date(2026, 4, 1))),
    "seen": st.one_of(st.none(), st.just(dt.datetime(2026, 3, 1, 9, 30)), st.just(NOW),
                      st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2026, 4, 1)).map(
                          lambda d: d.replace(microsecond=0))),
    "revenue": st.one_of(st.none(), st.sampled_from([Decimal("1.5"), Decimal("1.50"), Decimal("7"), Decimal("-0")]),
                         st.decimals(-100, 100, places=2)),
    "lists": st.sets(st.sampled_from(['"P"."L1"', '"P"."L2"'])),
    "status": st.sampled_from([None, "none", "Invited", "Attended", "Done"]),
    "runs": st.lists(st.tuples(st.sampled_from(['"P"."B"', '"P"."C1"', '"P"."C2"']), st.integers(0, 5)),
                     max_size=2),
    "sent": st.booleans(),
})


def build(program, people) -> Store:
    store = Store(":memory:")
    Engine(program, store, Clock(NOW))
    with store.transaction():
        for i, p in enumerate(people):
            values = {k: v for k, v in p.items() if k not in ("lists", "status", "runs", "sent") and v is not None}
            values["email address"] = f"p{i}@example.com"
            pid = store.add_person(values)
            for lkey in sorted(p["lists"]):
                store.list_add(lkey, pid, iso(NOW - dt.timedelta(days=3)))
            if p["status"] is not None:
                store.set_status('"P"', pid, None if p["status"] == "none" else p["status"], iso(NOW))
            for campaign, days in p["runs"]:
                store.record_run(pid, campaign, iso(NOW - dt.timedelta(days=days)), 1)
            if p["sent"]:
                store.add_activity(pid, "Send Email", None, None, iso(NOW - dt.timedelta(days=1)), {}, '"P"."E1"')
    return store


def snapshot(store: Store) -> dict:
    store.flush()
    out = {"log": store.activity_log_jsonl()}
    for table in ("people", "list_members", "program_members", "runs", "meta", "queue"):
        out[table] = store.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    return out


STATS = {"cases": 0, "set-based": 0, "fell back": 0, "entered": 0}


@pytest.fixture(scope="module", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def backend(request):
    if request.param == "duckdb":
        from campaignlang.sets.backend import DuckDBBackend
        # slices of 3 people: a case of 3 entered runs in one slice, a bigger one in several,
        # each numbered on from the slices before (``sets.run.slices``)
        b = DuckDBBackend(threads=1, slice_people=3)
    else:
        spark = pytest.importorskip("campaignlang.sets.spark")
        b = spark.SparkBackend()
    yield request.param, b
    b.close()


def _differential(backend, text, people, rounds, queued=None, seen=None, limits=None, hooks=None):
    name, b = backend
    try:
        program = compile_text(text, "gen.campaign")
    except DiagnosticError as exc:   # the generator's mistake: said, counted, skipped
        STATS.setdefault("invalid", []).append(str(exc)[:80])
        assume(False)
    base = build(program, people)
    ref, sets = base.copy_to_memory(), base.copy_to_memory()
    e_ref, e_sets = Engine(program, ref, Clock(NOW), **(limits or {})), Engine(program, sets, Clock(NOW), **(limits or {}))
    calls: dict[str, list] = {"ref": [], "sets": []}   # every webhook call, in the order the handler got it
    for key, e in (("ref", e_ref), ("sets", e_sets)):
        e.register_webhook('"Q"."W"', _hook(calls[key]))
    STATS["cases"] += 1
    fell_back = 0
    for r in range(rounds):
        want = e_ref.run_batch("P/B")
        before = snapshot(sets)
        try:
            e_sets.run_batch("P/B", engine=name, backend=b)
            STATS["set-based"] += 1
        except RunError as exc:
            assert "cannot run it" in str(exc) and "\n" not in str(exc)
            STATS.setdefault("refused", []).append(str(exc).split("cannot run it: ")[1][:70])
            assert snapshot(sets) == before   # nothing kept
            got = e_sets.run_batch("P/B", engine=name, fallback=True, backend=b)
            assert got.note and got.note.startswith("ran per person")
            STATS["fell back"] += 1
            fell_back += 1
        STATS["entered"] += len(want.entered)
        a, s = snapshot(ref), snapshot(sets)
        if queued is not None:
            queued.extend(s["queue"])
        for key in a:
            assert s[key] == a[key], (key, text)
        assert calls["sets"] == calls["ref"], text   # handlers called per person, in the same order
        e_ref.advance(dt.timedelta(days=1))
        e_sets.advance(dt.timedelta(days=1))
    e_ref.advance(dt.timedelta(days=3))   # the runs a wait paused resume (per person, in both)
    e_sets.advance(dt.timedelta(days=3))
    assert snapshot(sets) == snapshot(ref), text
    if seen is not None:
        seen.update(snapshot(sets))
    if hooks is not None:
        hooks.extend(calls["sets"])
    db = sets.db
    triggered = db.execute("SELECT count(*) FROM runs WHERE campaign IN ('\"Q\".\"X1\"', "
                           "'\"Q\".\"X2\"')").fetchone()[0]
    removals = db.execute("SELECT count(*) FROM activities WHERE type = 'Remove from Flow'").fetchone()[0]
    STATS["webhook calls"] = STATS.get("webhook calls", 0) + len(calls["ref"])
    for kind, sql in (("deletions", "type = 'Delete Person'"), ("partition changes", "type = 'Change Lead Partition'"),
                      ("date writes", "type = 'Change Data Value' AND asset IN ('since', 'seen')"),
                      ("decimal writes", "type = 'Change Data Value' AND asset = 'revenue'")):
        n = db.execute(f"SELECT count(*) FROM activities WHERE {sql}").fetchone()[0]
        STATS[f"cases with {kind}"] = STATS.get(f"cases with {kind}", 0) + bool(n)
    STATS["cases with triggered runs"] = STATS.get("cases with triggered runs", 0) + bool(triggered)
    STATS["cases with removals"] = STATS.get("cases with removals", 0) + bool(removals)
    return fell_back

@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(text=programs(), people=st.lists(person, min_size=3, max_size=8), rounds=st.integers(1, 2))
def test_set_based_and_per_person_engines_leave_the_same_store(backend, text, people, rounds):
    if backend[0] == "spark":   # Spark cases are few (each is seconds); counted apart from DuckDB's
        if STATS.setdefault("spark attempts", 0) >= SPARK_EXAMPLES:
            return
        STATS["spark attempts"] += 1
    _differential(backend, text, people, rounds)


def test_stats_are_mostly_set_based():
    # printed by hand runs (pytest -s): how many cases ran set-based, why others fell back
    from collections import Counter
    print({k: (Counter(v).most_common() if isinstance(v, list) else v) for k, v in STATS.items()})


def test_a_wait_pauses_everyone_and_the_queue_resumes_them_as_per_person(backend):
    flow = ('flow {\nchange score lead."Lead Score" by +5\nwait 2 days\nsend email "E1"\n'
            'execute campaign "Q"."C1" use parent token context\n}')
    text = PROGRAM.replace("@B@", f'campaign "B" batch {{\nsmart list {{\nfilter lead.Region is not "zz"\n}}\n'
                                  f'{flow}\n}}').replace(
        "@C@", 'campaign "C1" executable {\nflow {\nadd to list "L1"\n}\n}')
    people = [{"first name": n, "country": "US", "region": None, "lead score": 1, "behavior score": None,
               "seats": None, "vip": None, "lead status": None, "lists": set(), "status": None, "runs": [],
               "sent": False} for n in ("Ann", "Zoë", None)]
    queued = []
    assert _differential(backend, text, people, 1, queued) == 0   # set-based, not a fallback
    assert len(queued) == 3   # everyone paused at the wait

def test_a_request_is_judged_at_the_step_and_run_after_the_batch_as_per_person(backend):
    flow = ('flow {\nadd to list "Q"."L1"\nrequest campaign "Q"."T"\nexecute campaign "Q"."C1"\n'
            'change data value lead.Region to "after"\n}')
    t = ('campaign "T" trigger {\nsmart list {\ntrigger campaign is requested\nfilter member of list "L1"\n}\n'
         'flow {\ninteresting moment milestone "req {{trigger.Name}} {{lead.Region}}"\n}\nqualify every time\n}')
    text = PROGRAM.replace("@B@", f'campaign "B" batch {{\nsmart list {{\nfilter lead.Region is not "zz"\n}}\n'
                                  f'{flow}\n}}').replace(
        "@C@", 'campaign "C1" executable {\nflow {\nrequest campaign "T"\n}\nqualify every time\n}\n' + t)
    people = [{"first name": n, "country": "US", "region": None, "lead score": 1, "behavior score": None,
               "seats": None, "vip": None, "lead status": None, "lists": set(), "status": None, "runs": [],
               "sent": False} for n in ("Ann", "Zoë")]
    assert _differential(backend, text, people, 1) == 0


# -- fired triggers and remove from flow: the orders that are easy to get wrong ---------------


def _people(*names, **fields):
    base = {"first name": None, "country": "US", "region": None, "lead score": 1, "behavior score": None,
            "seats": None, "vip": None, "lead status": None, "lists": set(), "status": None, "runs": [],
            "sent": False}
    return [dict(base, **{"first name": n}, **fields) for n in names]


def _program(flow: str, q: str) -> str:
    batch = (f'campaign "B" batch {{\nsmart list {{\nfilter lead.Region is not "zz"\n}}\n'
             f'flow {{\n{flow}\n}}\nqualify every time\n}}')
    return PROGRAM.replace("@B@", batch).replace("@C@", q)


def _moments(seen: dict, person: int = 1) -> list[str]:
    import json
    rows = [json.loads(line) for line in seen["log"].splitlines()]
    return [r["attributes"]["description"] for r in rows
            if r["type"] == "Interesting Moment" and r["person"] == person]


def test_two_campaigns_on_one_event_start_in_campaign_order_each_once(backend):
    q = ('campaign "X1" trigger {\nsmart list {\ntrigger added to list "P"."L1"\n}\n'
         'flow {\ninteresting moment milestone "x1 {{trigger.Name}} {{trigger.List}}"\n}\nqualify every time\n}\n'
         'campaign "X2" trigger {\nsmart list {\ntrigger data value changes lead.Region to "zz"\n'
         'trigger data value changes lead.Region from "NA"\ntrigger added to list "P"."L1"\n}\n'
         'flow {\ninteresting moment milestone "x2 {{trigger.Trigger Name}} {{trigger.Old Value}}>'
         '{{trigger.New Value}}"\n}\nqualify every time\n}')
    text = _program('change data value lead.Region to "EU"\nadd to list "L1"', q)
    people = _people("Ann", "Bo", "Cy")
    people[0]["region"], people[1]["region"] = "na", "NA"   # `from "NA"` compares case-folded
    seen: dict = {}
    assert _differential(backend, text, people, 1, seen=seen) == 0
    assert _moments(seen, 1) == ["x2 Data Value Changes na>EU", "x1 L1 L1", "x2 Added to List >"]
    assert _moments(seen, 3) == ["x1 L1 L1", "x2 Added to List >"]


def test_a_trigger_judges_the_person_as_the_event_left_them(backend):
    q = ('campaign "X1" trigger {\nsmart list {\ntrigger score is changed lead."Lead Score"\n'
         'filter lead.Region is "NA"\n}\nflow {\ninteresting moment milestone "x1 {{lead.Region}} '
         '{{trigger.Old Value}} {{trigger.New Value}} {{trigger.Change}}"\n}\nqualify every time\n}\n'
         'campaign "X2" trigger {\nsmart list {\ntrigger data value changes lead.Region to "EU"\n'
         'filter lead."Lead Score" >= 6\n}\nflow {\ninteresting moment milestone "x2"\n}\n}')
    flow = ('change data value lead.Region to "NA"\nchange score lead."Lead Score" by +5\n'
            'change score lead."Lead Score" by =6\nchange data value lead.Region to "EU"\n'
            'change score lead."Lead Score" by -1')   # fires X1, whose filter no longer holds
    seen: dict = {}
    people = _people("Ann", "Bo")
    people[1]["lead score"] = None
    assert _differential(backend, _program(flow, q), people, 1, seen=seen) == 0
    # judged when Region was NA, run after Region became EU; `by =6` changed nothing: no run
    assert _moments(seen, 1) == ["x1 EU 1 6 +5", "x2"]
    assert _moments(seen, 2) == ["x1 EU  5 +5", "x1 EU 5 6 =6", "x2"]


def test_requests_and_triggers_of_one_person_run_in_the_order_they_were_made(backend):
    q = ('campaign "T" trigger {\nsmart list {\ntrigger campaign is requested\n}\n'
         'flow {\ninteresting moment milestone "t {{lead.Region}}"\n}\nqualify every time\n}\n'
         'campaign "X1" trigger {\nsmart list {\ntrigger added to list "P"."L1"\n}\n'
         'flow {\ninteresting moment milestone "x1"\nrequest campaign "T"\n}\nqualify every time\n}')
    flow = 'request campaign "Q"."T"\nadd to list "L1"\nchange data value lead.Region to "R"\nrequest campaign "Q"."T"'
    seen: dict = {}
    assert _differential(backend, _program(flow, q), _people("Ann", "Bo"), 1, seen=seen) == 0
    assert _moments(seen, 1) == ["t R", "x1", "t R", "t R"]


def test_remove_from_flow_drops_the_runs_already_due_but_not_later_ones(backend):
    q = ('campaign "X1" trigger {\nsmart list {\ntrigger added to list "P"."L1"\n}\n'
         'flow {\ninteresting moment milestone "x1"\n}\nqualify every time\n}\n'
         'campaign "X2" trigger {\nsmart list {\ntrigger data value changes lead.Region\n}\n'
         'flow {\ninteresting moment milestone "x2"\n}\nqualify every time\n}')
    flow = ('add to list "L1"\nremove from flow "Q"."X1"\n'
            'remove from flow {\n if lead.Vip is true then "Q"."X2"\n}\nchange data value lead.Region to "NA"')
    seen: dict = {}
    people = _people("Ann", "Bo")
    people[0]["vip"] = True
    assert _differential(backend, _program(flow, q), people, 1, seen=seen) == 0
    assert _moments(seen, 1) == ["x2"] and _moments(seen, 2) == ["x2"]
    assert seen["log"].count('"Remove from Flow"') == 3


def test_a_triggered_run_executes_a_child_in_its_token_context(backend):
    q = ('campaign "C1" executable {\nflow {\ninteresting moment milestone "c1 {{trigger.Name}} '
         '{{trigger.New Value}} {{my.Tok}} {{campaign.name}}"\n}\nqualify every time\n}\n'
         'campaign "X1" trigger {\nsmart list {\ntrigger data value changes lead.Region\n}\n'
         'flow {\nexecute campaign "C1" use parent token context\nexecute campaign "C1"\n}\n'
         'qualify every time\n}')
    seen: dict = {}
    assert _differential(backend, _program('change data value lead.Region to "{{my.Tok}}"', q),
                         _people("Ann"), 1, seen=seen) == 0
    assert _moments(seen, 1) == ["c1 Region p\"q ü child 'tok' X1", "c1   child 'tok' C1"]


def test_removing_a_running_campaign_ends_the_whole_run(backend):
    q = ('campaign "C1" executable {\nflow {\ninteresting moment milestone "c1"\n'
         'remove from flow {\n if lead.Vip is true then this campaign\n}\nadd to list "L2"\n}\n'
         'qualify every time\n}\n'
         'campaign "X1" trigger {\nsmart list {\ntrigger added to list "P"."L1"\n}\n'
         'flow {\ninteresting moment milestone "x1"\n}\nqualify every time\n}')
    flow = ('execute campaign "Q"."C1"\nadd to list "L1"\nsend email "E1"\nremove from flow this campaign\n'
            'wait 2 days\nsend email "E2"')
    seen: dict = {}
    people = _people("Ann", "Bo")
    people[0]["vip"] = True
    assert _differential(backend, _program(flow, q), people, 1, seen=seen) == 0
    assert _moments(seen, 1) == ["c1"] and _moments(seen, 2) == ["c1", "x1"]
    assert seen["log"].count('"Send Email"') == 1 and seen["queue"] == []


def test_remove_from_flow_ends_a_wait_an_earlier_action_queued(backend):
    q = ('campaign "X1" trigger {\nsmart list {\ntrigger data value changes lead.Region to "NA"\n}\n'
         'flow {\nwait 3 days\ninteresting moment milestone "late"\n}\nqualify every time\n}')
    flow = 'remove from flow {\n if lead.Region is "NA" then "Q"."X1"\n}\nchange data value lead.Region to "NA"'
    queued: list = []
    seen: dict = {}
    assert _differential(backend, _program(flow, q), _people("Ann", "Bo"), 2, queued, seen) == 0
    assert len(queued) == 2   # the first batch's triggered runs waited; the second removed them
    assert _moments(seen, 1) == [] and seen["log"].count('"Remove from Flow"') == 2


@pytest.mark.parametrize("limits, error", [({"max_runs_per_person": 4}, "runs for this person in one action"),
                                           ({"max_runs_per_action": 5}, "runs in one action")])
def test_triggers_that_fire_each_other_stop_at_the_same_limit(backend, limits, error):
    q = ('campaign "X1" trigger {\nsmart list {\ntrigger score is changed lead."Lead Score"\n}\n'
         'flow {\nchange score lead."Lead Score" by +1\n}\nqualify every time\n}')
    seen: dict = {}
    assert _differential(backend, _program('change score lead."Lead Score" by +5', q), _people("Ann", "Bo", "Cy"),
                         1, seen=seen, limits=limits) == 0
    assert error in seen["log"]   # the batch's own run counts toward the limit, as per person


def test_webhook_handlers_are_called_per_person_in_order(backend):
    # a batch cannot call a webhook (CL203); the trigger campaigns its events and requests
    # start can, and those runs go per person after the batch, in the order they were made
    q = ('campaign "T" trigger {\nsmart list {\ntrigger campaign is requested\n}\n'
         'flow {\ncall webhook "W"\ninteresting moment milestone "t {{lead.Seats}}"\n}\nqualify every time\n}\n'
         'campaign "X1" trigger {\nsmart list {\ntrigger added to list "P"."L1"\n}\n'
         'flow {\ncall webhook "W"\ninteresting moment milestone "x1 {{lead.Seats}}"\n}\nqualify every time\n}')
    flow = ('change data value lead.Region {\n if lead.Vip is true then to "EMEA"\n else to "NA"\n}\n'
            'request campaign "Q"."T"\nadd to list "L1"')
    people = _people("Ann", "Bo", "Cy")
    people[1]["vip"] = True   # Bo's calls raise: an Error ends each of Bo's runs
    seen: dict = {}
    hooks: list = []
    assert _differential(backend, _program(flow, q), people, 1, seen=seen, hooks=hooks) == 0
    emails = [email for *_rest, email in hooks]
    # person by person in id order; within a person, the request made first runs first
    assert emails == ["p0@example.com"] * 2 + ["p1@example.com"] * 2 + ["p2@example.com"] * 2
    # T (its {{trigger.Name}} is B, who requested it), then X1 (added to L1)
    assert [url.split("n=")[1] for _w, _m, url, _p, _e in hooks] == ["B", "L1"] * 3
    assert _moments(seen, 1) == ["t 1", "x1 2"] and _moments(seen, 2) == []
    assert seen["log"].count('"Error"') == 2 and seen["log"].count('"Call Webhook"') == 6


def test_delete_person_ends_the_run_and_leaves_nothing_of_the_person_behind(backend):
    # round 1: nobody is in L1 yet: added, which starts X1 (it waits) and requests T;
    # round 2: the child deletes everyone: the whole run ends there (no moment, no request,
    # no email), and their memberships and the waits X1 left are gone
    q = ('campaign "C1" executable {\nflow {\nadd to list "L2"\ndelete person\n'
         'interesting moment milestone "never"\n}\nqualify every time\n}\n'
         'campaign "T" trigger {\nsmart list {\ntrigger campaign is requested\n}\n'
         'flow {\ninteresting moment milestone "t"\n}\nqualify every time\n}\n'
         'campaign "X1" trigger {\nsmart list {\ntrigger added to list "P"."L1"\n}\n'
         'flow {\nwait 3 days\ninteresting moment milestone "late"\n}\nqualify every time\n}')
    flow = ('execute campaign {\n if member of list "L1" then "Q"."C1"\n}\nadd to list "L1"\n'
            'request campaign "Q"."T"\nsend email "E1"')
    queued: list = []
    seen: dict = {}
    assert _differential(backend, _program(flow, q), _people("Ann", "Bo"), 2, queued, seen) == 0
    assert len(queued) == 2   # after round 1, X1's waits; round 2 deleted them
    assert [(pid, email_key, deleted) for pid, email_key, deleted, *_f in seen["people"]] == \
        [(1, None, 1), (2, None, 1)]   # deleted, their addresses free again
    log = seen["log"]
    assert log.count('"Delete Person"') == 2 and "never" not in log and "late" not in log
    assert _moments(seen, 1) == ["t"] and log.count('"Send Email"') == 2   # round 1's only
    assert seen["list_members"] == [] and seen["queue"] == []


def test_delete_person_in_a_choice_deletes_only_those_it_names(backend):
    # the request made before the deletion is logged; the requested run finds Bo deleted
    flow = 'add to list "L1"\nrequest campaign "Q"."T"\ndelete person {\n if lead.Vip is true then\n}\nsend email "E1"'
    q = ('campaign "T" trigger {\nsmart list {\ntrigger campaign is requested\n}\n'
         'flow {\ninteresting moment milestone "t"\n}\nqualify every time\n}')
    people = _people("Ann", "Bo", "Cy")
    people[1]["vip"] = True
    seen: dict = {}
    assert _differential(backend, _program(flow, q), people, 1, seen=seen) == 0
    assert seen["log"].count('"Delete Person"') == 1 and seen["log"].count('"Send Email"') == 2
    assert seen["log"].count('"Request Campaign"') == 3 and seen["log"].count('"Campaign is Requested"') == 2
    assert _moments(seen, 1) == ["t"] and _moments(seen, 2) == [] and _moments(seen, 3) == ["t"]
    assert [person for _list, person, *_rest in seen["list_members"]] == [1, 3]
    assert [deleted for _pid, _key, deleted, *_f in seen["people"]] == [0, 1, 0]


def test_dates_and_date_times_are_written_compared_and_rendered_as_per_person(backend):
    # a date or date-time is stored as its ISO text: written from a literal, a date token or the
    # clock; unchanged when equal (no activity, no event); rendered as the per-person engine
    # renders it (a date-time with a space); the trigger sees old and new as dates
    q = ('campaign "X1" trigger {\nsmart list {\ntrigger data value changes lead.Since\n}\n'
         'flow {\ninteresting moment milestone "x {{trigger.Old Value}}>{{trigger.New Value}}"\n}\n'
         'qualify every time\n}')
    flow = ('change data value lead.Since to 2026-03-01\nchange data value lead.Seen to {{system.dateTime}}\n'
            'interesting moment milestone "{{lead.Since}} {{lead.Seen}}"\n'
            'execute campaign "Q"."C1" use parent token context')
    c1 = 'campaign "C1" executable {\nflow {\nchange data value lead.Since to {{my.Day}}\n}\nqualify every time\n}\n'
    people = _people("Ann", "Bo", "Cy")
    people[0]["since"], people[1]["since"] = dt.date(2026, 3, 1), dt.date(2026, 1, 2)
    people[2]["seen"] = NOW
    seen: dict = {}
    assert _differential(backend, _program(flow, c1 + q), people, 1, seen=seen) == 0
    assert _moments(seen, 1) == ["2026-03-01 2026-03-02 09:30:00", "x 2026-03-01>2026-02-03"]
    assert _moments(seen, 2) == ["2026-03-01 2026-03-02 09:30:00", "x 2026-01-02>2026-03-01",
                                 "x 2026-03-01>2026-02-03"]
    assert seen["log"].count('"field":"Seen"') == 2   # Cy's was the clock's already


def test_decimals_are_compared_as_numbers_and_logged_as_their_text(backend):
    # 1.50 stored, 1.5 written: one value, so nothing is written, logged or fired; 7 and
    # null are changes; the trigger sees the old and new values as the per-person engine does
    q = ('campaign "X1" trigger {\nsmart list {\ntrigger data value changes lead.Revenue\n}\n'
         'flow {\ninteresting moment milestone "x {{trigger.Old Value}}>{{trigger.New Value}}"\n}\n'
         'qualify every time\n}')
    flow = 'change data value lead.Revenue to 1.5\nchange data value lead.Revenue to {{my.Rev}}'
    people = _people("Ann", "Bo")
    people[0]["revenue"], people[1]["revenue"] = Decimal("1.50"), Decimal("-0")
    seen: dict = {}
    assert _differential(backend, _program(flow, q), people, 1, seen=seen) == 0
    assert _moments(seen, 1) == [] and _moments(seen, 2) == ["x -0>1.5"]   # then {{my.Rev}}, 1.50: no change
    assert seen["log"].count('"field":"Revenue"') == 1 and '"old":"-0"' in seen["log"]
