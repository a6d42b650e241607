"""The tenant-isolation matrix: every page and API endpoint, for every actor of organisation A,
over the objects of organisations A, B and C.

The routes come from the URL configuration, so a new page or endpoint is covered without
editing this file; a route with a URL keyword the matrix cannot fill fails and says what to add
(OBJECT_KEYS below, and a way to make that object in `build_world`).

The world (`build_world`, built once per module by the `matrix_world` fixture): three
organisations with one object of every kind each, every name, title, note and e-mail address
carrying the organisation's marker (`ORGB-SECRET-7f3a`, …), so a leak of any field shows in a
response. The organisation's own name carries a second marker (`ORGB-NAME-…`), because one actor
(a contributor of A who is also an admin of C) may rightly see C's name in the organisation
switcher, and nothing else of C.

Actors of A: an admin, a compliance officer, a contributor, a viewer, the A-and-C member, a
read-only and a read-write API key (API routes only: pages ignore keys), and anonymous.

Two tests per route:

- cross-organisation: each actor, each method (GET, POST, PUT, PATCH, DELETE; a method the
  admin's own request shows the route refuses with 405 is tried by the admin alone), each
  target: B's organisation code; B's objects through A's organisation code (all of them, and
  each one alone beside A's others); and, where the route takes a body, B's people and codes in
  the body on A's own page or object. Bodies are ones that succeed on A's own objects — the
  positive control sends each as A's admin and undoes it — so a lookup that let B's object
  through would write. Where the URL names B, the answer must be a 404, or a 401/403/405 or a
  redirect to log in only when a code naming nothing gets the very same answer (the refusal
  comes before any lookup and reveals nothing); B's references in a body may get any answer
  but a server error. Always: no marker and no code of B or C in the body (codes the caller
  sent aside), and nothing of B or C may change — every tenant table (every model with an
  `organisation` key, from the app registry) and B's and C's people are fingerprinted for B and
  C after each actor's requests (one SQL statement), no new row may point at another
  organisation's row or at someone who is not a member, and no e-mail may go to anyone of B or
  C. When something moved, the actor's requests are undone and replayed one at a time to name
  the one that did it.
- own organisation: each GET route, for each actor of A, on A's own objects (and, for lists and
  exports, with filters naming B's objects): no marker or code of B or C in the body — HTML,
  JSON, CSV, XLSX (its XML parts), and the HTML source of every PDF — and the admin gets an
  answer that is not an error, so the matrix cannot pass because every URL is wrong.

`test_it_catches_a_lookup_that_forgets_the_organisation` breaks the actions' scoping on purpose
and checks the matrix reports the read, the marker and the write.

The matrix runs as the tables' owner (see the `matrix_world` fixture): it proves the
application's own scoping, whatever row-level security would add behind it.

Org-less pages that show a signed-in user's data (home, profile, notification settings, the
organisation list and form, the catalogue and its API) are read by every person of A with the
same body rules. Left out, with the reason, in ORGLESS_EXCLUDED.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.core import mail
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from psycopg import sql

from governance import apikeys
from governance.catalogue.store import write
from governance.models import ApiScope, CatalogueRelease, Organisation, Role

from ..factories import (
    HIRING_TOOL_ANSWERS,
    ActionCommentFactory,
    ActionEvidenceFactory,
    AISystemFactory,
    AISystemVersionFactory,
    AssessmentBatchFactory,
    AssessmentFactory,
    EvidenceFactory,
    ExternalTicketFactory,
    FindingFactory,
    InvitationFactory,
    MembershipFactory,
    NotificationFactory,
    OrganisationFactory,
    RemediationActionFactory,
    TicketingConnectionFactory,
    UserFactory,
    WebhookAttemptFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.usefixtures("matrix_env")

SECRET = {"A": "ORGA-SECRET-4c1e", "B": "ORGB-SECRET-7f3a", "C": "ORGC-SECRET-b90d"}
NAME = {"A": "ORGA-NAME-4c1e", "B": "ORGB-NAME-7f3a", "C": "ORGC-NAME-b90d"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROLES = (Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.CONTRIBUTOR, Role.VIEWER)

# --- Routes ----------------------------------------------------------------------------------

# URL keywords that name an object of an organisation; `build_world` makes one of each.
OBJECT_KEYS = frozenset(
    {
        "member_code",
        "invitation_code",
        "key_code",
        "system_code",
        "assessment_code",
        "finding_code",
        "evidence_code",
        "batch_code",
        "action_code",
        "attachment_code",
        "ticket_code",
        "webhook_code",
        "delivery_code",
    }
)
# Keywords of global objects (a catalogue release belongs to everyone) and of kinds (the
# ticketing tool of a settings page): the same value whichever organisation is the target.
GLOBAL_KEYS = frozenset({"release_code"})
KIND_KEYS = {"system": "jira"}
# Org-less routes with keywords that name global catalogue objects.
GLOBAL_FILL = {
    "catalogue_regulation": {"code": "EU-AIA"},
    "catalogue_obligation": {"code": "EU-AIA-ART9"},
    "api_catalogue_obligation": {"code": "EU-AIA-ART9"},
}
# Org-less routes the own-organisation reads leave out, and why.
ORGLESS_EXCLUDED = {
    "admin/": "the Django admin is for staff curators; no actor here is staff "
    "(tests/governance/test_catalogue_admin.py)",
    "login": "signing in shows no tenant data",
    "logout": "would end the actor's session",
    "password_reset_confirm": "reached through a one-time token sent by e-mail, not a code",
    "invitation_accept": "reached through the invitation's secret token, which is the "
    "credential: whoever holds it is meant to see the organisation's name and join "
    "(tests/governance/test_invitations.py)",
    "set_language": "POST only; it changes the caller's own language",
    "inbound_jira": "a ticketing tool's inbound webhook, authenticated by the connection's "
    "signature, not by a person or key (tests/integrations/test_inbound.py)",
    "inbound_servicenow": "as inbound_jira",
    "api_schema": "generated from the code; holds no data (tests/api/test_schema.py)",
    "api_docs": "the Swagger UI page around the schema",
    "healthz": "a liveness probe: no data",
}


@dataclass(frozen=True)
class Route:
    name: str
    route: str

    @property
    def api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def keywords(self) -> frozenset[str]:
        return frozenset(re.findall(r"<(?:\w+:)?(\w+)>", self.route))

    @property
    def objects(self) -> list[str]:
        return sorted(self.keywords & OBJECT_KEYS)

    def __str__(self) -> str:
        return self.name


def _walk(patterns, prefix: str = "") -> Iterator[Route]:
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield Route(p.name or route, route)


ALL_ROUTES = list(_walk(get_resolver().url_patterns))
ORG_ROUTES = [r for r in ALL_ROUTES if "org_code" in r.keywords]


def _excluded(route: Route) -> bool:
    return route.name in ORGLESS_EXCLUDED or any(
        route.route.startswith(p) for p in ORGLESS_EXCLUDED if p.endswith("/")
    )


ORGLESS_ROUTES = [r for r in ALL_ROUTES if "org_code" not in r.keywords and not _excluded(r)]


def fill(route: Route, codes: dict[str, str]) -> str:
    values = {**KIND_KEYS, **GLOBAL_FILL.get(route.name, {}), **codes}

    def value(match: re.Match) -> str:
        name = match.group(1)
        assert name in values, (
            f"{route.name} ({route.route}): the matrix cannot fill <{name}>. If it names an "
            "organisation's object, add it to OBJECT_KEYS and make one in build_world; if a "
            "global one, to GLOBAL_KEYS/GLOBAL_FILL; if it leads nowhere tenant data lives, to "
            "ORGLESS_EXCLUDED with the reason."
        )
        return values[name]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route.route)


# --- The world -------------------------------------------------------------------------------


@dataclass
class Tenant:
    label: str
    org: Organisation
    members: dict[str, Any]  # role (or "dual") -> Membership
    codes: dict[str, str]  # URL keyword -> code
    emails: dict[str, str]  # role -> e-mail address
    notification_code: str = ""
    users: set[int] = field(default_factory=set)

    @property
    def secret(self) -> str:
        return SECRET[self.label]


@dataclass
class World:
    tenants: dict[str, Tenant]
    tokens: dict[str, str]  # "read key" / "write key" of A -> token
    release_code: str

    def __getitem__(self, label: str) -> Tenant:
        return self.tenants[label]


def _tenant(label: str) -> Tenant:
    secret = SECRET[label]
    low = secret.lower()
    org = OrganisationFactory(name=f"{NAME[label]} Ltd")
    members, emails = {}, {}
    for role in ROLES:
        email = f"{low}-{role.replace('_', '-')}@org-{label.lower()}.example"
        members[role] = MembershipFactory(
            organisation=org,
            role=role,
            user=UserFactory(email=email, full_name=f"{secret} {role} person"),
        )
        emails[role] = email
    admin, contributor = members[Role.ADMIN].user, members[Role.CONTRIBUTOR].user

    system = AISystemFactory(
        organisation=org,
        name=f"{secret} screener",
        description=f"{secret} description",
        intended_purpose=f"{secret} purpose",
        business_unit=f"{secret} unit",
        vendor=f"{secret} vendor",
        model_name=f"{secret} model",
        owner=contributor,
        created_by=admin,
    )
    AISystemVersionFactory(
        system=system, number=1, data={"name": system.name}, changed=["name"], changed_by=admin
    )
    assessment = AssessmentFactory(
        system=system, requested_by=admin, finished_at=timezone.now(), summary={"gaps": 1}
    )
    finding = FindingFactory(
        assessment=assessment, notes=f"{secret} finding notes", justification=f"{secret} why"
    )
    evidence = EvidenceFactory(
        finding=finding, title=f"{secret} evidence", url=f"https://docs.example.com/{low}"
    )
    action = RemediationActionFactory(
        system=system,
        title=f"{secret} action",
        description=f"{secret} action description",
        owner=contributor,
        created_by=admin,
        due_date=timezone.localdate() + timedelta(days=30),
        findings=[finding],
    )
    ActionCommentFactory(action=action, author=admin, body=f"{secret} comment")
    ActionEvidenceFactory(action=action, title=f"{secret} link", url=f"https://e.example/{low}")
    attachment = ActionEvidenceFactory(
        action=action,
        kind="file",
        title=f"{secret} file",
        url="",
        file=ContentFile(f"{secret} file content\n".encode(), name=f"{low}.txt"),
        file_name=f"{low}.txt",
        content_type="text/plain",
        added_by=admin,
    )
    connection_ = TicketingConnectionFactory(
        organisation=org, username=f"{low}@tickets.example", project_key="KK"
    )
    ticket = ExternalTicketFactory(
        action=action, external_key=f"{secret}-1", url=f"https://git.example/{low}/1"
    )
    ExternalTicketFactory(
        action=action,
        system="jira",
        connection=connection_,
        external_key=f"{secret}-2",
        sync_state="synced",
    )
    webhook = WebhookEndpointFactory(
        organisation=org, url=f"https://hooks.example.com/{low}", description=f"{secret} hook"
    )
    event = WebhookEventFactory(
        organisation=org, payload={"type": "action.updated", "data": {"title": action.title}}
    )
    delivery = WebhookDeliveryFactory(
        endpoint=webhook, event=event, last_error=f"{secret} delivery error", status="failed"
    )
    WebhookAttemptFactory(delivery=delivery, response_excerpt=f"{secret} excerpt")
    batch = AssessmentBatchFactory(organisation=org, requested_by=admin)
    invitation = InvitationFactory(
        organisation=org, email=f"{low}-invitee@org-{label.lower()}.example", invited_by=admin
    )
    key, _token = apikeys.api_key_create(
        actor=members[Role.ADMIN], name=f"{secret} key", scope=ApiScope.READ
    )
    notifications = {}
    for role, membership in members.items():
        notifications[role] = NotificationFactory(
            organisation=org,
            recipient=membership.user,
            actor=admin,
            action=action,
            data={"title": action.title},
        )
    from assessments.models import SystemImpact

    SystemImpact.objects.create(
        organisation=org,
        release=system.release,
        system=system,
        assessment=assessment,
        tier_before="high_risk",
        tier_after="limited",
    )
    tenant = Tenant(
        label=label,
        org=org,
        members=members,
        emails=emails,
        codes={
            "org_code": str(org.code),
            "member_code": str(members[Role.CONTRIBUTOR].code),
            "invitation_code": str(invitation.code),
            "key_code": str(key.code),
            "system_code": str(system.code),
            "assessment_code": str(assessment.code),
            "finding_code": str(finding.code),
            "evidence_code": str(evidence.code),
            "batch_code": str(batch.code),
            "action_code": str(action.code),
            "attachment_code": str(attachment.code),
            "ticket_code": str(ticket.code),
            "webhook_code": str(webhook.code),
            "delivery_code": str(delivery.code),
        },
        # The admin's: the positive control marks it read as the admin.
        notification_code=str(notifications[Role.ADMIN].code),
        users={m.user_id for m in members.values()},
    )
    return tenant


def build_world(catalogue_files) -> World:
    write(catalogue_files)
    tenants = {label: _tenant(label) for label in "ABC"}
    a, c = tenants["A"], tenants["C"]
    # A contributor of A who is also an admin of C, with a notification of C's waiting: A's
    # pages must show them nothing of C but its name in the switcher.
    dual = MembershipFactory(
        organisation=a.org,
        role=Role.CONTRIBUTOR,
        user=UserFactory(email="dual@org-a.example", full_name="Both A and C"),
    )
    MembershipFactory(organisation=c.org, role=Role.ADMIN, user=dual.user)
    NotificationFactory(
        organisation=c.org, recipient=dual.user, data={"title": f"{c.secret} for the dual"}
    )
    a.members["dual"] = dual
    tokens = {}
    for scope in (ApiScope.READ, ApiScope.WRITE):
        _, tokens[f"{scope} key"] = apikeys.api_key_create(
            actor=a.members[Role.ADMIN], name=f"{a.secret} matrix {scope}", scope=scope
        )
    release = CatalogueRelease.objects.get(is_current=True)
    return World(tenants=tenants, tokens=tokens, release_code=release.code)


# --- Actors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    label: str
    kind: str  # "member", "key" or "anonymous"
    ref: str = ""  # role / "dual" for members, "read key" / "write key" for keys

    def __str__(self) -> str:
        return self.label


MEMBERS = [Actor(f"{role} of A", "member", role) for role in ROLES] + [
    Actor("contributor of A (admin of C)", "member", "dual")
]
KEYS = [
    Actor("read-only key of A", "key", "read key"),
    Actor("read-write key of A", "key", "write key"),
]
ANONYMOUS = Actor("anonymous", "anonymous")
ADMIN = MEMBERS[0]


def actors_for(route: Route) -> list[Actor]:
    # Pages ignore API keys (a key there is an anonymous visitor, which ANONYMOUS covers).
    return MEMBERS + (KEYS if route.api else []) + [ANONYMOUS]


def client_for(world: World, actor: Actor) -> Client:
    if actor.kind == "key":
        return Client(HTTP_AUTHORIZATION=f"Bearer {world.tokens[actor.ref]}")
    client = Client()
    if actor.kind == "member":
        client.force_login(world["A"].members[actor.ref].user)
    return client


# --- Requests and bodies ---------------------------------------------------------------------


@dataclass
class Target:
    label: str
    codes: dict[str, str]  # what the URL is filled with
    # True when the URL itself names something of another organisation: then only a 404 (or
    # a refusal that a code naming nothing gets too) is right.
    foreign_url: bool
    # Whose people and codes the body names. Through A's organisation code that is A's (a
    # body valid there, so a lookup that let B's object through would write) or, to try
    # references across organisations, B's; through B's code, B's.
    body_from: str = "A"


def cross_targets(route: Route, world: World) -> list[Target]:
    a, b = world["A"].codes, world["B"].codes
    own = {"org_code": a["org_code"]}
    glob = {"release_code": world.release_code}
    targets = [Target("B's organisation code", {**b, **glob}, True, "B")]
    if route.objects:
        targets.append(Target("B's objects through A's organisation", {**b, **own, **glob}, True))
        if len(route.objects) > 1:
            for key in route.objects:
                targets.append(
                    Target(f"B's {key} beside A's other objects", {**a, key: b[key], **glob}, True)
                )
    if BODIES.get(route.name):
        # B's people and codes in the body, on A's own page or object.
        targets.append(Target("B's references in the body, on A's own", {**a, **glob}, False, "B"))
    return targets


def missing(codes: dict[str, str], own: dict[str, str]) -> dict[str, str]:
    """The same codes, with each of another organisation's replaced by one that names nothing."""
    return {k: (v if own.get(k, v) == v else str(uuid.uuid4())) for k, v in codes.items()}


Body = Callable[[dict[str, str], "Refs"], dict[str, Any]]


@dataclass
class Refs:
    """People and codes a body refers to (see Target.body_from)."""

    member_email: str
    admin_email: str
    member_code: str
    notification_code: str


def refs_for(tenant: Tenant) -> Refs:
    return Refs(
        member_email=tenant.emails[Role.CONTRIBUTOR],
        admin_email=tenant.emails[Role.ADMIN],
        member_code=tenant.codes["member_code"],
        notification_code=tenant.notification_code,
    )


TITLE = "Matrix write"
URL = "https://matrix.example/evidence"

# Bodies per route and method that would succeed on A's own object (the positive control
# proves it): a cross-organisation request that got past a lookup would write. Where a route
# takes references to other objects (owners, mentions, findings, actions), the body names those
# of the organisation under test, so a reference to another organisation's is tried too.
# Methods not listed send an empty body.
BODIES: dict[str, dict[str, Body]] = {
    # Pages (forms)
    "org_settings": {
        "POST": lambda c, r: {
            "name": "Matrix renamed",
            "time_zone": "Europe/Brussels",
            "default_language": "en",
            "jurisdictions": ["EU"],
        }
    },
    "api_key_list": {"POST": lambda c, r: {"name": TITLE, "scope": "read", "expires": "90"}},
    "member_list": {"POST": lambda c, r: {"email": "matrix-new@example.com", "role": "viewer"}},
    "member_role": {"POST": lambda c, r: {"role": "viewer"}},
    "system_create": {"POST": lambda c, r: {"name": TITLE, "owner": r.member_email}},
    "system_edit": {"POST": lambda c, r: {"name": TITLE, "owner": r.member_email}},
    "finding_detail": {"POST": lambda c, r: {"status": "met", "notes": TITLE}},
    "evidence_add": {"POST": lambda c, r: {"title": TITLE, "url": URL}},
    "action_create": {
        "POST": lambda c, r: {"finding": c["finding_code"], "title": TITLE, "owner": r.member_code}
    },
    "action_bulk": {"POST": lambda c, r: {"actions": c["action_code"], "priority": "high"}},
    "action_edit": {"POST": lambda c, r: {"title": TITLE, "owner": r.member_code}},
    "action_transition": {"POST": lambda c, r: {"status": "in_progress"}},
    "action_comment": {"POST": lambda c, r: {"body": TITLE, "mention": r.member_code}},
    "action_evidence_add": {"POST": lambda c, r: {"title": TITLE, "url": URL}},
    "notification_read": {"POST": lambda c, r: {"code": r.notification_code}},
    "webhook_create": {"POST": lambda c, r: {"url": "https://hooks.example.com/matrix"}},
    "webhook_edit": {"POST": lambda c, r: {"url": "https://hooks.example.com/matrix"}},
    "ticketing_save": {
        "POST": lambda c, r: {
            "jira-enabled": "on",
            "jira-base_url": "https://matrix.atlassian.net",
            "jira-username": "matrix@example.com",
            "jira-token": "matrix-token",
            "jira-project_key": "MX",
            "jira-issue_type": "Task",
        }
    },
    # API (JSON)
    "api_systems": {
        "POST": lambda c, r: {
            "name": TITLE,
            "owner": r.member_email,
            "answers": HIRING_TOOL_ANSWERS,
        }
    },
    "api_system": {"PATCH": lambda c, r: {"name": TITLE, "owner": r.member_email}},
    "api_system_answers": {"PUT": lambda c, r: {"answers": HIRING_TOOL_ANSWERS}},
    "api_finding": {
        "PATCH": lambda c, r: {
            "status": "risk_accepted",
            "justification": TITLE,
            "risk_approver": r.admin_email,
        }
    },
    "api_actions": {
        "POST": lambda c, r: {
            "findings": [c["finding_code"]],
            "title": TITLE,
            "owner": r.member_email,
        }
    },
    # No owner: the service checks the owner against the action's own organisation as well,
    # which would refuse the write even through a lookup gone wrong (web action_edit and the
    # API's action POST try owners).
    "api_action": {"PATCH": lambda c, r: {"title": TITLE, "priority": "high"}},
    "api_action_comments": {"POST": lambda c, r: {"body": TITLE, "mentions": [r.member_email]}},
    "api_action_evidence": {"POST": lambda c, r: {"title": TITLE, "url": URL}},
    "api_action_tickets": {"POST": lambda c, r: {"system": "gitlab", "key": "MX-1"}},
    "api_action_ticket": {"PATCH": lambda c, r: {"key": "MX-2"}},
    "api_webhooks": {"POST": lambda c, r: {"url": "https://hooks.example.com/matrix"}},
    "api_webhook": {"PATCH": lambda c, r: {"description": TITLE}},
}

# The positive control: the admin's request on A's own object. Most writes succeed; these
# answer otherwise on A's world for a reason that has nothing to do with the lookup.
MIRROR_REFUSALS = {
    ("system_create", "POST"): "the questionnaire needs every answer; the body tests `owner`",
    ("system_edit", "POST"): "as system_create",
    ("api_system_restore", "POST"): "A's system is not archived (409): restore needs one",
    ("api_action", "DELETE"): "A's action has comments and evidence, so it is cancelled "
    "instead (409)",
}
# Routes whose positive control is not sent at all: it would call another tool over the network.
NO_MIRROR = {"ticketing_test"}


def body_for(route: Route, method: str, tenant: Tenant) -> dict[str, Any]:
    maker = BODIES.get(route.name, {}).get(method)
    return maker(tenant.codes, refs_for(tenant)) if maker else {}


def send(client: Client, route: Route, method: str, url: str, body: dict[str, Any]):
    """The response, or the exception the view raised, inside a savepoint so a database error
    cannot poison the rest of the test."""
    try:
        with transaction.atomic():
            if method == "GET":
                response = client.get(url)
            elif route.api:
                response = client.generic(
                    method, url, json.dumps(body), content_type="application/json"
                )
            else:
                response = client.generic(
                    method,
                    url,
                    urlencode(body, doseq=True),
                    content_type="application/x-www-form-urlencoded",
                )
            # A streamed body (exports, downloads) is read here, while the view's queries still
            # run inside the savepoint.
            response.shown = text_of(response)
            return response
    except Exception as exc:  # reported as a failure of the route
        return exc


# --- Reading responses -----------------------------------------------------------------------


def text_of(response) -> str:
    """Everything a response shows: its body (CSV, HTML, JSON as sent; an XLSX's XML parts; a
    PDF's HTML source, see the `matrix_env` fixture) and where it redirects."""
    if getattr(response, "streaming", False):
        # The test client closes the response once its content is read.
        raw = b"".join(response.streaming_content)
    else:
        raw = response.content
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            raw = b"\n".join(archive.read(n) for n in archive.namelist() if n.endswith(".xml"))
    return raw.decode("utf-8", "replace") + "\n" + response.headers.get("Location", "")


def leaks(text: str, world: World, actor: Actor, url: str) -> list[str]:
    """Markers and codes of B and C in `text`, except codes the requested URL holds (a page
    may echo what the caller sent: that tells them nothing new)."""
    low, url = text.lower(), url.lower()
    found = []
    for label in "BC":
        tenant = world[label]
        if tenant.secret.lower() in low:
            found.append(f"{label}'s marker {tenant.secret}")
        # The A-and-C member rightly sees C's name (and link) in the organisation switcher.
        if NAME[label].lower() in low and not (actor.ref == "dual" and label == "C"):
            found.append(f"{label}'s name {NAME[label]}")
        for key, code in tenant.codes.items():
            if key == "org_code" and actor.ref == "dual" and label == "C":
                continue  # the switcher's link to C
            if code.lower() in low and code.lower() not in url:
                found.append(f"{label}'s {key} {code}")
    return found


def login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def anonymous_refusal(actor: Actor, response) -> bool:
    """Pages send anonymous visitors to log in; the API refuses them (401/403)."""
    return actor is ANONYMOUS and (login_redirect(response) or response.status_code in (401, 403))


def refused_before_lookup(response, probe) -> bool:
    """A refusal that does not depend on the object: a code naming nothing gets the same (a
    role without the right, a read-only key writing, a method the route never takes)."""
    return (
        response.status_code in (401, 403, 405)
        and not isinstance(probe, Exception)
        and probe.status_code == response.status_code
    )


# --- Fingerprints ----------------------------------------------------------------------------


@cache
def tenant_models() -> list:
    return [
        m
        for m in apps.get_models()
        if m._meta.managed
        and not m._meta.proxy
        and any(
            f.name == "organisation" and f.related_model is Organisation
            for f in m._meta.concrete_fields
        )
    ]


# Tenant tables the world may leave empty: nothing shows or changes them through a route.
MAY_BE_EMPTY = {"governance_idempotencyrecord"}


def fingerprint(world: World) -> dict[str, tuple[int, str]]:
    """For each tenant table, B's and C's rows: (count, md5 over the rows). B's and C's people
    too. One statement, one round trip."""
    org_ids = [world["B"].org.pk, world["C"].org.pk]
    users = sorted(world["B"].users | world["C"].users)
    parts = []
    for model in tenant_models():
        table = model._meta.db_table
        parts.append(
            sql.SQL(
                "SELECT {name}, count(*), coalesce(md5(string_agg(md5(t::text), '' "
                "ORDER BY md5(t::text))), '') FROM {table} t WHERE organisation_id = ANY({ids})"
            ).format(name=sql.Literal(table), table=sql.Identifier(table), ids=sql.Literal(org_ids))
        )
    user_table = apps.get_model("governance", "User")._meta.db_table
    parts.append(
        sql.SQL(
            "SELECT {name}, count(*), coalesce(md5(string_agg(md5(t::text), '' "
            "ORDER BY md5(t::text))), '') FROM {table} t WHERE id = ANY({ids})"
        ).format(
            name=sql.Literal(user_table), table=sql.Identifier(user_table), ids=sql.Literal(users)
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL(" UNION ALL ").join(parts).as_string(cursor.connection))
        return {name: (count, digest) for name, count, digest in cursor.fetchall()}


def changed(before: dict, after: dict) -> list[str]:
    return [
        f"B's or C's rows of {table} changed ({before[table][0]} -> {after[table][0]} rows)"
        for table in sorted(before)
        if before[table] != after[table]
    ]


@cache
def _reference_query(org_ids: tuple[int, ...]) -> str:
    """Rows of one organisation that point at a row of another organisation, or at a person
    who is not a member of theirs (owners, mentions, approvers, recipients).

    Only the world's organisations are read, through their index: after a long suite the
    tenant tables (the audit trail above all) hold millions of dead rows of other tests."""
    user_model = apps.get_model("governance", "User")
    membership = apps.get_model("governance", "Membership")._meta.db_table
    tenant_tables = {m._meta.db_table for m in tenant_models()}
    ids = sql.Literal(list(org_ids))
    parts = []
    for model in tenant_models():
        table = model._meta.db_table
        for f in model._meta.concrete_fields:
            if not f.is_relation or f.name == "organisation":
                continue
            target = f.related_model._meta.db_table
            label = sql.Literal(f"{table}.{f.column}")
            if target in tenant_tables:
                parts.append(
                    sql.SQL(
                        "SELECT {label}, count(*) FROM {t} t JOIN {r} r ON r.id = t.{col} "
                        "WHERE t.organisation_id = ANY({ids}) "
                        "AND r.organisation_id <> t.organisation_id"
                    ).format(
                        ids=ids,
                        label=label,
                        t=sql.Identifier(table),
                        r=sql.Identifier(target),
                        col=sql.Identifier(f.column),
                    )
                )
            elif f.related_model is user_model and table != membership:
                parts.append(
                    sql.SQL(
                        "SELECT {label}, count(*) FROM {t} t WHERE t.{col} IS NOT NULL "
                        "AND t.organisation_id = ANY({ids}) AND NOT EXISTS (SELECT 1 FROM {m} m "
                        "WHERE m.user_id = t.{col} AND m.organisation_id = t.organisation_id)"
                    ).format(
                        ids=ids,
                        label=label,
                        t=sql.Identifier(table),
                        m=sql.Identifier(membership),
                        col=sql.Identifier(f.column),
                    )
                )
    with connection.cursor() as cursor:
        return sql.SQL(" UNION ALL ").join(parts).as_string(cursor.connection)


def foreign_references(world: World) -> dict[str, int]:
    org_ids = tuple(sorted(world[label].org.pk for label in "ABC"))
    with connection.cursor() as cursor:
        cursor.execute(_reference_query(org_ids))
        return dict(cursor.fetchall())


def foreign_mail(world: World, since: int = 0) -> list[str]:
    theirs = {e for label in "BC" for e in world[label].emails.values()}
    return [
        f"an e-mail went to {to}"
        for m in mail.outbox[since:]
        for to in m.recipients()
        if to in theirs
    ]


# --- The tests -------------------------------------------------------------------------------


def test_it_finds_every_kind_of_route():
    names = {r.name for r in ORG_ROUTES}
    assert {"org_dashboard", "action_detail", "webhook_delivery", "ticketing_save"} <= names
    assert {"api_action_ticket", "api_webhook_delivery_replay", "api_system_answers"} <= names
    assert {"home", "profile", "org_list", "catalogue_index"} <= {r.name for r in ORGLESS_ROUTES}
    assert not {"admin", "login", "invitation_accept"} & {r.name for r in ORGLESS_ROUTES}
    # Every write body belongs to a route that exists: a renamed route must move its body.
    assert set(BODIES) <= {r.name for r in ALL_ROUTES}


def test_it_has_one_row_of_every_tenant_table_for_every_organisation(matrix_world):
    """A tenant model the world does not populate would make its fingerprint vacuous; a new
    one fails here until build_world makes one."""
    prints = fingerprint(matrix_world)
    empty = [t for t, (count, _) in prints.items() if count == 0 and t not in MAY_BE_EMPTY]
    assert not empty, f"build_world makes no row of {empty} for B and C"


def positive_control(route: Route, world: World, failures: list[str]) -> set[str]:
    """The admin's writes on A's own objects, each undone at once; returns the methods the
    route refuses (405) before any lookup. A body that does not work there would make the
    cross-organisation writes prove nothing."""
    own = {**world["A"].codes, "release_code": world.release_code}
    admin = client_for(world, ADMIN)
    refused = set()
    for method in METHODS[1:]:
        if route.name in NO_MIRROR:
            continue
        url = fill(route, own)
        with transaction.atomic():
            response = send(admin, route, method, url, body_for(route, method, world["A"]))
            transaction.set_rollback(True)
        if isinstance(response, Exception):
            failures.append(f"admin of A, {method} {url} (A's own) raised {response!r}")
        elif response.status_code == 405:
            refused.add(method)
        elif response.status_code >= 400 and (route.name, method) not in MIRROR_REFUSALS:
            failures.append(
                f"positive control: admin of A, {method} {url} on A's own objects → "
                f"{response.status_code}; fix its body in BODIES (or list it in "
                f"MIRROR_REFUSALS with the reason): {response.shown[:300]!r}"
            )
    return refused


@dataclass
class Sent:
    actor: Actor
    method: str
    url: str
    target: Target
    body: dict[str, Any]
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.actor}, {self.method} {self.url} ({self.target.label}) → {self.status}"


@dataclass
class State:
    rows: dict[str, tuple[int, str]]
    references: dict[str, int]
    mail: int


def state(world: World) -> State:
    return State(fingerprint(world), foreign_references(world), len(mail.outbox))


def damage(world: World, before: State) -> list[str]:
    """What B and C lost or gained since `before`: changed rows, new rows of A pointing at B's
    or C's rows or people, e-mail to their people."""
    now = state(world)
    return (
        changed(before.rows, now.rows)
        + [
            f"{count - before.references.get(column, 0)} more row(s) of {column} point at "
            "another organisation's row or person"
            for column, count in now.references.items()
            if count > before.references.get(column, 0)
        ]
        + foreign_mail(world, since=before.mail)
    )


def check_response(sent: Sent, response, client: Client, route: Route, world: World) -> list[str]:
    if isinstance(response, Exception):
        return [f"{sent.actor}, {sent.method} {sent.url} ({sent.target.label}) raised {response!r}"]
    sent.status = status = response.status_code
    problems = []
    if sent.target.foreign_url and status != 404 and not anonymous_refusal(sent.actor, response):
        own = world["A"].codes
        probe = send(
            client, route, sent.method, fill(route, missing(sent.target.codes, own)), sent.body
        )
        if not refused_before_lookup(response, probe):
            probe_status = getattr(probe, "status_code", probe)
            problems.append(f"{sent}: expected 404 (a code naming nothing gets {probe_status})")
    elif not sent.target.foreign_url and status >= 500:
        problems.append(f"{sent}: a server error")
    sent_text = sent.url + " " + json.dumps(sent.body)
    found = leaks(response.shown, world, sent.actor, sent_text)
    if found:
        problems.append(f"{sent}, shows {', '.join(found)}")
    return problems


def cross_failures(route: Route, world: World) -> list[str]:
    """Every actor of A, every method, every target of another organisation; see the module's
    docstring for what must hold."""
    failures: list[str] = []
    refused = positive_control(route, world, failures)
    for actor in actors_for(route):
        clean = state(world)
        client = client_for(world, actor)
        batch: list[Sent] = []
        mark = transaction.savepoint()
        for method in METHODS:
            # A method the route refuses before any lookup is tried by the admin alone.
            if method in refused and actor is not ADMIN:
                continue
            for target in cross_targets(route, world):
                if method == "GET" and not target.foreign_url:
                    continue  # A reading its own page: the own-organisation test's work
                sent = Sent(actor, method, fill(route, target.codes), target, {})
                sent.body = body_for(route, method, world[target.body_from])
                response = send(client, route, method, sent.url, sent.body)
                failures += check_response(sent, response, client, route, world)
                batch.append(sent)
        # One look at B and C per actor; if something moved, replay the actor's requests one
        # by one to say which did it.
        if damage(world, clean):
            transaction.savepoint_rollback(mark)
            for sent in batch:
                before = state(world)
                response = send(client, route, sent.method, sent.url, sent.body)
                harm = damage(world, before)
                if harm:
                    status = getattr(response, "status_code", response)
                    failures.append(
                        f"{sent.actor}, {sent.method} {sent.url} ({sent.target.label}) → "
                        f"{status}, {'; '.join(harm)}"
                    )
            transaction.savepoint_rollback(mark)
            del mail.outbox[clean.mail :]
        else:
            transaction.savepoint_commit(mark)
    return failures


@pytest.mark.parametrize("route", ORG_ROUTES, ids=str)
def test_it_gives_nothing_of_another_organisation_through(route, matrix_world):
    failures = cross_failures(route, matrix_world)
    assert not failures, f"{route.name}: {len(failures)} failure(s)\n  " + "\n  ".join(failures)


# Extra reads: export formats, and filters that name B's objects through A's organisation.
READ_QUERIES: dict[str, list[Callable[[dict[str, str]], str]]] = {
    "system_export": [lambda b: "?format=csv", lambda b: "?format=xlsx"],
    "action_export": [lambda b: "?format=csv", lambda b: "?format=xlsx"],
    "assessment_findings_export": [lambda b: "?format=csv", lambda b: "?format=xlsx"],
    "finding_export": [
        lambda b: "?format=csv",
        lambda b: "?format=xlsx",
        lambda b: f"?format=xlsx&system={b['system_code']}",
    ],
    "deadlines": [lambda b: "?format=ics", lambda b: f"?system={b['system_code']}"],
    "posture_report_pdf": [lambda b: "?lang=ja"],
    "action_create": [lambda b: f"?finding={b['finding_code']}"],
    "action_list": [lambda b: f"?system={b['system_code']}"],
    "finding_list": [lambda b: f"?system={b['system_code']}"],
    "api_assessments": [lambda b: f"?system={b['system_code']}"],
    "api_findings": [lambda b: f"?system={b['system_code']}"],
    "api_actions": [
        lambda b: f"?system={b['system_code']}",
        lambda b: f"?finding={b['finding_code']}",
        lambda b: f"?owner={b['_member_email']}",
    ],
}
READ_ROUTES = ORG_ROUTES + ORGLESS_ROUTES


@pytest.mark.parametrize("route", READ_ROUTES, ids=str)
def test_it_shows_only_ones_own_organisation_on(route, matrix_world):
    world = matrix_world
    own = {**world["A"].codes, "release_code": world.release_code}
    theirs = {**world["B"].codes, "_member_email": world["B"].emails[Role.CONTRIBUTOR]}
    base = fill(route, own)
    urls = [base] + [base + q(theirs) for q in READ_QUERIES.get(route.name, [])]
    readers = MEMBERS + (KEYS if route.api and "org_code" in route.keywords else [])
    failures, admin_statuses = [], {}
    for actor in readers:
        client = client_for(world, actor)
        for url in urls:
            response = send(client, route, "GET", url, {})
            if isinstance(response, Exception):
                failures.append(f"{actor}, GET {url} raised {response!r}")
                continue
            if actor is ADMIN:
                admin_statuses[url] = response.status_code
            found = leaks(response.shown, world, actor, url)
            if found:
                failures.append(
                    f"{actor}, GET {url} → {response.status_code}, shows {', '.join(found)}"
                )
            if response.status_code >= 500:
                failures.append(f"{actor}, GET {url} → {response.status_code}")
    if admin_statuses.get(base) == 405:
        pytest.skip(f"{route.name} takes no GET (its writes are in the cross-organisation test)")
    for url, status in admin_statuses.items():
        if status >= 400 and url == base:
            failures.append(
                f"positive control: admin of A, GET {url} on A's own objects → {status}"
            )
    assert not failures, f"{route.name}: {len(failures)} failure(s)\n  " + "\n  ".join(failures)


def test_it_catches_a_lookup_that_forgets_the_organisation(matrix_world, monkeypatch):
    """The matrix's own negative control: with the actions' scoping broken, it reports the
    read of B's action, its marker in the body and the write to B's row, naming each."""
    from assessments.models import RemediationAction
    from governance.models.tenancy import TenantQuerySet

    scoped = TenantQuerySet.for_org

    def forgetful(self, org):
        return self.all() if self.model is RemediationAction else scoped(self, org)

    monkeypatch.setattr(TenantQuerySet, "for_org", forgetful)
    route = next(r for r in ORG_ROUTES if r.name == "api_action")
    b_action = matrix_world["B"].codes["action_code"]

    failures = "\n".join(cross_failures(route, matrix_world))

    assert f"admin of A, GET /api/v1/orgs/{matrix_world['A'].codes['org_code']}" in failures
    assert f"actions/{b_action}/ (B's objects through A's organisation) → 200" in failures
    assert f"shows B's marker {SECRET['B']}" in failures
    assert re.search(
        r"read-write key of A, PATCH \S+ \(B's objects through A's organisation\) → 200, "
        r"[^\n]*B's or C's rows of assessments_remediationaction changed",
        failures,
    ), failures
    # A read-only key is refused before any lookup (403), broken scoping or not.
    assert "read-only key of A, PATCH" not in failures
