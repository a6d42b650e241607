"""Loopback fakes of Jira Cloud and ServiceNow that hold the connector to the vendors' shapes.

Each fake is a ThreadingHTTPServer on 127.0.0.1 (port 0) in a thread. Every request is checked
and a mismatch is recorded in `violations` (and answered 400), so a test that ends with
`fake.violations == []` knows each call matched what the vendor documents:

- Jira: method and path must be an operation of Atlassian's OpenAPI (the trimmed copy in
  tests/fixtures/vendor/jira-ops.json), query parameters among the operation's, the JSON body
  valid against its requestBody schema, Basic auth with the account e-mail and token, and
  descriptions real Atlassian Document Format.
- ServiceNow: `/api/now/table/<table>[/<sys_id>]`, Basic auth, JSON in and out (`{"result":
  …}`), known `sysparm_*` parameters, `short_description` and `correlation_id` on create.

`fail(n, status)` answers the next n requests with that status; `stall(n, seconds)` delays
them (for timeouts).
"""

import base64
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema

JIRA_OPS = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "jira-ops.json"

ADF_BLOCKS = {"paragraph", "bulletList", "orderedList", "heading", "codeBlock", "rule"}
ADF_INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard"}


class Reply(Exception):
    def __init__(self, status: int, body: object = None):
        self.status, self.body = status, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, body = self.server.fake.dispatch(self.command, self.path, self.headers, raw)
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class FakeServer:
    """Shared plumbing: the server thread, the request log, scripted failures."""

    def __init__(self, *, username: str, token: str):
        self.username, self.token = username, token
        self.requests: list[dict] = []
        self.violations: list[str] = []
        self._script: list[tuple[int | None, float]] = []
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, times: int = 1, status: int = 500) -> None:
        self._script += [(status, 0.0)] * times

    def stall(self, times: int = 1, seconds: float = 2.0) -> None:
        self._script += [(None, seconds)] * times

    def calls(self, method: str | None = None) -> list[dict]:
        return [r for r in self.requests if method is None or r["method"] == method]

    def violate(self, message: str) -> None:
        self.violations.append(message)
        raise Reply(400, {"errorMessages": [message]})

    def check_basic_auth(self, headers) -> None:
        expected = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        header = headers.get("Authorization", "")
        if not header.startswith("Basic "):
            self.violate("no Basic authorization")
        if header != f"Basic {expected}":
            raise Reply(401, {"errorMessages": ["Unauthorized"]})

    def dispatch(self, method: str, target: str, headers, raw: bytes) -> tuple[int, object]:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body = None
        if raw:
            if not headers.get("Content-Type", "").startswith("application/json"):
                self.violations.append(f"{method} {parts.path}: body is not application/json")
                return 415, None
            body = json.loads(raw)
        with self._lock:
            self.requests.append(
                {"method": method, "path": parts.path, "query": query, "body": body}
            )
            step = self._script.pop(0) if self._script else None
        if step is not None:
            status, delay = step
            if delay:
                time.sleep(delay)
            if status is not None:
                return status, {"errorMessages": ["scripted failure"]}
        try:
            if "application/json" not in headers.get("Accept", ""):
                self.violate(f"{method} {parts.path}: Accept is not application/json")
            self.check_basic_auth(headers)
            return self.route(method, parts.path, query, body)
        except Reply as reply:
            return reply.status, reply.body
        except Exception as exc:  # a bug in the fake or an unexpected request: fail loudly
            self.violations.append(f"{method} {parts.path}: fake crashed: {exc!r}")
            return 500, None

    def route(self, method: str, path: str, query: dict, body: object) -> tuple[int, object]:
        raise NotImplementedError


# --- Jira Cloud --------------------------------------------------------------------------------


def check_adf(doc: object) -> list[str]:
    """Problems with an Atlassian Document Format document (empty when it is well formed)."""
    problems: list[str] = []
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return ["not a doc of version 1"]
    if not isinstance(doc.get("content"), list) or not doc["content"]:
        return ["a doc needs content"]

    def walk(node: dict, inline: bool) -> None:
        kind = node.get("type")
        if inline:
            if kind not in ADF_INLINE:
                problems.append(f"{kind} is not an inline node")
            if kind == "text":
                if not isinstance(node.get("text"), str) or not node["text"]:
                    problems.append("a text node needs non-empty text")
                for mark in node.get("marks", []):
                    if mark.get("type") == "link" and not mark.get("attrs", {}).get("href"):
                        problems.append("a link mark needs an href")
            return
        if kind == "bulletList" or kind == "orderedList":
            for item in node.get("content", []):
                if item.get("type") != "listItem" or not item.get("content"):
                    problems.append("a list holds listItems with content")
                for block in item.get("content", []):
                    walk(block, inline=False)
            return
        if kind not in ADF_BLOCKS:
            problems.append(f"{kind} is not a block node")
        for child in node.get("content", []):
            walk(child, inline=kind in ("paragraph", "heading"))

    for block in doc["content"]:
        walk(block, inline=False)
    return problems


class FakeJira(FakeServer):
    STATUSES = {"11": "To Do", "21": "In Progress", "31": "Done"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        spec = json.loads(JIRA_OPS.read_text())
        self.components = spec["components"]
        self.operations = []
        for template, methods in spec["paths"].items():
            pattern = re.compile(
                "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            )
            for method, op in methods.items():
                self.operations.append((method.upper(), pattern, template, op))
        self.issues: dict[str, dict] = {}
        self.transitioned: list[tuple[str, str]] = []

    def _operation(self, method: str, path: str):
        for op_method, pattern, template, op in self.operations:
            match = pattern.match(path)
            if match and op_method == method:
                return template, op, match.groups()
        self.violate(f"{method} {path} is not an operation of the Jira v3 API")

    def _validate(self, template: str, op: dict, query: dict, body: object) -> None:
        known = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        for name in query:
            if name not in known:
                self.violate(f"{template}: unknown query parameter {name}")
        request_body = op.get("requestBody")
        if request_body is None:
            if body is not None:
                self.violate(f"{template}: takes no body")
            return
        if body is None:
            if request_body.get("required"):
                self.violate(f"{template}: needs a body")
            return
        schema = request_body["content"]["application/json"]["schema"]
        try:
            jsonschema.validate(
                body, {**schema, "components": self.components}, cls=jsonschema.Draft7Validator
            )
        except jsonschema.ValidationError as exc:
            self.violate(f"{template}: {exc.message}")
        fields = body.get("fields") if isinstance(body, dict) else None
        description = fields.get("description") if isinstance(fields, dict) else None
        if description is not None and (problems := check_adf(description)):
            self.violate(f"{template}: description is not ADF: {problems}")

    def _issue(self, key_or_id: str) -> dict:
        for issue in self.issues.values():
            if key_or_id in (issue["key"], issue["id"]):
                return issue
        raise Reply(404, {"errorMessages": ["Issue does not exist"]})

    def route(self, method: str, path: str, query: dict, body: object) -> tuple[int, object]:
        template, op, args = self._operation(method, path)
        self._validate(template, op, query, body)
        if template == "/rest/api/3/myself":
            return 200, {"accountId": "5b10a2844c20165700ede21g", "emailAddress": self.username}
        if template == "/rest/api/3/issue":
            fields = body["fields"]
            for name in ("project", "issuetype", "summary"):
                if name not in fields:
                    self.violate(f"create: fields.{name} is required")
            number = len(self.issues) + 1
            key = f"{fields['project']['key']}-{number}"
            issue = {"id": str(10000 + number), "key": key, "fields": fields, "status": "To Do"}
            self.issues[key] = issue
            link = f"{self.url}/rest/api/3/issue/{issue['id']}"
            return 201, {"id": issue["id"], "key": key, "self": link}
        if template == "/rest/api/3/search":
            label = re.search(r'labels = "([^"]+)"', body.get("jql", ""))
            project = re.search(r'project = "([^"]+)"', body.get("jql", ""))
            found = [
                i
                for i in self.issues.values()
                if label
                and label.group(1) in i["fields"].get("labels", [])
                and (not project or i["fields"]["project"]["key"] == project.group(1))
            ]
            issues = [
                {"id": i["id"], "key": i["key"], "fields": {"status": {"name": i["status"]}}}
                for i in found[: body.get("maxResults", 50)]
            ]
            return 200, {"startAt": 0, "maxResults": 50, "total": len(found), "issues": issues}
        issue = self._issue(args[0])
        if template == "/rest/api/3/issue/{issueIdOrKey}" and method == "GET":
            return 200, {"id": issue["id"], "key": issue["key"],
                         "fields": {"status": {"name": issue["status"]}}}  # fmt: skip
        if template == "/rest/api/3/issue/{issueIdOrKey}" and method == "PUT":
            issue["fields"].update(body.get("fields", {}))
            return 204, None
        if method == "GET":  # transitions
            return 200, {
                "transitions": [
                    {"id": tid, "name": f"Move to {name}", "to": {"id": tid, "name": name}}
                    for tid, name in self.STATUSES.items()
                    if name != issue["status"]
                ]
            }
        tid = body["transition"].get("id")
        if tid not in self.STATUSES or self.STATUSES[tid] == issue["status"]:
            return 400, {"errorMessages": ["Transition is not valid"]}
        issue["status"] = self.STATUSES[tid]
        self.transitioned.append((issue["key"], issue["status"]))
        return 204, None


# --- ServiceNow --------------------------------------------------------------------------------


class FakeServiceNow(FakeServer):
    SYSPARMS = {
        "sysparm_query",
        "sysparm_fields",
        "sysparm_limit",
        "sysparm_offset",
        "sysparm_display_value",
        "sysparm_exclude_reference_link",
    }

    def __init__(self, *, table: str = "incident", **kwargs):
        super().__init__(**kwargs)
        self.table = table
        self.records: dict[str, dict] = {}

    def violate(self, message: str) -> None:
        self.violations.append(message)
        raise Reply(400, {"error": {"message": message, "detail": ""}, "status": "failure"})

    def check_basic_auth(self, headers) -> None:
        try:
            super().check_basic_auth(headers)
        except Reply as reply:
            if reply.status == 401:
                raise Reply(401, {"error": {"message": "User Not Authenticated"}}) from None
            raise

    def _fields(self, record: dict, query: dict) -> dict:
        names = query.get("sysparm_fields")
        if not names:
            return dict(record)
        return {n: record.get(n, "") for n in names.split(",")}

    def touch(self, record: dict, when: dt.datetime | None = None) -> None:
        when = when or dt.datetime.now(dt.UTC)
        record["sys_updated_on"] = when.strftime("%Y-%m-%d %H:%M:%S")

    def route(self, method: str, path: str, query: dict, body: object) -> tuple[int, object]:
        match = re.match(r"^/api/now/table/([a-z0-9_]+)(?:/([0-9a-f]{32}))?$", path)
        if not match:
            self.violate(f"{path} is not a Table API path")
        table, sys_id = match.groups()
        if table != self.table:
            raise Reply(400, {"error": {"message": f"Invalid table {table}"}})
        for name in query:
            if name not in self.SYSPARMS:
                self.violate(f"unknown parameter {name}")
        if body is not None and not isinstance(body, dict):
            self.violate("the body must be a JSON object")
        if sys_id is None and method == "GET":
            rows = list(self.records.values())
            q = query.get("sysparm_query", "")
            if q:
                field, _, value = q.partition("=")
                if field != "correlation_id":
                    self.violate(f"unexpected query {q}")
                rows = [r for r in rows if r.get("correlation_id") == value]
            limit = int(query.get("sysparm_limit", "10000"))
            return 200, {"result": [self._fields(r, query) for r in rows[:limit]]}
        if sys_id is None and method == "POST":
            for name in ("short_description", "correlation_id", "correlation_display"):
                if not body.get(name):
                    self.violate(f"create: {name} is required")
            self._check_values(body)
            number = f"INC{10000 + len(self.records) + 1:07d}"
            record = {"state": "1", **body, "sys_id": uuid.uuid4().hex, "number": number}
            self.touch(record)
            self.records[record["sys_id"]] = record
            return 201, {"result": self._fields(record, query)}
        record = self.records.get(sys_id or "")
        if record is None:
            return 404, {"error": {"message": "No Record found"}, "status": "failure"}
        if method == "GET":
            return 200, {"result": self._fields(record, query)}
        if method in ("PATCH", "PUT"):
            if "correlation_id" in body and body["correlation_id"] != record["correlation_id"]:
                self.violate("the correlation id changed")
            self._check_values(body)
            record.update(body)
            self.touch(record)
            return 200, {"result": self._fields(record, query)}
        self.violate(f"{method} is not used by the connector")

    def _check_values(self, body: dict) -> None:
        if "state" in body and not str(body["state"]).isdigit():
            self.violate("state must be a choice value")
        due = body.get("due_date")
        if due and not re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", due):
            self.violate("due_date must be yyyy-MM-dd HH:mm:ss")


# --- Serving (test modules wrap these in fixtures) ---------------------------------------------


def serve_jira(settings) -> Iterator[FakeJira]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    fake = FakeJira(username="bot@acme.example", token="jira-api-token-123").start()
    yield fake
    fake.stop()


def serve_servicenow(settings) -> Iterator[FakeServiceNow]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    fake = FakeServiceNow(username="kakehashi.bot", token="sn-password-456").start()
    yield fake
    fake.stop()
