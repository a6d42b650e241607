from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "Kakehashi"
admin.site.site_title = "Kakehashi"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("governance.api.urls")),
    path("", include("governance.urls")),
    path("", include("assessments.urls")),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
