"""The review scenario: what ``campaign diff --people`` and ``campaign
report --people/--db`` run, so that both tell the same story.

Owns one rule (docs/review.md, "The review scenario"): starting from the
people of the store, every batch campaign runs once, now, in declaration
order (each its own action, as ``campaign run`` would start it; a later
batch sees what an earlier one did); then the events of an events file are
replayed through the trigger campaigns (``campaign events``); then the
virtual clock advances by a duration, running what falls due (waits,
schedules). Trigger campaigns run only when an event names them, as in
Marketo.

The caller brings the engine (a plain `Engine`, or a `CoverageEngine` that
counts each step) on a store it may throw away; this module writes only
to that store. Imports ``engine`` and ``datafiles``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from attrs import define, field

from .datafiles import replay
from .engine import Engine

__all__ = ["Played", "play"]


@define
class Played:
    """What the scenario did: runs and errors in all, and runs started per
    campaign (``"P"."C"`` -> count)."""

    runs: int = 0
    errors: int = 0
    runs_by_campaign: Counter = field(factory=Counter)


def play(engine: Engine, events_file: str | Path | None = None, until: str | None = None) -> Played:
    """Run the scenario on ``engine`` (raises the engine's `CampaignError`s)."""
    before = Counter(campaign for _p, campaign, _at, _run in engine.store.run_history())
    out = Played()
    for c in engine.model.campaigns:
        if c.kind == "batch":
            r = engine.run_batch(c)
            out.runs += r.runs
            out.errors += r.errors
    if events_file is not None:
        replayed = replay(engine, events_file)
        out.runs += replayed.runs
        out.errors += replayed.errors
    if until:
        r = engine.advance(until)
        out.runs += r.runs
        out.errors += r.errors
    after = Counter(campaign for _p, campaign, _at, _run in engine.store.run_history())
    out.runs_by_campaign = after - before
    return out
