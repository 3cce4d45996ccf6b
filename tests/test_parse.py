"""Parsing: the spec's programs parse, spans are real, syntax errors are
reported in the language's words, all of them, and nothing raises."""

from __future__ import annotations

import datetime as dt
import glob
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang import ast
from campaignlang.cli import main
from campaignlang.parse import parse
from campaignlang.render import render_text

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN_FILES = sorted(
    glob.glob(str(ROOT / "tests/spec/**/*.campaign"), recursive=True)
    + glob.glob(str(ROOT / "examples/*.campaign"))
    + glob.glob(str(ROOT / "stdlib/*.campaign")))


def ok(src: str) -> ast.Module:
    result = parse(src, "t.campaign")
    assert not result.diagnostics, render_text(result.diagnostics, {"t.campaign": result.source})
    return result.module


def errors(src: str) -> list:
    result = parse(src, "t.campaign")
    return [d for d in result.diagnostics if d.code == "CL001"]


def flow_of(src_flow: str) -> tuple:
    mod = ok('program "P" {\n campaign "C" batch {\n  flow {\n' + src_flow + '\n  }\n }\n}\n')
    return mod.items[0].items[0].flow.steps


def filter_of(text: str) -> ast.Node:
    mod = ok('program "P" {\n campaign "C" batch {\n  smart list {\n   filter ' + text + '\n  }\n }\n}\n')
    return mod.items[0].items[0].smart_list.members[0]


@pytest.mark.parametrize("path", CAMPAIGN_FILES, ids=lambda p: Path(p).name)
def test_every_shipped_file_parses(path):
    result = parse(Path(path).read_text("utf-8"), path)
    assert result.ok, render_text(result.diagnostics, {path: result.source})


@pytest.mark.parametrize("path", CAMPAIGN_FILES, ids=lambda p: Path(p).name)
def test_every_node_from_source_has_a_real_span(path):
    text = Path(path).read_text("utf-8")
    module = parse(text, path).module
    for node in ast.walk(module):
        span = node.span
        assert span is not None, type(node).__name__
        assert 0 <= span.start <= span.end <= len(text)
        assert span.line >= 1 and span.column >= 1
        if not isinstance(node, ast.Module):
            assert span.end > span.start, (type(node).__name__, span)


def test_spec_route_lead_choice_builds_the_whole_step_per_branch():
    steps = flow_of('''
        change data value lead.Region {
            if lead.Country is "US", "CA" then to "NA"
            else if lead.Country is "DE", "FR" then to "EU"
            else to "INTL"
        }''')
    choice = steps[0]
    assert choice == ast.Choice("change data value", (("field", ast.FieldRef("Region")),), (
        ast.Branch(ast.FieldFilter(ast.FieldRef("Country"), "is", (ast.String("US"), ast.String("CA"))),
                   ast.ChangeDataValue(ast.FieldRef("Region"), ast.String("NA"))),
        ast.Branch(ast.FieldFilter(ast.FieldRef("Country"), "is", (ast.String("DE"), ast.String("FR"))),
                   ast.ChangeDataValue(ast.FieldRef("Region"), ast.String("EU"))),
        ast.Branch(None, ast.ChangeDataValue(ast.FieldRef("Region"), ast.String("INTL"))),
    ))


def test_execute_choice_with_context_and_do_nothing():
    (choice,) = flow_of('''
        execute campaign {
            if lead."Lead Score" >= 100 then "Ops"."Route MQL" use parent token context
            else if member of list "Customers" then "Ops"."Route Customer"
            else do nothing
        }''')
    assert [b.step for b in choice.branches] == [
        ast.ExecuteCampaign(ast.Ref("Ops", "Route MQL"), True),
        ast.ExecuteCampaign(ast.Ref("Ops", "Route Customer"), False),
        None,
    ]
    assert choice.branches[1].condition == ast.ListFilter(ast.Ref(None, "Customers"))


def test_every_step_form():
    steps = flow_of('''
        change data value lead.Notes to "{{lead.Notes}} more"
        change data value lead.Country to null
        change score lead."Lead Score" by +10
        change score lead."Lead Score" by {{my.Score}}
        change score lead."Lead Score" by =-3
        change score lead."Lead Score" by -5
        send email "Invite"
        send alert "Alert" to "owner@example.com", "ops@example.com"
        add to list "L"; remove from list "L"
        change program status "Webinar" to "Registered"
        change program member data "Webinar" "Registration Code" to "A1"
        interesting moment web "Visited {{trigger.Web Page}}"
        delete person
        wait 3 days
        wait until 2026-12-01T09:00
        wait until {{lead.Renewal Date}}
        call webhook "Enrich"
        request campaign "Nurture"."Start"
        execute campaign "Ops"."Score" use parent token context
        remove from flow "Nurture"."Drip", this campaign''')
    kinds = [type(s).__name__ for s in steps]
    assert kinds == ["ChangeDataValue", "ChangeDataValue", "ChangeScore", "ChangeScore", "ChangeScore",
                     "ChangeScore", "SendEmail", "SendAlert", "AddToList", "RemoveFromList",
                     "ChangeProgramStatus", "ChangeMemberData", "InterestingMoment", "DeletePerson",
                     "Wait", "Wait", "Wait", "CallWebhook", "RequestCampaign", "ExecuteCampaign",
                     "RemoveFromFlow"]
    assert steps[0].value == ast.Template(("", ast.TokenRef("lead", "Notes"), " more")[1:])
    assert steps[1].value == ast.Null()
    assert steps[2].change == ast.ScoreChange("+", 10)
    assert steps[3].change == ast.TokenRef("my", "score")  # token names match case-insensitively
    assert steps[4].change == ast.ScoreChange("=", -3)
    assert steps[5].change == ast.Number(-5)
    assert steps[7].recipients == (ast.String("owner@example.com"), ast.String("ops@example.com"))
    assert steps[14] == ast.Wait(duration=ast.Duration(3, "day"))
    assert steps[15] == ast.Wait(until=ast.DateTime(dt.datetime(2026, 12, 1, 9, 0)))
    assert steps[16].until == ast.TokenRef("lead", "Renewal Date")
    assert steps[20].campaigns == (ast.Ref("Nurture", "Drip"), ast.ThisCampaign())


@pytest.mark.parametrize("text, expected", [
    ('lead.Country is "US", "CA"', ast.FieldFilter(ast.FieldRef("Country"), "is", (ast.String("US"), ast.String("CA")))),
    ('lead."Lead Score" at least 50', ast.FieldFilter(ast.FieldRef("Lead Score"), ">=", (ast.Number(50),))),
    ('lead."Lead Score" between 1 and 5', ast.FieldFilter(ast.FieldRef("Lead Score"), "between", (ast.Number(1), ast.Number(5)))),
    ('lead."Last Webinar" in past 30 days', ast.FieldFilter(ast.FieldRef("Last Webinar"), "in past", (ast.Duration(30, "day"),))),
    ('lead."Last Webinar" on or before 2026-12-01', ast.FieldFilter(ast.FieldRef("Last Webinar"), "on or before", (ast.Date(dt.date(2026, 12, 1)),))),
    ('lead.Country is not empty', ast.FieldFilter(ast.FieldRef("Country"), "is not empty")),
    ('lead.Unsubscribed is false', ast.FieldFilter(ast.FieldRef("Unsubscribed"), "is", (ast.Boolean(False),))),
    ('lead.Discount < 2.5', ast.FieldFilter(ast.FieldRef("Discount"), "<", (ast.Number(Decimal("2.5")),))),
    ('not member of list "L"', ast.ListFilter(ast.Ref(None, "L"), negated=True)),
    ('member of smart list "Engaged"', ast.SmartListFilter(ast.Ref(None, "Engaged"))),
    ('member of program "Webinar" status is "Attended"', ast.ProgramFilter("Webinar", status="Attended")),
    ('not member of program "Webinar"', ast.ProgramFilter("Webinar", negated=True)),
    ('filled out form "Contact Us" in past 7 days', ast.HistoryFilter("filled out form", ast.Ref(None, "Contact Us"), ast.Duration(7, "day"))),
    ('campaign was run "Ops"."Route"', ast.HistoryFilter("campaign was run", ast.Ref("Ops", "Route"))),
    ('clicked link in email "Invite"', ast.HistoryFilter("clicked link in email", ast.Ref(None, "Invite"))),
])
def test_filter_forms(text, expected):
    assert filter_of(text) == expected


@pytest.mark.parametrize("text, expected", [
    ('fills out form "Contact Us"', ast.Trigger("fills out form", ast.Ref(None, "Contact Us"))),
    ('data value changes lead.Country to "US" from "CA"',
     ast.Trigger("data value changes", field=ast.FieldRef("Country"), to=ast.String("US"), from_=ast.String("CA"))),
    ('data value changes lead.Country from "CA"',
     ast.Trigger("data value changes", field=ast.FieldRef("Country"), from_=ast.String("CA"))),
    ('score is changed lead."Lead Score"', ast.Trigger("score is changed", field=ast.FieldRef("Lead Score"))),
    ('program status is changed "Webinar" to "Attended"',
     ast.Trigger("program status is changed", ast.Ref(None, "Webinar"), to=ast.String("Attended"))),
    ("person is created", ast.Trigger("person is created")),
    ("campaign is requested", ast.Trigger("campaign is requested")),
    ("campaign is requested from sales insight", ast.Trigger("campaign is requested", source="sales insight")),
])
def test_trigger_forms(text, expected):
    mod = ok('program "P" { campaign "C" trigger { smart list { trigger ' + text + ' } } }')
    assert mod.items[0].items[0].smart_list.members[0] == expected


def test_declarations_and_tokens():
    mod = ok('''
import std "scoring"
fields { "Region": text; Score2: score }
tokens { my.Owner = "ops@example.com" }
workspace "EMEA" {
    folder "Ops" { tokens { my.Score = +5 } }
}
program "W" {
    statuses "Invited", "Registered"
    member fields "Code"
    tokens { my."Event Date" = 2026-12-01; my.Seats = 200; my.Ratio = 1.5 }
    smart list "Engaged" logic "1 and (2 or 3)" { filter lead.A is 1; filter lead.B is 2; filter lead.C is 3 }
    webhook "Enrich" {
        url "https://x.example/?e={{lead.Email Address}}"
        method post
        payload "{\\"email\\": \\"{{lead.Email Address}}\\"}"
        response "company.size" -> lead."Company Size"
    }
    campaign "S" batch {
        clone "W"."T"
        schedule every 1 week starting 2026-12-01T09:00
        qualify once every 2 weeks
    }
    campaign "T" trigger inactive { qualify every time }
}
''')
    imp, fields, tokens, ws, prog = mod.items
    assert imp == ast.Import("scoring", std=True)
    assert fields.fields == (ast.FieldDecl("Region", "text"), ast.FieldDecl("Score2", "score"))
    assert tokens.tokens[0] == ast.TokenDecl("Owner", ast.String("ops@example.com"))
    p_tokens = prog.items[2].tokens
    assert p_tokens == (ast.TokenDecl("event date", ast.Date(dt.date(2026, 12, 1))),
                        ast.TokenDecl("Seats", ast.Number(200)), ast.TokenDecl("Ratio", ast.Number(Decimal("1.5"))))
    sl = prog.items[3]
    assert (sl.name, sl.logic, sl.expression, len(sl.filters)) == ("Engaged", "advanced", "1 and (2 or 3)", 3)
    hook = prog.items[4]
    assert hook.method == "post" and hook.payload.parts[0] == '{"email": "'
    assert hook.responses == (ast.ResponseMapping("company.size", ast.FieldRef("Company Size")),)
    s, t = prog.items[5], prog.items[6]
    assert s.clone == ast.Clone(ast.Ref("W", "T"))
    assert s.schedule == ast.Schedule(ast.DateTime(dt.datetime(2026, 12, 1, 9)), ast.Duration(1, "week"))
    assert s.qualify == ast.Qualify("once every", ast.Duration(2, "week"))
    assert (t.active, t.qualify) == (False, ast.Qualify("every time"))


def test_token_references_inside_strings_have_their_own_spans():
    src = 'program "P" { email "E" { subject "Hi {{lead.First Name:default=friend}}!" } }'
    email = ok(src).items[0].items[0]
    token = email.subject.parts[1]
    assert token == ast.TokenRef("lead", "First Name", "friend")
    assert src[token.span.start:token.span.end] == "{{lead.First Name:default=friend}}"


def test_comments_are_collected_with_positions():
    result = parse('# head\nprogram "P" { # trailing\n    list "L",\n}\n# tail', "c.campaign")
    assert [c.text for c in result.comments] == ["# head", "# trailing", "# tail"]
    assert [c.own_line for c in result.comments] == [True, False, True]


THREE_ERRORS = '''program "Webinar" {
    list "Attendees"
    campaign "Invite" batch {
        smart list { filter lead.Country is "US" }
        flow {
            chnage score lead."Lead Score" by +10
            add to list "Attendees
        }
    }
    campaign "Other" {
        flow { send email "X" }
    }
}
'''


def test_three_separate_syntax_errors_are_all_reported_with_carets():
    result = parse(THREE_ERRORS, "three.campaign")
    diags = result.diagnostics
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [
        ("CL001", 6, 13), ("CL001", 7, 25), ("CL001", 10, 22)]
    text = render_text(diags, {"three.campaign": result.source})
    assert "did you mean 'change score'?" in text
    assert "unterminated string" in text
    assert "a campaign needs its kind after its name: batch, trigger or executable" in text
    assert "^" in text and "__ANON" not in text and "_NL" not in text


def test_unclosed_block_names_the_block_and_where_it_opened():
    src = 'program "A" {\n    campaign "B" batch {\n        flow { send email "X" }\n\nprogram "C" { }\n'
    diags = parse(src, "u.campaign").diagnostics
    messages = [d.message for d in diags]
    assert "unclosed block 'campaign \"B\" batch': the '{' on line 2 is never closed" in messages
    assert all(d.code == "CL001" for d in diags)


@pytest.mark.parametrize("src, message", [
    ('program Webinar { }', "names of things are double-quoted strings"),
    ('program "P" { campaign "C" { } }', "a campaign needs its kind after its name"),
    ('program "P" { campaign \'C\' batch { } }', "strings are written in double quotes"),
    ('program "P" { campaign "C" batch { flow { change score lead.X by {{my.Score } } } }', "unclosed token reference"),
    ('program "P" { campaign "C" batch { flow { chnage score lead.X by +1 } } }', "unknown step 'chnage score'"),
    ('program "P" { campaign "C" batch { smart list { lead.Country is "US" } } }', "a smart list line starts with 'filter' or 'trigger'"),
    ('program "P" { campaign "C" batch { smart list { filter lead.Country = "US" } } }', "a filter compares with 'is', not '='"),
    ('program "P" { campaign "C" batch { flow { send email } } }', "'send email' expected a quoted name"),
    ('program "P" { campaign "C" batch { flow { execute campaign { if lead.A is 1 "X" } } } }', "needs 'then'"),
    ('program "P" { campaign "C" batch { stepz { } } }', "unknown word 'stepz'"),
    ('program "P" { campaign "C" batch { } } }', "there is no open block here to close"),
    ('program "P" { campaign "C" botch { } }', "unknown campaign kind 'botch'"),
    ('test "t" { expect "a@x.com"."Lead Score" = 10 }', "expect compares with '==', not '='"),
    ('program "P" { email "E" { subject "{{mine.X}}" } }', "unknown token kind 'mine'"),
])
def test_likely_mistakes_get_labelled_messages(src, message):
    diags = errors(src)
    assert diags, src
    assert any(message in d.message for d in diags), [d.message for d in diags]


def test_did_you_mean_for_misspelt_campaign_part():
    diags = errors('program "P" { campaign "C" batch { flwo { } } }')
    assert diags[0].hint == "did you mean 'flow'?"


@pytest.mark.parametrize("src", ["", "\n\n", "# only a comment", "\ufeffprogram \"P\" { }", "}", "{", "{{", '"',
                                 "program", "\x00", "program \"P\" {" * 200, "é ü 日本"])
def test_garbage_never_raises(src):
    result = parse(src, "g.campaign")
    for d in result.diagnostics:
        assert 0 <= d.span.start <= d.span.end <= len(src)


def test_cli_check_missing_file_exits_2_with_one_line():
    res = CliRunner().invoke(main, ["check", "no/such/file.campaign"])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0
    assert "no such file" in res.output


def test_cli_parse_prints_the_ast_with_spans(tmp_path):
    f = tmp_path / "p.campaign"
    f.write_text('program "P" { list "L" }\n')
    res = CliRunner().invoke(main, ["parse", str(f), "--format", "json"])
    assert res.exit_code == 0, res.output
    tree = json.loads(res.output)
    assert tree["node"] == "Module"
    lst = tree["items"][0]["items"][0]
    assert lst == {"node": "StaticList", "name": "L",
                   "span": {"file": str(f), "start": 14, "end": 22, "line": 1, "column": 15,
                            "end_line": 1, "end_column": 23}}


def test_cli_check_syntax_errors_exit_1(tmp_path):
    f = tmp_path / "bad.campaign"
    f.write_text(THREE_ERRORS)
    res = CliRunner().invoke(main, ["check", str(f)])
    assert res.exit_code == 1
    assert res.output.count("error[CL001]") == 3
