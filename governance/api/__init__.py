"""The REST API (`/api/v1/`): read-only endpoints built with Django REST framework."""
