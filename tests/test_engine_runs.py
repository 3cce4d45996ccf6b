"""The engine's runs (LANGUAGE.md §3, §5, §8): qualification rules, waits and
the virtual clock, schedules, triggers, steps, webhooks, limits, rollback and
determinism."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from campaignlang import ast
from campaignlang.engine import Engine
from campaignlang.errors import RunError
from engine_helpers import acts, make, types

T0 = dt.datetime(2026, 1, 1)


def moments(e, who):
    return [a.attributes["description"] for a in acts(e, who, "Interesting Moment")]


# -- qualification rules --------------------------------------------------------------

RULES = """
program "P" {
    campaign "Once" batch { smart list { filter lead.Country is "US" }; flow { interesting moment milestone "once" } }
    campaign "Every" batch { smart list { filter lead.Country is "US" }; flow { interesting moment milestone "every" }; qualify every time }
    campaign "Weekly" batch { smart list { filter lead.Country is "US" }; flow { interesting moment milestone "weekly" }; qualify once every 1 week }
}
"""


def test_qualify_once_is_the_default():
    e = make(RULES)
    e.add_person("ann@example.com", {"Country": "US"})
    assert e.run_batch("P/Once").entered == [1]
    assert e.run_batch("P/Once").entered == []
    assert moments(e, "ann@example.com") == ["once"]


def test_qualify_every_time():
    e = make(RULES)
    e.add_person("ann@example.com", {"Country": "US"})
    for _ in range(3):
        e.run_batch("P/Every")
    assert moments(e, "ann@example.com") == ["every"] * 3


def test_qualify_once_every_is_rolling():
    e = make(RULES)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Weekly")
    e.advance("6 days")
    e.run_batch("P/Weekly")
    e.advance(dt.timedelta(days=1) - dt.timedelta(seconds=1))
    e.run_batch("P/Weekly")
    e.advance(dt.timedelta(seconds=1))
    e.run_batch("P/Weekly")
    assert [a.at for a in acts(e, "ann@example.com", "Interesting Moment")] == [
        "2026-01-01T00:00:00", "2026-01-08T00:00:00"]


def test_trigger_campaign_qualification_rules():
    e = make("""
    program "P" {
        form "F"
        campaign "T" trigger { smart list { trigger fills out form "F" }; flow { interesting moment web "t" } }
    }
    """)
    e.add_person("ann@example.com")
    e.fire("fills out form", ["ann@example.com"], "F")
    e.fire("fills out form", ["ann@example.com"], "F")
    assert moments(e, "ann@example.com") == ["t"]
    assert len(acts(e, "ann@example.com", "Fill Out Form")) == 2


# -- waits and the clock ------------------------------------------------------------------

WAITS = """
fields { "Renewal": datetime }
program "P" {
    campaign "Drip" batch {
        smart list { filter lead.Country is "US" }
        flow {
            interesting moment milestone "day 0 {{system.dateTime}}"
            wait 2 days
            interesting moment milestone "day 2 {{system.dateTime}}"
            wait until 2026-01-10T09:00
            interesting moment milestone "jan 10 {{system.dateTime}}"
        }
    }
    campaign "Renew" trigger {
        smart list { trigger fills out form "F" }
        flow {
            wait until {{lead.Renewal}}
            interesting moment milestone "renewal {{system.dateTime}}"
        }
        qualify every time
    }
    form "F"
}
"""


def test_waits_pause_and_advance_resumes_in_time_order():
    e = make(WAITS)
    e.add_person("ann@example.com", {"Country": "US"})
    e.add_person("bob@example.com", {"Country": "US"})
    e.run_batch("P/Drip")
    assert moments(e, "ann@example.com") == ["day 0 2026-01-01 00:00:00"]
    [w] = acts(e, "ann@example.com", "Wait")
    assert w.attributes == {"until": "2026-01-03T00:00:00"}
    e.advance("1 day")
    assert len(moments(e, "ann@example.com")) == 1
    r = e.advance("30 days")
    assert moments(e, "ann@example.com") == ["day 0 2026-01-01 00:00:00", "day 2 2026-01-03 00:00:00",
                                             "jan 10 2026-01-10 09:00:00"]
    assert e.now == dt.datetime(2026, 2, 1)
    # a batch's people resume together, in id order
    order = [(a.at, a.email) for a in r.activities("Interesting Moment")]
    assert order == [("2026-01-03T00:00:00", "ann@example.com"), ("2026-01-03T00:00:00", "bob@example.com"),
                     ("2026-01-10T09:00:00", "ann@example.com"), ("2026-01-10T09:00:00", "bob@example.com")]
    assert e.store.queued() == []


def test_wait_until_a_past_time_or_an_empty_token_goes_on():
    e = make(WAITS)
    e.add_person("ann@example.com", {"Renewal": "2025-06-01T00:00"})
    e.add_person("bob@example.com")
    e.add_person("cat@example.com", {"Renewal": "2026-02-01T08:00"})
    e.fire("fills out form", ["ann@example.com", "bob@example.com", "cat@example.com"], "F")
    assert moments(e, "ann@example.com") == ["renewal 2026-01-01 00:00:00"]
    assert moments(e, "bob@example.com") == ["renewal 2026-01-01 00:00:00"]
    assert acts(e, "bob@example.com", "Wait")[0].attributes["skipped"] == "'' is not a date"
    assert moments(e, "cat@example.com") == []
    e.advance(dt.datetime(2026, 2, 1, 8, 0))
    assert moments(e, "cat@example.com") == ["renewal 2026-02-01 08:00:00"]


def test_the_clock_never_goes_back_and_nothing_reads_the_wall_clock():
    e = make(WAITS)
    with pytest.raises(RunError, match="cannot go back"):
        e.advance(dt.datetime(2025, 1, 1))
    e.add_person("ann@example.com", {"Country": "US"})
    assert e.person("ann@example.com").get("created at") == T0


def test_paused_runs_resume_in_a_later_process(tmp_path):
    from campaignlang.api import compile_text as program_from_text
    db = tmp_path / "sim.db"
    program = program_from_text(WAITS)
    e1 = Engine(program, str(db))
    e1.add_person("ann@example.com", {"Country": "US"})
    e1.run_batch("P/Drip")
    e1.store.close()
    e2 = Engine(program, str(db))
    assert e2.now == T0
    e2.advance("10 days")
    assert len(moments(e2, "ann@example.com")) == 3


def test_schedules_run_as_the_clock_passes_them():
    e = make("""
    program "P" {
        campaign "Once" batch {
            smart list { filter lead.Country is "US" }
            flow { interesting moment milestone "once {{system.dateTime}}" }
            schedule 2026-01-02T09:00
        }
        campaign "Weekly" batch {
            smart list { filter lead.Country is "US" }
            flow { interesting moment milestone "weekly {{system.dateTime}}" }
            qualify every time
            schedule every 1 week starting 2026-01-03T10:00
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.advance("20 days")
    assert moments(e, "ann@example.com") == [
        "once 2026-01-02 09:00:00", "weekly 2026-01-03 10:00:00", "weekly 2026-01-10 10:00:00",
        "weekly 2026-01-17 10:00:00"]


# -- triggers --------------------------------------------------------------------------------

TRIGGERS = """
fields { "Stage": text }
program "P" {
    statuses "Invited", "Registered", "Attended"
    list "L"
    form "F"
    email "E" { subject "s" }
    campaign "Form" trigger {
        smart list { trigger fills out form "F"; filter lead.Country is "US" }
        flow { interesting moment web "form {{trigger.Web Page}}" }
        qualify every time
    }
    campaign "Page" trigger { smart list { trigger visits web page "/pricing" }; flow { interesting moment web "page" }; qualify every time }
    campaign "Open" trigger { smart list { trigger opens email "E" }; flow { interesting moment email "open" }; qualify every time }
    campaign "Click" trigger { smart list { trigger clicks link in email "E" }; flow { interesting moment email "click" }; qualify every time }
    campaign "Stage" trigger {
        smart list { trigger data value changes lead.Stage to "MQL" from "Lead" }
        flow { interesting moment milestone "stage" }
        qualify every time
    }
    campaign "Score" trigger { smart list { trigger score is changed lead."Lead Score" }; flow { interesting moment milestone "score" }; qualify every time }
    campaign "Added" trigger { smart list { trigger added to list "L" }; flow { interesting moment milestone "added" }; qualify every time }
    campaign "Removed" trigger { smart list { trigger removed from list "L" }; flow { interesting moment milestone "removed" }; qualify every time }
    campaign "Status" trigger {
        smart list { trigger program status is changed "P" to "Registered" }
        flow { interesting moment milestone "registered" }
        qualify every time
    }
    campaign "Created" trigger { smart list { trigger person is created }; flow { interesting moment milestone "created" } }
    campaign "Off" trigger inactive { smart list { trigger person is created }; flow { interesting moment milestone "never" } }
}
"""


def test_every_trigger_kind():
    e = make(TRIGGERS)
    e.add_person("ann@example.com", {"Country": "US", "Stage": "Lead"})
    e.add_person("dan@example.com", {"Country": "DE"})
    assert moments(e, "ann@example.com") == ["created"]
    e.fire("fills out form", ["ann@example.com", "dan@example.com"], "F", {"Web Page": "/lp"})
    assert moments(e, "dan@example.com") == ["created"]     # the filter holds dan back
    e.fire("visits web page", ["ann@example.com"], "/pricing")
    e.fire("visits web page", ["ann@example.com"], "/other")
    e.fire("opens email", ["ann@example.com"], "E")
    e.fire("clicks link in email", ["ann@example.com"], "E")
    e.fire("data value changes", ["ann@example.com"], field_name="Stage", to="MQL")
    e.fire("data value changes", ["ann@example.com"], field_name="Stage", to="Lead")
    e.run_steps("ann@example.com", [ast.ChangeScore(ast.FieldRef("Lead Score"), ast.ScoreChange("+", 5)),
                                    ast.AddToList(ast.Ref(None, "L")), ast.RemoveFromList(ast.Ref(None, "L")),
                                    ast.ChangeProgramStatus("P", "Invited"),
                                    ast.ChangeProgramStatus("P", "Registered")])
    assert moments(e, "ann@example.com") == ["created", "form /lp", "page", "open", "click", "stage",
                                             "score", "added", "removed", "registered"]


def test_program_status_never_moves_back():
    e = make(TRIGGERS)
    e.add_person("ann@example.com")
    e.run_steps("ann@example.com", [ast.ChangeProgramStatus("P", "Attended"),
                                    ast.ChangeProgramStatus("P", "Registered")])
    assert e.membership("ann@example.com", "P").status == "Attended"
    assert len(acts(e, "ann@example.com", "Change Program Status")) == 1


def test_unchanged_values_log_nothing_and_fire_nothing():
    e = make(TRIGGERS)
    e.add_person("ann@example.com", {"Stage": "MQL"})
    e.run_steps("ann@example.com", [ast.ChangeDataValue(ast.FieldRef("Stage"), ast.String("MQL")),
                                    ast.AddToList(ast.Ref(None, "L")), ast.AddToList(ast.Ref(None, "L"))])
    assert types(e, "ann@example.com") == ["New Person", "Interesting Moment", "Add to List", "Interesting Moment"]


def test_updating_an_existing_person_changes_fields_and_fires_triggers():
    e = make(TRIGGERS)
    e.add_person("ann@example.com", {"Stage": "Lead"})
    e.add_person("ANN@example.com", {"Stage": "MQL"})
    assert len(e.people()) == 1
    assert moments(e, "ann@example.com") == ["created", "stage"]


# -- steps -----------------------------------------------------------------------------------

def test_change_data_value_types_tokens_and_null():
    e = make("""
    fields { "Notes": text; "Seats": integer; "When": date; "Vip": boolean }
    program "P" {
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow {
                change data value lead.Notes to "{{lead.Notes}} more"
                change data value lead.Seats to 12
                change data value lead.When to 2026-05-01
                change data value lead.Vip to true
                change data value lead.Country to null
            }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US", "Notes": "some"})
    e.run_batch("P/C")
    p = e.person("ann@example.com")
    assert (p.get("notes"), p.get("seats"), p.get("when"), p.get("vip"), p.get("country")) == \
        ("some more", 12, dt.date(2026, 5, 1), True, None)
    changes = [(a.attributes["field"], a.old, a.new) for a in acts(e, "ann@example.com", "Change Data Value")]
    assert changes == [("Notes", "some", "some more"), ("Seats", None, 12), ("When", None, "2026-05-01"),
                       ("Vip", None, True), ("Country", "US", None)]


def test_a_value_that_does_not_fit_the_field_is_an_error():
    e = make("""
    fields { "Seats": integer }
    program "P" {
        tokens { my.Seats = 3 }
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow { change data value lead.Seats to {{my.Seats}} ; interesting moment milestone "after" }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/C", tokens={"my.Seats": "many"})
    [err] = acts(e, "ann@example.com", "Error")
    assert "'many' is not an integer" in err.attributes["message"]
    assert moments(e, "ann@example.com") == []


def test_lists_alerts_member_data_and_delete_person():
    e = make("""
    program "P" {
        statuses "Member"
        member fields "Code"
        list "L"
        email "Alert" { subject "New lead {{lead.Email Address}}" }
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow {
                change program member data "P" "Code" to "before membership"
                add to list "L"
                send alert "Alert" to "owner@example.com", "ops@example.com"
                change program status "P" to "Member"
                change program member data "P" "Code" to "X1"
                remove from list "L"
                delete person
                interesting moment milestone "never"
            }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/C")
    assert types(e, "ann@example.com") == ["New Person", "Add to List", "Send Alert", "Change Program Status",
                                           "Change Program Member Data", "Remove from List", "Delete Person"]
    [alert] = acts(e, "ann@example.com", "Send Alert")
    assert alert.attributes["to"] == ["owner@example.com", "ops@example.com"]
    assert alert.attributes["subject"] == "New lead ann@example.com"
    assert e.person("ann@example.com") is None
    assert e.people() == []
    e.add_person("ann@example.com", {"Country": "US"})   # the address is free again
    assert len(e.people()) == 1


# -- webhooks --------------------------------------------------------------------------------

HOOK = r"""
fields { "Tier": text }
program "P" {
    webhook "Enrich" {
        url "https://enrich.example.com/v1?email={{lead.Email Address}}"
        method post
        payload "{\"email\": \"{{lead.Email Address}}\"}"
        response "company.size" -> lead."Company Size"
        response "tier" -> lead.Tier
    }
    form "F"
    campaign "On Tier" trigger { smart list { trigger data value changes lead.Tier }; flow { interesting moment milestone "tier {{lead.Tier}}" } }
    campaign "C" trigger {
        smart list { trigger fills out form "F" }
        flow { call webhook "Enrich" ; interesting moment web "after" }
        qualify every time
    }
}
"""


def test_a_registered_handler_answers_and_2xx_responses_map_to_fields():
    e = make(HOOK)
    seen = []

    def handler(request):
        seen.append((request.method, request.url, request.json()))
        return 200, {"company": {"size": 250}, "tier": "gold"}

    e.register_webhook("Enrich", handler)
    e.add_person("ann@example.com")
    e.fire("fills out form", ["ann@example.com"], "F")
    assert seen == [("POST", "https://enrich.example.com/v1?email=ann%40example.com", {"email": "ann@example.com"})]
    assert e.get("ann@example.com", "Company Size") == 250
    assert e.get("ann@example.com", "Tier") == "gold"
    [call] = acts(e, "ann@example.com", "Call Webhook")
    assert call.attributes["status"] == 200
    assert moments(e, "ann@example.com") == ["after", "tier gold"]
    assert acts(e, "ann@example.com", "Change Data Value")[0].attributes["reason"] == 'webhook "P"."Enrich"'


def test_a_non_2xx_response_maps_nothing():
    e = make(HOOK)
    e.register_webhook('"P"."Enrich"', lambda r: (503, {"tier": "gold"}))
    e.add_person("ann@example.com")
    e.fire("fills out form", ["ann@example.com"], "F")
    assert e.get("ann@example.com", "Tier") is None
    assert acts(e, "ann@example.com", "Call Webhook")[0].attributes["status"] == 503
    assert moments(e, "ann@example.com") == ["after"]


def test_a_handler_that_raises_is_an_error_for_that_person():
    e = make(HOOK)

    def handler(request):
        if request.email.startswith("ann"):
            raise ConnectionError("refused")
        return 200, {}

    e.register_webhook("P/Enrich", handler)
    e.add_person("ann@example.com")
    e.add_person("bob@example.com")
    e.fire("fills out form", ["ann@example.com", "bob@example.com"], "F")
    [err] = acts(e, "ann@example.com", "Error")
    assert "ConnectionError: refused" in err.attributes["message"]
    assert moments(e, "ann@example.com") == []
    assert moments(e, "bob@example.com") == ["after"]


# -- limits, cancellation and rollback ----------------------------------------------------------

def test_an_exception_mid_action_rolls_everything_back():
    e = make(HOOK)
    e.add_person("ann@example.com")
    e.add_person("bob@example.com")
    before = e.activity_log_jsonl()
    counts = e.store.counts()

    def handler(request):
        if request.email.startswith("bob"):
            raise KeyboardInterrupt
        return 200, {"tier": "gold"}

    e.register_webhook("Enrich", handler)
    with pytest.raises(KeyboardInterrupt):
        e.fire("fills out form", ["ann@example.com", "bob@example.com"], "F")
    assert e.activity_log_jsonl() == before
    assert e.store.counts() == counts
    assert e.get("ann@example.com", "Tier") is None
    # the engine goes on afterwards
    e.register_webhook("Enrich", lambda r: (200, {"tier": "silver"}))
    e.fire("fills out form", ["ann@example.com"], "F")
    assert e.get("ann@example.com", "Tier") == "silver"


def test_a_failed_advance_restores_the_clock():
    e = make(WAITS)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Drip")
    e.max_steps = 1
    with pytest.raises(RunError, match="more than 1 steps"):
        e.advance("5 days")
    assert e.now == T0
    assert len(e.store.queued()) == 1
    e.max_steps = None
    e.advance("5 days")
    assert len(moments(e, "ann@example.com")) == 2


def test_max_people_per_action():
    e = make(RULES, max_people=1)
    e.add_person("ann@example.com", {"Country": "US"})
    e.add_person("bob@example.com", {"Country": "US"})
    with pytest.raises(RunError, match="more than the limit of 1"):
        e.run_batch("P/Once")
    assert e.store.run_history() == []


def test_cancel_from_another_thread_rolls_back():
    e = make(HOOK)
    e.add_person("ann@example.com")
    started, go_on = threading.Event(), threading.Event()

    def handler(request):
        started.set()
        go_on.wait(5)
        return 200, {"tier": "gold"}

    e.register_webhook("Enrich", handler)
    errors = []

    def work():
        try:
            e.fire("fills out form", ["ann@example.com"], "F")
        except RunError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=work)
    t.start()
    started.wait(5)
    e.cancel()
    go_on.set()
    t.join(5)
    assert errors and "cancelled" in errors[0]
    assert e.get("ann@example.com", "Tier") is None


def test_the_engine_takes_only_a_checked_program():
    with pytest.raises(TypeError, match="CheckedProgram"):
        Engine("program text")  # type: ignore[arg-type]


def test_the_engine_refuses_a_program_with_errors():
    from campaignlang.api import compile_text as program_from_text
    from campaignlang.errors import DiagnosticError
    with pytest.raises(DiagnosticError):
        program_from_text('program "P" { campaign "C" batch { flow { send email "Nope" } } }')


# -- determinism -------------------------------------------------------------------------------

def _scenario() -> str:
    e = make(TRIGGERS + HOOK.replace('program "P"', 'program "Q"').replace('fields { "Tier": text }', 'fields { "Tier": text }'))
    e.register_webhook("Q/Enrich", lambda r: (200, {"tier": r.email[:3]}))
    for i in range(5):
        e.add_person(f"p{i}@example.com", {"Country": "US" if i % 2 else "CA", "Stage": "Lead"})
    e.fire("fills out form", [f"p{i}@example.com" for i in range(5)], '"P"."F"', {"Web Page": "/x"})
    e.fire("fills out form", [f"p{i}@example.com" for i in range(5)], "Q/F")
    e.fire("data value changes", ["p1@example.com"], field_name="Stage", to="MQL")
    e.advance("3 days")
    return e.activity_log_jsonl()


def test_the_activity_log_is_byte_identical_between_runs():
    first, second = _scenario(), _scenario()
    assert first == second
    assert first.count("\n") > 20


# -- one event, several trigger campaigns: each sees what the runs before it wrote ----------

ONE_FORM = """
program "P" {
    form "F"
    campaign "A Moves" trigger {
        smart list { trigger fills out form "F" }
        flow { change data value lead.Country to "DE" }
    }
    campaign "B Germans" trigger {
        smart list { trigger fills out form "F"; filter lead.Country is "DE" }
        flow { interesting moment milestone "B saw {{lead.Country}}" }
    }
    campaign "C Americans" trigger {
        smart list { trigger fills out form "F"; filter lead.Country is "US" }
        flow { interesting moment milestone "C saw {{lead.Country}}" }
    }
    campaign "D Deletes" trigger {
        smart list { trigger fills out form "F"; filter lead.City is "Gone" }
        flow { delete person }
    }
    campaign "E After" trigger {
        smart list { trigger fills out form "F" }
        flow { interesting moment milestone "E saw {{lead.Country}} in {{lead.City:default=nowhere}}" }
    }
}
"""


def test_runs_of_one_event_see_the_fields_earlier_runs_wrote():
    # the event reads the person once and hands it to the runs it starts; a
    # write in between makes the next run read the person again. The filters
    # were judged at the event (§12.1): C qualified on US, and runs seeing DE
    e = make(ONE_FORM)
    e.add_person("ann@example.com", {"Country": "US"})
    e.add_person("bob@example.com", {"Country": "US", "City": "Gone"})
    e.fire("fills out form", ["ann@example.com", "bob@example.com"], "F")
    assert moments(e, "ann@example.com") == ["C saw DE", "E saw DE in nowhere"]
    assert e.get("ann@example.com", "Country") == "DE"
    # bob is deleted by D, so E (queued behind it) never starts for him
    assert moments(e, "bob@example.com") == ["C saw DE"]
    assert "Delete Person" in types(e, "bob@example.com")


def test_runs_of_one_event_share_the_person_when_nothing_writes():
    e = make(ONE_FORM.replace('change data value lead.Country to "DE"', 'interesting moment milestone "A"'))
    e.add_person("ann@example.com", {"Country": "US", "City": "Paris"})
    e.fire("fills out form", ["ann@example.com"], "F")
    assert moments(e, "ann@example.com") == ["A", "C saw US", "E saw US in Paris"]


STALE = """
program "P" {
    form "F"
    list "L"
    campaign "A Requests" trigger {
        smart list { trigger fills out form "F" }
        flow { request campaign "R Moves" }
    }
    campaign "B Lists" trigger {
        smart list { trigger fills out form "F"; filter lead.Country is "US" }
        flow { add to list "L" }
    }
    campaign "R Moves" trigger {
        smart list { trigger campaign is requested }
        flow { change data value lead.Country to "DE" }
    }
    campaign "C Listed" trigger {
        smart list { trigger added to list "L"; filter lead.Country is "US" }
        flow { interesting moment milestone "C saw {{lead.Country}}" }
    }
}
"""


def test_a_queued_run_reads_the_person_again_after_another_run_wrote():
    # the queue: A, B (both on the form); A requests R, B's add to list queues
    # C behind R; R writes Country through its own read of the person, so C,
    # queued with the person as B saw it, must read it again (its filters were
    # judged at B's event, on US, §12.1; its flow sees DE)
    e = make(STALE)
    e.add_person("ann@example.com", {"Country": "US"})
    e.fire("fills out form", ["ann@example.com"], "F")
    assert moments(e, "ann@example.com") == ["C saw DE"]


# -- programs of one name in two workspaces (names are unique per workspace, §2) -----------

TWO_WEBINARS = """
workspace "EMEA" {
    program "Webinar" {
        list "Attendees"
        form "Register"
        campaign "Invite" batch {
            smart list { filter lead.Country is "DE" }
            flow { add to list "Attendees"; change program status "Webinar" to "Invited" }
        }
        campaign "Registered" trigger {
            smart list { trigger fills out form "Register" }
            flow { interesting moment web "EMEA registration" }
            qualify every time
        }
    }
}
program "Webinar" {
    statuses "Invited", "Attended"
    list "Attendees"
    form "Register"
    campaign "Invite" batch {
        smart list { filter lead.Country is "DE" }
        flow { interesting moment milestone "default invite" }
    }
    campaign "Check" batch {
        smart list { filter member of list "Attendees" }
        flow { interesting moment milestone "in the default list" }
    }
    campaign "Registered" trigger {
        smart list { trigger fills out form "Register" }
        flow { interesting moment web "default registration" }
        qualify every time
    }
}
"""


def test_same_named_programs_in_two_workspaces_keep_their_own_history_lists_and_members():
    e = make(TWO_WEBINARS.replace('program "Webinar" {\n        list',
                                  'program "Webinar" {\n        statuses "Invited", "Attended"\n        list'))
    e.add_person("ann@example.com", {"Country": "DE"})
    # each Invite qualifies once: the run history of one is not the other's
    assert e.run_batch('"EMEA"."Webinar"."Invite"').entered == [1]
    assert e.run_batch("EMEA/Webinar/Invite").entered == []
    assert e.run_batch('"Default"."Webinar"."Invite"').entered == [1]
    # ann is in EMEA's list, not in the Default program's list of the same name
    assert e.in_list("ann@example.com", '"EMEA"."Webinar"."Attendees"')
    assert not e.in_list("ann@example.com", '"Default"."Webinar"."Attendees"')
    with pytest.raises(RunError, match=r'list "Webinar"."Attendees" is ambiguous'):
        e.in_list("ann@example.com", '"Webinar"."Attendees"')
    assert e.run_batch("Webinar/Check").entered == []   # only the Default program has a Check
    statuses = {a.asset: a.new for a in acts(e, "ann@example.com", "Change Program Status")}
    assert statuses == {'"EMEA"."Webinar"': "Invited"}
    # an event names its form with the workspace; each program's trigger hears its own
    e.fire("fills out form", ["ann@example.com"], '"EMEA"."Webinar"."Register"')
    e.fire("fills out form", ["ann@example.com"], 'Default/Webinar/Register')
    assert moments(e, "ann@example.com") == ["default invite", "EMEA registration", "default registration"]
    logged = {(a.type, a.campaign) for a in acts(e, "ann@example.com")}
    assert ("Add to List", '"EMEA"."Webinar"."Invite"') in logged
    assert ("Interesting Moment", '"Webinar"."Invite"') in logged
    with pytest.raises(RunError, match=r'ambiguous: write "Workspace"."Program"."Campaign"'):
        e.campaign('"Webinar"."Invite"')
    with pytest.raises(RunError, match='no program "Nope" in workspace "EMEA"'):
        e.campaign('"EMEA"."Nope"."Invite"')
