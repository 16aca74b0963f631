"""What the published history says of its tables: those kept as published this run, and those no longer extracted.

Step 2 (dbt_project/macros/history.sql) records both in each history table's comment, with
what it was built from; the load keeps them in its ledger entry, and the run's summary and
``make status`` print them.
"""

from __future__ import annotations

import json
from contextlib import closing

import psycopg2

from .config import Unreachable, connect

__all__ = ["history_notes", "note_lines"]

COMMENTS = """
select c.relname::text, obj_description(c.oid, 'pg_class')
from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = 'history' and c.relkind = 'r'
order by 1
"""


def history_notes(dsn: str) -> dict[str, dict[str, str]]:
    """By kind, ``refused`` (kept as published: why, and what to do) and ``gone`` (no longer
    extracted: since when, and why), the history tables the warehouse ``dsn`` publishes that have one."""
    notes: dict[str, dict[str, str]] = {"refused": {}, "gone": {}}
    try:
        with closing(connect(dsn, connect_timeout=10)) as conn, conn.cursor() as cursor:
            cursor.execute(COMMENTS)
            comments = cursor.fetchall()
    except (Unreachable, psycopg2.Error):
        return notes  # the day is published: what it says of its tables is the warehouse's to tell later
    for table, comment in comments:
        try:
            built = json.loads(comment) if comment and comment.startswith("{") else {}
        except ValueError:
            continue  # a comment of a user's
        for kind in notes:
            if isinstance(built.get(kind), str):
                notes[kind][table] = built[kind]
    return notes


def note_lines(notes: dict[str, dict[str, str]]) -> list[str]:
    """One line per table of ``notes`` (``history_notes``), for the summary and ``make status``."""
    return [f"history.{table} kept as published: {why}" for table, why in notes.get("refused", {}).items()] + [
        f"history.{table} no longer extracted ({why}): its history is kept"
        for table, why in notes.get("gone", {}).items()
    ]
