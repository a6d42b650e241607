#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from governance import rls

    # Commands are the operator's tools: outside a request they see every organisation's rows
    # (runserver's requests are scoped by TenantScopeMiddleware like gunicorn's).
    rls.set_process_default(rls.EVERYTHING)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
