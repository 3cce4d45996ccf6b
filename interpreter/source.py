"""Source text and positions: `SourceFile` (text + line index) and `Span`.

Owns the mapping from character offsets to 1-based lines and columns. Imports
nothing from the rest of the package; every other module may import it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import TYPE_CHECKING, Any, Iterable

from attrs import field, frozen

if TYPE_CHECKING:
    def as_tuple(items: Iterable[Any]) -> tuple[Any, ...]:
        """``tuple``, typed for the attrs plugin (which cannot type a generic
        converter): the converter of every tuple field of the package's attrs classes."""
        return tuple(items)
else:
    as_tuple = tuple   # no Python-level call per node: parsing builds many



@frozen
class Span:
    """A region of one source file: offsets ``[start, end)`` and 1-based
    line/column of both ends (the end column points just past the last
    character, as LSP and Lark's ``end_column`` do)."""

    file: str
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def to(self, other: "Span") -> "Span":
        """The span covering ``self`` through ``other`` (same file)."""
        return Span(self.file, self.start, other.end, self.line, self.column,
                    other.end_line, other.end_column)


_NEWLINE = re.compile("\n")


@frozen
class SourceFile:
    """A file's name and text with a line index, built once."""

    name: str
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False, eq=False)
    _size: int = field(init=False, repr=False, eq=False)   # len(text), read by every span

    def __attrs_post_init__(self) -> None:
        # each line's start: 0, then one past each "\n" (found by the regex
        # engine, no Python step per line: half the time of a find() loop)
        object.__setattr__(self, "_line_starts", (0, *map(re.Match.end, _NEWLINE.finditer(self.text))))
        object.__setattr__(self, "_size", len(self.text))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def span(self, start: int, end: int) -> Span:
        """The span of offsets ``[start, end)`` (clamped to the text).
        The parse makes one per node: written for that."""
        starts = self._line_starts
        if start < 0 or end < start or end > self._size:   # rare: clamp
            size = self._size
            start = max(0, min(start, size))
            end = max(start, min(end, size))
        line = bisect_right(starts, start)   # 1-based: the index of the next line's start
        first = starts[line - 1]
        if line < len(starts) and end >= starts[line]:   # ends on a later line
            end_line = bisect_right(starts, end, line)
            return Span(self.name, start, end, line, start - first + 1, end_line, end - starts[end_line - 1] + 1)
        return Span(self.name, start, end, line, start - first + 1, line, end - first + 1)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        if end == -1:
            end = len(self.text)
        return self.text[start:end].rstrip("\r")
