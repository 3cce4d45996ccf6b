"""A local Marketo: the simulator behind Marketo's own REST API (``campaign serve``).

* ``api`` — ``MarketoAPI``: one request (method, path, query, headers, body)
  in, one Marketo-shaped JSON response out, each request one engine action.
  Knows no HTTP framework, so the benchmarks and tests can call it in-process.
* ``assets`` — the asset API's reads (programs, folders, tokens, channels,
  smart campaigns, smart lists with rules, static lists) produced from the
  loaded program, with their stable ids.
* ``app`` — the only module that imports Starlette and uvicorn: the ASGI
  application around ``MarketoAPI`` and ``serve()``.

Marketo's ids and names (activity types, REST field names, rule names) come
from ``campaignlang.marketo.tables``, the one table. Nothing here imports
``cli``.
"""
