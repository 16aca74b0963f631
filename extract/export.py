"""The evidence: the headline mart read back from the warehouse, as CSV and JSON."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .sql import literal

__all__ = ["EVIDENCE_QUERY", "export_evidence", "published_date"]

EVIDENCE_QUERY = """
select order_id, customer_id, customer_name, order_date, product_id, product_name,
       unit_price, quantity, discount, line_total
from warehouse.marts.order_lines
order by order_id, product_id
"""


PUBLISHED_QUERY = "select obj_description(oid, 'pg_namespace') as note from pg_namespace where nspname = 'marts'"


def published_date(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run date of the marts the warehouse publishes (step 2 notes it on the schema), or None."""
    rows = con.execute(f"select note from postgres_query('warehouse', {literal(PUBLISHED_QUERY)})").fetchall()
    note = rows[0][0] if rows else None
    return note.removeprefix("run_date ") if note and note.startswith("run_date ") else None


def export_evidence(con: duckdb.DuckDBPyConnection, folder: Path) -> tuple[int, list[Path]]:
    """Write ``orders_with_details.csv`` and ``.json`` into ``folder``, each whole or not at all.

    Args:
        con: DuckDB connection with the warehouse attached as ``warehouse``.
        folder: ``data/exports/<date>/``.

    Returns:
        The row count and the two paths.
    """
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(f"create or replace temp table evidence as {EVIDENCE_QUERY}")
    written = {}
    try:
        for suffix, options in (("csv", "(format csv, header true)"), ("json", "(format json, array true)")):
            path = folder / f"orders_with_details.{suffix}"
            written[path] = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            con.execute(f"copy evidence to {literal(str(written[path]))} {options}")
        for path, tmp in written.items():  # both files are written before either replaces the old pair
            os.replace(tmp, path)
    finally:
        for tmp in written.values():
            tmp.unlink(missing_ok=True)
    paths = list(written)
    rows = con.execute("select count(*) from evidence").fetchone()[0]
    return rows, paths
