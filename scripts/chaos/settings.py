"""The app's own settings for a chaos run, with one difference: static files.

Production's compressed manifest storage needs `collectstatic`, which spends about a minute of
CPU compressing Swagger UI and friends; the chaos run never asks for a static file, and pages
render the same with the plain storage. Everything else (DEBUG off, the error handlers, Celery,
the database and the cache) is production's, from the environment.
"""

from config.settings import *  # noqa: F403
from config.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
