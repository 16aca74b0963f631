"""Step 1 for the source database: every table of its schema, through DuckDB's postgres scanner."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from .config import redact
from .lake import Manifest, write_partition
from .sql import literal, quote
from .types import (
    DUCKDB_MAX_DIGITS,
    Column,
    is_exact_number,
    lake_expression,
    postgres_expression,
    reads_in_postgres,
    warehouse_type,
)

__all__ = ["SOURCE_ALIAS", "attach", "describe_tables", "extract_tables", "table_query"]

SOURCE_ALIAS = "source_db"

CATALOG_QUERY = """
select c.relname as table_name,
       a.attname as column_name,
       format_type(t.oid, case when declared.typtype = 'd' then declared.typtypmod else a.atttypmod end) as source_type,
       t.typname as type_name,
       t.typtype as kind,
       case when declared.typtype = 'd' then declared.typtypmod else a.atttypmod end as typmod,
       array(select e.enumlabel::text from pg_enum as e where e.enumtypid = t.oid order by e.enumsortorder)
           as enum_labels,
       coalesce(a.attnum = any(i.indkey), false) as is_key
from pg_class as c
inner join pg_namespace as n on n.oid = c.relnamespace
inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
inner join pg_type as declared on declared.oid = a.atttypid
inner join pg_type as t on t.oid = case when declared.typtype = 'd' then declared.typbasetype else declared.oid end
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
    """Tables of ``schema`` in the attached source, with their columns and primary key.

    Domains are described by their base type, which is what their values are.

    Returns:
        ``{table: {"columns": [Column, ...], "key": [column name, ...]}}``.
    """
    rows = _postgres_query(con, CATALOG_QUERY.format(schema=literal(schema)))
    tables: dict[str, dict] = {}
    for table, column, source_type, type_name, kind, typmod, labels, is_key in rows:
        entry = tables.setdefault(table, {"columns": [], "key": []})
        entry["columns"].append(Column(column, source_type, type_name, kind, typmod, tuple(labels)))
        if is_key:
            entry["key"].append(column)
    return tables


def _postgres_query(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(f"select * from postgres_query({literal(SOURCE_ALIAS)}, {literal(sql)})").fetchall()


def _decimal_scale(con: duckdb.DuckDBPyConnection, relation: str, table: str, column: Column) -> int:
    """The scale that holds every value of a wide numeric column exactly in 38 digits, or a ValueError naming it."""
    name = quote(column.name)
    scale, digits, special = _postgres_query(
        con,
        f"select coalesce(max(scale({name})), 0) as scale, "
        f"coalesce(max(length(trunc(abs({name}))::text)), 1) as digits, "
        f"count(*) filter (where {name}::text in ('NaN', 'Infinity', '-Infinity')) as special from {relation}",
    )[0]
    where = f"column {table}.{column.name} ({column.source_type})"
    if special:
        raise ValueError(f"{where}: {special} NaN or infinite values, which Parquet decimals cannot hold")
    if digits + scale > DUCKDB_MAX_DIGITS:
        raise ValueError(
            f"{where}: values need {digits} integer and {scale} decimal digits, "
            f"more than the {DUCKDB_MAX_DIGITS} a Parquet decimal holds"
        )
    return scale


def _column_meta(column: Column) -> dict:
    meta = {
        "source_type": column.source_type,
        "warehouse_type": warehouse_type(column),
        "checksum": is_exact_number(column),
    }
    if column.kind == "e":
        meta.update(type_name=column.type_name, enum_labels=list(column.enum_labels))
    return meta


def table_query(con: duckdb.DuckDBPyConnection, schema: str, table: str, entry: dict) -> str:
    """The DuckDB query that reads one source table exactly, in key order.

    Tables with columns PostgreSQL must convert are read through ``postgres_query``;
    the others through the scanner, which reads in parallel.
    """
    relation = f"{quote(schema)}.{quote(table)}"
    columns = entry["columns"]
    if any(reads_in_postgres(column) for column in columns):
        scales = {c.name: _decimal_scale(con, relation, table, c) for c in columns if c.is_wide_numeric}
        inner = ", ".join(postgres_expression(c, scales.get(c.name, 0)) for c in columns)
        source = f"postgres_query({literal(SOURCE_ALIAS)}, {literal(f'select {inner} from {relation}')})"
    else:
        source = f"{quote(SOURCE_ALIAS)}.{relation}"
    order = ", ".join(quote(column) for column in entry["key"]) or "all"
    return f"select {', '.join(lake_expression(c) for c in columns)} from {source} order by {order}"


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
        relation = f"{quote(schema)}.{quote(table)}"
        # One transaction per table: the copy and the source's own counts see the same snapshot.
        con.execute("begin transaction")
        try:
            manifests.append(
                write_partition(
                    con,
                    table_query(con, schema, table, entry),
                    lake=lake,
                    source="postgres",
                    table=table,
                    date=date,
                    origin=origin,
                    columns_meta={column.name: _column_meta(column) for column in entry["columns"]},
                    fmt=fmt,
                    reconcile=lambda rows, sums, relation=relation, table=table: _reconcile(
                        con, relation, table, rows, sums
                    ),
                )
            )
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
    return manifests


def _reconcile(con: duckdb.DuckDBPyConnection, relation: str, table: str, rows: int, sums: dict[str, str]) -> None:
    """Compare the lake file's row count and column sums with the source's own; ValueError names the table."""
    names = list(sums)
    sql = ", ".join(["count(*)::bigint as c0", *(f"sum({quote(n)})::text as c{i}" for i, n in enumerate(names, 1))])
    source_rows, *source_sums = _postgres_query(con, f"select {sql} from {relation}")[0]
    if source_rows != rows:
        raise ValueError(f"reconciliation failed for {table}: the source has {source_rows} rows, the lake {rows}")
    for name, expected, got in zip(names, source_sums, sums.values(), strict=True):
        if (expected is None) != (got is None) or (expected is not None and Decimal(expected) != Decimal(got)):
            raise ValueError(
                f"reconciliation failed for {table}.{name}: sum in the source {expected}, in the lake {got}"
            )
