"""The ledger reads as a scheduler's grid: a step that an upstream step ran again after is not shown as current."""

from __future__ import annotations

import json

import pytest

from extract import ledger
from extract.storage import LocalLake

DAY = "2024-01-15"


def _write(lake, step: str, status: str, started_at: str) -> None:
    folder = lake / "_ledger" / DAY
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"date": DAY, "step": step, "status": status, "started_at": started_at, "pid": 1, "host": "elsewhere"}
    (folder / f"{step}.json").write_text(json.dumps(entry))


def _statuses(lake) -> dict[str, str]:
    return {entry["step"]: entry["status"] for entry in ledger.read(LocalLake(lake), DAY)}


def test_one_run_in_order_is_current(tmp_path):
    for step, second in zip(ledger.STEPS, ("00", "00", "01", "09"), strict=True):
        _write(tmp_path, step, "success", f"2026-11-26T01:00:{second}+00:00")
    assert _statuses(tmp_path) == dict.fromkeys(ledger.STEPS, "success")


@pytest.mark.parametrize(
    ("rerun", "status", "load_and_export"),
    [
        ("extract_csv", "failed", "upstream_failed"),
        ("extract_postgres", "interrupted", "upstream_failed"),
        ("extract_csv", "success", "outdated"),
    ],
)
def test_an_upstream_step_run_again_after(tmp_path, rerun, status, load_and_export):
    for step in ledger.STEPS:
        _write(tmp_path, step, "success", "2026-11-25T01:00:00+00:00")
    _write(tmp_path, rerun, status, "2026-11-26T01:00:00+00:00")
    read = {entry["step"]: entry for entry in ledger.read(LocalLake(tmp_path), DAY)}
    assert read["load"]["status"] == read["export"]["status"] == load_and_export
    assert rerun in read["load"]["error"] and "2026-11-25T01:00:00+00:00" in read["export"]["error"]


def test_a_load_that_failed_leaves_export_upstream_failed(tmp_path):
    for step in ledger.STEPS:
        _write(tmp_path, step, "success", "2026-11-25T01:00:00+00:00")
    _write(tmp_path, "load", "failed", "2026-11-26T01:00:00+00:00")
    assert _statuses(tmp_path) == {
        "extract_postgres": "success",
        "extract_csv": "success",
        "load": "failed",
        "export": "upstream_failed",
    }


def test_the_previous_success_skips_failed_and_later_days(tmp_path):
    lake = LocalLake(tmp_path)
    for day, status in (("2024-01-12", "success"), ("2024-01-13", "success"), ("2024-01-14", "failed")):
        lake.write_text(f"_ledger/{day}/extract_csv.json", json.dumps({"date": day, "status": status}))
    lake.write_text("_ledger/2024-01-16/extract_csv.json", json.dumps({"date": "2024-01-16", "status": "success"}))
    assert ledger.previous_success(lake, DAY, "extract_csv")["date"] == "2024-01-13"
    assert ledger.previous_success(lake, "2024-01-12", "extract_csv") is None
    assert ledger.previous_success(lake, DAY, "extract_postgres") is None
