"""Flow steps (LANGUAGE.md §5): each entry says everything about its step in
one place: its words and slots (where its values, the only places tokens
stand, are: the ``value`` and ``values`` slots), the AST node it builds, its
documentation, the activity type it logs, the campaign kinds that may hold
it (with the checker's code for one that does not), and its compiler, the
step's one per-person implementation (``compile``; the set-based engine's
form of a step is in ``campaignlang.sets.plan``, proven equal to it by the
differential test). The parser, the formatter, the checker,
the editor and the evaluator read the entries; adding a step is its AST node
and its entry here.

A compiler is ``compile(ev, step, here) -> fn(run)``: called once per (flow,
program) with the evaluator (``evaluate.Evaluator``), it resolves names,
converts constants and encodes what it can, and returns the closure a run
calls for each person. The entries sit below the runtime
(docs/architecture.md): a compiler reaches the run's types and helpers
(``StepError``, ``EndRun``, ``Frame``...) through the evaluator it is given,
and imports runtime types only to annotate. A name that does not resolve,
or a constant that cannot be what it must be, raises (``InvalidSmartList``,
``StepError``) and the evaluator compiles the step to a closure that records
the ``Error`` activity for each person who reaches it.

Imports ``ast``, ``values`` and the vocabulary's shapes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from campaignlang import ast
from campaignlang.stdlib.vocabulary import Alt, Opt, Phrase, Slot
from campaignlang.values import convert, dumps, to_json_value

if TYPE_CHECKING:
    from campaignlang.evaluate import Evaluator, Run
    from campaignlang.model import CampaignInfo, ProgramInfo

#: what a compiler returns: the step for one person's run
Step = Callable[["Run"], None]

#: what the checker says when a campaign's kind may not hold a step (CL202, CL203)
_WAIT_REFUSAL = ("CL202", "an executable runs inside its parent's run and cannot pause; "
                          "request a trigger campaign that waits instead")
_WEBHOOK_REFUSAL = ("CL203", "webhooks are called from trigger campaigns only; "
                             "request a trigger campaign that calls it")


# --------------------------------------------------------------------------
# compilers (one per step; the entries below name them)

def _change_data_value(ev: Evaluator, step: ast.ChangeDataValue, here: ProgramInfo | None) -> Step:
    key, name, ftype = ev.step_field(step.field)
    setter = ev.field_setter(key, name)
    node = step.value
    if not isinstance(node, (ast.Template, ast.TokenRef)):
        value = ev.value(node, ftype, None, None)    # constant: converted once

        def change_constant(run: Run) -> None:
            setter(run, run.person, value)
        return change_constant
    bind = ev.bind
    is_text = ftype in ("text", "email")

    def change_rendered(run: Run) -> None:
        person = run.person
        text: Any = bind(node, run.frames[-1].ctx)
        if text.__class__ is not str:
            text = text(person)
        if is_text:
            value = text        # convert() of text to a text field is the text itself
        else:
            try:
                value = convert(ftype, text)
            except (ValueError, TypeError) as exc:
                raise ev.StepError(f"cannot set a {ftype} field: {exc}") from None
        setter(run, person, value)
    return change_rendered

def _change_score(ev: Evaluator, step: ast.ChangeScore, here: ProgramInfo | None) -> Step:
    key, name, ftype = ev.step_field(step.field)
    node = step.change
    fixed: tuple[str, int] | None = None
    if isinstance(node, ast.ScoreChange):
        fixed = (node.op, node.amount)
    elif isinstance(node, ast.Number) and isinstance(node.value, int) and node.value < 0:
        fixed = ("-", -node.value)     # `by -5` reads as a number: a subtraction
    elif not isinstance(node, (ast.TokenRef, ast.Template)):
        raise ev.StepError(f"{ev.literal_text(node)!r} is not a score change (+N, -N, =N)")
    store, clock, bind = ev.store, ev.clock, ev.bind
    write = store.field_writer(key)   # None: the email address, or no column (set_field)
    set_field, add = store.set_field, store.add_activity_json
    listens = ev.host.listens("score is changed")
    emit = ev.host.emit
    what = node.text if isinstance(node, ast.TokenRef) else ev.literal_text(node)
    attrs_of: dict[tuple[str, int], str] = {}
    parsed_texts = ev.score_texts
    decimal = ftype == "decimal"

    def change_score(run: Run) -> None:
        person = run.person
        if fixed is not None:
            op, amount = fixed
        else:
            text: Any = bind(node, run.frames[-1].ctx)
            if text.__class__ is not str:
                text = text(person)
            parsed = parsed_texts.get(text, False)
            if parsed is False:
                parsed = ev.parse_score_change(text)
                if len(parsed_texts) < 4096:
                    parsed_texts[text] = parsed
            if parsed is None:
                raise ev.StepError(f"{what} rendered {text!r}, which is not a score change (+N, -N, =N)")
            op, amount = parsed
        old = person.get(key)
        base = old or 0
        new = base + amount if op == "+" else base - amount if op == "-" else amount
        if decimal:
            new = Decimal(new)
        elif not -2 ** 63 < new < 2 ** 63:   # SQLite integers are 64-bit
            raise ev.StepError(f"{name} would become {str(new)[:30]}, more than a score holds (19 digits)")
        changed = new != old
        if changed:
            if write is None:
                set_field(person.id, key, new)
            else:
                write(person.id, new)
            person._vals[key] = new
        attrs = attrs_of.get((op, amount))
        if attrs is None:
            attrs = attrs_of[(op, amount)] = dumps({"field": name, "change": f"{op}{amount}"})
        add(person.id, "Change Score", run.frames[-1].key, run.id, clock.iso, attrs, key,
            None if old is None else dumps(old), dumps(new))
        if changed and listens:
            emit(person, "score is changed", field=key, field_name=name, old=old, new=new,
                 change=f"{op}{amount}")
    return change_score

def _send_email(ev: Evaluator, step: ast.SendEmail, here: ProgramInfo | None) -> Step:
    email = ev.resolve("email", step.email, here)
    key = ev.asset_key("email", step.email, here)
    items: list[tuple[str, Any]] = [("email", key)]
    for part in ("subject", "sender", "body"):
        node = getattr(email, part)
        if node is not None:
            items.append(("from" if part == "sender" else part, node))
    attrs_of = ev.json_object_builder(items, ev.bind)
    add, clock = ev.store.add_activity_json, ev.clock

    def send_email(run: Run) -> None:
        person = run.person
        frame = run.frames[-1]
        add(person.id, "Send Email", frame.key, run.id, clock.iso, attrs_of(frame.ctx, person), key)
    return send_email

def _send_alert(ev: Evaluator, step: ast.SendAlert, here: ProgramInfo | None) -> Step:
    email = ev.resolve("email", step.email, here)
    key = ev.asset_key("email", step.email, here)
    items: list[tuple[str, Any]] = [("email", key), ("to", list(step.recipients))]
    if email.subject is not None:
        items.append(("subject", email.subject))
    attrs_of = ev.json_object_builder(items, ev.bind)
    add, clock = ev.store.add_activity_json, ev.clock

    def send_alert(run: Run) -> None:
        person = run.person
        frame = run.frames[-1]
        add(person.id, "Send Alert", frame.key, run.id, clock.iso, attrs_of(frame.ctx, person), key)
    return send_alert

def _interesting_moment(ev: Evaluator, step: ast.InterestingMoment, here: ProgramInfo | None) -> Step:
    attrs_of = ev.json_object_builder([("type", step.type), ("description", step.description)], ev.bind)
    add, clock = ev.store.add_activity_json, ev.clock

    def interesting_moment(run: Run) -> None:
        person = run.person
        frame = run.frames[-1]
        add(person.id, "Interesting Moment", frame.key, run.id, clock.iso, attrs_of(frame.ctx, person))
    return interesting_moment

def _list_step(ev: Evaluator, step: ast.AddToList | ast.RemoveFromList, here: ProgramInfo | None) -> Step:
    write = ev.list_writer(ev.asset_key("list", step.list, here), isinstance(step, ast.AddToList))

    def list_step(run: Run) -> None:
        write(run, run.person)
    return list_step

def _change_program_status(ev: Evaluator, step: ast.ChangeProgramStatus, here: ProgramInfo | None) -> Step:
    change = ev.status_changer(ev.find_program(step.program, here, step), step.status)

    def change_program_status(run: Run) -> None:
        change(run, run.person)
    return change_program_status

def _change_member_data(ev: Evaluator, step: ast.ChangeMemberData, here: ProgramInfo | None) -> Step:
    program = ev.find_program(step.program, here, step)
    fields = {ast.name_key(n): n for n in program.member_fields}
    fkey = ast.name_key(step.member_field)
    if program.member_fields and fkey not in fields:
        raise ev.StepError(f'program "{program.name}" has no member field "{step.member_field}"')
    pkey = ev.program_key(program)
    node = step.value
    rendered = isinstance(node, (ast.Template, ast.TokenRef))
    fixed = None if rendered or isinstance(node, ast.Null) else to_json_value(ev.literal_value(node))
    attrs = {"program": program.name, "field": fields.get(fkey, step.member_field)}
    store, render, log = ev.store, ev.render, ev.log

    def change_member_data(run: Run) -> None:
        m = store.membership(pkey, run.person.id)
        if m is None:
            return   # only members have member data (as in Marketo): nothing to change
        value = render(node, run.person, run.frames[-1].ctx) if rendered else fixed
        old = m.data.get(fkey)
        if old == value:
            return
        data = dict(m.data)
        if value is None:
            data.pop(fkey, None)
        else:
            data[fkey] = value
        store.set_member_data(pkey, run.person.id, data)
        log(run, "Change Program Member Data", attrs, pkey, old, value)
    return change_member_data

def _change_lead_partition(ev: Evaluator, step: ast.ChangeLeadPartition, here: ProgramInfo | None) -> Step:
    """Marketo's Change Lead Partition: the person's ``Lead Partition``
    field (docs/language.md, "Lead partitions"); an activity when it
    moved; no trigger event (Marketo's Data Value Changes does not see it)."""
    key, name, _ftype = ev.field_spec("Lead Partition")
    partition = step.partition
    store, clock = ev.store, ev.clock
    write = store.field_writer(key)
    add = store.add_activity_json
    attrs = dumps({"partition": partition})
    new_json = dumps(partition)

    def change_lead_partition(run: Run) -> None:
        person = run.person
        old = person.get(key)
        if old == partition:
            return   # already in that partition: nothing moves
        if write is None:
            store.set_field(person.id, key, partition)
        else:
            write(person.id, partition)
        person._vals[key] = partition
        add(person.id, "Change Lead Partition", run.frames[-1].key, run.id, clock.iso, attrs, key,
            None if old is None else dumps(old), new_json)
    return change_lead_partition

def _delete_person(ev: Evaluator, step: ast.DeletePerson, here: ProgramInfo | None) -> Step:
    store, log = ev.store, ev.log

    def delete_person(run: Run) -> None:
        log(run, "Delete Person", {})
        store.delete_person(run.person.id)
        run.person.deleted = True
        raise ev.EndRun("deleted")
    return delete_person

def _call_webhook(ev: Evaluator, step: ast.CallWebhook, here: ProgramInfo | None) -> Step:
    hook = ev.resolve("webhook", step.webhook, here)
    prog = ev.model.program_of_asset("webhook", hook)
    key = f'{prog.quoted}."{hook.name}"' if prog else f'"{hook.name}"'
    method = hook.method.upper()
    render, log = ev.render, ev.log

    def call_webhook(run: Run) -> None:
        person, ctx = run.person, run.frames[-1].ctx
        url = render(hook.url, person, ctx, escape=ev.url_escape) if hook.url is not None else ""
        payload = ev.render_payload(hook.payload, person, ctx) if hook.payload is not None else None
        attrs: dict[str, Any] = {"webhook": key, "method": method, "url": url}
        if payload is not None:
            attrs["payload"] = payload
        handler = ev.host.webhook_handler(hook, prog)
        if handler is None:
            log(run, "Call Webhook", attrs, key)
            return
        request = ev.WebhookRequest(hook.name, key, method, url, payload, person.email)
        try:
            result = handler(request)
            # (status, JSON body): anything else is the handler's mistake, said as one
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError(f"a handler returns (status, body), not {type(result).__name__}")
            status, body = result
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise TypeError(f"the status must be a whole number from 100 to 599, not {status!r}"[:200])
            json.dumps(body)   # a body the activity log can hold (TypeError/ValueError otherwise)
        except ev.EndRun:
            raise
        except Exception as exc:   # the embedder's handler: any failure is this person's error
            log(run, "Call Webhook", attrs, key)
            raise ev.StepError(f'webhook "{hook.name}" handler failed: {type(exc).__name__}: {exc}') from None
        attrs["status"] = status
        attrs["response"] = body
        log(run, "Call Webhook", attrs, key)
        if 200 <= status < 300:
            for mapping in hook.responses:
                found, value = ev.json_path(body, mapping.path)
                if not found:
                    continue
                fkey, fname, ftype = ev.step_field(mapping.field)
                try:
                    typed = convert(ftype, value)
                except ValueError as exc:
                    raise ev.StepError(f"webhook response {mapping.path!r} -> {fname}: {exc}") from None
                ev.field_setter(fkey, fname, reason=f"webhook {key}")(run, person, typed)
    return call_webhook

def _request_campaign(ev: Evaluator, step: ast.RequestCampaign, here: ProgramInfo | None) -> Step:
    target = ev.resolve("campaign", step.campaign, here)
    attrs = {"campaign": target.qualname}
    log = ev.log

    def request_campaign(run: Run) -> None:
        log(run, "Request Campaign", attrs, target.qualname)
        ev.host.request_campaign(run, target)
    return request_campaign

def _execute_campaign(ev: Evaluator, step: ast.ExecuteCampaign, here: ProgramInfo | None) -> Step:
    child = ev.resolve("campaign", step.campaign, here)
    if child.kind != "executable":
        raise ev.StepError(f"{child.qualname} is not an executable campaign")
    use_parent = step.parent_context
    cq = child.qualname
    child_env = ev.program_env(child.program)
    store, clock = ev.store, ev.clock
    add = store.add_activity_json
    qualifies = ev.smart_list_pred(child.smart_list, child.program)
    rule_allows = ev.rule_allows
    every_time = child.rule.rule == "every time"
    exec_steps = ev.exec_steps
    head = '{"campaign":' + dumps(cq) + ',"parent":'
    tails = {q: f',"qualified":{dumps(q)},"{ev.PARENT_CONTEXT}":{dumps(use_parent)}}}'
             for q in (True, False)}
    parents: dict[str | None, str] = {}
    Frame, max_depth = ev.Frame, ev.MAX_EXECUTE_DEPTH

    def execute_campaign(run: Run) -> None:
        frames = run.frames
        frame = frames[-1]
        if len(frames) > max_depth:
            raise ev.StepError("execute campaign chain too deep: " + " > ".join(run.chain()))
        person = run.person
        qualified = qualifies(person) and (every_time or rule_allows(child, person))
        parent = parents.get(frame.key)
        if parent is None:
            parent = parents[frame.key] = dumps(frame.key)
        add(person.id, "Executed Campaign", frame.key, run.id, clock.iso,
            head + parent + tails[qualified], cq)
        if not qualified:
            return
        store.record_run(person.id, cq, clock.iso, run.id)
        frames.append(Frame(child, frame.ctx.for_child(child, use_parent, child_env), use_parent))
        try:
            exec_steps(run, child.steps, top=False)
        finally:
            frames.pop()
    return execute_campaign

def _remove_from_flow(ev: Evaluator, step: ast.RemoveFromFlow, here: ProgramInfo | None) -> Step:
    # each target resolved now; one that does not resolve fails when the
    # run reaches it (the targets before it have been removed by then)
    targets: list[tuple[CampaignInfo | None, str | None]] = []
    target: Any
    for target in step.campaigns:
        if isinstance(target, ast.ThisCampaign):
            targets.append((None, None))
            continue
        try:
            targets.append((ev.resolve("campaign", target, here), None))
        except ev.InvalidSmartList as exc:
            targets.append((None, str(exc)))
    log = ev.log

    def remove_from_flow(run: Run) -> None:
        frame = run.frames[-1]
        end = False
        running = {f.key for f in run.frames}
        for campaign, error in targets:
            if error is not None:
                raise ev.StepError(error)
            if campaign is None:   # this campaign
                campaign = frame.campaign
                if campaign is None:
                    raise ev.StepError("'this campaign' outside a campaign")
            log(run, "Remove from Flow", {"campaign": campaign.qualname}, campaign.qualname)
            ev.host.remove_from_flow(run.person, campaign)
            if campaign.qualname in running:
                end = True
        if end:
            raise ev.EndRun("removed from flow")
    return remove_from_flow


# --------------------------------------------------------------------------
# the entries

STEPS: tuple[Phrase, ...] = (
    Phrase("change data value", (Slot("field", "field"), "to", Slot("value", "value")),
           ast.ChangeDataValue, usage='change data value lead.Country to "US"',
           doc=('Sets a person field to a value (`to null` clears it; a string may hold tokens, '
                '`"{{lead.Notes}} more"` appends). Logs Change Data Value and fires `data value '
                'changes` when the value changes.'),
           activity="Change Data Value", compile=_change_data_value),
    Phrase("change score", (Slot("field", "field"), "by", Slot("change", "value")),
           ast.ChangeScore, usage='change score lead."Lead Score" by +10',
           doc=("Adds to, subtracts from or sets a score field: `+N`, `-N`, `=N`, `=-N`, or a My "
                "Token holding one. Always logs Change Score; fires `score is changed` when the "
                "value changes."),
           activity="Change Score", compile=_change_score),
    Phrase("send email", (Slot("email", "ref"),), ast.SendEmail,
           usage='send email "Invite"',
           doc=("Sends an email asset of a program to the person; its tokens render in the token "
                "context of this run. Logs Send Email."),
           activity="Send Email", compile=_send_email),
    Phrase("send alert", (Slot("email", "ref"), "to", Slot("recipients", "values")),
           ast.SendAlert, usage='send alert "Alert" to "owner@example.com"',
           doc=("Sends an email asset as an alert to the addresses given (not to the person). "
                "Logs Send Alert."),
           activity="Send Alert", compile=_send_alert),
    Phrase("add to list", (Slot("list", "ref"),), ast.AddToList,
           usage='add to list "Customers"',
           doc=("Adds the person to a static list; fires `added to list`. Nothing happens when "
                "they are already in it."),
           activity="Add to List", compile=_list_step),
    Phrase("remove from list", (Slot("list", "ref"),), ast.RemoveFromList,
           usage='remove from list "Customers"',
           doc=("Removes the person from a static list; fires `removed from list`. Nothing "
                "happens when they are not in it."),
           activity="Remove from List", compile=_list_step),
    Phrase("change program status", (Slot("program", "name"), "to", Slot("status", "name")),
           ast.ChangeProgramStatus, usage='change program status "Webinar" to "Registered"',
           doc=("Makes the person a member of a program with a status; never moves back in the "
                "program's channel order. Fires `program status is changed`."),
           activity="Change Program Status", compile=_change_program_status),
    Phrase("change program member data",
           (Slot("program", "name"), Slot("member_field", "name"), "to", Slot("value", "value")),
           ast.ChangeMemberData,
           usage='change program member data "Webinar" "Registration Code" to "A1"',
           doc=("Sets a program member field (declared with `member fields`) for the person's "
                "membership."),
           activity="Change Program Member Data", compile=_change_member_data),
    Phrase("interesting moment",
           (Slot("type", "word", ("web", "email", "milestone")), Slot("description", "value")),
           ast.InterestingMoment, usage='interesting moment web "Visited pricing"',
           doc=("Records an interesting moment of type web, email or milestone with a description"
                " (tokens allowed)."),
           activity="Interesting Moment", compile=_interesting_moment),
    Phrase("delete person", (), ast.DeletePerson, usage="delete person",
           doc="Deletes the person from the store; the run ends.",
           activity="Delete Person", compile=_delete_person),
    Phrase("wait", (Alt([("until", Slot("until", "value")), (Slot("duration", "duration"),)]),),
           ast.Wait, usage="wait 3 days / wait until 2026-12-01T09:00",
           doc=("Pauses the run for a duration or until a date-time; the run resumes when the "
                "virtual clock passes it. Not allowed in an executable campaign (use request "
                "campaign)."),
           activity="Wait", campaigns=("trigger", "batch"), refusal=_WAIT_REFUSAL),
    Phrase("call webhook", (Slot("webhook", "ref"),), ast.CallWebhook,
           usage='call webhook "Enrich"',
           doc=("Calls a webhook asset; its URL and payload render with this run's tokens, and "
                "`response` mappings apply on a 2xx response. Trigger campaigns only."),
           activity="Call Webhook", compile=_call_webhook, campaigns=("trigger",), refusal=_WEBHOOK_REFUSAL),
    Phrase("request campaign", (Slot("campaign", "ref"),), ast.RequestCampaign,
           usage='request campaign "Nurture"."Start"',
           doc=("Starts the target (an active trigger campaign listening for `campaign is "
                "requested`) separately, after this run ends or waits; this run never sees its "
                "effects."),
           activity="Request Campaign", compile=_request_campaign),
    Phrase("execute campaign",
           (Slot("campaign", "ref"), Opt(("use parent token context",), flag="parent_context")),
           ast.ExecuteCampaign,
           usage='execute campaign "Ops"."Score" use parent token context',
           doc=("Runs an executable campaign of the same workspace inline: its smart list and "
                "qualification rules are judged now, its whole flow runs before the next step. "
                "With `use parent token context` it sees this run's tokens. At most three levels "
                "deep."),
           activity="Executed Campaign", compile=_execute_campaign),
    Phrase("remove from flow", (Slot("campaigns", "targets"),), ast.RemoveFromFlow,
           usage='remove from flow "Nurture"."Drip" / remove from flow this campaign',
           doc=("Ends, for this person, every run of the named campaigns (paused and requested "
                "runs included); `this campaign` ends the current run."),
           activity="Remove from Flow", compile=_remove_from_flow),
    Phrase("change lead partition", ("to", Slot("partition", "name")), ast.ChangeLeadPartition,
           usage='change lead partition to "Partner Leads"',
           doc=("Moves the person to a lead partition (Marketo's Change Lead Partition): sets the "
                "`Lead Partition` field and logs Change Lead Partition. Nothing happens when they "
                "are in it already; fires no trigger."),
           activity="Change Lead Partition", compile=_change_lead_partition),
)

#: step phrase -> entry
BY_WORDS: dict[str, Phrase] = {p.words: p for p in STEPS}
#: node class -> entry (the formatter writes a step from its entry)
BY_NODE: dict[type, Phrase] = {p.node: p for p in STEPS}
