"""Diagnostics and the project's exception family.

`Diagnostic` is the one shape every stage reports in (docs/language.md,
"Diagnostics"); it holds a span but never source text, so `render.py` draws it
against whatever source map the caller has. `CODES` is the table of stable
codes. `CampaignError` is the root of every exception a user's input can
provoke; anything else escaping the package is a bug.

Imports only `source`.
"""

from __future__ import annotations

from typing import Literal, Sequence

from attrs import field, frozen

from .source import Span, as_tuple

Severity = Literal["error", "warning"]

#: code -> (default severity, one-line summary). The spec's table, §10.
CODES: dict[str, tuple[str, str]] = {
    "CL001": ("error", "syntax error"),
    "CL002": ("error", "import not found, import cycle, or import outside the root"),
    "CL101": ("error", "unknown name"),
    "CL102": ("error", "duplicate name in a scope"),
    "CL103": ("error", "ambiguous bare name"),
    "CL201": ("error", "execute campaign target is not executable"),
    "CL202": ("error", "wait in an executable campaign"),
    "CL203": ("error", "call webhook in an executable or batch campaign"),
    "CL204": ("error", "trigger in the smart list of an executable or batch campaign"),
    "CL205": ("error", "execution chain deeper than three levels"),
    "CL206": ("error", "execution cycle"),
    "CL207": ("error", "execute or request across workspaces"),
    "CL208": ("error", "request campaign target cannot be requested"),
    "CL209": ("error", "cloning a campaign with triggers into an executable"),
    "CL301": ("error", "invalid choice"),
    "CL401": ("error", "My Token defined nowhere in scope"),
    "CL402": ("warning", "trigger token where no trigger context can exist"),
    "CL403": ("error", "value of the wrong type"),
    "CL404": ("warning", "My Token that refers to itself"),
    "CL405": ("error", "My Token that expands past the rendered-size limit"),
    "CL501": ("error", "invalid smart list"),
    "CL502": ("error", "trigger campaign without a trigger, or batch campaign without a filter"),
    "CL503": ("error", "malformed smart list logic"),
    "CL504": ("error", "smart list that includes itself"),
    "CL505": ("error", "chain of member of smart list links longer than the engine runs"),
    "CL601": ("warning", "unreachable choice branch, or executable nothing executes"),
    "CL602": ("warning", "trigger cycle"),
}


@frozen
class Related:
    """A secondary place shown with a diagnostic (the other end of a cycle)."""

    message: str
    span: Span


@frozen
class Diagnostic:
    """One finding: ``error[CL205]: message`` at ``span``, with an optional
    hint (the remedy) and related spans."""

    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None
    related: tuple[Related, ...] = field(default=(), converter=as_tuple)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.start, self.span.end, self.code, self.message)

    def to_json(self) -> dict:
        """The object of §10's JSON format (lines and columns from 1)."""
        out: dict = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
        }
        if self.hint:
            out["hint"] = self.hint
        if self.related:
            out["related"] = [
                {"message": r.message, "file": r.span.file, "line": r.span.line,
                 "column": r.span.column, "end_line": r.span.end_line,
                 "end_column": r.span.end_column}
                for r in self.related
            ]
        return out


def error(code: str, message: str, span: Span, hint: str | None = None,
          related: Sequence[Related] = ()) -> Diagnostic:
    return Diagnostic(code, "error", message, span, hint, tuple(related))


def warning(code: str, message: str, span: Span, hint: str | None = None,
            related: Sequence[Related] = ()) -> Diagnostic:
    return Diagnostic(code, "warning", message, span, hint, tuple(related))


class CampaignError(Exception):
    """Root of every error a user's input can cause."""


class DiagnosticError(CampaignError):
    """Raised where a stage must stop on user errors; carries them."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]):
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0].message if self.diagnostics else "invalid input"
        super().__init__(first)


class LoadError(CampaignError):
    """A file could not be read (missing, unreadable, not UTF-8)."""


class RunError(CampaignError):
    """A run could not start or was stopped (limits, cancellation, bad request)."""


class StoreError(CampaignError):
    """The store could not be opened or is busy, corrupt, or of another version."""
