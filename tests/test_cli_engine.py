"""The engine's command line (LANGUAGE.md §11): run, request, events, people
import, plan and test, through click's CliRunner."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from campaignlang.cli import main

PROGRAM = """
fields { "Region": text }
program "Webinar A" {
    tokens { my.Score = +10 }
    list "Done"
    form "Contact Us"
    campaign "Parent True" batch {
        smart list { filter lead.Country is "US" }
        flow { change score lead."Lead Score" by {{my.Score}} ; add to list "Done" }
    }
    campaign "On Form" trigger {
        smart list { trigger fills out form "Contact Us" }
        flow { interesting moment web "form at {{trigger.Web Page}}" }
        qualify every time
    }
    campaign "Api" trigger {
        smart list { trigger campaign is requested from api }
        flow { change score lead."Lead Score" by {{my.Score}} }
    }
    campaign "Child" executable { flow { add to list "Done" } }
}

test "passes" {
    person "ann@example.com" { Country = "US" }
    run "Webinar A"."Parent True"
    expect "ann@example.com"."Lead Score" == 10
}

test "fails" {
    person "ann@example.com" { Country = "US" }
    run "Webinar A"."Parent True"
    expect "ann@example.com"."Lead Score" == 11
}
"""

PEOPLE_CSV = "Email Address,country,Lead Score,Region\nann@example.com,US,1,NA\nbob@example.com,US,,\ncy@example.com,DE,5,\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.campaign").write_text(PROGRAM)
    (tmp_path / "people.csv").write_text(PEOPLE_CSV)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_in_memory_says_so_and_reports(project):
    r = invoke("run", "p.campaign", "Webinar A/Parent True", "--people", "people.csv")
    assert r.exit_code == 0, r.output
    assert "using a store in memory" in r.stderr
    assert "imported 3 people (3 new, 0 updated)" in r.stderr
    assert r.stdout.startswith('ran "Webinar A"."Parent True" at 2026-01-01T00:00:00: 2 people entered, 2 runs, 0 errors')


@pytest.mark.parametrize("campaign", ['"Webinar A"."Parent True"', "Webinar A/Parent True"])
def test_run_json_with_tokens(project, campaign):
    r = invoke("run", "p.campaign", campaign, "--people", "people.csv", "--token", "my.Score=+2",
               "--format", "json", "--trace")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["entered"] == ["ann@example.com", "bob@example.com"]
    assert out["activity_counts"] == {"Add to List": 2, "Change Score": 2}
    assert [a["new"] for a in out["activities"] if a["type"] == "Change Score"] == [3, 2]


def test_run_with_a_db_keeps_the_store_and_dry_run_writes_nothing(project):
    assert invoke("people", "import", "people.csv", "--db", "s.db", "--fields", "p.campaign").exit_code == 0
    r = invoke("run", "p.campaign", "Webinar A/Parent True", "--db", "s.db", "--dry-run")
    assert r.exit_code == 0 and "using a store in memory" not in r.stderr
    con = sqlite3.connect("s.db")
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    con.close()
    r = invoke("run", "p.campaign", "Webinar A/Parent True", "--db", "s.db")
    assert r.exit_code == 0
    con = sqlite3.connect("s.db")
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (2,)


def test_run_refuses_what_cannot_run(project):
    r = invoke("run", "p.campaign", "Webinar A/Child")
    assert r.exit_code == 2 and "only a batch campaign can be run" in r.stderr
    r = invoke("run", "p.campaign", "Webinar A/Nope")
    assert r.exit_code == 2 and "no campaign" in r.stderr
    r = invoke("run", "p.campaign", "Webinar A/Parent True", "--token", "my.Bonus=1")
    assert r.exit_code == 2 and "cannot see a token my.Bonus" in r.stderr
    r = invoke("run", "missing.campaign", "X/Y")
    assert r.exit_code == 2


def test_the_engine_refuses_a_program_with_errors(project):
    (project / "bad.campaign").write_text('program "P" { campaign "C" batch { flow { send email "Nope" } } }')
    r = invoke("run", "bad.campaign", "P/C")
    assert r.exit_code == 1
    assert "has errors" in r.stderr and "error[" in r.stderr


def test_request(project):
    invoke("people", "import", "people.csv", "--db", "s.db", "--fields", "p.campaign")
    r = invoke("request", "p.campaign", "Webinar A/Api", "--person", "ann@example.com", "--db", "s.db",
               "--token", "my.Score==50", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["entered"] == ["ann@example.com"]
    r = invoke("request", "p.campaign", "Webinar A/Child", "--person", "ann@example.com", "--db", "s.db")
    assert r.exit_code == 2 and "executable" in r.stderr


def test_events_replay_in_time_order(project):
    (project / "ev.jsonl").write_text(
        '{"at": "2026-01-02T10:00", "person": "ann@example.com", "trigger": "fills out form", '
        '"name": "Contact Us", "attributes": {"Web Page": "/lp"}}\n'
        '{"at": "2026-01-03T10:00", "person": "dee@example.com", "trigger": "fills out form", '
        '"name": "Contact Us", "attributes": {"Web Page": "/x"}}\n')
    r = invoke("events", "p.campaign", "ev.jsonl", "--db", "s.db", "--format", "json", "--trace")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    moments = [(a["email"], a["at"], a["attributes"]["description"]) for a in out["activities"]
               if a["type"] == "Interesting Moment"]
    assert moments == [("ann@example.com", "2026-01-02T10:00:00", "form at /lp"),
                       ("dee@example.com", "2026-01-03T10:00:00", "form at /x")]
    (project / "late.jsonl").write_text(
        '{"at": "2026-01-05T10:00", "person": "ann@example.com", "trigger": "fills out form", "name": "Contact Us"}\n'
        '{"at": "2026-01-04T10:00", "person": "ann@example.com", "trigger": "fills out form", "name": "Contact Us"}\n')
    r = invoke("events", "p.campaign", "late.jsonl", "--db", "s.db")
    assert r.exit_code == 2 and "late.jsonl: line 2, key 'at': events must come in time order" in r.stderr


def test_people_import_errors_name_the_row_and_column(project):
    (project / "bad.csv").write_text("Email,Lead Score\nann@example.com,12\nbob@example.com,twelve\n")
    r = invoke("people", "import", "bad.csv")
    assert r.exit_code == 2
    assert "bad.csv: line 3, column 'Lead Score': 'twelve' is not a score" in r.stderr
    (project / "unknown.csv").write_text("Email,Shoe Size\nann@example.com,12\n")
    r = invoke("people", "import", "unknown.csv")
    assert r.exit_code == 2 and "the column 'Shoe Size' names no field" in r.stderr
    assert "Lead Score" in r.stderr          # the message lists the known fields
    (project / "p.json").write_text(json.dumps([{"email": "ann@example.com", "unsubscribed": "yes"}]))
    r = invoke("people", "import", "p.json", "--db", "s.db")
    assert r.exit_code == 0 and "imported 1 person (1 new, 0 updated) into s.db" in r.stdout
    r = invoke("people", "import", "p.json", "--db", "s.db")
    assert "(0 new, 1 updated)" in r.stdout


def test_plan_writes_nothing(project):
    invoke("people", "import", "people.csv", "--db", "s.db", "--fields", "p.campaign")
    before = (project / "s.db").read_bytes()
    r = invoke("plan", "p.campaign", "Webinar A/Parent True", "--db", "s.db", "--until", "2 days",
               "--format", "json", "--detail")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["entered"] == ["ann@example.com", "bob@example.com"]
    assert out["time"] == "2026-01-03T00:00:00"
    assert len(out["activities"]) == 4
    assert (project / "s.db").read_bytes() == before
    r = invoke("plan", "p.campaign", "Webinar A/Parent True", "--db", "s.db")
    assert "(plan: nothing was written)" in r.stdout


def test_plan_against_a_missing_store_creates_nothing(project):
    r = invoke("plan", "p.campaign", "Webinar A/Parent True", "--db", "typo.db")
    assert r.exit_code == 2
    assert r.stderr == ("error: no store typo.db: plan reads a store and writes nothing (leave out --db "
                        "to start from the people of --people alone)\n")
    assert not (project / "typo.db").exists()


def test_plan_leaves_a_store_with_a_write_ahead_log_as_it_was(project):
    # a store an API user opened with write_ahead=True keeps the mode; plan
    # reads it, leaves no log behind and changes no byte
    from campaignlang.store import Store

    invoke("people", "import", "people.csv", "--db", "s.db", "--fields", "p.campaign")
    Store(str(project / "s.db"), write_ahead=True).close()
    before = (project / "s.db").read_bytes()
    r = invoke("plan", "p.campaign", "Webinar A/Parent True", "--db", "s.db")
    assert r.exit_code == 0, r.output
    assert (project / "s.db").read_bytes() == before
    assert sorted(p.name for p in project.iterdir() if p.name.startswith("s.db")) == ["s.db"]


def test_campaign_test_reports_and_exits(project):
    r = invoke("test", "p.campaign")
    assert r.exit_code == 1
    assert r.stdout.splitlines()[-1] == "1 passed, 1 failed"
    assert "PASS" in r.stdout and "FAIL" in r.stdout and "expected: 11" in r.stdout
    r = invoke("test", "p.campaign", "-k", "pass")
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "1 passed, 0 failed"
    r = invoke("test", "p.campaign", "--format", "json")
    out = json.loads(r.stdout)
    assert (out["passed"], out["failed"]) == (1, 1)
    assert out["tests"][1]["failures"][0]["actual"] == 10


def test_campaign_test_on_a_program_with_errors(project):
    (project / "bad.campaign").write_text(
        'program "P" { campaign "C" batch { flow { send email "Nope" } } }\ntest "t" { person "a@example.com" }\n')
    r = invoke("test", "bad.campaign")
    assert r.exit_code == 1
    assert "error[" in r.stderr
    assert r.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_campaign_test_over_a_folder(project):
    (project / "sub").mkdir()
    (project / "sub" / "a.campaign").write_text(
        'program "P" { list "L" }\ntest "a" { person "a@example.com"; for "a@example.com" { add to list "L" }; '
        'expect "a@example.com" in list "L" }\n')
    (project / "sub" / "b.campaign").write_text(
        'program "P" { list "L" }\ntest "b" { person "b@example.com"; expect "b@example.com" not in list "L" }\n')
    r = invoke("test", "sub")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "2 passed, 0 failed"
