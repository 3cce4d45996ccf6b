"""``campaign lsp`` end to end: a real server process driven by pytest-lsp's
client over stdio, on a copy of the examples in a temporary project."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest

pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types as lsp  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lead_lifecycle.campaign"

# A second file of the project: it imports the example and executes its
# router, so a rename must reach both files.
CALLERS = '''\
import "lead_lifecycle.campaign"

program "Partners" {
    tokens { my.Score = +7 }
    campaign "Partner Lead" trigger {
        smart list { trigger fills out form "Partner Form" }
        flow {
            execute campaign "Ops Routing"."Route"
            execute campaign "Ops Scoring"."Score" use parent token context
        }
    }
    form "Partner Form"
}
'''


def _project(request: pytest.FixtureRequest) -> Path:
    tmp = request.getfixturevalue("tmp_path")
    proj = tmp / "proj"
    proj.mkdir()
    (proj / "campaign.toml").write_text("")
    shutil.copy(EXAMPLE, proj / "lead_lifecycle.campaign")
    (proj / "callers.campaign").write_text(CALLERS)
    return proj


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "campaignlang.cli", "lsp"]))
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    proj = _project(request)
    lsp_client.project = proj  # type: ignore[attr-defined]
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(),
        workspace_folders=[lsp.WorkspaceFolder(uri=from_fs_path(str(proj)), name="proj")],
        initialization_options={"debounce_ms": 10}))
    yield
    await lsp_client.shutdown_session()


def _uri(client: LanguageClient, name: str) -> str:
    return from_fs_path(str(client.project / name))  # type: ignore[attr-defined]


async def _open(client: LanguageClient, name: str, text: str | None = None) -> tuple[str, str]:
    uri = _uri(client, name)
    if text is None:
        text = (client.project / name).read_text()  # type: ignore[attr-defined]
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="campaign", version=1, text=text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri, text


async def _until(client: LanguageClient, uri: str, holds) -> list[lsp.Diagnostic]:
    """Wait for published diagnostics of ``uri`` that satisfy ``holds``
    (other files' notifications, the importers', may come first)."""
    for _ in range(20):
        found = client.diagnostics.get(uri)
        if found is not None and holds(list(found)):
            return list(found)
        await asyncio.wait_for(client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 20)
    raise AssertionError(f"no matching diagnostics for {uri}: {client.diagnostics.get(uri)}")


def _pos(text: str, needle: str, inside: int = 1) -> lsp.Position:
    """The position ``inside`` characters into the first ``needle``."""
    offset = text.index(needle) + inside
    line = text.count("\n", 0, offset)
    return lsp.Position(line, offset - (text.rfind("\n", 0, offset) + 1))


def _edit(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.split("\n")
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln) + 1)

    def off(p: lsp.Position) -> int:
        return starts[p.line] + p.character if p.line < len(lines) else len(text)

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:off(e.range.start)] + e.new_text + text[off(e.range.end):]
    return text


@pytest.mark.asyncio
async def test_lifecycle_session(client: LanguageClient):
    """The issue's session: open the lifecycle example, get diagnostics,
    hover a token, jump to the executable, rename across two files,
    complete a filter after ``filter lead.``, format."""
    uri, text = await _open(client, "lead_lifecycle.campaign")
    assert list(client.diagnostics[uri]) == []   # the example checks clean

    # a token's value per call path, as campaign explain --token prints it
    hover = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, "{{my.Score}}", 5)))
    assert hover is not None
    body = hover.contents.value
    assert '"Webinar 2026"."Registration"' in body and "= +15" in body
    assert '"Pricing Interest"."Visited Pricing"' in body and "= +5" in body
    assert "with parent token context" in body
    # and through callers.campaign, which imports this file and executes "Score" too
    assert '"Partners"."Partner Lead"' in body and "= +7" in body

    # from an execute campaign step to the executable's declaration
    defs = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, 'execute campaign "Ops Scoring"."Score"', 33)))
    assert len(defs) == 1 and defs[0].uri == uri
    decl_line = text[:text.index('campaign "Score" executable')].count("\n")
    assert defs[0].range.start.line == decl_line

    # rename the router: its declaration here, its caller in callers.campaign
    edit = await client.text_document_rename_async(lsp.RenameParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, 'campaign "Route" executable', 11), "Assign Region"))
    callers_uri = _uri(client, "callers.campaign")
    assert set(edit.changes) == {uri, callers_uri}
    renamed = _edit(text, edit.changes[uri])
    assert 'campaign "Assign Region" executable' in renamed
    assert 'execute campaign "Ops Routing"."Assign Region"' in renamed
    assert 'execute campaign "Ops Routing"."Assign Region"' in _edit(CALLERS, edit.changes[callers_uri])

    # completion after `filter lead.` offers the fields
    anchor = "            trigger campaign is requested\n"
    where = text.index(anchor) + len(anchor)
    typed = text[:where] + "            filter lead.\n" + text[where:]
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [lsp.TextDocumentContentChangeWholeDocument(text=typed)]))
    line = typed[:where].count("\n")
    got = await client.text_document_completion_async(lsp.CompletionParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(line, len("            filter lead."))))
    labels = {i.label for i in got.items}
    assert {"Country", "Lead Score", "Region", "Behavior Score"} <= labels
    lead_score = next(i for i in got.items if i.label == "Lead Score")
    assert lead_score.text_edit.new_text == '"Lead Score"'

    # formatting gives the canonical layout (here: a messy copy made tidy)
    messy = text.replace('    program "Nurture" {'.replace("    ", ""), 'program   "Nurture"{', 1)
    messy = messy.replace("        list \"Needs Owner\"", "list \"Needs Owner\"", 1)
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=3),
        [lsp.TextDocumentContentChangeWholeDocument(text=messy)]))
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        lsp.TextDocumentIdentifier(uri), lsp.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert edits and _edit(messy, edits) == text


@pytest.mark.asyncio
async def test_diagnostics_as_you_type_with_hints_and_quick_fix(client: LanguageClient):
    uri, text = await _open(client, "lead_lifecycle.campaign")
    broken = text.replace('send email "Confirmation"', 'send email "Confirmaton"')
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [lsp.TextDocumentContentChangeWholeDocument(text=broken)]))
    diags = await _until(client, uri, lambda ds: bool(ds))
    assert [d.code for d in diags] == ["CL101"]
    d = diags[0]
    assert d.severity == lsp.DiagnosticSeverity.Error and d.source == "campaign"
    assert 'unknown email "Confirmaton"' in d.message and 'did you mean "Confirmation"?' in d.message
    line = broken[:broken.index('"Confirmaton"')].count("\n")
    assert d.range.start.line == line
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), d.range, lsp.CodeActionContext(diagnostics=[d])))
    assert len(actions) == 1 and actions[0].kind == lsp.CodeActionKind.QuickFix
    fixed = _edit(broken, actions[0].edit.changes[uri])
    assert fixed == text


@pytest.mark.asyncio
async def test_every_syntax_error_is_reported(client: LanguageClient):
    text = 'program "P" {\n    campaign "A" batch {\n        flow { chnage score lead."Lead Score" by +1 }\n' \
           '    }\n    lst "X"\n}\nprogram "Q" {\n    form\n}\n'
    uri, _ = await _open(client, "broken.campaign", text)
    codes = [d.code for d in client.diagnostics[uri]]
    assert codes.count("CL001") >= 3, client.diagnostics[uri]


@pytest.mark.asyncio
async def test_importers_get_diagnostics_too(client: LanguageClient):
    uri, text = await _open(client, "lead_lifecycle.campaign")
    callers_uri = _uri(client, "callers.campaign")
    # rename the router in the imported file only: the importer now calls a missing campaign
    changed = text.replace('campaign "Route" executable', 'campaign "Router" executable')
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [lsp.TextDocumentContentChangeWholeDocument(text=changed)]))
    found = await _until(client, callers_uri, lambda ds: bool(ds))
    assert any(d.code == "CL101" and '"Ops Routing"."Route"' in d.message for d in found)


@pytest.mark.asyncio
async def test_related_information(client: LanguageClient):
    text = ('program "P" {\n    campaign "A" executable { flow { execute campaign "B" } }\n'
            '    campaign "B" executable { flow { execute campaign "A" } }\n'
            '    campaign "Start" batch {\n        smart list { filter lead.Country is "US" }\n'
            '        flow { execute campaign "A" }\n    }\n}\n')
    uri, _ = await _open(client, "cycle.campaign", text)
    cycle = [d for d in client.diagnostics[uri] if d.code == "CL206"]
    assert cycle and cycle[0].related_information
    assert cycle[0].related_information[0].location.uri == uri


@pytest.mark.asyncio
async def test_hover_vocabulary_campaign_and_field(client: LanguageClient):
    uri, text = await _open(client, "lead_lifecycle.campaign")
    step = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, "wait 3 days", 1)))
    assert "Pauses the run" in step.contents.value
    trig = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, "trigger visits web page", 10)))
    assert "trigger visits web page" in trig.contents.value
    camp = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, 'campaign "Score" executable', 11)))
    value = camp.contents.value
    assert "(executable)" in value and "execution depth: level 1" in value
    assert '"Webinar 2026"."Registration" executes with parent token context' in value
    field = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, 'lead."Behavior Score"', 7)))
    assert "score" in field.contents.value and "declared at" in field.contents.value


@pytest.mark.asyncio
async def test_references_of_campaign_field_and_token(client: LanguageClient):
    uri, text = await _open(client, "lead_lifecycle.campaign")
    callers_uri = _uri(client, "callers.campaign")
    refs = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=lsp.TextDocumentIdentifier(uri), position=_pos(text, 'campaign "Score" executable', 11),
        context=lsp.ReferenceContext(include_declaration=True)))
    # the declaration, two callers here, the test's expect, one caller in callers.campaign
    assert sorted((r.uri == callers_uri) for r in refs) == [False] * 4 + [True]
    field = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=lsp.TextDocumentIdentifier(uri), position=_pos(text, '"Region": text', 2),
        context=lsp.ReferenceContext(include_declaration=False)))
    assert len(field) == len([1 for _ in re.finditer(r'lead\.Region|"Region"\s*==|\{\{lead\.Region\}\}',
                                                                    text)])
    # my.Score in the executable: its own folder's declaration and each caller's
    defs = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, "{{my.Score}}", 5)))
    lines = sorted(d.range.start.line + 1 for d in defs)
    assert len(lines) == 4   # folder "Marketing Ops", "Webinar 2026", "Pricing Interest", "Partners"
    assert any(d.uri == callers_uri for d in defs)


@pytest.mark.asyncio
async def test_rename_refuses_a_clash(client: LanguageClient):
    uri, text = await _open(client, "lead_lifecycle.campaign")
    with pytest.raises(Exception, match="already has a email|already has an? email"):
        await client.text_document_rename_async(lsp.RenameParams(
            lsp.TextDocumentIdentifier(uri), _pos(text, 'email "Touch 1"', 8), "Touch 2"))
    with pytest.raises(Exception, match="standard"):
        await client.text_document_rename_async(lsp.RenameParams(
            lsp.TextDocumentIdentifier(uri), _pos(text, "lead.Country is", 7), "Land"))


@pytest.mark.asyncio
async def test_rename_token_and_field(client: LanguageClient):
    uri, text = await _open(client, "lead_lifecycle.campaign")
    callers_uri = _uri(client, "callers.campaign")
    edit = await client.text_document_rename_async(lsp.RenameParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, "{{my.Score}}", 6), "Points"))
    new = _edit(text, edit.changes[uri])
    # the tokens and their declarations change; comments and descriptions keep their words
    uses = re.compile(r"\{\{my\.(\w+)\}\}|my\.(\w+) = ")
    assert {m.group(0) for m in uses.finditer(new)} >= {"{{my.Points}}", "my.Points = "}
    assert not [m for m in uses.finditer(new) if "Score" in m.group(0)]
    assert len(uses.findall(new)) == len(uses.findall(text))
    assert "my.Points = +7" in _edit(CALLERS, edit.changes[callers_uri])
    edit = await client.text_document_rename_async(lsp.RenameParams(
        lsp.TextDocumentIdentifier(uri), _pos(text, '"Region": text', 2), "Sales Region"))
    new = _edit(text, edit.changes[uri])
    assert '"Sales Region": text' in new and 'lead."Sales Region" is "NA"' in new
    assert '"ann@example.com"."Sales Region" == "NA"' in new
    assert "{{lead.Sales Region}}" in new
    assert "Region" not in new.replace("Sales Region", "").replace("Regions and owners", "")


@pytest.mark.asyncio
async def test_completion_places(client: LanguageClient):
    uri, text = await _open(client, "lead_lifecycle.campaign")

    async def complete(after: str, typed: str) -> list[str]:
        where = text.index(after) + len(after)
        new = text[:where] + typed + text[where:]
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [lsp.TextDocumentContentChangeWholeDocument(text=new)]))
        end = where + len(typed)
        line = new.count("\n", 0, end)
        col = end - (new.rfind("\n", 0, end) + 1)
        got = await client.text_document_completion_async(lsp.CompletionParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(line, col)))
        return [i.label for i in got.items]

    flow_end = '            add to list "Nurtured"\n'
    assert "send email" in await complete(flow_end, "            ")
    assert await complete(flow_end, "            send ") == ["send email", "send alert"]
    assert '"Touch 1"' in await complete(flow_end, "            send email ")
    executables = ['"Ops Scoring"."Score"', '"Ops Routing"."Route"']
    assert await complete(flow_end, "            execute campaign ") == executables
    assert await complete(flow_end, '            execute campaign "Ops Scoring"."Score" ') == [
        "use parent token context"]
    sl = "            trigger campaign is requested\n"
    assert await complete(sl, "            filter lead.Country ") == [
        "is", "is not", "contains", "not contains", "starts with", "not starts with", "is empty", "is not empty"]
    assert "member of list" in await complete(sl, "            filter ")
    assert "fills out form" in await complete(sl, "            trigger ")
    tokens = await complete('            change score lead."Lead Score" by {{my.Score}}\n',
                            '            change score lead."Lead Score" by {{my.')
    assert "my.Score" in tokens and "my.Ops Inbox" in tokens
    assert {"flow", "smart list", "qualify"} <= set(await complete('    campaign "Drip" trigger {\n', "        "))


@pytest.mark.asyncio
async def test_document_symbols(client: LanguageClient):
    uri, _ = await _open(client, "lead_lifecycle.campaign")
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        lsp.TextDocumentIdentifier(uri)))
    top = [(s.name, s.kind) for s in symbols]
    assert ("Marketing Ops", lsp.SymbolKind.Package) in top
    assert ("Nurture", lsp.SymbolKind.Module) in top
    folder = next(s for s in symbols if s.name == "Marketing Ops")
    programs = [c.name for c in folder.children if c.kind == lsp.SymbolKind.Module]
    assert programs == ["Ops Scoring", "Ops Routing", "Webinar 2026", "Pricing Interest"]
    scoring = next(c for c in folder.children if c.name == "Ops Scoring")
    assert [(c.name, c.detail) for c in scoring.children] == [("Score", "executable")]
    tests = [s.name for s in symbols if s.kind == lsp.SymbolKind.Method]
    assert len(tests) == 4
