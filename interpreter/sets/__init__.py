"""The set-based engine (issue 16): a checked batch campaign compiled to
relational operations and run on a columnar backend (DuckDB in process;
Spark for a cluster, ``sets.spark``), leaving the store exactly as the
per-person engine (``engine``) would, activity log byte for byte.

Layer 3 (runtime), beside the per-person engine. It may import layers 0-3
(values, stdlib, ast, model, check, storage, store, evaluate, engine);
nothing below it imports it except the ``engine``/``api``/``cli`` hooks, and
those lazily, so the core install and ``campaign --version`` never load
duckdb, sqlglot, pyarrow or pyspark (the ``sets`` and ``spark`` extras).

The pieces and the relations they hand each other:

* ``loader``: the store's tables as Arrow, loaded into the backend under the
  names of ``loader.INPUTS`` -- ``people`` (``id``, ``deleted``, one column
  per field with the store's column name and stored encoding, and ``cf__C``,
  Python's ``str.casefold`` of text column C, for the text columns a filter
  or choice compares), ``list_members(list, person, added_at)``,
  ``program_members(program, person, status, data, since)``,
  ``runs(person, campaign, at, run)``, ``activities(person, type, campaign,
  asset, at)`` (only the rows the plan names).
* ``plan``: the batch as sqlglot expressions (backend-neutral; a backend
  renders them in its dialect). It produces two relations:

  - ``entered(id)``: the people the batch runs for (smart list and
    qualification rule), one row each;
  - ``result``: one row per entered person, ``id`` and, for each *slot* k of
    the flattened flow (a step, a branch's step, an inlined child's step;
    ``plan.Slot``), ``e{k}`` (BOOLEAN: the slot writes its activity for this
    person), ``a{k}`` (BIGINT: that activity's place in the per-person order,
    counted from 0 over the whole batch: a slice of its people, ``sets.run``,
    counts on from the slices before it), ``o{k}`` / ``n{k}`` (the old and new
    value of what it changes, store encoding, or NULL), ``x{k}`` (BOOLEAN, an
    execute: the child qualified; a request: the target's filters held) and
    ``t{k}_{j}`` (the texts it rendered), ``g{k}_{j}`` (BOOLEAN: the smart list of
    trigger campaign j that slot k's event can start, judged on the person as
    the event left them); ``c{n}`` (a choice's branch); then the
    state the flow leaves: each field column (the store's column name, and its
    ``cf__`` fold), ``l{i}`` (BOOLEAN: in list i), ``pm{i}`` / ``ps{i}`` (a
    member of program i / its status), ``r{i}`` (ran campaign i in this run),
    ``h{i}`` (wrote activity i in this run), ``z__ended`` (a ``remove from
    flow`` ended the person's run).

* ``writer``: reads ``result`` in id order and writes the runs, field
  values, memberships, statuses and activities into the store in one
  transaction, with the ids and JSON the per-person engine would give them.
* ``rounds``: reads from ``result`` the columns that say the work the batch
  leaves (requests, fired triggers, removals from flow) and hands it to the
  engine's queue in the per-person order; the engine drains it.
"""
