"""Coverage of ``campaign test --coverage``: which flow steps and which choice
branches the tests reached, per campaign.

What is measured. Every campaign of every program the tests ran against
(the files named and their imports) contributes its *points*:

* a **step** for each step of its effective flow (after ``clone``), written
  ``file:line`` with its source text — a choice block and a ``wait`` count as
  steps like any other;
* a **branch** for each branch of each choice, identified by the branch's
  line (``if``, ``else if``, ``else``, ``else do nothing``), and, for a choice
  without ``else``, one *implicit* branch at the choice's line: the path where
  no condition held and nothing happened (as branch coverage counts the
  missing ``else`` of an ``if``).

Points are keyed by campaign (its declaring file and ``"P"."C"``) and by the
span of the node, so the same file loaded by several test files (each file
is checked on its own) merges into one row, and a clone — whose flow is its
source's nodes — is counted under its own name.

How it is recorded. ``CoverageEngine`` is the engine with the two observing
methods of the evaluator's host protocol (``evaluate.Host``) filled in;
nothing in the engine or the evaluator changes, and a run without
``--coverage`` pays nothing:

* ``step_compiled(step, fn)`` — the evaluator compiles every step
  (top-level, a child flow's, a choice branch's) once into a closure and
  hands it to its host; coverage wraps it so that each call records the step
  for the campaign of the frame running it (clones share their source's nodes);
* ``wait_reached(run, step)`` — called for every ``wait`` reached (a wait has
  no closure).

The branch a choice took comes from the evaluator's existing ``trace`` hook
(the list ``campaign explain --person`` reads): a choice appends one entry,
with the branch number, *before* it runs the branch's step, and appends
nothing when no branch holds. The wrapper notes the trace's length before
the choice runs, reads the entry at that index after it, and truncates the
trace again (entries of choices inside an executed child come later and are
read, and removed, by their own wrapper first).

Reading the activity log instead was considered and rejected: activities do
not name the step that wrote them (two ``send email`` steps of one flow look
alike), and a choice that does nothing, a ``wait`` already past, or a step
that changes nothing leave no activity at all.

This module may read the wall clock nowhere; it imports ``ast``, ``engine``
and ``source``.
"""

from __future__ import annotations

from typing import Any, Iterable

from attrs import define, field

from . import ast
from .engine import Engine
from .source import SourceFile, Span

__all__ = ["Coverage", "CoverageEngine", "Point"]


@define
class Point:
    """One step or branch of one campaign, and how often tests reached it."""

    kind: str            # "step" | "branch"
    file: str
    line: int
    column: int
    text: str
    hits: int = 0
    implicit: bool = False   # the implicit "no branch held" path of a choice without else

    def to_json(self) -> dict[str, Any]:
        out = {"file": self.file, "line": self.line, "column": self.column, "text": self.text,
               "reached": self.hits > 0, "hits": self.hits}
        if self.implicit:
            out["implicit"] = True
        return out


@define
class _CampaignCoverage:
    campaign: str        # "P"."C"
    kind: str
    file: str
    line: int
    steps: dict[tuple, Point] = field(factory=dict)
    branches: dict[tuple, Point] = field(factory=dict)

    def counts(self) -> dict[str, dict[str, Any]]:
        return {"steps": _ratio(self.steps.values()), "branches": _ratio(self.branches.values())}


def _ratio(points: Iterable[Point]) -> dict[str, Any]:
    points = list(points)
    reached = sum(p.hits > 0 for p in points)
    total = len(points)
    return {"reached": reached, "total": total,
            "percent": round(100.0 * reached / total, 1) if total else None}


def _key(span: Span | None) -> tuple | None:
    return None if span is None else (span.file, span.start, span.end)


class Coverage:
    """Points of the registered programs and the hits recorded by
    ``CoverageEngine``s; ``report()`` for JSON, ``format_text()`` for the
    table."""

    def __init__(self) -> None:
        self._campaigns: dict[tuple[str, str], _CampaignCoverage] = {}
        self._sources: dict[str, SourceFile] = {}
        self._registered: set[int] = set()

    # -- the points ---------------------------------------------------------------

    def add_program(self, program: Any) -> None:
        """Register every campaign of a ``CheckedProgram`` (idempotent)."""
        if id(program) in self._registered:
            return
        self._registered.add(id(program))
        for name, src in program.sources.items():
            self._sources.setdefault(name, src)
        for c in program.model.campaigns:
            self._campaign(c)

    def _text(self, node: ast.Node) -> str:
        span = node.span
        src = self._sources.get(span.file) if span is not None else None
        if src is None or span is None:
            return type(node).__name__
        text = src.text[span.start:span.end]
        first = " ".join(text.split("\n", 1)[0].split())
        if "\n" in text.rstrip():
            first += " ..." if not first.endswith("{") else " ... }"
        return first if len(first) <= 72 else first[:69] + "..."

    def _campaign(self, c: Any) -> _CampaignCoverage:
        span = c.node.span
        file = span.file if span is not None else "<input>"
        ckey = (file, c.qualname)
        cov = self._campaigns.get(ckey)
        if cov is not None:
            return cov
        cov = _CampaignCoverage(c.qualname, c.kind, file, span.line if span is not None else 0)
        for step in c.steps:
            k = _key(step.span)
            if k is None:
                continue
            cov.steps[k] = Point("step", step.span.file, step.span.line, step.span.column, self._text(step))
            if isinstance(step, ast.Choice):
                for number, b in enumerate(step.branches, 1):
                    if b.span is None:
                        continue
                    cov.branches[(k, number)] = Point("branch", b.span.file, b.span.line, b.span.column,
                                                      self._text(b))
                if all(b.condition is not None for b in step.branches):
                    cov.branches[(k, None)] = Point("branch", step.span.file, step.span.line, step.span.column,
                                                    "(no else: no branch held, nothing happened)",
                                                    implicit=True)
        self._campaigns[ckey] = cov
        return cov

    # -- hits (called by CoverageEngine) ----------------------------------------------

    def hit_step(self, campaign: Any, node: ast.Node) -> None:
        point = self._campaign(campaign).steps.get(_key(node.span))
        if point is not None:       # a branch's own step, or a for block's: not a flow step
            point.hits += 1

    def hit_branch(self, campaign: Any, choice: ast.Choice, number: int | None) -> None:
        point = self._campaign(campaign).branches.get((_key(choice.span), number))
        if point is not None:
            point.hits += 1

    # -- reports -------------------------------------------------------------------

    def _ordered(self) -> list[_CampaignCoverage]:
        return sorted(self._campaigns.values(), key=lambda c: (c.file, c.line, c.campaign))

    def totals(self) -> dict[str, dict[str, Any]]:
        rows = self._ordered()
        return {"steps": _ratio(p for c in rows for p in c.steps.values()),
                "branches": _ratio(p for c in rows for p in c.branches.values())}

    def report(self) -> dict[str, Any]:
        """The ``coverage`` object of ``campaign test --format json --coverage``."""
        campaigns = []
        for c in self._ordered():
            campaigns.append({
                "campaign": c.campaign, "kind": c.kind, "file": c.file, "line": c.line,
                **c.counts(),
                "step_points": [p.to_json() for p in _by_position(c.steps.values())],
                "branch_points": [p.to_json() for p in _by_position(c.branches.values())],
            })
        return {"campaigns": campaigns, "totals": self.totals()}

    def format_text(self) -> str:
        """A table per campaign, a total, then every point not reached."""
        rows = self._ordered()
        head = ("campaign", "file", "steps", "branches")
        table = [head]
        for c in rows:
            n = c.counts()
            table.append((f"{c.campaign} ({c.kind})", f"{c.file}:{c.line}",
                          _cell(n["steps"]), _cell(n["branches"])))
        t = self.totals()
        table.append(("total", "", _cell(t["steps"]), _cell(t["branches"])))
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        lines = ["coverage: flow steps and choice branches the tests reached"]
        for i, r in enumerate(table):
            if i == len(table) - 1:
                lines.append("  " + "  ".join("-" * w for w in widths))
            lines.append("  " + "  ".join(cell.ljust(w) if j < 2 else cell.rjust(w)
                                          for j, (cell, w) in enumerate(zip(r, widths))).rstrip())
        missed = [(c, p) for c in rows for p in _by_position(list(c.steps.values()) + list(c.branches.values()))
                  if p.hits == 0]
        if missed:
            lines.append("not reached:")
            width = max(len(f"{p.file}:{p.line}") for _c, p in missed)
            current = None
            for c, p in missed:
                if c is not current:
                    lines.append(f"  {c.campaign}")
                    current = c
                lines.append(f"    {f'{p.file}:{p.line}':<{width}}  {p.kind:<6}  {p.text}")
        return "\n".join(lines)


def _by_position(points: Iterable[Point]) -> list[Point]:
    return sorted(points, key=lambda p: (p.file, p.line, p.column, p.kind != "step", p.implicit))


def _cell(r: dict[str, Any]) -> str:
    if not r["total"]:
        return "-"
    return f"{r['reached']}/{r['total']} {r['percent']:5.1f}%"


class CoverageEngine(Engine):
    """The engine, recording into a ``Coverage`` every flow step and choice
    branch it reaches (see the module docstring for the overrides).
    tests/test_coverage.py fails if the evaluator stops dispatching through
    them."""

    def __init__(self, program: Any, store: Any = None, clock: Any = None, *, coverage: Coverage,
                 **options: Any) -> None:
        super().__init__(program, store, clock, **options)
        self.coverage = coverage
        coverage.add_program(program)
        self.evaluator.trace = []

    def _campaign_of(self, run: Any) -> Any:
        key = run.frames[-1].key
        return self.campaigns.get(key) if key is not None else None

    def _covered(self, run: Any, step: ast.Node, go: Any) -> None:
        """Record ``step`` for the campaign running it, then ``go()``; for a
        choice, also the branch it took (from ``trace``, see above)."""
        campaign = self._campaign_of(run)
        if campaign is not None:
            self.coverage.hit_step(campaign, step)
        trace = self.evaluator.trace
        if not isinstance(step, ast.Choice) or trace is None:
            go()
            return
        mark = len(trace)
        ok = False
        try:
            go()
            ok = True
        finally:
            if campaign is not None:
                if len(trace) > mark:
                    self.coverage.hit_branch(campaign, step, trace[mark]["branch"])
                elif ok:
                    self.coverage.hit_branch(campaign, step, None)
            del trace[mark:]

    def step_compiled(self, step: ast.Node, fn: Any) -> Any:
        def covered(run: Any) -> None:
            self._covered(run, step, lambda: fn(run))
        return covered

    def wait_reached(self, run: Any, step: ast.Wait) -> None:
        campaign = self._campaign_of(run)
        if campaign is not None:
            self.coverage.hit_step(campaign, step)
