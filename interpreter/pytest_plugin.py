"""A pytest plugin: the ``test`` blocks of ``*.campaign`` files run as pytest
items, beside the Python tests.

Registered through the ``pytest11`` entry point (``campaignlang =
"campaignlang.pytest_plugin"``), so installing campaignlang is enough;
``pytest -p no:campaignlang`` turns it off.

Collection. ``pytest_collect_file`` takes every ``*.campaign`` file pytest
visits (its ``testpaths`` or the paths on the command line) and that the ini
options admit:

* ``campaign_test_paths`` — files or folders (relative to the ini file)
  whose ``.campaign`` files are collected; empty (the default): all of them;
* ``campaign_test_ignore`` — files or folders never collected (fixtures that
  are not runnable programs: parse fixtures, golden files with deliberate
  errors).

A file named on the command line (``pytest path/to/file.campaign``) is
collected whatever the two options say, as pytest does with ``python_files``.

A file becomes a ``CampaignFile`` with one ``CampaignTestItem`` per test
block it declares (named after the test); a file without test blocks gives
no item. A file that does not check — or cannot be read — gives one failing
``CampaignCheckItem`` named ``(check)`` whose report is the rendered
diagnostics. Each file is loaded and checked on its own, with its imports,
exactly as ``campaign test FILE`` does.

Running. An item runs its test through ``runner.run_test`` (a fresh store in
memory) and fails with the runner's report — each failed ``expect`` drawn
like a diagnostic with the expected and actual value and the person's
activities — as its ``repr_failure``, without a Python traceback.

The module imports only pytest at import time: pytest loads it in every
session, including those of projects that have no ``.campaign`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

PATHS_INI = "campaign_test_paths"
IGNORE_INI = "campaign_test_ignore"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(PATHS_INI, type="paths", default=[],
                  help="files or folders whose *.campaign test blocks pytest collects (default: every "
                       "*.campaign file it visits)")
    parser.addini(IGNORE_INI, type="paths", default=[],
                  help="files or folders whose *.campaign files are never collected as tests")


def _under(path: Path, roots: list[Path]) -> bool:
    for root in roots:
        root = Path(root).resolve()
        if path == root or root in path.parents:
            return True
    return False


def _wanted(config: pytest.Config, path: Path) -> bool:
    resolved = path.resolve()
    paths = config.getini(PATHS_INI)
    if paths and not _under(resolved, paths):
        return False
    return not _under(resolved, config.getini(IGNORE_INI))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> "CampaignFile | None":
    if file_path.suffix != ".campaign":
        return None
    # a file named on the command line is collected whatever the ini says
    # (pytest treats python_files the same way)
    if not parent.session.isinitpath(file_path) and not _wanted(parent.config, file_path):
        return None
    return CampaignFile.from_parent(parent, path=file_path)


class CampaignTestFailed(Exception):
    """A test block failed; carries the runner's result."""

    def __init__(self, result: Any):
        super().__init__(result.name)
        self.result = result


class CampaignCheckFailed(Exception):
    """A file does not check (or cannot be read); carries the report."""

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


class CampaignFile(pytest.File):
    """A ``.campaign`` file: one item per test block."""

    def collect(self) -> Iterator[pytest.Item]:
        from .check import check
        from .errors import LoadError
        from .loader import load_paths
        from .render import render_text
        from .runner import CHECK_RESULT_NAME, select_tests

        try:
            loaded = load_paths([self.path])
        except LoadError as exc:
            yield CampaignCheckItem.from_parent(self, name=CHECK_RESULT_NAME, report=str(exc), line=0)
            return
        result = check(loaded)
        name = _display_name(loaded, self.path)
        if result.program is None:
            errors = result.errors
            n = len(errors)
            report = (f"{name} has {n} error{'s' if n != 1 else ''}; its tests did not run\n\n"
                      + render_text(errors, result.sources))
            line = min((d.span.line for d in errors if d.span.file == name), default=1)
            yield CampaignCheckItem.from_parent(self, name=CHECK_RESULT_NAME, report=report, line=line - 1)
            return
        seen: set[str] = set()
        for test in select_tests(result.program, files=[name]):
            item_name = test.name
            if item_name in seen:      # the checker reports duplicates (CL102); stay collectable
                item_name = f"{test.name} (line {test.span.line if test.span else 0})"
            seen.add(item_name)
            yield CampaignTestItem.from_parent(self, name=item_name, program=result.program, test=test)


def _display_name(loaded: Any, path: Path) -> str:
    """The name the loader gave ``path`` (spans and test lookups use it)."""
    want = path.resolve()
    for r in loaded.results:
        try:
            if Path(r.source.name).resolve() == want:
                return r.source.name
        except (OSError, ValueError):
            continue
    return loaded.results[-1].source.name if loaded.results else str(path)


#: Our items take no fixtures; but other plugins' hook wrappers read
#: ``item.funcargs`` (pytest-lsp's ``pytest_runtest_call`` fails to yield for
#: an item without it, which would fail every .campaign item beside it).
_NO_FIXTURES: dict[str, Any] = {}


class CampaignTestItem(pytest.Item):
    """One ``test "..." { }`` block."""

    def __init__(self, *, program: Any, test: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.program = program
        self.test = test
        self.funcargs = _NO_FIXTURES

    def runtest(self) -> None:
        from .runner import run_test

        result = run_test(self.program, self.test)
        if not result.passed:
            raise CampaignTestFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CampaignTestFailed):
            from .runner import format_failures

            return format_failures(excinfo.value.result)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        line = self.test.span.line if self.test.span is not None else 1
        return self.path, line - 1, f"campaign test: {self.test.name}"


class CampaignCheckItem(pytest.Item):
    """The one failing item of a file that does not check."""

    def __init__(self, *, report: str, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report = report
        self.line = line
        self.funcargs = _NO_FIXTURES

    def runtest(self) -> None:
        raise CampaignCheckFailed(self.report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CampaignCheckFailed):
            return excinfo.value.report
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line, f"campaign check: {self.path.name}"
