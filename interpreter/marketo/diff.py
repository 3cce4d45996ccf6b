"""Two projects compared in the language's terms: what ``campaign drift``
reports (the instance against the code) and what a re-import says it changed
(the project before against the import after).

Owns the one comparison: both sides are parsed modules; each is flattened to
*facts* keyed by where they live (a workspace, folder, program or campaign,
named as the language names it) and compared:

* programs, folders and campaigns present on one side only;
* a campaign's kind and activation (``trigger`` / ``trigger inactive``), its
  description, qualification rule and schedule;
* its smart list: the logic, and the members line by line (paired in order:
  a member that differs at the same place is *changed*, others are on one
  side only);
* My Tokens of every workspace, folder and program, by name;
* a program's statuses, description, static lists, named smart lists, forms
  and emails (subject and from).

Flows are not compared (the REST API cannot read them), nor comments (what
the language cannot express is not in the AST). Lines are quoted as ``fmt``
writes them (``format.line_text``).

Imports ``ast`` and ``format``; never the checker or the engine.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Iterator, Sequence

from attrs import define

from .. import ast
from ..format import line_text, quote, value_text

DEFAULT_WORKSPACE = "Default"


@define
class Change:
    """One difference. ``left`` and ``right`` are the two sides' text (None:
    absent on that side); the caller names the sides (instance / code)."""

    where: str
    what: str
    left: str | None
    right: str | None

    def to_json(self, left: str, right: str) -> dict[str, Any]:
        return {"where": self.where, "what": self.what, left: self.left, right: self.right}


@define
class _Campaign:
    header: str
    lines: dict[str, str]          # description, qualify, schedule
    logic: str
    members: list[str]


@define
class _Facts:
    containers: dict[str, str]                 # where -> "program" / "folder" / "workspace"
    tokens: dict[tuple[str, str], tuple[str, str]]   # (where, key) -> (name, line)
    assets: dict[tuple[str, str], str]         # (where, kind + name) -> text
    campaigns: dict[str, _Campaign]


def _name(ws: str, *parts: str) -> str:
    names = ([ws] if ws != DEFAULT_WORKSPACE else []) + list(parts)
    return ".".join(quote(n) for n in names)


def _smart_list_text(sl: ast.SmartList) -> tuple[str, list[str]]:
    logic = {"all": "all", "any": "any"}.get(sl.logic, f"logic {quote(sl.expression or '')}")
    return logic, [line_text(m) for m in sl.members]


def facts(modules: Iterable[ast.Module]) -> _Facts:
    out = _Facts({}, {}, {}, {})

    def tokens(where: str, node: ast.Tokens) -> None:
        for d in node.tokens:
            out.tokens[(where, ast.name_key(d.name))] = (d.name.strip(), line_text(d))

    def walk(items: Sequence[ast.Node], ws: str, path: tuple[str, ...]) -> None:
        where = (f"{'workspace ' + quote(ws) if ws != DEFAULT_WORKSPACE else ''}"
                 + "".join(f" folder {quote(p)}" for p in path)).strip()
        for item in items:
            if isinstance(item, ast.Workspace):
                out.containers[f"workspace {quote(item.name)}"] = "workspace"
                walk(item.items, item.name, ())
            elif isinstance(item, ast.Folder):
                sub = path + (item.name,)
                key = (f"{'workspace ' + quote(ws) + ' ' if ws != DEFAULT_WORKSPACE else ''}"
                       + " ".join(f"folder {quote(p)}" for p in sub))
                out.containers[key] = "folder"
                walk(item.items, ws, sub)
            elif isinstance(item, ast.Tokens) and where:
                tokens(where, item)
            elif isinstance(item, ast.Program):
                program(item, ws, path)

    def program(p: ast.Program, ws: str, path: tuple[str, ...]) -> None:
        where = _name(ws, p.name)
        out.containers[where] = "program"
        for item in p.items:
            if isinstance(item, ast.Tokens):
                tokens(where, item)
            elif isinstance(item, (ast.Statuses, ast.Description)):
                out.assets[(where, type(item).__name__.lower())] = line_text(item)
            elif isinstance(item, ast.StaticList):
                out.assets[(where, f"list {quote(item.name)}")] = line_text(item)
            elif isinstance(item, ast.Form):
                out.assets[(where, f"form {quote(item.name)}")] = line_text(item)
            elif isinstance(item, ast.Email):
                parts = [f"{w} {value_text(v)}" for w, v in (("subject", item.subject), ("from", item.sender))
                         if v is not None]
                out.assets[(where, f"email {quote(item.name)}")] = "; ".join(parts) or "(empty)"
            elif isinstance(item, ast.SmartList) and item.name is not None:
                logic, members = _smart_list_text(item)
                out.assets[(where, f"smart list {quote(item.name)}")] = (
                    f"{logic}: " + "; ".join(members))
            elif isinstance(item, ast.Campaign):
                campaign(item, ws, p.name)
        # folder membership is where the program lives
        out.assets[(where, "folder")] = " / ".join(path) or "(top level)"

    def campaign(c: ast.Campaign, ws: str, pname: str) -> None:
        lines: dict[str, str] = {}
        logic, members = "all", list[str]()
        for item in c.items:
            if isinstance(item, ast.SmartList):
                logic, members = _smart_list_text(item)
            elif isinstance(item, (ast.Qualify, ast.Schedule, ast.Description)):
                lines[type(item).__name__.lower()] = line_text(item)
        lines.setdefault("qualify", "qualify once")
        header = c.kind + ("" if c.active else " inactive")
        out.campaigns[_name(ws, pname, c.name)] = _Campaign(header, lines, logic, members)

    for m in modules:
        walk(m.items, DEFAULT_WORKSPACE, ())
    return out


def _members(where: str, a: list[str], b: list[str]) -> Iterator[Change]:
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        left, right = a[i1:i2], b[j1:j2]
        for k in range(max(len(left), len(right))):
            x = left[k] if k < len(left) else None
            y = right[k] if k < len(right) else None
            word = (x or y or "").split(" ", 1)[0]    # filter / trigger
            yield Change(where, word, x, y)


def compare(left: Iterable[ast.Module], right: Iterable[ast.Module]) -> list[Change]:
    """Every difference between two projects, in a stable order."""
    a, b = facts(left), facts(right)
    out: list[Change] = []
    for key in sorted(set(a.containers) | set(b.containers)):
        if (key in a.containers) != (key in b.containers):
            kind = a.containers.get(key) or b.containers[key]
            out.append(Change(key, kind, kind if key in a.containers else None,
                              kind if key in b.containers else None))
    for key in sorted(set(a.campaigns) | set(b.campaigns)):
        x, y = a.campaigns.get(key), b.campaigns.get(key)
        if x is None or y is None:
            out.append(Change(key, "campaign", x.header if x else None, y.header if y else None))
            continue
        if x.header != y.header:
            if x.header.split()[0] == y.header.split()[0]:     # trigger / trigger inactive
                state = {True: "inactive", False: "active"}
                out.append(Change(key, "activation", state["inactive" in x.header],
                                  state["inactive" in y.header]))
            else:
                out.append(Change(key, "kind", x.header, y.header))
        for line in sorted(set(x.lines) | set(y.lines)):
            if x.lines.get(line) != y.lines.get(line):
                out.append(Change(key, line, x.lines.get(line), y.lines.get(line)))
        if x.logic != y.logic:
            out.append(Change(key, "smart list logic", x.logic, y.logic))
        out.extend(_members(key, x.members, y.members))
    for tkey in sorted(set(a.tokens) | set(b.tokens)):
        x_t, y_t = a.tokens.get(tkey), b.tokens.get(tkey)
        x_line, y_line = (x_t[1] if x_t else None), (y_t[1] if y_t else None)
        if x_line != y_line:
            tname = x_t[0] if x_t else y_t[0] if y_t else tkey[1]
            out.append(Change(tkey[0], f"token my.{tname}", x_line, y_line))
    for akey in sorted(set(a.assets) | set(b.assets)):
        if a.assets.get(akey) != b.assets.get(akey):
            out.append(Change(akey[0], akey[1], a.assets.get(akey), b.assets.get(akey)))
    return out


def describe(c: Change, left: str, right: str) -> str:
    """One line: ``"Webinar"."Invite": filter changed: instance has `...`, code has `...```."""
    if c.left is not None and c.right is not None:
        return f"{c.where}: {c.what} changed: {left} has `{c.left}`, {right} has `{c.right}`"
    if c.left is not None:
        return f"{c.where}: {c.what} only in {left}: `{c.left}`"
    return f"{c.where}: {c.what} only in {right}: `{c.right}`"
