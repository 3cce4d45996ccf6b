"""Running a batch with the set-based engine (``Engine.run_batch(...,
engine="duckdb")``, ``campaign run --engine duckdb``): plan, load, run on a
backend, write into the store in the engine's action (one transaction).

``Unsupported`` becomes a one-line ``RunError`` naming the campaign, the step
and why, before anything runs -- or, with ``fallback``, the per-person engine
runs the batch and the result says so (``ActionResult.note``). Imports
``engine`` (its action), ``errors`` and ``sets``; duckdb only when a backend is made.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import RunError
from .loader import Unsupported, load
from .plan import Plan, Planner

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import ActionResult, Engine
    from ..model import CampaignInfo
    from .backend import Backend

ENGINES = ("duckdb", "spark")

#: seconds of each phase of the last set-based run in this process (bench/bench_sets.py reads it)
last_timings: dict[str, float] = {}
_EXTRA = {"duckdb": "sets", "spark": "spark"}


def make_backend(name: str, session: Any = None) -> "Backend":
    """A backend by name (``duckdb``; ``spark`` with a Spark session);
    a missing extra is one line naming it."""
    try:
        if name == "duckdb":
            from .backend import DuckDBBackend
            return DuckDBBackend()
        if name == "spark":
            from .spark import SparkBackend  # type: ignore[import-not-found,unused-ignore]
            return SparkBackend(session) if session is not None else SparkBackend()  # type: ignore[call-arg]
    except ImportError as exc:
        raise RunError(f"--engine {name} needs the '{_EXTRA[name]}' extra ({exc.name or exc} is not installed): "
                       f"pip install 'campaignlang[{_EXTRA[name]}]'") from None
    raise RunError(f"unknown engine {name!r} (choose python, {', '.join(ENGINES)})")


def plan_batch(engine: "Engine", c: "CampaignInfo", api: dict[str, str] | None, name: str = "duckdb") -> Plan:
    """The plan of a batch, or a one-line ``RunError`` saying what cannot be set-based."""
    try:
        return Planner(engine, c, api).plan()
    except Unsupported as exc:
        raise RunError(f"{c.qualname}: --engine {name} cannot run it: {exc}") from None


def run_batch(engine: "Engine", c: "CampaignInfo", api: dict[str, str] | None, name: str = "duckdb",
              fallback: bool = False, backend: "Backend | None" = None) -> "ActionResult":
    """Run a batch campaign set-based; see the module docstring."""
    try:
        plan = Planner(engine, c, api).plan()
    except Unsupported as exc:
        if not fallback:
            raise RunError(f"{c.qualname}: --engine {name} cannot run it: {exc}") from None
        result = engine.run_batch(c, api)
        result.note = f"ran per person: --engine {name} cannot run it: {exc}"
        return result
    own = backend is None
    if backend is None:
        backend = make_backend(name)
    try:
        with engine._action("run", c.qualname) as result:
            try:
                execute(engine, plan, backend, result)
            except Unsupported as exc:
                raise RunError(f"{c.qualname}: --engine {name} cannot run it: {exc}; nothing was kept") from None
        return result
    finally:
        if own:
            backend.close()


def execute(engine: "Engine", plan: Plan, backend: "Backend", result: "ActionResult") -> dict[str, float]:
    """Load, run and write one plan inside the engine's action; the seconds of each phase."""
    from . import rounds, writer

    times: dict[str, float] = {}
    t = time.perf_counter()
    try:
        loaded = load(engine.store, backend, plan.needs)
    except Exception as exc:   # the backend's own error (out of memory...) while loading
        if not _backend_error(exc):
            raise
        raise Unsupported(f"the backend failed: {_first_line(exc)}") from None
    times["read"], times["load"] = loaded.read_seconds, loaded.load_seconds
    t = time.perf_counter()
    try:
        if engine.max_people is not None and plan.reached is not None:
            total = backend.fetch(plan.reached).column(0)[0].as_py()
            if total > engine.max_people:
                raise RunError(f"{plan.campaign} reaches {total} people, more than the limit of "
                               f"{engine.max_people}")
        backend.create("entered", plan.entered)
        backend.create("result", plan.result)
        done = writer.Summary(backend, plan)
    except (RunError, Unsupported):
        raise
    except Exception as exc:   # the backend's own error (an overflow, a conversion) is this run's
        raise Unsupported(f"the backend failed: {_first_line(exc)}") from None
    times["run"] = time.perf_counter() - t
    t = time.perf_counter()
    n = done.people
    cap = engine.max_runs_per_action
    if cap is not None and n > cap:
        raise Unsupported(f"{n} runs, more than the action's limit of {cap}")
    first = engine._next_run
    # the work the batch leaves (requested and triggered runs, removals from flow), read
    # before anything is written: a run over Parquet people refuses work it cannot start
    work, removed = rounds.collect(engine, plan, backend)
    out = getattr(backend, "out", None)
    if out:   # a run over Parquet people: the backend writes the rows to --out, the store keeps none
        try:
            writer.write_parquet(backend, plan, out, engine.store.reserve_activity_ids(0), first, summary=done)
        except Exception as exc:   # out of memory while writing: what is in --out is incomplete
            if not _backend_error(exc):
                raise
            raise RunError(f"{plan.campaign}: --engine {backend.dialect} failed while "
                           f"writing {out} (what it wrote there is incomplete): "
                           f"{_first_line(exc)}") from None
        ids = writer.entered(backend)
        result.counts = [(c, type_, k) for (c, type_), k in done.by_step.items()]
        result.written = {"activities": done.activities, "runs": done.runs, "list_members": done.lists,
                          "program_members": done.programs}
    else:
        ids = writer.write(engine.store, plan, backend, first, summary=done)
    engine._next_run = first + n
    engine._runs_action += n
    for pid, campaign in removed:   # remove from flow: the person's queued waits in that campaign
        engine.store.remove_queued(pid, campaign)
    if work:
        # the per-person engine runs them after the batch (the action's queue), as it runs
        # its own: it counts each person's batch run toward the runs-per-person limit
        counts = engine._runs_per_person
        for pid in ids:
            counts[pid] = counts.get(pid, 0) + 1
        engine._work.extend(work)
    result.runs += n
    result.entered.extend(ids)
    times["write"] = time.perf_counter() - t
    last_timings.clear()
    last_timings.update(times)
    if engine.progress is not None:
        engine.progress(n, n)
    return times


def _first_line(exc: BaseException) -> str:
    """The first line of a backend's error (DuckDB and Spark add advice and stack traces below it)."""
    return (str(exc).splitlines() or [""])[0][:200]


def _backend_error(exc: BaseException) -> bool:
    """An error raised by the backend's own library (DuckDB, Spark), not by this package."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("duckdb", "_duckdb", "pyspark", "py4j")
