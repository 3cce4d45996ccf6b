"""``campaign check --format sarif``: every golden diagnostics case gives a
SARIF 2.1.0 log that the official OASIS schema (shipped in the package)
accepts, with one result per diagnostic, its rule, level, region, related
places and hint; certain "did you mean" hints become fixes, and applying
them makes the diagnostic go away."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from campaignlang import schemas
from campaignlang.cli import main
from campaignlang.errors import CODES
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted((ROOT / "tests" / "diagnostics").glob("*.campaign"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = schemas.load("sarif")
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def _check(fmt: str, path: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict]:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["check", "--format", fmt, path])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_each_golden_case_is_valid_sarif_with_every_diagnostic(case: Path, validator, monkeypatch) -> None:
    rel = case.relative_to(ROOT).as_posix()
    code, log = _check("sarif", rel, monkeypatch)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    json_code, plain = _check("json", rel, monkeypatch)
    assert code == json_code
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(CODES)
    assert len(run["results"]) == len(plain["diagnostics"])
    for res, d in zip(run["results"], plain["diagnostics"]):
        assert res["ruleId"] == d["code"]
        assert rules[res["ruleIndex"]]["id"] == d["code"]
        assert res["level"] == d["severity"]
        assert res["message"]["text"].startswith(d["message"])
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": d["file"], "uriBaseId": "%SRCROOT%"}
        assert loc["region"] == {"startLine": d["line"], "startColumn": d["column"],
                                 "endLine": d["end_line"], "endColumn": d["end_column"]}
        if "hint" in d:
            assert res["message"]["text"].endswith("hint: " + d["hint"])
            assert res["properties"]["hint"] == d["hint"]
        related = res.get("relatedLocations", [])
        assert [(r["message"]["text"], r["physicalLocation"]["region"]["startLine"]) for r in related] == \
            [(r["message"], r["line"]) for r in d.get("related", [])]


def test_a_clean_file_is_a_log_with_no_result(validator, monkeypatch) -> None:
    code, log = _check("sarif", "examples/lead_lifecycle.campaign", monkeypatch)
    assert code == 0
    validator.validate(log)
    assert log["version"] == "2.1.0" and log["runs"][0]["results"] == []


def _apply(text: str, region: dict, new: str) -> str:
    lines = text.splitlines(keepends=True)
    start = sum(len(x) for x in lines[:region["startLine"] - 1]) + region["startColumn"] - 1
    end = sum(len(x) for x in lines[:region["endLine"] - 1]) + region["endColumn"] - 1
    return text[:start] + new + text[end:]


@pytest.mark.parametrize("name", ["CL401-undefined-token", "CL101-unknown-field", "CL101-unknown-campaign"])
def test_did_you_mean_fixes_remove_their_diagnostic(name: str, tmp_path: Path, monkeypatch) -> None:
    source = ROOT / "tests" / "diagnostics" / f"{name}.campaign"
    for f in source.parent.glob("*"):
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    if (source.parent / "support").is_dir():
        import shutil
        shutil.copytree(source.parent / "support", tmp_path / "support")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--format", "sarif", source.name])
    log = json.loads(result.stdout)
    fixed = [r for r in log["runs"][0]["results"] if "fixes" in r]
    assert fixed, "a did-you-mean hint of this case should give a fix"
    text = (tmp_path / source.name).read_text(encoding="utf-8")
    # apply from the end of the file back, so earlier regions stay put
    changes = []
    for r in fixed:
        (change,) = r["fixes"][0]["artifactChanges"]
        assert change["artifactLocation"]["uri"] == source.name
        (rep,) = change["replacements"]
        assert rep["deletedRegion"] == r["locations"][0]["physicalLocation"]["region"]
        changes.append((rep["deletedRegion"], rep["insertedContent"]["text"], r["message"]["text"]))
    for region, new, _ in sorted(changes, key=lambda c: (c[0]["startLine"], c[0]["startColumn"]), reverse=True):
        text = _apply(text, region, new)
    (tmp_path / source.name).write_text(text, encoding="utf-8")
    after = json.loads(CliRunner().invoke(main, ["check", "--format", "json", source.name]).stdout)
    remaining = {(d["code"], d["message"]) for d in after["diagnostics"]}
    for _, _, message in changes:
        assert (message.split("\n")[0]) not in {m for _, m in remaining}, message


def test_token_fix_keeps_the_braces(monkeypatch) -> None:
    _, log = _check("sarif", "tests/diagnostics/CL401-undefined-token.campaign", monkeypatch)
    fixes = [r["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"]
             for r in log["runs"][0]["results"] if "fixes" in r]
    assert "{{my.Score}}" in fixes
