"""Person field types and the standard fields every person has (§2).

``TYPES`` is the one table of what the runtime and the checker know about a
field type: its family, the filter operators it takes, the SQLite column
that holds it, what the checker says it needs, what a data file expects,
and which My Token and field types fit it. The conversions themselves
(``convert``, ``encode``, ``decode``) are ``campaignlang.values``'s.
"""

from __future__ import annotations

from typing import NamedTuple

#: filter operators by family (the checker's type rules, §4)
TEXT_OPS = ("is", "is not", "contains", "not contains", "starts with", "not starts with",
            "is empty", "is not empty")
NUMBER_OPS = ("is", "is not", ">", ">=", "<", "<=", "between", "is empty", "is not empty")
DATE_OPS = ("is", "is not", "before", "after", "on or before", "on or after", "between",
            "in past", "in future", "is empty", "is not empty")
BOOLEAN_OPS = ("is", "is not", "is empty", "is not empty")


class FieldType(NamedTuple):
    name: str
    #: text, number, date or boolean: how literals and filters treat it
    family: str
    #: only whole numbers (integer, score)
    whole: bool
    operators: tuple[str, ...]
    #: the SQLite column type of the store
    column: str
    #: what the checker says a value of it needs ("a whole number")
    needs: str
    #: what a people file is told a value must be (None: anything)
    expected: str | None
    #: the My Token types (text, number, score, date, boolean) whose value fits it
    token_fits: tuple[str, ...]
    #: the field types whose value fits it (a ``{{lead.F}}`` token); None: any
    field_fits: tuple[str, ...] | None


TYPES: dict[str, FieldType] = {t.name: t for t in (
    FieldType("text", "text", False, TEXT_OPS, "TEXT", "text", None,
              ("text", "number", "score", "date", "boolean"), None),
    FieldType("email", "text", False, TEXT_OPS, "TEXT", "text", "an email address such as ann@example.com",
              ("text",), ("email", "text")),
    FieldType("integer", "number", True, NUMBER_OPS, "INTEGER", "a whole number", "a whole number",
              ("number",), ("integer", "score")),
    FieldType("decimal", "number", False, NUMBER_OPS, "TEXT", "a number", "a number such as 3.5",
              ("number",), ("integer", "score", "decimal")),
    FieldType("score", "number", True, NUMBER_OPS, "INTEGER", "a whole number", "a whole number",
              ("number",), ("integer", "score")),
    FieldType("boolean", "boolean", False, BOOLEAN_OPS, "INTEGER", "true or false",
              "true or false (yes/no and 1/0 are accepted too)", ("boolean",), ("boolean",)),
    FieldType("date", "date", False, DATE_OPS, "TEXT", "a date", "a date written 2026-12-01",
              ("date",), ("date", "datetime")),
    FieldType("datetime", "date", False, DATE_OPS, "TEXT", "a date-time", "a date-time written 2026-12-01T09:30",
              ("date",), ("date", "datetime")),
)}

FIELD_TYPES = tuple(TYPES)

#: standard field name -> type, in Marketo's spelling
STANDARD_FIELDS: dict[str, str] = {
    "Email Address": "email",
    "First Name": "text",
    "Last Name": "text",
    "Company Name": "text",
    "Company Size": "integer",
    "Job Title": "text",
    "Country": "text",
    "State": "text",
    "City": "text",
    "Phone Number": "text",
    "Lead Score": "score",
    "Lead Status": "text",
    "Lead Partition": "text",
    "Lead Source": "text",
    "Person Source": "text",
    "Lead Owner Email Address": "email",
    "Unsubscribed": "boolean",
    "Created At": "datetime",
    "Updated At": "datetime",
}

#: alias -> standard field
FIELD_ALIASES: dict[str, str] = {"Email": "Email Address"}
