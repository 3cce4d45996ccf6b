"""How a value is shown to a person: one rule for the test report, ``--trace``,
``plan --detail``, ``explain --person`` and ``campaign activities``.

Text is shown as it is (``Île-de-France``, ``say "hi"``: no JSON escaping, no
quotes added), any other value as JSON without escaping non-ASCII; an
activity's old and new values come first as ``old -> new``, then its
attributes as ``name=value``, joined by ``; ``::

    null -> 5; change=+5; field=Lead Score

Imports nothing of the project.
"""

from __future__ import annotations

import json
from typing import Any


def short(v: Any, limit: int | None = 40) -> str:
    """A value as shown; ``limit`` cuts it (with ``...``) for a table column."""
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return s if limit is None or len(s) <= limit else s[:limit - 3] + "..."


def activity_details(a: dict, limit: int | None = 40) -> str:
    """An activity (``Activity.to_json()``) as ``old -> new; name=value; ...``."""
    details = []
    if "old" in a:
        details.append(f"{short(a['old'], limit)} -> {short(a['new'], limit)}")
    details += [f"{k}={short(v, limit)}" for k, v in a["attributes"].items()]
    return "; ".join(details)
