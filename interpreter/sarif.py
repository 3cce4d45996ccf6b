"""``campaign check --format sarif``: diagnostics as a SARIF 2.1.0 log.

Owns the mapping of `Diagnostic` onto SARIF (the OASIS Static Analysis
Results Interchange Format, which code hosts turn into pull-request
annotations) and nothing else:

* one ``run`` whose ``tool.driver`` is ``campaign``, with one ``rule`` per
  code of the table in ``errors.CODES`` (id, summary, default level), so a
  code host can list and filter the rules;
* one ``result`` per diagnostic: ``ruleId`` and ``ruleIndex``, ``level``
  (``error`` or ``warning``: the diagnostic's own severity, which for CL501
  differs by campaign kind), the message, and a ``physicalLocation`` whose
  ``region`` is the span (SARIF counts lines and columns from 1, as we do;
  its ``endColumn`` is exclusive, as ours is);
* each related place as a ``relatedLocation`` with its message;
* the hint, when there is one, appended to the message text (every viewer
  shows the message; few show anything else) and kept alone under
  ``properties.hint``; a "did you mean" hint whose replacement is certain
  (a quoted name, a ``{{my.X}}`` token, a ``lead.F`` field) also becomes a
  ``fix``: one replacement of the misspelled text, which tools that apply
  SARIF fixes can offer as a quick fix;
* file names as relative URIs against ``%SRCROOT%`` (the directory the
  check ran in), so the log is the same on every machine and a code host
  maps it onto the repository.

Validated against the official schema shipped in ``schemas/`` by
tests/test_sarif.py. Imports ``errors``, ``source`` and ``format`` (for how
a name is written); no checker, no CLI library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote as url_quote

from . import __version__
from .errors import CODES, Diagnostic
from .source import SourceFile, Span

__all__ = ["SARIF_SCHEMA_URI", "render_sarif", "to_sarif"]

SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

#: a hint of the checker's "did you mean" form (check._did_you_mean)
_DID_YOU_MEAN = re.compile(r"""did you mean (["'])(.+)\1\?$""")


def _rule_name(summary: str) -> str:
    """A rule's ``name``: its summary in PascalCase (``ExecutionCycle``)."""
    words = re.findall(r"[A-Za-z0-9]+", summary)
    return "".join(w[:1].upper() + w[1:] for w in words)


def rules() -> list[dict[str, Any]]:
    """Every code of the table, in code order, as a SARIF reportingDescriptor."""
    return [{
        "id": code,
        "name": _rule_name(summary),
        "shortDescription": {"text": summary},
        "defaultConfiguration": {"level": severity},
    } for code, (severity, summary) in sorted(CODES.items())]


def _artifact(file: str) -> dict[str, Any]:
    """Where a file is: a relative URI against ``%SRCROOT%`` (``/``
    separators, escaped), or a ``file:`` URI for a file outside the
    directory the check ran in."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return {"uri": path.as_uri()}
    posix = PurePosixPath(*path.parts) if path.parts else PurePosixPath(file)
    return {"uri": url_quote(str(posix), safe="/"), "uriBaseId": "%SRCROOT%"}


def _region(span: Span) -> dict[str, Any]:
    return {"startLine": max(span.line, 1), "startColumn": max(span.column, 1),
            "endLine": max(span.end_line, 1), "endColumn": max(span.end_column, 1)}


def _location(span: Span, message: str | None = None, id_: int | None = None) -> dict[str, Any]:
    loc: dict[str, Any] = {}
    if id_ is not None:
        loc["id"] = id_
    loc["physicalLocation"] = {
        "artifactLocation": _artifact(span.file),
        "region": _region(span),
    }
    if message:
        loc["message"] = {"text": message}
    return loc


def _replacement(d: Diagnostic, source: SourceFile | None) -> str | None:
    """The text that would replace ``d``'s span when its hint is a certain
    "did you mean": None when it is not."""
    if not d.hint or source is None:
        return None
    m = _DID_YOU_MEAN.match(d.hint)
    if m is None:
        return None
    quote_mark, suggestion = m.groups()
    written = source.text[d.span.start:d.span.end]
    if quote_mark == '"':
        # a name written in the language (a string, or "P"."C"): the hint
        # is the replacement as written
        return suggestion if written.startswith('"') and written.endswith('"') else None
    from .format import name as spell

    if suggestion.startswith("my.") and re.fullmatch(r"\{\{\s*my\..*\}\}", written, re.DOTALL):
        return "{{" + suggestion + "}}"
    if suggestion.startswith("lead.") and written.startswith("lead.") and "{{" not in written:
        return "lead." + spell(suggestion[len("lead."):])
    return None


def _result(d: Diagnostic, index: dict[str, int], sources: Mapping[str, SourceFile]) -> dict[str, Any]:
    text = d.message if not d.hint else f"{d.message}\nhint: {d.hint}"
    out: dict[str, Any] = {
        "ruleId": d.code,
        "level": d.severity,
        "message": {"text": text},
        "locations": [_location(d.span)],
    }
    if d.code in index:
        out["ruleIndex"] = index[d.code]
    if d.related:
        out["relatedLocations"] = [_location(r.span, r.message, n) for n, r in enumerate(d.related, 1)]
    replacement = _replacement(d, sources.get(d.span.file))
    if replacement is not None:
        out["fixes"] = [{
            "description": {"text": d.hint},
            "artifactChanges": [{
                "artifactLocation": _artifact(d.span.file),
                "replacements": [{"deletedRegion": _region(d.span),
                                  "insertedContent": {"text": replacement}}],
            }],
        }]
    if d.hint:
        out["properties"] = {"hint": d.hint}
    return out


def to_sarif(diagnostics: Iterable[Diagnostic], sources: Mapping[str, SourceFile] | None = None,
             ) -> dict[str, Any]:
    """The SARIF log of ``diagnostics`` (in `Diagnostic.sort_key` order);
    ``sources`` (file name -> SourceFile) lets certain hints become fixes."""
    table = rules()
    index = {r["id"]: n for n, r in enumerate(table)}
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    results = [_result(d, index, sources or {}) for d in ordered]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "campaign",
                "fullName": "campaignlang checker",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": table,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {
                "description": {"text": "The directory campaign check ran in."}}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def render_sarif(diagnostics: Iterable[Diagnostic], sources: Mapping[str, SourceFile] | None = None) -> str:
    """`to_sarif` as indented JSON, no trailing newline."""
    return json.dumps(to_sarif(diagnostics, sources), indent=2, ensure_ascii=False)
