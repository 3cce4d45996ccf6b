"""campaignlang: Marketo-style smart campaigns as code.

The embedding API is a staged pipeline (docs/api.md): **load** files or text,
**check** them (diagnostics; a user's mistake never raises), take the
**checked program**, and run it on an **engine** over a store.

>>> import campaignlang
>>> loaded = campaignlang.load_text('''
... program "Scoring" {
...     campaign "US Leads" batch {
...         smart list { filter lead.Country is "US" }
...         flow { change score lead."Lead Score" by +10 }
...     }
... }''', "demo.campaign")
>>> result = campaignlang.check(loaded)
>>> result.ok, result.diagnostics
(True, ())
>>> engine = campaignlang.Engine(result.program)
>>> engine.add_person("ann@example.com", {"Country": "US"})
1
>>> engine.run_batch('"Scoring"."US Leads"').entered
[1]
>>> engine.get("ann@example.com", "Lead Score")
10

A mistake is a diagnostic, drawn as ``campaign check`` draws it:

>>> bad = campaignlang.check(campaignlang.load_text(
...     'program "P" { campaign "C" batch { flow { delete person } } }', "bad.campaign"))
>>> bad.ok, bad.program, [d.code for d in bad.errors]
(False, None, ['CL502'])

The parser alone:

>>> from campaignlang import parse
>>> result = parse('program "P" { list "L" }', "demo.campaign")
>>> result.ok, result.module.items[0].name
(True, 'P')

Start-up time is a product feature (``campaign check`` runs in editors on
every save), so only the parser and the error classes are imported here; every
other public name is imported on first use (PEP 562 ``__getattr__``) — the
engine, SQLite, rich and prompt_toolkit never by ``import campaignlang``.
``check`` is both a submodule and the public function of that name: the
package keeps the function (``from campaignlang.check import ...`` still
reaches the module).
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import CampaignError, Diagnostic, DiagnosticError, LoadError, RunError, StoreError
from .parse import ParseResult, parse

__version__ = "0.1.0"

#: public name -> (module, attribute): imported on first use
_LAZY: dict[str, tuple[str, str]] = {
    # stage 1: load
    "load": ("api", "load"),
    "load_text": ("loader", "load_text"),
    "Loaded": ("loader", "Loaded"),
    # stage 2: check
    "check": ("check", "check"),
    "CheckResult": ("check", "CheckResult"),
    # stage 3: a checked program
    "CheckedProgram": ("check", "CheckedProgram"),
    "compile_text": ("api", "compile_text"),
    "compile_paths": ("api", "compile_paths"),
    # stage 4: the engine and its store
    "Engine": ("engine", "Engine"),
    "ActionResult": ("engine", "ActionResult"),
    "WebhookRequest": ("evaluate", "WebhookRequest"),
    "Store": ("store", "Store"),
    "Person": ("store", "Person"),
    "Activity": ("store", "Activity"),
    "Membership": ("store", "Membership"),
    "Clock": ("clock", "Clock"),
    "read_people": ("datafiles", "people_records"),
    "import_people": ("datafiles", "import_people"),
    "ImportReport": ("datafiles", "ImportReport"),
    # explaining
    "explain_token": ("api", "explain_token"),
    "TokenReport": ("explain", "TokenReport"),
    "render_token_report": ("explain", "render_report"),
    "explain_person": ("explain", "explain_person"),
    "render_person_report": ("explain", "render_explanation"),
    # diagnostics, formatting, tests
    "render_text": ("render", "render_text"),
    "render_json": ("render", "render_json"),
    "format_source": ("format", "format_source"),
    "run_tests": ("runner", "run_tests"),
    "TestResult": ("runner", "TestResult"),
}

__all__ = [
    "__version__",
    # the pipeline
    "load", "load_text", "Loaded", "check", "CheckResult", "CheckedProgram",
    "compile_text", "compile_paths",
    "Engine", "ActionResult", "WebhookRequest", "Store", "Person", "Activity", "Membership", "Clock",
    "read_people", "import_people", "ImportReport",
    "explain_token", "TokenReport", "render_token_report", "explain_person", "render_person_report",
    # parsing, diagnostics, formatting, tests
    "parse", "ParseResult", "Diagnostic", "render_text", "render_json", "format_source",
    "run_tests", "TestResult",
    # errors
    "CampaignError", "DiagnosticError", "LoadError", "RunError", "StoreError",
]

if TYPE_CHECKING:  # pragma: no cover - what type checkers see of the lazy names
    from .api import compile_paths, compile_text, explain_token, load
    from .check import CheckedProgram, CheckResult, check
    from .clock import Clock
    from .datafiles import ImportReport, import_people
    from .datafiles import people_records as read_people
    from .engine import ActionResult, Engine
    from .evaluate import WebhookRequest
    from .explain import TokenReport, explain_person
    from .explain import render_explanation as render_person_report
    from .explain import render_report as render_token_report
    from .format import format_source
    from .loader import Loaded, load_text
    from .render import render_json, render_text
    from .runner import TestResult, run_tests
    from .store import Activity, Membership, Person, Store


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'campaignlang' has no attribute {name!r}")
    module, attr = target
    value = getattr(import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The package's module type: importing a submodule sets an attribute of
    its name on the package, and ``campaignlang.check`` (the module) must not
    replace ``campaignlang.check`` (the function)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _SHADOWED:
            return
        super().__setattr__(name, value)


#: public names that are also names of submodules
_SHADOWED = frozenset({"check", "parse"})
sys.modules[__name__].__class__ = _Package
