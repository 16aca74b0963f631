"""CSV input: what real exports look like is accepted; bad input is named and nothing is written."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from extract.flat_files import CsvError, extract_csv
from extract.lake import partition_file
from extract.storage import LocalLake

HEADER = "order_id,product_id,unit_price,quantity,discount"
DATE = "2024-01-15"


def _extract(tmp_path, text: str | bytes):
    path = tmp_path / "order_details.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return extract_csv(duckdb.connect(), path, name="order_details", lake=LocalLake(tmp_path / "lake"), date=DATE)


def _rows(tmp_path):
    path = (tmp_path / "lake") / partition_file("csv", "order_details", DATE)
    return duckdb.connect().execute(f"select * from read_parquet('{path}') order by all").fetchall()


def test_bom_crlf_and_quotes_are_accepted_with_exact_decimals(tmp_path):
    manifest = _extract(tmp_path, f'\ufeff{HEADER}\r\n10248,11,"14",12,0\r\n10248,42,9.8,10,0.15\r\n')
    assert manifest.rows == 2
    assert _rows(tmp_path) == [
        (10248, 11, Decimal("14"), 12, Decimal("0")),
        (10248, 42, Decimal("9.8"), 10, Decimal("0.15")),
    ]


def test_header_only_gives_an_empty_partition(tmp_path):
    assert _extract(tmp_path, HEADER + "\n").rows == 0


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CsvError, match="order_details.csv: file not found"):
        csv_path = tmp_path / "order_details.csv"
        extract_csv(duckdb.connect(), csv_path, name="order_details", lake=LocalLake(tmp_path), date=DATE)


def test_renamed_header_column_is_named(tmp_path):
    with pytest.raises(CsvError, match="line 1: header .*unit_cost"):
        _extract(tmp_path, "order_id,product_id,unit_cost,quantity,discount\n1,2,3,4,0\n")
    assert not (tmp_path / "lake" / "csv").exists() or not any((tmp_path / "lake" / "csv").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("line", "expected"),
    [("10249,14,abc,9,0", "abc"), ("10249,14,18.6,9", "line 3"), ("10249,14,18.6,9,0,7", "line 3")],
)
def test_malformed_rows_are_named_and_nothing_is_written(tmp_path, line, expected):
    with pytest.raises(CsvError) as error:
        _extract(tmp_path, f"{HEADER}\n10248,11,14,12,0\n{line}\n")
    assert "order_details.csv" in str(error.value)
    assert expected in str(error.value)
    folder = ((tmp_path / "lake") / partition_file("csv", "order_details", DATE)).parent
    assert not folder.exists() or list(folder.iterdir()) == []
