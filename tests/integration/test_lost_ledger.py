"""A lost ledger: `make status` says so, and the command it prints rebuilds step 1's entries from the manifests."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict

from helpers import DAY, cli

from extract import ledger
from extract.config import REPO_ROOT
from extract.lake import partition_file, read_manifest

DAY2 = "2024-01-16"


def _manifests(settings, date: str, source: str) -> list[dict]:
    """The manifests of a day's partitions of ``source``, as the ledger lists them (by table)."""
    tables = sorted(p.parent.parent.name for p in settings.data_dir.glob(f"{source}/*/{date}/_manifest.json"))
    return [asdict(read_manifest(settings.lake, source, table, date)) for table in tables]


def test_a_lost_ledger_is_named_by_status_and_rebuilt_from_the_manifests(demo, lake_env):
    extracted = cli(lake_env, "extract", "--date", DAY2)
    assert extracted.returncode == 0, extracted.stderr
    recorded = {(e["date"], e["step"]): e for e in ledger.read(demo.lake)}
    shutil.rmtree(demo.data_dir / "_ledger")

    status = cli(lake_env, "status")
    assert status.returncode == 0, status.stderr
    lake = lake_env["LAKEHOUSE_DATA"]
    command = f"LAKEHOUSE_DATA={lake} make ledger-rebuild"
    assert status.stdout.splitlines() == [
        f"no runs recorded in {lake}/_ledger",
        f"the ledger has no record of 2 days the lake holds ({DAY} .. {DAY2}): {command} rebuilds it from "
        "their manifests",
    ]

    # The command as status prints it, run as it is.
    # As a user's shell has it: under `make test`, make's own variables would make it name its folders.
    env = {k: v for k, v in lake_env.items() if k not in ("LAKEHOUSE_DATA", "MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    rebuilt = subprocess.run(command, shell=True, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    out = [line for line in rebuilt.stdout.splitlines() if not line.startswith(".venv/")]  # make echoes its recipe
    for line, date in zip(out, (DAY, DAY2), strict=False):
        assert line.startswith(f"{date}: rebuilt extract_postgres success: 13 partitions, "), out
        csv_rows = recorded[date, "extract_csv"]["rows"]
        assert line.endswith(f"; extract_csv success: 1 partition, {csv_rows} rows"), out
    assert out[2:] == [f"ledger rebuilt: 4 entries for 2 days in {lake}/_ledger"]
    entries = {(e["date"], e["step"]): e for e in ledger.read(demo.lake)}
    assert sorted(entries) == sorted(recorded)
    for (date, step), entry in entries.items():
        manifests = _manifests(demo, date, step.removeprefix("extract_"))
        assert entry["status"] == "success" and entry["rebuilt"] is True
        assert entry["details"]["partitions"] == manifests == recorded[date, step]["details"]["partitions"]
        assert (entry["rows"], entry["bytes"]) == (recorded[date, step]["rows"], recorded[date, step]["bytes"])

    # A second rebuild changes nothing.
    before = {p: p.read_bytes() for p in (demo.data_dir / "_ledger").rglob("*.json")}
    again = cli(lake_env, "ledger", "rebuild")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "nothing to rebuild: the ledger records step 1 of every day the lake holds (2 days)"
    ]
    assert {p: p.read_bytes() for p in (demo.data_dir / "_ledger").rglob("*.json")} == before

    # Status names no lost day now; the load of the day passes the gate (and history's checks of both days).
    status = cli(lake_env, "status")
    assert "no record" not in status.stdout and f"{DAY2}  ✓" in status.stdout, status.stdout
    loaded = cli(lake_env, "load", "--date", DAY)
    assert loaded.returncode == 0, loaded.stdout[-3000:] + loaded.stderr[-3000:]
    assert {e["step"]: e["status"] for e in ledger.read(demo.lake, DAY)}["load"] == "success"


def test_a_partition_altered_in_place_is_left_out_of_the_rebuilt_ledger(demo, lake_env):
    shutil.rmtree(demo.data_dir / "_ledger")
    altered = demo.data_dir / partition_file("postgres", "customers", DAY)
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 1  # the same size, one bit flipped
    altered.write_bytes(bytes(data))

    rebuilt = cli(lake_env, "ledger", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    lake = lake_env["LAKEHOUSE_DATA"]
    out = rebuilt.stdout.splitlines()
    assert out[0].startswith(f"{DAY}: rebuilt extract_postgres failed: 12 partitions, ")
    assert out[1:] == [
        f"  left out: postgres/customers for {DAY}: {altered} does not match its manifest (size or checksum differ)",
        f"ledger rebuilt: 2 entries for 1 day in {lake}/_ledger; "
        "1 partition left out (its step is recorded as failed: rerun step 1)",
    ]
    entries = {e["step"]: e for e in ledger.read(demo.lake, DAY)}
    assert entries["extract_csv"]["status"] == "success"
    assert entries["extract_postgres"]["status"] == "failed"
    assert entries["extract_postgres"]["details"]["partitions"] == [
        m for m in _manifests(demo, DAY, "postgres") if m["table"] != "customers"
    ]

    # Status shows the day's step 1 as failed, naming the partition, and the rerun; the gate refuses the day.
    status = cli(lake_env, "status").stdout
    assert f"extract_postgres: failed: postgres/customers for {DAY}: {altered}" in status, status
    assert f"rerun: LAKEHOUSE_DATA={lake} make extract load export DATE={DAY}" in status
    refused = cli(lake_env, "load", "--date", DAY)
    assert refused.returncode == 12 and "Running with dbt" not in refused.stdout
    assert f"extract_postgres is failed: postgres/customers for {DAY}" in refused.stderr
