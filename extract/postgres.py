"""Step 1 for the source database: every table of its schema, through DuckDB's postgres scanner."""

from __future__ import annotations

from pathlib import Path

import duckdb

from .config import redact
from .lake import Manifest, write_partition
from .sql import literal, quote

__all__ = ["SOURCE_ALIAS", "attach", "describe_tables", "extract_tables"]

SOURCE_ALIAS = "source_db"

CATALOG_QUERY = """
select c.relname as table_name,
       a.attname as column_name,
       format_type(a.atttypid, a.atttypmod) as source_type,
       coalesce(a.attnum = any(i.indkey), false) as is_key
from pg_class as c
inner join pg_namespace as n on n.oid = c.relnamespace
inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_index as i on i.indrelid = c.oid and i.indisprimary
where n.nspname = {schema} and c.relkind in ('r', 'p')
order by c.relname, a.attnum
"""


def attach(con: duckdb.DuckDBPyConnection, dsn: str, alias: str, *, read_only: bool = False) -> None:
    """Attach the PostgreSQL database ``dsn`` to ``con`` as ``alias``."""
    mode = ", read_only" if read_only else ""
    try:
        con.execute(f"attach {literal(dsn)} as {quote(alias)} (type postgres{mode})")
    except duckdb.Error as exc:
        # DuckDB quotes the whole DSN, password included; keep libpq's reason only.
        reason = str(exc).split(f'"{dsn}": ', 1)[-1].strip().splitlines()[0]
        raise ConnectionError(f"cannot connect to {redact(dsn)}: {reason}") from None


def describe_tables(con: duckdb.DuckDBPyConnection, schema: str = "public") -> dict[str, dict]:
    """Tables of ``schema`` in the attached source, each with its column types and key.

    Returns:
        ``{table: {"types": {column: postgres_type}, "key": [column, ...]}}``.
    """
    inner = CATALOG_QUERY.format(schema=literal(schema))
    rows = con.execute(f"select * from postgres_query({literal(SOURCE_ALIAS)}, {literal(inner)})").fetchall()
    tables: dict[str, dict] = {}
    for table, column, source_type, is_key in rows:
        entry = tables.setdefault(table, {"types": {}, "key": []})
        entry["types"][column] = source_type
        if is_key:
            entry["key"].append(column)
    return tables


def extract_tables(
    con: duckdb.DuckDBPyConnection, *, lake: Path, date: str, origin: str, schema: str = "public", fmt: str = "parquet"
) -> list[Manifest]:
    """Write one partition per table of the attached source's ``schema``.

    Rows are ordered by the primary key (or by every column when there is none),
    so the same source gives the same bytes.

    Returns:
        The manifests written, one per table.
    """
    manifests = []
    for table, entry in sorted(describe_tables(con, schema).items()):
        order = ", ".join(quote(column) for column in entry["key"]) or "all"
        query = f"select * from {quote(SOURCE_ALIAS)}.{quote(schema)}.{quote(table)} order by {order}"
        manifests.append(
            write_partition(
                con,
                query,
                lake=lake,
                source="postgres",
                table=table,
                date=date,
                origin=origin,
                source_types=entry["types"],
                fmt=fmt,
            )
        )
    return manifests
