"""``campaign replay``: a Bulk Activity Extract replayed through the simulator
and compared with what Marketo's campaigns did.

Owns the reading of an extract file (the CSV columns ``marketoGUID, leadId,
activityDate, activityTypeId, campaignId, primaryAttributeValueId,
primaryAttributeValue, attributes``; ``attributes`` a JSON object) and the
comparison. The rules (docs/marketo.md, "Replaying an activity export"):

* A row **without** a campaign id whose type is a trigger in ``tables``
  (form fills, web page visits, email opens and clicks, data value and score
  changes, list additions and removals, program status changes, new people)
  is an *event*: replayed, in time order, through the engine's own event
  replay (``datafiles.replay_events``) on the virtual clock, which starts at the
  extract's first activity. Batch schedules fall due as the clock passes them.
* A row **with** a campaign id is what Marketo's campaign did: *expected*.
  The simulator's activities that carry a campaign are what the code did.
  Both are paired per (person, campaign, activity type, and what the
  activity acted on: the email, the list, the field and its new value, the
  program and its new status) in time order, a
  pair at most ``WINDOW`` (an hour; ``--window``) apart, for the activity
  types the extract holds (an extract is filtered by type: a type it does
  not hold is not compared), and reported per campaign and type as matched,
  missing (Marketo did it, the code did not) and extra (the reverse), with the
  first differing people and their first differing activity.
* People are the extract's lead ids, created before the replay without
  firing ``person is created`` (they existed before), with the fields a lead
  export gives them (``--leads``); a ``New Lead`` row fires it. Campaigns,
  lists, forms, emails and programs are found by Marketo id through
  ``marketo-ids.json``, which ``campaign import marketo`` writes beside the
  project.

Imports ``tables`` and the language's ``engine``, ``store``, ``clock``,
``format``; never click.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from attrs import define, field

from ..clock import Clock, iso, parse_time
from ..datafiles import replay_events
from ..engine import Engine
from ..errors import CampaignError
from ..format import quote
from ..store import Store
from . import tables
from .convert import utc
from .source import MarketoError

COLUMNS = ("marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
           "primaryAttributeValueId", "primaryAttributeValue", "attributes")
#: how a replayed person's email address is made from a Marketo lead id
EMAIL = "lead-{}@marketo.invalid"
#: differing people listed per campaign and type
FIRST_PEOPLE = 5
#: how far apart a Marketo activity and a simulated one may be and still match
WINDOW = _dt.timedelta(hours=1)


@define
class Row:
    line: int
    guid: str
    lead: int
    at: Any               # datetime, UTC
    type_id: int
    campaign: int | None
    primary_id: str
    primary: str
    attributes: dict[str, Any]


def _read_csv_text(path: str | Path) -> str:
    """A CSV file's text (a byte-order mark dropped), or one clear error."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MarketoError(f"no file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketoError(f"{path}: cannot be read: {exc}") from None


def read_extract(path: str | Path) -> list[Row]:
    """The rows of an extract file, checked whole; sorted by activity date
    (file order kept among equal dates)."""
    text = _read_csv_text(path)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != list(COLUMNS):
        raise MarketoError(f"{path}: not a Bulk Activity Extract file: the header must be "
                           + ",".join(COLUMNS))
    rows: list[Row] = []
    for n, rec in enumerate(reader, 2):
        if not rec:
            continue
        where = f"{path}: line {n}"
        if len(rec) != len(COLUMNS):
            raise MarketoError(f"{where}: {len(rec)} columns, expected {len(COLUMNS)}")
        guid, lead, date, type_id, campaign, pid, pval, attrs = rec
        try:
            lead_id, type_n = int(lead), int(type_id)
        except ValueError:
            raise MarketoError(f"{where}: leadId and activityTypeId must be whole numbers") from None
        at = utc(date)
        if at is None:
            raise MarketoError(f"{where}: activityDate {date!r} is not a date-time")
        camp: int | None = None
        if campaign.strip() not in ("", "null"):
            try:
                camp = int(campaign)
            except ValueError:
                raise MarketoError(f"{where}: campaignId {campaign!r} is not a whole number") from None
        try:
            attributes = json.loads(attrs) if attrs.strip() not in ("", "null") else {}
        except json.JSONDecodeError:
            raise MarketoError(f"{where}: attributes are not JSON") from None
        if isinstance(attributes, list):      # [{"name": ..., "value": ...}] as the REST API writes them
            attributes = {a.get("name"): a.get("value") for a in attributes if isinstance(a, dict)}
        if not isinstance(attributes, dict):
            raise MarketoError(f"{where}: attributes must be a JSON object")
        rows.append(Row(n, guid, lead_id, at, type_n, camp, pid, pval, attributes))
    rows.sort(key=lambda r: r.at)
    return rows


def read_leads(path: str | Path, engine: Engine) -> dict[int, dict[str, Any]]:
    """People as they were before the extract, from a lead export (a Bulk
    Lead Extract CSV): lead id -> their fields, converted to the project's
    types. The column ``id`` is the lead id; the others are fields, by REST
    name (``leadScore``), Marketo's display name or the language's name. The
    ``email`` column is left out: a replayed person is known by their lead id
    (Marketo allows two leads one address)."""
    text = _read_csv_text(path)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, None) or []]
    if "id" not in header:
        raise MarketoError(f"{path}: a lead export needs an 'id' column (the lead id)")
    columns: list[str | None] = []
    for h in header:
        if h in ("id", "email", "Email Address") or not h:
            columns.append(None)
            continue
        found = engine.model.field(tables.field_language_name(h))
        if found is None:
            raise MarketoError(f"{path}: column '{h}' names no field of the project; the fields are: "
                               + ", ".join(engine.model.field_names()))
        columns.append(found[0])
    at = header.index("id")
    leads: dict[int, dict[str, Any]] = {}
    for n, rec in enumerate(reader, 2):
        if not rec:
            continue
        if len(rec) != len(header):
            raise MarketoError(f"{path}: line {n}: {len(rec)} columns, expected {len(header)}")
        try:
            lead = int(rec[at])
        except ValueError:
            raise MarketoError(f"{path}: line {n}: id {rec[at]!r} is not a whole number") from None
        try:
            leads[lead] = engine._fields_from({c: v for c, v in zip(columns, rec) if c is not None and v != ""})
        except CampaignError as exc:
            raise MarketoError(f"{path}: line {n}: {exc}") from None
    return leads


@define
class Ids:
    """Marketo ids -> the language's names, from ``marketo-ids.json``."""

    data: dict[str, Any]

    def name(self, kind: str, marketo_id: Any) -> list[str] | None:
        hit = self.data.get(kind, {}).get(str(marketo_id).strip())
        return hit if isinstance(hit, list) and all(isinstance(x, str) for x in hit) else None

    def ref(self, kind: str, marketo_id: Any) -> str | None:
        """``"P"."N"`` (``"W"."P"."N"`` outside Default) for the engine."""
        hit = self.name(kind, marketo_id)
        if hit is None:
            return None
        parts = hit[1:] if hit[0] == "Default" else hit
        return ".".join(quote(p) for p in parts)

    def activity_types(self) -> dict[int, tables.ActivityType]:
        """Activity type ids: the standard ones, and those the instance's
        ``activities/types.json`` gave at import time (``activity_types``)."""
        listed = self.data.get("activity_types")
        entries = [{"id": int(k), "name": v[0]} for k, v in (listed or {}).items()
                   if isinstance(listed, dict) and str(k).isdigit() and isinstance(v, list) and v]
        return tables.resolve_activity_types(entries)

    def campaign(self, marketo_id: int) -> str | None:
        """The campaign's key in the store (``"P"."C"``, ``"W"."P"."C"``)."""
        hit = self.name("campaigns", marketo_id)
        if hit is None:
            return None
        parts = hit[1:] if hit[0] == "Default" else hit
        return ".".join(f'"{p}"' for p in parts)


def to_event(row: Row, ids: Ids, types: dict[int, tables.ActivityType]) -> dict[str, Any] | None:
    """The event a row is (the engine's event shape), or None when it is not
    a trigger or names something the project does not have."""
    kind = types.get(row.type_id)
    if kind is None or kind.trigger is None or row.campaign is not None:
        return None
    ev: dict[str, Any] = {"at": iso(row.at), "person": EMAIL.format(row.lead), "trigger": kind.trigger}
    trig = kind.trigger
    if trig == "visits web page":
        ev["name"] = str(row.attributes.get("Webpage URL") or row.primary)
    elif trig in ("fills out form", "opens email", "clicks link in email", "added to list",
                  "removed from list"):
        what = {"fills out form": "forms", "opens email": "emails", "clicks link in email": "emails",
                "added to list": "lists", "removed from list": "lists"}[trig]
        ref = ids.ref(what, row.primary_id)
        if ref is None:
            return None
        ev["name"] = ref
    elif trig in ("data value changes", "score is changed"):
        ev["field"] = tables.field_language_name(row.primary)
        new = row.attributes.get("New Value")
        ev["to"] = None if new in ("", None) else new
        if ev["to"] is None:
            return None
    elif trig == "program status is changed":
        prog = ids.name("programs", row.primary_id)
        status = row.attributes.get("New Status")
        if prog is None or not isinstance(status, str):
            return None
        ev["name"] = quote(prog[1]) if prog[0] == "Default" else f"{quote(prog[0])}.{quote(prog[1])}"
        ev["to"] = status
    elif trig == "campaign is requested":
        return None           # a requested campaign is a campaign activity, not an outside event
    for name, value in row.attributes.items():
        if isinstance(value, (str, int, float, bool)) and name not in ("New Value", "Old Value", "New Status",
                                                                       "Old Status"):
            ev.setdefault("attributes", {})[name] = value
    return ev


@define
class Difference:
    lead: int
    missing: int
    extra: int
    first: dict[str, Any]


@define
class Tally:
    campaign: str
    type: str
    matched: int = 0
    missing: int = 0
    extra: int = 0
    people: list[Difference] = field(factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "type": self.type, "matched": self.matched,
                "missing": self.missing, "extra": self.extra,
                "first_differing_people": [{"lead_id": d.lead, "email": EMAIL.format(d.lead),
                                            "missing": d.missing, "extra": d.extra,
                                            "first_activity": d.first} for d in self.people]}


@define
class ReplayResult:
    rows: int
    events: int
    unresolved: int
    people: int
    tallies: list[Tally]
    compared_types: list[str]
    unknown_campaigns: list[int]
    errors: int

    @property
    def matched(self) -> bool:
        return all(t.missing == 0 and t.extra == 0 for t in self.tallies) and not self.unknown_campaigns

    def to_json(self) -> dict[str, Any]:
        return {"format_version": 1, "rows": self.rows, "events_replayed": self.events,
                "events_not_replayed": self.unresolved, "people": self.people,
                "compared_types": self.compared_types, "all_matched": self.matched,
                "matched": sum(t.matched for t in self.tallies),
                "missing": sum(t.missing for t in self.tallies),
                "extra": sum(t.extra for t in self.tallies),
                "unknown_campaign_ids": self.unknown_campaigns, "errors": self.errors,
                "campaigns": [t.to_json() for t in self.tallies]}


def events_of(rows: Sequence[Row], ids: Ids, types: dict[int, tables.ActivityType]) -> list[dict[str, Any]]:
    return [ev for ev in (to_event(r, ids, types) for r in rows) if ev is not None]


def replay(program: Any, rows: Sequence[Row], ids: Ids,
           types: dict[int, tables.ActivityType] | None = None,
           window: _dt.timedelta = WINDOW, leads_file: str | Path | None = None) -> tuple[ReplayResult, Engine]:
    """Replay ``rows`` through ``program`` (a checked program) in a store in
    memory and compare; the engine is returned for inspection. With
    ``leads_file`` (``read_leads``) the people start with those fields."""
    types = types or ids.activity_types()
    start = rows[0].at if rows else None
    engine = Engine(program, Store(":memory:"), Clock(start))
    known = read_leads(leads_file, engine) if leads_file is not None else {}
    leads = sorted({r.lead for r in rows} | set(known))
    # the people existed before the extract's first activity: created silently
    with engine.store.transaction():
        for lead in leads:
            engine.store.add_person({**known.get(lead, {}), "email address": EMAIL.format(lead),
                                     "created at": start, "updated at": start})
    events = events_of(rows, ids, types)
    unresolved = sum(1 for r in rows if r.campaign is None and types.get(r.type_id) is not None
                     and types[r.type_id].trigger is not None) - len(events)
    try:
        with engine.store.transaction():
            results = replay_events(engine, list(enumerate(events, 1)), "extract", create_people=False)
            if rows:
                results.append(engine.advance(rows[-1].at))
    except CampaignError as exc:
        raise MarketoError(f"the replay stopped: {exc}") from None
    errors = sum(r.errors for r in results if r is not None)
    return compare(engine, rows, ids, types, len(events), unresolved, len(leads), errors, window), engine


def compare(engine: Engine, rows: Sequence[Row], ids: Ids, types: dict[int, tables.ActivityType],
            events: int, unresolved: int, people: int, errors: int,
            window: _dt.timedelta = WINDOW) -> ReplayResult:
    present = {r.type_id for r in rows}
    compared: set[str] = set()
    for type_id in present:
        language = types[type_id].language if type_id in types else None
        if language is not None:
            compared.add(language)
    expected: dict[tuple, list[tuple[_dt.datetime, dict[str, Any]]]] = {}
    unknown: set[int] = set()
    for r in rows:
        if r.campaign is None:
            continue
        kind = types.get(r.type_id)
        if kind is None or kind.language is None:
            continue
        camp = ids.campaign(r.campaign)
        if camp is None:
            unknown.add(r.campaign)
            continue
        expected.setdefault((r.lead, camp, kind.language, _marketo_detail(r, kind.language, ids)), []).append(
            (r.at, {"marketoGUID": r.guid, "activityDate": iso(r.at), "activityTypeId": r.type_id,
                    "primaryAttributeValue": r.primary, "attributes": r.attributes}))
    lead_of = {EMAIL.format(lead): lead for lead in {r.lead for r in rows}}
    actual: dict[tuple, list[tuple[_dt.datetime, dict[str, Any]]]] = {}
    for a in engine.store.activities():
        if a.campaign is None or a.type not in compared:
            continue
        lead = lead_of.get(a.email or "")
        if lead is None:
            continue
        actual.setdefault((lead, a.campaign, a.type, _simulated_detail(a)), []).append(
            (parse_time(a.at), {"at": a.at, "type": a.type, "attributes": a.attributes,
                                **({"old": a.old, "new": a.new} if a.old is not None or a.new is not None
                                   else {})}))
    # a type some of whose Marketo rows name no detail is compared without details
    vague = {k[2] for k in expected if k[3] is None}
    if vague:
        expected, actual = _collapse(expected, vague), _collapse(actual, vague)
    tallies: dict[tuple[str, str], Tally] = {}
    # (campaign, type) -> lead -> [missing, extra, first missing, first extra], firsts as (time, activity)
    differing: dict[tuple[str, str], dict[int, list[Any]]] = {}
    for key in sorted(set(expected) | set(actual), key=lambda k: (k[0], k[1], k[2], k[3] or "")):
        lead, camp, type_, _ = key
        t = tallies.setdefault((camp, type_), Tally(camp, type_))
        matched, missing, extra = _pair(expected.get(key, []), actual.get(key, []), window)
        t.matched += matched
        t.missing += len(missing)
        t.extra += len(extra)
        if missing or extra:
            entry = differing.setdefault((camp, type_), {}).setdefault(lead, [0, 0, None, None])
            entry[0] += len(missing)
            entry[1] += len(extra)
            for slot, found in ((2, missing), (3, extra)):
                if found and (entry[slot] is None or found[0][0] < entry[slot][0]):
                    entry[slot] = found[0]
    # the first differing people, in the order their first differing activity happened,
    # each with its first activity on either side (Marketo's row, the simulator's step)
    for k, by_lead in differing.items():
        def first_time(item: tuple[int, list[Any]]) -> tuple[Any, int]:
            return (min(x[0] for x in item[1][2:] if x is not None), item[0])
        tallies[k].people = [
            Difference(lead, m, x, {side: act[1] for side, act in (("in_marketo", fm), ("in_simulator", fx))
                                    if act is not None})
            for lead, (m, x, fm, fx) in sorted(by_lead.items(), key=first_time)[:FIRST_PEOPLE]]
    return ReplayResult(len(rows), events, unresolved, people, [tallies[k] for k in sorted(tallies)],
                        sorted(compared), sorted(unknown), errors)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _marketo_detail(row: Row, language_type: str, ids: Ids) -> str | None:
    """What a Marketo campaign activity acted on, spelled as the simulator's
    activity says it: the email sent, the list, the field and its new value,
    the program and its new status. None when the row does not say."""
    if language_type == "Send Email":
        ref = ids.ref("emails", row.primary_id)
        return None if ref is None else f"email {ref}"
    if language_type in ("Add to List", "Remove from List"):
        ref = ids.ref("lists", row.primary_id)
        return None if ref is None else f"list {ref}"
    if language_type == "Change Data Value":
        if not row.primary:
            return None
        return (f"field {tables.field_language_name(row.primary).casefold()} = "
                f"{_value_text(row.attributes.get('New Value'))}")
    if language_type == "Change Score":
        return f"field {tables.field_language_name(row.primary).casefold()}" if row.primary else None
    if language_type == "Change Program Status":
        prog = ids.name("programs", row.primary_id)
        status = row.attributes.get("New Status")
        return None if prog is None or status is None else f"program {prog[1]} = {status}"
    return None


def _simulated_detail(a: Any) -> str | None:
    attrs = a.attributes
    if a.type == "Send Email":
        return f"email {attrs.get('email')}"
    if a.type in ("Add to List", "Remove from List"):
        return f"list {attrs.get('list')}"
    if a.type == "Change Data Value":
        return f"field {str(attrs.get('field', '')).casefold()} = {_value_text(a.new)}"
    if a.type == "Change Score":
        return f"field {str(attrs.get('field', '')).casefold()}"
    if a.type == "Change Program Status":
        return f"program {attrs.get('program')} = {_value_text(a.new)}"
    return None


def _collapse(table: dict[tuple, list], vague: set[str]) -> dict[tuple, list]:
    """The same activities keyed without the detail for the ``vague`` types."""
    out: dict[tuple, list] = {}
    for (lead, camp, type_, detail), acts in table.items():
        out.setdefault((lead, camp, type_, None if type_ in vague else detail), []).extend(acts)
    return out


def _pair(marketo: list, simulated: list, window: _dt.timedelta) -> tuple[int, list, list]:
    """Pair one person's activities of one campaign and type in time order:
    a simulated activity at time s matches a Marketo one at e when
    s <= e <= s + ``window`` (the simulator acts at the event's time; Marketo
    logs the campaign's step then or a little later, never before).
    (matched, missing, extra)."""
    marketo, simulated = sorted(marketo, key=lambda x: x[0]), sorted(simulated, key=lambda x: x[0])
    i = j = matched = 0
    missing, extra = [], []
    while i < len(marketo) and j < len(simulated):
        e, s = marketo[i][0], simulated[j][0]
        if s <= e <= s + window:
            matched += 1
            i += 1
            j += 1
        elif e > s + window:
            extra.append(simulated[j])
            j += 1
        else:
            missing.append(marketo[i])
            i += 1
    missing += marketo[i:]
    extra += simulated[j:]
    return matched, missing, extra


def write_events(events: Iterable[dict[str, Any]], path: str | Path) -> int:
    """The events as the JSON lines ``campaign events`` reads; their count."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for ev in events:
            f.write(json.dumps(ev, ensure_ascii=False) + "\n")
            n += 1
    return n
