"""Chaos runs on loopback: what `make chaos` runs, as `python -m scripts.chaos [--long]`.

It starts a private PostgreSQL and Redis (devstack's servers, data under var/chaos/, Redis with
an append-only file), a Celery worker, beat, gunicorn and a webhook receiver of its own, all on
127.0.0.1, then breaks them on purpose and checks the guarantees the README gives:

    1  worker killed   SIGKILL the worker mid-assessment 20 times; every run completes, no
                       finding is written twice
    2  Redis restart   SIGKILL Redis mid-batch and start it on the same append-only file;
                       every assessment of the batch completes
    3  PostgreSQL      a fast shutdown mid-batch, then a start; runs retry and complete, and
       restart         the web app answers 503 (never 500) while the database is away
    4  receiver down   the webhook receiver refuses connections, then answers 503, then comes
                       back; it sees every event and accepts each webhook-id once

All the while a probe asks gunicorn for the health check, an API list and a page, and counts
the answers by status. The figures go to var/chaos/report.json and var/chaos/report.md; the exit
code is 1 when a guarantee is broken (a loss, a duplicate, a 5xx after recovery, a scenario over
its time bound). Every process it starts is stopped on exit, Ctrl-C and failure included.

Only the standard library is imported at module level (plus this package), so that the pure
parts (report, receiver) are importable and testable without Django.

    cli        arguments, the run's order, the exit code
    cluster    the processes: servers, worker, beat, gunicorn; kills and restarts
    app        the Django side: the organisation, its systems, keys; the figures from the database
    scenarios  the four scenarios
    probe      the 5xx probe
    receiver   the webhook receiver (Standard Webhooks signatures, webhook-id deduplication)
    report     the figures, the verdicts and report.json / report.md
"""
