"""A small Jira Cloud REST v3 client: the calls the ticket sync needs, over `outbound.request`.

Authentication is Basic with the Atlassian account e-mail and an API token. An issue carries
two labels: `kakehashi` (to filter on in Jira) and `kakehashi-<action code>`, which a JQL
search finds again if we crashed between creating the issue and saving its key.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
from django.utils.translation import gettext as _

from ..models import TicketingConnection
from . import outbound
from .tickets import Content, RemoteError, RemoteTicket

API = "/rest/api/3"
LABEL = "kakehashi"


def action_label(code: str) -> str:
    return f"{LABEL}-{code}"


# --- Atlassian Document Format -----------------------------------------------------------------


def _text(text: str, href: str = "") -> dict:
    node: dict[str, Any] = {"type": "text", "text": text}
    if href:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def _paragraph(*nodes: dict) -> dict:
    return {"type": "paragraph", "content": list(nodes)}


def adf(content: Content) -> dict:
    """The issue description: the action's description, the gaps it closes, due date,
    priority, and a link back to the action in Kakehashi."""
    blocks: list[dict] = [
        _paragraph(_text(line)) for line in content.description.splitlines() if line.strip()
    ]
    if content.findings:
        blocks.append(_paragraph(_text(_("Obligations this action closes:"))))
        blocks.append(
            {
                "type": "bulletList",
                "content": [
                    {"type": "listItem", "content": [_paragraph(_text(f"{code} — {title}"))]}
                    for code, title in content.findings
                ],
            }
        )
    due = content.due_date.isoformat() if content.due_date else _("none")
    blocks.append(_paragraph(_text(_("Due: %(due)s") % {"due": due})))
    blocks.append(_paragraph(_text(_("Priority: %(p)s") % {"p": content.priority_label})))
    blocks.append(_paragraph(_text(_("Open in Kakehashi"), href=content.url)))
    return {"type": "doc", "version": 1, "content": blocks}


def _fields(content: Content) -> dict:
    return {
        "summary": content.title[:255],
        "description": adf(content),
        "duedate": content.due_date.isoformat() if content.due_date else None,
    }


# --- Calls -------------------------------------------------------------------------------------


def _call(connection: TicketingConnection, method: str, path: str, **kwargs) -> Any:
    url = connection.base_url.rstrip("/") + API + path
    try:
        response = outbound.request(
            method,
            url,
            auth=(connection.username, connection.token),
            headers={"Accept": "application/json"},
            **kwargs,
        )
    except outbound.BlockedDestination as exc:
        raise RemoteError(str(exc)) from exc
    except requests.RequestException as exc:
        raise RemoteError(
            _("Jira could not be reached: %(error)s") % {"error": type(exc).__name__}
        ) from exc
    if response.status_code >= 300:
        raise RemoteError(_describe(response), status=response.status_code)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise RemoteError(_("Jira answered with something other than JSON.")) from exc


def _describe(response: requests.Response) -> str:
    if response.status_code in (401, 403):
        return _(
            "Jira refused the account and API token (HTTP %(status)s): check them and the "
            "account's permissions on the project."
        ) % {"status": response.status_code}
    detail = ""
    try:
        body = response.json()
        messages = list(body.get("errorMessages") or [])
        messages += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        detail = "; ".join(str(m) for m in messages)
    except (ValueError, AttributeError):
        pass
    return _("Jira answered HTTP %(status)s. %(detail)s") % {
        "status": response.status_code,
        "detail": detail[:300],
    }


def browse_url(connection: TicketingConnection, key: str) -> str:
    return f"{connection.base_url.rstrip('/')}/browse/{quote(key)}"


def check(connection: TicketingConnection) -> None:
    """Raise RemoteError unless the site accepts the credentials."""
    _call(connection, "GET", "/myself")


def find(connection: TicketingConnection, code: str) -> RemoteTicket | None:
    jql = f'project = "{connection.project_key}" AND labels = "{action_label(code)}"'
    body = _call(
        connection,
        "POST",
        "/search",
        json={"jql": jql, "fields": ["status"], "maxResults": 1},
    )
    issues = (body or {}).get("issues") or []
    if not issues:
        return None
    issue = issues[0]
    return RemoteTicket(
        id=str(issue["id"]),
        key=issue["key"],
        url=browse_url(connection, issue["key"]),
        status=((issue.get("fields") or {}).get("status") or {}).get("name", ""),
    )


def status_of(connection: TicketingConnection, key: str) -> str:
    body = _call(connection, "GET", f"/issue/{quote(key)}", params={"fields": "status"})
    return (((body or {}).get("fields") or {}).get("status") or {}).get("name", "")


def create(connection: TicketingConnection, content: Content) -> RemoteTicket:
    fields = {
        "project": {"key": connection.project_key},
        "issuetype": {"name": connection.issue_type or "Task"},
        **_fields(content),
        "labels": [LABEL, action_label(content.code)],
    }
    if fields["duedate"] is None:
        del fields["duedate"]
    body = _call(connection, "POST", "/issue", json={"fields": fields})
    key = body["key"]
    ticket = RemoteTicket(id=str(body["id"]), key=key, url=browse_url(connection, key))
    try:
        ticket.status = status_of(connection, key)
    except RemoteError as exc:
        exc.ticket = ticket
        raise
    return ticket


def update(connection: TicketingConnection, key: str, content: Content) -> None:
    _call(connection, "PUT", f"/issue/{quote(key)}", json={"fields": _fields(content)})


def transition(connection: TicketingConnection, key: str, target: str) -> str:
    """Move the issue to the status named `target` through an available transition."""
    body = _call(connection, "GET", f"/issue/{quote(key)}/transitions")
    for option in (body or {}).get("transitions") or []:
        if ((option.get("to") or {}).get("name") or "").casefold() == target.casefold():
            _call(
                connection,
                "POST",
                f"/issue/{quote(key)}/transitions",
                json={"transition": {"id": str(option["id"])}},
            )
            return option["to"]["name"]
    raise RemoteError(
        _("The Jira issue %(key)s has no transition to “%(status)s” from where it is now.")
        % {"key": key, "status": target}
    )


def push(
    connection: TicketingConnection,
    *,
    ref: RemoteTicket | None,
    content: Content,
    changed: bool,
    move_to: Callable[[str], str],
) -> RemoteTicket:
    """Bring the issue in line with the action: find or create it, update its fields when they
    changed, and transition it when `move_to(current status)` names a status."""
    try:
        if ref is None:
            ref = find(connection, content.code)
            if ref is None:
                ref = create(connection, content)
            else:
                update(connection, ref.key, content)
        elif changed:
            update(connection, ref.key, content)
        target = move_to(ref.status)
        if target:
            ref.status = transition(connection, ref.key, target)
    except RemoteError as exc:
        exc.ticket = exc.ticket or ref  # an issue created before the failure is kept
        raise
    return ref
