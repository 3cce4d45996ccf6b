"""Optimisations change nothing (issue 8): a fixed program run by a fixed
script of actions over a few hundred generated people writes the same
activity log, byte for byte, and leaves the same store as when the golden
files were recorded (before the evaluator was compiled to closures, filters
pushed down further and writes batched).

The program (tests/perf/golden.campaign) uses every step, every filter
family, choices, execute with and without the parent's token context, nested
executables, trigger campaigns of most kinds, requests, waits, webhooks (a
handler that answers and one that fails), member data, deletion, a runtime
error and qualification rules. The golden files are tests/perf/golden.jsonl
(the activity log) and tests/perf/golden_state.json (every table of the
store); ``pytest --update-golden`` rewrites them — review the diff as code,
since a change there is a change of behaviour.

The same script with batches streamed 7 people at a time must give the same
files (chunk edges: memberships read ahead, writes buffered); a batch stopped
half-way leaves nothing of its buffers; a person read with some columns reads
the rest when asked; and a template renders as its parts do, on random
templates and token contexts.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from campaignlang import ast
from campaignlang.clock import Clock
from campaignlang.api import compile_paths
from campaignlang.engine import Engine
from campaignlang.errors import RunError
from campaignlang.evaluate import TokenContext, json_escape, url_escape
from engine_helpers import make_unchecked

HERE = Path(__file__).resolve().parent / "perf"

COUNTRIES = ["US", "us", "CA", "DE", "de", "FR", "fr", "GB", "BR", "", None, "Ca"]
FIRST = ["Ann", "Bob", None, "Cy", "Dee", "Éva", "straße"]


def people(n: int = 300, seed: int = 20260105) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rec: dict = {"Email Address": f"{'keep' if i % 17 == 0 else 'p'}{i}@example.com"}
        for name, value in (
            ("First Name", rng.choice(FIRST)),
            ("Country", rng.choice(COUNTRIES)),
            ("Lead Score", rng.choice([None, 0, 5, 10, 39, 40, 79, 80, 85, 95])),
            ("Unsubscribed", rng.choice([None, False, False, True])),
            ("Lead Status", rng.choice([None, "Open", "Disqualified", "open"])),
            ("Seats", rng.choice([None, 0, 1, 8, 12])),
            ("Ratio", rng.choice([None, "0", "0.5", "1.75", "3"])),
            ("Renewal", rng.choice([None, "2025-12-01", "2025-12-15", "2026-01-04", "2026-01-05", "2026-02-01"])),
            ("Seen", rng.choice([None, "2025-12-20T08:00", "2026-01-01T00:00", "2026-01-05T08:59"])),
            ("Vip", rng.choice([None, True, False])),
            ("Notes", rng.choice([None, "", "some"])),
            ("Company Name", rng.choice([None, "Acme", "Globex"])),
        ):
            if value is not None:
                rec[name] = value
        out.append(rec)
    return out


def handler(request):
    n = int("".join(ch for ch in request.email if ch.isdigit()) or 0)
    if n % 7 == 3:
        raise ConnectionError("refused")
    if n % 5 == 0:
        return 503, {"tier": "none"}
    return 200, {"company": {"size": n * 10}, "tier": "gold" if n % 2 else "silver"}


def scenario(store=None, chunk: int | None = None) -> Engine:
    """The fixed script of actions; returns the engine (its store holds the outcome)."""
    program = compile_paths([HERE / "golden.campaign"])
    e = Engine(program, store, Clock(dt.datetime(2026, 1, 5, 9, 0)))
    if chunk is not None:
        e.batch_chunk = chunk
    e.register_webhook("Webinar/Enrich", handler)
    e.import_people(people())
    emails = [f"{'keep' if i % 17 == 0 else 'p'}{i}@example.com" for i in range(300)]
    e.run_batch("Webinar/Invite")
    e.fire("fills out form", emails[::4], '"Webinar"."Register"', {"Web Page": "/reg"})
    e.fire("visits web page", emails[1::6], "/pricing")
    e.fire("opens email", emails[2::9], '"Webinar"."Invite"')
    e.fire("clicks link in email", emails[3::11], '"Webinar"."Invite"')
    e.fire("data value changes", emails[::8], field_name="Unsubscribed", to=True)
    e.advance("1 day")
    e.run_batch("Webinar/Followers")
    e.run_batch("Webinar/History")
    e.advance("2 days")
    e.run_batch("Cleanup/Dates")
    e.run_batch("Cleanup/Purge")
    e.run_batch("Cleanup/Bad Token", tokens={"my.Score": "lots"})
    alive = [m for m in emails if e.store.find_person(m) is not None]
    e.request("Nurture/Drip", alive[5:60:3], tokens={"my.Score": "+3"})
    e.advance("2026-01-11T00:00")
    e.run_batch("Webinar/History")
    e.run_batch("Webinar/Invite")
    e.fire("score is changed", alive[10:40], field_name="Lead Score", to=95)
    e.add_person("late@example.com", {"Country": "US", "Lead Score": 50})
    e.advance("3 days")
    e.run_batch("Webinar/History")
    return e


def state(e: Engine) -> dict:
    db = e.store.db
    e.store.flush()
    out = {}
    for table in ("people", "list_members", "program_members", "runs", "queue", "schedules", "meta"):
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        order = ", ".join(f'"{c}"' for c in cols)
        out[table] = {"columns": cols, "rows": [list(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]}
    return out


def test_activity_log_and_store_are_byte_identical_to_the_golden_run(update_golden):
    e = scenario()
    log = e.activity_log_jsonl()
    dumped = json.dumps(state(e), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    golden_log, golden_state = HERE / "golden.jsonl", HERE / "golden_state.json"
    if update_golden or not golden_log.exists():
        golden_log.write_text(log, encoding="utf-8")
        golden_state.write_text(dumped, encoding="utf-8")
    assert log.count("\n") > 1000
    assert log == golden_log.read_text(encoding="utf-8")
    assert dumped == golden_state.read_text(encoding="utf-8")


def test_a_file_store_gives_the_same_log(tmp_path):
    e = scenario(str(tmp_path / "s.db"))
    assert e.activity_log_jsonl() == (HERE / "golden.jsonl").read_text(encoding="utf-8")


def test_small_chunks_give_the_same_log_and_store():
    # batches stream people a chunk at a time, reading memberships ahead per
    # chunk and buffering writes: chunk edges must change nothing
    e = scenario(chunk=7)
    assert e.activity_log_jsonl() == (HERE / "golden.jsonl").read_text(encoding="utf-8")
    dumped = json.dumps(state(e), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert dumped == (HERE / "golden_state.json").read_text(encoding="utf-8")


def test_a_failed_batch_leaves_nothing_of_its_buffers():
    program = compile_paths([HERE / "golden.campaign"])
    e = Engine(program, None, Clock(dt.datetime(2026, 1, 5, 9, 0)))
    e.import_people(people())
    e.batch_chunk = 5
    before = state(e), e.activity_log_jsonl()
    e.max_steps = 400   # stops the action inside a later chunk, with writes buffered
    with pytest.raises(RunError):
        e.run_batch("Webinar/Invite")
    assert (state(e), e.activity_log_jsonl()) == before
    e.max_steps = None
    e.batch_chunk = 2000
    e.run_batch("Webinar/Invite")
    reference = Engine(program, None, Clock(dt.datetime(2026, 1, 5, 9, 0)))
    reference.import_people(people())
    reference.run_batch("Webinar/Invite")
    assert e.activity_log_jsonl() == reference.activity_log_jsonl()
    assert state(e) == state(reference)


def test_a_person_read_with_some_columns_reads_the_rest_when_asked():
    e = scenario()
    store = e.store
    for pid in store.person_ids()[:50]:
        full = store.person(pid)
        part = store.person(pid, store.columns_for({"country"}))
        assert part.fields() == full.fields()
        part = store.person(pid, store.columns_for({"country"}))
        part._set("seats", 99)   # a value set before the rest is read stays
        assert part.get("seats") == 99 and part.get("lead score") == full.get("lead score")


# -- the one renderer: a template renders as its parts do, in every kind of context ----------

_TPL: dict = {}
TEMPLATES = """
fields { "Seats": integer; "Renewal": date; "Vip": boolean }
workspace "W" {
    tokens { my.Shared = "shared"; my.Empty = "" }
    program "P" {
        description "P's description"
        member fields "Code"
        tokens {
            my.Plain = "plain & <b>"
            my.Score = +5
            my.Greeting = "Hi {{lead.First Name:default=you}} from {{campaign.name}}"
            my.Nested = "[{{my.Greeting}}|{{my.Empty:default=e}}]"
            my.Loop = "({{my.Loop}})"
            my.When = 2026-02-01
        }
        campaign "C" batch { smart list { filter lead.Seats > 0 }; flow { interesting moment milestone "x" } }
        campaign "X" executable { flow { interesting moment milestone "x" } }
    }
}
"""

TOKENS = [ast.TokenRef(ns, name, default) for ns, name in [
    ("my", "Plain"), ("my", "Score"), ("my", "Greeting"), ("my", "Nested"), ("my", "Loop"), ("my", "When"),
    ("my", "Shared"), ("my", "Empty"), ("my", "Undefined"), ("lead", "First Name"), ("lead", "Seats"),
    ("lead", "Renewal"), ("lead", "Vip"), ("lead", "Nope"), ("system", "date"), ("system", "dateTime"),
    ("system", "time"), ("system", "other"), ("campaign", "name"), ("campaign", "id"), ("campaign", "description"),
    ("program", "name"), ("program", "description"), ("member", "Code"), ("member", "status"),
    ("trigger", "Name"), ("trigger", "Web Page"), ("nowhere", "x")] for default in (None, "", "d")]

templates = st.one_of(
    st.sampled_from(TOKENS),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.sampled_from(["", " ", "a&b", "é\"q"])), max_size=6)
    .map(lambda parts: ast.Template(tuple(parts))),
    st.just(ast.String("literal")))


@settings(max_examples=300, deadline=None)
@given(st.lists(templates, min_size=1, max_size=4), st.sampled_from([None, url_escape, json_escape]),
       st.sampled_from([None, "", "Ann", "Ünï \"q\""]), st.sampled_from([None, 0, 7]),
       st.sampled_from(["own", "api", "trigger", "child", "child-parent"]))
def test_templates_render_as_their_parts_do(nodes, escape, first, seats, which):
    if "e" not in _TPL:
        e = make_unchecked(TEMPLATES)
        e.add_person("a@example.com")
        e.run_steps("a@example.com", [ast.ChangeProgramStatus("P", "Member")])
        e.run_steps("a@example.com", [ast.ChangeMemberData("P", "Code", ast.String("C-1"))])
        _TPL["e"] = e
    e = _TPL["e"]
    c, x = e.campaign("P/C"), e.campaign("P/X")
    ctx = {"own": lambda: e.evaluator.own_context(c), "api": lambda: e.evaluator.own_context(c, {"Plain": "from api", "Empty": "x"}),
           "trigger": lambda: e.evaluator.own_context(c, None, {"name": "Form", "web page": "/w?a=1&b"}),
           "child": lambda: e.evaluator.own_context(c).for_child(x, False),
           "child-parent": lambda: e.evaluator.own_context(c, None, {"name": "T"}).for_child(x, True)}[which]()
    person = e.store.person(e.person_id("a@example.com"))
    person._vals.update({"first name": first, "seats": seats})
    for node in nodes:
        got = e.evaluator.render(node, person, ctx, escape=escape)
        # a template renders as its parts rendered one by one, the escape applied to
        # what tokens render and never to the template's own text
        if isinstance(node, ast.Template):
            want = "".join(p if isinstance(p, str) else e.evaluator.render(p, person, ctx, escape=escape)
                           for p in node.parts)
            assert got == want, node
        assert e.evaluator.render(node, person, ctx, escape=escape) == got   # folded once, the same again
        if escape is None and isinstance(node, ast.TokenRef) and node.default:
            assert got != ""   # `:default=` fills an empty value
    assert isinstance(TokenContext.own(c).env, type(ctx.env))
