"""Partitions: atomic writes, manifests that match, the same bytes on a rerun, safe names."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import pytest

from extract.lake import EarlierRuns, PartitionError, partition_file, schema_drift, verify, write_partition
from extract.storage import LocalLake

QUERY = "select i::smallint as id, 'row ' || i as label, (i / 3)::decimal(10, 2) as price from range(1000) t(i)"
TYPES = {"id": "smallint", "label": "text", "price": "numeric(10,2)"}
META = {name: {"source_type": kind, "warehouse_type": kind} for name, kind in TYPES.items()}


class DeletesSeen(LocalLake):
    """A local lake that keeps the keys it was asked to delete."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.deleted: list[str] = []

    def delete(self, *keys: str) -> None:
        self.deleted.extend(keys)
        super().delete(*keys)


def _write(root, date="2024-01-15", table="things", fmt="parquet", lake=None, earlier=None):
    return write_partition(
        duckdb.connect(),
        QUERY + " order by id",
        lake=lake or LocalLake(root),
        source="postgres",
        table=table,
        date=date,
        origin="test",
        columns_meta=META,
        fmt=fmt,
        earlier=earlier,
    )


def test_partition_has_a_matching_manifest_and_no_leftovers(tmp_path):
    manifest = _write(tmp_path)
    assert manifest.rows == 1000
    assert [c["type"] for c in manifest.columns] == ["SMALLINT", "VARCHAR", "DECIMAL(10,2)"]
    assert [c["source_type"] for c in manifest.columns] == list(TYPES.values())
    assert verify(LocalLake(tmp_path), "postgres", "things", "2024-01-15") == manifest
    folder = (tmp_path / partition_file("postgres", "things", "2024-01-15")).parent
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "things.parquet"]


def test_rerun_gives_the_same_bytes(tmp_path):
    assert _write(tmp_path).sha256 == _write(tmp_path).sha256


def test_corrupted_or_missing_files_are_detected(tmp_path):
    _write(tmp_path)
    path = tmp_path / partition_file("postgres", "things", "2024-01-15")
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(PartitionError, match="does not match its manifest"):
        verify(LocalLake(tmp_path), "postgres", "things", "2024-01-15")
    (path.parent / "_manifest.json").unlink()
    with pytest.raises(PartitionError, match="no manifest"):
        verify(LocalLake(tmp_path), "postgres", "things", "2024-01-15")


def test_csv_format_replaces_the_parquet_file_of_the_same_day(tmp_path):
    _write(tmp_path)
    manifest = _write(tmp_path, fmt="csv")
    folder = (tmp_path / partition_file("postgres", "things", "2024-01-15")).parent
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "things.csv"]
    assert manifest.format == "csv"


def test_a_day_s_first_run_deletes_nothing_and_a_rerun_only_what_is_there(tmp_path):
    lake, folder = DeletesSeen(tmp_path), "postgres/things/2024-01-15"
    _write(tmp_path, lake=lake, earlier=EarlierRuns.of(None))
    assert lake.deleted == []
    succeeded = {"status": "success", "details": {"partitions": [{"table": "things", "format": "parquet"}]}}
    _write(tmp_path, lake=lake, earlier=EarlierRuns.of(succeeded))
    assert lake.deleted == [f"{folder}/_manifest.json"]
    lake.deleted.clear()
    _write(tmp_path, lake=lake, fmt="csv", earlier=EarlierRuns.of(succeeded))
    assert lake.deleted == [f"{folder}/_manifest.json", f"{folder}/things.parquet"]
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["_manifest.json", "things.csv"]


@pytest.mark.parametrize("status", ["running", "failed"])
def test_after_a_run_that_did_not_succeed_anything_may_be_there(status):
    earlier = EarlierRuns.of({"status": status, "details": {}})
    assert earlier.leftovers
    assert earlier.stale("csv", "things", "2024-01-15", "parquet") == [
        "csv/things/2024-01-15/_manifest.json",
        "csv/things/2024-01-15/things.csv",
    ]
    succeeded = EarlierRuns.of({"status": "success", "details": {"partitions": []}})
    assert not succeeded.leftovers and len(succeeded.stale("csv", "new", "2024-01-15", "parquet")) == 2


@pytest.mark.parametrize("name", ["..", "../escape", "a/b", ".hidden", ""])
def test_names_cannot_leave_the_lake(tmp_path, name):
    with pytest.raises(PartitionError):
        _write(tmp_path, table=name)


def test_failed_query_leaves_nothing(tmp_path):
    with pytest.raises(duckdb.Error):
        write_partition(
            duckdb.connect(),
            "select 1 / 0 as x, error('boom') as y",
            lake=LocalLake(tmp_path),
            source="csv",
            table="bad",
            date="2024-01-15",
            origin="test",
            columns_meta={"x": {}, "y": {}},
        )
    folder = (tmp_path / partition_file("csv", "bad", "2024-01-15")).parent
    assert list(folder.iterdir()) == []


def test_a_composite_whose_fields_changed_is_drift():
    fields = ["street text", "zip character varying(10)"]
    earlier = {
        "date": "2024-01-01",
        "columns": [{"name": "destination", "source_type": "address", "composite_fields": fields}],
    }
    now = [{"name": "destination", "source_type": "address", "composite_fields": [*fields, "at time with time zone"]}]
    manifest = SimpleNamespace(source="postgres", table="shipments", columns=now)
    assert schema_drift(earlier, manifest) == [
        "postgres/shipments since 2024-01-01: column destination retyped "
        "address (street text, zip character varying(10)) "
        "-> address (street text, zip character varying(10), at time with time zone)"
    ]
    assert (
        schema_drift(earlier, SimpleNamespace(source="postgres", table="shipments", columns=earlier["columns"])) == []
    )
