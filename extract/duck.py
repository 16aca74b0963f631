"""DuckDB connections with the extensions installed from their PyPI wheels (no download)."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import duckdb_extensions

from .sql import literal

__all__ = ["connect", "install_extensions", "read_s3"]

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


def read_s3(con: duckdb.DuckDBPyConnection, aws: Mapping[str, str]) -> None:
    """Let ``con`` read ``s3://`` URLs with the AWS variables a dbt run gets (``S3Lake.duckdb_env``),
    as the profile's S3 settings do for dbt-duckdb."""
    con.execute("LOAD httpfs")
    endpoint = aws.get("AWS_ENDPOINT_URL", "")
    options = {
        "key_id": aws.get("AWS_ACCESS_KEY_ID"),
        "secret": aws.get("AWS_SECRET_ACCESS_KEY"),
        "session_token": aws.get("AWS_SESSION_TOKEN"),
        "region": aws.get("AWS_REGION"),
        "endpoint": endpoint.split("://")[-1].rstrip("/") or None,
        "url_style": "path" if endpoint else "vhost",
    }
    settings = ", ".join(f"{name} {literal(value)}" for name, value in options.items() if value)
    use_ssl = "false" if endpoint.startswith("http://") else "true"
    con.execute(f"create or replace temporary secret lake (type s3, {settings}, use_ssl {use_ssl})")
