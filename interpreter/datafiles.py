"""Data files (LANGUAGE.md §11): people (CSV or JSON) and events (JSON lines).

Reading is strict and happens before anything is written: a malformed row or
line is refused with the file, its number, the column (or key) and the
reason, and nothing from that file is imported (docs/security.md, "Data
files"). The rules:

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
  People files are read whole.

Imports ``ast``, ``clock``, ``errors``, ``model``, ``store``; the engine only
for types (it calls this module's readers through thin wrappers).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from attrs import define, field

from . import ast
from .clock import iso, parse_time
from .errors import RunError
from .model import Model
from .stdlib.types import TYPES
from .values import convert

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


def _read_text(path: str | Path) -> str:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DataFileError(f"{path} is a folder, not a data file") from None
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


def _add(people: PeopleFile, index: dict[str, int], rec: dict[str, Any], where: str) -> None:
    email = rec.get("Email Address")
    if not email:
        raise DataFileError(f"{people.path}: {where}: no Email Address; every person needs one")
    key = email.casefold()
    people.rows += 1
    if key in index:
        people.records[index[key]].update(rec)   # Marketo: the later row updates the person
        people.merged += 1
    else:
        index[key] = len(people.records)
        people.records.append(rec)


def read_people(path: str | Path, model: Model) -> PeopleFile:
    """A people file (``.json``: a list of objects, or ``{"people": [...]}``;
    anything else: CSV with a header line), validated whole."""
    text = _read_text(path)
    if Path(path).suffix.lower() == ".json":
        return _people_json(str(path), text, model)
    return _people_csv(str(path), text, model)


def _people_csv(path: str, text: str, model: Model) -> PeopleFile:
    people = PeopleFile(path)
    index: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataFileError(f"{path}: line 1: no header; the first line names the columns "
                                f"(Email Address, ...)")
        cols = _columns(path, header, model, "line 1")
        if not any(name == "Email Address" for name, _ in cols):
            raise DataFileError(f"{path}: line 1: no Email Address column; every person needs one")
        line = reader.line_num + 1
        for row in reader:
            start, line = line, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue   # a blank line
            if len(row) != len(cols):
                raise DataFileError(f"{path}: line {start}: {len(row)} value{'s' if len(row) != 1 else ''} "
                                    f"but the header has {len(cols)} column{'s' if len(cols) != 1 else ''}")
            rec: dict[str, Any] = {}
            for (name, type_), col, value in zip(cols, header, row):
                if _empty(value):
                    continue   # an empty cell leaves the field as it is
                try:
                    rec[name] = _convert(type_, value)
                except ValueError as exc:
                    raise DataFileError(f"{path}: line {start}, column '{col.strip()}': {exc}") from None
            _add(people, index, rec, f"line {start}")
    except csv.Error as exc:
        raise DataFileError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
    return people


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a field can hold")


def _people_json(path: str, text: str, model: Model) -> PeopleFile:
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
    people = PeopleFile(path)
    index: dict[str, int] = {}
    for n, obj in enumerate(data, 1):
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
            if _empty(value):
                continue
            try:
                rec[name] = _convert(type_, value)
            except ValueError as exc:
                raise DataFileError(f"{path}: {where}, key '{key}': {exc}") from None
        _add(people, index, rec, where)
    return people


def _json_kind(value: Any) -> str:
    return {list: "a list", dict: "an object", str: "text", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def import_people(engine: "Engine", path: str | Path,
                  before_write: "Callable[[list[str]], None] | None" = None) -> ImportReport:
    """Read a people file whole, then create or update its people in one
    action: a bad row imports nothing. ``before_write`` sees the file's
    emails first and may refuse them (raise) before anything is written."""
    people = read_people(path, engine.model)
    if before_write is not None:
        before_write([str(r["Email Address"]) for r in people.records])
    created, updated = engine.import_people(people.records)
    return ImportReport(created, updated, people.merged, people.rows,
                        [str(r["Email Address"]) for r in people.records])


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
    try:
        f = open(path, "rb")   # noqa: SIM115 - closed below; a generator holds it
    except FileNotFoundError:
        raise DataFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DataFileError(f"{path} is a folder, not a data file") from None
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
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
