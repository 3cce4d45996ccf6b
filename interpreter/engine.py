"""The engine: actions, runs and their queue over a store and a virtual clock.

``Engine(program)`` takes a ``CheckedProgram`` (the checker's gate: a program
with errors never runs) and offers the *actions* of LANGUAGE.md §8 — add a
person, run a batch, request a campaign, fire an event, advance the clock,
run setup steps — each one SQLite transaction: an exception or an interrupt
anywhere inside leaves the store (and the clock) as before the action.

Within an action, work is a FIFO queue. A batch snapshots its smart list
first (filters over indexed columns pushed down to SQL), then runs its people
in id order; requested runs, and runs started by trigger events that steps
emit, are queued behind the run that caused them and never nest (§6.6, §8).
A run that reaches a ``wait`` is written to the store's queue with its resume
step and token context, so advancing the clock — in this process or a later
one — resumes it. ``advance`` runs everything that falls due up to the target
time, in time order: paused runs (a batch's people together, in id order)
and batch schedules.

Choices where the spec is silent (docs/language.md, "The engine"):

* A trigger is matched when its event happens (``to``/``from`` constraints
  included); the campaign's filters and qualification rules are evaluated
  when the queued run starts, right after the run that caused the event.
* ``{{trigger.Name}}`` of an API request is ``API``; ``Campaign is
  Requested`` is logged on the person when a request is received, ``Request
  Campaign`` on the requesting step.
* Runs per person per action (default 1,000) count top-level runs that
  started; past the limit an ``Error`` activity names the cycle and that
  person starts no more runs in this action. ``max_steps`` and ``cancel()``
  stop the whole action with ``RunError`` (rolled back).

Imports ``ast``, ``check`` (``CheckedProgram``), ``clock``, ``environment``,
``errors``, ``evaluate``, ``model``, ``store``.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections import Counter, deque
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from attrs import define, field

from . import ast
from .check import CheckedProgram, check
from .clock import Clock, iso, parse_time
from .environment import Environment
from .errors import DiagnosticError, RunError, StoreError
from .evaluate import (EndRun, Evaluator, Frame, InvalidSmartList, Pause, Run, StepError, TokenContext,
                       format_value, literal_text, trigger_tokens)
from .model import CampaignInfo, Model, ProgramInfo
from .store import Activity, Membership, Person, Store, convert

MAX_API_PEOPLE = 100
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

    def activities(self, type_: str | None = None) -> list[Activity]:
        if self.store is None:
            return []
        return [a for a in self.store.activities(type_=type_, after_id=self.first_activity)
                if a.id <= self.last_activity]


def load_program(paths: Sequence[str | Path]) -> CheckedProgram:
    """Load and check files; ``DiagnosticError`` when the program has errors."""
    from .loader import load_paths
    result = check(load_paths(paths))
    if result.program is None:
        raise DiagnosticError(result.errors)
    return result.program


def program_from_text(text: str, name: str = "<input>") -> CheckedProgram:
    """Check program text; ``DiagnosticError`` when it has errors."""
    from .check import check_text
    result = check_text(text, name)
    if result.program is None:
        raise DiagnosticError(result.errors)
    return result.program


def parse_campaign_ref(text: str) -> ast.Ref:
    """``'"P"."C"'``, ``"P/C"`` or a bare ``"C"`` -> a reference."""
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
            return ast.Ref(None, parts[0])
        if len(parts) == 2:
            return ast.Ref(parts[0], parts[1])
        raise RunError(f"cannot read the campaign {text!r}")
    if "/" in s:
        prog, _, name = s.rpartition("/")
        return ast.Ref(prog, name)
    return ast.Ref(None, s)


class Engine(Evaluator):
    """Runs a checked program against a store on a virtual clock."""

    def __init__(self, program: CheckedProgram, store: Store | str | Path | None = None,
                 clock: Clock | None = None, *, max_runs_per_person: int = 1000,
                 max_steps: int | None = None, max_people: int | None = None):
        if not isinstance(program, CheckedProgram):
            raise TypeError("the engine runs only a CheckedProgram: check the program first "
                            "(check.check(...).program, or engine.load_program)")
        if store is None:
            store = Store(":memory:")
        elif not isinstance(store, Store):
            store = Store(str(store))
        saved = store.get_meta("clock")
        if clock is None:
            clock = Clock(parse_time(saved) if saved else None)
        elif saved and parse_time(saved) > clock.now:
            raise RunError(f"the store's clock is at {saved}; a clock cannot start before it")
        super().__init__(program.model, store, clock)
        self.program = program
        self.max_runs_per_person = max_runs_per_person
        self.max_steps = max_steps
        self.max_people = max_people
        #: called as progress(done, total) while a batch runs (the CLI's progress bar)
        self.progress: Callable[[int, int], None] | None = None
        self._webhooks: dict[str, Handler] = {}
        self._cancel = threading.Event()
        self._work: deque = deque()
        self._run_stack: list[Run] = []
        self._in_action = False
        self._runs_per_person: Counter = Counter()
        self._stopped: set[int] = set()
        self._steps_action = 0
        self._next_run = 0
        self._clock_before = clock.now
        self._result: ActionResult | None = None
        self.campaigns: dict[str, CampaignInfo] = {c.qualname: c for c in self.model.campaigns}
        self._triggers: dict[str, list[tuple[CampaignInfo, ast.Trigger]]] = {}
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
        ``'"P"."Enrich"'`` or ``"P/Enrich"``) with ``handler(request) ->
        (status, json_body)``; without one, calls are only recorded."""
        ref = parse_campaign_ref(name)
        key = f'"{ref.program}"."{ref.name}"' if ref.program else ref.name
        self._webhooks[key] = handler

    def cancel(self) -> None:
        """Stop the running action (from another thread): it raises
        ``RunError`` and rolls back."""
        self._cancel.set()

    # -- lookups -----------------------------------------------------------------

    def campaign(self, ref: CampaignInfo | ast.Ref | str) -> CampaignInfo:
        if isinstance(ref, CampaignInfo):
            return ref
        if isinstance(ref, str):
            text = ref.strip()
            ref = parse_campaign_ref(text)
            if not text.startswith('"') and "/" in text:
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
        res = self.model.resolve("campaign", ref, None)
        if res.found is None:
            what = f'"{ref.program}"."{ref.name}"' if ref.program else f'"{ref.name}"'
            if res.ambiguous:
                raise RunError(f"campaign {what} is ambiguous: write \"Program\".\"Campaign\"")
            hint = f"; did you mean {res.suggestion}?" if res.suggestion else ""
            raise RunError(f"no campaign {what}{hint}")
        return res.found

    def person_id(self, who: int | str | Person) -> int:
        if isinstance(who, Person):
            return who.id
        if isinstance(who, int):
            return who
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
        p = self.person(who)
        if p is None:
            raise RunError(f"no person {who}")
        found = self.model.field(field_name)
        if found is None:
            raise RunError(f"no field '{field_name}'")
        return p.get(ast.name_key(found[0]))

    def list_key(self, ref: ast.Ref | str) -> str:
        if isinstance(ref, str):
            ref = parse_campaign_ref(ref)
        try:
            return self.asset_key("list", ref, None)
        except InvalidSmartList as exc:
            raise RunError(str(exc)) from None

    def in_list(self, who: int | str, ref: ast.Ref | str) -> bool:
        return self.store.in_list(self.list_key(ref), self.person_id(who))

    def list_members(self, ref: ast.Ref | str) -> list[str]:
        return [self.store.person(pid).email for pid in self.store.list_members(self.list_key(ref))]

    def membership(self, who: int | str, program: str) -> Membership | None:
        try:
            prog = self.find_program(program, None)
        except InvalidSmartList as exc:
            raise RunError(str(exc)) from None
        return self.store.membership(self.program_key(prog), self.person_id(who))

    def activities(self, who: int | str | None = None, type_: str | None = None) -> list[Activity]:
        """The activity log, of one person (deleted people included) or all."""
        pid = None
        if isinstance(who, str):
            pid = self.store.find_person(who, include_deleted=True)
            if pid is None:
                raise RunError(f"no person with the email address {who}")
        elif who is not None:
            pid = self.person_id(who)
        return self.store.activities(person=pid, type_=type_)

    def activity_log_jsonl(self) -> str:
        return self.store.activity_log_jsonl()

    # -- actions -------------------------------------------------------------------

    @contextmanager
    def _action(self, name: str, campaign: str | None = None) -> Iterator[ActionResult]:
        if self._in_action:
            raise RunError(f"cannot start '{name}' while another action runs (a handler calling back?)")
        self._cancel.clear()
        result = ActionResult(name, campaign, store=self.store)
        self._clock_before = self.clock.now
        with self.store.transaction():
            self._in_action = True
            try:
                result.first_activity = self.store.last_activity_id()
                self._result = result
                self._work.clear()
                self._runs_per_person.clear()
                self._stopped.clear()
                self._steps_action = 0
                self._next_run = int(self.store.get_meta("next_run", "1"))
                yield result
                self._drain()
                self.store.set_meta("next_run", str(self._next_run))
                self.store.set_meta("clock", iso(self.clock.now))
                result.last_activity = self.store.last_activity_id()
            finally:
                self._in_action = False
                self._result = None
                self._work.clear()
                self._run_stack.clear()

    def _after_rollback(self) -> None:
        self.clock._reset(self._clock_before)
        self._work.clear()
        self._run_stack.clear()

    def _new_run_id(self) -> int:
        n = self._next_run
        self._next_run += 1
        return n

    def _host_tick(self) -> None:
        self.steps_run += 1
        self._steps_action += 1
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
        with self._action("import people"):
            for rec in records:
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
        return created, updated

    def _upsert(self, email: str, fields: Mapping[str, Any] | None) -> tuple[int, bool]:
        email = email.strip()
        if not email:
            raise RunError("a person needs an email address")
        values = self._fields_from(fields)
        values.pop("email address", None)
        pid = self.store.find_person(email)
        if pid is not None:
            person = self.store.person(pid)
            for key, value in values.items():
                try:
                    self._set_field(None, person, key, self.store.field_names.get(key, key), value,
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
        self._host_emit(person, "person is created")
        return pid, True

    def _token_values(self, campaign: CampaignInfo, tokens: Mapping[str, Any] | Iterable | None) -> dict[str, str] | None:
        if not tokens:
            return None
        if not isinstance(tokens, Mapping):
            tokens = {t.name: t.value for t in tokens}   # TokenDecl nodes (a test's `with tokens`)
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

    def run_batch(self, campaign: CampaignInfo | ast.Ref | str,
                  tokens: Mapping[str, Any] | None = None) -> ActionResult:
        """Run a batch campaign now: its smart list evaluated at this moment,
        its people in id order (``tokens``: API-passed My Tokens)."""
        c = self.campaign(campaign)
        if c.kind != "batch":
            raise RunError(f"{c.qualname} is a{'n' if c.kind[0] == 'e' else ''} {c.kind} campaign; "
                           f"only a batch campaign can be run (use request or fire for trigger campaigns)")
        api = self._token_values(c, tokens)
        with self._action("run", c.qualname) as result:
            self._batch(c, api, result)
        return result

    def _batch_people(self, c: CampaignInfo) -> list[Person]:
        """Who the batch reaches now: filters on columns pushed down to SQL,
        the rest evaluated per person; an invalid smart list reaches nobody."""
        sl = c.smart_list
        if sl is None or not sl.filters:
            return []   # a batch without filters runs for nobody (CL502)
        try:
            where, params, rest = self.sql_for_smart_list(sl, c.program)
            if rest and sl.logic == "all":
                preds = [self.filter_pred(f, c.program) for f in rest]
                return [p for p in self.store.people(where, params) if all(f(p) for f in preds)]
            if rest:
                pred = self.smart_list_pred(sl, c.program)
                return [p for p in self.store.people() if pred(p)]
            return self.store.people(where, params)
        except InvalidSmartList:
            return []

    def _batch(self, c: CampaignInfo, api: dict[str, str] | None, result: ActionResult) -> None:
        people = self._batch_people(c)
        if self.max_people is not None and len(people) > self.max_people:
            raise RunError(f"{c.qualname} reaches {len(people)} people, more than the limit of {self.max_people}")
        ctx = TokenContext.own(c, api)
        progress = self.progress
        total = len(people)
        for n, person in enumerate(people, 1):
            self._start(c, person, ctx, (), "batch", check_smart_list=False)
            if progress is not None and (n % 500 == 0 or n == total):
                progress(n, total)

    def request(self, campaign: CampaignInfo | ast.Ref | str, people: Sequence[int | str],
                tokens: Mapping[str, Any] | None = None, source: str = "api") -> ActionResult:
        """Request a trigger campaign for people, as the API does (§6.6, §7):
        at most 100 people and 100 tokens; never an executable."""
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
        people = list(people)
        if len(people) > MAX_API_PEOPLE:
            raise RunError(f"at most {MAX_API_PEOPLE} people per request; {len(people)} were given")
        api = self._token_values(c, tokens)
        pids = [self.person_id(p) for p in people]
        with self._action("request", c.qualname) as result:
            for pid in pids:
                person = self.store.person(pid)
                self._queue_request(person, c, source, "API", api, ())
        return result

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
        if isinstance(trigger, ast.Trigger):
            kind = trigger.kind
            target = trigger.target if target is None else target
            field_name = trigger.field.name if trigger.field is not None else field_name
            to = trigger.to if trigger.to is not None else to
            from_ = trigger.from_ if trigger.from_ is not None else from_
        else:
            kind = " ".join(trigger.split())
        if kind not in ast.TRIGGER_KINDS:
            raise RunError(f"unknown trigger '{kind}'; triggers: " + ", ".join(ast.TRIGGER_KINDS))
        if kind == "campaign is requested":
            raise RunError("a campaign is requested through request, not fire")
        if isinstance(target, str):
            target = parse_campaign_ref(target) if kind != "visits web page" else ast.Ref(None, target)
        attrs = {k: (literal_text(v) if isinstance(v, ast.Node) else v) for k, v in (attributes or {}).items()}
        pids = [self.person_id(p) for p in people]
        with self._action("fire", None) as result:
            for pid in pids:
                person = self.store.person(pid)
                self._fire_one(kind, person, target, attrs, field_name, to, from_)
        return result

    def _need(self, target: Any, kind: str) -> ast.Ref:
        if target is None:
            raise RunError(f"'{kind}' needs a name")
        return target

    def _fire_one(self, kind: str, person: Person, target: ast.Ref | None, attrs: dict[str, Any],
                  field_name: str | None, to: Any, from_: Any) -> None:
        now = iso(self.clock.now)
        if kind in ("fills out form", "opens email", "clicks link in email"):
            asset_kind, type_, attr = {"fills out form": ("form", "Fill Out Form", "form"),
                                       "opens email": ("email", "Open Email", "email"),
                                       "clicks link in email": ("email", "Click Email", "email")}[kind]
            ref = self._need(target, kind)
            try:
                key = self.asset_key(asset_kind, ref, None)
            except InvalidSmartList as exc:
                raise RunError(str(exc)) from None
            self.store.add_activity(person.id, type_, None, None, now, {attr: key, **attrs}, key)
            self._host_emit(person, kind, asset=key, name=ref.name, attributes=attrs)
        elif kind == "visits web page":
            page = self._need(target, kind).name
            self.store.add_activity(person.id, "Visit Web Page", None, None, now, {"page": page, **attrs}, page)
            self._host_emit(person, kind, asset=page, name=page, attributes=attrs)
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
                        self._host_emit(person, kind, field=key, field_name=found[0], old=old, new=value,
                                        attributes=attrs)
                else:
                    self._set_field(None, person, key, found[0], value, reason="event")
            else:
                current = person.get(key)
                old = self._event_value(found[1], from_) if from_ is not None else current
                self._host_emit(person, kind, field=key, field_name=found[0], old=old, new=current,
                                attributes=attrs)
        elif kind in ("added to list", "removed from list"):
            key = self.list_key(self._need(target, kind))
            if kind == "added to list":
                self.add_to_list(None, person, key)
            else:
                self.remove_from_list(None, person, key)
        elif kind == "program status is changed":
            ref = self._need(target, kind)
            if to is None:
                raise RunError("'program status is changed' needs 'to \"Status\"'")
            try:
                prog = self.find_program(ref.name if ref.program is None else ref.program, None)
                self.change_status(None, person, prog, literal_text(to))
            except (InvalidSmartList, StepError) as exc:
                raise RunError(str(exc)) from None
        elif kind == "person is created":
            self._host_emit(person, kind, attributes=attrs)

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
                self.exec_steps(run, steps, 0, top=True)
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
        elif isinstance(by, ast.Duration):
            target = now + by.delta
        elif isinstance(by, _dt.timedelta):
            target = now + by
        elif isinstance(by, _dt.datetime):
            target = by
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
                return self.clock.now + ast.Duration(int(parts[0]), unit).delta
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
            occ = parse_time(last) + sched.every.delta
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
        person = self.store.person(item.person)
        if person is None or person.deleted:
            return
        c = self.campaigns.get(item.campaign)
        ctx_data = item.context
        if c is None:
            self.store.add_activity(person.id, "Error", item.campaign, item.run, iso(self.clock.now),
                                    {"message": f"campaign {item.campaign} no longer exists; its paused run ended"})
            return
        ctx = TokenContext.own(c, ctx_data.get("api"), ctx_data.get("trigger"))
        run = Run(item.run, person, Frame(c, ctx), tuple(ctx_data.get("cause", ())), ctx_data.get("source", ""))
        self._execute(run, item.step)

    # -- runs ----------------------------------------------------------------------

    def _start(self, c: CampaignInfo, person: Person, ctx: TokenContext, cause: tuple[str, ...],
               source: str, check_smart_list: bool = True) -> bool:
        if person.deleted or person.id in self._stopped:
            return False
        if check_smart_list and not self.matches(c.smart_list, person, c.program):
            return False
        if not self.rule_allows(c, person):
            return False
        pid = person.id
        n = self._runs_per_person[pid] + 1
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
        run_id = self._new_run_id()
        self.store.record_run(pid, c.qualname, iso(self.clock.now), run_id)
        result = self._result
        if result is not None:
            result.runs += 1
            if result.campaign == c.qualname:
                result.entered.append(pid)
        run = Run(run_id, person, Frame(c, ctx), (cause + (c.qualname,))[-50:], source)
        self._execute(run, 0)
        return True

    def _execute(self, run: Run, start: int) -> None:
        c = run.top.campaign
        assert c is not None
        self._run_stack.append(run)
        try:
            self.exec_steps(run, c.steps, start, top=True)
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
        while work:
            item = work.popleft()
            tag = item[0]
            if tag == "start":
                _, c, pid, ctx, cause, source = item
                person = self.store.person(pid)
                if person is None or person.deleted:
                    continue
                self._start(c, person, ctx, cause, source)
            elif tag == "request":
                _, c, pid, ctx, cause, source, requester = item
                person = self.store.person(pid)
                if person is None or person.deleted:
                    continue
                self.store.add_activity(pid, "Campaign is Requested", c.qualname, None, iso(self.clock.now),
                                        {"campaign": c.qualname, "source": source,
                                         "requested by": requester}, c.qualname)
                if not c.active or not self._admits(c, source):
                    continue
                self._start(c, person, ctx, cause, source)

    # -- host hooks ------------------------------------------------------------------

    def _queue_request(self, person: Person, target: CampaignInfo, source: str, requester: str,
                       api: dict[str, str] | None, cause: tuple[str, ...]) -> None:
        trig = trigger_tokens("campaign is requested", requester, {"Source": source})
        ctx = TokenContext.own(target, api, trig)
        self._work.append(("request", target, person.id, ctx, cause, source, requester))

    def _host_request(self, run: Run, target: CampaignInfo) -> None:
        requester = run.frame.campaign.name if run.frame.campaign is not None else "test setup"
        self._queue_request(run.person, target, "flow action", requester, None, run.cause)

    def _host_remove_from_flow(self, person: Person, campaign: CampaignInfo) -> None:
        self.store.remove_queued(person.id, campaign.qualname)
        if self._work:
            keep = deque(item for item in self._work
                         if not (item[1] is campaign and item[2] == person.id))
            self._work.clear()
            self._work.extend(keep)

    def _host_webhook(self, webhook: ast.Webhook, program: ProgramInfo | None) -> Handler | None:
        if not self._webhooks:
            return None
        if program is not None:
            h = self._webhooks.get(f'"{program.name}"."{webhook.name}"')
            if h is not None:
                return h
        return self._webhooks.get(webhook.name)

    def _host_emit(self, person: Person, kind: str, **event: Any) -> None:
        candidates = self._triggers.get(kind)
        if not candidates:
            return
        cause = self._run_stack[-1].cause if self._run_stack else ()
        started: set[int] = set()
        for c, trig in candidates:
            if c.id in started:
                continue
            try:
                hit = self._trigger_matches(c, trig, kind, event)
            except InvalidSmartList:
                hit = False
            if not hit:
                continue
            started.add(c.id)
            ctx = TokenContext.own(c, None, self._trigger_tokens(kind, event))
            self._work.append(("start", c, person.id, ctx, cause, "trigger"))

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
            return trig.target is not None and self.asset_key(asset_kind, trig.target, here) == event["asset"]
        if kind == "visits web page":
            return trig.target is not None and trig.target.name == event["asset"]
        if kind in ("data value changes", "score is changed"):
            if trig.field is None:
                return False
            key, _name, ftype = self.field_spec(trig.field.name)
            if key != event["field"]:
                return False
            if trig.to is not None and not self._same(ftype, trig.to, event.get("new")):
                return False
            if trig.from_ is not None and not self._same(ftype, trig.from_, event.get("old")):
                return False
            return True
        if kind in ("added to list", "removed from list"):
            return trig.target is not None and self.asset_key("list", trig.target, here) == event["list"]
        if kind == "program status is changed":
            if trig.target is None:
                return False
            name = trig.target.program or trig.target.name
            if self.program_key(self.find_program(name, here)) != event["program"]:
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


# --------------------------------------------------------------------------
# campaign explain PATH CAMPAIGN --person EMAIL


def explain_person(engine: Engine, campaign: CampaignInfo | ast.Ref | str, who: int | str) -> dict[str, Any]:
    """Why a person does or does not qualify for a campaign now: each filter
    with the person's value and whether it holds, the smart list's logic,
    the qualification rule and the person's last run, and — when the person
    qualifies — the path a run would take (choices taken, activities), from
    a dry run on a copy of the store. Writes nothing."""
    c = engine.campaign(campaign)
    pid = engine.person_id(who)
    person = engine.store.person(pid)
    assert person is not None
    sources = engine.program.sources

    def text(node: ast.Node) -> str:
        sp = node.span
        if sp is None or sp.file not in sources:
            return type(node).__name__
        return " ".join(sources[sp.file].text[sp.start:sp.end].split())

    sl = c.smart_list
    filters = []
    for number, f in enumerate(sl.filters if sl else (), 1):
        entry: dict[str, Any] = {"number": number, "filter": text(f)}
        try:
            entry["holds"] = engine.filter_pred(f, c.program)(person)
        except InvalidSmartList as exc:
            entry["holds"] = False
            entry["invalid"] = str(exc)
        if isinstance(f, ast.FieldFilter):
            found = engine.model.field(f.field.name)
            if found is not None:
                entry["value"] = format_value(person.get(ast.name_key(found[0])))
                entry["field"] = found[0]
        elif isinstance(f, ast.ListFilter):
            try:
                entry["value"] = "member" if engine.store.in_list(engine.asset_key("list", f.list, c.program), pid) \
                    else "not a member"
            except InvalidSmartList:
                pass
        elif isinstance(f, ast.ProgramFilter):
            try:
                m = engine.store.membership(engine.program_key(engine.find_program(f.program, c.program)), pid)
                entry["value"] = "not a member" if m is None else f"member, status {m.status or 'none'}"
            except InvalidSmartList:
                pass
        filters.append(entry)
    smart_list_holds = engine.matches(sl, person, c.program)
    rule = c.rule
    last = engine.store.last_run(pid, c.qualname)
    rule_allows = engine.rule_allows(c, person)
    report: dict[str, Any] = {
        "format_version": 1,
        "campaign": c.qualname, "kind": c.kind, "person": person.email, "time": iso(engine.now),
        "logic": (sl.expression if sl is not None and sl.logic == "advanced" else (sl.logic if sl else "all")),
        "triggers": [text(t) for t in (sl.triggers if sl else ())],
        "filters": filters,
        "smart list holds": smart_list_holds,
        "rule": rule.rule + (f" {rule.period.text}" if rule.period is not None else ""),
        "last run": last,
        "rule allows": rule_allows,
        "qualifies": smart_list_holds and rule_allows,
        "choices": [], "activities": [],
    }
    if report["qualifies"] and c.kind != "executable":
        copy = Engine(engine.program, engine.store.copy_to_memory(), Clock(engine.now))
        copy.trace = []
        with copy._action("explain", c.qualname):
            copy._start(c, copy.store.person(pid), TokenContext.own(c), (), "explain", check_smart_list=False)
        report["choices"] = copy.trace
        report["activities"] = [a.to_json() for a in copy.store.activities(person=pid)
                                if a.id > engine.store.last_activity_id()]
        copy.store.close()
    return report


def render_explanation(report: dict[str, Any]) -> str:
    """``campaign explain --person`` as text."""
    yes = {True: "yes", False: "no"}
    lines = [f"{report['person']} and {report['campaign']} ({report['kind']}) at {report['time']}:"]
    for t in report["triggers"]:
        lines.append(f"  trigger  {t}  (needs the event)")
    if not report["filters"]:
        lines.append("  no filters: everyone who reaches it qualifies" if report["kind"] == "executable"
                     else "  no filters")
    for f in report["filters"]:
        value = f" — the person's value: {f['value'] or 'empty'}" if "value" in f else ""
        why = f" (invalid: {f['invalid']})" if "invalid" in f else ""
        lines.append(f"  {f['number']}. {'holds' if f['holds'] else 'fails'}  {f['filter']}{value}{why}")
    lines.append(f"  smart list ({report['logic']}): {'holds' if report['smart list holds'] else 'fails'}")
    lines.append(f"  qualification rule: qualify {report['rule']}; last run: {report['last run'] or 'never'}; "
                 f"allows: {yes[report['rule allows']]}")
    lines.append(f"  qualifies now: {yes[report['qualifies']]}")
    for ch in report["choices"]:
        taken = "else" if ch["else"] else f"branch {ch['branch']}"
        lines.append(f"  choice '{ch['step']}' (line {ch['line']}) in {ch['campaign']}: {taken}"
                     + (", does nothing" if ch["does nothing"] else ""))
    if report["activities"]:
        lines.append("  a run now would do:")
        for a in report["activities"]:
            attrs = ", ".join(f"{k}={v!r}" for k, v in a["attributes"].items())
            lines.append(f"    {a['type']}  [{a['campaign'] or '-'}] {attrs}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Data files (LANGUAGE.md §11): people (CSV or JSON) and events (JSON lines)


def read_people(path: str | Path, model: Model) -> list[dict[str, Any]]:
    """People from a CSV or JSON file: one column or key per field, named as
    the language names fields (case-insensitive); values converted to each
    field's type. ``RunError`` names the row and column of a bad value, or
    the unknown column with the known fields."""
    import csv
    import json

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RunError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
        if isinstance(data, dict) and "people" in data:
            data = data["people"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise RunError(f"{path}: expected a list of objects, one per person")
        rows = [(i + 1, r) for i, r in enumerate(data)]
        where = "person"
    else:
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None:
            return []
        rows = [(i + 2, {k: v for k, v in r.items() if k is not None}) for i, r in enumerate(reader)]
        where = "line"
    out = []
    known = ", ".join(model.field_names())
    for n, row in rows:
        rec: dict[str, Any] = {}
        for col, value in row.items():
            found = model.field(col)
            if found is None:
                raise RunError(f"{path}: the column '{col}' names no field; the fields are: {known}")
            name, type_ = found
            if value is None or (isinstance(value, str) and value.strip() == "" and type_ not in ("text", "email")):
                continue
            try:
                rec[name] = convert(type_, value)
            except ValueError as exc:
                raise RunError(f"{path}: {where} {n}, column '{col}': {exc}") from None
        if not rec.get("Email Address"):
            raise RunError(f"{path}: {where} {n} has no Email Address")
        out.append(rec)
    return out


def read_events(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Events from a JSON lines file: (line number, event object)."""
    import json

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunError(f"{path}:{n}: not JSON: {exc.msg}") from None
        if not isinstance(ev, dict):
            raise RunError(f"{path}:{n}: an event is a JSON object")
        for key in ("at", "person", "trigger"):
            if key not in ev:
                raise RunError(f"{path}:{n}: the event has no '{key}'")
        out.append((n, ev))
    return out


def replay_events(engine: Engine, events: Sequence[tuple[int, dict[str, Any]]], source: str = "events",
                  create_people: bool = True) -> list[ActionResult]:
    """Replay events in time order: advance to each event's time (running
    what falls due), then fire it. People missing from the store are created."""
    results = []
    last = None
    for n, ev in events:
        try:
            at = parse_time(str(ev["at"]))
        except ValueError as exc:
            raise RunError(f"{source}:{n}: {exc}") from None
        if last is not None and at < last:
            raise RunError(f"{source}:{n}: events must come in time order ({ev['at']} is before the previous event)")
        if at < engine.now:
            raise RunError(f"{source}:{n}: {ev['at']} is before the store's clock ({iso(engine.now)})")
        last = at
        results.append(engine.advance(at))
        people = ev["person"] if isinstance(ev["person"], list) else [ev["person"]]
        for who in people:
            if create_people and engine.store.find_person(str(who)) is None:
                results.append(engine.add_person(str(who)) and engine.advance(None))
        kind = " ".join(str(ev["trigger"]).split())
        target = ev.get("name")
        try:
            results.append(engine.fire(kind, people, target, ev.get("attributes") or {},
                                       field_name=ev.get("field"), to=ev.get("to"), from_=ev.get("from")))
        except RunError as exc:
            raise RunError(f"{source}:{n}: {exc}") from None
    return results
