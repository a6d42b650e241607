"""The conventions every /api/v1/ endpoint shares.

- Errors are RFC 9457 problem details (`application/problem+json`): type, title, status, detail,
  instance, a machine `code`, and `errors` ([{"pointer": "/field", "detail": …, "code": …}]) for
  invalid input.
- Lists use keyset (cursor) pagination: `?cursor=` from the previous page's `next`,
  `?page_size=` (1-200), `?ordering=` among the fields a view allows. Query parameters are
  checked: an unknown parameter or value is a 400 that names it.
- POST takes an `Idempotency-Key` header: a repeat returns the first response
  (`Idempotent-Replayed: true`); the same key with another request is a 422; one still in flight
  is a 409.
- Findings and actions carry an `ETag`; a PATCH with `If-Match` that no longer matches is a 412.
- Each client (key or user) has a request rate (`API_RATE`); over it is a 429 with Retry-After.
"""

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.utils.urls import replace_query_param

from .. import apikeys
from .auth import get_actor, principal

PROBLEM_JSON = "application/problem+json"


# Errors


def problem_type(code: str) -> str:
    return f"tag:kakehashi,2026:problem/{code}"


def _pointer(path: list[str]) -> str:
    return (
        "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else ""
    )


def _field_errors(detail: Any, path: list[str] | None = None) -> list[dict]:
    path = path or []
    if isinstance(detail, Mapping):
        out = []
        for key, value in detail.items():
            sub = path if key in ("non_field_errors", "__all__") else [*path, str(key)]
            out += _field_errors(value, sub)
        return out
    if isinstance(detail, list):
        if all(isinstance(item, (str, exceptions.ErrorDetail)) for item in detail):
            return [
                {
                    "pointer": _pointer(path),
                    "detail": str(item),
                    "code": getattr(item, "code", "invalid"),
                }
                for item in detail
            ]
        out = []
        for index, item in enumerate(detail):
            if item:
                out += _field_errors(item, [*path, str(index)])
        return out
    return [
        {
            "pointer": _pointer(path),
            "detail": str(detail),
            "code": getattr(detail, "code", "invalid"),
        }
    ]


def problem(
    status_code: int,
    *,
    code: str,
    detail: str,
    request: Request | None = None,
    errors: list[dict] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": str(detail),
        "code": code,
    }
    if request is not None:
        body["instance"] = request.path
    if errors is not None:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_JSON)


def plain_problem(request: HttpRequest, status_code: int, code: str, detail: str) -> JsonResponse:
    """Problem details for an answer given outside DRF (middleware, error handlers)."""
    body = {
        "type": problem_type(code),
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": str(detail),
        "code": code,
        "instance": request.path,
    }
    return JsonResponse(body, status=status_code, content_type=PROBLEM_JSON)


def too_large(request: HttpRequest, detail: str) -> JsonResponse:
    """413 for a body refused before DRF (or any view) has read it."""
    return plain_problem(request, 413, "too_large", detail)


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The resource has changed since you read it: fetch it again and retry.")
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the resource's current state.")
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("The request cannot be processed.")
    default_code = "unprocessable"


def problem_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler, answering in problem details."""
    # Imported here: DRF's views module loads this module's throttle while it is itself loading.
    from rest_framework.views import exception_handler

    if isinstance(exc, RequestDataTooBig):  # a body past DATA_UPLOAD_MAX_MEMORY_SIZE
        request = context.get("request")
        return too_large(request, _("The request body is too large."))  # type: ignore[return-value]
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(serializers.as_serializer_error(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        detail = errors[0]["detail"] if len(errors) == 1 else _("The request has invalid fields.")
        out = problem(400, code="invalid", detail=detail, request=request, errors=errors)
    elif isinstance(exc, (Http404, exceptions.NotFound)):
        detail = exc.detail if isinstance(exc, exceptions.NotFound) else _("Not found.")
        out = problem(404, code="not_found", detail=detail, request=request)
    else:
        detail = getattr(exc, "detail", response.data.get("detail", ""))
        code = detail.code if isinstance(detail, exceptions.ErrorDetail) else "error"
        out = problem(response.status_code, code=code, detail=detail, request=request)
    for name in ("WWW-Authenticate", "Retry-After", "Allow"):
        if name in response:
            out[name] = response[name]
    return out


@extend_schema_serializer(component_name="Problem")
class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details (documentation only)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    instance = serializers.CharField(required=False)
    errors = serializers.ListField(child=serializers.DictField(), required=False)


def problems(*codes: int) -> dict[tuple[int, str], OpenApiResponse]:
    """Schema entries for the error statuses an operation may answer (always 400, 401, 403, 404
    and 429), as `application/problem+json`."""
    return {
        (code, PROBLEM_JSON): OpenApiResponse(
            ProblemSerializer, description=HTTPStatus(code).phrase
        )
        for code in sorted({400, 401, 403, 404, 429, *codes})
    }


# Throttling


class ClientRateThrottle(SimpleRateThrottle):
    """One budget per API key or user; anonymous callers by address."""

    scope = "client"

    def get_rate(self) -> str | None:
        # Read at request time (DRF binds the rates at import), so a settings change applies.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Request, view) -> str:
        ident = principal(request) or f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


# Query parameters


class Params(serializers.Serializer):
    """A list endpoint's query parameters; one it does not know is an error, not ignored."""

    ALWAYS_ALLOWED = frozenset({"cursor", "page_size", "ordering"})

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields) - self.ALWAYS_ALLOWED)
        if unknown:
            known = ", ".join(sorted({*self.fields, *self.ALWAYS_ALLOWED}))
            message = _("Unknown parameter. This endpoint takes: %(known)s.") % {"known": known}
            raise serializers.ValidationError({unknown[0]: [message]})
        return attrs


def parse_params(params_class: type[Params], request: Request, **context) -> dict:
    data = {key: request.query_params.get(key) for key in request.query_params}
    params = params_class(data=data, context={"request": request, **context})
    params.is_valid(raise_exception=True)
    return params.validated_data


# Request bodies


class StrictInput(serializers.Serializer):
    """A request body; a field the operation does not take is an error, not ignored."""

    def validate(self, attrs: dict) -> dict:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                known = ", ".join(sorted(self.fields)) or "—"
                message = _("Unknown field. This operation takes: %(known)s.") % {"known": known}
                raise serializers.ValidationError({unknown[0]: [message]})
        return attrs


def require_editor(actor) -> None:
    if not actor.can_edit:
        raise exceptions.PermissionDenied(_("Your role cannot change this."))


# Pagination


def _row_compare(left: tuple, op: str, right: tuple) -> models.Func:
    """`(a, b) > (x, y)`: a row comparison, which PostgreSQL answers by starting an index scan
    on (…, a, b) at (x, y), where `a > x OR (a = x AND b > y)` scans every row with a = x."""

    def row(parts: tuple) -> models.Func:
        return models.Func(*parts, function="ROW")

    return models.Func(
        row(left), row(right), arg_joiner=f" {op} ", template="%(expressions)s",
        output_field=models.BooleanField(),
    )  # fmt: skip


class KeysetPagination(BasePagination):
    """Cursor pagination over (sort key, id): stable under inserts, constant cost at any depth.

    A view sets `orderings` ({name: expression}) and `default_ordering` ("-created_at"). The
    cursor is opaque to clients (base64 JSON of the last row's sort value and id). The queryset
    may be a `.values()` one that includes "id"; its page is then a list of dicts.
    """

    page_size = 50
    max_page_size = 200

    def paginate_queryset(self, queryset, request: Request, view=None):
        orderings: dict[str, Any] = view.orderings
        name = request.query_params.get("ordering") or view.default_ordering
        descending = name.startswith("-")
        key = name.removeprefix("-")
        if key not in orderings:
            choices = ", ".join(sorted({*orderings, *(f"-{k}" for k in orderings)}))
            raise exceptions.ValidationError(
                {"ordering": [_("Order by one of: %(choices)s.") % {"choices": choices}]}
            )
        expression = orderings[key]
        if isinstance(expression, str):
            expression = models.F(expression)
        self.size = self._page_size(request)
        sign = "-" if descending else ""
        rows = queryset.annotate(_sort=expression).order_by(f"{sign}_sort", f"{sign}id")
        after = self._decode(request.query_params.get("cursor"), rows)
        if after is not None:
            value, pk = after
            field = rows.query.annotations["_sort"].output_field
            rows = rows.filter(
                _row_compare(
                    (models.F("_sort"), models.F("id")),
                    "<" if descending else ">",
                    (models.Value(value, output_field=field), models.Value(pk)),
                )
            )
        page = list(rows[: self.size + 1])
        self.has_next = len(page) > self.size
        page = page[: self.size]
        self.request = request
        self.last = page[-1] if page else None
        return page

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get("page_size")
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError(
                {
                    "page_size": [
                        _("Give a whole number from 1 to %(max)s.") % {"max": self.max_page_size}
                    ]
                }
            )
        return size

    def _decode(self, raw: str | None, rows) -> tuple[Any, int] | None:
        if raw is None:
            return None
        try:
            value, pk = json.loads(base64.urlsafe_b64decode(raw.encode() + b"==="))
            field = rows.query.annotations["_sort"].output_field
            value = None if value is None else field.to_python(value)
            if value is None or not isinstance(pk, int):
                raise ValueError
        except (ValueError, TypeError, binascii.Error, UnicodeError, DjangoValidationError):
            raise exceptions.ValidationError(
                {"cursor": [_("The cursor is not valid: use the `next` link of a page.")]}
            ) from None
        return value, pk

    def _encode(self, row) -> str:
        # A model instance, or a row of `.values()` (which must include the id).
        value, pk = (row["_sort"], row["id"]) if isinstance(row, dict) else (row._sort, row.pk)
        value = value.isoformat() if hasattr(value, "isoformat") else value
        raw = json.dumps([value, pk], cls=DjangoJSONEncoder).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def get_next_link(self) -> str | None:
        if not self.has_next or self.last is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, "cursor", self._encode(self.last))

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        orderings = sorted({*view.orderings, *(f"-{k}" for k in view.orderings)})
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The `next` link's cursor of the previous page.",
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
            {
                "name": "ordering",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": orderings, "default": view.default_ordering},
            },
        ]


# Idempotency


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    # What `idempotent` accepts: 1 to 255 printable ASCII characters.
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description="Repeat a POST safely: the same key returns the first response for a day.",
)


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.get_full_path().encode() + b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def idempotent(handler: Callable) -> Callable:
    """Wrap a view's POST handler so an Idempotency-Key makes repeats return the first answer."""

    @wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not key or len(key) > 255 or not key.isprintable() or not key.isascii():
            raise exceptions.ValidationError(
                {"Idempotency-Key": [_("Use 1 to 255 printable ASCII characters.")]}
            )
        actor = view.actor
        who = principal(request)
        fingerprint = _fingerprint(request)
        try:
            record, created = apikeys.idempotency_claim(
                org=actor.organisation,
                principal=who,
                key=key,
                method=request.method,
                path=request.path,
                fingerprint=fingerprint,
            )
        except IntegrityError:
            raise Conflict(_("A request with this Idempotency-Key is still in progress.")) from None
        if not created:
            if record.fingerprint != fingerprint:
                raise Unprocessable(_("This Idempotency-Key was used for a different request."))
            if record.status_code is None:
                raise Conflict(_("A request with this Idempotency-Key is still in progress."))
            return Response(
                apikeys.idempotency_body(record),
                status=record.status_code,
                headers={**record.headers, "Idempotent-Replayed": "true"},
            )
        try:
            response = handler(view, request, *args, **kwargs)
        except BaseException:
            apikeys.idempotency_abandon(record)
            raise
        if response.status_code >= 500:
            apikeys.idempotency_abandon(record)
            return response
        apikeys.idempotency_store(
            record,
            status_code=response.status_code,
            body=response.data,
            headers={name: response[name] for name in ("Location", "ETag") if name in response},
        )
        return response

    return wrapper


# ETags


IF_MATCH_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag you read; the change is refused with 412 if the resource moved on.",
)


def etag_of(data: Mapping) -> str:
    raw = json.dumps(data, sort_keys=True, cls=DjangoJSONEncoder).encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def check_if_match(request: Request, current: Mapping) -> None:
    """412 when the request's If-Match names none of the current representation's ETag."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    tags = {tag.strip() for tag in header.split(",")}
    if etag_of(current) not in tags:
        raise PreconditionFailed()


# Views


class OrgScoped:
    """Mixin for views under /api/v1/orgs/<org_code>/: resolves `self.actor` after auth."""

    actor: Any

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.actor = get_actor(request, kwargs.get("org_code"))
