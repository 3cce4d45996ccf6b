"""Imports into a project folder, and drift against one.

Owns the file side of ``campaign import marketo`` and ``campaign drift``:

* ``import_instance(inst, out)``: translate (``convert``), keep the flows a
  person wrote in the files already there (a campaign whose flow has steps
  keeps it; an empty flow is the importer's own), check the result with the
  project's checker in a scratch folder, and only then write the files and
  ``marketo-ids.json`` into ``out``. An import whose files would not check
  clean is refused (an importer bug: nothing is written). What changed
  against the files before is said with ``diff.compare`` (``campaign
  diff``'s comparison).
* ``drift(inst, path)``: the instance, translated in memory, against the
  project at ``path`` (its entry file, or a folder holding ``marketo.campaign``).

Imports ``convert``, ``diff`` and the language's ``loader``, ``check``,
``parse``, ``diff`` (``Version``); never click.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from attrs import define, field

from .. import ast
from ..check import check
from ..diff import Version
from ..errors import LoadError
from ..format import quote
from ..loader import load_paths
from ..parse import parse
from ..render import render_text
from .convert import ENTRY_FILE, FIELDS_FILE, HEADER, IDS_FILE, CampaignKey, ImportResult, convert
from .diff import Change, compare
from .source import Instance, MarketoError

DEFAULT_WORKSPACE = "Default"


@define
class ImportOutcome:
    result: ImportResult
    written: list[str]
    changes: list[Change] = field(factory=list)
    kept_flows: list[str] = field(factory=list)
    dropped_flows: list[str] = field(factory=list)
    reimport: bool = False


def _modules(texts: dict[str, str]) -> list[ast.Module]:
    out = []
    for name, text in sorted(texts.items()):
        result = parse(text, name)
        if any(d.is_error for d in result.diagnostics):
            raise MarketoError(f"{name} has syntax errors (see campaign check); fix them before a re-import")
        out.append(result.module)
    return out


def _existing(out: Path) -> dict[str, str]:
    """The .campaign files an earlier import wrote in ``out`` (they open with its header)."""
    found: dict[str, str] = {}
    if not out.is_dir():
        return found
    for file in sorted(out.glob("*.campaign")):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MarketoError(f"{file}: cannot be read: {exc}") from None
        if text.startswith(HEADER):
            found[file.name] = text
    return found


def hand_written_flows(texts: dict[str, str]) -> dict[CampaignKey, str]:
    """Campaign key -> the source text of its flow, for every flow with steps."""
    flows: dict[CampaignKey, str] = {}
    for name, text in texts.items():
        module = parse(text, name).module

        def walk(items: tuple[ast.Node, ...], ws: str) -> None:
            for item in items:
                if isinstance(item, ast.Workspace):
                    walk(item.items, item.name)
                elif isinstance(item, ast.Folder):
                    walk(item.items, ws)
                elif isinstance(item, ast.Program):
                    for c in item.of(ast.Campaign):
                        for flow in (i for i in c.items if isinstance(i, ast.Flow)):
                            if flow.steps and flow.span is not None:
                                flows[(ws, item.name, c.name)] = text[flow.span.start:flow.span.end]

        walk(module.items, DEFAULT_WORKSPACE)
    return flows


def _where(key: CampaignKey) -> str:
    parts = key if key[0] != DEFAULT_WORKSPACE else key[1:]
    return ".".join(quote(p) for p in parts)


def _checked(files: dict[str, str], label: str) -> Version:
    """Check ``files`` in a scratch folder: the checked program, as ``campaign
    diff`` compares it. Syntax or import errors are refused."""
    with tempfile.TemporaryDirectory(prefix="campaign-import-") as tmp:
        root = Path(tmp)
        (root / "campaign.toml").write_text("", encoding="utf-8")
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        entry = root / ENTRY_FILE
        if not entry.exists():        # an earlier import's files without its entry file
            entry.write_text("\n".join(f"import {quote(n)}" for n in sorted(files)
                                       if n.endswith(".campaign")) + "\n", encoding="utf-8")
        try:
            loaded = load_paths([entry], root=root)
        except LoadError as exc:   # pragma: no cover - the files were just written
            raise MarketoError(str(exc)) from None
        result = check(loaded)
    if not loaded.ok:
        raise MarketoError(f"{label} has syntax or import errors (see campaign check)")
    return Version(label, result)


def _check_files(files: dict[str, str]) -> Version:
    """Check the files an import would write; refuse them when any error."""
    version = _checked(files, "the import")
    errors = [d for d in version.result.diagnostics if d.is_error]
    if errors:
        shown = render_text(errors[:5], version.sources, color=False)
        raise MarketoError("the imported files would not check clean (an importer bug; nothing was "
                           "written):\n" + shown)
    return version


def import_instance(inst: Instance, out: str | Path) -> ImportOutcome:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MarketoError(f"{out} is not a folder")
    before = _existing(out)
    if before:
        _modules(before)          # a broken project is refused before anything changes
    flows = hand_written_flows(before) if before else {}
    result = convert(inst, flows)
    for name in result.files:
        if name not in before and (out / name).exists():
            raise MarketoError(f"{out / name} exists and was not written by campaign import marketo; "
                               f"nothing was written (import into another folder)")
    after = _check_files(result.files)
    imported = {tuple(v) for v in result.ids["campaigns"].values()}
    kept = sorted(_where(key) for key in flows if key in imported)
    dropped = sorted(_where(key) for key in flows if key not in imported)
    changes = compare(_checked(before, "the files before"), after) if before else []
    # write: into a scratch folder beside, then each file moved into place
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for name, text in result.files.items():
        target = out / name
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        written.append(name)
    for stale in set(before) - set(result.files):
        if stale == FIELDS_FILE or stale.endswith(".campaign"):
            (out / stale).unlink()     # a workspace or fields file the instance no longer has
    ids = {"format_version": 1, **result.ids}
    (out / IDS_FILE).write_text(json.dumps(ids, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    written.append(IDS_FILE)
    return ImportOutcome(result, written, changes, kept, dropped, bool(before))


def entry_file(path: str | Path) -> Path:
    """The project's entry file: PATH itself, or PATH/marketo.campaign."""
    p = Path(path)
    if p.is_dir():
        p = p / ENTRY_FILE
    if not p.is_file():
        raise MarketoError(f"no file {p} (drift and replay read a project an import wrote: "
                           f"its folder or its {ENTRY_FILE})")
    return p


def load_project(path: str | Path, label: str = "code") -> Version:
    """The project's checked program; syntax or import errors are refused."""
    try:
        loaded = load_paths([entry_file(path)])
    except LoadError as exc:
        raise MarketoError(str(exc)) from None
    if not loaded.ok:
        raise MarketoError(f"{path} has syntax or import errors (see campaign check)")
    return Version(label, check(loaded))


def drift(inst: Instance, path: str | Path) -> list[Change]:
    """What differs between the instance (left) and the code at ``path`` (right)."""
    code = load_project(path)
    return compare(_checked(convert(inst).files, "the instance"), code)


def ids_of(path: str | Path) -> dict[str, Any]:
    """The ``marketo-ids.json`` beside the project's entry file (empty when none)."""
    file = entry_file(path).parent / IDS_FILE
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MarketoError(f"{file}: cannot be read: {exc}") from None
    return data if isinstance(data, dict) else {}
