"""Step 1 for CSV files: DuckDB's CSV reader with an explicit schema, into the lake."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb

from .lake import EarlierRuns, Manifest, write_partition
from .sql import literal
from .storage import Lake
from .timing import Phases

__all__ = ["CSV_TABLE", "SCHEMAS", "CsvError", "extract_csv"]

# The table the day's CSV lands as: no source table may take its name.
CSV_TABLE = "order_details"

# Known files: column -> (DuckDB type, PostgreSQL type). Decimals are exact, never floats.
SCHEMAS: dict[str, dict[str, tuple[str, str]]] = {
    "order_details": {
        "order_id": ("integer", "integer"),
        "product_id": ("integer", "integer"),
        "unit_price": ("decimal(18,4)", "numeric(18,4)"),
        "quantity": ("integer", "integer"),
        "discount": ("decimal(18,4)", "numeric(18,4)"),
    },
}


# Known files: the columns that identify a row (history.<name> keeps one version per key).
KEYS: dict[str, list[str]] = {"order_details": ["order_id", "product_id"]}


class CsvError(ValueError):
    """A CSV file cannot be read as its schema says."""


def _check_header(path: Path, expected: list[str]) -> None:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except FileNotFoundError:
        raise CsvError(f"{path}: file not found") from None
    if header is None:
        raise CsvError(f"{path}: line 1: empty file, expected a header {','.join(expected)}")
    if [name.strip() for name in header] != expected:
        raise CsvError(f"{path}: line 1: header is {','.join(header)!r}, expected {','.join(expected)!r}")


def extract_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    name: str,
    lake: Lake,
    date: str,
    fmt: str = "parquet",
    phases: Phases | None = None,
    earlier: EarlierRuns | None = None,
) -> Manifest:
    """Read CSV ``path`` with the schema of ``name`` and write its partition.

    ``earlier`` says what earlier runs left of the day's partition (default: anything).

    Raises:
        CsvError: naming the file, line and value at fault; nothing is written then.
    """
    schema = SCHEMAS[name]
    _check_header(path, list(schema))
    columns = "{" + ", ".join(f"{literal(col)}: {literal(kind)}" for col, (kind, _) in schema.items()) + "}"
    query = (
        f"select * from read_csv({literal(str(path))}, header = true, auto_detect = false, "
        f"delim = ',', quote = '\"', strict_mode = true, columns = {columns})"
    )
    try:
        return write_partition(
            con,
            query,
            lake=lake,
            source="csv",
            table=name,
            date=date,
            origin=str(path),
            columns_meta={
                col: {"source_type": pg, "warehouse_type": pg, "checksum": True} for col, (_, pg) in schema.items()
            },
            primary_key=KEYS.get(name, []),
            fmt=fmt,
            phases=phases,
            earlier=earlier,
        )
    except duckdb.Error as exc:
        raise CsvError(_describe(path, str(exc))) from None


def _describe(path: Path, message: str) -> str:
    """DuckDB's CSV error as one line: the file, the line number, what is wrong, the line itself."""
    lines = message.splitlines()
    found = re.search(r"CSV Error on Line: (\d+)", lines[0])
    if not found:
        return f"{path}: {lines[0]}"
    original = next((line.split(": ", 1)[1] for line in lines if line.startswith("Original Line: ")), "")
    detail = lines[2] if len(lines) > 2 else lines[0]
    return f"{path}: line {found.group(1)}: {detail} (the line is {original!r})"
