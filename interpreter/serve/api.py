"""Marketo's REST API over the engine: ``MarketoAPI.handle(method, path,
query, headers, body) -> (HTTP status, JSON body)``.

What it answers (shapes from AdobeDocs marketo-developer, help/rest-api):
identity (``/identity/oauth/token``), leads (sync, query by filter type, by
id, describe), static lists and their membership, campaigns (browse, by id,
``trigger.json`` = Request Campaign, ``schedule.json`` = Schedule
Campaign), program members and their statuses, activities (types, paging
tokens, paged reads), the asset API's reads (``assets.Assets``), and two
extensions under ``/campaignlang/v1/`` for the virtual clock.

Rules it keeps, and why:

* **One request, one action.** Every request that writes is one engine
  action, so one SQLite transaction: a request that fails changes nothing.
  A request is checked whole (campaign, people, tokens, sizes) before the
  action starts; what the engine refuses still rolls back. ``handle`` holds
  a lock, so concurrent clients are served one at a time and no write is
  lost.
* **Marketo's error shape.** Every refusal is ``{"requestId", "success":
  false, "errors": [{"code", "message"}]}`` with HTTP 200 and Marketo's code
  (601 token missing or invalid, 602 expired, 609 malformed JSON, 610 no
  such resource, 612 wrong content type, 1003 invalid data such as 101
  people, 1004 lead not found, 1013 no such campaign or list), except the
  HTTP-level ones Marketo also uses: 413 for a body over the limit and 401
  from the identity endpoint for wrong credentials (OAuth's shape there).
  Record-level problems of a sync (a ``createOnly`` of a known email, a field
  that does not exist) skip that record with ``reasons``, as Marketo does;
  the other records are written in the same single action.
* **Time is virtual.** Tokens expire on the wall clock (they are the API's
  security, not the simulation); everything the simulation does reads the
  virtual clock only. A schedule without ``runAt`` runs now (Marketo waits
  five minutes; docs/serve.md says so).
* **Secrets.** The client secret and tokens are never logged nor echoed.

Imports ``engine``, ``errors``, ``clock``, ``store`` (values), ``ast``,
``marketo.tables`` and ``serve.assets``; no HTTP framework.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import parse_qs

from .. import ast
from ..clock import iso
from ..engine import MAX_API_PEOPLE, MAX_API_TOKENS, Engine
from ..errors import CampaignError
from ..marketo import tables
from ..model import CampaignInfo, ProgramInfo
from ..values import convert, encode, to_json_value
from .assets import Assets

log = logging.getLogger("campaignlang.serve")

#: Marketo's payload limit (error-codes.md: 413 over 1 MB)
MAX_BODY = 1_048_576
#: records per sync or list call, values per filter (leads.md, static-lists.md)
MAX_RECORDS = 300
#: a page of activities or leads (activities.md, leads.md)
MAX_PAGE = 300
#: activity type ids per activities.json call (activities.md)
MAX_ACTIVITY_TYPES = 10
#: lead ids per activities.json call (activities.md)
MAX_ACTIVITY_LEADS = 30
#: a token's life in seconds (authentication.md: 3,600)
TOKEN_TTL = 3600
#: how far ahead runAt may be (smart-campaigns.md: two years)
MAX_RUN_AT = _dt.timedelta(days=730)

_DEFAULT_LEAD_FIELDS = ("id", "email", "updatedAt", "createdAt", "firstName", "lastName")



class ApiError(Exception):
    """A refused request: Marketo's code and message (and HTTP status)."""

    def __init__(self, code: str, message: str, status: int = 200):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _camel(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    if not words:
        return name
    return words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _time_json(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return float(value)
    return to_json_value(value)


def _parse_api_time(text: str, what: str) -> _dt.datetime:
    """An ISO 8601 time from a client (``2026-01-02T10:00:00Z``,
    ``...+05:00``, ``...+0000``) as the virtual clock's naive UTC."""
    s = text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*[T ]\d\d:\d\d(?::\d\d)?)([+-]\d\d)(\d\d)$", s)
    if m:
        s = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    try:
        t = _dt.datetime.fromisoformat(s) if len(s) > 10 else _dt.datetime.fromisoformat(s + "T00:00")
    except ValueError:
        raise ApiError("704", f"Invalid date format: {what} {text!r}") from None
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return t.replace(microsecond=0)


def _page_token(kind: str, value: str) -> str:
    return base64.b32encode(f"{kind}:{value}".encode()).decode()


def _read_page_token(token: str) -> tuple[str, str]:
    try:
        kind, _, value = base64.b32decode(token.encode(), casefold=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise ApiError("1003", "Invalid nextPageToken") from None
    if kind not in ("d", "a", "p") or not value:
        raise ApiError("1003", "Invalid nextPageToken")
    return kind, value


class Request:
    """One HTTP request as ``handle`` sees it."""

    def __init__(self, method: str, path: str, query: Mapping[str, Sequence[str]],
                 headers: Mapping[str, str], body: bytes):
        self.method = method.upper()
        self.path = path
        self.query = {k: list(v) for k, v in query.items()}
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body
        self._json: Any = None
        self._json_read = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def param(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[-1] if v else None

    def params(self, name: str) -> list[str]:
        """Every value of a parameter, comma lists split (``a=1,2&a=3``)."""
        return [p.strip() for v in self.query.get(name, ()) for p in v.split(",") if p.strip()]

    def json(self) -> Any:
        """The JSON body (None when there is none); 612 for another content
        type, 609 for malformed JSON."""
        if not self._json_read:
            self._json_read = True
            if self.body.strip():
                if self.content_type != "application/json":
                    raise ApiError("612", f"Invalid Content Type: expected application/json, "
                                          f"got {self.content_type or 'none'}")
                try:
                    self._json = json.loads(self.body)
                except (ValueError, UnicodeDecodeError):
                    raise ApiError("609", "Invalid JSON") from None
        return self._json

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ApiError("609", "Invalid JSON: the body must be a JSON object")
        return body


Route = tuple[str, "re.Pattern[str]", Callable[..., Any]]


class MarketoAPI:
    """Marketo's REST API over one engine (see the module docstring).

    ``client_id``/``client_secret``: the one API user accepted.
    ``token_ttl``: seconds a token lives (``now`` reads the wall clock;
    tests pass their own). ``max_body``: the largest body accepted."""

    def __init__(self, engine: Engine, client_id: str, client_secret: str, *,
                 token_ttl: float = TOKEN_TTL, max_body: int = MAX_BODY,
                 now: Callable[[], float] = time.monotonic):
        if not client_id or not client_secret:
            raise ValueError("a client id and a client secret are needed")
        self.engine = engine
        self.model = engine.model
        self.assets = Assets(engine.model)
        self._client_id = client_id
        self._client_secret = client_secret
        self.token_ttl = token_ttl
        self.max_body = max_body
        self._now = now
        self._token: str | None = None
        self._token_expires = 0.0
        #: the last tokens that expired, so a client holding one hears 602, not 601
        self._expired: deque[str] = deque(maxlen=64)
        self._lock = threading.Lock()
        self._requests = 0
        self._fields = self._field_table()
        self._campaign_ids = {c.qualname: c.id for c in self.model.campaigns}
        self._program_by_key = {p.key: p for p in self.model.programs}
        self._list_by_key = {f'{p.quoted}."{n}"': i + 1 for i, (p, n) in enumerate(self.assets.lists)}
        self._types = self._activity_types()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = []
        for method, pattern, handler in self._route_table():
            self._routes.append((method, re.compile("^" + pattern + "$"), handler))

    # -- tables ------------------------------------------------------------------

    def _field_table(self) -> list[tuple[str, str, str, str]]:
        """(REST name, the language's field name, name_key, type) of every
        person field: standard ones by the table's REST names, declared ones
        by their camelCase name."""
        out = []
        seen = set()
        for key, (name, type_) in self.model.fields.items():
            if key != ast.name_key(name) or key in seen:
                continue   # an alias
            seen.add(key)
            known = tables.person_field(name)
            rest = known.rest if known is not None and known.language == name else _camel(name)
            out.append((rest, name, key, type_))
        std = [f.language for f in tables.PERSON_FIELDS]
        out.sort(key=lambda f: (std.index(f[1]) if f[1] in std else len(std), f[1].casefold()))
        taken: set[str] = set()
        for i, (rest, name, key, type_) in enumerate(out):
            if rest.lower() in taken:   # a declared "Company" beside the standard company
                rest = out[i][0] + "__c"
                out[i] = (rest, name, key, type_)
            taken.add(rest.lower())
        self._rest = {f[0].lower(): f for f in out}
        for f in out:   # the language's own names are accepted too
            self._rest.setdefault(f[1].lower(), f)
        return out

    def _activity_types(self) -> dict[str, tuple[int, tables.ActivityType]]:
        """The simulator's activity name -> (id, type), ids from the table
        (local ids where Marketo documents none)."""
        out: dict[str, tuple[int, tables.ActivityType]] = {}
        for a in tables.ACTIVITY_TYPES:
            if a.language is None or a.language in out:
                continue
            type_id = a.id if a.id is not None else tables.LOCAL_ACTIVITY_IDS.get(a.marketo)
            if type_id is not None:
                out[a.language] = (type_id, a)
        return out

    # -- entry ---------------------------------------------------------------------

    def handle(self, method: str, path: str, query: Mapping[str, Sequence[str]] | str,
               headers: Mapping[str, str], body: bytes = b"") -> tuple[int, dict[str, Any]]:
        """One request -> (HTTP status, JSON body). Never raises for a
        client's mistake."""
        if isinstance(query, str):
            query = parse_qs(query, keep_blank_values=True)
        with self._lock:
            self._requests += 1
            request_id = f"{self._requests:x}#cl"
            req = Request(method, path, query, headers, body)
            try:
                if len(body) > self.max_body:
                    raise ApiError("413", f"Request Entity Too Large: the body is over {self.max_body} bytes",
                                   status=413)
                if path.startswith("/identity/"):
                    return self._identity(req)
                self._form_get(req)
                self._authorize(req)   # before routing: no token, no view of what exists
                handler, args = self._route(req)
                out = handler(req, *args)
                out.setdefault("success", True)
                return 200, {"requestId": request_id, **out}
            except ApiError as exc:
                return exc.status, {"requestId": request_id, "success": False,
                                    "errors": [{"code": exc.code, "message": exc.message}]}
            except CampaignError as exc:   # the engine refused: nothing was kept
                return 200, {"requestId": request_id, "success": False,
                             "errors": [{"code": "1003", "message": str(exc)}]}
            except Exception as exc:   # a bug of ours: Marketo's 611, the action rolled back
                log.error("internal error on %s %s: %s", method, path, type(exc).__name__)
                return 200, {"requestId": request_id, "success": False,
                             "errors": [{"code": "611", "message": "System error"}]}

    def _form_get(self, req: Request) -> None:
        """Marketo's ``_method=GET``: a POST whose form body is the query."""
        if req.method != "POST":
            return
        if req.param("_method") == "GET" or req.content_type == "application/x-www-form-urlencoded":
            form: dict[str, list[str]] = {}
            if req.content_type == "application/x-www-form-urlencoded" and req.body:
                try:
                    form = parse_qs(req.body.decode(), keep_blank_values=True)
                except UnicodeDecodeError:
                    raise ApiError("609", "Invalid form body") from None
            if req.param("_method") == "GET" or form.get("_method", [""])[-1] == "GET":
                req.method = "GET"
                for k, v in form.items():
                    req.query.setdefault(k, []).extend(v)
                if req.content_type == "application/x-www-form-urlencoded":
                    req.body = b""

    def _route(self, req: Request) -> tuple[Callable[..., Any], tuple[str, ...]]:
        allowed = False
        for method, pattern, handler in self._routes:
            m = pattern.match(req.path)
            if m is None:
                continue
            allowed = True
            if method == req.method:
                return handler, m.groups()
        if allowed:
            raise ApiError("605", f"HTTP Method not supported: {req.method} {req.path}")
        raise ApiError("610", f"Requested resource not found: {req.path}")

    # -- identity ------------------------------------------------------------------

    def _identity(self, req: Request) -> tuple[int, dict[str, Any]]:
        if req.path != "/identity/oauth/token":
            raise ApiError("610", f"Requested resource not found: {req.path}")
        if req.method not in ("GET", "POST"):
            raise ApiError("605", f"HTTP Method not supported: {req.method} {req.path}")
        params = dict(req.query)
        if req.method == "POST" and req.content_type == "application/x-www-form-urlencoded" and req.body:
            for k, v in parse_qs(req.body.decode(errors="replace"), keep_blank_values=True).items():
                params.setdefault(k, []).extend(v)

        def one(name: str) -> str:
            v = params.get(name)
            return v[-1] if v else ""

        if one("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "grant_type must be client_credentials"}
        cid, secret = one("client_id"), one("client_secret")
        if not hmac.compare_digest(cid.encode(), self._client_id.encode()):
            return 401, {"error": "unauthorized", "error_description": "No client with requested id"}
        if not hmac.compare_digest(secret.encode(), self._client_secret.encode()):
            return 401, {"error": "unauthorized", "error_description": "Bad client credentials"}
        now = self._now()
        # authentication.md: asked again before it expires, the same token
        if self._token is None or now >= self._token_expires:
            if self._token is not None:
                self._expired.append(self._token)
            self._token = f"{secrets.token_hex(16)}:cl"
            self._token_expires = now + self.token_ttl
        return 200, {"access_token": self._token, "token_type": "bearer",
                     "expires_in": max(0, int(self._token_expires - now)), "scope": f"{cid}@campaignlang"}

    def _authorize(self, req: Request) -> None:
        auth = req.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else req.param("access_token")
        if not token:
            raise ApiError("601", "Access token not specified")
        current = self._token
        if current is not None and hmac.compare_digest(token.encode(), current.encode()):
            if self._now() >= self._token_expires:
                raise ApiError("602", "Access token expired")
            return
        if any(hmac.compare_digest(token.encode(), old.encode()) for old in self._expired):
            raise ApiError("602", "Access token expired")
        raise ApiError("601", "Access token invalid")

    def expire_tokens(self) -> None:
        """End the current token now (what an hour does; tests use it)."""
        self._token_expires = self._now()

    # -- routes ----------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, str, Callable[..., Any]]]:
        n = r"(\d+)"
        return [
            ("GET", r"/rest/v1/leads\.json", self._get_leads),
            ("POST", r"/rest/v1/leads\.json", self._sync_leads),
            ("GET", rf"/rest/v1/lead/{n}\.json", self._get_lead),
            ("GET", r"/rest/v1/leads/describe\.json", self._describe),
            ("GET", rf"/rest/v1/leads/{n}/listMembership\.json", self._lead_lists),
            ("GET", rf"/rest/v1/leads/{n}/programMembership\.json", self._lead_programs),
            ("GET", rf"/rest/v1/leads/{n}/smartCampaignMembership\.json", self._lead_campaigns),
            ("GET", r"/rest/v1/lists\.json", self._get_lists),
            ("GET", rf"/rest/v1/lists/{n}\.json", self._get_list),
            ("GET", rf"/rest/v1/lists?/{n}/leads\.json", self._list_leads),
            ("POST", rf"/rest/v1/lists/{n}/leads\.json", self._add_to_list),
            ("DELETE", rf"/rest/v1/lists/{n}/leads\.json", self._remove_from_list),
            ("GET", rf"/rest/v1/lists/{n}/leads/ismember\.json", self._is_member),
            ("GET", r"/rest/v1/campaigns\.json", self._get_campaigns),
            ("GET", rf"/rest/v1/campaigns/{n}\.json", self._get_campaign),
            ("POST", rf"/rest/v1/campaigns/{n}/trigger\.json", self._trigger),
            ("POST", rf"/rest/v1/campaigns/{n}/schedule\.json", self._schedule),
            ("GET", rf"/rest/v1/leads/programs/{n}\.json", self._program_leads),
            ("POST", rf"/rest/v1/leads/programs/{n}/status\.json", self._lead_program_status),
            ("GET", rf"/rest/v1/programs/{n}/members\.json", self._program_members),
            ("POST", rf"/rest/v1/programs/{n}/members/status\.json", self._member_status),
            ("GET", r"/rest/v1/programs/members/describe\.json", self._describe_members),
            ("GET", r"/rest/v1/activities/types\.json", self._activity_types_json),
            ("GET", r"/rest/v1/activities/pagingtoken\.json", self._paging_token),
            ("GET", r"/rest/v1/activities\.json", self._activities),
            ("GET", r"/rest/asset/v1/programs\.json", self._asset_programs),
            ("GET", rf"/rest/asset/v1/program/{n}\.json", self._asset_program),
            ("GET", r"/rest/asset/v1/program/byName\.json", self._asset_program_by_name),
            ("GET", r"/rest/asset/v1/folders\.json", self._asset_folders),
            ("GET", rf"/rest/asset/v1/folder/{n}\.json", self._asset_folder),
            ("GET", r"/rest/asset/v1/folder/byName\.json", self._asset_folder_by_name),
            ("GET", rf"/rest/asset/v1/folder/{n}/tokens\.json", self._asset_tokens),
            ("GET", r"/rest/asset/v1/channels\.json", self._asset_channels),
            ("GET", r"/rest/asset/v1/channel/byName\.json", self._asset_channel_by_name),
            ("GET", r"/rest/asset/v1/smartCampaigns\.json", self._asset_campaigns),
            ("GET", rf"/rest/asset/v1/smartCampaign/{n}\.json", self._asset_campaign),
            ("GET", r"/rest/asset/v1/smartCampaign/byName\.json", self._asset_campaign_by_name),
            ("GET", rf"/rest/asset/v1/smartCampaign/{n}/smartList\.json", self._asset_campaign_smart_list),
            ("GET", r"/rest/asset/v1/smartLists\.json", self._asset_smart_lists),
            ("GET", rf"/rest/asset/v1/smartList/{n}\.json", self._asset_smart_list),
            ("GET", r"/rest/asset/v1/smartList/byName\.json", self._asset_smart_list_by_name),
            ("GET", r"/rest/asset/v1/staticLists\.json", self._asset_static_lists),
            ("GET", rf"/rest/asset/v1/staticList/{n}\.json", self._asset_static_list),
            ("GET", r"/rest/asset/v1/emails\.json", self._asset_emails),
            ("GET", rf"/rest/asset/v1/email/{n}\.json", self._asset_email),
            ("GET", r"/rest/asset/v1/forms\.json", self._asset_forms),
            ("GET", rf"/rest/asset/v1/form/{n}\.json", self._asset_form),
            ("GET", r"/campaignlang/v1/clock\.json", self._clock),
            ("POST", r"/campaignlang/v1/clock/advance\.json", self._advance),
        ]

    # -- helpers -------------------------------------------------------------------

    def _int(self, req: Request, name: str, default: int, low: int, high: int) -> int:
        v = req.param(name)
        if v is None or v == "":
            return default
        try:
            n = int(v)
        except ValueError:
            raise ApiError("1001", f"Invalid value '{v}'. Required of type 'integer' ({name})") from None
        if not low <= n <= high:
            raise ApiError("1003", f"{name} must be between {low} and {high}; {n} was given")
        return n

    def _input(self, body: dict[str, Any], limit: int = MAX_RECORDS) -> list[Any]:
        records = body.get("input")
        if records is None:
            raise ApiError("701", "input cannot be blank")
        if not isinstance(records, list):
            raise ApiError("1003", "input must be an array")
        if len(records) > limit:
            raise ApiError("1003", f"Too many records in input: at most {limit}; {len(records)} were given")
        return records

    def _lead_id(self, item: Any, key: str = "id") -> int:
        value = item.get(key) if isinstance(item, dict) else item
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ApiError("1003", f"each lead needs an integer '{key}'")
        try:
            return int(value)
        except ValueError:
            raise ApiError("1001", f"Invalid value '{value}'. Required of type 'integer'") from None

    def _person_exists(self, pid: int) -> bool:
        p = self.engine.store.person(pid)
        return p is not None and not p.deleted

    def _campaign(self, cid: str) -> CampaignInfo:
        n = int(cid)
        if not 1 <= n <= len(self.model.campaigns):
            raise ApiError("1013", f"Campaign not found: no campaign with id {n}")
        return self.model.campaigns[n - 1]

    def _program(self, pid: str) -> ProgramInfo:
        n = int(pid)
        if not 1 <= n <= len(self.model.programs):
            raise ApiError("1013", f"Program not found: no program with id {n}")
        return self.model.programs[n - 1]

    def _list(self, lid: str) -> tuple[ProgramInfo, str, str]:
        found = self.assets.find_list(int(lid))
        if found is None:
            raise ApiError("1013", f"List not found: no static list with id {lid}")
        p, name = found
        return p, name, f'{p.quoted}."{name}"'

    def _tokens(self, c: CampaignInfo, items: Any) -> dict[str, str] | None:
        """Marketo's ``[{"name": "{{my.X}}", "value": V}]`` -> the engine's
        ``{"my.X": V}`` (names checked by the engine: §12.11)."""
        if items is None:
            return None
        if not isinstance(items, list):
            raise ApiError("1003", "tokens must be an array of {name, value}")
        if len(items) > MAX_API_TOKENS:
            raise ApiError("1003", f"Too many tokens: at most {MAX_API_TOKENS}; {len(items)} were given")
        out: dict[str, str] = {}
        for t in items:
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise ApiError("1003", "each token needs a name like {{my.Name}} and a value")
            name = t["name"].strip()
            m = re.fullmatch(r"\{\{\s*my\.(.+?)\s*\}\}", name)
            if m is None:
                raise ApiError("1003", f"Invalid token name '{name}': write {{{{my.Name}}}}")
            value = t.get("value")
            out[f"my.{m.group(1)}"] = "" if value is None else str(value)
        return out

    def _lead_json(self, pid: int, fields: Sequence[tuple[str, str | None]]) -> dict[str, Any]:
        person = self.engine.store.person(pid)
        out: dict[str, Any] = {}
        for rest, key in fields:
            if key is None:
                out[rest] = pid
            else:
                out[rest] = _time_json(person.get(key)) if person is not None else None
        return out

    def _fields_param(self, req: Request) -> list[tuple[str, str | None]]:
        names = req.params("fields") or list(_DEFAULT_LEAD_FIELDS)
        out: list[tuple[str, str | None]] = []
        for n in names:
            if n.lower() == "id":
                out.append(("id", None))
                continue
            f = self._rest.get(n.lower())
            if f is None:
                raise ApiError("1006", f"Field '{n}' not found")
            out.append((n, f[2]))
        return out

    def _page_window(self, req: Request) -> tuple[int, int]:
        """(start, size) of a page: ``nextPageToken`` (a position) and ``batchSize``."""
        size = self._int(req, "batchSize", MAX_PAGE, 1, MAX_PAGE)
        tok = req.param("nextPageToken")
        if not tok:
            return 0, size
        kind, value = _read_page_token(tok)
        if kind != "p" or not value.isdigit():
            raise ApiError("1003", "Invalid nextPageToken")
        return int(value), size

    def _page(self, req: Request, ids: list[int], fields: list[tuple[str, str | None]],
              extra: Callable[[int], dict[str, Any]] | None = None) -> dict[str, Any]:
        """A page of lead records from ids in order: ``batchSize`` and a
        position ``nextPageToken``."""
        start, size = self._page_window(req)
        chunk = ids[start:start + size]
        result = []
        for pid in chunk:
            rec = self._lead_json(pid, fields)
            if extra is not None:
                rec.update(extra(pid))
            result.append(rec)
        out: dict[str, Any] = {"result": result}
        if start + size < len(ids):
            out["nextPageToken"] = _page_token("p", str(start + size))
            out["moreResult"] = True
        else:
            out["moreResult"] = False
        return out

    # -- leads -------------------------------------------------------------------------

    def _describe(self, req: Request) -> dict[str, Any]:
        result = [{"id": i + 1, "displayName": name, "dataType": tables.REST_DATA_TYPES.get(type_, "string"),
                   **({"length": 255} if type_ in ("text", "email") else {}),
                   "rest": {"name": rest, "readOnly": key in ("created at", "updated at")},
                   "soap": {"name": name.replace(" ", ""), "readOnly": key in ("created at", "updated at")}}
                  for i, (rest, name, key, type_) in enumerate(self._fields)]
        result.insert(0, {"id": 0, "displayName": "Id", "dataType": "integer",
                          "rest": {"name": "id", "readOnly": True}, "soap": {"name": "Id", "readOnly": True}})
        return {"result": result}

    def _get_lead(self, req: Request, lid: str) -> dict[str, Any]:
        pid = int(lid)
        fields = self._fields_param(req)
        if not self._person_exists(pid):
            return {"result": []}
        return {"result": [self._lead_json(pid, fields)]}

    def _get_leads(self, req: Request) -> dict[str, Any]:
        ftype = req.param("filterType")
        values = req.params("filterValues")
        if not ftype:
            raise ApiError("701", "filterType cannot be blank")
        if not values:
            raise ApiError("701", "filterValues cannot be blank")
        if len(values) > MAX_RECORDS:
            raise ApiError("1003", f"Too many filterValues: at most {MAX_RECORDS}")
        fields = self._fields_param(req)
        store = self.engine.store
        ids: list[int] = []
        if ftype.lower() == "id":
            for v in values:
                if v.isdigit() and self._person_exists(int(v)):
                    ids.append(int(v))
        else:
            f = self._rest.get(ftype.lower())
            if f is None:
                raise ApiError("1006", f"Field '{ftype}' not found")
            _rest, name, key, type_ = f
            if key == "email address":
                for v in values:
                    pid = store.find_person(v)
                    if pid is not None:
                        ids.append(pid)
            else:
                col = store.column(key)
                try:
                    wanted = [encode(type_, convert(type_, v)) for v in values]
                except ValueError as exc:
                    raise ApiError("1001", f"Invalid value for filterType {ftype}: {exc}") from None
                if col is not None:
                    marks = ",".join("?" * len(wanted))
                    if type_ in ("text", "email"):   # Marketo compares text case-insensitively
                        where = f'lower("{col}") IN ({marks})'
                        wanted = [str(w).lower() for w in wanted]
                    else:
                        where = f'"{col}" IN ({marks})'
                    ids += [p.id for p in store.people(where, wanted)]
        ids = sorted(dict.fromkeys(ids))
        if len(ids) > 1000:
            raise ApiError("1003", "Too many results match the filter")
        return self._page(req, ids, fields)

    def _records_page(self, req: Request, records: list[dict[str, Any]]) -> dict[str, Any]:
        """A page of records with ``batchSize`` and a position ``nextPageToken``."""
        start, size = self._page_window(req)
        out: dict[str, Any] = {"result": records[start:start + size], "moreResult": start + size < len(records)}
        if out["moreResult"]:
            out["nextPageToken"] = _page_token("p", str(start + size))
        return out

    def _lead(self, lid: str) -> int:
        pid = int(lid)
        if not self._person_exists(pid):
            raise ApiError("1004", f"Lead not found: {pid}")
        return pid

    def _lead_lists(self, req: Request, lid: str) -> dict[str, Any]:
        pid = self._lead(lid)
        ids = sorted(self._list_by_key[k] for k in self.engine.store.lists_of(pid) if k in self._list_by_key)
        return self._records_page(req, [{"listId": i, "createdAt": "2026-01-01T00:00:00Z",
                                         "updatedAt": "2026-01-01T00:00:00Z"} for i in ids])

    def _lead_programs(self, req: Request, lid: str) -> dict[str, Any]:
        pid = self._lead(lid)
        out = []
        for m in self.engine.store.memberships(pid):
            p = self._program_by_key.get(m.program)
            if p is not None:
                rec = self._membership_json(p, pid) or {}
                out.append({"id": p.id, **rec, "updatedAt": rec.get("membershipDate")})
        return self._records_page(req, sorted(out, key=lambda r: r["id"]))

    def _lead_campaigns(self, req: Request, lid: str) -> dict[str, Any]:
        pid = self._lead(lid)
        first: dict[int, str] = {}
        last: dict[int, str] = {}
        for _person, campaign, at, _run in self.engine.store.run_history(pid):
            cid = self._campaign_ids.get(campaign)
            if cid is not None:
                first.setdefault(cid, at)
                last[cid] = at
        return self._records_page(req, [{"smartCampaignId": c, "createdAt": first[c] + "Z",
                                         "updatedAt": last[c] + "Z"} for c in sorted(first)])

    def _sync_leads(self, req: Request) -> dict[str, Any]:
        body = req.json_object()
        action = body.get("action", "createOrUpdate")
        if action not in ("createOrUpdate", "createOnly", "updateOnly", "createDuplicate"):
            raise ApiError("1003", f"Invalid action '{action}'")
        if action == "createDuplicate":
            raise ApiError("1003", "createDuplicate is not supported: a person is identified by email")
        lookup = str(body.get("lookupField", "email"))
        if lookup.lower() not in ("email", "id"):
            raise ApiError("1011", f"Field '{lookup}' not supported as lookupField (email or id)")
        if lookup.lower() == "id" and action != "updateOnly":
            raise ApiError("1003", "lookupField id needs action updateOnly")
        records = self._input(body)
        store = self.engine.store
        result: list[dict[str, Any]] = []
        todo: list[tuple[int, str, dict[str, Any]]] = []   # (result index, email, fields)
        seen: dict[str, bool] = {}   # an email earlier in this request -> created here
        for rec in records:
            if not isinstance(rec, dict):
                result.append(self._skipped("1003", "Invalid data: each record is a JSON object"))
                continue
            fields: dict[str, Any] = {}
            email: str | None = None
            problem: dict[str, Any] | None = None
            pid: int | None = None
            for k, v in rec.items():
                if k.lower() == "id":
                    if lookup.lower() != "id":
                        problem = self._skipped("1003", "Invalid data: id is allowed only with lookupField id")
                        break
                    try:
                        pid = int(v)
                    except (TypeError, ValueError):
                        problem = self._skipped("1001", f"Invalid value '{v}'. Required of type 'integer'")
                        break
                    continue
                f = self._rest.get(k.lower())
                if f is None:
                    problem = self._skipped("1006", f"Field '{k}' not found")
                    break
                _rest, name, key, type_ = f
                if key in ("created at", "updated at"):
                    problem = self._skipped("1003", f"Invalid data: field '{k}' is read-only")
                    break
                if key == "email address":
                    email = None if v is None else str(v).strip()
                    continue
                try:
                    fields[name] = convert(type_, v)
                except ValueError as exc:
                    problem = self._skipped("1001", f"Invalid value '{v}' for '{k}': {exc}")
                    break
            if problem is None and lookup.lower() == "id":
                if pid is None:
                    problem = self._skipped("1003", "Invalid data: lookupField id needs an id")
                elif not self._person_exists(pid):
                    problem = self._skipped("1004", "Lead not found")
                else:
                    known = store.person(pid).email   # type: ignore[union-attr]
                    if email and email.casefold() != known.casefold():
                        problem = self._skipped("1003", "Invalid data: the email address of a lead "
                                                        "cannot change")
                    email = known
            if problem is None and not email:
                problem = self._skipped("1003", "Invalid data: email cannot be blank")
            if problem is None:
                assert email is not None
                fold = email.casefold()
                exists = fold in seen or store.find_person(email) is not None
                if action == "createOnly" and exists:
                    problem = self._skipped("1005", "Lead already exists")
                elif action == "updateOnly" and not exists:
                    problem = self._skipped("1004", "Lead not found")
                else:
                    seen.setdefault(fold, not exists)
            if problem is not None:
                result.append(problem)
                continue
            assert email is not None
            result.append({})
            todo.append((len(result) - 1, email, fields))
        if todo:
            created = {e for e, new in seen.items() if new}
            self.engine.import_people([{"Email Address": email, **fields} for _i, email, fields in todo])
            done: set[str] = set()
            for i, email, _f in todo:
                fold = email.casefold()
                status = "created" if fold in created and fold not in done else "updated"
                done.add(fold)
                result[i] = {"id": store.find_person(email), "status": status}
        return {"result": result}

    @staticmethod
    def _skipped(code: str, message: str) -> dict[str, Any]:
        return {"status": "skipped", "reasons": [{"code": code, "message": message}]}

    # -- lists -------------------------------------------------------------------------

    def _list_json(self, list_id: int) -> dict[str, Any]:
        p, name = self.assets.lists[list_id - 1]
        return {"id": list_id, "name": name, "description": "", "programName": p.name,
                "workspaceName": p.workspace.name, "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z"}

    def _get_lists(self, req: Request) -> dict[str, Any]:
        ids = {int(i) for i in req.params("id") if i.isdigit()}
        names = set(req.params("name"))
        programs = set(req.params("programName"))
        spaces = set(req.params("workspaceName"))
        out = []
        for i, (p, name) in enumerate(self.assets.lists):
            if ((not ids or i + 1 in ids) and (not names or name in names)
                    and (not programs or p.name in programs) and (not spaces or p.workspace.name in spaces)):
                out.append(self._list_json(i + 1))
        return {"result": out}

    def _get_list(self, req: Request, lid: str) -> dict[str, Any]:
        self._list(lid)
        return {"result": [self._list_json(int(lid))]}

    def _list_leads(self, req: Request, lid: str) -> dict[str, Any]:
        _p, _n, key = self._list(lid)
        fields = self._fields_param(req)
        return self._page(req, self.engine.store.list_members(key), fields)

    def _list_change(self, req: Request, lid: str, adding: bool) -> dict[str, Any]:
        _p, _n, key = self._list(lid)
        body = req.json_object()
        items = self._input(body)
        store = self.engine.store
        result: list[dict[str, Any]] = []
        todo: list[int] = []
        for item in items:
            pid = self._lead_id(item)
            if not self._person_exists(pid):
                result.append({"id": pid, **self._skipped("1004", "Lead not found")})
            elif not adding and not store.in_list(key, pid):
                result.append({"id": pid, **self._skipped("1015", "Lead not in list")})
            else:
                result.append({"id": pid, "status": "added" if adding else "removed"})
                todo.append(pid)
        if todo:
            self.engine.fire("added to list" if adding else "removed from list", todo, key)
        return {"result": result}

    def _add_to_list(self, req: Request, lid: str) -> dict[str, Any]:
        return self._list_change(req, lid, True)

    def _remove_from_list(self, req: Request, lid: str) -> dict[str, Any]:
        return self._list_change(req, lid, False)

    def _is_member(self, req: Request, lid: str) -> dict[str, Any]:
        _p, _n, key = self._list(lid)
        body = req.json_object()
        items = self._input(body) if body else [{"id": i} for i in req.params("id")]
        result = []
        for item in items:
            pid = self._lead_id(item)
            if not self._person_exists(pid):
                result.append({"id": pid, **self._skipped("1004", "Lead not found")})
            else:
                result.append({"id": pid, "status": "memberof" if self.engine.store.in_list(key, pid)
                               else "notmemberof"})
        return {"result": result}

    # -- campaigns -------------------------------------------------------------------

    def _campaign_record(self, c: CampaignInfo) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "description": c.description,
                "type": "trigger" if c.kind == "trigger" else "batch",
                "programName": c.program.name, "programId": c.program.id,
                "workspaceName": c.workspace.name, "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z", "active": c.kind == "trigger" and c.active}

    def _get_campaigns(self, req: Request) -> dict[str, Any]:
        ids = {int(i) for i in req.params("id") if i.isdigit()}
        names = set(req.params("name"))
        programs = set(req.params("programName"))
        spaces = set(req.params("workspaceName"))
        out = [self._campaign_record(c) for c in self.model.campaigns
               if (not ids or c.id in ids) and (not names or c.name in names)
               and (not programs or c.program.name in programs)
               and (not spaces or c.workspace.name in spaces)]
        return {"result": out}

    def _get_campaign(self, req: Request, cid: str) -> dict[str, Any]:
        return {"result": [self._campaign_record(self._campaign(cid))]}

    def _trigger(self, req: Request, cid: str) -> dict[str, Any]:
        c = self._campaign(cid)
        body = req.json_object()
        inp = body.get("input")
        if not isinstance(inp, dict):
            raise ApiError("701", "input cannot be blank: send {\"input\": {\"leads\": [{\"id\": N}]}}")
        # the campaign's kind, activity and `campaign is requested ... from api` are the
        # engine's rule (Engine.request): its refusal is 1003, before anything runs
        leads = inp.get("leads")
        if not isinstance(leads, list) or not leads:
            raise ApiError("701", "leads cannot be blank")
        if len(leads) > MAX_API_PEOPLE:
            raise ApiError("1003", f"Invalid data: at most {MAX_API_PEOPLE} leads per request; "
                                   f"{len(leads)} were given")
        pids = [self._lead_id(item) for item in leads]
        missing = [p for p in pids if not self._person_exists(p)]
        if missing:
            raise ApiError("1004", f"Lead not found: {', '.join(map(str, missing[:10]))}")
        tokens = self._tokens(c, inp.get("tokens"))
        self.engine.request(c, pids, tokens, source="api")
        return {"result": [{"id": c.id}]}

    def _schedule(self, req: Request, cid: str) -> dict[str, Any]:
        c = self._campaign(cid)
        body = req.json_object()
        inp = body.get("input", {})
        if not isinstance(inp, dict):
            raise ApiError("1003", "input must be an object")
        if inp.get("cloneToProgramName"):
            raise ApiError("703", "The feature is not enabled: cloneToProgramName (the simulator "
                                  "cannot clone programs)")
        at = None
        if inp.get("runAt") is not None:
            at = _parse_api_time(str(inp["runAt"]), "runAt")
            if at > self.engine.now + MAX_RUN_AT:
                raise ApiError("1042", "Invalid runAt date: more than two years in the future")
        tokens = self._tokens(c, inp.get("tokens"))
        self.engine.schedule_batch(c, at, tokens)
        return {"result": [{"id": c.id}]}

    # -- programs and members ------------------------------------------------------------

    def _membership_json(self, p: ProgramInfo, pid: int) -> dict[str, Any] | None:
        m = self.engine.store.membership(p.key, pid)
        if m is None:
            return None
        statuses = p.statuses
        success = bool(statuses) and m.status == statuses[-1]
        return {"progressionStatus": m.status, "acquiredBy": False, "reachedSuccess": success,
                "membershipDate": m.since + "Z", "isExhausted": False}

    def _members(self, p: ProgramInfo) -> list[int]:
        return self.engine.store.program_member_ids(p.key)

    def _program_leads(self, req: Request, prog: str) -> dict[str, Any]:
        p = self._program(prog)
        fields = self._fields_param(req)
        return self._page(req, self._members(p), fields,
                          lambda pid: {"membership": self._membership_json(p, pid)})

    def _program_members(self, req: Request, prog: str) -> dict[str, Any]:
        p = self._program(prog)
        ftype = (req.param("filterType") or "").lower()
        values = req.params("filterValues")
        if not ftype:
            raise ApiError("701", "filterType cannot be blank")
        members = self._members(p)
        if ftype == "leadid":
            wanted = {int(v) for v in values if v.isdigit()}
            ids = [m for m in members if m in wanted]
        elif ftype == "statusname":
            ids = [m for m in members if (self.engine.store.membership(p.key, m) or _NO).status in values]
        else:
            raise ApiError("1003", f"filterType '{ftype}' is not supported (leadId, statusName)")
        page = self._page(req, ids, [("leadId", None)])
        out = []
        for seq, rec in enumerate(page["result"]):
            m = self._membership_json(p, rec["leadId"]) or {}
            out.append({"seq": seq, "leadId": rec["leadId"], "reachedSuccess": m.get("reachedSuccess", False),
                        "programId": p.id, "acquiredBy": False, "membershipDate": m.get("membershipDate"),
                        "statusName": m.get("progressionStatus")})
        page["result"] = out
        return page

    def _status_change(self, p: ProgramInfo, status: Any, pids: list[int]) -> list[dict[str, Any]]:
        if not isinstance(status, str) or not status:
            raise ApiError("701", "status cannot be blank")
        if p.statuses and status not in p.statuses:
            raise ApiError("1025", f"Program status not found: '{status}' is not a status of "
                                   f"program {p.id} ({', '.join(p.statuses)})")
        result: list[dict[str, Any]] = []
        todo = []
        for pid in pids:
            if not self._person_exists(pid):
                result.append({"id": pid, **self._skipped("1004", "Lead not found")})
                continue
            m = self.engine.store.membership(p.key, pid)
            old = m.status if m is not None else None
            if old == status or (old in p.statuses and p.statuses.index(status) <= p.statuses.index(old)):
                result.append({"id": pid, **self._skipped("1037", "Lead was skipped: already in or past "
                                                                  "this status")})
                continue
            result.append({"id": pid, "status": "created" if m is None else "updated"})
            todo.append(pid)
        if todo:
            self.engine.fire("program status is changed", todo, p.quoted, to=status)
        return result

    def _lead_program_status(self, req: Request, prog: str) -> dict[str, Any]:
        p = self._program(prog)
        body = req.json_object()
        pids = [self._lead_id(i) for i in self._input(body)]
        return {"result": self._status_change(p, body.get("status"), pids)}

    def _member_status(self, req: Request, prog: str) -> dict[str, Any]:
        p = self._program(prog)
        body = req.json_object()
        pids = [self._lead_id(i, "leadId") for i in self._input(body)]
        result = self._status_change(p, body.get("statusName"), pids)
        return {"result": [{"seq": i, "leadId": r.pop("id"), **r} for i, r in enumerate(result)]}

    def _describe_members(self, req: Request) -> dict[str, Any]:
        fields = [{"displayName": "Lead Id", "dataType": "integer", "name": "leadId", "updateable": False},
                  {"displayName": "Status Name", "dataType": "string", "name": "statusName", "updateable": True},
                  {"displayName": "Membership Date", "dataType": "datetime", "name": "membershipDate",
                   "updateable": False},
                  {"displayName": "Reached Success", "dataType": "boolean", "name": "reachedSuccess",
                   "updateable": False}]
        names = sorted({n for p in self.model.programs for n in p.member_fields}, key=str.casefold)
        fields += [{"displayName": n, "dataType": "string", "name": _camel(n), "updateable": True} for n in names]
        return {"result": [{"name": "API Program Membership", "description": "Program member fields",
                            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                            "dedupeFields": ["leadId", "programId"],
                            "searchableFields": [["leadId"], ["statusName"]], "fields": fields}]}

    # -- activities ----------------------------------------------------------------------

    def _activity_types_json(self, req: Request) -> dict[str, Any]:
        out = []
        for language, (type_id, a) in sorted(self._types.items(), key=lambda kv: kv[1][0]):
            entry: dict[str, Any] = {"id": type_id, "name": a.marketo, "description": language}
            if a.primary:
                entry["primaryAttribute"] = {"name": a.primary, "dataType": "string"}
            # Marketo's attribute names for the type, then every name this server's
            # activities of the type carry (the table's mapping), so the types describe the log
            spec = tables.ACTIVITY_ATTRIBUTES.get(language, tables.ActivityAttributes(None))
            names = [*a.attributes, *(n for _k, n in spec.names), *(n for n in (spec.old, spec.new) if n),
                     "Campaign"]
            entry["attributes"] = [{"name": n, "dataType": "string"} for n in dict.fromkeys(names)]
            out.append(entry)
        return {"result": out}

    def _paging_token(self, req: Request) -> dict[str, Any]:
        since = req.param("sinceDatetime")
        if not since:
            raise ApiError("701", "sinceDatetime cannot be blank")
        t = _parse_api_time(since, "sinceDatetime")
        return {"nextPageToken": _page_token("d", iso(t))}

    def _activity_json(self, a: Any) -> dict[str, Any]:
        type_id, mtype = self._types.get(a.type, (0, None))
        spec = tables.ACTIVITY_ATTRIBUTES.get(a.type, tables.ActivityAttributes(None))
        names = dict(spec.names)
        attrs = dict(a.attributes)
        primary_value = attrs.pop(spec.primary, None) if spec.primary else None
        out: dict[str, Any] = {"id": a.id, "marketoGUID": str(a.id), "leadId": a.person,
                               "activityDate": a.at + "Z", "activityTypeId": type_id}
        if a.campaign is not None and a.campaign in self._campaign_ids:
            out["campaignId"] = self._campaign_ids[a.campaign]
        if spec.primary is not None:
            ref = self._primary_id(a.type, a.asset, primary_value)
            if ref is not None:
                out["primaryAttributeValueId"] = ref
            out["primaryAttributeValue"] = _primary_text(primary_value)
        attributes = [{"name": names.get(k, k), "value": _attr_value(v)} for k, v in attrs.items()]
        if spec.old is not None and (a.old is not None or a.new is not None):
            attributes.append({"name": spec.old, "value": _attr_value(a.old)})
            attributes.append({"name": spec.new, "value": _attr_value(a.new)})
        if a.campaign is not None:
            attributes.append({"name": "Campaign", "value": a.campaign})
        out["attributes"] = attributes
        return out

    def _primary_id(self, type_: str, asset: str | None, value: Any) -> int | None:
        if type_ in ("Add to List", "Remove from List") and asset is not None:
            return self._list_by_key.get(asset)
        if type_ in ("Request Campaign", "Executed Campaign", "Remove from Flow", "Campaign is Requested"):
            return self._campaign_ids.get(str(value)) if value is not None else None
        if type_ == "Change Program Status" and asset is not None:
            p = self._program_by_key.get(asset)
            return p.id if p is not None else None
        if type_ in ("Change Score", "Change Data Value") and value is not None:
            for i, f in enumerate(self._fields):
                if f[1] == value:
                    return i + 1
        return None

    def _activities(self, req: Request) -> dict[str, Any]:
        tok = req.param("nextPageToken")
        if not tok:
            raise ApiError("701", "nextPageToken cannot be blank: get one from activities/pagingtoken.json")
        kind, value = _read_page_token(tok)
        type_ids = req.params("activityTypeIds")
        if not type_ids:
            raise ApiError("701", "activityTypeIds cannot be blank")
        if len(type_ids) > MAX_ACTIVITY_TYPES:
            raise ApiError("1003", f"Too many activityTypeIds: at most {MAX_ACTIVITY_TYPES}")
        wanted_ids = set()
        for t in type_ids:
            if not t.isdigit():
                raise ApiError("1001", f"Invalid value '{t}'. Required of type 'integer' (activityTypeIds)")
            wanted_ids.add(int(t))
        types = [lang for lang, (tid, _a) in self._types.items() if tid in wanted_ids]
        leads = req.params("leadIds")
        if len(leads) > MAX_ACTIVITY_LEADS:
            raise ApiError("1003", f"Too many leadIds: at most {MAX_ACTIVITY_LEADS}")
        people = [int(x) for x in leads if x.isdigit()]
        list_id = req.param("listId")
        if list_id:
            _p, _n, key = self._list(list_id)
            members = set(self.engine.store.list_members(key))
            people = [p for p in people if p in members] if people else sorted(members)
            if not people:
                people = [0]   # an empty list: no one
        size = self._int(req, "batchSize", MAX_PAGE, 1, MAX_PAGE)
        store = self.engine.store
        # a date token reads from its time on; then the position is the last id returned
        since, after = (value, 0) if kind == "d" else (None, int(value) if value.isdigit() else 0)
        acts = store.activities(after_id=after, since=since, types=types, people=people or None,
                                limit=size + 1)
        more = len(acts) > size
        acts = acts[:size]
        if acts:
            last = acts[-1].id
        elif kind == "d":   # nothing yet: just before the first activity at or after the date
            first = store.first_activity_since(value)
            last = first - 1 if first is not None else store.last_activity_id()
        else:
            last = after
        result = [self._activity_json(a) for a in acts]
        out: dict[str, Any] = {"nextPageToken": _page_token("a", str(last)), "moreResult": more}
        if result:
            out["result"] = result
        return out

    # -- assets --------------------------------------------------------------------------

    def _browse(self, req: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        size = self._int(req, "maxReturn", 20, 1, 200)
        offset = self._int(req, "offset", 0, 0, 1 << 31)
        page = items[offset:offset + size]
        if not page:
            return {"warnings": ["No assets found for the given search criteria."], "errors": []}
        return {"result": page, "errors": [], "warnings": []}

    def _folder_param(self, req: Request) -> tuple[int, str] | None:
        raw = req.param("folder") or req.param("root")
        if not raw:
            return None
        try:
            f = json.loads(raw)
            return int(f["id"]), str(f.get("type", "Folder"))
        except (ValueError, KeyError, TypeError):
            raise ApiError("1003", f"Invalid folder '{raw}': write {{\"id\": N, \"type\": \"Folder\"}}") from None

    def _asset_programs(self, req: Request) -> dict[str, Any]:
        return self._browse(req, [self.assets.program_json(p) for p in self.model.programs])

    def _asset_program(self, req: Request, pid: str) -> dict[str, Any]:
        return {"result": [self.assets.program_json(self._program(pid))]}

    def _asset_program_by_name(self, req: Request) -> dict[str, Any]:
        name = req.param("name") or ""
        found = [self.assets.program_json(p) for p in self.model.programs if p.name == name]
        return {"result": found} if found else {"warnings": ["No assets found for the given search criteria."]}

    def _asset_folders(self, req: Request) -> dict[str, Any]:
        items = list(self.assets.all_folders())
        root = self._folder_param(req)
        if root is not None:
            rid, rtype = root
            items = [f for f in items if (f["parent"] or {}).get("id") == rid
                     and rtype.lower() == "folder" or f["folderId"] == {"id": rid, "type": rtype}]
        ws = req.param("workSpace")
        if ws:
            items = [f for f in items if f["workspace"] == ws]
        return self._browse(req, items)

    def _asset_folder(self, req: Request, fid: str) -> dict[str, Any]:
        kind = (req.param("type") or "Folder").lower()
        n = int(fid)
        if kind == "program":
            return {"result": [self.assets.program_folder_json(self._program(fid))]}
        if not 1 <= n <= len(self.assets.folders):
            raise ApiError("702", f"No data found: no folder with id {n}")
        return {"result": [self.assets.folder_json(self.assets.folders[n - 1])]}

    def _asset_folder_by_name(self, req: Request) -> dict[str, Any]:
        name = req.param("name") or ""
        found = [f for f in self.assets.all_folders() if f["name"] == name]
        return {"result": found} if found else {"warnings": ["No assets found for the given search criteria."]}

    def _asset_tokens(self, req: Request, fid: str) -> dict[str, Any]:
        kind = req.param("folderType") or "Folder"
        found = self.assets.tokens_json(int(fid), kind)
        if found is None:
            raise ApiError("702", f"No data found: no {kind.lower()} with id {fid}")
        return {"result": [found]}

    def _asset_channels(self, req: Request) -> dict[str, Any]:
        return self._browse(req, [self.assets.channel_json(p) for p in self.model.programs])

    def _asset_channel_by_name(self, req: Request) -> dict[str, Any]:
        name = req.param("name") or ""
        found = [self.assets.channel_json(p) for p in self.model.programs if p.name == name]
        return {"result": found[:1]} if found else {"warnings": ["No assets found for the given search criteria."]}

    def _asset_campaigns(self, req: Request) -> dict[str, Any]:
        items = [self.assets.campaign_json(c) for c in self.model.campaigns]
        folder = self._folder_param(req)
        if folder is not None:
            items = [c for c in items if c["folder"] == {"id": folder[0], "type": folder[1].capitalize()}]
        if (req.param("isActive") or "").lower() == "true":
            items = [c for c in items if c["isActive"]]
        return self._browse(req, items)

    def _asset_campaign(self, req: Request, cid: str) -> dict[str, Any]:
        return {"result": [self.assets.campaign_json(self._campaign(cid))]}

    def _asset_campaign_by_name(self, req: Request) -> dict[str, Any]:
        name = req.param("name") or ""
        found = [self.assets.campaign_json(c) for c in self.model.campaigns if c.name == name]
        return {"result": found} if found else {"warnings": ["No assets found for the given search criteria."]}

    def _include_rules(self, req: Request) -> bool:
        return (req.param("includeRules") or "").lower() == "true"

    def _asset_campaign_smart_list(self, req: Request, cid: str) -> dict[str, Any]:
        c = self._campaign(cid)
        out = self.assets.smart_list_json(self.assets.smart_list_base + c.id, self._include_rules(req))
        return {"result": [out]}

    def _asset_smart_lists(self, req: Request) -> dict[str, Any]:
        items = [self.assets.smart_list_json(i + 1, False) for i in range(self.assets.smart_list_base)]
        folder = self._folder_param(req)
        if folder is not None:
            items = [s for s in items if s is not None and s["folder"] == {"id": folder[0],
                                                                         "type": folder[1].capitalize()}]
        return self._browse(req, [s for s in items if s is not None])

    def _asset_smart_list(self, req: Request, sid: str) -> dict[str, Any]:
        out = self.assets.smart_list_json(int(sid), self._include_rules(req))
        if out is None:
            raise ApiError("702", f"No data found: no smart list with id {sid}")
        return {"result": [out]}

    def _asset_smart_list_by_name(self, req: Request) -> dict[str, Any]:
        name = req.param("name") or ""
        for i, (_p, n) in enumerate(self.assets.smart_lists):
            if n == name:
                return {"result": [self.assets.smart_list_json(i + 1, False)]}
        return {"warnings": ["No assets found for the given search criteria."]}

    def _asset_static_lists(self, req: Request) -> dict[str, Any]:
        items = [self.assets.static_list_json(i + 1) for i in range(len(self.assets.lists))]
        folder = self._folder_param(req)
        if folder is not None:
            items = [s for s in items if s["folder"] == {"id": folder[0], "type": folder[1].capitalize()}]
        return self._browse(req, items)

    def _asset_static_list(self, req: Request, lid: str) -> dict[str, Any]:
        self._list(lid)
        return {"result": [self.assets.static_list_json(int(lid))]}

    def _in_folder(self, req: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        folder = self._folder_param(req)
        if folder is None:
            return items
        return [i for i in items if i["folder"].get("value", i["folder"].get("id")) == folder[0]
                and i["folder"]["type"].lower() == folder[1].lower()]

    def _asset_emails(self, req: Request) -> dict[str, Any]:
        return self._browse(req, self._in_folder(req, [self.assets.email_json(i + 1)
                                                       for i in range(len(self.assets.emails))]))

    def _asset_email(self, req: Request, eid: str) -> dict[str, Any]:
        n = int(eid)
        if not 1 <= n <= len(self.assets.emails):
            raise ApiError("702", f"No data found: no email with id {n}")
        return {"result": [self.assets.email_json(n)]}

    def _asset_forms(self, req: Request) -> dict[str, Any]:
        return self._browse(req, self._in_folder(req, [self.assets.form_json(i + 1)
                                                       for i in range(len(self.assets.forms))]))

    def _asset_form(self, req: Request, fid: str) -> dict[str, Any]:
        n = int(fid)
        if not 1 <= n <= len(self.assets.forms):
            raise ApiError("702", f"No data found: no form with id {n}")
        return {"result": [self.assets.form_json(n)]}

    # -- the clock (extensions) ------------------------------------------------------------

    def _clock(self, req: Request) -> dict[str, Any]:
        return {"result": [{"now": iso(self.engine.now) + "Z"}]}

    def _advance(self, req: Request) -> dict[str, Any]:
        body = req.json_object()
        by, to = body.get("by"), body.get("to")
        if (by is None) == (to is None):
            raise ApiError("1003", "send {\"by\": \"3 days\"} or {\"to\": \"2026-01-02T10:00:00Z\"}")
        if by is not None:
            if not isinstance(by, str) or not re.fullmatch(r"\s*\d{1,9}\s+[a-z]+\s*", by):
                raise ApiError("1003", f"Invalid duration {by!r}: write '3 days', '4 hours', '30 minutes'")
            result = self.engine.advance(by)
        else:
            result = self.engine.advance(_parse_api_time(str(to), "to"))
        return {"result": [{"now": iso(self.engine.now) + "Z", "runs": result.runs,
                            "activities": max(0, result.last_activity - result.first_activity)}]}


class _NoMembership:
    status = None


_NO = _NoMembership()


def _primary_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith('"') and '"."' in value:
        # a key like "Webinar"."Attendees": Marketo's primary value is "Program.Asset"
        return ".".join(part.strip('"') for part in value.split('"."'))
    return _attr_value(value)


def _attr_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value
