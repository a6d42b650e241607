"""Outbound webhooks and ticketing connectors (Jira Cloud, ServiceNow)."""
