"""The SQLite store: people, memberships, the activity log, run history and
the queue of paused runs (LANGUAGE.md §8).

One file (or ``":memory:"``) holds everything a simulation needs to resume in
a later process. Layout, schema version 1:

* ``meta`` — key/value: ``schema_version``, ``clock`` (virtual now),
  ``next_run`` (the run ids no row of ``runs`` holds: those of a test's setup
  steps; the next run id is past both it and the last run recorded, so an
  event need not write it). Opening a store of another version is a
  ``StoreError``.
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

Both logs are indexed on ``person`` alone: every lookup is one person's
(a history filter, a qualification rule, a person's activities), and a
person has few rows, so the narrow index answers it by reading them, while
each event, which writes to both, pays far less than for the wider
``(person, type, asset)`` and ``(person, campaign, at)`` of earlier stores
(still used where they exist: the queries suit either).
* ``queue`` — paused runs (and any work due later): kind, person, campaign,
  due time, resume step, run id, context (JSON).
* ``schedules`` — the last occurrence of each batch schedule that ran.

Opening (issue 7): a file that is not SQLite, an SQLite file without the
store's tables, a store of another schema version and a damaged file (SQLite's
``quick_check``) are each refused with one ``StoreError`` line before anything
is written; two processes creating one new file race safely under the write
lock. Another process's action makes ``BEGIN IMMEDIATE`` wait up to
``timeout`` seconds (``$CAMPAIGNLANG_BUSY_TIMEOUT``, default 5), then
``StoreError``: the store is busy. Every SQLite error inside a transaction
becomes a ``StoreError`` after the rollback. At each BEGIN, when another
connection has committed since (``PRAGMA data_version``; never for
``:memory:``), the cached activity id, run counter, clock and field layout
are re-read.

Transactions: ``with store.transaction():`` is one action. The outermost
``transaction`` begins, commits on success and rolls back on *any* exception,
``KeyboardInterrupt`` included, so an interrupted action leaves the store as
it was.

Writing in bulk (issue 8): inside a transaction, activities, field updates
(``update_field``) and runs (``record_run``) are buffered and written with
``executemany``; so are the list and program memberships of the people of
the chunk a batch is streaming (``iter_people`` reads those memberships
once per chunk and answers ``in_list``/``membership`` from memory). Every
reader calls ``flush()`` first (``ran_since`` also sees the buffered runs),
commit flushes and rollback drops the buffers, so the buffers are invisible:
a new reader of these tables must flush first too. ``iter_people`` streams
people a chunk at a time, and ``columns_for`` lets a caller read only the
columns it needs: a ``Person`` reads the rest of its row when asked.

Implements ``storage.StoreProtocol``: ``where`` says a store-neutral
``storage.Query`` (a batch's smart list, a qualification rule) in SQL, so
the evaluator and the engine build no SQL on these tables.

Why one module of this size: it is one SQLite layout and the buffers that
make its writes bulk; every method reads or writes those tables, and no
other module does.

Imports ``errors``, ``clock``, ``logic``, ``storage`` and ``values`` only.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence

from attrs import frozen

from .clock import iso
from .errors import StoreError
from .logic import FilterRef, Logic
from .logic import Not as LogicNot
from .stdlib.types import TYPES
from .storage import AllOf, AnyOf, FieldTest, HasActivity, InList, InProgram, LogicOf, NotQ, Query, RanCampaign
from .values import ENCODERS, INT_LIMIT, date_value, decode, dumps, encode, fold_text, interval, number

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
CREATE INDEX activities_person ON activities (person);
CREATE TABLE runs (id INTEGER PRIMARY KEY, person INTEGER NOT NULL, campaign TEXT NOT NULL,
                   at TEXT NOT NULL, run INTEGER NOT NULL);
CREATE INDEX runs_person ON runs (person);
CREATE TABLE queue (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, person INTEGER NOT NULL,
                    campaign TEXT NOT NULL, due TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0,
                    run INTEGER, context TEXT NOT NULL DEFAULT '{}');
CREATE INDEX queue_due ON queue (due, id);
CREATE INDEX queue_person ON queue (person, campaign);
CREATE TABLE schedules (campaign TEXT PRIMARY KEY, last TEXT NOT NULL) WITHOUT ROWID;
"""



def _casefold(x: Any) -> Any:
    return x.casefold() if isinstance(x, str) else x


def _decimal_cmp(raw: Any, literal: str) -> Any:
    """SQL ``dcmp(column, 'literal')``: -1, 0 or 1 comparing a decimal column
    (stored as text) with a literal exactly, as ``Decimal`` does; NULL for
    NULL. Smart lists over decimal fields are pushed down with it."""
    if raw is None:
        return None
    a, b = Decimal(str(raw)), Decimal(literal)
    return -1 if a < b else (1 if a > b else 0)


_MISSING = object()

# Binding None costs Python's sqlite3 a failed adapter lookup (a registry miss,
# then two attribute probes) for every NULL, and an activity row holds several
# (its campaign, run, asset, old and new values): 0.3 us each, 2 us an event.
# With an adapter for None registered the lookup hits and the adapter, a C
# method returning None, is called: NULL is still bound. The registry is the
# process's; one already there is left alone.
if (type(None), sqlite3.PrepareProtocol) not in sqlite3.adapters:
    sqlite3.register_adapter(type(None), {}.get)   # {}.get(None) is None

#: column -> the UPDATE ``flush`` writes it with (made once: every event flushes)
#: one activity row, every column (``Activity``'s order)
_INSERT_ACTIVITY = "INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPDATE_SQL: dict[str, str] = {}


def _update_sql(col: str) -> str:
    """``UPDATE people SET "col"=? WHERE id=?``, made once per column."""
    sql = _UPDATE_SQL.get(col)
    if sql is None:
        sql = _UPDATE_SQL[col] = f'UPDATE people SET "{col}"=? WHERE id=?'
    return sql


# --------------------------------------------------------------------------
# Records


class Person:
    """One person's fields, decoded on first access. ``get(key)`` takes a
    ``name_key``; the engine keeps this object in step with its writes.

    A person read with some columns only (``Store.iter_people(fields=...)``:
    a batch reads the fields its program names) carries a ``loader``; asking
    for a field outside those reads the whole row then, so which columns
    were read changes the speed, never a value."""

    __slots__ = ("id", "deleted", "_raw", "_layout", "_vals", "_loader")

    def __init__(self, id: int, raw: Sequence[Any], layout: Mapping[str, tuple[int, str]],
                 deleted: bool = False, loader: Any = None):
        self.id = id
        self.deleted = deleted
        self._raw = raw
        self._layout = layout
        self._vals: dict[str, Any] = {}
        self._loader = loader

    def get(self, key: str) -> Any:
        # no try/except: a KeyError costs more than the lookup (the first
        # read of every field of every person in a batch misses)
        vals = self._vals
        value = vals.get(key, _MISSING)
        if value is not _MISSING:
            return value
        spec = self._layout.get(key)
        if spec is None and self._loader is not None:
            self._load()
            spec = self._layout.get(key)
        value = None if spec is None else decode(spec[1], self._raw[spec[0]])
        vals[key] = value
        return value

    def _load(self) -> None:
        """Read the whole row (values already read or set stay: they are current)."""
        loader, self._loader = self._loader, None
        row = loader(self.id)
        if row is not None:
            self._raw, self._layout = row

    def _set(self, key: str, value: Any) -> None:
        self._vals[key] = value

    @property
    def email(self) -> str:
        return self.get("email address") or ""

    def fields(self) -> dict[str, Any]:
        """Every field with a value: declared name -> value."""
        if self._loader is not None:
            self._load()
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


#: the column names ``_column_name`` makes; a store's ``fields.col`` is put
#: into SQL as an identifier, so any other text is refused (issue 14)
_COLUMN = re.compile(r"f_[0-9a-z_]+\Z")
_FIELD_TYPES = frozenset(TYPES)   # stdlib.types, the one table of field types


def _valid_fields(rows: Sequence[Sequence[Any]], path: str) -> None:
    """Refuse a store whose field table holds a column name this module
    would not have made, or a type it does not know: a crafted ``col`` like
    ``" IS NULL OR 1=1 OR "`` would otherwise become SQL."""
    for key, name, type_, col in rows:
        if not (isinstance(col, str) and _COLUMN.match(col)) or type_ not in _FIELD_TYPES \
                or not isinstance(key, str) or not isinstance(name, str):
            shown = str(col)[:40].encode("unicode_escape").decode("ascii")
            raise StoreError(f"{path} is not a store campaignlang wrote: the field table names the column "
                             f"'{shown}' (type {str(type_)[:20]!r}); refusing to use it")


_TABLES = {"meta", "fields", "people", "list_members", "program_members", "activities", "runs",
           "queue", "schedules"}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def busy_timeout() -> float:
    """Seconds to wait for another process's write (``$CAMPAIGNLANG_BUSY_TIMEOUT``, default 5)."""
    raw = os.environ.get("CAMPAIGNLANG_BUSY_TIMEOUT", "")
    try:
        value = float(raw)
    except ValueError:
        return 5.0
    return value if value >= 0 else 5.0


def _refuse_non_store(path: str) -> None:
    """One clear line for a path that cannot be a store, before SQLite sees it."""
    if path == ":memory:" or path.startswith("file:"):
        return
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"{path} is a folder, not a store file")
    if not p.exists():
        return
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot open the store {path}: {exc.strerror or exc}") from None
    if head and head != _SQLITE_MAGIC:
        raise StoreError(f"{path} is not a campaign store (not an SQLite file)")


class _Transaction:
    """``Store.transaction()``: a class, not a generator, because every
    event is one (a generator context manager costs four times as much)."""

    __slots__ = ("store", "outer")

    def __init__(self, store: "Store"):
        self.store = store
        self.outer = False

    def __enter__(self) -> None:
        store = self.store
        if store._depth:
            store._depth += 1
        else:
            store._begin()
            self.outer = True

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        store = self.store
        if not self.outer:
            store._depth -= 1
            return False
        if exc is None:
            store._end(None)   # a failing flush or COMMIT raises from here
            return False
        store._end(exc)        # rolls back; an SQLite error comes out as a StoreError
        return False           # the exception itself goes on


class Store:
    """An SQLite store, a file or ``":memory:"`` (see the module docstring)."""

    #: field updates not yet written: column -> [(value, person id)], or None; whose
    _updates: dict[str, list[tuple]] | None = None
    _updated: set[int] | None = None
    #: runs not yet written, and the latest time of each (person, campaign) among them
    _runs: list[tuple] | None = None
    _ran: dict[tuple[int, str], str] | None = None
    #: the id range of the chunk a batch streams, its memberships read ahead, and
    #: membership changes not yet written (see "static lists")
    _chunk: tuple[int, int] | None = None
    _chunk_lists: dict[str, set[int]] | None = None
    _chunk_programs: dict[str, dict[int, tuple]] | None = None
    _member_ops: list[tuple] | None = None
    #: the first activity id of this transaction (set with _next_activity, reset with it at BEGIN)
    _activity_base: int = 0
    #: meta keys every action reads: fetched with the first query of each
    #: transaction (``_begun``) and answered from ``_meta`` while it lasts
    HOT_META: tuple[str, ...] = ("clock",)
    #: the next run id (``run_counter``), loaded with the hot meta values
    _run_counter: int = 1
    _meta: dict[str, str | None] = {}
    #: whether the cached values above are the file's (until a rollback, or
    #: another connection's commit: ``_data_version`` changes)
    _fresh: bool = False
    _data_version: int | None = None
    #: counts writes to people (a field, a deletion): a Person read when it
    #: had some value is still current while it has that value (the engine
    #: hands the person an event was fired for to the runs it starts)
    people_writes: int = 0
    #: ``columns_for`` SELECT -> the same with ``WHERE id=?`` (``person``)
    _by_id: dict[str, str] = {}

    def __init__(self, path: str = ":memory:", *, timeout: float | None = None,
                 verify: bool = True, write_ahead: bool = False):
        """Open (or create) the store at ``path``. ``timeout``: seconds to
        wait for another process's write to end before saying the store is
        busy (default ``$CAMPAIGNLANG_BUSY_TIMEOUT``, else 5). ``verify``:
        run SQLite's ``quick_check`` on an existing file, so a damaged file
        is refused now rather than half-way through an action.
        ``write_ahead``: switch a file store to SQLite's write-ahead log
        (``_write_ahead``: for a stream of small actions; the file keeps the
        mode)."""
        self.path = str(path)
        self.write_ahead = write_ahead
        self.timeout = busy_timeout() if timeout is None else float(timeout)
        self._depth = 0
        self._buffer: list[tuple] = []
        self._by_id = {}
        self._next_activity: int | None = None
        self._on_rollback: list = []
        self._schema_seen: int | None = None
        #: actions committed through this object (the CLI tells an interrupt before from after)
        self.commits = 0
        _refuse_non_store(self.path)
        try:
            self.db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                      check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        except UnicodeEncodeError:   # a path no file system can name (a lone surrogate)
            raise StoreError(f"cannot open the store {self.path!r}: not a file name") from None
        self.db.create_function("cf", 1, _casefold, deterministic=True)
        self.db.create_function("dcmp", 2, _decimal_cmp, deterministic=True)
        try:
            self._open(verify)
        except BaseException:
            self.db.close()
            raise

    def _open(self, verify: bool) -> None:
        """Check what the file is and create the schema in a new one."""
        try:
            self.db.execute("PRAGMA cache_size = -65536")
            self.db.execute("PRAGMA foreign_keys = OFF")
            tables = self._tables()
            if not tables:
                # two processes may create the same new store: the write lock decides
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    if not self._tables():
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                self.db.execute(statement)
                        self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                        (str(SCHEMA_VERSION),))
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                tables = self._tables()
            elif verify and self.path != ":memory:":
                problems = [r[0] for r in self.db.execute("PRAGMA quick_check(3)")]
                if problems != ["ok"]:
                    detail = " ".join(" ".join(problems).replace("*** in database main ***", "").split())
                    raise StoreError(f"the store {self.path} is damaged ({detail[:100]}); "
                                     f"restore it from a copy or start a new --db file")
        except sqlite3.DatabaseError as exc:
            raise self._error(exc, opening=True) from None
        if "meta" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not a campaign store")
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = row[0] if row else "?"
        if version != str(SCHEMA_VERSION):
            raise StoreError(
                f"the store {self.path} has schema version {version}, but this campaignlang "
                f"reads version {SCHEMA_VERSION}; use a new --db file or the campaignlang "
                f"release that wrote it")
        missing = sorted(_TABLES - tables)
        if missing:
            raise StoreError(f"the store {self.path} is damaged: it has no table "
                             f"{', '.join(missing)}; restore it from a copy or start a new --db file")
        if self.path != ":memory:" and self.write_ahead:   # a campaign store, checked: now it may change
            try:
                self._write_ahead()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc, opening=True) from None
        self._load_fields()

    def _write_ahead(self) -> None:
        """``Store(path, write_ahead=True)``: the file keeps a write-ahead log
        (SQLite's WAL) synced at checkpoints, not at every commit. Each event
        fired through the API is a transaction, and a commit that waits for
        the disk caps a file store with the rollback journal near 1,300
        events a second; with the log, about 10,000. A big batch pays about
        10 % more (every page is written twice, to the log and back), so the
        journal stays the default. A crash or an interrupt still leaves every
        action whole or absent (§8); a power cut may lose the last actions,
        never half of one. Where the file system cannot share memory for the
        log (some network mounts), the store keeps the rollback journal."""
        try:
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError:
            mode = None
        if mode == "wal":
            self.db.execute("PRAGMA synchronous = NORMAL")

    def _tables(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _error(self, exc: sqlite3.Error, opening: bool = False) -> StoreError:
        """An SQLite error as one line a person can act on."""
        text = str(exc)
        low = text.lower()
        if "locked" in low or "busy" in low:
            return StoreError(f"the store {self.path} is busy: another campaign command is using it "
                              f"(waited {self.timeout:g} s); try again when it has finished")
        if "readonly" in low or "read-only" in low:
            return StoreError(f"the store {self.path} is read-only; campaignlang needs to write to it")
        if "not a database" in low or "file is encrypted" in low:
            return StoreError(f"{self.path} is not a campaign store (not an SQLite file)")
        if "malformed" in low or "corrupt" in low or "disk i/o" in low:
            return StoreError(f"the store {self.path} is damaged ({' '.join(text.split())[:100]}); "
                              f"restore it from a copy or start a new --db file")
        what = "cannot open" if opening else "failed on"
        return StoreError(f"{what} the store {self.path}: {text}")

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

    def transaction(self) -> "_Transaction":
        """One action: commit on success, roll back on any exception (the
        outermost call decides; nested calls join it). ``with
        store.transaction(): ...``"""
        return _Transaction(self)

    def _begin(self) -> None:
        """BEGIN the outermost transaction (``_Transaction.__enter__``): the
        hot meta values and the run counter come with it (``_begun``)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self._begun()
        except sqlite3.DatabaseError as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise self._error(exc) from None
        self._depth = 1

    def _end(self, exc: BaseException | None) -> None:
        """Leave the outermost transaction: COMMIT after a flush, or ROLLBACK
        when the body raised ``exc`` (or the flush or the COMMIT failed). An
        SQLite error comes out as a StoreError; the body's own exception is
        left to the caller to re-raise."""
        from_body = exc is not None
        if exc is None:
            try:
                self.flush()
            except BaseException as flush_exc:
                exc = flush_exc
        if exc is not None:
            self._depth = 0
            self._rollback()
            if type(exc) in (sqlite3.OperationalError, sqlite3.DatabaseError):
                # an IntegrityError, a ProgrammingError...: a bug, not the file's state
                raise self._error(exc) from exc   # type: ignore[arg-type]
            if not from_body:
                raise exc
            return
        self._depth = 0
        done = self.commits
        try:
            self.db.execute("COMMIT")
            self.commits = done + 1
        except sqlite3.DatabaseError as commit_exc:   # e.g. readers kept the lock past the timeout
            self._rollback()
            raise self._error(commit_exc) from None
        except BaseException:
            # Ctrl-C during COMMIT (an fsync can take a while) is raised only after it
            # returns: SQLite knows whether the action was saved
            if self.db.in_transaction:
                self._rollback()
            else:
                self.commits = done + 1
            raise

    def _begun(self) -> None:
        """At the start of each action: what this object caches of the file
        (the field layout, the next activity id, the hot meta values) is
        re-read when another connection has committed since (SQLite's
        ``data_version`` says so in one cheap query; an in-memory store has
        no other connection). An event is an action: this is paid per event."""
        if self._fresh:
            if self.path == ":memory:":
                self._activity_base = self._next_activity   # type: ignore[assignment]
                return
            if self.db.execute("PRAGMA data_version").fetchone()[0] == self._data_version:
                self._activity_base = self._next_activity   # type: ignore[assignment]
                return
        self._reload()

    def _reload(self) -> None:
        if self.path != ":memory:":
            self._data_version = self.db.execute("PRAGMA data_version").fetchone()[0]
        version = self.db.execute("PRAGMA schema_version").fetchone()[0]
        if version != self._schema_seen:
            self._load_fields()
        hot = self.HOT_META
        row = self.db.execute(
            "SELECT (SELECT max(id) FROM activities), (SELECT run FROM runs ORDER BY id DESC LIMIT 1), "
            "(SELECT value FROM meta WHERE key='next_run')"
            + "".join(", (SELECT value FROM meta WHERE key=?)" for _ in hot), hot).fetchone()
        self._next_activity = self._activity_base = (row[0] or 0) + 1
        self._run_counter = max((row[1] or 0) + 1, int(row[2] or 1))
        self._meta = dict(zip(hot, row[3:]))
        self._fresh = True

    def _rollback(self) -> None:
        self._buffer.clear()
        self._meta = {}
        self._fresh = False
        self.people_writes += 1
        self._updates = self._updated = self._runs = self._ran = self._member_ops = None
        self._set_chunk(None)
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
        mem.db.create_function("dcmp", 2, _decimal_cmp, deterministic=True)
        mem._depth = 0
        mem._buffer = []
        mem._next_activity = None
        mem._meta = {}
        mem._by_id = {}
        mem._fresh = False
        mem._on_rollback = []
        mem.timeout = self.timeout
        mem._schema_seen = None
        mem.commits = 0
        mem._load_fields()
        return mem

    # -- meta ----------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        if self._depth and key in self._meta:
            value = self._meta[key]
            return default if value is None else value
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        if key in self._meta:
            self._meta[key] = value

    def end_action(self, next_run: int, recorded: bool, clock: str) -> tuple[int, int]:
        """What every action does last, in one call (every event is one).
        ``next_run`` is the next run id; ``recorded``: each id the action
        gave out is in the run history (``record_run``), where the next
        transaction finds it, so ``meta.next_run`` need not be written (an
        event saves a statement). The clock goes into meta when it moved.
        Returns (first, last): the ids of the activities before the
        transaction began and of its last one."""
        assert self._depth and self._next_activity is not None, "end_action ends a transaction"
        if not recorded and next_run != self._run_counter:
            self.set_meta("next_run", str(next_run))
        self._run_counter = next_run
        if self._meta.get("clock", _MISSING) != clock:
            self.set_meta("clock", clock)
        return self._activity_base - 1, self._next_activity - 1

    def run_counter(self) -> int:
        """Inside a transaction: the next run id, past every id the run
        history records and past ``meta.next_run``."""
        assert self._depth, "run_counter is read inside a transaction"
        return self._run_counter

    # -- fields --------------------------------------------------------------

    def _load_fields(self) -> None:
        self._schema_seen = self.db.execute("PRAGMA schema_version").fetchone()[0]
        rows = self.db.execute("SELECT key, name, type, col FROM fields").fetchall()
        _valid_fields(rows, self.path)
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
            # another process may have added some meanwhile (the layout is re-read at BEGIN)
            missing = [(k, n, t) for k, n, t in missing if k not in self.field_types]
            taken = set(self.columns.values())
            for key, name, type_ in sorted(missing):
                col = _column_name(key, taken)
                taken.add(col)
                sqltype = TYPES[type_].column if type_ in TYPES else "TEXT"
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

    def person(self, pid: int, fields: Any = None) -> Person | None:
        """The person with id ``pid`` (deleted or not); ``fields``: read
        only these columns now (``columns_for``), the rest when asked."""
        if self._updates and pid in self._updated:   # type: ignore[operator]
            self.flush()
        if fields is None:
            row = self.db.execute("SELECT * FROM people WHERE id=?", (pid,)).fetchone()
            return self._person(row) if row else None
        sql, layout = fields
        by_id = self._by_id.get(sql)
        if by_id is None:
            by_id = self._by_id[sql] = sql + " WHERE id=?"
        row = self.db.execute(by_id, (pid,)).fetchone()
        return Person(row[0], row, layout, bool(row[1]), self._full_row) if row else None

    def columns_for(self, keys: Any) -> tuple[str, dict[str, tuple[int, str]]]:
        """(``SELECT`` of id, deleted and the columns of the fields ``keys``,
        their layout) for ``person`` and ``iter_people``."""
        cols, layout = ["id", "deleted"], {}
        for key in sorted(keys):
            col = self.columns.get(key)
            if col is not None:
                layout[key] = (len(cols), self.field_types[key])
                cols.append(f'"{col}"')
        return f"SELECT {', '.join(cols)} FROM people", layout

    def _full_row(self, pid: int) -> tuple[Sequence[Any], Mapping[str, tuple[int, str]]] | None:
        if self._updates and pid in self._updated:   # type: ignore[operator]
            self.flush()
        row = self.db.execute("SELECT * FROM people WHERE id=?", (pid,)).fetchone()
        return (row, self.layout) if row else None

    def people(self, where: str | None = None, params: Sequence[Any] = (),
               include_deleted: bool = False) -> list[Person]:
        """People in id order; ``where`` is an SQL condition over the field
        columns (``Store.column``) — a smart list pushed down."""
        self.flush()
        cond = [] if include_deleted else ["deleted = 0"]
        if where:
            cond.append(f"({where})")
        sql = "SELECT * FROM people" + (" WHERE " + " AND ".join(cond) if cond else "") + " ORDER BY id"
        return [self._person(r) for r in self.db.execute(sql, params)]

    def iter_people(self, where: str | None = None, params: Sequence[Any] = (),
                    chunk: int = 2000, fields: Any = None) -> Iterator[Person]:
        """``people(where, params)`` streamed: fetched ``chunk`` rows at a
        time by id (``id > last ORDER BY id LIMIT chunk``), so a batch over a
        million people holds one chunk, and writes made between chunks are
        flushed before the next is read. The caller may write to the people
        it has been given: the next chunk starts after the last id seen.
        ``fields`` (``columns_for``): read only these columns up front."""
        cond = ["deleted = 0"]
        if where:
            cond.append(f"({where})")
        cond.append("id > ?")
        if fields is None:
            head, layout, loader, deleted = "SELECT * FROM people", None, None, 2
        else:
            (head, layout), loader, deleted = fields, self._full_row, 1
        sql = f"{head} WHERE {' AND '.join(cond)} ORDER BY id LIMIT {int(chunk)}"
        args = list(params) + [None]
        last = -(2 ** 63)
        while True:
            self.flush()
            self._set_chunk(None)
            args[-1] = last
            rows = self.db.execute(sql, args).fetchall()
            if not rows:
                return
            # read memberships ahead for the ids of this chunk (and those between:
            # the range is what the caches answer for)
            self._set_chunk((rows[0][0], rows[-1][0]))
            lay = self.layout if layout is None else layout
            for r in rows:
                yield Person(r[0], r, lay, bool(r[deleted]), loader)
            if len(rows) < chunk:
                self.flush()
                self._set_chunk(None)
                return
            last = rows[-1][0]

    def count_where(self, where: str | None = None, params: Sequence[Any] = ()) -> int:
        """How many people (not deleted) ``where`` selects."""
        self.flush()
        sql = "SELECT count(*) FROM people WHERE deleted = 0" + (f" AND ({where})" if where else "")
        return self.db.execute(sql, params).fetchone()[0]

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
            self.people_writes += 1
            try:
                self.db.execute(f'UPDATE people SET "{col}"=?, email_key=? WHERE id=?',
                                (raw, value.casefold(), pid))
            except sqlite3.IntegrityError:
                raise StoreError(f"another person has the email address {value}") from None
            return
        self.update_field(pid, col, raw)

    def update_field(self, pid: int, col: str, raw: Any) -> None:
        """Set a column (not the email address) to an encoded value: buffered
        per column and written with ``executemany`` at the next read or
        commit (a batch's field updates go in bulk). Later updates of the
        same column come later in its buffer, so the last one wins."""
        if raw.__class__ is int and not -INT_LIMIT <= raw < INT_LIMIT:
            # what sqlite3 raises, now rather than at the flush
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        if raw.__class__ is str and not raw.isascii():
            raw.encode()   # a lone surrogate: UnicodeEncodeError now, as execute() would
        self.people_writes += 1
        updates = self._updates
        if updates is None:
            updates = self._updates = {}
            self._updated = set()
        self._updated.add(pid)   # type: ignore[union-attr]
        rows = updates.get(col)
        if rows is None:
            rows = updates[col] = []
        rows.append((raw, pid))
        if len(rows) >= 4096:
            self.flush()

    # -- queries (``storage``) ------------------------------------------------

    def where(self, query: Query) -> tuple[str, list[Any]] | None:
        """A store-neutral query as an SQL condition on ``people`` and its
        parameters, or None when SQL here cannot say it (a field without a
        column, a value of the wrong type, a condition nested or bound past
        SQLite's limits): the caller tests it in Python."""
        said = self._where(query)
        if said is not None and not _sql_fits(*said):
            return None
        return said

    def _where(self, query: Query) -> tuple[str, list[Any]] | None:
        if isinstance(query, FieldTest):
            col = self.columns.get(query.key)
            if col is None:
                return None
            try:
                return _field_sql(col, query)
            except ValueError:
                return None
        if isinstance(query, InList):
            neg = "NOT " if query.negated else ""
            return (f"{neg}EXISTS (SELECT 1 FROM list_members lm WHERE lm.list = ? AND lm.person = people.id)",
                    [query.list])
        if isinstance(query, InProgram):
            if query.status is not None and not query.negated:
                return ("EXISTS (SELECT 1 FROM program_members pm WHERE pm.program = ? AND "
                        "pm.person = people.id AND pm.status = ?)", [query.program, query.status])
            neg = "NOT " if query.negated else ""
            return (f"{neg}EXISTS (SELECT 1 FROM program_members pm WHERE pm.program = ? AND "
                    "pm.person = people.id)", [query.program])
        if isinstance(query, (HasActivity, RanCampaign)):
            if isinstance(query, RanCampaign):
                sql = "EXISTS (SELECT 1 FROM runs r WHERE r.person = people.id AND r.campaign = ?"
                params: list[Any] = [query.campaign]
                col = "r.at"
            else:
                sql = "EXISTS (SELECT 1 FROM activities a WHERE a.person = people.id AND a.type = ? AND a.asset = ?"
                params = [query.type, query.asset]
                col = "a.at"
            if query.since is not None:
                sql += f" AND {col} >= ?"
                params.append(query.since)
            return sql + ")", params
        if isinstance(query, NotQ):
            inner = self._where(query.part)
            return None if inner is None else (f"NOT ({inner[0]})", inner[1])
        if isinstance(query, (AllOf, AnyOf)):
            parts = []
            for part in query.parts:
                said = self._where(part)
                if said is None:
                    return None
                parts.append(said)
            if not parts:
                return ("1", []) if isinstance(query, AllOf) else ("0", [])
            if isinstance(query, AllOf):
                # cheap tests first (SQLite tests AND terms in order on a scan): a
                # column, then a Python function (cf, dcmp), then a subquery
                parts.sort(key=lambda part: _sql_cost(part[0]))
            joiner = "AND" if isinstance(query, AllOf) else "OR"
            return _sql_join(joiner, [f"({s})" for s, _ in parts]), [x for _, ps in parts for x in ps]
        if isinstance(query, LogicOf):
            said_parts = [self._where(part) for part in query.parts]
            if any(s is None for s in said_parts):
                return None
            order: list[int] = []   # parameters follow the order the placeholders appear in

            def visit(node: Logic) -> str:
                if isinstance(node, FilterRef):
                    order.append(node.index)
                    return said_parts[node.index][0]  # type: ignore[index]
                if isinstance(node, LogicNot):
                    return f"NOT ({visit(node.operand)})"
                return "(" + _sql_join(node.op.upper(), [f"({visit(x)})" for x in node.operands]) + ")"
            sql = visit(query.tree)
            return sql, [x for i in order for x in said_parts[i][1]]  # type: ignore[index]
        return None

    def field_writer(self, key: str) -> Any:
        """``write(pid, value)`` for a field other than the email address,
        its value encoded once here and buffered (``update_field``); None for
        the email address or a field the store has no column for (use
        ``set_field``)."""
        col = self.columns.get(key)
        stype = self.field_types.get(key)
        if key == "email address" or col is None or stype is None:
            return None
        enc = ENCODERS.get(stype, str)
        update = self.update_field

        def write(pid: int, value: Any) -> None:
            update(pid, col, None if value is None else enc(value))
        return write

    def set_fields(self, pid: int, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.set_field(pid, key, value)

    def delete_person(self, pid: int) -> None:
        self.delete_people((pid,))

    def delete_people(self, pids: Iterable[int]) -> None:
        """Delete people (``delete person``; the set-based writer a slice's at
        once): marked deleted, their address free again, out of every list
        and program, their waits ended."""
        rows = [(pid,) for pid in pids]
        if not rows:
            return
        self.people_writes += 1
        self.flush()
        if self._chunk is not None:
            self._set_chunk(self._chunk)   # the memberships read ahead hold these people
        self.db.executemany("UPDATE people SET deleted=1, email_key=NULL WHERE id=?", rows)
        self.db.executemany("DELETE FROM list_members WHERE person=?", rows)
        self.db.executemany("DELETE FROM program_members WHERE person=?", rows)
        self.db.executemany("DELETE FROM queue WHERE person=?", rows)

    # -- static lists --------------------------------------------------------

    # Memberships of the people of the chunk a batch is streaming
    # (``iter_people``) are read once per list or program for the whole chunk
    # (``_chunk_lists``, ``_chunk_programs``), answered from memory, and their
    # changes buffered in order (``_member_ops``) and written with
    # ``executemany`` at the next flush; other people's go straight to SQL.

    def _in_chunk(self, pid: int) -> bool:
        chunk = self._chunk
        return chunk is not None and chunk[0] <= pid <= chunk[1]

    def _chunk_list(self, list_key: str) -> set[int]:
        lists = self._chunk_lists
        if lists is None:
            lists = self._chunk_lists = {}
        members = lists.get(list_key)
        if members is None:
            lo, hi = self._chunk   # type: ignore[misc]
            members = lists[list_key] = {r[0] for r in self.db.execute(
                "SELECT person FROM list_members WHERE list=? AND person BETWEEN ? AND ?", (list_key, lo, hi))}
        return members

    def _member_op(self, op: tuple) -> None:
        ops = self._member_ops
        if ops is None:
            ops = self._member_ops = []
        ops.append(op)
        if len(ops) >= 4096:
            self.flush()

    def list_add(self, list_key: str, pid: int, at: str) -> bool:
        """Add to a static list; whether the person was not in it already."""
        if self._chunk is not None and self._in_chunk(pid):
            members = self._chunk_list(list_key)
            if pid in members:
                return False
            members.add(pid)
            self._member_op(("+", list_key, pid, at))
            return True
        cur = self.db.execute("INSERT OR IGNORE INTO list_members VALUES (?, ?, ?)", (list_key, pid, at))
        return cur.rowcount > 0

    def list_remove(self, list_key: str, pid: int) -> bool:
        """Remove from a static list; whether the person was in it."""
        if self._chunk is not None and self._in_chunk(pid):
            members = self._chunk_list(list_key)
            if pid not in members:
                return False
            members.discard(pid)
            self._member_op(("-", list_key, pid))
            return True
        cur = self.db.execute("DELETE FROM list_members WHERE list=? AND person=?", (list_key, pid))
        return cur.rowcount > 0

    def in_list(self, list_key: str, pid: int) -> bool:
        if self._chunk is not None and self._in_chunk(pid):
            return pid in self._chunk_list(list_key)
        return self.db.execute("SELECT 1 FROM list_members WHERE list=? AND person=?",
                               (list_key, pid)).fetchone() is not None

    def list_members(self, list_key: str) -> list[int]:
        self.flush()
        return [r[0] for r in self.db.execute(
            "SELECT person FROM list_members WHERE list=? ORDER BY person", (list_key,))]

    def lists_of(self, pid: int) -> list[str]:
        self.flush()
        return [r[0] for r in self.db.execute(
            "SELECT list FROM list_members WHERE person=? ORDER BY list", (pid,))]

    # -- programs ------------------------------------------------------------

    def _chunk_program(self, program: str) -> dict[int, tuple]:
        programs = self._chunk_programs
        if programs is None:
            programs = self._chunk_programs = {}
        rows = programs.get(program)
        if rows is None:
            lo, hi = self._chunk   # type: ignore[misc]
            rows = programs[program] = {r[0]: r[1:] for r in self.db.execute(
                "SELECT person, status, data, since FROM program_members WHERE program=? "
                "AND person BETWEEN ? AND ?", (program, lo, hi))}
        return rows

    def _member_row(self, program: str, pid: int) -> tuple | None:
        """(status, data as JSON, since) of a membership, or None."""
        if self._chunk is not None and self._in_chunk(pid):
            return self._chunk_program(program).get(pid)
        return self.db.execute("SELECT status, data, since FROM program_members WHERE program=? AND person=?",
                               (program, pid)).fetchone()

    def membership(self, program: str, pid: int) -> Membership | None:
        row = self._member_row(program, pid)
        if row is None:
            return None
        return Membership(program, row[0], json.loads(row[1]), row[2])

    def program_member_ids(self, program: str) -> list[int]:
        """The ids of a program's members, in id order."""
        self.flush()
        return [r[0] for r in self.db.execute(
            "SELECT person FROM program_members WHERE program=? ORDER BY person", (program,))]

    def memberships(self, pid: int) -> list[Membership]:
        self.flush()
        return [Membership(r[0], r[1], json.loads(r[2]), r[3]) for r in self.db.execute(
            "SELECT program, status, data, since FROM program_members WHERE person=? ORDER BY program", (pid,))]

    def set_status(self, program: str, pid: int, status: str | None, at: str) -> None:
        if self._chunk is not None and self._in_chunk(pid):
            rows = self._chunk_program(program)
            old = rows.get(pid)
            row = rows[pid] = (status, "{}", at) if old is None else (status, old[1], old[2])
            self._member_op(("p", program, pid, *row))
            return
        cur = self.db.execute("UPDATE program_members SET status=? WHERE program=? AND person=?",
                              (status, program, pid))
        if cur.rowcount == 0:
            self.db.execute("INSERT INTO program_members VALUES (?, ?, ?, '{}', ?)", (program, pid, status, at))

    def set_member_data(self, program: str, pid: int, data: Mapping[str, Any]) -> None:
        if self._chunk is not None and self._in_chunk(pid):
            rows = self._chunk_program(program)
            old = rows.get(pid)
            if old is not None:   # as the UPDATE: only a member has member data
                row = rows[pid] = (old[0], dumps(dict(data)), old[2])
                self._member_op(("p", program, pid, *row))
            return
        self.db.execute("UPDATE program_members SET data=? WHERE program=? AND person=?",
                        (dumps(dict(data)), program, pid))

    def _flush_members(self) -> None:
        """The buffered membership changes, in order, a run of one kind per ``executemany``."""
        ops, self._member_ops = self._member_ops, None
        sql = {"+": "INSERT OR IGNORE INTO list_members VALUES (?, ?, ?)",
               "-": "DELETE FROM list_members WHERE list=? AND person=?",
               "p": "INSERT OR REPLACE INTO program_members (program, person, status, data, since) "
                    "VALUES (?, ?, ?, ?, ?)"}
        i = 0
        while i < len(ops):   # type: ignore[arg-type]
            kind = ops[i][0]   # type: ignore[index]
            j = i
            while j < len(ops) and ops[j][0] == kind:   # type: ignore[arg-type,index]
                j += 1
            self.db.executemany(sql[kind], [op[1:] for op in ops[i:j]])   # type: ignore[index]
            i = j

    def _set_chunk(self, chunk: tuple[int, int] | None) -> None:
        """The id range whose memberships are read ahead (after a flush)."""
        self._chunk = chunk
        self._chunk_lists = None
        self._chunk_programs = None

    # -- activities ----------------------------------------------------------

    def _activity_id(self) -> int:
        if self._next_activity is None:
            row = self.db.execute("SELECT max(id) FROM activities").fetchone()
            self._next_activity = self._activity_base = (row[0] or 0) + 1
        n = self._next_activity
        self._next_activity = n + 1
        return n

    def add_activity(self, person: int | None, type_: str, campaign: str | None, run: int | None,
                     at: str, attributes: Mapping[str, Any], asset: str | None = None,
                     old: Any = None, new: Any = None) -> int:
        """Append one activity (buffered until the next read or commit)."""
        return self.add_activity_json(person, type_, campaign, run, at, dumps(attributes), asset,
                                      None if old is None else dumps(old),
                                      None if new is None else dumps(new))

    def add_activity_json(self, person: int | None, type_: str, campaign: str | None, run: int | None,
                          at: str, attributes: str, asset: str | None = None,
                          old: str | None = None, new: str | None = None) -> int:
        """``add_activity`` with the attributes, old and new values already
        in canonical JSON (``dumps``): compiled steps encode what is constant
        once."""
        aid = self._next_activity
        if aid is None:
            aid = self._activity_id()
        else:
            self._next_activity = aid + 1
        buffer = self._buffer
        buffer.append((aid, person, type_, campaign, run, at, asset, attributes, old, new))
        if len(buffer) >= 4096:
            self.flush()
        return aid

    # -- bulk writes (the set-based engine's writer, campaignlang.sets.writer) ----------

    def reserve_activity_ids(self, n: int) -> int:
        """The first of ``n`` consecutive activity ids, given out now (after
        the buffered activities); the caller writes them with ``write_bulk``."""
        self.flush()
        first = self._activity_id()
        self._next_activity = first + n
        return first

    def write_bulk(self, activities: Sequence[tuple] = (), runs: Sequence[tuple] = (),
                   member_ops: Sequence[tuple] = (), updates: Mapping[str, Sequence[tuple]] | None = None,
                   queue: Sequence[tuple] = ()) -> None:
        """Rows made elsewhere, written with ``executemany`` (the buffers
        flushed first): activities as whole rows with ids from
        ``reserve_activity_ids``, runs ``(person, campaign, at, run)``, list
        memberships in order, ``("+", list, person, added_at)`` or ``("-",
        list, person)`` (a run of one kind per ``executemany``), and
        ``updates``: column -> ``(encoded value, person)`` rows, and ``queue``
        items ``(kind, person, campaign, due, step, run, context as JSON)``."""
        self.flush()
        for col, rows in (updates or {}).items():
            if rows:
                self.people_writes += 1
                self.db.executemany(_update_sql(col), rows)
        if runs:
            self.db.executemany("INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)", runs)
        if member_ops:
            self._member_ops = list(member_ops)
            self._flush_members()
        if activities:
            self.db.executemany(_INSERT_ACTIVITY, activities)
        if queue:
            self.db.executemany("INSERT INTO queue (kind, person, campaign, due, step, run, context) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)", queue)

    #: the statements ``write_rows`` streams rows into, by kind (each prepared once per call)
    _ROWS_SQL = {
        "activities": _INSERT_ACTIVITY,
        "runs": "INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)",
        "queue": "INSERT INTO queue (kind, person, campaign, due, step, run, context) VALUES (?, ?, ?, ?, ?, ?, ?)",
        # a list's membership as a flow left it: in it (added now) or not
        "list in": "INSERT OR REPLACE INTO list_members (list, person, added_at) VALUES (?, ?, ?)",
        "list out": "DELETE FROM list_members WHERE list=? AND person=?",
        # set_status's rule: a member keeps its data and since; a new member joins now
        "status": "INSERT INTO program_members (program, person, status, data, since) VALUES (?, ?, ?, '{}', ?) "
                  "ON CONFLICT (program, person) DO UPDATE SET status = excluded.status",
    }

    def write_rows(self, kind: str, rows: Iterable[Sequence[Any]]) -> None:
        """Rows made elsewhere (the set-based writer streams them from its
        backend), inside the caller's transaction: one ``executemany`` of
        one statement over an iterable, so memory holds what the iterable
        holds. ``kind``: a key of ``_ROWS_SQL`` (activities as whole rows,
        ids from ``reserve_activity_ids``)."""
        self.flush()
        self.db.executemany(self._ROWS_SQL[kind], rows)

    def update_people(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Field values made elsewhere, one UPDATE a person: each row is
        ``(written, value)`` for each of ``columns`` (the value is set where
        ``written``), then the person's id."""
        self.flush()
        self.people_writes += 1
        sets = ", ".join(f'"{c}" = CASE WHEN ? THEN ? ELSE "{c}" END' for c in columns)
        self.db.executemany(f"UPDATE people SET {sets} WHERE id = ?", rows)

    def flush(self) -> None:
        """Write the buffered field updates and activities (every reader
        calls this first, so the buffers are invisible)."""
        updates = self._updates
        if updates:
            for col, rows in updates.items():
                self.db.executemany(_update_sql(col), rows)
            self._updates = self._updated = None
        if self._member_ops:
            self._flush_members()
        if self._runs:
            self.db.executemany("INSERT INTO runs (person, campaign, at, run) VALUES (?, ?, ?, ?)", self._runs)
            self._runs = self._ran = None
        if self._buffer:
            self.db.executemany(_INSERT_ACTIVITY, self._buffer)
            self._buffer.clear()

    def activities(self, person: int | None = None, type_: str | None = None,
                   since: str | None = None, after_id: int = 0, *,
                   types: Sequence[str] | None = None, people: Sequence[int] | None = None,
                   limit: int | None = None) -> list[Activity]:
        """The log in id order, after ``after_id``: of one person or of
        ``people``, of one type or of ``types``, at or after ``since``, at
        most ``limit`` (a page of the REST API's activities)."""
        self.flush()
        cond: list[str] = ["a.id > ?"]
        params: list[Any] = [after_id]
        if person is not None:
            cond.append("a.person = ?")
            params.append(person)
        if people is not None:
            cond.append(f"a.person IN ({','.join('?' * len(people))})" if people else "0")
            params.extend(people)
        if type_ is not None:
            cond.append("a.type = ?")
            params.append(type_)
        if types is not None:
            cond.append(f"a.type IN ({','.join('?' * len(types))})" if types else "0")
            params.extend(types)
        if since is not None:
            cond.append("a.at >= ?")
            params.append(since)
        email_col = self.columns.get("email address")
        email_sql = f'p."{email_col}"' if email_col else "NULL"
        sql = (f"SELECT a.id, a.person, {email_sql}, a.type, a.campaign, a.run, a.at, a.asset, "
               f"a.attributes, a.old, a.new FROM activities a LEFT JOIN people p ON p.id = a.person "
               f"WHERE {' AND '.join(cond)} ORDER BY a.id")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Activity(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]),
                         None if r[9] is None else json.loads(r[9]),
                         None if r[10] is None else json.loads(r[10]))
                for r in self.db.execute(sql, params)]

    def first_activity_since(self, at: str) -> int | None:
        """The id of the first activity at or after ``at`` (a date paging token)."""
        self.flush()
        return self.db.execute("SELECT min(id) FROM activities WHERE at >= ?", (at,)).fetchone()[0]

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
        if self._depth and self._next_activity is not None:
            # inside an action every activity comes through add_activity_json
            return self._next_activity - 1
        row = self.db.execute("SELECT max(id) FROM activities").fetchone()
        self._next_activity = self._activity_base = (row[0] or 0) + 1
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
        """Record a run (buffered until the next read or commit; ``ran_since``
        sees the buffer)."""
        runs = self._runs
        if runs is None:
            runs = self._runs = []
            self._ran = {}
        runs.append((pid, campaign, at, run))
        self._ran[(pid, campaign)] = at   # type: ignore[index]  # the clock never goes back
        if len(runs) >= 4096:
            self.flush()

    def last_run(self, pid: int, campaign: str) -> str | None:
        self.flush()
        row = self.db.execute("SELECT max(at) FROM runs WHERE person=? AND campaign=?",
                              (pid, campaign)).fetchone()
        return row[0]

    def ran_since(self, pid: int, campaign: str, since: str | None) -> bool:
        ran = self._ran
        if ran:
            at = ran.get((pid, campaign))
            if at is not None and (since is None or at >= since):
                return True
        if since is None:
            row = self.db.execute("SELECT 1 FROM runs WHERE person=? AND campaign=? LIMIT 1",
                                  (pid, campaign)).fetchone()
        else:
            row = self.db.execute("SELECT 1 FROM runs WHERE person=? AND campaign=? AND at >= ? LIMIT 1",
                                  (pid, campaign, since)).fetchone()
        return row is not None

    def run_history(self, pid: int | None = None) -> list[tuple[int, str, str, int]]:
        self.flush()
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

    # -- people in bulk (``datafiles.import_people``, issue 16) ----------------
    #
    # A people file is written a chunk at a time with ``executemany``: new
    # people get consecutive ids from ``next_person_id`` (the ids SQLite would
    # give them one by one), so their ``New Person`` activities can be written
    # with them; a chunk whose addresses are all new needs no lookup at all.

    def next_person_id(self) -> int:
        """The id the next person created gets (ids are never reused)."""
        return (self.db.execute("SELECT max(id) FROM people").fetchone()[0] or 0) + 1

    def add_people_bulk(self, keys: Sequence[str], rows: Sequence[Sequence[Any]]) -> bool:
        """Insert new people: each row is ``(id, email_key, *column values)``,
        ids consecutive from ``next_person_id``, the values of the fields
        ``keys`` (name keys) already encoded (``values.encode``). All or
        nothing: False, and nothing written, when an address of the rows is
        taken (the caller then looks them up)."""
        self.flush()
        if not rows:
            return True
        cols = ", ".join(["id", "email_key", *(f'"{self.columns[k]}"' for k in keys)])
        # OR IGNORE, then count, rather than a savepoint around the insert: a
        # savepoint copies every page the chunk touches (the address index's,
        # all over the file) to a sub-journal, and that grows with the store
        sql = f"INSERT OR IGNORE INTO people ({cols}) VALUES ({', '.join('?' * (len(keys) + 2))})"
        if self.db.executemany(sql, rows).rowcount == len(rows):
            return True
        self.db.execute("DELETE FROM people WHERE id >= ?", (rows[0][0],))   # the chunk's ids are the last
        return False

    def merge_people_bulk(self, keys: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Update people with ``(*column values, id)`` rows: a None value
        leaves that field as it is (an empty cell of a people file)."""
        self.flush()
        sets = ", ".join(f'"{c}"=coalesce(?, "{c}")' for c in (self.columns[k] for k in keys))
        self.db.executemany(f"UPDATE people SET {sets} WHERE id=?", rows)
        self.people_writes += 1

    def people_by_key(self, email_keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """``email_key -> (id, email address)`` of the people who hold these
        (case-folded) addresses now."""
        self.flush()
        col = self.columns["email address"]
        out: dict[str, tuple[int, str]] = {}
        for i in range(0, len(email_keys), 500):   # well under SQLite's parameter limit
            part = email_keys[i:i + 500]
            for pid, key, email in self.db.execute(
                    f'SELECT id, email_key, "{col}" FROM people WHERE email_key IN '
                    f'({", ".join("?" * len(part))})', part):
                out[key] = (pid, email)
        return out

    def add_activities_bulk(self, type_: str, at: str, people: Sequence[int], attributes: Sequence[str]) -> None:
        """Append one activity of ``type_`` per person (no campaign, run,
        asset or values; ``attributes`` in canonical JSON), ids in order,
        after whatever is buffered."""
        first = self.reserve_activity_ids(len(people))
        none = repeat(None)   # campaign, run, asset, old and new
        self.db.executemany(_INSERT_ACTIVITY, zip(range(first, first + len(people)), people, repeat(type_), none,
                                                  none, repeat(at), none, attributes, none, none))


# --------------------------------------------------------------------------
# Queries (``storage``): a batch's smart list in SQL


def _sql_join(op: str, terms: Sequence[str], width: int = 64) -> str:
    """``terms`` joined by ``op``, grouped ``width`` at a time: SQLite parses
    ``a AND b AND c ...`` as a tree as deep as the chain, and refuses one
    deeper than 1,000 (SQLITE_MAX_EXPR_DEPTH); grouping keeps a smart list of
    thousands of filters a few levels deep."""
    while len(terms) > width:
        terms = [f"({f' {op} '.join(terms[i:i + width])})" for i in range(0, len(terms), width)]
    return f" {op} ".join(terms)


#: SQLite's parser overflows near 100 nested parentheses, and a statement may
#: bind at most 32,766 parameters; a smart list past either runs in Python
MAX_SQL_NESTING = 60
MAX_SQL_PARAMS = 30_000


def _sql_fits(sql: str, params: Sequence[Any]) -> bool:
    """Whether SQLite can take this condition (nesting and parameters)."""
    if len(params) > MAX_SQL_PARAMS:
        return False
    depth = deepest = 0
    for ch in sql:
        if ch == "(":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch == ")":
            depth -= 1
    return deepest <= MAX_SQL_NESTING


def _sql_cost(sql: str) -> int:
    """How dear an SQL condition is to test on one row, roughly (for ordering)."""
    if "EXISTS" in sql:
        return 2
    if "cf(" in sql or "dcmp(" in sql:
        return 1
    return 0


def _field_sql(col: str, q: FieldTest) -> tuple[str, list[Any]] | None:
    """A field test as SQL on ``people``: every rule is the Python filter's,
    case and nulls included."""
    c = f'people."{col}"'
    op, ftype = q.op, q.ftype
    if op in ("is empty", "is not empty"):
        if ftype in ("text", "email"):
            sql = f"({c} IS NULL OR {c} = '')"
        else:
            sql = f"{c} IS NULL"
        return (sql if op == "is empty" else f"NOT {sql}"), []
    values = list(q.values)
    if ftype in ("text", "email"):
        vals = [fold_text(v) for v in values]
        folded = f"coalesce(cf({c}), '')"
        if op in ("is", "is not"):
            sql = f"{folded} IN ({', '.join('?' * len(vals))})"
            return (sql if op == "is" else f"NOT ({sql})"), vals
        if op in ("contains", "not contains"):
            sql = " OR ".join(f"instr({folded}, ?) > 0" for _ in vals)
            return (f"({sql})" if op == "contains" else f"NOT ({sql})"), vals
        if op in ("starts with", "not starts with"):
            sql = " OR ".join(f"substr({folded}, 1, length(?)) = ?" for _ in vals)
            params = [x for v in vals for x in (v, v)]
            return (f"({sql})" if op == "starts with" else f"NOT ({sql})"), params
        return None
    if ftype == "boolean":
        if op not in ("is", "is not") or not all(isinstance(v, bool) for v in values):
            return None
        want = set(values)
        if want == {True, False}:
            sql = "1"
        elif want == {True}:
            sql = f"coalesce({c}, 0) = 1"
        else:
            sql = f"coalesce({c}, 0) = 0"
        return (sql if op == "is" else f"NOT ({sql})"), []
    if ftype in ("integer", "score", "decimal"):
        try:
            nums = [number(v) for v in values]
        except ValueError:
            return None
        if ftype == "decimal" or any(not isinstance(n, int) for n in nums):
            return _sql_for_decimal(c, op, nums)
        if op in ("is", "is not"):
            zero = 0 in nums
            if op == "is not":   # never matches empty (§12.5)
                return f"({c} IS NOT NULL AND {c} NOT IN ({', '.join('?' * len(nums))}))", nums
            sql = (f"(({c} IS NOT NULL AND {c} IN ({', '.join('?' * len(nums))})) OR "
                   f"({c} IS NULL AND {1 if zero else 0}))")
            return sql, nums
        if op == "between":
            return f"({c} IS NOT NULL AND {c} BETWEEN ? AND ?)", nums[:2]
        if op in (">", ">=", "<", "<="):
            return f"({c} IS NOT NULL AND {c} {op} ?)", nums[:1]
        return None
    if ftype in ("date", "datetime"):
        enc = (lambda x: x.isoformat()) if ftype == "date" else (lambda x: iso(x))
        if op in ("in past", "in future"):
            if q.within is None or q.now is None:
                return None
            now, delta = q.now, q.within
            try:
                if ftype == "date":
                    lo, hi = ((now - delta).date(), now.date()) if op == "in past" else \
                        (now.date(), (now + delta).date())
                else:
                    lo, hi = (now - delta, now) if op == "in past" else (now, now + delta)
            except OverflowError:
                return None
            return f"({c} IS NOT NULL AND {c} >= ? AND {c} <= ?)", [enc(lo), enc(hi)]
        try:
            ivs = [interval(ftype, date_value(v)) for v in values]
        except ValueError:
            return None
        if op in ("is", "is not"):
            sql = " OR ".join(f"({c} >= ? AND {c} < ?)" for _ in ivs)
            params = [enc(x) for iv in ivs for x in iv]
            sql = f"({c} IS NOT NULL AND ({sql}))"
            return (sql if op == "is" else f"NOT {sql}"), params
        if op == "between":
            return f"({c} IS NOT NULL AND {c} >= ? AND {c} < ?)", [enc(ivs[0][0]), enc(ivs[1][1])]
        lo, hi = ivs[0]
        if op == "before":
            return f"({c} IS NULL OR {c} < ?)", [enc(lo)]
        if op == "on or before":
            return f"({c} IS NULL OR {c} < ?)", [enc(hi)]
        if op == "after":
            return f"({c} IS NOT NULL AND {c} >= ?)", [enc(hi)]
        if op == "on or after":
            return f"({c} IS NOT NULL AND {c} >= ?)", [enc(lo)]
    return None


def _sql_for_decimal(c: str, op: str, nums: list[Any]) -> tuple[str, list[Any]] | None:
    """Number filters compared exactly as ``Decimal`` compares: a decimal
    column is stored as text, so through ``dcmp(column, 'literal')``."""
    lits = [str(n) for n in nums]
    if op in ("is", "is not"):
        eq = " OR ".join(f"dcmp({c}, ?) = 0" for _ in lits) or "0"
        if op == "is not":   # never matches empty (§12.5)
            return f"({c} IS NOT NULL AND NOT ({eq}))", lits
        sql = f"(({c} IS NOT NULL AND ({eq})) OR ({c} IS NULL AND {1 if 0 in nums else 0}))"
        return sql, lits
    if op == "between":
        return f"({c} IS NOT NULL AND dcmp({c}, ?) >= 0 AND dcmp({c}, ?) <= 0)", lits[:2]
    if op in (">", ">=", "<", "<="):
        return f"({c} IS NOT NULL AND dcmp({c}, ?) {op} 0)", lits[:1]
    return None
