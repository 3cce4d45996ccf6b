"""The test runner (LANGUAGE.md §9): every test block of tests/engine/*.campaign
passes, and the runner reports failures with what was expected, what was
found and the person's activities."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignlang.engine import load_program, program_from_text
from campaignlang.runner import format_results, run_tests

ENGINE_DIR = Path(__file__).parent / "engine"
FILES = sorted(ENGINE_DIR.glob("*.campaign"))


def _cases():
    for f in FILES:
        program = load_program([f])
        for t in program.model.tests:
            yield pytest.param(program, t, id=f"{f.stem}: {t.name}")


@pytest.mark.parametrize("program, test", list(_cases()))
def test_engine_examples(program, test):
    from campaignlang.runner import run_test
    result = run_test(program, test)
    assert result.passed, format_results([result])


PROGRAM = """
program "P" {
    list "L"
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow { add to list "L" ; change score lead."Lead Score" by +5 }
    }
    campaign "T" trigger {
        smart list { trigger campaign is requested from api }
        flow { change score lead."Lead Score" by +1 }
    }
}
"""


def _run(tests: str, pattern=None):
    program = program_from_text(PROGRAM + tests)
    return run_tests(program, pattern=pattern)


def test_a_failed_expect_reports_expected_actual_and_activities():
    [r] = _run("""
    test "wrong score" {
        person "ann@example.com" { Country = "US" }
        run "P"."C"
        expect "ann@example.com"."Lead Score" == 6
        expect "ann@example.com"."Lead Score" >= 5
        expect "ann@example.com" not in list "L"
    }
    """)
    assert not r.passed
    assert [f.line for f in r.failures] == [17, 19]
    first = r.failures[0]
    assert first.expected == 6 and first.actual == 5
    assert 'expected "ann@example.com"."Lead Score" == 6, but it is 5' == first.message
    assert [a["type"] for a in first.activities] == ["New Person", "Add to List", "Change Score"]
    assert r.failures[1].message.startswith('expected "ann@example.com" not in list "L"')
    text = format_results([r])
    assert text.splitlines()[-1] == "0 passed, 1 failed"
    assert "expected: 6" in text and "actual:   5" in text


def test_an_action_that_cannot_run_stops_the_test_with_an_error():
    [r] = _run("""
    test "requests an unknown person" {
        request "P"."T" for "ghost@example.com"
        expect "ghost@example.com"."Lead Score" == 1
    }
    """)
    assert not r.passed
    assert r.error == "no person with the email address ghost@example.com"
    assert len(r.failures) == 1 and r.failures[0].message.startswith("error:")


def test_each_test_starts_from_an_empty_store_at_its_time():
    results = _run("""
    test "first" {
        person "ann@example.com" { Country = "US" }
        run "P"."C"
        expect "ann@example.com"."Lead Score" == 5
    }
    test "second" at 2026-06-01T09:00 {
        person "ann@example.com" { Country = "US" }
        run "P"."C"
        expect "ann@example.com"."Lead Score" == 5
        expect activity "Change Score" for "ann@example.com" { at = "2026-06-01T09:00:00", new = 5, old = null }
    }
    """)
    assert [r.passed for r in results] == [True, True]


def test_expect_activity_counts_and_attributes():
    [r] = _run("""
    test "counts" {
        person "ann@example.com" { Country = "US" }
        person "bob@example.com" { Country = "US" }
        run "P"."C"
        request "P"."T" for "ann@example.com"
        expect 2 activity "Change Score" for "ann@example.com"
        expect 3 activity "Change Score"
        expect activity "Change Score" for "ann@example.com" { change = "+1", campaign = "P"."T" }
        expect activity "Change Score" for "ann@example.com" { campaign = "T" }
        expect no activity "Change Score" for "ann@example.com" { change = "+2" }
        expect no activity "Send Email"
        expect activity "Add to List" { list = "P"."L" }
    }
    """)
    assert r.passed, format_results([r])


def test_k_selects_tests_by_name():
    results = _run("""
    test "alpha one" { person "a@example.com" }
    test "beta" { person "b@example.com" }
    test "Alpha two" { person "c@example.com" }
    """, pattern="alpha")
    assert [r.name for r in results] == ["alpha one", "Alpha two"]


def test_the_activity_log_of_a_test_is_deterministic():
    tests = """
    test "t" {
        person "ann@example.com" { Country = "US" }
        person "bob@example.com" { Country = "US" }
        run "P"."C"
        request "P"."T" for "ann@example.com", "bob@example.com"
        advance 1 day
    }
    """
    assert _run(tests)[0].activity_log == _run(tests)[0].activity_log
