"""REST API endpoints of the assessments app, under /api/v1/orgs/<org_code>/ (see
governance/api/urls.py for the whole map and governance/api/conventions.py for the rules)."""
