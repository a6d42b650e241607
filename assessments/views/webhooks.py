"""Webhook settings pages: endpoints, their secrets, and the delivery log.

Organisation admins only: other members get 403, anyone outside the organisation 404. A signing
secret is shown once, in the answer to the POST that made it, and never stored in the session.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.access import get_membership_for_user, require_role
from governance.models import Membership, Role

from ..integrations import webhooks
from ..models import DeliveryStatus, EventType
from ..webhook_forms import EndpointForm

PAGE_SIZE = 50
EVENT_LABELS = dict(EventType.choices)
STATUS_LABELS = dict(DeliveryStatus.choices)


def _admin(request: HttpRequest, org_code) -> Membership:
    membership = get_membership_for_user(request, org_code)
    require_role(membership, Role.ADMIN)
    return membership


def _context(membership: Membership, **extra) -> dict:
    return {"membership": membership, "org": membership.organisation, **extra}


def _secret_page(request: HttpRequest, membership: Membership, endpoint, secret, *, rotated):
    context = _context(membership, endpoint=endpoint, secret=secret, rotated=rotated)
    return render(request, "assessments/webhooks/secret.html", context)


@login_required
@require_GET
def webhook_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = _admin(request, org_code)
    rows = [
        {
            "endpoint": e,
            "events": [EVENT_LABELS.get(t, t) for t in e.event_types],
            "last_status": STATUS_LABELS.get(e.last_status, ""),
        }
        for e in webhooks.endpoints(membership.organisation)
    ]
    return render(request, "assessments/webhooks/list.html", _context(membership, rows=rows))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_create(request: HttpRequest, org_code) -> HttpResponse:
    membership = _admin(request, org_code)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhooks.endpoint_create(actor=membership, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _secret_page(request, membership, endpoint, secret, rotated=False)
    return render(
        request,
        "assessments/webhooks/form.html",
        _context(membership, form=form, creating=True),
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def webhook_edit(request: HttpRequest, org_code, webhook_code) -> HttpResponse:
    membership = _admin(request, org_code)
    endpoint = webhooks.get_endpoint(membership.organisation, webhook_code)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
    }
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.endpoint_update(actor=membership, endpoint=endpoint, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Webhook endpoint saved."))
            return redirect("webhook_list", org_code=membership.organisation.code)
    return render(
        request,
        "assessments/webhooks/form.html",
        _context(membership, form=form, endpoint=endpoint, creating=False),
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, org_code, webhook_code) -> HttpResponse:
    membership = _admin(request, org_code)
    endpoint = webhooks.get_endpoint(membership.organisation, webhook_code)
    if request.method == "POST":
        webhooks.endpoint_delete(actor=membership, endpoint=endpoint)
        messages.success(request, _("Webhook endpoint deleted."))
        return redirect("webhook_list", org_code=membership.organisation.code)
    return render(
        request,
        "assessments/webhooks/confirm.html",
        _context(membership, endpoint=endpoint, rotating=False),
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_rotate(request: HttpRequest, org_code, webhook_code) -> HttpResponse:
    membership = _admin(request, org_code)
    endpoint = webhooks.get_endpoint(membership.organisation, webhook_code)
    if request.method == "POST":
        secret = webhooks.endpoint_rotate_secret(actor=membership, endpoint=endpoint)
        return _secret_page(request, membership, endpoint, secret, rotated=True)
    return render(
        request,
        "assessments/webhooks/confirm.html",
        _context(membership, endpoint=endpoint, rotating=True),
    )


@login_required
@require_POST
def webhook_enable(request: HttpRequest, org_code, webhook_code) -> HttpResponse:
    membership = _admin(request, org_code)
    endpoint = webhooks.get_endpoint(membership.organisation, webhook_code)
    webhooks.endpoint_enable(actor=membership, endpoint=endpoint)
    messages.success(request, _("Webhook endpoint enabled: held deliveries go out now."))
    return redirect("webhook_list", org_code=membership.organisation.code)


@login_required
@require_GET
def webhook_deliveries(request: HttpRequest, org_code, webhook_code) -> HttpResponse:
    membership = _admin(request, org_code)
    org = membership.organisation
    endpoint = webhooks.get_endpoint(org, webhook_code)
    status = request.GET.get("status", "")
    if status and status not in DeliveryStatus.values:
        return HttpResponseBadRequest(_("Unknown delivery status."))
    rows = webhooks.deliveries(org, endpoint=endpoint, status=status or None)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = _context(
        membership, endpoint=endpoint, page=page, status=status, statuses=DeliveryStatus.choices
    )
    return render(request, "assessments/webhooks/deliveries.html", context)


@login_required
@require_GET
def webhook_delivery(request: HttpRequest, org_code, webhook_code, delivery_code) -> HttpResponse:
    membership = _admin(request, org_code)
    org = membership.organisation
    endpoint = webhooks.get_endpoint(org, webhook_code)
    delivery = webhooks.get_delivery(org, delivery_code, endpoint=endpoint)
    context = _context(
        membership,
        endpoint=endpoint,
        delivery=delivery,
        payload=json.dumps(delivery.event.payload, indent=2, ensure_ascii=False, sort_keys=True),
        attempts=webhooks.attempts(delivery),
    )
    return render(request, "assessments/webhooks/delivery.html", context)


@login_required
@require_POST
def webhook_delivery_replay(
    request: HttpRequest, org_code, webhook_code, delivery_code
) -> HttpResponse:
    membership = _admin(request, org_code)
    org = membership.organisation
    endpoint = webhooks.get_endpoint(org, webhook_code)
    delivery = webhooks.get_delivery(org, delivery_code, endpoint=endpoint)
    try:
        webhooks.delivery_replay(actor=membership, delivery=delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The delivery is queued to be sent again."))
    return redirect(
        "webhook_delivery",
        org_code=org.code,
        webhook_code=endpoint.code,
        delivery_code=delivery.code,
    )


urlpatterns = [
    path("", webhook_list, name="webhook_list"),
    path("new/", webhook_create, name="webhook_create"),
    path("<uuid:webhook_code>/", webhook_edit, name="webhook_edit"),
    path("<uuid:webhook_code>/delete/", webhook_delete, name="webhook_delete"),
    path("<uuid:webhook_code>/rotate/", webhook_rotate, name="webhook_rotate"),
    path("<uuid:webhook_code>/enable/", webhook_enable, name="webhook_enable"),
    path("<uuid:webhook_code>/deliveries/", webhook_deliveries, name="webhook_deliveries"),
    path(
        "<uuid:webhook_code>/deliveries/<uuid:delivery_code>/",
        webhook_delivery,
        name="webhook_delivery",
    ),
    path(
        "<uuid:webhook_code>/deliveries/<uuid:delivery_code>/replay/",
        webhook_delivery_replay,
        name="webhook_delivery_replay",
    ),
]
