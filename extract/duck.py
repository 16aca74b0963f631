"""DuckDB connections with the extensions installed from their PyPI wheels (no download)."""

from __future__ import annotations

import duckdb
import duckdb_extensions

__all__ = ["connect", "install_extensions"]

# The postgres scanner (source and warehouse) and httpfs (a lake on S3, read by dbt-duckdb).
EXTENSIONS = ("postgres_scanner", "httpfs")


def install_extensions(con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Install the extensions from their wheels into DuckDB's extension folder, where any
    DuckDB of this version (dbt-duckdb's too) loads them from instead of downloading them."""
    for name in EXTENSIONS:
        duckdb_extensions.import_extension(name, con=con)


def connect(*, threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with the postgres extension installed from the wheel.

    Args:
        threads: DuckDB worker threads (None keeps DuckDB's default: one per core).
        memory_limit: DuckDB memory limit such as ``"1GB"`` (None keeps DuckDB's default).

    Returns:
        A connection on which ``ATTACH '...' (TYPE postgres)`` works offline.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    install_extensions(con)
    con.execute("LOAD postgres_scanner")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    return con
