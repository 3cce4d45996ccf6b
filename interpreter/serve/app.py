"""The HTTP side of ``campaign serve``: an ASGI application (Starlette)
around ``MarketoAPI``, served by uvicorn. The only module that imports them
(the ``serve`` extra).

Every request is read whole (refused with 413 past ``max_body`` before it is
all in memory) and handed to ``MarketoAPI.handle`` on the event loop's
thread: requests are handled one at a time, in arrival order, so concurrent
clients never interleave inside the engine and no write is lost; the loop
keeps accepting connections meanwhile. uvicorn's access log is off (a query
string may carry ``access_token``); each request is logged as method, path
and status only, never a query string, a header or a body.

Imports ``serve.api``, starlette, uvicorn.
"""

from __future__ import annotations

import json
import logging
import signal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .api import MarketoAPI

log = logging.getLogger("campaignlang.serve")


class _TooLarge(Exception):
    pass


def create_app(api: MarketoAPI) -> Any:
    """The ASGI application answering every path through ``api``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            body = await _read_body(request, api.max_body)
        except _TooLarge:
            body = b"x" * (api.max_body + 1)   # handle() answers 413 in Marketo's shape
        headers = {"content-type": request.headers.get("content-type", ""),
                   "authorization": request.headers.get("authorization", "")}
        status, payload = api.handle(request.method, request.url.path, request.url.query, headers, body)
        log.info("%s %s -> %s", request.method, request.url.path, status)
        response = Response(json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                            status_code=status, media_type="application/json")
        await response(scope, receive, send)

    return app


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def serve(api: MarketoAPI, host: str = "127.0.0.1", port: int = 8080,
          on_ready: Any = None) -> None:
    """Serve ``api`` until interrupted (uvicorn, one process, one worker).
    The socket is bound here, before uvicorn starts, so an address in use
    is an ``OSError`` for the caller (one line, not a log), and ``on_ready``
    receives the port actually bound (``port=0``: a free one)."""
    import socket

    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said explicitly: accepted sockets inherit the protocol, and
    # asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that
    # say TCP; with Nagle on, a response written as headers then body waits
    # for the client's delayed ACK, 40 ms a request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(create_app(api), access_log=False, log_level="warning", lifespan="on",
                            server_header=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets=sockets)
            if server.started:
                on_ready(sock.getsockname()[1])

        server.startup = startup  # type: ignore[method-assign]
    # uvicorn stops gracefully on SIGINT and SIGTERM, then raises the signal
    # again for the handler that was there before: here, a quiet return
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped()
