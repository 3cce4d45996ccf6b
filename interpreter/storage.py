"""The store interface: what the evaluator and the engine may ask of a store,
and the store-neutral queries a batch selects its people with.

``Store`` (store.py, SQLite) is the first implementation. The evaluator
resolves a smart list's names (fields to keys, lists and programs to their
keys, history filters to activity types and assets, times relative to the
clock to fixed times) and hands the store a ``Query``; the store alone knows
its tables and says the query in its own language (``Store.where``: an SQL
condition on ``people`` and its parameters), or None when it cannot, and the
filter is then evaluated in Python. A second store implements the protocol
and ``where`` for its own storage; the evaluator does not change.

The filter rules themselves (case, empty values, date intervals) are the
language's (docs/language.md, "Filters"): a store's ``where`` must select
exactly the people the evaluator's Python predicate selects
(tests/test_pushdown.py checks the SQLite store).

Imports ``values`` and ``logic`` only (and the record types for annotations).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Protocol, Sequence, Union

from attrs import frozen

from .logic import Logic

if TYPE_CHECKING:  # pragma: no cover
    from .store import Activity, Membership, Person


# --------------------------------------------------------------------------
# Queries


@frozen
class FieldTest:
    """``lead.F OP VALUES``: ``key`` the field's key, ``ftype`` its type,
    ``values`` the literal values; ``now`` and ``within`` (a duration) for
    ``in past`` and ``in future``, fixed at the moment the batch selects."""

    key: str
    ftype: str
    op: str
    values: tuple[Any, ...]
    now: _dt.datetime | None = None
    within: _dt.timedelta | None = None


@frozen
class InList:
    """``[not] member of list``: the list's key."""

    list: str
    negated: bool = False


@frozen
class InProgram:
    """``[not] member of program`` (``status``: with that status)."""

    program: str
    status: str | None = None
    negated: bool = False


@frozen
class HasActivity:
    """A history filter: an activity of ``type`` on ``asset`` since ``since`` (ISO time, or ever)."""

    type: str
    asset: str
    since: str | None = None


@frozen
class RanCampaign:
    """``campaign was run`` (and the qualification rules): a run of ``campaign`` since ``since``."""

    campaign: str
    since: str | None = None


@frozen
class AllOf:
    parts: tuple["Query", ...]


@frozen
class AnyOf:
    parts: tuple["Query", ...]


@frozen
class NotQ:
    part: "Query"


@frozen
class LogicOf:
    """Advanced logic (``logic.parse_logic``'s tree) over ``parts``, one per filter."""

    tree: Logic
    parts: tuple["Query", ...]


Query = Union[FieldTest, InList, InProgram, HasActivity, RanCampaign, AllOf, AnyOf, NotQ, LogicOf]


# --------------------------------------------------------------------------
# The interface


class StoreProtocol(Protocol):
    """What the evaluator and the engine use of a store: people,
    memberships, the activity log, the run history, the queue of paused
    runs and schedules, meta values (the clock), transactions, and
    ``where`` for queries. ``Store`` (SQLite) implements it."""

    #: field key -> declared name, type (the layout of people)
    field_names: Mapping[str, str]
    field_types: Mapping[str, str]
    #: counts writes to people (a person read earlier is current while it is unchanged)
    people_writes: int

    # transactions and meta
    def transaction(self) -> Any: ...
    @property
    def in_transaction(self) -> bool: ...
    def end_action(self, next_run: int, recorded: bool, clock: str) -> tuple[int, int]: ...
    def run_counter(self) -> int: ...
    def get_meta(self, key: str, default: str | None = None) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def on_rollback(self, hook: Any) -> None: ...

    # people
    def ensure_fields(self, fields: Mapping[str, tuple[str, str]]) -> None: ...
    def add_person(self, values: Mapping[str, Any]) -> int: ...
    def find_person(self, email: str, include_deleted: bool = False) -> int | None: ...
    def person(self, pid: int, fields: Any = None) -> "Person | None": ...
    def people(self, where: str | None = None, params: Sequence[Any] = ()) -> list["Person"]: ...
    def iter_people(self, where: str | None = None, params: Sequence[Any] = (), chunk: int = 2000,
                    fields: Any = None) -> Iterator["Person"]: ...
    def count_where(self, where: str | None = None, params: Sequence[Any] = ()) -> int: ...
    def columns_for(self, keys: Any) -> Any: ...
    def set_field(self, pid: int, key: str, value: Any) -> None: ...
    def field_writer(self, key: str) -> Any: ...
    def delete_person(self, pid: int) -> None: ...
    def where(self, query: Query) -> tuple[str, list[Any]] | None: ...

    # memberships
    def list_add(self, list_key: str, pid: int, at: str) -> bool: ...
    def list_remove(self, list_key: str, pid: int) -> bool: ...
    def in_list(self, list_key: str, pid: int) -> bool: ...
    def list_members(self, list_key: str) -> list[int]: ...
    def membership(self, program: str, pid: int) -> "Membership | None": ...
    def set_status(self, program: str, pid: int, status: str | None, at: str) -> None: ...
    def set_member_data(self, program: str, pid: int, data: Mapping[str, Any]) -> None: ...

    # the activity log and the run history
    def add_activity(self, person: int | None, type_: str, campaign: str | None, run: int | None,
                     at: str, attributes: Mapping[str, Any], asset: str | None = None,
                     old: Any = None, new: Any = None) -> int: ...
    def add_activity_json(self, person: int | None, type_: str, campaign: str | None, run: int | None,
                          at: str, attributes: str, asset: str | None = None,
                          old: str | None = None, new: str | None = None) -> int: ...
    def activities(self, person: int | None = None, type_: str | None = None,
                   since: str | None = None, after_id: int = 0) -> list["Activity"]: ...
    def has_activity(self, pid: int, type_: str, asset: str, since: str | None = None) -> bool: ...
    def record_run(self, pid: int, campaign: str, at: str, run: int) -> None: ...
    def ran_since(self, pid: int, campaign: str, since: str | None) -> bool: ...
    def last_run(self, pid: int, campaign: str) -> str | None: ...
