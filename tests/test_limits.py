"""Limits (issue 7, items 2 and 3): trigger loops stopped by the runs-per-person
limit with an Error naming the cycle while the action's other work stands;
max steps, max people and cancellation from another thread end the action
with a RunError and leave the store exactly as before (a full dump of the
database compared before and after)."""

from __future__ import annotations

import threading

import pytest

from campaignlang.api import check_text
from campaignlang.errors import RunError

from engine_helpers import acts, make

FLIP = """
fields { "Stage": text }
program "Loop" {
    form "F"
    campaign "To B" trigger {
        smart list { trigger data value changes lead.Stage to "a" }
        flow { change data value lead.Stage to "b" }
        qualify every time
    }
    campaign "To A" trigger {
        smart list { trigger data value changes lead.Stage to "b" }
        flow { change data value lead.Stage to "a" }
        qualify every time
    }
    campaign "Start" trigger {
        smart list { trigger fills out form "F" }
        flow {
            interesting moment web "started"
            change data value lead.Stage to "a"
            interesting moment web "still here"
        }
        qualify every time
    }
}
"""

BIG = """
program "P" {
    list "Done"
    campaign "All" batch {
        smart list { filter lead."Lead Score" >= 0 }
        flow {
            change score lead."Lead Score" by +1
            add to list "Done"
        }
        qualify every time
    }
}
"""


def dump(e) -> list[str]:
    e.store.flush()
    return list(e.store.db.iterdump())


def moments(e, who):
    return [a.attributes["description"] for a in acts(e, who, "Interesting Moment")]


# -- trigger loops at run time ------------------------------------------------------------------

def test_the_checker_warns_of_the_trigger_cycle():
    warnings = [d for d in check_text(FLIP).diagnostics if d.code == "CL602"]
    assert warnings and warnings[0].severity == "warning"
    assert '"Loop"."To A"' in warnings[0].message and '"Loop"."To B"' in warnings[0].message


def test_a_trigger_loop_is_stopped_by_the_runs_per_person_limit():
    e = make(FLIP)
    e.add_person("ann@example.com")
    e.add_person("bob@example.com")
    result = e.fire("fills out form", ["ann@example.com", "bob@example.com"], "F")
    for who in ("ann@example.com", "bob@example.com"):
        [err] = acts(e, who, "Error")
        message = err.attributes["message"]
        assert message.startswith("more than 1000 runs for this person in one action; stopped the cycle ")
        cycle = err.attributes["cycle"]
        assert set(cycle) == {'"Loop"."To A"', '"Loop"."To B"'} and cycle[0] == cycle[-1]
        assert " -> ".join(cycle) in message
        # the action's other work stands: the starting run finished, 1,000 runs happened
        assert moments(e, who) == ["started", "still here"]
        assert len(acts(e, who, "Change Data Value")) == 1000
    assert result.runs == 2000 and result.errors == 2
    assert e.store.run_history()[-1][0] == 2          # bob ran after ann was stopped
    # a later action starts counting afresh
    e.fire("fills out form", ["ann@example.com"], "F")
    assert len(acts(e, "ann@example.com", "Error")) == 2


def test_the_runs_per_person_limit_is_configurable():
    e = make(FLIP, max_runs_per_person=7)
    e.add_person("ann@example.com")
    result = e.fire("fills out form", ["ann@example.com"], "F")
    assert result.runs == 7
    [err] = acts(e, "ann@example.com", "Error")
    assert err.attributes["message"].startswith("more than 7 runs for this person in one action")


def test_a_request_loop_is_stopped_too():
    e = make("""
program "P" {
    campaign "A" trigger {
        smart list { trigger campaign is requested from any }
        flow { request campaign "B" }
        qualify every time
    }
    campaign "B" trigger {
        smart list { trigger campaign is requested }
        flow { request campaign "A" }
        qualify every time
    }
}
""", max_runs_per_person=20)
    e.add_person("ann@example.com")
    e.request("P/A", ["ann@example.com"])
    [err] = acts(e, "ann@example.com", "Error")
    assert err.attributes["cycle"] in (['"P"."A"', '"P"."B"', '"P"."A"'], ['"P"."B"', '"P"."A"', '"P"."B"'])
    assert len(e.store.run_history()) == 20


# -- limits for embedders: the store exactly as before -------------------------------------------

def _big(n=300, **kw):
    e = make(BIG, **kw)
    e.import_people([{"Email Address": f"p{i}@example.com", "Lead Score": i} for i in range(n)])
    return e


def test_max_steps_ends_the_action_and_keeps_nothing():
    e = _big(max_steps=250)
    before, now = dump(e), e.now
    with pytest.raises(RunError, match=r"^the action ran more than 250 steps; nothing it did was kept$"):
        e.run_batch("P/All")
    assert dump(e) == before and e.now == now
    e.max_steps = None
    result = e.run_batch("P/All")                  # the engine goes on afterwards
    assert result.runs == 300 and dump(e) != before


def test_max_steps_counts_the_whole_action_trigger_loops_included():
    e = make(FLIP, max_steps=100)
    e.add_person("ann@example.com")
    before = dump(e)
    with pytest.raises(RunError, match="more than 100 steps"):
        e.fire("fills out form", ["ann@example.com"], "F")
    assert dump(e) == before


def test_max_people_ends_the_action_and_keeps_nothing():
    e = _big(max_people=299)
    before = dump(e)
    with pytest.raises(RunError, match=r'^"P"."All" reaches 300 people, more than the limit of 299$'):
        e.run_batch("P/All")
    assert dump(e) == before
    e.max_people = 300
    assert e.run_batch("P/All").runs == 300


def test_max_people_applies_to_scheduled_batches_in_an_advance():
    e = make(BIG.replace('qualify every time', 'schedule 2026-01-02T00:00\n        qualify every time'),
             max_people=2)
    e.import_people([{"Email Address": f"p{i}@example.com", "Lead Score": 1} for i in range(3)])
    before, now = dump(e), e.now
    with pytest.raises(RunError, match="reaches 3 people, more than the limit of 2"):
        e.advance("2 days")
    assert dump(e) == before and e.now == now


def test_cancel_from_another_thread_mid_batch_keeps_nothing():
    e = _big(3000)
    before, now = dump(e), e.now
    under_way = threading.Event()
    e.progress = lambda done, total: under_way.set()   # called every 500 people, in the action's thread
    outcome: list[BaseException | object] = []

    def work():
        try:
            outcome.append(e.run_batch("P/All"))
        except BaseException as exc:   # noqa: BLE001 - the assertion below names it
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    assert under_way.wait(30), "the batch never got under way"
    e.cancel()
    worker.join(30)
    assert not worker.is_alive()
    [exc] = outcome
    assert isinstance(exc, RunError) and str(exc) == "the action was cancelled; nothing it did was kept"
    assert dump(e) == before and e.now == now
    e.progress = None
    assert e.run_batch("P/All").runs == 3000   # a cancel applies to the action it stopped only


def test_limits_stop_an_action_whatever_it_is():
    e = make(FLIP, max_steps=5)
    e.add_person("ann@example.com")
    for action in (lambda: e.fire("fills out form", ["ann@example.com"], "F"),
                   lambda: e.run_steps("ann@example.com", check_text(
                       'program "Q" { campaign "C" executable { flow { '
                       + "; ".join(['change data value lead.Stage to "x"'] * 6) + " } } }"
                   ).model.campaigns[0].steps)):
        before = dump(e)
        with pytest.raises(RunError, match="more than 5 steps"):
            action()
        assert dump(e) == before


# -- issue 14, item 8: a cap per action, said in the summary ----------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(people=st.integers(1, 30), cap=st.integers(1, 400), per_person=st.integers(2, 60))
def test_runs_per_action_are_capped_and_the_rest_stands(people, cap, per_person):
    e = make(FLIP, max_runs_per_action=cap, max_runs_per_person=per_person)
    emails = [f"p{i}@example.com" for i in range(people)]
    for who in emails:
        e.add_person(who)
    result = e.fire("fills out form", emails, "F")
    assert result.runs <= cap
    errors = [a for a in acts(e, None, "Error") if "runs in one action" in a.attributes["message"]]
    # each person loops until their own limit; the action's cap is met first when
    # the people's runs together reach it (the next run asked for is refused)
    assert len(errors) == (1 if people * per_person >= cap else 0)
    assert e.activities(None, "Fill Out Form")   # what ran stands


def test_limits_refuse_nonsense_values():
    from campaignlang.api import compile_text as program_from_text
    from campaignlang.engine import Engine
    for bad in (0, -1, "5", 2.5, True):
        with pytest.raises(RunError):
            Engine(program_from_text(FLIP), max_runs_per_action=bad)


def test_the_cli_prints_the_cycle_in_the_summary(tmp_path):
    from click.testing import CliRunner

    from campaignlang.cli import main

    prog = tmp_path / "loop.campaign"
    prog.write_text(FLIP)
    people = tmp_path / "people.csv"
    people.write_text("Email Address\nann@example.com\n")
    events = tmp_path / "events.jsonl"
    events.write_text('{"at": "2026-01-02T10:00", "person": "ann@example.com", "trigger": "fills out form", '
                      '"name": "F"}\n')
    db = tmp_path / "s.db"
    assert CliRunner().invoke(main, ["people", "import", str(people), "--db", str(db)]).exit_code == 0
    out = CliRunner().invoke(main, ["events", str(prog), str(events), "--db", str(db),
                                    "--max-runs-per-person", "10"])
    assert 'stopped: more than 10 runs for this person in one action; stopped the cycle "Loop"' in out.output
