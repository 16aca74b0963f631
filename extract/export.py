"""The evidence: the headline mart read back from the warehouse, as CSV and JSON."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .sql import literal

__all__ = ["export_evidence", "published_day"]

# The published marts' run date (step 2 notes it on the schema) beside their rows, in one
# statement: one snapshot, so a load publishing meanwhile cannot pair one day's date with
# another day's rows. No marts schema, no row.
EVIDENCE_QUERY = """
select published.note, o.order_id, o.customer_id, o.customer_name, o.order_date, o.product_id,
       o.product_name, o.unit_price, o.quantity, o.discount, o.line_total
from (select obj_description(oid, 'pg_namespace') as note from pg_namespace where nspname = 'marts') published
left join marts.order_lines o on true
"""


def published_day(note: str | None) -> str | None:
    """The run date in a published schema's note ("run_date YYYY-MM-DD", macros/publish.sql), or None."""
    return note.removeprefix("run_date ") if note and note.startswith("run_date ") else None


def export_evidence(con: duckdb.DuckDBPyConnection, date: str, folder: Path) -> tuple[int, list[Path]]:
    """Write ``orders_with_details.csv`` and ``.json`` of ``date`` into ``folder``, each whole or not at all.

    Args:
        con: DuckDB connection with the warehouse attached as ``warehouse``.
        date: the run date the warehouse must publish; ValueError when it publishes another.
        folder: ``data/exports/<date>/``.

    Returns:
        The row count and the two paths.
    """
    con.execute(f"create or replace temp table fetched as from postgres_query('warehouse', {literal(EVIDENCE_QUERY)})")
    note = con.execute("select any_value(note) from fetched").fetchone()[0]
    published = published_day(note)
    if published != date:
        raise ValueError(
            f"the warehouse publishes {published or 'no'} run date, not {date}: run make load DATE={date} first"
        )
    con.execute(
        "create or replace temp table evidence as select * exclude (note) from fetched "
        "where order_id is not null order by order_id, product_id"
    )
    folder.mkdir(parents=True, exist_ok=True)
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
