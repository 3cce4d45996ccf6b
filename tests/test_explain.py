"""Static token explanation (explain.py) and ``campaign explain --token``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.api import check_text
from campaignlang.cli import main
from campaignlang.explain import explain_token, find_campaign, render_report, token_name, tokens_used

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/execute_token_context.campaign"

CHAIN = '''
workspace "W" {
    tokens { my.Owner = "ws@example.com" }
    folder "F" {
        tokens { my.Region = "EU" }
        program "Top" {
            tokens { my.Score = +10 }
            campaign "Start" trigger {
                smart list { trigger campaign is requested }
                flow { execute campaign "Mid"."Relay" use parent token context }
            }
            campaign "Plain" batch {
                smart list { filter lead.Country is "US" }
                flow { execute campaign "Mid"."Relay" use parent token context }
            }
        }
        program "Mid" {
            campaign "Relay" executable { flow { execute campaign "Leaf"."Score It" use parent token context } }
            campaign "Fresh" batch {
                smart list { filter lead.Country is "DE" }
                flow { execute campaign "Leaf"."Score It" }
            }
        }
    }
    program "Leaf" {
        tokens {
            my.Score = +0
            my.Region = "INTL"
        }
        campaign "Score It" executable {
            flow {
                change score lead."Lead Score" by {{my.Score}}
                interesting moment web "{{my.Region}} {{my.Owner}}"
            }
        }
    }
}
'''


@pytest.fixture(scope="module")
def model():
    result = check_text(CHAIN, "chain.campaign")
    assert result.errors == (), result.errors
    return result.model


def _rows(report):
    return [([report_start.name] + [e.target.name for e in links], value, scope, via)
            for report_start, links, value, scope, via in
            ((r.start, r.links, r.binding.value.text if r.binding else None,
              r.layer.label if r.layer else None, r.via.name if r.via else None) for r in report.paths)]


def test_each_call_path_and_the_scope_it_reads(model):
    leaf, _ = find_campaign(model, "Leaf/Score It")
    report = explain_token(model, leaf, "my.Score")
    assert _rows(report) == [
        (["Start", "Relay", "Score It"], "+10", 'program "Top"', "Start"),
        (["Plain", "Relay", "Score It"], "+10", 'program "Top"', "Plain"),
        (["Fresh", "Score It"], "+0", 'program "Leaf"', None),
    ]
    text = render_report(report)
    assert "through the parent token context of \"W\".\"Top\".\"Start\"" in text
    assert "without parent token context" in text


def test_tokens_the_context_lacks_fall_back_to_the_childs_own(model):
    leaf, _ = find_campaign(model, '"Leaf"."Score It"')
    owner = explain_token(model, leaf, "Owner")
    assert {r.layer.label for r in owner.paths} == {'workspace "W"'}
    region = explain_token(model, leaf, "{{my.Region}}")
    # through the context, the callers' folder "F" wins; afresh, the child's own program
    assert [(r.binding.value.value, r.layer.label) for r in region.paths] == [
        ("EU", 'folder "F"'), ("EU", 'folder "F"'), ("INTL", 'program "Leaf"')]


def test_undefined_renders_blank(model):
    leaf, _ = find_campaign(model, "Leaf/Score It")
    report = explain_token(model, leaf, "my.Nope")
    assert all(r.binding is None for r in report.paths)
    assert "undefined: my.Nope renders blank" in render_report(report)


def test_a_campaign_that_starts_runs_is_explained_on_its_own(model):
    start, _ = find_campaign(model, "Top/Start")
    (row,) = explain_token(model, start, "my.Score").paths
    assert row.own and row.binding.value.text == "+10" and row.layer.kind == "program"


def test_find_campaign_forms(model):
    assert find_campaign(model, '"Top"."Plain"')[0].name == "Plain"
    assert find_campaign(model, "Top/Plain")[0].name == "Plain"
    assert find_campaign(model, "Plain")[0].name == "Plain"
    assert find_campaign(model, '"Plain"')[0].name == "Plain"
    none, why = find_campaign(model, "Top/Plian")
    assert none is None and "did you mean" in why


def test_token_names():
    assert token_name("my.Score") == token_name("{{my.Score}}") == token_name("Score") == "Score"
    assert token_name('my."Event Name"') == "Event Name"


def test_tokens_used(model):
    leaf, _ = find_campaign(model, "Leaf/Score It")
    assert tokens_used(model, leaf) == ["Score", "Region", "Owner"]


def test_cli_text_and_json(monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    result = runner.invoke(main, ["explain", EXAMPLE, "Scoring/Change Score", "--token", "my.Score"])
    assert result.exit_code == 0, result.output
    assert "= +10  from program \"Webinar A\", through the parent token context" in result.stdout
    assert "= +0  from program \"Scoring\"" in result.stdout
    result = runner.invoke(main, ["explain", EXAMPLE, '"Scoring"."Change Score"', "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (tok,) = doc["tokens"]
    assert tok["token"] == "my.Score"
    assert [(p["start"]["name"], p["value"], p["via"] is not None) for p in tok["paths"]] == [
        ("Parent True", "+10", True), ("Parent False", "+0", False)]
    assert [p["links"][0]["use_parent_token_context"] for p in tok["paths"]] == [True, False]


def test_cli_errors(monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    result = runner.invoke(main, ["explain", EXAMPLE, "Scoring/Change Score", "--person", "a@example.com"])
    assert result.exit_code == 2 and "no person with the email address a@example.com" in result.stderr
    result = runner.invoke(main, ["explain", EXAMPLE, "Scoring/Nope"])
    assert result.exit_code == 2 and "no campaign" in result.stderr
