"""Flow steps (LANGUAGE.md §5): each entry says everything the parser, the
formatter and the checker need of a step: its words and slots (where its
values, the only places tokens stand, are: the ``value`` and ``values``
slots), the AST node it builds and the activity type it logs. The
evaluator's compiler for each node class is ``evaluate._STEP_COMPILERS``.
"""

from __future__ import annotations

from campaignlang import ast
from campaignlang.stdlib.vocabulary import Alt, Opt, Phrase, Slot

STEPS: tuple[Phrase, ...] = (
    Phrase("change data value", (Slot("field", "field"), "to", Slot("value", "value")),
           ast.ChangeDataValue, usage='change data value lead.Country to "US"',
           activity="Change Data Value"),
    Phrase("change score", (Slot("field", "field"), "by", Slot("change", "value")),
           ast.ChangeScore, usage='change score lead."Lead Score" by +10',
           activity="Change Score"),
    Phrase("send email", (Slot("email", "ref"),), ast.SendEmail,
           usage='send email "Invite"',
           activity="Send Email"),
    Phrase("send alert", (Slot("email", "ref"), "to", Slot("recipients", "values")),
           ast.SendAlert, usage='send alert "Alert" to "owner@example.com"',
           activity="Send Alert"),
    Phrase("add to list", (Slot("list", "ref"),), ast.AddToList,
           usage='add to list "Customers"',
           activity="Add to List"),
    Phrase("remove from list", (Slot("list", "ref"),), ast.RemoveFromList,
           usage='remove from list "Customers"',
           activity="Remove from List"),
    Phrase("change program status", (Slot("program", "name"), "to", Slot("status", "name")),
           ast.ChangeProgramStatus, usage='change program status "Webinar" to "Registered"',
           activity="Change Program Status"),
    Phrase("change program member data",
           (Slot("program", "name"), Slot("member_field", "name"), "to", Slot("value", "value")),
           ast.ChangeMemberData,
           usage='change program member data "Webinar" "Registration Code" to "A1"',
           activity="Change Program Member Data"),
    Phrase("interesting moment",
           (Slot("type", "word", ("web", "email", "milestone")), Slot("description", "value")),
           ast.InterestingMoment, usage='interesting moment web "Visited pricing"',
           activity="Interesting Moment"),
    Phrase("delete person", (), ast.DeletePerson, usage="delete person",
           activity="Delete Person"),
    Phrase("wait", (Alt([("until", Slot("until", "value")), (Slot("duration", "duration"),)]),),
           ast.Wait, usage="wait 3 days / wait until 2026-12-01T09:00",
           activity="Wait"),
    Phrase("call webhook", (Slot("webhook", "ref"),), ast.CallWebhook,
           usage='call webhook "Enrich"',
           activity="Call Webhook"),
    Phrase("request campaign", (Slot("campaign", "ref"),), ast.RequestCampaign,
           usage='request campaign "Nurture"."Start"',
           activity="Request Campaign"),
    Phrase("execute campaign",
           (Slot("campaign", "ref"), Opt(("use parent token context",), flag="parent_context")),
           ast.ExecuteCampaign,
           usage='execute campaign "Ops"."Score" use parent token context',
           activity="Executed Campaign"),
    Phrase("remove from flow", (Slot("campaigns", "targets"),), ast.RemoveFromFlow,
           usage='remove from flow "Nurture"."Drip" / remove from flow this campaign',
           activity="Remove from Flow"),
    Phrase("change lead partition", ("to", Slot("partition", "name")), ast.ChangeLeadPartition,
           usage='change lead partition to "Partner Leads"', activity="Change Lead Partition"),
)

#: step phrase -> entry
BY_WORDS: dict[str, Phrase] = {p.words: p for p in STEPS}
#: node class -> entry (the formatter writes a step from its entry)
BY_NODE: dict[type, Phrase] = {p.node: p for p in STEPS}
