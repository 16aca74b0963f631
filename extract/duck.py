"""DuckDB connections with the Postgres scanner loaded from its PyPI wheel (no download)."""

from __future__ import annotations

import duckdb
import duckdb_extensions

__all__ = ["connect"]


def connect(*, threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with the postgres extension installed from the wheel.

    Args:
        threads: DuckDB worker threads (None keeps DuckDB's default: one per core).
        memory_limit: DuckDB memory limit such as ``"1GB"`` (None keeps DuckDB's default).

    Returns:
        A connection on which ``ATTACH '...' (TYPE postgres)`` works offline.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    duckdb_extensions.import_extension("postgres_scanner", con=con)
    con.execute("LOAD postgres_scanner")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    return con
