"""The spark target of step 2: dbt builds and tests the day on Spark, and its marts reach the warehouse.

Spark cannot write into PostgreSQL with what pip installs (its JDBC driver is a Maven
jar), so its marts travel the lake's way: each lands as a partition of source ``spark``
with a manifest (``spark/<mart>/<date>/``), and the lakehouse target publishes them
(``LAKEHOUSE_MARTS_FROM=spark``, macros/spark_marts.sql): checked against their
manifests, reconciled, tested and swapped in with the raw copy, in one transaction.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.error import HTTPError

from .config import Settings
from .dbt import target_dir
from .duck import connect, read_s3
from .lake import Manifest, write_partition
from .sql import literal
from .storage import S3Lake

__all__ = ["HADOOP_AWS", "SOURCE", "check_packages", "land_marts"]

SOURCE = "spark"

# Spark's S3 file system (s3a), at the Hadoop version pyspark bundles (its hadoop-client-api jar);
# Ivy brings its AWS SDK bundle along. profiles.yml asks for it (spark.jars.packages) on an S3 lake.
HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.5.0"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
# Where Spark's Ivy keeps the jars of the packages it fetched (spark.jars.ivy's default).
IVY_JARS = Path.home() / ".ivy2.5.2" / "jars"


class PackageMissing(RuntimeError):
    """A jar the spark target asks for is neither in Spark's Ivy cache nor on Maven Central."""


def check_packages(env: Mapping[str, str]) -> None:
    """Before Spark starts: every package of spark.jars.packages (``LAKEHOUSE_SPARK_PACKAGES``, by
    default HADOOP_AWS on an S3 lake) is in Spark's Ivy cache or on Maven Central.

    Spark would print Ivy's whole report and then fail with an error that names no jar.

    Raises:
        PackageMissing: one line naming the package, why it cannot be had, and how to provide it.
    """
    default = HADOOP_AWS if env.get("LAKEHOUSE_DATA", "").startswith("s3://") else ""
    for coordinate in filter(None, (p.strip() for p in env.get("LAKEHOUSE_SPARK_PACKAGES", default).split(","))):
        group, artifact, version = [*coordinate.split(":"), "", ""][:3]
        if (IVY_JARS / f"{group}_{artifact}-{version}.jar").is_file():
            continue
        url = f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.pom"
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=15).close()
        except (OSError, ValueError) as exc:
            reason = f"HTTP {exc.code}" if isinstance(exc, HTTPError) else str(getattr(exc, "reason", exc))
            raise PackageMissing(
                f"the spark target needs {coordinate} (spark.jars.packages), which is not in Spark's Ivy cache "
                f"({IVY_JARS}) and which {MAVEN_CENTRAL} does not give ({reason}): let Spark reach Maven Central, "
                f"or give the jars with PYSPARK_SUBMIT_ARGS='--jars a.jar,b.jar pyspark-shell' and "
                f"LAKEHOUSE_SPARK_PACKAGES= (empty), or put them on the cluster's classpath"
            ) from None


# DuckDB's names of the types whose sums reconcile a partition (exact numbers).
EXACT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "DECIMAL")


def land_marts(settings: Settings, date: str) -> list[Manifest]:
    """Write the marts of the last Spark build into the lake, one partition each, rows in order.

    The marts are the project's table models, read from the Spark warehouse folder the
    profile sets: ``_spark/warehouse`` in the state folder, or in the lake when it is on S3.
    """
    nodes = json.loads((target_dir() / "manifest.json").read_text())["nodes"].values()
    marts = [
        (n["schema"], n["alias"])
        for n in nodes
        if n["resource_type"] == "model" and n["config"]["materialized"] == "table"
    ]
    con = connect(memory_limit=settings.memory_limit)
    lake = settings.lake
    if isinstance(lake, S3Lake):
        read_s3(con, lake.duckdb_env())
        warehouse = lake.url("_spark/warehouse")
    else:
        warehouse = str(settings.data_dir / "_spark" / "warehouse")
    try:
        manifests = []
        for schema, name in sorted(marts):
            files = f"{warehouse}/{schema}.db/{name}/*.parquet"
            query = f"select * from read_parquet({literal(files)}) order by all"
            relation = con.sql(query)
            exact = {
                n: {"checksum": str(t).startswith(EXACT_TYPES)}
                for n, t in zip(relation.columns, relation.types, strict=True)
            }
            manifests.append(
                write_partition(
                    con,
                    query,
                    lake=settings.lake,
                    source=SOURCE,
                    table=name,
                    date=date,
                    origin=f"spark table {schema}.{name}",
                    columns_meta=exact,
                )
            )
        return manifests
    finally:
        con.close()
