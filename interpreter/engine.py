"""The engine: actions, runs and their queue over a store and a virtual clock.

``Engine(program)`` takes a ``CheckedProgram`` (the checker's gate: a program
with errors never runs) and offers the *actions* of LANGUAGE.md §8 — add a
person, run a batch, request a campaign, fire an event, advance the clock,
run setup steps — each one SQLite transaction: an exception or an interrupt
anywhere inside leaves the store (and the clock) as before the action.

Within an action, work is a FIFO queue. A batch selects its people with its
smart list pushed down to the store (``Evaluator.pushdown``; what SQL
cannot say is tested in Python) and its qualification rule in the same
query, and runs them in id order, streamed a chunk at a time: a run changes
only its own person, so streaming selects exactly what a snapshot taken
first would, in a fixed amount of memory. Requested runs, and runs started
by trigger events that steps emit, are queued behind the run that caused
them and never nest (§6.6, §8); an event looks up the trigger campaigns on
its form, page, email, field, list or program in an index.
A run that reaches a ``wait`` is written to the store's queue with its resume
step and token context, so advancing the clock — in this process or a later
one — resumes it. ``advance`` runs everything that falls due up to the target
time, in time order: paused runs (a batch's people together, in id order)
and batch schedules.

Choices where the spec is silent (docs/language.md, "The engine"):

* A trigger is matched when its event happens (``to``/``from`` constraints
  included) and the campaign's filters are judged then, on the person as the
  event left them (§12.1); the run is queued, and its qualification rule is
  checked when it starts, right after the run that caused the event. A
  requested campaign likewise: filters at the request, the rule at start.
* ``{{trigger.Name}}`` of an API request is ``API``; ``Campaign is
  Requested`` is logged on the person when a request is received, ``Request
  Campaign`` on the requesting step.
* Runs per person per action (default 1,000) count top-level runs that
  started; past the limit an ``Error`` activity names the cycle and that
  person starts no more runs in this action. ``max_steps`` and ``cancel()``
  stop the whole action with ``RunError`` (rolled back).

Why one module of this size: it is the engine's actions and the one queue
they share (batches, requests, events, advancing the clock, runs and their
limits); the evaluator, the store and the data files are modules of their own.

Imports ``ast``, ``check`` (``CheckedProgram``), ``clock``, ``environment``,
``errors``, ``evaluate``, ``model``, ``store``, ``values``; never ``datafiles``,
``explain`` or ``runner`` (they import it).
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import re
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from attrs import define, field

from . import ast
from .check import CheckedProgram
from .clock import Clock, iso, parse_time
from .environment import Environment
from .errors import RunError, StoreError
from .evaluate import (
    EndRun,
    Evaluator,
    Frame,
    InvalidSmartList,
    Pause,
    Run,
    StepError,
    TokenContext,
    literal_text,
    trigger_tokens,
)
from .model import CampaignInfo, ProgramInfo
from .stdlib.triggers import TRIGGERS
from .storage import AllOf, NotQ, Query, RanCampaign
from .store import Activity, Membership, Person, Store
from .values import convert, dumps, format_value

MAX_API_PEOPLE = 100

_EMAIL = frozenset({"email address"})

#: a trigger phrase given to ``fire`` -> its kind (valid ones only)
_FIRE_KINDS: dict[str, str] = {}

#: the event kinds that log a form or email activity: (asset kind, activity type, attribute)
_ASSET_EVENTS = {"fills out form": ("form", "Fill Out Form", "form"),
                 "opens email": ("email", "Open Email", "email"),
                 "clicks link in email": ("email", "Click Email", "email")}

#: the kinds whose trigger index (the form, page, email or list) alone decides a match
_INDEX_DECIDES = frozenset({"fills out form", "opens email", "clicks link in email", "visits web page",
                            "added to list", "removed from list"})

#: trigger kind -> the event key whose value picks the triggers that can match (Engine._trigger_index)
_EVENT_KEY: dict[str, str] = {p.words: p.event_key for p in TRIGGERS if p.event_key is not None}
MAX_API_TOKENS = 100

Handler = Callable[[Any], tuple[int, Any]]


@define
class ActionResult:
    """What one action did: its activities (ids after ``first_activity`` up
    to ``last_activity``), the people whose run of the named campaign
    started, and every top-level run started."""

    action: str
    campaign: str | None = None
    first_activity: int = 0
    last_activity: int = 0
    entered: list[int] = field(factory=list)
    runs: int = 0
    errors: int = 0
    store: Store | None = field(default=None, repr=False)
    #: what a caller should tell the user about how it ran (``--engine duckdb --fallback``)
    note: str | None = None
    #: a run whose activities went elsewhere (``--people parquet: --out``): (campaign, type, count)
    #: in the store's ``activity_counts`` form, and the rows written per table
    counts: list[tuple[str | None, str, int]] | None = None
    written: dict[str, int] | None = None

    def activities(self, type_: str | None = None) -> list[Activity]:
        if self.store is None:
            return []
        return [a for a in self.store.activities(type_=type_, after_id=self.first_activity)
                if a.id <= self.last_activity]


def _later(t: _dt.datetime, delta: _dt.timedelta | ast.Duration) -> _dt.datetime:
    try:
        return t + (delta.delta if isinstance(delta, ast.Duration) else delta)
    except OverflowError:
        raise RunError(f"{iso(t)} plus {delta.text if isinstance(delta, ast.Duration) else delta} is "
                       f"past 9999-12-31, the last date the clock can hold") from None


@functools.lru_cache(maxsize=4096)   # an event stream names the same few assets again and again
def parse_qualified_ref(text: str) -> tuple[str | None, ast.Ref]:
    """``'"P"."C"'``, ``'"W"."P"."C"'`` (a program outside the Default
    workspace), ``"P/C"`` or a bare ``"C"`` -> (workspace or None, reference)."""
    s = text.strip()
    if s.startswith('"'):
        parts, i = [], 0
        while i < len(s):
            if s[i] != '"':
                raise RunError(f"cannot read the campaign {text!r}: write \"Program\".\"Campaign\" or Program/Campaign")
            j = i + 1
            buf = []
            while j < len(s) and s[j] != '"':
                if s[j] == "\\" and j + 1 < len(s):
                    j += 1
                buf.append(s[j])
                j += 1
            if j >= len(s):
                raise RunError(f"unclosed quote in {text!r}")
            parts.append("".join(buf))
            i = j + 1
            if i < len(s):
                if s[i] != ".":
                    raise RunError(f"cannot read the campaign {text!r}")
                i += 1
        if len(parts) == 1:
            return None, ast.Ref(None, parts[0])
        if len(parts) == 2:
            return None, ast.Ref(parts[0], parts[1])
        if len(parts) == 3:
            return parts[0], ast.Ref(parts[1], parts[2])
        raise RunError(f"cannot read the campaign {text!r}")
    if "/" in s:
        prog, _, name = s.rpartition("/")
        return None, ast.Ref(prog, name)
    return None, ast.Ref(None, s)


def parse_campaign_ref(text: str) -> ast.Ref:
    """``'"P"."C"'``, ``"P/C"`` or a bare ``"C"`` -> a reference (the
    workspace of a three-part name is dropped: ``parse_qualified_ref``)."""
    return parse_qualified_ref(text)[1]


_EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")   # as the data files read one (datafiles.py)


_MAX_ID = 2 ** 63


def _need_text(value: Any, what: str) -> str:
    """``value`` if it is text a store can hold, else ``RunError``."""
    if not isinstance(value, str):
        raise RunError(f"{what} is text, not {type(value).__name__}")
    _text_or_error(value, what)
    return value


def _text_or_error(text: str, what: str) -> None:
    """``RunError`` for text holding a lone surrogate (no store can keep it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "backslashreplace").decode("utf-8")[:80]
        raise RunError(f"{what} {shown!r} holds a lone surrogate, which is not Unicode text") from None


class Engine:
    """Runs a checked program against a store on a virtual clock. It has an
    ``Evaluator`` (``self.evaluator``) and is its host (``evaluate.Host``:
    ``request_campaign``, ``emit``, ``listens``, ``remove_from_flow``,
    ``webhook_handler``, ``tick``, ``step_compiled``, ``wait_reached``)."""

    #: people a batch reads (and whose memberships it reads ahead) at a time
    batch_chunk: int = 2000

    def __init__(self, program: CheckedProgram, store: Store | str | Path | None = None,
                 clock: Clock | None = None, *, max_runs_per_person: int = 1000,
                 max_steps: int | None = None, max_people: int | None = None,
                 max_runs_per_action: int | None = 1_000_000):
        if not isinstance(program, CheckedProgram):
            raise TypeError("the engine runs only a CheckedProgram: check the program first "
                            "(check.check(...).program, or campaignlang.compile_text / compile_paths)")
        if store is None:
            store = Store(":memory:")
        elif isinstance(store, (str, os.PathLike)):
            _text_or_error(str(store), "the store's path")   # a lone surrogate: no file can be named so
            store = Store(str(store))
        elif not isinstance(store, Store):   # Engine(prog, 5) once made a file named "5"
            raise RunError(f"store must be a Store, a file path or None, not {type(store).__name__}")
        if clock is not None and not isinstance(clock, Clock):
            raise RunError(f"clock must be a Clock or None, not {type(clock).__name__}")
        saved = store.get_meta("clock")
        if clock is None:
            clock = Clock(parse_time(saved) if saved else None)
        elif saved and parse_time(saved) > clock.now:
            raise RunError(f"the store's clock is at {saved}; a clock cannot start before it")
        self.model = program.model
        self.store = store
        self.clock = clock
        #: the evaluator of filters, steps and tokens; this engine is its ``Host``
        self.evaluator = Evaluator(program.model, store, clock, host=self, resolutions=program.resolutions)
        self.program = program
        for name, limit, least in (("max_runs_per_person", max_runs_per_person, 1), ("max_steps", max_steps, 0),
                                   ("max_people", max_people, 0), ("max_runs_per_action", max_runs_per_action, 1)):
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < least):
                raise RunError(f"{name} must be a whole number of at least {least} (or None), not {limit!r}")
        self.max_runs_per_person = max_runs_per_person
        self.max_steps = max_steps
        self.max_people = max_people
        #: runs one action may start in all (docs/security.md, "Limits"); past it an
        #: Error activity names the last chain and the action starts no more runs
        self.max_runs_per_action = max_runs_per_action
        self._runs_action = 0
        #: called as progress(done, total) while a batch runs (the CLI's progress bar)
        self.progress: Callable[[int, int], None] | None = None
        self._webhooks: dict[str, Handler] = {}
        self._cancel = threading.Event()
        self._work: deque = deque()
        self._run_stack: list[Run] = []
        self._in_action = False
        self._runs_per_person: dict[int, int] = {}
        self._stopped: set[int] = set()
        self._steps_action = 0
        self._next_run = 0
        self._clock_before = clock.now
        self._result: ActionResult | None = None
        self.campaigns: dict[str, CampaignInfo] = {c.qualname: c for c in self.model.campaigns}
        self._triggers: dict[str, list[tuple[CampaignInfo, ast.Trigger]]] = {}
        self._trigger_indexes: dict[str, dict[Any, list[tuple[CampaignInfo, ast.Trigger]]]] = {}
        self._emit_plans: dict[tuple, tuple[tuple[CampaignInfo, TokenContext], ...]] = {}
        #: (event kind, ids of the form or email Ref and of the program it is named in)
        #: -> (activity type, attribute, asset key, Ref, the activity's attributes as JSON)
        self._event_assets: dict[tuple[str, int, int], tuple[str, str, str, ast.Ref, str]] = {}
        #: name text -> ``_split_ref`` of it (a stream of events names a few assets)
        self._split_refs: dict[str, tuple[ast.Ref, ProgramInfo | None]] = {}
        self._columns: dict[Any, tuple[Any, Any]] = {}
        self._token_keys: set[str] | None = None
        for c in self.model.campaigns:
            if c.kind == "trigger" and c.active and c.smart_list is not None:
                for t in c.smart_list.triggers:
                    self._triggers.setdefault(t.kind, []).append((c, t))
        fields = {}
        for key, (name, type_) in self.model.fields.items():
            canon = ast.name_key(name)
            fields[canon] = (name, type_)
        store.ensure_fields(fields)
        store.on_rollback(self._after_rollback)
        if saved is None or parse_time(saved) != clock.now:
            with store.transaction():
                store.set_meta("clock", iso(clock.now))

    # -- configuration --------------------------------------------------------------

    @property
    def now(self) -> _dt.datetime:
        return self.clock.now

    def register_webhook(self, name: str, handler: Handler) -> None:
        """Answer ``call webhook`` of the webhook ``name`` (``"Enrich"``,
        ``'"P"."Enrich"'``, ``"P/Enrich"`` or ``'"W"."P"."Enrich"'``) with ``handler(request) ->
        (status, json_body)``; without one, calls are only recorded."""
        if not isinstance(name, str) or not callable(handler):
            raise RunError(f"register_webhook takes a webhook name and a callable handler, not "
                           f"{type(name).__name__} and {type(handler).__name__}")
        workspace, ref = parse_qualified_ref(name)
        if workspace is None:
            res = self.model.resolve("webhook", ref, None)
            if res.found is None and not res.ambiguous:
                hooks = sorted({h for p in self.model.programs for h in p.webhooks})
                raise RunError(f"no webhook {name!r} in the program; the webhooks are: "
                               + (", ".join(hooks) or "none"))
        key = f'"{ref.program}"."{ref.name}"' if ref.program else ref.name
        if workspace is not None:
            key = f'"{workspace}".{key}'
        self._webhooks[key] = handler

    def cancel(self) -> None:
        """Stop the running action (from another thread): it raises
        ``RunError`` and rolls back."""
        self._cancel.set()
        self._step_limit = -1   # the next step's check (tick) sees it

    # -- lookups -----------------------------------------------------------------

    def campaign(self, ref: CampaignInfo | ast.Ref | str) -> CampaignInfo:
        if isinstance(ref, CampaignInfo):
            return ref
        if not isinstance(ref, ast.Ref):
            _need_text(ref, "a campaign's name")
        here = None
        if isinstance(ref, str):
            text = ref.strip()
            ref, here = self._split_ref(text)
            if here is None and not text.startswith('"') and "/" in text:
                # names may hold "/": take the first split that names a campaign
                for i, ch in enumerate(text):
                    if ch == "/":
                        cand = ast.Ref(text[:i], text[i + 1:])
                        if self.model.resolve("campaign", cand, None).found is not None:
                            ref = cand
                            break
                else:
                    if self.model.resolve("campaign", ast.Ref(None, text), None).found is not None:
                        ref = ast.Ref(None, text)
        res = self.model.resolve("campaign", ref, here)
        if res.found is None and res.ambiguous and ref.program is not None and here is None:
            # a program name several workspaces use: the one that has the campaign
            hits = [found for found in (self.model.resolve("campaign", ast.Ref(None, ref.name), p).found
                                        for p in res.ambiguous if isinstance(p, ProgramInfo))
                    if found is not None and found.program.name == ref.program]
            if len(hits) == 1:
                return hits[0]
        if res.found is None:
            what = f'"{ref.program}"."{ref.name}"' if ref.program else f'"{ref.name}"'
            if here is not None:
                what = f'{here.quoted}."{ref.name}"'
            if res.ambiguous:
                spaces = {getattr(c, "workspace", None) for c in res.ambiguous}
                form = ('\"Workspace\".\"Program\".\"Campaign\"' if len(spaces) > 1 else
                        '\"Program\".\"Campaign\"')
                raise RunError(f"campaign {what} is ambiguous: write {form}")
            hint = f"; did you mean {res.suggestion}?" if res.suggestion else ""
            raise RunError(f"no campaign {what}{hint}")
        return res.found

    def _split_ref(self, text: str) -> tuple[ast.Ref, ProgramInfo | None]:
        """A name given to the API or the command line as (reference, the
        program to resolve it in): ``"W"."P"."N"`` and ``W/P/N`` (W a
        workspace with a program P) name N in program P of workspace W;
        ``"P"."N"``, ``P/N`` and ``N`` resolve as the language resolves them."""
        hit = self._split_refs.get(text)
        if hit is None:
            if len(self._split_refs) >= 4096:
                self._split_refs.clear()
            hit = self._split_refs[text] = self._split_ref_of(text)
        return hit

    def _split_ref_of(self, text: str) -> tuple[ast.Ref, ProgramInfo | None]:
        workspace, ref = parse_qualified_ref(text)
        s = text.strip()
        if workspace is None and not s.startswith('"') and s.count("/") >= 2:
            ws, _, rest = s.partition("/")
            w = self.model.workspaces.get(ws)
            if w is not None:
                cand = parse_campaign_ref(rest)
                if cand.program in w.programs:
                    workspace, ref = ws, cand
        if workspace is None:
            return ref, None
        return self._in_workspace(workspace, ref)

    def _in_workspace(self, workspace: str, ref: ast.Ref) -> tuple[ast.Ref, ProgramInfo]:
        """``"W"."P"."N"``: (``"N"``, program P of workspace W), to resolve
        N inside it."""
        ws = self.model.workspaces.get(workspace)
        prog = ws.programs.get(ref.program) if ws is not None and ref.program is not None else None
        if prog is None:
            raise RunError(f'no program "{ref.program}" in workspace "{workspace}"' if ws is not None
                           else f'no workspace "{workspace}"')
        return ast.Ref(None, ref.name), prog

    def person_id(self, who: int | str | Person) -> int:
        if isinstance(who, Person):
            return who.id
        if isinstance(who, int) and not isinstance(who, bool):
            if not 0 < who < 2 ** 63:   # SQLite's ids; a larger int cannot be bound
                raise RunError(f"no person with the id {who}")
            return who
        if not isinstance(who, str):
            raise RunError(f"a person is named by an email address or an id, not {type(who).__name__}")
        _text_or_error(who, "the email address")
        pid = self.store.find_person(who)
        if pid is None:
            raise RunError(f"no person with the email address {who}")
        return pid

    def person(self, who: int | str) -> Person | None:
        try:
            return self.store.person(self.person_id(who))
        except RunError:
            return None

    def people(self) -> list[Person]:
        return self.store.people()

    def get(self, who: int | str, field_name: str) -> Any:
        """A person's field value (typed), by field name."""
        _need_text(field_name, "a field name")
        p = self.person(who)
        if p is None:
            raise RunError(f"no person {who}")
        found = self.model.field(field_name)
        if found is None:
            raise RunError(f"no field '{field_name}'")
        return p.get(ast.name_key(found[0]))

    def list_key(self, ref: ast.Ref | str) -> str:
        here = None
        if not isinstance(ref, ast.Ref):
            _need_text(ref, "a list's name")
        if isinstance(ref, str):
            ref, here = self._split_ref(ref)
        try:
            return self.evaluator.asset_key("list", ref, here)
        except InvalidSmartList as exc:
            raise RunError(str(exc)) from None

    def in_list(self, who: int | str, ref: ast.Ref | str) -> bool:
        return self.store.in_list(self.list_key(ref), self.person_id(who))

    def list_members(self, ref: ast.Ref | str) -> list[str]:
        return [self.store.person(pid).email for pid in self.store.list_members(self.list_key(ref))]

    def membership(self, who: int | str, program: str) -> Membership | None:
        _need_text(program, "a program's name")
        try:
            prog = self.evaluator.find_program(program, None)
        except InvalidSmartList as exc:
            raise RunError(str(exc)) from None
        return self.store.membership(self.evaluator.program_key(prog), self.person_id(who))

    def activities(self, who: int | str | None = None, type_: str | None = None) -> list[Activity]:
        """The activity log, of one person (deleted people included) or all."""
        pid = None
        if type_ is not None:
            _need_text(type_, "an activity type")
        if isinstance(who, str):
            _text_or_error(who, "the email address")
            pid = self.store.find_person(who, include_deleted=True)
            if pid is None:
                raise RunError(f"no person with the email address {who}")
        elif who is not None:
            pid = self.person_id(who)
        return self.store.activities(person=pid, type_=type_)

    def activity_log_jsonl(self) -> str:
        return self.store.activity_log_jsonl()

    # -- actions -------------------------------------------------------------------

    def _action(self, name: str, campaign: str | None = None) -> "_Action":
        """``with self._action("fire") as result:`` one action, one transaction (§8)."""
        return _Action(self, name, campaign)

    def _after_rollback(self) -> None:
        self.clock._reset(self._clock_before)
        self._work.clear()
        self._run_stack.clear()

    #: whether this action gave out a run id no ``runs`` row records (``_new_run_id``)
    _unrecorded_runs = False

    def _new_run_id(self) -> int:
        """A run id for steps outside a campaign (``run_steps``): the run
        history does not record it, so the action writes the counter."""
        self._unrecorded_runs = True
        n = self._next_run
        self._next_run += 1
        return n

    #: steps an action may run before ``tick`` looks closer (max_steps; -1 once cancelled)
    _step_limit: int = sys.maxsize

    def tick(self) -> None:
        self._steps_action += 1
        if self._steps_action > self._step_limit:   # one comparison per step on the hot path
            self._tick_check()

    def _tick_check(self) -> None:
        if self._cancel.is_set():
            raise RunError("the action was cancelled; nothing it did was kept")
        if self.max_steps is not None and self._steps_action > self.max_steps:
            raise RunError(f"the action ran more than {self.max_steps} steps; nothing it did was kept")

    def _fields_from(self, fields: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in (fields or {}).items():
            found = self.model.field(name)
            if found is None:
                raise RunError(f"no field '{name}'; the fields are: " + ", ".join(self.model.field_names()))
            canon, type_ = found
            if isinstance(value, ast.Node):
                value = None if isinstance(value, ast.Null) else (
                    value.value if isinstance(value, (ast.String, ast.Number, ast.Boolean, ast.Date, ast.DateTime))
                    else literal_text(value))
            try:
                out[ast.name_key(canon)] = convert(type_, value)
            except ValueError as exc:
                raise RunError(f"field '{canon}': {exc}") from None
        return out

    def add_person(self, email: str, fields: Mapping[str, Any] | None = None) -> int:
        """Create a person (a ``New Person`` activity; ``person is created``
        fires), or update the fields of the person with that address."""
        with self._action("add person"):
            return self._upsert(email, fields)[0]

    def import_people(self, records: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Create or update many people in one action: (created, updated)."""
        created = updated = 0
        progress = self.progress   # the CLI's progress bar: (done, total)
        total = len(records) if isinstance(records, Sequence) else 0
        with self._action("import people"):
            for n, rec in enumerate(records):
                if progress is not None and n % 500 == 0:
                    progress(n, total)
                rec = dict(rec)
                email = None
                for k in list(rec):
                    if ast.name_key(k) in ("email", "email address"):
                        email = rec.pop(k)
                if not email:
                    raise RunError("a person needs an Email Address")
                new = self._upsert(str(email), rec)[1]
                created += new
                updated += not new
        if progress is not None:
            progress(total, total)
        return created, updated

    def _upsert(self, email: str, fields: Mapping[str, Any] | None) -> tuple[int, bool]:
        if not isinstance(email, str):
            raise RunError(f"an email address is text, not {type(email).__name__}")
        email = email.strip()
        if not email:
            raise RunError("a person needs an email address")
        _text_or_error(email, "the email address")
        if not _EMAIL_ADDRESS.match(email):
            raise RunError(f"{email[:80]!r} is not an email address such as ann@example.com")
        if fields is not None and not isinstance(fields, Mapping):
            raise RunError(f"fields are a mapping of field names to values, not {type(fields).__name__}")
        for name, value in (fields or {}).items():
            if not isinstance(name, str):
                raise RunError(f"a field name is text, not {type(name).__name__}")
            _text_or_error(name, "a field name")
            if isinstance(value, str):
                _text_or_error(value, f"the value of {name!r}")
        values = self._fields_from(fields)
        values.pop("email address", None)
        pid = self.store.find_person(email)
        if pid is not None:
            person = self.store.person(pid)
            for key, value in values.items():
                try:
                    self.evaluator._set_field(None, person, key, self.store.field_names.get(key, key), value,
                                    reason="update")
                except StepError as exc:
                    raise RunError(f"{email}: {exc}") from None
            return pid, False
        now = self.clock.now
        values["email address"] = email
        values.setdefault("created at", now)
        values.setdefault("updated at", now)
        try:
            pid = self.store.add_person(values)
        except StoreError as exc:
            raise RunError(str(exc)) from None
        person = self.store.person(pid)
        self.store.add_activity(pid, "New Person", None, None, iso(now), {"email": email})
        self.emit(person, "person is created")
        return pid, True

    def _token_values(self, campaign: CampaignInfo,
                      tokens: Mapping[str, Any] | Iterable | None) -> dict[str, str] | None:
        if not tokens:
            return None
        if not isinstance(tokens, Mapping):
            tokens = {t.name: t.value for t in tokens}  # type: ignore[union-attr]  # TokenDecl nodes (`with tokens`)
        if len(tokens) > MAX_API_TOKENS:
            raise RunError(f"at most {MAX_API_TOKENS} tokens per call; {len(tokens)} were given")
        env = campaign.env()
        out: dict[str, str] = {}
        for name, value in tokens.items():
            bare = name[3:] if name.lower().startswith("my.") else name
            if env.lookup(bare) is None:
                visible = ", ".join(f"my.{n}" for n in env.names()) or "none"
                raise RunError(f"{campaign.qualname} cannot see a token my.{bare} "
                               f"(tokens in its scope: {visible})")
            found = env.lookup(bare)
            assert found is not None
            out[found[0].name] = literal_text(value) if isinstance(value, (ast.Node, str)) else format_value(value)
        return out

    def batch_call(self, campaign: CampaignInfo | ast.Ref | str,
                   tokens: Mapping[str, Any] | None = None) -> tuple[CampaignInfo, dict[str, str] | None]:
        """What ``run_batch`` would run, checked without running it: the batch
        campaign and its API-passed tokens; a ``RunError`` for anything else
        (a command checks its arguments before it writes anything)."""
        c = self.campaign(campaign)
        if c.kind != "batch":
            raise RunError(f"{c.qualname} is a{'n' if c.kind[0] == 'e' else ''} {c.kind} campaign; "
                           f"only a batch campaign can be run (use request or fire for trigger campaigns)")
        return c, self._token_values(c, tokens)

    def run_batch(self, campaign: CampaignInfo | ast.Ref | str,
                  tokens: Mapping[str, Any] | None = None, *, engine: str = "python",
                  fallback: bool = False, backend: Any = None) -> ActionResult:
        """Run a batch campaign now: its smart list evaluated at this moment,
        its people in id order (``tokens``: API-passed My Tokens).
        ``engine="duckdb"`` (or ``"spark"``, with ``backend``) runs it set-based
        (``campaignlang.sets``: the same store state and activity log); what that
        engine cannot do is a ``RunError`` before anything runs, or with
        ``fallback`` a per-person run whose ``note`` says so."""
        c, api = self.batch_call(campaign, tokens)
        if engine != "python":
            if engine not in ("duckdb", "spark"):
                raise RunError(f"unknown engine {engine!r} (choose python, duckdb or spark)")
            try:
                from .sets.run import run_batch as run_set_based  # lazy: the 'sets' extra
            except ImportError as exc:
                raise RunError(f"--engine {engine} needs the 'sets' extra ({exc.name or exc} is not "
                               f"installed): pip install 'campaignlang[sets]'") from None
            return run_set_based(self, c, api, engine, fallback, backend)
        with self._action("run", c.qualname) as result:
            self._batch(c, api, result)
        return result

    def schedule_batch(self, campaign: CampaignInfo | ast.Ref | str, at: _dt.datetime | str | None = None,
                       tokens: Mapping[str, Any] | None = None) -> ActionResult:
        """Schedule one run of a batch campaign, as Marketo's Schedule
        Campaign API does: at ``at`` on the virtual clock (run now when it
        is None or not later than now), with API-passed ``tokens`` for that
        run only. A later run waits in the store's queue, so advancing the
        clock (in this process or a later one) runs it as it falls due."""
        c = self.campaign(campaign)
        if c.kind != "batch":
            raise RunError(f"{c.qualname} is a{'n' if c.kind[0] == 'e' else ''} {c.kind} campaign; "
                           f"only a batch campaign can be scheduled")
        api = self._token_values(c, tokens)
        when = self._parse_when(at) if isinstance(at, str) else at
        with self._action("schedule", c.qualname) as result:
            if when is None or when <= self.clock.now:
                self._batch(c, api, result)
            else:
                # person 0 is no one: the queue item is the whole batch (_resume)
                self.store.enqueue("batch", 0, c.qualname, iso(when), 0, None, {"api": api})
        return result

    def _batch_selection(self, c: CampaignInfo) -> tuple[Query | None, Callable[[Person], bool] | None] | None:
        """How to find who the batch reaches now: (the store query, the
        predicate of the filters left to Python or None); None when nobody
        (no filters, or an invalid smart list). ALL logic narrows in the
        store and tests the rest in Python; ANY and advanced logic with a
        filter the store cannot express stay in Python."""
        sl = c.smart_list
        if sl is None or not sl.filters:
            return None   # a batch without filters runs for nobody (CL502)
        try:
            query, rest = self.evaluator.pushdown(sl, c.program)
            if query is not None and self.store.where(query) is None:
                # nested past what the store's query language takes: Python
                return None, self.evaluator.smart_list_pred(sl, c.program)
            if rest and sl.logic == "all":
                return query, self.evaluator.all_of(rest, c.program)
            if rest:
                return None, self.evaluator.smart_list_pred(sl, c.program)
            return query, None
        except InvalidSmartList:
            return None

    def _said(self, query: Query | None) -> tuple[str | None, list[Any]]:
        """A query in the store's own terms (None: everyone)."""
        if query is None:
            return None, []
        said = self.store.where(query)
        assert said is not None, "pushdown keeps only what the store can say"
        return said

    def _iter_batch_people(self, c: CampaignInfo, where: str | None, params: Sequence[Any],
                           pred: Callable[[Person], bool] | None) -> Iterator[Person]:
        people = self.store.iter_people(where, params, self.batch_chunk, fields=self._campaign_columns(c))
        if pred is None:
            return people
        return (p for p in people if pred(p))

    def _batch_people(self, c: CampaignInfo) -> list[Person]:
        """Who the batch reaches now: filters on columns pushed down to SQL,
        the rest evaluated per person; an invalid smart list reaches nobody."""
        sel = self._batch_selection(c)
        if sel is None:
            return []
        return list(self._iter_batch_people(c, *self._said(sel[0]), sel[1]))

    def _batch(self, c: CampaignInfo, api: dict[str, str] | None, result: ActionResult) -> None:
        """Run a batch: its people streamed in id order (a chunk at a time,
        ``Store.iter_people``), its qualification rule pushed into the same
        query. Streaming sees what a snapshot would: a run changes only its
        own person, and later people are read after earlier ones ran."""
        sel = self._batch_selection(c)
        if sel is None:
            return
        query, pred = sel
        where, params = self._said(query)
        progress = self.progress
        total = 0
        if self.max_people is not None or progress is not None:
            if pred is None:
                total = self.store.count_where(where, params)
            else:
                total = sum(1 for _ in self._iter_batch_people(c, where, params, pred))
            if self.max_people is not None and total > self.max_people:
                raise RunError(f"{c.qualname} reaches {total} people, more than the limit of {self.max_people}")
        rule = self._rule_query(c)
        if rule is not None:   # the qualification rule in the same query
            combined = self.store.where(rule if query is None else AllOf((query, rule)))
            if combined is not None:
                where, params = combined
            else:   # past what the store's query takes: the rule in Python
                allows, inner = self.evaluator.rule_allows, pred
                pred = (lambda p: allows(c, p)) if inner is None else (lambda p: inner(p) and allows(c, p))
        ctx = self.evaluator.own_context(c, api)
        start = self._start
        n = 0
        for person in self._iter_batch_people(c, where, params, pred):
            start(c, person, ctx, (), "batch", check_smart_list=False, check_rule=False)
            n += 1
            if progress is not None and n % 500 == 0:
                progress(n, total)
        if progress is not None:
            progress(total, total)

    def _campaign_columns(self, c: CampaignInfo) -> Any:
        """The columns to read for a run of ``c`` (``Store.columns_for``):
        the fields its smart list, its flow, the executables it runs, its
        emails and webhooks and any My Token name. A field missed here is
        read when asked for (``Person.get``), so this list is only speed."""
        hit = self._columns.get(c.id)
        if hit is not None and hit[0] is c:
            return hit[1]
        keys = {"email address"} | self._token_fields()
        seen: set[int] = set()
        todo: list[tuple[Any, ProgramInfo | None]] = [(c.smart_list, c.program), (c.flow, c.program)]
        while todo:
            root, here = todo.pop()
            if root is None or id(root) in seen:
                continue
            seen.add(id(root))
            for n in ast.walk(root):
                try:
                    if isinstance(n, ast.FieldRef):
                        keys.add(self.evaluator.field_spec(n.name)[0])
                    elif isinstance(n, ast.TokenRef) and n.namespace == "lead":
                        keys.add(self.evaluator.field_spec(n.name)[0])
                    elif isinstance(n, ast.ExecuteCampaign):
                        child = self.evaluator.resolve("campaign", n.campaign, here)
                        todo += [(child.smart_list, child.program), (child.flow, child.program)]
                    elif isinstance(n, ast.SmartListFilter):
                        target = self.evaluator.resolve("smart list", n.smart_list, here)
                        todo.append((target, self.model.program_of_asset("smart list", target)))
                    elif isinstance(n, (ast.SendEmail, ast.SendAlert)):
                        todo.append((self.evaluator.resolve("email", n.email, here), here))
                    elif isinstance(n, ast.CallWebhook):
                        todo.append((self.evaluator.resolve("webhook", n.webhook, here), here))
                except InvalidSmartList:
                    pass
        columns = self._columns_of(keys)
        self._columns[c.id] = (c, columns)
        return columns

    def _columns_of(self, keys: set[str]) -> Any:
        key = frozenset(keys)
        hit = self._columns.get(key)
        if hit is None:
            hit = self._columns[key] = (None, self.store.columns_for(keys))
        return hit[1]

    def _token_fields(self) -> set[str]:
        """Fields named by lead tokens inside My Token values (any scope)."""
        if self._token_keys is None:
            keys: set[str] = set()
            layers = [ws.layer() for ws in self.model.workspaces.values()]
            for prog in self.model.programs:
                layers += prog.layers()
            for layer in layers:
                for b in layer.bindings.values():
                    if isinstance(b.value, ast.Node):
                        for n in ast.walk(b.value):
                            if isinstance(n, ast.TokenRef) and n.namespace == "lead":
                                try:
                                    keys.add(self.evaluator.field_spec(n.name)[0])
                                except InvalidSmartList:
                                    pass
            self._token_keys = keys
        return self._token_keys

    def _rule_query(self, c: CampaignInfo) -> Query | None:
        """``rule_allows`` as a store query (None: every time)."""
        rule = c.rule
        if rule.rule == "every time":
            return None
        if rule.rule == "once every" and rule.period is not None:
            since = self.clock.now - rule.period.delta + _dt.timedelta(seconds=1)
            return NotQ(RanCampaign(c.qualname, iso(since)))
        return NotQ(RanCampaign(c.qualname))

    def request(self, campaign: CampaignInfo | ast.Ref | str, people: Sequence[int | str],
                tokens: Mapping[str, Any] | None = None, source: str = "api") -> ActionResult:
        """Request a trigger campaign for people, as the API does (§6.6, §7):
        at most 100 people and 100 tokens; never an executable."""
        c, api = self.request_call(campaign, tokens, source)
        people = list(people)
        if len(people) > MAX_API_PEOPLE:
            raise RunError(f"at most {MAX_API_PEOPLE} people per request; {len(people)} were given")
        pids = [self.person_id(p) for p in people]
        with self._action("request", c.qualname) as result:
            for pid in pids:
                person = self.store.person(pid)
                self._queue_request(person, c, source, "API", api, ())
        return result

    def request_call(self, campaign: CampaignInfo | ast.Ref | str, tokens: Mapping[str, Any] | None = None,
                     source: str = "api") -> tuple[CampaignInfo, dict[str, str] | None]:
        """What ``request`` would start, checked without starting it (as
        ``batch_call``): the requestable campaign and its API-passed tokens."""
        c = self.campaign(campaign)
        if c.kind == "executable":
            raise RunError(f"{c.qualname} is an executable campaign: it runs only from "
                           f"execute campaign, never from the API or the command line")
        if c.kind != "trigger":
            raise RunError(f"{c.qualname} is a batch campaign: use run, not request")
        if not c.active:
            raise RunError(f"{c.qualname} is inactive")
        if not self._admits(c, source):
            raise RunError(f"{c.qualname} has no 'campaign is requested' trigger admitting {source} "
                           f"(add: trigger campaign is requested from {source})")
        return c, self._token_values(c, tokens)

    @staticmethod
    def _admits(c: CampaignInfo, source: str) -> bool:
        if c.smart_list is None:
            return False
        for t in c.smart_list.triggers:
            if t.kind == "campaign is requested":
                allowed = t.source or "flow action"
                if allowed == "any" or allowed == source:
                    return True
        return False

    def fire(self, trigger: str | ast.Trigger, people: Sequence[int | str], target: Any = None,
             attributes: Mapping[str, Any] | None = None, *, field_name: str | None = None,
             to: Any = None, from_: Any = None) -> ActionResult:
        """An event for each person (``fills out form "F"``, ``visits web page
        "W"``, ``data value changes lead.F to V``...): trigger campaigns whose
        trigger matches start a run for each person who passes their filters."""
        kind = _FIRE_KINDS.get(trigger) if trigger.__class__ is str else None
        if kind is None:
            if isinstance(trigger, ast.Trigger):
                kind = trigger.kind
                target = trigger.target if target is None else target
                field_name = trigger.field.name if trigger.field is not None else field_name
                to = trigger.to if trigger.to is not None else to
                from_ = trigger.from_ if trigger.from_ is not None else from_
            else:
                kind = " ".join(_need_text(trigger, "a trigger").split())
            if kind not in ast.TRIGGER_KINDS:
                raise RunError(f"unknown trigger '{kind}'; triggers: " + ", ".join(ast.TRIGGER_KINDS))
            if kind == "campaign is requested":
                raise RunError("a campaign is requested through request, not fire")
            if trigger.__class__ is str and len(_FIRE_KINDS) < 1024:
                _FIRE_KINDS[trigger] = kind
        here = None
        if target.__class__ is str:
            if not target.isascii():   # only non-ASCII text can hold a lone surrogate
                _text_or_error(target, "the event's target")
            if kind == "visits web page":
                target = ast.Ref(None, target)
            else:
                target, here = self._split_ref(target)
        if attributes is not None and not isinstance(attributes, Mapping):
            raise RunError(f"attributes are a mapping of names to values, not {type(attributes).__name__}")
        attrs = ({k: (literal_text(v) if isinstance(v, ast.Node) else v) for k, v in attributes.items()}
                 if attributes else {})
        for k, v in attrs.items():
            _need_text(k, "an attribute name")
            if isinstance(v, str):
                _text_or_error(v, f"the attribute {k!r}")
        if people.__class__ is not list and (isinstance(people, (str, bytes)) or not isinstance(people, Sequence)):
            raise RunError(f"people are a list of email addresses or ids, not {type(people).__name__}")
        pids = [p if p.__class__ is int and 0 < p < _MAX_ID else self.person_id(p) for p in people]
        # the person is read with the fields of every campaign listening for this
        # event, and handed to the runs it starts while nothing has written to it
        columns = self._fire_columns(kind)
        with _Action(self, "fire", None) as result:
            for pid in pids:
                person = self.store.person(pid, columns)
                # the event's attributes reach the trigger tokens of the runs it starts,
                # also when a list, status or field change emits the event (emit)
                self._event_attributes = attrs
                try:
                    self._fire_one(kind, person, target, attrs, field_name, to, from_, here)
                finally:
                    self._event_attributes = None
        return result

    def _fire_columns(self, kind: str) -> Any:
        """The columns ``fire`` reads: the email address and the fields of
        every trigger campaign listening for ``kind`` (``_campaign_columns``)."""
        hit = self._columns.get(("fire", kind))
        if hit is None:
            keys = set(_EMAIL)
            for c, _trig in self._triggers.get(kind, ()):
                keys.update(self._campaign_columns(c)[1])
            hit = self._columns[("fire", kind)] = (None, self._columns_of(keys))
        return hit[1]

    def _need(self, target: Any, kind: str) -> ast.Ref:
        if target is None:
            raise RunError(f"'{kind}' needs a name")
        return target

    def _fire_one(self, kind: str, person: Person, target: ast.Ref | None, attrs: dict[str, Any],
                  field_name: str | None, to: Any, from_: Any, here: ProgramInfo | None = None) -> None:
        now = self.clock.iso
        if kind in ("fills out form", "opens email", "clicks link in email"):
            hit = self._event_assets.get((kind, id(target), id(here)))   # by identity: hashing a Ref costs more
            if hit is None or hit[3] is not target:
                asset_kind, type_, attr = _ASSET_EVENTS[kind]
                ref = self._need(target, kind)
                try:
                    key = self.evaluator.asset_key(asset_kind, ref, here)
                except InvalidSmartList as exc:
                    raise RunError(str(exc)) from None
                if len(self._event_assets) >= 4096:
                    self._event_assets.clear()
                hit = self._event_assets[(kind, id(target), id(here))] = (type_, attr, key, ref,
                                                                          dumps({attr: key}))
            type_, attr, key, ref, plain = hit
            if attrs:
                self.store.add_activity(person.id, type_, None, None, now, {attr: key, **attrs}, key)
                self.emit(person, kind, asset=key, name=ref.name, attributes=attrs)
            else:   # the activity's attributes are the asset alone: encoded once
                self.store.add_activity_json(person.id, type_, None, None, now, plain, key)
                self._emit_indexed(person, kind, key, ref.name)
        elif kind == "visits web page":
            page = self._need(target, kind).name
            self.store.add_activity(person.id, "Visit Web Page", None, None, now, {"page": page, **attrs}, page)
            self.emit(person, kind, asset=page, name=page, attributes=attrs)
        elif kind in ("data value changes", "score is changed"):
            if field_name is None:
                raise RunError(f"'{kind}' needs a field")
            found = self.model.field(field_name)
            if found is None:
                raise RunError(f"no field '{field_name}'")
            key = ast.name_key(found[0])
            if to is not None:
                value = self._event_value(found[1], to)
                if kind == "score is changed":
                    old = person.get(key)
                    if value != old:
                        self.store.set_field(person.id, key, value)
                        person._set(key, value)
                        self.store.add_activity(person.id, "Change Score", None, None, now,
                                                {"field": found[0], "reason": "event"}, key, old, value)
                        self.emit(person, kind, field=key, field_name=found[0], old=old, new=value,
                                        attributes=attrs)
                else:
                    self.evaluator._set_field(None, person, key, found[0], value, reason="event")
            else:
                current = person.get(key)
                old = self._event_value(found[1], from_) if from_ is not None else current
                self.emit(person, kind, field=key, field_name=found[0], old=old, new=current,
                                attributes=attrs)
        elif kind in ("added to list", "removed from list"):
            try:
                key = self.evaluator.asset_key("list", self._need(target, kind), here)
            except InvalidSmartList as exc:
                raise RunError(str(exc)) from None
            if kind == "added to list":
                self.evaluator.add_to_list(None, person, key)
            else:
                self.evaluator.remove_from_list(None, person, key)
        elif kind == "program status is changed":
            ref = self._need(target, kind)
            if to is None:
                raise RunError("'program status is changed' needs 'to \"Status\"'")
            try:
                prog = here if here is not None else self.evaluator.find_program(
                    ref.name if ref.program is None else ref.program, None)
                self.evaluator.change_status(None, person, prog, literal_text(to))
            except (InvalidSmartList, StepError) as exc:
                raise RunError(str(exc)) from None
        elif kind == "person is created":
            self.emit(person, kind, attributes=attrs)

    def _event_value(self, type_: str, node: Any) -> Any:
        if isinstance(node, ast.Null):
            return None
        raw = node.value if isinstance(node, (ast.String, ast.Number, ast.Boolean, ast.Date, ast.DateTime)) else (
            literal_text(node) if isinstance(node, ast.Node) else node)
        try:
            return convert(type_, raw)
        except ValueError as exc:
            raise RunError(str(exc)) from None

    def run_steps(self, person: int | str, steps: Sequence[ast.Node]) -> ActionResult:  # type: ignore[override]
        """Run flow steps for one person outside any campaign (a test's
        ``for`` block): their activities have no campaign."""
        pid = self.person_id(person)
        with self._action("for") as result:
            p = self.store.person(pid)
            run = Run(self._new_run_id(), p, Frame(None, TokenContext(Environment(), None)), (), "setup")
            self._run_stack.append(run)
            try:
                self.evaluator.exec_steps(run, steps, 0, top=True)
            except Pause:
                raise RunError("a for block cannot wait; use advance") from None
            except EndRun:
                pass
            finally:
                self._run_stack.pop()
        return result

    def advance(self, by: _dt.timedelta | _dt.datetime | ast.Duration | str | None = None) -> ActionResult:
        """Move the clock forward (a duration, or to a time), running in time
        order every paused run and schedule that falls due."""
        now = self.clock.now
        if by is None:
            target = now
        elif isinstance(by, (ast.Duration, _dt.timedelta)):
            target = _later(now, by)
        elif isinstance(by, _dt.datetime):
            if by.tzinfo is not None:   # the virtual clock has no time zone (docs/security.md)
                raise RunError(f"cannot advance to {by.isoformat()}: the virtual clock has no time zone; "
                               "pass a naive datetime")
            target = by.replace(microsecond=0)
        elif isinstance(by, str):
            target = self._parse_when(by)
        else:
            raise RunError(f"cannot advance by {by!r}")
        if target < now:
            raise RunError(f"the clock cannot go back from {iso(now)} to {iso(target)}")
        with self._action("advance") as result:
            self._advance_to(target)
        return result

    def run_due(self) -> ActionResult:
        """Run everything due at the current time (paused runs, schedules)."""
        return self.advance(None)

    def _parse_when(self, text: str) -> _dt.datetime:
        s = text.strip()
        parts = s.split()
        if len(parts) == 2 and parts[0].isdigit():
            unit = parts[1].rstrip("s")
            if unit in ast.DURATION_UNITS:
                return _later(self.clock.now, ast.Duration(int(parts[0][:12]), unit))
        try:
            return parse_time(s)
        except ValueError as exc:
            raise RunError(f"cannot advance to {text!r}: write a duration like '3 days' or a time like "
                           f"2026-01-02T10:00") from exc

    def _schedule_next(self, c: CampaignInfo) -> _dt.datetime | None:
        sched = c.node.schedule
        if sched is None:
            return None
        last = self.store.schedule_last(c.qualname)
        start = sched.start.value
        if last is None:
            occ = start
        elif sched.every is None or sched.every.delta <= _dt.timedelta(0):
            return None
        else:
            try:
                occ = parse_time(last) + sched.every.delta
            except OverflowError:   # the next occurrence is past 9999-12-31: there is none
                return None
        if sched.every is not None and sched.every.delta > _dt.timedelta(0) and occ < self.clock.now:
            step = sched.every.delta
            n = (self.clock.now - occ) // step
            occ = occ + n * step   # catch up: the latest missed occurrence runs once
        return occ

    def _advance_to(self, target: _dt.datetime) -> None:
        batches = [c for c in self.model.campaigns if c.kind == "batch" and c.node.schedule is not None]
        while True:
            times = []
            nd = self.store.next_due()
            if nd is not None:
                times.append(parse_time(nd))
            for c in batches:
                occ = self._schedule_next(c)
                if occ is not None:
                    times.append(occ)
            if not times:
                break
            t = min(times)
            if t > target:
                break
            if t > self.clock.now:
                self.clock.advance_to(t)
            now_s = iso(self.clock.now)
            for item in self.store.due(now_s):
                self._resume(item)
            for c in batches:
                occ = self._schedule_next(c)
                if occ is not None and occ <= self.clock.now:
                    self.store.set_schedule_last(c.qualname, iso(occ))
                    self._batch(c, None, self._result)  # type: ignore[arg-type]
            self._drain()
        if target > self.clock.now:
            self.clock.advance_to(target)

    def _resume(self, item: Any) -> None:
        if not self.store.dequeue(item.id):
            return  # removed from flow meanwhile
        if item.kind == "batch":   # a batch the API scheduled (schedule_batch)
            c = self.campaigns.get(item.campaign)
            if c is not None and c.kind == "batch":
                self._batch(c, item.context.get("api"), self._result)  # type: ignore[arg-type]
            return
        person = self.store.person(item.person)
        if person is None or person.deleted:
            return
        c = self.campaigns.get(item.campaign)
        ctx_data = item.context
        if c is None:
            self.store.add_activity(person.id, "Error", item.campaign, item.run, iso(self.clock.now),
                                    {"message": f"campaign {item.campaign} no longer exists; its paused run ended"})
            return
        ctx = self.evaluator.own_context(c, ctx_data.get("api"), ctx_data.get("trigger"))
        run = Run(item.run, person, Frame(c, ctx), tuple(ctx_data.get("cause", ())), ctx_data.get("source", ""))
        self._execute(run, item.step)

    # -- runs ----------------------------------------------------------------------

    def _action_cap(self, c: CampaignInfo, person: Person, cause: tuple[str, ...]) -> None:
        """The action reached ``max_runs_per_action``: one Error activity,
        naming the chain that asked for one more run; no run starts after it."""
        if self._runs_action > self.max_runs_per_action:   # type: ignore[operator]
            return   # said once
        self._runs_action += 1
        chain = (cause + (c.qualname,))[-12:]
        self.store.add_activity(person.id, "Error", c.qualname, None, iso(self.clock.now), {
            "message": f"more than {self.max_runs_per_action} runs in one action; stopped starting runs "
                       f"(the last asked for: " + " -> ".join(chain) + ")",
            "cycle": list(chain)})
        if self._result is not None:
            self._result.errors += 1

    def _start(self, c: CampaignInfo, person: Person, ctx: TokenContext, cause: tuple[str, ...],
               source: str, check_smart_list: bool = True, check_rule: bool = True) -> bool:
        pid = person.id
        if person.deleted or pid in self._stopped:
            return False
        if check_smart_list and not self.evaluator.matches(c.smart_list, person, c.program):
            return False
        if check_rule and not self.evaluator.rule_allows(c, person):
            return False
        if self.max_runs_per_action is not None and self._runs_action >= self.max_runs_per_action:
            self._action_cap(c, person, cause)
            return False
        n = self._runs_per_person.get(pid, 0) + 1
        if n > self.max_runs_per_person:
            self._stopped.add(pid)
            chain = cause + (c.qualname,)
            cycle = chain
            if c.qualname in chain[:-1]:
                first = len(chain) - 2 - list(reversed(chain[:-1])).index(c.qualname)
                cycle = chain[first:]
            self.store.add_activity(pid, "Error", c.qualname, None, iso(self.clock.now), {
                "message": f"more than {self.max_runs_per_person} runs for this person in one action; "
                           f"stopped the cycle " + " -> ".join(cycle[-12:]),
                "cycle": list(cycle[-12:])})
            if self._result is not None:
                self._result.errors += 1
            return False
        self._runs_per_person[pid] = n
        self._runs_action += 1
        run_id = self._next_run
        self._next_run = run_id + 1
        qualname = c.qualname
        self.store.record_run(pid, qualname, self.clock.iso, run_id)
        result = self._result
        if result is not None:
            result.runs += 1
            if result.campaign == qualname:
                result.entered.append(pid)
        run = Run(run_id, person, Frame(c, ctx), (cause + (qualname,))[-50:] if cause else (qualname,), source)
        self._execute(run, 0)
        return True

    def _execute(self, run: Run, start: int) -> None:
        c = run.top.campaign
        assert c is not None
        self._run_stack.append(run)
        try:
            self.evaluator.exec_steps(run, c.steps, start, top=True)
        except Pause as pause:
            ctx = run.top.ctx
            self.store.enqueue("wait", run.person.id, c.qualname, iso(pause.due), pause.step, run.id,
                               {"api": ctx.api, "trigger": ctx.trigger, "cause": list(run.cause),
                                "source": run.source})
        except EndRun as end:
            if end.reason == "error" and self._result is not None:
                self._result.errors += 1
        finally:
            self._run_stack.pop()

    def _drain(self) -> None:
        work = self._work
        store = self.store
        while work:
            item = work.popleft()
            tag = item[0]
            if tag == "start":
                _, c, pid, ctx, cause, source, person, stamp = item
                if stamp != store.people_writes:   # someone wrote a field since: read again
                    person = store.person(pid, self._campaign_columns(c))
                if person is None or person.deleted:
                    continue
                # the filters were judged when the event happened (emit, §12.1)
                self._start(c, person, ctx, cause, source, check_smart_list=False)
            elif tag == "request":
                _, c, pid, ctx, cause, source, requester, qualified = item
                person = self.store.person(pid, self._campaign_columns(c))
                if person is None or person.deleted:
                    continue
                self.store.add_activity(pid, "Campaign is Requested", c.qualname, None, iso(self.clock.now),
                                        {"campaign": c.qualname, "source": source,
                                         "requested by": requester}, c.qualname)
                if not qualified or not c.active or not self._admits(c, source):
                    continue
                self._start(c, person, ctx, cause, source, check_smart_list=False)

    # -- host hooks ------------------------------------------------------------------

    def _queue_request(self, person: Person, target: CampaignInfo, source: str, requester: str,
                       api: dict[str, str] | None, cause: tuple[str, ...]) -> None:
        trig = trigger_tokens("campaign is requested", requester, {"Source": source})
        ctx = self.evaluator.own_context(target, api, trig)
        # §12.1: the filters are judged at the request, on the person as the
        # requesting step (or the API call) finds them; the rule when the run starts
        qualified = self.evaluator.matches(target.smart_list, person, target.program)
        self._work.append(("request", target, person.id, ctx, cause, source, requester, qualified))

    def request_campaign(self, run: Run, target: CampaignInfo) -> None:
        requester = run.frame.campaign.name if run.frame.campaign is not None else "test setup"
        self._queue_request(run.person, target, "flow action", requester, None, run.cause)

    def remove_from_flow(self, person: Person, campaign: CampaignInfo) -> None:
        self.store.remove_queued(person.id, campaign.qualname)
        if self._work:
            keep = deque(item for item in self._work
                         if not (item[1] is campaign and item[2] == person.id))
            self._work.clear()
            self._work.extend(keep)

    def webhook_handler(self, webhook: ast.Webhook, program: ProgramInfo | None) -> Handler | None:
        if not self._webhooks:
            return None
        if program is not None:
            h = self._webhooks.get(f'{program.quoted}."{webhook.name}"') or \
                self._webhooks.get(f'"{program.name}"."{webhook.name}"')
            if h is not None:
                return h
        return self._webhooks.get(webhook.name)

    #: the attributes of the event being fired (``fire``), while it is fired
    _event_attributes: dict[str, Any] | None = None

    def emit(self, person: Person, kind: str, **event: Any) -> None:
        candidates = self._triggers.get(kind)
        if not candidates:
            return
        if self._event_attributes and "attributes" not in event:
            event["attributes"] = self._event_attributes
        attr = _EVENT_KEY.get(kind)
        if kind in _INDEX_DECIDES and not event.get("attributes"):
            self._emit_indexed(person, kind, event[attr], event.get("name", ""))
            return
        cause = self._run_stack[-1].cause if self._run_stack else ()
        work = self._work
        stamp = self.store.people_writes
        pid = person.id
        if attr is not None:   # only the triggers on this form, page, email, field, list or program
            candidates = self._trigger_index(kind).get(event.get(attr)) or []
            if not candidates:
                return
        tokens = None
        for c in self._hits(kind, event, candidates):
            # §12.1: the filters are judged now, on the person as the event left
            # them; the qualification rule when the queued run starts (_drain)
            if not self.evaluator.matches(c.smart_list, person, c.program):
                continue
            if tokens is None:
                tokens = self._trigger_tokens(kind, event)
            ctx = self.evaluator.own_context(c, None, tokens)
            work.append(("start", c, pid, ctx, cause, "trigger", person, stamp))

    def _hits(self, kind: str, event: dict[str, Any],
              candidates: Sequence[tuple[CampaignInfo, ast.Trigger]]) -> Iterator[CampaignInfo]:
        """The campaigns among ``candidates`` (the trigger index's, in campaign
        order) whose trigger matches ``event``, each once: ``emit``'s, and the
        set-based engine's for the events of its slots (``sets.rounds``)."""
        started: set[int] = set()
        for c, trig in candidates:
            if c.id in started:
                continue
            try:
                hit = self._trigger_matches(c, trig, kind, event)
            except InvalidSmartList:
                hit = False
            if hit:
                started.add(c.id)
                yield c

    def _emit_indexed(self, person: Person, kind: str, value: Any, name: str) -> None:
        """``emit`` of an event without attributes whose kind the trigger
        index alone decides (``_INDEX_DECIDES``): the campaigns it starts and
        their token contexts (the event's name) are worked out once."""
        if kind not in self._triggers:
            return
        plan = self._emit_plans.get((kind, value, name))
        if plan is None:
            plan = self._emit_plan(kind, value, name)
        if plan:
            cause = self._run_stack[-1].cause if self._run_stack else ()
            pid, stamp = person.id, self.store.people_writes
            append = self._work.append
            matches = self.evaluator.matches
            for c, ctx in plan:
                if matches(c.smart_list, person, c.program):   # judged at the event (§12.1)
                    append(("start", c, pid, ctx, cause, "trigger", person, stamp))

    def _emit_plan(self, kind: str, value: Any, name: str) -> tuple[tuple[CampaignInfo, TokenContext], ...]:
        """The (campaign, token context) pairs an event of ``kind`` on
        ``value`` without attributes starts (``_INDEX_DECIDES`` kinds),
        in campaign order; made once per event value (``_emit_indexed``
        looks it up in ``_emit_plans`` first)."""
        event = {_EVENT_KEY[kind]: value, "name": name}
        tokens = self._trigger_tokens(kind, event)
        started: set[int] = set()
        out = []
        for c, _trig in self._trigger_index(kind).get(value, ()):
            if c.id not in started:
                started.add(c.id)
                out.append((c, self.evaluator.own_context(c, None, tokens)))
        if len(self._emit_plans) >= 4096:
            self._emit_plans.clear()
        plan = self._emit_plans[(kind, value, name)] = tuple(out)
        return plan

    def _trigger_index(self, kind: str) -> dict[Any, list[tuple[CampaignInfo, ast.Trigger]]]:
        """The trigger campaigns listening for ``kind``, by the event value
        they match (``_EVENT_KEY``), in campaign order; built once. The
        full ``_trigger_matches`` still decides (``to``/``from`` values)."""
        index = self._trigger_indexes.get(kind)
        if index is None:
            index = self._trigger_indexes[kind] = {}
            for c, trig in self._triggers.get(kind, ()):
                try:
                    key = self._trigger_key(c, trig, kind)
                except InvalidSmartList:
                    continue   # names nothing: never matches
                if key is not None:
                    index.setdefault(key, []).append((c, trig))
        return index

    def _trigger_key(self, c: CampaignInfo, trig: ast.Trigger, kind: str) -> Any:
        """The event value (``event[_EVENT_KEY[kind]]``) this trigger can match, or None."""
        here = c.program
        if kind == "visits web page":
            return trig.target.name if trig.target is not None else None
        if kind in ("fills out form", "opens email", "clicks link in email", "added to list",
                    "removed from list"):
            if trig.target is None:
                return None
            asset_kind = "form" if kind == "fills out form" else "email" if "email" in kind else "list"
            return self.evaluator.asset_key(asset_kind, trig.target, here)
        if kind in ("data value changes", "score is changed"):
            return self.evaluator.field_spec(trig.field.name)[0] if trig.field is not None else None
        if kind == "program status is changed":
            if trig.target is None:
                return None
            ev = self.evaluator
            return ev.program_key(ev.find_program(trig.target.program or trig.target.name, here, trig.target))
        return None

    def listens(self, kind: str) -> bool:
        return kind in self._triggers

    def step_compiled(self, step: ast.Node, fn: Callable[[Run], None]) -> Callable[[Run], None]:
        return fn

    def wait_reached(self, run: Run, step: ast.Wait) -> None:
        pass

    def _trigger_tokens(self, kind: str, event: dict[str, Any]) -> dict[str, str]:
        attrs: dict[str, Any] = dict(event.get("attributes") or {})
        name = event.get("name", "")
        if kind in ("data value changes", "score is changed"):
            name = event.get("field_name", "")
            attrs.setdefault("Attribute Name", name)
            attrs.setdefault("Old Value", event.get("old"))
            attrs.setdefault("New Value", event.get("new"))
            if "change" in event:
                attrs.setdefault("Change", event["change"])
        elif kind in ("added to list", "removed from list"):
            name = event["list"].rsplit(".", 1)[-1].strip('"')
            attrs.setdefault("List", name)
        elif kind == "program status is changed":
            name = event.get("program_name", "")
            attrs.setdefault("Old Status", event.get("old"))
            attrs.setdefault("New Status", event.get("new"))
            attrs.setdefault("Old Value", event.get("old"))
            attrs.setdefault("New Value", event.get("new"))
        return trigger_tokens(kind, name, attrs)

    def _trigger_matches(self, c: CampaignInfo, trig: ast.Trigger, kind: str, event: dict[str, Any]) -> bool:
        here = c.program
        if kind in ("fills out form", "opens email", "clicks link in email"):
            asset_kind = "form" if kind == "fills out form" else "email"
            return trig.target is not None and self.evaluator.asset_key(asset_kind, trig.target, here) == event["asset"]
        if kind == "visits web page":
            return trig.target is not None and trig.target.name == event["asset"]
        if kind in ("data value changes", "score is changed"):
            if trig.field is None:
                return False
            key, _name, ftype = self.evaluator.field_spec(trig.field.name)
            if key != event["field"]:
                return False
            if trig.to is not None and not self._same(ftype, trig.to, event.get("new")):
                return False
            if trig.from_ is not None and not self._same(ftype, trig.from_, event.get("old")):
                return False
            return True
        if kind in ("added to list", "removed from list"):
            return trig.target is not None and self.evaluator.asset_key("list", trig.target, here) == event["list"]
        if kind == "program status is changed":
            if trig.target is None:
                return False
            name = trig.target.program or trig.target.name
            if self.evaluator.program_key(self.evaluator.find_program(name, here, trig.target)) != event["program"]:
                return False
            if trig.to is not None and literal_text(trig.to) != event.get("new"):
                return False
            return True
        if kind == "person is created":
            return True
        return False

    def _same(self, ftype: str, node: Any, value: Any) -> bool:
        if isinstance(node, ast.Null):
            return value is None
        try:
            want = convert(ftype, node.value if hasattr(node, "value") else literal_text(node))
        except (ValueError, AttributeError):
            want = literal_text(node)
        if isinstance(want, str) and isinstance(value, str):
            return want.casefold() == value.casefold()
        return want == value


class _Action:
    """An action (``Engine._action``): one store transaction around the
    body and the queue it leaves (``_drain``). Commits with the run counter
    and the clock; an exception anywhere rolls everything back (the
    store's hook puts the clock back). A class, not a generator: every
    event is an action."""

    __slots__ = ("engine", "name", "result", "tx")

    def __init__(self, engine: Engine, name: str, campaign: str | None):
        if engine._in_action:
            raise RunError(f"cannot start '{name}' while another action runs (a handler calling back?)")
        self.engine = engine
        self.name = name
        engine._step_limit = engine.max_steps if engine.max_steps is not None else sys.maxsize
        if engine._cancel.is_set():
            engine._cancel.clear()
        self.result = ActionResult(name, campaign, store=engine.store)
        engine._clock_before = engine.clock.now

    def __enter__(self) -> ActionResult:
        e = self.engine
        store = e.store
        tx = self.tx = store.transaction()   # the store's own: outermost BEGINs, nested joins
        tx.__enter__()
        saved, e._next_run = store.get_meta("clock"), store.run_counter()
        e._in_action = True
        try:
            if saved and saved != e.clock.iso and parse_time(saved) > e.clock.now:
                e.clock._reset(parse_time(saved))   # another process moved it on
                e._clock_before = e.clock.now
            e._result = self.result
            e._work.clear()
            e._runs_per_person.clear()
            e._stopped.clear()
            e._runs_action = 0
            e._steps_action = 0
            e._unrecorded_runs = False
        except BaseException as exc:
            self._finish()
            self._leave(exc)
            raise
        return self.result

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        e = self.engine
        try:
            if exc is None:
                try:
                    e._drain()
                    result = self.result
                    result.first_activity, result.last_activity = e.store.end_action(
                        e._next_run, not e._unrecorded_runs, e.clock.iso)
                    self._finish()
                    self.tx.__exit__(None, None, None)   # the outermost flushes and commits
                    return False
                except OverflowError as overflow:
                    raise self._overflow(overflow) from None
            elif isinstance(exc, OverflowError):
                raise self._overflow(exc) from None
        except BaseException as failed:
            self._finish()
            if e.store.in_transaction:   # not yet rolled back (a failed COMMIT rolls back itself)
                self._leave(failed)
            raise
        self._finish()
        self._leave(exc)   # an inner action leaves its part to the outer one; exc goes on
        return False

    def _leave(self, exc: BaseException | None) -> None:
        """Leave the store's transaction after ``exc``: the outermost rolls back."""
        self.tx.__exit__(type(exc) if exc is not None else None, exc, None)

    def _overflow(self, exc: OverflowError) -> RunError:
        """A date past 9999-12-31, a number past 64 bits."""
        what = ("a whole number larger than 19 digits" if "INTEGER" in str(exc) else
                "a date past 9999-12-31, the last date the clock can hold")
        return RunError(f"'{self.name}' reached {what}; nothing it did was kept")

    def _finish(self) -> None:
        e = self.engine
        e._in_action = False
        e._result = None
        e._work.clear()
        e._run_stack.clear()
