"""The Celery application, configured from Django settings (CELERY_ namespace)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("kakehashi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.worker_process_init.connect
@signals.beat_init.connect
def _system_scope(**kwargs) -> None:
    """Workers and beat act for every organisation (row-level security: governance/rls.py).
    Each task still scopes its own queries by organisation; the database does not."""
    from governance import rls

    rls.set_process_default(rls.EVERYTHING)
