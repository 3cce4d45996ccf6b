"""``campaign report PATH --out DIR``: one self-contained HTML page to look at.

Owns the page and nothing else: the call graph drawn as SVG, laid out by
depth; each campaign's smart list and flow drawn as a canvas (Marketo's two
tabs side by side); and, when the caller measured them, counts per step
from the review scenario (``--db`` / ``--people``) and the coverage of the
tests (``--coverage``). The measuring is done elsewhere (``scenario``,
``coverage``) and handed in as `Coverage` objects; this module only draws.

The page (docs/review.md, "campaign report"):

* is one file with its CSS, its script and its SVG inline; no font, image,
  script or style is fetched, and a Content-Security-Policy meta tag
  (``default-src 'none'``) makes a browser refuse any fetch that slipped in;
  every text from the program is HTML-escaped;
* lays the graph out from the levels ``graph.reach`` computes (the depth of
  §6.4): one column per level, a campaign in the column of its lowest level
  (a campaign only a cycle reaches goes in column 1); within a column,
  campaigns are ordered by the mean row of their callers in the column
  before (one barycenter pass, which removes most crossings of a call tree),
  then by declaration;
* draws ``execute campaign`` edges solid and ``request campaign`` edges
  dashed, edges into a cycle (CL206) and steps past the depth limit (CL205)
  in red with a label, a red dashed line where the depth limit lies (when a
  campaign sits beyond level 3), and invalid edges (CL201/CL207/CL208) red
  and dotted; an edge back to an earlier column (a request to a trigger
  campaign, a cycle) loops below the boxes;
* for each campaign, numbers triggers apart and filters in order (as the
  smart list logic numbers them), numbers flow steps, and draws a choice's
  branches under it; a step's badges say how many times the scenario ran it
  and how many times the tests reached it (unreached points are marked).

`measure_scenario` and `measure_tests` do the measuring the page shows,
reusing what exists: the review scenario (``scenario.play``) and the tests
(``runner.run_tests``), each with a `CoverageEngine` that counts the steps.

Imports ``ast``, ``graph``, ``model``, ``errors``, ``source``, ``check``
and ``coverage`` (and so the engine); the store, the runner and
``scenario`` only inside the measuring functions; no CLI library.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from typing import Any

from attrs import define, field

from . import ast
from .check import CheckResult
from .coverage import Coverage
from .graph import MAX_DEPTH, CallGraph, build_call_graph, level_text, reach
from .model import CampaignInfo
from .source import SourceFile

__all__ = ["Measures", "render_report"]

# layout, in SVG user units
COL_W = 280
NODE_W = 212
NODE_H = 58
ROW_H = 84
MARGIN = 24
HEAD = 44
LOOP = 34
LEFT = 64          # room left of the first column for arcs between campaigns of one column


@define
class Measures:
    """What the caller measured, to show beside the program."""

    scenario: Coverage | None = None           # step hits of the review scenario
    scenario_runs: Counter = field(factory=Counter)    # "P"."C" -> runs started
    scenario_note: str | None = None           # "4 people from people.csv; events.jsonl"
    tests: Coverage | None = None              # step hits of the tests
    tests_note: str | None = None              # "4 passed, 0 failed"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------
# Layout


@define
class _Box:
    c: CampaignInfo
    col: int
    row: int = 0
    levels: str = ""
    x: float = 0.0
    y: float = 0.0
    flagged: bool = False          # in a cycle, or reached too deep


@define
class _Edge:
    caller: CampaignInfo
    target: CampaignInfo
    kind: str
    parent_context: bool
    valid: bool
    cycle: bool = False
    too_deep: bool = False


def _layout(result: CheckResult) -> tuple[list[_Box], list[_Edge], CallGraph, int]:
    model = result.model
    graph = build_call_graph(model)
    reached, too_deep = reach(graph)
    deep_steps = {id(e.step) for e, _chain in too_deep}
    boxes: dict[int, _Box] = {}
    for c in model.campaigns:
        levels = sorted(reached[c.id].levels)
        col = levels[0] if levels else 1
        box = _Box(c, col, levels=level_text(c, reached[c.id], graph))
        box.flagged = graph.in_cycle(c) or bool(levels and levels[-1] > MAX_DEPTH)
        boxes[c.id] = box
    edges: dict[tuple[int, int, str, bool], _Edge] = {}
    for e in graph.edges:
        if e.target is None:
            continue
        key = (e.caller.id, e.target.id, e.kind, e.parent_context)
        edge = edges.get(key)
        if edge is None:
            edge = edges[key] = _Edge(e.caller, e.target, e.kind, e.parent_context, e.valid)
        edge.cycle = edge.cycle or id(e) in graph.cyclic
        edge.too_deep = edge.too_deep or id(e.step) in deep_steps
    # an executable that only a cycle reaches (graph.reach measures it from
    # itself, level 0): drawn one column right of its callers
    only_cycle = [boxes[c.id] for c in model.campaigns if c.kind == "executable"
                  and graph.in_cycle(c) and not graph.acyclic_callers(c)]
    only = {b.c.id for b in only_cycle}
    for box in only_cycle:
        box.col = 0                      # 0: not placed yet
    for _ in range(len(only_cycle)):
        placed = False
        for box in only_cycle:
            if box.col:
                continue
            cols = [boxes[e.caller.id].col for e in graph.executed_by(box.c)
                    if e.caller.id != box.c.id and (e.caller.id not in only or boxes[e.caller.id].col)]
            if cols:
                box.col, placed = min(cols) + 1, True
        if not placed:
            break
    # members that only run each other: along the cycle, from column 1
    for comp in graph.components:
        pending = [boxes[c.id] for c in comp if c.id in only and not boxes[c.id].col]
        for i, box in enumerate(pending):
            box.col = 1 + i
    # too deep: the target of such a step sits one column past the limit
    for edge in edges.values():
        if edge.too_deep:
            box = boxes[edge.target.id]
            box.col = max(box.col, MAX_DEPTH + 1)
            box.flagged = True
    columns: dict[int, list[_Box]] = {}
    order = {c.id: n for n, c in enumerate(model.campaigns)}
    for box in boxes.values():
        columns.setdefault(box.col, []).append(box)
    callers_of: dict[int, list[int]] = {}
    for edge in edges.values():
        if edge.kind == "execute" and edge.valid:
            callers_of.setdefault(edge.target.id, []).append(edge.caller.id)
    for col in sorted(columns):
        members = columns[col]

        def weight(b: _Box, col: int = col) -> tuple[float, int]:
            rows = [boxes[i].row for i in callers_of.get(b.c.id, []) if boxes[i].col < col]
            return (sum(rows) / len(rows) if rows else math.inf, order[b.c.id])
        if col == 0:
            members.sort(key=lambda b: order[b.c.id])
        else:
            members.sort(key=weight)
        for row, b in enumerate(members):
            b.row = row
            b.x = LEFT + col * COL_W
            b.y = HEAD + MARGIN + row * ROW_H
    max_col = max(columns) if columns else 0
    return sorted(boxes.values(), key=lambda b: order[b.c.id]), list(edges.values()), graph, max_col


# --------------------------------------------------------------------------
# The SVG


def _bezier_mid(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float],
                p3: tuple[float, float]) -> tuple[float, float]:
    t = 0.5
    x = (1 - t) ** 3 * p0[0] + 3 * (1 - t) ** 2 * t * p1[0] + 3 * (1 - t) * t * t * p2[0] + t ** 3 * p3[0]
    y = (1 - t) ** 3 * p0[1] + 3 * (1 - t) ** 2 * t * p1[1] + 3 * (1 - t) * t * t * p2[1] + t ** 3 * p3[1]
    return x, y


def _curve(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float],
           p3: tuple[float, float]) -> str:
    return (f"M{p0[0]:.1f},{p0[1]:.1f} C{p1[0]:.1f},{p1[1]:.1f} {p2[0]:.1f},{p2[1]:.1f} "
            f"{p3[0]:.1f},{p3[1]:.1f}")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _svg(boxes: list[_Box], edges: list[_Edge], max_col: int, runs: Counter | None) -> str:
    by_id = {b.c.id: b for b in boxes}
    rows = max((b.row for b in boxes), default=0) + 1
    back = sum(by_id[e.target.id].col < by_id[e.caller.id].col - 1 for e in edges)
    bottom = HEAD + MARGIN + (rows - 1) * ROW_H + NODE_H     # the lowest box's bottom edge
    width = LEFT + MARGIN + (max_col + 1) * COL_W - (COL_W - NODE_W)
    height = bottom + MARGIN + (LOOP + 24 if back else 0)
    out = [(f'<svg id="callgraph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="call graph">'),
           "<defs>",
           ('<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#334"/></marker>'),
           ('<marker id="arrow-bad" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker>'),
           "</defs>"]
    for col in range(max_col + 1):
        x = LEFT + col * COL_W
        label = "level 0: starts runs" if col == 0 else (
            f"level {col}" if col <= MAX_DEPTH else f"level {col}: too deep")
        out.append(f'<text class="colhead" x="{x}" y="{MARGIN + 8}">{_e(label)}</text>')
    if max_col > MAX_DEPTH:
        lx = LEFT + MAX_DEPTH * COL_W + NODE_W + (COL_W - NODE_W) / 2
        out.append(f'<g class="depth-limit"><line x1="{lx}" y1="{MARGIN - 6}" x2="{lx}" y2="{height - 8}" '
                   'stroke="#c0392b" stroke-width="2" stroke-dasharray="8 5"/>'
                   f'<text x="{lx - 6}" y="{MARGIN + 8}" fill="#c0392b" font-size="12" text-anchor="end">'
                   f"depth limit</text>"
                   f"<title>the depth limit: a run reaches at most {MAX_DEPTH} levels below the campaign "
                   "that started it (CL205)</title></g>")
    for n, edge in enumerate(edges):
        a, b = by_id[edge.caller.id], by_id[edge.target.id]
        bad = edge.cycle or edge.too_deep or not edge.valid
        if b.col > a.col:
            p0 = (a.x + NODE_W, a.y + NODE_H / 2)
            p3 = (b.x - 2, b.y + NODE_H / 2)
            dx = max((p3[0] - p0[0]) / 2, 30)
            p1, p2 = (p0[0] + dx, p0[1]), (p3[0] - dx, p3[1])
            d = _curve(p0, p1, p2, p3)
            mid = _bezier_mid(p0, p1, p2, p3)
        elif a is b:
            p0 = (a.x + NODE_W - 30, a.y + NODE_H)
            p3 = (a.x + NODE_W + 2, a.y + NODE_H / 2 + 8)
            p1, p2 = (p0[0] + 10, p0[1] + 50), (p3[0] + 60, p3[1])
            d = _curve(p0, p1, p2, p3)
            mid = _bezier_mid(p0, p1, p2, p3)
        elif a.col == b.col:
            # the same column: an arc in the gutter to the left of it
            bend = 26 + 8 * min(abs(a.row - b.row), 3) + 4 * (n % 3)
            p0 = (a.x, a.y + NODE_H / 2 - 6)
            p3 = (b.x - 2, b.y + NODE_H / 2 + 6)
            p1, p2 = (p0[0] - bend, p0[1]), (p3[0] - bend, p3[1])
            d = _curve(p0, p1, p2, p3)
            mid = _bezier_mid(p0, p1, p2, p3)
        elif a.col == b.col + 1:
            # back to the column just before: across the gutter between them
            p0 = (a.x, a.y + NODE_H / 2 + 8)
            p3 = (b.x + NODE_W + 2, b.y + NODE_H / 2 + 8)
            p1, p2 = (p0[0] - 40, p0[1]), (p3[0] + 40, p3[1])
            d = _curve(p0, p1, p2, p3)
            mid = _bezier_mid(p0, p1, p2, p3)
            mid = (mid[0], mid[1] + 16)
        else:
            # back to an earlier column (a request to a trigger campaign, a
            # cycle): out to the left, along a lane below every box, up the
            # gutter right of the target's column, into its right side
            k = 6 * (n % 4)
            lane = bottom + 14 + k
            gx_a = a.x - 14 - k / 2
            gx_b = b.x + NODE_W + 16 + k / 2
            p0 = (a.x, a.y + NODE_H / 2 + 6)
            p3 = (b.x + NODE_W + 2, b.y + NODE_H / 2 + 6)
            d = (f"M{p0[0]:.1f},{p0[1]:.1f} L{gx_a:.1f},{p0[1]:.1f} L{gx_a:.1f},{lane:.1f} "
                 f"L{gx_b:.1f},{lane:.1f} L{gx_b:.1f},{p3[1]:.1f} L{p3[0]:.1f},{p3[1]:.1f}")
            mid = ((gx_a + gx_b) / 2, lane + 14)
        classes = ["edge", edge.kind]
        words = []
        if edge.kind == "request":
            words.append("request")
        elif edge.parent_context:
            words.append("context")
        if edge.cycle:
            classes.append("cycle")
            words.append("cycle")
        if edge.too_deep:
            classes.append("too-deep")
            words.append("too deep")
        if not edge.valid:
            classes.append("invalid")
            words.append("invalid")
        dash = ' stroke-dasharray="7 5"' if edge.kind == "request" else ""
        if not edge.valid:
            dash = ' stroke-dasharray="2 4"'
        color = "#c0392b" if bad else "#334"
        title = f"{edge.caller.qualname} {edge.kind}s {edge.target.qualname}" + (
            f" ({', '.join(words)})" if words else "")
        out.append(f'<g class="{" ".join(classes)}" data-from="{_e(edge.caller.qualname)}" '
                   f'data-to="{_e(edge.target.qualname)}" data-kind="{edge.kind}">'
                   f"<title>{_e(title)}</title>"
                   f'<path d="{d}" fill="none" stroke="{color}" stroke-width="{2.2 if bad else 1.6}"{dash} '
                   f'marker-end="url(#{"arrow-bad" if bad else "arrow"})"/>')
        if words:
            mx, my = mid
            out.append(f'<text class="edge-label" x="{mx:.1f}" y="{my - 4:.1f}" fill="{color}">'
                       f"{_e(', '.join(words))}</text>")
        out.append("</g>")
    for b in boxes:
        c = b.c
        kind = c.kind + ("" if c.kind != "trigger" or c.active else " (inactive)")
        classes = ["node", c.kind] + (["flagged"] if b.flagged else [])
        count = ""
        if runs is not None:
            n = runs.get(c.qualname, 0)
            count = (f'<text class="count" x="{b.x + NODE_W - 8}" y="{b.y + 16}" text-anchor="end">'
                     f"{n} run{'s' if n != 1 else ''}</text>")
        out.append(
            f'<a href="#c{c.id}"><g class="{" ".join(classes)}" data-campaign="{_e(c.qualname)}">'
            f"<title>{_e(c.qualname)} — {_e(kind)}, {_e(b.levels)}</title>"
            f'<rect x="{b.x}" y="{b.y}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
            f'<text class="name" x="{b.x + 10}" y="{b.y + 19}">{_e(_short(c.name, 22 if runs is not None else 28))}'
            f"</text>"
            f'<text class="sub" x="{b.x + 10}" y="{b.y + 35}">{_e(kind)} · {_e(b.levels)}</text>'
            f'<text class="prog" x="{b.x + 10}" y="{b.y + 50}">{_e(_short(c.program.name, 34))}</text>'
            f"{count}</g></a>")
    out.append("</svg>")
    return "\n".join(out)


# --------------------------------------------------------------------------
# The campaigns' canvases


class _Hits:
    """Hits of a `Coverage` by (campaign, file, line, column) of a node."""

    def __init__(self, coverage: Coverage | None):
        self.steps: dict[tuple[str, str, int, int], int] = {}
        self.branches: dict[tuple[str, str, int, int], int] = {}
        self.implicit: dict[tuple[str, str, int, int], int] = {}
        self.summary: dict[str, dict[str, Any]] = {}
        self.on = coverage is not None
        if coverage is None:
            return
        for row in coverage.report()["campaigns"]:
            q = row["campaign"]
            self.summary[q] = {"steps": row["steps"], "branches": row["branches"]}
            for p in row["step_points"]:
                self.steps[(q, p["file"], p["line"], p["column"])] = p["hits"]
            for p in row["branch_points"]:
                table = self.implicit if p.get("implicit") else self.branches
                table[(q, p["file"], p["line"], p["column"])] = p["hits"]

    @staticmethod
    def key(c: CampaignInfo, node: ast.Node) -> tuple[str, str, int, int] | None:
        s = node.span
        return None if s is None else (c.qualname, s.file, s.line, s.column)

    def step(self, c: CampaignInfo, node: ast.Node) -> int | None:
        k = self.key(c, node)
        return self.steps.get(k) if self.on and k is not None else None

    def branch(self, c: CampaignInfo, node: ast.Node) -> int | None:
        k = self.key(c, node)
        return self.branches.get(k) if self.on and k is not None else None

    def no_branch(self, c: CampaignInfo, choice: ast.Node) -> int | None:
        k = self.key(c, choice)
        return self.implicit.get(k) if self.on and k is not None else None


def _source_text(node: ast.Node, sources: dict[str, SourceFile], first_line: bool = False) -> str:
    span = node.span
    src = sources.get(span.file) if span is not None else None
    if span is None or src is None:
        return type(node).__name__
    text = src.text[span.start:span.end]
    if first_line:
        text = text.split("\n", 1)[0].rstrip().rstrip("{").rstrip()
    return " ".join(text.split())


def _badges(ran: int | None, tested: int | None) -> str:
    out = []
    if ran is not None:
        out.append(f'<span class="badge ran" title="times the review scenario ran this">{ran}×</span>')
    if tested is not None:
        cls = "tested" if tested else "untested"
        label = f"tests: {tested}" if tested else "not reached by tests"
        out.append(f'<span class="badge {cls}" title="times the tests reached this">{_e(label)}</span>')
    return "".join(out)


def _smart_list(c: CampaignInfo, sources: dict[str, SourceFile]) -> str:
    sl = c.smart_list
    logic = "all filters" if sl is None or sl.logic == "all" else (
        "any filter" if sl.logic == "any" else f'logic "{sl.expression}"')
    out = [f'<div class="pane smartlist"><h4>Smart List <small>{_e(logic)}</small></h4>']
    triggers = sl.triggers if sl is not None else ()
    filters = sl.filters if sl is not None else ()
    if not triggers and not filters:
        who = "everyone who reaches it" if c.kind == "executable" else "no filters"
        out.append(f'<p class="empty">{_e(who)}</p>')
    if triggers:
        out.append('<ul class="triggers">')
        for t in triggers:
            out.append(f'<li class="trigger"><span class="icon" aria-hidden="true">⚡</span>'
                       f"<code>{_e(_source_text(t, sources))}</code></li>")
        out.append("</ul>")
    if filters:
        out.append('<ol class="filters">')
        for f in filters:
            out.append(f'<li class="filter"><code>{_e(_source_text(f, sources))}</code></li>')
        out.append("</ol>")
    out.append(f'<p class="rule">qualify {_e(c.rule.rule)}'
               f'{(" " + _e(c.rule.period.text)) if c.rule.period is not None else ""}</p>')
    out.append("</div>")
    return "".join(out)


def _flow(c: CampaignInfo, sources: dict[str, SourceFile], ran: _Hits, tested: _Hits) -> str:
    out = ['<div class="pane flow"><h4>Flow</h4>']
    if not c.steps:
        out.append('<p class="empty">no steps</p>')
    else:
        out.append('<ol class="steps">')
        for step in c.steps:
            t_hits = tested.step(c, step)
            cls = "step" + (" unreached" if t_hits == 0 else "")
            if isinstance(step, ast.Choice):
                out.append(f'<li class="{cls} choice"><div class="steptext"><code>'
                           f"{_e(_source_text(step, sources, first_line=True))}</code> <small>choice</small>"
                           f"{_badges(ran.step(c, step), t_hits)}</div><ul class=\"branches\">")
                for b in step.branches:
                    bt = tested.branch(c, b)
                    out.append(f'<li class="branch{" unreached" if bt == 0 else ""}"><code>'
                               f"{_e(_source_text(b, sources))}</code>{_badges(ran.branch(c, b), bt)}</li>")
                if all(b.condition is not None for b in step.branches):
                    nt = tested.no_branch(c, step)
                    out.append(f'<li class="branch implicit{" unreached" if nt == 0 else ""}"><em>no branch '
                               f"holds: nothing happens</em>{_badges(ran.no_branch(c, step), nt)}</li>")
                out.append("</ul></li>")
            else:
                out.append(f'<li class="{cls}"><div class="steptext"><code>{_e(_source_text(step, sources))}'
                           f"</code>{_badges(ran.step(c, step), t_hits)}</div></li>")
        out.append("</ol>")
    out.append("</div>")
    return "".join(out)


def _ratio(r: dict[str, Any]) -> str:
    return "none" if not r["total"] else f"{r['reached']}/{r['total']}"


def _campaign(c: CampaignInfo, box: _Box, graph: CallGraph, result: CheckResult, measures: Measures,
              ran: _Hits, tested: _Hits) -> str:
    sources = result.sources
    calls = [e for e in graph.edges if e.caller is c and e.target is not None]
    kind = c.kind + ("" if c.kind != "trigger" or c.active else " (inactive)")
    meta = [f'<span class="kind {c.kind}">{_e(kind)}</span>', f"<span>{_e(box.levels)}</span>"]
    if c.clone_of is not None:
        meta.append(f"<span>clone of {_e(c.clone_of.qualname)}</span>")
    if measures.scenario is not None:
        n = measures.scenario_runs.get(c.qualname, 0)
        meta.append(f'<span class="runs">{n} run{"s" if n != 1 else ""} in the scenario</span>')
    if tested.on and c.qualname in tested.summary:
        s = tested.summary[c.qualname]
        branches = f', {_ratio(s["branches"])} branches' if s["branches"]["total"] else ""
        meta.append(f'<span class="cov">tests reached {_ratio(s["steps"])} steps{branches}</span>')
    desc = f'<p class="desc">{_e(c.description)}</p>' if c.description else ""
    who = ""
    callers = {(e.caller.qualname, e.kind): e for e in graph.edges if e.target is c}
    if callers:
        who += "<p class=\"callers\">called by " + ", ".join(
            f'<a href="#c{e.caller.id}">{_e(e.caller.qualname)}</a> ({e.kind})'
            for _k, e in sorted(callers.items())) + "</p>"
    if calls:
        targets = {(t.qualname, e.kind, e.parent_context): (t, e) for e in calls if (t := e.target) is not None}
        who += "<p class=\"callees\">calls " + ", ".join(
            f'<a href="#c{t.id}">{_e(t.qualname)}</a> ({e.kind}{", context" if e.parent_context else ""})'
            for _k, (t, e) in sorted(targets.items(), key=lambda kv: (kv[0][0], kv[0][1]))) + "</p>"
    return (f'<section class="campaign" id="c{c.id}" data-campaign="{_e(c.qualname)}">'
            f'<h3><span class="prog">{_e(c.program.name)} /</span> {_e(c.name)}</h3>'
            f'<p class="meta">{" · ".join(meta)}</p>{desc}{who}'
            f'<div class="canvas">{_smart_list(c, sources)}{_flow(c, sources, ran, tested)}</div>'
            "</section>")


# --------------------------------------------------------------------------
# The page

_CSS = """
:root { --ink: #1f2733; --muted: #5c6b7a; --line: #d5dbe3; --bad: #c0392b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); margin: 0; background: #f6f8fa; }
header { background: #24324a; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; color: #c9d3e0; }
main { padding: 16px 24px 40px; }
h2 { font-size: 17px; margin: 22px 0 8px; }
code { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.graph { background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow-x: auto; padding: 6px; }
.graph svg { max-width: 100%; height: auto; }
.legend { color: var(--muted); margin: 6px 0 0; }
.legend span { margin-right: 12px; white-space: nowrap; }
.legend .bad { color: var(--bad); }
svg text { font-family: system-ui, "DejaVu Sans", sans-serif; }
svg .colhead { font-size: 12px; fill: var(--muted); font-weight: 600; }
svg .node rect { fill: #fff; stroke: #7b8794; stroke-width: 1.4; }
svg .node.trigger rect { fill: #e7f0fb; stroke: #3b73b9; }
svg .node.batch rect { fill: #e8f5ea; stroke: #3f8f4f; }
svg .node.executable rect { fill: #fff5df; stroke: #b7862b; stroke-dasharray: 5 3; }
svg .node.flagged rect { stroke: var(--bad); stroke-width: 2.4; }
svg .node .name { font-size: 13px; font-weight: 700; fill: var(--ink); }
svg .node .sub { font-size: 11px; fill: #3d4a59; }
svg .node .prog { font-size: 10.5px; fill: var(--muted); }
svg .node .count { font-size: 11px; font-weight: 700; fill: #6b3fa0; }
svg .edge-label { font-size: 11px; text-anchor: middle; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
svg .edge.dim { opacity: .15; }
svg .edge.hl path { stroke-width: 3; }
svg a:hover rect { filter: brightness(0.95); }
.diags summary { cursor: pointer; }
.diags summary h2 { display: inline; }
.diagnostics { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; }
.diagnostics li.error { color: var(--bad); }
.diagnostics li.warning { color: #8a5a00; }
.campaign { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 14px 0;
            padding: 10px 16px 14px; }
.campaign:target, .campaign.hl { box-shadow: 0 0 0 3px #7aa7e0; }
.campaign h3 { margin: 2px 0 4px; font-size: 16px; }
.campaign h3 .prog { color: var(--muted); font-weight: 400; }
.meta span { margin-right: 4px; }
.meta .kind { font-weight: 700; }
.meta .kind.trigger { color: #2c5f9e; } .meta .kind.batch { color: #2f7a3e; } .meta .kind.executable { color: #8a6216; }
.meta .runs { color: #6b3fa0; font-weight: 600; }
.desc, .callers, .callees { margin: 4px 0; color: var(--muted); }
.canvas { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(320px, 1.4fr); gap: 12px; margin-top: 8px; }
.pane { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px 10px; background: #fbfcfd; }
.pane h4 { margin: 2px 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #3d4a59; }
.pane h4 small { text-transform: none; letter-spacing: 0; font-weight: 400; color: var(--muted); }
.pane ul, .pane ol { margin: 0; padding-left: 22px; }
.pane li { margin: 3px 0; }
.triggers { list-style: none; padding-left: 2px !important; }
.triggers .icon { color: #d08b00; margin-right: 6px; }
.steps > li { border: 1px solid var(--line); background: #fff; border-radius: 5px; padding: 4px 8px; margin: 5px 0; }
.steps > li.unreached, .branches li.unreached { border-color: #e3a9a2; background: #fff4f2; }
.branches { list-style: "↳ "; margin-top: 3px !important; }
.empty, .rule { color: var(--muted); margin: 4px 0; }
.badge { display: inline-block; margin-left: 8px; padding: 0 7px; border-radius: 9px; font-size: 11.5px;
         font-weight: 600; vertical-align: 1px; }
.badge.ran { background: #efe6fa; color: #5a2f91; }
.badge.tested { background: #e2f3e5; color: #246b33; }
.badge.untested { background: #fbe1de; color: #9b2a1e; }
.summary td, .summary th { padding: 2px 12px 2px 0; text-align: left; }
"""

_SCRIPT = """
(function () {
  var svg = document.getElementById("callgraph");
  if (!svg) { return; }
  var edges = svg.querySelectorAll("g.edge");
  function mark(name) {
    edges.forEach(function (e) {
      var on = name !== null && (e.getAttribute("data-from") === name || e.getAttribute("data-to") === name);
      e.classList.toggle("hl", on);
      e.classList.toggle("dim", name !== null && !on);
    });
  }
  svg.querySelectorAll("g.node").forEach(function (n) {
    n.addEventListener("mouseenter", function () { mark(n.getAttribute("data-campaign")); });
    n.addEventListener("mouseleave", function () { mark(null); });
  });
}());
"""


def render_report(result: CheckResult, title: str, measures: Measures | None = None) -> str:
    """The whole page, as text."""
    measures = measures or Measures()
    boxes, edges, graph, max_col = _layout(result)
    by_id = {b.c.id: b for b in boxes}
    ran, tested = _Hits(measures.scenario), _Hits(measures.tests)
    model = result.model
    diags = sorted(result.diagnostics, key=lambda d: d.sort_key())
    errors = sum(d.is_error for d in diags)
    n_exec = sum(e.kind == "execute" for e in edges)
    n_req = len(edges) - n_exec
    facts = (f"{len(model.programs)} program{'s' if len(model.programs) != 1 else ''}, "
             f"{len(model.campaigns)} campaign{'s' if len(model.campaigns) != 1 else ''}, "
             f"{n_exec} execute and {n_req} request edge{'s' if n_req != 1 else ''}; "
             f"{errors} error{'s' if errors != 1 else ''}, "
             f"{len(diags) - errors} warning{'s' if len(diags) - errors != 1 else ''}")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
              "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"),
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(title)} — campaign report</title>", f"<style>{_CSS}</style></head><body>",
             f"<header><h1>{_e(title)}</h1><p>{_e(facts)}</p></header><main>"]
    if measures.scenario is not None or measures.tests is not None:
        parts.append('<table class="summary">')
        if measures.scenario is not None:
            parts.append(f"<tr><th>counts</th><td>{_e(measures.scenario_note or '')}</td></tr>")
        if measures.tests is not None:
            t = measures.tests.totals()
            parts.append(f"<tr><th>tests</th><td>{_e(measures.tests_note or '')}; reached "
                         f"{_ratio(t['steps'])} steps and {_ratio(t['branches'])} branches</td></tr>")
        parts.append("</table>")
    if diags:
        # many diagnostics fold away, so the graph stays near the top
        fold = "" if len(diags) <= 8 else " (click to show)"
        parts.append(f'<details class="diags"{"" if fold else " open"}><summary><h2>Diagnostics: '
                     f'{errors} error{"s" if errors != 1 else ""}, {len(diags) - errors} '
                     f'warning{"s" if len(diags) - errors != 1 else ""}{fold}</h2></summary>'
                     '<ul class="diagnostics">')
        for d in diags:
            hint = f" — hint: {_e(d.hint)}" if d.hint else ""
            parts.append(f'<li class="{d.severity}"><code>{_e(d.span.file)}:{d.span.line}:{d.span.column}'
                         f"</code> {d.severity}[{d.code}]: {_e(d.message)}{hint}</li>")
        parts.append("</ul></details>")
    parts.append('<h2>Call graph</h2><div class="graph">')
    parts.append(_svg(boxes, edges, max_col, measures.scenario_runs if measures.scenario is not None else None))
    parts.append("</div>")
    parts.append('<p class="legend"><span>── execute campaign</span> <span>╌╌ request campaign</span> '
                 '<span>"context": use parent token context</span> '
                 '<span>columns: the level at which a campaign runs</span> '
                 '<span class="bad">red: a cycle, a chain past the depth limit '
                 f"({MAX_DEPTH} levels below the start), or an invalid target</span></p>")
    parts.append("<h2>Campaigns</h2>")
    for c in model.campaigns:
        parts.append(_campaign(c, by_id[c.id], graph, result, measures, ran, tested))
    parts.append(f"</main><script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def edges_of(result: CheckResult) -> list[tuple[str, str, str]]:
    """(caller, target, kind) of every edge the page draws, for tests and tools."""
    _boxes, edges, _graph, _max = _layout(result)
    return [(e.caller.qualname, e.target.qualname, e.kind) for e in edges]


# --------------------------------------------------------------------------
# Measuring (the engine, imported only here)


def measure_scenario(result: CheckResult, measures: Measures, db: str | None = None,
                     people_file: str | None = None, events_file: str | None = None,
                     until: str | None = None) -> None:
    """Run the review scenario (``scenario.play``) on a copy of the store
    ``db`` (never written) or on a store in memory, after importing
    ``people_file``, with a `CoverageEngine` counting every step; fill
    ``measures``. Raises `CampaignError` (a program with errors included)."""
    from .coverage import CoverageEngine
    from .datafiles import import_people
    from .errors import RunError
    from .scenario import play
    from .store import Store

    program = result.program
    if program is None:
        raise RunError("the program has errors; counts come only from a program without errors "
                       "(see campaign check)")
    if db is not None:
        from pathlib import Path
        if not Path(db).exists():
            raise RunError(f"no store {db}: the report reads a store and writes nothing")
        original = Store(db)
        store = original.copy_to_memory()
        original.close()
    else:
        store = Store(":memory:")
    coverage = Coverage()
    engine = CoverageEngine(program, store, coverage=coverage)
    try:
        if people_file:
            import_people(engine, people_file)
        people = engine.store.count_people()
        played = play(engine, events_file, until)
    finally:
        engine.store.close()
    measures.scenario = coverage
    measures.scenario_runs = played.runs_by_campaign
    what = [f"{people} {'person' if people == 1 else 'people'} from "
            + (f"{db}" if db else "") + (" and " if db and people_file else "") + (people_file or "")]
    what.append("every batch campaign run once")
    if events_file:
        what.append(f"the events of {events_file}")
    if until:
        what.append(f"then {until}")
    runs = sum(played.runs_by_campaign.values())
    what.append(f"{runs} run{'s' if runs != 1 else ''} (executed campaigns included), "
                f"{played.errors} error{'s' if played.errors != 1 else ''}; nothing was written")
    measures.scenario_note = "; ".join(what)


def measure_tests(result: CheckResult, measures: Measures) -> None:
    """Run the tests of the loaded files (their imports' included, the
    library's not) with coverage, as ``campaign test --coverage`` does;
    fill ``measures``."""
    from .errors import RunError
    from .runner import run_tests, summary

    program = result.program
    if program is None:
        raise RunError("the program has errors; its tests cannot run (see campaign check)")
    coverage = Coverage()
    coverage.add_program(program)
    results = run_tests(program, files=measures_files(result), coverage=coverage)
    measures.tests = coverage
    measures.tests_note = summary(results) if results else "no tests"


def measures_files(result: CheckResult) -> list[str]:
    """Every loaded file but the library's (``import std``)."""
    return [name for name in result.sources if not name.startswith("<std>/")]
