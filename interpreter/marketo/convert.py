"""Marketo records -> ``.campaign`` files: the importer's translation.

Owns how an instance read by ``source.fetch_instance`` becomes the language:
which files are written, where each asset goes, and what is kept as a comment
because the language cannot express it. Names and ids come from ``tables``.

The files (docs/marketo.md, "What is written"):

* one file per workspace (``Default.campaign`` holds the Default workspace's
  declarations outside any ``workspace`` block; ``EMEA.campaign`` holds
  ``workspace "EMEA" { ... }``), Marketing Folders nested as ``folder``
  blocks, programs inside them, with their channel statuses, My Tokens,
  static lists, named smart lists, forms, emails and smart campaigns;
* ``fields.campaign`` with the custom fields the rules use (when any), which
  each workspace file imports;
* ``marketo.campaign``, the entry point, importing every workspace file;
* ``marketo-ids.json``: Marketo's ids of what was written (campaigns,
  programs, lists, smart lists, emails, forms), read by ``campaign replay``.

Every skipped thing becomes a comment at its place, starting
``# not imported (KIND): `` and is counted in ``ImportResult.skipped``.
Flows cannot be read through the REST API: each campaign gets ``flow {}``
under the comment ``FLOW_MARK``; ``flows`` (campaign key -> flow text) puts
back the flows a person wrote (a re-import keeps them).

The text built here is then laid out by ``format.format_source``, so the
files are exactly what ``campaign fmt`` writes.

Imports ``tables``, ``source`` (the Instance), and the language's ``format``
(spellings and layout) and ``stdlib.types``; never the checker or the engine.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from attrs import define, field

from .. import format as _fmt
from ..stdlib.types import FIELD_ALIASES, STANDARD_FIELDS
from . import tables
from .source import Instance, folder_ref

#: a duration as Marketo's conditions write it: "30 days"
_DURATION = re.compile(r"(\d+)\s+(minute|hour|day|week|month)s?")
#: a {{...}} reference to a namespace the language does not have
_FOREIGN_TOKEN = re.compile(r"\{\{(?!\s*(my|lead|campaign|program|member|trigger|system)\.)")

FLOW_MARK = "# flow not readable through Marketo's REST API: imported empty; write its steps here"
SKIP_PREFIX = "# not imported"
ENTRY_FILE = "marketo.campaign"
FIELDS_FILE = "fields.campaign"
IDS_FILE = "marketo-ids.json"
DEFAULT_WORKSPACE = "Default"
HEADER = "# imported from Marketo by campaign import marketo"

#: a campaign's key: (workspace, program, campaign)
CampaignKey = tuple[str, str, str]


@define
class Skipped:
    """One thing the language cannot express, kept as a comment."""

    kind: str          # filter, trigger, condition, logic, token, schedule, campaign, email...
    where: str         # "Webinar"."Register", or a folder's path
    text: str          # what Marketo has, briefly
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "where": self.where, "text": self.text, "reason": self.reason}


@define
class ImportResult:
    files: dict[str, str]                      # file name -> text (laid out by fmt)
    skipped: list[Skipped]
    ids: dict[str, dict[str, list[str]]]       # kind -> Marketo id -> [workspace, program, name]
    counts: dict[str, int] = field(factory=dict)


class _Skip(Exception):
    def __init__(self, kind: str, text: str, reason: str):
        super().__init__(reason)
        self.kind, self.text, self.reason = kind, text, reason


def _list(value: Any) -> list[Any]:
    """A JSON array, or nothing when the response holds something else there."""
    return value if isinstance(value, list) else []


def _q(text: str) -> str:
    return _fmt.quote(text)


def utc(text: Any) -> _dt.datetime | None:
    """A Marketo date-time (``2016-09-10T23:16:19Z+0000``, ``...-08:00``) in UTC, naive."""
    if not isinstance(text, str):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(?:\.\d+)?(Z)?([+-]\d\d:?\d\d)?", text.strip())
    if m is None:
        return None
    try:
        value = _dt.datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    offset = m.group(3)
    if offset:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        value -= sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value


def _datetime_text(value: _dt.datetime) -> str:
    return value.isoformat(timespec="seconds" if value.second else "minutes")


def _duration(amount: int, unit: str) -> str:
    """``2 weeks``, ``1 week``: the language's duration words."""
    unit = unit.rstrip("s")
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


class Converter:
    """One instance -> files. ``flows``: hand-written flows to keep."""

    def __init__(self, inst: Instance, flows: dict[CampaignKey, str] | None = None):
        self.inst = inst
        self.flows = flows or {}
        self.skipped: list[Skipped] = []
        self.ids: dict[str, dict[str, list[str]]] = {k: {} for k in
                                               ("campaigns", "programs", "lists", "smart_lists",
                                                "emails", "forms", "folders")}
        self.folders = {f["id"]: f for f in inst.folders
                        if str(f.get("folderType", "")) == "Marketing Folder" and not f.get("isSystem")}
        self.programs = {p["id"]: p for p in inst.programs}
        self.channels = {str(c.get("name", "")).casefold(): c for c in inst.channels}
        self.program_by_name: dict[tuple[str, str], dict] = {}
        for p in inst.programs:
            self.program_by_name.setdefault((self._workspace(p), p["name"].casefold()), p)
        # assets by "Program.Name", as Marketo's rule values name them
        self.assets: dict[str, dict[str, tuple[str, str]]] = {}
        for kind, records in (("list", inst.static_lists), ("smart list", inst.smart_lists),
                              ("email", inst.emails), ("form", inst.forms), ("campaign", inst.campaigns)):
            table = self.assets.setdefault(kind, {})
            for r in records:
                prog = self._program_of(r)
                if prog is not None:
                    table[f"{prog['name']}.{r['name']}".casefold()] = (prog["name"], r["name"])
                    table.setdefault(r["name"].casefold(), (prog["name"], r["name"]))
        self.custom_fields: dict[str, tuple[str, str]] = {}   # key -> (name, type)
        for f in inst.fields:
            rest: dict[str, Any] = f["rest"] if isinstance(f.get("rest"), dict) else {}
            display = f.get("displayName")
            ftype = tables.FIELD_DATA_TYPES.get(str(f.get("dataType", "")).lower())
            if not isinstance(display, str) or ftype is None:
                continue
            if tables.person_field(display) or tables.person_field(str(rest.get("name", ""))):
                continue
            for key in (display, rest.get("name")):
                if isinstance(key, str):
                    self.custom_fields[key.casefold()] = (display, ftype)
        self.used_fields: dict[str, str] = {}
        self.pending: list[_Skip] = []

    # -- places ------------------------------------------------------------------

    @staticmethod
    def _workspace(record: dict) -> str:
        ws = record.get("workspace")
        return ws if isinstance(ws, str) and ws.strip() else DEFAULT_WORKSPACE

    def _program_of(self, record: dict) -> dict | None:
        ref = folder_ref(record)
        return self.programs.get(ref[1]) if ref is not None and ref[0] == "Program" else None

    def _parent_folder(self, record: dict, key: str = "folder") -> int | None:
        ref = folder_ref(record, key)
        return ref[1] if ref is not None and ref[0] == "Folder" and ref[1] in self.folders else None

    def _dropped(self, exc: _Skip) -> None:
        """A constraint left out of a rule that is imported: its comment goes
        right after the rule's line (``_flush``)."""
        self.pending.append(exc)

    def _flush(self, where: str, out: list[str]) -> None:
        for exc in self.pending:
            self._skip(where, exc, out)
        self.pending.clear()

    def _skip(self, where: str, exc: _Skip, out: list[str]) -> None:
        self.skipped.append(Skipped(exc.kind, where, exc.text, exc.reason))
        out.append(f"{SKIP_PREFIX} ({exc.kind}): {exc.text}: {exc.reason}".replace("\n", " "))

    # -- values ------------------------------------------------------------------

    def field(self, marketo_name: str) -> tuple[str, str]:
        """(language name, type) of a field named in a rule; _Skip when unknown."""
        known = tables.person_field(marketo_name)
        if known is not None:
            lang = FIELD_ALIASES.get(known.language, known.language)
            return lang, STANDARD_FIELDS[lang]
        custom = self.custom_fields.get(marketo_name.strip().casefold())
        if custom is not None:
            self.used_fields[custom[0].casefold()] = f"{_q(custom[0])}: {custom[1]}"
            return custom
        raise _Skip("filter", marketo_name, "no standard field or custom field of a type the "
                    "language has goes by this name (custom fields come from rest/v1/leads/describe.json)")

    def value(self, ftype: str, raw: Any, what: str) -> str:
        text = str(raw).strip() if raw is not None else ""
        try:
            if ftype in ("integer", "score"):
                return str(int(text))
            if ftype == "decimal":
                return str(Decimal(text))
            if ftype == "date":
                return _dt.date.fromisoformat(text).isoformat()
            if ftype == "datetime":
                dt = utc(text) or _dt.datetime.fromisoformat(text)
                return _datetime_text(dt)
            if ftype == "boolean":
                if text.lower() in ("true", "false"):
                    return text.lower()
                raise ValueError
        except (ValueError, InvalidOperation):
            raise _Skip("condition", f"{what} {text!r}", f"not a {ftype} value") from None
        return _q(text)

    def asset(self, kind: str, value: str, here: str | None) -> str:
        """A reference to an asset Marketo's rule names ``Program.Name``."""
        hit = self.assets.get(kind, {}).get(value.strip().casefold())
        if hit is None:
            raise _Skip("filter" if kind != "campaign" else "trigger", value,
                        f"no {kind} of this name is in a program of the instance")
        program, name = hit
        return _q(name) if program == here else f"{_q(program)}.{_q(name)}"

    # -- rules -------------------------------------------------------------------

    @staticmethod
    def _conditions(rule: dict) -> tuple[dict | None, list[dict]]:
        conds = [c for c in _list(rule.get("conditions")) if isinstance(c, dict)]
        primary = next((c for c in conds if c.get("isPrimary")), conds[0] if conds else None)
        return primary, [c for c in conds if c is not primary]

    @staticmethod
    def _values(cond: dict | None) -> list[str]:
        if cond is None:
            return []
        vals = cond.get("values")
        return [str(v) for v in vals] if isinstance(vals, list) else []

    def _in_past(self, cond: dict) -> str:
        op = str(cond.get("operator", "")).strip().lower()
        vals = self._values(cond)
        m = _DURATION.fullmatch(vals[0].strip().lower()) if len(vals) == 1 else None
        if op != "in past" or m is None:
            raise _Skip("condition", f"{tables.DATE_OF_ACTIVITY} {op} {', '.join(vals)}",
                        "only 'in past N days|hours|weeks|months' is expressible")
        return _duration(int(m.group(1)), m.group(2))

    def filter_line(self, rule: dict, here: str) -> str:
        name = str(rule.get("name", "")).strip()
        spec = tables.filter_rule(name)
        primary, others = self._conditions(rule)
        if spec is None:
            return self._field_filter(name, rule, primary, others)
        if spec.phrase is None:
            raise _Skip("filter", name, "the language has no such filter yet")
        negated = tables.MEMBERSHIP_OPERATORS.get(str(rule.get("operator", "in")).strip().lower())
        if negated is None:
            raise _Skip("filter", f"{name} {rule.get('operator')}", "operator not expressible")
        vals = self._values(primary)
        if len(vals) != 1:
            raise _Skip("filter", f"{name} {', '.join(vals)}", "the language's filter names exactly one asset")
        tail = ""
        for cond in others:
            cname = str(cond.get("activityAttributeName", ""))
            if cname == tables.DATE_OF_ACTIVITY and spec.phrase not in (
                    "member of list", "member of smart list", "member of program"):
                tail = f" in past {self._in_past(cond)}"
            elif spec.phrase == "member of program" and cname == "Status" and len(self._values(cond)) == 1 \
                    and not negated:
                tail = f" status is {_q(self._values(cond)[0])}"
            else:
                self._dropped(_Skip("condition", f"{name}: {cname} {cond.get('operator', '')} "
                                    f"{', '.join(self._values(cond))}".strip(),
                                    "a constraint the language's filter does not take; the filter "
                                    "above is imported without it"))
        phrase = spec.phrase
        if spec.phrase == "member of list":
            target = self.asset("list", vals[0], here)
            phrase = "not member of list" if negated else phrase
        elif spec.phrase == "member of smart list":
            if negated:
                raise _Skip("filter", f"not {name}", "the language has no negated smart list filter")
            target = self.asset("smart list", vals[0], here)
        elif spec.phrase == "member of program":
            target = _q(vals[0])
            if not any(k[1] == vals[0].casefold() for k in self.program_by_name):
                raise _Skip("filter", f"{name} {vals[0]}", "no program of this name in the instance")
            phrase = "not member of program" if negated else phrase
        elif spec.phrase in ("filled out form",):
            target = self.asset("form", vals[0], here)
        elif spec.phrase in ("was sent email", "opened email", "clicked link in email"):
            target = self.asset("email", vals[0], here)
        elif spec.phrase == "campaign was run":
            target = self.asset("campaign", vals[0], here)
        else:   # visited web page: the page as Marketo names it
            target = _q(vals[0])
        if negated and spec.phrase not in ("member of list", "member of program"):
            raise _Skip("filter", f"{name} {rule.get('operator')}", "the language has no negated history filter")
        return f"filter {phrase} {target}{tail}"

    def _field_filter(self, name: str, rule: dict, primary: dict | None, others: list[dict]) -> str:
        lang, ftype = self.field(name)
        for c in others:
            self._dropped(_Skip("condition", f"{name}: {c.get('activityAttributeName')} {c.get('operator', '')}",
                                "a field filter takes no constraint; the filter above is imported without it"))
        raw_op = str((primary or {}).get("operator") or rule.get("operator") or "").strip()
        op = tables.operator(raw_op)
        vals = self._values(primary)
        where = f"{name} {raw_op} {', '.join(vals)}".strip()
        if op is None:
            raise _Skip("filter", where, f"operator '{raw_op}' not expressible")
        field_text = "lead." + _fmt.name(lang)
        if ftype == "boolean":
            if op in ("is true", "is false"):
                return f"filter {field_text} {op}"
            if op in ("is", "is not") and len(vals) == 1 and vals[0].lower() in ("true", "false"):
                truth = (vals[0].lower() == "true") == (op == "is")
                return f"filter {field_text} is {'true' if truth else 'false'}"
            raise _Skip("filter", where, "not a boolean comparison")
        from ..stdlib.filters import OPERATORS as LANG_OPS
        from ..stdlib.filters import OPS_BY_TYPE
        if op not in OPS_BY_TYPE.get(ftype, ()):
            raise _Skip("filter", where, f"'{raw_op}' does not apply to a {ftype} field in the language")
        operands = LANG_OPS[op][1]
        if operands == "none":
            return f"filter {field_text} {op}"
        if operands == "duration":
            m = _DURATION.fullmatch(vals[0].strip().lower()) if len(vals) == 1 else None
            if m is None:
                raise _Skip("filter", where, "not a duration like '30 days'")
            return f"filter {field_text} {op} {_duration(int(m.group(1)), m.group(2))}"
        if operands == "range":
            if len(vals) != 2:
                raise _Skip("filter", where, "'between' needs two values")
            return (f"filter {field_text} between {self.value(ftype, vals[0], name)} "
                    f"and {self.value(ftype, vals[1], name)}")
        if not vals:
            raise _Skip("filter", where, "no value")
        if operands == "value" and len(vals) != 1:
            raise _Skip("filter", where, f"'{raw_op}' takes one value")
        return f"filter {field_text} {op} {', '.join(self.value(ftype, v, name) for v in vals)}"

    def trigger_line(self, rule: dict, here: str) -> str:
        name = str(rule.get("name", "")).strip()
        spec = tables.trigger_rule(name)
        if spec is None or spec.phrase is None:
            raise _Skip("trigger", name, "the language has no such trigger yet")
        primary, others = self._conditions(rule)
        vals = self._values(primary)
        phrase = spec.phrase
        constraints = dict(spec.constraints)
        words: list[str] = []
        ftype = "text"
        if phrase == "person is created":
            words = []
            others = [c for c in ([primary] if primary else []) + others]
        elif phrase == "campaign is requested":
            sources = {tables.REQUEST_SOURCES.get(v.strip().lower()) for v in vals} or {"flow action"}
            if sources == set(tables.REQUEST_SOURCES.values()):
                sources = {"any"}          # every source Marketo offers
            if len(sources) != 1 or None in sources:
                raise _Skip("trigger", f"{name} source {', '.join(vals)}",
                            "one source of Marketo Flow Action, Web Service API or Sales Insight, or all three")
            source = next(iter(sources)) or "flow action"
            words = [] if source == "flow action" else ["from", source]
        else:
            if len(vals) != 1:
                raise _Skip("trigger", f"{name} {', '.join(vals)}", "the language's trigger names exactly one")
            if phrase in ("data value changes", "score is changed"):
                lang, ftype = self.field(vals[0])
                words = ["lead." + _fmt.name(lang)]
            elif phrase == "fills out form":
                words = [self.asset("form", vals[0], here)]
            elif phrase in ("opens email", "clicks link in email"):
                words = [self.asset("email", vals[0], here)]
            elif phrase in ("added to list", "removed from list"):
                words = [self.asset("list", vals[0], here)]
            else:   # visits web page, program status is changed
                words = [_q(vals[0])]
        extra: dict[str, str] = {}
        for cond in others:
            cname = str(cond.get("activityAttributeName", ""))
            keyword = constraints.get(cname)
            cvals = self._values(cond)
            if keyword is None or len(cvals) != 1 or str(cond.get("operator", "is")).lower() != "is":
                self._dropped(_Skip("condition", f"{name}: {cname} {cond.get('operator', '')} "
                                    f"{', '.join(cvals)}".strip(),
                                    "a constraint the language's trigger does not take; the trigger "
                                    "above is imported without it"))
                continue
            extra[keyword] = self.value(ftype, cvals[0], cname) if phrase == "data value changes" else _q(cvals[0])
        for keyword in ("to", "from"):
            if keyword in extra:
                words += [keyword, extra[keyword]]
        return " ".join(["trigger", phrase, *words])

    def smart_list(self, header: str, rules: dict | None, where: str, here: str, kind: str | None,
                   out: list[str]) -> tuple[int, int]:
        """Write a smart list block; (filters written, triggers written)."""
        rules = rules or {}
        body: list[str] = []
        n_triggers = 0
        for rule in _list(rules.get("triggers")):
            if not isinstance(rule, dict):
                self._skip(where, _Skip("trigger", str(rule), "not a rule object"), body)
                continue
            if kind in ("batch", "executable"):
                self._skip(where, _Skip("trigger", str(rule.get("name")), f"a {kind} campaign has no triggers"), body)
                continue
            try:
                body.append(self.trigger_line(rule, here))
                n_triggers += 1
            except _Skip as exc:
                self.pending.clear()
                self._skip(where, exc, body)
            self._flush(where, body)
        kept: list[int] = []      # Marketo filter numbers (1-based) written
        for k, rule in enumerate(_list(rules.get("filters")), 1):
            try:
                if not isinstance(rule, dict):
                    raise _Skip("filter", str(rule), "not a rule object")
                body.append(self.filter_line(rule, here))
                kept.append(k)
            except _Skip as exc:
                self.pending.clear()
                self._skip(where, exc, body)
            self._flush(where, body)
        total = len(_list(rules.get("filters")))
        match = str(rules.get("filterMatchType", "all")).strip().lower()
        logic = ""
        if match == "any":
            logic = " any"
        elif match == "advanced":
            expr = rules.get("customRuleLogic") or rules.get("ruleLogic")
            renumbered = self._renumber(expr, kept, total) if isinstance(expr, str) else None
            if renumbered is None or len(kept) < 3:
                reason = ("the advanced logic names a filter that was not imported" if isinstance(expr, str)
                          else "the response holds no customRuleLogic")
                if isinstance(expr, str) and len(kept) < 3 and renumbered is not None:
                    reason = "advanced logic needs three filters; fewer were imported"
                self._skip(where, _Skip("logic", f"advanced {expr!r}", reason + "; filters imported as ALL"), out)
            else:
                logic = f" logic {_q(renumbered)}"
        elif match not in ("all", ""):
            self._skip(where, _Skip("logic", match, "unknown filterMatchType; filters imported as ALL"), out)
        if body or header.startswith('smart list "'):
            out.append(f"{header}{logic} {{")
            out.extend(body)
            out.append("}")
        return len(kept), n_triggers

    @staticmethod
    def _renumber(expr: str, kept: list[int], total: int) -> str | None:
        numbers = {int(n) for n in re.findall(r"\d+", expr)}
        if any(n not in kept for n in numbers):
            return None
        new = {old: k for k, old in enumerate(kept, 1)}
        return re.sub(r"\d+", lambda m: str(new[int(m.group())]), expr.strip())

    # -- assets ------------------------------------------------------------------

    def tokens(self, owner: tuple[str, int], where: str, out: list[str]) -> None:
        lines: list[str] = []
        for t in sorted(self.inst.tokens.get(owner, []), key=lambda t: str(t.get("name")).casefold()):
            tname = str(t.get("name", "")).strip()
            if tname.lower().startswith("my."):
                tname = tname[3:]
            ttype = str(t.get("type", "")).strip().lower()
            raw = t.get("value")
            text = "" if raw is None else str(raw)
            try:
                kind = tables.TOKEN_TYPES.get(ttype)
                if kind is None:
                    raise _Skip("token", f"my.{tname} ({ttype})", "a token type the language does not know")
                if kind == "text":
                    if _FOREIGN_TOKEN.search(text):
                        raise _Skip("token", f"my.{tname}", "a {{...}} reference the language does not know")
                    value = _q(text)
                elif kind == "number":
                    try:
                        value = str(int(text)) if re.fullmatch(r"-?\d+", text.strip()) else str(Decimal(text.strip()))
                    except InvalidOperation:
                        raise _Skip("token", f"my.{tname} = {text!r}", "not a number") from None
                elif kind == "score":
                    m = re.fullmatch(r"\s*([+\-=]?)\s*(-?\d+)\s*", text)
                    if m is None:
                        raise _Skip("token", f"my.{tname} = {text!r}", "not a score change (+N, -N, =N)")
                    sign, digits = m.group(1) or "+", m.group(2)
                    value = f"{sign}{digits}" if sign == "=" or not digits.startswith("-") else digits
                else:
                    try:
                        value = _dt.date.fromisoformat(text.strip()[:10]).isoformat()
                    except ValueError:
                        raise _Skip("token", f"my.{tname} = {text!r}", "not a date") from None
                lines.append(f"my.{_fmt.name(tname)} = {value}")
            except _Skip as exc:
                self._skip(where, exc, lines)
        if lines:
            out.append("tokens {")
            out.extend(lines)
            out.append("}")

    def program(self, p: dict, out: list[str]) -> None:
        pname = p["name"]
        ws = self._workspace(p)
        self.ids["programs"][str(p["id"])] = [ws, pname]
        where = _q(pname)
        out.append(f"program {_q(pname)} {{")
        if isinstance(p.get("description"), str) and p["description"].strip():
            out.append(f"description {_q(p['description'])}")
        channel = self.channels.get(str(p.get("channel", "")).casefold())
        if channel is not None:
            listed = channel.get("progressionStatuses")
            statuses = sorted((s for s in (listed if isinstance(listed, list) else [])
                               if isinstance(s, dict) and isinstance(s.get("name"), str)
                               and s["name"].strip() and s["name"] != "Not in Program"),
                              key=lambda s: (s["step"] if isinstance(s.get("step"), int) else 0, s["name"]))
            names = list(dict.fromkeys(s["name"] for s in statuses))    # a status once
            if names:
                out.append("statuses " + ", ".join(_q(n) for n in names))
        elif p.get("channel"):
            self._skip(where, _Skip("statuses", str(p.get("channel")), "channel not in channels.json"), out)
        if str(p.get("type", "")).lower() == "nurture":
            self._skip(where, _Skip("program", "engagement program streams", "the language has no streams"), out)
        self.tokens(("Program", p["id"]), where, out)
        def mine(records: list[dict]) -> list[dict]:
            return sorted((r for r in records if self._program_of(r) is p), key=lambda r: r["id"])

        for r in mine(self.inst.static_lists):
            out.append(f"list {_q(r['name'])}")
            self.ids["lists"][str(r["id"])] = [ws, pname, r["name"]]
        for r in mine(self.inst.smart_lists):
            self.ids["smart_lists"][str(r["id"])] = [ws, pname, r["name"]]
            rules = (self.inst.smart_list_rules.get(r["id"]) or {}).get("rules")
            self.smart_list(f"smart list {_q(r['name'])}", rules, f"{where}.{_q(r['name'])}", pname, None, out)
        for r in mine(self.inst.forms):
            out.append(f"form {_q(r['name'])}")
            self.ids["forms"][str(r["id"])] = [ws, pname, r["name"]]
        for r in mine(self.inst.emails):
            self.email(r, ws, pname, out)
        for c in mine(self.inst.campaigns):
            self.campaign(c, ws, pname, out)
        out.append("}")

    def email(self, r: dict, ws: str, pname: str, out: list[str]) -> None:
        self.ids["emails"][str(r["id"])] = [ws, pname, r["name"]]
        items: list[str] = []
        for word, key in (("subject", "subject"), ("from", "fromEmail")):
            v = r.get(key)
            if isinstance(v, dict):
                if str(v.get("type", "Text")).lower() != "text":
                    self._skip(f"{_q(pname)}.{_q(r['name'])}",
                               _Skip("email", f"{key} ({v.get('type')})", "dynamic content is not expressible"), items)
                    continue
                v = v.get("value")
            if isinstance(v, str) and v.strip():
                if _FOREIGN_TOKEN.search(v):
                    self._skip(f"{_q(pname)}.{_q(r['name'])}",
                               _Skip("email", f"{word} {v!r}", "a {{...}} reference the language does not know"), items)
                    continue
                items.append(f"{word} {_q(v)}")
        out.append(f"email {_q(r['name'])} {{")
        out.extend(items)
        out.append("}")

    def campaign(self, c: dict, ws: str, pname: str, out: list[str]) -> None:
        cname = c["name"]
        where = f"{_q(pname)}.{_q(cname)}"
        kind = tables.CAMPAIGN_KINDS.get(str(c.get("type", "")).lower())
        if kind is None:
            self._skip(where, _Skip("campaign", f"{cname} ({c.get('type')})", "unknown campaign type"), out)
            return
        body: list[str] = []
        if isinstance(c.get("description"), str) and c["description"].strip():
            body.append(f"description {_q(c['description'])}")
        before = len(self.skipped)
        rules = (self.inst.campaign_rules.get(c["id"]) or {}).get("rules")
        n_filters, n_triggers = self.smart_list("smart list", rules, where, pname, kind, body)
        if (kind == "batch" and n_filters == 0) or (kind == "trigger" and n_triggers == 0):
            inner = "; ".join(f"{s.text}: {s.reason}" for s in self.skipped[before:])
            del self.skipped[before:]
            need = "filter" if kind == "batch" else "trigger"
            self._skip(where, _Skip("campaign", f"{cname} ({kind})",
                                    f"none of its {need}s is expressible, and a {kind} campaign needs one"
                                    + (f" ({inner})" if inner else "")), out)
            return
        self.ids["campaigns"][str(c["id"])] = [ws, pname, cname]
        flow = self.flows.get((ws, pname, cname))
        if flow is None:
            body += [FLOW_MARK, "flow {}"]
        else:
            body.append(flow)
        rule = str(c.get("qualificationRuleType", "once")).lower()
        if rule == "any":
            body.append("qualify every time")
        elif rule == "interval":
            unit = tables.QUALIFY_UNITS.get(str(c.get("qualificationRuleUnit", "")).lower())
            n = c.get("qualificationRuleInterval")
            if unit is None or not isinstance(n, int) or n < 1:
                self._skip(where, _Skip("qualify", f"interval {n} {c.get('qualificationRuleUnit')}",
                                        "not an interval the language has"), body)
            else:
                body.append(f"qualify once every {_duration(n, unit)}")
        if kind == "batch":
            self.schedule(c.get("recurrence"), where, body)
        active = bool(c.get("isActive")) if kind == "trigger" else True
        out.append(f"campaign {_q(cname)} {kind}{'' if active else ' inactive'} {{")
        out.extend(body)
        out.append("}")

    def schedule(self, rec: Any, where: str, out: list[str]) -> None:
        if not isinstance(rec, dict) or not rec.get("startAt"):
            return
        start = utc(rec.get("startAt"))
        if start is None:
            self._skip(where, _Skip("schedule", str(rec.get("startAt")), "not a date-time"), out)
            return
        unsupported = [k for k in ("endAt", "weekdayMask", "dayOfMonth", "dayOfWeek", "weekOfMonth")
                       if rec.get(k) not in (None, [], "")]
        if rec.get("weekdayOnly"):
            unsupported.insert(0, "weekdayOnly")
        kind = rec.get("intervalType")
        if unsupported:
            self._skip(where, _Skip("schedule", f"{kind or 'once'} from {_datetime_text(start)} with "
                                    + ", ".join(unsupported), "the language's schedule has a start and an "
                                    "interval only"), out)
            return
        if kind:
            unit = tables.RECURRENCE_UNITS.get(str(kind).lower())
            n = rec.get("interval") or 1
            if unit is None or not isinstance(n, int):
                self._skip(where, _Skip("schedule", f"{kind} {n}", "not an interval the language has"), out)
                return
            out.append(f"schedule every {_duration(n, unit)} starting {_datetime_text(start)}")
        else:
            out.append(f"schedule {_datetime_text(start)}")

    # -- folders and files ---------------------------------------------------------

    def folder(self, fid: int, out: list[str]) -> None:
        f = self.folders[fid]
        self.ids["folders"][str(fid)] = [self._workspace(f), str(f.get("name"))]
        out.append(f"folder {_q(str(f['name']))} {{")
        self.tokens(("Folder", fid), f"folder {_q(str(f['name']))}", out)
        self.contents(fid, self._workspace(f), out)
        out.append("}")

    def contents(self, parent: int | None, ws: str, out: list[str]) -> None:
        for fid in sorted(k for k, f in self.folders.items()
                          if self._parent_folder(f, "parent") == parent and self._workspace(f) == ws):
            self.folder(fid, out)
        for p in sorted(self.programs.values(), key=lambda p: p["id"]):
            if self._workspace(p) == ws and self._parent_folder(p) == parent:
                self.program(p, out)
        # what Marketo keeps in a folder but the language only in a program
        for kind, records in (("campaign", self.inst.campaigns), ("list", self.inst.static_lists),
                              ("smart list", self.inst.smart_lists), ("email", self.inst.emails),
                              ("form", self.inst.forms)):
            for r in sorted(records, key=lambda r: r["id"]):
                if self._program_of(r) is None and self._workspace(r) == ws and self._parent_folder(r) == parent:
                    if kind in ("email", "form") and parent is None:
                        reason = "a Design Studio asset: the language keeps assets in programs"
                    else:
                        reason = f"a {kind} outside a program: the language keeps them in programs"
                    self._skip(f"folder {_q(str(self.folders[parent]['name']))}" if parent else ws,
                               _Skip(kind, str(r["name"]), reason), out)

    def workspaces(self) -> list[str]:
        names = {self._workspace(r) for r in [*self.inst.programs, *self.folders.values()]}
        names.add(DEFAULT_WORKSPACE)
        return sorted(names, key=lambda n: (n != DEFAULT_WORKSPACE, n.casefold()))

    def run(self) -> tuple[dict[str, list[str]], list[str]]:
        """Raw (not yet laid out) lines per workspace file, and the fields lines."""
        raw: dict[str, list[str]] = {}
        for ws in self.workspaces():
            body: list[str] = []
            self.contents(None, ws, body)
            if ws == DEFAULT_WORKSPACE:
                raw[ws] = body
            else:
                raw[ws] = [f"workspace {_q(ws)} {{", *body, "}"]
        return raw, [self.used_fields[k] for k in sorted(self.used_fields)]


def file_name(workspace: str) -> str:
    """The file a workspace's declarations go to."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", workspace).strip("-.") or "workspace"
    return f"{stem}.campaign"


def convert(inst: Instance, flows: dict[CampaignKey, str] | None = None) -> ImportResult:
    """Translate ``inst``; files laid out by ``campaign fmt``'s rules."""
    conv = Converter(inst, flows)
    raw, field_lines = conv.run()
    files: dict[str, str] = {}
    names: list[str] = []
    used: set[str] = set()
    for ws, lines in raw.items():
        name = file_name(ws)
        while name.casefold() in used or name in (ENTRY_FILE, FIELDS_FILE):
            name = name[: -len(".campaign")] + "-.campaign"
        used.add(name.casefold())
        names.append(name)
        head = [HEADER] + ([f"import {_q(FIELDS_FILE)}"] if field_lines else [])
        files[name] = _layout("\n".join(head + [""] + lines) + "\n", name)
    if field_lines:
        files[FIELDS_FILE] = _layout("\n".join([HEADER, "fields {", *field_lines, "}"]) + "\n", FIELDS_FILE)
    files[ENTRY_FILE] = _layout("\n".join([HEADER] + [f"import {_q(n)}" for n in names]) + "\n", ENTRY_FILE)
    # the instance's own ids of the activity types the replay reads (ids.json)
    conv.ids["activity_types"] = {str(k): [v.marketo] for k, v in sorted(
        tables.resolve_activity_types(inst.activity_types).items())}
    counts: dict[str, int] = {}
    for s in conv.skipped:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    return ImportResult(files, conv.skipped, conv.ids, counts)


def _layout(text: str, name: str) -> str:
    return _fmt.format_source(text, name)


def skipped_by_kind(skipped: Iterable[Skipped]) -> dict[str, list[Skipped]]:
    out: dict[str, list[Skipped]] = {}
    for s in skipped:
        out.setdefault(s.kind, []).append(s)
    return out
