"""The JSON Schemas of every machine-readable output (``campaign schema``).

Owns the registry of schemas shipped in this folder and nothing else: one
file ``NAME.schema.json`` per output, where ``NAME`` is the name
``campaign schema NAME`` prints it under (``check``, ``test``, ``run``,
``plan``, ``diff``, ``sarif`` ...). Adding a schema for a new command is
adding one such file; nothing here lists them.

Shared pieces (an activity, a diagnostic, a coverage point) live once, in
``_common.schema.json`` under ``$defs``. A command's schema refers to them
as ``{"$ref": "#/$defs/activity"}`` without defining them; `load` copies in
the definitions it refers to (transitively), so every schema it returns, and
every schema the command prints, stands alone: any validator, in any
language, can use it without fetching anything.

Our own schemas are JSON Schema draft 2020-12. ``sarif.schema.json`` is the
official SARIF 2.1.0 schema of OASIS (draft-04), kept verbatim; see
``sarif.NOTICE.md`` beside it for where it comes from and its terms.

Imports only the standard library: no jsonschema (a test dependency), no
other campaignlang module.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["SchemaNotFound", "dumps", "load", "names"]

_SUFFIX = ".schema.json"
_COMMON = "_common"


class SchemaNotFound(KeyError):
    """No schema of that name ships in the package."""


def _files() -> dict[str, Any]:
    found = {}
    for entry in resources.files(__name__).iterdir():
        name = entry.name
        if name.endswith(_SUFFIX) and not name.startswith("_"):
            found[name[: -len(_SUFFIX)]] = entry
    return found


def names() -> list[str]:
    """Every schema's name, sorted."""
    return sorted(_files())


@cache
def _read(name: str) -> str:
    if name == _COMMON:
        entry = resources.files(__name__).joinpath(_COMMON + _SUFFIX)
    else:
        files = _files()
        if name not in files:
            raise SchemaNotFound(name)
        entry = files[name]
    return entry.read_text(encoding="utf-8")


def _local_refs(node: Any) -> set[str]:
    """The ``$defs`` names ``node`` refers to (``#/$defs/NAME...``)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            ref = n.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                found.add(ref[len("#/$defs/"):].split("/", 1)[0])
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return found


def load(name: str) -> dict[str, Any]:
    """The schema ``name`` as a new dict, shared definitions copied in
    (raises `SchemaNotFound`)."""
    schema: dict[str, Any] = json.loads(_read(name))
    common: dict[str, Any] = json.loads(_read(_COMMON)).get("$defs", {})
    defs: dict[str, Any] = schema.get("$defs", {})
    wanted = _local_refs(schema) - set(defs)
    while wanted:
        n = wanted.pop()
        if n not in common:
            continue    # a broken reference: the test of every schema catches it
        defs[n] = common[n]
        wanted |= _local_refs(common[n]) - set(defs)
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def dumps(name: str) -> str:
    """The schema ``name`` as the JSON text ``campaign schema`` prints."""
    text = _read(name)
    schema = load(name)
    if schema == json.loads(text):
        return text.rstrip("\n")     # verbatim (the SARIF schema, as OASIS published it)
    return json.dumps(schema, indent=2, ensure_ascii=False)
