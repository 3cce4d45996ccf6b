"""The static checker: one diagnostic per mistake, the spec's examples clean,
the JSON of ``campaign check``, the side tables the engine may use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.api import check_text
from campaignlang.check import CHECKS, CheckedProgram, check, logic_problem
from campaignlang.cli import main
from campaignlang.errors import CODES
from campaignlang.loader import load_paths
from campaignlang.model import CampaignInfo

ROOT = Path(__file__).resolve().parent.parent
DIAG = ROOT / "tests" / "diagnostics"


def codes(text: str) -> list[str]:
    return [d.code for d in check_text(text, "t.campaign").diagnostics]


def at(text: str) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in check_text(text, "t.campaign").diagnostics]


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


# --------------------------------------------------------------------------
# The order of the checks and their codes


def test_checks_are_listed_in_order_and_own_every_semantic_code():
    titles = [t for t, _, _ in CHECKS]
    assert titles == ["resolve names", "duplicates", "campaign kinds", "call graph", "depth and cycles",
                      "tokens", "types", "smart lists", "reachability"]
    owned = [c for _, _, cs in CHECKS for c in cs]
    assert len(owned) == len(set(owned))
    assert set(owned) == set(CODES) - {"CL001", "CL002"}


# --------------------------------------------------------------------------
# Thirty campaigns, one mistake each


def test_thirty_campaigns_one_diagnostic_per_mistake(in_root: Path):
    path = "tests/diagnostics/thirty_campaigns.campaign"
    text = (ROOT / path).read_text()
    assert len(re.findall(r'campaign "[^"]+" (?:batch|trigger|executable)', text)) >= 30
    expected = sorted((m.group(1), n) for n, line in enumerate(text.splitlines(), 1)
                      for m in re.finditer(r"# expect: (CL\d{3})", line))
    result = check(load_paths([path]))
    got = sorted((d.code, d.span.line) for d in result.diagnostics)
    assert got == expected
    kinds = {c for c, _ in expected}
    assert kinds == set(CODES) - {"CL001", "CL002"}


# --------------------------------------------------------------------------
# The spec's and the project's examples check clean


SPEC = sorted((ROOT / "tests" / "spec").glob("*.campaign"))
EXAMPLES = sorted((ROOT / "examples").glob("*.campaign"))


@pytest.mark.parametrize("path", SPEC + EXAMPLES, ids=lambda p: p.name)
def test_examples_have_no_errors(path: Path, in_root: Path):
    result = check(load_paths([path.relative_to(ROOT)]))
    assert result.errors == (), [(d.code, d.message) for d in result.errors]
    assert result.ok and isinstance(result.program, CheckedProgram)


def test_stdlib_modules_check_clean():
    for name in ("scoring", "lifecycle"):
        result = check_text(f'import std "{name}"', "t.campaign")
        assert result.diagnostics == (), [(d.code, d.message) for d in result.diagnostics]


# --------------------------------------------------------------------------
# The JSON of campaign check


def _json(args: list[str]) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["check", "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("case, code, severity, line, column, end_column", [
    ("CL205-execute-too-deep", "CL205", "error", 15, 44, 70),
    ("CL401-undefined-token", "CL401", "error", 10, 36, 47),
    ("CL402-trigger-token-in-batch", "CL402", "warning", 6, 45, 65),
    ("CL501-invalid-smart-list", "CL501", "warning", 15, 45, 54),
    ("CL503-smart-list-logic", "CL503", "error", 5, 26, 40),
    ("CL601-idle-executable", "CL601", "warning", 3, 5, 6),
])
def test_json_carries_code_severity_and_span(in_root, case, code, severity, line, column, end_column):
    exit_code, doc = _json([f"tests/diagnostics/{case}.campaign"])
    assert doc["format_version"] == 1
    found = [d for d in doc["diagnostics"] if d["code"] == code and d["line"] == line]
    assert found, doc
    d = found[0]
    assert d["severity"] == severity
    assert (d["column"], d["end_column"]) == (column, end_column)
    assert d["end_line"] >= line
    assert d["file"] == f"tests/diagnostics/{case}.campaign"
    assert d["message"] and d["message"][0].islower() or d["message"].startswith("My Token")
    assert doc["valid"] == (doc["error_count"] == 0)
    assert exit_code == (1 if doc["error_count"] else 0)


def test_json_related_spans_show_the_chain(in_root):
    _, doc = _json(["tests/diagnostics/CL205-execute-too-deep.campaign"])
    (d,) = doc["diagnostics"]
    assert [r["line"] for r in d["related"]] == [4, 8, 13, 14]
    assert d["related"][0]["message"] == '"Chain"."Start" starts the run'
    assert "hint" in d


def test_strict_counts_warnings(in_root):
    path = "tests/diagnostics/CL601-idle-executable.campaign"
    assert CliRunner().invoke(main, ["check", path]).exit_code == 0
    assert CliRunner().invoke(main, ["check", "--strict", path]).exit_code == 1
    assert CliRunner().invoke(main, ["check", "no/such.campaign"]).exit_code == 2


# --------------------------------------------------------------------------
# Resolution and cascades


def test_unknown_target_yields_one_diagnostic_and_nothing_downstream():
    src = '''
program "Ops" {
    campaign "Parent" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Missing" use parent token context }
    }
}
'''
    assert codes(src) == ["CL101"]


def test_unknown_program_is_reported_once_as_the_program():
    src = '''
program "Ops" {
    campaign "Parent" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Nope"."Missing" }
    }
}
'''
    (d,) = check_text(src).diagnostics
    assert (d.code, d.message) == ("CL101", 'unknown program "Nope"')


def test_bare_names_resolve_in_the_program_first_then_uniquely_in_the_workspace():
    src = '''
program "A" { list "L" }
program "B" {
    list "L"
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow { add to list "L" }
    }
}
program "D" {
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow { add to list "L" }
    }
}
'''
    assert at(src) == [("CL103", 13)]


def test_refs_side_table_maps_spans_to_what_they_name():
    src = '''
program "Ops" {
    email "E" { subject "Hi" }
    campaign "Child" executable { flow { send email "E" } }
    campaign "Parent" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Child" }
    }
}
'''
    result = check_text(src)
    assert result.ok
    names = {getattr(v, "name", None) for v in result.program.refs.values()}
    assert names == {"E", "Child"}
    child = [v for v in result.program.refs.values() if isinstance(v, CampaignInfo)][0]
    assert child.kind == "executable"
    assert result.program.graph is not None
    assert [e.target.name for e in result.program.graph.edges] == ["Child"]


def test_a_program_with_errors_is_not_checked():
    result = check_text('program "P" { campaign "C" trigger { } }')
    assert not result.ok and result.program is None


def test_syntax_errors_stop_the_semantic_checks():
    src = '''
program "Ops" {
    campaign "Parent" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Child }
    }
    campaign "Child" executable { flow { delete person } }
}
'''
    assert codes(src) == ["CL001"]


def test_diagnostics_are_sorted_by_position():
    result = check(load_paths([DIAG / "thirty_campaigns.campaign"]))
    keys = [(d.span.file, d.span.start) for d in result.diagnostics]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------
# Clones


CLONE_BASE = '''
program "Ops" {
    tokens { my.Score = +1 }
    webhook "W" { url "https://x.example.com/" }
    campaign "Source" trigger {
        smart list { trigger campaign is requested }
        flow {
            change score lead."Lead Score" by {{my.Score}}
            call webhook "W"
        }
    }
}
'''


def test_a_clone_is_checked_on_its_effective_parts_at_the_spans_where_they_are_written():
    src = CLONE_BASE + '''
program "Other" {
    campaign "Copy" batch {
        clone "Ops"."Source"
        smart list { filter lead.Country is "US" }
    }
}
'''
    result = check_text(src)
    got = [(d.code, d.span.line) for d in result.diagnostics]
    # the inherited webhook is not allowed in a batch; the token is not in "Other"'s scope
    assert got == [("CL401", 8), ("CL203", 9)]
    assert all(any("inherited by the clone" in r.message for r in d.related) for d in result.diagnostics)


def test_clone_of_unknown_campaign_is_one_diagnostic():
    src = '''
program "Ops" {
    campaign "Copy" trigger { clone "Ops"."Nope" }
}
'''
    assert codes(src) == ["CL101"]


def test_clone_cycle():
    src = '''
program "Ops" {
    campaign "A" batch { clone "B" }
    campaign "B" batch { clone "A" }
}
'''
    assert codes(src) == ["CL206"]


def test_clone_replacing_the_smart_list_is_still_cl209():
    # §12.2: Marketo refuses the clone before anything is edited
    src = CLONE_BASE.replace('call webhook "W"', "") + '''
program "Other" {
    tokens { my.Score = +2 }
    campaign "Copy" executable {
        clone "Ops"."Source"
        smart list { filter lead.Country is "US" }
    }
    campaign "Caller" batch {
        smart list { filter lead.Country is "US" }
        flow { execute campaign "Copy" }
    }
}
'''
    assert codes(src) == ["CL209"]


# --------------------------------------------------------------------------
# Depth


def _chain(n: int, via_choice: bool = False) -> str:
    first = ('execute campaign {\n if lead.Country is "US" then "E1"\n else do nothing\n }'
             if via_choice else 'execute campaign "E1"')
    body = [f'campaign "Start" batch {{ smart list {{ filter lead.Country is "US" }}\n flow {{ {first} }} }}']
    for k in range(1, n + 1):
        nxt = f'execute campaign "E{k + 1}"' if k < n else "delete person"
        body.append(f'campaign "E{k}" executable {{ flow {{ {nxt} }} }}')
    return 'program "P" {\n' + "\n".join(body) + "\n}\n"


def test_three_levels_are_fine_four_are_not():
    assert codes(_chain(3)) == []
    assert codes(_chain(4)) == ["CL205"]
    assert codes(_chain(4, via_choice=True)) == ["CL205"]


def test_a_long_chain_is_reported_once():
    assert codes(_chain(9)) == ["CL205"]


def test_an_executable_nothing_executes_is_measured_from_itself():
    src = '''
program "P" {
    campaign "E0" executable { flow { execute campaign "E1" } }
    campaign "E1" executable { flow { execute campaign "E2" } }
    campaign "E2" executable { flow { execute campaign "E3" } }
    campaign "E3" executable { flow { execute campaign "E4" } }
    campaign "E4" executable { flow { delete person } }
}
'''
    assert codes(src) == ["CL601", "CL205"]


def test_a_cycle_is_not_also_too_deep():
    src = '''
program "P" {
    campaign "S" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "A" } }
    campaign "A" executable { flow { execute campaign "B" } }
    campaign "B" executable { flow { execute campaign "C" } }
    campaign "C" executable { flow { execute campaign "A" } }
}
'''
    assert codes(src) == ["CL206"]


# --------------------------------------------------------------------------
# Tokens


def test_the_release_example_checks_clean_and_needs_each_callers_context():
    src = (ROOT / "examples" / "execute_token_context.campaign").read_text()
    assert check_text(src).errors == ()
    # without its own +0, the child needs every caller to pass a context
    broken = src.replace("my.Score = +0", "my.Other = +0", 1)
    (d,) = check_text(broken).errors
    assert d.code == "CL401"
    assert [r.message for r in d.related] == [
        '"Webinar A"."Parent False" executes it without parent token context']


def test_tokens_pass_down_a_chain_while_every_link_passes_the_context():
    src = '''
program "Top" {
    tokens { my.X = "x" }
    campaign "S" trigger {
        smart list { trigger campaign is requested }
        flow { execute campaign "Mid"."M" use parent token context }
    }
}
program "Mid" {
    campaign "M" executable { flow { execute campaign "Leaf"."L" use parent token context } }
}
program "Leaf" {
    campaign "L" executable { flow { interesting moment web "{{my.X}} {{trigger.Name}}" } }
}
'''
    assert codes(src) == []
    assert codes(src.replace('"Leaf"."L" use parent token context', '"Leaf"."L"')) == ["CL401", "CL402"]


def test_programs_naming_their_tokens_apart():
    """Many programs, each with its own My Tokens (more names in the file than
    in any scope: the tokens pass looks each scope's names up among them),
    one workspace token every program sees, and chains through parent token
    context whose tokens come from the caller's program."""
    programs = []
    for i in range(12):
        programs.append(f'''
    program "P{i}" {{
        tokens {{ my.T{i} = +{i} }}
        campaign "Leaf" executable {{ flow {{ change score lead."Lead Score" by {{{{my.T{i}}}}} }} }}
        campaign "Uses" executable {{
            flow {{ interesting moment web "{{{{my.T{i}}}}} {{{{my.W}}}} {{{{my.T{(i + 1) % 12}}}}}" }}
        }}
        campaign "Calls" batch {{ flow {{ execute campaign "P{(i + 1) % 12}"."Leaf" use parent token context }} }}
        campaign "Uses'" trigger {{
            smart list {{ trigger campaign is requested }}
            flow {{ execute campaign "Uses" use parent token context }}
        }}
    }}''')
    src = 'workspace "W" {\n    tokens { my.W = "w" }' + "".join(programs) + "\n}\n"
    diags = [d for d in check_text(src).diagnostics if d.code != "CL502"]   # "Calls" has no filter
    # each "Uses" names the next program's token, which its own scope does not define
    assert [(d.code, d.span.line) for d in diags] == [("CL401", 7 + 12 * i) for i in range(12)]
    assert all(f"my.T{(i + 1) % 12}" in d.message for i, d in enumerate(diags))
    # "Leaf" run from the previous program's "Calls" with its context: my.T<i> is defined there
    # too, so a text token would be a type mistake (CL403) named from the caller's declaration
    typed = src.replace("my.T5 = +5", 'my.T5 = "five"')
    found = [d for d in check_text(typed).diagnostics if d.code == "CL403"]
    assert found and all("my.T5" in d.message for d in found)


def test_folder_and_workspace_tokens_are_in_scope():
    src = '''
workspace "W" {
    tokens { my.A = "a" }
    folder "F" {
        tokens { my.B = "b" }
        folder "G" {
            program "P" {
                campaign "C" trigger {
                    smart list { trigger campaign is requested }
                    flow { interesting moment web "{{my.A}} {{my.B}} {{my.C}}" }
                }
            }
        }
    }
}
'''
    (d,) = check_text(src).diagnostics
    assert d.code == "CL401" and "my.C" in d.message


def test_api_tokens_must_be_visible_to_the_campaign():
    src = '''
program "P" {
    tokens { my.Score = +1 }
    campaign "B" batch { smart list { filter lead.Country is "US" }; flow { delete person } }
}
test "t" {
    run "P"."B" with tokens { my.Score = +3, my.Nope = 1 }
}
'''
    assert at(src) == [("CL401", 7)]


# --------------------------------------------------------------------------
# Types


@pytest.mark.parametrize("value, ok", [
    ("+10", True), ("-5", True), ("=20", True), ("=-3", True),
    ("10", False), ('"10"', False), ("1.5", False), ("{{my.S}}", True), ("{{my.T}}", False),
    ("{{my.N}}", True), ("{{lead.City}}", True),
])
def test_score_changes(value: str, ok: bool):
    src = f'''
program "P" {{
    tokens {{ my.S = +1
              my.T = "one"
              my.N = -2 }}
    campaign "C" trigger {{
        smart list {{ trigger campaign is requested }}
        flow {{ change score lead."Lead Score" by {value} }}
    }}
}}
'''
    assert codes(src) == ([] if ok else ["CL403"])


@pytest.mark.parametrize("field, value, ok", [
    ("Country", '"US"', True), ("Country", "42", False), ("Country", "{{my.D}}", True),
    ("Company Size", "12", True), ("Company Size", "1.5", False), ("Company Size", '"12"', False),
    ("Company Size", "{{my.D}}", False), ("Unsubscribed", "true", True), ("Unsubscribed", "1", False),
    ("Created At", "2026-01-01T10:00", True), ("Created At", "2026-01-01", True),
    ("Created At", "{{my.D}}", True), ("Country", "null", True), ("Lead Score", "+5", False),
])
def test_change_data_value_types(field: str, value: str, ok: bool):
    src = f'''
program "P" {{
    tokens {{ my.D = 2026-01-01 }}
    campaign "C" trigger {{
        smart list {{ trigger campaign is requested }}
        flow {{ change data value lead."{field}" to {value} }}
    }}
}}
'''
    assert codes(src) == ([] if ok else ["CL403"])


def test_date_tokens_wait_in_trigger_campaigns_only():
    base = '''
fields {{ "Renewal": date }}
program "P" {{
    tokens {{ my.When = 2026-12-01
              my.Text = "soon" }}
    campaign "C" {kind} {{
        smart list {{ {sl} }}
        flow {{ wait until {value} }}
    }}
}}
'''
    trig = dict(kind="trigger", sl="trigger campaign is requested")
    batch = dict(kind="batch", sl='filter lead.Country is "US"')
    assert codes(base.format(value="{{lead.Renewal}}", **trig)) == []
    assert codes(base.format(value="{{my.When}}", **trig)) == []
    assert codes(base.format(value="{{my.Text}}", **trig)) == ["CL403"]
    assert codes(base.format(value="{{lead.Country}}", **trig)) == ["CL403"]
    assert codes(base.format(value="{{my.When}}", **batch)) == ["CL403"]
    assert codes(base.format(value="2026-12-01T09:00", **batch)) == []


def test_choice_conditions_are_filters_outside_a_smart_list():
    src = '''
program "P" {
    campaign "C" trigger {
        smart list { trigger campaign is requested }
        flow {
            change data value lead.City {
                if lead."Lead Score" >= "high" then to "A"
                else if lead.Contry is "US" then to "B"
                else if member of list "Nope" then to "C"
                else to "D"
            }
        }
    }
}
'''
    assert at(src) == [("CL403", 7), ("CL101", 8), ("CL101", 9)]


# --------------------------------------------------------------------------
# Smart lists


@pytest.mark.parametrize("expr, count, message", [
    ("1 and (2 or 3)", 3, None),
    ("(1 or 2) and (3 or 4)", 4, None),
    ("1 or 2 or 3", 3, None),
    ("1 and 2 or 3", 3, "mixes 'and' and 'or' without parentheses"),
    ("1 and (2 or 4)", 3, "names filter 4"),
    ("1 and 0 and 2", 3, "names filter 0"),
    ("1 and (2 or 3", 3, "unclosed"),
    ("1 and", 3, "ends too soon"),
    ("1 2", 3, "unexpected '2'"),
    ("1 xor 2", 3, "unexpected 'xor'"),
    ("1 or 2", 2, "three or more filters"),
])
def test_logic_expressions(expr: str, count: int, message: str | None):
    p = logic_problem(expr, count)
    if message is None:
        assert p is None
    else:
        assert p is not None and message in p[0]


def test_invalid_smart_list_severity_depends_on_the_kind():
    src = '''
program "P" {{
    campaign "C" {kind} {{
        smart list {{ {trig} filter lead.Contry is "US" }}
        flow {{ delete person }}
    }}
    campaign "Caller" batch {{ smart list {{ filter lead.Country is "US" }}; flow {{ execute campaign "C" }} }}
}}
'''.replace("{trig} ", "{trig}\n")
    sev = lambda kind, trig="": [(d.code, d.severity) for d in check_text(  # noqa: E731
        src.format(kind=kind, trig=trig)).diagnostics if d.code == "CL501"]
    assert sev("executable") == [("CL501", "warning")]
    assert sev("batch") == [("CL501", "error")]
    assert sev("trigger", "trigger campaign is requested") == [("CL501", "error")]


def test_web_pages_are_free_forms_are_declared():
    src = '''
program "P" {
    campaign "C" trigger {
        smart list {
            trigger visits web page "/anything"
            trigger fills out form "Nope"
            filter visited web page "/pricing" in past 7 days
        }
        flow { delete person }
    }
}
'''
    assert at(src) == [("CL501", 6)]


def test_tokens_in_smart_list_filters_make_it_invalid():
    src = '''
program "P" {
    tokens { my.C = "US" }
    campaign "C" batch {
        smart list { filter lead.Country is {{my.C}} }
        flow { delete person }
    }
}
'''
    assert codes(src) == ["CL501"]


# --------------------------------------------------------------------------
# Tests' names


def test_run_and_request_targets_in_tests():
    src = '''
program "P" {
    campaign "B" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "E" } }
    campaign "E" executable { flow { delete person } }
    campaign "Api" trigger { smart list { trigger campaign is requested from any }; flow { delete person } }
}
test "t" {
    run "P"."B"
    run "P"."E"
    request "P"."Api" for "a@example.com"
    request "P"."B" for "a@example.com"
}
'''
    assert at(src) == [("CL201", 9), ("CL208", 11)]
