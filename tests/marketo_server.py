"""A recorded Marketo instance served over HTTP (pytest-httpserver): the
saved responses of ``tests/marketo/instance`` at their API paths, browse
endpoints paged by ``offset``/``maxReturn``, an OAuth identity endpoint that
issues numbered tokens, and hooks that make one call fail in a chosen way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from werkzeug import Request, Response

INSTANCE = Path(__file__).parent / "marketo" / "instance"
BROWSE = {"folders.json", "programs.json", "channels.json", "staticLists.json", "smartLists.json",
          "emails.json", "forms.json", "smartCampaigns.json"}


class Recorded:
    """Serves INSTANCE; ``fail(path, n, body)`` answers the n-th call of path with body."""

    def __init__(self, root: Path = INSTANCE):
        self.root = root
        self.tokens_issued = 0
        self.valid: set[str] = set()
        self.calls: list[tuple[str, dict]] = []
        self.failures: dict[tuple[str, int], Callable[[], Response]] = {}
        self.counts: dict[str, int] = {}

    def install(self, httpserver) -> None:
        httpserver.expect_request("/identity/oauth/token").respond_with_handler(self.identity)
        import re
        httpserver.expect_request(re.compile(r"^/rest/.*")).respond_with_handler(self.rest)

    def identity(self, request: Request) -> Response:
        args = request.args
        if args.get("grant_type") != "client_credentials" or args.get("client_secret") != "s3cret":
            return Response(json.dumps({"error": "unauthorized", "error_description": "Bad client credentials"}),
                            status=401, content_type="application/json")
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}:int"
        self.valid.add(token)
        return Response(json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 3599,
                                    "scope": "apis@example.com"}), content_type="application/json")

    def expire_all(self) -> None:
        self.valid.clear()

    def rest(self, request: Request) -> Response:
        path = request.path.lstrip("/")
        self.counts[path] = self.counts.get(path, 0) + 1
        self.calls.append((path, dict(request.args)))
        hook = self.failures.pop((path, self.counts[path]), None)
        if hook is not None:
            return hook()
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if token not in self.valid:
            return error("602", "Access token expired")()
        file = self.root / path
        if not file.is_file():
            return _json({"requestId": "1#1", "success": True,
                          "warnings": ["No assets found for the given search criteria."]})
        body = json.loads(file.read_text())
        if file.name in BROWSE and file.parent.name == "v1":
            offset = int(request.args.get("offset", 0))
            size = int(request.args.get("maxReturn", 20))
            if size > 200:
                return _json({"success": False, "errors": [{"code": "1003", "message": "maxReturn > 200"}]})
            page = body["result"][offset:offset + size]
            if not page:
                return _json({"requestId": "1#1", "success": True,
                              "warnings": ["No assets found for the given search criteria."]})
            body = dict(body, result=page)
        return _json(body)


def _json(body: dict) -> Response:
    return Response(json.dumps(body), content_type="application/json")


def error(code: str, message: str) -> Callable[[], Response]:
    return lambda: _json({"requestId": "1#1", "success": False, "errors": [{"code": code, "message": message}]})


def malformed() -> Response:
    return Response("<html>502 Bad Gateway</html>", status=200, content_type="text/html")
