"""LANGUAGE.md §4: every filter, Marketo's case and null rules, smart list
logic — each case evaluated both person by person (Python) and pushed down
to SQL, which must agree."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from campaignlang import ast
from campaignlang.clock import Clock
from engine_helpers import acts, make, make_unchecked

FIELDS = """
fields {
    "Region": text
    "Seats": integer
    "Ratio": decimal
    "Renewal": date
    "Seen": datetime
    "Vip": boolean
}
"""

PEOPLE = {
    "a@example.com": {"Country": "US", "Lead Score": 0, "Seats": 5, "Ratio": "1.5", "Renewal": "2026-01-10",
                      "Seen": "2025-12-31T23:00", "Vip": True, "Region": "North America"},
    "b@example.com": {"Country": "us", "Lead Score": 50, "Seats": 0, "Ratio": "0", "Renewal": "2025-12-01",
                      "Seen": "2026-01-01T00:00", "Vip": False, "Region": "Straße"},
    "c@example.com": {"Country": "CA", "Lead Score": 100, "Renewal": "2026-02-01", "Seen": "2025-06-01T12:00"},
    "d@example.com": {"Country": "", "Region": ""},
    "e@example.com": {},
}


def world(filter_text: str, logic: str = ""):
    text = FIELDS + f"""
    program "P" {{
        list "L"
        smart list "Big" {{ filter lead."Lead Score" >= 50 }}
        campaign "C" batch {{
            smart list {logic} {{
{filter_text}
            }}
            flow {{ interesting moment milestone "in" }}
        }}
        statuses "Invited", "Attended"
    }}
    """
    e = make(text, clock=Clock(dt.datetime(2026, 1, 5, 12, 0)))
    for email, fields in PEOPLE.items():
        e.add_person(email, fields)
    return e


def both_ways(e):
    """(emails by Python, emails by SQL pushdown)."""
    c = e.campaign("P/C")
    pred = e.evaluator.smart_list_pred(c.smart_list, c.program)
    by_python = [p.email[0] for p in e.people() if pred(p)]
    by_batch = [p.email[0] for p in e._batch_people(c)]
    where, params, rest = e.evaluator.selection(c.smart_list, c.program)
    return by_python, by_batch, where is not None and not rest


CASES = [
    # text: case-insensitive; empty matches the negative forms
    ('filter lead.Country is "us"', "ab", True),
    ('filter lead.Country is "US", "CA"', "abc", True),
    ('filter lead.Country is not "US"', "cde", True),
    ('filter lead.Country contains "U"', "ab", True),
    ('filter lead.Country not contains "u"', "cde", True),
    ('filter lead.Country starts with "c"', "c", True),
    ('filter lead.Country not starts with "c"', "abde", True),
    ('filter lead.Country is empty', "de", True),
    ('filter lead.Country is not empty', "abc", True),
    ('filter lead.Region is "STRASSE"', "b", True),          # casefold: ß folds to ss
    ('filter lead.Region contains "america"', "a", True),
    ('filter lead."Email Address" starts with "A@"', "a", True),
    # numbers: `is 0` matches empty; `is empty` does not match 0; `is not` and
    # ordering never match empty (§12.5)
    ('filter lead."Lead Score" is 0', "ade", True),
    ('filter lead."Lead Score" is not 0', "bc", True),
    ('filter lead."Lead Score" is 50, 100', "bc", True),
    ('filter lead."Lead Score" is not 50', "ac", True),
    ('filter lead.Seats is not 0', "a", True),
    ('filter lead.Ratio is not 1.5', "b", True),
    ('filter lead."Lead Score" is empty', "de", True),
    ('filter lead."Lead Score" is not empty', "abc", True),
    ('filter lead."Lead Score" >= 50', "bc", True),
    ('filter lead."Lead Score" at least 50', "bc", True),
    ('filter lead."Lead Score" < 50', "a", True),
    ('filter lead."Lead Score" less than 1', "a", True),
    ('filter lead."Lead Score" between 0 and 50', "ab", True),
    ('filter lead.Seats is 0', "bcde", True),
    ('filter lead.Seats > 1', "a", True),
    ('filter lead.Ratio is 0', "bcde", True),
    ('filter lead.Ratio > 1', "a", True),
    ('filter lead.Ratio between 0 and 1.5', "ab", True),
    # dates: intervals; `before` and `on or before` match empty
    ('filter lead.Renewal is 2026-01-10', "a", True),
    ('filter lead.Renewal is not 2026-01-10', "bcde", True),
    ('filter lead.Renewal before 2026-01-10', "bde", True),
    ('filter lead.Renewal on or before 2026-01-10', "abde", True),
    ('filter lead.Renewal after 2026-01-10', "c", True),
    ('filter lead.Renewal on or after 2026-01-10', "ac", True),
    ('filter lead.Renewal between 2025-12-01 and 2026-01-10', "ab", True),
    ('filter lead.Renewal is empty', "de", True),
    ('filter lead.Renewal in past 40 days', "b", True),
    ('filter lead.Renewal in future 5 days', "a", True),
    ('filter lead.Renewal in future 1 month', "ac", True),
    ('filter lead.Seen is 2026-01-01', "b", True),
    ('filter lead.Seen before 2026-01-01', "acde", True),
    ('filter lead.Seen on or before 2025-12-31', "acde", True),
    ('filter lead.Seen after 2025-12-31', "b", True),
    ('filter lead.Seen on or after 2025-12-31T23:00', "ab", True),
    ('filter lead.Seen is 2025-12-31T23:00', "a", True),
    ('filter lead.Seen in past 5 days', "ab", True),
    ('filter lead.Seen in past 4 days', "", True),
    ('filter lead.Seen in past 1 hour', "", True),
    # booleans: empty is false
    ('filter lead.Vip is true', "a", True),
    ('filter lead.Vip is false', "bcde", True),
    ('filter lead.Vip is empty', "cde", True),
    # membership and smart lists (decimals, `in past`, `in future` and smart lists are
    # pushed down too, issue 8: tests/test_pushdown.py)
    ('filter member of smart list "Big"', "bc", True),
]


@pytest.mark.parametrize("text, expected, pushed", CASES, ids=[c[0] for c in CASES])
def test_field_filters(text, expected, pushed):
    e = world(text)
    by_python, by_batch, was_pushed = both_ways(e)
    assert "".join(by_python) == expected
    assert "".join(by_batch) == expected
    assert was_pushed == pushed


@pytest.mark.parametrize("logic, expected, pushed", [
    ("", "", True),                                  # ALL
    ("any", "abc", True),
    ('logic "1 and (2 or 3)"', "a", True),
    ('logic "(1 or 2) and 3"', "a", True),
    ('logic "1 or (2 and 3)"', "ab", True),
])
def test_smart_list_logic(logic, expected, pushed):
    e = world('filter lead.Country is "US"\nfilter lead."Lead Score" >= 100\nfilter lead.Vip is true', logic)
    by_python, by_batch, was_pushed = both_ways(e)
    assert "".join(by_python) == expected == "".join(by_batch)
    assert was_pushed == pushed


def _keep_in_python(e, kind):
    """Make ``kind`` filters unpushable, as a filter SQL cannot express would be."""
    push = e.evaluator.pushdown_filter
    e.evaluator.pushdown_filter = lambda f, here: None if isinstance(f, kind) else push(f, here)


def test_all_logic_pushes_what_it_can_and_evaluates_the_rest_in_python():
    e = world('filter lead.Country is "US"\nfilter member of smart list "Big"')
    _keep_in_python(e, ast.SmartListFilter)
    c = e.campaign("P/C")
    where, params, rest = e.evaluator.selection(c.smart_list, c.program)
    assert where is not None and len(rest) == 1
    assert "".join(p.email[0] for p in e._batch_people(c)) == "b"


def test_any_logic_with_a_python_only_filter_stays_in_python():
    e = world('filter lead.Country is "CA"\nfilter member of smart list "Big"', "any")
    _keep_in_python(e, ast.SmartListFilter)
    by_python, by_batch, was_pushed = both_ways(e)
    assert "".join(by_python) == "bc" == "".join(by_batch)
    assert not was_pushed


def test_list_and_program_membership_filters():
    e = world('filter member of list "L"\nfilter member of program "P" status is "Attended"', "any")
    e.run_steps("a@example.com", [ast.AddToList(ast.Ref("P", "L"))])
    e.run_steps("c@example.com", [ast.ChangeProgramStatus("P", "Attended")])
    e.run_steps("d@example.com", [ast.ChangeProgramStatus("P", "Invited")])
    by_python, by_batch, was_pushed = both_ways(e)
    assert "".join(by_python) == "ac" == "".join(by_batch)
    assert was_pushed
    e2 = world('filter not member of list "L"\nfilter not member of program "P"')
    e2.run_steps("a@example.com", [ast.AddToList(ast.Ref("P", "L"))])
    e2.run_steps("c@example.com", [ast.ChangeProgramStatus("P", "Invited")])
    by_python, by_batch, _ = both_ways(e2)
    assert "".join(by_python) == "bde" == "".join(by_batch)


def test_history_filters_with_in_past():
    e = make("""
    program "P" {
        form "F"
        email "E" { subject "s" }
        campaign "Mail" batch { smart list { filter lead.Country is "US" }; flow { send email "E" } }
        campaign "C" batch {
            smart list any {
                filter filled out form "F" in past 2 days
                filter was sent email "E" in past 1 week
                filter visited web page "/pricing"
                filter campaign was run "Mail" in past 3 days
            }
            flow { interesting moment milestone "in" }
            qualify every time
        }
        campaign "Opened" batch {
            smart list { filter opened email "E" }
            flow { interesting moment milestone "opened" }
        }
        campaign "Clicked" batch {
            smart list { filter clicked link in email "E" in past 1 day }
            flow { interesting moment milestone "clicked" }
        }
    }
    """)
    for p in "abcd":
        e.add_person(f"{p}@example.com", {"Country": "US" if p == "b" else "CA"})
    e.fire("fills out form", ["a@example.com"], "F")
    e.run_batch("P/Mail")
    e.fire("visits web page", ["c@example.com"], "/pricing")
    e.fire("opens email", ["d@example.com"], "E")
    e.fire("clicks link in email", ["d@example.com"], "E")
    c = e.campaign("P/C")
    assert [p.email[0] for p in e._batch_people(c)] == ["a", "b", "c"]
    e.advance("3 days")
    assert [p.email[0] for p in e._batch_people(c)] == ["b", "c"]   # form: older than 2 days; run: 3 days is in
    e.advance("5 days")
    assert [p.email[0] for p in e._batch_people(c)] == ["c"]
    e.run_batch("P/Opened")
    e.run_batch("P/Clicked")
    assert [a.attributes["description"] for a in acts(e, "d@example.com", "Interesting Moment")] == ["opened"]


def test_an_invalid_smart_list_qualifies_nobody():
    e = make_unchecked("""
    program "P" {
        campaign "C" batch {
            smart list { filter lead.Nope is "x" ; filter lead.Country is "US" }
            flow { interesting moment milestone "in" }
        }
    }
    """)
    e.add_person("a@example.com", {"Country": "US"})
    r = e.run_batch("P/C")
    assert r.entered == []


def test_filter_on_values_changed_earlier_in_the_same_run():
    # choices over interesting moment are written with the description in each branch
    e = make("""
    program "P" {
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow {
                change score lead."Lead Score" by +60
                interesting moment milestone {
                    if lead."Lead Score" >= 50 then "hot"
                    else if lead."Lead Score" >= 10 then "warm"
                    else "cold"
                }
            }
        }
    }
    """)
    e.add_person("a@example.com", {"Country": "US"})
    e.run_batch("P/C")
    assert acts(e, "a@example.com", "Interesting Moment")[0].attributes["description"] == "hot"


def test_choices_take_the_first_match_and_else_do_nothing():
    e = make("""
    program "P" {
        list "A"
        list "B"
        campaign "C" batch {
            smart list { filter lead.Country is not empty }
            flow {
                add to list {
                    if lead.Country is "US" then "A"
                    else if lead.Country starts with "U" then "B"
                    else do nothing
                }
            }
        }
    }
    """)
    for email, country in (("us@example.com", "US"), ("uk@example.com", "UK"), ("de@example.com", "DE")):
        e.add_person(email, {"Country": country})
    e.run_batch("P/C")
    assert e.list_members("A") == ["us@example.com"]
    assert e.list_members("B") == ["uk@example.com"]
    assert not acts(e, "de@example.com", "Add to List")


# -- property: SQL pushdown agrees with Python on random people -------------------------------

texts = st.one_of(st.none(), st.sampled_from(["US", "us", "Us", "CA", "", "ß", "SS", "ü", "Ü", "u"]))
scores = st.one_of(st.none(), st.integers(-3, 3))
dates = st.one_of(st.none(), st.dates(dt.date(2025, 12, 28), dt.date(2026, 1, 3)))

PROPERTY_FILTERS = [
    'filter lead.Country is "us", "ss"', 'filter lead.Country is not "u"', 'filter lead.Country contains "s"',
    'filter lead.Country not starts with "u"', 'filter lead.Country is empty',
    'filter lead."Lead Score" is 0', 'filter lead."Lead Score" is not 0, 2', 'filter lead."Lead Score" <= 0',
    'filter lead."Lead Score" between -1 and 1', 'filter lead."Lead Score" is not empty',
    'filter lead.Renewal before 2026-01-01', 'filter lead.Renewal on or before 2026-01-01',
    'filter lead.Renewal is not 2025-12-30, 2026-01-02', 'filter lead.Renewal between 2025-12-30 and 2026-01-01',
    'filter lead.Renewal after 2025-12-31',
]

_ENGINE = {}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(texts, scores, dates), min_size=1, max_size=8))
def test_sql_pushdown_agrees_with_python(rows):
    if "e" not in _ENGINE:
        text = FIELDS + 'program "P" {\n' + "".join(
            f'campaign "C{i}" batch {{ smart list {{ {f} }}; flow {{ interesting moment milestone "x" }} }}\n'
            for i, f in enumerate(PROPERTY_FILTERS)) + "}"
        _ENGINE["e"] = make(text)
    e = _ENGINE["e"]
    e.store.db.execute("DELETE FROM people")
    for i, (country, score, renewal) in enumerate(rows):
        e.add_person(f"p{i}@example.com", {"Country": country, "Lead Score": score, "Renewal": renewal})
    for i in range(len(PROPERTY_FILTERS)):
        c = e.campaign(f"P/C{i}")
        pred = e.evaluator.smart_list_pred(c.smart_list, c.program)
        where, params, rest = e.evaluator.selection(c.smart_list, c.program)
        assert where is not None and not rest, PROPERTY_FILTERS[i]
        assert [p.id for p in e.people() if pred(p)] == [p.id for p in e.store.people(where, params)], \
            PROPERTY_FILTERS[i]
