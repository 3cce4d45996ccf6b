"""The REPL (``campaign repl``): the ``Session`` core, pipe mode, and the
prompt through prompt_toolkit's test input and through a pseudo-terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaignlang.repl import Session, build_prompt, highlight_line, history_path, run_interactive

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "execute_token_context.campaign"

PROGRAM = '''\
program "Webinar" {
    tokens { my.Score = +5 }
    list "Attendees"

    campaign "Score" batch {
        smart list { filter lead.Country is "US" }
        flow {
            change score lead."Lead Score" by {{my.Score}}
            add to list "Attendees"
        }
    }
}'''


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return Session(cwd=tmp_path)


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm",
               NO_COLOR="1", COLUMNS="200", LINES="50")
    return env


def _repl(tmp_path: Path, stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "campaignlang.cli", "repl", *args], input=stdin,
                          capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path), timeout=60)


# --------------------------------------------------------------------------
# When an entry is complete: the parser decides


@pytest.mark.parametrize("text, more", [
    ('program "P" {', True),
    ('program "P" {\n    list "L"', True),
    ('program "P" {\n    campaign "C" batch {\n        flow {', True),
    ('program "P" {}', False),
    ('program "P" { list "L" }', False),
    ('program "P" { list "L" }}', False),            # a syntax error, not more input
    ('program "{" {', True),                          # the brace in the name does not count
    ('program "{" {}', False),
    ('program "P" { statuses "A",', True),
    ('person "ann@example.com" {', True),
    ('person "ann@example.com" { Country = "US" }', False),
    ('request "P"."C" for "ann@example.com",', True),  # a comma continues the line
    ('request "P"."C" for "ann@example.com" # a comment, ', False),
    ('for "ann@example.com" {\n    add to list "L"', True),
    ('# just a comment {', False),
    (':load file{', False),
    ('', False),
])
def test_needs_more_follows_the_parser(session, text, more):
    assert session.needs_more(text) is more


def test_entries_split_a_pasted_buffer(session):
    text = 'program "A" {\n    list "L"\n}\n:campaigns\n\nperson "a@b.example"\n'
    assert session.entries(text) == ['program "A" {\n    list "L"\n}', ":campaigns", 'person "a@b.example"']


# --------------------------------------------------------------------------
# The Session core


def test_declarations_statements_and_the_log(session):
    out = session.execute(PROGRAM)
    assert out == 'added program "Webinar" (1 campaign)'
    out = session.execute('person "ann@example.com" { Country = "US", "Lead Score" = 1 }')
    assert out == "added ann@example.com"
    out = session.execute('run "Webinar"."Score"')
    assert out.splitlines()[0] == 'ran "Webinar"."Score": 1 person entered, 1 run'
    assert "Change Score" in out and "Add to List" in out
    assert session.execute('expect "ann@example.com"."Lead Score" == 6') == "ok"
    assert session.execute('expect "ann@example.com" in list "Attendees"') == "ok"
    log = session.execute(":log ann@example.com")
    lines = log.splitlines()
    assert lines[0].split() == ["#", "time", "activity", "campaign", "details"]
    assert any("Change Score" in line and "1 -> 6" in line for line in lines)
    people = session.execute(":people")
    assert "ann@example.com" in people and "Lead Score" in people and '"Webinar"."Attendees"' in people
    assert session.errors == 0


def test_a_failed_expect_says_why_and_counts(session):
    session.execute(PROGRAM)
    session.execute('person "ann@example.com" { Country = "US" }')
    session.execute('run "Webinar"."Score"')
    out = session.execute('expect "ann@example.com"."Lead Score" == 99')
    assert out == 'FAIL  expected "ann@example.com"."Lead Score" == 99, but it is 5'
    assert session.errors == 1


def test_a_bad_entry_changes_nothing(session):
    session.execute(PROGRAM)
    session.execute('person "ann@example.com" { Country = "US" }')
    before = (session.working_text, [c.qualname for c in session.model.campaigns],
              session.execute(":people"), session.execute(":log"))
    # a syntax error
    out = session.execute('program "Webinar" { chnage score }')
    assert "error[CL001]" in out and out.endswith("nothing changed (1 error)")
    # a checker error, in a redefinition that would otherwise replace the program
    bad = PROGRAM.replace("{{my.Score}}", "{{my.Scor}}").replace('"Attendees"\n', '"Attendees"\n    list "New"\n', 1)
    out = session.execute(bad)
    assert "error[CL401]: My Token 'my.Scor' is defined nowhere in scope" in out
    assert " --> <input>:9:47" in out          # the entry's own lines
    assert "= hint: did you mean 'my.Score'?" in out
    assert out.endswith("nothing changed (1 error)")
    # a statement naming what does not exist
    out = session.execute('run "Webinar"."Nope"')
    assert "error[CL101]" in out and "<input>:1:5" in out
    after = (session.working_text, [c.qualname for c in session.model.campaigns],
             session.execute(":people"), session.execute(":log"))
    assert after == before
    assert session.errors == 3


def test_redefinition_replaces_a_typed_program(session):
    session.execute(PROGRAM)
    out = session.execute('program "Webinar" {\n    list "Attendees"\n}')
    assert out == 'replaced program "Webinar" (0 campaigns)'
    assert session.model.campaigns == []
    assert session.working_text.count('program "Webinar"') == 1


def test_a_program_of_a_loaded_file_is_not_replaced(tmp_path, session):
    (tmp_path / "w.campaign").write_text(PROGRAM + "\n")
    assert session.execute(":load w.campaign").startswith("loaded w.campaign: 1 program, 1 campaign")
    out = session.execute('program "Webinar" { list "X" }')
    assert "error[CL102]" in out and "nothing changed" in out


def test_save_writes_the_typed_declarations_formatted(tmp_path, session):
    session.execute('program "Webinar" { tokens { my.Score = +5 } ; list "Attendees"\n'
                    '    campaign "Score" batch { smart list { filter lead.country is "US" }\n'
                    '        flow { change score lead."lead score" by {{my.Score}} } } }')
    session.execute('person "ann@example.com"')   # statements are not declarations
    out = session.execute(":save saved.campaign")
    assert out == "saved 1 declaration to saved.campaign"
    text = (tmp_path / "saved.campaign").read_text()
    assert text == (
        'program "Webinar" {\n'
        '    tokens { my.Score = +5 }\n'
        '    list "Attendees"\n'
        '\n'
        '    campaign "Score" batch {\n'
        '        smart list { filter lead.Country is "US" }\n'
        '        flow { change score lead."Lead Score" by {{my.Score}} }\n'
        '    }\n'
        '}\n')
    # saving again to the file this session wrote is fine; to another existing file is not
    assert session.execute(":save saved.campaign").startswith("saved")
    (tmp_path / "other.campaign").write_text("# mine\n")
    assert "exists" in session.execute(":save other.campaign")
    assert (tmp_path / "other.campaign").read_text() == "# mine\n"


def test_load_run_explain_and_tokens(session):
    out = session.execute(f":load {EXAMPLE}")
    assert "2 programs, 3 campaigns, 4 tests" in out
    session.execute('person "ann@example.com" { Country = "US", "Lead Score" = 0 }')
    out = session.execute(':run "Webinar A"."Parent True" --token my.Score=+3')
    assert out.startswith('ran "Webinar A"."Parent True": 1 person entered')
    assert session.execute('expect "ann@example.com"."Lead Score" == 3') == "ok"
    out = session.execute(':run Webinar A/Parent False')
    assert session.execute('expect "ann@example.com"."Lead Score" == 3') == "ok"
    tokens = session.execute(':tokens "Scoring"."Change Score"')
    assert 'program "Scoring"' in tokens and "my.Score = +0" in tokens and "{{campaign.name}} = Change Score" in tokens
    explained = session.execute(':explain "Scoring"."Change Score" --token my.Score')
    assert 'from program "Webinar A", through the parent token context of "Webinar A"."Parent True"' in explained
    why = session.execute(':explain "Webinar A"."Parent True" --person ann@example.com')
    assert "holds  lead.Country is \"US\"" in why
    assert "error" not in session.execute(":campaigns")
    tests = session.execute(":test")
    assert tests.splitlines()[-1] == "4 passed, 0 failed"


def test_multi_line_entries_and_fire_advance(session):
    program = ('program "Forms" {\n'
               '    form "Contact"\n'
               '    list "Later"\n'
               '    campaign "On Contact" trigger {\n'
               '        smart list { trigger fills out form "Contact" }\n'
               '        flow {\n'
               '            wait 1 day\n'
               '            add to list "Later"\n'
               '        }\n'
               '    }\n'
               '}')
    assert session.execute(program) == 'added program "Forms" (1 campaign)'
    session.execute('person "bo@example.com"')
    out = session.execute(':fire fills out form "Contact" for "bo@example.com" { "Web Page" = "/c" }')
    assert out.startswith('fired fills out form "Contact" for bo@example.com, 1 run')
    assert session.execute('expect "bo@example.com" not in list "Later"') == "ok"
    out = session.execute(":advance 2 days")
    assert out.startswith("advanced 2 days to 2026-01-03T00:00")
    assert session.execute('expect "bo@example.com" in list "Later"') == "ok"
    assert session.execute("advance 1 hour").startswith("advanced 1 hour to 2026-01-03T01:00")


def test_for_and_request_statements(session):
    session.execute('program "Ops" {\n'
                    '    list "Customers"\n'
                    '    campaign "Api" trigger {\n'
                    '        smart list { trigger campaign is requested from api }\n'
                    '        flow { add to list "Customers" }\n'
                    '        qualify every time\n'
                    '    }\n'
                    '}')
    session.execute('person "a@x.example"')
    out = session.execute('for "a@x.example" { add to list "Customers" }')
    assert out.startswith("ran 1 step for a@x.example")
    assert session.execute('expect "a@x.example" in list "Customers"') == "ok"
    session.execute('for "a@x.example" { remove from list "Customers" }')
    out = session.execute('request "Ops"."Api" for "a@x.example"')
    assert out.startswith('requested "Ops"."Api" for a@x.example, 1 run')
    assert session.execute('expect "a@x.example" in list "Customers"') == "ok"
    assert session.execute('expect 2 activity "Add to List" for "a@x.example"') == "ok"


def test_reset_keeps_loaded_files(session):
    session.execute(f":load {EXAMPLE}")
    session.execute('program "Mine" { list "L" }')
    session.execute('person "ann@example.com"')
    out = session.execute(":reset")
    assert out.startswith("reset:") and "1 loaded file kept" in out
    assert session.working_text == ""
    assert [p.name for p in session.model.programs] == ["Scoring", "Webinar A"]
    assert session.execute(":people").startswith("no people yet")


def test_commands_report_mistakes_without_tracebacks(session):
    out = session.execute(":chek")
    assert out == "error: unknown command ':chek'; did you mean :check? (:help lists them)"
    assert session.execute(":load nowhere.campaign") == "error: no such file: nowhere.campaign"
    assert session.execute(":run Nope").startswith("error: no campaign 'Nope'")
    assert session.execute(":advance soon").startswith("error: cannot advance to 'soon'")
    assert session.execute(':explain "X"."Y" --bogus 1') == "error: unknown option --bogus (options: --token, --person)"
    assert session.execute('person "ann@example.com" { "No Such Field" = 1 }').startswith("error")
    assert "Traceback" not in session.execute(":help")
    assert session.errors == 6


def test_check_reports_files_as_on_disk(tmp_path, session):
    path = tmp_path / "w.campaign"
    path.write_text(PROGRAM + "\n")
    session.execute(":load w.campaign")
    assert session.execute(":check") == "checked 1 file: no problems"
    path.write_text(PROGRAM.replace("{{my.Score}}", "{{my.Scor}}") + "\n")
    out = session.execute(":check")
    assert "error[CL401]" in out and "w.campaign changed since it was loaded" in out
    # what is loaded did not change
    session.execute('person "ann@example.com" { Country = "US" }')
    assert "1 person entered" in session.execute(':run "Webinar"."Score"')
    # :load again re-reads it, and refuses it with the error
    assert "nothing changed" in session.execute(":load w.campaign")


def test_completion_uses_the_vocabulary_and_what_is_loaded(session):
    session.execute(f":load {EXAMPLE}")
    session.execute('person "ann@example.com"')

    def texts(before):
        return [c[0] for c in session.completions(before)]
    assert texts("        change sc") == ["change score"]
    assert "member of smart list" in texts("    filter member of")
    assert texts("    trigger fills") == ["fills out form"]
    assert '"Lead Score"' in texts('change score lead.Lea')
    assert "my.Score}}" in texts('change score lead."Lead Score" by {{my.S')
    assert '"Webinar A"."Parent True"' in texts('run "Webinar A"."Par')
    assert texts(":expl") == [":explain"]
    assert '"Scoring"."Change Score"' in texts(":tokens ")
    assert texts(":log ann") == ["ann@example.com"]
    assert "program" in texts("progr")


def test_highlighting_covers_the_line():
    line = 'change score lead."Lead Score" by {{my.Score}} # why'
    frags = highlight_line(line)
    assert "".join(t for _s, t in frags) == line
    styles = dict((t, s) for s, t in frags)
    assert styles["change"] == "class:phrase"
    assert styles["lead."] == "class:field"
    assert styles['"Lead Score"'] == "class:string"
    assert styles["{{my.Score}}"] == "class:token"
    assert styles["# why"] == "class:comment"
    assert ("class:command", ":load") in highlight_line(':load "x.campaign"')
    assert dict((t, s) for s, t in highlight_line('program "P" { statuses "A" }'))["program"] == "class:keyword"


def test_history_lives_in_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history_path() == tmp_path / "campaignlang" / "repl_history"


# --------------------------------------------------------------------------
# Through a pipe


def test_pipe_load_run_and_log(tmp_path):
    stdin = ('person "ann@example.com" { Country = "US", "Lead Score" = 0 }\n'
             'run "Webinar A"."Parent True"\n'
             ':log\n'
             'expect "ann@example.com"."Lead Score" == 10\n')
    proc = _repl(tmp_path, stdin, str(EXAMPLE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"loaded {EXAMPLE}: 2 programs, 3 campaigns, 4 tests"
    assert lines[1] == "added ann@example.com"
    assert lines[2] == 'ran "Webinar A"."Parent True": 1 person entered, 1 run'
    log = [line for line in lines if "Change Score" in line and "0 -> 10" in line]
    assert log, proc.stdout
    assert lines[-1] == "ok"
    assert "\x1b[" not in proc.stdout   # plain text when stdout is not a terminal
    assert proc.stderr == ""


def test_pipe_multi_line_declarations_then_save(tmp_path):
    stdin = PROGRAM + '\nperson "ann@example.com" { Country = "US" }\n:run Webinar/Score\n:save out.campaign\n'
    proc = _repl(tmp_path, stdin)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[0] == 'added program "Webinar" (1 campaign)'
    assert "saved 1 declaration to out.campaign" in proc.stdout
    saved = (tmp_path / "out.campaign").read_text()
    assert saved.startswith('program "Webinar" {\n    tokens { my.Score = +5 }')
    check = subprocess.run([sys.executable, "-m", "campaignlang.cli", "check", "out.campaign"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stdout


def test_pipe_errors_exit_1_without_tracebacks(tmp_path):
    stdin = 'program "P" { chnage }\n:nope\nrun "P"."C"\n:advance 1 day\nprogram "P" {\n    list "L"\n'
    proc = _repl(tmp_path, stdin)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "error[CL001]" in proc.stdout
    assert "error: unknown command ':nope'" in proc.stdout
    assert "advanced 1 day" in proc.stdout
    # the end of the input submits an unfinished entry: its unclosed block is reported
    assert "unclosed block 'program \"P\"'" in proc.stdout


def test_pipe_missing_path_exits_2(tmp_path):
    proc = _repl(tmp_path, "", "missing.campaign")
    assert proc.returncode == 2
    assert proc.stdout.strip() == "error: no such file: missing.campaign"


# --------------------------------------------------------------------------
# The prompt: prompt_toolkit's test input, and a pseudo-terminal


def test_prompt_continues_open_blocks_and_completes(tmp_path):
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    session = Session(cwd=tmp_path)
    printed: list[str] = []
    history = InMemoryHistory()
    with create_pipe_input() as inp:
        inp.send_text('program "P" {\r')          # open: Enter continues the entry
        inp.send_text('list "L"\r')               # auto-indented
        inp.send_text('}\r')                      # closed: Enter submits
        inp.send_text(':campaigns\r')
        inp.send_text('program "Q" {\x1b\r')       # Esc, Enter submits an open block
        inp.send_text(':quit\r')
        rc = run_interactive(session, input=inp, output=DummyOutput(), write=printed.append, history=history)
    assert rc == 0
    assert printed[0] == 'added program "P" (0 campaigns)\n'
    assert printed[1].startswith("no campaigns yet")
    assert "unclosed block 'program \"Q\"'" in printed[2] and "nothing changed" in printed[2]
    assert session.working_text == 'program "P" {\n    list "L"\n}\n'
    assert list(history.get_strings())[:2] == ['program "P" {\n    list "L"\n}', ":campaigns"]


def test_prompt_session_has_lexer_and_completer(tmp_path):
    from prompt_toolkit.document import Document
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    session = Session(cwd=tmp_path)
    with create_pipe_input() as inp:
        prompt = build_prompt(session, input=inp, output=DummyOutput())
        got = list(prompt.completer.get_completions(Document("send em"), CompleteEvent()))
        assert [c.text for c in got] == ["send email"]
        lines = prompt.lexer.lex_document(Document('program "P" {'))
        assert ("class:pygments.keyword", "program") in lines(0)


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pseudo-terminal")
def test_pseudo_terminal_load_run_log(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "campaignlang.cli", "repl", str(EXAMPLE)],
                          env=_env(tmp_path), cwd=str(tmp_path), encoding="utf-8", timeout=30,
                          dimensions=(50, 200))
    try:
        child.expect("campaign> ")
        assert "2 programs, 3 campaigns, 4 tests" in child.before
        child.send('person "ann@example.com" { Country = "US", "Lead Score" = 0 }\r')
        child.expect("added ann@example.com")
        child.send(':run "Webinar A"."Parent True"\r')
        child.expect("1 person entered")
        child.send(":log ann@example.com\r")
        child.expect("Executed Campaign")
        child.expect("Change Score")
        child.send('program "Typed" {\r')          # continues: the block is open
        child.send('list "L"\r')
        child.send("}\r")
        child.expect('added program "Typed"')
        child.send('expect "ann@example.com"."Lead Score" == 10\r')
        child.expect("ok")
        child.send(":quit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    history = (tmp_path / "data" / "campaignlang" / "repl_history").read_text()
    assert '+:run "Webinar A"."Parent True"' in history
    assert '+program "Typed" {\n+    list "L"\n+}' in history
