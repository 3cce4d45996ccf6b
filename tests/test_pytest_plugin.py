"""The pytest plugin (interpreter/pytest_plugin.py): test blocks of .campaign
files collected as pytest items, readable failures, the ini options, and
this repository's own configuration."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import campaignlang.loader  # noqa: F401
import campaignlang.pytest_plugin  # noqa: F401
import campaignlang.runner  # noqa: F401
from campaignlang.api import check_text

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# pytester's in-process runs restore sys.modules afterwards: what they import
# first is imported again by the next run. Load the package and build the
# parser here, once, so the inner sessions find them ready.
check_text('program "P" { list "L" }\ntest "t" { person "a@example.com" }')


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner pytest session, without hypothesis' plugin (a second each)."""
    return pytester.runpytest("-p", "no:hypothesispytest", *args)

PROGRAM = """
program "P" {
    list "L"
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow { add to list "L" ; change score lead."Lead Score" by +5 }
    }
}
"""

GOOD = PROGRAM + """
test "scores the US" {
    person "ann@example.com" { Country = "US" }
    run "P"."C"
    expect "ann@example.com"."Lead Score" == 5
}
test "leaves others alone" {
    person "bob@example.com" { Country = "DE" }
    run "P"."C"
    expect "bob@example.com" not in list "L"
}
"""

BAD = PROGRAM + """
test "wrong score" {
    person "ann@example.com" { Country = "US" }
    run "P"."C"
    expect "ann@example.com"."Lead Score" == 6
}
"""

BROKEN = """
program "P" { campaign "C" batch { smart list { filter lead.Country is "US" }; flow { send email "Nope" } } }
test "never runs" { person "a@example.com" }
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".campaign", good=GOOD, bad=BAD)
    return pytester


def test_one_item_per_test_block(project: pytest.Pytester):
    result = run(project, "--collect-only", "-q", "good.campaign")
    result.stdout.fnmatch_lines(["good.campaign::scores the US", "good.campaign::leaves others alone"])
    result = run(project, "good.campaign")
    result.assert_outcomes(passed=2)


def test_a_failing_test_reports_like_campaign_test(project: pytest.Pytester):
    result = run(project, "bad.campaign")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*campaign test: wrong score*",
        'failure: expected "ann@example.com"."Lead Score" == 6, but it is 5',
        "  --> bad.campaign:12:5",
        '12 |     expect "ann@example.com"."Lead Score" == 6',
        "   |     ^^^^^^^^^^*",
        "   = expected: 6",
        "   = actual:   5",
        "   = activities of ann@example.com:",
        "*Change Score*",
        '*FAILED bad.campaign::wrong score - failure: expected "ann@example.com"*',
    ])
    assert "Traceback" not in result.stdout.str()
    assert "def runtest" not in result.stdout.str()


def test_a_file_that_does_not_check_is_one_failing_item(project: pytest.Pytester):
    project.makefile(".campaign", broken=BROKEN)
    result = run(project, "broken.campaign")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*campaign check: broken.campaign*",
        "broken.campaign has 1 error; its tests did not run",
        "error?CL101?: unknown email \"Nope\"",     # fnmatch: [ ] is a character class
        " --> broken.campaign:1:*",
        "*FAILED broken.campaign::(check)*",
    ])


def test_k_selects_by_test_name(project: pytest.Pytester):
    result = run(project, "-k", "others")
    result.assert_outcomes(passed=1, deselected=2)


def test_campaign_files_run_beside_python_tests(project: pytest.Pytester):
    project.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(project)
    result.assert_outcomes(passed=3, failed=1)


def test_ini_paths_and_ignore(pytester: pytest.Pytester):
    for folder in ("cases", "fixtures", "cases/skip"):
        (pytester.path / folder).mkdir(parents=True, exist_ok=True)
    (pytester.path / "cases" / "a.campaign").write_text(GOOD)
    (pytester.path / "cases" / "skip" / "b.campaign").write_text(BAD)
    (pytester.path / "fixtures" / "c.campaign").write_text(BROKEN)
    pytester.makeini("[pytest]\ncampaign_test_paths = cases\ncampaign_test_ignore = cases/skip\n")
    result = run(pytester, "--collect-only", "-q")
    out = result.stdout.str()
    assert "cases/a.campaign::scores the US" in out
    assert "b.campaign" not in out and "c.campaign" not in out
    # a file named on the command line is collected whatever the ini says
    result = run(pytester, "fixtures/c.campaign")
    result.assert_outcomes(failed=1)


def test_the_plugin_is_registered_through_its_entry_point(project: pytest.Pytester,
                                                          request: pytest.FixtureRequest):
    project_toml = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project_toml["project"]["entry-points"]["pytest11"] == {"campaignlang": "campaignlang.pytest_plugin"}
    import campaignlang.pytest_plugin as plugin

    assert request.config.pluginmanager.get_plugin("campaignlang") is plugin
    result = run(project, "-p", "no:campaignlang", "--collect-only", "-q")
    assert "campaign" not in result.stdout.str()


def test_this_repository_collects_examples_stdlib_and_tests_but_not_fixtures():
    """pyproject.toml: examples/, stdlib/ and tests/**/*.campaign run as tests;
    the spec's parse fixtures, the diagnostics goldens and the tests that must
    fail do not."""
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert {"tests", "examples", "stdlib"} <= set(ini["testpaths"])
    assert {"tests/spec", "tests/diagnostics", "tests/campaign_tests/failing"} <= set(ini["campaign_test_ignore"])
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "examples", "stdlib", "tests/engine", "tests/spec", "tests/diagnostics", "tests/campaign_tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    items = [line for line in out.stdout.splitlines() if "::" in line]
    files = {line.split("::", 1)[0] for line in items}
    for example in sorted((ROOT / "examples").glob("*.campaign")):
        assert f"examples/{example.name}" in files
    assert "stdlib/scoring.campaign" in files and "tests/engine/execute.campaign" in files
    assert "tests/campaign_tests/fire.campaign" in files
    assert not any(f.startswith(("tests/spec/", "tests/diagnostics/", "tests/campaign_tests/failing/"))
                   for f in files)
