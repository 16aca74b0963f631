"""The evidence: the headline mart read back from the warehouse, as CSV and JSON."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .sql import literal

__all__ = ["EVIDENCE_QUERY", "export_evidence"]

EVIDENCE_QUERY = """
select order_id, customer_id, customer_name, order_date, product_id, product_name,
       unit_price, quantity, discount, line_total
from warehouse.marts.order_lines
order by order_id, product_id
"""


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
    paths = []
    for suffix, options in (("csv", "(format csv, header true)"), ("json", "(format json, array true)")):
        path = folder / f"orders_with_details.{suffix}"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        con.execute(f"copy evidence to {literal(str(tmp))} {options}")
        os.replace(tmp, path)
        paths.append(path)
    rows = con.execute("select count(*) from evidence").fetchone()[0]
    return rows, paths
