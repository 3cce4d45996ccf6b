"""Data files (LANGUAGE.md §11): people (CSV, JSON or Parquet) and events
(JSON lines).

Reading is strict: a malformed row or line is refused with the file, its
number, the column (or key) and the reason, and nothing from that file is
imported (docs/security.md, "Data files"). An events file is read line by
line twice: every line checked first, then applied in one action (nothing
is written when a line is bad); a people file streams into the store in one action, a
chunk at a time, and a bad row rolls the action back (``import_people``,
docs/scale.md "Loading people in bulk"). The rules:

* **People.** One column (CSV) or key (JSON) per field, named as the
  language names fields, case-insensitively (``Email`` is ``Email Address``).
  A column that names no field is refused with the list of known fields; two
  columns naming one field, a header cell without a name, a row with more or
  fewer cells than the header, a NUL byte, text that is not UTF-8 and a JSON
  value that is a list or an object are refused. Values convert to the
  field's declared type (integers and scores: whole numbers of at most 19
  digits; decimals; booleans ``true/false``, ``yes/no``, ``1/0``; dates
  ``2026-12-01``; date-times ``2026-12-01T09:30``); an empty cell (or JSON
  ``null``) leaves the field as it is, as a Marketo list import does. Every
  row needs an email address (something@something, no spaces).
* **Duplicates.** Rows with the same email address (case-insensitive) are
  merged as Marketo merges them: the later row updates the person, field by
  field; the report says how many rows were merged.
* **Events.** Each non-blank line is a JSON object with ``at``, ``person``
  (an address or a list of them) and ``trigger`` (a trigger phrase of §4),
  and, as the trigger needs, ``name``, ``field``, ``to``, ``from`` and
  ``attributes``. Unknown keys are refused (a misspelt key would otherwise be
  ignored), as are events out of time order. A replay is one transaction: an
  event that fails half-way (a form that does not exist) leaves the store as
  it was before the file.
* **Streaming.** An events file is read line by line, twice (``replay``:
  validate all, then apply while validating again); nothing keeps a list of
  its events or their results, so memory is flat in the file's length.
  People files stream too, into one action (``import_people``).

Imports ``ast``, ``clock``, ``errors``, ``model``, ``values`` and
``stdlib.types``; pyarrow only to read a Parquet file (the ``parquet``
extra); the engine only for types (it calls this module's readers through
thin wrappers, and ``import_people`` drives an engine's action).
"""

from __future__ import annotations

import csv
import datetime as _dt
import difflib
import io
import json
import operator
import re
from itertools import chain, compress, islice, repeat
from json.encoder import encode_basestring  # what values.dumps writes for text (ensure_ascii off)
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Iterator, Sequence

from attrs import define, field

from . import ast
from .clock import iso, parse_time
from .errors import RunError
from .model import Model
from .stdlib.types import TYPES
from .values import INT_LIMIT, convert, decode, encode

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ActionResult, Engine


class DataFileError(RunError):
    """A people or events file that cannot be imported; the message names the
    file, the row or line, the column or key, and the reason."""


#: what each type accepts, said after a value that does not fit (``stdlib.types.TYPES``)
EXPECTED = {name: t.expected for name, t in TYPES.items() if t.expected is not None}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
EMAIL = "email address"


# --------------------------------------------------------------------------
# Reading text


def _opened(path: str | Path) -> BinaryIO:
    """A data file opened for reading bytes; a missing file, a folder or an
    unreadable file is a one-line DataFileError (people, events, any reader)."""
    try:
        return open(path, "rb")   # noqa: SIM115 - the caller closes it (with)
    except FileNotFoundError:
        raise DataFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DataFileError(f"{path} is a folder, not a data file") from None
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_text(path: str | Path) -> str:
    with _opened(path) as f:
        try:
            raw = f.read()
        except OSError as exc:
            raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataFileError(f"{path}: line {line}: not UTF-8 text (byte {exc.start}); "
                            f"save the file as UTF-8") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise DataFileError(f"{path}: line {text.count(chr(10), 0, nul) + 1}: a NUL byte; "
                            f"this is not a text file")
    return text


def lone_surrogate(value: Any, key: str = "") -> str | None:
    """The key under which ``value`` (JSON: text, lists, objects) holds text
    with a lone surrogate (``"\\ud800"``: JSON can write one, UTF-8 cannot
    store it), ``""`` for ``value`` itself, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return key
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = lone_surrogate(k, k) if isinstance(k, str) else None
            if found is None:
                found = lone_surrogate(v, k)
            if found is not None:
                return _shown(found)
    elif isinstance(value, list):
        for v in value:
            found = lone_surrogate(v, key)
            if found is not None:
                return found
    return None


def _shown(text: str) -> str:
    """Text safe to print: a lone surrogate as ``\\ud800``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_SURROGATE = "text with a lone surrogate (such as \\ud800), which is not Unicode text"


def _convert(type_: str, value: Any) -> Any:
    """A cell -> the field's type; ``ValueError`` with the reason."""
    if type_ == "email":
        text = str(value).strip()
        if not _EMAIL.match(text):
            raise ValueError(f"{text!r} is not {EXPECTED['email']}")
        return text
    try:
        return convert(type_, value)
    except ValueError as exc:
        hint = EXPECTED.get(type_)
        reason = str(exc)
        raise ValueError(f"{reason} (expected {hint})" if hint and "too large" not in reason else reason) from None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


# --------------------------------------------------------------------------
# People


@define
class PeopleFile:
    """The people of a file, one record per email address (duplicates
    merged), in the order each address first appears."""

    path: str
    records: list[dict[str, Any]] = field(factory=list)
    rows: int = 0
    merged: int = 0


@define
class ImportReport:
    created: int = 0
    updated: int = 0
    merged: int = 0
    rows: int = 0
    emails: list[str] = field(factory=list)   # the people of the file, in file order

    def summary(self, db: str | None = None) -> str:
        n = self.created + self.updated
        text = (f"imported {n} {'person' if n == 1 else 'people'} ({self.created} new, {self.updated} updated)"
                + (f" into {db}" if db else ""))
        if self.merged:
            text += (f"; {self.merged} duplicate email{'s' if self.merged != 1 else ''} merged "
                     f"(the later row updates the person)")
        return text


def _columns(path: str, names: Sequence[str], model: Model, where: str) -> list[tuple[str, str]]:
    """Header names -> (field name, type); refuses unknown, nameless and doubled columns."""
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(names, 1):
        col = raw.strip()
        if not col:
            raise DataFileError(f"{path}: {where}, column {i}: the column has no name")
        found = model.field(col)
        if found is None:
            names = model.field_names()
            # did you mean: compared case-insensitively, "Email" (the alias) included
            folded = {n.casefold(): n for n in [*names, "Email"]}
            close = difflib.get_close_matches(col.casefold(), list(folded), n=1)
            guess = f"did you mean '{folded[close[0]]}'? " if close else ""
            raise DataFileError(f"{path}: {where}: the {'key' if where.startswith('person') else 'column'} "
                                f"'{col}' names no field; {guess}the fields are: " + ", ".join(names))
        if found[0] in seen:
            raise DataFileError(f"{path}: {where}: the columns '{seen[found[0]]}' and '{col}' both name "
                                f"the field '{found[0]}'")
        seen[found[0]] = col
        out.append(found)
    return out


# Reading a people file streams it a chunk at a time (``_chunks``): CSV and
# Parquet never whole (memory holds one chunk), JSON parsed whole (its syntax
# has no lines to stream by). A chunk is converted column by column with
# converters chosen once per column (``_cell``); only when one of them
# refuses a cell is the chunk gone through again row by row, cell by cell,
# so the error named is the first in the file, as the rules above say.

CHUNK = 5000
#: bytes of a text file read at a time (a block of whole lines is decoded and split at once)
BLOCK = 1 << 18


def _cell(type_: str) -> Callable[[Any], Any]:
    """``cell -> column value`` (``values.encode`` of ``_convert``), None for
    an empty cell; ``ValueError`` with ``_convert``'s reason. The common
    spellings take a short path; anything else goes through ``_convert``,
    the one rule (tests/test_people_bulk.py proves both agree)."""

    def slow(v: Any) -> Any:
        if _empty(v):
            return None
        return encode(type_, _convert(type_, v))

    if type_ == "text":
        return lambda v: v if type(v) is str and v and not v.isspace() else slow(v)
    if type_ == "email":
        match = _EMAIL.match

        def email(v: Any) -> Any:
            if type(v) is str:
                t = v.strip()
                if t and match(t):
                    return t
            return slow(v)
        return email
    if type_ in ("integer", "score"):
        lo, hi = -INT_LIMIT, INT_LIMIT

        def whole(v: Any) -> Any:
            t = type(v)
            if t is str or t is int:
                try:
                    n = int(v)
                except ValueError:
                    return slow(v)
                if lo <= n < hi:
                    return n
            return slow(v)
        return whole
    if type_ == "boolean":
        known: dict[Any, int] = {**_BOOLEANS, True: 1, False: 0}

        def boolean(v: Any) -> Any:
            b = known.get(v) if type(v) in (str, bool) else None
            return b if b is not None else slow(v)
        return boolean
    if type_ == "date":
        fromiso = _dt.date.fromisoformat

        def date(v: Any) -> Any:
            if type(v) is str and len(v) == 10:
                try:
                    return fromiso(v).isoformat()
                except ValueError:
                    pass
            return slow(v)
        return date
    if type_ == "datetime":
        dfromiso, dtfromiso = _dt.date.fromisoformat, _dt.datetime.fromisoformat
        midnight = _dt.time()

        def datetime(v: Any) -> Any:
            if type(v) is str and v and not v[0].isspace() and not v[-1].isspace():
                try:
                    d = (_dt.datetime.combine(dfromiso(v), midnight) if len(v) == 10
                         else dtfromiso(v.replace(" ", "T", 1)))
                except ValueError:
                    return slow(v)
                if d.microsecond or d.tzinfo is not None:
                    d = d.replace(microsecond=0, tzinfo=None)
                return d.isoformat(timespec="seconds")
            return slow(v)
        return datetime
    return slow


# Whole CSV columns in the usual spellings, checked by one regular expression
# over the column (the values then need only parsing, by C functions): an
# address with no spaces, a date-time to the minute or second.
_SPACE = re.compile(r"[^\S\n]")   # whitespace but the newline that joins a column's cells
_MINUTES = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}\n)*")
_SECONDS = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\n)*")
_BOOLEANS = {"true": 1, "false": 0, "yes": 1, "no": 0, "1": 1, "0": 0, "TRUE": 1, "FALSE": 0,
             "True": 1, "False": 0, "Yes": 1, "No": 0}


def _column(type_: str, values: Sequence[str]) -> Sequence[Any] | None:
    """A CSV column with no empty cell -> its column values, when every cell
    has the usual spelling of its type (then the result is ``_cell``'s,
    cell for cell); None otherwise (``_cell`` then takes each cell)."""
    try:
        if type_ == "text":
            return values
        if type_ == "email":   # each holds one @, neither first nor last, and no space (as _EMAIL says)
            block = "\n".join(values)
            ok = (block.count("@") == len(values) and block.count("\n") == len(values) - 1
                  and all(map(operator.contains, values, repeat("@")))
                  and not block.startswith("@") and not block.endswith("@") and "\n@" not in block
                  and "@\n" not in block and _SPACE.search(block) is None)
            return values if ok else None
        if type_ in ("integer", "score"):
            ints = list(map(int, values))
            return ints if ints and -INT_LIMIT <= min(ints) and max(ints) < INT_LIMIT else None
        if type_ == "boolean":
            return list(map(_BOOLEANS.__getitem__, values))
        if type_ == "date":
            return list(map(_dt.date.isoformat, map(_dt.date.fromisoformat, values)))
        if type_ == "datetime":
            block = "\n".join(values) + "\n"
            if _MINUTES.fullmatch(block):
                list(map(_dt.datetime.fromisoformat, values))   # a real date and time of day
                return [v + ":00" for v in values]
            if _SECONDS.fullmatch(block):
                list(map(_dt.datetime.fromisoformat, values))
                return values
    except (ValueError, KeyError):
        pass
    return None


@define
class _Chunk:
    """Rows of a people file, converted: their cells as the store holds them,
    and where each row is (``where(i)``: ``line 12``, ``person 3``, ``row 7``)."""

    size: int
    where: Callable[[int], str]
    #: CSV and Parquet: the columns' field names and their values, column by column
    names: list[str] = field(factory=list)
    columns: list[Sequence[Any]] = field(factory=list)
    #: JSON: one record per row instead (each object has its own keys, in its order)
    rows: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self.size

    def records(self) -> list[dict[str, Any]]:
        """One ``{field name: column value}`` per row, the empty cells left out
        (in column order, as the rows were read)."""
        if self.rows is not None:
            return self.rows
        names = self.names
        return [{n: v for n, v in zip(names, row) if v is not None} for row in zip(*self.columns)]

    def emails(self) -> Sequence[str]:
        if self.rows is not None:
            return [r["Email Address"] for r in self.rows]
        return self.columns[self.names.index("Email Address")]


def _convert_columns(path: str, cols: list[tuple[str, str]], header: Sequence[str],
                     raw: Sequence[Sequence[Any]], size: int, where: Callable[[int], str],
                     strings: bool | Sequence[bool] = True) -> _Chunk:
    """Columns of cells (``raw``, in the order of ``cols``) -> a chunk,
    column by column (``strings``: all text with no nulls, as CSV's; for
    every column or column by column). The first bad cell or missing
    address in file order is a ``DataFileError`` (found again row by row:
    errors are rare)."""
    chunk = _Chunk(size, where, [name for name, _ in cols])
    converters = [_cell(t) for _, t in cols]
    text = [strings] * len(cols) if isinstance(strings, bool) else strings
    try:
        for (name, type_), conv, values, is_text in zip(cols, converters, raw, text):
            out = None
            if is_text:
                if "" not in values and not any(map(str.isspace, values)):
                    out = _column(type_, values)
                elif type_ == "text":
                    out = [None if not v or v.isspace() else v for v in values]
                else:   # the filled cells, column by column; the empty ones None
                    empty = [not v or v.isspace() for v in values]
                    filled = _column(type_, list(compress(values, map(operator.not_, empty))))
                    if filled is not None:
                        it = iter(filled)
                        out = [None if e else next(it) for e in empty]
            chunk.columns.append(out if out is not None else list(map(conv, values)))
        if None not in chunk.emails():
            return chunk
    except ValueError:
        pass
    email = [n for n, _ in cols].index("Email Address")
    for i, row in enumerate(zip(*raw)):   # the first error, in file order
        for conv, col, value in zip(converters, header, row):
            try:
                conv(value)
            except ValueError as exc:
                raise DataFileError(f"{path}: {where(i)}, column '{str(col).strip()}': {exc}") from None
        if _empty(row[email]):
            raise DataFileError(f"{path}: {where(i)}: no Email Address; every person needs one")
    raise AssertionError("a chunk refused column by column passes row by row")  # pragma: no cover


def _chunks(path: str | Path, model: Model) -> Iterator[_Chunk]:
    """The people of a file, a chunk at a time, validated as they are read.
    A text file's error is the one a whole read names: text that is not
    UTF-8 anywhere first, then a NUL byte, then (JSON) a syntax error, then
    the first bad row."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_chunks(str(path), model)
        return
    try:
        yield from _json_chunks(str(path), model) if suffix == ".json" else _csv_chunks(str(path), model)
    except DataFileError:
        for _ in _text_blocks(str(path)):   # read on: raises what the rest of the file holds
            pass
        if suffix == ".json":
            for _ in _json_items(str(path)):   # and a syntax error after the bad person
                pass
        raise


def _text_lines(path: str) -> Iterator[str]:
    """A text file's lines (ends kept, split as ``csv`` splits them)."""
    return chain.from_iterable(map(_lines, _text_blocks(path)))   # no Python frame per line


def _lines(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")


def _text_blocks(path: str) -> Iterator[str]:
    """A text file in blocks of whole lines, BOM dropped; not UTF-8 and NUL
    bytes refused as ``_read_text`` refuses them."""
    with _opened(path) as f:
        offset = lines = 0   # bytes (after a BOM) and lines before the block
        rest = b""
        nul: DataFileError | None = None
        first = True
        while True:
            try:
                block = f.read(BLOCK)
            except OSError as exc:
                raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None
            data = rest + block
            if first:   # a byte order mark is not text (the file's first block has it whole)
                first = False
                if data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                if not block:
                    if nul is not None:
                        raise nul
                    return   # the end of the file
                rest = data   # a line longer than a block: read on
                continue
            piece, rest = data[:cut], data[cut:]
            try:
                text = piece.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = lines + piece[:exc.start].count(b"\n") + 1
                raise DataFileError(f"{path}: line {line}: not UTF-8 text (byte {offset + exc.start}); "
                                    f"save the file as UTF-8") from None
            at = text.find("\x00")
            if at >= 0 and nul is None:   # named once the rest is known to be UTF-8 (a whole read's order)
                nul = DataFileError(f"{path}: line {lines + text.count(chr(10), 0, at) + 1}: a NUL byte; "
                                    f"this is not a text file")
            if nul is None:
                yield text
            offset += len(piece)
            lines += piece.count(b"\n")
            if not block:
                if nul is not None:
                    raise nul
                return


def _csv_rows(path: str) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of a CSV file's rows after the header, blank lines left out."""
    reader = csv.reader(_text_lines(path), strict=True)
    if next(reader, None) is None:
        return
    line = reader.line_num + 1
    for row in reader:
        start, line = line, reader.line_num + 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        yield start, row


def _csv_line(path: str, index: int) -> int:
    """The line where the ``index``-th row (from 0, blank lines not counted)
    of a CSV file starts: read again for an error message only, so that
    reading need not count lines row by row."""
    for n, (line, _) in enumerate(_csv_rows(path)):
        if n == index:
            return line
    raise AssertionError(f"{path} has no row {index}")  # pragma: no cover


def _numbered(what: str, first: int, csv_path: str | None = None) -> Callable[[int], str]:
    """``where(i)`` of a chunk whose first row is the ``first``-th of the file
    (from 0): ``person 3``, ``row 7``; a CSV row's line is looked up."""
    if csv_path is not None:
        return lambda i: f"{what} {_csv_line(csv_path, first + i)}"
    return lambda i: f"{what} {first + i + 1}"


def _csv_chunks(path: str, model: Model) -> Iterator[_Chunk]:
    reader = csv.reader(_text_lines(path), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataFileError(f"{path}: line 1: no header; the first line names the columns "
                                f"(Email Address, ...)")
        cols = _columns(path, header, model, "line 1")
        if not any(name == "Email Address" for name, _ in cols):
            raise DataFileError(f"{path}: line 1: no Email Address column; every person needs one")
        width = len(cols)
        done = 0   # rows read so far, blank lines not counted
        while True:
            rows = list(islice(reader, CHUNK))
            if not rows:
                return
            if set(map(len, rows)) != {width} or (width == 1 and any(not r[0].strip() for r in rows)):
                rows = [r for r in rows if r and not (len(r) == 1 and not r[0].strip())]   # blank lines
                bad = next((i for i, r in enumerate(rows) if len(r) != width), None)
                if bad is not None:
                    # an earlier row's error comes first
                    _convert_columns(path, cols, header, list(zip(*rows[:bad])) or [[] for _ in cols], bad,
                                     _numbered("line", done, path))
                    n = len(rows[bad])
                    raise DataFileError(f"{path}: line {_csv_line(path, done + bad)}: {n} value"
                                        f"{'s' if n != 1 else ''} but the header has {width} "
                                        f"column{'s' if width != 1 else ''}")
                if not rows:
                    continue
            start = done
            done += len(rows)
            yield _convert_columns(path, cols, header, list(zip(*rows)), len(rows),
                                   _numbered("line", start, path))
    except csv.Error as exc:
        raise DataFileError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a field can hold")


def _json_whole(path: str) -> list[Any]:
    """A people JSON file read whole: its list of people, or the
    ``DataFileError`` that says why there is none."""
    text = _read_text(path)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: line {exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise DataFileError(f"{path}: not JSON a person file can hold: {exc}") from None
    if isinstance(data, dict) and set(data) == {"people"}:
        data = data["people"]
    if not isinstance(data, list):
        raise DataFileError(f'{path}: expected a list of objects, one per person (or {{"people": [...]}})')
    return data


_WS = re.compile(r"[ \t\n\r]*")
_WRAPPED = re.compile(r'\{[ \t\n\r]*"people"[ \t\n\r]*:[ \t\n\r]*\[')


class _NotStreamable(Exception):
    """A JSON people file the streaming reader does not follow (any error,
    or an unusual shape): ``_json_whole`` says what it is."""


def _json_items(path: str) -> Iterator[Any]:
    """The items of a people JSON file's list (``[...]`` or ``{"people":
    [...]}``), parsed one at a time from blocks of the file. Anything else,
    a syntax error included, is read whole (``_json_whole``), so its message
    is the one ``json.loads`` gives for the whole file."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    blocks = _text_blocks(path)
    buf, pos, done, given = "", 0, False, 0

    def more() -> bool:
        nonlocal buf, pos, done
        if done:
            return False
        block = next(blocks, None)
        if block is None:
            done = True
            return False
        buf, pos = buf[pos:] + block, 0   # what was read is let go
        return True

    def skip() -> bool:   # past whitespace, to a character (False: the end of the file)
        nonlocal pos
        while True:
            pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]  # matches the empty string
            if pos < len(buf):
                return True
            if not more():
                return False

    try:
        if not skip():
            raise _NotStreamable
        wrapped = buf[pos] == "{"
        if wrapped:
            while len(buf) - pos < 64 and more():
                pass
            m = _WRAPPED.match(buf, pos)
            if m is None:
                raise _NotStreamable
            pos = m.end()
        elif buf[pos] == "[":
            pos += 1
        else:
            raise _NotStreamable
        if not skip():
            raise _NotStreamable
        if buf[pos] == "]":
            pos += 1
        else:
            while True:
                while True:
                    try:
                        item, end = decoder.raw_decode(buf, pos)
                    except (ValueError, RecursionError):   # the item may go on in the next block
                        if more():
                            continue
                        raise _NotStreamable from None
                    if end == len(buf) and more():   # a number may go on in the next block
                        continue
                    break
                pos = end
                given += 1
                yield item
                if not skip():
                    raise _NotStreamable
                if buf[pos] == ",":
                    pos += 1
                    if not skip():   # raw_decode starts at a value, not at whitespace
                        raise _NotStreamable
                    continue
                if buf[pos] == "]":
                    pos += 1
                    break
                raise _NotStreamable
        if wrapped:
            if not skip() or buf[pos] != "}":
                raise _NotStreamable
            pos += 1
        if skip():
            raise _NotStreamable   # more after the list
    except _NotStreamable:
        data = _json_whole(path)   # raises the error the whole file has
        if given:   # pragma: no cover - valid JSON the stream read otherwise ({"people": .., "people": ..})
            raise DataFileError(f'{path}: expected a list of objects, one per person (or {{"people": [...]}})'
                                ) from None
        yield from data


def _json_chunks(path: str, model: Model) -> Iterator[_Chunk]:
    converters: dict[str, Callable[[Any], Any]] = {}
    rows: list[dict[str, Any]] = []
    n = 0
    for n, obj in enumerate(_json_items(path), 1):
        where = f"person {n}"
        if not isinstance(obj, dict):
            raise DataFileError(f"{path}: {where}: expected an object of fields, not {_json_kind(obj)}")
        bad = lone_surrogate(obj)
        if bad is not None:
            raise DataFileError(f"{path}: {where}, key '{bad}': {_SURROGATE}")
        cols = _columns(path, list(obj), model, where)
        rec: dict[str, Any] = {}
        for (name, type_), key in zip(cols, obj):
            value = obj[key]
            if isinstance(value, (list, dict)):
                raise DataFileError(f"{path}: {where}, key '{key}': {_json_kind(value)} is not a value; "
                                    f"write text, a number, true/false or null")
            conv = converters.get(type_)
            if conv is None:
                conv = converters[type_] = _cell(type_)
            try:
                cell = conv(value)
            except ValueError as exc:
                raise DataFileError(f"{path}: {where}, key '{key}': {exc}") from None
            if cell is not None:
                rec[name] = cell
        if "Email Address" not in rec:
            raise DataFileError(f"{path}: {where}: no Email Address; every person needs one")
        rows.append(rec)
        if len(rows) == CHUNK:
            yield _Chunk(len(rows), _numbered("person", n - len(rows)), rows=rows)
            rows = []
    if rows:
        yield _Chunk(len(rows), _numbered("person", n - len(rows)), rows=rows)


PARQUET_MISSING = ("reading Parquet files needs pyarrow, which is not installed: "
                   "pip install 'campaignlang[parquet]'")


def _parquet_chunks(path: str, model: Model) -> Iterator[_Chunk]:
    """People from a Parquet file (through pyarrow, the ``parquet`` extra):
    one column per field as in a CSV file, read a row group at a time."""
    try:
        import pyarrow as pa  # the parquet extra; the core install stays light
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFileError(PARQUET_MISSING) from None
    p = Path(path)
    if p.is_dir():
        raise DataFileError(f"{path} is a folder, not a data file")
    if not p.exists():
        raise DataFileError(f"no such file: {path}")
    try:
        pf = pq.ParquetFile(path)
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except Exception as exc:   # pyarrow's ArrowInvalid and kin: not a Parquet file
        raise DataFileError(f"{path}: not a Parquet file: {exc}") from None
    header = list(pf.schema_arrow.names)
    if not header:
        raise DataFileError(f"{path}: no columns; a Parquet people file has one column per field")
    cols = _columns(path, header, model, "columns")
    if not any(name == "Email Address" for name, _ in cols):
        raise DataFileError(f"{path}: no Email Address column; every person needs one")
    row = 0
    try:
        batches = pf.iter_batches(batch_size=CHUNK)
        for batch in batches:
            arrays = [batch.column(i) for i in range(len(header))]
            # a text column with no nulls converts as a CSV column does, whole
            text = [a.null_count == 0 and (pa.types.is_string(a.type) or pa.types.is_large_string(a.type))
                    for a in arrays]
            first, row = row, row + batch.num_rows
            yield _convert_columns(path, cols, header, [a.to_pylist() for a in arrays], batch.num_rows,
                                   _numbered("row", first), strings=text)
    except DataFileError:
        raise
    except Exception as exc:   # a damaged file found while reading
        raise DataFileError(f"{path}: row {row + 1}: cannot read the Parquet file: {exc}") from None


def parquet_rows(path: str | Path) -> int | None:
    """How many rows a Parquet file has (for a progress bar), or None."""
    try:
        import pyarrow.parquet as pq
        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    except Exception:   # no pyarrow, or not a Parquet file: the import says why
        return None


def _decoded(model: Model, rec: dict[str, Any]) -> dict[str, Any]:
    """A record of column values -> typed values (``values.decode``)."""
    return {name: decode(model.field(name)[1], value) for name, value in rec.items()}  # type: ignore[index]


def read_people(path: str | Path, model: Model) -> PeopleFile:
    """A people file (``.json``: a list of objects, or ``{"people": [...]}``;
    ``.parquet``: a Parquet table; anything else: CSV with a header line),
    validated whole, duplicates merged; the values typed."""
    people = PeopleFile(str(path))
    index: dict[str, int] = {}
    for chunk in _chunks(path, model):
        for rec in chunk.records():
            key = rec["Email Address"].casefold()
            people.rows += 1
            if key in index:
                people.records[index[key]].update(rec)   # Marketo: the later row updates the person
                people.merged += 1
            else:
                index[key] = len(people.records)
                people.records.append(rec)
    people.records = [_decoded(model, r) for r in people.records]
    return people


def _json_kind(value: Any) -> str:
    return {list: "a list", dict: "an object", str: "text", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def import_people(engine: "Engine", path: str | Path,
                  before_write: "Callable[[list[str]], None] | None" = None) -> ImportReport:
    """Import a people file in one action: a bad row imports nothing (the
    store is as it was). ``before_write`` sees the file's emails first and
    may refuse them (raise) before anything is written: such a file is read
    whole first. Otherwise the file streams into the store a chunk at a time
    (``_bulk``)."""
    if before_write is None and not engine.listens("person is created"):
        try:
            return _bulk(engine, path)
        except _Exact:
            pass   # rolled back: the file needs the person-by-person path
    people = read_people(path, engine.model)
    if before_write is not None:
        before_write([str(r["Email Address"]) for r in people.records])
    created, updated = engine.import_people(people.records)
    return ImportReport(created, updated, people.merged, people.rows,
                        [str(r["Email Address"]) for r in people.records])


class _Exact(Exception):
    """The file merges rows in a way only the person-by-person path writes
    as today's log has it (``_bulk``): roll back and take that path."""


def _bulk(engine: "Engine", path: str | Path) -> ImportReport:
    """Stream a people file into the store in one action, a chunk at a time.

    New people are inserted with ``executemany`` with their ``New Person``
    activities; a person already in the store goes through the engine's own
    update (``Engine._upsert``: one ``Change Data Value`` per changed field,
    ``data value changes`` fired), in file order, so the activity log is
    byte-identical to the person-by-person import. Two rows of one address
    merge (the later updates the person field by field): in one chunk before
    writing, and a person this import created is updated in place. A person
    who was in the store before and appears again in a later chunk, or one
    whose later row spells the address differently, raises ``_Exact``: the
    one-at-a-time import writes those as one merged update."""
    store, model = engine.store, engine.model
    now = engine.clock.iso
    attrs = encode_basestring
    report = ImportReport()
    progress = engine.progress
    total = parquet_rows(path) if Path(path).suffix.lower() == ".parquet" else None
    with engine._action("import people"):
        base = store.next_person_id()   # the people created by this import have ids from here
        next_id = base
        touched: set[int] = set()   # people of the store before the import who were updated
        for chunk in _chunks(path, model):
            if progress is not None:
                progress(report.rows, total)
            report.rows += len(chunk)
            emails = chunk.emails()
            keys = list(map(str.casefold, emails))
            n = len(keys)
            if chunk.rows is None and len(set(keys)) == n:   # the common case: a chunk of new people
                names = list(chunk.names)
                columns = list(chunk.columns)
                for stamp in ("Created At", "Updated At"):
                    if stamp in names:
                        i = names.index(stamp)
                        if None in columns[i]:
                            columns[i] = [now if v is None else v for v in columns[i]]
                    else:
                        names.append(stamp)
                        columns.append(repeat(now, n))   # type: ignore[arg-type]
                ids = range(next_id, next_id + n)
                if store.add_people_bulk([ast.name_key(x) for x in names], list(zip(ids, keys, *columns))):
                    store.add_activities_bulk("New Person", now, ids,
                                              list(map('{{"email":{}}}'.format, map(attrs, emails))))
                    next_id += n
                    report.created += n
                    continue
            next_id = _merge_chunk(engine, chunk, keys, base, next_id, touched, report)
    if progress is not None:
        progress(report.rows, total if total is not None else report.rows)
    return report


def _merge_chunk(engine: "Engine", chunk: _Chunk, keys: list[str], base: int, next_id: int,
                 touched: set[int], report: ImportReport) -> int:
    """A chunk with duplicates or people already in the store (``_bulk``);
    returns the next new person's id."""
    store, model, now = engine.store, engine.model, engine.clock.iso
    merged: dict[str, dict[str, Any]] = {}
    for key, rec in zip(keys, chunk.records()):
        if key in merged:
            merged[key].update(rec)
            report.merged += 1
        else:
            merged[key] = dict(rec)
    found = store.people_by_key(list(merged))
    new: list[tuple[str, dict[str, Any]]] = []
    names = list(dict.fromkeys(x for rec in merged.values() for x in rec))   # every column of the chunk
    for stamp in ("Created At", "Updated At"):
        if stamp not in names:
            names.append(stamp)
    name_keys = [ast.name_key(x) for x in names]

    def write_new() -> None:   # the new people so far, before the next update (activity order)
        nonlocal next_id
        if not new:
            return
        ids = range(next_id, next_id + len(new))
        defaults = {"Created At": now, "Updated At": now}
        rows = [(pid, key, *(rec.get(x, defaults.get(x)) for x in names)) for pid, (key, rec) in zip(ids, new)]
        if not store.add_people_bulk(name_keys, rows):   # pragma: no cover - looked up just now
            raise _Exact
        store.add_activities_bulk("New Person", now, ids,
                                  ['{"email":' + encode_basestring(rec["Email Address"]) + "}" for _, rec in new])
        next_id += len(new)
        report.created += len(new)
        new.clear()

    for key, rec in merged.items():
        hit = found.get(key)
        if hit is None:
            new.append((key, rec))
            continue
        pid, email = hit
        if pid >= base:   # created by this import, from an earlier chunk: the later row updates it
            if rec["Email Address"] != email:
                raise _Exact
            report.merged += 1
            given = [x for x in rec if x != "Email Address"]
            if given:
                store.merge_people_bulk([ast.name_key(x) for x in given], [(*(rec[x] for x in given), pid)])
            continue
        if pid in touched:   # in the store before, and updated by an earlier chunk already
            raise _Exact
        write_new()
        touched.add(pid)
        fields = _decoded(model, rec)
        email = fields.pop("Email Address")
        engine._upsert(email, fields)
        report.updated += 1
    write_new()
    return next_id


# --------------------------------------------------------------------------
# Events

EVENT_KEYS = ("at", "person", "trigger", "name", "field", "to", "from", "attributes")
_NAMED = {"fills out form": "a form", "visits web page": "a web page", "opens email": "an email",
          "clicks link in email": "an email", "added to list": "a list", "removed from list": "a list",
          "program status is changed": "a program"}
_SCALAR = (str, int, float, bool, type(None))


@define
class Event:
    line: int
    at: Any
    data: dict[str, Any]


def _event_lines(path: str | Path) -> Iterator[tuple[int, str, DataFileError | None, DataFileError | None]]:
    """The lines of an events file, read as a stream (one line in memory at
    a time): (number, text, not UTF-8, NUL byte), the last two the error
    that line raises or None. ``byte N`` in the message counts from
    the start of the file, after a byte order mark, as decoding it whole did."""
    with _opened(path) as f:
        offset = 0
        n = 0
        try:
            for n, raw in enumerate(f, 1):
                if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield n, "", DataFileError(f"{path}: line {n}: not UTF-8 text (byte {offset + exc.start}); "
                                               f"save the file as UTF-8"), None
                    offset += len(raw)
                    continue
                offset += len(raw)
                if "\x00" in text:
                    yield n, "", None, DataFileError(f"{path}: line {n}: a NUL byte; this is not a text file")
                    continue
                yield n, text, None, None
        except OSError as exc:
            raise DataFileError(f"cannot read {path}: line {n + 1}: {exc.strerror or exc}") from None


def iter_events(path: str | Path, model: Model | None = None) -> Iterator[Event]:
    """The events of a JSON lines file, validated line by line (with
    ``model``, field names and values too) and in time order, as a stream:
    memory does not grow with the file. A bad line raises DataFileError only
    once the whole file has been read, so the error is the one reading the
    file whole would give: text that is not UTF-8 first, then a NUL byte,
    then the first malformed line. The events before the error have been
    yielded: a caller that applies them does so in a transaction, or checks
    the file first (``scan_events``)."""
    previous = None
    undecodable: DataFileError | None = None
    nul: DataFileError | None = None
    malformed: DataFileError | None = None
    for n, line, not_utf8, has_nul in _event_lines(path):
        if not_utf8 is not None or has_nul is not None:
            undecodable = undecodable or not_utf8
            nul = nul or has_nul
            continue
        if malformed is not None or undecodable is not None or nul is not None or not line.strip():
            continue   # past a problem, only the encoding is still read
        try:
            event = _event(f"{path}: line {n}", n, line, model, previous)
        except DataFileError as exc:
            malformed = exc
            continue
        previous = event.at
        yield event
    problem = undecodable or nul or malformed
    if problem is not None:
        raise problem


@define
class EventsScan:
    """What checking an events file found: its number of events and the first."""

    count: int = 0
    first: Event | None = None


def scan_events(path: str | Path, model: Model | None = None) -> EventsScan:
    """Validate a whole events file (``iter_events``) keeping only counts."""
    scan = EventsScan()
    for event in iter_events(path, model):
        if scan.first is None:
            scan.first = event
        scan.count += 1
    return scan


def read_events(path: str | Path, model: Model | None = None) -> list[Event]:
    """Events from a JSON lines file, validated whole (with ``model``, field
    names and values too) and in time order (a list: ``iter_events`` streams)."""
    return list(iter_events(path, model))


def _event(where: str, n: int, line: str, model: Model | None, previous: Any) -> Event:
    """One line of an events file, validated: an Event or DataFileError."""
    try:
        ev = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise DataFileError(f"{where}: not JSON an event can hold: {exc}") from None
    if not isinstance(ev, dict):
        raise DataFileError(f"{where}: an event is a JSON object, not {_json_kind(ev)}")
    bad = lone_surrogate(ev)
    if bad is not None:
        raise DataFileError(f"{where}, key '{bad}': {_SURROGATE}")
    unknown = [k for k in ev if k not in EVENT_KEYS]
    if unknown:
        raise DataFileError(f"{where}, key '{unknown[0]}': not an event key; the keys are: "
                            + ", ".join(EVENT_KEYS))
    for key in ("at", "person", "trigger"):
        if key not in ev:
            raise DataFileError(f"{where}: the event has no '{key}'")
    at_raw = ev["at"]
    try:
        if not isinstance(at_raw, str):
            raise ValueError
        at = parse_time(at_raw)
    except ValueError as exc:
        reason = str(exc) if "offset" in str(exc) else f"{at_raw!r} is not a date-time (write 2026-01-02T10:00)"
        raise DataFileError(f"{where}, key 'at': {reason}") from None
    if previous is not None and at < previous:
        raise DataFileError(f"{where}, key 'at': events must come in time order "
                            f"({at_raw} is before the previous event, {iso(previous)})")
    who = ev["person"]
    emails = who if isinstance(who, list) else [who]
    if not emails or not all(isinstance(e, str) and _EMAIL.match(e.strip()) for e in emails):
        raise DataFileError(f"{where}, key 'person': {who!r} is not an email address "
                            f"or a list of them")
    trig = ev["trigger"]
    kind = " ".join(trig.split()) if isinstance(trig, str) else None
    if kind not in ast.TRIGGER_KINDS or kind == "campaign is requested":
        allowed = [k for k in ast.TRIGGER_KINDS if k != "campaign is requested"]
        raise DataFileError(f"{where}, key 'trigger': {trig!r} is not a trigger an event can fire; "
                            f"the triggers are: " + ", ".join(allowed))
    if kind in _NAMED and not (isinstance(ev.get("name"), str) and ev["name"].strip()):
        raise DataFileError(f"{where}, key 'name': '{kind}' needs the name of {_NAMED[kind]}")
    for key in ("name", "to", "from"):
        if key in ev and not isinstance(ev[key], _SCALAR):
            raise DataFileError(f"{where}, key '{key}': {_json_kind(ev[key])} is not a value")
    attrs = ev.get("attributes")
    if attrs is not None:
        if not isinstance(attrs, dict):
            raise DataFileError(f"{where}, key 'attributes': expected an object of names and values")
        for k, v in attrs.items():
            if not isinstance(v, _SCALAR):
                raise DataFileError(f"{where}, key 'attributes': the value of '{k}' is "
                                    f"{_json_kind(v)}, not text, a number or true/false")
    if kind == "program status is changed" and not isinstance(ev.get("to"), str):
        raise DataFileError(f"{where}, key 'to': 'program status is changed' needs the new status")
    if kind in ("data value changes", "score is changed"):
        fname = ev.get("field")
        if not isinstance(fname, str) or not fname.strip():
            raise DataFileError(f"{where}, key 'field': '{kind}' needs the field that changed")
        if model is not None:
            found = model.field(fname)
            if found is None:
                raise DataFileError(f"{where}, key 'field': '{fname}' names no field; the fields are: "
                                    + ", ".join(model.field_names()))
            for key in ("to", "from"):
                if ev.get(key) is not None:
                    try:
                        _convert(found[1], ev[key])
                    except ValueError as exc:
                        raise DataFileError(f"{where}, key '{key}': {exc}") from None
    return Event(n, at, ev)


@define
class Replayed:
    """What replaying an events file did, in counts: replaying keeps no list
    that grows with the file."""

    events: int = 0   # events fired (a line naming several people is one)
    runs: int = 0
    errors: int = 0

    def add(self, result: "ActionResult") -> None:
        self.runs += result.runs
        self.errors += result.errors
        if result.action == "fire":
            self.events += 1


def replay(engine: "Engine", path: str | Path) -> Replayed:
    """Replay an events file through the trigger campaigns, all or nothing:
    every line is validated first (a first pass over the file), then the
    events run in one transaction as a second pass reads them again (each
    still its own action for the runs-per-person limit); any failure, an
    interrupt included, leaves the store and the clock as before. Both
    passes stream: memory does not grow with the file's length."""
    scan = scan_events(path, engine.model)
    first = scan.first
    if first is not None and first.at < engine.now:
        raise DataFileError(f"{path}: line {first.line}, key 'at': {first.data['at']} is before "
                            f"the store's clock ({iso(engine.now)})")
    before = engine.clock.now
    done = Replayed()
    try:
        with engine.store.transaction():
            # the file is read again and validated again: had it changed since the
            # first pass, its error rolls the whole file back
            events = ((e.line, e.data) for e in iter_events(path, engine.model))
            for result in replay_stream(engine, events, str(path), total=scan.count):
                done.add(result)
        return done
    except RunError as exc:
        engine.clock._reset(before)
        # replay_stream says "FILE:N: reason"; say it as every other data-file message does
        message = re.sub(rf"^{re.escape(str(path))}:(\d+): ", lambda m: f"{path}: line {m.group(1)}: ", str(exc))
        raise DataFileError(message + "; nothing from the file was kept") from None
    except BaseException:
        engine.clock._reset(before)
        raise


def people_records(path: str | Path, model: Model) -> list[dict[str, Any]]:
    """People from a CSV or JSON file as plain records (``read_people``'s
    ``records``): ``campaignlang.read_people``."""
    return read_people(path, model).records


def event_records(path: str | Path, model: Model | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Events from a JSON lines file as (line number, event object)."""
    return [(e.line, e.data) for e in read_events(path, model)]


def replay_events(engine: "Engine", events: Sequence[tuple[int, dict[str, Any]]], source: str = "events",
                  create_people: bool = True) -> list["ActionResult"]:
    """``replay_stream`` over a list of events, its results as a list."""
    return list(replay_stream(engine, events, source, create_people, total=len(events)))


def replay_stream(engine: "Engine", events: Iterable[tuple[int, dict[str, Any]]], source: str = "events",
                  create_people: bool = True, total: int | None = None) -> Iterator["ActionResult"]:
    """Replay events in time order: advance to each event's time (running
    what falls due), then fire it; yields the result of each action as it
    goes (a caller keeps what it needs: ``replay`` keeps counts). People
    missing from the store are created. ``total``: the number of events, for
    ``engine.progress``."""
    last = None
    progress = engine.progress
    done = 0
    for n, ev in events:
        if progress is not None and done % 200 == 0:
            progress(done, total)
        done += 1
        try:
            at = parse_time(str(ev["at"]))
        except ValueError as exc:
            raise RunError(f"{source}:{n}: {exc}") from None
        if last is not None and at < last:
            raise RunError(f"{source}:{n}: events must come in time order ({ev['at']} is before the previous event)")
        if at < engine.now:
            raise RunError(f"{source}:{n}: {ev['at']} is before the store's clock ({iso(engine.now)})")
        last = at
        yield engine.advance(at)
        people = ev["person"] if isinstance(ev["person"], list) else [ev["person"]]
        for who in people:
            if create_people and engine.store.find_person(str(who)) is None:
                engine.add_person(str(who))
                yield engine.advance(None)
        kind = " ".join(str(ev["trigger"]).split())
        target = ev.get("name")
        try:
            result = engine.fire(kind, people, target, ev.get("attributes") or {},
                                 field_name=ev.get("field"), to=ev.get("to"), from_=ev.get("from"))
        except RunError as exc:
            raise RunError(f"{source}:{n}: {exc}") from None
        yield result
    if progress is not None:
        progress(done, done)
