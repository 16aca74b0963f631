"""A smoke run of the benchmark at SF 1, with the S3 lake: every method runs, and the ratios come out."""

from __future__ import annotations

from bench.run import print_table, run


def test_benchmark_smoke_run_at_scale_one(settings, capsys):
    summary = run(1.0, runs=1, lake="s3")
    assert set(summary["methods"]) == {
        "psql_copy_out",
        "duckdb_copy_out",
        "step1_extract",
        "step1_extract_s3",
        "psql_copy_in",
        "step2_load",
        "step2_load_s3",
    }
    assert summary["rows"] > 3000
    assert all(m["wall_s"] > 0 and m["peak_rss_mib"] > 0 and m["cpu_s"] >= 0 for m in summary["methods"].values())
    # The server's share is read from /proc: the load surely keeps PostgreSQL busy.
    assert summary["methods"]["step2_load"]["postgres_cpu_s"] > 0
    assert summary["ratios"]["step1_vs_psql_out"] > 0
    assert summary["ratios"]["step1_s3_vs_local"] > 0 and summary["ratios"]["step2_s3_vs_local"] > 0
    print_table(summary)
    assert "step2_vs_psql_in" in capsys.readouterr().out
