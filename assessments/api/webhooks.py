"""Placeholder: filled in by the REST API work (issue 6)."""

urlpatterns: list = []
