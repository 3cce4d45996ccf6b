"""Person field types and the standard fields every person has (§2)."""

from __future__ import annotations

FIELD_TYPES = ("text", "email", "integer", "decimal", "score", "boolean", "date", "datetime")

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
    "Lead Source": "text",
    "Person Source": "text",
    "Lead Owner Email Address": "email",
    "Unsubscribed": "boolean",
    "Created At": "datetime",
    "Updated At": "datetime",
}

#: alias -> standard field
FIELD_ALIASES: dict[str, str] = {"Email": "Email Address"}
