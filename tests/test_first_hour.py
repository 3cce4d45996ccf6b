"""The first hour (issue 13): what a new user meets on the command line,
through the real command (click's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.cli import main


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=input)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "campaign.toml").write_text("")
    return tmp_path


# -- nothing selected is an error (exit 2, as check) ------------------------------------

def test_an_empty_folder_is_an_error_for_every_command(here: Path):
    (here / "empty").mkdir()
    for cmd in ("check", "test", "fmt"):
        r = invoke(cmd, "empty")
        assert r.exit_code == 2, (cmd, r.output)
        assert r.stderr == "error: no .campaign files in empty\n"


def test_fmt_diff_exits_1_when_a_file_would_change(here: Path):
    (here / "a.campaign").write_text('program "P" {   list "L" }\n')
    r = invoke("fmt", "--diff", "a.campaign")
    assert r.exit_code == 1 and "+++ a.campaign (formatted)" in r.stdout
    assert (here / "a.campaign").read_text() == 'program "P" {   list "L" }\n'   # unchanged
    (here / "b.campaign").write_text('program "P" {\n    list "L"\n}\n')
    assert invoke("fmt", "--diff", "b.campaign").exit_code == 0


# -- one rule for what a file sees ------------------------------------------------------

SHARED = 'tokens { my.Score = +5 }\n'
USER = '''program "P" {
    campaign "C" batch {
        smart list { filter lead.Email is not empty }
        flow { change score lead."Lead Score" by {{my.Score}} }
    }
}

test "scores" {
    person "ann@example.com"
    run "P"."C"
    expect "ann@example.com"."Lead Score" == 5
}
'''


def test_a_file_sees_itself_and_its_imports_in_every_command(here: Path):
    (here / "proj").mkdir()
    (here / "proj" / "shared.campaign").write_text(SHARED)
    (here / "proj" / "user.campaign").write_text(USER)
    results = {
        "check DIR": invoke("check", "proj"),
        "check FILE": invoke("check", "proj/user.campaign"),
        "test DIR": invoke("test", "proj"),
        "run DIR": invoke("run", "proj", "P/C"),
        "run FILE": invoke("run", "proj/user.campaign", "P/C"),
    }
    for what, r in results.items():   # the token is declared in a file user does not import
        assert r.exit_code == 1, what
        assert "CL401" in r.output, what
    # importing it makes every command agree the other way
    (here / "proj" / "user.campaign").write_text('import "shared.campaign"\n' + USER)
    for args in (("check", "proj"), ("check", "proj/user.campaign"), ("test", "proj"),
                 ("run", "proj", "P/C"), ("run", "proj/user.campaign", "P/C")):
        r = invoke(*args)
        assert r.exit_code == 0, (args, r.output)


def test_a_folder_names_the_file_that_has_the_campaign(here: Path):
    (here / "proj").mkdir()
    (here / "proj" / "a.campaign").write_text(
        'program "A" { campaign "C" batch { smart list { filter lead.Email is not empty }; '
        'flow { interesting moment web "a" } } }\n')
    (here / "proj" / "b.campaign").write_text(
        'program "B" { campaign "C" batch { smart list { filter lead.Email is not empty }; '
        'flow { interesting moment web "b" } } }\n')
    assert invoke("run", "proj", "A/C").exit_code == 0
    r = invoke("run", "proj", "C")
    assert r.exit_code == 2 and "name one of them" in r.stderr
    r = invoke("graph", "proj")
    assert r.exit_code == 2 and "proj/a.campaign, proj/b.campaign" in r.stderr


# -- colour: --color auto|always|never, NO_COLOR, TERM=dumb -------------------------------

BROKEN = 'program "P" {\n    campaign "C" batch {\n        smart list { filter lead.Cuntry is "US" }\n    }\n}\n'


def test_color_option_on_every_command(here: Path):
    (here / "bad.campaign").write_text(BROKEN)
    assert "\x1b[" in invoke("check", "bad.campaign", "--color", "always").stdout
    assert "\x1b[" in invoke("--color", "always", "check", "bad.campaign").stdout
    assert "\x1b[" not in invoke("check", "bad.campaign", "--color", "never").stdout
    assert "\x1b[" not in invoke("check", "bad.campaign").stdout          # auto, not a terminal
    r = invoke("check", "bad.campaign", "--color", "sometimes")
    assert r.exit_code == 2


def _on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    import os
    import sys

    pexpect = pytest.importorskip("pexpect")
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    full_env.update(env)
    child = pexpect.spawn(sys.executable, ["-m", "campaignlang.cli", *args], cwd=str(cwd),
                          env=full_env, encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    return child.before


def test_no_color_and_term_dumb_are_honoured_on_a_terminal(here: Path):
    (here / "bad.campaign").write_text(BROKEN)
    assert "\x1b[" in _on_a_terminal(["check", "bad.campaign"], {"TERM": "xterm"}, here)
    assert "\x1b[" not in _on_a_terminal(["check", "bad.campaign"], {"TERM": "xterm", "NO_COLOR": "1"}, here)
    assert "\x1b[" not in _on_a_terminal(["check", "bad.campaign"], {"TERM": "dumb"}, here)
    assert "\x1b[" in _on_a_terminal(["check", "bad.campaign", "--color", "always"], {"TERM": "dumb"}, here)


# -- repl --db ------------------------------------------------------------------------------

def test_repl_db_keeps_the_session_store(here: Path):
    r = invoke("repl", "--db", "s.db", input='person "ann@example.com"\n:advance 2 days\n')
    assert r.exit_code == 0, r.output
    r = invoke("repl", "--db", "s.db", input=':people\n:advance 1 day\n')
    assert "ann@example.com" in r.stdout and "2026-01-04" in r.stdout
    (here / "not.db").write_text("x")
    r = invoke("repl", "--db", "not.db", input="")
    assert r.exit_code == 2 and "not a campaign store" in r.output


# -- a byte-order mark shifts nothing ----------------------------------------------------

def test_a_byte_order_mark_does_not_shift_columns(here: Path):
    line = 'program "P" { campaign "C" batch { smart list { filter lead.Cuntry is "US" } } }\n'
    (here / "plain.campaign").write_text(line, encoding="utf-8")
    (here / "bom.campaign").write_text("\ufeff" + line, encoding="utf-8")
    plain = json.loads(invoke("check", "plain.campaign", "--format", "json").stdout)["diagnostics"][0]
    bom = json.loads(invoke("check", "bom.campaign", "--format", "json").stdout)["diagnostics"][0]
    assert (bom["line"], bom["column"], bom["end_column"]) == (plain["line"], plain["column"], plain["end_column"])
    text = invoke("check", "bom.campaign").stdout
    assert "bom.campaign:1:56" in text and "\n1 | program" in text


# -- a failed command leaves no store behind, and nothing in an existing one ----------------

RUNNABLE = '''program "P" {
    tokens { my.S = +1 }
    campaign "C" batch {
        smart list { filter lead.Email is not empty }
        flow { change score lead."Lead Score" by {{my.S}} }
    }
}
'''


def test_a_failed_command_leaves_no_store_file(here: Path):
    (here / "p.campaign").write_text(RUNNABLE)
    (here / "bad.csv").write_text("Email,Contry\nann@example.com,US\n")
    r = invoke("run", "p.campaign", "P/C", "--people", "bad.csv", "--db", "s.db")
    assert r.exit_code == 2 and not (here / "s.db").exists()
    r = invoke("people", "import", "bad.csv", "--db", "s.db")
    assert r.exit_code == 2 and not (here / "s.db").exists()
    r = invoke("run", "p.campaign", "P/Nope", "--db", "s.db")
    assert r.exit_code == 2 and not (here / "s.db").exists()
    (here / "bad.jsonl").write_text('{"nonsense": 1}\n')
    r = invoke("events", "p.campaign", "bad.jsonl", "--db", "s.db")
    assert r.exit_code == 2 and not (here / "s.db").exists()


def test_arguments_are_refused_before_people_are_imported(here: Path):
    (here / "p.campaign").write_text(RUNNABLE)
    (here / "good.csv").write_text("Email\nann@example.com\n")
    assert invoke("people", "import", "good.csv", "--db", "s.db").exit_code == 0
    (here / "more.csv").write_text("Email\nbob@example.com\n")
    r = invoke("run", "p.campaign", "P/C", "--people", "more.csv", "--db", "s.db", "--token", "my.Q=1")
    assert r.exit_code == 2 and "cannot see a token my.Q" in r.stderr
    listing = invoke("people", "list", "--db", "s.db", "--format", "csv").stdout
    assert "bob@example.com" not in listing and "ann@example.com" in listing


def test_dry_runs_never_offer_to_keep_the_store(here: Path):
    (here / "p.campaign").write_text(RUNNABLE)
    for args in (("run", "p.campaign", "P/C", "--dry-run"), ("plan", "p.campaign", "P/C")):
        r = invoke(*args)
        assert r.exit_code == 0 and "pass --db" not in r.stderr, args
    r = invoke("run", "p.campaign", "P/C", "--dry-run", "--db", "missing.db")
    assert r.exit_code == 2 and "run --dry-run reads a store" in r.stderr and "plan" not in r.stderr
    assert not (here / "missing.db").exists()


# -- rendering values as the test report does; plan summary and detail ----------------------

SHOWN = '''fields { "Region": text }
program "Scoring" {
    tokens { my.S = +5 }
    campaign "Change Score" batch {
        smart list { filter lead.Email is not empty }
        flow {
            change score lead."Lead Score" by {{my.S}}
            change data value lead.Region to "Île-de-France"
            interesting moment web "say \\"hi\\""
        }
    }
    campaign "Api" trigger {
        smart list { trigger campaign is requested from api }
        flow { interesting moment web "requested" }
        qualify every time
    }
}
'''


@pytest.fixture
def shown(here: Path) -> Path:
    (here / "r.campaign").write_text(SHOWN, encoding="utf-8")
    (here / "pp.csv").write_text("Email,Country\nann@example.com,FR\nbob@example.com,US\n")
    return here


def test_trace_shows_values_as_the_test_report_does(shown: Path):
    r = invoke("run", "r.campaign", "Scoring/Change Score", "--people", "pp.csv", "--trace")
    assert r.exit_code == 0, r.output
    assert 'null -> Île-de-France; field=Region' in r.stdout
    assert 'null -> 5; change=+5; field=Lead Score' in r.stdout
    assert 'description=say "hi"; type=web' in r.stdout
    assert '["Scoring"."Change Score"]' in r.stdout
    assert "\\u00ce" not in r.stdout and '\\"' not in r.stdout


def test_plan_prints_a_summary_and_the_detail_on_request(shown: Path):
    r = invoke("plan", "r.campaign", "Scoring/Change Score", "--people", "pp.csv")
    assert r.exit_code == 0, r.output
    assert "2 people entered" in r.stdout and "ann@example.com" not in r.stdout
    assert "(pass --detail for every action, per person)" in r.stdout
    r = invoke("plan", "r.campaign", "Scoring/Change Score", "--people", "pp.csv", "--detail")
    assert "ann@example.com:" in r.stdout and "null -> Île-de-France; field=Region" in r.stdout
    out = json.loads(invoke("plan", "r.campaign", "Scoring/Change Score", "--people", "pp.csv",
                            "--format", "json").stdout)
    assert "activities" not in out and out["entered"] == ["ann@example.com", "bob@example.com"]


# -- request: --person a b, --people FILE ------------------------------------------------

def test_request_takes_several_emails_after_one_person_and_a_people_file(shown: Path):
    r = invoke("request", "r.campaign", "Scoring/Api", "--people", "pp.csv", "--db", "s.db")
    assert r.exit_code == 0, r.output
    assert "imported 2 people (2 new, 0 updated)" in r.stderr and "2 people entered" in r.stdout
    r = invoke("request", "r.campaign", "Scoring/Api", "--person", "ann@example.com", "bob@example.com",
               "--db", "s.db")
    assert r.exit_code == 0 and "2 people entered" in r.stdout, r.output
    r = invoke("request", "r.campaign", "Scoring/Api", "--person", "ann@example.com", "--person",
               "bob@example.com", "--db", "s.db")
    assert r.exit_code == 0 and "2 people entered" in r.stdout
    r = invoke("request", "r.campaign", "Scoring/Api", "ann@example.com", "--db", "s.db")
    assert r.exit_code == 2 and "emails go after --person" in r.stderr


# -- reading a store: people list, activities ------------------------------------------------

def test_people_list_and_activities_read_a_store(shown: Path):
    assert invoke("run", "r.campaign", "Scoring/Change Score", "--people", "pp.csv", "--db", "s.db").exit_code == 0
    assert invoke("request", "r.campaign", "Scoring/Api", "--person", "bob@example.com",
                  "--db", "s.db").exit_code == 0
    r = invoke("people", "list", "--db", "s.db")
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "2 people"
    assert "Île-de-France" in r.stdout
    r = invoke("people", "list", "--db", "s.db", "--format", "csv", "--field", "country", "--email", "bob")
    assert r.stdout == "id,Email Address,Country\n2,bob@example.com,US\n"
    people = json.loads(invoke("people", "list", "--db", "s.db", "--format", "json").stdout)["people"]
    assert people[0]["fields"]["Lead Score"] == 5 and people[0]["fields"]["Region"] == "Île-de-France"
    r = invoke("people", "list", "--db", "s.db", "--field", "Regoin")
    assert r.exit_code == 2 and "did you mean 'Region'?" in r.stderr
    r = invoke("activities", "--db", "s.db", "--type", "interesting moment", "--person", "bob@example.com")
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "2 activities"
    assert "description=requested; type=web" in r.stdout
    rows = json.loads(invoke("activities", "--db", "s.db", "--campaign", "Scoring/Api",
                             "--format", "json").stdout)["activities"]
    assert [a["type"] for a in rows] == ["Campaign is Requested", "Interesting Moment"]
    csv_out = invoke("activities", "--db", "s.db", "--type", "Change Data Value", "--format", "csv").stdout
    assert csv_out.splitlines()[0] == "id,at,email,type,campaign,run,old,new,attributes"
    assert len(csv_out.splitlines()) == 3 and ",Île-de-France," in csv_out
    r = invoke("activities", "--db", "s.db", "--type", "intresting moment")
    assert r.exit_code == 2 and "did you mean 'Interesting Moment'?" in r.stderr
    r = invoke("activities", "--db", "missing.db")
    assert r.exit_code == 2 and not (shown / "missing.db").exists()


# -- progress bars on a terminal, never in a pipe -----------------------------------------

def test_long_commands_show_progress_on_a_terminal_only(here: Path):
    (here / "big.csv").write_text("Email\n" + "".join(f"p{i}@example.com\n" for i in range(3000)))
    (here / "p.campaign").write_text(RUNNABLE)
    out = _on_a_terminal(["people", "import", "big.csv"], {"TERM": "xterm"}, here)
    assert "importing big.csv" in out and "3000/3000" in out
    out = _on_a_terminal(["plan", "p.campaign", "P/C", "--people", "big.csv"], {"TERM": "xterm"}, here)
    assert "planning" in out and "3000 people entered" in out
    assert "importing" not in _on_a_terminal(["people", "import", "big.csv"], {"TERM": "dumb"}, here)
    r = invoke("people", "import", "big.csv")   # a pipe
    assert r.exit_code == 0 and "importing" not in r.output and "\x1b" not in r.output


# -- graph marks cycles ------------------------------------------------------------------

CYCLE = '''program "P" {
    campaign "Start" batch { smart list { filter lead.Email is not empty }; flow { execute campaign "A" } }
    campaign "A" executable { flow { execute campaign "B" } }
    campaign "B" executable { flow { execute campaign "A" } }
    campaign "X" executable { flow { execute campaign "X" } }
}
'''


def test_graph_marks_cycles_and_gives_no_level_0_inside_one(here: Path):
    (here / "cyc.campaign").write_text(CYCLE)
    dot = invoke("graph", "cyc.campaign").stdout
    assert "level 0" not in dot.replace('"Start\\nbatch · level 0"', "")
    assert 'c2 [label="A\\nexecutable · in a cycle · level 1"' in dot
    assert 'c3 [label="B\\nexecutable · in a cycle"' in dot
    assert 'c2 -> c3 [color=red, penwidth=2, label="cycle"];' in dot
    assert 'c4 -> c4 [color=red, penwidth=2, label="cycle"];' in dot
    mermaid = invoke("graph", "cyc.campaign", "--format", "mermaid").stdout
    assert "c2 -->|cycle| c3" in mermaid and "class c2,c3,c4 cycle" in mermaid


# -- smaller: did you mean for a misspelt column; "1 person"; "unexpected word" --------------

def test_a_misspelt_column_gets_did_you_mean(here: Path):
    (here / "bc.csv").write_text("Emial,Contry,lead score\na@example.com,US,1\n")
    r = invoke("people", "import", "bc.csv")
    assert r.exit_code == 2
    assert "the column 'Emial' names no field; did you mean 'Email'? the fields are: City," in r.stderr
    (here / "bc.csv").write_text("Email,Contry\na@example.com,US\n")
    assert "the column 'Contry' names no field; did you mean 'Country'?" in invoke("people", "import", "bc.csv").stderr


def test_one_person_is_one_person(here: Path):
    (here / "one.csv").write_text("Email\na@example.com\n")
    r = invoke("people", "import", "one.csv", "--db", "s.db")
    assert r.stdout == "imported 1 person (1 new, 0 updated) into s.db\n"


# -- explain names the file of a line ------------------------------------------------------

def test_explain_names_the_file_with_the_line(here: Path):
    (here / "scoring.campaign").write_text('''program "Scoring" {
    tokens { my.Score = +0 }
    campaign "Change" executable {
        flow { change score lead."Lead Score" by {{my.Score}} }
        qualify every time
    }
}
''')
    (here / "main.campaign").write_text('''import "scoring.campaign"
program "Web" {
    tokens { my.Score = +10 }
    campaign "Parent" batch {
        smart list { filter lead.Email is not empty }
        flow {
            execute campaign "Scoring"."Change" use parent token context
            change data value lead.Country {
                if lead.Country is "US" then to "USA"
                else to "Elsewhere"
            }
        }
    }
}
''')
    r = invoke("explain", "main.campaign", "Scoring/Change", "--token", "my.Score")
    assert r.exit_code == 0, r.output
    assert "with parent token context (main.campaign:7)" in r.stdout
    (here / "one.csv").write_text("Email\nann@example.com\n")
    assert invoke("people", "import", "one.csv", "--db", "s.db").exit_code == 0
    r = invoke("explain", "main.campaign", "Web/Parent", "--person", "ann@example.com", "--db", "s.db")
    assert r.exit_code == 0, r.output
    assert "choice 'change data value' (main.campaign:8)" in r.stdout
    assert "null -> Elsewhere; field=Country" in r.stdout


# -- the README: Python 3.11+, a venv in the first command, links into docs/ only ----------

def test_the_readme_set_up_works_on_a_fresh_machine_as_written():
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert "Python 3.11" in readme
    first = re.search(r"```sh\n(.*)\n", readme).group(1)
    assert first.startswith("python3 -m venv .venv && . .venv/bin/activate && python -m pip install -e")
    for target in re.findall(r"\]\(([^)]+)\)", readme):
        assert target.startswith("docs/") and (Path(__file__).parent.parent / target).exists(), target
    assert "shared/spec" not in readme and "../" not in readme
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'requires-python = ">=3.11"' in pyproject


def test_an_unknown_campaign_in_a_test_gets_did_you_mean(here: Path):
    (here / "t.campaign").write_text(RUNNABLE + '''
test "t" {
    person "a@example.com"
    run "P"."c"
    run "p"."C"
    request "P"."Cc" for "a@example.com"
}
''')
    r = invoke("test", "t.campaign")
    assert r.exit_code == 1
    assert 'unknown campaign "P"."c"' in r.stderr and 'did you mean "P"."C"?' in r.stderr
    assert 'unknown program "p"' in r.stderr and 'did you mean "P"?' in r.stderr
    assert 'unknown campaign "P"."Cc"' in r.stderr


def test_a_request_for_too_many_people_of_a_file_imports_nothing(shown: Path):
    (shown / "many.csv").write_text("Email\n" + "".join(f"p{i}@example.com\n" for i in range(101)))
    r = invoke("request", "r.campaign", "Scoring/Api", "--people", "many.csv", "--db", "s.db")
    assert r.exit_code == 2 and "at most 100 people per request; many.csv has 101" in r.stderr
    assert not (shown / "s.db").exists()
