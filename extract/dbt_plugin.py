"""The project's dbt plugin (plugin/dbt_lakehouse.py): ``dbt build`` and ``dbt run`` hold the warehouse's writer lock.

dbt starts its plugins when it loads the project, before it parses, opens a connection or
runs a hook, on every target. So a bare ``dbt build`` takes the lock before it resets the
"__next" schemas, exactly as ``make load`` does, and refuses to start while another run
holds it. dbt-postgres closes its connection after every node, so the lock has to live
in dbt's process, not in a hook. It ends with the process; the CLI, which runs dbt in its
own process, already holds it and releases dbt's share after each run
(``extract.dbt.release_duckdb``). Spark's build writes no warehouse and takes none.

A refusal ends dbt's own command line with exit code 75, as it ends the CLI (README: exit
codes), so a scheduler tells "try again later" from a failed build; dbt prints the line
naming the holder as it prints any error. dbtRunner callers get the LockedError itself.
"""

from __future__ import annotations

import os

import click
from dbt.flags import get_flags
from dbt.plugins.manager import dbtPlugin
from dbt_common.invocation import get_invocation_id
from psycopg2.extensions import make_dsn

from . import writer_lock
from .storage import LockedError

__all__ = ["WriterLock"]

# dbt retry reruns the last command, perhaps a build: dbt names it only after the plugins start.
WRITING = ("build", "run", "retry")
PROJECT = "lakehouse"  # dbt_project.yml's name


def warehouse_dsn(credentials) -> str | None:
    """The warehouse a target writes: the Postgres dbt-duckdb attaches, or dbt-postgres' own database."""
    if credentials.type == "duckdb":
        return next((entry.path for entry in credentials.attach or () if entry.alias == "warehouse"), None)
    if credentials.type == "postgres":
        fields = ("host", "port", "user", "password", "connect_timeout", "sslmode", "sslcert", "sslkey", "sslrootcert")
        dsn = {field: getattr(credentials, field) for field in fields}
        return make_dsn(dbname=credentials.database, **{k: v for k, v in dsn.items() if v not in (None, "")})
    return None


class WriterLock(dbtPlugin):
    def initialize(self) -> None:
        # dbt starts every installed plugin for every project: other projects in this venv
        # (the bench's trivial one, say) are none of the lock's business.
        command = getattr(get_flags(), "WHICH", None)
        if self.project_name != PROJECT or command not in WRITING:
            return
        context = click.get_current_context(silent=True)  # dbt's CLI or dbtRunner; not a bare parse
        profile = context.obj.get("profile") if context and isinstance(context.obj, dict) else None
        dsn = warehouse_dsn(profile.credentials) if profile else None
        if dsn is not None:
            try:
                writer_lock.acquire(dsn, f"dbt {command}", "dbt", invocation=get_invocation_id())
            except LockedError:
                if "dbt_runner_command_args" not in context.obj:  # dbt's command line, not dbtRunner
                    context.call_on_close(_exit_locked)
                raise


def _exit_locked() -> None:
    """End dbt's command line with 75 (EX_TEMPFAIL, the CLI's EXIT_LOCKED), not the 2 it gives any error.

    Called as click closes the command's context, after dbt reported the refusal: click
    exits with the code of an Exit raised there.
    """
    raise click.exceptions.Exit(os.EX_TEMPFAIL)
