"""A smoke run of the benchmark at SF 1, with the S3 lake and Spark: every method runs, with phases, ratios, goals."""

from __future__ import annotations

from bench.run import add_scaling, print_table, run


def test_benchmark_smoke_run_at_scale_one(settings, capsys):
    summary = run(1.0, runs=1, lake="s3")
    methods = summary["methods"]
    assert set(methods) == {
        "psql_copy_out",
        "duckdb_copy_out",
        "step1_extract",
        "step1_extract_s3",
        "psql_by_hand",
        "dbt_version",
        "step2_load",
        "step2_load_s3",
        "step2_load_spark",
    }
    assert summary["rows"] > 3000
    assert all(m["wall_s"] > 0 and m["peak_rss_mib"] > 0 and m["cpu_s"] >= 0 for m in methods.values())
    # The server's share is read from /proc: the load surely keeps PostgreSQL busy.
    assert methods["step2_load"]["postgres_cpu_s"] > 0
    # Where the time went, from each step's ledger entry.
    for step in ("step1_extract", "step1_extract_s3"):
        assert {"process start", "catalog", "read and encode", "checksums", "reconcile", "publish"} <= set(
            methods[step]["phases_s"]
        )
    for step in ("step2_load", "step2_load_s3"):
        phases = methods[step]["phases_s"]
        assert {"start-up", "lakehouse_gate", "load_raw_tables", "view models", "table models", "tests"} <= set(phases)
        assert sum(phases.values()) > 0.5 * methods[step]["wall_s"]
    # On Spark, the Spark build's phases come first, then those of the build that publishes its marts.
    assert {"spark start-up", "spark tests", "spark marts into the lake", "table models"} <= set(
        methods["step2_load_spark"]["phases_s"]
    )
    assert summary["ratios"]["step2_spark_vs_duckdb"] > 0
    assert set(summary["goals"]) == {
        "dbt_fixed_cost_vs_dbt_version",
        "step1_extract_peak_rss_mib",
        "step2_load_peak_rss_mib",
    }
    assert summary["ratios"]["step2_vs_psql_by_hand"] > 0
    assert summary["ratios"]["step1_s3_vs_local"] > 0 and summary["ratios"]["step2_s3_vs_local"] > 0
    smaller = {"sf": 0.5, "methods": {m: {"s_per_million_rows": methods[m]["s_per_million_rows"] / 2} for m in methods}}
    add_scaling(summary, smaller)
    assert summary["goals"]["step2_load_s_per_million_rows_vs_sf0.5"] == {"value": 2.0, "goal": 1.2, "met": False}
    print_table(summary)
    out = capsys.readouterr().out
    assert "step2_vs_psql_by_hand" in out and "goal dbt_fixed_cost_vs_dbt_version" in out
    assert "step2_load phases (s): process start" in out
