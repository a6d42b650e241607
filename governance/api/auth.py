"""Who is calling the API, and as whom inside an organisation.

Machine clients send `Authorization: Bearer kk_…` (an organisation's API key); the browser uses
its session, with CSRF (DRF's SessionAuthentication). Either way a view resolves one actor for
the organisation in its URL with `get_actor`: a Membership for a signed-in member, a KeyActor
for a key of that organisation, and a 404 for anyone else, so a response never confirms another
organisation exists.
"""

import zoneinfo
from dataclasses import dataclass

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, permissions
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from .. import apikeys, rls
from ..access import _as_uuid, get_membership_for_user
from ..audit import set_actor
from ..models import ApiKey, Membership, Organisation, Role


class ApiKeyUser:
    """request.user for a key-authenticated request: authenticated, but no person."""

    pk = None
    id = None
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    language = ""
    email = ""

    def __init__(self, key: ApiKey):
        self.api_key = key

    def __str__(self) -> str:
        return f"API key {self.api_key.name}"

    def has_perm(self, *args, **kwargs) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request: Request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("Send the key as “Authorization: Bearer <key>”."))
        # The key is found by its secret before its organisation is known; from then on the
        # request sees only that organisation's rows.
        with rls.everything():
            key = apikeys.authenticate(header[1].decode("latin-1"))
        if key is None:
            raise AuthenticationFailed(_("The API key is unknown, expired or revoked."))
        rls.enter_org(key.organisation_id)
        ctx = getattr(request._request, "audit_context", None)
        if ctx is not None:
            set_actor(ctx, api_key_id=key.pk, source="api")
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="kakehashi"'


class ApiKeySchema(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes API keys (a bearer token)."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "kk_<prefix>_<secret>",
            "description": "An organisation API key from Settings → API keys.",
        }


@dataclass(frozen=True)
class KeyActor:
    """An API key acting inside its organisation, shaped like a Membership for the services.

    A read key acts as a viewer; a write key as a compliance officer, except where a person
    must sign: a key never verifies an action or approves an assessment (four eyes).
    """

    api_key: ApiKey
    organisation: Organisation
    user = None
    user_id = None

    @property
    def organisation_id(self) -> int:
        return self.organisation.pk

    @property
    def role(self) -> str:
        return Role.COMPLIANCE_OFFICER if self.api_key.can_write else Role.VIEWER

    @property
    def can_edit(self) -> bool:
        return self.api_key.can_write

    @property
    def can_manage(self) -> bool:
        return self.api_key.can_write

    is_admin = False


Actor = Membership | KeyActor


def is_key(request: Request) -> bool:
    return isinstance(request.user, ApiKeyUser)


def get_actor(request: Request, org_code: object) -> Actor:
    """The caller inside organisation `org_code`, or 404."""
    if is_key(request):
        key: ApiKey = request.auth
        if key.organisation.code != _as_uuid(org_code):
            raise Http404
        timezone.activate(zoneinfo.ZoneInfo(key.organisation.time_zone))
        return KeyActor(api_key=key, organisation=key.organisation)
    return get_membership_for_user(request, org_code)


def principal(request: Request) -> str:
    """A stable name for the caller (throttling, idempotency keys)."""
    if is_key(request):
        return f"key:{request.auth.pk}"
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return ""


class KeyScope(permissions.BasePermission):
    """A read-only key may only read."""

    message = _("This API key is read-only.")

    def has_permission(self, request: Request, view) -> bool:
        if request.method in permissions.SAFE_METHODS or not is_key(request):
            return True
        return request.auth.can_write
