"""What an editor asks of a project: the checker's findings per file, what
a place in a file names, where that is declared and used, renames,
completions, hovers, the outline and quick fixes.

Owns the editor's view of a project: ``Project`` holds the open documents
(their unsaved text wins over the disk) and a cache of parses by file and
text, and analyses a file as ``campaign check`` does (the file and what it
imports: ``loader.load_paths`` with the project's texts, then
``check.check``). Everything else reads what the checker already resolved:

* ``CheckResult.refs`` (the span of every reference -> the campaign or
  asset it names) and ``CheckResult.programs`` (programs named by a plain
  string) give definitions, references and renames of campaigns, assets
  and programs;
* a My Token resolves as ``campaign explain --token`` says
  (``explain.explain_token``): in the campaign that uses it and, through
  ``use parent token context``, in each caller's context, so its
  definitions are every declaration some call path reaches; a token in an
  email or a webhook resolves in the campaigns that send it
  (docs/language.md, "Token context for assets");
* fields resolve through ``Model.field``; the vocabulary (steps, filters,
  triggers: ``stdlib``) gives hover texts and completions; what may come
  next at a place comes from ``parse.expected_at`` (Lark's interactive
  parser) and, inside a phrase, from the vocabulary's patterns;
* formatting is ``format.format_source``; the call graph's levels are
  ``graph.reach``.

Symbols are identified by the place of their declaration (file and offset
of the name), which is the same in every analysis of the project because
parses are shared: the file that declares a campaign and the file that
imports it agree on what "that campaign" is.

Positions here are offsets into a file's text (``str`` indices); the
language server (``lsp.py``) converts them to and from the protocol's
lines and columns. Imports the checker's side of the package (``check``,
``explain``, ``format``, ``graph``, ``loader``, ``model``, ``parse``);
nothing imports it but ``lsp.py``.
"""

from __future__ import annotations

import difflib
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from attrs import define, field, frozen

from . import ast
from .check import HISTORY_TARGETS, TOKEN_ATTRIBUTES, TRIGGER_TARGETS, CheckResult, check
from .errors import CampaignError, Diagnostic, DiagnosticError
from .explain import explain_token, render_report, value_text
from .format import format_source, quote
from .format import name as written_name
from .graph import CallGraph, Reach, level_text, reach, written_by
from .loader import STD_PREFIX, Loaded, display_name, load_paths, read_text
from .model import ASSET_KINDS, CampaignInfo, ProgramInfo
from .parse import Atom, ParseResult, expected_at, parse, reparse, scan_atoms
from .source import SourceFile, Span
from .stdlib import filters as _filters
from .stdlib import steps as _steps
from .stdlib import triggers as _triggers
from .stdlib.types import FIELD_TYPES
from .stdlib.vocabulary import Alt, Opt, Phrase, Slot

#: folders a project search never enters (tools' and environments' own files)
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__",
                       ".tox", ".nox", "build", "dist", ".mypy_cache", ".pytest_cache"})

#: the statements of a test block (§9)
TEST_STATEMENTS = ("person", "for", "run", "request", "fire", "advance", "expect")

_ASSET_CLASSES = {cls: kind for kind, (cls, _attr) in ASSET_KINDS.items()}


class RenameError(CampaignError):
    """A rename the project cannot take (a clash, a name that cannot be renamed)."""


# --------------------------------------------------------------------------
# The project and its analyses


def std_path(name: str) -> Path | None:
    """The file of a library module named ``<std>/x.campaign``, when the
    package is installed as files (it is, from a wheel or in place)."""
    if not name.startswith(STD_PREFIX):
        return None
    try:
        path = Path(str(resources.files("campaignlang.stdlib").joinpath(name[len(STD_PREFIX):])))
    except (TypeError, ValueError):
        return None
    return path if path.is_file() else None


def path_of(name: str) -> Path | None:
    """The file behind a source name as the loader writes it (relative to
    the current folder, or absolute; ``<std>/...`` for library modules)."""
    if name.startswith(STD_PREFIX):
        return std_path(name)
    if name.startswith("<"):
        return None
    return Path(os.path.abspath(name))


@define(eq=False)
class Analysis:
    """One file checked as ``campaign check FILE`` checks it (imports
    included), with lazily built tables for editor requests."""

    path: Path
    loaded: Loaded
    result: CheckResult
    _occurrences: dict[str, list["Occurrence"]] = field(factory=dict)
    _reach: dict[int, Reach] | None = None

    @property
    def name(self) -> str:
        """The source name of the analysed file (the last one loaded)."""
        return self.loaded.results[-1].source.name

    @property
    def model(self) -> Any:
        return self.result.model

    @property
    def graph(self) -> CallGraph | None:
        return self.result.graph

    def source(self, name: str) -> SourceFile | None:
        return self.result.sources.get(name)

    def parsed(self, name: str) -> ParseResult | None:
        for r in self.loaded.results:
            if r.source.name == name:
                return r
        return None

    def diagnostics_for(self, name: str) -> list[Diagnostic]:
        return [d for d in self.result.diagnostics if d.span.file == name]

    def levels(self) -> dict[int, Reach]:
        if self._reach is None:
            self._reach = reach(self.graph)[0] if self.graph is not None else {}
        return self._reach


class Project:
    """The open documents of an editor over the files on disk, and the
    analyses made of them (rebuilt when anything changes)."""

    def __init__(self, roots: Sequence[Path] = ()):
        self.roots = [Path(os.path.abspath(r)) for r in roots]
        self.documents: dict[Path, str] = {}
        self._parses: dict[str, tuple[str, ParseResult]] = {}
        self._analyses: dict[Path, tuple[int, Analysis]] = {}
        self._version = 0
        self._files: list[Path] | None = None

    @staticmethod
    def key(path: str | os.PathLike) -> Path:
        return Path(os.path.abspath(path))

    # -- documents ---------------------------------------------------------

    def open(self, path: str | os.PathLike, text: str) -> None:
        key = self.key(path)
        if key not in self.documents:
            self._files = None
        self.documents[key] = text
        self._version += 1

    change = open

    def close(self, path: str | os.PathLike) -> None:
        self.documents.pop(self.key(path), None)
        self._version += 1

    def touch(self) -> None:
        """Files changed on disk: analyse again on the next request."""
        self._version += 1
        self._files = None

    def text(self, path: str | os.PathLike) -> str:
        key = self.key(path)
        if key in self.documents:
            return self.documents[key]
        return read_text(key)

    def _read(self, path: Path) -> str:
        return self.text(path)

    def _parse(self, text: str, name: str) -> ParseResult:
        """The parse of a file's text: cached; after an edit inside one
        program, only that program is parsed again (``parse.reparse``: the
        analyses that held the old parse are out of date by then)."""
        cached = self._parses.get(name)
        if cached is not None and cached[0] == text:
            return cached[1]
        result = reparse(cached[1], text) if cached is not None else parse(text, name)
        self._parses[name] = (text, result)
        return result

    # -- analyses ----------------------------------------------------------

    def analyse(self, path: str | os.PathLike) -> Analysis:
        """The file and its imports, checked (cached until something changes)."""
        key = self.key(path)
        cached = self._analyses.get(key)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        if key in self.documents and not key.exists():   # a buffer not saved yet
            pr = self._parse(self.documents[key], str(key))
            loaded = Loaded((pr,), pr.diagnostics, None)
        else:
            loaded = load_paths([key], read=self._read, parse_file=self._parse)
        analysis = Analysis(key, loaded, check(loaded))
        self._analyses[key] = (self._version, analysis)
        return analysis

    def files(self) -> list[Path]:
        """Every ``.campaign`` file of the project: under its roots (hidden
        and tool folders skipped) and every open document. The walk is
        kept until a file is opened or ``touch`` says the disk changed."""
        if self._files is not None:
            return list(self._files)
        found: dict[Path, None] = {}
        for root in self.roots:
            for folder, dirs, names in os.walk(root):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
                for n in sorted(names):
                    if n.endswith(".campaign"):
                        found[Path(folder) / n] = None
        for p in self.documents:
            found.setdefault(p, None)
        self._files = list(found)
        return list(found)

    def importers(self, path: str | os.PathLike) -> list[Path]:
        """The project's files that import ``path``, directly or through
        other files (read from their parses: no file is checked for it)."""
        key = self.key(path)
        imported_by: dict[Path, list[Path]] = {}
        for f in self.files():
            try:
                text = self.text(f)
            except CampaignError:
                continue
            for imp in self._parse(text, display_name(f)).module.of(ast.Import):
                if not imp.std:
                    target = Path(os.path.abspath(f.parent / imp.path))
                    imported_by.setdefault(target, []).append(f)
        out: list[Path] = []
        queue = [key]
        while queue:
            for f in imported_by.get(queue.pop(), []):
                if f != key and f not in out:
                    out.append(f)
                    queue.append(f)
        return out


# --------------------------------------------------------------------------
# Symbols and where they occur


@frozen
class Symbol:
    """A declared thing: its kind (``campaign``, ``program``, ``list``,
    ``smart list``, ``form``, ``email``, ``webhook``, ``field``, ``token``),
    its name, its identity ``key`` and the span of its name where it is
    declared (None for a standard field)."""

    kind: str
    name: str
    key: tuple
    decl: Span | None
    info: Any = field(default=None, eq=False)


@frozen
class Occurrence:
    """A name as written in a file and the symbols it stands for (a My Token
    may stand for several declarations, one per call path). ``style`` says
    how the name is written: ``string`` (a quoted name), ``name`` (bare or
    quoted, a field or token name) or ``raw`` (inside ``{{ }}``)."""

    span: Span
    symbols: tuple[Symbol, ...]
    declaration: bool = False
    style: str = "string"
    node: Any = field(default=None, eq=False)
    campaigns: tuple[CampaignInfo, ...] = field(default=(), eq=False)   # token contexts

    @property
    def keys(self) -> set[tuple]:
        return {s.key for s in self.symbols}


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        body = text[1:-1]
        return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
    return text


def _header_atoms(src: SourceFile, span: Span) -> list[Atom]:
    """The atoms of a declaration's first line."""
    end = src.text.find("\n", span.start)
    end = span.end if end == -1 else min(end, span.end)
    return scan_atoms(src.text[span.start:end], span.start)


def _atoms(src: SourceFile, span: Span) -> list[Atom]:
    return scan_atoms(src.text[span.start:span.end], span.start)


def decl_name_span(sources: dict[str, SourceFile], node: Any) -> Span | None:
    """The span of the name in a declaration: ``campaign "Score" ...``,
    ``my."Event Name" = ...``, ``"Region": text``."""
    span = getattr(node, "span", None)
    if span is None:
        return None
    src = sources.get(span.file)
    if src is None:
        return None
    atoms = _header_atoms(src, span)
    if isinstance(node, ast.TokenDecl):
        hit = atoms[2] if len(atoms) > 2 and atoms[1].type == "DOT" else None
    elif isinstance(node, ast.FieldDecl):
        hit = atoms[0] if atoms else None
    else:
        hit = next((a for a in atoms if a.type == "STRING"), None)
    return src.span(hit.start, hit.end) if hit is not None else None


def symbol_of(a: Analysis, target: Any) -> Symbol | None:
    """The symbol of a resolved target: a ``CampaignInfo``, ``ProgramInfo``,
    an asset node, a ``TokenDecl``."""
    sources = a.result.sources
    node: Any
    if isinstance(target, CampaignInfo):
        kind, node, name = "campaign", target.node, target.name
    elif isinstance(target, ProgramInfo):
        kind, node, name = "program", target.node, target.name
    elif isinstance(target, ast.TokenDecl):
        kind, node, name = "token", target, target.name
    elif type(target) in _ASSET_CLASSES:
        kind, node, name = _ASSET_CLASSES[type(target)], target, target.name
    else:
        return None
    decl = decl_name_span(sources, node)
    key = (kind, decl.file, decl.start) if decl is not None else (kind, name)
    return Symbol(kind, name, key, decl, target)


def field_symbol(a: Analysis, name: str) -> Symbol | None:
    found = a.model.field(name)
    if found is None:
        return None
    spelling, _type = found
    decl_node = a.model.field_decls.get(ast.name_key(spelling))
    decl = decl_name_span(a.result.sources, decl_node) if decl_node is not None else None
    return Symbol("field", spelling, ("field", ast.name_key(spelling)), decl, (spelling, _type, decl_node))


_TOKEN_NAME = re.compile(r'\{\{\s*[A-Za-z]+\s*\.\s*("?)(.*?)\1\s*(?::default=.*)?\}\}$', re.S)


def _token_name_span(src: SourceFile, tok: ast.TokenRef) -> Span | None:
    if tok.span is None:
        return None
    text = src.text[tok.span.start:tok.span.end]
    m = _TOKEN_NAME.match(text)
    if m is None:
        return None
    start, end = m.span(2)
    if m.group(1):   # quoted: the quotes belong to the name as written
        start, end = start - 1, end + 1
    return src.span(tok.span.start + start, tok.span.start + end)


def occurrences(a: Analysis, name: str) -> list[Occurrence]:
    """Every name in file ``name`` that stands for a symbol, sorted by place."""
    cached = a._occurrences.get(name)
    if cached is not None:
        return cached
    src = a.source(name)
    parsed = a.parsed(name)
    out: list[Occurrence] = []
    if src is None or parsed is None:
        a._occurrences[name] = out
        return out
    model = a.model
    module = parsed.module

    def add(span: Span | None, sym: Symbol | None, **kw: Any) -> None:
        if span is not None and sym is not None:
            out.append(Occurrence(span, (sym,), **kw))

    # declarations
    for prog in model.programs:
        if prog.node.span is None or prog.node.span.file != name:
            continue
        psym = symbol_of(a, prog)
        add(psym.decl if psym else None, psym, declaration=True, node=prog.node)
        for item in prog.node.items:
            target: Any = None
            if isinstance(item, ast.Campaign):
                target = model.campaign_of(item)
            elif type(item) in _ASSET_CLASSES and getattr(item, "name", None) is not None:
                kind = _ASSET_CLASSES[type(item)]
                if getattr(prog, ASSET_KINDS[kind][1]).get(item.name) is item:
                    target = item
            if target is not None:
                sym = symbol_of(a, target)
                add(sym.decl if sym else None, sym, declaration=True, node=item)
    for node in ast.walk(module):
        if isinstance(node, ast.Tokens):
            for d in node.tokens:
                sym = symbol_of(a, d)
                add(sym.decl if sym else None, sym, declaration=True, style="name", node=d)
        elif isinstance(node, ast.FieldDecl):
            sym = field_symbol(a, node.name)
            if sym is not None and sym.info[2] is node:
                add(sym.decl, sym, declaration=True, style="name", node=node)

    # campaigns and assets named by references
    for span, target in a.result.refs.items():
        if span.file != name:
            continue
        strings = [x for x in _atoms(src, span) if x.type == "STRING"]
        if not strings:
            continue
        sym = symbol_of(a, target)
        last = strings[-1]
        add(src.span(last.start, last.end), sym)
        if len(strings) >= 2:
            prog = target.program if isinstance(target, CampaignInfo) else \
                model.program_of_asset(_ASSET_CLASSES.get(type(target), "list"), target)
            if prog is not None:
                first = strings[-2]
                add(src.span(first.start, first.end), symbol_of(a, prog))
    # programs named by a plain string
    for (span, pname), prog in a.result.programs.items():
        if span.file != name:
            continue
        for x in _atoms(src, span):
            if x.type == "STRING" and _unquote(x.text) == pname:
                add(src.span(x.start, x.end), symbol_of(a, prog))
                break

    # fields and tokens
    contexts = _token_contexts(a, name)
    for node in ast.walk(module):
        if isinstance(node, ast.FieldRef) and node.span is not None:
            atoms = _atoms(src, node.span)
            if len(atoms) >= 3:
                add(src.span(atoms[2].start, atoms[-1].end), field_symbol(a, node.name), style="name", node=node)
        elif isinstance(node, ast.TokenRef) and node.span is not None:
            tspan = _token_name_span(src, node)
            if node.namespace == "lead":
                add(tspan, field_symbol(a, node.name), style="raw", node=node)
            elif node.namespace == "my" and tspan is not None:
                camps = contexts(node.span)
                decls = _token_decls(a, camps, node.name)
                syms = tuple(s for s in (symbol_of(a, d) for d in decls) if s is not None)
                out.append(Occurrence(tspan, syms, style="raw", node=node, campaigns=camps))
        elif isinstance(node, ast.PersonStmt):
            for assign in node.fields:
                atoms = _atoms(src, assign.span) if assign.span is not None else []
                if atoms:
                    add(src.span(atoms[0].start, atoms[0].end), field_symbol(a, assign.name), style="string")
        elif isinstance(node, ast.ExpectField) and node.span is not None:
            atoms = [x for x in _atoms(src, node.span) if x.type == "STRING"]
            if len(atoms) >= 2:
                add(src.span(atoms[1].start, atoms[1].end), field_symbol(a, node.field), style="string")
        elif isinstance(node, (ast.RunStmt, ast.RequestStmt)) and node.tokens:
            target = a.result.refs.get(node.campaign.span) if node.campaign.span else None
            if isinstance(target, CampaignInfo):
                for d in node.tokens:
                    dspan = decl_name_span(a.result.sources, d)
                    decls = _token_decls(a, (target,), d.name)
                    syms = tuple(s for s in (symbol_of(a, x) for x in decls) if s is not None)
                    if dspan is not None:
                        out.append(Occurrence(dspan, syms, style="name", node=d, campaigns=(target,)))
    out.sort(key=lambda o: (o.span.start, o.span.end))
    a._occurrences[name] = out
    return out


def _within(span: Span, outer: Span | None) -> bool:
    return outer is not None and outer.file == span.file and outer.start <= span.start and span.end <= outer.end


def _token_contexts(a: Analysis, name: str) -> Any:
    """span -> the campaigns whose runs render a token written there: the
    campaigns whose effective flow or smart list holds it (a clone's
    inherited parts included), or that send the email or call the webhook
    that holds it."""
    model = a.model
    parts: list[tuple[Span, CampaignInfo]] = []
    for c in model.campaigns:
        for part, attr in (("flow", "flow"), ("smart_list", "smart_list")):
            owner = written_by(c, part)
            node = getattr(owner.node, attr)
            if node is not None and node.span is not None and node.span.file == name:
                parts.append((node.span, c))
    assets: list[tuple[Span, Any]] = []
    for prog in model.programs:
        for table in (prog.emails, prog.webhooks):
            for asset in table.values():
                if asset.span is not None and asset.span.file == name:
                    assets.append((asset.span, asset))
    senders: dict[int, list[CampaignInfo]] | None = None

    def find(span: Span) -> tuple[CampaignInfo, ...]:
        nonlocal senders
        found = [c for s, c in parts if _within(span, s)]
        if found:
            return tuple(found)
        for s, asset in assets:
            if _within(span, s):
                if senders is None:
                    senders = {}
                    for c in model.campaigns:
                        for step in _flat(c.steps):
                            ref = getattr(step, "email", None) or getattr(step, "webhook", None)
                            if isinstance(ref, ast.Ref) and ref.span is not None:
                                t = a.result.refs.get(ref.span)
                                if t is not None:
                                    senders.setdefault(id(t), []).append(c)
                return tuple(dict.fromkeys(senders.get(id(asset), [])))
        return ()

    return find


def _flat(steps: Iterable[ast.Node]) -> Iterator[ast.Node]:
    for step in steps:
        if isinstance(step, ast.Choice):
            for b in step.branches:
                if b.step is not None:
                    yield b.step
        else:
            yield step


def _token_decls(a: Analysis, campaigns: Sequence[CampaignInfo], name: str) -> list[ast.TokenDecl]:
    """The declarations ``my.<name>`` resolves to in these campaigns, over
    every call path (``explain_token``)."""
    out: dict[int, ast.TokenDecl] = {}
    for c in campaigns:
        own = c.env().lookup(name)   # its own scope: what it falls back to
        if own is not None and isinstance(own[0].node, ast.TokenDecl):
            out.setdefault(id(own[0].node), own[0].node)
        report = explain_token(a.model, c, name, a.graph)
        for row in report.paths:
            node = row.binding.node if row.binding is not None else None
            if isinstance(node, ast.TokenDecl):
                out.setdefault(id(node), node)
    return list(out.values())


def occurrence_at(a: Analysis, name: str, offset: int) -> Occurrence | None:
    """The narrowest occurrence whose name holds ``offset`` (its end included,
    so a cursor just after a name still finds it)."""
    best = None
    for o in occurrences(a, name):
        if o.span.start <= offset <= o.span.end:
            if best is None or (o.span.end - o.span.start) < (best.span.end - best.span.start):
                best = o
    return best


def definitions(a: Analysis, name: str, offset: int, project: Project | None = None) -> list[Span]:
    """Where the thing at ``offset`` is declared. A My Token: every
    declaration a call path reaches, the paths through the project's files
    that import this one included (with ``project``)."""
    occ = occurrence_at(a, name, offset)
    if occ is None:
        return []
    found = {s.key: s.decl for s in occ.symbols if s.decl is not None}
    if project is not None and any(s.kind == "token" for s in occ.symbols):
        for f in project.importers(a.path):
            try:
                other = project.analyse(f)
            except CampaignError:
                continue
            there = occurrence_at(other, name, offset)
            if there is not None and there.span == occ.span:
                for s in there.symbols:
                    if s.decl is not None:
                        found.setdefault(s.key, s.decl)
    return list(found.values())


def references(project: Project, a: Analysis, name: str, offset: int,
               include_declaration: bool = True) -> list[Span]:
    """Every place in the project's files that names what ``offset`` names."""
    occ = occurrence_at(a, name, offset)
    if occ is None or not occ.symbols:
        return []
    keys = occ.keys
    if any(s.kind == "token" for s in occ.symbols):
        keys = _token_component(project, keys)
    return [o.span for o in _project_occurrences(project, a)
            if o.keys & keys and (include_declaration or not o.declaration)]


def _project_occurrences(project: Project, first: Analysis) -> list[Occurrence]:
    """The occurrences in every project file, as every analysis that loads
    the file sees them, merged by place: a token in an imported executable
    resolves, in the analysis of a file that imports and executes it, to
    that caller's declaration too."""
    merged: dict[tuple[str, int, int], Occurrence] = {}
    files = project.files()
    if first.path not in files:
        files.insert(0, first.path)
    for f in files:
        try:
            a = project.analyse(f)
        except CampaignError:
            continue
        for r in a.loaded.results:
            fname = r.source.name
            if fname.startswith(STD_PREFIX):
                continue
            for o in occurrences(a, fname):
                place = (o.span.file, o.span.start, o.span.end)
                old = merged.get(place)
                if old is None:
                    merged[place] = o
                elif not o.keys <= old.keys or not set(o.campaigns) <= set(old.campaigns):
                    syms = {s.key: s for s in (*old.symbols, *o.symbols)}
                    camps = tuple(dict.fromkeys((*old.campaigns, *o.campaigns)))
                    merged[place] = Occurrence(old.span, tuple(syms.values()), old.declaration, old.style,
                                               old.node, camps)
    return sorted(merged.values(), key=lambda o: (o.span.file, o.span.start))


def _token_component(project: Project, keys: set[tuple]) -> set[tuple]:
    """Declarations that share a reference with these, and so on: the set
    of My Token declarations that must be renamed together."""
    keys = set(keys)
    occs = [o for o in _project_occurrences_all(project) if any(s.kind == "token" for s in o.symbols)]
    changed = True
    while changed:
        changed = False
        for o in occs:
            ks = o.keys
            if ks & keys and not ks <= keys:
                keys |= ks
                changed = True
    return keys


def _project_occurrences_all(project: Project) -> list[Occurrence]:
    files = project.files()
    if not files:
        return []
    return _project_occurrences(project, project.analyse(files[0]))


# --------------------------------------------------------------------------
# Rename


def rename(project: Project, a: Analysis, name: str, offset: int, new: str) -> dict[str, list[tuple[Span, str]]]:
    """The edits (per source name: span -> new text) that rename what
    ``offset`` names to ``new`` across the project. Raises ``RenameError``
    when it cannot be renamed or the new name would clash."""
    occ = occurrence_at(a, name, offset)
    if occ is None or not occ.symbols:
        raise RenameError("nothing to rename here: put the cursor on a campaign, program, asset, "
                          "custom field or My Token name")
    new = new.strip() if occ.symbols[0].kind in ("field", "token") else new
    if not new.strip() or "\n" in new:
        raise RenameError("a name cannot be empty or hold a line break")
    sym = occ.symbols[0]
    if sym.decl is None:
        raise RenameError(f"{sym.kind} {quote(sym.name)} is standard: it cannot be renamed")
    for s in occ.symbols:
        if s.decl is not None and s.decl.file.startswith(STD_PREFIX):
            raise RenameError(f"{s.kind} {quote(s.name)} is declared in a library module: it cannot be renamed")
    keys = occ.keys
    if sym.kind == "token":
        if any(c in new for c in "{}:"):
            raise RenameError("a My Token name cannot hold '{', '}' or ':'")
        keys = _token_component(project, keys)
    found = [o for o in _project_occurrences(project, a) if o.keys & keys]
    _clashes(project, a, sym, new, keys, found)
    edits: dict[str, list[tuple[Span, str]]] = {}
    for o in found:
        if o.style == "string":
            text = quote(new)
        elif o.style == "name":
            text = written_name(new)
        else:
            text = new
        edits.setdefault(o.span.file, []).append((o.span, text))
    return edits


def _clashes(project: Project, a: Analysis, sym: Symbol, new: str, keys: set[tuple],
             found: list[Occurrence]) -> None:
    model = a.model
    kind = sym.kind
    if kind == "program":
        prog: ProgramInfo = sym.info
        other = prog.workspace.programs.get(new)
        if other is not None and other is not prog:
            raise RenameError(f"workspace {quote(prog.workspace.name)} already has a program {quote(new)}")
        return
    if kind in ASSET_KINDS:
        attr = ASSET_KINDS[kind][1]
        target = sym.info
        prog = target.program if isinstance(target, CampaignInfo) else model.program_of_asset(kind, target)
        if prog is None:
            return
        if new in getattr(prog, attr) and getattr(prog, attr)[new] is not target:
            raise RenameError(f"program {quote(prog.name)} already has a {kind} {quote(new)}")
        # a bare reference from another program finds the name by a unique
        # match in the workspace: another program's same-named one would
        # make it ambiguous, or take it
        others = [p for p in prog.workspace.programs.values() if p is not prog and new in getattr(p, attr)]
        if others:
            for o in found:
                if o.declaration:
                    continue
                src = a.source(o.span.file) or project.analyse(path_of(o.span.file) or a.path).source(o.span.file)
                before = src.text[max(0, o.span.start - 2):o.span.start] if src else ""
                if not before.endswith("."):
                    raise RenameError(f"program {quote(others[0].name)} also has a {kind} {quote(new)}: "
                                      f"the bare reference at {o.span.file}:{o.span.line} would become ambiguous")
        return
    if kind == "field":
        existing = model.field(new)
        if existing is not None and ast.name_key(existing[0]) != sym.key[1]:
            raise RenameError(f"a field {quote(existing[0])} already exists")
        return
    if kind == "token":
        new_key = ast.name_key(new)
        for o in found:
            if o.declaration and isinstance(o.node, ast.TokenDecl):
                continue
            for c in o.campaigns:
                report = explain_token(model, c, new, a.graph)
                for row in report.paths:
                    node = row.binding.node if row.binding is not None else None
                    if node is not None:
                        s = symbol_of(a, node)
                        if s is not None and s.key not in keys:
                            where = row.layer.label if row.layer else "a scope"
                            raise RenameError(f"my.{new} is already declared in {where}, which "
                                              f"{c.qualname} sees: the token would resolve there")
        # two declarations of the new name in one tokens block
        for o in found:
            if o.declaration and isinstance(o.node, ast.TokenDecl):
                block = _tokens_block(a, o.node)
                if block is not None and any(ast.name_key(d.name) == new_key and d is not o.node
                                             for d in block.tokens):
                    raise RenameError(f"my.{new} is already declared beside my.{o.node.name}")


def _tokens_block(a: Analysis, decl: ast.TokenDecl) -> ast.Tokens | None:
    for r in a.loaded.results:
        if decl.span is not None and r.source.name == decl.span.file:
            for node in ast.walk(r.module):
                if isinstance(node, ast.Tokens) and any(d is decl for d in node.tokens):
                    return node
    return None


# --------------------------------------------------------------------------
# Hover


def hover(a: Analysis, name: str, offset: int, project: Project | None = None) -> tuple[str, Span] | None:
    """Markdown about what stands at ``offset``, and the span it covers. With
    ``project``, a My Token's call paths include those through the project's
    files that import this one."""
    occ = occurrence_at(a, name, offset)
    if occ is not None and (occ.symbols or isinstance(occ.node, ast.TokenRef) and occ.node.namespace == "my"):
        text = _hover_occurrence(a, occ, _importer_views(project, a, name, occ))
        if text:
            return text, occ.span
    found = _phrase_at(a, name, offset)
    if found is not None:
        node, entry = found
        text = f"**{entry.words}**"
        if isinstance(node, ast.Trigger):
            text = f"**trigger {entry.words}**"
        text += f"\n\n{entry.doc}\n\n```campaign\n{entry.usage}\n```"
        assert node.span is not None   # _nodes_at finds nodes by their span
        return text, node.span
    ff = _field_filter_at(a, name, offset)
    if ff is not None and ff.span is not None:
        found_field = a.model.field(ff.field.name)
        ftype = found_field[1] if found_field else "unknown"
        ops = ", ".join(f"`{o}`" for o in _filters.OPS_BY_TYPE.get(ftype, ()))
        return (f"**field filter** on `lead.{written_name(ff.field.name)}` ({ftype})\n\n"
                f"Operators for {ftype} fields: {ops}", ff.span)
    return None


def _importer_views(project: Project | None, a: Analysis, name: str,
                    occ: Occurrence) -> list[tuple[Analysis, Occurrence]]:
    """The same place as the analyses of the files that import this one see it."""
    out = [(a, occ)]
    if project is None or not (isinstance(occ.node, ast.TokenRef) and occ.node.namespace == "my"):
        return out
    for f in project.importers(a.path):
        try:
            other = project.analyse(f)
        except CampaignError:
            continue
        there = occurrence_at(other, name, occ.span.start)
        if there is not None and there.span == occ.span:
            out.append((other, there))
    return out


def _hover_occurrence(a: Analysis, occ: Occurrence,
                      views: list[tuple[Analysis, Occurrence]] | None = None) -> str:
    node = occ.node
    my_token = isinstance(node, ast.TokenRef) and node.namespace == "my"
    if my_token or (occ.symbols and occ.symbols[0].kind == "token"):
        tname = node.name if isinstance(node, (ast.TokenRef, ast.TokenDecl)) else occ.symbols[0].name
        # per campaign, the widest view: a file that imports this one may add callers
        best: dict[str, Any] = {}
        for va, vocc in views or [(a, occ)]:
            for c in vocc.campaigns:
                report = explain_token(va.model, c, tname, va.graph)
                if c.qualname not in best or len(report.paths) > len(best[c.qualname].paths):
                    best[c.qualname] = report
        if best:
            reports = [render_report(r) for r in best.values()]
            return f"**my.{tname}** per call path\n\n```text\n" + "\n\n".join(reports) + "\n```"
        lines = [f"**my.{tname}**"]
        for s in occ.symbols:
            decl = s.info
            lines.append(f"\ndeclared as `{value_text(decl.value)}` at {s.decl.file}:{s.decl.line}"
                         if s.decl is not None else "")
        if len(lines) == 1:
            lines.append("\ndefined nowhere in scope (renders blank)")
        return "\n".join(lines)
    sym = occ.symbols[0]
    if sym.kind == "campaign":
        return campaign_summary(a, sym.info)
    if sym.kind == "program":
        prog: ProgramInfo = sym.info
        text = f"**program {quote(prog.name)}**"
        if prog.workspace.name != "Default":
            text += f" in workspace {quote(prog.workspace.name)}"
        if prog.description:
            text += f"\n\n{prog.description}"
        text += f"\n\n{len(prog.campaigns)} campaigns"
        if prog.statuses:
            text += "; statuses " + ", ".join(quote(s) for s in prog.statuses)
        return text
    if sym.kind == "field":
        spelling, ftype, decl = sym.info
        where = f"declared at {sym.decl.file}:{sym.decl.line}" if sym.decl else "a standard field"
        return f"**field** `lead.{written_name(spelling)}`: {ftype} ({where})"
    if sym.kind in ASSET_KINDS:
        prog = a.model.program_of_asset(sym.kind, sym.info)
        text = f"**{sym.kind} {quote(sym.name)}**" + (f" of program {quote(prog.name)}" if prog else "")
        if isinstance(sym.info, ast.Email) and sym.info.subject is not None:
            text += f"\n\nsubject: {value_text(sym.info.subject)}"
        return text
    return ""


def campaign_summary(a: Analysis, c: CampaignInfo) -> str:
    """A campaign's kind, the levels it runs at and who executes or requests it."""
    lines = [f"**campaign {c.qualname}** ({c.kind}{'' if c.active else ', inactive'})"]
    if c.description:
        lines += ["", c.description]
    graph = a.graph
    if graph is None:
        lines += ["", "(the call graph is shown once the file has no syntax or import errors)"]
        return "\n".join(lines)
    levels = a.levels()
    if c.id in levels:
        lines += ["", f"execution depth: {level_text(c, levels[c.id], graph)}"]
    callers = [e for e in graph.edges if e.target is c]
    if callers:
        lines += ["", "callers:"]
        for e in callers:
            how = e.kind + "s"
            if e.kind == "execute":
                how += " with parent token context" if e.parent_context else " without parent token context"
            line = e.step.span.line if e.step.span is not None else "?"
            lines.append(f"- {e.caller.qualname} {how} (line {line})")
    elif c.kind == "executable":
        lines += ["", "nothing executes it"]
    calls = [e for e in graph.edges if e.caller is c and e.target is not None]
    if calls:
        lines += ["", "calls:"]
        lines += [f"- {e.kind}s {e.target.qualname}" for e in calls if e.target is not None]
    return "\n".join(lines)


_FILTER_NODES = (ast.ListFilter, ast.SmartListFilter, ast.ProgramFilter, ast.HistoryFilter)


def _nodes_at(a: Analysis, name: str, offset: int) -> list[ast.Node]:
    """The nodes of file ``name`` whose span holds ``offset``, outermost first."""
    parsed = a.parsed(name)
    if parsed is None:
        return []
    out: list[ast.Node] = []
    level: Sequence[ast.Node] = [parsed.module]
    while True:
        hit = None
        for n in level:
            s = n.span
            if s is not None and s.start <= offset < max(s.end, s.start + 1):
                hit = n
                break
        if hit is None:
            return out
        out.append(hit)
        level = list(ast.children(hit))


def _phrase_at(a: Analysis, name: str, offset: int) -> tuple[ast.Node, Phrase] | None:
    src = a.source(name)
    for node in reversed(_nodes_at(a, name, offset)):
        if isinstance(node, ast.Trigger):
            table: Sequence[Phrase] = _triggers.TRIGGERS
        elif isinstance(node, _FILTER_NODES):
            table = _filters.FILTERS
        elif type(node) in _steps.BY_NODE:
            return node, _steps.BY_NODE[type(node)]
        elif isinstance(node, ast.Choice):
            entry = _steps.BY_WORDS.get(node.kind)
            if entry is not None:
                return node, entry
            continue
        else:
            continue
        if src is None or node.span is None:
            return None
        words = [x.text for x in _atoms(src, node.span) if x.type == "NAME"]
        best = None
        for entry in table:
            n = len(entry.word_list)
            for skip in range(0, 3):
                if tuple(words[skip:skip + n]) == entry.word_list and (best is None or n > len(best.word_list)):
                    best = entry
        return (node, best) if best is not None else None
    return None


def _field_filter_at(a: Analysis, name: str, offset: int) -> ast.FieldFilter | None:
    for node in reversed(_nodes_at(a, name, offset)):
        if isinstance(node, ast.FieldFilter):
            return node
    return None


# --------------------------------------------------------------------------
# Completion


@frozen
class Completion:
    """One suggestion: the text to put in place of ``[start, end)``, what it
    is (``step``, ``filter``, ``field``, ``campaign`` ...) and a detail."""

    label: str
    kind: str
    start: int
    end: int
    insert: str
    detail: str = ""


_PHRASE_TABLES = {"step": _steps.STEPS, "filter": _filters.FILTERS, "trigger": _triggers.TRIGGERS}


def complete(a: Analysis, name: str, text: str, offset: int) -> list[Completion]:
    """What may be written at ``offset`` of ``text`` (the document as the
    editor has it), at the places the grammar allows."""
    line_start = text.rfind("\n", 0, offset) + 1
    line = text[line_start:offset]
    # inside {{ ... : a token
    i = line.rfind("{{")
    if i != -1 and "}}" not in line[i:]:
        return _complete_tokens(a, name, offset, line_start + i + 2, offset)
    # the phrase being written starts after the last '{', '}' or ';' of the line
    start = line_start
    depth_quote = False
    for k, ch in enumerate(line):
        if ch == '"':
            depth_quote = not depth_quote
        elif not depth_quote and ch in "{};":
            start = line_start + k + 1
    while start < offset and text[start] in " \t":
        start += 1
    partial = text[start:offset]
    if "#" in partial and partial.count('"') % 2 == 0:
        return []   # in a comment
    exp = expected_at(text, start)
    if exp is not None:
        blocks, accepts = exp.blocks, exp.accepts
    else:
        blocks, accepts = _blocks_by_braces(text, start), frozenset({"PHRASE"})
    inner = blocks[-1] if blocks else ""
    campaign = _campaign_at(a, name, start)
    if "PHRASE" in accepts and inner in ("flow", "smart list", "phrase", "test", "block"):
        return _complete_phrase(a, campaign, blocks, partial, start, offset)
    if '"' in partial and partial.count('"') % 2 == 1:
        return []   # a name being written: nothing to offer
    m = re.search(r"[A-Za-z_]*$", partial)
    typed = m.group(0) if m else ""
    wstart = offset - len(typed)
    # a declaration: what the grammar accepts where this word starts
    here = expected_at(text, wstart) if wstart != start else exp
    if here is None:
        return []
    words = sorted(w for w in here.accepts if w.isalpha() and w.islower())
    words = [{"smart": "smart list", "member": "member fields"}.get(w, w) for w in words]
    before = text[line_start:wstart]
    if "NAME" in here.accepts:   # a word the grammar leaves open: the language's words for it
        if re.match(r'\s*campaign\s+"(?:[^"\\\n]|\\.)*"\s*$', before):
            words += list(ast.CAMPAIGN_KINDS)
        elif re.match(r'\s*campaign\s+"(?:[^"\\\n]|\\.)*"\s+trigger\s*$', before):
            words.append("inactive")
        elif re.match(r'\s*(?:"(?:[^"\\\n]|\\.)*"|[A-Za-z_]\w*)\s*:\s*$', before) and "fields" in here.blocks:
            words += list(FIELD_TYPES)
        elif re.match(r"\s*method\s*$", before):
            words += ["get", "post", "put", "patch", "delete"]
    return [Completion(w, "keyword", wstart, offset, w) for w in words if w.startswith(typed)]


def _blocks_by_braces(text: str, offset: int) -> tuple[str, ...]:
    """The enclosing blocks by counting braces, for text the parser cannot
    read (an earlier syntax error): each named by its line's first words."""
    stack: list[str] = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\{\{[^{}\n]*\}\}|[{}]', text[:offset]):
        tok = m.group(0)
        if tok == "{":
            ls = text.rfind("\n", 0, m.start()) + 1
            head = text[ls:m.start()].split()
            word = head[0] if head else "block"
            if word == "smart":
                word = "smart list"
            elif head and word not in ("fields", "workspace", "folder", "program", "tokens", "email",
                                       "webhook", "campaign", "flow", "test"):
                word = "phrase"
            stack.append(word)
        elif tok == "}" and stack:
            stack.pop()
    return tuple(stack)


def _campaign_at(a: Analysis, name: str, offset: int) -> CampaignInfo | None:
    for c in a.model.campaigns:
        s = c.node.span
        if s is not None and s.file == name and s.start <= offset <= s.end:
            return c
    return None


def _program_at(a: Analysis, name: str, offset: int) -> ProgramInfo | None:
    for p in a.model.programs:
        s = p.node.span
        if s is not None and s.file == name and s.start <= offset <= s.end:
            return p
    return None


def _complete_tokens(a: Analysis, name: str, offset: int, start: int, end: int) -> list[Completion]:
    c = _campaign_at(a, name, offset)
    prog = c.program if c is not None else _program_at(a, name, offset)
    out: list[Completion] = []
    if c is not None:
        mine = c.env().names()
        # and what callers passing their context declare
        if a.graph is not None:
            for e in a.graph.executed_by(c):
                if e.parent_context:
                    mine += e.caller.env().names()
    elif prog is not None:
        mine = prog.env().names()
    else:
        mine = sorted({t.name for p in a.model.programs for t in p.tokens}, key=str.casefold)
    for t in dict.fromkeys(mine):
        out.append(Completion(f"my.{t}", "token", start, end, f"my.{t}}}}}", "My Token"))
    for f in a.model.field_names():
        out.append(Completion(f"lead.{f}", "field", start, end, f"lead.{f}}}}}", "person field"))
    for ns, names in TOKEN_ATTRIBUTES.items():
        for n in names:
            out.append(Completion(f"{ns}.{n}", "token", start, end, f"{ns}.{n}}}}}", f"{ns} token"))
    if prog is not None:
        for mf in prog.member_fields:
            out.append(Completion(f"member.{mf}", "token", start, end, f"member.{mf}}}}}", "member token"))
    if c is not None and c.kind == "trigger":
        for t in ("Name", "Trigger Name", "Web Page"):
            out.append(Completion(f"trigger.{t}", "token", start, end, f"trigger.{t}}}}}", "trigger token"))
    src = a.source(name)
    typed = src.text[start:end] if src is not None else ""
    return [x for x in out if x.label.casefold().startswith(typed.strip().casefold())]


def _complete_phrase(a: Analysis, campaign: CampaignInfo | None, blocks: tuple[str, ...], partial: str,
                     start: int, offset: int) -> list[Completion]:
    atoms = scan_atoms(partial, start)
    inner = blocks[-1] if blocks else ""
    # the part after the leading keyword says which table applies
    tables: list[tuple[str, Sequence[Phrase]]]
    if inner == "smart list":
        first = atoms[0].text if atoms and atoms[0].type == "NAME" else None
        if first in ("filter", "trigger") and (len(atoms) > 1 or partial.endswith((" ", "\t"))):
            atoms = atoms[1:]
            tables = [(first, _PHRASE_TABLES[first])]
        else:
            typed = partial.strip()
            return [Completion(w, "keyword", offset - len(typed), offset, w + " ")
                    for w in ("filter", "trigger") if w.startswith(typed)]
    elif inner == "flow":
        tables = [("step", _steps.STEPS)]
    elif inner == "test":
        first = atoms[0].text if atoms and atoms[0].type == "NAME" else None
        if first == "fire" and (len(atoms) > 1 or partial.endswith(" ")):
            atoms = atoms[1:]
            tables = [("trigger", _triggers.TRIGGERS)]
        elif first == "for" or not atoms or (len(atoms) == 1 and not partial.endswith(" ")):
            typed = partial.strip()
            return [Completion(w, "keyword", offset - len(typed), offset, w) for w in TEST_STATEMENTS
                    if w.startswith(typed)]
        else:
            return []
    else:   # a phrase's block: choice branches (or a test's for/person/fire block)
        names = [x.text for x in atoms if x.type == "NAME"]
        if not atoms or (len(atoms) == 1 and not partial.endswith(" ")):
            typed = partial.strip()
            return [Completion(w, "keyword", offset - len(typed), offset, w) for w in
                    ("if", "else if", "else", "else do nothing") if w.startswith(typed)]
        if names[:1] == ["if"] or names[:2] == ["else", "if"]:
            k = 1 if names[0] == "if" else 2
            if "then" in names:
                return []
            atoms = atoms[k:]
            tables = [("filter", _filters.FILTERS)]
        else:
            return []
    out: list[Completion] = []
    for what, table in tables:
        if what == "filter":
            field_filter = _complete_field_filter(a, atoms, partial, start, offset)
            if field_filter is not None:
                return field_filter
        out += _complete_in_table(a, campaign, what, table, atoms, partial, offset)
    return out


def _complete_field_filter(a: Analysis, atoms: list[Atom], partial: str, start: int,
                           offset: int) -> list[Completion] | None:
    if not atoms or atoms[0].text != "lead":
        if len(atoms) <= 1 and not partial.endswith(" "):
            typed = atoms[0].text if atoms else ""
            if "lead".startswith(typed):
                return [Completion("lead.", "field", offset - len(typed), offset, "lead.",
                                   "a field filter: lead.Field operator value")]
        return None
    if len(atoms) == 1:
        return _field_completions(a, offset, offset, "lead.") if not partial.endswith(" ") else []
    if atoms[1].type != "DOT":
        return []
    if len(atoms) == 2 or (len(atoms) == 3 and not partial.endswith(" ")):
        at = atoms[2].start if len(atoms) == 3 else offset
        typed = _unquote(atoms[2].text).lstrip('"').casefold() if len(atoms) == 3 else ""
        return [c for c in _field_completions(a, at, offset, "") if c.label.casefold().startswith(typed)]
    # an operator after the field
    fname = _unquote(atoms[2].text)
    found = a.model.field(fname)
    ftype = found[1] if found else None
    rest = atoms[3:]
    typed_ops = " ".join(x.text for x in rest)
    ops = _filters.OPS_BY_TYPE.get(ftype, tuple(_filters.OPERATORS)) if ftype else tuple(_filters.OPERATORS)
    if ftype == "boolean":
        ops = ("is true", "is false", "is empty", "is not empty")
    if not rest or not partial.endswith(" "):
        from_ = rest[0].start if rest else offset
        return [Completion(op, "operator", from_, offset, op, f"{ftype or 'field'} operator")
                for op in ops if op.startswith(typed_ops)]
    return []


def _field_completions(a: Analysis, start: int, end: int, prefix: str) -> list[Completion]:
    out = []
    for f in a.model.field_names():
        found = a.model.field(f)
        out.append(Completion(prefix + f, "field", start, end, prefix + written_name(f),
                              found[1] if found else ""))
    return out


def _complete_in_table(a: Analysis, campaign: CampaignInfo | None, what: str, table: Sequence[Phrase],
                       atoms: list[Atom], partial: str, offset: int) -> list[Completion]:
    words: list[Atom] = []
    for x in atoms:
        if x.type != "NAME":
            break
        words.append(x)
    typed = [x.text for x in words]
    ends_space = partial.endswith((" ", "\t"))
    out: list[Completion] = []
    if len(words) == len(atoms):
        # still in the leading words: complete the phrase's words
        done = typed if ends_space else typed[:-1]
        last = "" if ends_space else (typed[-1] if typed else "")
        wstart = words[len(done)].start if not ends_space and words else offset
        for entry in table:
            wl = entry.word_list
            if len(wl) > len(done) and list(wl[:len(done)]) == done and wl[len(done)].startswith(last):
                tail = " ".join(wl[len(done):])
                out.append(Completion(" ".join(wl), what, wstart, offset, tail, entry.usage))
        if out:
            return out
    # past the words: what the entry's pattern expects next
    for entry in table:
        wl = entry.word_list
        if tuple(typed[:len(wl)]) != wl:
            continue
        rest = atoms[len(wl):]
        partial_atom: Atom | None = None
        if rest and not ends_space and rest[-1].type in ("NAME", "OTHER", "STRING"):
            partial_atom = rest[-1]
            rest = rest[:-1]
        for item in _next_items(entry.pattern, rest):
            out += _slot_completions(a, campaign, entry, item, partial_atom, offset)
    return out


def _next_items(pattern: Sequence[Any], atoms: Sequence[Atom]) -> list[Any]:
    """What a pattern expects after ``atoms`` (words, slots): a loose walk
    that consumes a slot's atoms greedily; enough to suggest the next part."""
    results: list[Any] = []

    def walk(items: Sequence[Any], pos: int, cont: Sequence[Any]) -> None:
        if not items:
            if cont:
                walk(cont[0], pos, cont[1:])
            return
        item, rest = items[0], items[1:]
        if pos >= len(atoms):
            if isinstance(item, str):
                results.append(item)
            elif isinstance(item, Slot):
                results.append(item)
            elif isinstance(item, Opt):
                walk(item.items, pos, ())
                walk(rest, pos, cont)
            elif isinstance(item, Alt):
                for o in item.options:
                    walk(o, pos, ())
            return
        if isinstance(item, str):
            ws = item.split()
            got = [x.text for x in atoms[pos:pos + len(ws)]]
            if got == ws:
                walk(rest, pos + len(ws), cont)
            elif got and ws[:len(got)] == got and pos + len(got) >= len(atoms):
                results.append(" ".join(ws[len(got):]))
        elif isinstance(item, Slot):
            walk(rest, pos + _slot_width(item, atoms, pos), cont)
        elif isinstance(item, Opt):
            walk(item.items, pos, (rest, *cont))
            walk(rest, pos, cont)
        elif isinstance(item, Alt):
            for o in item.options:
                walk(o, pos, (rest, *cont))

    walk(pattern, 0, ())
    seen: list[Any] = []
    for r in results:
        if r not in seen:
            seen.append(r)
    return seen


def _slot_width(slot: Slot, atoms: Sequence[Atom], pos: int) -> int:
    kinds = [x.type for x in atoms[pos:]]
    if slot.kind == "field":
        return 3 if kinds[:2] == ["NAME", "DOT"] else 1
    if slot.kind in ("ref", "targets"):
        if kinds[:3] == ["STRING", "DOT", "STRING"]:
            return 3
        if slot.kind == "targets" and [x.text for x in atoms[pos:pos + 2]] == ["this", "campaign"]:
            return 2
        return 1
    if slot.kind in ("values", "names"):
        n = 1
        while pos + n + 1 < len(atoms) + 1 and n < len(kinds) and kinds[n] == "COMMA":
            n += 2
        return min(n, len(kinds))
    return 1


def _slot_completions(a: Analysis, campaign: CampaignInfo | None, entry: Phrase, item: Any,
                      last: Atom | None, offset: int) -> list[Completion]:
    start = last.start if last is not None else offset
    typed = last.text if last is not None else ""
    if isinstance(item, str):
        return [Completion(item, "keyword", start, offset, item)] if item.startswith(typed) else []
    slot: Slot = item
    out: list[Completion] = []
    if slot.kind == "word":
        return [Completion(c, "keyword", start, offset, c) for c in slot.choices if c.startswith(typed)]
    if slot.kind == "field":
        if typed and not "lead".startswith(typed):
            return []
        return _field_completions(a, start, offset, "lead.")
    prog = campaign.program if campaign is not None else None
    asset_kind = _slot_asset_kind(entry, slot)
    if slot.kind == "name" and slot.name == "program" or asset_kind == "program":
        names = [quote(p.name) for p in a.model.programs]
        out = [Completion(n, "program", start, offset, n) for n in names]
    elif slot.kind == "name" and slot.name in ("status", "member_field"):
        for p in a.model.programs:
            for s in (p.statuses if slot.name == "status" else p.member_fields):
                out.append(Completion(quote(s), slot.name.replace("_", " "), start, offset, quote(s),
                                      f"program {quote(p.name)}"))
    elif asset_kind is not None:
        out = _asset_completions(a, prog, asset_kind, entry, start, offset)
    elif slot.kind == "value":
        if campaign is not None:
            out = [Completion(f"{{{{my.{t}}}}}", "token", start, offset, f"{{{{my.{t}}}}}", "My Token")
                   for t in campaign.env().names()]
        out += [Completion(w, "keyword", start, offset, w) for w in ("true", "false", "null")]
    if typed:
        out = [c for c in out if c.insert.startswith(typed) or c.label.casefold().startswith(typed.casefold())]
    return out


def _slot_asset_kind(entry: Phrase, slot: Slot) -> str | None:
    if slot.kind not in ("ref", "targets", "name"):
        return None
    if slot.kind == "targets":
        return "campaign"
    kind = entry.fixed.get("kind")
    if slot.name == "target" and kind is not None:
        found = HISTORY_TARGETS.get(kind, TRIGGER_TARGETS.get(kind))
        if kind == "program status is changed":
            return "program"
        return found
    return {"list": "list", "smart_list": "smart list", "email": "email", "webhook": "webhook",
            "campaign": "campaign"}.get(slot.name)


def _asset_completions(a: Analysis, here: ProgramInfo | None, kind: str, entry: Phrase, start: int,
                       offset: int) -> list[Completion]:
    attr = ASSET_KINDS[kind][1]
    out = []
    for p in a.model.programs:
        if here is not None and p.workspace is not here.workspace:
            continue
        for n, target in getattr(p, attr).items():
            if kind == "campaign" and isinstance(target, CampaignInfo):
                if entry.words == "execute campaign" and target.kind != "executable":
                    continue
                if entry.words == "request campaign" and target.kind != "trigger":
                    continue
            text = quote(n) if p is here else f"{quote(p.name)}.{quote(n)}"
            detail = f"{kind} of {quote(p.name)}"
            if isinstance(target, CampaignInfo):
                detail = f"{target.kind} campaign of {quote(p.name)}"
            out.append(Completion(text, kind, start, offset, text, detail))
    return out


# --------------------------------------------------------------------------
# Outline, formatting, quick fixes


@frozen
class Outline:
    """One entry of a file's outline: a workspace, folder, program, campaign,
    asset, token, field or test, with its whole span and its name's span."""

    name: str
    kind: str
    detail: str
    span: Span
    selection: Span
    children: tuple["Outline", ...] = ()


def outline(a: Analysis, name: str) -> list[Outline]:
    parsed = a.parsed(name)
    if parsed is None:
        return []
    sources = a.result.sources

    def entry(node: ast.Node, kind: str, label: str, detail: str = "",
              children: Iterable[Outline | None] = ()) -> Outline | None:
        if node.span is None:
            return None
        sel = decl_name_span(sources, node) or node.span
        return Outline(label, kind, detail, node.span, sel, tuple(c for c in children if c is not None))

    def items(nodes: Iterable[ast.Node]) -> Iterator[Outline | None]:
        for n in nodes:
            if isinstance(n, ast.Workspace):
                yield entry(n, "workspace", n.name, "workspace", items(n.items))
            elif isinstance(n, ast.Folder):
                yield entry(n, "folder", n.name, "folder", items(n.items))
            elif isinstance(n, ast.Program):
                yield entry(n, "program", n.name, "program", items(n.items))
            elif isinstance(n, ast.Campaign):
                yield entry(n, "campaign", n.name, n.kind + ("" if n.active else " inactive"))
            elif type(n) in _ASSET_CLASSES and getattr(n, "name", None):
                yield entry(n, _ASSET_CLASSES[type(n)], getattr(n, "name"), _ASSET_CLASSES[type(n)])
            elif isinstance(n, ast.Tokens):
                for t in n.tokens:
                    yield entry(t, "token", f"my.{t.name}", value_text(t.value) if t.value is not None else "")
            elif isinstance(n, ast.Fields):
                for f in n.fields:
                    yield entry(f, "field", f.name, f.type)
            elif isinstance(n, ast.Test):
                yield entry(n, "test", n.name, "test")

    return [o for o in items(parsed.module.items) if o is not None]


def formatted(text: str, name: str) -> str | None:
    """``campaign fmt`` of the text; None when it has syntax errors (a broken
    file is never rewritten)."""
    try:
        return format_source(text, name)
    except DiagnosticError:
        return None


_MEAN = re.compile(r"did you mean (.+?)\?")


def quick_fix(src: SourceFile, d: Diagnostic) -> tuple[Span, str, str] | None:
    """The did-you-mean hint of a diagnostic as an edit: (span to replace,
    new text, title). Finds, inside the diagnostic's span, the written thing
    of the same shape as the suggestion that is closest to it."""
    if not d.hint:
        return None
    m = _MEAN.search(d.hint)
    if m is None:
        return None
    suggestion = m.group(1).strip()
    if suggestion.startswith("'") and suggestion.endswith("'"):
        suggestion = suggestion[1:-1]
    span = d.span
    text = src.text[span.start:span.end]
    cands: list[tuple[int, int, str]] = []   # start, end (in text), replacement
    if suggestion.startswith('"'):
        # a qualified name, or one of its parts (an unknown program of "P"."N")
        for x in re.finditer(r'"(?:[^"\\\n]|\\.)*"(?:\s*\.\s*"(?:[^"\\\n]|\\.)*")?', text):
            cands.append((x.start(), x.end(), suggestion))
        for x in re.finditer(r'"(?:[^"\\\n]|\\.)*"', text):
            cands.append((x.start(), x.end(), suggestion))
    elif re.match(r"(my|lead|campaign|program|system|member|trigger)\.", suggestion):
        ns, _, rest = suggestion.partition(".")
        for x in re.finditer(r"\{\{\s*([^{}:]*?)\s*(?::default=[^{}]*)?\}\}", text):
            cands.append((x.start(1), x.end(1), suggestion))
        if ns == "lead":
            for x in re.finditer(r'\blead\s*\.\s*(?:"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*)', text):
                inside = text.rfind("{{", 0, x.start()) > text.rfind("}}", 0, x.start())
                if not inside:
                    cands.append((x.start(), x.end(), "lead." + written_name(rest)))
    elif " " in suggestion or suggestion.isalpha() and suggestion.islower():
        n = len(suggestion.split())
        words = list(re.finditer(r"[A-Za-z_]+", text))
        for skip in range(0, min(3, len(words))):
            chunk = words[skip:skip + n]
            if len(chunk) == n:
                cands.append((chunk[0].start(), chunk[-1].end(), suggestion))
    else:
        for x in re.finditer(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*', text):
            cands.append((x.start(), x.end(), written_name(suggestion) if not x.group(0).startswith('"')
                          else quote(suggestion)))
    best = None
    for s, e, new in cands:
        old = text[s:e]
        if old == new:
            continue
        ratio = difflib.SequenceMatcher(None, old.casefold(), new.casefold()).ratio()
        if best is None or ratio > best[0]:
            best = (ratio, s, e, new)
    if best is None or best[0] < 0.5:
        return None
    _, s, e, new = best
    return src.span(span.start + s, span.start + e), new, f"Change to {new}"

