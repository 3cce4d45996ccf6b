"""render.py: caret text and the JSON document of §10, compared exactly."""

from __future__ import annotations

import json

from campaignlang.errors import Diagnostic, Related, error, warning
from campaignlang.render import render_diagnostic, render_json, render_text, summary_line
from campaignlang.source import SourceFile, Span


def _file_with_line(name: str, number: int, line: str) -> SourceFile:
    """A file whose line ``number`` is ``line`` (the others are comments)."""
    lines = [f"# line {i}" for i in range(1, number)] + [line, "# end"]
    return SourceFile(name, "\n".join(lines) + "\n")


def _span_of(source: SourceFile, needle: str, occurrence: int = 0) -> Span:
    start = -1
    for _ in range(occurrence + 1):
        start = source.text.index(needle, start + 1)
    return source.span(start, start + len(needle))


WEBINAR_LINE = '        change score lead."Lead Score" by {{my.Scor}}'


def test_the_specs_example_exactly():
    source = _file_with_line("examples/webinar.campaign", 14, WEBINAR_LINE)
    span = _span_of(source, "{{my.Scor}}")
    assert (span.line, span.column) == (14, 43)
    d = error("CL401", "My Token 'my.Scor' is defined nowhere in scope", span,
              hint="did you mean 'my.Score'?")
    assert render_text([d], {source.name: source}) == (
        "error[CL401]: My Token 'my.Scor' is defined nowhere in scope\n"
        "  --> examples/webinar.campaign:14:43\n"
        "   |\n"
        '14 |         change score lead."Lead Score" by {{my.Scor}}\n'
        "   |                                           ^^^^^^^^^^^\n"
        "   = hint: did you mean 'my.Score'?"
    )


def test_single_digit_line_has_a_narrow_gutter_and_no_hint_line():
    source = SourceFile("a.campaign", 'campaign "A" {\n  wait 1 day\n}\n')
    d = error("CL202", "'wait' in an executable campaign", _span_of(source, "wait 1 day"))
    assert render_text([d], {"a.campaign": source}) == (
        "error[CL202]: 'wait' in an executable campaign\n"
        " --> a.campaign:2:3\n"
        "  |\n"
        "2 |   wait 1 day\n"
        "  |   ^^^^^^^^^^"
    )


def test_three_digit_line_widens_the_gutter():
    source = _file_with_line("big.campaign", 120, "x = {{my.Nope}}")
    d = warning("CL402", "trigger token here", _span_of(source, "{{my.Nope}}"))
    assert render_text([d], {"big.campaign": source}) == (
        "warning[CL402]: trigger token here\n"
        "   --> big.campaign:120:5\n"
        "    |\n"
        "120 | x = {{my.Nope}}\n"
        "    |     ^^^^^^^^^^^"
    )


def test_zero_width_span_gets_one_caret():
    source = SourceFile("z.campaign", "flow {\n")
    end = len("flow {")
    d = error("CL001", "expected '}' to close the flow opened here", source.span(end, end))
    assert render_text([d], {"z.campaign": source}) == (
        "error[CL001]: expected '}' to close the flow opened here\n"
        " --> z.campaign:1:7\n"
        "  |\n"
        "1 | flow {\n"
        "  |       ^"
    )


def test_span_at_end_of_file_after_last_newline():
    source = SourceFile("e.campaign", "flow {\n")
    end = len(source.text)
    d = error("CL001", "unexpected end of file", source.span(end, end))
    assert render_text([d], {"e.campaign": source}) == (
        "error[CL001]: unexpected end of file\n"
        " --> e.campaign:2:1\n"
        "  |\n"
        "2 |\n"
        "  | ^"
    )


def test_multi_line_span_is_underlined_to_the_end_of_its_first_line():
    text = 'campaign "A" {\n  flow {\n    wait 1 day\n  }\n}\n'
    source = SourceFile("m.campaign", text)
    start = text.index("flow {")
    end = text.index("  }") + 3
    d = error("CL301", "a choice on 'wait'", source.span(start, end))
    assert d.span.line == 2 and d.span.end_line == 4
    assert render_text([d], {"m.campaign": source}) == (
        "error[CL301]: a choice on 'wait'\n"
        " --> m.campaign:2:3\n"
        "  |\n"
        "2 |   flow {\n"
        "  |   ^^^^^^"
    )


def test_tabs_are_expanded_alike_in_the_line_and_under_it():
    source = SourceFile("t.campaign", "\tflow\t{{my.X}}\n")
    d = error("CL401", "My Token 'my.X' is defined nowhere in scope",
              _span_of(source, "{{my.X}}"))
    out = render_text([d], {"t.campaign": source})
    assert "\t" not in out
    lines = out.splitlines()
    assert lines[1] == " --> t.campaign:1:7"  # columns count characters, not display
    assert lines[3] == "1 |     flow    {{my.X}}"
    assert lines[4] == "  | " + " " * 12 + "^" * 8
    assert lines[3].index("{{") == lines[4].index("^")


def test_wide_characters_keep_the_carets_under_their_text():
    source = SourceFile("w.campaign", 'execute campaign "祭り".X {{my.Y}}\n')
    d = error("CL401", "nope", _span_of(source, "{{my.Y}}"))
    lines = render_text([d], {"w.campaign": source}).splitlines()
    # "祭り" is four columns wide, two characters long.
    assert lines[4] == "  | " + " " * (len('execute campaign "祭り".X ') + 2) + "^" * 8


def test_file_missing_from_the_source_map_gives_header_and_location_only():
    source = SourceFile("gone.campaign", "wait 1 day\n")
    d = error("CL202", "'wait' in an executable campaign", source.span(0, 4),
              hint="use request campaign for waits")
    assert render_text([d], {}) == (
        "error[CL202]: 'wait' in an executable campaign\n"
        " --> gone.campaign:1:1\n"
        "  = hint: use request campaign for waits"
    )
    assert render_text([d]) == render_text([d], {})


def test_related_spans_are_secondary_notes_with_their_own_excerpt():
    a = _file_with_line("a.campaign", 3, '    execute campaign "B"')
    b = _file_with_line("lib/b.campaign", 12, '    execute campaign "A"')
    d = error(
        "CL206", "execution cycle: 'A' executes 'B', which executes 'A'",
        _span_of(a, 'execute campaign "B"'),
        hint="break the cycle with a request campaign",
        related=[Related("'B' executes 'A' here", _span_of(b, 'execute campaign "A"'))],
    )
    assert render_text([d], {a.name: a, b.name: b}) == (
        "error[CL206]: execution cycle: 'A' executes 'B', which executes 'A'\n"
        "  --> a.campaign:3:5\n"
        "   |\n"
        ' 3 |     execute campaign "B"\n'
        "   |     ^^^^^^^^^^^^^^^^^^^^\n"
        "   = hint: break the cycle with a request campaign\n"
        "note: 'B' executes 'A' here\n"
        "  --> lib/b.campaign:12:5\n"
        "   |\n"
        '12 |     execute campaign "A"\n'
        "   |     --------------------"
    )
    # The related file may be missing from the map: its note and location stay.
    assert render_text([d], {a.name: a}).endswith(
        "note: 'B' executes 'A' here\n"
        "  --> lib/b.campaign:12:5"
    )


def test_several_diagnostics_sorted_by_position_with_a_blank_line_between():
    source = SourceFile("s.campaign", "one\ntwo\n")
    later = warning("CL601", "second", _span_of(source, "two"))
    earlier = error("CL101", "first", _span_of(source, "one"))
    other_file = error("CL002", "import not found", Span("a.campaign", 0, 1, 1, 1, 1, 2))
    out = render_text([later, earlier, other_file], {"s.campaign": source})
    blocks = out.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "error[CL002]: import not found",
        "error[CL101]: first",
        "warning[CL601]: second",
    ]
    assert not out.endswith("\n")
    assert render_text([], {}) == ""


def test_color_only_when_asked_for():
    source = SourceFile("c.campaign", "wait 1 day\n")
    e = error("CL202", "bad", source.span(0, 4))
    w = warning("CL601", "meh", source.span(5, 6))
    plain = render_text([e, w], {"c.campaign": source})
    assert "\x1b[" not in plain
    colored = render_text([e, w], {"c.campaign": source}, color=True)
    assert "\x1b[1;31merror[CL202]\x1b[0m" in colored
    assert "\x1b[1;33mwarning[CL601]\x1b[0m" in colored
    assert "\x1b[1;31m^^^^\x1b[0m" in colored
    # Stripping the escapes gives back the plain rendering.
    import re
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain


def test_render_diagnostic_is_one_block():
    source = SourceFile("r.campaign", "x\n")
    d = error("CL101", "unknown", source.span(0, 1))
    assert render_diagnostic(d, {"r.campaign": source}) == render_text([d], {"r.campaign": source})


def test_json_document_has_the_keys_of_section_10():
    source = SourceFile("j.campaign", "wait 1 day\nsend email\n")
    w = warning("CL601", "unreachable branch", _span_of(source, "send email"))
    e = error("CL202", "'wait' in an executable campaign", _span_of(source, "wait"),
              hint="use request campaign for waits",
              related=[Related("called from here", _span_of(source, "send"))])
    text = render_json([w, e])
    doc = json.loads(text)
    assert list(doc) == ["format_version", "valid", "error_count", "warning_count",
                         "diagnostics"]
    assert doc["format_version"] == 1
    assert doc["valid"] is False
    assert (doc["error_count"], doc["warning_count"]) == (1, 1)
    first, second = doc["diagnostics"]
    assert first == {
        "code": "CL202", "severity": "error",
        "message": "'wait' in an executable campaign",
        "file": "j.campaign", "line": 1, "column": 1, "end_line": 1, "end_column": 5,
        "hint": "use request campaign for waits",
        "related": [{"message": "called from here", "file": "j.campaign", "line": 2,
                     "column": 1, "end_line": 2, "end_column": 5}],
    }
    assert second["code"] == "CL601" and second["severity"] == "warning"
    assert "hint" not in second and "related" not in second
    assert text.startswith('{\n  "format_version": 1,\n  "valid": false,')


def test_json_is_valid_with_warnings_only_and_with_nothing():
    source = SourceFile("v.campaign", "x\n")
    doc = json.loads(render_json([warning("CL601", "w", source.span(0, 1))]))
    assert doc["valid"] is True and doc["warning_count"] == 1 and doc["error_count"] == 0
    assert json.loads(render_json([])) == {
        "format_version": 1, "valid": True, "error_count": 0, "warning_count": 0,
        "diagnostics": [],
    }


def test_summary_line():
    span = Span("f", 0, 1, 1, 1, 1, 2)
    e = Diagnostic("CL101", "error", "e", span)
    w = Diagnostic("CL601", "warning", "w", span)
    assert summary_line([]) == "no problems"
    assert summary_line([e]) == "1 error"
    assert summary_line([w]) == "1 warning"
    assert summary_line([e, e, w]) == "2 errors, 1 warning"
    assert summary_line([e, w, w]) == "1 error, 2 warnings"
    assert summary_line(iter([w, w, w])) == "3 warnings"
