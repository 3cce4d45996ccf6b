"""LANGUAGE.md §7: tokens and their environments, through the Python API."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from campaignlang.clock import Clock
from campaignlang.errors import RunError
from engine_helpers import acts, make, make_unchecked

# -- the example every release must reproduce ------------------------------------------

EXAMPLE = """
program "Scoring" {
    tokens { my.Score = +0 }
    campaign "Change Score" executable {
        flow { change score lead."Lead Score" by {{my.Score}} }
        qualify every time
    }
}
program "Webinar A" {
    tokens { my.Score = +10 }
    campaign "Parent True" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Scoring"."Change Score" use parent token context }
        qualify every time
    }
    campaign "Parent False" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Scoring"."Change Score" }
        qualify every time
    }
}
"""


@pytest.mark.parametrize("parent, change", [("Parent True", 10), ("Parent False", 0)])
def test_the_release_example(parent, change):
    e = make(EXAMPLE)
    e.add_person("ann@example.com", {"Lead Score": 0, "Country": "US"})
    e.run_batch(f"Webinar A/{parent}")
    assert e.get("ann@example.com", "Lead Score") == change
    [score] = acts(e, "ann@example.com", "Change Score")
    assert score.attributes == {"field": "Lead Score", "change": f"+{change}"}
    assert (score.old, score.new) == (0, change)


def test_the_release_example_from_an_empty_score():
    e = make(EXAMPLE)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("Webinar A/Parent True")
    assert e.get("ann@example.com", "Lead Score") == 10


# -- lexical My Tokens ------------------------------------------------------------------

LEXICAL = """
workspace "EMEA" {
    tokens { my.Owner = "ws-owner"; my.Level = "workspace"; my.Only = "ws only" }
    folder "Outer" {
        tokens { my.Level = "outer"; my.OuterOnly = "outer only" }
        folder "Inner" {
            tokens { my.Level = "inner" }
            program "P" {
                tokens { my.Owner = "program-owner" }
                campaign "C" batch {
                    smart list { filter lead.Country is "US" }
                    flow {
                        interesting moment milestone "{{my.Owner}}|{{my.Level}}|{{my.Only}}|{{my.OuterOnly}}|{{my.Missing}}|{{my.Missing:default=dflt}}"
                    }
                }
            }
        }
    }
}
"""


def test_my_tokens_are_lexical_and_the_innermost_wins():
    # my.Missing is a static error (CL401); at run time it renders blank
    e = make_unchecked(LEXICAL)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch('"P"."C"')
    [m] = acts(e, "ann@example.com", "Interesting Moment")
    assert m.attributes["description"] == "program-owner|inner|ws only|outer only||dflt"


def test_token_names_match_case_insensitively_and_trimmed():
    e = make("""
    program "P" {
        tokens { my."Event Name" = "Scaling Ops" }
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow { interesting moment milestone "{{my.event name}} / {{my. EVENT NAME }}" }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/C")
    assert acts(e, "ann@example.com", "Interesting Moment")[0].attributes["description"] == "Scaling Ops / Scaling Ops"


def test_token_values_render_by_type():
    e = make("""
    program "P" {
        tokens { my.S = +10; my.Set = =-3; my.N = 200; my.D = 2026-12-01; my.Dec = 3.5; my.T = "text" }
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow { interesting moment milestone "{{my.S}} {{my.Set}} {{my.N}} {{my.D}} {{my.Dec}} {{my.T}}" }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/C")
    assert acts(e, "ann@example.com", "Interesting Moment")[0].attributes["description"] == "+10 =-3 200 2026-12-01 3.5 text"


# -- campaign, program, member, lead and system tokens ---------------------------------------

def test_campaign_and_program_tokens_and_stable_ids():
    text = """
    program "First" { description "the first" }
    program "Webinar" {
        description "Quarterly webinar"
        campaign "Other" batch { smart list { filter lead.Country is "XX" }; flow { send alert "E" to "a@example.com" } }
        campaign "Invite" batch {
            description "Invites people"
            smart list { filter lead.Country is "US" }
            flow { interesting moment milestone "{{campaign.name}}#{{campaign.id}}: {{campaign.description}} in {{program.name}}#{{program.id}}: {{program.description}}" }
        }
        email "E" { subject "s" }
    }
    """
    out = []
    for _ in range(2):
        e = make(text)
        e.add_person("ann@example.com", {"Country": "US"})
        e.run_batch("Webinar/Invite")
        out.append(acts(e, "ann@example.com", "Interesting Moment")[0].attributes["description"])
    assert out[0] == out[1] == "Invite#2: Invites people in Webinar#2: Quarterly webinar"


def test_member_tokens_read_the_program_of_the_context():
    e = make("""
    program "Webinar" {
        statuses "Invited", "Registered"
        member fields "Registration Code"
        campaign "Register" batch {
            smart list { filter lead.Country is "US" }
            flow {
                change program status "Webinar" to "Registered"
                change program member data "Webinar" "Registration Code" to "A-{{lead.First Name}}"
                interesting moment milestone "code {{member.Registration Code}}"
            }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US", "First Name": "Ann"})
    e.run_batch("Webinar/Register")
    assert acts(e, "ann@example.com", "Interesting Moment")[0].attributes["description"] == "code A-Ann"
    assert e.membership("ann@example.com", "Webinar").data == {"registration code": "A-Ann"}


def test_lead_tokens_and_defaults():
    e = make("""
    fields { "Renewal": date; "Vip": boolean }
    program "P" {
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow { interesting moment milestone "Hi {{lead.First Name:default=friend}} {{lead.Last Name}}|{{lead.Renewal}}|{{lead.Vip}}|{{lead.Lead Score:default=0}}" }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US", "Last Name": "Lee", "Renewal": "2026-03-01", "Vip": True})
    e.run_batch("P/C")
    assert acts(e, "ann@example.com", "Interesting Moment")[0].attributes["description"] == "Hi friend Lee|2026-03-01|true|0"


def test_system_tokens_read_the_virtual_clock():
    e = make("""
    program "P" {
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow { interesting moment milestone "{{system.date}}|{{system.time}}|{{system.dateTime}}" }
        }
    }
    """, clock=Clock(dt.datetime(2013, 8, 8, 16, 36, 13)))
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/C")
    assert acts(e, "ann@example.com", "Interesting Moment")[0].attributes["description"] == \
        "Aug 08, 2013|04:36 PM|2013-08-08 16:36:13"


# -- trigger tokens ----------------------------------------------------------------------

TRIGGERED = """
program "P" {
    tokens { my.Where = "P" }
    form "Contact Us"
    campaign "Child" executable {
        flow { interesting moment web "child sees [{{trigger.Web Page}}] [{{trigger.Name}}] [{{trigger.Trigger Name}}] [{{my.Where}}] [{{campaign.name}}]" }
        qualify every time
    }
    campaign "On Form" trigger {
        smart list { trigger fills out form "Contact Us" }
        flow {
            interesting moment web "parent sees [{{trigger.Web Page}}] [{{trigger.Name}}] [{{trigger.Trigger Name}}]"
            execute campaign "Child" use parent token context
            execute campaign "Child"
        }
        qualify every time
    }
    campaign "Batch" batch {
        smart list { filter lead.Country is "US" }
        flow { interesting moment web "batch sees [{{trigger.Web Page}}] [{{trigger.Name}}]" }
    }
}
"""


def test_trigger_tokens_exist_only_in_triggered_runs_and_pass_with_the_context():
    e = make(TRIGGERED)
    e.add_person("ann@example.com", {"Country": "US"})
    e.fire("fills out form", ["ann@example.com"], "Contact Us", {"Web Page": "/lp"})
    e.run_batch("P/Batch")
    got = [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")]
    assert got == [
        "parent sees [/lp] [Contact Us] [Fills Out Form]",
        "child sees [/lp] [Contact Us] [Fills Out Form] [P] [On Form]",
        "child sees [] [] [] [P] [Child]",
        "batch sees [] []",
    ]


def test_data_value_change_trigger_tokens():
    e = make("""
    program "P" {
        campaign "On Country" trigger {
            smart list { trigger data value changes lead.Country }
            flow { interesting moment milestone "{{trigger.Attribute Name}}: {{trigger.Old Value}} -> {{trigger.New Value}}" }
            qualify every time
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.fire("data value changes", ["ann@example.com"], field_name="Country", to="CA")
    assert acts(e, "ann@example.com", "Interesting Moment")[0].attributes["description"] == "Country: US -> CA"
    assert e.get("ann@example.com", "Country") == "CA"


# -- use parent token context --------------------------------------------------------------

CONTEXT = """
program "Lib" {
    description "library"
    tokens { my.Score = +0; my.Own = "lib own"; my.Shared = "lib shared" }
    member fields "Code"
    campaign "Grandchild" executable {
        flow { interesting moment milestone "gc: {{my.Shared}} {{my.Own}} {{campaign.name}} {{program.name}} {{member.Code:default=-}}" }
        qualify every time
    }
    campaign "Child True" executable {
        flow {
            interesting moment milestone "child: {{my.Shared}} {{my.Own}} {{campaign.name}} {{program.description}}"
            execute campaign "Grandchild" use parent token context
        }
        qualify every time
    }
    campaign "Child False Link" executable {
        flow { execute campaign "Grandchild" }
        qualify every time
    }
    campaign "Child Middle" executable {
        flow { execute campaign "Child False Link" use parent token context }
        qualify every time
    }
}
program "App" {
    description "application"
    tokens { my.Shared = "app shared" }
    member fields "Code"
    campaign "Run True" batch {
        smart list { filter lead.Country is "US" }
        flow {
            change program status "App" to "Member"
            change program member data "App" "Code" to "APP-1"
            execute campaign "Lib"."Child True" use parent token context
        }
        qualify every time
    }
    campaign "Run Chain Broken" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Lib"."Child Middle" use parent token context }
        qualify every time
    }
    statuses "Member"
}
"""


def test_the_parent_context_passes_my_campaign_program_and_member_tokens_with_fallback():
    e = make(CONTEXT)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("App/Run True")
    got = [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")]
    # my.Shared from the parent; my.Own falls back to the child's own program;
    # campaign/program/member tokens describe the parent's context, down the whole chain
    assert got == [
        "child: app shared lib own Run True application",
        "gc: app shared lib own Run True App APP-1",
    ]


def test_a_link_without_use_parent_token_context_starts_afresh():
    e = make(CONTEXT)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("App/Run Chain Broken")
    got = [a.attributes["description"] for a in acts(e, "ann@example.com", "Interesting Moment")]
    assert got == ["gc: lib shared lib own Grandchild Lib -"]


def test_api_values_override_for_that_run_only_and_pass_through_the_context():
    e = make(EXAMPLE)
    e.add_person("ann@example.com", {"Lead Score": 0, "Country": "US"})
    e.run_batch("Webinar A/Parent True", tokens={"my.Score": "+3"})
    assert e.get("ann@example.com", "Lead Score") == 3
    e.run_batch("Webinar A/Parent True")
    assert e.get("ann@example.com", "Lead Score") == 13
    # without the parent's context the child never sees the API value
    e.run_batch("Webinar A/Parent False", tokens={"Score": "+3"})
    assert e.get("ann@example.com", "Lead Score") == 13


def test_api_values_must_name_a_visible_token():
    e = make(EXAMPLE)
    e.add_person("ann@example.com", {"Country": "US"})
    with pytest.raises(RunError, match="cannot see a token my.Bonus"):
        e.run_batch("Webinar A/Parent True", tokens={"my.Bonus": "+1"})
    assert e.get("ann@example.com", "Lead Score") is None


def test_api_values_of_a_request_reach_the_requested_campaign():
    e = make("""
    program "P" {
        tokens { my.Score = +1 }
        campaign "Api" trigger {
            smart list { trigger campaign is requested from api }
            flow { change score lead."Lead Score" by {{my.Score}} }
            qualify every time
        }
    }
    """)
    e.add_person("ann@example.com")
    e.request("P/Api", ["ann@example.com"], tokens={"my.Score": "=42"})
    e.request("P/Api", ["ann@example.com"])
    assert e.get("ann@example.com", "Lead Score") == 43


def test_a_requested_campaign_does_not_inherit_the_requesters_tokens():
    e = make("""
    program "Target" {
        tokens { my.Score = +1 }
        campaign "T" trigger {
            smart list { trigger campaign is requested }
            flow { change score lead."Lead Score" by {{my.Score}} }
        }
    }
    program "Caller" {
        tokens { my.Score = +100 }
        campaign "C" batch { smart list { filter lead.Country is "US" }; flow { request campaign "Target"."T" } }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("Caller/C")
    assert e.get("ann@example.com", "Lead Score") == 1


# -- score changes from tokens ------------------------------------------------------------

@pytest.mark.parametrize("value, start, end", [
    ("+10", 5, 15), ("-5", 5, 0), ("=20", 5, 20), ("=-3", 5, -3), ("+0", 5, 5), (" + 7 ", 5, 12),
])
def test_api_text_values_that_read_as_score_changes(value, start, end):
    e = make(SCORE_TOKEN)
    e.add_person("ann@example.com", {"Country": "US", "Lead Score": start})
    e.run_batch("P/C", tokens={"my.Delta": value})
    assert e.get("ann@example.com", "Lead Score") == end


SCORE_TOKEN = """
program "P" {
    tokens { my.Delta = +1 }
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow {
            change score lead."Lead Score" by {{my.Delta}}
            interesting moment milestone "after"
        }
    }
}
"""


@pytest.mark.parametrize("value", ["ten", "10", "", "+", "+-3", "1.5"])
def test_a_token_that_is_no_score_change_is_an_error_for_that_person_only(value):
    e = make(SCORE_TOKEN.replace("filter lead.Country is \"US\"", "filter lead.Country is \"US\", \"CA\""))
    e.add_person("ann@example.com", {"Country": "US", "Lead Score": 1})
    e.add_person("bob@example.com", {"Country": "US", "Lead Score": 2})
    r = e.run_batch("P/C", tokens={"my.Delta": value})
    assert r.errors == 2 and r.entered == [1, 2]
    for who, score in (("ann@example.com", 1), ("bob@example.com", 2)):
        [err] = acts(e, who, "Error")
        assert "{{my.Delta}}" in err.attributes["message"] and "not a score change" in err.attributes["message"]
        assert err.attributes["chain"] == ['"P"."C"']
        assert err.attributes["step"] == "<input>:7:13"
        assert e.get(who, "Lead Score") == score
        assert not acts(e, who, "Interesting Moment")


def test_an_error_ends_only_that_persons_run():
    e = make(SCORE_TOKEN)
    e.add_person("ann@example.com", {"Country": "US", "Lead Score": 1})
    e.run_batch("P/C", tokens={"my.Delta": "oops"})
    e.add_person("bob@example.com", {"Country": "US", "Lead Score": 1})
    e.run_batch("P/C")     # qualify once: ann ran (and failed), bob runs
    assert e.get("bob@example.com", "Lead Score") == 2
    assert e.get("ann@example.com", "Lead Score") == 1


def test_an_undefined_token_renders_blank_and_a_blank_score_change_is_an_error():
    e = make_unchecked("""
    program "P" {
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow { change score lead."Lead Score" by {{my.Nowhere}} }
        }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/C")
    assert "rendered ''" in acts(e, "ann@example.com", "Error")[0].attributes["message"]


# -- rendering into webhooks and emails -----------------------------------------------------

def test_webhook_urls_are_percent_encoded_and_payloads_json_escaped():
    e = make(r"""
    program "P" {
        tokens { my.Tag = "a&b c" }
        webhook "Enrich" {
            url "https://x.example.com/v1?email={{lead.Email Address}}&tag={{my.Tag}}"
            method post
            payload "{\"name\": \"{{lead.First Name}}\", \"tag\": \"{{my.Tag}}\"}"
        }
        campaign "C" trigger {
            smart list { trigger fills out form "F" }
            flow { call webhook "Enrich" }
        }
        form "F"
    }
    """)
    e.add_person("a+b@example.com", {"First Name": 'Ann "the" \\ Lee'})
    e.fire("fills out form", ["a+b@example.com"], "F")
    [call] = acts(e, "a+b@example.com", "Call Webhook")
    assert call.attributes["url"] == "https://x.example.com/v1?email=a%2Bb%40example.com&tag=a%26b%20c"
    assert json.loads(call.attributes["payload"]) == {"name": 'Ann "the" \\ Lee', "tag": "a&b c"}
    assert call.attributes["method"] == "POST"
    assert "status" not in call.attributes


def test_email_subject_and_body_render_in_the_sending_context():
    e = make("""
    program "Webinar" {
        tokens { my."Event Name" = "Scaling Ops" }
        email "Invite" {
            subject "Join us for {{my.Event Name}}"
            from "events@example.com"
            body "Hi {{lead.First Name:default=there}}"
        }
        campaign "C" batch { smart list { filter lead.Country is "US" }; flow { send email "Invite" } }
    }
    """)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("Webinar/C")
    [sent] = acts(e, "ann@example.com", "Send Email")
    assert sent.attributes == {"email": '"Webinar"."Invite"', "subject": "Join us for Scaling Ops",
                               "from": "events@example.com", "body": "Hi there"}
