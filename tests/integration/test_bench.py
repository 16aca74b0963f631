"""A smoke run of the benchmark at SF 1 on the local lake (S3 and Spark cost minutes; make bench runs them):
every method runs, with phases, ratios, goals; every load is of a day of its own; dbt's floor is a trivial
project of our project's shape."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from helpers import TARGET_DIR

from bench import history
from bench.floor import shape_of
from bench.run import DATE, add_scaling, print_table, run
from extract import ledger
from extract.config import REPO_ROOT, load_settings


@pytest.mark.bench
def test_benchmark_smoke_run_at_scale_one(settings, capsys):
    summary = run(1.0, runs=1, spark=False)
    methods = summary["methods"]
    assert set(methods) == {
        "psql_copy_out",
        "duckdb_copy_out",
        "step1_extract",
        "psql_by_hand",
        "dbt_version",
        "dbt_floor",
        "step2_load",
    }
    assert summary["rows"] > 3000
    assert all(m["wall_s"] > 0 and m["peak_rss_mib"] > 0 and m["cpu_s"] >= 0 for m in methods.values())
    # The server's share is read from /proc: the load surely keeps PostgreSQL busy.
    assert methods["step2_load"]["postgres_cpu_s"] > 0
    # Where the time went, from each step's ledger entry.
    assert {"process start", "catalog", "read and encode", "checksums", "reconcile", "publish"} <= set(
        methods["step1_extract"]["phases_s"]
    )
    phases = methods["step2_load"]["phases_s"]
    assert {"start-up", "lakehouse_gate", "load_raw_tables", "view models", "table models", "tests"} <= set(phases)
    assert sum(phases.values()) > 0.5 * methods["step2_load"]["wall_s"]
    # The warm-up and the measured run each loaded a day of their own, not step 1's day.
    lake = load_settings({"LAKEHOUSE_DATA": str(REPO_ROOT / "data" / "bench" / "sf1" / "lake")}).lake
    loaded = [entry["date"] for entry in ledger.read(lake) if entry["step"] == "load"]
    assert len(set(loaded)) == len(loaded) == 2 and DATE not in loaded
    assert methods["step2_load"]["days"] == loaded[-1:]
    # dbt's floor has the shape of our project's manifest, and dbt counts the same nodes in the floor's.
    shape = shape_of(TARGET_DIR / "manifest.json", REPO_ROOT / "profiles.yml")
    assert summary["dbt_floor_shape"] == asdict(shape)
    assert shape.views > 10 and shape.tables >= 2 and shape.tests > 30 and shape.threads >= 1
    floor = REPO_ROOT / "data" / "bench" / "sf1" / "dbt_floor"
    assert shape_of(floor / "target" / "manifest.json", floor / "profiles.yml", profile="floor") == shape
    assert summary["ratios"]["step2_load_vs_dbt_floor"] > 0
    assert set(summary["goals"]) == {
        "step2_load_vs_dbt_floor",
        "dbt_fixed_cost_vs_dbt_version",
        "step1_extract_peak_rss_mib",
        "step2_load_peak_rss_mib",
    }
    assert summary["ratios"]["step2_vs_psql_by_hand"] > 0
    smaller = {"sf": 0.5, "methods": {m: {"s_per_million_rows": methods[m]["s_per_million_rows"] / 2} for m in methods}}
    add_scaling(summary, smaller)
    assert summary["goals"]["step2_load_s_per_million_rows_vs_sf0.5"] == {"value": 2.0, "goal": 1.2, "met": False}
    print_table(summary)
    out = capsys.readouterr().out
    assert "step2_vs_psql_by_hand" in out and "goal step2_load_vs_dbt_floor" in out
    assert "dbt_floor: a trivial project of" in out
    assert "step2_load phases (s): process start" in out


@pytest.mark.bench
def test_history_bench_smoke_run(settings):
    summary = history.run(0.2, days=3)
    assert [load["date"] for load in summary["loads"]] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert all(load["history_s"] > 0 and load["load_s"] >= load["history_s"] for load in summary["loads"])
    assert set(summary["goals"]["history_day3_vs_day2"]) == {"value", "goal", "met"}
    assert set(summary["robust"]) == {"median_days2_to_3_vs_days2_to_3", "growth_s_per_day"}
