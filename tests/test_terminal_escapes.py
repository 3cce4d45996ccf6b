"""No control character from user data reaches the terminal raw (issue 14, item 6).

A program, campaign or list named with an OSC sequence (``\\x1b]0;title\\x07``
sets the terminal's title), a person whose field holds one (``\\x1b]52;...``
writes the clipboard), a bidirectional override (U+202E reorders the line):
``check``, ``graph``, ``run --trace``, ``plan``, ``explain --person`` and
``test`` print each as a ``\\u001b``-style escape. One helper does it,
``render.printable``: diagnostics go through it, and everything a command
writes to stdout does (cli.py), so JSON stays valid JSON.
"""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.cli import main
from campaignlang.render import printable

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
NASTY = st.lists(st.sampled_from(["\x1b", "]0;", "\x07", "\x9b", "\u202e", "\r", "\x00", "[31m", "a", "\x7f",
                                  "\u2028", "\x08"]), min_size=1, max_size=8).map("".join)
# a name stays on its line: no carriage return or line separator (the parser ends a line there)
NAME = NASTY.map(lambda s: s.replace("\r", "").replace("\u2028", "") or "\x1b")

PROGRAM = """
program "P{name}" {{
    list "L{name}"
    campaign "C" batch {{
        smart list {{ filter lead.Country is "US" }}
        flow {{ add to list "L{name}" }}
        qualify every time
    }}
    campaign "Idle" executable {{ flow {{ add to list "L{name}" }} }}
}}
test "t{name}" {{
    person "ann@example.com" {{ Country = "US" }}
    run "P{name}"."C"
    expect "ann@example.com" in list "L{name}"
}}
"""


def _escape_for_source(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(NAME, NASTY)
def test_names_and_values_are_escaped_in_every_output(tmp_path_factory, name, value):
    folder = tmp_path_factory.mktemp("t")
    prog = folder / "p.campaign"
    prog.write_text(PROGRAM.format(name=_escape_for_source(name)), encoding="utf-8")
    people = folder / "people.json"
    people.write_text(json.dumps([{"Email Address": "ann@example.com", "Country": "US", "First Name": value}]))
    campaign = f"P{name}/C"
    runs = [
        ["check", str(prog)],
        ["graph", str(prog)],
        ["run", str(prog), campaign, "--people", str(people), "--trace"],
        ["plan", str(prog), campaign, "--people", str(people), "--detail"],
        ["test", str(prog)],
        ["run", str(prog), campaign, "--people", str(people), "--trace", "--format", "json"],
    ]
    for args in runs:
        out = CliRunner().invoke(main, args)
        assert out.exception is None or isinstance(out.exception, SystemExit), (args, out.output)
        assert not RAW.search(out.stdout), (args, out.stdout)
        if "json" in args:
            assert out.exit_code == 0, out.output
            json.loads(out.stdout)


@given(st.text())
def test_printable_leaves_no_control_character_and_keeps_the_rest(text):
    shown = printable(text)
    assert not RAW.search(shown)
    assert RAW.sub("", text) == re.sub(r"\\u[0-9a-f]{4}", "", shown) or "\\u" in text   # the rest kept, in order
    assert json.loads(json.dumps(shown)) == shown
    if not RAW.search(text):
        assert shown == text


def test_colour_sequences_pass_only_when_colour_is_on():
    text = "\x1b[1;31merror\x1b[0m \x1b]0;title\x07"
    assert printable(text, keep_color=True) == "\x1b[1;31merror\x1b[0m \\u001b]0;title\\u0007"
    assert "\x1b" not in printable(text)


def test_the_repl_escapes_its_answers():
    import io

    from campaignlang.repl import main as repl_main

    out = io.StringIO()
    repl_main(stdin=io.StringIO('program "X\x1b]0;title\x07" { list "L" }\n:check\n'), stdout=out)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
