"""Inbound webhooks from Jira Cloud and ServiceNow: a ticket's status changed over there.

No session or API key: each connection has its own URL and `inbound_secret`.

- Jira (an admin webhook with a secret, event "Issue updated"): `X-Hub-Signature:
  sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`. Only
  `jira:issue_updated` events whose changelog has a `status` item are acted on.
- ServiceNow (an outbound REST message from a business rule): `Authorization: Bearer
  <secret>`, a JSON body `{"sys_id", "correlation_id", "number", "state", "sys_updated_on"}`.

An unknown connection is a 404 and a bad signature a 401 (problem details); malformed JSON a
400; nothing changes then. Everything else is answered 200 with `{"outcome", "detail"}` —
`moved`, `ignored` (duplicate, out of order, unmapped, not one of our tickets) or `refused`
(our workflow does not allow the move: recorded on the ticket) — so the sender does not retry
what will never succeed. Nothing is called out from here.
"""

import datetime as dt
import hashlib
import hmac
import json
import uuid

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import rls
from governance.api.conventions import problem, problems
from governance.audit import set_actor

from ..models import TicketingConnection, TicketSystem
from . import servicenow, tickets


class Unusable(Exception):
    """The body is not an event we can read."""


def _json(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # deep nesting recurses
        raise Unusable(_("The body is not valid JSON.")) from exc
    if not isinstance(body, dict):
        raise Unusable(_("The body is not a JSON object."))
    return body


def _text(value: object, name: str) -> str:
    """A scalar of the event as text; PostgreSQL text cannot hold a NUL character."""
    if isinstance(value, dict | list):
        raise Unusable(_("`%(name)s` must be text.") % {"name": name})
    text = "" if value is None else str(value)
    if "\x00" in text:
        raise Unusable(_("`%(name)s` contains a NUL character.") % {"name": name})
    return text


def jira_signature_ok(secret: str, raw: bytes, header: str) -> bool:
    scheme, __, digest = (header or "").partition("=")
    if scheme.strip().lower() != "sha256" or not digest:
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses a str with non-ASCII characters.
    return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())


def servicenow_secret_ok(secret: str, header: str) -> bool:
    scheme, __, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(secret.encode(), token.strip().encode())


def _jira_event(body: dict) -> dict | None:
    """{id, key, status, at} of a status change, or None for any other event."""
    if body.get("webhookEvent") != "jira:issue_updated":
        return None
    issue = body.get("issue")
    changelog = body.get("changelog")
    items = changelog.get("items") if isinstance(changelog, dict) else None
    if not isinstance(issue, dict) or not isinstance(items, list):
        raise Unusable(_("An issue_updated event needs `issue` and `changelog.items`."))
    change = next(
        (
            i
            for i in items
            if isinstance(i, dict) and (i.get("fieldId") or i.get("field")) == "status"
        ),
        None,
    )
    if change is None:
        return None
    status = change.get("toString")
    if not isinstance(status, str) or not status:
        raise Unusable(_("The status change has no `toString`."))
    at = None
    if isinstance(body.get("timestamp"), int):
        try:
            at = dt.datetime.fromtimestamp(body["timestamp"] / 1000, tz=dt.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise Unusable(_("`timestamp` is out of range.")) from exc
    return {"id": _text(issue.get("id"), "issue.id"), "key": _text(issue.get("key"), "issue.key"),
            "status": _text(status, "toString"), "at": at}  # fmt: skip


def _servicenow_event(body: dict) -> dict:
    record = body.get("result") if isinstance(body.get("result"), dict) else body
    state = record.get("state")
    if not record.get("sys_id") and not record.get("correlation_id"):
        raise Unusable(_("Send `sys_id` or `correlation_id`."))
    if state is None or str(state) == "":
        raise Unusable(_("Send the record's `state`."))
    updated = _text(record.get("sys_updated_on"), "sys_updated_on")
    at = servicenow.updated_at(updated)
    if updated and at is None:
        raise Unusable(_("`sys_updated_on` is not a date and time."))
    code = _text(record.get("correlation_id"), "correlation_id")
    try:
        code = str(uuid.UUID(code)) if code else ""
    except ValueError:
        code = ""  # not one of our actions' codes
    return {
        "id": _text(record.get("sys_id"), "sys_id"),
        "key": _text(record.get("number"), "number"),
        "code": code,
        "status": _text(state, "state"),
        "at": at,
    }


class _Inbound(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    system = ""

    def authentic(self, connection: TicketingConnection, request: Request, raw: bytes) -> bool:
        raise NotImplementedError

    def event(self, body: dict) -> dict | None:
        raise NotImplementedError

    def post(self, request: Request, connection_code) -> Response:
        raw = request.body
        # Any organisation's connection, found by its code; its secret decides, and from then on
        # the request sees only that organisation's rows.
        with rls.everything():
            connection = tickets.connection_by_code(self.system, connection_code)
        if connection is None:
            return problem(404, code="not_found", detail=_("Not found."), request=request)
        rls.enter_org(connection.organisation_id)
        if not self.authentic(connection, request, raw):
            return problem(
                401,
                code="bad_signature",
                detail=_("The request is not signed with this connection's secret."),
                request=request,
            )
        ctx = getattr(request._request, "audit_context", None)
        if ctx is not None:
            set_actor(ctx, source=f"inbound:{self.system}")
        try:
            event = self.event(_json(raw))
        except Unusable as exc:
            return problem(400, code="invalid", detail=str(exc), request=request)
        if event is None:
            return _answer("ignored", _("Not a status change."))
        if not connection.enabled:
            return _answer("ignored", _("The connection is disabled."))
        ticket = tickets.ticket_for_remote(
            connection, external_id=event["id"], key=event["key"], action_code=event.get("code")
        )
        if ticket is None:
            return _answer("ignored", _("Not a ticket of a Kakehashi action."))
        result = tickets.remote_status_changed(
            connection=connection, ticket=ticket, remote_status=event["status"], at=event["at"]
        )
        return _answer(result.outcome, result.detail)


def _answer(outcome: str, detail: str) -> Response:
    return Response({"outcome": outcome, "detail": str(detail)})


RESPONSES = {
    200: OpenApiResponse(OpenApiTypes.OBJECT, description="moved, ignored or refused"),
    **problems(),
}


class JiraInbound(_Inbound):
    system = TicketSystem.JIRA

    def authentic(self, connection, request, raw) -> bool:
        return jira_signature_ok(
            connection.inbound_secret, raw, request.headers.get("X-Hub-Signature", "")
        )

    def event(self, body: dict) -> dict | None:
        return _jira_event(body)

    @extend_schema(
        operation_id="inbound_jira",
        summary="Jira Cloud webhook (issue updated), signed with X-Hub-Signature",
        request={"application/json": OpenApiTypes.OBJECT},
        responses=RESPONSES,
        auth=[],
        tags=["inbound"],
    )
    def post(self, request: Request, connection_code) -> Response:
        return super().post(request, connection_code)


class ServiceNowInbound(_Inbound):
    system = TicketSystem.SERVICENOW

    def authentic(self, connection, request, raw) -> bool:
        return servicenow_secret_ok(
            connection.inbound_secret, request.headers.get("Authorization", "")
        )

    def event(self, body: dict) -> dict | None:
        return _servicenow_event(body)

    @extend_schema(
        operation_id="inbound_servicenow",
        summary="ServiceNow record change, with Authorization: Bearer <secret>",
        request={"application/json": OpenApiTypes.OBJECT},
        responses=RESPONSES,
        auth=[],
        tags=["inbound"],
    )
    def post(self, request: Request, connection_code) -> Response:
        return super().post(request, connection_code)


urlpatterns = [
    path("jira/<uuid:connection_code>/", JiraInbound.as_view(), name="inbound_jira"),
    path(
        "servicenow/<uuid:connection_code>/",
        ServiceNowInbound.as_view(),
        name="inbound_servicenow",
    ),
]
