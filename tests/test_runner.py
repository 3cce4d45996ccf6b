"""The test runner (LANGUAGE.md §9): failures report what was expected, what
was found and the person's activities; reports in text, JSON and JUnit XML.

The test blocks of tests/engine/*.campaign, examples/ and stdlib/ run through
the pytest plugin (pyproject.toml: campaign_test_paths), not from here, so
they do not run twice; each statement form's own tests are in
tests/campaign_tests/ (tests/test_runner_statements.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from campaignlang.api import compile_text as program_from_text
from campaignlang.runner import (broken_file_result, format_failures, format_result, format_results,
                                 results_json, results_junit, run_tests)

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


FAILING = """
test "fails twice" {
    person "ann@example.com" { Country = "US" }
    run "P"."C"
    expect "ann@example.com"."Lead Score" == 6
    expect no activity "Add to List"
}
test "passes" { person "bob@example.com" }
"""


def test_a_failure_is_drawn_like_a_diagnostic():
    [r, _] = _run(FAILING)
    text = format_result(r)
    lines = text.splitlines()
    assert lines[0].startswith("FAIL  <input>:14  fails twice  (") and lines[0].endswith(" ms)")
    i = lines.index('    failure: expected "ann@example.com"."Lead Score" == 6, but it is 5')
    assert lines[i + 1:i + 5] == [
        "      --> <input>:17:5",
        "       |",
        '    17 |     expect "ann@example.com"."Lead Score" == 6',
        "       |     " + "^" * len('expect "ann@example.com"."Lead Score" == 6'),
    ]
    assert lines[i + 5:i + 8] == ["       = expected: 6", "       = actual:   5",
                                  "       = activities of ann@example.com:"]
    header = lines[i + 8].split()
    assert header == ["time", "type", "campaign", "details"]
    assert "Change Score" in lines[i + 11] and "null -> 5" in lines[i + 11]
    # the second failure: the activities of that type, with the person's address
    assert '    failure: expected no activity "Add to List", found 1' in lines
    assert "       = activities of type \"Add to List\":" in lines
    assert any("ann@example.com  Add to List" in line for line in lines)


def test_the_same_activity_table_is_not_drawn_twice():
    [r] = _run("""
    test "t" {
        person "ann@example.com" { Country = "US" }
        run "P"."C"
        expect "ann@example.com"."Lead Score" == 6
        expect "ann@example.com" not in list "L"
    }
    """)
    text = format_failures(r)
    assert text.count("= activities of ann@example.com:\n") == 1
    assert text.endswith("= activities of ann@example.com: as above")
    assert not text.startswith("FAIL")


def test_the_report_ends_with_the_totals_and_times_every_test():
    results = _run(FAILING)
    text = format_results(results)
    assert text.splitlines()[-1] == "1 passed, 1 failed"
    assert all(r.duration_ms > 0 for r in results)
    assert "PASS  <input>:20  passes  (" in text


def test_wall_time_never_reaches_the_activity_log():
    first, second = _run(FAILING)[0], _run(FAILING)[0]
    assert first.activity_log == second.activity_log     # wall time varies between runs; the log must not
    assert '"at":"2026-01-01T00:00:00"' in first.activity_log


def test_json_has_tests_and_totals():
    out = results_json(_run(FAILING))
    json.dumps(out)   # serialisable
    assert out["format_version"] == 1
    assert out["totals"]["tests"] == 2 and out["totals"]["passed"] == 1 and out["totals"]["failed"] == 1
    assert (out["passed"], out["failed"]) == (1, 1)
    t = out["tests"][0]
    assert t["name"] == "fails twice" and t["passed"] is False and t["duration_ms"] > 0
    f = t["failures"][0]
    assert (f["kind"], f["file"], f["line"], f["column"]) == ("expect", "<input>", 17, 5)
    assert (f["expected"], f["actual"]) == (6, 5)
    assert [a["type"] for a in f["activities"]] == ["New Person", "Add to List", "Change Score"]
    assert "coverage" not in out


def test_junit_is_valid_xml_with_a_failure_per_failing_test():
    xml = results_junit(_run(FAILING) + [broken_file_result("bad.campaign", [], {})])
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["<input>", "bad.campaign"]
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ["fails twice", "passes"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == \
        'expected "ann@example.com"."Lead Score" == 6, but it is 5'
    assert "--> <input>:17:5" in failure.text
    assert cases[1].find("failure") is None and float(cases[1].get("time")) > 0
    error = suites[1].find("testcase").find("error")
    assert error is not None and "its tests did not run" in error.get("message")


def test_an_action_error_is_a_junit_error():
    results = _run("""
    test "ghost" { request "P"."T" for "ghost@example.com" }
    """)
    root = ET.fromstring(results_junit(results).split("\n", 1)[1])
    case = root.find("testsuite/testcase")
    assert case.find("error").get("message") == "error: no person with the email address ghost@example.com"
    text = format_result(results[0])
    assert "    error: no person with the email address ghost@example.com" in text
    assert "      --> <input>:14:20" in text
    assert '    14 |     test "ghost" { request "P"."T" for "ghost@example.com" }' in text
    assert "       |                    " + "^" * len('request "P"."T" for "ghost@example.com"') in text


def test_k_takes_globs():
    results = _run("""
    test "alpha one" { person "a@example.com" }
    test "beta" { person "b@example.com" }
    test "Alpha two" { person "c@example.com" }
    """, pattern="a*o")
    assert [r.name for r in results] == ["alpha one", "Alpha two"]


def test_expect_activity_matches_the_type_in_any_case():
    [r] = _run("""
    test "t" {
        person "ann@example.com" { Country = "US" }
        run "P"."C"
        expect activity "add to list" for "ann@example.com"
        expect no activity "change SCORE" { change = "+7" }
        expect 1 activity "Change score"
    }
    """)
    assert r.passed, format_results([r])
