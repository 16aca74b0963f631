"""Benchmark step 1 and step 2 against psql's \\copy and a raw DuckDB COPY, on the same demo source.

Usage: python bench/run.py --sf 1000 [--runs 3] [--lake s3]   (``make bench SF=1000 LAKE=s3``)

Every method runs as its own process; wall time and peak RSS (the process and the
children it waits for) are read from ``wait4``. Runs are interleaved and medians
reported, with ratios against psql measured in the same run. ``--lake s3`` adds steps 1
and 2 with the lake on a local S3 server (moto), against the local disk in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg2

from bench.local_s3 import local_s3
from extract import duck, server
from extract.config import REPO_ROOT, load_settings
from extract.flat_files import SCHEMAS
from extract.postgres import SOURCE_ALIAS, attach, describe_tables
from extract.sql import quote

RESULTS = REPO_ROOT / "bench" / "results"
PSQL = str(server.POSTGRES_BIN / "psql")
DATE = "2024-01-15"
DUCKDB_COPY = """
import sys, duckdb
from extract import duck
source, csv, out = sys.argv[1:]
con = duck.connect()
con.execute(f"attach '{source}' as s (type postgres, read_only)")
tables = "select table_name from duckdb_tables() where database_name = 's' and schema_name = 'public'"
for (table,) in con.execute(tables).fetchall():
    con.execute(f"copy s.public.{table} to '{out}/{table}.parquet' (format parquet)")
con.execute(f"copy (select * from read_csv('{csv}')) to '{out}/order_details.parquet' (format parquet)")
"""


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]
    return sum(int(field) for field in fields) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of the embedded server: the postmaster, its live processes and the ones it has reaped."""
    postmaster = int((load_settings().pgdata / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile; the postmaster has reaped it
        pid, parent = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # its own time and its reaped children's
        elif parent == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command``; its wall seconds, peak RSS in MiB and CPU seconds, or raise if it fails.

    ``cpu_s`` counts every process on the machine, PostgreSQL's included: on this
    2-core machine, half of it is the least wall time the method can take.
    ``postgres_cpu_s`` is the share of the embedded PostgreSQL server.
    """
    cpu, postgres_cpu = busy_cpu_seconds(), postgres_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.stdout.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output.decode(errors='replace')[-3000:]}")
    return {
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_s": busy_cpu_seconds() - cpu,
        "postgres_cpu_s": postgres_cpu_seconds() - postgres_cpu,
    }


def prepare(sf: float, work: Path) -> tuple[dict[str, str], dict]:
    """Fresh source and warehouse databases for ``sf`` on the embedded server, seeded; the env to reach them."""
    settings = load_settings()
    server.start(settings)
    server.ensure_databases(settings)
    names = {"source": f"bench_source_sf{sf:g}", "warehouse": f"bench_warehouse_sf{sf:g}"}
    conn = psycopg2.connect(settings.embedded_dsn("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names.values():
            cur.execute(f'drop database if exists "{name}"')
            cur.execute(f'create database "{name}"')
    conn.close()
    env = {
        **os.environ,
        "LAKEHOUSE_DATA": str(work / "lake"),
        "SOURCE_DSN": settings.embedded_dsn(names["source"]),
        "WAREHOUSE_DSN": settings.embedded_dsn(names["warehouse"]),
    }
    seed = measure([sys.executable, "-m", "extract", "seed", "--scale", f"{sf:g}", "--force"], env)
    return env, {"generate_s": seed["wall_s"]}


def commands(env: dict[str, str], work: Path, s3_env: dict[str, str] | None) -> dict[str, tuple[list[str], dict]]:
    """The command of each method and its environment, by name; with ``s3_env``, the steps on S3 too."""
    source, warehouse = env["SOURCE_DSN"], env["WAREHOUSE_DSN"]
    csv = str(Path(env["LAKEHOUSE_DATA"]) / "demo" / "order_details.csv")
    with duck.connect() as con:
        attach(con, source, SOURCE_ALIAS, read_only=True)
        columns = {
            table: ", ".join(f"{quote(c.name)} {c.source_type}" for c in entry["columns"])
            for table, entry in describe_tables(con).items()
        }
    columns["order_details"] = ", ".join(f"{quote(name)} {pg}" for name, (_, pg) in SCHEMAS["order_details"].items())
    tables = sorted(set(columns) - {"order_details"})
    out, duck_out = work / "psql", work / "duckdb"
    copy_out = "".join(f"\\copy {t} to '{out}/{t}.csv' csv header\n" for t in tables)
    copy_in = "drop schema if exists bench_copy cascade; create schema bench_copy;\n"
    copy_in += "".join(f"create table bench_copy.{t} ({ddl});\n" for t, ddl in columns.items())
    copy_in += "".join(f"\\copy bench_copy.{t} from '{out}/{t}.csv' csv header\n" for t in [*tables, "order_details"])
    for folder in (out, duck_out):
        folder.mkdir(parents=True, exist_ok=True)
    (work / "copy_out.sql").write_text(copy_out)
    (work / "copy_in.sql").write_text(copy_in)
    shell = ["bash", "-c"]
    extract = [sys.executable, "-m", "extract", "extract", "--date", DATE, "--csv", csv, "--quiet"]
    load = [sys.executable, "-m", "extract", "load", "--date", DATE]
    methods = {
        "psql_copy_out": shell
        + [f"{PSQL} -X -q -d '{source}' -f {work}/copy_out.sql && cp {csv} {out}/order_details.csv"],
        "duckdb_copy_out": [sys.executable, "-c", DUCKDB_COPY, source, csv, str(duck_out)],
        "step1_extract": extract,
        "step1_extract_s3": extract,
        "psql_copy_in": shell + [f"{PSQL} -X -q -v ON_ERROR_STOP=1 -d '{warehouse}' -f {work}/copy_in.sql"],
        "step2_load": load,
        "step2_load_s3": load,
    }
    return {
        name: (command, s3_env if name.endswith("_s3") else env)
        for name, command in methods.items()
        if s3_env or not name.endswith("_s3")
    }


def run(sf: float, runs: int, lake: str = "local") -> dict:
    """Benchmark every method ``runs`` times at scale ``sf``; the summary as a dict."""
    work = REPO_ROOT / "data" / "bench" / f"sf{sf:g}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env, generation = prepare(sf, work)
    with ExitStack() as stack:
        s3_env = None
        if lake == "s3":
            s3 = stack.enter_context(local_s3(work / "moto.log", "bench"))
            s3_env = {
                **env,
                **s3["env"],
                "LAKEHOUSE_DATA": f"s3://bench/sf{sf:g}",
                "LAKEHOUSE_STATE": str(work / "state"),
            }
        methods = commands(env, work, s3_env)
        samples: dict[str, list[dict]] = {name: [] for name in methods}
        for _ in range(runs):
            for name, (command, method_env) in methods.items():
                samples[name].append(measure(command, method_env))
    csv_bytes = sum(p.stat().st_size for p in (work / "psql").glob("*.csv"))
    rows = sum(
        json.loads(p.read_text())["rows"] for p in (Path(env["LAKEHOUSE_DATA"])).glob(f"*/*/{DATE}/_manifest.json")
    )
    summary = {
        "sf": sf,
        "runs": runs,
        "date": dt.date.today().isoformat(),
        "rows": rows,
        "csv_bytes": csv_bytes,
        **generation,
        "methods": {},
    }
    for name, values in samples.items():
        wall = statistics.median(v["wall_s"] for v in values)
        summary["methods"][name] = {
            "wall_s": round(wall, 3),
            "peak_rss_mib": round(statistics.median(v["peak_rss_mib"] for v in values), 1),
            "cpu_s": round(statistics.median(v["cpu_s"] for v in values), 2),
            "postgres_cpu_s": round(statistics.median(v["postgres_cpu_s"] for v in values), 2),
            "rows_per_s": round(rows / wall),
            "mb_per_s": round(csv_bytes / 1e6 / wall, 1),
            "samples_s": [round(v["wall_s"], 3) for v in values],
        }
    m = summary["methods"]
    summary["ratios"] = {
        "step1_vs_psql_out": round(m["step1_extract"]["wall_s"] / m["psql_copy_out"]["wall_s"], 2),
        "step1_vs_duckdb_out": round(m["step1_extract"]["wall_s"] / m["duckdb_copy_out"]["wall_s"], 2),
        "step2_vs_psql_in": round(m["step2_load"]["wall_s"] / m["psql_copy_in"]["wall_s"], 2),
    }
    if lake == "s3":
        summary["ratios"]["step1_s3_vs_local"] = round(
            m["step1_extract_s3"]["wall_s"] / m["step1_extract"]["wall_s"], 2
        )
        summary["ratios"]["step2_s3_vs_local"] = round(m["step2_load_s3"]["wall_s"] / m["step2_load"]["wall_s"], 2)
    return summary


def print_table(summary: dict) -> None:
    """The summary as a table."""
    print(
        f"\nSF {summary['sf']:g}: {summary['rows']:,} rows, {summary['csv_bytes'] / 1e6:.1f} MB as CSV, "
        f"generated in {summary['generate_s']:.2f} s; medians of {summary['runs']} runs"
    )
    print(f"  {'method':<18}{'wall s':>9}{'CPU s':>8}{'PG CPU s':>10}{'rows/s':>13}{'MB/s':>8}{'peak RSS MiB':>14}")
    for name, m in summary["methods"].items():
        print(
            f"  {name:<18}{m['wall_s']:>9.3f}{m['cpu_s']:>8.2f}{m['postgres_cpu_s']:>10.2f}{m['rows_per_s']:>13,}"
            f"{m['mb_per_s']:>8.1f}{m['peak_rss_mib']:>14.1f}"
        )
    for name, ratio in summary["ratios"].items():
        print(f"  {name}: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, nargs="+", default=[1.0], help="scale factors to run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lake", choices=["local", "s3"], default="local", help="s3: also steps 1 and 2 on S3")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for sf in args.sf:
        summary = run(sf, args.runs, args.lake)
        suffix = "-s3" if args.lake == "s3" else ""
        path = RESULTS / f"{summary['date']}-sf{sf:g}{suffix}.json"
        path.write_text(json.dumps(summary, indent=2) + "\n")
        print_table(summary)
        print(f"  written: {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
