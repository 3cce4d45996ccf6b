"""Property tests: no input makes the parser (or the checker behind it) raise
anything, and every diagnostic's span lies inside its file."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.api import check_text
from campaignlang.parse import parse
from campaignlang.render import render_text

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p.read_text("utf-8") for p in sorted((ROOT / "examples").glob("*.campaign"))] + [
    p.read_text("utf-8") for p in sorted((ROOT / "tests" / "spec").glob("*.campaign"))]

NASTY = ["{", "}", "{{", "}}", '"', "'", "\\", "\x00", "\n", ";", ",", "#", ".", "=", "==",
         "program", "campaign", "flow", "if", "else", "then", "é", "日本", "\u202e", "\ufeff",
         "x" * 300, "9" * 40, "2026-13-45", "+", "-", "=-", ":default=", "lead.", "my."]


def _assert_sane(text: str, name: str = "f.campaign") -> None:
    result = parse(text, name)
    for d in result.diagnostics:
        assert d.code.startswith("CL")
        assert 0 <= d.span.start <= d.span.end <= len(text), d
        assert 1 <= d.span.line <= text.count("\n") + 1
    render_text(result.diagnostics, {name: result.source})


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "truncate"]))
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(i, min(len(text), i + 40)))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(NASTY) | st.text(max_size=5)) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif op == "swap":
            k = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[k:k + (j - i)] + text[j:]
        else:
            text = text[:i]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_sources_never_raise(text):
    _assert_sane(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_never_raises(text):
    _assert_sane(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_check_never_raises_on_mutated_sources(text):
    result = check_text(text, "m.campaign")
    for d in result.diagnostics:
        if d.span.file == "m.campaign":
            assert 0 <= d.span.start <= d.span.end <= len(text), d
