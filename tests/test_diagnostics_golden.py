"""Golden files for diagnostics: ``tests/diagnostics/<CODE>-<name>.campaign``
beside its ``.golden``, the text ``campaign check`` prints for it (the
rendered diagnostics, paths relative to the repository root).

``ls tests/diagnostics`` is the coverage table of the codes; a test below
keeps every code of §10 covered. Regenerate with ``pytest --update-golden``
and review the diff as code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from campaignlang.check import check
from campaignlang.errors import CODES
from campaignlang.loader import load_paths
from campaignlang.render import render_text

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted((ROOT / "tests" / "diagnostics").glob("*.campaign"))


def rendered(case: Path) -> str:
    """What ``campaign check`` prints for one file, run from the repo root."""
    old = Path.cwd()
    os.chdir(ROOT)
    try:
        rel = case.relative_to(ROOT).as_posix()
        result = check(load_paths([rel]))
        return render_text(result.diagnostics, result.sources) + "\n"
    finally:
        os.chdir(old)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path, update_golden: bool) -> None:
    golden = case.with_suffix(".golden")
    got = rendered(case)
    if update_golden:
        golden.write_text(got, encoding="utf-8")
        return
    assert golden.exists(), f"{golden.name} is missing: run pytest --update-golden and review it"
    assert got == golden.read_text(encoding="utf-8")


def test_every_code_has_a_golden_case() -> None:
    covered = {c.name[:5] for c in CASES}
    assert set(CODES) <= covered, sorted(set(CODES) - covered)


def test_each_case_shows_the_code_it_is_named_after() -> None:
    for case in CASES:
        code = case.name[:5]
        if code.startswith("CL"):
            assert f"[{code}]" in rendered(case), case.name


def test_no_golden_without_its_case() -> None:
    goldens = sorted((ROOT / "tests" / "diagnostics").glob("*.golden"))
    assert {g.stem for g in goldens} <= {c.stem for c in CASES}
