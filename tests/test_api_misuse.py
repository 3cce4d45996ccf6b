"""The Python API refuses wrong types and values with CampaignError (issue 14, item 11).

A hypothesis state of misuse: every public Engine entry point is called with
values of the wrong type or out of range (None, numbers past 64 bits, lone
surrogates, aware datetimes, sets, callables that return nonsense ...). The
property: nothing but a ``CampaignError`` subclass escapes, and a refused
call leaves the store as it was.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.api import compile_text as program_from_text
from campaignlang.engine import Engine
from campaignlang.errors import CampaignError

PROGRAM = """
fields { "Notes": text; "Seats": integer }
program "P" {
    form "F"
    list "L"
    webhook "W" { url "https://example.com/{{lead.Email}}"; method post; payload "{\\"n\\": \\"{{lead.Notes}}\\"}" }
    campaign "B" batch {
        smart list { filter lead.Country is "US" }
        flow { add to list "L" }
    }
    campaign "T" trigger {
        smart list { trigger campaign is requested from api }
        flow { call webhook "W" }
    }
}
"""

PROG = program_from_text(PROGRAM)

BAD = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True),
    st.sampled_from(["", " ", "\ud800", "not an email", "x\udcff@example.com", "P/Nope", '"P"."B"', "P/B",
                     "ann@example.com", "3 days", "-1 days", "2026-13-01", "W", "Nope"]),
    st.just(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)), st.just(dt.datetime(2000, 1, 1)),
    st.just(dt.timedelta(days=-1)), st.just({"a", "b"}), st.just([1, 2]), st.just({"Notes": "\ud800"}),
    st.just({5: "x"}), st.just({"Seats": 2 ** 80}), st.just(object()), st.just(b"bytes"),
)


def dump(e: Engine) -> list[str]:
    e.store.flush()
    return list(e.store.db.iterdump())


def _handlers():
    return st.sampled_from([lambda r: {200, "x"}, lambda r: (200,), lambda r: None, lambda r: ("200", {}),
                            lambda r: (99, {}), lambda r: (200, {1, 2}), lambda r: (True, {}),
                            lambda r: (200, {"ok": True})])


CALLS = ["add_person", "get", "person_id", "advance", "run_batch", "request", "fire", "register_webhook",
         "in_list", "activities", "membership", "Engine"]


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """A folder to work in: Engine(program, "some text") makes a store file there."""
    import os

    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(here)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(call=st.sampled_from(CALLS), a=BAD, b=BAD, handler=_handlers())
def test_misuse_raises_only_campaign_errors(elsewhere, call, a, b, handler):
    e = Engine(PROG)
    e.add_person("ann@example.com", {"Country": "US", "Notes": "n"})
    before = dump(e)
    try:
        if call == "add_person":
            e.add_person(a, b)
        elif call == "get":
            e.get(a, b)
        elif call == "person_id":
            e.person_id(a)
        elif call == "advance":
            e.advance(a)
        elif call == "run_batch":
            e.run_batch(a)
        elif call == "request":
            e.request(a, b if isinstance(b, list) else [b])
        elif call == "fire":
            e.fire(a, [b])
        elif call == "register_webhook":
            e.register_webhook(a, b if not callable(b) else handler)
            e.register_webhook("W", handler)
            e.request("P/T", ["ann@example.com"])
            return
        elif call == "in_list":
            e.in_list(a, b)
        elif call == "activities":
            e.activities(a, b)
        elif call == "membership":
            e.membership(a, b)
        elif call == "Engine":
            Engine(PROG, a)
        return
    except CampaignError:
        pass
    assert dump(e) == before


@pytest.mark.parametrize("call", [
    lambda e: e.add_person("ann@example.com", {"Notes": "\ud800"}),
    lambda e: e.add_person("not an email"),
    lambda e: e.add_person("\ud800@example.com"),
    lambda e: e.advance(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)),
    lambda e: e.get(2 ** 70, "Notes"),
    lambda e: e.register_webhook("Nope", lambda r: (200, {})),
    lambda e: e.register_webhook("W", "not callable"),
    lambda e: Engine(PROG, 5),
])
def test_the_issues_cases_are_refused(tmp_path, monkeypatch, call):
    monkeypatch.chdir(tmp_path)
    e = Engine(PROG)
    with pytest.raises(CampaignError):
        call(e)
    assert list(tmp_path.iterdir()) == []   # Engine(prog, 5) made a file named 5


def test_a_handler_returning_a_set_is_an_error_activity():
    e = Engine(PROG)
    e.add_person("ann@example.com", {"Notes": "n"})
    e.register_webhook("W", lambda r: {200, "body"})
    e.request("P/T", ["ann@example.com"])
    (err,) = e.activities("ann@example.com", "Error")
    assert "handler returns (status, body), not set" in err.attributes["message"]
