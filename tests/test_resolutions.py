"""The runtime reads the checker's resolutions (``CheckedProgram.resolutions``):
every name a checked program writes (campaigns, lists, smart lists, emails,
forms, webhooks, programs) is resolved once, by the checker, and the
evaluator and the engine take its answer instead of resolving it again. The
model is asked only about names the checker never saw (API names, a clone's
inherited steps in another program), and those keep today's behaviour."""

from __future__ import annotations

import attrs
import pytest

from campaignlang.api import compile_text
from campaignlang.check import Resolutions
from campaignlang.engine import Engine
from campaignlang.model import Model

PROGRAM = """
program "Ops" {
    statuses "Invited", "Registered"
    list "Customers"
    list "VIP"
    form "Contact Us"
    email "Hello" { subject "Hi {{lead.First Name:default=there}}" }
    webhook "Enrich" { url "https://example.com/e?c={{lead.Country}}" }
    smart list "US people" { filter lead.Country is "US" }
    campaign "On Form" trigger {
        smart list {
            trigger fills out form "Contact Us"
            filter member of smart list "US people"
            filter not member of list "VIP"
        }
        flow {
            send email "Hello"
            add to list "Customers"
            change program status "Ops" to "Registered"
            call webhook "Enrich"
            execute campaign "Score" use parent token context
            request campaign "Later"
        }
    }
    campaign "Score" executable {
        smart list { filter member of program "Ops" status is "Registered" }
        flow { change score lead."Lead Score" by +10 }
    }
    campaign "Later" trigger {
        smart list { trigger campaign is requested }
        flow {
            add to list {
                if member of list "Customers" then "VIP"
            }
            remove from flow this campaign
        }
    }
    campaign "On List" trigger {
        smart list { trigger added to list "VIP" }
        flow { interesting moment milestone "VIP" }
    }
    campaign "On Status" trigger {
        smart list { trigger program status is changed "Ops" to "Registered" }
        flow { interesting moment milestone "registered" }
    }
}
"""

EXPECTED = ["New Person", "Fill Out Form", "Send Email", "Add to List", "Change Program Status",
            "Call Webhook", "Executed Campaign", "Change Score", "Request Campaign", "Interesting Moment",
            "Campaign is Requested", "Add to List", "Remove from Flow", "Interesting Moment"]


def _run(engine: Engine) -> list[str]:
    pid = engine.add_person("ann@example.com", {"Country": "US", "First Name": "Ann"})
    engine.fire("fills out form", [pid], '"Ops"."Contact Us"')
    return [a.type for a in engine.activities(pid)]


def test_a_checked_program_runs_on_the_checkers_resolutions(monkeypatch):
    program = compile_text(PROGRAM, "ops.campaign")
    expected = _run(Engine(program))
    assert expected == EXPECTED
    # every name of the program was resolved by the checker: the runtime
    # asks the model only about the event's target, a name given to the API
    engine = Engine(program)
    asked: list[tuple] = []
    resolve, find_program = Model.resolve, Model.find_program

    def resolve_spy(self, kind, ref, here, *rest):
        asked.append((kind, ref.program, ref.name))
        return resolve(self, kind, ref, here, *rest)

    def find_program_spy(self, name, workspace):
        asked.append(("program", name))
        return find_program(self, name, workspace)

    monkeypatch.setattr(Model, "resolve", resolve_spy)
    monkeypatch.setattr(Model, "find_program", find_program_spy)
    assert _run(engine) == expected
    assert set(asked) <= {("form", "Ops", "Contact Us"), ("program", "Ops")}, asked
    # ("program", "Ops"): Model.resolve's own lookup of the "Ops" of "Ops"."Contact Us"
    # and, without the checker's table, the runtime would have asked about every name
    engine = Engine(attrs.evolve(program, resolutions=Resolutions({}, {})))
    asked.clear()
    assert _run(engine) == expected
    assert {"email", "list", "smart list", "campaign", "webhook", "program"} <= {a[0] for a in asked}


def test_the_checker_answers_the_runtimes_question_in_the_program_it_is_asked():
    program = compile_text(PROGRAM, "ops.campaign")
    model = program.model
    ops = model.programs[0]
    step = next(s for c in model.campaigns if c.name == "On Form" for s in c.steps
                if type(s).__name__ == "SendEmail")
    assert program.resolutions.name("email", step.email, ops) is ops.emails["Hello"]
    assert program.resolutions.name("email", step.email, None) is None      # not asked there
    assert program.resolutions.name("list", step.email, ops) is None        # nor as another kind


CLONES = """
program "A" {
    list "L"
    campaign "Source" batch {
        smart list { filter lead.Country is "US" }
        flow { add to list "L" }
    }
}
program "B" {
    list "L"
    campaign "Copy" batch { clone "A"."Source" }
}
"""


def test_a_clones_inherited_steps_still_resolve_in_the_clones_program():
    # the checker resolves the source's lines where they are written (program A);
    # the runtime runs them for the clone in program B, as it always did
    engine = Engine(compile_text(CLONES, "clones.campaign"))
    pid = engine.add_person("ann@example.com", {"Country": "US"})
    engine.run_batch('"B"."Copy"')
    assert engine.in_list(pid, '"B"."L"') and not engine.in_list(pid, '"A"."L"')
    engine.run_batch('"A"."Source"')
    assert engine.in_list(pid, '"A"."L"')


INVALID_EXECUTABLE = """
program "P" {
    campaign "Main" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Child" }
    }
    campaign "Child" executable {
        smart list { filter member of list "Nowhere" }
        flow { interesting moment milestone "child" }
    }
}
"""


def test_a_name_the_checker_could_not_resolve_keeps_its_runtime_behaviour():
    from campaignlang.api import check_text

    result = check_text(INVALID_EXECUTABLE, "p.campaign")
    assert result.ok and [d.code for d in result.warnings] == ["CL501"]
    engine = Engine(result.program)
    pid = engine.add_person("ann@example.com", {"Country": "US"})
    engine.run_batch('"P"."Main"')
    executed = engine.activities(pid, "Executed Campaign")
    assert len(executed) == 1 and executed[0].attributes["qualified"] is False
    assert "Interesting Moment" not in [a.type for a in engine.activities(pid)]


if __name__ == "__main__":   # pragma: no cover
    pytest.main([__file__])
