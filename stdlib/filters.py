"""Smart list filters (LANGUAGE.md §4): field operators and the membership and
history filters.

Field filters are ``lead.F OPERATOR OPERANDS``; ``OPERATORS`` maps every
accepted spelling to its canonical operator and the operands it takes.
"""

from __future__ import annotations

from campaignlang import ast
from campaignlang.stdlib.types import TYPES
from campaignlang.stdlib.vocabulary import Opt, Phrase, Slot

#: spelling -> (canonical operator, operands). Operands: "values" (a comma
#: list), "value" (one), "range" (A and B), "duration", "none".
OPERATORS: dict[str, tuple[str, str]] = {
    "is": ("is", "values"),
    "is not": ("is not", "values"),
    "contains": ("contains", "values"),
    "not contains": ("not contains", "values"),
    "starts with": ("starts with", "values"),
    "not starts with": ("not starts with", "values"),
    "is empty": ("is empty", "none"),
    "is not empty": ("is not empty", "none"),
    ">": (">", "value"), ">=": (">=", "value"), "<": ("<", "value"), "<=": ("<=", "value"),
    "greater than": (">", "value"), "at least": (">=", "value"),
    "less than": ("<", "value"), "at most": ("<=", "value"),
    "between": ("between", "range"),
    "before": ("before", "value"), "after": ("after", "value"),
    "on or before": ("on or before", "value"), "on or after": ("on or after", "value"),
    "in past": ("in past", "duration"), "in future": ("in future", "duration"),
}

#: operators by field type (the checker's type rules, §4): ``types.TYPES``
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {name: t.operators for name, t in TYPES.items()}

_PAST = Opt(("in past", Slot("within", "duration")))


def _history(words: str, usage: str, doc: str, target: str | None = None, activity: str | None = None) -> Phrase:
    """A history filter: ``target`` the asset kind it names, ``activity`` the activity it looks for."""
    return Phrase(words, (Slot("target", "ref"), _PAST), ast.HistoryFilter,
                  fixed={"kind": words}, usage=usage, doc=doc, target=target, activity=activity)


FILTERS: tuple[Phrase, ...] = (
    Phrase("member of list", (Slot("list", "ref"),), ast.ListFilter,
           usage='member of list "Customers"',
           doc="Qualifies people in a static list."),
    Phrase("not member of list", (Slot("list", "ref"),), ast.ListFilter,
           fixed={"negated": True}, usage='not member of list "Customers"',
           doc="Qualifies people not in a static list."),
    Phrase("member of smart list", (Slot("smart_list", "ref"),), ast.SmartListFilter,
           usage='member of smart list "Engaged"',
           doc="Qualifies people a named smart list matches (evaluated now)."),
    Phrase("member of program",
           (Slot("program", "name"), Opt(("status is", Slot("status", "name")))),
           ast.ProgramFilter, usage='member of program "Webinar" status is "Attended"',
           doc="Qualifies members of a program, optionally with a given status."),
    Phrase("not member of program", (Slot("program", "name"),), ast.ProgramFilter,
           fixed={"negated": True}, usage='not member of program "Webinar"',
           doc="Qualifies people who are not members of a program."),
    _history("filled out form", 'filled out form "Contact Us" in past 30 days',
             "Qualifies people who filled out a form, optionally within a recent period.",
             "form", "Fill Out Form"),
    _history("visited web page", 'visited web page "/pricing" in past 7 days',
             "Qualifies people who visited a web page, optionally within a recent period.",
             None, "Visit Web Page"),
    _history("was sent email", 'was sent email "Invite"',
             "Qualifies people who were sent an email, optionally within a recent period.",
             "email", "Send Email"),
    _history("opened email", 'opened email "Invite"',
             "Qualifies people who opened an email, optionally within a recent period.",
             "email", "Open Email"),
    _history("clicked link in email", 'clicked link in email "Invite"',
             "Qualifies people who clicked a link in an email, optionally within a recent period.",
             "email", "Click Email"),
    _history("campaign was run", 'campaign was run "Ops"."Route Lead"',
             "Qualifies people a campaign has run for, optionally within a recent period.",
             "campaign"),
)

BY_WORDS: dict[str, Phrase] = {p.words: p for p in FILTERS}
