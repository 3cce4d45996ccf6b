"""Diagnostics drawn for people (caret text) and for programs (JSON).

Owns the presentation of `Diagnostic`s and nothing else: the layout of
docs/language.md §10 and ARCHITECTURE.md, "Diagnostics: one shape, rendered at
the edge"::

    error[CL401]: My Token 'my.Scor' is defined nowhere in scope
      --> examples/webinar.campaign:14:43
       |
    14 |         change score lead."Lead Score" by {{my.Scor}}
       |                                           ^^^^^^^^^^^
       = hint: did you mean 'my.Score'?

A diagnostic holds a span but no text; the text comes from the source map
(``file name -> SourceFile``) the caller passes, because imports mean one
check reads several files. A file missing from the map still gets its header
and ``-->`` line, only no excerpt.

Layout choices, after rustc:

* The gutter is as wide as the largest line number the diagnostic shows
  (primary and related spans alike), so all its excerpts line up.
* A span over several lines is underlined from its column to the end of its
  first line; an empty span (an insertion point, the end of the file) gets one
  caret.
* Tabs are expanded to 4-column stops in the excerpt and the caret line alike,
  and East Asian wide characters count two columns, so carets stay under the
  text they mean.
* The hint follows the primary excerpt (``= hint: ...``); each related span is
  then a secondary note, ``note: <message>`` with its own ``-->`` line and an
  excerpt underlined with ``-``.
* Color is plain ANSI escapes, only when asked for: rich is not imported here.
  ``use_color`` is the one rule of when to ask (every command and the REPL):
  ``--color always`` / ``never``, else (``auto``) only on a terminal, with
  ``NO_COLOR`` unset (any value turns colour off, no-color.org) and ``TERM``
  not ``dumb``.

Imports only `source` and `errors`: no parser, no checker, no CLI library.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import Diagnostic
from .source import SourceFile, Span

__all__ = ["render_text", "render_diagnostic", "render_json", "summary_line", "printable"]

TAB_WIDTH = 4

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_SEVERITY_STYLE = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m"}
GUTTER_STYLE = "\x1b[1;34m"
_NOTE_STYLE = "\x1b[1;36m"

Sources = Mapping[str, SourceFile]


class Style:
    """Wraps text in ANSI escapes, or returns it unchanged when color is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text else text


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2
    return 1


# Characters that steer a terminal instead of showing: C0 and C1 controls
# but tab and newline (ESC starts colour, title, clipboard and cursor
# sequences), DEL, the line and paragraph separators and the bidirectional
# overrides that reorder what is shown (issue 14, docs/security.md); and lone
# surrogates, which no terminal encoding can write.
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL_RE = re.compile(f"[{_CONTROL}]")
_CONTROL_OR_SGR_RE = re.compile(f"\x1b\\[[0-9;]*m|[{_CONTROL}]")


def _escape_char(ch: str) -> str:
    return f"\\u{ord(ch):04x}"


def printable(text: str, keep_color: bool = False) -> str:
    """``text`` safe for a terminal: every control character written as a
    ``\\u001b``-style escape (valid inside a JSON string too, so JSON output
    keeps its meaning). With ``keep_color``, colour sequences (SGR, ``ESC [
    ... m``), which only change colours, pass. The one helper every text
    output goes through: diagnostics here, everything the command line
    prints through its output streams (cli.py)."""
    if keep_color:
        return _CONTROL_OR_SGR_RE.sub(lambda m: m.group() if len(m.group()) > 1 else _escape_char(m.group()),
                                      text)
    return _CONTROL_RE.sub(lambda m: _escape_char(m.group()), text)


def _layout(text: str) -> tuple[str, list[int]]:
    """The line as displayed (tabs expanded) and, for each character index
    0..len(text), the display column where that character starts."""
    shown: list[str] = []
    starts: list[int] = []
    width = 0
    for ch in text:
        starts.append(width)
        if ch == "\t":
            step = TAB_WIDTH - width % TAB_WIDTH
            shown.append(" " * step)
            width += step
        elif _CONTROL_RE.match(ch):
            shown.append(_escape_char(ch))    # shown escaped, as wide as its escape
            width += 6
        else:
            shown.append(ch)
            width += _char_width(ch)
    starts.append(width)
    return "".join(shown), starts


def _underline(text: str, span: Span) -> tuple[str, int, int]:
    """Displayed line, display offset and width of the underline for ``span``
    drawn on its first line ``text``."""
    shown, starts = _layout(text)
    last = len(text)  # index just past the last character
    first = min(max(span.column - 1, 0), last)
    if span.end_line == span.line:
        stop = min(max(span.end_column - 1, first), last)
    else:
        stop = last  # several lines: to the end of the first one
    width = starts[stop] - starts[first]
    # A column past the end of the line (an insertion point after its last
    # character) keeps its distance from that end.
    offset = starts[first] + max(span.column - 1 - last, 0)
    return shown, offset, max(width, 1)


def excerpt(span: Span, source: SourceFile | None, gutter: int, mark: str,
             mark_style: str, style: Style) -> list[str]:
    """The ``|`` block: blank gutter line, numbered source line, underline."""
    if source is None or not source.text or not 1 <= span.line <= source.line_count:
        return []
    shown, offset, width = _underline(source.line_text(span.line), span)
    bar = style(GUTTER_STYLE, " " * gutter + " |")
    number = style(GUTTER_STYLE, f"{span.line:>{gutter}} |")
    return [
        bar,
        f"{number} {shown}".rstrip(),
        f"{bar} {' ' * offset}{style(mark_style, mark * width)}",
    ]


def location(span: Span, gutter: int, style: Style) -> str:
    return f"{' ' * gutter}{style(GUTTER_STYLE, '-->')} {printable(span.file)}:{span.line}:{span.column}"


def _gutter_width(diagnostic: Diagnostic) -> int:
    lines = [diagnostic.span.line] + [r.span.line for r in diagnostic.related]
    return max(len(str(max(line, 1))) for line in lines)


def render_diagnostic(diagnostic: Diagnostic, sources: Sources | None = None,
                      color: bool = False) -> str:
    """One diagnostic as caret text, without a trailing newline."""
    sources = sources or {}
    style = Style(color)
    severity_style = _SEVERITY_STYLE.get(diagnostic.severity, _BOLD)
    gutter = _gutter_width(diagnostic)
    span = diagnostic.span

    head = style(severity_style, f"{diagnostic.severity}[{diagnostic.code}]")
    # messages quote the program's names: escaped before they are styled
    lines = [f"{head}{style(_BOLD, ': ' + printable(diagnostic.message))}",
             location(span, gutter, style)]
    lines += excerpt(span, sources.get(span.file), gutter, "^", severity_style, style)
    if diagnostic.hint:
        lines.append(f"{' ' * (gutter + 1)}{style(GUTTER_STYLE, '=')} "
                     f"{style(_BOLD, 'hint')}: {printable(diagnostic.hint)}")
    for related in diagnostic.related:
        lines.append(f"{style(_NOTE_STYLE, 'note')}: {printable(related.message)}")
        lines.append(location(related.span, gutter, style))
        lines += excerpt(related.span, sources.get(related.span.file), gutter,
                          "-", _NOTE_STYLE, style)
    return "\n".join(lines)


def render_text(diagnostics: Iterable[Diagnostic], sources: Sources | None = None,
                color: bool = False) -> str:
    """Every diagnostic, in `Diagnostic.sort_key` order, a blank line between
    two; no trailing newline ("" for none)."""
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    return "\n\n".join(render_diagnostic(d, sources, color) for d in ordered)


def _counts(diagnostics: Iterable[Diagnostic]) -> tuple[int, int]:
    errors = warnings = 0
    for d in diagnostics:
        if d.is_error:
            errors += 1
        else:
            warnings += 1
    return errors, warnings


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    """The object of `campaign check --format json` (§10), diagnostics in
    `Diagnostic.sort_key` order; no trailing newline."""
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    errors, warnings = _counts(ordered)
    document = {
        "format_version": 1,
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": warnings,
        "diagnostics": [d.to_json() for d in ordered],
    }
    return json.dumps(document, indent=2, sort_keys=False)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def summary_line(diagnostics: Iterable[Diagnostic]) -> str:
    """``2 errors, 1 warning``, ``1 error``, ``3 warnings`` or ``no problems``."""
    errors, warnings = _counts(diagnostics)
    parts = []
    if errors:
        parts.append(_plural(errors, "error"))
    if warnings:
        parts.append(_plural(warnings, "warning"))
    return ", ".join(parts) if parts else "no problems"


def use_color(stream: Any, mode: str = "auto") -> bool:
    """Whether output to ``stream`` is coloured: ``mode`` is the command
    line's ``--color`` (auto, always, never); ``auto`` means a terminal
    with ``NO_COLOR`` unset or empty and ``TERM`` not ``dumb``."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    import os

    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # closed or not a file
        return False
