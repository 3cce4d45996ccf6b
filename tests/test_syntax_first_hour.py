"""Syntax errors a new user meets first (issue 13): a word is a word, an
unknown word is named with the nearest keyword, every error of a file is
reported in one run with the right block blamed, misspelt duration units.
Through ``parse`` and, for the whole report, the real ``campaign check``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.cli import main
from campaignlang.parse import parse


def errors(src: str) -> list[tuple[int, int, str, str | None]]:
    return [(d.span.line, d.span.column, d.message, d.hint) for d in parse(src, "f.campaign").diagnostics
            if d.is_error]


CAMPAIGN = 'program "P" {{\n    campaign "C" batch {{\n        smart list {{ filter lead.Email is not empty }}\n' \
           '        flow {{ interesting moment web "x" }}\n        {}\n    }}\n}}\n'


@pytest.mark.parametrize("src, line, col, message, hint", [
    ('program "P" {\n    lists "L"\n}\n', 2, 5, "unknown word 'lists'", "did you mean 'list'?"),
    ('programme "X" {\n}\n', 1, 1, "unknown word 'programme'", "did you mean 'program'?"),
    ('programs "X" {\n}\n', 1, 1, "unknown word 'programs'", "did you mean 'program'?"),
    ('program "P" {\n    emails "E" { subject "s" }\n}\n', 2, 5, "unknown word 'emails'", "did you mean 'email'?"),
    ('workspaces "W" {\n}\n', 1, 1, "unknown word 'workspaces'", "did you mean 'workspace'?"),
    (CAMPAIGN.format("flows { }"), 5, 9, "unknown word 'flows'", "did you mean 'flow'?"),
    (CAMPAIGN.format("qualify every times"), 5, 23, "unknown word 'times'", "did you mean 'time'?"),
    (CAMPAIGN.format("smartlist { filter lead.Email is not empty }"), 5, 9, "unknown word 'smartlist'",
     "did you mean 'smart list'?"),
    (CAMPAIGN.format("qualify twice"), 5, 17, "unknown word 'twice'", "expected 'every' or 'once'"),
])
def test_a_keyword_is_never_split_off_a_longer_word(src, line, col, message, hint):
    assert errors(src) == [(line, col, message, hint)]


@pytest.mark.parametrize("src, message, hint", [
    ('progam "Webinar" {\n}\n', "unknown word 'progam'", "did you mean 'program'?"),
    ('Program "A" {\n}\n', "unknown word 'Program'", "keywords are lower case: write 'program'"),
    ("}\n", "unexpected '}': there is no open block here to close",
     "remove this brace, or look for an extra '}' above"),
    ("This is some text.\n", "unknown word 'This'",
     "expected 'fields', 'folder', 'import', 'program', 'test', 'tokens' or 'workspace'"),
    ('campaign "C" batch {\n}\n', "a campaign belongs inside a program",
     'write program "Name" { campaign "..." batch { } }'),
])
def test_an_unknown_top_level_word_is_named(src, message, hint):
    assert errors(src)[0][2:] == (message, hint)


def test_the_repl_suggests_steps_statements_and_keywords():
    r = CliRunner().invoke(main, ["repl"], input='chnage score lead."Lead Score" by +1\nprson "a@example.com"\n')
    assert "unknown word 'chnage'" in r.output and "did you mean 'change score'?" in r.output
    assert "did you mean 'person'?" in r.output
    assert "a campaign belongs inside a program" not in r.output


THREE = '''program Webinar {
    email "Invite" { subject "s" }
    campaign "C" batch {
        smart list {
            filter lead.Country is US
        }
        flow {
            send email Invite
        }
    }
}
'''


def test_every_syntax_error_is_reported_in_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert [(e[0], e[2]) for e in errors(THREE)] == [
        (1, "names of things are double-quoted strings"),
        (5, "'is' needs a value; text is double-quoted, found word 'US'"),
        (8, "'send email' expected a quoted name like \"Name\" or \"Program\".\"Name\", found word 'Invite'"),
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "three.campaign").write_text(THREE)
    r = CliRunner().invoke(main, ["check", "three.campaign"])
    assert r.exit_code == 1 and r.stdout.splitlines()[-1] == "checked 1 file: 3 errors"


def test_an_unclosed_block_is_blamed_on_its_own_brace():
    src = ('program "P" {\n    campaign "C" batch {\n        smart list { filter lead.Email is not empty }\n'
           '        flow {\n            interesting moment web "x"\n    }\n}\n')
    assert errors(src) == [(4, 14, "unclosed block 'flow': the '{' on line 4 is never closed",
                            "add the missing '}' at the end of this block")]


def test_an_unclosed_token_reference_does_not_cascade():
    src = ('program "P" {\n    tokens { my.Score = +1 }\n    campaign "C" batch {\n'
           '        smart list { filter lead.Email is not empty }\n'
           '        flow { change score lead."Lead Score" by {{my.Score } }\n    }\n}\n')
    assert [e[2] for e in errors(src)] == ["unclosed token reference: '{{' without '}}'"]


def test_a_missing_name_before_a_brace_is_not_a_stray_brace():
    assert [e[2] for e in errors('program "P" {\n    statuses }\n')] == ["unexpected '}'; expected a quoted name"]


@pytest.mark.parametrize("line, message, hint", [
    ("wait 3 dayz", "unknown unit 'dayz'", "did you mean 'days'? (3 days)"),
    ("wait 3 hrs", "unknown unit 'hrs'", "did you mean 'hours'? (3 hours)"),
    ("wait 1 wk", "unknown unit 'wk'", "did you mean 'week'? (1 week)"),
])
def test_a_misspelt_unit_in_a_step(line, message, hint):
    src = ('program "P" {\n    campaign "C" trigger {\n        smart list { trigger person is created }\n'
           f'        flow {{\n            {line}\n        }}\n    }}\n}}\n')
    assert [e[2:] for e in errors(src)] == [(message, hint)]


def test_a_misspelt_unit_in_a_rule_a_filter_and_a_test():
    src = CAMPAIGN.format("qualify once every 2 dayz")
    assert [e[2:] for e in errors(src)] == [("unknown unit 'dayz'", "did you mean 'days'? (2 days)")]
    src = ('program "P" {\n    campaign "C" batch {\n'
           '        smart list { filter lead."Created At" in past 3 dayz }\n'
           '        flow { interesting moment web "x" }\n    }\n}\ntest "t" {\n    advance 2 hr\n}\n')
    assert [e[2] for e in errors(src)] == ["unknown unit 'dayz'", "unknown unit 'hr'"]


def test_balanced_braces_with_loose_indentation_are_fine():
    src = ('program "P" {\n    campaign "C" batch {\n        smart list { filter lead.Email is not empty }\n'
           '        flow { interesting moment web "x" }\n}\n}\n')
    assert errors(src) == []
