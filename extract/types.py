"""How each PostgreSQL column type lands in the lake and comes back in the warehouse, exactly."""

from __future__ import annotations

from dataclasses import dataclass

from .sql import quote

__all__ = [
    "Column",
    "is_exact_number",
    "lake_expression",
    "postgres_expression",
    "refusal",
    "travels_as_text",
    "warehouse_type",
]

# DuckDB and Parquet decimals hold at most 38 digits.
DUCKDB_MAX_DIGITS = 38

# The built-in types DuckDB's scanner reads into a type of its own exactly (numeric and bpchar
# with the conversions below, intervals and enums as DuckDB's text of them); arrays of them
# become lists. Every other built-in type travels as PostgreSQL's own text, its type in the manifest.
NATIVE = frozenset(
    {"bool", "int2", "int4", "int8", "float4", "float8", "numeric", "text", "varchar", "bpchar", "bytea"}
    | {"date", "time", "timestamp", "timestamptz", "interval", "uuid", "json", "jsonb"}
)


@dataclass(frozen=True)
class Column:
    """A source column, as PostgreSQL's catalog describes it.

    Attributes:
        name: column name.
        source_type: ``format_type()`` of the column, e.g. ``numeric(12,4)``, ``character(5)``.
        type_name: the type's own name (``numeric``, ``bpchar``, an enum's name).
        kind: ``pg_type.typtype``: ``b`` base, ``e`` enum, ``d`` domain, ...
        typmod: ``pg_attribute.atttypmod`` (-1 when the type has no modifier).
        enum_labels: the labels of an enum type (or of an array's), in their order.
        domain: for a column declared with a domain, its name, and the CHECK and NOT NULL
            clauses that complete ``create domain <name> as <source_type>``; the other
            fields then describe the domain's base type, which is what its values are.
        type_schema: the schema of the type (of the domain's base type).
        element: for an array, its element type's name, kind and schema.
        fields: for a composite type (or an array of one), its fields (``name type``, as
            ``create type`` takes them) and whether all their types are built in.
    """

    name: str
    source_type: str
    type_name: str
    kind: str
    typmod: int
    enum_labels: tuple[str, ...] = ()
    domain: tuple[str, tuple[str, ...]] | None = None
    type_schema: str = "pg_catalog"
    element: tuple[str, str, str] | None = None
    fields: tuple[tuple[str, ...], bool] | None = None

    @property
    def numeric_precision(self) -> int | None:
        """Declared precision of a numeric column, None when unbounded (or not numeric)."""
        if self.type_name != "numeric" or self.typmod < 4:
            return None
        return ((self.typmod - 4) >> 16) & 0xFFFF

    @property
    def is_wide_numeric(self) -> bool:
        """A numeric DuckDB would read as a double: unbounded, or more digits than it holds."""
        if self.type_name != "numeric":
            return False
        precision = self.numeric_precision
        return precision is None or precision > DUCKDB_MAX_DIGITS


def refusal(column: Column) -> str | None:
    """Why the lakehouse cannot carry ``column``'s type exactly yet, or None when it can: built-in
    types, enums, composite types of built-in types, domains over them but composites, and
    arrays of built-in, enum and composite types."""
    if column.kind == "p":
        return "a pseudo-type"
    if "e" in (column.kind, column.element and column.element[1]):
        return None
    if "c" in (column.kind, column.element and column.element[1]):
        if column.domain:
            return "a domain over a composite type"
        return None if column.fields and column.fields[1] else "a composite type with a field of a type not built in"
    if column.element and column.element[1] == "d":
        return "an array of a domain"
    if column.element and (column.element[2] != "pg_catalog" or column.element[1] not in "brm"):
        return "an array of a type that is not built in"
    if column.type_schema != "pg_catalog":
        return "a type the warehouse does not have (an extension's or the database's own)"
    return None


def travels_as_text(column: Column) -> bool:
    """Whether the lake holds ``column`` as PostgreSQL's text of its values (see NATIVE): also a
    numeric that no Parquet decimal holds with every value's own scale (unbounded, or over 38
    digits), and the arrays of the types converted for the lake one value at a time (numerics,
    which DuckDB would read as doubles, bpchar, intervals) or that the scanner reads as text (bytea)."""
    if column.element:
        return column.element[0] not in NATIVE - {"numeric", "bpchar", "interval", "bytea"}
    if column.type_name == "numeric":
        return column.is_wide_numeric
    return column.kind != "e" and column.type_name not in NATIVE


def is_exact_number(column: Column) -> bool:
    """Integers and numerics DuckDB reads exactly: the columns whose sums reconcile source, lake and warehouse."""
    return column.type_name in ("int2", "int4", "int8") or (
        column.type_name == "numeric" and not column.is_wide_numeric
    )


def postgres_expression(column: Column) -> str:
    """The PostgreSQL select expression for ``column``.

    DuckDB's scanner drops bpchar's trailing spaces and changes the types it does not carry
    exactly (``travels_as_text``); PostgreSQL writes both as text, exactly.
    """
    name = quote(column.name)
    if column.type_name == "bpchar":
        # format() keeps the padding PostgreSQL returns; a cast to text would strip it.
        return f"case when {name} is null then null else format('%s', {name}) end as {name}"
    if travels_as_text(column):
        return f"{name}::text as {name}"
    return name


def lake_expression(column: Column) -> str:
    """The DuckDB select expression that gives the lake's value for ``column``.

    Intervals and enums are kept as PostgreSQL-readable text: Parquet cannot hold
    negative intervals, and an enum's labels are recorded in the manifest.
    """
    name = quote(column.name)
    if column.type_name == "interval" or column.kind == "e":
        return f"cast({name} as varchar) as {name}"
    return name


def warehouse_type(column: Column) -> str:
    """The type the warehouse column is created with before the insert (then altered to the source type).

    DuckDB writes into PostgreSQL through its own type for each column: what the lake holds
    as text (``travels_as_text``) lands as text, and so do enums, whose type does not exist
    yet; PostgreSQL converts them exactly. A bpchar column would make DuckDB send
    the whole table in text COPY, about twice as slow as binary: it lands as text too
    (the padded value, from the lake): turning text into an unbounded bpchar does not
    rewrite the table (a ``character(n)`` is rewritten, still exactly).
    """
    if column.kind == "e" or column.type_name == "bpchar" or travels_as_text(column):
        return "text"
    return column.source_type
