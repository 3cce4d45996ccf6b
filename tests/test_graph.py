"""The call graph (graph.py) and ``campaign graph``: edges over every choice
branch, levels, cycles, and DOT / Mermaid text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.api import check_text
from campaignlang.cli import main
from campaignlang.graph import build_call_graph, reach, render_graph

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = '''
workspace "EMEA" {
    program "EMEA Ops" {
        campaign "Remote" executable { flow { delete person } }
    }
}
program "Web \\"A\\"" {
    tokens { my.Score = +10 }
    campaign "Start" batch {
        smart list { filter lead.Country is "US" }
        flow {
            execute campaign {
                if lead.City is "LA" then "Ops"."Route" use parent token context
                else "Ops"."Score"
            }
            request campaign "Ops"."Intake"
            execute campaign "EMEA Ops"."Remote"
        }
    }
}
program "Ops" {
    campaign "Route" executable { flow { execute campaign "Score" use parent token context } }
    campaign "Score" executable { flow { change score lead."Lead Score" by +1 } }
    campaign "Intake" trigger {
        smart list { trigger campaign is requested }
        flow { execute campaign "Score" }
    }
    campaign "Idle" executable { flow { delete person } }
}
'''


def model():
    return check_text(PROGRAM, "g.campaign").model


def test_edges_cover_every_branch_and_know_their_kind():
    graph = build_call_graph(model())
    edges = [(e.caller.name, e.target.name, e.kind, e.parent_context, e.valid) for e in graph.edges]
    assert edges == [
        ("Start", "Route", "execute", True, True),
        ("Start", "Score", "execute", False, True),
        ("Start", "Intake", "request", False, True),
        ("Start", "Remote", "execute", False, False),   # across workspaces (CL207)
        ("Route", "Score", "execute", True, True),
        ("Intake", "Score", "execute", False, True),
    ]


def test_levels_from_every_campaign_that_starts_a_run():
    m = model()
    reached, too_deep = reach(build_call_graph(m))
    levels = {c.name: sorted(reached[c.id].levels) for c in m.campaigns}
    assert levels == {"Remote": [0], "Start": [0], "Route": [1], "Score": [1, 2], "Intake": [0], "Idle": [0]}
    assert too_deep == []


def test_dot_output():
    text = render_graph(model(), "dot")
    assert text.startswith("digraph campaigns {\n") and text.endswith("}\n")
    assert 'subgraph cluster_p2 {\n    label="Default / Web \\"A\\"";' in text
    assert 'c3 [label="Route\\nexecutable · level 1", style="rounded,dashed"];' in text
    assert 'c4 [label="Score\\nexecutable · levels 1, 2", style="rounded,dashed"];' in text
    assert 'c6 [label="Idle\\nexecutable · not executed", style="rounded,dashed"];' in text
    assert "  c2 -> c3 [label=\"context\"];" in text
    assert "  c2 -> c4;" in text
    assert '  c2 -> c5 [style=dashed, label="request"];' in text
    assert '  c2 -> c1 [color=red, label="invalid"];' in text


def test_mermaid_output():
    text = render_graph(model(), "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  subgraph p2["Default / Web #quot;A#quot;"]' in lines
    assert '    c4["Score<br/>executable · levels 1, 2"]' in lines
    assert "  c2 -->|context| c3" in lines
    assert "  c2 --> c4" in lines
    assert "  c2 -.->|request| c5" in lines
    assert "  c2 -->|invalid| c1" in lines
    # every subgraph is closed
    assert sum(1 for l in lines if l.strip().startswith("subgraph")) == sum(1 for l in lines if l.strip() == "end")
    # node ids are plain words
    assert all(re.fullmatch(r"c\d+", l.split("[")[0].strip()) for l in lines if '["' in l and "subgraph" not in l)


def test_too_deep_levels_are_marked():
    src = 'program "P" {\n' + '\n'.join(
        f'campaign "E{k}" executable {{ flow {{ execute campaign "E{k + 1}" }} }}' for k in range(1, 4)) + '''
campaign "E4" executable { flow { delete person } }
campaign "S" batch { smart list { filter lead.Country is "US" }; flow { execute campaign "E1" } }
}'''
    text = render_graph(check_text(src).model, "mermaid")
    assert "E4<br/>executable · level 4 (too deep)" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_accepts_the_dot_output():
    for text in (render_graph(model(), "dot"),
                 render_graph(check_text((ROOT / "examples" / "execute_token_context.campaign").read_text()).model,
                              "dot")):
        done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def test_cli_graph(monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    result = runner.invoke(main, ["graph", "examples/execute_token_context.campaign"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("digraph campaigns {")
    result = runner.invoke(main, ["graph", "examples/execute_token_context.campaign", "--format", "mermaid"])
    assert result.exit_code == 0 and result.stdout.startswith("flowchart LR")
    assert runner.invoke(main, ["graph", "no/such.campaign"]).exit_code == 2
    assert runner.invoke(main, ["graph", "tests/diagnostics/CL001-syntax-errors.campaign"]).exit_code == 1
