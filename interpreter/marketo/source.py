"""Reading a Marketo instance: the REST client and the folder of saved responses.

Owns the two places an instance is read from and the shape checks of what
they return:

* ``DirSource``: a folder whose files mirror the API's paths
  (``rest/asset/v1/smartCampaigns.json`` holds a browse response with every
  record in one ``result`` array; ``rest/asset/v1/smartCampaign/1069/smartList.json``
  the rules of campaign 1069 as read with ``includeRules=true``;
  ``rest/asset/v1/folder/1041/tokens.json`` the My Tokens of that folder or
  program). Offline; what the tests and ``--from DIR`` read.
* ``RestSource``: a live instance through its REST API with httpx: an OAuth
  client-credentials token from ``<identity>/oauth/token`` sent as
  ``Authorization: Bearer``; browse endpoints paged with ``offset`` and
  ``maxReturn`` (200, the maximum) until a short or empty page; error codes
  601/602 renew the token and retry, 604/606/608/611/615/713 wait (1 s,
  doubling, at most 20 s, six tries) and retry, any other code stops with its
  message; calls are spaced to stay under 100 in any 20 seconds. With
  ``save`` it keeps every response and ``save_to`` writes them as a
  ``DirSource`` folder (each browse merged into one file).

``fetch_instance`` reads everything an import needs, in a fixed order, and
checks every response's shape: a response that is not JSON, not
``success: true`` or lacks a record's ``id`` and ``name`` is a
``MarketoError`` naming the path, raised before anything is written.

Imports ``tables`` and httpx (lazily, only for a live instance); never the
language's modules.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Protocol

from attrs import define, field

from . import tables

ASSET = "rest/asset/v1"
Progress = Callable[[int, int, str], None]


class MarketoError(Exception):
    """An instance could not be read: a one-line message for the user."""


class Source(Protocol):
    """Where responses come from: ``get`` one response body, ``browse`` every
    record of a paged list endpoint."""

    def get(self, path: str, params: dict[str, Any] | None = None,
            optional: bool = False) -> dict[str, Any] | None: ...

    def browse(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...


def _check_body(body: Any, path: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MarketoError(f"malformed response from {path}: expected a JSON object")
    if body.get("success") is not True:
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code", "?"))
            message = errors[0].get("message") or tables.ERROR_MEANINGS.get(code, "")
            raise MarketoError(f"Marketo error {code} from {path}: {message}")
        raise MarketoError(f"malformed response from {path}: 'success' is not true")
    result = body.get("result", [])
    if not isinstance(result, list):
        raise MarketoError(f"malformed response from {path}: 'result' is not a list")
    return body


class DirSource:
    """Saved responses in a folder mirroring the API's paths (offline)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise MarketoError(f"no folder {root} (--from names a folder of saved API responses)")

    def get(self, path: str, params: dict[str, Any] | None = None,
            optional: bool = False) -> dict[str, Any] | None:
        file = self.root / path
        if not file.is_file():
            if optional:
                return None
            raise MarketoError(f"{file}: missing (a saved response for {path})")
        try:
            body = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise MarketoError(f"{file}: cannot be read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise MarketoError(f"malformed response in {file}: not JSON ({exc.msg}, "
                               f"line {exc.lineno})") from None
        return _check_body(body, str(file))

    def browse(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        body = self.get(path)
        assert body is not None
        return list(body.get("result", []))


@define
class RestSource:
    """A live instance. ``url`` is the REST base URL (``https://123-ABC-456.mktorest.com``,
    with or without ``/rest``); the identity URL is the same host's ``/identity``
    unless given."""

    url: str
    client_id: str
    client_secret: str
    identity_url: str | None = None
    save: bool = False
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    max_tries: int = 6
    page_size: int = tables.MAX_RETURN
    clock: Callable[[], float] = time.monotonic
    client: Any = None
    calls: int = 0
    saved: dict[str, dict[str, Any]] = field(factory=dict)
    _token: str | None = None
    _recent: list[float] = field(factory=list)

    def __attrs_post_init__(self) -> None:
        base = self.url.rstrip("/")
        if base.endswith("/rest"):
            base = base[: -len("/rest")]
        self.url = base
        if self.identity_url is None:
            self.identity_url = base + "/identity"
        if self.client is None:
            try:
                import httpx
            except ImportError:
                raise MarketoError("reading a live instance needs httpx: "
                                   "pip install 'campaignlang[marketo]'") from None
            self.client = httpx.Client(timeout=self.timeout)

    def close(self) -> None:
        self.client.close()

    # -- transport -------------------------------------------------------------

    def _throttle(self) -> None:
        """Stay under Marketo's rate limit (``RATE_CALLS`` calls in any
        ``RATE_WINDOW`` seconds) instead of waiting for error 606."""
        now = self.clock()
        recent = [t for t in self._recent if now - t < tables.RATE_WINDOW]
        if len(recent) >= tables.RATE_CALLS:
            self.sleep(tables.RATE_WINDOW - (now - recent[0]))
            now = self.clock()
            recent = [t for t in recent if now - t < tables.RATE_WINDOW]
        recent.append(now)
        self._recent = recent

    def _json(self, url: str, params: dict[str, Any], headers: dict[str, str], what: str) -> Any:
        import httpx

        self._throttle()
        try:
            response = self.client.get(url, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise MarketoError(f"cannot reach {url}: {exc}") from None
        self.calls += 1
        if response.status_code >= 500:
            return {"success": False, "errors": [{"code": "608", "message": f"HTTP {response.status_code}"}]}
        if response.status_code == 401:
            return {"success": False, "errors": [{"code": "601", "message": "HTTP 401"}]}
        if response.status_code >= 400:
            raise MarketoError(f"{what}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise MarketoError(f"malformed response from {what}: not JSON") from None

    def _authenticate(self) -> str:
        body = self._json(f"{self.identity_url}/oauth/token",
                          {"grant_type": "client_credentials", "client_id": self.client_id,
                           "client_secret": self.client_secret}, {}, "the identity endpoint")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise MarketoError("authentication failed: no access token from the identity endpoint"
                               + (f" ({detail})" if detail else ""))
        self._token = token
        return token

    def _call(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        wait = 1.0
        renewed = False
        for _ in range(self.max_tries):
            token = self._token or self._authenticate()
            body = self._json(f"{self.url}/{path}", params, {"Authorization": f"Bearer {token}"}, path)
            if isinstance(body, dict) and body.get("success") is False:
                errors = body.get("errors") or [{}]
                code = str(errors[0].get("code", "")) if isinstance(errors[0], dict) else ""
                if code in tables.AUTH_ERROR_CODES and not renewed:
                    self._token = None      # expired or invalid: a new token, once per call
                    renewed = True
                    continue
                if code in tables.RETRY_ERROR_CODES:
                    self.sleep(wait)
                    wait = min(wait * 2, 20.0)
                    continue
            return _check_body(body, path)
        raise MarketoError(f"{path}: Marketo kept refusing the call ({self.max_tries} tries): "
                           + tables.ERROR_MEANINGS.get(code, f"error {code}"))

    # -- Source ----------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None,
            optional: bool = False) -> dict[str, Any] | None:
        try:
            body = self._call(path, dict(params or {}))
        except MarketoError:
            if optional:
                return None
            raise
        if self.save:
            self.saved[path] = body
        return body

    def browse(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = dict(params or {}, maxReturn=self.page_size, offset=offset)
            body = self._call(path, page)
            result = body.get("result") or []
            out.extend(result)
            if len(result) < self.page_size:
                break
            offset += len(result)
        if self.save:
            self.saved[path] = {"success": True, "errors": [], "warnings": [], "result": out}
        return out

    def save_to(self, root: str | Path) -> int:
        """Write every response read as a ``DirSource`` folder; the file count."""
        root = Path(root)
        for path, body in sorted(self.saved.items()):
            file = root / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return len(self.saved)


# --------------------------------------------------------------------------
# The instance


@define
class Instance:
    """Everything an import reads, as Marketo's records (JSON objects)."""

    folders: list[dict[str, Any]]
    programs: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    static_lists: list[dict[str, Any]]
    smart_lists: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    forms: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    #: smart list (with ``rules``) by smart list id, and by campaign id
    smart_list_rules: dict[int, dict[str, Any]] = field(factory=dict)
    campaign_rules: dict[int, dict[str, Any]] = field(factory=dict)
    #: My Tokens by (folder type, id): ``("Folder", 1041)`` or ``("Program", 1001)``
    tokens: dict[tuple[str, int], list[dict[str, Any]]] = field(factory=dict)
    #: ``rest/v1/leads/describe.json`` results, when read
    fields: list[dict[str, Any]] = field(factory=list)
    #: ``rest/v1/activities/types.json`` results, when read
    activity_types: list[dict[str, Any]] = field(factory=list)


def _records(items: list[Any], path: str, need_name: bool = True) -> list[dict[str, Any]]:
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise MarketoError(f"malformed response from {path}: a record without an integer 'id'")
        if need_name and not isinstance(item.get("name"), str):
            raise MarketoError(f"malformed response from {path}: record {item['id']} has no 'name'")
    return items


def folder_ref(record: dict[str, Any], key: str = "folder") -> tuple[str, int] | None:
    """A record's parent as (``"Folder"`` or ``"Program"``, id). Marketo writes
    it two ways: ``{"id": 1041, "type": "Program"}`` (smart campaigns, lists,
    smart lists, folders' ``parent``) and ``{"type": "Folder", "value": 1910,
    "folderName": ...}`` (programs, emails, forms)."""
    f = record.get(key)
    if not isinstance(f, dict):
        return None
    fid = f.get("id", f.get("value"))
    if not isinstance(fid, int):
        return None
    return (str(f.get("type", "Folder")).capitalize(), fid)


def _rules_record(body: dict[str, Any] | None, path: str) -> dict[str, Any]:
    result = (body or {}).get("result") or []
    if not result or not isinstance(result[0], dict):
        raise MarketoError(f"malformed response from {path}: no smart list in 'result'")
    rules = result[0].get("rules")
    if rules is not None and not isinstance(rules, dict):
        raise MarketoError(f"malformed response from {path}: 'rules' is not an object")
    return result[0]


def fetch_instance(source: Source, progress: Progress | None = None) -> Instance:
    """Read an instance from ``source``; every shape checked before return."""
    def tick(done: int, total: int, label: str) -> None:
        if progress is not None:
            progress(done, total, label)

    lists = {}
    steps = [("folders", "folders.json", {"maxDepth": 20}), ("programs", "programs.json", {}),
             ("channels", "channels.json", {}), ("static lists", "staticLists.json", {}),
             ("smart lists", "smartLists.json", {}), ("emails", "emails.json", {}),
             ("forms", "forms.json", {}), ("smart campaigns", "smartCampaigns.json", {})]
    for k, (label, name, params) in enumerate(steps):
        tick(k, len(steps), label)
        path = f"{ASSET}/{name}"
        lists[label] = _records(source.browse(path, params), path)
    inst = Instance(lists["folders"], lists["programs"], lists["channels"], lists["static lists"],
                    lists["smart lists"], lists["emails"], lists["forms"], lists["smart campaigns"])
    folder_ids = {f["id"] for f in inst.folders if str(f.get("folderType", "")) == "Marketing Folder"}
    program_ids = {p["id"] for p in inst.programs}
    in_program = [s for s in inst.smart_lists if folder_ref(s) in {("Program", i) for i in program_ids}]
    work: list[tuple[str, Any]] = ([("campaign", c) for c in inst.campaigns]
                                   + [("smart list", s) for s in in_program]
                                   + [("tokens", ("Folder", i)) for i in sorted(folder_ids)]
                                   + [("tokens", ("Program", i)) for i in sorted(program_ids)])
    total = len(work) + 1
    for k, (kind, item) in enumerate(work):
        tick(k, total, kind)
        if kind == "campaign":
            path = f"{ASSET}/smartCampaign/{item['id']}/smartList.json"
            inst.campaign_rules[item["id"]] = _rules_record(source.get(path, {"includeRules": "true"}), path)
        elif kind == "smart list":
            path = f"{ASSET}/smartList/{item['id']}.json"
            inst.smart_list_rules[item["id"]] = _rules_record(source.get(path, {"includeRules": "true"}), path)
        else:
            ftype, fid = item
            path = f"{ASSET}/folder/{fid}/tokens.json"
            body = source.get(path, {"folderType": ftype}, optional=True)
            for entry in (body or {}).get("result") or []:
                if not isinstance(entry, dict) or not isinstance(entry.get("tokens", []), list):
                    raise MarketoError(f"malformed response from {path}: 'tokens' is not a list")
                owner = entry.get("folder") or {}
                # a saved folder and program may share an id: the response says whose tokens these are
                if isinstance(owner, dict) and str(owner.get("type", ftype)).capitalize() != ftype:
                    continue
                for t in entry.get("tokens", []):
                    if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                        raise MarketoError(f"malformed response from {path}: a token without a 'name'")
                inst.tokens.setdefault(item, []).extend(entry.get("tokens", []))
    tick(total - 1, total, "fields")
    described = source.get("rest/v1/leads/describe.json", optional=True)
    inst.fields = [f for f in (described or {}).get("result") or [] if isinstance(f, dict)]
    described = source.get("rest/v1/activities/types.json", optional=True)
    inst.activity_types = [t for t in (described or {}).get("result") or [] if isinstance(t, dict)]
    tick(total, total, "done")
    return inst
