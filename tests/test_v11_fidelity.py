"""Behaviour pinned in v1.1 (LANGUAGE.md §12.1): a trigger or requested
campaign judges its filters at the moment of the event (or request), on the
person as the event left them; its qualification rule when the run starts."""

from __future__ import annotations

from engine_helpers import acts, make

JUDGED_AT_EVENT = """
program "P" {
    campaign "Status Then Country" batch {
        smart list { filter lead.Email is not empty }
        flow {
            change data value lead."Lead Status" to "MQL"
            change data value lead.Country to "DE"
        }
    }
    campaign "Country Then Status" batch {
        smart list { filter lead.Email is not empty }
        flow {
            change data value lead.Country to "US"
            change data value lead."Lead Status" to "SQL"
            change data value lead.Country to "FR"
        }
    }
    campaign "Requester" batch {
        smart list { filter lead.Email is not empty }
        flow {
            request campaign "Requested"
            change data value lead.Country to "US"
        }
    }
    campaign "On Status" trigger {
        smart list {
            trigger data value changes lead."Lead Status"
            filter lead.Country is "US"
        }
        flow { interesting moment milestone "status {{lead.Lead Status}} in {{lead.Country}}" }
        qualify every time
    }
    campaign "Requested" trigger {
        smart list {
            trigger campaign is requested
            filter lead.Country is "US"
        }
        flow { interesting moment milestone "requested" }
        qualify every time
    }
    campaign "Twice" batch {
        smart list { filter lead.Email is not empty }
        flow {
            add to list "L"
            remove from list "L"
            add to list "L"
        }
    }
    list "L"
    campaign "Once On List" trigger {
        smart list { trigger added to list "L" }
        flow { interesting moment milestone "once" }
    }
}
"""


def moments(e, who):
    return [a.attributes["description"] for a in acts(e, who, "Interesting Moment")]


def test_trigger_filters_are_judged_on_the_person_as_the_event_left_them():
    e = make(JUDGED_AT_EVENT)
    e.add_person("ann@example.com", {"Country": "US"})
    e.run_batch("P/Status Then Country")
    # Country was US when the status changed; the run itself sees the later DE
    assert moments(e, "ann@example.com") == ["status MQL in DE"]


def test_a_later_step_cannot_qualify_a_person_the_event_did_not():
    e = make(JUDGED_AT_EVENT)
    e.add_person("bob@example.com", {"Country": "CA"})
    e.run_batch("P/Country Then Status")
    assert moments(e, "bob@example.com") == ["status SQL in FR"]
    e2 = make(JUDGED_AT_EVENT)
    e2.add_person("cy@example.com", {"Country": "CA"})
    e2.run_batch("P/Status Then Country")   # CA at the event, DE after: no run
    assert moments(e2, "cy@example.com") == []


def test_requested_campaign_filters_are_judged_at_the_request_step():
    e = make(JUDGED_AT_EVENT)
    e.add_person("ann@example.com", {"Country": "CA"})
    e.run_batch("P/Requester")
    # CA when requested, US by the time the requested run starts: not qualified
    assert moments(e, "ann@example.com") == []
    assert [a.type for a in acts(e, "ann@example.com", "Campaign is Requested")] == ["Campaign is Requested"]


def test_qualification_rule_is_judged_when_the_run_starts():
    e = make(JUDGED_AT_EVENT)
    e.add_person("ann@example.com")
    e.run_batch("P/Twice")   # two 'added to list' events in one action
    assert moments(e, "ann@example.com") == ["once"]


# -- the other items of §12, pinned ----------------------------------------------

CONTEXTS = """
program "Central" {
    tokens { my.Who = "central" }
    email "E" { subject "s {{my.Who}}"; from "a@example.com"; body "b {{my.Who}}" }
    webhook "W" { url "https://example.com/{{my.Who}}"; method post; payload "{{my.Who}}" }
}
program "A" {
    tokens { my.Who = "A"; my.X = "ax" }
    list "L"
    campaign "Send" batch {
        smart list { filter lead.Email is not empty }
        flow {
            send email "Central"."E"
            send alert "Central"."E" to "owner@example.com"
            execute campaign "B"."Mid" use parent token context
        }
    }
    campaign "Hook" trigger {
        smart list { trigger campaign is requested from api }
        flow {
            call webhook "Central"."W"
            remove from flow "A"."Hook"
            interesting moment web "after the remove"
        }
    }
    campaign "First" trigger { smart list { trigger added to list "L" }; flow { interesting moment web "first" } }
    campaign "Second" trigger { smart list { trigger added to list "L" }; flow { interesting moment web "second" } }
    campaign "Adder" batch { smart list { filter lead.Email is not empty }; flow { add to list "L" } }
}
program "B" {
    tokens { my.Who = "B"; my.Y = "by"; my.X = "bx" }
    campaign "Mid" executable { flow { execute campaign "C"."Leaf" use parent token context } }
}
program "C" {
    tokens { my.Who = "C"; my.Y = "cy"; my.X = "cx"; my.Z = "cz" }
    campaign "Leaf" executable { flow { interesting moment web "leaf {{my.Who}} {{my.X}} {{my.Y}} {{my.Z}}" } }
}
"""


def test_assets_take_the_senders_tokens_and_chains_pass_context_as_run():
    e = make(CONTEXTS)
    e.add_person("ann@example.com")
    e.run_batch("A/Send")
    mail = acts(e, "ann@example.com", "Send Email")[0].attributes
    assert (mail["subject"], mail["body"]) == ("s A", "b A")                 # §12.3
    assert acts(e, "ann@example.com", "Send Alert")[0].attributes["subject"] == "s A"
    assert moments(e, "ann@example.com") == ["leaf A ax by cz"]              # §12.4
    e.request("A/Hook", ["ann@example.com"])
    hook = acts(e, "ann@example.com", "Call Webhook")[0].attributes
    # a payload that is one token is one JSON value: a text token, a JSON string (issue 14, item 9)
    assert (hook["url"], hook["payload"]) == ("https://example.com/A", '"A"')
    assert "after the remove" not in moments(e, "ann@example.com")           # §12.10


def test_campaigns_on_one_event_start_in_declaration_order():
    e = make(CONTEXTS)
    e.add_person("ann@example.com")
    e.run_batch("A/Adder")
    assert moments(e, "ann@example.com") == ["first", "second"]              # §12.9


def test_a_token_the_campaign_cannot_see_is_refused_naming_both():
    import pytest

    from campaignlang.errors import RunError
    e = make(CONTEXTS)
    e.add_person("ann@example.com")
    with pytest.raises(RunError, match=r'"A"."Send" cannot see a token my.Q'):
        e.run_batch("A/Send", tokens={"my.Q": "1"})
    assert acts(e, "ann@example.com", "Send Email") == []                    # §12.11
