"""Helpers for the engine tests: build an engine from program text."""

from __future__ import annotations

from campaignlang.clock import Clock
from campaignlang.api import compile_text as program_from_text
from campaignlang.engine import Engine


def make(text: str, store=None, clock=None, **kw) -> Engine:
    return Engine(program_from_text(text), store, clock, **kw)


def types(engine: Engine, who=None) -> list[str]:
    return [a.type for a in engine.activities(who)]


def acts(engine: Engine, who=None, type_=None):
    return engine.activities(who, type_)


def make_unchecked(text: str, **kw) -> Engine:
    """An engine over a program the checker would refuse: for the runtime
    rules (undefined tokens render blank, invalid smart lists qualify nobody)
    that a checked program can never reach."""
    from campaignlang.check import CheckedProgram
    from campaignlang.loader import load_text
    from campaignlang.model import build_model

    loaded = load_text(text)
    assert loaded.ok, loaded.diagnostics
    return Engine(CheckedProgram(build_model(loaded.modules), loaded.sources), **kw)
