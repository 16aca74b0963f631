"""One writer on the warehouse: a PostgreSQL advisory lock, held while a build runs, and fenced.

The lock lives in the warehouse, so it holds whatever lake, machine or command the
writers come from. The CLI takes it around every command that rewrites the warehouse
(``pipeline.writing``); dbt takes it itself when ``dbt build`` or ``dbt run`` starts without the CLI,
on either target (``extract.dbt_plugin``). Either way it is held on a connection of its own from before
the "__next" schemas are reset until after they are published, and it ends with that
connection: a holder that dies frees it at once, and no heartbeat can be missed.

A lock can be lost while its holder lives: a DBA ends its idle-looking session, the server
restarts, the network drops, or the lake's lock of the day is taken over (``storage``). So
every acquisition takes the next *fencing token* in ``lakehouse.writer_lock``, in the same
session, and records there the dbt invocation that builds under it; the publish transaction
(macros/publish.sql) proves in itself that the row still names its invocation and that the
session that took it still holds the lock, or rolls back. A watchdog
checks the session every WATCH_S seconds and stops the run at once when it is gone
(``storage.lose``), so a run that lost its lock stops writing before the next one starts.
"""

from __future__ import annotations

import os
import socket
import threading
from contextlib import closing

import psycopg2
from psycopg2.extensions import parse_dsn

from . import storage
from .config import connect
from .storage import LockedError, LockLost

__all__ = ["KEYS", "LOST", "acquire", "release"]

# The advisory lock's two keys ("lake", "writ"): one lock per warehouse database.
KEYS = (0x6C616B65, 0x77726974)
# How the publish's refusal begins (macros/publish.sql, lakehouse_fence), which the CLI recognizes.
LOST = "the warehouse writer lock was lost"
WATCH_S = float(os.environ.get("LAKEHOUSE_LOCK_WATCH_S", 1))
NAME = "warehouse writer lock"
HOLDER_QUERY = """
select a.application_name, a.usename, a.pid
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 2
  and l.classid = %s and l.objid = %s
  and l.database = (select oid from pg_database where datname = current_database())
"""
# The next token, taken in the lock's own session: a publish still in flight holds the row,
# so a new holder's token waits for it to commit or roll back.
FENCE = """
create schema if not exists lakehouse;
create table if not exists lakehouse.writer_lock (
    id int primary key check (id = 1), token bigint not null, pid int not null,
    holder text not null, acquired_at timestamptz not null default now(), invocation text);
insert into lakehouse.writer_lock as w (id, token, pid, holder) values (1, 1, pg_backend_pid(), %(holder)s)
on conflict (id) do update
set token = w.token + 1, pid = excluded.pid, holder = excluded.holder, acquired_at = now(), invocation = null
returning token
"""
# The dbt invocation building under the lock, which its publish names (publish.sql, lakehouse_fence).
INVOCATION = "update lakehouse.writer_lock set invocation = %s where token = %s"
# A session cut off by the network is noticed in seconds, not after the kernel's two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}

_state: dict = {"connection": None, "by": set(), "stop": None, "dsn": None, "token": None}
_mutex = threading.Lock()


def acquire(dsn: str, what: str, by: str, invocation: str | None = None) -> None:
    """Hold the lock for ``by`` (the CLI, or dbt), unless this process already holds it.

    ``what`` names the holder to whoever finds the lock taken. LockedError names the
    process that holds it; nothing waits. Unreachable when the warehouse cannot be reached.
    ``invocation``: the dbt invocation that builds under the lock, recorded with its token;
    LockLost when the lock was lost before it.
    """
    with _mutex:
        if _state["connection"] is None:
            # The session's name tells whoever finds the lock taken who holds it, unless the
            # user names their connections themselves.
            named = parse_dsn(dsn).get("application_name") or os.environ.get("PGAPPNAME")
            name = named or f"{what}, pid {os.getpid()} on {socket.gethostname()}"[:63]
            connection = connect(dsn, application_name=name, **KEEPALIVES)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("select pg_try_advisory_lock(%s, %s)", KEYS)
                if not cursor.fetchone()[0]:
                    who = _holder(cursor)
                    connection.close()
                    raise LockedError(f"the warehouse is being written by {who}: try again when it ends")
                try:
                    cursor.execute(FENCE, {"holder": name})
                except psycopg2.Error:
                    connection.close()  # and the lock with it
                    raise
                token = cursor.fetchone()[0]
            _state.update(connection=connection, stop=threading.Event(), dsn=dsn, token=token)
            threading.Thread(target=_watch, args=(connection, _state["stop"]), name=NAME, daemon=True).start()
        _state["by"].add(by)
        if invocation is not None:
            _record(invocation)


def release(by: str) -> None:
    """Let go of ``by``'s hold; the lock ends when nobody in this process holds it."""
    with _mutex:
        _state["by"].discard(by)
        if not _state["by"] and _state["connection"] is not None:
            _close()


def _close() -> None:
    """End the lock's session (the server lets the lock go with it); under the mutex."""
    _state["stop"].set()
    _state["connection"].close()
    _state["connection"] = None


def _record(invocation: str) -> None:
    """Name ``invocation`` in the lock's row, on its own session; LockLost when that session or token is gone."""
    try:
        with _state["connection"].cursor() as cursor:
            cursor.execute(INVOCATION, (invocation, _state["token"]))
            if cursor.rowcount == 1:
                return
            reason = "taken since by " + _holder(cursor, "nobody")
    except psycopg2.Error as exc:
        reason = f"its session ended: {str(exc).strip().splitlines()[0]}"
    raise LockLost(f"{LOST} before dbt started: {reason}; nothing published")


def _holder(cursor, none: str = "another run") -> str:
    """Who holds the lock now, as the server sees it (``none`` when nobody does)."""
    cursor.execute(HOLDER_QUERY, KEYS)
    holder = cursor.fetchone()
    return f"{holder[0]} (role {holder[1]}, server pid {holder[2]})" if holder else none


def _watch(connection, stop: threading.Event) -> None:
    """Check every WATCH_S seconds that the lock's session lives; else stop the run (``storage.lose``)."""
    while not stop.wait(WATCH_S):
        with _mutex:
            if stop.is_set():
                return
            try:
                with connection.cursor() as cursor:
                    cursor.execute("select 1")
                continue
            except psycopg2.Error as exc:
                reason = f"its session ended: {str(exc).strip().splitlines()[0]}"
        storage.lose(NAME, f"{reason}; now held by {_now_held()}")
        return


def _now_held() -> str:
    """Who holds the lock after this run lost it, or why that cannot be told."""
    try:
        with closing(connect(_state["dsn"], connect_timeout=5)) as conn, conn.cursor() as cursor:
            return _holder(cursor, "nobody")
    except Exception as exc:  # the server may be what is gone
        return f"nobody this run can see ({str(exc).strip().splitlines()[0]})"


def _lost_elsewhere(key: str) -> None:
    """A lock of the lake's lost: end the warehouse's too, so this run's publish is refused."""
    with _mutex:
        if _state["connection"] is not None:
            _close()


storage.on_lost(_lost_elsewhere)
