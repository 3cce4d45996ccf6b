"""The evaluator without the engine: it runs filters, steps and tokens for a
host of its own (``evaluate.Host``); ``StandaloneHost`` is the one without
an engine (events go nowhere, a requested campaign is an error)."""

from __future__ import annotations

from campaignlang import ast
from campaignlang.api import compile_text
from campaignlang.clock import Clock
from campaignlang.evaluate import EndRun, Evaluator, Frame, Run, TokenContext
from campaignlang.store import Store

PROGRAM = """
program "P" {
    tokens { my.Bonus = +5 }
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow {
            change score lead."Lead Score" by {{my.Bonus}}
            interesting moment milestone "hello {{lead.First Name:default=you}}"
            request campaign "T"
        }
    }
    campaign "T" trigger {
        smart list { trigger campaign is requested }
        flow { interesting moment milestone "t" }
    }
}
"""


def _world() -> tuple[Evaluator, Store, int]:
    program = compile_text(PROGRAM, "p.campaign")
    store = Store(":memory:")
    store.ensure_fields({ast.name_key(name): (name, type_) for name, type_ in program.model.fields.values()})
    with store.transaction():
        pid = store.add_person({"email address": "ann@example.com", "country": "US", "first name": "Ann"})
    return Evaluator(program.model, store, Clock()), store, pid


def test_filters_and_steps_run_without_an_engine():
    ev, store, pid = _world()
    c = next(c for c in ev.model.campaigns if c.name == "C")
    person = store.person(pid)
    assert ev.matches(c.smart_list, person, c.program)
    run = Run(1, person, Frame(c, TokenContext.own(c)))
    with store.transaction():
        try:
            ev.exec_steps(run, c.steps)
        except EndRun as end:   # `request campaign` needs an engine: that person's run ends with an Error
            assert end.reason == "error"
    acts = store.activities(person=pid)
    assert [a.type for a in acts] == ["Change Score", "Interesting Moment", "Request Campaign", "Error"]
    assert acts[0].new == 5 and acts[1].attributes["description"] == "hello Ann"
    assert "no engine runs requested campaigns" in acts[3].attributes["message"]
    assert store.person(pid).get("lead score") == 5


def test_a_host_sees_the_events_steps_cause():
    ev, store, pid = _world()
    seen: list[tuple[str, dict]] = []

    class Recording(type(ev.host)):   # the standalone host, listening
        def listens(self, kind: str) -> bool:
            return True

        def emit(self, person, kind, **event):
            seen.append((kind, event))

    ev.host = Recording()
    c = next(c for c in ev.model.campaigns if c.name == "C")
    run = Run(1, store.person(pid), Frame(c, TokenContext.own(c)))
    with store.transaction():
        ev.exec_steps(run, c.steps[:1])
    assert seen == [("score is changed", {"field": "lead score", "field_name": "Lead Score", "old": None,
                                          "new": 5, "change": "+5"})]
