"""Static token explanation: which value a My Token takes in a campaign, per
call path, and from which scope (``campaign explain PATH CAMPAIGN --token
my.X``).

A campaign's flow can run in several token contexts (LANGUAGE.md §7): its
own, when it starts a run (a batch or trigger campaign) or is executed
without ``use parent token context``; or, for an executable, its caller's
context, passed down a chain of execute steps while every link says ``use
parent token context`` (a link without it starts afresh from that child). My
Tokens the passed context lacks fall back to the campaign's own lexical ones.
This module walks every chain of executions from a campaign that can start
a run down to the campaign asked about, and for each says which declaration
answers: the layer (program, folder, workspace) and, when it came through a
parent's context, which caller passed it. API-passed values are not known
statically; the report says where they would apply.

Also here: ``find_campaign`` reads the command line's CAMPAIGN argument
(``'"P"."C"'``, ``"P/C"`` or a bare name); and ``explain_person`` (``campaign
explain --person``): why a person does or does not qualify for a campaign
now, and what a run would do, from a dry run on a copy of the store.

Imports ``ast``, ``model``, ``environment``, ``graph``; ``check`` (for the
tokens a campaign uses) and ``engine`` (for the dry run) inside the
functions that need them, so the static explanation loads no engine.
Nothing imports it but the command line, the REPL and the API.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import TYPE_CHECKING, Any

from attrs import frozen

from . import ast
from .environment import Binding, Environment, Layer
from .graph import CallEdge, CallGraph, build_call_graph, flat_steps
from .model import CampaignInfo, Model
from .show import activity_details

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine

#: enough paths for any real program; more are summarised
MAX_PATHS = 50


@frozen
class PathValue:
    """One way a run reaches the campaign, and the token's value there."""

    start: CampaignInfo
    links: tuple[CallEdge, ...]          # execute steps from ``start`` down to the campaign
    binding: Binding | None              # None: defined nowhere -> renders blank
    layer: Layer | None
    via: CampaignInfo | None             # whose context supplied it (None: the campaign's own)

    @property
    def own(self) -> bool:
        return not self.links


@frozen
class TokenReport:
    campaign: CampaignInfo
    token: str                           # the name as asked, without "my."
    paths: tuple[PathValue, ...]
    truncated: bool = False
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": _campaign_json(self.campaign),
            "token": f"my.{self.token}",
            "paths": [_path_json(p) for p in self.paths],
            "truncated": self.truncated,
            "note": self.note,
            "api_override": "a value passed with run or request (API) overrides the start's My Token "
                            "for that run, and passes down while each link uses parent token context",
        }


def _campaign_json(c: CampaignInfo) -> dict[str, Any]:
    return {"program": c.program.name, "name": c.name, "kind": c.kind, "id": c.id}


def _path_json(p: PathValue) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": _campaign_json(p.start),
        "links": [{"from": _campaign_json(e.caller), "to": _campaign_json(e.target),
                   "use_parent_token_context": e.parent_context,
                   "line": e.step.span.line if e.step.span else None} for e in p.links],
        "defined": p.binding is not None,
        "value": value_text(p.binding.value) if p.binding else None,
        "renders": value_text(p.binding.value, raw=True) if p.binding else "",
        "layer": p.layer.kind if p.layer else None,
        "scope": p.layer.label if p.layer else None,
        "via": _campaign_json(p.via) if p.via else None,
    }
    return out


def value_text(v: ast.Node, raw: bool = False) -> str:
    """A token's declared value as written (``raw``: as it renders)."""
    if isinstance(v, ast.String):
        return v.value if raw else '"' + v.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, ast.Template):
        text = "".join(p if isinstance(p, str) else p.text for p in v.parts)
        return text if raw else f'"{text}"'
    if isinstance(v, (ast.ScoreChange, ast.Duration, ast.TokenRef)):
        return v.text
    if isinstance(v, ast.Number):
        return str(v.value)
    if isinstance(v, ast.Boolean):
        return "true" if v.value else "false"
    if isinstance(v, ast.Null):
        return "" if raw else "null"
    if isinstance(v, ast.Date):
        return v.value.isoformat()
    if isinstance(v, ast.DateTime):
        return v.value.isoformat(timespec="minutes")
    return str(getattr(v, "value", v))


def token_name(text: str) -> str:
    """``my.Score``, ``{{my.Score}}``, ``my."Event Name"`` or ``Score`` -> the name."""
    t = text.strip()
    if t.startswith("{{") and t.endswith("}}"):
        t = t[2:-2].strip()
    if t.startswith("my."):
        t = t[3:]
    if len(t) >= 2 and t[0] == t[-1] == '"':
        t = t[1:-1]
    return t


def find_campaign(model: Model, text: str) -> tuple[CampaignInfo | None, str | None]:
    """The campaign a command-line argument names, or (None, why not).
    Accepts ``"P"."C"`` (as in the language), ``P/C`` (for the shell's
    sake; a name holding ``/`` is found by trying each split) and a bare
    ``C`` or ``"C"`` that one program alone has."""
    t = text.strip()
    m = re.fullmatch(r'"((?:[^"\\]|\\.)*)"\s*\.\s*"((?:[^"\\]|\\.)*)"', t)
    candidates: list[tuple[str | None, str]] = []
    if m:
        candidates.append((m.group(1), m.group(2)))
    else:
        bare = t[1:-1] if len(t) >= 2 and t[0] == t[-1] == '"' else t
        for i, ch in enumerate(bare):
            if ch == "/":
                candidates.append((bare[:i], bare[i + 1:]))
        candidates.append((None, bare))
    found: list[CampaignInfo] = []
    for program, name in candidates:
        for c in model.campaigns:
            if c.name == name and (program is None or c.program.name == program) and c not in found:
                found.append(c)
        if found and program is not None:
            break
    if len(found) == 1:
        return found[0], None
    if len(found) > 1:
        listed = ", ".join(c.qualname for c in found[:5])
        return None, f"campaign {text!r} is ambiguous: {listed}; write it as '\"Program\".\"Campaign\"'"
    qualnames = {f"{c.program.name}/{c.name}": c for c in model.campaigns}
    names = {c.name: c for c in model.campaigns}
    hint = ""
    for program, name in candidates:
        pool, word = (qualnames, f"{program}/{name}") if program is not None else (names, name)
        close = difflib.get_close_matches(word, list(pool), n=1)
        if close:
            hint = f"; did you mean '{pool[close[0]].qualname}'?"
            break
    return None, f"no campaign {text!r}{hint}"


def _call_paths(graph: CallGraph, target: CampaignInfo) -> tuple[list[list[CallEdge]], bool]:
    """Every simple chain of valid execute edges that starts at a campaign
    with no valid callers (one that starts runs, or an executable nothing
    executes) and ends at ``target``; at most MAX_PATHS."""
    out: list[list[CallEdge]] = []
    truncated = False
    # depth first, backwards through callers
    stack: list[tuple[CampaignInfo, list[CallEdge]]] = [(target, [])]
    while stack:
        c, suffix = stack.pop()
        callers = graph.executed_by(c)
        on_path = {e.caller.id for e in suffix} | {target.id}
        if not callers or c.kind != "executable":
            if suffix:
                out.append(suffix)
            if c.kind != "executable":
                continue
        for e in reversed(callers):
            if e.caller.id in on_path:
                continue  # a cycle (CL206): follow each simple path only
            if len(out) >= MAX_PATHS:
                truncated = True
                break
            stack.append((e.caller, [e] + suffix))
    out.sort(key=lambda p: ([e.caller.id for e in p], [id(e.step) for e in p]))
    return out[:MAX_PATHS], truncated


def _lookup_along(path: list[CallEdge], name: str) -> tuple[Binding | None, Layer | None, CampaignInfo | None]:
    """Walk a chain from its start; return the binding the last campaign sees."""
    start = path[0].caller
    contexts: list[tuple[CampaignInfo, Environment]] = [(start, start.env())]
    for e in path:
        if e.parent_context:
            contexts.append((e.target, e.target.env()))
        else:
            contexts = [(e.target, e.target.env())]
    target = path[-1].target
    for owner, env in contexts:
        found = env.lookup(name)
        if found is not None:
            return found[0], found[1], (owner if owner is not target else None)
    return None, None, None


def explain_token(model: Model, campaign: CampaignInfo, token: str,
                  graph: CallGraph | None = None) -> TokenReport:
    """Which value ``my.<token>`` takes in ``campaign``: on its own, and along
    each chain of executions that reaches it."""
    name = token_name(token)
    graph = graph or build_call_graph(model)
    rows: list[PathValue] = []
    own = campaign.env().lookup(name)
    note = None
    paths, truncated = _call_paths(graph, campaign)
    if campaign.kind != "executable" or not paths:
        b, layer = own if own else (None, None)
        rows.append(PathValue(campaign, (), b, layer, None))
        if campaign.kind == "executable":
            note = f"nothing executes {campaign.qualname}; its own context is shown"
    for p in paths:
        b, layer, via = _lookup_along(p, name)
        rows.append(PathValue(p[0].caller, tuple(p), b, layer, via))
    return TokenReport(campaign, name, tuple(rows), truncated, note)


def tokens_used(model: Model, campaign: CampaignInfo, refs: dict | None = None) -> list[str]:
    """The My Tokens a campaign's flow (and the emails and webhooks it uses)
    refer to, in order of first use; those its scope declares when none."""
    from .check import tokens_in  # the checker's token walk
    names: dict[str, str] = {}
    origin = campaign
    while origin.node.flow is None and origin.clone_of is not None and origin.clone_of is not campaign:
        origin = origin.clone_of
    for step in flat_steps(campaign.steps):
        parts: list[ast.Node] = [step]
        if isinstance(step, (ast.SendEmail, ast.SendAlert, ast.CallWebhook)):
            ref = step.webhook if isinstance(step, ast.CallWebhook) else step.email
            kind = "webhook" if isinstance(step, ast.CallWebhook) else "email"
            asset = (refs or {}).get(ref.span) or model.resolve(kind, ref, origin.program).found
            if isinstance(asset, ast.Email):
                parts += [p for p in (asset.subject, asset.sender, asset.body) if p is not None]
            elif isinstance(asset, ast.Webhook):
                parts += [p for p in (asset.url, asset.payload) if p is not None]
        for part in parts:
            for tok in tokens_in(part):
                if tok.namespace == "my":
                    names.setdefault(ast.name_key(tok.name), tok.name)
    if not names:
        return campaign.env().names()
    return list(names.values())


# --------------------------------------------------------------------------
# Text


def _kind(c: CampaignInfo) -> str:
    return f"{c.qualname} ({c.kind})"


def render_report(report: TokenReport) -> str:
    c = report.campaign
    lines = [f"my.{report.token} in {_kind(c)}"]
    for row in report.paths:
        lines.append("")
        if row.own:
            how = ("run on its own" if c.kind != "executable" else "in its own context")
            lines.append(f"  {how}")
        else:
            chain = _kind(row.start)
            for e in row.links:
                word = "with parent token context" if e.parent_context else "without parent token context"
                at = f"{e.step.span.file}:{e.step.span.line}"   # several files may be loaded
                chain += f"\n    > executes {_kind(e.target)} {word} ({at})"
            lines.append(f"  {chain}")
        if row.binding is None:
            lines.append(f"    = undefined: my.{report.token} renders blank")
        else:
            where = row.layer.label if row.layer else "?"
            if row.via is not None:
                where += f", through the parent token context of {row.via.qualname}"
            lines.append(f"    = {value_text(row.binding.value)}  from {where}")
    if report.note:
        lines += ["", f"  note: {report.note}"]
    if report.truncated:
        lines += ["", f"  note: only the first {MAX_PATHS} call paths are shown"]
    lines += ["", "  A value passed with run or request (API) overrides the start's my."
              f"{report.token} for that run, and passes down while each link uses parent token context."]
    return "\n".join(lines)


def render_reports(reports: list[TokenReport], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps({"format_version": 1, "tokens": [r.to_json() for r in reports]}, indent=2)
    return "\n\n".join(render_report(r) for r in reports)


# --------------------------------------------------------------------------
# campaign explain PATH CAMPAIGN --person EMAIL


def explain_person(engine: "Engine", campaign: "CampaignInfo | ast.Ref | str", who: int | str) -> dict[str, Any]:
    """Why a person does or does not qualify for a campaign now: each filter
    with the person's value and whether it holds, the smart list's logic,
    the qualification rule and the person's last run, and — when the person
    qualifies — the path a run would take (choices taken, activities), from
    a dry run on a copy of the store. Writes nothing."""
    from .clock import Clock, iso
    from .engine import Engine
    from .evaluate import InvalidSmartList, TokenContext
    from .values import format_value

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
            entry["holds"] = engine.evaluator.filter_pred(f, c.program)(person)
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
                lkey = engine.evaluator.asset_key("list", f.list, c.program)
                entry["value"] = "member" if engine.store.in_list(lkey, pid) \
                    else "not a member"
            except InvalidSmartList:
                pass
        elif isinstance(f, ast.ProgramFilter):
            try:
                prog = engine.evaluator.find_program(f.program, c.program)
                m = engine.store.membership(engine.evaluator.program_key(prog), pid)
                entry["value"] = "not a member" if m is None else f"member, status {m.status or 'none'}"
            except InvalidSmartList:
                pass
        filters.append(entry)
    smart_list_holds = engine.evaluator.matches(sl, person, c.program)
    rule = c.rule
    last = engine.store.last_run(pid, c.qualname)
    rule_allows = engine.evaluator.rule_allows(c, person)
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
        copy.evaluator.trace = []
        with copy._action("explain", c.qualname):
            copy._start(c, copy.store.person(pid), TokenContext.own(c), (), "explain", check_smart_list=False)
        report["choices"] = copy.evaluator.trace
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
        where = f"{ch['file']}:{ch['line']}" if ch.get("file") else f"line {ch['line']}"
        lines.append(f"  choice '{ch['step']}' ({where}) in {ch['campaign']}: {taken}"
                     + (", does nothing" if ch["does nothing"] else ""))
    if report["activities"]:
        lines.append("  a run now would do:")
        for a in report["activities"]:
            lines.append(f"    {a['type']}  [{a['campaign'] or '-'}]  {activity_details(a, None)}".rstrip())
    return "\n".join(lines)
