"""Placeholder: filled in by the integrations work (issue 6)."""

urlpatterns: list = []
