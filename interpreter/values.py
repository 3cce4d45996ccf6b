"""Field values: the one place that converts them (Python <-> text <->
SQLite <-> JSON), per field type.

* ``convert(type, value)`` — any value (text from a file or a token, a
  literal, an API argument) -> the field's type, or ``ValueError`` with a
  readable message;
* ``encode``/``decode`` (and ``ENCODERS``) — a typed value <-> its column
  value in a store;
* ``to_json_value``/``dumps`` — a typed value in the activity log
  (canonical JSON: sorted keys, no spaces, non-ASCII kept);
* ``format_value`` — a typed value as a token renders it.

The field types themselves (names, families, operators, what each needs)
are one table: ``stdlib.types.TYPES``. Imports ``stdlib.types`` only.
"""

from __future__ import annotations

import datetime as _dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any


def encode(type_: str, value: Any) -> Any:
    """A typed Python value -> its column value."""
    if value is None:
        return None
    if type_ == "boolean":
        return 1 if value else 0
    if type_ in ("integer", "score"):
        return int(value)
    if type_ == "decimal":
        return str(value)
    if type_ == "datetime":
        return value.isoformat(timespec="seconds")
    if type_ == "date":
        return value.isoformat()
    return str(value)


#: per field type, ``encode`` of a value that is not None (compiled steps call it directly)
ENCODERS: dict[str, Any] = {
    "boolean": lambda v: 1 if v else 0, "integer": int, "score": int, "decimal": str,
    "datetime": lambda v: v.isoformat(timespec="seconds"), "date": lambda v: v.isoformat(),
    "text": str, "email": str,
}


def decode(type_: str, raw: Any) -> Any:
    """A column value -> the typed Python value."""
    if raw is None:
        return None
    if type_ == "boolean":
        return bool(raw)
    if type_ in ("integer", "score"):
        return int(raw)
    if type_ == "decimal":
        return Decimal(str(raw))
    if type_ == "datetime":
        return _dt.datetime.fromisoformat(raw)
    if type_ == "date":
        return _dt.date.fromisoformat(raw)
    return raw


#: SQLite integers are 64-bit; a larger whole number is refused, never an OverflowError
INT_LIMIT = 2 ** 63


class _OutOfRange(ValueError):
    pass


def _int_in_range(n: Any, type_: str) -> Any:
    if not -INT_LIMIT <= n < INT_LIMIT:   # SQLite's range: -2**63 is a number it holds
        raise _OutOfRange(f"{str(n)[:30]} is too large for a{'n' if type_[0] in 'aeiou' else ''} "
                          f"{type_} field (whole numbers run from {-INT_LIMIT} to {INT_LIMIT - 1})")
    return n


_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


def convert(type_: str, value: Any) -> Any:
    """Any value (text from a file, a token, a literal) -> the field's type;
    ``ValueError`` with a readable message when it does not fit. Empty text
    is empty (None) for every type but text."""
    if value is None:
        return None
    if isinstance(value, str) and type_ not in ("text", "email"):
        value = value.strip()
        if value == "":
            return None
    try:
        if type_ in ("text", "email"):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, _dt.datetime):
                return value.isoformat(sep=" ", timespec="seconds")
            if isinstance(value, _dt.date):
                return value.isoformat()
            return str(value)
        if type_ == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, int):
                return value != 0
            text = str(value).casefold()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if type_ in ("integer", "score"):
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return _int_in_range(value, type_)
            if isinstance(value, (Decimal, float)):
                if value != value or value != int(_int_in_range(value, type_)):
                    raise ValueError
                return int(value)
            text = str(value).replace(",", "")
            d = Decimal(text)
            # range first: int() of 1e400000000 would take minutes (SQLite holds 64 bits)
            if not d.is_finite() or d != d.to_integral_value():
                raise ValueError
            return int(_int_in_range(d, type_))
        if type_ == "decimal":
            if isinstance(value, bool):
                raise ValueError
            d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).replace(",", ""))
            if not d.is_finite():
                raise ValueError
            return d
        if type_ == "date":
            if isinstance(value, _dt.datetime):
                return value.date()
            if isinstance(value, _dt.date):
                return value
            text = str(value)
            if len(text) > 10 and text[10] in "T ":
                return _dt.date.fromisoformat(text[:10])
            return _dt.date.fromisoformat(text)
        if type_ == "datetime":
            if isinstance(value, _dt.datetime):
                return value.replace(microsecond=0, tzinfo=None)
            if isinstance(value, _dt.date):
                return _dt.datetime.combine(value, _dt.time())
            text = str(value)
            if len(text) == 10:
                return _dt.datetime.combine(_dt.date.fromisoformat(text), _dt.time())
            return _dt.datetime.fromisoformat(text.replace(" ", "T", 1)).replace(microsecond=0, tzinfo=None)
    except _OutOfRange as exc:
        raise ValueError(str(exc)) from None
    except (ValueError, InvalidOperation, TypeError, ArithmeticError):
        pass
    raise ValueError(f"{value!r} is not a{'n' if type_[0] in 'aeiou' else ''} {type_}")


def to_json_value(value: Any) -> Any:
    """A typed value as it appears in the activity log (JSON)."""
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            default=to_json_value)


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, non-ASCII kept."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    return _ENCODER.encode(value)


def format_value(value: Any) -> str:
    """A typed value as a token renders it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------
# Literals in filters (docs/language.md, "Filters"): what the Python
# predicate and a store's query both compare with


_DAY = _dt.timedelta(days=1)
_MINUTE = _dt.timedelta(minutes=1)


def interval(field_type: str, value: Any) -> tuple[Any, Any]:
    """The [lo, hi) a date or date-time literal stands for, in the field's domain."""
    if field_type == "date":
        d = value.date() if isinstance(value, _dt.datetime) else value
        return d, d + _DAY
    if isinstance(value, _dt.datetime):
        return value, value + _MINUTE
    start = _dt.datetime.combine(value, _dt.time())
    return start, start + _DAY


def fold_text(v: Any) -> str:
    """A text literal as filters compare it (case-folded; None is empty); ``ValueError`` if not text."""
    if isinstance(v, str):
        return v.casefold()
    if v is None:
        return ""
    raise ValueError(f"{v!r} is not text")


def number(v: Any) -> Any:
    """A number literal (not a boolean); ``ValueError`` otherwise."""
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
        raise ValueError(f"{v!r} is not a number")
    return v


def date_value(v: Any) -> Any:
    """A date or date-time literal; ``ValueError`` otherwise."""
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v
    raise ValueError(f"{v!r} is not a date")
