"""A small ServiceNow Table API client (`/api/now/table/<table>`), over `outbound.request`.

Records carry `correlation_id` = the action's code and `correlation_display` = "Kakehashi",
so a record created just before a crash is found again instead of created twice. `state` holds
the mapped status value (for incidents: 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed,
8 Canceled).
"""

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from ..models import TicketingConnection
from . import outbound
from .tickets import Content, RemoteError, RemoteTicket

CORRELATION_DISPLAY = "Kakehashi"
FIELDS = "sys_id,number,state,sys_updated_on"


def _table_url(connection: TicketingConnection, sys_id: str = "") -> str:
    url = f"{connection.base_url.rstrip('/')}/api/now/table/{quote(connection.table)}"
    return f"{url}/{quote(sys_id)}" if sys_id else url


def _call(connection: TicketingConnection, method: str, url: str, **kwargs) -> Any:
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
            _("ServiceNow could not be reached: %(error)s") % {"error": type(exc).__name__}
        ) from exc
    if response.status_code >= 300:
        raise RemoteError(_describe(response), status=response.status_code)
    try:
        return response.json()["result"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError(_("ServiceNow answered without a JSON “result”.")) from exc


def _describe(response: requests.Response) -> str:
    if response.status_code in (401, 403):
        return _(
            "ServiceNow refused the user and password (HTTP %(status)s): check them and the "
            "user's roles on the table."
        ) % {"status": response.status_code}
    detail = ""
    try:
        error = response.json().get("error") or {}
        detail = f"{error.get('message', '')} {error.get('detail', '')}".strip()
    except (ValueError, AttributeError):
        pass
    return _("ServiceNow answered HTTP %(status)s. %(detail)s") % {
        "status": response.status_code,
        "detail": detail[:300],
    }


def record_url(connection: TicketingConnection, sys_id: str) -> str:
    target = quote(f"{connection.table}.do?sys_id={sys_id}", safe="")
    return f"{connection.base_url.rstrip('/')}/nav_to.do?uri={target}"


def updated_at(value: str) -> dt.datetime | None:
    """`sys_updated_on` ("2026-03-01 12:00:00", UTC as the Table API returns it by default)."""
    try:
        parsed = parse_datetime(value or "")
    except ValueError:  # well-formed but impossible ("2026-13-45 99:00:00")
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _ticket(connection: TicketingConnection, record: dict) -> RemoteTicket:
    return RemoteTicket(
        id=record["sys_id"],
        key=record.get("number") or record["sys_id"],
        url=record_url(connection, record["sys_id"]),
        status=str(record.get("state", "")),
        updated_at=updated_at(record.get("sys_updated_on", "")),
    )


def check(connection: TicketingConnection) -> None:
    """Raise RemoteError unless the instance accepts the credentials and the table exists."""
    _call(
        connection,
        "GET",
        _table_url(connection),
        params={"sysparm_limit": "1", "sysparm_fields": "sys_id"},
    )


def find(connection: TicketingConnection, code: str) -> RemoteTicket | None:
    rows = _call(
        connection,
        "GET",
        _table_url(connection),
        params={
            "sysparm_query": f"correlation_id={code}",
            "sysparm_fields": FIELDS,
            "sysparm_limit": "1",
        },
    )
    return _ticket(connection, rows[0]) if rows else None


def _body(content: Content, state: str) -> dict:
    lines = [content.description.strip()] if content.description.strip() else []
    if content.findings:
        lines.append(_("Obligations this action closes:"))
        lines += [f"- {code} — {title}" for code, title in content.findings]
    lines.append(_("Priority: %(p)s") % {"p": content.priority_label})
    lines.append(_("Open in Kakehashi: %(url)s") % {"url": content.url})
    body = {
        "short_description": content.title[:160],
        "description": "\n".join(lines),
        "due_date": f"{content.due_date.isoformat()} 00:00:00" if content.due_date else "",
    }
    if state:
        body["state"] = state
    return body


def push(
    connection: TicketingConnection,
    *,
    ref: RemoteTicket | None,
    content: Content,
    changed: bool,
    move_to: Callable[[str], str],
) -> RemoteTicket:
    """Find or create the record, then PATCH it when its fields or its state should change."""
    if ref is None:
        ref = find(connection, content.code)
        if ref is None:
            body = {
                **_body(content, move_to("")),
                "correlation_id": content.code,
                "correlation_display": CORRELATION_DISPLAY,
            }
            record = _call(
                connection,
                "POST",
                _table_url(connection),
                params={"sysparm_fields": FIELDS},
                json=body,
            )
            return _ticket(connection, record)
        changed = True
    state = move_to(ref.status)
    if not changed and not state:
        return ref
    record = _call(
        connection,
        "PATCH",
        _table_url(connection, ref.id),
        params={"sysparm_fields": FIELDS},
        json=_body(content, state),
    )
    return _ticket(connection, record)
