"""The only way a view reaches tenant data.

Each helper looks the object up inside the caller's organisation and raises Http404 whether it
is missing or belongs to someone else, so a response never confirms that another organisation's
object exists. `manage.py lint_tenant_access` fails the build when a views or API module queries
a tenant model directly instead.
"""

import uuid
import zoneinfo

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils import timezone

from .models import AISystem, ApiKey, Invitation, Membership, Organisation, Role


def _as_uuid(code: object) -> uuid.UUID:
    try:
        return code if isinstance(code, uuid.UUID) else uuid.UUID(str(code))
    except ValueError as exc:
        raise Http404 from exc


def get_membership_for_user(request: HttpRequest, org_code: object) -> Membership:
    """The signed-in user's membership of the organisation `org_code`, or 404.

    It also activates the time zone the user reads this organisation's times in (their own, or
    the organisation's) for the rest of the request.
    """
    if not request.user.is_authenticated:
        raise Http404
    try:
        membership = Membership.objects.select_related("organisation", "user").get(
            organisation__code=_as_uuid(org_code), user=request.user
        )
    except Membership.DoesNotExist as exc:
        raise Http404 from exc
    timezone.activate(zoneinfo.ZoneInfo(request.user.time_zone_for(membership.organisation)))
    if request.session.get("last_org") != str(membership.organisation.code):
        request.session["last_org"] = str(membership.organisation.code)
    return membership


def require_role(membership: Membership, *roles: Role) -> None:
    """403 for a member whose role is not among `roles` (they know the organisation exists)."""
    if membership.role not in roles:
        raise PermissionDenied


def require_editor(membership: Membership) -> None:
    if not membership.can_edit:
        raise PermissionDenied


def get_member_for_member(membership: Membership, code: object) -> Membership:
    """Another membership of the caller's organisation."""
    try:
        return (
            Membership.objects.for_org(membership.organisation)
            .select_related("user")
            .get(code=_as_uuid(code))
        )
    except Membership.DoesNotExist as exc:
        raise Http404 from exc


def get_invitation_for_member(membership: Membership, code: object) -> Invitation:
    try:
        return Invitation.objects.for_org(membership.organisation).get(code=_as_uuid(code))
    except Invitation.DoesNotExist as exc:
        raise Http404 from exc


def get_api_key_for_member(membership: Membership, code: object) -> ApiKey:
    try:
        return ApiKey.objects.for_org(membership.organisation).get(code=_as_uuid(code))
    except ApiKey.DoesNotExist as exc:
        raise Http404 from exc


def get_system_for_member(membership: Membership, code: object) -> AISystem:
    """An AI system of the caller's organisation, archived or not."""
    try:
        system = (
            AISystem.objects.for_org(membership.organisation)
            .select_related("owner", "release")
            .get(code=_as_uuid(code))
        )
    except AISystem.DoesNotExist as exc:
        raise Http404 from exc
    system.organisation = membership.organisation  # the same row, already loaded
    return system


def last_used(request: HttpRequest, organisations: list[Organisation]) -> Organisation | None:
    """Of `organisations` (the user's), the one they used last, or the only one."""
    last = request.session.get("last_org") if hasattr(request, "session") else None
    for org in organisations:
        if str(org.code) == last or len(organisations) == 1:
            return org
    return None


def organisations_for_user(user) -> list[Organisation]:
    if not user.is_authenticated:
        return []
    return [
        m.organisation
        for m in Membership.objects.filter(user=user)
        .select_related("organisation")
        .order_by("organisation__name")
    ]
