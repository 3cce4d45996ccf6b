"""explain_person: why a person does or does not qualify, and the path a run would take."""

from __future__ import annotations

from campaignlang.explain import explain_person, render_explanation
from engine_helpers import make

PROGRAM = """
fields { "Region": text }
program "P" {
    list "VIP"
    campaign "C" batch {
        smart list logic "1 and (2 or 3)" {
            filter lead.Country is "US", "CA"
            filter lead."Lead Score" >= 50
            filter member of list "VIP"
        }
        flow {
            change data value lead.Region {
                if lead.Country is "CA" then to "Canada"
                else to "USA"
            }
        }
    }
}
"""


def test_a_person_who_qualifies_gets_the_path_without_any_write():
    e = make(PROGRAM)
    e.add_person("ann@example.com", {"Country": "US", "Lead Score": 60})
    before = e.store.counts()
    report = explain_person(e, "P/C", "ann@example.com")
    assert e.store.counts() == before
    assert [(f["number"], f["holds"], f.get("value")) for f in report["filters"]] == [
        (1, True, "US"), (2, True, "60"), (3, False, "not a member")]
    assert report["logic"] == "1 and (2 or 3)"
    assert report["qualifies"] is True
    assert report["choices"] == [{"campaign": '"P"."C"', "step": "change data value", "file": "<input>", "line": 12,
                                  "branch": 2, "else": True, "does nothing": False}]
    assert [a["type"] for a in report["activities"]] == ["Change Data Value"]
    text = render_explanation(report)
    assert "1. holds  lead.Country is \"US\", \"CA\" — the person's value: US" in text
    assert "qualifies now: yes" in text


def test_a_person_held_back_by_the_rule():
    e = make(PROGRAM)
    e.add_person("ann@example.com", {"Country": "CA", "Lead Score": 60})
    e.run_batch("P/C")
    report = explain_person(e, "P/C", "ann@example.com")
    assert report["smart list holds"] is True
    assert report["rule allows"] is False and report["last run"] == "2026-01-01T00:00:00"
    assert report["qualifies"] is False and report["activities"] == []
