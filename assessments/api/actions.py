"""Remediation actions under /api/v1/orgs/<org_code>/actions/: the list and its filters, opening,
reading, editing and moving an action (one PATCH, all or nothing), deleting one opened by
mistake, and an action's comments, evidence links and references to tickets in other tools.

Who may do what is as on the web: compliance officers, admins and write keys open, edit,
cancel, reopen and delete actions; contributors work them (status, comments, evidence);
viewers and read keys read. A key never verifies: that takes a person. A role's refusal is a
403 problem; a move the workflow does not allow is a 400 pointing at `/status`. Files are
attached in the browser; through the API evidence is a link.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DateField, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.auth import Actor, KeyScope
from governance.api.conventions import (
    IDEMPOTENCY_HEADER,
    IF_MATCH_HEADER,
    Conflict,
    KeysetPagination,
    OrgScoped,
    Params,
    check_if_match,
    etag_of,
    idempotent,
    parse_params,
    problems,
)
from governance.models import Organisation, User
from governance.selectors import members as org_members

from .. import action_selectors, actions, ticket_links
from ..access import get_action_for_member, get_attachment_for_member
from ..models import (
    ACTIVE_STATUSES,
    ActionComment,
    ActionEvidence,
    ActionFinding,
    ActionOrigin,
    ActionStatus,
    ExternalTicket,
    Priority,
    RemediationAction,
)

S = ActionStatus
# A list's response keyed like `problems()` (code, media type), so drf-spectacular, which takes
# the smallest key as the main response, sees the list and paginates it.
JSON = "application/json"
# Actions without a due date sort after every dated one (before them, descending).
NO_DUE_DATE = dt.date(9999, 12, 31)


# --- Output ------------------------------------------------------------------------------------


class TicketOut(serializers.ModelSerializer):
    key = serializers.CharField(source="external_key")
    status = serializers.CharField(source="remote_status", help_text="The tool's own status.")
    managed = serializers.SerializerMethodField(
        help_text="Kept in step by a Jira or ServiceNow connection (read-only here)."
    )

    class Meta:
        model = ExternalTicket
        fields = [
            "code", "system", "key", "url", "status", "sync_state", "managed", "last_synced_at",
            "created_at",
        ]  # fmt: skip

    def get_managed(self, ticket: ExternalTicket) -> bool:
        return ticket.connection_id is not None


class FindingRef(serializers.ModelSerializer):
    code = serializers.UUIDField(source="finding.code")
    obligation = serializers.CharField(source="finding.obligation_code")
    status = serializers.CharField(source="finding.status")
    assessment = serializers.UUIDField(source="finding.assessment.code")
    current = serializers.BooleanField(
        source="finding.assessment.latest",
        help_text="Of the system's latest assessment (older runs' findings stay linked).",
    )

    class Meta:
        model = ActionFinding
        fields = ["code", "obligation", "status", "assessment", "current"]


def _email(source: str, help_text: str = "") -> serializers.EmailField:
    return serializers.EmailField(
        source=source, allow_null=True, read_only=True, help_text=help_text
    )


class ActionOut(serializers.ModelSerializer):
    href = serializers.SerializerMethodField()
    system = serializers.UUIDField(source="system.code")
    owner = _email("owner.email")

    class Meta:
        model = RemediationAction
        fields = [
            "code", "href", "title", "system", "status", "priority", "owner", "due_date",
            "origin", "created_at", "updated_at",
        ]  # fmt: skip

    def get_href(self, action: RemediationAction) -> str:
        return reverse(
            "api_action",
            kwargs={"org_code": self.context["org_code"], "action_code": action.code},
        )


class ActionDetailOut(ActionOut):
    findings = FindingRef(source="link_rows", many=True)
    tickets = TicketOut(source="ticket_rows", many=True)
    allowed_moves = serializers.SerializerMethodField(
        help_text="The statuses (as in `status`) the caller may move the action to now."
    )
    created_by = _email("created_by.email", "Null when an assessment or an API key opened it.")
    done_by = _email("done_by.email", "Null for work an API key marked done.")
    verified_by = _email("verified_by.email")

    class Meta(ActionOut.Meta):
        fields = [
            "code", "href", "title", "description", "system", "status", "priority",
            "priority_manual", "owner", "due_date", "origin", "findings", "allowed_moves",
            "created_by", "done_by", "done_at", "verified_by", "verified_at", "cancel_reason",
            "tickets", "created_at", "updated_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_moves(self, action: RemediationAction) -> list[str]:
        return actions.allowed_moves(action, self.context["actor"])


class CommentOut(serializers.ModelSerializer):
    author = _email("author.email", "Null for comments written with an API key.")
    mentions = serializers.SerializerMethodField()

    class Meta:
        model = ActionComment
        fields = ["code", "body", "author", "mentions", "created_at"]

    @extend_schema_field(serializers.ListField(child=serializers.EmailField()))
    def get_mentions(self, comment: ActionComment) -> list[str]:
        return sorted(user.email for user in comment.mentions.all())


class EvidenceOut(serializers.ModelSerializer):
    added_by = _email("added_by.email", "Null for evidence added with an API key.")

    class Meta:
        model = ActionEvidence
        fields = [
            "code", "kind", "title", "url", "file_name", "content_type", "size", "sha256",
            "added_by", "added_at",
        ]  # fmt: skip


# --- Input -------------------------------------------------------------------------------------


class MemberField(serializers.EmailField):
    """A member of the organisation (`context["org"]`), by e-mail address."""

    default_error_messages = {
        "not_member": _("No member of the organisation has this e-mail address."),
    }

    def run_validation(self, data: Any = serializers.empty) -> User | None:
        email = super().run_validation(data)  # the address, checked
        if email is None:
            return None
        membership = org_members(self.context["org"]).filter(user__email__iexact=email).first()
        if membership is None:
            self.fail("not_member")
        return membership.user


class ActionCreateIn(serializers.Serializer):
    findings = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=200,
        help_text="Codes of open gaps of one system's latest assessment.",
    )
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    owner = MemberField(required=False, allow_null=True)
    due_date = serializers.DateField(
        required=False, allow_null=True, help_text="Default: the findings' earliest due date."
    )
    priority = serializers.ChoiceField(
        Priority.choices,
        required=False,
        allow_null=True,
        help_text="Default: derived from the obligations and the due date.",
    )


class ActionPatchIn(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    owner = MemberField(required=False, allow_null=True)
    due_date = serializers.DateField(required=False, allow_null=True)
    priority = serializers.ChoiceField(
        Priority.choices,
        required=False,
        allow_null=True,
        help_text="Null goes back to the derived priority.",
    )
    status = serializers.ChoiceField(
        S.choices, required=False, help_text="Applied after the other fields."
    )
    reason = serializers.CharField(
        max_length=10_000,
        required=False,
        allow_blank=True,
        help_text="Why: required to cancel; otherwise kept as a comment.",
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(_("Give at least one field to change."))
        if attrs.get("reason") and "status" not in attrs:
            raise serializers.ValidationError(
                {"reason": [_("Send a reason only together with a status.")]}
            )
        return attrs


class CommentIn(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)
    mentions = serializers.ListField(
        child=MemberField(),
        required=False,
        max_length=50,
        help_text="Members to notify (also: @their.e-mail@example.com in the text).",
    )


class EvidenceLinkIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    url = serializers.URLField(max_length=500)


class TicketPatchIn(serializers.Serializer):
    key = serializers.CharField(max_length=100, required=False, allow_blank=True)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    status = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="The tool's own status."
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(_("Give at least one field to change."))
        return attrs


class TicketIn(TicketPatchIn):
    system = serializers.CharField(
        max_length=32, help_text='The tool, as a short name: "github", "gitlab", "other".'
    )

    class Meta:
        fields = ["system", "key", "url", "status"]


TICKET_FIELDS = {"key": "external_key", "url": "url", "status": "remote_status"}
TICKET_NAMES = {model: api for api, model in TICKET_FIELDS.items()}


class ActionParams(Params):
    status = serializers.CharField(
        required=False,
        max_length=200,
        help_text=(
            "Comma-separated statuses; `active` stands for open, in_progress, blocked and done. "
            "Default: every status."
        ),
    )
    owner = serializers.CharField(
        required=False,
        max_length=254,
        help_text="A member's e-mail, `none` (unassigned) or `me` (signed-in users only).",
    )
    priority = serializers.ChoiceField(Priority.choices, required=False)
    system = serializers.UUIDField(required=False, help_text="An AI system's code.")
    due = serializers.ChoiceField(
        ["overdue", "week", "month", "none"],
        required=False,
        help_text="Overdue, due within 7 or 30 days, or without a due date.",
    )
    origin = serializers.ChoiceField(ActionOrigin.choices, required=False)
    q = serializers.CharField(required=False, max_length=100, help_text="Words in the title.")
    finding = serializers.UUIDField(required=False, help_text="A finding's code.")

    def validate_status(self, value: str) -> list[str]:
        chosen: list[str] = []
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name == "active":
                chosen += ACTIVE_STATUSES
            elif name in S.values:
                chosen.append(name)
            else:
                raise serializers.ValidationError(
                    _("“%(name)s” is not a status. Use: %(known)s.")
                    % {"name": name, "known": ", ".join(["active", *S.values])}
                )
        return chosen

    def validate_owner(self, value: str) -> str:
        value = value.strip()
        if value in ("none", ""):
            return value
        if value == "me":
            if self.context["actor"].user_id is None:
                raise serializers.ValidationError(
                    _("“me” means the signed-in member; with an API key, give an owner's e-mail.")
                )
            return value
        return serializers.EmailField().run_validation(value)


# --- Helpers -----------------------------------------------------------------------------------


def _valid(serializer_class: type[serializers.Serializer], request: Request, org: Organisation):
    data = serializer_class(data=request.data, context={"org": org, "request": request})
    data.is_valid(raise_exception=True)
    return data.validated_data


def _context(actor: Actor) -> dict[str, Any]:
    return {"actor": actor, "org_code": actor.organisation.code}


def _represent(actor: Actor, action: RemediationAction) -> tuple[dict, str]:
    """The action as the caller sees it, and its ETag (the same for every caller: the moves
    the caller may make are left out of it)."""
    action.link_rows = action_selectors.action_links(action)
    action.ticket_rows = list(ticket_links.tickets_for_action(action))
    data = ActionDetailOut(action, context=_context(actor)).data
    return data, etag_of(_state(data))


def _state(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "allowed_moves"}


def _require_manager(actor: Actor) -> None:
    if actor.role not in actions.MANAGER_ROLES:
        raise PermissionDenied(_("Only a compliance officer or an admin can do this."))


def _require_editor(actor: Actor) -> None:
    if not actor.can_edit:
        raise PermissionDenied(_("Viewers cannot change remediation actions."))


def _check_move(action: RemediationAction, actor: Actor, target: str) -> None:
    """403 for a move the workflow allows but not to this caller. Moves the workflow refuses
    are the service's to explain (400)."""
    if target == action.status or target not in actions.TRANSITIONS.get(action.status, ()):
        return
    if target in actions.allowed_moves(action, actor):
        return
    _require_editor(actor)
    if target == S.VERIFIED and actor.user_id is None:
        raise PermissionDenied(_("A person must verify the work, not an API client."))
    _require_manager(actor)
    if target == S.VERIFIED:
        raise PermissionDenied(_("Someone other than whoever completed the work must verify it."))


@contextmanager
def _conflicts(*codes: str, fields: dict[str, str] | None = None) -> Iterator[None]:
    """A service's refusal with one of these codes is about the resource's state: 409. Its
    errors about model fields name the API's fields instead (`fields`: model name -> API)."""
    try:
        yield
    except DjangoValidationError as exc:
        if getattr(exc, "code", None) in codes:
            raise Conflict(exc.messages[0]) from None
        if fields and hasattr(exc, "error_dict"):
            raise DjangoValidationError(
                {fields.get(name, name): errors for name, errors in exc.error_dict.items()}
            ) from None
        raise


def _page(view: APIView, request: Request, rows, serializer_class, context: dict) -> Response:
    paginator = KeysetPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context).data)


class ActionScoped(OrgScoped, APIView):
    permission_classes = [IsAuthenticated, KeyScope]
    pagination_class = KeysetPagination


# --- Actions -----------------------------------------------------------------------------------


class ActionListView(ActionScoped):
    orderings = {
        "due_date": Coalesce("due_date", Value(NO_DUE_DATE), output_field=DateField()),
        "priority": action_selectors.PRIORITY_ORDER,
        "created_at": "created_at",
        "updated_at": "updated_at",
    }
    default_ordering = "due_date"

    @extend_schema(
        summary="List remediation actions",
        description=(
            "Filters combine. `ordering=priority` puts the most urgent first; by `due_date`, "
            "actions without one come last."
        ),
        parameters=[ActionParams],
        responses={(200, JSON): ActionOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code) -> Response:
        actor = self.actor
        org = actor.organisation
        params = parse_params(ActionParams, request, actor=actor)
        rows = action_selectors.actions_for_list(
            org,
            today=actions.today_for(org),
            status="all",
            priority=params.get("priority", ""),
            due=params.get("due", ""),
            search=params.get("q", "").strip(),
            origin=params.get("origin", ""),
        )
        if params.get("status"):
            rows = rows.filter(status__in=params["status"])
        owner = params.get("owner", "")
        if owner == "none":
            rows = rows.filter(owner__isnull=True)
        elif owner == "me":
            rows = rows.filter(owner_id=actor.user_id)
        elif owner:
            rows = rows.filter(owner__email__iexact=owner)
        if "system" in params:
            rows = rows.filter(system__code=params["system"])
        if "finding" in params:
            rows = rows.filter(findings__code=params["finding"])
        return _page(self, request, rows, ActionOut, _context(actor))

    @extend_schema(
        summary="Open a remediation action",
        description="For open gaps of one system's latest assessment. Managers and write keys.",
        request=ActionCreateIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: ActionDetailOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code) -> Response:
        actor = self.actor
        org = actor.organisation
        _require_manager(actor)
        data = _valid(ActionCreateIn, request, org)
        codes = list(dict.fromkeys(data["findings"]))
        found = {f.code: f for f in action_selectors.findings_by_codes(org, codes)}
        missing = {
            str(index): [_("No finding of the organisation has this code.")]
            for index, code in enumerate(data["findings"])
            if code not in found
        }
        if missing:
            raise serializers.ValidationError({"findings": missing})
        action = actions.action_create(
            org=org,
            actor=actor,
            findings=[found[code] for code in codes],
            title=data["title"],
            description=data.get("description", ""),
            owner=data.get("owner"),
            due_date=data.get("due_date"),
            priority=data.get("priority") or None,
        )
        body, etag = _represent(actor, get_action_for_member(actor, action.code))
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(body["href"]), "ETag": etag},
        )


class ActionDetailView(ActionScoped):
    @extend_schema(
        summary="Read a remediation action",
        responses={200: ActionDetailOut, **problems()},
    )
    def get(self, request: Request, org_code, action_code) -> Response:
        body, etag = _represent(self.actor, get_action_for_member(self.actor, action_code))
        return Response(body, headers={"ETag": etag})

    @extend_schema(
        summary="Change a remediation action",
        description=(
            "Edit fields (managers and write keys) and move `status` (with `reason`) in one "
            "call: the fields first, then the move, all or nothing."
        ),
        request=ActionPatchIn,
        parameters=[IF_MATCH_HEADER],
        responses={200: ActionDetailOut, **problems(412)},
    )
    def patch(self, request: Request, org_code, action_code) -> Response:
        actor = self.actor
        action = get_action_for_member(actor, action_code)
        changes = dict(_valid(ActionPatchIn, request, actor.organisation))
        target = changes.pop("status", "")
        reason = changes.pop("reason", "")
        if changes:
            _require_manager(actor)
        if target:
            _check_move(action, actor, target)

        def unchanged(locked: RemediationAction) -> None:
            current, _tag = _represent(actor, get_action_for_member(actor, action_code))
            check_if_match(request, _state(current))

        actions.action_change(
            action=action,
            actor=actor,
            changes=changes,
            status=target,
            reason=reason,
            check=unchanged,
        )
        body, etag = _represent(actor, get_action_for_member(actor, action_code))
        return Response(body, headers={"ETag": etag})

    @extend_schema(
        summary="Delete a remediation action opened by mistake",
        description=(
            "Only an open action opened by hand that has no comments, evidence or synced "
            "tickets; anything else is cancelled instead (409). Managers and write keys."
        ),
        parameters=[IF_MATCH_HEADER],
        responses={204: OpenApiResponse(description="Deleted."), **problems(409, 412)},
    )
    def delete(self, request: Request, org_code, action_code) -> Response:
        actor = self.actor
        action = get_action_for_member(actor, action_code)
        _require_manager(actor)
        if request.headers.get("If-Match") is not None:
            current, _tag = _represent(actor, action)
            check_if_match(request, _state(current))
        with _conflicts("in_use"):
            actions.action_delete(action=action, actor=actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Comments ----------------------------------------------------------------------------------


class ActionCommentsView(ActionScoped):
    orderings = {"created_at": "created_at"}
    default_ordering = "created_at"

    @extend_schema(
        summary="List an action's comments",
        responses={(200, JSON): CommentOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code, action_code) -> Response:
        action = get_action_for_member(self.actor, action_code)
        parse_params(Params, request)
        rows = action_selectors.action_comments(action)
        return _page(self, request, rows, CommentOut, _context(self.actor))

    @extend_schema(
        summary="Comment on an action",
        request=CommentIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: CommentOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code, action_code) -> Response:
        actor = self.actor
        action = get_action_for_member(actor, action_code)
        _require_editor(actor)
        data = _valid(CommentIn, request, actor.organisation)
        comment = actions.comment_add(
            action=action, actor=actor, body=data["body"], mention=data.get("mentions", [])
        )
        return Response(CommentOut(comment).data, status=status.HTTP_201_CREATED)


# --- Evidence ----------------------------------------------------------------------------------


class ActionEvidenceView(ActionScoped):
    orderings = {"added_at": "added_at"}
    default_ordering = "added_at"

    @extend_schema(
        summary="List an action's evidence",
        description="Files (uploaded in the browser) and links.",
        responses={(200, JSON): EvidenceOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code, action_code) -> Response:
        action = get_action_for_member(self.actor, action_code)
        parse_params(Params, request)
        rows = action_selectors.action_evidence(action)
        return _page(self, request, rows, EvidenceOut, _context(self.actor))

    @extend_schema(
        summary="Attach a link as evidence",
        request=EvidenceLinkIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: EvidenceOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code, action_code) -> Response:
        actor = self.actor
        action = get_action_for_member(actor, action_code)
        _require_editor(actor)
        data = _valid(EvidenceLinkIn, request, actor.organisation)
        evidence = actions.evidence_add_link(
            action=action, actor=actor, url=data["url"], title=data["title"]
        )
        return Response(EvidenceOut(evidence).data, status=status.HTTP_201_CREATED)


class ActionEvidenceItemView(ActionScoped):
    def _evidence(self, action_code, attachment_code) -> tuple[RemediationAction, ActionEvidence]:
        action = get_action_for_member(self.actor, action_code)
        evidence = get_attachment_for_member(self.actor, attachment_code)
        if evidence.action_id != action.pk:
            raise Http404
        return action, evidence

    @extend_schema(summary="Read one piece of evidence", responses={200: EvidenceOut, **problems()})
    def get(self, request: Request, org_code, action_code, attachment_code) -> Response:
        _action, evidence = self._evidence(action_code, attachment_code)
        return Response(EvidenceOut(evidence).data)

    @extend_schema(
        summary="Remove evidence",
        description=(
            "Whoever added it, a compliance officer or an admin. A verified action keeps its "
            "evidence until it is reopened (409)."
        ),
        responses={204: OpenApiResponse(description="Removed."), **problems(409)},
    )
    def delete(self, request: Request, org_code, action_code, attachment_code) -> Response:
        actor = self.actor
        action, evidence = self._evidence(action_code, attachment_code)
        _require_editor(actor)
        if evidence.added_by_id != actor.user_id and actor.role not in actions.MANAGER_ROLES:
            raise PermissionDenied(
                _("Only whoever added it, a compliance officer or an admin can remove evidence.")
            )
        if action.status == S.VERIFIED:
            raise Conflict(_("Reopen the action before removing its evidence."))
        actions.evidence_delete(evidence=evidence, actor=actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- External tickets --------------------------------------------------------------------------


class ActionTicketsView(ActionScoped):
    orderings = {"created_at": "created_at"}
    default_ordering = "created_at"

    @extend_schema(
        summary="List an action's tickets in other tools",
        description=(
            "Tickets a Jira or ServiceNow connection keeps (`managed`) and references clients "
            "recorded themselves."
        ),
        responses={(200, JSON): TicketOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code, action_code) -> Response:
        action = get_action_for_member(self.actor, action_code)
        parse_params(Params, request)
        rows = ticket_links.tickets_for_action(action)
        return _page(self, request, rows, TicketOut, _context(self.actor))

    @extend_schema(
        summary="Record a ticket in another tool",
        description=(
            "One per tool and action. A tool with a connection (Jira, ServiceNow) gets its "
            "tickets from the connection (409)."
        ),
        request=TicketIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: TicketOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code, action_code) -> Response:
        actor = self.actor
        action = get_action_for_member(actor, action_code)
        _require_editor(actor)
        data = _valid(TicketIn, request, actor.organisation)
        with _conflicts("managed", fields=TICKET_NAMES):
            ticket = ticket_links.ticket_link_create(
                action=action,
                actor=actor,
                system=data["system"],
                **{TICKET_FIELDS[k]: v for k, v in data.items() if k in TICKET_FIELDS},
            )
        return Response(TicketOut(ticket).data, status=status.HTTP_201_CREATED)


class ActionTicketView(ActionScoped):
    def _ticket(self, action_code, ticket_code) -> ExternalTicket:
        action = get_action_for_member(self.actor, action_code)
        return ticket_links.get_ticket_for_action(action, ticket_code)

    @extend_schema(summary="Read a ticket reference", responses={200: TicketOut, **problems()})
    def get(self, request: Request, org_code, action_code, ticket_code) -> Response:
        return Response(TicketOut(self._ticket(action_code, ticket_code)).data)

    @extend_schema(
        summary="Change a recorded ticket",
        description="Its key, link or status text. Connection-kept tickets are read-only (409).",
        request=TicketPatchIn,
        responses={200: TicketOut, **problems(409)},
    )
    def patch(self, request: Request, org_code, action_code, ticket_code) -> Response:
        actor = self.actor
        ticket = self._ticket(action_code, ticket_code)
        _require_editor(actor)
        data = _valid(TicketPatchIn, request, actor.organisation)
        with _conflicts("managed", fields=TICKET_NAMES):
            ticket = ticket_links.ticket_link_update(
                ticket=ticket, actor=actor, **{TICKET_FIELDS[k]: v for k, v in data.items()}
            )
        return Response(TicketOut(ticket).data)

    @extend_schema(
        summary="Forget a recorded ticket",
        description="Connection-kept tickets are read-only (409).",
        responses={204: OpenApiResponse(description="Forgotten."), **problems(409)},
    )
    def delete(self, request: Request, org_code, action_code, ticket_code) -> Response:
        actor = self.actor
        ticket = self._ticket(action_code, ticket_code)
        _require_editor(actor)
        with _conflicts("managed"):
            ticket_links.ticket_link_delete(ticket=ticket, actor=actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


ACTION = "actions/<uuid:action_code>/"

urlpatterns = [
    path("actions/", ActionListView.as_view(), name="api_actions"),
    path(ACTION, ActionDetailView.as_view(), name="api_action"),
    path(f"{ACTION}comments/", ActionCommentsView.as_view(), name="api_action_comments"),
    path(f"{ACTION}evidence/", ActionEvidenceView.as_view(), name="api_action_evidence"),
    path(
        f"{ACTION}evidence/<uuid:attachment_code>/",
        ActionEvidenceItemView.as_view(),
        name="api_action_evidence_item",
    ),
    path(f"{ACTION}tickets/", ActionTicketsView.as_view(), name="api_action_tickets"),
    path(
        f"{ACTION}tickets/<uuid:ticket_code>/",
        ActionTicketView.as_view(),
        name="api_action_ticket",
    ),
]
