"""Property tests for the checker: no input makes it raise; its findings are
sorted, each names a code of §10, and a clean result is a checked program."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.api import check_text
from campaignlang.errors import CODES, Diagnostic
from campaignlang.format import format_module
from campaignlang.graph import render_graph
from strategies import modules

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "diagnostics").glob("*.campaign")) + sorted(
    (ROOT / "tests" / "spec").glob("*.campaign")) + sorted((ROOT / "examples").glob("*.campaign"))


def _sound(result) -> None:
    keys = [Diagnostic.sort_key(d) for d in result.diagnostics]
    assert keys == sorted(keys)
    assert all(d.code in CODES for d in result.diagnostics)
    assert all(d.message and d.span is not None for d in result.diagnostics)
    assert result.ok == (not result.errors)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules())
def test_any_program_checks_without_raising(module):
    text = format_module(module, [])
    result = check_text(text, "prop.campaign")
    _sound(result)
    for fmt in ("dot", "mermaid"):
        render_graph(result.model, fmt)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(CORPUS), st.randoms(use_true_random=False))
def test_programs_with_lines_removed_check_without_raising(path: Path, rnd: random.Random):
    """Deleting lines of real programs gives half-finished programs of every
    kind (the parser recovers; the checker sees what is left)."""
    lines = path.read_text().splitlines()
    keep = [line for line in lines if rnd.random() > 0.15]
    result = check_text("\n".join(keep), "cut.campaign")
    _sound(result)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_each_line_removed_in_turn(path: Path):
    lines = path.read_text().splitlines()
    for i in range(len(lines)):
        _sound(check_text("\n".join(lines[:i] + lines[i + 1:]), "cut.campaign"))
