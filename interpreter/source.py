"""Source text and positions: `SourceFile` (text + line index) and `Span`.

Owns the mapping from character offsets to 1-based lines and columns. Imports
nothing from the rest of the package; every other module may import it.
"""

from __future__ import annotations

import bisect
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


@frozen
class SourceFile:
    """A file's name and text with a line index, built once."""

    name: str
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i != -1:
            starts.append(i + 1)
            i = find("\n", i + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def span(self, start: int, end: int) -> Span:
        """The span of offsets ``[start, end)``."""
        starts = self._line_starts
        size = len(self.text)
        start = max(0, min(start, size))
        end = max(start, min(end, size))
        i = bisect.bisect_right(starts, start) - 1
        j = i
        if i + 1 < len(starts) and end >= starts[i + 1]:
            j = bisect.bisect_right(starts, end, i) - 1
        return Span(self.name, start, end, i + 1, start - starts[i] + 1, j + 1, end - starts[j] + 1)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        if end == -1:
            end = len(self.text)
        return self.text[start:end].rstrip("\r")
