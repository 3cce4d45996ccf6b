"""The fast LALR driver (issue 14, item 7: checking at least 1 MB of source
a second). ``parse`` runs Lark's own tables, compiled lexer patterns and
callbacks through a loop of its own, and hands anything but a clean parse to
Lark, whose exceptions the diagnostics are made from. The property: for any
text, the result (AST with spans, every diagnostic, comments) is the one
Lark's driver alone gives."""

from __future__ import annotations

import importlib
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from fuzzing import SOURCES, coherent, generated, mutated

P = importlib.import_module("campaignlang.parse")
CI = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def lark_only(text: str) -> object:
    fast = P._fast_parse

    def refuse(*args, **kwargs):
        raise P._NotFast()

    P._fast_parse = refuse
    try:
        return P.parse(text, "x.campaign")
    finally:
        P._fast_parse = fast


def fast_parses(text: str) -> bool:
    """Whether the fast driver alone parses ``text`` (no fallback)."""
    with P._lock:
        P._builder = P._Builder(P._Mapped(P.SourceFile("x.campaign", text), []))
        try:
            P._fast_parse(P.lark_parser(), text)
            return True
        except P._NotFast:
            return False
        finally:
            P._builder = None


def full(x: object) -> object:
    """Everything a parse gives, every span included (nodes compare equal
    without their spans): attrs objects as their class and fields."""
    if attrs.has(type(x)):
        return type(x).__name__, tuple((a.name, full(getattr(x, a.name))) for a in attrs.fields(type(x)))
    if isinstance(x, (tuple, list)):
        return tuple(full(v) for v in x)
    return x


def same(text: str) -> None:
    assert full(P.parse(text, "x.campaign")) == full(lark_only(text))


def test_every_example_and_test_program_parses_fast_to_the_same_result():
    root = Path(__file__).resolve().parent.parent
    files = sorted(root.glob("examples/**/*.campaign")) + sorted(root.glob("tests/**/*.campaign"))
    fast = 0
    for f in files:
        text = f.read_text(encoding="utf-8")
        same(text)
        fast += fast_parses(text)
    assert fast >= len(files) * 0.9   # the valid ones take the fast path


@pytest.mark.parametrize("text", [
    "", "\n\n", "# only a comment\n", 'program "P" {\n}\n', 'program "P" {',
    'program "P" { description "x" }\nprogram "Q" { list "L" }',
    'program "P" {\n  campaign "C" batch {\n    flow { wait 1 day }\n  }\n}\n',
    'program "P" { campaign "C" batch { flow { teleport "x" } } }',
    'programme "P" {}', "'single'", 'program "P" { list "L" } }',
])
def test_small_texts_give_the_same_result(text):
    same(text)


@settings(max_examples=150, **CI)
@given(mutated())
def test_mutated_sources_give_the_same_result(text):
    same(text)


@settings(max_examples=60, **CI)
@given(generated())
def test_generated_sources_give_the_same_result(text):
    same(text)


@settings(max_examples=60, **CI)
@given(coherent())
def test_coherent_programs_give_the_same_result(text):
    same(text)


def test_the_corpus_parses_fast():
    assert SOURCES and sum(fast_parses(t) for t in SOURCES) >= len(SOURCES) * 0.9
