from django.urls import path

from . import catalogue

urlpatterns = [
    path("catalogue/releases/", catalogue.release_list, name="api_catalogue_releases"),
    path("catalogue/regulations/", catalogue.regulation_list, name="api_catalogue_regulations"),
    path("catalogue/obligations/", catalogue.obligation_list, name="api_catalogue_obligations"),
    path(
        "catalogue/obligations/<slug:code>/",
        catalogue.obligation_detail,
        name="api_catalogue_obligation",
    ),
    path("catalogue/crosswalk/", catalogue.crosswalk_list, name="api_catalogue_crosswalk"),
]
