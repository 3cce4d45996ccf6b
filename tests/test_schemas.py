"""Every ``--format json`` output validates against the JSON Schema shipped
for it (``campaign schema NAME``).

``SAMPLES`` runs the real commands (through click's CliRunner, from the
repository root) in the situations that shape their output differently:
clean and broken files, passing and failing tests, with and without
``--trace`` or ``--coverage``. A schema that no sample exercises fails
``test_every_schema_is_exercised``: adding a schema is one file in
``interpreter/schemas/``, and its sample is one row here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from campaignlang import schemas
from campaignlang.cli import main
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLE = "examples/lead_lifecycle.campaign"
CONTEXT = "examples/execute_token_context.campaign"
PEOPLE = "examples/people.csv"


def _events(tmp: Path) -> str:
    path = tmp / "events.jsonl"
    path.write_text(
        '{"at": "2026-01-02T10:00", "person": "ann@acme.example", "trigger": "fills out form", "name": "Register"}\n'
        '{"at": "2026-01-02T11:00", "person": "bob@tiny.example", "trigger": "visits web page", "name": "/pricing"}\n'
        '{"at": "2026-01-03T09:00", "person": "cy@nowhere.example", "trigger": "fills out form", "name": "Contact Us"}\n',
        encoding="utf-8")
    return str(path)


def _db(tmp: Path) -> str:
    """A store holding the example people, with the lifecycle's fields."""
    db = tmp / "store.db"
    if not db.exists():
        result = CliRunner().invoke(main, ["people", "import", PEOPLE, "--db", str(db), "--fields", LIFECYCLE])
        assert result.exit_code == 0, result.output
    return str(db)


def _requestable(tmp: Path) -> str:
    """The lifecycle example with its nurture open to API requests."""
    path = tmp / "requestable.campaign"
    text = (ROOT / LIFECYCLE).read_text(encoding="utf-8")
    path.write_text(text.replace("trigger campaign is requested\n", "trigger campaign is requested from any\n"),
                    encoding="utf-8")
    return str(path)


def _broken(tmp: Path) -> str:
    path = tmp / "broken.campaign"
    shutil.copy(ROOT / "tests/diagnostics/CL401-undefined-token.campaign", path)
    return str(path)


INSTANCE = ROOT / "tests" / "marketo" / "instance"


def _store_with_history(tmp: Path) -> str:
    """The example people after the lifecycle's events (for activities)."""
    db = _db(tmp)
    result = CliRunner().invoke(main, ["events", LIFECYCLE, _events(tmp), "--db", db])
    assert result.exit_code == 0, result.output
    return db


def _imported(tmp: Path) -> str:
    """The test Marketo instance imported as a project (once per test)."""
    out = tmp / "marketo-project"
    if not out.exists():
        result = CliRunner().invoke(main, ["import", "marketo", "--out", str(out), "--from", str(INSTANCE)])
        assert result.exit_code == 0, result.output
    return str(out)


def _drifted(tmp: Path) -> str:
    """The imported project with a token changed in the code: drift."""
    project = Path(_imported(tmp))
    default = project / "Default.campaign"
    text = default.read_text(encoding="utf-8")
    assert 'my.Owner = "ops@example.com"' in text
    default.write_text(text.replace('my.Owner = "ops@example.com"', 'my.Owner = "sales@example.com"'),
                       encoding="utf-8")
    return str(project)


def _extract(tmp: Path, break_code: bool = False) -> list[str]:
    """A small generated Bulk Activity Extract and its project
    (bench/marketo_extract.py); ``break_code``: a campaign's filter changed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("marketo_extract", ROOT / "bench" / "marketo_extract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp / "extract"
    module.write(folder, people=30, activities=300, seed=5)
    if break_code:
        default = folder / "Default.campaign"
        text = default.read_text(encoding="utf-8")
        changed = text.replace('filter lead.Country is "US"', 'filter lead.Country is "CA"', 1)
        assert changed != text
        default.write_text(changed, encoding="utf-8")
    return [str(folder / "extract.csv"), str(folder)]


Argv = Callable[[Path], list[str]]

#: schema name -> the command lines whose output it must accept
SAMPLES: dict[str, list[Argv]] = {
    "check": [
        lambda t: ["check", "--format", "json", LIFECYCLE],
        lambda t: ["check", "--format", "json", *sorted(str(p.relative_to(ROOT)) for p in
                                                    (ROOT / "tests/diagnostics").glob("CL*.campaign"))],
    ],
    "test": [
        lambda t: ["test", "--format", "json", "examples"],
        lambda t: ["test", "--format", "json", "--coverage", LIFECYCLE, CONTEXT],
        lambda t: ["test", "--format", "json", "tests/campaign_tests/failing", _broken(t)],
    ],
    "run": [
        lambda t: ["run", CONTEXT, "Webinar A/Parent True", "--people", PEOPLE, "--format", "json"],
        lambda t: ["run", CONTEXT, "Webinar A/Parent True", "--people", PEOPLE, "--format", "json", "--trace",
                   "--token", "my.Score=+3"],
    ],
    "request": [
        lambda t: ["request", _requestable(t), "Nurture/Drip", "--person", "ann@acme.example", "--person",
                   "bob@tiny.example", "--db", _db(t), "--format", "json", "--trace"],
        lambda t: ["request", _requestable(t), "Nurture/Drip", "--person", "ann@acme.example", "--db", _db(t),
                   "--format", "json"],
    ],
    "events": [
        lambda t: ["events", LIFECYCLE, _events(t), "--db", _db(t), "--format", "json", "--trace"],
        lambda t: ["events", LIFECYCLE, _events(t), "--format", "json"],
    ],
    "plan": [
        lambda t: ["plan", CONTEXT, "Webinar A/Parent False", "--people", PEOPLE, "--format", "json"],
        lambda t: ["plan", "examples/enrichment.campaign", "Company Data/Enrich New Leads", "--people", PEOPLE,
                   "--until", "2 days", "--detail", "--format", "json"],
    ],
    "explain": [
        lambda t: ["explain", LIFECYCLE, "Ops Scoring/Score", "--format", "json"],
        lambda t: ["explain", LIFECYCLE, "Ops Routing/Route", "--token", "my.Ops Inbox", "--token", "my.Nothing",
                   "--format", "json"],
    ],
    "explain-person": [
        lambda t: ["explain", LIFECYCLE, "Webinar 2026/Registration", "--person", "ann@acme.example",
                   "--db", _db(t), "--format", "json"],
        lambda t: ["explain", LIFECYCLE, "Ops Routing/Route", "--person", "bob@tiny.example",
                   "--db", _db(t), "--format", "json"],
    ],
    "parse": [
        lambda t: ["parse", LIFECYCLE],
        lambda t: ["parse", "tests/diagnostics/CL001-syntax-errors.campaign"],
    ],
    "diff": [
        lambda t: ["diff", LIFECYCLE, LIFECYCLE, "--format", "json"],
        lambda t: ["diff", LIFECYCLE, _requestable(t), "--people", PEOPLE, "--events", _events(t),
                   "--until", "1 week", "--format", "json"],
    ],
    "people-list": [
        lambda t: ["people", "list", "--db", _store_with_history(t), "--format", "json"],
        lambda t: ["people", "list", "--db", _db(t), "--email", "*.example", "--field", "Country",
                   "--deleted", "--format", "json"],
    ],
    "activities": [
        lambda t: ["activities", "--db", _store_with_history(t), "--format", "json"],
        lambda t: ["activities", "--db", _store_with_history(t), "--type", "Change Score", "--format", "json"],
    ],
    "import-marketo": [
        lambda t: ["import", "marketo", "--out", str(t / "fresh"), "--from", str(INSTANCE), "--format", "json"],
        lambda t: ["import", "marketo", "--out", _drifted(t), "--from", str(INSTANCE), "--format", "json"],
    ],
    "drift": [
        lambda t: ["drift", _imported(t), "--from", str(INSTANCE), "--format", "json"],
        lambda t: ["drift", _drifted(t), "--from", str(INSTANCE), "--format", "json"],
    ],
    "replay": [
        lambda t: ["replay", *_extract(t), "--format", "json"],
        lambda t: ["replay", *_extract(t, break_code=True), "--format", "json"],
    ],
    "sarif": [
        lambda t: ["check", "--format", "sarif", LIFECYCLE],
        lambda t: ["check", "--format", "sarif", "tests/diagnostics/CL205-execute-too-deep.campaign",
                   "tests/diagnostics/CL401-undefined-token.campaign"],
    ],
}

CASES = [(name, n) for name, rows in SAMPLES.items() for n in range(len(rows))]


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = schemas.load(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("name,n", CASES, ids=[f"{name}-{n}" for name, n in CASES])
def test_real_output_validates(name: str, n: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    argv = SAMPLES[name][n](tmp_path)
    result = CliRunner().invoke(main, argv)
    assert result.exit_code in (0, 1), (argv, result.output)
    document = json.loads(result.stdout)
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_every_schema_is_exercised() -> None:
    missing = set(schemas.names()) - set(SAMPLES)
    assert not missing, f"schemas without a sample output in tests/test_schemas.py: {sorted(missing)}"


@pytest.mark.parametrize("name", schemas.names())
def test_each_schema_is_a_valid_schema_that_stands_alone(name: str) -> None:
    schema = schemas.load(name)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    # every local reference resolves inside the schema itself
    text = json.dumps(schema)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/$defs/')[1:]}:
        assert ref.split("/")[0] in schema.get("$defs", {}), (name, ref)
    if name != "sarif":
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema.get("title") and schema.get("description")


def test_schema_command_prints_each_schema_and_lists_them() -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["schema", "--list"])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == schemas.names()
    for name in schemas.names():
        shown = runner.invoke(main, ["schema", name])
        assert shown.exit_code == 0
        assert json.loads(shown.stdout) == schemas.load(name)
    sarif = runner.invoke(main, ["schema", "sarif"]).stdout
    assert "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema" in sarif


def test_unknown_schema_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(main, ["schema", "nope"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: no schema 'nope'") and "check" in result.stderr
    assert "\n" not in result.stderr.strip()


def test_a_schema_rejects_a_wrong_document() -> None:
    """The schemas are not vacuous: a misspelt key or a wrong type fails."""
    v = _validator("check")
    good = {"format_version": 1, "valid": True, "error_count": 0, "warning_count": 0, "diagnostics": []}
    v.validate(good)
    assert not v.is_valid({**good, "diagnostic": []})
    assert not v.is_valid({**good, "error_count": "0"})
    bad_diag = {"code": "E1", "severity": "error", "message": "m", "file": "f", "line": 1, "column": 1,
                "end_line": 1, "end_column": 2}
    assert not v.is_valid({**good, "diagnostics": [bad_diag]})
