"""The map of /api/v1/. Each module owns its `urlpatterns`; the rules every endpoint follows
(errors, pagination, idempotency, ETags, throttling) live in conventions.py."""

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import catalogue

# Swagger UI under the strict content security policy: its start-up script is a second request
# to the same URL (?script=) and our template has no inline style; the only relaxation is data:
# images, which Swagger UI's stylesheet uses for its icons. Served from the sidecar, offline.
api_docs = csp_update({"img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(
        url_name="api_schema", template_name="governance/api/swagger_ui.html"
    )
)

org_patterns = [
    path("", include("governance.api.systems")),
    path("", include("governance.api.audit")),
    path("", include("assessments.api.runs")),
    path("", include("assessments.api.actions")),
    path("", include("assessments.api.webhooks")),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", api_docs, name="api_docs"),
    path("catalogue/releases/", catalogue.release_list, name="api_catalogue_releases"),
    path("catalogue/regulations/", catalogue.regulation_list, name="api_catalogue_regulations"),
    path("catalogue/obligations/", catalogue.obligation_list, name="api_catalogue_obligations"),
    path(
        "catalogue/obligations/<slug:code>/",
        catalogue.obligation_detail,
        name="api_catalogue_obligation",
    ),
    path("catalogue/crosswalk/", catalogue.crosswalk_list, name="api_catalogue_crosswalk"),
    path("orgs/<uuid:org_code>/", include(org_patterns)),
    path("inbound/", include("assessments.integrations.inbound")),
]
