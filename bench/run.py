"""Benchmark step 1 and step 2 against the same work done by hand, on the same demo source.

Usage: python -m bench.run --sf 1 1000 [--runs 3] [--lake s3]   (``make bench SF="1 1000" LAKE=s3``)

Every method runs as its own process; wall time and peak RSS (the process and the
children it waits for) are read from ``wait4``. Runs are interleaved and medians
reported, with ratios against baselines measured in the same run: step 1 against a bare
DuckDB ``COPY`` of every table and the CSV to Parquet, step 2 against the same load,
marts, keys and relationship checks written by hand in one psql session
(bench/by_hand.sql), and dbt's fixed cost against ``dbt build`` of a trivial project with
as many views, tables and tests on as many threads (bench/floor.py: dbt's own floor) and
against a bare ``dbt --version``. Every run of step 2 loads a day never loaded before, as a
daily pipeline does (the day is extracted first, unmeasured), after a warm-up run that
leaves dbt's partial parse. Each step's seconds per phase come from its ledger entry.
``--lake s3`` adds steps 1 and 2 with the lake on a local S3 server (moto), against the
local disk in the same run. At SF 1, 100 and 1000, step 2 also runs on the spark target,
against the lakehouse target's; with ``--lake s3``, also on a local Spark cluster (a master and
two workers, ``make spark-cluster``'s) reading and writing the S3 lake, against the lakehouse
target on that lake.
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from itertools import count
from pathlib import Path

import psycopg2

from bench import floor
from bench.local_s3 import local_s3
from extract import duck, ledger, server, spark_cluster
from extract.config import REPO_ROOT, load_settings, redact
from extract.dbt import target_dir
from extract.flat_files import SCHEMAS
from extract.postgres import SOURCE_ALIAS, attach, describe_tables
from extract.spark_cluster import Cluster
from extract.sql import quote

RESULTS = REPO_ROOT / "bench" / "results"
PSQL = str(server.POSTGRES_BIN / "psql")
DATE = "2024-01-15"
BY_HAND = REPO_ROOT / "bench" / "by_hand.sql"
# The ledger steps each method runs, for its phases (its "_s3" twin runs the same).
STEPS = {"step1_extract": ["extract_postgres", "extract_csv"], "step2_load": ["load"], "step2_load_spark": ["load"]}
# Methods that load a day never loaded before, each run: what a daily pipeline pays.
NEW_DAY = ("step2_load", "step2_load_s3", "step2_load_spark", "step2_load_spark_s3")
PARTIAL_PARSE = target_dir() / "partial_parse.msgpack"
# Scale factors at which step 2 also runs on the spark target (make load TARGET=spark).
SPARK_SCALES = (1, 100, 1000)
# name: (method, baseline, at most this ratio, at scale factors from .. to); the ratio is reported up to "to".
RATIO_GOALS = {
    "step1_vs_duckdb_copy": ("step1_extract", "duckdb_copy_out", 1.2, (1000, 10000)),
    "step2_vs_psql_by_hand": ("step2_load", "psql_by_hand", 1.3, (1000, 10000)),
    "step2_load_vs_dbt_floor": ("step2_load", "dbt_floor", 1.2, (1, 1)),
    "dbt_fixed_cost_vs_dbt_version": ("step2_load", "dbt_version", 2.0, (1, 1)),
}
# Peak RSS, MiB, at any scale.
MEMORY_GOALS = {"step1_extract": 300, "step2_load": 1024}
# Seconds per million rows at one scale against the next smaller scale of the same run.
SCALING_GOAL = 1.2
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
    into = redact(env["SOURCE_DSN"])  # the bench's own database, named as a source of the user's must be
    seed = measure([sys.executable, "-m", "extract", "seed", "--scale", f"{sf:g}", "--force", "--into", into], env)
    return env, {"generate_s": seed["wall_s"]}


def commands(
    env: dict[str, str], work: Path, s3_env: dict[str, str] | None, spark: bool
) -> dict[str, tuple[list[str], dict]]:
    """The command of each method and its environment, by name; with ``s3_env``, the steps on S3 too,
    and with ``spark``, step 2 on the spark target (on S3, on the cluster ``s3_env`` names). Step 2's
    commands lack ``--date``: each run gets a new day (``sample``)."""
    source, warehouse = env["SOURCE_DSN"], env["WAREHOUSE_DSN"]
    csv = demo_csv(work)
    with duck.connect() as con:
        attach(con, source, SOURCE_ALIAS, read_only=True)
        columns = {
            table: ", ".join(f"{quote(c.name)} {c.source_type}" for c in entry["columns"])
            for (schema, table), entry in describe_tables(con).items()
            if schema == "public"  # the demo's: the by-hand baselines copy these
        }
    columns["order_details"] = ", ".join(f"{quote(name)} {pg}" for name, (_, pg) in SCHEMAS["order_details"].items())
    tables = sorted(set(columns) - {"order_details"})
    out, duck_out = work / "psql", work / "duckdb"
    copy_out = "".join(f"\\copy {t} to '{out}/{t}.csv' csv header\n" for t in tables)
    by_hand = "drop schema if exists bench_copy cascade; create schema bench_copy;\n"
    by_hand += "".join(f"create table bench_copy.{t} ({ddl});\n" for t, ddl in columns.items())
    by_hand += "".join(f"\\copy bench_copy.{t} from '{out}/{t}.csv' csv header\n" for t in [*tables, "order_details"])
    by_hand += BY_HAND.read_text()
    for folder in (out, duck_out):
        folder.mkdir(parents=True, exist_ok=True)
    (work / "copy_out.sql").write_text(copy_out)
    (work / "by_hand.sql").write_text(by_hand)
    shell = ["bash", "-c"]
    extract = extract_command(work, DATE)
    load = [sys.executable, "-m", "extract", "load"]
    methods = {
        "psql_copy_out": shell
        + [f"{PSQL} -X -q -d '{source}' -f {work}/copy_out.sql && cp {csv} {out}/order_details.csv"],
        "duckdb_copy_out": [sys.executable, "-c", DUCKDB_COPY, source, csv, str(duck_out)],
        "step1_extract": extract,
        "step1_extract_s3": extract,
        "psql_by_hand": [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-d", warehouse]
        + ["-f", f"{work}/by_hand.sql"],
        "dbt_version": [floor.DBT, "--version"],
        "dbt_floor": floor.build_command(work / "dbt_floor"),
        "step2_load": load,
        "step2_load_s3": load,
        "step2_load_spark": [*load, "--target", "spark"],
        "step2_load_spark_s3": [*load, "--target", "spark"],
    }
    return {
        name: (command, s3_env if name.endswith("_s3") else floor.build_env(env) if name == "dbt_floor" else env)
        for name, command in methods.items()
        if (s3_env or not name.endswith("_s3")) and (spark or "_spark" not in name)
    }


def demo_csv(work: Path) -> str:
    """The demo source's CSV, which ``extract seed`` writes into the local lake (``prepare``)."""
    return str(work / "lake" / "demo" / "order_details.csv")


def extract_command(work: Path, date: str) -> list[str]:
    """Step 1 for ``date`` from the demo source (make extract), into the lake its environment names."""
    return [sys.executable, "-m", "extract", "extract", "--date", date, "--csv", demo_csv(work), "--quiet"]


def new_days() -> Iterator[str]:
    """Days after the bench date, one for each load: none is loaded twice."""
    start = dt.date.fromisoformat(DATE)
    return ((start + dt.timedelta(days=n)).isoformat() for n in count(1))


@contextmanager
def own_partial_parse(saved: Path) -> Iterator[None]:
    """dbt's partial parse as this method's last run left it, kept for its next run.

    dbt keeps one partial parse per project and parses it all again when the profile or the
    target changes: interleaved, step 2 and its S3 and Spark twins would hand each other a
    full parse that a daily pipeline, on one lake and target, never pays.
    """
    if saved.exists():
        shutil.copy2(saved, PARTIAL_PARSE)
    yield
    saved.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PARTIAL_PARSE, saved)


def sample(name: str, method: tuple[list[str], dict], work: Path, days: Iterator[str]) -> dict:
    """One measured run of method ``name``, with its phases; a step 2 method loads the next of ``days``,
    extracted first outside the measured time, on its own partial parse."""
    command, env = method
    new_day = name in NEW_DAY
    day = next(days) if new_day else DATE
    with ExitStack() as stack:
        if new_day:
            measure(extract_command(work, day), env)
            stack.enter_context(own_partial_parse(work / "partial_parse" / f"{name}.msgpack"))
            command = [*command, "--date", day]
        result = measure(command, env) | ({"day": day} if new_day else {})
    steps = STEPS.get(name.removesuffix("_s3"))
    if steps:
        result["phases"] = step_phases(env, steps, result["wall_s"], day)
    return result


def warm_up(methods: dict[str, tuple[list[str], dict]], work: Path, days: Iterator[str]) -> floor.Shape:
    """Run each dbt method once, unmeasured, to leave what yesterday's run leaves: its partial parse
    and its relations. Our first load's manifest gives dbt's floor its shape, which is returned."""
    sample("step2_load", methods["step2_load"], work, days)
    shape = floor.shape_of(target_dir() / "manifest.json", REPO_ROOT / "profiles.yml")
    floor.write_project(work / "dbt_floor", shape)
    for name in ("dbt_floor", *NEW_DAY[1:]):
        if name in methods:
            sample(name, methods[name], work, days)
    return shape


def step_phases(env: dict[str, str], steps: list[str], wall: float, date: str) -> dict[str, float]:
    """Seconds per phase of ``steps``, from their ledger entries of ``date``.

    ``process start`` is the wall time outside the steps: Python, imports, settings and
    the lake check. Phases of steps that ran side by side add up to more than the wall time.
    """
    entries = [e for e in ledger.read(load_settings(env).lake, date) if e["step"] in steps]
    phases = {"process start": wall - max(e["duration_s"] for e in entries)}
    for entry in entries:
        for name, seconds in entry.get("phases", {}).items():
            phases[name] = phases.get(name, 0.0) + seconds
    return phases


def runs_at(sf: float, runs: int) -> int:
    """How many runs of each method at scale ``sf``: one is enough from SF 10000 on."""
    return 1 if sf >= 10000 else runs


def run(sf: float, runs: int, lake: str = "local", spark: bool = True) -> dict:
    """Benchmark every method ``runs`` times at scale ``sf``; the summary as a dict.

    ``spark=False`` leaves out step 2 on Spark even at SPARK_SCALES (a JVM's minute).
    """
    work = REPO_ROOT / "data" / "bench" / f"sf{sf:g}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env, generation = prepare(sf, work)
    runs = runs_at(sf, runs)
    with ExitStack() as stack:
        s3_env = None
        on_spark = spark and sf in SPARK_SCALES
        if lake == "s3":
            s3 = stack.enter_context(local_s3(work / "moto.log", "bench"))
            s3_env = {
                **env,
                **s3["env"],
                "LAKEHOUSE_DATA": f"s3://bench/sf{sf:g}",
                "LAKEHOUSE_STATE": str(work / "state"),
            }
            if on_spark:
                cluster = Cluster(work / "cluster")
                stack.callback(spark_cluster.stop, cluster)  # also what a start that failed half-way left
                spark_cluster.start(cluster)
                s3_env["LAKEHOUSE_SPARK_MASTER"] = cluster.master
        methods = commands(env, work, s3_env, spark=on_spark)
        days = new_days()
        shape = warm_up(methods, work, days)
        samples: dict[str, list[dict]] = {name: [] for name in methods}
        for _ in range(runs):
            for name, method in methods.items():
                samples[name].append(sample(name, method, work, days))
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
        "dbt_floor_shape": asdict(shape),
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
            "s_per_million_rows": round(wall / rows * 1e6, 3),
            "samples_s": [round(v["wall_s"], 3) for v in values],
        }
        if "day" in values[0]:
            summary["methods"][name]["days"] = [v["day"] for v in values]
        if "phases" in values[0]:
            summary["methods"][name]["phases_s"] = {
                phase: round(statistics.median(v["phases"].get(phase, 0.0) for v in values), 3)
                for phase in values[0]["phases"]
            }
    m = summary["methods"]
    summary["ratios"] = {
        name: round(m[method]["wall_s"] / m[baseline]["wall_s"], 2)
        for name, (method, baseline, _, (_, high)) in RATIO_GOALS.items()
        if sf <= high
    }
    summary["ratios"]["step1_vs_psql_out"] = round(m["step1_extract"]["wall_s"] / m["psql_copy_out"]["wall_s"], 2)
    summary["goals"] = {
        name: goal(summary["ratios"][name], limit)
        for name, (_, _, limit, (low, high)) in RATIO_GOALS.items()
        if low <= sf <= high
    }
    summary["goals"].update(
        {
            f"{method}_peak_rss_mib": goal(m[method]["peak_rss_mib"], limit)
            for method, limit in MEMORY_GOALS.items()
            if method in m
        }
    )
    if "step2_load_spark" in m:
        summary["ratios"]["step2_spark_vs_duckdb"] = round(
            m["step2_load_spark"]["wall_s"] / m["step2_load"]["wall_s"], 2
        )
    if "step2_load_spark_s3" in m:
        summary["ratios"]["step2_spark_cluster_s3_vs_duckdb_s3"] = round(
            m["step2_load_spark_s3"]["wall_s"] / m["step2_load_s3"]["wall_s"], 2
        )
    if lake == "s3":
        summary["ratios"]["step1_s3_vs_local"] = round(
            m["step1_extract_s3"]["wall_s"] / m["step1_extract"]["wall_s"], 2
        )
        summary["ratios"]["step2_s3_vs_local"] = round(m["step2_load_s3"]["wall_s"] / m["step2_load"]["wall_s"], 2)
    return summary


def goal(value: float, limit: float) -> dict:
    """A measured value against its goal (at most ``limit``)."""
    return {"value": round(value, 2), "goal": limit, "met": value <= limit}


def add_scaling(summary: dict, smaller: dict) -> None:
    """Seconds per million rows of each step at ``summary``'s scale against ``smaller``'s, from the same bench run."""
    for method in ("step1_extract", "step2_load"):
        ratio = summary["methods"][method]["s_per_million_rows"] / smaller["methods"][method]["s_per_million_rows"]
        summary["goals"][f"{method}_s_per_million_rows_vs_sf{smaller['sf']:g}"] = goal(ratio, SCALING_GOAL)


def print_table(summary: dict) -> None:
    """The summary as a table, the phases of each step and the goals."""
    print(
        f"\nSF {summary['sf']:g}: {summary['rows']:,} rows, {summary['csv_bytes'] / 1e6:.1f} MB as CSV, "
        f"generated in {summary['generate_s']:.2f} s; medians of {summary['runs']} runs"
    )
    print(
        f"  {'method':<18}{'wall s':>9}{'CPU s':>8}{'PG CPU s':>10}{'rows/s':>13}{'s/M rows':>10}{'peak RSS MiB':>14}"
    )
    for name, m in summary["methods"].items():
        print(
            f"  {name:<18}{m['wall_s']:>9.3f}{m['cpu_s']:>8.2f}{m['postgres_cpu_s']:>10.2f}{m['rows_per_s']:>13,}"
            f"{m['s_per_million_rows']:>10.2f}{m['peak_rss_mib']:>14.1f}"
        )
    shape = summary["dbt_floor_shape"]
    print(
        f"  dbt_floor: a trivial project of {shape['views']} views, {shape['tables']} tables and "
        f"{shape['tests']} tests on {shape['threads']} threads"
    )
    for name, m in summary["methods"].items():
        if "phases_s" in m:
            print(f"  {name} phases (s): " + ", ".join(f"{p} {s:.2f}" for p, s in m["phases_s"].items()))
    for name, ratio in summary["ratios"].items():
        print(f"  {name}: {ratio:.2f}x")
    for name, g in summary["goals"].items():
        print(f"  goal {name}: {g['value']:g} (at most {g['goal']:g}): {'met' if g['met'] else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, nargs="+", default=[1.0], help="scale factors to run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lake", choices=["local", "s3"], default="local", help="s3: also steps 1 and 2 on S3")
    parser.add_argument("--no-spark", dest="spark", action="store_false", help="leave out step 2 on Spark")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    smaller = None
    for sf in sorted(args.sf):
        summary = run(sf, args.runs, args.lake, spark=args.spark)
        if smaller is not None:
            add_scaling(summary, smaller)
        smaller = summary
        suffix = "-s3" if args.lake == "s3" else ""
        path = RESULTS / f"{summary['date']}-sf{sf:g}{suffix}.json"
        path.write_text(json.dumps(summary, indent=2) + "\n")
        print_table(summary)
        print(f"  written: {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
