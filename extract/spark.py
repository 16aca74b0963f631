"""The spark target of step 2: dbt builds and tests the day on Spark, and its marts reach the warehouse.

Spark cannot write into PostgreSQL with what pip installs (its JDBC driver is a Maven
jar), so its marts travel the lake's way: each lands as a partition of source ``spark``
with a manifest (``spark/<mart>/<date>/``), and the lakehouse target publishes them
(``LAKEHOUSE_MARTS_FROM=spark``, macros/spark_marts.sql): checked against their
manifests, reconciled, tested and swapped in with the raw copy, in one transaction.
"""

from __future__ import annotations

import json

from .config import Settings
from .dbt import target_dir
from .duck import connect, read_s3
from .lake import Manifest, write_partition
from .sql import literal
from .storage import S3Lake

__all__ = ["SOURCE", "land_marts"]

SOURCE = "spark"

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
