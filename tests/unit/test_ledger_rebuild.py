"""A lost ledger's step-1 entries, rebuilt from the partitions' manifests in a local lake of small files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from extract import ledger, ledger_rebuild
from extract.config import REPO_ROOT
from extract.lake import Manifest, manifest_path, partition_file
from extract.report import unrecorded_line
from extract.storage import LocalLake

DAY1, DAY2 = "2024-01-15", "2024-01-16"
TABLES = {"postgres": ("customers", "orders"), "csv": ("order_details",)}


def _partition(root: Path, source: str, table: str, date: str, rows: int) -> dict:
    """A partition whose file is ``rows`` lines of text, with its manifest; the manifest as a dict."""
    data = "".join(f"{table} {n}\n" for n in range(rows)).encode()
    file = root / partition_file(source, table, date)
    file.parent.mkdir(parents=True)
    file.write_bytes(data)
    manifest = Manifest(
        source=source,
        table=table,
        date=date,
        file=file.name,
        format="parquet",
        rows=rows,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        origin="/drops/order_details.csv" if source == "csv" else "127.0.0.1:5432/northwind",
        columns=[{"name": "line", "type": "VARCHAR", "source_type": "text"}],
        extracted_at=f"{date}T02:00:{rows:02d}+00:00",
    )
    (root / manifest_path(source, table, date)).write_text(json.dumps(asdict(manifest)))
    return asdict(manifest)


def _lake(root: Path) -> dict[tuple[str, str], list[dict]]:
    """Two days of partitions; their manifests by date and step, as the ledger lists them."""
    manifests: dict[tuple[str, str], list[dict]] = {}
    for date in (DAY1, DAY2):
        for source, tables in TABLES.items():
            step = f"extract_{source}"
            manifests[date, step] = [_partition(root, source, t, date, 3 + n) for n, t in enumerate(tables)]
    return manifests


def _ledger_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "_ledger").rglob("*.json"))}


def test_the_entries_are_rebuilt_from_the_manifests_once(tmp_path, capsys):
    manifests = _lake(tmp_path)
    lake = LocalLake(tmp_path)
    assert ledger_rebuild.unrecorded(ledger_rebuild.lake_days(lake), ledger.read(lake)) == {
        DAY1: ["extract_postgres", "extract_csv"],
        DAY2: ["extract_postgres", "extract_csv"],
    }
    # One entry is still there: it is kept as it is.
    kept = {"date": DAY1, "step": "extract_csv", "status": "failed", "started_at": "2024-01-15T01:00:00+00:00"}
    (tmp_path / "_ledger" / DAY1).mkdir(parents=True)
    (tmp_path / "_ledger" / DAY1 / "extract_csv.json").write_text(json.dumps(kept))

    done = ledger_rebuild.rebuild(lake)

    assert done.entries == {
        DAY1: {"extract_postgres": "success"},
        DAY2: {"extract_postgres": "success", "extract_csv": "success"},
    }
    assert not done.left_out and not done.locked
    assert capsys.readouterr().out.splitlines() == [
        f"{DAY1}: rebuilt extract_postgres success: 2 partitions, 7 rows",
        f"{DAY2}: rebuilt extract_postgres success: 2 partitions, 7 rows; extract_csv success: 1 partition, 3 rows",
        f"ledger rebuilt: 3 entries for 2 days in {tmp_path / '_ledger'}",
    ]
    entries = {(e["date"], e["step"]): e for e in ledger.read(lake)}
    assert entries[DAY1, "extract_csv"] == kept
    for key in ((DAY1, "extract_postgres"), (DAY2, "extract_postgres"), (DAY2, "extract_csv")):
        entry = entries[key]
        assert entry["status"] == "success" and entry["rebuilt"] is True
        assert entry["details"]["partitions"] == manifests[key]
        assert entry["rows"] == sum(m["rows"] for m in manifests[key])
        assert entry["bytes"] == sum(m["bytes"] for m in manifests[key])
        assert entry["started_at"] == manifests[key][0]["extracted_at"]
        assert entry["finished_at"] == manifests[key][-1]["extracted_at"]
    assert entries[DAY2, "extract_csv"]["inputs"] == {"csv": "/drops/order_details.csv", "format": "parquet"}
    assert entries[DAY2, "extract_postgres"]["inputs"] == {"format": "parquet"}

    # A second rebuild writes nothing.
    before = _ledger_files(tmp_path)
    done = ledger_rebuild.rebuild(lake)
    assert not done.entries
    assert capsys.readouterr().out.splitlines() == [
        "nothing to rebuild: the ledger records step 1 of every day the lake holds (2 days)"
    ]
    assert _ledger_files(tmp_path) == before


def test_a_partition_that_does_not_match_its_manifest_is_left_out_and_named(tmp_path, capsys):
    manifests = _lake(tmp_path)
    lake = LocalLake(tmp_path)
    altered = tmp_path / partition_file("postgres", "orders", DAY2)
    data = bytearray(altered.read_bytes())
    data[0] ^= 1  # the same size, one bit flipped
    altered.write_bytes(bytes(data))

    done = ledger_rebuild.rebuild(lake)

    out = capsys.readouterr().out.splitlines()
    (line,) = [line for line in out if "left out" in line and "postgres/orders" in line]
    assert (
        line
        == f"  left out: postgres/orders for {DAY2}: {altered} does not match its manifest (size or checksum differ)"
    )
    assert out[-1].endswith("; 1 partition left out (its step is recorded as failed: rerun step 1)")
    assert len(done.left_out) == 1
    entry = {e["step"]: e for e in ledger.read(lake, DAY2)}["extract_postgres"]
    assert entry["status"] == "failed" and "postgres/orders" in entry["error"]
    assert entry["details"]["partitions"] == manifests[DAY2, "extract_postgres"][:1]  # customers only
    assert {e["step"]: e["status"] for e in ledger.read(lake, DAY1)} == dict.fromkeys(ledger.STEPS[:2], "success")


def test_a_day_whose_step_is_locked_is_skipped(tmp_path, capsys):
    _lake(tmp_path)
    lake = LocalLake(tmp_path)
    with ledger.step_locks(lake, DAY2, ("extract_csv",)):  # an extract of that day is running
        done = ledger_rebuild.rebuild(lake)
    assert done.locked == [DAY2] and list(done.entries) == [DAY1]
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(f"{DAY2}: not rebuilt: extract_csv for {DAY2} is already being written by pid ")
    assert out[-1].endswith("; 1 day skipped while a run holds it: run this again when it ends")
    assert not (tmp_path / "_ledger" / DAY2 / "extract_postgres.json").exists()


def test_status_names_the_days_and_the_command():
    days = [DAY1, "2024-01-17", "2024-01-19"]
    assert unrecorded_line(days) == (
        "the ledger has no record of 3 days the lake holds (2024-01-15 .. 2024-01-19): "
        "make ledger-rebuild rebuilds it from their manifests"
    )
    assert unrecorded_line([DAY1], "s3://bucket/lake") == (
        f"the ledger has no record of 1 day the lake holds ({DAY1}): "
        "LAKEHOUSE_DATA=s3://bucket/lake make ledger-rebuild rebuilds it from their manifests"
    )


def test_the_readme_and_make_help_name_the_command():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\nledger-rebuild: setup ## " in makefile and "\n\t$(PY) -m extract ledger rebuild\n" in makefile
    ledger_section = (REPO_ROOT / "README.md").read_text().split("### Any day, gated steps", 1)[1].split("\n### ", 1)[0]
    assert "make ledger-rebuild" in ledger_section and "python -m extract ledger rebuild" in ledger_section
