"""``campaign lsp``: a Language Server Protocol server over stdio (pygls).

Owns the protocol: documents opened, changed and closed, and every request
an editor makes, translated between the protocol's URIs, lines and columns
(UTF-16 code units unless the client offers others) and the offsets of
``editor.py``, which does the work with the checker's own results. Nothing
here decides anything about the language.

Diagnostics are published as you type, debounced on both edges: a change
after a quiet spell is checked at once; changes that follow each other
within ``DEBOUNCE`` seconds (typing; ``initializationOptions.debounce_ms``
sets it) are checked once, that long after the last of them. They are
published for the changed file and for every project file that imports it,
each from its own analysis
(what ``campaign check FILE`` reports for that file). A hint goes on a line
of its own under the message (the protocol has no field for it) and in the
diagnostic's ``data`` for the quick fix; related places become
``relatedInformation``.

Needs the optional extra ``lsp`` (pygls, lsprotocol); only this module
imports them, and the command line imports it lazily. Imports ``editor``
and what it gives; nothing imports this module but ``cli.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__, editor
from .errors import CampaignError, Diagnostic
from .source import SourceFile, Span

#: seconds of quiet after a change before the file is checked again
DEBOUNCE = 0.05

#: the protocol's error code for a request that failed for a reason the user can act on
REQUEST_FAILED = -32803

_KINDS = {
    "workspace": lsp.SymbolKind.Namespace, "folder": lsp.SymbolKind.Package,
    "program": lsp.SymbolKind.Module, "campaign": lsp.SymbolKind.Function,
    "list": lsp.SymbolKind.Array, "smart list": lsp.SymbolKind.Array, "form": lsp.SymbolKind.Struct,
    "email": lsp.SymbolKind.Object, "webhook": lsp.SymbolKind.Interface,
    "token": lsp.SymbolKind.Constant, "field": lsp.SymbolKind.Field, "test": lsp.SymbolKind.Method,
}
_COMPLETION_KINDS = {
    "step": lsp.CompletionItemKind.Function, "filter": lsp.CompletionItemKind.Function,
    "trigger": lsp.CompletionItemKind.Event, "keyword": lsp.CompletionItemKind.Keyword,
    "operator": lsp.CompletionItemKind.Operator, "field": lsp.CompletionItemKind.Field,
    "token": lsp.CompletionItemKind.Variable, "campaign": lsp.CompletionItemKind.Reference,
    "program": lsp.CompletionItemKind.Module,
}


class CampaignServer(LanguageServer):
    """The server, with the editor's project and the pending checks."""

    def __init__(self) -> None:
        super().__init__("campaign-lsp", __version__)
        self.project = editor.Project()
        self.pending: dict[str, asyncio.Task] = {}
        self.last_change: dict[str, float] = {}   # when a change was last taken in
        self.last_check: dict[str, float] = {}    # when a check last ended
        self.debounce = DEBOUNCE

    # -- places --------------------------------------------------------------

    def path(self, uri: str) -> Path:
        fs = to_fs_path(uri)
        if fs is None:
            raise JsonRpcException(f"not a file: {uri}", code=REQUEST_FAILED)
        return editor.Project.key(fs)

    def analysis(self, uri: str) -> editor.Analysis:
        return self.project.analyse(self.path(uri))

    def offset(self, uri: str, position: lsp.Position) -> int:
        doc = self.workspace.get_text_document(uri)
        return doc.offset_at_position(position)

    def position(self, src: SourceFile, line: int, column: int) -> lsp.Position:
        text = src.line_text(line)
        pos = self.workspace.position_codec.position_to_client_units([text], lsp.Position(0, column - 1))
        return lsp.Position(line - 1, pos.character)

    def range(self, src: SourceFile, span: Span) -> lsp.Range:
        return lsp.Range(self.position(src, span.line, span.column),
                         self.position(src, span.end_line, span.end_column))

    def location(self, a: editor.Analysis, span: Span) -> lsp.Location | None:
        src = a.source(span.file)
        path = editor.path_of(span.file)
        if src is None or path is None:
            return None
        return lsp.Location(from_fs_path(str(path)), self.range(src, span))

    # -- diagnostics -----------------------------------------------------------

    def lsp_diagnostic(self, a: editor.Analysis, d: Diagnostic) -> lsp.Diagnostic:
        src = a.source(d.span.file)
        assert src is not None
        related = []
        for r in d.related:
            loc = self.location(a, r.span)
            if loc is not None:
                related.append(lsp.DiagnosticRelatedInformation(loc, r.message))
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        return lsp.Diagnostic(
            range=self.range(src, d.span), message=message, code=d.code, source="campaign",
            severity=lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning,
            related_information=related or None, data={"hint": d.hint} if d.hint else None)

    def publish(self, uri: str) -> None:
        """Check the file and the project's files that import it; publish each."""
        path = self.path(uri)
        targets = [path, *self.project.importers(path)]
        for p in targets:
            try:
                a = self.project.analyse(p)
            except CampaignError as exc:
                self.window_log_message(lsp.LogMessageParams(lsp.MessageType.Warning, str(exc)))
                continue
            diags = [self.lsp_diagnostic(a, d) for d in a.diagnostics_for(a.name)]
            target_uri = uri if p == path else from_fs_path(str(p))
            doc = self.workspace.text_documents.get(target_uri)
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                uri=target_uri, diagnostics=diags, version=doc.version if doc is not None else None))

    async def publish_later(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self.pending.pop(uri, None)
        try:
            self.publish(uri)
        finally:
            self.last_check[uri] = time.monotonic()


server = CampaignServer()


def _roots(params: lsp.InitializeParams) -> list[Path]:
    roots = []
    for folder in params.workspace_folders or []:
        fs = to_fs_path(folder.uri)
        if fs:
            roots.append(Path(fs))
    if not roots and params.root_uri:
        fs = to_fs_path(params.root_uri)
        if fs:
            roots.append(Path(fs))
    return roots


@server.feature(lsp.INITIALIZE)
def initialize(ls: CampaignServer, params: lsp.InitializeParams) -> None:
    ls.project = editor.Project(_roots(params))
    options = params.initialization_options or {}
    if isinstance(options, dict) and isinstance(options.get("debounce_ms"), (int, float)):
        ls.debounce = max(0.0, float(options["debounce_ms"]) / 1000)


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CampaignServer, params: lsp.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    if not ls.project.roots:   # no workspace folder: the file's project root
        from .loader import find_root
        ls.project.roots = [find_root(ls.path(uri))]
    ls.project.open(ls.path(uri), params.text_document.text)
    ls.publish(uri)
    ls.last_check[uri] = time.monotonic()


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: CampaignServer, params: lsp.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    ls.project.change(ls.path(uri), doc.source)
    # Quiet means no change and no check within the debounce: changes that
    # queued up while a check ran are a burst, not a new edit after a pause.
    now = time.monotonic()
    last = max(ls.last_change.get(uri, -1e9), ls.last_check.get(uri, -1e9))
    ls.last_change[uri] = now
    old = ls.pending.pop(uri, None)
    if old is not None:
        old.cancel()
    typing = old is not None or now - last < ls.debounce
    ls.pending[uri] = asyncio.ensure_future(ls.publish_later(uri, ls.debounce if typing else 0.0))


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: CampaignServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.project.touch()


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CampaignServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.project.close(ls.path(params.text_document.uri))


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched(ls: CampaignServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    ls.project.touch()


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: CampaignServer, params: lsp.HoverParams) -> lsp.Hover | None:
    uri = params.text_document.uri
    a = ls.analysis(uri)
    found = editor.hover(a, a.name, ls.offset(uri, params.position), ls.project)
    if found is None:
        return None
    text, span = found
    src = a.source(span.file)
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text),
                     ls.range(src, span) if src is not None else None)


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: CampaignServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    uri = params.text_document.uri
    a = ls.analysis(uri)
    spans = editor.definitions(a, a.name, ls.offset(uri, params.position), ls.project)
    return [loc for loc in (_location_anywhere(ls, s) for s in spans) if loc is not None]


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def references(ls: CampaignServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    uri = params.text_document.uri
    a = ls.analysis(uri)
    spans = editor.references(ls.project, a, a.name, ls.offset(uri, params.position),
                              params.context.include_declaration)
    return [loc for loc in (_location_anywhere(ls, s) for s in spans) if loc is not None]


def _location_anywhere(ls: CampaignServer, span: Span) -> lsp.Location | None:
    """A span of any project file (its own analysis holds its source)."""
    path = editor.path_of(span.file)
    if path is None:
        return None
    try:
        a = ls.project.analyse(path)
    except CampaignError:
        return None
    return ls.location(a, span)


@server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
def prepare_rename(ls: CampaignServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
    uri = params.text_document.uri
    a = ls.analysis(uri)
    occ = editor.occurrence_at(a, a.name, ls.offset(uri, params.position))
    if occ is None or not occ.symbols:
        return None
    src = a.source(occ.span.file)
    return ls.range(src, occ.span) if src is not None else None


@server.feature(lsp.TEXT_DOCUMENT_RENAME)
def rename(ls: CampaignServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit:
    uri = params.text_document.uri
    a = ls.analysis(uri)
    try:
        edits = editor.rename(ls.project, a, a.name, ls.offset(uri, params.position), params.new_name)
    except editor.RenameError as exc:
        raise JsonRpcException(str(exc), code=REQUEST_FAILED) from None
    changes: dict[str, list[lsp.TextEdit]] = {}
    for file, items in edits.items():
        path = editor.path_of(file)
        if path is None:
            continue
        src = ls.project.analyse(path).source(file) or a.source(file)
        if src is None:
            continue
        changes[from_fs_path(str(path))] = [lsp.TextEdit(ls.range(src, span), text) for span, text in items]
    return lsp.WorkspaceEdit(changes=changes)


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                lsp.CompletionOptions(trigger_characters=[".", " ", "{", '"']))
def completion(ls: CampaignServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    a = ls.analysis(uri)
    text = doc.source
    src = SourceFile(a.name, text)
    items = []
    for c in editor.complete(a, a.name, text, ls.offset(uri, params.position)):
        rng = ls.range(src, src.span(c.start, c.end))
        items.append(lsp.CompletionItem(
            label=c.label, kind=_COMPLETION_KINDS.get(c.kind, lsp.CompletionItemKind.Value),
            detail=c.detail or c.kind, text_edit=lsp.TextEdit(rng, c.insert), filter_text=c.insert
            if c.insert.startswith('"') else None))
    return lsp.CompletionList(is_incomplete=False, items=items)


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: CampaignServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    new = editor.formatted(doc.source, uri)
    if new is None or new == doc.source:
        return [] if new is not None else None
    lines = doc.lines
    end = lsp.Position(len(lines), 0)
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), new)]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: CampaignServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    uri = params.text_document.uri
    a = ls.analysis(uri)
    src = a.source(a.name)
    assert src is not None

    def convert(o: editor.Outline) -> lsp.DocumentSymbol:
        return lsp.DocumentSymbol(
            name=o.name, kind=_KINDS.get(o.kind, lsp.SymbolKind.Object), detail=o.detail,
            range=ls.range(src, o.span), selection_range=ls.range(src, o.selection),
            children=[convert(c) for c in o.children])

    return [convert(o) for o in editor.outline(a, a.name)]


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
def code_actions(ls: CampaignServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    uri = params.text_document.uri
    a = ls.analysis(uri)
    src = a.source(a.name)
    if src is None:
        return []
    out = []
    for d in a.diagnostics_for(a.name):
        rng = ls.range(src, d.span)
        if not _overlaps(rng, params.range):
            continue
        fix = editor.quick_fix(src, d)
        if fix is None:
            continue
        span, new, title = fix
        matching = [x for x in params.context.diagnostics if x.code == d.code and x.range == rng]
        out.append(lsp.CodeAction(
            title=title, kind=lsp.CodeActionKind.QuickFix, diagnostics=matching or None, is_preferred=True,
            edit=lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(ls.range(src, span), new)]})))
    return out


def _overlaps(a: lsp.Range, b: lsp.Range) -> bool:
    def key(p: lsp.Position) -> tuple[int, int]:
        return (p.line, p.character)
    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def main() -> int:
    """Serve on stdin/stdout until the client says exit."""
    logging.basicConfig(level=logging.WARNING)
    server.start_io()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
