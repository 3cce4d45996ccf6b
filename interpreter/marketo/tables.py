"""The Marketo tables: the one place where Marketo's ids and names meet the
language's words. Data plus small lookup functions; nothing else.

What lives here, and nowhere else:

* ``ACTIVITY_TYPES``: Marketo activity type ids (the ``activityTypeId`` of the
  Activities API and of Bulk Activity Extract files) with Marketo's name, the
  simulator's activity name (LANGUAGE.md §8), the trigger phrase the activity
  fires as an event (§4) when it is one, and the Marketo attribute names the
  interchange reads (``Change Score`` has ``Change Value``, ``Old Value``,
  ``New Value``).
* ``FILTERS`` and ``TRIGGERS``: Marketo smart list rule names (the ``name`` of
  a rule in ``rules.filters`` / ``rules.triggers`` of a smart list read with
  ``includeRules=true``) and the language phrase each maps to, or ``None`` when
  the language cannot express it yet (the importer then keeps it as a comment).
* ``OPERATORS``: Marketo's condition operators -> the language's.
* ``TOKEN_TYPES``: My Token types of the Tokens API -> the language's literal
  kinds.
* ``PERSON_FIELDS``: REST API names of standard person fields (``email``,
  ``firstName``...) -> the language's field names (§2), and Marketo's display
  names where they differ.
* ``CAMPAIGN_KINDS``, ``QUALIFY_UNITS``, ``RECURRENCE_UNITS``,
  ``REQUEST_SOURCES``: smart campaign attributes.

Where an id comes from: the ids below are the standard ones Marketo returns
from ``GET /rest/v1/activities/types.json`` (1 Visit Webpage, 2 Fill Out Form,
12 New Lead, 13 Change Data Value, 24 Add to List and 46 Interesting Moment
appear in Marketo's own developer documentation and examples; the others are
the same standard list). Marketo documents no fixed id for a few types the
simulator logs (``Executed Campaign``, ``Change Program Member Data``,
``Remove from Flow``, ``Campaign is Requested``): they have ``id=None`` here
and are resolved by *name* from an instance's own ``activities/types.json``
when one is given (``resolve_activity_types``). Other modules (the importer,
the replay, a local REST server) may append entries; keep each entry's
comment saying where it came from.

Imports nothing from campaignlang (plain data), so every layer may read it.
"""

from __future__ import annotations

from typing import NamedTuple

# --------------------------------------------------------------------------
# Activity types


class ActivityType(NamedTuple):
    """One Marketo activity type.

    ``language``: the simulator's activity name (§8), or None when the
    simulator never logs it. ``trigger``: the trigger phrase (§4) the activity
    fires as an event when it happens outside a campaign (a form fill, a web
    visit), or None. ``primary``: Marketo's primary attribute name (its
    ``primaryAttributeValue`` is the asset or field name). ``attributes``:
    Marketo attribute names the interchange reads, in Marketo's spelling."""

    id: int | None
    marketo: str
    language: str | None
    trigger: str | None
    primary: str | None
    attributes: tuple[str, ...] = ()


ACTIVITY_TYPES: tuple[ActivityType, ...] = (
    ActivityType(1, "Visit Webpage", "Visit Web Page", "visits web page", "Webpage ID",
                 ("Webpage URL", "Query Parameters", "Referrer URL", "Client IP Address",
                  "User Agent")),
    ActivityType(2, "Fill Out Form", "Fill Out Form", "fills out form", "Webform ID",
                 ("Form Fields", "Webpage ID", "Query Parameters", "Referrer URL",
                  "Client IP Address", "User Agent")),
    ActivityType(3, "Click Link", None, None, "Link ID", ("Webpage ID", "Query Parameters")),
    ActivityType(6, "Send Email", "Send Email", None, "Mailing ID",
                 ("Campaign Run ID", "Step ID", "Choice Number")),
    ActivityType(7, "Email Delivered", None, None, "Mailing ID", ("Campaign Run ID",)),
    ActivityType(8, "Email Bounced", None, None, "Mailing ID", ()),
    ActivityType(9, "Unsubscribe Email", None, None, "Mailing ID", ()),
    ActivityType(10, "Open Email", "Open Email", "opens email", "Mailing ID",
                 ("Device", "Platform", "User Agent")),
    ActivityType(11, "Click Email", "Click Email", "clicks link in email", "Mailing ID",
                 ("Link", "Device", "Platform", "User Agent")),
    ActivityType(12, "New Lead", "New Person", "person is created", None,
                 ("Source Type", "Form Name", "List Name")),
    ActivityType(13, "Change Data Value", "Change Data Value", "data value changes",
                 "Attribute Name", ("New Value", "Old Value", "Reason", "Source")),
    ActivityType(22, "Change Score", "Change Score", "score is changed", "Score Name",
                 ("Change Value", "Old Value", "New Value", "Reason")),
    ActivityType(24, "Add to List", "Add to List", "added to list", "List ID", ()),
    ActivityType(25, "Remove from List", "Remove from List", "removed from list", "List ID", ()),
    ActivityType(37, "Delete Lead", "Delete Person", None, None, ()),
    ActivityType(38, "Send Alert", "Send Alert", None, "Email ID", ("Send To List",)),
    ActivityType(46, "Interesting Moment", "Interesting Moment", None, None,
                 ("Type", "Description", "Source")),
    ActivityType(47, "Request Campaign", "Request Campaign", None, "Campaign ID", ("Source",)),
    ActivityType(104, "Change Status in Progression", "Change Program Status",
                 "program status is changed", "Program ID",
                 ("New Status", "Old Status", "Reason")),
    ActivityType(110, "Call Webhook", "Call Webhook", None, "Webhook ID", ("Response",)),
    # No documented fixed id: resolved by name from the instance's types.json.
    ActivityType(None, "Executed Campaign", "Executed Campaign", None, "Campaign ID",
                 ("Qualified", "Use Parent Token Context")),
    ActivityType(None, "Change Program Member Data", "Change Program Member Data", None,
                 "Program ID", ("Attribute Name", "New Value", "Old Value")),
    ActivityType(None, "Remove from Flow", "Remove from Flow", None, "Campaign ID", ()),
    ActivityType(None, "Campaign is Requested", "Campaign is Requested",
                 "campaign is requested", "Campaign ID", ("Source",)),
    # The simulator's own activity types that are no Marketo type (a paused run,
    # a run-time error): the local REST server lists and returns them like the
    # rest, so a client sees the whole log.
    ActivityType(None, "Wait", "Wait", None, None, ("Until", "Skipped")),
    ActivityType(None, "Error", "Error", None, None, ("Message",)),
)

_BY_ID: dict[int, ActivityType] = {a.id: a for a in ACTIVITY_TYPES if a.id is not None}
_BY_LANGUAGE: dict[str, ActivityType] = {
    a.language.lower(): a for a in ACTIVITY_TYPES if a.language is not None}
_BY_MARKETO: dict[str, ActivityType] = {a.marketo.lower(): a for a in ACTIVITY_TYPES}


def activity_type(type_id: int) -> ActivityType | None:
    """The activity type of a Marketo ``activityTypeId``, or None."""
    return _BY_ID.get(type_id)


def activity_type_for(language_name: str) -> ActivityType | None:
    """The Marketo activity type the simulator's activity ``language_name``
    (§8, ``"Change Score"``) corresponds to, or None."""
    return _BY_LANGUAGE.get(language_name.lower())


def activity_type_named(marketo_name: str) -> ActivityType | None:
    """The activity type Marketo calls ``marketo_name`` (``"Visit Webpage"``)."""
    return _BY_MARKETO.get(marketo_name.lower())


def resolve_activity_types(types_result: list[dict]) -> dict[int, ActivityType]:
    """Ids -> types for one instance, from the ``result`` of its
    ``GET /rest/v1/activities/types.json``: the standard ids, plus the types
    without a documented id matched by name (custom types stay unknown)."""
    table = dict(_BY_ID)
    for entry in types_result:
        known = _BY_MARKETO.get(str(entry.get("name", "")).lower())
        type_id = entry.get("id")
        if known is not None and isinstance(type_id, int):
            table[type_id] = known._replace(id=type_id)
    return table


# --------------------------------------------------------------------------
# Smart list rules


class Rule(NamedTuple):
    """A Marketo smart list rule (filter or trigger) by name.

    ``phrase``: the language phrase (§4), or None when the language cannot
    express it yet. ``primary``: the ``activityAttributeName`` of the primary
    condition (the asset, field or list the rule names). ``constraints``:
    Marketo constraint name -> the phrase's keyword (``"New Value"`` ->
    ``"to"``); any other constraint is kept as a comment."""

    marketo: str
    phrase: str | None
    primary: str | None = None
    constraints: tuple[tuple[str, str], ...] = ()


#: ``activityAttributeName`` of the date constraint of history filters
#: (activityAttributeId -101 in Marketo's smart-list example).
DATE_OF_ACTIVITY = "Date of Activity"

FILTERS: tuple[Rule, ...] = (
    Rule("Member of List", "member of list", "List"),
    Rule("Member of Smart List", "member of smart list", "Smart List"),
    Rule("Member of Program", "member of program", "Program", (("Status", "status is"),)),
    Rule("Filled out Form", "filled out form", "Form Name"),
    Rule("Visited Web Page", "visited web page", "Web Page"),
    Rule("Was Sent Email", "was sent email", "Email"),
    Rule("Opened Email", "opened email", "Email"),
    Rule("Clicked Link in Email", "clicked link in email", "Email"),
    Rule("Campaign was Run", "campaign was run", "Campaign"),
    # Real Marketo filters the language cannot express yet (kept as comments).
    Rule("Data Value Changed", None, "Attribute"),
    Rule("Score was Changed", None, "Score Name"),
    Rule("Added to List", None, "List"),
    Rule("Program Status was Changed", None, "Program"),
    Rule("Had Interesting Moment", None),
    Rule("Clicked Link", None),
    Rule("Email Bounced", None),
    Rule("Unsubscribed from Email", None),
    Rule("Inferred Company", None),
    Rule("Opportunity Stage", None),
)

TRIGGERS: tuple[Rule, ...] = (
    Rule("Fills Out Form", "fills out form", "Form Name"),
    Rule("Visits Web Page", "visits web page", "Web Page"),
    Rule("Opens Email", "opens email", "Email"),
    Rule("Clicks Link in Email", "clicks link in email", "Email"),
    Rule("Data Value Changes", "data value changes", "Attribute",
         (("New Value", "to"), ("Previous Value", "from"))),
    Rule("Score is Changed", "score is changed", "Score Name"),
    Rule("Added to List", "added to list", "List"),
    Rule("Removed from List", "removed from list", "List"),
    Rule("Program Status is Changed", "program status is changed", "Program",
         (("New Status", "to"),)),
    Rule("Person is Created", "person is created"),
    Rule("Lead is Created", "person is created"),
    Rule("Campaign is Requested", "campaign is requested", "Source"),
    # Real Marketo triggers the language cannot express yet.
    Rule("Clicks Link on Web Page", None, "Link"),
    Rule("Email is Delivered", None, "Email"),
    Rule("Email Bounces", None, "Email"),
    Rule("Unsubscribes from Email", None, "Email"),
    Rule("Interesting Moment", None),
    Rule("Person is Deleted", None),
    Rule("Added to Opportunity", None),
)

_FILTER_BY_NAME = {r.marketo.lower(): r for r in FILTERS}
_TRIGGER_BY_NAME = {r.marketo.lower(): r for r in TRIGGERS}
_FILTER_BY_PHRASE = {r.phrase: r for r in FILTERS if r.phrase is not None}
_TRIGGER_BY_PHRASE: dict[str, Rule] = {}
for _r in TRIGGERS:
    if _r.phrase is not None:
        _TRIGGER_BY_PHRASE.setdefault(_r.phrase, _r)


def filter_rule(name: str) -> Rule | None:
    """The filter Marketo names ``name`` (case-insensitive), or None when it is
    not in the table (a field filter, or a rule the table does not know)."""
    return _FILTER_BY_NAME.get(name.strip().lower())


def trigger_rule(name: str) -> Rule | None:
    """The trigger Marketo names ``name`` (case-insensitive), or None."""
    return _TRIGGER_BY_NAME.get(name.strip().lower())


def filter_for_phrase(phrase: str) -> Rule | None:
    """The Marketo filter the language's ``phrase`` corresponds to."""
    return _FILTER_BY_PHRASE.get(phrase)


def trigger_for_phrase(phrase: str) -> Rule | None:
    """The Marketo trigger the language's ``phrase`` corresponds to."""
    return _TRIGGER_BY_PHRASE.get(phrase)


#: Marketo condition operator -> the language's operator (§4); a field filter
#: with an operator missing here is kept as a comment. "in time frame"-style
#: operators and negations Marketo has but the language lacks are absent.
OPERATORS: dict[str, str] = {
    "is": "is", "is not": "is not", "isnot": "is not",
    "contains": "contains", "not contains": "not contains", "notcontains": "not contains",
    "starts with": "starts with", "startswith": "starts with",
    "not starts with": "not starts with", "notstartswith": "not starts with",
    "is empty": "is empty", "isempty": "is empty",
    "is not empty": "is not empty", "isnotempty": "is not empty",
    "greater than": ">", "greaterthan": ">", "at least": ">=", "atleast": ">=",
    "less than": "<", "lessthan": "<", "at most": "<=", "atmost": "<=",
    "between": "between",
    "before": "before", "after": "after",
    "on or before": "on or before", "onorbefore": "on or before",
    "on or after": "on or after", "onorafter": "on or after",
    "in past": "in past", "inpast": "in past",
    "in future": "in future", "infuture": "in future",
    "is true": "is true", "is false": "is false",
}

#: filter-level operators of list/program/history rules: Marketo -> negated?
MEMBERSHIP_OPERATORS: dict[str, bool] = {
    "in": False, "not in": True, "is": False, "is not": True,
    "occurs": False, "has": False,
}

#: ``Campaign is Requested`` source values -> the language's source word.
REQUEST_SOURCES: dict[str, str] = {
    "marketo flow action": "flow action",
    "web service api": "api",
    "sales insight": "sales insight",
}


def operator(marketo_operator: str) -> str | None:
    """The language's operator for a Marketo condition operator, or None."""
    return OPERATORS.get(marketo_operator.strip().lower())


# --------------------------------------------------------------------------
# Tokens, campaigns

#: Tokens API type -> the language's literal kind (§7); ``rich text`` is kept
#: as text. ``sfdc campaign`` (and any type not here) is not expressible.
TOKEN_TYPES: dict[str, str] = {
    "text": "text",
    "rich text": "text",
    "number": "number",
    "score": "score",
    "date": "date",
}

#: Smart campaign ``type`` -> the language's kind. ``default`` (no smart list
#: rules) is a campaign that can only run through an execute step: executable.
CAMPAIGN_KINDS: dict[str, str] = {
    "batch": "batch",
    "trigger": "trigger",
    "executable": "executable",
    "default": "executable",
}

#: ``qualificationRuleUnit`` -> the language's duration unit.
QUALIFY_UNITS: dict[str, str] = {"hour": "hours", "day": "days", "week": "weeks",
                                 "month": "months"}

#: ``recurrence.intervalType`` -> the language's duration unit; a recurrence
#: with weekdayOnly, weekdayMask, dayOfMonth, dayOfWeek or weekOfMonth set is
#: not expressible and is kept as a comment.
RECURRENCE_UNITS: dict[str, str] = {"daily": "days", "weekly": "weeks", "monthly": "months"}


# --------------------------------------------------------------------------
# Person fields


class PersonField(NamedTuple):
    """A standard person field: its REST API name, the language's name (§2)
    and Marketo's display name (which smart list field filters use)."""

    rest: str
    language: str
    display: str


PERSON_FIELDS: tuple[PersonField, ...] = (
    PersonField("email", "Email Address", "Email Address"),
    PersonField("firstName", "First Name", "First Name"),
    PersonField("lastName", "Last Name", "Last Name"),
    PersonField("company", "Company Name", "Company Name"),
    PersonField("numberOfEmployees", "Company Size", "Num Employees"),
    PersonField("title", "Job Title", "Job Title"),
    PersonField("country", "Country", "Country"),
    PersonField("state", "State", "State"),
    PersonField("city", "City", "City"),
    PersonField("phone", "Phone Number", "Phone Number"),
    PersonField("leadScore", "Lead Score", "Lead Score"),
    PersonField("leadStatus", "Lead Status", "Lead Status"),
    PersonField("leadSource", "Lead Source", "Lead Source"),
    PersonField("unsubscribed", "Unsubscribed", "Unsubscribed"),
    PersonField("createdAt", "Created At", "Created At"),
    PersonField("updatedAt", "Updated At", "Updated At"),
    # Not in the table Marketo's docs print: every field of LANGUAGE.md §2 needs
    # a REST name for the local REST server. ``personSource`` is Marketo's field
    # of that name; the lead owner's address has no standard REST field, so it
    # takes its camelCase name.
    PersonField("personSource", "Person Source", "Person Source"),
    PersonField("leadOwnerEmailAddress", "Lead Owner Email Address", "Lead Owner Email Address"),
)

_FIELD_BY_REST = {f.rest.lower(): f for f in PERSON_FIELDS}
_FIELD_BY_DISPLAY = {f.display.lower(): f for f in PERSON_FIELDS}
_FIELD_BY_LANGUAGE = {f.language.lower(): f for f in PERSON_FIELDS}


def person_field(name: str) -> PersonField | None:
    """A standard field by REST name, display name or language name."""
    key = name.strip().lower()
    return _FIELD_BY_REST.get(key) or _FIELD_BY_DISPLAY.get(key) or _FIELD_BY_LANGUAGE.get(key)


def field_language_name(name: str) -> str:
    """The language's name for a Marketo field name (REST or display); a
    custom field keeps its own name."""
    known = person_field(name)
    return known.language if known is not None else name.strip()


#: Lead field ``dataType`` (``GET /rest/v1/leads/describe.json``) -> the
#: language's field type (§2). A custom field of another type (reference,
#: formula...) cannot be declared; a rule on it is kept as a comment.
FIELD_DATA_TYPES: dict[str, str] = {
    "string": "text", "text": "text", "phone": "text", "url": "text", "textarea": "text",
    "email": "email",
    "integer": "integer",
    "float": "decimal", "currency": "decimal",
    "score": "score",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}


# --------------------------------------------------------------------------
# REST error codes (error-codes.md). The client re-authenticates on the first
# set, waits and retries on the second, and stops with the message otherwise.

#: access token invalid / expired: get a new token, then retry
AUTH_ERROR_CODES: frozenset[str] = frozenset({"601", "602"})
#: rate limit (606), concurrent-access limit (615), time-out (604),
#: temporarily unavailable (608), system error (611), transient (713):
#: wait (doubling) and retry
RETRY_ERROR_CODES: frozenset[str] = frozenset({"604", "606", "608", "611", "615", "713"})
#: what each code means, for messages
ERROR_MEANINGS: dict[str, str] = {
    "601": "access token invalid", "602": "access token expired", "603": "access denied",
    "604": "request time-out", "606": "rate limit exceeded (100 calls in 20 seconds)",
    "607": "daily quota reached", "608": "API temporarily unavailable", "609": "invalid JSON",
    "610": "requested resource not found", "611": "system error",
    "615": "concurrent access limit reached", "702": "no data found", "713": "transient error",
}
#: Asset API browse endpoints return at most this many records a call.
MAX_RETURN = 200
#: Marketo's rate limit: at most this many calls in any RATE_WINDOW seconds.
RATE_CALLS = 100
RATE_WINDOW = 20.0


# --------------------------------------------------------------------------
# The local REST server (campaignlang.serve, ``campaign serve``)

#: Ids the local REST server gives the activity types Marketo documents no id
#: for: in Marketo's range for custom activity types (100000 and up), so they
#: never collide with a standard id; ``resolve_activity_types`` matches them
#: by name when an importer reads the server's ``activities/types.json``.
LOCAL_ACTIVITY_IDS: dict[str, int] = {
    "Executed Campaign": 100001,
    "Change Program Member Data": 100002,
    "Remove from Flow": 100003,
    "Campaign is Requested": 100004,
    "Wait": 100005,
    "Error": 100006,
}


class ActivityAttributes(NamedTuple):
    """How one of the simulator's activities (§12.8 attributes) reads as a
    Marketo activity: ``primary`` is the simulator attribute whose value is
    the ``primaryAttributeValue``; ``names`` maps the other simulator
    attributes to Marketo attribute names; ``old`` and ``new`` name the
    Marketo attributes of the activity's old and new values."""

    primary: str | None
    names: tuple[tuple[str, str], ...] = ()
    old: str | None = None
    new: str | None = None


#: simulator activity name (§8) -> how its attributes read in Marketo's terms
ACTIVITY_ATTRIBUTES: dict[str, ActivityAttributes] = {
    "New Person": ActivityAttributes(None, (("email", "Email Address"),)),
    "Change Data Value": ActivityAttributes("field", (("reason", "Reason"),), "Old Value", "New Value"),
    "Change Score": ActivityAttributes("field", (("change", "Change Value"), ("reason", "Reason")),
                                       "Old Value", "New Value"),
    "Send Email": ActivityAttributes("email", (("subject", "Subject"), ("from", "From"), ("body", "Body"))),
    "Send Alert": ActivityAttributes("email", (("to", "Send To List"), ("subject", "Subject"))),
    "Add to List": ActivityAttributes("list"),
    "Remove from List": ActivityAttributes("list"),
    "Change Program Status": ActivityAttributes("program", (("reason", "Reason"),), "Old Status", "New Status"),
    "Change Program Member Data": ActivityAttributes("program", (("field", "Attribute Name"),),
                                                     "Old Value", "New Value"),
    "Interesting Moment": ActivityAttributes(None, (("type", "Type"), ("description", "Description"))),
    "Delete Person": ActivityAttributes(None),
    "Call Webhook": ActivityAttributes("webhook", (("method", "Method"), ("url", "URL"), ("payload", "Payload"),
                                                   ("status", "Status"), ("response", "Response"))),
    "Request Campaign": ActivityAttributes("campaign", (("source", "Source"),)),
    "Executed Campaign": ActivityAttributes("campaign", (("parent", "Parent Campaign"), ("qualified", "Qualified"),
                                                         ("use parent token context", "Use Parent Token Context"))),
    "Remove from Flow": ActivityAttributes("campaign"),
    "Campaign is Requested": ActivityAttributes("campaign", (("source", "Source"),
                                                             ("requested by", "Requested By"))),
    "Fill Out Form": ActivityAttributes("form", (("Web Page", "Webpage URL"),)),
    "Visit Web Page": ActivityAttributes("page", (("Web Page", "Webpage URL"),)),
    "Open Email": ActivityAttributes("email"),
    "Click Email": ActivityAttributes("email", (("Link", "Link"),)),
    "Wait": ActivityAttributes(None, (("until", "Until"), ("skipped", "Skipped"))),
    "Error": ActivityAttributes(None, (("message", "Message"),)),
}


#: The language's field types (§2) -> the ``dataType`` ``leads/describe.json``
#: gives them (the serving direction of ``FIELD_DATA_TYPES``).
REST_DATA_TYPES: dict[str, str] = {
    "text": "string", "email": "email", "integer": "integer", "decimal": "float",
    "score": "score", "boolean": "boolean", "date": "date", "datetime": "datetime",
}

#: The language's request sources (§4) -> Marketo's spelling of the
#: ``Campaign is Requested`` source (``REQUEST_SOURCES`` read it case-insensitively).
REQUEST_SOURCE_NAMES: dict[str, str] = {
    "flow action": "Marketo Flow Action", "api": "Web Service API", "sales insight": "Sales Insight",
}

#: ``qualificationRuleType`` -> the language's rule (§3).
QUALIFICATION_RULES: dict[str, str] = {"once": "once", "any": "every time", "interval": "once every"}

#: A field filter's operator as a served smart list writes it: Marketo's words
#: for the symbols (the rest are the same words in both).
SERVED_OPERATORS: dict[str, str] = {">": "greater than", ">=": "at least", "<": "less than",
                                    "<=": "at most"}


def marketo_name(table: dict[str, str], language: str) -> str | None:
    """The Marketo key of ``table`` (Marketo -> language) that maps to
    ``language``, the first one listed; None when there is none."""
    for key, value in table.items():
        if value == language:
            return key
    return None
