"""Progress lines, and the DuckDB limits step 1 runs under."""

from __future__ import annotations

import io

from extract import duck
from extract.config import load_settings
from extract.lake import Manifest
from extract.progress import Progress


def _manifest(table: str, rows: int) -> Manifest:
    return Manifest("postgres", table, "2024-01-15", f"{table}.parquet", "parquet", rows, 10, "x", "test")


def test_plain_lines_count_partitions_done_out_of_expected():
    out = io.StringIO()
    progress = Progress(live=False, out=out)
    progress.expect(2)
    progress.landed(_manifest("orders", 830))
    progress.landed(_manifest("customers", 91))
    progress.close()
    assert out.getvalue().splitlines() == [
        "  [1/2] postgres/orders: 830 rows, 10 bytes -> orders.parquet",
        "  [2/2] postgres/customers: 91 rows, 10 bytes -> customers.parquet",
    ]


def test_the_first_line_knows_the_total_of_every_part():
    out = io.StringIO()
    progress = Progress(live=False, out=out, parts=2)
    progress.expect(1)
    progress.landed(_manifest("order_details", 2155))  # the CSV lands before the tables are counted
    assert out.getvalue() == ""
    progress.expect(2)
    progress.landed(_manifest("orders", 830))
    progress.close()
    assert [line.split("]")[0] for line in out.getvalue().splitlines()] == ["  [1/3", "  [2/3"]


def test_a_part_that_never_counts_does_not_hold_lines_back_at_the_end():
    out = io.StringIO()
    progress = Progress(live=False, out=out, parts=2)
    progress.expect(1)
    progress.landed(_manifest("order_details", 2155))
    progress.close()  # the other part failed before it counted its partitions
    assert out.getvalue().splitlines() == [
        "  [1/1] postgres/order_details: 2155 rows, 10 bytes -> order_details.parquet"
    ]


def test_live_line_shows_totals_rate_and_elapsed():
    out = io.StringIO()
    progress = Progress(live=True, out=out)
    progress.expect(1)
    progress.landed(_manifest("orders", 830))
    assert "1/1 partitions, 830 rows, " in out.getvalue() and " rows/s, " in out.getvalue()


def test_memory_limit_and_threads_are_honoured():
    settings = load_settings({"LAKEHOUSE_MEMORY_LIMIT": "300MB", "LAKEHOUSE_DUCKDB_THREADS": "1"})
    with duck.connect(threads=settings.duckdb_threads, memory_limit=settings.memory_limit) as con:
        limit, threads = con.execute("select current_setting('memory_limit'), current_setting('threads')").fetchone()
    assert limit.startswith("286") and threads == 1
