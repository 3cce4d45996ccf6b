"""The static checker: (loaded modules) -> diagnostics and a checked program.

A function of its input: it never raises for a user's mistake; it collects
every diagnostic, sorted by position. Only a program without errors becomes a
``CheckedProgram``, the one thing the engine accepts (the gate is in the
types: jlox's ``if (hadError) return;`` made explicit).

Imports ``source``, ``errors``, ``ast``, ``loader``, ``model``,
``environment`` and the ``stdlib`` vocabulary; nothing to its right
(evaluate, engine, cli).
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from .errors import Diagnostic
from .loader import Loaded, load_text
from .model import Model, build_model
from .source import SourceFile


@frozen
class CheckedProgram:
    """A program with no errors: its model and sources. Built only by ``check``."""

    model: Model
    sources: dict[str, SourceFile]


@frozen
class CheckResult:
    diagnostics: tuple[Diagnostic, ...]
    model: Model
    sources: dict[str, SourceFile]
    program: CheckedProgram | None   # None when there is an error

    @property
    def ok(self) -> bool:
        return self.program is not None

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)


def check(loaded: Loaded, **options: Any) -> CheckResult:
    """Check loaded modules (their CL001/CL002 included) and return the result."""
    model = build_model(loaded.modules)
    diags = list(loaded.diagnostics)
    diags.sort(key=Diagnostic.sort_key)
    sources = loaded.sources
    program = None if any(d.is_error for d in diags) else CheckedProgram(model, sources)
    return CheckResult(tuple(diags), model, sources, program)


def check_text(text: str, name: str = "<input>") -> CheckResult:
    """Check a program given as text (relative imports from the current folder)."""
    return check(load_text(text, name))
