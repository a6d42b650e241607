"""Placeholder: inbound Jira / ServiceNow webhooks (issue 6)."""

urlpatterns: list = []
