"""Every built-in PostgreSQL type a table column can have, from PostgreSQL's own catalog, arrives
in the warehouse's raw and history with its type and values unchanged; a type the lakehouse cannot carry is
refused at step 1, in one line, before anything is written.

The column list comes from ``pg_type``, so a type a new PostgreSQL adds fails this test until
it has edge values here. Values are compared as PostgreSQL writes them (``::text``), column by
column, and each column's type as ``format_type`` gives it.
"""

from __future__ import annotations

import dataclasses

import pytest
from helpers import DAY, query

from extract import ledger, pipeline
from extract.source_tables import Selection
from extract.sql import literal, quote

BUILTIN_TYPES = """
select t.typname::text from pg_type as t
where t.typnamespace = 'pg_catalog'::regnamespace and t.typtype in ('b', 'r', 'm') and t.typisdefined
    and t.typcategory <> 'P' and t.typarray <> 0 and t.typname !~ '^_'
    and not exists (select from pg_class as c where c.reltype = t.oid)
order by 1
"""

# Edge values of each type, besides NULL (every column has a row of NULLs): empty, extremes,
# infinities, special values. Native types keep to what earlier tests proved; the others travel
# as text and get their extremes. gtsvector has no input function: NULL only (xml too, here).
EDGES: dict[str, list[str]] = {
    "aclitem": ["=r/postgres", "postgres=arwdDxt/postgres"],
    "bit": ["0", "1"],
    "bool": ["true", "false"],
    "box": ["(1,1),(0,0)", "(1.7976931348623157e+308,0),(-1.7976931348623157e+308,-5e-324)"],
    "bpchar": ["", "ab  "],
    "bytea": ["\\x", "\\xdeadbeef"],
    "char": ["a", "é"],
    "cid": ["0", "4294967295"],
    "cidr": ["10.0.0.0/8", "::/0", "2001:db8::/32"],
    "circle": ["<(0,0),0>", "<(1.5,-2),1e+300>"],
    "date": ["2024-01-15", "0001-01-01"],
    "datemultirange": ["{}", "{[2024-01-01,2024-02-01),[2024-03-01,infinity)}"],
    "daterange": ["empty", "[2024-01-01,)", "(,)"],
    "float4": ["1.5", "-Infinity", "NaN"],
    "float8": ["2.25", "Infinity", "NaN"],
    "gtsvector": [],
    "inet": ["192.168.0.1/24", "::1", "0.0.0.0"],
    "int2": ["-32768", "32767"],
    "int2vector": ["", "1 2 3"],
    "int4": ["-2147483648", "2147483647"],
    "int4multirange": ["{}", "{[1,3),[5,7)}"],
    "int4range": ["empty", "[1,10)", "(,)"],
    "int8": ["-9223372036854775808", "9223372036854775807"],
    "int8multirange": ["{}", "{[-9223372036854775808,0)}"],
    "int8range": ["empty", "[1,)"],
    "interval": ["1 year 2 mons 3 days 04:05:06.000007", "-1 days -00:00:01"],
    "json": ["{}", ' {"a" :  [1, "x", null]} '],
    "jsonb": ["{}", '{"a": [1, 2.50, null]}'],
    "jsonpath": ["$", "$.a[*] ? (@ > 1)"],
    "line": ["{1,-1,0}", "{0,1,-1e+300}"],
    "lseg": ["[(0,0),(1,1)]", "[(-1e+300,5e-324),(1,1)]"],
    "macaddr": ["08:00:2b:01:02:03", "00:00:00:00:00:00"],
    "macaddr8": ["08:00:2b:01:02:03:04:05", "ff:ff:ff:ff:ff:ff:ff:ff"],
    "money": ["-92233720368547758.08", "92233720368547758.07", "0"],
    "name": ["", "a name"],
    "numeric": ["0", "-12345678901234567890.123456789"],
    "nummultirange": ["{}", "{[1.5,2.5]}"],
    "numrange": ["empty", "(,1.5]"],
    "oid": ["0", "4294967295"],
    "oidvector": ["", "1 2"],
    "path": ["[(0,0),(1,1),(2,0)]", "((0,0),(1,1))"],
    "pg_lsn": ["0/0", "FFFFFFFF/FFFFFFFF"],
    "pg_snapshot": ["10:20:10,14,15", "1:1:"],
    "point": ["(0,0)", "(-1.5,1e+300)"],
    "polygon": ["((0,0),(1,1),(1,0))", "((0,0))"],
    "refcursor": ["", "cursor"],
    "regclass": ["pg_class", "-"],
    "regcollation": ['"C"', "0"],
    "regconfig": ["english", "simple", "0"],
    "regdictionary": ["simple", "english_stem", "0"],
    "regnamespace": ["pg_catalog", "0"],
    "regoper": ["||/", "0"],
    "regoperator": ["+(integer,integer)", "0"],
    "regproc": ["now", "0"],
    "regprocedure": ["now()", "abs(integer)", "0"],
    "regrole": ["postgres", "0"],
    "regtype": ["integer", "character varying", "0"],
    "text": ["", "ünïcode \t with tabs"],
    "tid": ["(0,1)", "(4294967295,65535)"],
    "time": ["00:00:00", "23:59:59.999999"],
    "timestamp": ["1970-01-01 00:00:00", "2024-01-15 10:00:00.123456"],
    "timestamptz": ["1970-01-01 00:00:00+00", "2024-01-15 10:00:00+02"],
    "timetz": ["12:00:00-08", "23:59:59.999999+15:59", "00:00:00-15:59"],
    "tsmultirange": ["{}", "{[2024-01-01 00:00,2024-01-02 00:00)}"],
    "tsquery": ["", "a & !(b | c:*)"],
    "tsrange": ["empty", "[2024-01-01 00:00,)"],
    "tstzmultirange": ["{}", "{(,)}"],
    "tstzrange": ["(,)", "[2024-01-01 00:00+00,2024-01-01 00:00:00.000001+00]"],
    "tsvector": ["", "a:1A b:2,3 'c d'"],
    "txid_snapshot": ["10:20:10,14,15", "1:1:"],
    "uuid": ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
    "varbit": ["", "1010101"],
    "varchar": ["", "x"],
    "xid": ["0", "4294967295"],
    "xid8": ["0", "18446744073709551615"],
    "xml": [],  # the embedded server is built without libxml: no xml value can be written
}

# The vector types are arrays themselves: PostgreSQL builds no array of them from an array[] constructor.
VECTORS = {"int2vector", "oidvector"}

COLUMN_TYPES = """
select a.attname::text, format_type(a.atttypid, a.atttypmod) from pg_attribute as a
where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum
"""


def _array(name: str, row: int) -> str:
    """The value of the array column of type ``name`` on ``row``."""
    if row > 1:
        return "null"
    elements = [f"{literal(value)}::{quote(name)}" for value in EDGES[name]] + ["null"] if row else []
    return f"array[{', '.join(elements)}]::{quote(name)}[]"


def test_every_builtin_type_arrives_with_its_type_and_values(demo):
    source, warehouse = demo.dsn("source"), demo.dsn("warehouse")
    types = [name for (name,) in query(source, BUILTIN_TYPES)]
    assert len(types) > 70 and sorted(EDGES) == types  # a type without edge values here fails
    rows = max(len(values) for values in EDGES.values()) + 1
    scalars = ", ".join(f"{quote('c_' + name)} {quote(name)}" for name in types)
    listed = [name for name in types if name not in VECTORS]
    arrays = ", ".join(f"{quote('a_' + name)} {quote(name)}[]" for name in listed)
    query(source, f"create table builtin_types (id integer primary key, {scalars}, {arrays})")
    for row in range(rows):
        values = [
            f"{literal(EDGES[name][row - 1])}::{quote(name)}" if 0 < row <= len(EDGES[name]) else "null"
            for name in types
        ]
        # arrays: empty on the first row, every edge value and a NULL on the second, NULL after
        lists = [_array(name, row) for name in listed]
        query(source, f"insert into builtin_types values ({row}, {', '.join(values + lists)})")
    pipeline.extract(demo, DAY, csv_path=demo.demo_csv)
    pipeline.load(demo, DAY)

    expected = query(source, COLUMN_TYPES, ("builtin_types",))
    assert query(warehouse, COLUMN_TYPES, ("raw.builtin_types",)) == expected
    versioned = [*expected, ("valid_from", "date"), ("valid_to", "date")]
    assert query(warehouse, COLUMN_TYPES, ("history.builtin_types",)) == versioned
    for column in [f"c_{name}" for name in types] + [f"a_{name}" for name in listed]:
        as_text = f"select id, {quote(column)}::text from {{}}builtin_types order by id"
        assert query(warehouse, as_text.format("raw.")) == query(source, as_text.format("")), column
        assert query(warehouse, as_text.format("history.")) == query(source, as_text.format("")), column


def test_composite_types_and_domains_are_recreated_and_their_values_arrive_unchanged(demo):
    source, warehouse = demo.dsn("source"), demo.dsn("warehouse")
    query(source, 'create type address as (street text, "zip code" varchar(10), at timetz)')
    query(source, "create domain zone as timetz check (value <> '00:00:00+00')")
    query(source, "create domain hosts as inet[] check (cardinality(value) < 3)")
    query(
        source,
        "create table shipments (id integer primary key, destination address, stops address[], at zone, via hosts)",
    )
    rows = [
        "(1, null, null, null, null)",
        "(2, row(null, null, null), '{}', '23:59:59+15:59', '{}')",
        "(3, row('', '', '00:00:00+14'), array[row('a \"b\", c', '0', null)::address, null], '12:00-08', '{::1,NULL}')",
    ]
    query(source, f"insert into shipments values {', '.join(rows)}")
    pipeline.extract(demo, DAY, csv_path=demo.demo_csv)
    pipeline.load(demo, DAY)
    typed = "set search_path = {}, public; " + COLUMN_TYPES
    for schema in ("raw", "history"):
        assert query(warehouse, typed.format(schema), ("shipments",))[:5] == query(source, COLUMN_TYPES, ("shipments",))
    fields = "select attname::text, format_type(atttypid, atttypmod) from pg_attribute where attrelid = %s::regclass"
    assert query(warehouse, fields, ("raw.address",)) == query(source, fields, ("address",))
    constraints = "select pg_get_constraintdef(oid) from pg_constraint where contypid = %s::regtype"
    assert query(warehouse, constraints, ("raw.hosts",)) == query(source, constraints, ("hosts",))
    as_text = "select id, destination::text, stops::text, at::text, via::text from {}shipments order by id"
    assert query(warehouse, as_text.format("raw.")) == query(source, as_text.format(""))
    assert query(warehouse, as_text.format("history.")) == query(source, as_text.format(""))


def test_a_type_the_lakehouse_cannot_carry_is_refused_in_one_line_before_anything_is_written(demo, capsys):
    source = demo.dsn("source")
    query(source, "create extension vector")
    query(source, "create table embeddings (id integer primary key, embedding vector(3))")
    with pytest.raises(pipeline.StepFailed) as failure:
        pipeline.extract(demo, "2024-01-16", csv_path=demo.demo_csv)
    said = str(failure.value)
    assert said.startswith(
        "step 1 refused, no source table written: the lakehouse cannot carry the type of embeddings.embedding "
        "(vector(3): a type the warehouse does not have (an extension's or the database's own)); "
        "leave the table out with SOURCE_EXCLUDE=embeddings"
    ), said
    assert "\n" not in said and "Traceback" not in capsys.readouterr().err
    assert not list(demo.data_dir.glob("postgres/*/2024-01-16/*.parquet"))
    assert {e["step"]: e["status"] for e in ledger.read(demo.lake, "2024-01-16")}["extract_postgres"] == "refused"
    narrowed = dataclasses.replace(demo, source_tables=Selection(exclude=("public.embed*",)))
    pipeline.extract(narrowed, "2024-01-16", csv_path=demo.demo_csv)
    assert list(demo.data_dir.glob("postgres/customers/2024-01-16/*.parquet"))
    assert not list(demo.data_dir.glob("postgres/embeddings/*"))


def test_a_bounded_numeric_that_holds_nan_arrives_unchanged(demo):
    source, warehouse = demo.dsn("source"), demo.dsn("warehouse")
    query(source, "create table readings (id integer primary key, value numeric(10, 2), other numeric(10, 2))")
    query(source, "insert into readings values (1, 'NaN', 1.5), (2, 1.25, null), (3, null, 2)")
    pipeline.extract(demo, DAY, csv_path=demo.demo_csv)
    pipeline.load(demo, DAY)
    manifest = next(
        p for e in ledger.read(demo.lake, DAY) for p in e["details"]["partitions"] if p["table"] == "readings"
    )
    assert [(c["type"], c["checksum"]) for c in manifest["columns"][1:]] == [
        ("VARCHAR", False),
        ("DECIMAL(10,2)", True),
    ]
    assert query(warehouse, COLUMN_TYPES, ("raw.readings",)) == query(source, COLUMN_TYPES, ("readings",))
    as_text = "select id, value::text, other::text from {}readings order by id"
    assert query(warehouse, as_text.format("raw.")) == query(source, as_text.format(""))
    assert query(warehouse, as_text.format("history.")) == query(source, as_text.format(""))
    # the next day without NaN: history keeps the column as text while the NaN day is kept
    query(source, "update readings set value = 2.50 where id = 1")
    pipeline.extract(demo, "2024-01-16", csv_path=demo.demo_csv)
    pipeline.load(demo, "2024-01-16")
    assert query(warehouse, "select id, value, valid_from::text from history.readings order by 1, 3") == [
        (1, "NaN", DAY),
        (1, "2.50", "2024-01-16"),
        (2, "1.25", DAY),
        (3, None, DAY),
    ]
