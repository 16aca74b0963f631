"""Exact types: every value and column type of the source arrives unchanged in the warehouse."""

from __future__ import annotations

import math

import pytest
from helpers import DAY, query

from extract import pipeline
from extract.source import load_dump

DATE = "2024-01-15"

ALL_TYPES = """
create type mood as enum ('sad', 'ok', 'happy');
create domain year as integer check (value between 1901 and 2155);
create domain short_code as varchar(4) check (value <> '');
create table all_types (
    id integer primary key, s smallint, i integer, b bigint, n numeric(12, 4), nu numeric, r real,
    d double precision, c character(5), bc bpchar, vc varchar(10), t text, bo boolean, dt date, tm time,
    ts timestamp, tstz timestamptz, iv interval, by bytea, u uuid, j json, jb jsonb, ai integer[],
    at text[], e mood, y year, sc short_code
);
insert into all_types values
    (1, 1, 2, 3, 12345678.1234, 12345678901234567890123456789.123456789, 1.5, 2.25, 'ab', 'xy  ', 'x', 'hello',
     true, '2024-01-15', '12:34:56.789', '2024-01-15 10:00:00.123456', '2024-01-15 10:00:00+02',
     '1 year 2 mons 3 days 04:05:06.000007', '\\xdeadbeef', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
     '{"a": [1, 2]}', '{"b": {"c": null}}', '{1,2,NULL}', '{"x","y z",NULL}', 'happy', 2024, 'ab'),
    (2, -32768, -2147483648, -9223372036854775808, -0.0001, 0.1, 'NaN', 'Infinity', '', '', '', '',
     false, '0001-01-01', '00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '-1 days -00:00:01',
     '\\x', '00000000-0000-0000-0000-000000000000', '[]', '[]', '{}', '{}', 'sad', 1901, 'abcd'),
    (3, null, null, null, null, null, '-Infinity', '-Infinity', null, null, null, null, null, null, null, null,
     null, null, null, null, null, null, null, null, null, null, null);
create table empty_types (id bigint primary key, price numeric(10, 2), code character(3), at timestamptz);
"""

TYPES_SQL = """
select a.attname, format_type(a.atttypid, a.atttypmod)
from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum"""


def _same(left, right) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    return left == right and type(left) is type(right)


@pytest.fixture()
def loaded(settings, northwind_sql, order_details_csv):
    """The real Northwind plus tables of every type, extracted and loaded for DATE."""
    load_dump(settings.dsn("source"), northwind_sql)
    query(settings.dsn("source"), ALL_TYPES)
    pipeline.extract(settings, DATE, csv_path=order_details_csv)
    pipeline.load(settings, DATE)
    return settings


def test_every_type_keeps_its_values_and_its_column_type(loaded):
    source, warehouse = loaded.dsn("source"), loaded.dsn("warehouse")
    for table in ("all_types", "empty_types"):
        types = query(warehouse, "set search_path = raw, public; " + TYPES_SQL, (f"raw.{table}",))
        assert types == query(source, TYPES_SQL, (table,)), table
    source_rows = query(source, "select * from all_types order by id")
    warehouse_rows = query(warehouse, "select * from raw.all_types order by id")
    assert len(warehouse_rows) == 3
    columns = [name for name, _ in query(source, TYPES_SQL, ("all_types",))]
    for source_row, warehouse_row in zip(source_rows, warehouse_rows, strict=True):
        for name, left, right in zip(columns, source_row, warehouse_row, strict=True):
            assert _same(left, right), (name, left, right)
    # bpchar keeps the padding PostgreSQL returns; '' stays '' and NULL stays NULL.
    assert query(warehouse, "select c, bc, vc, t from raw.all_types where id = 2") == [("     ", "", "", "")]
    assert query(warehouse, "select count(*) from raw.all_types where t is null and e is null") == [(1,)]
    assert query(warehouse, "select count(*) from raw.empty_types") == [(0,)]
    # Domains come with their constraints.
    domains = "select typname, pg_get_constraintdef(k.oid) from pg_type t join pg_constraint k on k.contypid = t.oid "
    assert query(warehouse, domains + "where t.typnamespace = 'raw'::regnamespace order by 1") == query(
        source, domains + "where t.typnamespace = 'public'::regnamespace order by 1"
    )


def test_every_northwind_value_arrives_unchanged(loaded):
    source, warehouse = loaded.dsn("source"), loaded.dsn("warehouse")
    tables = query(source, "select table_name from information_schema.tables where table_schema = 'public'")
    northwind = [table for (table,) in tables if not table.endswith("_types")]
    assert len(northwind) == 13
    for table in northwind:
        left = sorted(map(repr, query(source, f'select * from "{table}"')))
        right = sorted(map(repr, query(warehouse, f'select * from raw."{table}"')))
        assert left == right, table


def test_a_numeric_beyond_parquet_decimals_arrives_exactly(demo):
    """No Parquet decimal holds 1e40 or each value's own scale: the lake keeps PostgreSQL's text of them."""
    query(demo.dsn("source"), "create table wide (id int primary key, amount numeric)")
    values = "(1, 1e40), (2, 1.50), (3, 'NaN'), (4, '-Infinity'), (5, null)"
    query(demo.dsn("source"), f"insert into wide values {values}")
    pipeline.extract(demo, DAY, csv_path=demo.demo_csv)
    pipeline.load(demo, DAY)
    found = "select id, amount::text, pg_typeof(amount)::text from {}wide order by id"
    assert query(demo.dsn("warehouse"), found.format("raw.")) == query(demo.dsn("source"), found.format(""))
