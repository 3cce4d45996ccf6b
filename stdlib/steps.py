"""Flow steps (LANGUAGE.md §5): each entry says everything the parser, the
formatter, the checker and the editor need of a step: its words and slots
(where its values, the only places tokens stand, are: the ``value`` and
``values`` slots), the AST node it builds, its documentation and the
activity type it logs. The evaluator's compiler for each node class is
``evaluate._STEP_COMPILERS``.
"""

from __future__ import annotations

from campaignlang import ast
from campaignlang.stdlib.vocabulary import Alt, Opt, Phrase, Slot

STEPS: tuple[Phrase, ...] = (
    Phrase("change data value", (Slot("field", "field"), "to", Slot("value", "value")),
           ast.ChangeDataValue, usage='change data value lead.Country to "US"',
           doc=('Sets a person field to a value (`to null` clears it; a string may hold tokens, '
                '`"{{lead.Notes}} more"` appends). Logs Change Data Value and fires `data value '
                'changes` when the value changes.'),
           activity="Change Data Value"),
    Phrase("change score", (Slot("field", "field"), "by", Slot("change", "value")),
           ast.ChangeScore, usage='change score lead."Lead Score" by +10',
           doc=("Adds to, subtracts from or sets a score field: `+N`, `-N`, `=N`, `=-N`, or a My "
                "Token holding one. Always logs Change Score; fires `score is changed` when the "
                "value changes."),
           activity="Change Score"),
    Phrase("send email", (Slot("email", "ref"),), ast.SendEmail,
           usage='send email "Invite"',
           doc=("Sends an email asset of a program to the person; its tokens render in the token "
                "context of this run. Logs Send Email."),
           activity="Send Email"),
    Phrase("send alert", (Slot("email", "ref"), "to", Slot("recipients", "values")),
           ast.SendAlert, usage='send alert "Alert" to "owner@example.com"',
           doc=("Sends an email asset as an alert to the addresses given (not to the person). "
                "Logs Send Alert."),
           activity="Send Alert"),
    Phrase("add to list", (Slot("list", "ref"),), ast.AddToList,
           usage='add to list "Customers"',
           doc=("Adds the person to a static list; fires `added to list`. Nothing happens when "
                "they are already in it."),
           activity="Add to List"),
    Phrase("remove from list", (Slot("list", "ref"),), ast.RemoveFromList,
           usage='remove from list "Customers"',
           doc=("Removes the person from a static list; fires `removed from list`. Nothing "
                "happens when they are not in it."),
           activity="Remove from List"),
    Phrase("change program status", (Slot("program", "name"), "to", Slot("status", "name")),
           ast.ChangeProgramStatus, usage='change program status "Webinar" to "Registered"',
           doc=("Makes the person a member of a program with a status; never moves back in the "
                "program's channel order. Fires `program status is changed`."),
           activity="Change Program Status"),
    Phrase("change program member data",
           (Slot("program", "name"), Slot("member_field", "name"), "to", Slot("value", "value")),
           ast.ChangeMemberData,
           usage='change program member data "Webinar" "Registration Code" to "A1"',
           doc=("Sets a program member field (declared with `member fields`) for the person's "
                "membership."),
           activity="Change Program Member Data"),
    Phrase("interesting moment",
           (Slot("type", "word", ("web", "email", "milestone")), Slot("description", "value")),
           ast.InterestingMoment, usage='interesting moment web "Visited pricing"',
           doc=("Records an interesting moment of type web, email or milestone with a description"
                " (tokens allowed)."),
           activity="Interesting Moment"),
    Phrase("delete person", (), ast.DeletePerson, usage="delete person",
           doc="Deletes the person from the store; the run ends.",
           activity="Delete Person"),
    Phrase("wait", (Alt([("until", Slot("until", "value")), (Slot("duration", "duration"),)]),),
           ast.Wait, usage="wait 3 days / wait until 2026-12-01T09:00",
           doc=("Pauses the run for a duration or until a date-time; the run resumes when the "
                "virtual clock passes it. Not allowed in an executable campaign (use request "
                "campaign)."),
           activity="Wait"),
    Phrase("call webhook", (Slot("webhook", "ref"),), ast.CallWebhook,
           usage='call webhook "Enrich"',
           doc=("Calls a webhook asset; its URL and payload render with this run's tokens, and "
                "`response` mappings apply on a 2xx response. Trigger campaigns only."),
           activity="Call Webhook"),
    Phrase("request campaign", (Slot("campaign", "ref"),), ast.RequestCampaign,
           usage='request campaign "Nurture"."Start"',
           doc=("Starts the target (an active trigger campaign listening for `campaign is "
                "requested`) separately, after this run ends or waits; this run never sees its "
                "effects."),
           activity="Request Campaign"),
    Phrase("execute campaign",
           (Slot("campaign", "ref"), Opt(("use parent token context",), flag="parent_context")),
           ast.ExecuteCampaign,
           usage='execute campaign "Ops"."Score" use parent token context',
           doc=("Runs an executable campaign of the same workspace inline: its smart list and "
                "qualification rules are judged now, its whole flow runs before the next step. "
                "With `use parent token context` it sees this run's tokens. At most three levels "
                "deep."),
           activity="Executed Campaign"),
    Phrase("remove from flow", (Slot("campaigns", "targets"),), ast.RemoveFromFlow,
           usage='remove from flow "Nurture"."Drip" / remove from flow this campaign',
           doc=("Ends, for this person, every run of the named campaigns (paused and requested "
                "runs included); `this campaign` ends the current run."),
           activity="Remove from Flow"),
    Phrase("change lead partition", ("to", Slot("partition", "name")), ast.ChangeLeadPartition,
           usage='change lead partition to "Partner Leads"',
           doc=("Moves the person to a lead partition (Marketo's Change Lead Partition): sets the "
                "`Lead Partition` field and logs Change Lead Partition. Nothing happens when they "
                "are in it already; fires no trigger."),
           activity="Change Lead Partition"),
)

#: step phrase -> entry
BY_WORDS: dict[str, Phrase] = {p.words: p for p in STEPS}
#: node class -> entry (the formatter writes a step from its entry)
BY_NODE: dict[type, Phrase] = {p.node: p for p in STEPS}
