"""Drift and re-import changes, said through ``campaign diff``'s comparison.

``interpreter/diff.py`` owns the one comparison of two checked programs in
the language's terms (programs, campaigns, kinds, activation, schedules,
qualification rules, smart list logic, triggers and filters, My Tokens per
scope, assets). This module only chooses what a Marketo comparison reports
and names the sides:

* ``campaign drift``: the instance (translated exactly as an import would)
  against the code;
* a re-import: the files before against the files after.

Left out, because the REST API cannot read flows: the steps of a flow, and
what the call graph derives from them (execution depth, callers), and the
checker's findings (an executable the code's flows execute is no longer
"never executed"). What the importer skips is not in either program.

Imports the language's ``diff``; never click.
"""

from __future__ import annotations

from typing import Any

from attrs import define

from ..diff import Version, diff_versions

#: aspects of ``campaign diff`` that come from flows, which Marketo's API cannot read
FLOW_ASPECTS = frozenset({"step", "depth", "caller"})


@define
class Change:
    """One difference; ``left`` and ``right`` are the two sides' text (None:
    absent on that side); the caller names the sides (instance / code)."""

    where: str
    what: str
    left: str | None
    right: str | None

    def to_json(self, left: str, right: str) -> dict[str, Any]:
        return {"where": self.where, "what": self.what, left: self.left, right: self.right}


def compare(left: Version, right: Version) -> list[Change]:
    """The differences between two checked programs that a Marketo
    comparison reports, in ``campaign diff``'s order."""
    out = []
    for c in diff_versions(left, right).changes:
        if c.aspect in FLOW_ASPECTS or c.subject == "checker":
            continue
        out.append(Change(c.subject, f"{c.aspect} {c.action}", c.old, c.new))
    return out


def describe(c: Change, left: str, right: str) -> str:
    """One line: ``campaign "Webinar"."Invite": filter changed: instance has `...`, code has `...```."""
    if c.left is not None and c.right is not None:
        return f"{c.where}: {c.what}: {left} has `{c.left}`, {right} has `{c.right}`"
    if c.left is not None:
        return f"{c.where}: {c.what}: only in {left}: `{c.left}`"
    return f"{c.where}: {c.what}: only in {right}: `{c.right}`"
