"""Step 1 for the source database: every table of its schemas, through DuckDB's postgres scanner."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal

import duckdb

from .config import Unreachable, redact, scrub
from .flat_files import CSV_TABLE
from .lake import EarlierRuns, Manifest, catalog_key, write_partition
from .ledger import Refused
from .progress import Progress
from .source_tables import EVERY_TABLE, NAME_LIMIT, Selection, exclude_pattern, lake_name, name_problems
from .sql import literal, quote
from .storage import Lake
from .timing import Phases
from .types import (
    Column,
    is_exact_number,
    lake_expression,
    postgres_expression,
    refusal,
    warehouse_type,
)

__all__ = ["SOURCE_ALIAS", "attach", "describe_tables", "extract_tables", "kept_partitions", "table_query"]

SOURCE_ALIAS = "source_db"

CATALOG_QUERY = """
select n.nspname as schema_name,
       c.relname as table_name,
       a.attname as column_name,
       format_type(t.oid, case when declared.typtype = 'd' then declared.typtypmod else a.atttypmod end) as source_type,
       t.typname as type_name,
       t.typtype as kind,
       case when declared.typtype = 'd' then declared.typtypmod else a.atttypmod end as typmod,
       array(select e.enumlabel::text from pg_enum as e where e.enumtypid = coalesce(element.oid, t.oid)
             order by e.enumsortorder)
           as enum_labels,
       case when declared.typtype = 'd' then declared.typname end as domain_name,
       dn.nspname as domain_schema,
       array(select pg_get_constraintdef(k.oid) from pg_constraint as k
             where k.contypid = declared.oid and k.contype = 'c' order by k.conname)
           || case when declared.typnotnull then array['NOT NULL'] else array[]::text[] end as domain_clauses,
       array_position(i.indkey::smallint[], a.attnum) as key_position,
       c.reltuples::bigint as estimated_rows,
       has_schema_privilege(n.oid, 'USAGE') and has_table_privilege(c.oid, 'SELECT') as readable,
       tn.nspname as type_schema,
       element.typname as element_name, element.typtype as element_kind, en.nspname as element_schema,
       array(select format('%I %s', f.attname, format_type(f.atttypid, f.atttypmod)) from pg_attribute as f
             where f.attrelid = coalesce(element.typrelid, t.typrelid) and f.attnum > 0 and not f.attisdropped
             order by f.attnum) as fields,
       coalesce((select bool_and(ft.typnamespace = 'pg_catalog'::regnamespace and ft.typtype in ('b', 'r', 'm'))
                 from pg_attribute as f inner join pg_type as ft on ft.oid = f.atttypid
                 where f.attrelid = coalesce(element.typrelid, t.typrelid) and f.attnum > 0 and not f.attisdropped),
                true)
           and (select relkind = 'c' from pg_class where oid = coalesce(element.typrelid, t.typrelid))
           as fields_built_in
from pg_class as c
inner join pg_namespace as n on n.oid = c.relnamespace
inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
inner join pg_type as declared on declared.oid = a.atttypid
inner join pg_namespace as dn on dn.oid = declared.typnamespace
inner join pg_type as t on t.oid = case when declared.typtype = 'd' then declared.typbasetype else declared.oid end
inner join pg_namespace as tn on tn.oid = t.typnamespace
left join pg_type as element on element.oid = t.typelem and t.typcategory = 'A'
left join pg_namespace as en on en.oid = element.typnamespace
left join pg_index as i on i.indrelid = c.oid and i.indisprimary
where n.nspname !~ '^pg_' and n.nspname <> 'information_schema' and c.relkind in ('r', 'p') and not c.relispartition
order by n.nspname, c.relname, a.attnum
"""


def attach(con: duckdb.DuckDBPyConnection, dsn: str, alias: str, *, read_only: bool = False) -> None:
    """Attach the PostgreSQL database ``dsn`` to ``con`` as ``alias``."""
    mode = ", read_only" if read_only else ""
    try:
        con.execute(f"attach {literal(dsn)} as {quote(alias)} (type postgres{mode})")
    except duckdb.Error as exc:
        # DuckDB quotes the whole DSN, password included; keep libpq's reason only.
        reason = str(exc).split(f'"{dsn}": ', 1)[-1].strip().splitlines()[0]
        raise Unreachable(f"cannot connect to {redact(dsn)}: {scrub(reason, [dsn])}") from None


def describe_tables(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict]:
    """Every table of the attached source (its whole catalog), with its columns and primary key.

    System schemas are left aside; ``readable`` says whether the source role may read a table. A column of
    a domain is described by the domain's base type, which is what its values are, and
    carries the domain's name and clauses. Enum, domain and composite types are named as
    the lake names them (``lake_name``): two schemas' types of one name stay apart.

    Returns:
        ``{(schema, table): {"columns": [Column, ...], "key": [column name, ...], "estimated_rows": n,
        "readable": bool}}``,
        the key's columns in the primary key's own order.
    """
    rows = _postgres_query(con, CATALOG_QUERY)
    tables: dict[tuple[str, str], dict] = {}
    positions: dict[tuple[str, str], dict[str, int]] = {}
    for (
        schema, table, column, source_type, type_name, kind, typmod, labels, domain, domain_schema, clauses, position,
        estimated_rows, readable, type_schema, element_name, element_kind, element_schema, fields, fields_built_in,
    ) in rows:  # fmt: skip
        entry = tables.setdefault(
            (schema, table), {"columns": [], "key": [], "estimated_rows": estimated_rows, "readable": readable}
        )
        entry["columns"].append(
            Column(
                column,
                source_type,
                lake_name(type_schema, type_name) if kind in "ec" else type_name,
                kind,
                typmod,
                tuple(labels),
                (lake_name(domain_schema, domain), tuple(clauses)) if domain else None,
                type_schema,
                (lake_name(element_schema, element_name) if element_kind in "ec" else element_name, element_kind,
                 element_schema) if element_name else None,
                (tuple(fields), bool(fields_built_in)) if "c" in (kind, element_kind) else None,
            )
        )  # fmt: skip
        if position is not None:
            positions.setdefault((schema, table), {})[column] = position
    for name, key in positions.items():
        tables[name]["key"] = sorted(key, key=key.__getitem__)
    return tables


def _postgres_query(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(f"select * from postgres_query({literal(SOURCE_ALIAS)}, {literal(sql)})").fetchall()


def _column_meta(column: Column) -> dict:
    meta = {
        "source_type": column.source_type,
        "warehouse_type": warehouse_type(column),
        "checksum": is_exact_number(column),
    }
    if "e" in (column.kind, column.element and column.element[1]):  # an enum, or an array of one
        meta.update(
            type_name=column.element[0] if column.element else column.type_name,
            enum_labels=list(column.enum_labels),
            enum_array=column.element is not None,
        )
    if column.domain:
        meta.update(domain=column.domain[0], domain_clauses=list(column.domain[1]))
    if column.fields:  # a composite type, or an array of one
        meta.update(
            type_name=column.element[0] if column.element else column.type_name,
            composite_fields=list(column.fields[0]),
            composite_array=column.element is not None,
        )
    return meta


def table_query(schema: str, table: str, entry: dict) -> str:
    """The DuckDB query that reads one source table exactly, in key order.

    PostgreSQL converts what DuckDB's scanner would change and sorts by the primary key
    (by the whole row when there is none), streaming through an index where it can.
    DuckDB keeps that order, so the same source gives the same bytes without a sort in
    memory. The scanner's parallel read would be faster on large tables, but its order
    changes from run to run.
    """
    relation = f"{quote(schema)}.{quote(table)}"
    columns = entry["columns"]
    select = ", ".join(postgres_expression(c) for c in columns)
    order = ", ".join(f"source_row.{quote(column)}" for column in entry["key"]) or "source_row::text"
    inner = f"select {select} from {relation} as source_row order by {order}"
    lake_columns = ", ".join(lake_expression(c) for c in columns)
    return f"select {lake_columns} from postgres_query({literal(SOURCE_ALIAS)}, {literal(inner)})"


def extract_tables(
    con: duckdb.DuckDBPyConnection,
    *,
    lake: Lake,
    date: str,
    origin: str,
    selection: Selection = EVERY_TABLE,
    fmt: str = "parquet",
    workers: int = 2,
    progress: Progress | None = None,
    phases: Phases | None = None,
    earlier: EarlierRuns | None = None,
) -> list[Manifest]:
    """Write one partition per table of the attached source that ``selection`` takes, ``workers`` tables at a time.

    A table is named in the lake as ``lake_name`` says; the tables the source role cannot read
    are left out, and named in the log. A column of a type the lakehouse
    cannot carry (``refusal``), or a name it cannot use (``name_problems``), stops the step
    before anything is written.

    ``phases`` gets the seconds spent reading the catalog and in each phase of the writes;
    ``earlier`` says what earlier runs left of the day's partitions (default: anything).

    Returns:
        The manifests written, one per table, by lake name.
    """
    phases = Phases() if phases is None else phases
    with phases("catalog"):
        catalog = describe_tables(con)
        timezone = _postgres_query(con, "select reset_val from pg_settings where name = 'TimeZone'")[0][0]
    described = {relation: entry for relation, entry in catalog.items() if selection.takes(*relation)}
    if not described and selection != EVERY_TABLE:
        raise Refused(_takes_nothing(selection, catalog, origin))
    unreadable = sorted(lake_name(*relation) for relation, entry in described.items() if not entry["readable"])
    if unreadable:
        print(f"  left out, the source role cannot read them: {', '.join(unreadable)}", flush=True)
    described = {relation: entry for relation, entry in described.items() if entry["readable"]}
    tables = sorted((lake_name(*relation), *relation, entry) for relation, entry in described.items())
    raw_tables = {name.casefold() for name, *_ in tables} | {CSV_TABLE}

    def why(column: Column) -> str | None:
        """Why ``column`` is refused: its type (``refusal``), or the name of a type the warehouse recreates."""
        recreated = [column.domain and column.domain[0]]
        if column.fields or "e" in (column.kind, column.element and column.element[1]):  # or an array of one
            recreated.append(column.element[0] if column.element else column.type_name)
        for name in filter(None, recreated):
            if name.casefold() in raw_tables:
                return f"a type named as a table, {name}"
            if len(name.encode()) > NAME_LIMIT:
                return f"a type named {name}, longer than PostgreSQL's {NAME_LIMIT} bytes"
        return refusal(column)

    refused = name_problems(described, taken=[CSV_TABLE]) + [
        (name, f"the lakehouse cannot carry the type of {name}.{c.name} ({c.source_type}: {reason})")
        for name, _, _, entry in tables
        for c in entry["columns"]
        if (reason := why(c))
    ]
    if refused:
        raise Refused(
            f"step 1 refused, no source table written: {'; '.join(sorted({why for _, why in refused}))}; "
            f"leave the table out with SOURCE_EXCLUDE={','.join(sorted({exclude_pattern(t) for t, _ in refused}))}"
        )
    if progress:
        progress.expect(len(tables))

    def extract_one(item: tuple[str, str, str, dict]) -> Manifest:
        name, schema, table, entry = item
        relation = f"{quote(schema)}.{quote(table)}"

        def write(cursor: duckdb.DuckDBPyConnection, columns: list[Column]) -> Manifest:
            return write_partition(
                cursor,
                table_query(schema, table, {**entry, "columns": columns}),
                lake=lake,
                source="postgres",
                table=name,
                source_relation=[schema, table],
                date=date,
                origin=origin,
                columns_meta={column.name: _column_meta(column) for column in columns},
                primary_key=entry["key"],
                timezone=timezone,
                fmt=fmt,
                reconcile=lambda rows, sums: _reconcile(cursor, relation, name, rows, sums),
                phases=phases,
                earlier=earlier,
            )

        with con.cursor() as cursor:
            # One transaction per table: the copy and the source's own counts see the same snapshot.
            cursor.execute("begin transaction")
            try:
                try:
                    manifest = write(cursor, entry["columns"])
                except NotANumber as found:
                    # Parquet's decimals hold no NaN: such a column travels as an unbounded numeric does.
                    unbounded = [replace(c, typmod=-1) if c.name in found.columns else c for c in entry["columns"]]
                    manifest = write(cursor, unbounded)
            except BaseException:
                cursor.execute("rollback")
                raise
            cursor.execute("commit")
        if progress:
            progress.landed(manifest)
        return manifest

    largest_first = sorted(tables, key=lambda item: -item[3]["estimated_rows"])
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        manifests = list(pool.map(extract_one, largest_first))
    try:
        earlier = json.loads(lake.read_text(catalog_key(date)))["tables"]
    except FileNotFoundError:
        earlier = {}
    lake.write_text(catalog_key(date), json.dumps(catalog_record(catalog, selection, earlier), indent=2) + "\n")
    return sorted(manifests, key=lambda manifest: manifest.table)


def _takes_nothing(selection: Selection, catalog: dict[tuple[str, str], dict], origin: str) -> str:
    """Step 1's refusal of a selection that takes no table of the source ``origin``: a typo in a
    setting would otherwise write an empty day, and the load would find every table missing."""
    given = " ".join(f"{name}={value}" for name, value in selection.settings().items())
    schemas = ", ".join(sorted({schema for schema, _ in catalog})) or "none"
    return (
        f"step 1 refused, no source table written: {given} takes none of the {len(catalog)} tables "
        f"of {origin} (schemas: {schemas})"
    )


def kept_partitions(earlier: dict | None, selection: Selection, fmt: str) -> list[dict]:
    """The partitions a narrowed run of a day keeps from the day's earlier run (its ledger entry
    ``earlier``, when it succeeded): those of the tables ``selection`` does not take, in ``fmt``.

    The run leaves them in place, and its entry lists them with its own, so the entry says what
    the day holds: step 2's gate verifies them, and the load reads them, as that run wrote them.
    """
    if earlier is None or earlier["status"] != "success":
        return []
    return [
        partition
        for partition in earlier.get("details", {}).get("partitions", [])
        if partition["format"] == fmt
        and partition.get("source_relation")
        and not selection.takes(*partition["source_relation"])
    ]


def catalog_record(
    catalog: dict[tuple[str, str], dict], selection: Selection, earlier: dict[str, str]
) -> dict[str, dict[str, str]]:
    """What became of every table of the source's catalog, by lake name: ``extracted``, ``left out``
    (by the selection) or ``unreadable`` (by the source role). A table absent from it was not in the
    source that day: history ends its keys then. One left out or unreadable was not observed.

    A narrowed run of a day step 1 ran before (``earlier``: what that run recorded) changes only
    the tables it takes: the others are as that day's earlier run saw them, not as the source is now.
    """

    def fate(relation: tuple[str, str], entry: dict) -> str:
        if not selection.takes(*relation):
            return earlier.get(lake_name(*relation), "left out")
        return "extracted" if entry["readable"] else "unreadable"

    tables = {lake_name(*relation): fate(relation, entry) for relation, entry in sorted(catalog.items())}
    if selection != EVERY_TABLE:
        tables = {**earlier, **tables}
    return {"tables": dict(sorted(tables.items()))}


class NotANumber(ValueError):
    """Numeric columns that hold NaN in the source, which the lake's decimals cannot."""

    def __init__(self, columns: list[str]) -> None:
        super().__init__(f"NaN in {', '.join(columns)}")
        self.columns = columns


def _reconcile(con: duckdb.DuckDBPyConnection, relation: str, table: str, rows: int, sums: dict[str, str]) -> None:
    """Compare the lake file's row count and column sums with the source's own; ValueError names the table.

    Raises:
        NotANumber: the columns whose source sum is NaN (a NaN value), before any comparison.
    """
    names = list(sums)
    sql = ", ".join(["count(*)::bigint as c0", *(f"sum({quote(n)})::text as c{i}" for i, n in enumerate(names, 1))])
    source_rows, *source_sums = _postgres_query(con, f"select {sql} from {relation}")[0]
    if nan := [name for name, total in zip(names, source_sums, strict=True) if total == "NaN"]:
        raise NotANumber(nan)
    if source_rows != rows:
        raise ValueError(f"reconciliation failed for {table}: the source has {source_rows} rows, the lake {rows}")
    for name, expected, got in zip(names, source_sums, sums.values(), strict=True):
        if (expected is None) != (got is None) or (expected is not None and Decimal(expected) != Decimal(got)):
            raise ValueError(
                f"reconciliation failed for {table}.{name}: sum in the source {expected}, in the lake {got}"
            )
