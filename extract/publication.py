"""What a publish could not keep of what users built on the warehouse's schemas.

The publish (dbt_project/macros/publish.sql, lakehouse_swap) keeps users' views, grants and
objects across the swap, and names in ``lakehouse.publications.not_kept`` each one it could
not make again; the load keeps those lines in its ledger entry, and the run's summary and
``make status`` print them.
"""

from __future__ import annotations

from contextlib import closing

import psycopg2

from .config import Unreachable, connect

__all__ = ["not_kept"]

QUERY = "select coalesce(not_kept, '{}') from lakehouse.publications where ledger_run = %s"


def not_kept(dsn: str, run: str) -> list[str]:
    """The objects the publish of ledger run ``run`` could not keep, one line each, with why."""
    try:
        with closing(connect(dsn, connect_timeout=10)) as conn, conn.cursor() as cursor:
            cursor.execute(QUERY, (run,))
            return [line for (lines,) in cursor.fetchall() for line in lines]
    except (Unreachable, psycopg2.Error):
        return []  # the day is published: what it could not keep is in dbt's log and the warehouse
