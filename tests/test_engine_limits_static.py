"""No program that checks clean crashes when run (issue 14, item 4).

Advanced logic 45 parentheses deep overflowed SQLite's parser; a chain of
1,000 ``and`` terms hit Python's recursion limit; 250 terms in a trigger
campaign made generated Python with too many nested parentheses; thousands
of filters and a long chain of ``member of smart list`` links crashed too.
Now a chain of one operator is one node (no deeper than its parentheses),
SQL joins long chains in groups (SQLite's expression depth), a condition
nested past SQLite's parser runs in Python, and the checker refuses what
the engine cannot run: logic nested more than 50 deep (CL503) and a chain
of more than 100 smart lists (CL505). The property: every drawn shape either
gets one of those codes or runs, and selects the people it should.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.api import check_text
from campaignlang.engine import Engine

from engine_helpers import acts


def logic_program(n: int, shape: str, trigger: bool, advanced: bool) -> str:
    filters = "\n".join(f'            filter lead."Lead Score" >= {i}' for i in range(n))
    if shape == "deep":
        expr = "1"
        for i in range(2, n + 1):
            expr = f"({expr} {'and' if i % 2 else 'or'} {i})"
    else:
        expr = f" {shape} ".join(str(i) for i in range(1, n + 1))
    head = f'smart list logic "{expr}"' if advanced else ("smart list any" if shape == "or" else "smart list")
    kind = "trigger" if trigger else "batch"
    trig = '            trigger fills out form "F"\n' if trigger else ""
    return (f'program "P" {{\n    form "F"\n    campaign "C" {kind} {{\n        {head} {{\n{trig}{filters}\n'
            f'        }}\n        flow {{ interesting moment web "in" }}\n        qualify every time\n    }}\n}}\n')


def chain_program(n: int) -> str:
    lists = ['    smart list "S0" { filter lead."Lead Score" >= 100 }']
    lists += [f'    smart list "S{i}" {{ filter member of smart list "S{i - 1}" }}' for i in range(1, n)]
    return ('program "P" {\n' + "\n".join(lists) + '\n    campaign "C" batch {\n'
            f'        smart list {{ filter member of smart list "S{n - 1}" }}\n'
            '        flow { interesting moment web "in" }\n    }\n}\n')


def run(text: str, trigger: bool) -> tuple[list[str], list[str]]:
    """(codes, the emails that got the campaign's moment); the run must not raise."""
    result = check_text(text)
    codes = sorted({d.code for d in result.diagnostics})
    if result.program is None:
        return codes, []
    e = Engine(result.program)
    e.add_person("hi@example.com", {"Lead Score": 5000})
    e.add_person("lo@example.com", {"Lead Score": -1})
    if trigger:
        e.fire("fills out form", ["hi@example.com", "lo@example.com"], "F")
    else:
        e.run_batch("P/C")
    return codes, sorted(a.email for a in acts(e, None, "Interesting Moment"))


SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=25, **SETTINGS)
@given(n=st.integers(3, 1200), shape=st.sampled_from(["and", "or", "deep"]), trigger=st.booleans(),
       advanced=st.booleans())
def test_logic_of_any_size_checks_or_runs(n, shape, trigger, advanced):
    if shape == "deep":
        n = min(n, 60)
    codes, reached = run(logic_program(n, shape, trigger, advanced or shape == "deep"), trigger)
    if shape == "deep" and n - 1 > 50:
        assert "CL503" in codes
        return
    assert not [c for c in codes if c != "CL601"], codes
    # every filter holds for hi; lo fails all but 'Lead Score >= 0'... and fails that too (-1)
    assert reached == ["hi@example.com"]


@settings(max_examples=12, **SETTINGS)
@given(st.integers(1, 160))
def test_smart_list_chains_are_refused_past_the_limit_or_run(n):
    codes, reached = run(chain_program(n), False)
    if n > 100:
        assert codes == ["CL505"]
    else:
        assert codes == [] and reached == ["hi@example.com"]


def test_many_filters_in_all_logic_run_in_sql():
    codes, reached = run(logic_program(3000, "and", False, False), False)
    assert codes == [] and reached == ["hi@example.com"]
