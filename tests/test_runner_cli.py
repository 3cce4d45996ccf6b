"""campaign test PATH... [-k PATTERN] [--format text|json|junit] [--coverage],
through click's CliRunner: stdout, stderr and exit codes apart."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.cli import main

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """\
program "P" {
    list "L"
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow {
            add to list "L"
            change score lead."Lead Score" by +5
        }
    }
}
"""

TESTS = """
test "passes" {
    person "ann@example.com" { Country = "US" }
    run "P"."C"
    expect "ann@example.com"."Lead Score" == 5
}

test "fails" {
    person "ann@example.com" { Country = "US" }
    run "P"."C"
    expect "ann@example.com"."Lead Score" == 6
}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.campaign").write_text(PROGRAM + TESTS)
    (tmp_path / "ok.campaign").write_text(PROGRAM + TESTS.split('test "fails"')[0])
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_text_output_per_test_and_the_last_line(project: Path):
    r = invoke("test", "p.campaign")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"PASS  p\.campaign:12  passes  \(\d+\.\d ms\)", lines[0])
    assert re.fullmatch(r"FAIL  p\.campaign:18  fails  \(\d+\.\d ms\)", lines[1])
    assert lines[2:8] == [
        '    failure: expected "ann@example.com"."Lead Score" == 6, but it is 5',
        "      --> p.campaign:21:5",
        "       |",
        '    21 |     expect "ann@example.com"."Lead Score" == 6',
        "       |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "       = expected: 6",
    ]
    assert "       = actual:   5" in lines
    assert "       = activities of ann@example.com:" in lines
    assert lines[-1] == "1 passed, 1 failed"
    assert r.stderr == ""


def test_exit_0_when_all_pass(project: Path):
    r = invoke("test", "ok.campaign")
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_k_selects_tests(project: Path):
    r = invoke("test", "p.campaign", "-k", "PASS")
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "1 passed, 0 failed"
    r = invoke("test", "p.campaign", "-k", "f*s")
    assert r.exit_code == 1 and r.stdout.splitlines()[-1] == "0 passed, 1 failed"
    r = invoke("test", "p.campaign", "-k", "nothing")   # nothing selected: exit 2, as check
    assert r.exit_code == 2 and r.stderr == "error: no test matches -k 'nothing' in p.campaign\n"


def test_json(project: Path):
    r = invoke("test", "p.campaign", "ok.campaign", "--format", "json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["totals"] == {"tests": 3, "passed": 2, "failed": 1, "duration_ms": out["totals"]["duration_ms"]}
    assert [(t["file"], t["name"], t["passed"]) for t in out["tests"]] == [
        ("p.campaign", "passes", True), ("p.campaign", "fails", False), ("ok.campaign", "passes", True)]
    f = out["tests"][1]["failures"][0]
    assert (f["line"], f["column"], f["expected"], f["actual"]) == (21, 5, 6, 5)
    assert all(t["duration_ms"] > 0 for t in out["tests"])


def test_junit(project: Path):
    r = invoke("test", "p.campaign", "ok.campaign", "--format", "junit")
    assert r.exit_code == 1
    assert r.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    root = ET.fromstring(r.stdout.split("\n", 1)[1])
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    assert [s.get("name") for s in root.findall("testsuite")] == ["p.campaign", "ok.campaign"]
    [failure] = root.findall(".//failure")
    assert "but it is 5" in failure.get("message")


def test_a_file_that_does_not_check_is_one_failure(project: Path):
    (project / "bad.campaign").write_text(
        'program "P" { campaign "C" batch { smart list { filter lead.Country is "US" }; flow { send email "Nope" } } }\n'
        'test "a" { person "a@example.com" }\ntest "b" { person "b@example.com" }\n')
    r = invoke("test", "bad.campaign", "ok.campaign")
    assert r.exit_code == 1
    assert 'error[CL101]: unknown email "Nope"' in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("FAIL  bad.campaign:1  (check)  (")
    assert lines[1] == "    bad.campaign has 1 error; its tests did not run"
    assert lines[-1] == "1 passed, 1 failed"
    out = json.loads(invoke("test", "bad.campaign", "--format", "json").stdout)
    [t] = out["tests"]
    assert t["name"] == "(check)" and t["diagnostics"][0]["code"] == "CL101"


def test_a_folder_a_file_given_twice_and_a_missing_path(project: Path):
    r = invoke("test", ".", "p.campaign")
    assert r.stdout.splitlines()[-1] == "2 passed, 1 failed"
    r = invoke("test", "nope.campaign")
    assert r.exit_code == 2 and "no such file: nope.campaign" in r.stderr


def test_the_examples_pass(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    r = invoke("test", "examples", "stdlib", "--coverage")
    assert r.exit_code == 0, r.stdout
    assert re.fullmatch(r"\d+ passed, 0 failed", r.stdout.splitlines()[-1])
    assert "coverage: flow steps and choice branches the tests reached" in r.stdout
