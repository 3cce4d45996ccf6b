"""The call graph: which campaign executes or requests which, at what depth.

Owns the static shape of runs (LANGUAGE.md §6): every ``execute campaign``
and ``request campaign`` step of every campaign's *effective* flow (a clone's
inherited flow included), choice branches included, as ``CallEdge``s; the
strongly connected components of the execute graph (its cycles); the levels
at which each campaign can run below a campaign that starts a run; and the
rendering of all that as Graphviz DOT or a Mermaid flowchart
(``campaign graph``).

Rules this module encodes, shared by the checker and ``campaign graph``:

* A reference resolves where it is written (docs/language.md, "Names"): the
  steps a clone inherits resolve in the program of the campaign that wrote
  them, so a reference has one meaning per span.
* An edge is *valid* when the engine would follow it: an execute edge whose
  target is an executable of the caller's workspace; a request edge whose
  target is an active trigger campaign of the caller's workspace listening
  for ``campaign is requested`` from a flow action. The checker reports the
  others (CL201, CL207, CL208) and nothing downstream sees them, so one
  mistake yields one diagnostic.
* Levels (§6.4): a campaign that can start a run (batch, trigger) is level 0;
  so is an executable nothing validly executes (it is measured from itself).
  An edge inside a cycle (CL206) does not count towards depth.

Imports ``ast`` and ``model`` only; ``check.py`` builds on it.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator

from attrs import define, field

from . import ast
from .model import CampaignInfo, Model, ProgramInfo

#: §6.4: a chain may reach at most this many levels below its start
MAX_DEPTH = 3

#: request sources that admit a request made by a flow step (§4, §6.6)
FLOW_SOURCES = (None, "flow action", "any")


def flat_steps(steps: Iterable[ast.Node]) -> Iterator[ast.Node]:
    """Every step, choices replaced by their branches' steps (in order)."""
    for step in steps:
        if isinstance(step, ast.Choice):
            for branch in step.branches:
                if branch.step is not None:
                    yield branch.step
        else:
            yield step


def written_by(c: CampaignInfo, part: str) -> CampaignInfo:
    """The campaign whose source holds ``c``'s effective ``part`` (``"flow"``,
    ``"smart_list"``, ``"qualify"``): ``c`` itself, or the clone source it
    inherited it from."""
    seen = set()
    while getattr(c.node, part) is None and c.clone_of is not None and c.id not in seen:
        seen.add(c.id)
        c = c.clone_of
    return c


def admits_flow_requests(c: CampaignInfo) -> bool:
    """An active trigger campaign with a ``campaign is requested`` trigger
    whose source admits a flow action (none given means flow action)."""
    if c.kind != "trigger" or not c.active or c.smart_list is None:
        return False
    return any(t.kind == "campaign is requested" and t.source in FLOW_SOURCES
               for t in c.smart_list.triggers)


@define(eq=False)
class CallEdge:
    """One ``execute campaign`` or ``request campaign`` step of ``caller``'s
    effective flow (a choice branch's step included)."""

    caller: CampaignInfo
    step: ast.Node                  # ExecuteCampaign or RequestCampaign
    kind: str                       # "execute" or "request"
    target: CampaignInfo | None     # None: the name does not resolve (CL101/CL103)
    parent_context: bool = False    # use parent token context (the AST's ExecuteCampaign.parent_context)
    inherited: bool = False         # the step comes from the clone source

    @property
    def cross_workspace(self) -> bool:
        return self.target is not None and self.target.workspace is not self.caller.workspace

    @property
    def valid(self) -> bool:
        t = self.target
        if t is None or self.cross_workspace:
            return False
        if self.kind == "execute":
            return t.kind == "executable"
        return admits_flow_requests(t)


@define(eq=False)
class CallGraph:
    """Every call edge, and the valid execute edges by caller and by target."""

    model: Model
    edges: list[CallEdge] = field(factory=list)
    calls: dict[int, list[CallEdge]] = field(factory=dict)     # caller id -> valid execute edges
    callers: dict[int, list[CallEdge]] = field(factory=dict)   # target id -> valid execute edges
    cyclic: set[int] = field(factory=set)                      # id() of edges inside a cycle
    components: list[list[CampaignInfo]] = field(factory=list)  # the cycles (SCCs)
    _order: list[CampaignInfo] | None = None

    def executes(self, c: CampaignInfo) -> list[CallEdge]:
        return self.calls.get(c.id, [])

    def executed_by(self, c: CampaignInfo) -> list[CallEdge]:
        return self.callers.get(c.id, [])

    def acyclic_callers(self, c: CampaignInfo) -> list[CallEdge]:
        if not self.cyclic:
            return self.callers.get(c.id, [])
        return [e for e in self.callers.get(c.id, []) if id(e) not in self.cyclic]

    def acyclic_calls(self, c: CampaignInfo) -> list[CallEdge]:
        if not self.cyclic:
            return self.calls.get(c.id, [])
        return [e for e in self.calls.get(c.id, []) if id(e) not in self.cyclic]

    def in_cycle(self, c: CampaignInfo) -> bool:
        """Whether ``c`` belongs to an execution cycle (CL206)."""
        return bool(self.components) and any(c.id == m.id for comp in self.components for m in comp)

    def roots(self) -> list[CampaignInfo]:
        """Campaigns measured from level 0: those that start runs, and
        executables no valid acyclic edge reaches."""
        return [c for c in self.model.campaigns
                if c.kind != "executable" or not self.acyclic_callers(c)]

    def topological(self) -> list[CampaignInfo]:
        """Every campaign, callers before the executables they execute
        (cycle edges ignored); ties in declaration order. Computed once."""
        if self._order is None:
            self._order = self._topological()
        return self._order

    def _topological(self) -> list[CampaignInfo]:
        indegree = {c.id: len(self.acyclic_callers(c)) for c in self.model.campaigns}
        by_id = {c.id: c for c in self.model.campaigns}
        ready = deque(c for c in self.model.campaigns if indegree[c.id] == 0)
        out: list[CampaignInfo] = []
        while ready:
            c = ready.popleft()
            out.append(c)
            for e in self.acyclic_calls(c):
                indegree[e.target.id] -= 1
                if indegree[e.target.id] == 0:
                    ready.append(by_id[e.target.id])
        return out


def _resolve_target(model: Model, ref: ast.Ref, where: ProgramInfo) -> CampaignInfo | None:
    return model.resolve("campaign", ref, where).found


def build_call_graph(model: Model,
                     resolve: Callable[[ast.Ref, ProgramInfo], CampaignInfo | None] | None = None,
                     calls_of: Callable[[CampaignInfo], tuple[CampaignInfo, Iterable[ast.Node]]] | None = None,
                     ) -> CallGraph:
    """The call graph of a model (see the module docstring). A caller that
    has walked the program already (the checker) may pass ``resolve`` (ref,
    program where written) -> campaign in place of ``Model.resolve``, and
    ``calls_of`` campaign -> (the campaign that wrote its flow, its steps)."""
    graph = CallGraph(model)
    cache: dict[tuple[int, int], CampaignInfo | None] = {}
    find = resolve or (lambda ref, where: _resolve_target(model, ref, where))
    for c in model.campaigns:
        if calls_of is not None:
            origin, steps = calls_of(c)
        else:
            origin, steps = written_by(c, "flow"), flat_steps(c.steps)
        for step in steps:
            if isinstance(step, ast.ExecuteCampaign):
                kind, ctx = "execute", step.parent_context
            elif isinstance(step, ast.RequestCampaign):
                kind, ctx = "request", False
            else:
                continue
            key = (id(step.campaign), origin.program.id)
            if key not in cache:
                cache[key] = find(step.campaign, origin.program)
            edge = CallEdge(c, step, kind, cache[key], ctx, origin is not c)
            graph.edges.append(edge)
            if kind == "execute" and edge.valid:
                graph.calls.setdefault(c.id, []).append(edge)
                graph.callers.setdefault(edge.target.id, []).append(edge)
    _find_cycles(graph)
    return graph


def strongly_connected(nodes: list[int], succ: dict[int, list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, iteratively (chains may be
    long); components in discovery order, members in discovery order."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ.get(w, ()))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp, key=lambda n: index[n]))
    return out


def _find_cycles(graph: CallGraph) -> None:
    by_id = {c.id: c for c in graph.model.campaigns}
    succ = {cid: [e.target.id for e in edges] for cid, edges in graph.calls.items()}
    comp_of: dict[int, int] = {}
    looped: set[int] = set()
    for n, comp in enumerate(strongly_connected(list(by_id), succ)):
        for cid in comp:
            comp_of[cid] = n
        if len(comp) > 1 or comp[0] in succ.get(comp[0], ()):
            looped.add(n)
            graph.components.append(sorted((by_id[i] for i in comp), key=lambda c: c.id))
    for edges in graph.calls.values():
        for e in edges:
            n = comp_of[e.caller.id]
            if n in looped and comp_of[e.target.id] == n:
                graph.cyclic.add(id(e))


def find_cycle(graph: CallGraph, component: list[CampaignInfo]) -> list[CallEdge]:
    """One cycle through the first campaign of a component, as its edges
    (breadth first, so the shortest such cycle)."""
    members = {c.id for c in component}
    start = component[0]
    prev: dict[int, CallEdge | None] = {start.id: None}
    queue = deque([start])
    while queue:
        c = queue.popleft()
        for e in graph.executes(c):
            t = e.target
            if t.id not in members:
                continue
            if t is start:
                path = [e]
                node = c
                while prev[node.id] is not None:
                    path.append(prev[node.id])
                    node = prev[node.id].caller
                return list(reversed(path))
            if t.id not in prev:
                prev[t.id] = e
                queue.append(t)
    return []  # pragma: no cover - a component always holds a cycle


@define(eq=False)
class Reach:
    """How a campaign is reached: ``levels`` maps each level (0..MAX_DEPTH,
    and MAX_DEPTH + 1 for a campaign a too deep step reaches) to the edge
    that first reached it (None at a root)."""

    levels: dict[int, CallEdge | None] = field(factory=dict)


def reach(graph: CallGraph) -> tuple[dict[int, Reach], list[tuple[CallEdge, list[CallEdge]]]]:
    """Levels of every campaign, breadth first from the roots over acyclic
    valid execute edges, and each *too deep* step: an edge leaving a campaign
    at level MAX_DEPTH, with the chain of edges that led there (once per
    step). Linear: each (campaign, level) is visited once."""
    reached: dict[int, Reach] = {c.id: Reach() for c in graph.model.campaigns}
    queue: deque[tuple[CampaignInfo, int]] = deque()
    for c in graph.roots():
        reached[c.id].levels[0] = None
        queue.append((c, 0))
    too_deep: list[tuple[CallEdge, list[CallEdge]]] = []
    seen_steps: set[int] = set()
    while queue:
        c, level = queue.popleft()
        for e in graph.acyclic_calls(c):
            t = e.target
            if level + 1 > MAX_DEPTH:
                if id(e.step) not in seen_steps:
                    seen_steps.add(id(e.step))
                    too_deep.append((e, chain_to(reached, c, level)))
                # recorded for display (``campaign graph``), not followed further
                reached[t.id].levels.setdefault(level + 1, e)
                continue
            if level + 1 not in reached[t.id].levels:
                reached[t.id].levels[level + 1] = e
                queue.append((t, level + 1))
    return reached, too_deep


def chain_to(reached: dict[int, Reach], c: CampaignInfo, level: int) -> list[CallEdge]:
    """The edges from a root down to ``c`` reached at ``level``."""
    out: list[CallEdge] = []
    while level > 0:
        e = reached[c.id].levels[level]
        assert e is not None
        out.append(e)
        c, level = e.caller, level - 1
    return list(reversed(out))


# --------------------------------------------------------------------------
# Rendering (campaign graph)


def level_text(c: CampaignInfo, r: Reach, graph: CallGraph) -> str:
    """The levels a campaign runs at, in words (``campaign graph``'s labels,
    ``campaign diff``, the report): ``level 0``, ``levels 1, 2``, ``not
    executed``... An executable inside an execution cycle (CL206) says so:
    the level-0 ``reach`` gives it as a root of the measurement is no place a
    run can start from."""
    levels = sorted(r.levels)
    in_cycle = graph.in_cycle(c)
    if c.kind != "executable":
        return "level 0 · in a cycle" if in_cycle else "level 0"
    if not graph.executed_by(c):
        return "not executed"
    if in_cycle and not graph.acyclic_callers(c):
        levels = [n for n in levels if n > 0]   # measured from itself, not reached
    if not levels:
        return "in a cycle"
    word = "level" if len(levels) == 1 else "levels"
    text = f"{word} " + ", ".join(str(n) for n in levels)
    text = text + " (too deep)" if levels[-1] > MAX_DEPTH else text
    return f"in a cycle · {text}" if in_cycle else text


def level_texts(graph: CallGraph, reached: dict[int, Reach]) -> dict[int, str]:
    """Every campaign's depth label, as ``campaign graph`` prints it, by
    campaign id (``campaign diff`` and ``campaign report`` show the same)."""
    return {c.id: level_text(c, reached[c.id], graph) for c in graph.model.campaigns}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted strings; entity codes stand for the
    # characters that would end or break them.
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("\n", "<br/>"))


def render_graph(model: Model, fmt: str = "dot") -> str:
    """The execute (solid) and request (dashed) call graph, clustered by
    program, each campaign labelled with its kind and depth level. ``fmt``
    is ``"dot"`` (Graphviz) or ``"mermaid"`` (a Mermaid flowchart)."""
    if fmt not in ("dot", "mermaid"):
        raise ValueError(f"unknown graph format {fmt!r}")
    graph = build_call_graph(model)
    reached, _ = reach(graph)
    node_id = {c.id: f"c{c.id}" for c in model.campaigns}
    edges = []
    seen: set[tuple[int, int, str, bool]] = set()
    for e in graph.edges:
        if e.target is None:
            continue
        key = (e.caller.id, e.target.id, e.kind, e.parent_context)
        if key in seen:
            continue
        seen.add(key)
        edges.append(e)

    cyclic = {c.id for c in model.campaigns if graph.in_cycle(c)}   # campaigns of a cycle (CL206)

    def label(c: CampaignInfo) -> str:
        extra = " (inactive)" if c.kind == "trigger" and not c.active else ""
        return f"{c.name}\n{c.kind}{extra} · {level_text(c, reached[c.id], graph)}"

    def loops(e: CallEdge) -> bool:
        return id(e) in graph.cyclic

    def program_label(p: ProgramInfo) -> str:
        multi = len(model.workspaces) > 1
        return f"{p.workspace.name} / {p.name}" if multi else p.name

    lines: list[str] = []
    if fmt == "dot":
        lines.append("digraph campaigns {")
        lines.append("  rankdir=LR;")
        lines.append('  node [shape=box, style="rounded"];')
        for p in model.programs:
            if not p.campaigns:
                continue
            lines.append(f"  subgraph cluster_p{p.id} {{")
            lines.append(f"    label={_dot_quote(program_label(p))};")
            for c in p.campaigns.values():
                shape = ', style="rounded,dashed"' if c.kind == "executable" else ""
                shape += ", color=red, penwidth=2" if c.id in cyclic else ""
                lines.append(f"    {node_id[c.id]} [label={_dot_quote(label(c))}{shape}];")
            lines.append("  }")
        for e in edges:
            attrs = []
            words = []
            if e.kind == "request":
                attrs.append("style=dashed")
                words.append("request")
            elif e.parent_context:
                words.append("context")
            if not e.valid:
                attrs.append("color=red")
                words.append("invalid")
            elif loops(e):
                attrs += ["color=red", "penwidth=2"]
                words.append("cycle")
            if words:
                attrs.append(f"label={_dot_quote(', '.join(words))}")
            tail = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f"  {node_id[e.caller.id]} -> {node_id[e.target.id]}{tail};")
        lines.append("}")
    else:
        lines.append("flowchart LR")
        for p in model.programs:
            if not p.campaigns:
                continue
            lines.append(f'  subgraph p{p.id}["{_mermaid_text(program_label(p))}"]')
            for c in p.campaigns.values():
                text = _mermaid_text(label(c))
                lines.append(f'    {node_id[c.id]}["{text}"]')
            lines.append("  end")
        for e in edges:
            a, b = node_id[e.caller.id], node_id[e.target.id]
            words = ["request"] if e.kind == "request" else (["context"] if e.parent_context else [])
            if not e.valid:
                words.append("invalid")
            elif loops(e):
                words.append("cycle")
            arrow = "-.->" if e.kind == "request" else "-->"
            edge_label = f"|{', '.join(words)}|" if words else ""   # fixed words: nothing to escape
            lines.append(f"  {a} {arrow}{edge_label} {b}")
        if cyclic:
            lines.append("  classDef cycle stroke:#d00,stroke-width:2px")
            lines.append("  class " + ",".join(node_id[c.id] for c in model.campaigns if c.id in cyclic)
                         + " cycle")
    return "\n".join(lines) + "\n"
