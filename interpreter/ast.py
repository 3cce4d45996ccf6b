"""The syntax tree: frozen attrs nodes with source spans outside equality.

Every node is immutable; sequence fields are tuples; ``span`` is keyword-only
and excluded from equality, so ``parse(src) == expected`` reads cleanly and
side tables must be keyed by span, never by node (ARCHITECTURE.md, "The AST").
Field and token names compare case-insensitively with surrounding spaces
trimmed, as Marketo matches them (docs/language.md, "Names").

``children(node)`` yields the direct child nodes, ``walk(node)`` every node
below and including ``node`` in source order, ``dump(node)`` a JSON-able
structure with spans (``campaign parse --format json``).

Imports only ``source``.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, Iterator, Union, cast

import attrs
from attrs import field
from attrs import frozen as _frozen

from .source import Span, as_tuple

if TYPE_CHECKING:   # type checkers know attrs' own decorator (the attrs plugin); the wrapper adds no fields
    from attrs import frozen
else:
    def frozen(cls: type) -> type:
        return _frozen(cls, repr=False, eq=False)


def _span() -> Any:
    return field(default=None, kw_only=True, eq=False, repr=False)


def name_key(name: str) -> str:
    """How Marketo matches field and token names: case-insensitive, trimmed."""
    return " ".join(name.split()).casefold()


def _tuple() -> Any:
    return field(converter=as_tuple, default=())


class Node:
    """Base of every syntax node (attrs classes below).

    The nodes are ``frozen(repr=False, eq=False)`` and share this one
    ``__repr__``, ``__eq__`` and ``__hash__``: attrs would compile each per
    class, and start-up time is a product feature (``campaign check`` runs in
    editors on every save)."""

    __slots__ = ()
    span: Span | None

    def __repr__(self) -> str:
        args = ", ".join(f"{a.name}={getattr(self, a.name)!r}"
                         for a in attrs.fields(cast(Any, type(self))) if a.repr)
        return f"{type(self).__name__}({args})"

    # Equality and hashing likewise live here, once, rather than compiled
    # per class: the fields attrs marks for equality (``span`` is not), each
    # through its key (field and token names compare case-insensitively).

    def _eq_values(self) -> tuple:
        get = _EQ_VALUES.get(type(self))
        if get is None:
            get = _EQ_VALUES[type(self)] = _eq_getter(type(self))
        return get(self)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._eq_values() == other._eq_values()  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((self.__class__.__name__, self._eq_values()))


#: a node class -> the function giving its values for equality and hashing
_EQ_VALUES: dict[type, Callable[[Node], tuple]] = {}


def _eq_getter(cls: type) -> Callable[[Node], tuple]:
    """The fields attrs marks for equality, as one tuple: read by
    ``operator.attrgetter`` (no Python step per field) unless a field
    compares through a key (a name, case-insensitively)."""
    fields = tuple((a.name, a.eq_key) for a in attrs.fields(cast(Any, cls)) if a.eq)
    names = tuple(name for name, _key in fields)
    if any(key is not None for _name, key in fields):
        def keyed(node: Node) -> tuple:
            return tuple(key(getattr(node, name)) if key is not None else getattr(node, name)
                         for name, key in fields)
        return keyed
    if len(names) >= 2:
        return cast(Callable[[Node], tuple], attrgetter(*names))
    if names:
        one = attrgetter(names[0])
        return lambda node: (one(node),)
    return lambda node: ()


# --------------------------------------------------------------------------
# Values


@frozen
class String(Node):
    """A string literal without token references: ``"Scaling Ops"``."""

    value: str
    span: Span | None = _span()


@frozen
class TokenRef(Node):
    """``{{my.Score}}``, ``{{lead.First Name:default=friend}}``,
    ``{{system.date}}``: a token reference, standing alone or inside a string."""

    namespace: str  # my, lead, campaign, program, member, trigger, system
    name: str = field(eq=name_key)
    default: str | None = None
    span: Span | None = _span()

    @property
    def text(self) -> str:
        tail = f":default={self.default}" if self.default is not None else ""
        return "{{" + f"{self.namespace}.{self.name}{tail}" + "}}"


@frozen
class Template(Node):
    """A string with token references: ``"Hi {{lead.First Name}}"``; parts are
    plain strings and ``TokenRef`` nodes, in order."""

    parts: tuple[Union[str, TokenRef], ...] = field(converter=as_tuple)
    span: Span | None = _span()

    @property
    def tokens(self) -> tuple[TokenRef, ...]:
        return tuple(p for p in self.parts if isinstance(p, TokenRef))


@frozen
class Number(Node):
    """``42`` or ``3.5`` (int or Decimal)."""

    value: Union[int, Decimal]
    span: Span | None = _span()


@frozen
class Boolean(Node):
    """``true`` / ``false``."""

    value: bool
    span: Span | None = _span()


@frozen
class Null(Node):
    """``null``."""

    span: Span | None = _span()


@frozen
class Date(Node):
    """``2026-12-01``."""

    value: _dt.date
    span: Span | None = _span()


@frozen
class DateTime(Node):
    """``2026-12-01T09:30``."""

    value: _dt.datetime
    span: Span | None = _span()


DURATION_UNITS = ("minute", "hour", "day", "week", "month")


@frozen
class Duration(Node):
    """``30 minutes``, ``3 days``, ``1 month`` (a month is 30 days)."""

    amount: int
    unit: str  # singular: minute, hour, day, week, month
    span: Span | None = _span()

    @property
    def delta(self) -> _dt.timedelta:
        per = {"minute": 1, "hour": 60, "day": 1440, "week": 10080, "month": 43200}
        return _dt.timedelta(minutes=self.amount * per[self.unit])

    @property
    def text(self) -> str:
        return f"{self.amount} {self.unit}{'' if self.amount == 1 else 's'}"


@frozen
class ScoreChange(Node):
    """``+10`` (add), ``-5`` (subtract), ``=20`` / ``=-3`` (set)."""

    op: str  # "+", "-", "="
    amount: int
    span: Span | None = _span()

    @property
    def text(self) -> str:
        return f"{self.op}{self.amount}"


Value = Union[String, Template, TokenRef, Number, Boolean, Null, Date, DateTime,
              Duration, ScoreChange]

# --------------------------------------------------------------------------
# References


@frozen
class FieldRef(Node):
    """``lead.Country`` or ``lead."Lead Score"``: a person field."""

    name: str = field(eq=name_key)
    span: Span | None = _span()

    @property
    def key(self) -> str:
        return name_key(self.name)


@frozen
class Ref(Node):
    """A reference to a campaign or asset: ``"Program"."Name"`` or a bare
    ``"Name"`` (``program`` is None), resolved lexically by the checker."""

    program: str | None
    name: str
    span: Span | None = _span()

    @property
    def text(self) -> str:
        return self.name if self.program is None else f"{self.program}/{self.name}"


@frozen
class ThisCampaign(Node):
    """``this campaign`` in ``remove from flow this campaign``."""

    span: Span | None = _span()


# --------------------------------------------------------------------------
# Smart lists: filters and triggers


@frozen
class FieldFilter(Node):
    """``filter lead.Country is "US", "CA"``; ``lead."Lead Score" between 1 and 5``;
    ``lead."Last Webinar" in past 30 days``; ``lead.Unsubscribed is false``.
    ``op`` is canonical (``>=`` for ``at least``)."""

    field: FieldRef
    op: str
    values: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


@frozen
class ListFilter(Node):
    """``member of list "L"`` / ``not member of list "L"``."""

    list: Ref
    negated: bool = False
    span: Span | None = _span()


@frozen
class SmartListFilter(Node):
    """``member of smart list "S"``."""

    smart_list: Ref
    span: Span | None = _span()


@frozen
class ProgramFilter(Node):
    """``member of program "P"`` (optionally ``status is "S"``) /
    ``not member of program "P"``."""

    program: str
    negated: bool = False
    status: str | None = None
    span: Span | None = _span()


HISTORY_KINDS = ("filled out form", "visited web page", "was sent email",
                 "opened email", "clicked link in email", "campaign was run")


@frozen
class HistoryFilter(Node):
    """``filled out form "F"``, ``visited web page "W"``, ``was sent email "E"``,
    ``opened email "E"``, ``clicked link in email "E"``,
    ``campaign was run "P"."C"``, each with an optional ``in past N days``."""

    kind: str
    target: Ref
    within: Duration | None = None
    span: Span | None = _span()


Filter = Union[FieldFilter, ListFilter, SmartListFilter, ProgramFilter, HistoryFilter]

TRIGGER_KINDS = ("fills out form", "visits web page", "opens email",
                 "clicks link in email", "data value changes", "score is changed",
                 "added to list", "removed from list", "program status is changed",
                 "person is created", "campaign is requested")


@frozen
class Trigger(Node):
    """``trigger fills out form "Contact Us"``; ``trigger data value changes
    lead.Country to "US" from "CA"``; ``trigger program status is changed "P"
    to "S"``; ``trigger campaign is requested from api``."""

    kind: str
    target: Ref | None = None       # form, page, email, list, program
    field: FieldRef | None = None   # data value changes, score is changed
    to: Node | None = None
    from_: Node | None = None
    source: str | None = None       # campaign is requested: flow action, api, ...
    span: Span | None = _span()


@frozen
class SmartList(Node):
    """``smart list [any | logic "1 and (2 or 3)"] { filter ... trigger ... }``;
    a named asset when ``name`` is set (``smart list "Engaged" any { }``)."""

    name: str | None
    logic: str = "all"  # all, any, advanced
    expression: str | None = None
    members: tuple[Node, ...] = _tuple()
    span: Span | None = _span()
    #: the span of the ``logic "..."`` string (``logic.parse_logic`` places its nodes in it)
    expression_span: Span | None = _span()

    @property
    def filters(self) -> tuple[Node, ...]:
        return tuple(m for m in self.members if not isinstance(m, Trigger))

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        return tuple(m for m in self.members if isinstance(m, Trigger))


# --------------------------------------------------------------------------
# Steps


@frozen
class ChangeDataValue(Node):
    """``change data value lead.F to V`` (``to null`` clears)."""

    field: FieldRef
    value: Node
    span: Span | None = _span()


@frozen
class ChangeScore(Node):
    """``change score lead."Lead Score" by +10`` / ``by {{my.Score}}``."""

    field: FieldRef
    change: Node
    span: Span | None = _span()


@frozen
class SendEmail(Node):
    """``send email "E"``."""

    email: Ref
    span: Span | None = _span()


@frozen
class SendAlert(Node):
    """``send alert "E" to "owner@example.com", "ops@example.com"``."""

    email: Ref
    recipients: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


@frozen
class AddToList(Node):
    """``add to list "L"``."""

    list: Ref
    span: Span | None = _span()


@frozen
class RemoveFromList(Node):
    """``remove from list "L"``."""

    list: Ref
    span: Span | None = _span()


@frozen
class ChangeProgramStatus(Node):
    """``change program status "P" to "S"``."""

    program: str
    status: str
    span: Span | None = _span()


@frozen
class ChangeMemberData(Node):
    """``change program member data "P" "Registration Code" to V``."""

    program: str
    member_field: str = field(eq=name_key)
    value: Node = None   # type: ignore[assignment]  # the parser always sets it
    span: Span | None = _span()


@frozen
class InterestingMoment(Node):
    """``interesting moment web "Visited {{trigger.Web Page}}"``."""

    type: str  # web, email, milestone
    description: Node
    span: Span | None = _span()


@frozen
class ChangeLeadPartition(Node):
    """``change lead partition to "Partner Leads"`` (Marketo's Change Lead
    Partition: the person's ``Lead Partition`` field)."""

    partition: str
    span: Span | None = _span()


@frozen
class DeletePerson(Node):
    """``delete person``."""

    span: Span | None = _span()


@frozen
class Wait(Node):
    """``wait 3 days`` / ``wait until 2026-12-01T09:00`` /
    ``wait until {{lead.Renewal Date}}``."""

    duration: Duration | None = None
    until: Node | None = None
    span: Span | None = _span()


@frozen
class CallWebhook(Node):
    """``call webhook "W"``."""

    webhook: Ref
    span: Span | None = _span()


@frozen
class RequestCampaign(Node):
    """``request campaign "P"."C"``."""

    campaign: Ref
    span: Span | None = _span()


@frozen
class ExecuteCampaign(Node):
    """``execute campaign "P"."C"`` [``use parent token context``]."""

    campaign: Ref
    parent_context: bool = False
    span: Span | None = _span()


@frozen
class RemoveFromFlow(Node):
    """``remove from flow "P"."C", this campaign``."""

    campaigns: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


@frozen
class Branch(Node):
    """One line of a choice: ``if COND then PARAMS``, ``else if ...``,
    ``else PARAMS`` (condition None) or ``else do nothing`` (step None)."""

    condition: Node | None
    step: Node | None
    span: Span | None = _span()


@frozen
class Choice(Node):
    """A step written as a choice block::

        execute campaign {
            if lead."Lead Score" >= 100 then "Ops"."Route MQL"
            else do nothing
        }

    ``kind`` is the step phrase; ``head`` the (slot, value) pairs written
    before the block (``lead.Region`` in ``change data value lead.Region {``);
    each branch's ``step`` is the whole step, head values included."""

    kind: str
    head: tuple[tuple[str, Any], ...] = _tuple()
    branches: tuple[Branch, ...] = _tuple()
    span: Span | None = _span()


Step = Union[ChangeDataValue, ChangeScore, SendEmail, SendAlert, AddToList,
             RemoveFromList, ChangeProgramStatus, ChangeMemberData, InterestingMoment,
             DeletePerson, Wait, CallWebhook, RequestCampaign, ExecuteCampaign,
             RemoveFromFlow, Choice]

# --------------------------------------------------------------------------
# Declarations


@frozen
class Import(Node):
    """``import "shared/scoring.campaign"`` or ``import std "scoring"``."""

    path: str
    std: bool = False
    span: Span | None = _span()


@frozen
class FieldDecl(Node):
    """``"Behavior Score": score`` inside ``fields { }``."""

    name: str = field(eq=name_key)
    type: str = "text"
    span: Span | None = _span()


@frozen
class Fields(Node):
    """``fields { "Region": text ... }``: custom person fields."""

    fields: tuple[FieldDecl, ...] = _tuple()
    span: Span | None = _span()


@frozen
class TokenDecl(Node):
    """``my.Score = +10`` / ``my."Event Name" = "Scaling Ops"``."""

    name: str = field(eq=name_key)
    value: Node = None   # type: ignore[assignment]  # the parser always sets it
    span: Span | None = _span()


@frozen
class Tokens(Node):
    """``tokens { my.Score = +5 }``."""

    tokens: tuple[TokenDecl, ...] = _tuple()
    span: Span | None = _span()


@frozen
class Description(Node):
    """``description "..."``."""

    text: str
    span: Span | None = _span()


@frozen
class Statuses(Node):
    """``statuses "Invited", "Registered", "Attended"`` (channel order)."""

    names: tuple[str, ...] = _tuple()
    span: Span | None = _span()


@frozen
class MemberFields(Node):
    """``member fields "Registration Code", "Webinar URL"``."""

    names: tuple[str, ...] = _tuple()
    span: Span | None = _span()


@frozen
class StaticList(Node):
    """``list "Attendees"``."""

    name: str
    span: Span | None = _span()


@frozen
class Form(Node):
    """``form "Register"``."""

    name: str
    span: Span | None = _span()


@frozen
class Email(Node):
    """``email "Invite" { subject "..." from "..." body "..." }``."""

    name: str
    subject: Node | None = None
    sender: Node | None = None
    body: Node | None = None
    span: Span | None = _span()


@frozen
class ResponseMapping(Node):
    """``response "company.size" -> lead."Company Size"``."""

    path: str
    field: FieldRef
    span: Span | None = _span()


@frozen
class Webhook(Node):
    """``webhook "Enrich" { url "..." method post payload "..." response ... }``."""

    name: str
    url: Node | None = None
    method: str = "get"
    payload: Node | None = None
    responses: tuple[ResponseMapping, ...] = _tuple()
    span: Span | None = _span()


@frozen
class Clone(Node):
    """``clone "Program"."Campaign"`` (first line of a campaign body)."""

    source: Ref
    span: Span | None = _span()


@frozen
class Flow(Node):
    """``flow { step ... }``."""

    steps: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


@frozen
class Qualify(Node):
    """``qualify once`` | ``qualify every time`` | ``qualify once every 2 weeks``."""

    rule: str = "once"  # once, every time, once every
    period: Duration | None = None
    span: Span | None = _span()


@frozen
class Schedule(Node):
    """``schedule 2026-12-01T09:00`` or
    ``schedule every 1 week starting 2026-12-01T09:00``."""

    start: DateTime
    every: Duration | None = None
    span: Span | None = _span()


CAMPAIGN_KINDS = ("batch", "trigger", "executable")


@frozen
class Campaign(Node):
    """``campaign "Route Lead" executable { description ... smart list { }
    flow { } qualify every time }``; ``trigger inactive`` sets ``active``
    False."""

    name: str
    kind: str
    active: bool = True
    items: tuple[Node, ...] = _tuple()
    span: Span | None = _span()

    def _first(self, cls: type) -> Any:
        for item in self.items:
            if isinstance(item, cls):
                return item
        return None

    @property
    def description(self) -> Description | None:
        return self._first(Description)

    @property
    def clone(self) -> Clone | None:
        return self._first(Clone)

    @property
    def smart_list(self) -> SmartList | None:
        return self._first(SmartList)

    @property
    def flow(self) -> Flow | None:
        return self._first(Flow)

    @property
    def qualify(self) -> Qualify | None:
        return self._first(Qualify)

    @property
    def schedule(self) -> Schedule | None:
        return self._first(Schedule)


@frozen
class Program(Node):
    """``program "Webinar 2026" { description, statuses, member fields, tokens,
    list, smart list, form, email, webhook, campaign ... }``."""

    name: str
    items: tuple[Node, ...] = _tuple()
    span: Span | None = _span()

    def of(self, cls: type) -> tuple[Any, ...]:
        return tuple(i for i in self.items if isinstance(i, cls))


@frozen
class Folder(Node):
    """``folder "Operations" { tokens { } folder ... program ... }``."""

    name: str
    items: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


@frozen
class Workspace(Node):
    """``workspace "EMEA" { tokens { } folder ... program ... }``."""

    name: str
    items: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


# --------------------------------------------------------------------------
# Tests (§9)


@frozen
class Assign(Node):
    """``"Lead Score" = 0`` / ``Country = "US"`` / ``campaign = "P"."C"``."""

    name: str
    value: Node
    span: Span | None = _span()


@frozen
class PersonStmt(Node):
    """``person "ann@example.com" { "Lead Score" = 0, Country = "US" }``."""

    email: str
    fields: tuple[Assign, ...] = _tuple()
    span: Span | None = _span()


@frozen
class ForStmt(Node):
    """``for "bob@example.com" { add to list "Customers" }``."""

    email: str
    steps: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


@frozen
class RunStmt(Node):
    """``run "Webinar A"."Parent True" [with tokens { my.Score = +3 }]``."""

    campaign: Ref
    tokens: tuple[TokenDecl, ...] = _tuple()
    span: Span | None = _span()


@frozen
class RequestStmt(Node):
    """``request "Ops"."Route" for "ann@example.com" [with tokens { }]``."""

    campaign: Ref
    people: tuple[str, ...] = _tuple()
    tokens: tuple[TokenDecl, ...] = _tuple()
    span: Span | None = _span()


@frozen
class FireStmt(Node):
    """``fire fills out form "Contact Us" for "ann@example.com" { "Web Page" = "/lp" }``."""

    trigger: Trigger
    people: tuple[str, ...] = _tuple()
    attributes: tuple[Assign, ...] = _tuple()
    span: Span | None = _span()


@frozen
class AdvanceStmt(Node):
    """``advance 3 days``."""

    duration: Duration
    span: Span | None = _span()


@frozen
class ExpectField(Node):
    """``expect "ann@example.com"."Lead Score" == 10`` / ``... is empty``."""

    person: str
    field: str = field(eq=name_key)
    op: str = "=="
    value: Node | None = None
    span: Span | None = _span()


@frozen
class ExpectList(Node):
    """``expect "ann@example.com" in list "Attendees"`` / ``not in list``."""

    person: str
    list: Ref
    negated: bool = False
    span: Span | None = _span()


@frozen
class ExpectStatus(Node):
    """``expect "ann@example.com" status in "Webinar 2026" is "Attended"``."""

    person: str
    program: str
    status: str
    span: Span | None = _span()


@frozen
class ExpectActivity(Node):
    """``expect activity "Executed Campaign" for "ann" { qualified = true }``,
    ``expect 2 activity "Send Email" for "ann"``, ``expect no activity "X"``."""

    type: str
    person: str | None = None
    attributes: tuple[Assign, ...] = _tuple()
    count: int | None = None   # None: at least one; 0 with ``no``
    span: Span | None = _span()


@frozen
class Test(Node):
    """``test "name" [at 2026-06-01T09:00] { statements }``."""

    name: str
    at: DateTime | None = None
    statements: tuple[Node, ...] = _tuple()
    span: Span | None = _span()


@frozen
class Module(Node):
    """One parsed ``.campaign`` file: its declarations, in order."""

    file: str
    items: tuple[Node, ...] = _tuple()
    span: Span | None = _span()

    def of(self, cls: type) -> tuple[Any, ...]:
        return tuple(i for i in self.items if isinstance(i, cls))


# --------------------------------------------------------------------------
# Traversal


def _child_values(value: Any) -> Iterator[Node]:
    if isinstance(value, Node):
        yield value
    elif isinstance(value, tuple):
        for v in value:
            yield from _child_values(v)


def children(node: Node) -> Iterator[Node]:
    """Direct child nodes, in field order."""
    for a in attrs.fields(type(node)):  # type: ignore[arg-type]  # Node subclasses are attrs classes
        if a.name.endswith("span"):
            continue
        yield from _child_values(getattr(node, a.name))


def walk(node: Node) -> Iterator[Node]:
    """``node`` and every node below it, depth first, in field order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(children(n))))


def _dump_value(value: Any) -> Any:
    if isinstance(value, Node):
        return dump(value)
    if isinstance(value, tuple):
        return [_dump_value(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def dump(node: Node) -> dict[str, Any]:
    """A JSON-able dict: ``{"node": "ChangeScore", ..., "span": {...}}``."""
    out: dict[str, Any] = {"node": type(node).__name__}
    for a in attrs.fields(type(node)):  # type: ignore[arg-type]  # Node subclasses are attrs classes
        if a.name.endswith("span"):
            continue
        out[a.name.rstrip("_")] = _dump_value(getattr(node, a.name))
    span = node.span
    if span is not None:
        out["span"] = {"file": span.file, "start": span.start, "end": span.end,
                       "line": span.line, "column": span.column,
                       "end_line": span.end_line, "end_column": span.end_column}
    return out
