"""The Pygments lexer for .campaign files (interpreter/highlight.py): found
through its entry point, the token types it gives, no Error token on any
example, and its use by the REPL and rich."""

from __future__ import annotations

from pathlib import Path

import pytest
from campaignlang.highlight import CampaignLexer, CampaignReplLexer, to_ansi
from campaignlang.repl import Session
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Literal, Name, Number, Operator, String

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("examples/*.campaign"), *ROOT.glob("stdlib/*.campaign"),
                  *ROOT.glob("tests/campaign_tests/**/*.campaign")])


def tokens(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in CampaignLexer().get_tokens(text) if v.strip()]


def kinds(text: str) -> dict[str, object]:
    return {v: t for t, v in tokens(text)}


def test_found_by_name_and_extension_through_the_entry_point():
    assert isinstance(get_lexer_by_name("campaign"), CampaignLexer)
    assert isinstance(get_lexer_for_filename("webinar.campaign"), CampaignLexer)


def test_keywords_strings_tokens_comments():
    got = kinds('program "Webinar 2026" {  # the quarterly one\n'
                '    campaign "Score" executable { flow { send email "Hi {{lead.First Name}}" } }\n}')
    assert got["program"] is Keyword and got["campaign"] is Keyword and got["flow"] is Keyword
    assert got["executable"] is Keyword.Type
    assert got["Webinar 2026"] in String
    assert got["# the quarterly one"] is Comment.Single
    assert got["{{lead.First Name}}"] is String.Interpol   # a token inside a string
    assert got["send"] is Name.Builtin and got["email"] in Keyword  # 'email' is also a declaration
    assert kinds("change score lead.X by {{my.Score}}")["{{my.Score}}"] is Name.Variable


def test_numbers_score_changes_durations_dates():
    got = kinds('my.Seats = 200\nmy.Rate = 3.5\nmy.Score = +10\nmy.Reset = =-3\n'
                'wait 3 days\nqualify once every 2 weeks\nschedule 2026-12-01T09:00\nmy.D = 2026-12-01')
    assert got["200"] is Number.Integer and got["3.5"] is Number.Float
    assert got["+10"] is Number.Score and got["=-3"] is Number.Score
    assert got["3 days"] is Number.Duration and got["2 weeks"] is Number.Duration
    assert got["2026-12-01T09:00"] is Literal.Date and got["2026-12-01"] is Literal.Date
    assert got["="] is Operator
    assert got["my."] is Name.Builtin.Pseudo and got["Seats"] is Name.Attribute


def test_vocabulary_words_constants_and_statements():
    got = kinds('filter member of smart list "Engaged"\ntrigger fills out form "F"\n'
                'expect "a@b.c"."Unsubscribed" == true\nperson "a@b.c" { Country = null }')
    assert got["member"] in Keyword or got["member"] is Name.Builtin
    assert got["fills"] is Name.Builtin and got["out"] is Name.Builtin
    assert got["true"] is Keyword.Constant and got["null"] is Keyword.Constant
    assert got["expect"] is Keyword.Reserved and got["person"] is Keyword.Reserved


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_error_token_in_any_example(path: Path):
    text = path.read_text(encoding="utf-8")
    toks = list(CampaignLexer().get_tokens(text))
    assert [v for t, v in toks if t in Error] == []
    assert "".join(v for _t, v in toks) == text if text.endswith("\n") else text + "\n"


def test_a_stray_character_is_an_error_token():
    assert (Error, "'") in tokens("send email 'Invite'")


def test_repl_lexer_knows_commands():
    toks = list(CampaignReplLexer().get_tokens(':explain "P"."C" --token my.X\n'))
    assert toks[0][1] == ":explain" and "Prompt" in str(toks[0][0])


def test_rich_output_and_the_repl_show_command():
    coloured = to_ansi('campaign "C" batch { flow { wait 3 days } }')
    assert "\x1b[" in coloured and "campaign" in coloured
    session = Session(color=True)
    session.execute(f":load {ROOT / 'examples' / 'lead_lifecycle.campaign'}")
    shown = session.execute(':show "Ops Scoring"."Score"')
    assert "\x1b[" in shown and "change" in shown
    plain = Session(color=False)
    plain.execute(f":load {ROOT / 'examples' / 'lead_lifecycle.campaign'}")
    text = plain.execute(':show "Ops Scoring"."Score"')
    assert "\x1b[" not in text
    assert 'campaign "Score" executable {' in text and text.rstrip().endswith("}")


# --------------------------------------------------------------------------
# The VS Code extension's TextMate grammar (editors/vscode/)

VSCODE = ROOT / "editors" / "vscode"


def _tm_tokenize(grammar: dict, line: str) -> list[tuple[str, str]]:
    """A small TextMate tokenizer for one line: at each place the first
    pattern (in order) that matches earliest wins; ``begin``/``end`` rules
    run their inner patterns until ``end``. Enough for this grammar, whose
    expressions Python's ``re`` reads as Oniguruma does."""
    import re

    out: list[tuple[str, str]] = []

    def run(patterns: list[dict], pos: int, end: str | None) -> int:
        while pos < len(line):
            best = None
            if end is not None:
                m = re.compile(end).search(line, pos)
                if m is not None:
                    best = (m.start(), -1, m, None)
            for i, p in enumerate(patterns):
                m = re.compile(p.get("match") or p["begin"]).search(line, pos)
                if m is not None and (best is None or m.start() < best[0]):
                    best = (m.start(), i, m, p)
            if best is None:
                return len(line)
            start, _i, m, p = best
            if p is None:   # the end of the enclosing rule
                return m.end()
            if "match" in p:
                if "captures" in p:
                    for k, cap in p["captures"].items():
                        out.append((cap["name"], m.group(int(k))))
                else:
                    out.append((p["name"], m.group(0)))
                pos = max(m.end(), pos + 1)
            else:
                inner_start = m.end()
                stop = run(p.get("patterns", []), inner_start, p["end"])
                out.append((p["name"], line[m.start():stop]))
                pos = max(stop, pos + 1)
        return pos

    run(grammar["patterns"], 0, None)
    return out


def test_textmate_grammar_is_valid_json_and_up_to_date():
    import json

    from campaignlang.highlight import textmate_grammar

    path = VSCODE / "syntaxes" / "campaign.tmLanguage.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == textmate_grammar(), "regenerate: python -m campaignlang.highlight > " + str(path.relative_to(ROOT))
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    assert package["contributes"]["grammars"][0]["scopeName"] == data["scopeName"]
    assert package["contributes"]["languages"][0]["extensions"] == [".campaign"]
    json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert (VSCODE / package["main"]).is_file()


def test_textmate_grammar_tokenizes_keywords_strings_tokens_and_comments():
    import json

    grammar = json.loads((VSCODE / "syntaxes" / "campaign.tmLanguage.json").read_text(encoding="utf-8"))
    got = dict((text, scope) for scope, text in _tm_tokenize(
        grammar, 'campaign "Score" executable { change score lead.X by {{my.Score}} } # note'))
    assert got["campaign"] == "keyword.other.campaign"
    assert got["executable"] == "storage.type.campaign"
    assert got['"Score"'] == "string.quoted.double.campaign"
    assert got["change"] == "support.function.campaign"
    assert got["{{my.Score}}"] == "variable.other.token.campaign"
    assert got["lead"] == "variable.language.campaign"
    assert got["# note"] == "comment.line.number-sign.campaign"
    durations = dict((t, s) for s, t in _tm_tokenize(grammar, "wait 3 days; my.S = +10; my.D = 2026-12-01"))
    assert durations["3 days"] == "constant.numeric.duration.campaign"
    assert durations["+10"] == "constant.numeric.score.campaign"
    assert durations["2026-12-01"] == "constant.other.date.campaign"
