"""The spark target's jars: asked for only on an S3 lake, and one line naming the one it cannot have."""

from __future__ import annotations

import socket

import pytest

from extract import spark


@pytest.fixture()
def ivy(tmp_path, monkeypatch):
    monkeypatch.setattr(spark, "IVY_JARS", tmp_path)
    with socket.socket() as sock:  # a port nothing listens on: Maven Central unreachable
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setattr(spark, "MAVEN_CENTRAL", f"http://127.0.0.1:{sock.getsockname()[1]}/maven2")
    return tmp_path


def test_an_unreachable_repository_is_named_in_one_line_with_how_to_provide_the_jars(ivy):
    with pytest.raises(spark.PackageMissing) as missing:
        spark.check_packages({"LAKEHOUSE_DATA": "s3://bucket/lake"})
    said = str(missing.value)
    assert said.startswith(f"the spark target needs {spark.HADOOP_AWS} (spark.jars.packages), which is not in")
    assert "Connection refused" in said and "PYSPARK_SUBMIT_ARGS" in said and "\n" not in said


def test_jars_in_the_ivy_cache_or_a_local_lake_need_no_repository(ivy):
    spark.check_packages({"LAKEHOUSE_DATA": "/a/local/lake"})  # a local lake asks for no package
    spark.check_packages({"LAKEHOUSE_DATA": "s3://bucket/lake", "LAKEHOUSE_SPARK_PACKAGES": ""})  # jars of one's own
    (ivy / "org.apache.hadoop_hadoop-aws-3.5.0.jar").write_bytes(b"")
    spark.check_packages({"LAKEHOUSE_DATA": "s3://bucket/lake"})
