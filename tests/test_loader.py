"""Imports: relative files, std modules, root confinement, cycles (CL002)."""

from __future__ import annotations

import os

import pytest

from campaignlang.errors import LoadError
from campaignlang.loader import load_paths, std_modules


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path):
    (tmp_path / "campaign.toml").write_text("")
    return tmp_path


def codes(loaded):
    return [(d.code, d.message) for d in loaded.diagnostics]


def test_imports_load_first_and_once(project):
    write(project / "shared/a.campaign", 'program "A" { list "L" }\n')
    write(project / "shared/b.campaign", 'import "a.campaign"\nprogram "B" { }\n')
    main = write(project / "main.campaign", 'import "shared/a.campaign"\nimport "shared/b.campaign"\nprogram "M" { }\n')
    loaded = load_paths([main])
    assert loaded.ok, codes(loaded)
    names = [m.items[-1].name for m in loaded.modules]
    assert names == ["A", "B", "M"]


def test_std_modules_ship_and_load(project):
    assert {"scoring", "lifecycle"} <= set(std_modules())
    main = write(project / "m.campaign", 'import std "scoring"\nimport std "lifecycle"\n')
    loaded = load_paths([main])
    assert loaded.ok, codes(loaded)
    assert [r.source.name for r in loaded.results][:2] == ["<std>/scoring.campaign", "<std>/lifecycle.campaign"]


def test_unknown_std_module_suggests(project):
    main = write(project / "m.campaign", 'import std "scorng"\n')
    (d,) = load_paths([main]).diagnostics
    assert d.code == "CL002" and d.hint == 'did you mean "scoring"?'


def test_missing_import_is_cl002_with_its_span(project):
    main = write(project / "m.campaign", '\nimport "nope.campaign"\n')
    (d,) = load_paths([main]).diagnostics
    assert (d.code, d.message, d.span.line, d.span.column) == ("CL002", 'import not found: "nope.campaign"', 2, 1)


def test_import_cycle_is_shown(project):
    write(project / "a.campaign", 'import "b.campaign"\n')
    write(project / "b.campaign", 'import "a.campaign"\n')
    diags = load_paths([project / "a.campaign"]).diagnostics
    assert [d.code for d in diags] == ["CL002"]
    assert "import cycle" in diags[0].message and "a.campaign -> " in diags[0].message


def test_import_may_not_leave_the_root_through_dotdot(tmp_path):
    root = tmp_path / "proj"
    write(root / "campaign.toml", "")
    write(tmp_path / "outside.campaign", 'program "X" { }\n')
    main = write(root / "m.campaign", 'import "../outside.campaign"\n')
    (d,) = load_paths([main]).diagnostics
    assert d.code == "CL002" and "leaves the project root" in d.message


def test_import_may_not_leave_the_root_through_a_symlink(tmp_path):
    root = tmp_path / "proj"
    write(root / "campaign.toml", "")
    outside = write(tmp_path / "secret.campaign", 'program "X" { }\n')
    os.symlink(outside, root / "link.campaign")
    main = write(root / "m.campaign", 'import "link.campaign"\n')
    (d,) = load_paths([main]).diagnostics
    assert d.code == "CL002" and d.message.endswith("through a symbolic link")


def test_missing_top_level_file_is_a_load_error(tmp_path):
    with pytest.raises(LoadError, match="no such file"):
        load_paths([tmp_path / "nope.campaign"])


def test_non_utf8_top_level_file_is_a_load_error(tmp_path):
    f = tmp_path / "bad.campaign"
    f.write_bytes(b"program \xff\xfe")
    with pytest.raises(LoadError, match="not UTF-8"):
        load_paths([f])


def test_a_folder_loads_every_campaign_file(project):
    write(project / "x/a.campaign", 'program "A" { }\n')
    write(project / "x/b.campaign", 'program "B" { }\n')
    loaded = load_paths([project / "x"])
    assert len(loaded.results) == 2
