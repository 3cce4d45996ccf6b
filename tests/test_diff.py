"""``campaign diff OLD NEW``: two versions of examples/lead_lifecycle.campaign
(the second made below by edits a reviewer would make), compared in the
language's terms and, over the same people and events, by outcome; REV:PATH
read from a real git repository; exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from campaignlang import schemas
from campaignlang.cli import main
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLE = ROOT / "examples" / "lead_lifecycle.campaign"

#: (old text, new text): the edits that make version 2
EDITS = [
    # a filter added to a campaign's smart list
    ('smart list { filter lead."Lead Status" is not "Disqualified" }',
     ('smart list {\n                filter lead."Lead Status" is not "Disqualified"\n'
     '                filter lead.Country is not "BR"\n            }')),
    # a token's value
    ("            my.Score = +15\n", "            my.Score = +20\n"),
    # a qualification rule
    ("            qualify once every 1 day\n", "            qualify once every 2 days\n"),
    # a step moved
    (('            send email "Touch 1"\n            wait 3 days\n            send email "Touch 2"\n'
     '            add to list "Nurtured"'),
     ('            add to list "Nurtured"\n            send email "Touch 1"\n            wait 3 days\n'
     '            send email "Touch 2"')),
    # Route is now executed by Score instead of Registration: depth and callers
    ('                execute campaign "Ops Routing"."Route"\n                request campaign "Nurture"."Drip"\n',
     '                request campaign "Nurture"."Drip"\n'),
    ('                change score lead."Behavior Score" by {{my.Score}}\n            }',
     ('                change score lead."Behavior Score" by {{my.Score}}\n'
     '                execute campaign "Ops Routing"."Route"\n            }')),
    # an asset changed and one added
    ('    email "Touch 2" { subject "Going further" }',
     '    email "Touch 2" { subject "Going further, together" }\n    email "Touch 3" { subject "Last call" }'),
    # a trigger campaign made inactive
    ('    campaign "Enrich on Contact" trigger {', '    campaign "Enrich on Contact" trigger inactive {'),
]

PEOPLE = ("Email Address,First Name,Country,Company Size\n"
          "ann@acme.example,Ann,US,\njo@brasil.example,Jo,BR,\nbob@tiny.example,Bob,DE,\n"
          "dee@known.example,Dee,US,250\n")
EVENTS = "".join(json.dumps(e) + "\n" for e in [
    {"at": "2026-01-02T10:00", "person": "ann@acme.example", "trigger": "fills out form", "name": "Register"},
    {"at": "2026-01-02T10:05", "person": "jo@brasil.example", "trigger": "fills out form", "name": "Register"},
    {"at": "2026-01-03T12:00", "person": "dee@known.example", "trigger": "fills out form", "name": "Contact Us"},
])


def version_two(text: str) -> str:
    for old, new in EDITS:
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")       # a project root for the loader
    text = LIFECYCLE.read_text(encoding="utf-8")
    (tmp_path / "v1.campaign").write_text(text, encoding="utf-8")
    (tmp_path / "v2.campaign").write_text(version_two(text), encoding="utf-8")
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    (tmp_path / "events.jsonl").write_text(EVENTS, encoding="utf-8")
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(main, ["diff", *args])


def test_version_two_checks_clean(versions: Path) -> None:
    assert CliRunner().invoke(main, ["check", "v2.campaign"]).exit_code == 0


def test_names_each_change_in_the_language(versions: Path) -> None:
    result = run("v1.campaign", "v2.campaign")
    assert result.exit_code == 1, result.output
    out = result.stdout
    expected = [
        'campaign "Ops Routing"."Route":\n  filter added (filter 2): lead.Country is not "BR"',
        'program "Webinar 2026":\n  token my.Score changed: +15 -> +20',
        "qualification rule changed: qualify once every 1 day -> qualify once every 2 days",
        'campaign "Nurture"."Drip":\n  step moved (step 4 -> 1): add to list "Nurtured"',
        "depth changed: level 1 -> level 2",
        'caller removed: "Webinar 2026"."Registration" (execute)',
        'caller added: "Ops Scoring"."Score" (execute)',
        'campaign "Webinar 2026"."Registration":\n  step removed (was step 4): execute campaign "Ops Routing"."Route"',
        'step added (step 3): execute campaign "Ops Routing"."Route"',
        'subject changed: "Going further" -> "Going further, together"',
        'program "Nurture":\n  email added: "Touch 3"',
        'campaign "Enrichment"."Enrich on Contact":\n  active changed: active -> inactive',
    ]
    for line in expected:
        assert line in out, line
    assert out.rstrip().endswith("12 changes")


def test_with_people_names_whose_outcome_changes(versions: Path) -> None:
    result = run("v1.campaign", "v2.campaign", "--people", "people.csv", "--events", "events.jsonl",
                 "--until", "1 week", "--format", "json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    schema = schemas.load("diff")
    jsonschema.Draft202012Validator(schema).validate(doc)
    people = doc["people"]
    assert people["people"] == 4
    # jo (BR) no longer passes Route's filters; nobody else's qualification moved
    assert people["qualification"] == [{"campaign": '"Ops Routing"."Route"', "now_qualify": [],
                                        "no_longer_qualify": ["jo@brasil.example"]}]
    by_person = {a["person"]: a for a in people["activities"]}
    # ann: scored +20 not +15, routed from Score, listed before the wait
    ann = by_person["ann@acme.example"]
    assert any("Change Score null -> 20" in line for line in ann["added"])
    assert any("Change Score null -> 15" in line for line in ann["removed"])
    assert any(line.startswith("2026-01-02T10:00:00 Add to List") for line in ann["added"])
    # jo: executed Route but did not qualify, so was never routed
    jo = by_person["jo@brasil.example"]
    assert any('"qualified": false' in line for line in jo["added"])
    assert any("Change Data Value" in line and "INTL" in line for line in jo["removed"])
    # dee: the enrichment campaign is inactive now, so no webhook
    dee = by_person["dee@known.example"]
    assert [line for line in dee["removed"] if "Call Webhook" in line] and not dee["added"]
    # bob had no event: his outcome is the same
    assert people["changed_people"] == ["ann@acme.example", "dee@known.example", "jo@brasil.example"]

    text = run("v1.campaign", "v2.campaign", "--people", "people.csv", "--events", "events.jsonl",
               "--until", "1 week").stdout
    assert "no longer qualify (1): jo@brasil.example" in text
    assert "activities differ for 3 people:" in text
    assert text.rstrip().endswith("12 changes; 3 people of 4 whose outcome changed")


def test_markdown_for_a_pull_request(versions: Path) -> None:
    result = run("v1.campaign", "v2.campaign", "--people", "people.csv", "--events", "events.jsonl",
                 "--format", "markdown")
    assert result.exit_code == 1
    md = result.stdout
    assert md.startswith("## campaign diff: `v1.campaign` → `v2.campaign`\n")
    assert '### campaign "Ops Routing"."Route"' in md
    assert '- **filter added** (filter 2): `lead.Country is not "BR"` — line 51' in md
    assert '- **step removed** (was step 4): `execute campaign "Ops Routing"."Route"` — was line 94' in md
    assert '| `"Ops Routing"."Route"` | — | jo@brasil.example |' in md
    assert "| jo@brasil.example |" in md and "```diff" in md


def test_the_same_program_reformatted_is_no_change(versions: Path) -> None:
    text = (versions / "v1.campaign").read_text(encoding="utf-8")
    # other layout and comments, the same program
    (versions / "v3.campaign").write_text("# a comment\n" + text.replace("    ", "  "), encoding="utf-8")
    result = run("v1.campaign", "v3.campaign", "--people", "people.csv", "--events", "events.jsonl")
    assert result.exit_code == 0, result.output
    assert "no change in the program" in result.stdout
    assert "no person's outcome changed" in result.stdout


def test_more_kinds_of_change(versions: Path) -> None:
    text = (versions / "v1.campaign").read_text(encoding="utf-8")
    changed = (text
               .replace('fields {\n    "Region": text', 'fields {\n    "Region": text\n    "Tier": integer')
               .replace('        list "Needs Owner"\n', '        list "Needs Owner"\n        list "Escalated"\n')
               .replace('        flow { call webhook "Enrich" }',
                        '        flow { call webhook "Enrich" }\n        qualify every time')
               .replace('trigger visits web page "/pricing"', 'trigger visits web page "/pricing/enterprise"')
               .replace('    campaign "Enrich on Contact" trigger {', '    campaign "Enrich on Contact" batch {')
               .replace('program "Enrichment" {\n    form "Contact Us"',
                        'program "Enrichment" {\n    form "Contact Us"\n    form "Demo"')
               .replace('        response "company.size" -> lead."Company Size"\n',
                        '        response "company.employees" -> lead."Company Size"\n'))
    (versions / "v4.campaign").write_text(changed, encoding="utf-8")
    out = run("v1.campaign", "v4.campaign").stdout
    for line in ['fields:\n  field added: "Tier": integer',
                 'program "Ops Routing":\n  list added: "Escalated"',
                 'program "Enrichment":\n  form added: "Demo"',
                 'trigger removed: trigger visits web page "/pricing"',
                 'trigger added: trigger visits web page "/pricing/enterprise"',
                 "qualification rule changed: qualify once -> qualify every time",
                 'campaign "Enrichment"."Enrich on Contact":\n  kind changed: trigger -> batch',
                 "error CL204 added: ",
                 ('response changed (response 1): response "company.size" -> lead."Company Size" -> '
                 'response "company.employees" -> lead."Company Size"')]:
        assert line in out, line


def test_a_campaign_and_a_program_added_and_removed(versions: Path) -> None:
    text = (versions / "v1.campaign").read_text(encoding="utf-8")
    start = text.index('program "Enrichment" {')
    end = text.index('test "registration scores')
    removed = text[:start] + text[end:]
    removed = removed.replace('test "contact forms call the enrichment webhook"', 'test "gone"')
    removed = removed.replace('    expect 1 activity "Call Webhook" for "cy@example.com"\n', "")
    removed = removed.replace(
        '    campaign "Drip" trigger {',
        '    campaign "Stop" batch {\n        smart list { filter lead.Unsubscribed is true }\n'
        '        flow { remove from flow "Nurture"."Drip" }\n    }\n\n    campaign "Drip" trigger {')
    (versions / "v5.campaign").write_text(removed, encoding="utf-8")
    out = run("v1.campaign", "v5.campaign").stdout
    assert 'program "Enrichment":\n  program removed: "Enrichment"' in out
    assert 'campaign "Nurture"."Stop":\n  campaign added: "Nurture"."Stop" batch' in out
    # a removed program's campaigns are not listed one by one
    assert '"Enrichment"."Enrich on Contact"' not in out


def test_new_diagnostics_are_a_change(versions: Path) -> None:
    text = (versions / "v1.campaign").read_text(encoding="utf-8")
    (versions / "v6.campaign").write_text(
        text.replace('        campaign "Route" executable {',
                     '        campaign "Unused" executable {\n            flow { send email "Owner Alert" }\n'
                     '        }\n\n        campaign "Route" executable {'), encoding="utf-8")
    out = run("v1.campaign", "v6.campaign").stdout
    assert "checker:\n  warning CL601 added:" in out


# -- git: REV:PATH -----------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                               "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin"}).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "campaigns" / "shared").mkdir(parents=True)
    _git(repo, "init", "-q")
    text = LIFECYCLE.read_text(encoding="utf-8")
    # the scoring program moves to an imported file, so imports are read at the revision too
    start, end = text.index('    program "Ops Scoring" {'), text.index('    program "Ops Routing" {')
    scoring = "folder \"Marketing Ops\" {\n" + text[start:end] + "}\n"
    main_text = text[:start] + text[end:]
    main_text = main_text.replace("fields {", 'import "shared/scoring.campaign"\n\nfields {', 1)
    (repo / "campaigns" / "shared" / "scoring.campaign").write_text(scoring, encoding="utf-8")
    (repo / "campaigns" / "lifecycle.campaign").write_text(main_text, encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    # version 2: the token and the imported executable's flow
    (repo / "campaigns" / "lifecycle.campaign").write_text(
        main_text.replace("            my.Score = +15\n", "            my.Score = +20\n"), encoding="utf-8")
    (repo / "campaigns" / "shared" / "scoring.campaign").write_text(
        scoring.replace('                change score lead."Behavior Score" by {{my.Score}}\n', ""),
        encoding="utf-8")
    monkeypatch.chdir(repo / "campaigns")
    return repo


def test_rev_path_reads_the_committed_version_and_its_imports(repo: Path) -> None:
    assert CliRunner().invoke(main, ["check", "lifecycle.campaign"]).exit_code == 0
    result = run("HEAD:lifecycle.campaign", "lifecycle.campaign")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert out.startswith("--- HEAD:lifecycle.campaign\n+++ lifecycle.campaign\n")
    assert "token my.Score changed: +15 -> +20" in out
    assert 'campaign "Ops Scoring"."Score":\n  step removed (was step 2): change score lead."Behavior Score"' in out
    # the same revision on both sides: nothing changed
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v2")
    same = run("HEAD:lifecycle.campaign", "HEAD:../campaigns/lifecycle.campaign")
    assert same.exit_code == 0, same.output
    back = run("HEAD~1:lifecycle.campaign", "HEAD:lifecycle.campaign", "--format", "json")
    assert back.exit_code == 1
    assert json.loads(back.stdout)["change_count"] == 2


@pytest.mark.parametrize("arg,message", [
    ("HEAD:../../outside.campaign", "outside the repository"),
    ("--output=/tmp/x:lifecycle.campaign", "not a revision"),
    ("nosuchrev:lifecycle.campaign", ""),
    ("HEAD:missing.campaign", "there is no campaigns/missing.campaign at HEAD"),
    ("HEAD:notes.txt", "is not a .campaign file"),
    (":lifecycle.campaign", "write REV:PATH"),
])
def test_bad_revision_arguments_are_one_line_errors(repo: Path, arg: str, message: str) -> None:
    result = run("--", arg, "lifecycle.campaign")
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err
    assert not Path("/tmp/x:lifecycle.campaign").exists()


def test_errors_exit_2(versions: Path) -> None:
    assert run("v1.campaign", "nope.campaign").exit_code == 2
    assert run("v1.campaign", "v2.campaign", "--events", "events.jsonl").exit_code == 2
    (versions / "broken.campaign").write_text('program "P" {\n', encoding="utf-8")
    result = run("v1.campaign", "broken.campaign")
    assert result.exit_code == 2 and "syntax or import errors" in result.stderr
    (versions / "bad.csv").write_text("Email Address,Shoe Size\na@example.com,9\n", encoding="utf-8")
    result = run("v1.campaign", "v2.campaign", "--people", "bad.csv")
    assert result.exit_code == 2 and "Shoe Size" in result.stderr
