"""The program model: workspaces, folders, programs, assets and campaigns of
every loaded module, as symbol tables with stable ids.

``build_model(modules)`` never fails on a user's mistake: the first of two
duplicates wins and the second is recorded in ``Model.duplicates`` for the
checker (CL102); a reference that does not resolve comes back as a
``Resolution`` saying why (unknown, ambiguous), for the checker to report and
the evaluator to rely on once checked.

Name resolution (LANGUAGE.md §2, docs/language.md "Names"): ``"P"."N"`` looks
for program P in the referring workspace, then for a unique program P in any
workspace (so the checker can report a cross-workspace call, CL207); a bare
``"N"`` is the current program's, else the unique N among the programs of the
same workspace; two or more is ambiguous (CL103), never a guess. Names of
things match exactly; field and token names case-insensitively.

Imports ``ast``, ``environment``, ``stdlib.types``.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Iterator

from attrs import define, field, frozen

from . import ast
from .environment import Binding, Environment, Layer
from .stdlib.types import FIELD_ALIASES, STANDARD_FIELDS

DEFAULT_WORKSPACE = "Default"

#: asset kind -> (Program item class, attribute of ProgramInfo)
ASSET_KINDS: dict[str, tuple[type, str]] = {
    "campaign": (ast.Campaign, "campaigns"),
    "list": (ast.StaticList, "lists"),
    "smart list": (ast.SmartList, "smart_lists"),
    "form": (ast.Form, "forms"),
    "email": (ast.Email, "emails"),
    "webhook": (ast.Webhook, "webhooks"),
}


@define(eq=False)
class WorkspaceInfo:
    name: str
    tokens: list[ast.TokenDecl] = field(factory=list)
    programs: dict[str, "ProgramInfo"] = field(factory=dict)
    nodes: list[ast.Node] = field(factory=list)

    def layer(self) -> Layer:
        return _token_layer("workspace", f'workspace "{self.name}"', self.tokens)


@define(eq=False)
class FolderInfo:
    name: str
    node: ast.Folder
    parent: "FolderInfo | None"
    workspace: WorkspaceInfo

    def layer(self) -> Layer:
        return _token_layer("folder", f'folder "{self.name}"',
                            [t for item in self.node.items if isinstance(item, ast.Tokens) for t in item.tokens])


@define(eq=False)
class ProgramInfo:
    id: int
    name: str
    node: ast.Program
    workspace: WorkspaceInfo
    folders: tuple[FolderInfo, ...]   # outermost first
    campaigns: dict[str, "CampaignInfo"] = field(factory=dict)
    lists: dict[str, ast.StaticList] = field(factory=dict)
    smart_lists: dict[str, ast.SmartList] = field(factory=dict)
    forms: dict[str, ast.Form] = field(factory=dict)
    emails: dict[str, ast.Email] = field(factory=dict)
    webhooks: dict[str, ast.Webhook] = field(factory=dict)
    _quoted: str | None = field(default=None, init=False, repr=False)

    @property
    def quoted(self) -> str:
        """The program as keys name it: ``"Program"``, and ``"Workspace"."Program"``
        outside the Default workspace (program names are unique per
        workspace only, §2: two workspaces' "Webinar" must not share run
        history, lists or members)."""
        q = self._quoted
        if q is None:
            q = f'"{self.name}"'
            if self.workspace.name != DEFAULT_WORKSPACE:
                q = f'"{self.workspace.name}".{q}'
            self._quoted = q
        return q

    @property
    def key(self) -> str:
        """The store's key of the program (its members, its statuses): the
        name, and ``"Workspace"."Program"`` outside the Default workspace."""
        return self.name if self.workspace.name == DEFAULT_WORKSPACE else self.quoted

    @property
    def description(self) -> str:
        d = self.node.of(ast.Description)
        return d[0].text if d else ""

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(n for s in self.node.of(ast.Statuses) for n in s.names)

    @property
    def member_fields(self) -> tuple[str, ...]:
        return tuple(n for s in self.node.of(ast.MemberFields) for n in s.names)

    @property
    def tokens(self) -> list[ast.TokenDecl]:
        return [t for item in self.node.of(ast.Tokens) for t in item.tokens]

    def layers(self) -> list[Layer]:
        """The program's lexical token layers: program, folders inner to outer, workspace."""
        out = [_token_layer("program", f'program "{self.name}"', self.tokens)]
        out += [f.layer() for f in reversed(self.folders)]
        out.append(self.workspace.layer())
        return out

    def env(self) -> Environment:
        return Environment(self.layers())


@define(eq=False)
class CampaignInfo:
    id: int
    name: str
    node: ast.Campaign
    program: ProgramInfo
    # the effective parts, after `clone` (set by Model.resolve_clones)
    smart_list: ast.SmartList | None = None
    flow: ast.Flow | None = None
    qualify: ast.Qualify | None = None
    clone_of: "CampaignInfo | None" = None
    _qualname: str | None = field(default=None, init=False, repr=False)

    @property
    def kind(self) -> str:
        return self.node.kind

    @property
    def active(self) -> bool:
        return self.node.active

    @property
    def workspace(self) -> WorkspaceInfo:
        return self.program.workspace

    @property
    def qualname(self) -> str:
        """``"Program"."Campaign"`` (``"Workspace"."Program"."Campaign"``
        outside the Default workspace): its name in messages and the key of
        its runs and activities (made once: every run reads it)."""
        q = self._qualname
        if q is None:
            q = self._qualname = f'{self.program.quoted}."{self.name}"'
        return q

    @property
    def description(self) -> str:
        d = self.node.description
        return d.text if d else ""

    @property
    def steps(self) -> tuple[ast.Node, ...]:
        return self.flow.steps if self.flow else ()

    @property
    def rule(self) -> ast.Qualify:
        return self.qualify or ast.Qualify("once")

    def env(self) -> Environment:
        return self.program.env()

    def __repr__(self) -> str:
        return f"<campaign {self.qualname} {self.kind}>"


@frozen
class Resolution:
    """The outcome of resolving a reference: ``found`` or why not."""

    found: Any = None
    ambiguous: tuple[Any, ...] = ()      # the candidates of an ambiguous bare name
    suggestion: str | None = None        # a close name, for "did you mean"
    program_missing: str | None = None   # "P" of "P"."N" does not exist


@frozen
class Duplicate:
    kind: str
    name: str
    first: ast.Node
    second: ast.Node


def _token_layer(kind: str, label: str, decls: Iterable[ast.TokenDecl]) -> Layer:
    bindings: dict[str, Binding] = {}
    for d in decls:
        bindings.setdefault(ast.name_key(d.name), Binding(d.name, d.value, d))
    return Layer(kind, label, bindings)


def _nearest(name: str, names: list[str]) -> str | None:
    """The name to suggest for an unknown one: the same name in another case
    or spacing (names match exactly, so "webinar" misses "Webinar", and
    difflib finds nothing close in a one-letter name), else a close spelling."""
    key = " ".join(name.split()).casefold()
    for n in names:
        if " ".join(n.split()).casefold() == key:
            return n
    close = difflib.get_close_matches(name, names, n=1)
    return close[0] if close else None


class Model:
    """Symbol tables of the loaded modules (see the module docstring)."""

    def __init__(self) -> None:
        self.workspaces: dict[str, WorkspaceInfo] = {}
        self.programs: list[ProgramInfo] = []
        self.campaigns: list[CampaignInfo] = []
        self.fields: dict[str, tuple[str, str]] = {
            ast.name_key(n): (n, t) for n, t in STANDARD_FIELDS.items()}
        for alias, target in FIELD_ALIASES.items():
            self.fields[ast.name_key(alias)] = (target, STANDARD_FIELDS[target])
        self.field_decls: dict[str, ast.FieldDecl] = {}
        self.duplicates: list[Duplicate] = []
        self.tests: list[ast.Test] = []
        self.modules: tuple[ast.Module, ...] = ()
        self._campaign_by_node: dict[int, CampaignInfo] = {}

    # -- lookups -----------------------------------------------------------

    def field(self, name: str) -> tuple[str, str] | None:
        """(declared spelling, type) of a person field, or None."""
        return self.fields.get(ast.name_key(name))

    def field_names(self) -> list[str]:
        return sorted({v[0] for v in self.fields.values()}, key=str.casefold)

    def campaign_of(self, node: ast.Campaign) -> CampaignInfo | None:
        return self._campaign_by_node.get(id(node))

    def find_campaign(self, program: str, name: str, workspace: str | None = None) -> CampaignInfo | None:
        res = self.resolve("campaign", ast.Ref(program, name), None, workspace)
        return res.found

    def find_program(self, name: str, workspace: WorkspaceInfo | None) -> Resolution:
        if workspace is not None and name in workspace.programs:
            return Resolution(workspace.programs[name])
        matches = [p for p in self.programs if p.name == name]
        if len(matches) == 1:
            return Resolution(matches[0])
        if len(matches) > 1:
            return Resolution(None, ambiguous=tuple(matches))
        names = sorted({p.name for p in self.programs})
        close = _nearest(name, names)
        return Resolution(None, suggestion=close)

    def resolve(self, kind: str, ref: ast.Ref, here: ProgramInfo | None,
                workspace: str | None = None) -> Resolution:
        """Resolve a reference to a campaign or asset of ``kind`` (a key of
        ASSET_KINDS) written in program ``here``."""
        attr = ASSET_KINDS[kind][1]
        ws = here.workspace if here is not None else (
            self.workspaces.get(workspace) if workspace else None)
        if ref.program is not None:
            pres = self.find_program(ref.program, ws)
            if pres.found is None:
                return Resolution(None, ambiguous=pres.ambiguous, suggestion=pres.suggestion,
                                  program_missing=ref.program)
            table = getattr(pres.found, attr)
            if ref.name in table:
                return Resolution(table[ref.name])
            close = _nearest(ref.name, list(table))
            return Resolution(None, suggestion=f'"{ref.program}"."{close}"' if close else None)
        if here is not None:
            table = getattr(here, attr)
            if ref.name in table:
                return Resolution(table[ref.name])
        pool = list(ws.programs.values()) if ws is not None else self.programs
        matches = [getattr(p, attr)[ref.name] for p in pool if ref.name in getattr(p, attr)]
        if len(matches) == 1:
            return Resolution(matches[0])
        if len(matches) > 1:
            return Resolution(None, ambiguous=tuple(matches))
        names = sorted({n for p in pool for n in getattr(p, attr)})
        close = _nearest(ref.name, names)
        return Resolution(None, suggestion=f'"{close}"' if close else None)

    def program_of_asset(self, kind: str, node: ast.Node) -> ProgramInfo | None:
        attr = ASSET_KINDS[kind][1]
        for p in self.programs:
            if any(v is node for v in getattr(p, attr).values()):
                return p
        return None

    # -- building ----------------------------------------------------------

    def _workspace(self, name: str, node: ast.Node | None) -> WorkspaceInfo:
        ws = self.workspaces.get(name)
        if ws is None:
            ws = self.workspaces[name] = WorkspaceInfo(name)
        if node is not None:
            ws.nodes.append(node)
        return ws

    def _add_program(self, node: ast.Program, ws: WorkspaceInfo, folders: tuple[FolderInfo, ...]) -> None:
        if node.name in ws.programs:
            self.duplicates.append(Duplicate("program", node.name, ws.programs[node.name].node, node))
            return
        prog = ProgramInfo(len(self.programs) + 1, node.name, node, ws, folders)
        ws.programs[node.name] = prog
        self.programs.append(prog)
        for item in node.items:
            for kind, (cls, attr) in ASSET_KINDS.items():
                if type(item) is cls:
                    name = item.name  # type: ignore[attr-defined]  # an asset node
                    if name is None:   # an unnamed smart list cannot stand in a program
                        continue
                    table = getattr(prog, attr)
                    if name in table:
                        first = table[name]
                        self.duplicates.append(Duplicate(kind, name, getattr(first, "node", first), item))
                        continue
                    if kind == "campaign":
                        info = CampaignInfo(len(self.campaigns) + 1, name, item, prog)  # type: ignore[arg-type]
                        self.campaigns.append(info)
                        self._campaign_by_node[id(item)] = info
                        table[name] = info
                    else:
                        table[name] = item

    def _add_container(self, items: Iterable[ast.Node], ws: WorkspaceInfo,
                       folders: tuple[FolderInfo, ...]) -> None:
        for item in items:
            if isinstance(item, ast.Program):
                self._add_program(item, ws, folders)
            elif isinstance(item, ast.Folder):
                info = FolderInfo(item.name, item, folders[-1] if folders else None, ws)
                self._add_container(item.items, ws, (*folders, info))
            elif isinstance(item, ast.Tokens) and not folders:
                ws.tokens.extend(item.tokens)

    def add_module(self, module: ast.Module) -> None:
        default = None
        for item in module.items:
            if isinstance(item, ast.Workspace):
                ws = self._workspace(item.name, item)
                self._add_container(item.items, ws, ())
            elif isinstance(item, (ast.Program, ast.Folder, ast.Tokens)):
                default = default or self._workspace(DEFAULT_WORKSPACE, None)
                self._add_container([item], default, ())
            elif isinstance(item, ast.Fields):
                for decl in item.fields:
                    key = ast.name_key(decl.name)
                    if key in self.field_decls:
                        self.duplicates.append(Duplicate("field", decl.name, self.field_decls[key], decl))
                        continue
                    if key in self.fields:  # a standard field re-declared
                        self.duplicates.append(Duplicate("field", decl.name, decl, decl))
                        continue
                    self.field_decls[key] = decl
                    self.fields[key] = (decl.name, decl.type)
            elif isinstance(item, ast.Test):
                self.tests.append(item)

    def resolve_clones(self) -> None:
        """Fill each campaign's effective smart list, flow and rules."""
        state: dict[int, str] = {}

        def fill(c: CampaignInfo) -> None:
            if state.get(c.id) == "done":
                return
            if state.get(c.id) == "busy":  # a clone cycle: the checker reports it
                return
            state[c.id] = "busy"
            src = None
            clone = c.node.clone
            if clone is not None:
                src = self.resolve("campaign", clone.source, c.program).found
                if src is not None and src is not c:
                    fill(src)
                    c.clone_of = src
            own = c.node
            c.smart_list = own.smart_list or (src.smart_list if src else None)
            c.flow = own.flow or (src.flow if src else None)
            c.qualify = own.qualify or (src.qualify if src else None)
            state[c.id] = "done"

        for c in self.campaigns:
            fill(c)

    def executables(self) -> Iterator[CampaignInfo]:
        return (c for c in self.campaigns if c.kind == "executable")


def build_model(modules: Iterable[ast.Module]) -> Model:
    """The model of modules given imports-first (``Loaded.modules``)."""
    model = Model()
    mods = tuple(modules)
    model.modules = mods
    for m in mods:
        model.add_module(m)
    model.resolve_clones()
    return model
