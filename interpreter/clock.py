"""Virtual time: the only clock the engine reads.

Nothing in the engine reads the wall clock (LANGUAGE.md §8): every
timestamp, wait and schedule is measured on a ``Clock``, which starts at
2026-01-01T00:00 unless told otherwise and moves only forward, when the
engine advances it. Times are naive ``datetime`` values to the second (the
language has no time zones); ``iso`` is the one spelling written to the store
and the activity log.

Imports nothing from the package.
"""

from __future__ import annotations

import datetime as _dt

DEFAULT_START = _dt.datetime(2026, 1, 1, 0, 0)


def iso(t: _dt.datetime) -> str:
    """The store's spelling of a time: ``2026-01-01T09:30:00``."""
    return t.isoformat(timespec="seconds")


def parse_time(text: str) -> _dt.datetime:
    """``2026-01-02``, ``2026-01-02T10:00`` or ``2026-01-02 10:00:00`` -> datetime."""
    text = text.strip()
    try:
        if len(text) == 10:
            return _dt.datetime.combine(_dt.date.fromisoformat(text), _dt.time())
        when = _dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"not a date or date-time: {text!r} (write 2026-01-02T10:00)") from None
    if when.tzinfo is not None:
        # The virtual clock has no time zone; converting would need one, and
        # dropping the offset silently moved the event (issue 14): refused.
        raise ValueError(f"{text!r} has a time-zone offset; the virtual clock has no time zone "
                         f"(write the local time without it: {when.replace(tzinfo=None).isoformat()})")
    return when.replace(microsecond=0)


class Clock:
    """A virtual clock: ``now`` moves only through ``advance_to``."""

    __slots__ = ("_now", "_iso")

    def __init__(self, start: _dt.datetime | str | None = None):
        if start is None:
            start = DEFAULT_START
        elif isinstance(start, str):
            start = parse_time(start)
        elif not isinstance(start, _dt.datetime):   # a date
            start = _dt.datetime.combine(start, _dt.time())
        self._now = start.replace(microsecond=0, tzinfo=None)
        self._iso: str | None = None

    @property
    def now(self) -> _dt.datetime:
        return self._now

    @property
    def iso(self) -> str:
        """``now`` as the store spells it (cached: the hot path of a batch)."""
        if self._iso is None:
            self._iso = iso(self._now)
        return self._iso

    @property
    def today(self) -> _dt.date:
        return self._now.date()

    def advance_to(self, t: _dt.datetime) -> None:
        """Move to ``t``; time never goes back (a ``ValueError`` if asked to)."""
        if t < self._now:
            raise ValueError(f"the clock cannot go back from {iso(self._now)} to {iso(t)}")
        self._now = t
        self._iso = None

    def _reset(self, t: _dt.datetime) -> None:
        """Set the time unconditionally (the engine, restoring after a rollback)."""
        self._now = t
        self._iso = None

    def __repr__(self) -> str:
        return f"Clock({iso(self._now)!r})"
