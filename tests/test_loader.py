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


# -- issue 7: imports cannot leave the root, whatever the path holds ---------------------------

def test_import_may_not_leave_the_root_through_a_symlinked_folder(tmp_path):
    root = tmp_path / "proj"
    write(root / "campaign.toml", "")
    write(tmp_path / "elsewhere" / "x.campaign", 'program "X" { }\n')
    os.symlink(tmp_path / "elsewhere", root / "shared")
    main = write(root / "m.campaign", 'import "shared/x.campaign"\n')
    (d,) = load_paths([main]).diagnostics
    assert (d.code, d.message) == ("CL002", 'import "shared/x.campaign" leaves the project root through a symbolic link')


def test_an_absolute_import_outside_the_root_is_refused(project, tmp_path_factory):
    outside = write(tmp_path_factory.mktemp("out") / "o.campaign", 'program "O" { }\n')
    main = write(project / "m.campaign", f'import "{outside}"\n')
    (d,) = load_paths([main]).diagnostics
    assert d.code == "CL002" and d.message == f'import "{outside}" leaves the project root'


def test_a_symlink_inside_the_root_is_fine(project):
    write(project / "real" / "a.campaign", 'program "A" { }\n')
    os.symlink(project / "real", project / "alias")
    main = write(project / "m.campaign", 'import "alias/a.campaign"\n')
    assert load_paths([main]).ok


def test_only_campaign_files_are_imported(project):
    write(project / "secrets.txt", "password=hunter2\n")
    main = write(project / "m.campaign", 'import "secrets.txt"\nimport "campaign.toml"\n')
    diags = load_paths([main]).diagnostics
    assert [(d.code, d.message) for d in diags] == [
        ("CL002", 'import "secrets.txt" is not a .campaign file'),
        ("CL002", 'import "campaign.toml" is not a .campaign file')]
    assert all("hunter2" not in (d.message + (d.hint or "")) for d in diags)


def test_an_import_path_the_system_cannot_read_is_cl002(project):
    long = "n" * 5000
    main = write(project / "m.campaign", f'import "{long}"\n')
    (d,) = load_paths([main]).diagnostics
    assert d.code == "CL002" and d.message.startswith('cannot import "nnnn') and "too long" in d.message
    os.symlink(project / "loop.campaign", project / "loop.campaign")
    main.write_text('import "loop.campaign"\n')
    (d,) = load_paths([main]).diagnostics
    assert d.code == "CL002"


def test_an_import_cycle_shows_every_file_of_the_cycle(project):
    write(project / "a.campaign", 'import "b.campaign"\n')
    write(project / "b.campaign", 'import "c.campaign"\n')
    write(project / "c.campaign", 'import "a.campaign"\n')
    (d,) = load_paths([project / "a.campaign"]).diagnostics
    names = d.message.removeprefix("import cycle: ").split(" -> ")
    assert [os.path.basename(n) for n in names] == ["a.campaign", "b.campaign", "c.campaign", "a.campaign"]
    assert d.span.file.endswith("c.campaign") and d.span.line == 1
    assert len(d.related) == 2
