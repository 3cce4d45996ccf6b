"""Running a batch with the set-based engine (``Engine.run_batch(...,
engine="duckdb")``, ``campaign run --engine duckdb``): plan, load, run on a
backend, write into the store in the engine's action (one transaction).

``Unsupported`` becomes a one-line ``RunError`` naming the campaign, the step
and why, before anything runs -- or, with ``fallback``, the per-person engine
runs the batch and the result says so (``ActionResult.note``). Imports
``engine`` (its action), ``errors`` and ``sets``; duckdb only when a backend is made.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Any

from ..errors import RunError
from .loader import Unsupported, load
from .plan import Plan, Planner

if TYPE_CHECKING:  # pragma: no cover
    from sqlglot import exp

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
    # a run over Parquet people writes each person's address to --out: ``result`` carries it
    carry = ("email address",) if getattr(backend, "out", None) else ()
    try:
        plan = Planner(engine, c, api, carry).plan()
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
    """Load, run and write one plan inside the engine's action; the seconds of each phase.

    The people who entered are run a slice at a time (``slices``: ``backend.slice_people``
    of them, in id order; one slice on a backend without it, Spark), each slice's rows
    numbered on from the slices before (``slice__``): memory holds one slice's result,
    and each sort is a slice's, so the cost grows with the people and no faster."""
    from . import rounds, writer

    times: dict[str, float] = {"read": 0.0, "load": 0.0, "run": 0.0, "write": 0.0}
    deletes = next((s for s in plan.slots if s.kind == "delete"), None)
    if deletes is not None and getattr(backend, "out", None):
        raise Unsupported(f"delete person needs a store to delete from, and a run over Parquet people has none "
                          f"(DeletePerson at {deletes.where})")
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
        n, bounds = slices(backend, plan)
    except (RunError, Unsupported):
        raise
    except Exception as exc:   # the backend's own error (an overflow, a conversion) is this run's
        raise Unsupported(f"the backend failed: {_first_line(exc)}") from None
    cap = engine.max_runs_per_action
    if n is not None and cap is not None and n > cap:
        raise Unsupported(f"{n} runs, more than the action's limit of {cap}")
    times["run"] += time.perf_counter() - t
    first = engine._next_run
    out = getattr(backend, "out", None)
    first_id = engine.store.reserve_activity_ids(0)
    before = writer.Slice()
    totals = writer.Totals()
    made = _Made(out)
    ids: list[int] = []
    work: list[tuple] = []
    removed: list[tuple[int, str]] = []
    try:
        for before.index, bound in enumerate(bounds):
            t = time.perf_counter()
            try:
                if bound is not None:
                    backend.create("entered", _slice_of(*bound))
                backend.load("slice__", before.table())
                backend.create("result", plan.result)
                done = writer.Summary(backend, plan)
            except (RunError, Unsupported):
                raise
            except Exception as exc:   # the backend's own error (an overflow, a conversion) is this run's
                if not _backend_error(exc):
                    raise
                raise Unsupported(f"the backend failed: {_first_line(exc)}") from None
            if n is None and cap is not None and before.people + done.people > cap:
                raise Unsupported(f"{before.people + done.people} runs, more than the action's limit of {cap}")
            # the work the slice leaves (requested and triggered runs, removals from flow), read
            # before it is written: a run over Parquet people refuses work it cannot start
            more, gone = rounds.collect(engine, plan, backend)
            work += more
            removed += gone
            times["run"] += time.perf_counter() - t
            t = time.perf_counter()
            if out:   # a run over Parquet people: the backend writes the rows to --out, the store keeps none
                try:
                    writer.write_parquet(backend, plan, out, first_id, first, summary=done, part=before.index,
                                         people=made.people_query(backend, engine))
                except Exception as exc:   # out of memory while writing
                    if not _backend_error(exc):
                        raise
                    raise RunError(f"{plan.campaign}: --engine {backend.dialect} failed while "
                                   f"writing {out} (nothing was kept there): {_first_line(exc)}") from None
                ids += writer.entered(backend)
            else:
                ids += writer.write(engine.store, plan, backend, first, summary=done, before=before)
            totals.add(done)
            before.advance(done)
            times["write"] += time.perf_counter() - t
            if engine.progress is not None and n:
                engine.progress(before.people, n)
    except BaseException:
        made.undo()   # a run over Parquet people leaves --out as it found it
        raise
    if out:
        result.counts = [(c, type_, k) for (c, type_), k in totals.by_step.items()]
        result.written = {"activities": totals.activities, "runs": totals.runs, "list_members": totals.lists,
                          "program_members": totals.programs, "people": totals.people}
    n = totals.people
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
    last_timings.clear()
    last_timings.update(times)
    if engine.progress is not None:
        engine.progress(n, n)
    return times


def slices(backend: "Backend", plan: Plan) -> tuple[int | None, list[tuple[int, int] | None]]:
    """Make ``entered`` (every person the batch runs for) and cut it into
    slices of ``backend.slice_people`` people, in id order: the number of
    people (None when not counted: one slice, Spark) and each slice's ids
    as ``(after, up to)``; ``[None]``: one slice, ``entered`` as it is."""
    from .query import parse

    size = getattr(backend, "slice_people", None)
    if not size:
        backend.create("entered", plan.entered)
        return None, [None]
    backend.create("chosen__", plan.entered)
    tops = backend.fetch(parse(
        f"SELECT MAX(id) AS top, COUNT(*) AS n FROM (SELECT id, "
        f"CAST(FLOOR((ROW_NUMBER() OVER (ORDER BY id) - 1) / {size}) AS BIGINT) AS k FROM chosen__) AS c "
        f"GROUP BY k ORDER BY top")).to_pydict()
    n = sum(tops["n"])
    if len(tops["top"]) <= 1:
        backend.create("entered", parse("SELECT id FROM chosen__"))
        return n, [None]
    lows = [-(2 ** 63)] + tops["top"][:-1]
    return n, list(zip(lows, tops["top"]))


def _slice_of(after: int, upto: int) -> "exp.Expression":
    from .query import parse

    return parse(f"SELECT id FROM chosen__ WHERE id > {int(after)} AND id <= {int(upto)}")


class _Made:
    """The folders a run over Parquet people makes under ``--out``, and the
    query of its ``people`` folder (made once, from the first slice's
    ``result``). ``undo`` removes the folders this run made, so a failed
    run leaves ``--out`` as it found it."""

    def __init__(self, out: str | None):
        from .writer import OUT_FOLDERS

        self.folders = [] if not out else [os.path.join(out, name) for name in OUT_FOLDERS
                                           if not os.path.exists(os.path.join(out, name))]
        self._people: "exp.Expression | None" = None

    def people_query(self, backend: "Backend", engine: "Engine") -> "exp.Expression":
        if self._people is None:
            from .parquet import people_query_of

            self._people = people_query_of(backend, engine.store, engine.model)
        return self._people

    def undo(self) -> None:
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    """The first line of a backend's error (DuckDB and Spark add advice and stack traces below it)."""
    return (str(exc).splitlines() or [""])[0][:200]


def _backend_error(exc: BaseException) -> bool:
    """An error raised by the backend's own library (DuckDB, Spark), not by this package."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("duckdb", "_duckdb", "pyspark", "py4j")
