"""The editor services behind ``campaign lsp`` (interpreter/editor.py), in
process: robustness at every place of a file, quick fixes for every
did-you-mean of the diagnostics goldens, renames and their refusals,
completion from the grammar, and parse.expected_at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campaignlang import editor
from campaignlang.check import check
from campaignlang.loader import load_paths
from campaignlang.parse import expected_at, scan_atoms

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.campaign"))
GOLDEN = sorted((ROOT / "tests" / "diagnostics").glob("*.campaign"))


def _project(tmp_path: Path, files: dict[str, str]) -> editor.Project:
    (tmp_path / "campaign.toml").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return editor.Project([tmp_path])


def _apply(text: str, edits: list) -> str:
    for span, new in sorted(edits, key=lambda e: e[0].start, reverse=True):
        text = text[:span.start] + new + text[span.end:]
    return text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_place_of_an_example_answers_without_raising(path: Path):
    project = editor.Project([path.parent])
    a = project.analyse(path)
    text = path.read_text()
    for offset in range(0, len(text), 7):
        editor.hover(a, a.name, offset)
        editor.definitions(a, a.name, offset)
        editor.complete(a, a.name, text, offset)
    assert editor.outline(a, a.name)


def test_a_broken_file_still_answers():
    text = 'program "P" {\n    campaign "C" trigger {\n        flow { send email "X" \n    list "L"\n'
    project = editor.Project()
    project.open("/nonexistent/broken.campaign", text)
    a = project.analyse("/nonexistent/broken.campaign")
    assert any(d.code == "CL001" for d in a.result.diagnostics)
    for offset in range(len(text) + 1):
        editor.hover(a, a.name, offset)
        editor.complete(a, a.name, text, offset)
    # completion falls back to counting braces when the parser cannot read the prefix
    assert "send email" in [c.label for c in editor.complete(a, a.name, text, text.index("send"))]


@pytest.mark.parametrize("path", [p for p in GOLDEN if "did you mean" in p.with_suffix(".golden").read_text()],
                         ids=lambda p: p.name)
def test_every_did_you_mean_becomes_a_quick_fix(path: Path):
    loaded = load_paths([path])
    result = check(loaded)
    for d in result.diagnostics:
        if not d.hint or "did you mean" not in d.hint:
            continue
        src = result.sources[d.span.file]
        fix = editor.quick_fix(src, d)
        assert fix is not None, d
        span, new, _title = fix
        assert d.span.start <= span.start <= span.end <= d.span.end
        suggestion = re.search(r"did you mean (.+?)\?", d.hint).group(1).strip("'")
        assert new.replace('"', "") in suggestion.replace('"', "") or suggestion.replace('"', "") in new.replace(
            '"', ""), (new, suggestion)


def test_quick_fix_of_an_unknown_email_fixes_the_file(tmp_path: Path):
    text = ('program "P" {\n    email "Welcome" { subject "Hi" }\n'
            '    campaign "C" trigger {\n        smart list { trigger person is created }\n'
            '        flow { send email "Welcom" }\n    }\n}\n')
    project = _project(tmp_path, {"a.campaign": text})
    a = project.analyse(tmp_path / "a.campaign")
    [d] = [d for d in a.result.diagnostics if d.code == "CL101"]
    span, new, title = editor.quick_fix(a.source(a.name), d)
    fixed = _apply(text, [(span, new)])
    assert 'send email "Welcome"' in fixed and title == 'Change to "Welcome"'
    project.change(tmp_path / "a.campaign", fixed)
    assert project.analyse(tmp_path / "a.campaign").result.ok


TWO = {
    "ops.campaign": '''program "Ops" {
    campaign "Score" executable { flow { change score lead."Lead Score" by +1 } }
    list "Customers"
}
program "Sales" {
    list "Leads"
}
''',
    "main.campaign": '''import "ops.campaign"

program "Main" {
    campaign "Start" batch {
        smart list { filter member of list "Customers" }
        flow {
            execute campaign "Ops"."Score"
            add to list "Customers"
        }
    }
}
''',
}


def test_rename_an_asset_across_files_with_bare_references(tmp_path: Path):
    project = _project(tmp_path, TWO)
    a = project.analyse(tmp_path / "ops.campaign")
    text = TWO["ops.campaign"]
    edits = editor.rename(project, a, a.name, text.index('list "Customers"') + 7, "Clients")
    assert len(edits) == 2
    main = next(k for k in edits if k.endswith("main.campaign"))
    assert _apply(TWO["main.campaign"], edits[main]).count('"Clients"') == 2


def test_rename_refuses_clashes(tmp_path: Path):
    project = _project(tmp_path, TWO)
    a = project.analyse(tmp_path / "ops.campaign")
    text = TWO["ops.campaign"]
    # the bare "Customers" in Main would find Sales's "Leads" as well: ambiguous
    with pytest.raises(editor.RenameError, match="ambiguous"):
        editor.rename(project, a, a.name, text.index('list "Customers"') + 7, "Leads")
    # two programs of one workspace cannot share a name
    with pytest.raises(editor.RenameError, match='already has a program "Sales"'):
        editor.rename(project, a, a.name, text.index('program "Ops"') + 10, "Sales")
    with pytest.raises(editor.RenameError, match="nothing to rename"):
        editor.rename(project, a, a.name, text.index("change score") + 2, "X")
    with pytest.raises(editor.RenameError, match="empty"):
        editor.rename(project, a, a.name, text.index('campaign "Score"') + 11, "  ")


def test_rename_a_program_changes_qualified_references(tmp_path: Path):
    project = _project(tmp_path, TWO)
    a = project.analyse(tmp_path / "ops.campaign")
    edits = editor.rename(project, a, a.name, TWO["ops.campaign"].index('program "Ops"') + 10, "Operations")
    main = next(k for k in edits if k.endswith("main.campaign"))
    assert 'execute campaign "Operations"."Score"' in _apply(TWO["main.campaign"], edits[main])


def test_token_rename_refuses_a_name_the_scope_already_has(tmp_path: Path):
    text = '''folder "F" {
    tokens { my.Points = +1 }
    program "P" {
        tokens { my.Score = +5 }
        campaign "C" batch {
            smart list { filter lead.Country is "US" }
            flow { change score lead."Lead Score" by {{my.Score}} }
        }
    }
}
'''
    project = _project(tmp_path, {"t.campaign": text})
    a = project.analyse(tmp_path / "t.campaign")
    with pytest.raises(editor.RenameError, match='my.Points is already declared in folder "F"'):
        editor.rename(project, a, a.name, text.index("{{my.Score}}") + 6, "Points")
    edits = editor.rename(project, a, a.name, text.index("{{my.Score}}") + 6, "Bonus Points")
    new = _apply(text, next(iter(edits.values())))
    assert 'my."Bonus Points" = +5' in new and "{{my.Bonus Points}}" in new
    project.change(tmp_path / "t.campaign", new)
    assert project.analyse(tmp_path / "t.campaign").result.ok


def test_importers_are_found_from_the_parses(tmp_path: Path):
    project = _project(tmp_path, TWO)
    assert project.importers(tmp_path / "ops.campaign") == [tmp_path / "main.campaign"]
    assert project.importers(tmp_path / "main.campaign") == []


def test_expected_at_names_the_blocks_and_the_keywords():
    text = 'program "P" {\n    campaign "C" trigger {\n        smart list {\n            '
    exp = expected_at(text, len(text))
    assert exp.blocks == ("program", "campaign", "smart list") and "PHRASE" in exp.accepts
    text = 'program "P" {\n    '
    assert {"campaign", "email", "tokens", "list", "form", "webhook"} <= expected_at(text, len(text)).accepts
    assert expected_at('program "P" { campaign }', 24) is None   # the prefix does not parse


def test_scan_atoms_keeps_unfinished_text():
    atoms = scan_atoms('filter lead."Lead Sc', 10)
    assert [(a.type, a.text) for a in atoms] == [("NAME", "filter"), ("NAME", "lead"), ("DOT", "."),
                                                 ("OTHER", '"Lead Sc')]
    assert atoms[0].start == 10


@pytest.mark.parametrize("text, expected", [
    ('program "P" {\n    campaign "C" ', ["batch", "trigger", "executable"]),
    ('program "P" {\n    campaign "C" trigger ', ["inactive"]),
    ('fields {\n    "Region": ', ["text", "email", "integer", "decimal", "score", "boolean", "date", "datetime"]),
    ('program "P" {\n    campaign "C" batch {\n        qualify ', ["every", "once"]),
    ('program "P" {\n    sm', ["smart list"]),
    ('program "P" {\n    smart list "S" ', ["all", "any", "logic"]),
    ('program "P" {\n    campaign "C" batch {\n        ', ["clone", "description", "flow", "qualify", "schedule",
                                                         "smart list"]),
])
def test_declaration_completion_follows_the_grammar(tmp_path: Path, text: str, expected: list[str]):
    project = editor.Project([tmp_path])
    project.open(tmp_path / "x.campaign", text)
    a = project.analyse(tmp_path / "x.campaign")
    assert [c.label for c in editor.complete(a, a.name, text, len(text))] == expected


def test_reparse_after_random_edits_equals_a_full_parse():
    """parse.reparse (the editor's parse after an edit) gives exactly what a
    full parse gives: nodes and spans, comments, diagnostics."""
    import json
    import random
    import sys

    from campaignlang import ast
    from campaignlang.parse import parse, reparse

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_check import generate

    def key(r):
        return json.dumps(ast.dump(r.module), default=str), r.comments, r.diagnostics

    texts = [p.read_text() for p in EXAMPLES] + [generate(6)]
    for seed, text in enumerate(texts):
        rng = random.Random(seed)
        old, current = parse(text, "x.campaign"), text
        for _ in range(40):
            pos = rng.randrange(len(current))
            if rng.random() < 0.5:
                new = current[:pos] + rng.choice(["x", " ", "1", '"', "\n", "{", "}", "a b", "# c\n", "é"]) \
                    + current[pos:]
            else:
                new = current[:pos] + current[pos + rng.randrange(1, 6):]
            got, want = reparse(old, new), parse(new, "x.campaign")
            assert key(got) == key(want), (seed, pos)
            old, current = got, new
            if want.diagnostics and rng.random() < 0.7:
                old, current = parse(text, "x.campaign"), text


def test_token_completion_inside_braces(tmp_path: Path):
    text = (ROOT / "examples" / "lead_lifecycle.campaign").read_text()
    where = text.index("{{my.Score}}") + 2
    project = editor.Project([tmp_path])
    typed = text[:where] + "lead.Fi" + text[where:]
    project.open(tmp_path / "x.campaign", typed)
    a = project.analyse(tmp_path / "x.campaign")
    got = editor.complete(a, a.name, typed, where + len("lead.Fi"))
    assert [c.label for c in got] == ["lead.First Name"]
    assert got[0].insert == "lead.First Name}}" and got[0].start == where
    typed = text[:where] + "my." + text[where:]
    project.change(tmp_path / "x.campaign", typed)
    a = project.analyse(tmp_path / "x.campaign")
    labels = [c.label for c in editor.complete(a, a.name, typed, where + 3)]
    assert "my.Score" in labels and "my.Ops Inbox" in labels and not [x for x in labels if not x.startswith("my.")]
