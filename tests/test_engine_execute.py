"""LANGUAGE.md §6: execute campaign and request campaign, through the Python API."""

from __future__ import annotations

import datetime as dt

import pytest

from campaignlang.errors import RunError
from engine_helpers import acts, make, types

CHAIN = """
fields { "Region": text; "Notes": text }
program "Ops" {
    list "Routed"
    email "Welcome" { subject "Welcome" }
    campaign "Route" executable {
        smart list { filter lead.Country is "US", "CA" }
        flow {
            change data value lead.Region to "NA"
            add to list "Routed"
        }
        qualify every time
    }
    campaign "Parent" batch {
        smart list { filter lead.Country is not empty }
        flow {
            change data value lead.Notes to "before"
            execute campaign "Route"
            change data value lead.Notes {
                if lead.Region is "NA" then to "after: NA"
                else to "after: other"
            }
        }
        qualify every time
    }
}
"""


def test_execute_runs_the_child_inline_and_in_sequence():
    e = make(CHAIN)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("Ops/Parent")
    log = [(a.type, a.campaign) for a in acts(e, "ann@example.com")][1:]
    assert log == [
        ("Change Data Value", '"Ops"."Parent"'),
        ("Executed Campaign", '"Ops"."Parent"'),
        ("Change Data Value", '"Ops"."Route"'),
        ("Add to List", '"Ops"."Route"'),
        ("Change Data Value", '"Ops"."Parent"'),
    ]
    # the child's effect is visible to the parent's next step (its choice)
    assert e.get("ann@example.com", "Notes") == "after: NA"
    # every activity of the person's run shares one run id
    assert len({a.run for a in acts(e, "ann@example.com")[1:]}) == 1


def test_executed_campaign_activity_records_child_parent_qualified_and_context():
    e = make(CHAIN)
    e.add_person("ann@example.com", {"Country": "US"})
    e.add_person("dan@example.com", {"Country": "DE"})
    e.run_batch("Ops/Parent")
    [ann] = acts(e, "ann@example.com", "Executed Campaign")
    assert ann.attributes == {"campaign": '"Ops"."Route"', "parent": '"Ops"."Parent"',
                              "qualified": True, "use parent token context": False}
    [dan] = acts(e, "dan@example.com", "Executed Campaign")
    assert dan.attributes["qualified"] is False


def test_a_person_who_does_not_qualify_skips_the_child_and_the_parent_goes_on():
    e = make(CHAIN)
    e.add_person("dan@example.com", {"Country": "DE"})
    e.run_batch("Ops/Parent")
    assert not e.in_list("dan@example.com", "Routed")
    assert e.get("dan@example.com", "Region") is None
    assert e.get("dan@example.com", "Notes") == "after: other"


def test_child_qualification_rules_count_runs_from_every_parent():
    e = make("""
    program "P" {
        campaign "Child" executable { flow { change score lead."Lead Score" by +1 } }
        campaign "A" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "Child" } }
        campaign "B" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "Child" } }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/A")
    e.run_batch("P/B")
    assert e.get("ann@example.com", "Lead Score") == 1
    qualified = [a.attributes["qualified"] for a in acts(e, "ann@example.com", "Executed Campaign")]
    assert qualified == [True, False]


def test_child_once_every_is_rolling():
    e = make("""
    program "P" {
        campaign "Child" executable { flow { change score lead."Lead Score" by +1 }; qualify once every 2 days }
        campaign "A" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "Child" }; qualify every time }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/A")                    # day 0: runs
    e.advance(dt.timedelta(days=1))
    e.run_batch("P/A")                    # day 1: held back
    e.advance(dt.timedelta(days=1))
    e.run_batch("P/A")                    # day 2: two days since the first run: runs
    e.run_batch("P/A")                    # same moment: held back
    assert e.get("ann@example.com", "Lead Score") == 2
    qualified = [a.attributes["qualified"] for a in acts(e, "ann@example.com", "Executed Campaign")]
    assert qualified == [True, False, True, False]


def test_a_chain_of_three_levels_runs_depth_first():
    e = make("""
    program "P" {
        campaign "C3" executable { flow { interesting moment milestone "three" }; qualify every time }
        campaign "C2" executable { flow { interesting moment milestone "two" ; execute campaign "C3" ; interesting moment milestone "two again" }; qualify every time }
        campaign "C1" executable { flow { execute campaign "C2" ; interesting moment milestone "one" }; qualify every time }
        campaign "Top" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "C1" ; interesting moment milestone "top" } }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Top")
    moments = [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")]
    assert moments == ["two", "three", "two again", "one", "top"]
    parents = [(a.attributes["parent"], a.attributes["campaign"]) for a in acts(e, "ann@example.com", "Executed Campaign")]
    assert parents == [('"P"."Top"', '"P"."C1"'), ('"P"."C1"', '"P"."C2"'), ('"P"."C2"', '"P"."C3"')]


def test_an_empty_child_smart_list_qualifies_everyone():
    e = make("""
    program "P" {
        campaign "Child" executable { flow { interesting moment milestone "in" } }
        campaign "Top" batch { smart list { filter lead.Country is "XX" }; flow { execute campaign "Child" } }
    }
    """)
    e.add_person("ann@example.com", {"Country": "XX"})
    e.run_batch("P/Top")
    assert acts(e, "ann@example.com", "Executed Campaign")[0].attributes["qualified"] is True


def test_an_invalid_child_smart_list_qualifies_nobody():
    # a filter on a field that does not exist: the checker warns (CL501), the engine qualifies nobody
    e = make("""
    program "P" {
        campaign "Child" executable { smart list { filter lead.Nope is "x" }; flow { interesting moment milestone "in" } }
        campaign "Top" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "Child" } }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Top")
    assert acts(e, "ann@example.com", "Executed Campaign")[0].attributes["qualified"] is False
    assert not acts(e, "ann@example.com", "Interesting Moment")


# -- request campaign ---------------------------------------------------------------

REQUEST = """
fields { "Notes": text }
program "Ops" {
    tokens { my.Tag = "ops" }
    campaign "Nurture" trigger {
        smart list {
            trigger campaign is requested
            filter lead.Country is "US"
        }
        flow {
            change data value lead.Notes to "nurtured by {{trigger.Name}} ({{my.Tag}}, {{campaign.name}})"
        }
        qualify every time
    }
}
program "Web" {
    tokens { my.Tag = "web" }
    campaign "Start" batch {
        smart list { filter lead.Country is not empty }
        flow {
            request campaign "Ops"."Nurture"
            interesting moment milestone "notes now: {{lead.Notes:default=none}}"
        }
    }
}
"""


def test_request_runs_after_the_current_run_and_the_requester_never_sees_it():
    e = make(REQUEST)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("Web/Start")
    log = [a.type for a in acts(e, "ann@example.com")][1:]
    assert log == ["Request Campaign", "Interesting Moment", "Campaign is Requested", "Change Data Value"]
    [moment] = acts(e, "ann@example.com", "Interesting Moment")
    assert moment.attributes["description"] == "notes now: none"


def test_a_requested_run_uses_its_own_context_and_the_requester_as_trigger_name():
    e = make(REQUEST)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("Web/Start")
    assert e.get("ann@example.com", "Notes") == "nurtured by Start (ops, Nurture)"
    requested = acts(e, "ann@example.com", "Change Data Value")[0]
    assert requested.campaign == '"Ops"."Nurture"'
    assert requested.run != acts(e, "ann@example.com", "Request Campaign")[0].run


def test_a_requested_campaign_applies_its_own_filters():
    e = make(REQUEST)
    e.add_person("dan@example.com", {"Country": "DE"})
    e.run_batch("Web/Start")
    assert e.get("dan@example.com", "Notes") is None
    assert types(e, "dan@example.com") == ["New Person", "Request Campaign", "Interesting Moment",
                                           "Campaign is Requested"]


def test_a_requested_campaign_applies_its_own_qualification_rules():
    e = make(REQUEST.replace("qualify every time", "qualify once")
             .replace("trigger campaign is requested", "trigger campaign is requested from any"))
    e.add_person("ann@example.com", {"Country": "US"})
    e.request("Ops/Nurture", ["ann@example.com"])
    e.request("Ops/Nurture", ["ann@example.com"])
    assert len(acts(e, "ann@example.com", "Change Data Value")) == 1


def test_request_after_a_wait_starts_while_the_requester_is_paused():
    e = make("""
    program "P" {
        campaign "Later" trigger {
            smart list { trigger campaign is requested }
            flow { interesting moment milestone "requested" }
        }
        campaign "Main" batch {
            smart list { filter lead.Country is "US" }
            flow {
                request campaign "Later"
                wait 1 day
                interesting moment milestone "after wait"
            }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Main")
    assert [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")] == ["requested"]
    e.advance("1 day")
    assert [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")] == [
        "requested", "after wait"]


def test_the_api_cannot_start_an_executable():
    e = make(CHAIN)
    e.add_person("ann@example.com", {"Country": "US"})
    with pytest.raises(RunError, match="executable"):
        e.request("Ops/Route", ["ann@example.com"])
    with pytest.raises(RunError, match="executable"):
        e.run_batch("Ops/Route")


def test_api_request_limits_and_sources():
    e = make("""
    program "P" {
        tokens { my.A = 1 }
        campaign "Flow Only" trigger { smart list { trigger campaign is requested }; flow { send alert "E" to "x@example.com" } }
        campaign "Api" trigger { smart list { trigger campaign is requested from api }; flow { send alert "E" to "x@example.com" } }
        campaign "Off" trigger inactive { smart list { trigger campaign is requested from any }; flow { send alert "E" to "x@example.com" } }
        email "E" { subject "s" }
    }
    """)
    e.add_person("ann@example.com")
    with pytest.raises(RunError, match="admitting api"):
        e.request("P/Flow Only", ["ann@example.com"])
    with pytest.raises(RunError, match="inactive"):
        e.request("P/Off", ["ann@example.com"])
    with pytest.raises(RunError, match="at most 100 people"):
        e.request("P/Api", ["ann@example.com"] * 101)
    with pytest.raises(RunError, match="at most 100 tokens"):
        e.request("P/Api", ["ann@example.com"], tokens={f"my.T{i}": "x" for i in range(101)})
    with pytest.raises(RunError, match="cannot see a token my.Nope"):
        e.request("P/Api", ["ann@example.com"], tokens={"my.Nope": "x"})
    e.request("P/Api", ["ann@example.com"], tokens={"my.A": "2"})
    [req] = acts(e, "ann@example.com", "Campaign is Requested")
    assert req.attributes == {"campaign": '"P"."Api"', "requested by": "API", "source": "api"}
    assert types(e, "ann@example.com")[-1] == "Send Alert"


# -- remove from flow -----------------------------------------------------------------

def test_remove_from_flow_of_a_running_executable_ends_the_whole_run():
    e = make("""
    program "P" {
        campaign "Child" executable {
            flow {
                interesting moment milestone "child 1"
                remove from flow this campaign
                interesting moment milestone "child 2"
            }
        }
        campaign "Top" batch {
            smart list { filter lead.Country is "US" }
            flow {
                execute campaign "Child"
                interesting moment milestone "parent after"
            }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.add_person("bob@example.com", {"Country": "US"})
    e.run_batch("P/Top")
    for who in ("ann@example.com", "bob@example.com"):
        assert [a.attributes["description"] for a in acts(e, who, "Interesting Moment")] == ["child 1"]
        assert acts(e, who, "Remove from Flow")[0].attributes == {"campaign": '"P"."Child"'}


def test_remove_from_flow_of_the_parent_by_name_inside_a_child_ends_the_run():
    e = make("""
    program "P" {
        campaign "Child" executable { flow { remove from flow "P"."Top" } }
        campaign "Top" batch {
            smart list { filter lead.Country is "US" }
            flow { execute campaign "Child" ; interesting moment milestone "parent after" }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Top")
    assert not acts(e, "ann@example.com", "Interesting Moment")


def test_remove_from_flow_ends_paused_runs_of_another_campaign():
    e = make("""
    program "P" {
        campaign "Drip" batch {
            smart list { filter lead.Country is "US" }
            flow { wait 2 days ; interesting moment milestone "drip" }
        }
        campaign "Stop" trigger {
            smart list { trigger fills out form "Unsubscribe" }
            flow { remove from flow "Drip" }
        }
        form "Unsubscribe"
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.add_person("bob@example.com", {"Country": "US"})
    e.run_batch("P/Drip")
    assert len(e.store.queued()) == 2
    e.fire("fills out form", ["ann@example.com"], "Unsubscribe")
    e.advance("3 days")
    assert not acts(e, "ann@example.com", "Interesting Moment")
    assert len(acts(e, "bob@example.com", "Interesting Moment")) == 1


def test_remove_from_flow_cancels_requested_runs_not_yet_started():
    e = make("""
    program "P" {
        campaign "Later" trigger {
            smart list { trigger campaign is requested }
            flow { interesting moment milestone "later" }
        }
        campaign "Main" batch {
            smart list { filter lead.Country is "US" }
            flow {
                request campaign "Later"
                remove from flow "Later"
                interesting moment milestone "main goes on"
            }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Main")
    assert [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")] == ["main goes on"]


def test_removing_from_a_requested_campaign_does_not_touch_the_requester():
    e = make("""
    program "P" {
        campaign "Later" trigger {
            smart list { trigger campaign is requested }
            flow { remove from flow this campaign ; interesting moment milestone "never" }
        }
        campaign "Main" batch {
            smart list { filter lead.Country is "US" }
            flow { request campaign "Later" ; wait 1 day ; interesting moment milestone "main resumes" }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Main")
    e.advance("1 day")
    assert [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")] == ["main resumes"]


# -- events from steps start runs after the current one ----------------------------------

def test_triggers_fired_by_steps_run_after_the_current_run():
    e = make("""
    fields { "Stage": text }
    program "P" {
        list "L"
        campaign "On Stage" trigger {
            smart list { trigger data value changes lead.Stage to "MQL" }
            flow { interesting moment milestone "stage {{trigger.New Value}} from {{trigger.Old Value:default=nothing}}" }
        }
        campaign "On List" trigger {
            smart list { trigger added to list "L" }
            flow { interesting moment milestone "listed" }
        }
        campaign "Main" batch {
            smart list { filter lead.Country is "US" }
            flow {
                change data value lead.Stage to "MQL"
                add to list "L"
                interesting moment milestone "main done"
            }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Main")
    assert [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")] == [
        "main done", "stage MQL from nothing", "listed"]


def test_a_trigger_cycle_is_stopped_by_the_runs_per_person_limit():
    e = make("""
    program "P" {
        campaign "Up" trigger {
            smart list { trigger score is changed lead."Lead Score" }
            flow { change score lead."Lead Score" by +1 }
            qualify every time
        }
    }
    """, max_runs_per_person=50)
    e.add_person("ann@example.com")
    e.fire("score is changed", ["ann@example.com"], field_name="Lead Score")
    assert e.get("ann@example.com", "Lead Score") == 50
    [err] = acts(e, "ann@example.com", "Error")
    assert '"P"."Up" -> "P"."Up"' in err.attributes["message"]


def test_the_runs_limit_names_a_two_campaign_cycle_and_the_action_stands():
    e = make("""
    fields { "A": score; "B": score }
    program "P" {
        campaign "Ping" trigger {
            smart list { trigger score is changed lead.A }
            flow { change score lead.B by +1 }
            qualify every time
        }
        campaign "Pong" trigger {
            smart list { trigger score is changed lead.B }
            flow { change score lead.A by +1 }
            qualify every time
        }
        campaign "Go" batch { smart list { filter lead.Country is "US" }; flow { change score lead.A by +1 } }
    }
    """, max_runs_per_person=10)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Go")
    [err] = acts(e, "ann@example.com", "Error")
    assert err.attributes["cycle"][-3:] in (['"P"."Ping"', '"P"."Pong"', '"P"."Ping"'],
                                           ['"P"."Pong"', '"P"."Ping"', '"P"."Pong"'])
    assert e.get("ann@example.com", "A") > 1   # what ran before the limit is kept
