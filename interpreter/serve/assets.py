"""The asset API's reads, produced from the loaded program: programs,
folders, My Tokens, channels, smart campaigns, smart lists with their rules
and static lists, in the JSON shapes of Marketo's asset API
(``/rest/asset/v1/...``; AdobeDocs marketo-developer, help/rest-api).

Ids. Programs and campaigns carry the ids the language gives them
(``{{program.id}}``, ``{{campaign.id}}``: declaration order across the
loaded files, imports first, from 1). The other assets are numbered the same
way, per kind: static lists and named smart lists in program order, then
their order in the program; folders in the order the files declare them,
each workspace first as the folder that holds it (Marketo shows a workspace
as a folder under Marketing Activities). A campaign's own smart list has
the id ``smart_list_base + campaign id``, past every named smart list.
The same files always give the same ids (docs/serve.md, "Ids").

Imports ``ast``, ``model``, ``evaluate`` (``literal_text``) and
``marketo.tables``; nothing of the HTTP side.
"""

from __future__ import annotations

from typing import Any, Iterator

from .. import ast
from ..evaluate import literal_text
from ..marketo import tables
from ..model import DEFAULT_WORKSPACE, Model, ProgramInfo, WorkspaceInfo

#: the created/updated time of every asset: the program's text has no history
ASSET_TIME = "2026-01-01T00:00:00Z+0000"

#: history filters and triggers whose target is an asset (named ``Program.Name``), by its kind
_HISTORY_ASSETS = {"filled out form": "form", "was sent email": "email", "opened email": "email",
                   "clicked link in email": "email", "campaign was run": "campaign"}
_TRIGGER_ASSETS = {"fills out form": "form", "opens email": "email", "clicks link in email": "email",
                   "added to list": "list", "removed from list": "list"}


class Folder:
    """A folder of the asset API: a workspace or a ``folder`` block."""

    __slots__ = ("id", "name", "workspace", "parent", "node", "tokens")

    def __init__(self, id: int, name: str, workspace: str, parent: "Folder | None",
                 node: ast.Node | None, tokens: list[ast.TokenDecl]):
        self.id = id
        self.name = name
        self.workspace = workspace
        self.parent = parent
        self.node = node
        self.tokens = tokens

    @property
    def path(self) -> str:
        parts = []
        f: Folder | None = self
        while f is not None:
            parts.append(f.name)
            f = f.parent
        return "/Marketing Activities/" + "/".join(reversed(parts))


class Assets:
    """Ids and JSON of every asset of a model (see the module docstring)."""

    def __init__(self, model: Model):
        self.model = model
        self.folders: list[Folder] = []
        self._workspace_folder: dict[str, Folder] = {}
        self._folder_of_node: dict[int, Folder] = {}
        self._program_folder: dict[int, Folder] = {}
        self._number_folders()
        #: (program, list name) in id order; id = index + 1
        self.lists: list[tuple[ProgramInfo, str]] = [(p, n) for p in model.programs for n in p.lists]
        self.list_ids = {(p.id, n): i + 1 for i, (p, n) in enumerate(self.lists)}
        self.smart_lists: list[tuple[ProgramInfo, str]] = [
            (p, n) for p in model.programs for n in p.smart_lists]
        self.smart_list_ids = {(p.id, n): i + 1 for i, (p, n) in enumerate(self.smart_lists)}
        self.smart_list_base = len(self.smart_lists)
        self.emails: list[tuple[ProgramInfo, str]] = [(p, n) for p in model.programs for n in p.emails]
        self.forms: list[tuple[ProgramInfo, str]] = [(p, n) for p in model.programs for n in p.forms]

    # -- ids -----------------------------------------------------------------------

    def _number_folders(self) -> None:
        def ws_folder(ws: WorkspaceInfo) -> Folder:
            f = self._workspace_folder.get(ws.name)
            if f is None:
                f = Folder(len(self.folders) + 1, ws.name, ws.name, None, None, ws.tokens)
                self.folders.append(f)
                self._workspace_folder[ws.name] = f
            return f

        def walk(items: tuple[ast.Node, ...], ws: WorkspaceInfo, parent: Folder) -> None:
            for item in items:
                if isinstance(item, ast.Folder):
                    toks = [t for i in item.items if isinstance(i, ast.Tokens) for t in i.tokens]
                    f = Folder(len(self.folders) + 1, item.name, ws.name, parent, item, toks)
                    self.folders.append(f)
                    self._folder_of_node[id(item)] = f
                    walk(item.items, ws, f)
                elif isinstance(item, ast.Program):
                    self._program_folder[id(item)] = parent

        for module in self.model.modules:
            for item in module.items:
                if isinstance(item, ast.Workspace):
                    ws = self.model.workspaces[item.name]
                    walk(item.items, ws, ws_folder(ws))
                elif isinstance(item, (ast.Program, ast.Folder)):
                    ws = self.model.workspaces[DEFAULT_WORKSPACE]
                    walk((item,), ws, ws_folder(ws))
        for ws in self.model.workspaces.values():   # a workspace with tokens only
            ws_folder(ws)

    def folder_of_program(self, p: ProgramInfo) -> Folder:
        f = self._program_folder.get(id(p.node))
        return f if f is not None else self._workspace_folder[p.workspace.name]

    def list_id(self, p: ProgramInfo, name: str) -> int:
        return self.list_ids[(p.id, name)]

    def find_list(self, list_id: int) -> tuple[ProgramInfo, str] | None:
        return self.lists[list_id - 1] if 1 <= list_id <= len(self.lists) else None

    # -- JSON ----------------------------------------------------------------------

    @staticmethod
    def _folder_ref(f: Folder) -> dict[str, Any]:
        return {"id": f.id, "type": "Folder"}

    def program_json(self, p: ProgramInfo) -> dict[str, Any]:
        f = self.folder_of_program(p)
        return {"id": p.id, "name": p.name, "description": p.description,
                "createdAt": ASSET_TIME, "updatedAt": ASSET_TIME, "url": None,
                "type": "Default", "channel": p.name,
                "folder": {"type": "Folder", "value": f.id, "folderName": f.name},
                "status": "", "workspace": p.workspace.name, "tags": [], "costs": None,
                "headStart": False}

    def folder_json(self, f: Folder) -> dict[str, Any]:
        # a workspace's folder is a system folder, as Marketo's roots are: an
        # importer places what it holds at the top of the workspace
        return {"name": f.name, "description": None, "createdAt": ASSET_TIME, "updatedAt": ASSET_TIME,
                "url": None, "folderId": {"id": f.id, "type": "Folder"}, "folderType": "Marketing Folder",
                "parent": None if f.parent is None else self._folder_ref(f.parent),
                "path": f.path, "isArchive": False, "isSystem": f.node is None, "accessZoneId": 1,
                "workspace": f.workspace, "id": f.id}

    def program_folder_json(self, p: ProgramInfo) -> dict[str, Any]:
        """A program as the folder API shows it (type Program)."""
        parent = self.folder_of_program(p)
        return {"name": p.name, "description": p.description, "createdAt": ASSET_TIME,
                "updatedAt": ASSET_TIME, "url": None, "folderId": {"id": p.id, "type": "Program"},
                "folderType": "Program", "parent": self._folder_ref(parent),
                "path": f"{parent.path}/{p.name}", "isArchive": False, "isSystem": False,
                "accessZoneId": 1, "workspace": p.workspace.name, "id": p.id}

    @staticmethod
    def token_json(decl: ast.TokenDecl) -> dict[str, Any]:
        v = decl.value
        if isinstance(v, ast.ScoreChange):
            kind = "score"
        elif isinstance(v, ast.Number):
            kind = "number"
        elif isinstance(v, (ast.Date, ast.DateTime)):
            kind = "date"
        else:
            kind = "text"
        return {"name": decl.name, "type": kind, "value": literal_text(v), "computedUrl": None}

    def tokens_json(self, folder_id: int, folder_type: str) -> dict[str, Any] | None:
        if folder_type.lower() == "program":
            if not 1 <= folder_id <= len(self.model.programs):
                return None
            decls = self.model.programs[folder_id - 1].tokens
        else:
            if not 1 <= folder_id <= len(self.folders):
                return None
            decls = self.folders[folder_id - 1].tokens
        return {"folder": {"type": "Program" if folder_type.lower() == "program" else "Folder",
                           "value": folder_id},
                "tokens": [self.token_json(d) for d in decls]}

    def channel_json(self, p: ProgramInfo) -> dict[str, Any]:
        statuses = [{"name": "Not in Program", "step": 0, "description": None, "hidden": False,
                     "success": False}]
        names = p.statuses
        for i, name in enumerate(names):
            # the last status is the success one, as in Marketo's stock channels
            statuses.append({"name": name, "step": (i + 1) * 10, "description": None, "hidden": False,
                             "success": i == len(names) - 1})
        return {"id": p.id, "name": p.name, "applicableProgramType": "program",
                "progressionStatuses": statuses, "createdAt": ASSET_TIME, "updatedAt": ASSET_TIME}

    def campaign_json(self, c: Any) -> dict[str, Any]:
        rule = c.rule
        out: dict[str, Any] = {
            "id": c.id, "name": c.name, "description": c.description,
            "createdAt": ASSET_TIME, "updatedAt": ASSET_TIME,
            "folder": {"id": c.program.id, "type": "Program"},
            "status": ("Active" if c.active else "Inactive") if c.kind == "trigger" else "Never Run",
            "type": c.kind, "isSystem": False,
            "isActive": c.kind == "trigger" and c.active,
            "isRequestable": c.kind == "trigger" and any(
                t.kind == "campaign is requested" for t in (c.smart_list.triggers if c.smart_list else ())),
            "isCommunicationLimitEnabled": False,
            "recurrence": {"weekdayOnly": False},
            "qualificationRuleType": tables.marketo_name(tables.QUALIFICATION_RULES, rule.rule),
            "workspace": c.workspace.name,
            "smartListId": self.smart_list_base + c.id, "flowId": c.id, "computedUrl": None,
        }
        if rule.rule == "once every" and rule.period is not None:
            out["qualificationRuleInterval"] = rule.period.amount
            out["qualificationRuleUnit"] = (tables.marketo_name(tables.QUALIFY_UNITS, rule.period.unit + "s")
                                            or rule.period.unit)
        sched = c.node.schedule
        if sched is not None:
            rec: dict[str, Any] = {"startAt": sched.start.value.strftime("%Y-%m-%dT%H:%M:%SZ+0000"),
                                   "weekdayOnly": False}
            if sched.every is not None:
                # Marketo repeats daily, weekly or monthly; an hourly schedule keeps
                # its unit's name (an importer reports it as not expressible)
                unit = tables.marketo_name(tables.RECURRENCE_UNITS, sched.every.unit + "s")
                rec["intervalType"] = (unit or sched.every.unit + "ly").capitalize()
                rec["interval"] = sched.every.amount
            out["recurrence"] = rec
        return out

    # -- smart lists ---------------------------------------------------------------

    def smart_list_json(self, sl_id: int, include_rules: bool) -> dict[str, Any] | None:
        """A named smart list (ids 1..base) or a campaign's (base + campaign id)."""
        if 1 <= sl_id <= self.smart_list_base:
            p, name = self.smart_lists[sl_id - 1]
            node: ast.SmartList | None = p.smart_lists[name]
            owner = {"id": p.id, "type": "Program"}
            ws = p.workspace.name
            here = p
        else:
            cid = sl_id - self.smart_list_base
            if not 1 <= cid <= len(self.model.campaigns):
                return None
            c = self.model.campaigns[cid - 1]
            node, name, here = c.smart_list, c.name, c.program
            owner = {"id": c.program.id, "type": "Program"}
            ws = c.workspace.name
        out: dict[str, Any] = {"id": sl_id, "name": name, "createdAt": ASSET_TIME, "updatedAt": ASSET_TIME,
                               "url": None, "folder": owner, "workspace": ws}
        if include_rules:
            out["rules"] = self.rules_json(node, here)
        return out

    def rules_json(self, sl: ast.SmartList | None, here: ProgramInfo) -> dict[str, Any]:
        if sl is None:
            return {"filterMatchType": "all", "triggers": [], "filters": []}
        match = {"all": "all", "any": "any", "advanced": "advanced"}[sl.logic]
        out: dict[str, Any] = {"filterMatchType": match,
                               "triggers": [self._trigger_json(i + 1, t, here) for i, t in enumerate(sl.triggers)],
                               "filters": [self._filter_json(i + 1, f, here) for i, f in enumerate(sl.filters)]}
        if sl.logic == "advanced" and sl.expression:
            out["customRuleLogic"] = sl.expression
        return out

    def _field_display(self, field: ast.FieldRef) -> str:
        found = self.model.field(field.name)
        name = found[0] if found else field.name
        known = tables.person_field(name)
        return known.display if known is not None else name

    @staticmethod
    def _cond(name: str | None, op: str, values: list[str], primary: bool) -> dict[str, Any]:
        return {"activityAttributeName": name, "operator": op, "values": values, "isPrimary": primary}

    def _asset_name(self, kind: str, ref: ast.Ref, here: ProgramInfo) -> str:
        """An asset as Marketo's rule values name it: ``Program.Name``."""
        found = self.model.resolve(kind, ref, here).found
        if found is None:
            return literal_text(ref)
        if kind == "campaign":
            return f"{found.program.name}.{found.name}"
        prog = self.model.program_of_asset(kind, found)
        return f"{prog.name}.{found.name}" if prog is not None else found.name

    def _filter_json(self, n: int, f: ast.Node, here: ProgramInfo) -> dict[str, Any]:
        if isinstance(f, ast.FieldFilter):
            op = tables.SERVED_OPERATORS.get(f.op, f.op)
            values = [literal_text(v) for v in f.values]
            return {"id": n, "name": self._field_display(f.field), "ruleType": "Lead Field",
                    "operator": op, "conditions": [self._cond(None, op, values, True)]}
        if isinstance(f, ast.ListFilter):
            rule = tables.filter_for_phrase("member of list")
            return self._membership(n, rule, "not in" if f.negated else "in", [self._asset_name("list", f.list, here)])
        if isinstance(f, ast.SmartListFilter):
            rule = tables.filter_for_phrase("member of smart list")
            return self._membership(n, rule, "in", [self._asset_name("smart list", f.smart_list, here)])
        if isinstance(f, ast.ProgramFilter):
            rule = tables.filter_for_phrase("member of program")
            out = self._membership(n, rule, "not in" if f.negated else "in", [f.program])
            if f.status is not None and rule is not None:
                out["conditions"].append(self._cond("Status", "is", [f.status], False))
            return out
        if isinstance(f, ast.HistoryFilter):
            rule = tables.filter_for_phrase(f.kind)
            kind = _HISTORY_ASSETS.get(f.kind)
            target = self._asset_name(kind, f.target, here) if kind else f.target.name
            out = self._membership(n, rule, "occurs", [target])
            if f.within is not None:
                out["conditions"].append(self._cond(tables.DATE_OF_ACTIVITY, "in past",
                                                    [literal_text(f.within)], False))
            return out
        return {"id": n, "name": type(f).__name__, "ruleType": "Unknown", "operator": "", "conditions": []}

    @staticmethod
    def _membership(n: int, rule: tables.Rule | None, op: str, values: list[str]) -> dict[str, Any]:
        name = rule.marketo if rule is not None else ""
        primary = rule.primary if rule is not None else None
        return {"id": n, "name": name, "ruleType": name, "operator": op,
                "conditions": [Assets._cond(primary, op, values, True)]}

    def _trigger_json(self, n: int, t: ast.Trigger, here: ProgramInfo) -> dict[str, Any]:
        rule = tables.trigger_for_phrase(t.kind)
        name = rule.marketo if rule is not None else t.kind
        conditions: list[dict[str, Any]] = []
        primary = rule.primary if rule is not None else None
        if t.kind == "campaign is requested":
            source = t.source or "flow action"
            if source != "any":   # any source: no condition, as in Marketo
                conditions.append(self._cond(primary, "is", [tables.REQUEST_SOURCE_NAMES[source]], True))
        elif t.field is not None:
            conditions.append(self._cond(primary, "is", [self._field_display(t.field)], True))
        elif t.target is not None:
            kind = _TRIGGER_ASSETS.get(t.kind)
            target = self._asset_name(kind, t.target, here) if kind else t.target.name
            conditions.append(self._cond(primary, "is", [target], True))
        keyword = {v: k for k, v in (rule.constraints if rule is not None else ())}
        for word, value in (("to", t.to), ("from", t.from_)):
            if value is not None:
                conditions.append(self._cond(keyword.get(word, word), "is", [literal_text(value)], False))
        return {"id": n, "name": name, "ruleType": name, "operator": "", "conditions": conditions}

    # -- browsing --------------------------------------------------------------------

    def static_list_json(self, list_id: int) -> dict[str, Any]:
        p, name = self.lists[list_id - 1]
        return {"id": list_id, "name": name, "description": "", "createdAt": ASSET_TIME,
                "updatedAt": ASSET_TIME, "folder": {"id": p.id, "type": "Program"}, "computedUrl": None,
                "workspace": p.workspace.name}

    def email_json(self, email_id: int) -> dict[str, Any]:
        p, name = self.emails[email_id - 1]
        node = p.emails[name]

        def text(value: Any) -> dict[str, Any] | None:
            return None if value is None else {"type": "Text", "value": literal_text(value)}

        return {"id": email_id, "name": name, "description": "", "createdAt": ASSET_TIME,
                "updatedAt": ASSET_TIME, "url": None, "subject": text(node.subject),
                "fromName": None, "fromEmail": text(node.sender), "replyEmail": None,
                "folder": {"type": "Program", "value": p.id, "folderName": p.name}, "operational": False,
                "textOnly": False, "publishToMSI": False, "webView": False, "status": "approved",
                "template": None, "workspace": p.workspace.name, "isOpenTrackingDisabled": False,
                "version": 2, "autoCopyToText": True, "preHeader": None}

    def form_json(self, form_id: int) -> dict[str, Any]:
        p, name = self.forms[form_id - 1]
        return {"id": form_id, "name": name, "description": "", "createdAt": ASSET_TIME,
                "updatedAt": ASSET_TIME, "url": None, "status": "approved",
                "folder": {"type": "Program", "value": p.id, "folderName": p.name},
                "workspace": p.workspace.name}

    def all_folders(self) -> Iterator[dict[str, Any]]:
        for f in self.folders:
            yield self.folder_json(f)
        for p in self.model.programs:
            yield self.program_folder_json(p)
