"""The embedding API's own functions: the few adapters the staged pipeline
needs beyond what the stages already offer.

The pipeline (docs/api.md), in the style of CEL's compile -> program ->
evaluate::

    loaded  = campaignlang.load("campaigns/")          # or load_text(text, name)
    result  = campaignlang.check(loaded)                # never raises for a user's mistake
    program = result.program                            # a CheckedProgram, or None with errors
    engine  = campaignlang.Engine(program)              # over a store in memory, or a file

Each stage is a module of its own (``loader``, ``check``, ``engine``); the
package re-exports them lazily (``campaignlang.__init__``). What lives here:

* ``load`` takes one path or several (``loader.load_paths`` takes a list);
* ``check_text`` loads and checks text in one call (the ``CheckResult``);
* ``compile_text`` and ``compile_paths`` run the first three stages at once
  and raise ``DiagnosticError`` carrying every error, for scripts that want a
  program or a stop. These are the package's only pipeline shortcuts: the
  engine and the checker offer none of their own;
* ``explain_token`` takes a program and a campaign by name (``explain``
  works on the model and its ``CampaignInfo``).

Imports ``loader`` and ``errors`` at module level; ``check``, ``explain`` and
``engine`` inside the functions that need them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence, Union

from .errors import DiagnosticError
from .loader import Loaded, load_paths

if TYPE_CHECKING:  # pragma: no cover
    from .check import CheckedProgram, CheckResult
    from .explain import TokenReport
    from .model import CampaignInfo

__all__ = ["load", "check_text", "compile_text", "compile_paths", "explain_token"]

PathLike = Union[str, "os.PathLike[str]"]


def load(paths: PathLike | Sequence[PathLike], *, root: PathLike | None = None) -> Loaded:
    """Stage one: read ``.campaign`` files (a folder means every file under
    it) and everything they import.

    Syntax and import problems are diagnostics in ``Loaded.diagnostics``;
    only a top-level file that cannot be read raises ``LoadError``. ``root``
    is the project root imports may not leave (default: the nearest folder
    above the first file holding ``campaign.toml``, ``pyproject.toml`` or
    ``.git``)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return load_paths(list(paths), root=root)


def _checked(loaded: Loaded) -> "CheckedProgram":
    from .check import check

    result = check(loaded)
    if result.program is None:
        raise DiagnosticError(result.errors)
    return result.program


def check_text(text: str, name: str = "<input>", *, root: PathLike | None = None) -> "CheckResult":
    """Load and check program text (imports relative to the current
    folder): the ``CheckResult``, never raising for a user's mistake."""
    from .check import check
    from .loader import load_text

    return check(load_text(text, name, root=root))


def compile_text(text: str, name: str = "<input>", *, root: PathLike | None = None) -> "CheckedProgram":
    """Load and check program text in one step: the ``CheckedProgram``, or
    ``DiagnosticError`` whose ``diagnostics`` are every error."""
    from .loader import load_text

    return _checked(load_text(text, name, root=root))


def compile_paths(paths: PathLike | Sequence[PathLike], *, root: PathLike | None = None) -> "CheckedProgram":
    """Load and check files in one step: the ``CheckedProgram``, or
    ``DiagnosticError`` (``LoadError`` when a file cannot be read)."""
    return _checked(load(paths, root=root))


def explain_token(program: "CheckedProgram", campaign: "str | CampaignInfo", token: str) -> "TokenReport":
    """Which value ``my.<token>`` takes in ``campaign`` (``'"P"."C"'``,
    ``"P/C"`` or a bare name), on its own and along every chain of
    executions that reaches it, and from which scope. Static: no engine.
    ``explain.render_report`` (``campaignlang.render_token_report``) draws
    it as ``campaign explain`` does; ``to_json()`` gives the data."""
    from .errors import RunError
    from .explain import explain_token as _explain
    from .explain import find_campaign
    from .model import CampaignInfo

    if isinstance(campaign, CampaignInfo):
        target = campaign
    else:
        found, why = find_campaign(program.model, campaign)
        if found is None:
            raise RunError(why or f"no campaign {campaign!r}")
        target = found
    return _explain(program.model, target, token, program.graph)
