"""``campaign diff OLD NEW``: what changed between two versions of a program,
in the language's terms, and, over the same people, whose outcome changed.

Owns the comparison and its three renderings (text, JSON, Markdown) and the
reading of a version from git (``REV:PATH``). It compares checked models,
never source text, so a reformatted file (``campaign fmt``) shows no change;
nodes compare as the AST compares them (spans left out, names of fields and
tokens case-insensitively), and each change is shown with the source text
of the node it names, whitespace folded to one line.

What it names (docs/review.md, "campaign diff"):

* fields declared, added, removed or retyped;
* My Tokens added, removed or given another value, per scope (workspace,
  folder, program);
* programs, campaigns and assets (lists, smart lists, forms, emails,
  webhooks) added and removed; an email's subject, from and body, a
  webhook's URL, method, payload and response mappings, a program's
  description, statuses and member fields changed;
* for a campaign present in both: its kind, whether it is active, its
  description, schedule and clone source, its qualification rule; in its
  (effective) smart list the logic, each trigger added or removed and each
  filter added, removed or changed; in its flow each step added, removed,
  changed or moved (a step that only moved, and nothing else did between
  the two positions, is "moved from step 3 to 1"); and what the call graph
  derives: its execution levels (depth) and who executes or requests it;
* diagnostics the checker reports in one version and not the other.

Items match by name (campaigns by ``"Program"."Campaign"``, with the
workspace outside Default); steps and filters match by position, with
``difflib.SequenceMatcher`` over the nodes. A removed step equal to an added
one is a move. A replaced filter or step with the same subject (the same
field, the same step kind) is "changed", shown old and new.

With people (``--people FILE``), both versions run over the same people, in
memory, with the real engine (`simulate`): for every campaign in both
versions, who passes its smart list's filters (qualification as a trigger
campaign judges it at an event, or as a batch at run time); then the review
scenario of ``scenario.py`` runs (every batch campaign once, in declaration
order; the events of ``--events FILE``; the clock advanced by ``--until``). The outcome of a person
is the set of campaigns whose filters they pass and their activity log
(without ids and run numbers, which number differently when runs differ).

Exit codes (the CLI): 0 when nothing changed, 1 when something did, 2 when
the diff could not be made, as diff(1).

Imports ``ast``, ``check``, ``loader``, ``graph``, ``model``, ``errors``,
``source``; the engine, the store, ``datafiles`` and ``scenario`` only
inside `simulate`. Runs ``git`` (never a shell) only in `read_version`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher, ndiff
from pathlib import Path
from typing import Any

from attrs import define, field

from . import ast
from .check import CheckResult, check
from .errors import LoadError
from .graph import build_call_graph, level_text, reach
from .loader import Loaded, Loader, load_paths
from .model import CampaignInfo, Model, ProgramInfo
from .source import SourceFile

__all__ = [
    "Change",
    "DiffError",
    "DiffResult",
    "PeopleDiff",
    "Version",
    "diff_versions",
    "read_version",
    "render_markdown",
    "render_text",
    "simulate",
    "to_json",
]


class DiffError(LoadError):
    """A version could not be read or compared (the CLI exits 2)."""


# --------------------------------------------------------------------------
# Reading a version: a file, or REV:PATH from git


@define
class Version:
    """One side of the diff: its label (as given), and its check result."""

    label: str
    result: CheckResult

    @property
    def model(self) -> Model:
        return self.result.model

    @property
    def sources(self) -> dict[str, SourceFile]:
        return self.result.sources


def _git(args: Sequence[str], cwd: Path, binary: bool = False) -> Any:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        raise DiffError("git is not installed (needed to read REV:PATH)") from None
    except subprocess.TimeoutExpired:
        raise DiffError(f"git {args[0]} took too long") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffError(message[-1] if message else f"git {args[0]} failed")
    return done.stdout if binary else done.stdout.decode("utf-8", "replace").strip()


class _RevisionLoader(Loader):
    """Loads files of a revision extracted under ``root``, naming each
    ``REV:path`` (its path in the repository) in messages."""

    def __init__(self, root: Path, rev: str):
        super().__init__(root)
        self.rev = rev

    def load_file(self, path: Path, display: str | None = None) -> None:
        assert self.root is not None
        try:
            rel = path.resolve().relative_to(self.root)
            display = f"{self.rev}:{rel.as_posix()}"
        except ValueError:
            pass
        super().load_file(path, display)


def _extract(archive: bytes, into: Path) -> None:
    """Unpack the regular files of a tar from ``git archive``: nothing but
    files and folders, nothing outside ``into`` (a repository may hold
    symbolic links; they are skipped, as the loader would refuse to leave
    the root through one anyway)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts or not member.isfile():
                continue
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is not None:
                target.write_bytes(source.read())


def _is_revision_arg(text: str) -> bool:
    return ":" in text and not Path(text).exists()


def read_version(text: str, cwd: Path | None = None) -> Version:
    """A version from a path, or from ``REV:PATH`` (PATH relative to the
    current folder, as a shell user names it; it must lie inside the
    repository that holds the current folder). The revision's
    ``.campaign`` files are read with ``git archive`` (no shell) into a
    temporary folder, so its imports are those of the same revision."""
    here = (cwd or Path.cwd()).resolve()
    if not _is_revision_arg(text):
        try:
            loaded = load_paths([text])
        except LoadError as exc:
            raise DiffError(str(exc)) from None
        return _version(text, loaded)
    rev, _, path = text.partition(":")
    if not rev or not path:
        raise DiffError(f"{text!r}: write REV:PATH, e.g. HEAD~1:examples/lead_lifecycle.campaign")
    if rev.startswith("-") or any(c in rev for c in "\0\n\r") or "\0" in path:
        raise DiffError(f"{text!r}: not a revision")
    top = Path(_git(["rev-parse", "--show-toplevel"], here)).resolve()
    commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}"], here)
    target = Path(os.path.normpath(here / path))
    if not target.is_relative_to(top):
        raise DiffError(f"{text!r}: {path} is outside the repository {top}")
    rel = target.relative_to(top).as_posix()
    if not rel.endswith(".campaign"):
        raise DiffError(f"{text!r}: {path} is not a .campaign file")
    archive = _git(["archive", "--format=tar", commit, "--", ":(glob)**/*.campaign"], top, binary=True)
    with tempfile.TemporaryDirectory(prefix="campaign-diff-") as tmp:
        root = Path(tmp).resolve()
        _extract(archive, root)
        file = root / rel
        if not file.is_file():
            raise DiffError(f"{text!r}: there is no {rel} at {rev}")
        loader = _RevisionLoader(root, rev)
        loader.load_file(file)
        diags = sorted(set(loader.diags), key=lambda d: d.sort_key())
        loaded = Loaded(tuple(loader.results), tuple(diags), root)
        return _version(text, loaded)


def _version(label: str, loaded: Loaded) -> Version:
    if not loaded.ok:
        first = next(d for d in loaded.diagnostics if d.is_error)
        raise DiffError(f"{label} has syntax or import errors ({first.span.file}:{first.span.line}: "
                        f"{first.message}); see campaign check")
    return Version(label, check(loaded))


# --------------------------------------------------------------------------
# Changes


@define
class Change:
    """One difference, said in the language's words."""

    subject: str                 # 'campaign "Ops Routing"."Route"', 'program "Nurture"', 'fields'
    aspect: str                  # 'filter', 'step', 'token my.Score', 'kind', 'depth', 'caller' ...
    action: str                  # added | removed | changed | moved
    old: str | None = None
    new: str | None = None
    old_line: int | None = None
    new_line: int | None = None
    detail: str | None = None    # 'step 3 -> 1'

    def sentence(self) -> str:
        """``filter added: lead.Country is not "BR"``."""
        head = f"{self.aspect} {self.action}"
        if self.detail:
            head += f" ({self.detail})"
        if self.action == "changed" and self.old is not None and self.new is not None:
            return f"{head}: {self.old} -> {self.new}"
        value = self.new if self.new is not None else self.old
        return f"{head}: {value}" if value is not None else head

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "aspect": self.aspect, "action": self.action,
                "old": self.old, "new": self.new, "old_line": self.old_line, "new_line": self.new_line,
                "detail": self.detail, "text": self.sentence()}


class _Differ:
    """Walks two models side by side, collecting `Change`s."""

    def __init__(self, old: Version, new: Version):
        self.old, self.new = old, new
        self.changes: list[Change] = []

    # -- text of a node -----------------------------------------------------------

    @staticmethod
    def _text(node: ast.Node | None, sources: dict[str, SourceFile]) -> str:
        if node is None:
            return "(none)"
        span = node.span
        src = sources.get(span.file) if span is not None else None
        if span is None or src is None:
            return type(node).__name__
        return " ".join(src.text[span.start:span.end].split())

    def told(self, node: ast.Node | None) -> str:
        return self._text(node, self.old.sources)

    def tnew(self, node: ast.Node | None) -> str:
        return self._text(node, self.new.sources)

    @staticmethod
    def _line(node: ast.Node | None) -> int | None:
        return node.span.line if node is not None and node.span is not None else None

    def add(self, subject: str, aspect: str, action: str, old: ast.Node | str | None = None,
            new: ast.Node | str | None = None, detail: str | None = None,
            old_node: ast.Node | None = None, new_node: ast.Node | None = None) -> None:
        o = self.told(old) if isinstance(old, ast.Node) else old
        n = self.tnew(new) if isinstance(new, ast.Node) else new
        old_node = old_node or (old if isinstance(old, ast.Node) else None)
        new_node = new_node or (new if isinstance(new, ast.Node) else None)
        self.changes.append(Change(subject, aspect, action, o, n, self._line(old_node),
                                   self._line(new_node), detail))

    # -- the walk -------------------------------------------------------------------

    def run(self) -> list[Change]:
        self.fields()
        self.tokens()
        old_programs = {_program_key(p): p for p in self.old.model.programs}
        new_programs = {_program_key(p): p for p in self.new.model.programs}
        for key in _union(old_programs, new_programs):
            po, pn = old_programs.get(key), new_programs.get(key)
            if po is None:
                assert pn is not None
                self.add(f"program {key}", "program", "added", new_node=pn.node, new=key)
            elif pn is None:
                self.add(f"program {key}", "program", "removed", old_node=po.node, old=key)
            else:
                self.program(key, po, pn)
        self.campaigns()
        self.graph()
        self.diagnostics()
        return self.changes

    def fields(self) -> None:
        old = {k: d for k, d in self.old.model.field_decls.items()}
        new = {k: d for k, d in self.new.model.field_decls.items()}
        for k in _union(old, new):
            o, n = old.get(k), new.get(k)
            if o is None:
                self.add("fields", "field", "added", new=n)
            elif n is None:
                self.add("fields", "field", "removed", old=o)
            elif o.type != n.type:
                self.add("fields", f"field lead.{n.name}", "changed", old=o.type, new=n.type,
                         old_node=o, new_node=n)

    def tokens(self) -> None:
        def scopes(model: Model) -> dict[str, dict[str, Any]]:
            out: dict[str, dict[str, Any]] = {}
            for p in model.programs:
                for layer in p.layers():
                    out.setdefault(layer.label, dict(layer.bindings))
            for ws in model.workspaces.values():
                layer = ws.layer()
                out.setdefault(layer.label, dict(layer.bindings))
            return out

        old, new = scopes(self.old.model), scopes(self.new.model)
        for label in _union(old, new):
            bo, bn = old.get(label, {}), new.get(label, {})
            for k in _union(bo, bn):
                o, n = bo.get(k), bn.get(k)
                either = n if n is not None else o
                assert either is not None
                name = f"token my.{either.name}"
                if o is None:
                    self.add(label, name, "added", new=either.value, new_node=either.node)
                elif n is None:
                    self.add(label, name, "removed", old=o.value, old_node=o.node)
                elif o.value != n.value:
                    self.add(label, name, "changed", old=o.value, new=n.value, old_node=o.node, new_node=n.node)

    def program(self, key: str, po: ProgramInfo, pn: ProgramInfo) -> None:
        subject = f"program {key}"
        if po.description != pn.description:
            self.add(subject, "description", "changed", old=repr_text(po.description), new=repr_text(pn.description))
        if po.statuses != pn.statuses:
            self.add(subject, "statuses", "changed", old=", ".join(po.statuses) or "(none)",
                     new=", ".join(pn.statuses) or "(none)")
        if po.member_fields != pn.member_fields:
            self.add(subject, "member fields", "changed", old=", ".join(po.member_fields) or "(none)",
                     new=", ".join(pn.member_fields) or "(none)")
        for kind, attr in (("list", "lists"), ("smart list", "smart_lists"), ("form", "forms"),
                           ("email", "emails"), ("webhook", "webhooks")):
            old, new = getattr(po, attr), getattr(pn, attr)
            for name in _union(old, new):
                o, n = old.get(name), new.get(name)
                what = f'{kind} "{name}"'
                if o is None:
                    self.add(subject, kind, "added", new=f'"{name}"', new_node=n)
                elif n is None:
                    self.add(subject, kind, "removed", old=f'"{name}"', old_node=o)
                elif o != n:
                    if kind == "smart list":
                        self.smart_list(f"{subject}, {what}", o, n)
                    elif kind == "email":
                        for part in ("subject", "sender", "body"):
                            a, b = getattr(o, part), getattr(n, part)
                            if a != b:
                                self.add(f"{subject}, {what}", "from" if part == "sender" else part, "changed",
                                         old=a, new=b, old_node=a or o, new_node=b or n)
                    elif kind == "webhook":
                        for part in ("url", "method", "payload"):
                            a, b = getattr(o, part), getattr(n, part)
                            if a != b:
                                self.add(f"{subject}, {what}", part, "changed",
                                         old=a if isinstance(a, ast.Node) or a is None else str(a),
                                         new=b if isinstance(b, ast.Node) or b is None else str(b),
                                         old_node=o, new_node=n)
                        self.sequence(f"{subject}, {what}", "response", o.responses, n.responses)
                    else:
                        self.add(subject, kind, "changed", old=o, new=n)

    def campaigns(self) -> None:
        old = {c.qualname: c for c in self.old.model.campaigns}
        new = {c.qualname: c for c in self.new.model.campaigns}
        old_programs = {_program_key(p) for p in self.old.model.programs}
        new_programs = {_program_key(p) for p in self.new.model.programs}
        for q in _union(old, new):
            o, n = old.get(q), new.get(q)
            subject = f"campaign {q}"
            if o is None:
                assert n is not None
                if _program_key(n.program) in old_programs:   # a new program's campaigns come with it
                    self.add(subject, "campaign", "added", new=f"{q} {n.kind}", new_node=n.node)
                continue
            if n is None:
                if _program_key(o.program) in new_programs:
                    self.add(subject, "campaign", "removed", old=f"{q} {o.kind}", old_node=o.node)
                continue
            self.campaign(subject, o, n)

    def campaign(self, subject: str, o: CampaignInfo, n: CampaignInfo) -> None:
        if o.kind != n.kind:
            self.add(subject, "kind", "changed", old=o.kind, new=n.kind, old_node=o.node, new_node=n.node)
        if o.active != n.active:
            self.add(subject, "active", "changed", old=_yes(o.active), new=_yes(n.active),
                     old_node=o.node, new_node=n.node)
        if o.description != n.description:
            self.add(subject, "description", "changed", old=repr_text(o.description),
                     new=repr_text(n.description), old_node=o.node, new_node=n.node)
        so, sn = o.node._first(ast.Schedule), n.node._first(ast.Schedule)
        if so != sn:
            self.add(subject, "schedule", "changed", old=so, new=sn, old_node=so or o.node, new_node=sn or n.node)
        co = o.clone_of.qualname if o.clone_of else None
        cn = n.clone_of.qualname if n.clone_of else None
        if co != cn:
            self.add(subject, "clone of", "changed", old=co or "(none)", new=cn or "(none)",
                     old_node=o.node, new_node=n.node)
        if o.smart_list != n.smart_list:
            self.smart_list(subject, o.smart_list, n.smart_list)
        self.sequence(subject, "step", o.steps, n.steps)
        ro, rn = _rule_text(o.rule), _rule_text(n.rule)
        if ro != rn:
            self.add(subject, "qualification rule", "changed", old=ro, new=rn,
                     old_node=o.qualify or o.node, new_node=n.qualify or n.node)

    def smart_list(self, subject: str, o: ast.SmartList | None, n: ast.SmartList | None) -> None:
        lo, ln = _logic_text(o), _logic_text(n)
        if lo != ln:
            self.add(subject, "smart list logic", "changed", old=lo, new=ln, old_node=o, new_node=n)
        to = [m for m in (o.triggers if o else ())]
        tn = [m for m in (n.triggers if n else ())]
        for t in to:
            if t not in tn:
                self.add(subject, "trigger", "removed", old=t)
        for t in tn:
            if t not in to:
                self.add(subject, "trigger", "added", new=t)
        self.sequence(subject, "filter", o.filters if o else (), n.filters if n else ())

    def sequence(self, subject: str, aspect: str, old: Sequence[ast.Node], new: Sequence[ast.Node]) -> None:
        """Steps, filters or response mappings: added, removed, changed
        (same subject), moved (equal node removed here, added there)."""
        removed: list[tuple[int, ast.Node]] = []
        added: list[tuple[int, ast.Node]] = []
        changed: list[tuple[int, ast.Node, int, ast.Node]] = []
        matcher = SequenceMatcher(a=list(old), b=list(new), autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            olds = list(range(i1, i2))
            news = list(range(j1, j2))
            if tag == "replace":
                # pair nodes of the same subject, position by position
                while olds and news and _same_subject(old[olds[0]], new[news[0]]):
                    changed.append((olds[0], old[olds[0]], news[0], new[news[0]]))
                    olds.pop(0)
                    news.pop(0)
            removed += [(i, old[i]) for i in olds]
            added += [(j, new[j]) for j in news]
        for i, node in list(removed):
            match = next(((j, m) for j, m in added if m == node), None)
            if match is not None:
                removed.remove((i, node))
                added.remove(match)
                self.add(subject, aspect, "moved", old=node, new=match[1],
                         detail=f"{aspect} {i + 1} -> {match[0] + 1}")
        for i, node in removed:
            self.add(subject, aspect, "removed", old=node, detail=f"was {aspect} {i + 1}")
        for j, node in added:
            self.add(subject, aspect, "added", new=node, detail=f"{aspect} {j + 1}")
        for i, a, j, b in changed:
            self.add(subject, aspect, "changed", old=a, new=b,
                     detail=f"{aspect} {j + 1}" if i == j else f"{aspect} {i + 1} -> {j + 1}")

    def graph(self) -> None:
        """Depth and callers, as the call graph derives them."""
        old, new = _graph_facts(self.old.model), _graph_facts(self.new.model)
        for q in _union(old, new):
            if q not in old or q not in new:
                continue
            (lo, co), (ln, cn) = old[q], new[q]
            subject = f"campaign {q}"
            if lo != ln:
                self.add(subject, "depth", "changed", old=lo, new=ln)
            for caller in sorted(co - cn):
                self.add(subject, "caller", "removed", old=caller)
            for caller in sorted(cn - co):
                self.add(subject, "caller", "added", new=caller)

    def diagnostics(self) -> None:
        def keyed(v: Version) -> dict[tuple[str, str], Any]:
            return {(d.code, d.message): d for d in v.result.diagnostics}
        old, new = keyed(self.old), keyed(self.new)
        for k in _union(old, new):
            if k in old and k not in new:
                self.add("checker", f"{old[k].severity} {k[0]}", "removed", old=k[1])
                self.changes[-1].old_line = old[k].span.line
            elif k in new and k not in old:
                self.add("checker", f"{new[k].severity} {k[0]}", "added", new=k[1])
                self.changes[-1].new_line = new[k].span.line


def _union(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    """Keys of both, in the order of ``a`` then the new ones of ``b``."""
    seen = dict.fromkeys(a)
    for k in b:
        seen.setdefault(k, None)
    return list(seen)


def _program_key(p: ProgramInfo) -> str:
    return p.quoted


def _yes(v: bool) -> str:
    return "active" if v else "inactive"


def repr_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False) if text else "(none)"


def _rule_text(rule: ast.Qualify) -> str:
    return "qualify " + rule.rule + (f" {rule.period.text}" if rule.period is not None else "")


def _logic_text(sl: ast.SmartList | None) -> str:
    if sl is None:
        return "all"
    return f'logic "{sl.expression}"' if sl.logic == "advanced" else sl.logic


def _subject_of(node: ast.Node) -> tuple[Any, ...]:
    """What a filter or step is about: its class and its field or target,
    so that ``lead.Country is "US"`` -> ``lead.Country is "US", "CA"`` is a
    change, not a removal and an addition."""
    key: list[Any] = [type(node).__name__]
    for name in ("field", "kind", "list", "email", "program", "campaign", "webhook", "path", "smart_list"):
        value = getattr(node, name, None)
        if value is not None and not isinstance(value, (tuple, list)):
            key.append(ast.name_key(value.name) if isinstance(value, ast.FieldRef) else value)
            break
    return tuple(key)


def _same_subject(a: ast.Node, b: ast.Node) -> bool:
    return _subject_of(a) == _subject_of(b)


def _graph_facts(model: Model) -> dict[str, tuple[str, set[str]]]:
    graph = build_call_graph(model)
    reached, _ = reach(graph)
    callers: dict[int, set[str]] = {}
    for e in graph.edges:
        if e.target is not None:
            callers.setdefault(e.target.id, set()).add(f"{e.caller.qualname} ({e.kind})")
    return {c.qualname: (level_text(c, reached[c.id], graph), callers.get(c.id, set()))
            for c in model.campaigns}


# --------------------------------------------------------------------------
# People: both versions over the same people


@define
class Outcome:
    """One version's outcome over the people: who passes each campaign's
    filters, and each person's activities as lines."""

    qualifies: dict[str, set[str]] = field(factory=dict)      # campaign -> emails
    activities: dict[str, list[str]] = field(factory=dict)    # email -> lines
    runs: int = 0
    errors: int = 0
    people: int = 0


@define
class PeopleDiff:
    people_file: str
    events_file: str | None
    until: str | None
    people: int
    qualification: list[dict[str, Any]] = field(factory=list)   # campaign, now, no_longer
    activities: list[dict[str, Any]] = field(factory=list)      # person, old_count, new_count, removed, added
    runs: tuple[int, int] = (0, 0)
    errors: tuple[int, int] = (0, 0)

    @property
    def changed_people(self) -> list[str]:
        who: set[str] = set()
        for q in self.qualification:
            who.update(q["now_qualify"], q["no_longer_qualify"])
        who.update(a["person"] for a in self.activities)
        return sorted(who)

    def to_json(self) -> dict[str, Any]:
        return {"people_file": self.people_file, "events_file": self.events_file, "until": self.until,
                "people": self.people, "changed_people": self.changed_people,
                "runs": {"old": self.runs[0], "new": self.runs[1]},
                "errors": {"old": self.errors[0], "new": self.errors[1]},
                "qualification": self.qualification, "activities": self.activities}


def _activity_line(a: Any) -> str:
    attrs = json.dumps(a.attributes, sort_keys=True, ensure_ascii=False, default=str)
    change = f" {json.dumps(a.old, default=str)} -> {json.dumps(a.new, default=str)}" \
        if a.old is not None or a.new is not None else ""
    return f"{a.at} {a.type}{change} [{a.campaign or '-'}] {attrs}"


def simulate(version: Version, people_file: str, events_file: str | None = None,
             until: str | None = None) -> Outcome:
    """Run one version over the people (in memory; see the module docstring)."""
    from .datafiles import import_people
    from .engine import Engine
    from .errors import CampaignError
    from .scenario import play
    from .store import Store

    program = version.result.program
    if program is None:
        raise DiffError(f"{version.label} has errors; --people runs only a program without errors "
                        "(see campaign check)")
    engine = Engine(program, Store(":memory:"))
    outcome = Outcome()
    try:
        try:
            import_people(engine, people_file)
        except CampaignError as exc:
            raise DiffError(f"{version.label}: {exc}") from None
        people = engine.people()
        outcome.people = len(people)
        for c in version.model.campaigns:
            outcome.qualifies[c.qualname] = {p.email for p in people
                                             if engine.evaluator.matches(c.smart_list, p, c.program)}
        played = play(engine, events_file, until)
        outcome.runs, outcome.errors = played.runs, played.errors
        for a in engine.store.activities():
            outcome.activities.setdefault(a.email or "-", []).append(_activity_line(a))
    except DiffError:
        raise
    except CampaignError as exc:
        raise DiffError(f"{version.label}: {exc}") from None
    finally:
        engine.store.close()
    return outcome


def compare_people(old: Version, new: Version, people_file: str, events_file: str | None = None,
                   until: str | None = None) -> PeopleDiff:
    a = simulate(old, people_file, events_file, until)
    b = simulate(new, people_file, events_file, until)
    out = PeopleDiff(people_file, events_file, until, max(a.people, b.people), runs=(a.runs, b.runs),
                     errors=(a.errors, b.errors))
    for campaign in _union(a.qualifies, b.qualifies):
        if campaign not in a.qualifies or campaign not in b.qualifies:
            continue     # added or removed: the structural diff says so
        now = sorted(b.qualifies[campaign] - a.qualifies[campaign])
        gone = sorted(a.qualifies[campaign] - b.qualifies[campaign])
        if now or gone:
            out.qualification.append({"campaign": campaign, "now_qualify": now, "no_longer_qualify": gone})
    for email in sorted(set(a.activities) | set(b.activities)):
        la, lb = a.activities.get(email, []), b.activities.get(email, [])
        if la == lb:
            continue
        delta = list(ndiff(la, lb))
        out.activities.append({
            "person": email, "old_count": len(la), "new_count": len(lb),
            "removed": [line[2:] for line in delta if line.startswith("- ")],
            "added": [line[2:] for line in delta if line.startswith("+ ")],
        })
    return out


# --------------------------------------------------------------------------
# The result and its renderings


@define
class DiffResult:
    old: str
    new: str
    changes: list[Change]
    people: PeopleDiff | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes) or bool(self.people and self.people.changed_people)


def diff_versions(old: Version, new: Version, people_file: str | None = None,
                  events_file: str | None = None, until: str | None = None) -> DiffResult:
    """Compare two versions; with ``people_file``, run both over those people."""
    changes = _Differ(old, new).run()
    people = compare_people(old, new, people_file, events_file, until) if people_file else None
    return DiffResult(old.label, new.label, changes, people)


def to_json(result: DiffResult) -> dict[str, Any]:
    """The object of ``campaign diff --format json`` (schema ``diff``)."""
    counts: dict[str, int] = {}
    for c in result.changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    return {"format_version": 1, "old": result.old, "new": result.new, "changed": result.changed,
            "change_count": len(result.changes), "counts": dict(sorted(counts.items())),
            "changes": [c.to_json() for c in result.changes],
            "people": result.people.to_json() if result.people else None}


def _grouped(changes: list[Change]) -> list[tuple[str, list[Change]]]:
    groups: dict[str, list[Change]] = {}
    for c in changes:
        groups.setdefault(c.subject, []).append(c)
    return list(groups.items())


def _where(c: Change) -> str:
    if c.old_line and c.new_line:
        return f"  (line {c.old_line} -> {c.new_line})" if c.old_line != c.new_line else f"  (line {c.new_line})"
    if c.new_line:
        return f"  (line {c.new_line})"
    if c.old_line:
        return f"  (was line {c.old_line})"
    return ""


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def render_text(result: DiffResult) -> str:
    lines = [f"--- {result.old}", f"+++ {result.new}"]
    if not result.changes:
        lines.append("no change in the program")
    for subject, items in _grouped(result.changes):
        lines.append(f"{subject}:")
        for c in items:
            lines.append(f"  {c.sentence()}{_where(c)}")
    p = result.people
    if p is not None:
        lines.append("")
        lines += _people_text(p)
    lines.append("")
    summary = _plural(len(result.changes), "change")
    if p is not None:
        summary += f"; {_plural(len(p.changed_people), 'person', 'people')} of {p.people} whose outcome changed"
    lines.append(summary)
    return "\n".join(lines)


def _people_text(p: PeopleDiff) -> list[str]:
    source = p.people_file + (f" with the events of {p.events_file}" if p.events_file else "") + \
        (f", then {p.until}" if p.until else "")
    lines = [f"people ({source}): runs {p.runs[0]} -> {p.runs[1]}, errors {p.errors[0]} -> {p.errors[1]}"]
    if not p.qualification and not p.activities:
        lines.append("  no person's outcome changed")
    for q in p.qualification:
        lines.append(f"  {q['campaign']}:")
        if q["now_qualify"]:
            lines.append(f"    now qualify ({len(q['now_qualify'])}): {', '.join(q['now_qualify'])}")
        if q["no_longer_qualify"]:
            lines.append(f"    no longer qualify ({len(q['no_longer_qualify'])}): "
                         f"{', '.join(q['no_longer_qualify'])}")
    if p.activities:
        lines.append(f"  activities differ for {_plural(len(p.activities), 'person', 'people')}:")
        for a in p.activities:
            lines.append(f"    {a['person']}: {a['old_count']} -> {a['new_count']} activities")
            lines += [f"      - {x}" for x in a["removed"]]
            lines += [f"      + {x}" for x in a["added"]]
    return lines


def _code(text: str, cell: bool = False) -> str:
    """A Markdown code span that holds ``text`` whatever backticks it has
    (``cell``: pipes escaped, for a table cell)."""
    if cell:
        text = text.replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(result: DiffResult) -> str:
    """For a pull request: a heading per subject, a bullet per change, then
    the people tables."""
    n = len(result.changes)
    lines = [f"## campaign diff: {_code(result.old)} → {_code(result.new)}", ""]
    summary = _plural(n, "change")
    if result.people is not None:
        summary += (f"; **{_plural(len(result.people.changed_people), 'person', 'people')}** of "
                    f"{result.people.people} whose outcome changed")
    lines += [summary, ""]
    for subject, items in _grouped(result.changes):
        lines.append(f"### {subject}")
        lines.append("")
        for c in items:
            head = f"**{c.aspect} {c.action}**" + (f" ({c.detail})" if c.detail else "")
            if c.action == "changed" and c.old is not None and c.new is not None:
                body = f"{_code(c.old)} → {_code(c.new)}"
            else:
                value = c.new if c.new is not None else c.old
                body = _code(value) if value is not None else ""
            where = f" — line {c.new_line}" if c.new_line else (f" — was line {c.old_line}" if c.old_line else "")
            lines.append(f"- {head}: {body}{where}")
        lines.append("")
    p = result.people
    if p is not None:
        lines.append("### People")
        lines.append("")
        lines.append(f"{p.people} people from {_code(p.people_file)}"
                     + (f", events from {_code(p.events_file)}" if p.events_file else "")
                     + (f", then {p.until}" if p.until else "")
                     + f"; runs {p.runs[0]} → {p.runs[1]}, errors {p.errors[0]} → {p.errors[1]}.")
        lines.append("")
        if p.qualification:
            lines += ["| campaign | now qualify | no longer qualify |", "| --- | --- | --- |"]
            for q in p.qualification:
                lines.append(f"| {_code(q['campaign'], cell=True)} | {', '.join(q['now_qualify']) or '—'} | "
                             f"{', '.join(q['no_longer_qualify']) or '—'} |")
            lines.append("")
        if p.activities:
            lines += ["| person | activities before | after | removed | added |", "| --- | ---: | ---: | ---: | ---: |"]
            for a in p.activities:
                lines.append(f"| {a['person']} | {a['old_count']} | {a['new_count']} | {len(a['removed'])} | "
                             f"{len(a['added'])} |")
            lines.append("")
            lines.append("<details><summary>activities that differ</summary>")
            lines.append("")
            lines.append("```diff")
            for a in p.activities:
                lines.append(f"@@ {a['person']} @@")
                lines += [f"- {x}" for x in a["removed"]]
                lines += [f"+ {x}" for x in a["added"]]
            lines.append("```")
            lines.append("")
            lines.append("</details>")
            lines.append("")
        if not p.qualification and not p.activities:
            lines += ["No person's outcome changed.", ""]
    return "\n".join(lines).rstrip() + "\n"

