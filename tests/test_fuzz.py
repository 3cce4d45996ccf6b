"""Fuzzing in CI (issue 7, item 1): parse, check, fmt, test, run and plan
raise nothing but CampaignError subclasses, and every diagnostic's span lies
inside its file — over 2,000 cases in total: mutated sources, generated
syntax trees and coherent programs (tests/fuzzing.py). ``python
bench/fuzz.py N`` runs as many as asked.

Below the properties, one regression test per crash the fuzzer found.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from campaignlang.api import check_text
from campaignlang.errors import RunError

from engine_helpers import acts, make
from fuzzing import coherent, exercise, generated, mutated

CI = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=1200, **CI)
@given(mutated())
def test_mutated_sources_raise_only_our_errors(text):
    exercise(text)


@settings(max_examples=400, **CI)
@given(generated())
def test_generated_programs_raise_only_our_errors(text):
    exercise(text)


@settings(max_examples=400, **CI)
@given(coherent())
def test_coherent_programs_run_and_raise_only_our_errors(text):
    exercise(text)


def test_the_coherent_strategy_reaches_the_engine():
    """Most coherent programs check clean, so the run and plan stages are exercised."""
    reached = []

    @settings(max_examples=30, derandomize=True, **CI)   # a share of random draws: fixed, so never flaky
    @given(coherent())
    def probe(text):
        reached.append(exercise(text)["run"])

    probe()
    assert sum(reached) >= len(reached) * 0.6


# -- regressions: each crash the fuzzer found ---------------------------------------------------

def _messages(text):
    return [(d.code, d.message) for d in check_text(text).diagnostics]


def test_a_number_too_long_for_int_is_a_syntax_error():
    """ValueError: Exceeds the limit (4300 digits) for integer string conversion (parse.py)."""
    n = "9" * 5000
    text = (f'program "P" {{\n tokens {{ my.A = {n}\n my.B ={n} }}\n'
            f' campaign "C" batch {{\n  smart list {{ filter lead."Lead Score" >= {n} }}\n'
            f'  flow {{ change score lead."Lead Score" by +{n} }}\n }}\n}}\n'
            f'test "t" {{ expect {n} activity "X" }}\n')
    msgs = _messages(text)
    assert msgs and all(m == ("CL001", "a number of 5000 digits is too long") for m in msgs)
    assert len(msgs) == 5
    exercise(text)


def test_a_duration_past_every_date_is_a_syntax_error():
    """OverflowError: Python int too large to convert to C int (ast.Duration.delta)."""
    text = ('program "P" {\n campaign "C" batch {\n  smart list { filter lead."Lead Score" >= 1 }\n'
            '  flow { wait 99999999999999999999 days }\n  qualify once every 3650001 days\n }\n}\n')
    assert _messages(text) == [("CL001", "'99999999999999999999 days' is longer than 10,000 years"),
                               ("CL001", "'3650001 days' is longer than 10,000 years")]
    exercise(text)


def test_a_schedule_whose_next_time_is_past_9999_never_comes_again():
    """OverflowError: date value out of range (engine._schedule_next)."""
    e = make('program "P" {\n campaign "B" batch {\n  smart list { filter lead."Lead Score" >= 0 }\n'
             '  schedule every 500000 weeks starting 2026-01-01T00:00\n'
             '  flow { change score lead."Lead Score" by +1 }\n  qualify every time\n }\n}\n')
    e.add_person("ann@example.com", {"Lead Score": 0})
    e.advance("2 days")
    e.advance("2 days")
    assert e.get("ann@example.com", "Lead Score") == 1


def test_a_clock_step_past_9999_is_a_clear_run_error():
    """OverflowError: date value out of range (Engine.advance, a wait)."""
    from campaignlang.clock import Clock
    e = make('program "P" {\n form "F"\n campaign "T" trigger {\n  smart list { trigger fills out form "F" }\n'
             '  flow { wait 3 days; interesting moment web "after" }\n }\n}\n', clock=Clock("9999-12-30T00:00"))
    e.add_person("ann@example.com")
    with pytest.raises(RunError, match="reached a date past 9999-12-31, the last date the clock can hold"):
        e.fire("fills out form", ["ann@example.com"], "F")
    with pytest.raises(RunError, match="past 9999-12-31"):
        e.advance("3 days")
    with pytest.raises(RunError, match="past 9999-12-31"):
        e.advance("999999999999 days")
    assert e.activities("ann@example.com", "Wait") == []


def test_a_score_beyond_64_bits_is_an_error_for_that_person():
    """OverflowError: Python int too large to convert to SQLite INTEGER (store.set_field)."""
    e = make('program "P" {\n campaign "B" batch {\n  smart list { filter lead."Lead Score" >= 0 }\n'
             '  flow {\n   change score lead."Lead Score" by +9223372036854775807\n'
             '   interesting moment web "after"\n  }\n }\n}\n')
    e.add_person("ann@example.com", {"Lead Score": 5})
    e.add_person("bob@example.com", {"Lead Score": 0})
    result = e.run_batch("P/B")
    [err] = acts(e, "ann@example.com", "Error")
    assert "more than a score holds (19 digits)" in err.attributes["message"]
    assert e.get("ann@example.com", "Lead Score") == 5
    assert e.get("bob@example.com", "Lead Score") == 9223372036854775807
    assert result.errors == 1


def test_a_whole_number_beyond_64_bits_does_not_convert():
    from campaignlang.values import convert
    for raw in (10 ** 30, "99999999999999999999", "1e400000000", float("inf")):
        with pytest.raises(ValueError, match="too large for an integer field"):
            convert("integer", raw)


def test_an_import_path_too_long_for_the_system_is_cl002():
    """OSError: [Errno 36] File name too long (loader.follow, is_file)."""
    text = 'import "' + "n" * 5000 + '"\nimport "a\x00b.campaign"\n'
    msgs = _messages(text)
    assert [code for code, _ in msgs] == ["CL002", "CL002"]
    assert "File name too long" in msgs[0][1] and "embedded null byte" in msgs[1][1]
    exercise(text)


def test_blocks_nested_too_deep_are_a_syntax_error():
    """RecursionError in the formatter (format._container) at ~250 nested folders."""
    from fuzzing import _deep_nesting
    text = _deep_nesting(400)
    assert _messages(text) == [("CL001", "blocks nest more than 64 deep")]
    exercise(text)
    assert _messages(_deep_nesting(30)) == []


def test_smart_list_logic_nested_too_deep_is_cl503():
    """RecursionError in check.logic_problem for 3,000 nested parentheses."""
    n = 3000
    text = ('program "P" {\n campaign "C" batch {\n  smart list logic "' + "(" * n + "1" + ")" * n +
            ' and 2 or 3" {\n   filter lead.Country is "US"\n   filter lead.Country is "DE"\n'
            '   filter lead.Country is "FR"\n  }\n  flow { change score lead."Lead Score" by +1 }\n }\n}\n')
    [(code, message)] = _messages(text)
    assert code == "CL503" and message.endswith(": parentheses nest 3000 deep")
    exercise(text)
