"""The SQLite store: people, memberships, the activity log, run history and
the queue of paused runs (LANGUAGE.md §8).

One file (or ``":memory:"``) holds everything a simulation needs to resume in
a later process. Layout, schema version 1:

* ``meta`` — key/value: ``schema_version``, ``clock`` (virtual now),
  ``next_run``. Opening a store of another version is a ``StoreError``.
* ``fields`` — person field key (``name_key``) -> declared name, type and the
  column that holds it. Every field is a typed column of ``people``
  (text/email/decimal/date/datetime as TEXT in ISO spelling, integer/score/
  boolean as INTEGER), so smart-list filters can be pushed down to SQL;
  ``email_key`` (the case-folded address) is UNIQUE, hence indexed.
* ``people`` — ``id INTEGER PRIMARY KEY`` in creation order (never reused: a
  deleted person keeps its row, flagged, for the activity log).
* ``list_members``, ``program_members`` (status and member data as JSON).
* ``activities`` — id, person, type, campaign, run id, virtual time, the main
  asset (for history filters), attributes (JSON, sorted keys), old and new
  values (JSON).
* ``runs`` — run history: (person, campaign, time), read by qualification
  rules and ``campaign was run``.
* ``queue`` — paused runs (and any work due later): kind, person, campaign,
  due time, resume step, run id, context (JSON).
* ``schedules`` — the last occurrence of each batch schedule that ran.

Transactions: ``with store.transaction():`` is one action. The outermost
``transaction`` begins, commits on success and rolls back on *any* exception,
``KeyboardInterrupt`` included, so an interrupted action leaves the store as
it was. Activities are buffered and written with ``executemany`` (the hot
path of a batch); every reader flushes first, so the buffer is invisible.

Imports ``errors`` and ``ast`` (``name_key``) only.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sqlite3
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator, Mapping, Sequence

from attrs import frozen

from .ast import name_key
from .errors import StoreError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE fields (key TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,
                     col TEXT NOT NULL UNIQUE) WITHOUT ROWID;
CREATE TABLE people (id INTEGER PRIMARY KEY, email_key TEXT UNIQUE,
                     deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE list_members (list TEXT NOT NULL, person INTEGER NOT NULL, added_at TEXT NOT NULL,
                           PRIMARY KEY (list, person)) WITHOUT ROWID;
CREATE INDEX list_members_person ON list_members (person);
CREATE TABLE program_members (program TEXT NOT NULL, person INTEGER NOT NULL, status TEXT,
                              data TEXT NOT NULL DEFAULT '{}', since TEXT NOT NULL,
                              PRIMARY KEY (program, person)) WITHOUT ROWID;
CREATE INDEX program_members_person ON program_members (person);
CREATE TABLE activities (id INTEGER PRIMARY KEY, person INTEGER, type TEXT NOT NULL,
                         campaign TEXT, run INTEGER, at TEXT NOT NULL, asset TEXT,
                         attributes TEXT NOT NULL, old TEXT, new TEXT);
CREATE INDEX activities_person ON activities (person, type, asset);
CREATE TABLE runs (id INTEGER PRIMARY KEY, person INTEGER NOT NULL, campaign TEXT NOT NULL,
                   at TEXT NOT NULL, run INTEGER NOT NULL);
CREATE INDEX runs_person ON runs (person, campaign, at);
CREATE TABLE queue (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, person INTEGER NOT NULL,
                    campaign TEXT NOT NULL, due TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0,
                    run INTEGER, context TEXT NOT NULL DEFAULT '{}');
CREATE INDEX queue_due ON queue (due, id);
CREATE INDEX queue_person ON queue (person, campaign);
CREATE TABLE schedules (campaign TEXT PRIMARY KEY, last TEXT NOT NULL) WITHOUT ROWID;
"""

_INT_TYPES = ("integer", "score", "boolean")


# --------------------------------------------------------------------------
# Values: Python <-> SQLite, per field type


def encode(type_: str, value: Any) -> Any:
    """A typed Python value -> its column value."""
    if value is None:
        return None
    if type_ == "boolean":
        return 1 if value else 0
    if type_ in ("integer", "score"):
        return int(value)
    if type_ == "decimal":
        return str(value)
    if type_ == "datetime":
        return value.isoformat(timespec="seconds")
    if type_ == "date":
        return value.isoformat()
    return str(value)


def decode(type_: str, raw: Any) -> Any:
    """A column value -> the typed Python value."""
    if raw is None:
        return None
    if type_ == "boolean":
        return bool(raw)
    if type_ in ("integer", "score"):
        return int(raw)
    if type_ == "decimal":
        return Decimal(str(raw))
    if type_ == "datetime":
        return _dt.datetime.fromisoformat(raw)
    if type_ == "date":
        return _dt.date.fromisoformat(raw)
    return raw


_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


def convert(type_: str, value: Any) -> Any:
    """Any value (text from a file, a token, a literal) -> the field's type;
    ``ValueError`` with a readable message when it does not fit. Empty text
    is empty (None) for every type but text."""
    if value is None:
        return None
    if isinstance(value, str) and type_ not in ("text", "email"):
        value = value.strip()
        if value == "":
            return None
    try:
        if type_ in ("text", "email"):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, _dt.datetime):
                return value.isoformat(sep=" ", timespec="seconds")
            if isinstance(value, _dt.date):
                return value.isoformat()
            return str(value)
        if type_ == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, int):
                return value != 0
            text = str(value).casefold()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if type_ in ("integer", "score"):
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return value
            if isinstance(value, (Decimal, float)):
                if value != int(value):
                    raise ValueError
                return int(value)
            text = str(value).replace(",", "")
            d = Decimal(text)
            if d != d.to_integral_value():
                raise ValueError
            return int(d)
        if type_ == "decimal":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                return Decimal(repr(value))
            return Decimal(str(value).replace(",", ""))
        if type_ == "date":
            if isinstance(value, _dt.datetime):
                return value.date()
            if isinstance(value, _dt.date):
                return value
            text = str(value)
            return _dt.date.fromisoformat(text[:10]) if len(text) > 10 and text[10] in "T " else _dt.date.fromisoformat(text)
        if type_ == "datetime":
            if isinstance(value, _dt.datetime):
                return value.replace(microsecond=0, tzinfo=None)
            if isinstance(value, _dt.date):
                return _dt.datetime.combine(value, _dt.time())
            text = str(value)
            if len(text) == 10:
                return _dt.datetime.combine(_dt.date.fromisoformat(text), _dt.time())
            return _dt.datetime.fromisoformat(text.replace(" ", "T", 1)).replace(microsecond=0, tzinfo=None)
    except (ValueError, InvalidOperation, TypeError, ArithmeticError):
        pass
    raise ValueError(f"{value!r} is not a{'n' if type_[0] in 'aeiou' else ''} {type_}")


def to_json_value(value: Any) -> Any:
    """A typed value as it appears in the activity log (JSON)."""
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            default=to_json_value)


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, non-ASCII kept."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    return _ENCODER.encode(value)


def _casefold(x: Any) -> Any:
    return x.casefold() if isinstance(x, str) else x


# --------------------------------------------------------------------------
# Records


class Person:
    """One person's fields, decoded on first access. ``get(key)`` takes a
    ``name_key``; the engine keeps this object in step with its writes."""

    __slots__ = ("id", "deleted", "_raw", "_layout", "_vals")

    def __init__(self, id: int, raw: Sequence[Any], layout: Mapping[str, tuple[int, str]],
                 deleted: bool = False):
        self.id = id
        self.deleted = deleted
        self._raw = raw
        self._layout = layout
        self._vals: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        try:
            return self._vals[key]
        except KeyError:
            pass
        spec = self._layout.get(key)
        value = None if spec is None else decode(spec[1], self._raw[spec[0]])
        self._vals[key] = value
        return value

    def _set(self, key: str, value: Any) -> None:
        self._vals[key] = value

    @property
    def email(self) -> str:
        return self.get("email address") or ""

    def fields(self) -> dict[str, Any]:
        """Every field with a value: declared name -> value."""
        return {k: self.get(k) for k in self._layout if self.get(k) is not None}

    def __repr__(self) -> str:
        return f"<person {self.id} {self.email}>"


@frozen
class Activity:
    """One line of the activity log."""

    id: int
    person: int | None
    email: str | None
    type: str
    campaign: str | None
    run: int | None
    at: str
    asset: str | None
    attributes: dict
    old: Any = None
    new: Any = None

    def to_json(self) -> dict:
        out = {"id": self.id, "person": self.person, "email": self.email, "type": self.type,
               "campaign": self.campaign, "run": self.run, "at": self.at,
               "attributes": self.attributes}
        if self.old is not None or self.new is not None:
            out["old"] = self.old
            out["new"] = self.new
        return out


@frozen
class QueueItem:
    id: int
    kind: str
    person: int
    campaign: str
    due: str
    step: int
    run: int | None
    context: dict


@frozen
class Membership:
    program: str
    status: str | None
    data: dict
    since: str


# --------------------------------------------------------------------------
# The store


def _column_name(key: str, taken: set[str]) -> str:
    base = "f_" + (re.sub(r"[^0-9a-z]+", "_", key.casefold()).strip("_") or "field")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


class Store:
    """An SQLite store, a file or ``":memory:"`` (see the module docstring)."""

    def __init__(self, path: str = ":memory:"):
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        self.db.create_function("cf", 1, _casefold, deterministic=True)
        self._depth = 0
        self._buffer: list[tuple] = []
        self._next_activity: int | None = None
        self._on_rollback: list = []
        try:
            self.db.execute("PRAGMA cache_size = -65536")
            self.db.execute("PRAGMA foreign_keys = OFF")
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise StoreError(f"{self.path} is not a campaign store: {exc}") from None
        if not tables:
            self.db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif "meta" not in tables:
            self.db.close()
            raise StoreError(f"{self.path} is an SQLite file but not a campaign store")
        else:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = row[0] if row else "?"
            if version != str(SCHEMA_VERSION):
                self.db.close()
                raise StoreError(
                    f"the store {self.path} has schema version {version}, but this campaignlang "
                    f"reads version {SCHEMA_VERSION}; use a new --db file or the campaignlang "
                    f"release that wrote it")
        self._load_fields()

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        self.flush()
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One action: commit on success, roll back on any exception (the
        outermost call decides; nested calls join it)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the store {self.path} is busy or read-only ({exc}); "
                             f"is another campaign command using it?") from None
        self._depth = 1
        try:
            yield
            self.flush()
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self.db.execute("COMMIT")

    def _rollback(self) -> None:
        self._buffer.clear()
        self._next_activity = None
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.OperationalError:  # pragma: no cover - no transaction left
            pass
        self._load_fields()
        for hook in self._on_rollback:
            hook()

    def on_rollback(self, hook) -> None:
        """Call ``hook()`` after every rollback (the engine drops its caches)."""
        self._on_rollback.append(hook)

    def copy_to_memory(self) -> "Store":
        """A copy of this store in memory (``campaign plan`` writes nothing)."""
        self.flush()
        mem = Store.__new__(Store)
        mem.path = ":memory:"
        mem.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.backup(mem.db)
        mem.db.create_function("cf", 1, _casefold, deterministic=True)
        mem._depth = 0
        mem._buffer = []
        mem._next_activity = None
        mem._on_rollback = []
        mem._load_fields()
        return mem

    # -- meta ----------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def next_run_id(self) -> int:
        n = int(self.get_meta("next_run", "1"))
        self.set_meta("next_run", str(n + 1))
        return n

    # -- fields --------------------------------------------------------------

    def _load_fields(self) -> None:
        rows = self.db.execute("SELECT key, name, type, col FROM fields").fetchall()
        self.field_types: dict[str, str] = {k: t for k, _, t, _ in rows}
        self.field_names: dict[str, str] = {k: n for k, n, _, _ in rows}
        self.columns: dict[str, str] = {k: c for k, _, _, c in rows}
        cols = [r[1] for r in self.db.execute("PRAGMA table_info(people)")]
        self._select_cols = cols
        index = {c: i for i, c in enumerate(cols)}
        self.layout: dict[str, tuple[int, str]] = {
            k: (index[c], self.field_types[k]) for k, c in self.columns.items() if c in index}

    def ensure_fields(self, fields: Mapping[str, tuple[str, str]]) -> None:
        """Make a column for every field (``name_key -> (name, type)``) the
        store lacks; a field stored with another type is a ``StoreError``."""
        missing = []
        for key, (name, type_) in fields.items():
            have = self.field_types.get(key)
            if have is None:
                missing.append((key, name, type_))
            elif have != type_ and not ({have, type_} <= {"integer", "score"}
                                        or {have, type_} <= {"text", "email"}):
                raise StoreError(f"field '{name}' is stored as {have} in {self.path}, "
                                 f"but the program declares it {type_}")
        if not missing:
            return
        with self.transaction():
            taken = set(self.columns.values())
            for key, name, type_ in sorted(missing):
                col = _column_name(key, taken)
                taken.add(col)
                sqltype = "INTEGER" if type_ in _INT_TYPES else "TEXT"
                self.db.execute(f'ALTER TABLE people ADD COLUMN "{col}" {sqltype}')
                self.db.execute("INSERT INTO fields VALUES (?, ?, ?, ?)", (key, name, type_, col))
            self._load_fields()

    def ensure_index(self, key: str) -> None:
        """An index on a field's column (smart-list filters pushed down to SQL)."""
        col = self.columns.get(key)
        if col is None:
            return
        with self.transaction():
            self.db.execute(f'CREATE INDEX IF NOT EXISTS "ix_{col}" ON people ("{col}")')

    def column(self, key: str) -> str | None:
        return self.columns.get(key)

    # -- people --------------------------------------------------------------

    def _person(self, row: Sequence[Any]) -> Person:
        return Person(row[0], row, self.layout, bool(row[2]))

    def add_person(self, values: Mapping[str, Any]) -> int:
        """Insert a person (``values``: name_key -> typed value, the email
        address required); ``StoreError`` if the address is taken."""
        email = values.get("email address")
        if not email:
            raise StoreError("a person needs an email address")
        cols, params = ["email_key"], [email.casefold()]
        for key, value in values.items():
            col = self.columns.get(key)
            if col is None:
                raise StoreError(f"the store has no field '{key}'")
            cols.append(f'"{col}"')
            params.append(encode(self.field_types[key], value))
        try:
            cur = self.db.execute(f"INSERT INTO people ({', '.join(cols)}) VALUES "
                                  f"({', '.join('?' * len(cols))})", params)
        except sqlite3.IntegrityError:
            raise StoreError(f"a person with the email address {email} already exists") from None
        return cur.lastrowid

    def find_person(self, email: str, include_deleted: bool = False) -> int | None:
        """The id of the person with this address (case-insensitive); with
        ``include_deleted``, the latest deleted one when no one has it now."""
        key = email.strip().casefold()
        row = self.db.execute("SELECT id FROM people WHERE email_key=?", (key,)).fetchone()
        if row is None and include_deleted:
            col = self.columns.get("email address")
            if col:
                row = self.db.execute(f'SELECT id FROM people WHERE deleted=1 AND cf("{col}")=? '
                                      f'ORDER BY id DESC LIMIT 1', (key,)).fetchone()
        return row[0] if row else None

    def person(self, pid: int) -> Person | None:
        row = self.db.execute("SELECT * FROM people WHERE id=?", (pid,)).fetchone()
        return self._person(row) if row else None

    def people(self, where: str | None = None, params: Sequence[Any] = (),
               include_deleted: bool = False) -> list[Person]:
        """People in id order; ``where`` is an SQL condition over the field
        columns (``Store.column``) — a smart list pushed down."""
        cond = [] if include_deleted else ["deleted = 0"]
        if where:
            cond.append(f"({where})")
        sql = "SELECT * FROM people" + (" WHERE " + " AND ".join(cond) if cond else "") + " ORDER BY id"
        return [self._person(r) for r in self.db.execute(sql, params)]

    def person_ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM people WHERE deleted=0 ORDER BY id")]

    def count_people(self) -> int:
        return self.db.execute("SELECT count(*) FROM people WHERE deleted=0").fetchone()[0]

    def set_field(self, pid: int, key: str, value: Any) -> None:
        col = self.columns[key]
        raw = encode(self.field_types[key], value)
        if key == "email address":
            if not value:
                raise StoreError("the email address cannot be emptied")
            try:
                self.db.execute(f'UPDATE people SET "{col}"=?, email_key=? WHERE id=?',
                                (raw, value.casefold(), pid))
            except sqlite3.IntegrityError:
                raise StoreError(f"another person has the email address {value}") from None
            return
        self.db.execute(f'UPDATE people SET "{col}"=? WHERE id=?', (raw, pid))

    def set_fields(self, pid: int, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.set_field(pid, key, value)

    def delete_person(self, pid: int) -> None:
        self.db.execute("UPDATE people SET deleted=1, email_key=NULL WHERE id=?", (pid,))
        self.db.execute("DELETE FROM list_members WHERE person=?", (pid,))
        self.db.execute("DELETE FROM program_members WHERE person=?", (pid,))
        self.db.execute("DELETE FROM queue WHERE person=?", (pid,))

    # -- static lists --------------------------------------------------------

    def list_add(self, list_key: str, pid: int, at: str) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO list_members VALUES (?, ?, ?)", (list_key, pid, at))
        return cur.rowcount > 0

    def list_remove(self, list_key: str, pid: int) -> bool:
        cur = self.db.execute("DELETE FROM list_members WHERE list=? AND person=?", (list_key, pid))
        return cur.rowcount > 0

    def in_list(self, list_key: str, pid: int) -> bool:
        return self.db.execute("SELECT 1 FROM list_members WHERE list=? AND person=?",
                               (list_key, pid)).fetchone() is not None

    def list_members(self, list_key: str) -> list[int]:
        return [r[0] for r in self.db.execute(
            "SELECT person FROM list_members WHERE list=? ORDER BY person", (list_key,))]

    def lists_of(self, pid: int) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT list FROM list_members WHERE person=? ORDER BY list", (pid,))]

    # -- programs ------------------------------------------------------------

    def membership(self, program: str, pid: int) -> Membership | None:
        row = self.db.execute("SELECT status, data, since FROM program_members WHERE program=? AND person=?",
                              (program, pid)).fetchone()
        if row is None:
            return None
        return Membership(program, row[0], json.loads(row[1]), row[2])

    def memberships(self, pid: int) -> list[Membership]:
        return [Membership(r[0], r[1], json.loads(r[2]), r[3]) for r in self.db.execute(
            "SELECT program, status, data, since FROM program_members WHERE person=? ORDER BY program", (pid,))]

    def set_status(self, program: str, pid: int, status: str | None, at: str) -> None:
        cur = self.db.execute("UPDATE program_members SET status=? WHERE program=? AND person=?",
                              (status, program, pid))
        if cur.rowcount == 0:
            self.db.execute("INSERT INTO program_members VALUES (?, ?, ?, '{}', ?)", (program, pid, status, at))

    def set_member_data(self, program: str, pid: int, data: Mapping[str, Any]) -> None:
        self.db.execute("UPDATE program_members SET data=? WHERE program=? AND person=?",
                        (dumps(dict(data)), program, pid))

    # -- activities ----------------------------------------------------------

    def _activity_id(self) -> int:
        if self._next_activity is None:
            row = self.db.execute("SELECT max(id) FROM activities").fetchone()
            self._next_activity = (row[0] or 0) + 1
        n = self._next_activity
        self._next_activity = n + 1
        return n

    def add_activity(self, person: int | None, type_: str, campaign: str | None, run: int | None,
                     at: str, attributes: Mapping[str, Any], asset: str | None = None,
                     old: Any = None, new: Any = None) -> int:
        """Append one activity (buffered until the next read or commit)."""
        aid = self._activity_id()
        self._buffer.append((aid, person, type_, campaign, run, at, asset, dumps(attributes),
                             None if old is None else dumps(old), None if new is None else dumps(new)))
        if len(self._buffer) >= 4096:
            self.flush()
        return aid

    def flush(self) -> None:
        if self._buffer:
            self.db.executemany("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._buffer)
            self._buffer.clear()

    def activities(self, person: int | None = None, type_: str | None = None,
                   since: str | None = None, after_id: int = 0) -> list[Activity]:
        self.flush()
        cond, params = ["a.id > ?"], [after_id]
        if person is not None:
            cond.append("a.person = ?")
            params.append(person)
        if type_ is not None:
            cond.append("a.type = ?")
            params.append(type_)
        if since is not None:
            cond.append("a.at >= ?")
            params.append(since)
        email_col = self.columns.get("email address")
        email_sql = f'p."{email_col}"' if email_col else "NULL"
        sql = (f"SELECT a.id, a.person, {email_sql}, a.type, a.campaign, a.run, a.at, a.asset, "
               f"a.attributes, a.old, a.new FROM activities a LEFT JOIN people p ON p.id = a.person "
               f"WHERE {' AND '.join(cond)} ORDER BY a.id")
        return [Activity(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]),
                         None if r[9] is None else json.loads(r[9]),
                         None if r[10] is None else json.loads(r[10]))
                for r in self.db.execute(sql, params)]

    def activity_counts(self, after_id: int = 0, up_to: int | None = None) -> list[tuple[str | None, str, int]]:
        """(campaign, type, count) of the activities in an id range."""
        self.flush()
        sql = "SELECT campaign, type, count(*) FROM activities WHERE id > ?"
        params: list[Any] = [after_id]
        if up_to is not None:
            sql += " AND id <= ?"
            params.append(up_to)
        return list(self.db.execute(sql + " GROUP BY campaign, type ORDER BY campaign, type", params))

    def last_activity_id(self) -> int:
        self.flush()
        row = self.db.execute("SELECT max(id) FROM activities").fetchone()
        return row[0] or 0

    def has_activity(self, pid: int, type_: str, asset: str, since: str | None = None) -> bool:
        self.flush()
        if since is None:
            row = self.db.execute("SELECT 1 FROM activities WHERE person=? AND type=? AND asset=? LIMIT 1",
                                  (pid, type_, asset)).fetchone()
        else:
            row = self.db.execute("SELECT 1 FROM activities WHERE person=? AND type=? AND asset=? "
                                  "AND at >= ? LIMIT 1", (pid, type_, asset, since)).fetchone()
        return row is not None

    # -- run history -----------------------------------------------------------

    def record_run(self, pid: int, campaign: str, at: str, run: int) -> None:
        self.db.execute("INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)",
                        (pid, campaign, at, run))

    def last_run(self, pid: int, campaign: str) -> str | None:
        row = self.db.execute("SELECT max(at) FROM runs WHERE person=? AND campaign=?",
                              (pid, campaign)).fetchone()
        return row[0]

    def ran_since(self, pid: int, campaign: str, since: str | None) -> bool:
        if since is None:
            row = self.db.execute("SELECT 1 FROM runs WHERE person=? AND campaign=? LIMIT 1",
                                  (pid, campaign)).fetchone()
        else:
            row = self.db.execute("SELECT 1 FROM runs WHERE person=? AND campaign=? AND at >= ? LIMIT 1",
                                  (pid, campaign, since)).fetchone()
        return row is not None

    def run_history(self, pid: int | None = None) -> list[tuple[int, str, str, int]]:
        if pid is None:
            return list(self.db.execute("SELECT person, campaign, at, run FROM runs ORDER BY id"))
        return list(self.db.execute("SELECT person, campaign, at, run FROM runs WHERE person=? ORDER BY id",
                                    (pid,)))

    # -- the queue -----------------------------------------------------------

    def enqueue(self, kind: str, person: int, campaign: str, due: str, step: int = 0,
                run: int | None = None, context: Mapping[str, Any] | None = None) -> int:
        cur = self.db.execute("INSERT INTO queue (kind, person, campaign, due, step, run, context) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (kind, person, campaign, due, step, run, dumps(dict(context or {}))))
        return cur.lastrowid

    def _item(self, r: Sequence[Any]) -> QueueItem:
        return QueueItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))

    def due(self, until: str) -> list[QueueItem]:
        """Queued items due at or before ``until``, in (due, id) order."""
        return [self._item(r) for r in self.db.execute(
            "SELECT id, kind, person, campaign, due, step, run, context FROM queue WHERE due <= ? "
            "ORDER BY due, id", (until,))]

    def next_due(self) -> str | None:
        row = self.db.execute("SELECT min(due) FROM queue").fetchone()
        return row[0]

    def queued(self, person: int | None = None) -> list[QueueItem]:
        if person is None:
            rows = self.db.execute("SELECT id, kind, person, campaign, due, step, run, context FROM queue "
                                   "ORDER BY due, id")
        else:
            rows = self.db.execute("SELECT id, kind, person, campaign, due, step, run, context FROM queue "
                                   "WHERE person=? ORDER BY due, id", (person,))
        return [self._item(r) for r in rows]

    def dequeue(self, item_id: int) -> bool:
        return self.db.execute("DELETE FROM queue WHERE id=?", (item_id,)).rowcount > 0

    def remove_queued(self, person: int, campaign: str) -> int:
        return self.db.execute("DELETE FROM queue WHERE person=? AND campaign=?", (person, campaign)).rowcount

    # -- schedules -------------------------------------------------------------

    def schedule_last(self, campaign: str) -> str | None:
        row = self.db.execute("SELECT last FROM schedules WHERE campaign=?", (campaign,)).fetchone()
        return row[0] if row else None

    def set_schedule_last(self, campaign: str, at: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO schedules VALUES (?, ?)", (campaign, at))

    # -- dumps -----------------------------------------------------------------

    def activity_log_jsonl(self) -> str:
        """The whole activity log, one JSON object per line, sorted keys."""
        return "".join(dumps(a.to_json()) + "\n" for a in self.activities())

    def counts(self) -> dict[str, int]:
        self.flush()
        out = {}
        for table in ("people", "list_members", "program_members", "activities", "runs", "queue"):
            out[table] = self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return out
