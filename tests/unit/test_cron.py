"""The crontab line: the settings a daily run needs, never a secret."""

from __future__ import annotations

from extract.cron import crontab_lines


def test_a_lake_on_s3_keeps_its_settings_and_leaves_the_keys_out():
    env = {
        "PATH": "/usr/bin:/bin",
        "LAKEHOUSE_DATA": "s3://my-bucket/northwind",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_PROFILE": "lake",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
    }
    lines, notes = crontab_lines(env)
    line = lines.splitlines()[-1]
    for setting in ("LAKEHOUSE_DATA=s3://my-bucket/northwind", "AWS_REGION=eu-west-1", "AWS_PROFILE=lake"):
        assert setting in line
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:9000" in line
    assert "AKIAEXAMPLE" not in line and "s3cr3t-value" not in line
    assert notes == ["the AWS keys are left out of the line: put them in ~/.aws/credentials, which boto3 reads"]
    assert line.rstrip().endswith("/data/s3/my-bucket/northwind/cron.log 2>&1")  # local: the lake is a bucket
