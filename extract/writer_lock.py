"""One writer on the warehouse: a PostgreSQL advisory lock, held while a build runs.

The lock lives in the warehouse, so it holds whatever lake, machine or command the
writers come from. The CLI takes it around every command that rewrites the warehouse
(``pipeline.writing``); dbt takes it itself when ``dbt build`` or ``dbt run`` starts without the CLI,
on either target (``extract.dbt_plugin``). Either way it is held on a connection of its own from before
the "__next" schemas are reset until after they are published, and it ends with that
connection: a holder that dies frees it at once, and no heartbeat can be missed.
"""

from __future__ import annotations

import os
import socket
import threading

from psycopg2.extensions import parse_dsn

from .config import connect
from .storage import LockedError

__all__ = ["acquire", "release"]

# The advisory lock's two keys ("lake", "writ"): one lock per warehouse database.
KEYS = (0x6C616B65, 0x77726974)
HOLDER_QUERY = """
select a.application_name, a.usename, a.pid
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 2
  and l.classid = %s and l.objid = %s
  and l.database = (select oid from pg_database where datname = current_database())
"""

_state: dict = {"connection": None, "by": set()}
_mutex = threading.Lock()


def acquire(dsn: str, what: str, by: str) -> None:
    """Hold the lock for ``by`` (the CLI, or dbt), unless this process already holds it.

    ``what`` names the holder to whoever finds the lock taken. LockedError names the
    process that holds it; nothing waits. Unreachable when the warehouse cannot be reached.
    """
    with _mutex:
        if _state["connection"] is None:
            # The session's name tells whoever finds the lock taken who holds it, unless the
            # user names their connections themselves.
            named = parse_dsn(dsn).get("application_name") or os.environ.get("PGAPPNAME")
            name = named or f"{what}, pid {os.getpid()} on {socket.gethostname()}"[:63]
            connection = connect(dsn, application_name=name)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("select pg_try_advisory_lock(%s, %s)", KEYS)
                if not cursor.fetchone()[0]:
                    cursor.execute(HOLDER_QUERY, KEYS)
                    holder = cursor.fetchone()
                    connection.close()
                    who = f"{holder[0]} (role {holder[1]}, server pid {holder[2]})" if holder else "another run"
                    raise LockedError(f"the warehouse is being written by {who}: try again when it ends")
            _state["connection"] = connection
        _state["by"].add(by)


def release(by: str) -> None:
    """Let go of ``by``'s hold; the lock ends when nobody in this process holds it."""
    with _mutex:
        _state["by"].discard(by)
        if not _state["by"] and _state["connection"] is not None:
            _state["connection"].close()
            _state["connection"] = None
