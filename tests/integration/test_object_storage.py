"""The lake on S3: a local S3-compatible server (moto, checking signatures), the README's lines and the CLI.

Each test has a prefix of its own in ``my-bucket``; the promises are checked after every
step: partitions whole or refused, the warehouse as it was after a failure, no secret left.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from unittest import mock

import duckdb
import pytest
from botocore.exceptions import ClientError
from helpers import (
    DBT_LOG,
    TARGET_DIR,
    assert_whole,
    cli,
    demo_only,
    docs_served,
    fetch,
    free_port,
    fresh_database,
    kill_when,
    published,
    query,
    start,
    wait_until,
)

from extract import ledger, pipeline, storage
from extract.config import REPO_ROOT, load_settings, redact
from extract.lake import PartitionError, manifest_path, partition_file, verify
from extract.report import print_status
from extract.storage import LockedError

DAY = "2024-01-15"
# The README's "Object storage" lines (the exports before them are the `s3` fixture's variables).
README_LINES = (
    "make all LAKEHOUSE_DATA=s3://my-bucket/northwind DATE=2024-01-15",
    "make status LAKEHOUSE_DATA=s3://my-bucket/northwind",
)


def objects(client, prefix: str) -> dict[str, bytes]:
    """Every object below ``prefix`` of my-bucket, by key."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="my-bucket", Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {key: client.get_object(Bucket="my-bucket", Key=key)["Body"].read() for key in keys}


def unfinished_uploads(client, prefix: str) -> list[str]:
    return [u["Key"] for u in client.list_multipart_uploads(Bucket="my-bucket", Prefix=prefix).get("Uploads", [])]


def assert_no_secret(s3, texts: list[str], client, prefix: str, folders: list[Path]) -> None:
    """The secret key is in no output, no object of the lake, no file of the state folder or dbt's artifacts."""
    secret = s3["env"]["AWS_SECRET_ACCESS_KEY"]
    texts = texts + [body.decode(errors="replace") for body in objects(client, prefix).values()]
    for folder in folders:
        texts += [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and p.stat().st_size < 1e8]
    assert not [text[:200] for text in texts if secret in text]


@pytest.fixture()
def s3_env(lake_env, s3, tmp_path) -> dict[str, str]:
    """``lake_env`` with the lake under a prefix of its own in my-bucket, and a local state folder."""
    return {
        **lake_env,
        **s3["env"],
        "LAKEHOUSE_DATA": f"s3://my-bucket/{uuid.uuid4().hex[:8]}",
        "LAKEHOUSE_STATE": str(tmp_path / "state"),
    }


@pytest.fixture(scope="module")
def s3_template(s3, pg_env, demo_day, tmp_path_factory) -> dict[str, str]:
    """The demo day extracted to an S3 lake and loaded, once per module, by the CLI as a user runs it.

    Tests copy its prefix, its state folder and its warehouse (``s3_warehouse``, a template).
    """
    state = tmp_path_factory.mktemp("s3_template") / "state"
    settings = load_settings(pg_env)
    fresh_database(settings, "s3_warehouse")
    env = {
        **pg_env,
        **s3["env"],
        "LAKEHOUSE_DATA": "s3://my-bucket/template",
        "LAKEHOUSE_STATE": str(state),
        "SOURCE_DSN": settings.embedded_dsn("demo_source"),
        "WAREHOUSE_DSN": settings.embedded_dsn("s3_warehouse"),
    }
    csv_path = load_settings(env).demo_csv
    csv_path.parent.mkdir(parents=True)
    shutil.copy(demo_day["extracted"] / "demo" / "order_details.csv", csv_path)
    for args in (("extract", "--date", DAY), ("load", "--date", DAY)):
        result = cli(env, *args)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return env


@pytest.fixture()
def s3_day(s3_env, s3, s3_template) -> dict[str, str]:
    """``s3_env`` with the small demo source extracted for DAY and loaded: a copy of ``s3_template``."""
    settings = load_settings(s3_env)
    fresh_database(settings, "test_source", "demo_source")
    fresh_database(settings, "test_warehouse", "s3_warehouse")
    client, prefix = s3["client"], s3_env["LAKEHOUSE_DATA"].removeprefix("s3://my-bucket/") + "/"
    for key in objects(client, "template/"):
        client.copy_object(
            Bucket="my-bucket", Key=prefix + key.removeprefix("template/"), CopySource=f"my-bucket/{key}"
        )
    shutil.copytree(s3_template["LAKEHOUSE_STATE"], s3_env["LAKEHOUSE_STATE"])
    return s3_env


def test_the_readme_shows_the_lines():
    section = (REPO_ROOT / "README.md").read_text().split("### Object storage", 1)[1].split("\n### ", 1)[0]
    for line in (*README_LINES, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"):
        assert line in section


def test_the_whole_pipeline_on_s3_as_the_readme_runs_it(lake_env, s3, tmp_path):
    env = {**demo_only(lake_env), **s3["env"], "LAKEHOUSE_STATE": str(tmp_path / "state")}
    client, printed = s3["client"], []

    def run(line: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["bash", "-c", line], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
        )
        printed.extend([result.stdout, result.stderr])
        assert result.returncode == 0, (line, result.stdout[-3000:], result.stderr[-3000:])
        return result

    # The test's source is a database of its own (SOURCE_DSN), which make all only reads: the demo is
    # seeded into it as make all seeds the embedded one.
    assert cli(env, "seed", "--into", redact(env["SOURCE_DSN"])).returncode == 0
    assert "summary for 2024-01-15" in run(README_LINES[0]).stdout
    assert not (REPO_ROOT / "s3:").exists()  # nothing lands in a local folder named after the URL
    settings = load_settings({**env, "LAKEHOUSE_DATA": "s3://my-bucket/northwind"})
    lake = settings.lake
    stored = objects(client, "northwind/")
    manifests = [key.removeprefix("northwind/") for key in stored if key.endswith("/_manifest.json")]
    assert len(manifests) == 14  # 13 demo tables and the CSV
    for key in manifests:
        source, table, date, _ = key.split("/")
        assert date == DAY and verify(lake, source, table, date).rows >= 0
    assert sorted(key.split("/")[-1] for key in stored if "/_ledger/" in key) == sorted(
        f"{s}.json" for s in ledger.STEPS
    )
    assert not [key for key in stored if key.endswith(".lock")]  # every lock released
    assert_whole(settings, DAY)
    assert (tmp_path / "state" / "lakehouse.duckdb").exists()
    assert (tmp_path / "state" / "exports" / DAY / "orders_with_details.csv").exists()

    status = run(README_LINES[1]).stdout
    assert "2024-01-15  ✓" in status and "✗" not in status

    # A rerun of the day gives the same bytes in every data file.
    data = {key: body for key, body in stored.items() if key.endswith(".parquet")}
    result = cli({**env, "LAKEHOUSE_DATA": settings.lake_url}, "extract", "--date", DAY)
    printed.extend([result.stdout, result.stderr])
    assert result.returncode == 0, result.stderr
    assert {key: body for key, body in objects(client, "northwind/").items() if key.endswith(".parquet")} == data

    # The other target, a backfilled day, and the docs, all against the same lake.
    env["LAKEHOUSE_DATA"] = settings.lake_url
    for args in (
        ("load", "--date", DAY, "--target", "postgres"),
        ("backfill", "--from", "2024-01-16", "--to", "2024-01-16"),
    ):
        result = cli(env, *args)
        printed.extend([result.stdout, result.stderr])
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    assert_whole(settings, "2024-01-16")
    status = run("make status LAKEHOUSE_DATA=s3://my-bucket/northwind").stdout
    assert "2024-01-15  ✓" in status and "2024-01-16  ✓" in status
    with docs_served(env, "2024-01-16") as url:
        assert b"order_lines" in fetch(url + "/manifest.json")
    dbt_files = [TARGET_DIR, DBT_LOG.parent]
    assert_no_secret(s3, printed, client, "northwind/", [tmp_path / "state", *dbt_files])


def test_a_partition_without_its_manifest_or_altered_is_refused(s3_day, s3):
    settings = load_settings(s3_day)
    before = published(settings)
    prefix = settings.lake_url.removeprefix("s3://my-bucket/") + "/"
    s3["client"].delete_object(Bucket="my-bucket", Key=prefix + manifest_path("postgres", "customers", DAY))
    result = cli(s3_day, "load", "--date", DAY)
    assert result.returncode == 12
    assert f"postgres/customers: no manifest in {settings.lake_url}/postgres/customers/{DAY}" in result.stdout
    assert published(settings) == before

    assert cli(s3_day, "extract", "postgres", "--date", DAY).returncode == 0
    key = prefix + partition_file("postgres", "products", DAY)
    s3["client"].put_object(Bucket="my-bucket", Key=key, Body=b"not the file the manifest describes")
    result = cli(s3_day, "load", "--date", DAY)
    assert result.returncode == 12
    assert "postgres/products: " + settings.lake_url in result.stdout
    assert "does not match its manifest" in result.stdout
    assert published(settings) == before


def test_a_lost_ledger_is_named_and_rebuilt_from_the_manifests(s3_day, s3, monkeypatch, capsys):
    for key, value in s3_day.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(s3_day)
    client, prefix = s3["client"], settings.lake_url.removeprefix("s3://my-bucket/") + "/"
    recorded = {e["step"]: e for e in ledger.read(settings.lake, DAY)}
    for key in objects(client, prefix + "_ledger/"):
        client.delete_object(Bucket="my-bucket", Key=key)

    calls: list[str] = []
    settings.lake.client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    print_status(settings, None)
    assert capsys.readouterr().out.splitlines() == [
        f"no runs recorded in {settings.lake_url}/_ledger",
        f"the ledger has no record of 1 day the lake holds ({DAY}): "
        f"LAKEHOUSE_DATA={settings.lake_url} make ledger-rebuild rebuilds it from their manifests",
    ]
    assert calls == ["ListObjectsV2"] * 3  # the ledger, and each source's partitions: nothing read

    rebuilt = cli(s3_day, "ledger", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.splitlines()[-1] == f"ledger rebuilt: 2 entries for 1 day in {settings.lake_url}/_ledger"
    entries = {e["step"]: e for e in ledger.read(settings.lake, DAY)}
    assert sorted(entries) == ["extract_csv", "extract_postgres"]  # no load or export entry is invented
    for step, entry in entries.items():
        assert entry["status"] == "success" and entry["rebuilt"] is True
        assert entry["details"]["partitions"] == recorded[step]["details"]["partitions"]
    assert not [key for key in objects(client, prefix) if key.endswith(".lock")]  # every lock released
    again = cli(s3_day, "ledger", "rebuild")
    assert again.stdout.splitlines() == [
        "nothing to rebuild: the ledger records step 1 of every day the lake holds (1 day)"
    ]


def test_an_upload_that_fails_midway_leaves_no_partition_and_a_rerun_repairs_it(s3_day, s3, monkeypatch):
    for key, value in s3_day.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(s3_day)
    before = published(settings)

    def cut(request, **_) -> None:
        if request.url.split("?")[0].endswith("/orders/2024-01-15/orders.parquet"):
            raise ConnectionResetError("connection lost mid-upload (injected)")

    settings.lake.client.meta.events.register("before-send.s3.PutObject", cut)
    with pytest.raises(pipeline.StepFailed, match="extract_postgres failed: .*connection lost mid-upload"):
        pipeline.extract(settings, DAY, csv_path=settings.demo_csv, quiet=True)
    with pytest.raises(PartitionError, match="no manifest"):
        verify(settings.lake, "postgres", "orders", DAY)
    verify(settings.lake, "postgres", "customers", DAY)  # the other tables landed whole
    result = cli(s3_day, "load", "--date", DAY)
    assert result.returncode == 12 and "refused for 2024-01-15: extract_postgres is failed" in result.stderr
    assert published(settings) == before

    assert cli(s3_day, "extract", "--date", DAY).returncode == 0
    verify(settings.lake, "postgres", "orders", DAY)
    assert cli(s3_day, "load", "--date", DAY).returncode == 0
    assert_whole(settings, DAY)


def test_a_day_s_first_run_sends_no_request_with_nothing_to_do(s3_env, monkeypatch):
    assert cli(s3_env, "seed", "--scale", "0.2", "--into", redact(s3_env["SOURCE_DSN"])).returncode == 0
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(s3_env)
    calls: list[str] = []
    settings.lake.client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))

    pipeline.extract(settings, DAY, csv_path=settings.demo_csv, quiet=True)
    assert "DeleteObject" not in calls and "ListMultipartUploads" not in calls  # nothing there yet
    assert calls.count("ListObjectsV2") == 1  # the ledger's days, for both steps
    calls.clear()

    pipeline.extract(settings, DAY, csv_path=settings.demo_csv, quiet=True)
    assert calls.count("DeleteObject") == 14  # the old manifests, and no file of another format
    assert "ListMultipartUploads" not in calls  # the run before succeeded: no leftovers
    manifests = [key.split("/") for key in settings.lake.keys("") if key.endswith("/_manifest.json")]
    assert len(manifests) == 14
    for source, table, date, _ in manifests:
        verify(settings.lake, source, table, date)


def test_a_run_killed_mid_upload_is_refused_and_a_rerun_repairs_it(s3_day, s3, tmp_path):
    settings = load_settings(s3_day)
    before = published(settings)
    prefix = settings.lake_url.removeprefix("s3://my-bucket/") + "/"
    big = tmp_path / "order_details.csv"  # random lines: about 30 MB of Parquet, uploaded in 8 MB parts
    duckdb.execute(
        "copy (select (random() * 1e6)::int as order_id, i as product_id, round(random() * 100, 4) as unit_price,"
        " (random() * 100)::int as quantity, round(random(), 4) as discount from range(3000000) t(i))"
        f" to '{big}' (header)"
    )
    command = [sys.executable, "-m", "extract", "extract", "csv", "--date", DAY, "--csv", str(big), "--quiet"]
    process = start(command, s3_day)
    kill_when(process, lambda: unfinished_uploads(s3["client"], prefix + "csv/"), timeout=300)
    assert unfinished_uploads(s3["client"], prefix + "csv/")
    with pytest.raises(PartitionError, match="no manifest"):
        verify(settings.lake, "csv", "order_details", DAY)
    result = cli(s3_day, "load", "--date", DAY)
    assert (
        result.returncode == 12 and "refused for 2024-01-15: extract_csv is running or was interrupted" in result.stderr
    )
    assert published(settings) == before

    result = cli(s3_day, "extract", "csv", "--date", DAY, "--csv", str(big))
    assert result.returncode == 0, result.stderr
    assert not unfinished_uploads(s3["client"], prefix)  # the killed run's parts are gone
    assert verify(settings.lake, "csv", "order_details", DAY).rows == 3_000_000
    assert not list((tmp_path / "state" / "tmp").rglob("*.tmp"))


def test_two_runs_of_a_day_never_write_at_once(s3_day, s3):
    settings = load_settings(s3_day)
    prefix = settings.lake_url.removeprefix("s3://my-bucket/") + "/"
    lock = f"{prefix}_ledger/{DAY}/.extract_postgres.lock"
    command = [sys.executable, "-m", "extract", "extract", "--date", DAY, "--quiet"]
    runs = [subprocess.Popen(command, env=s3_day, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted((run.wait(timeout=300), run.stderr.read()) for run in runs)
    assert [code for code, _ in outcomes] == [0, 75], outcomes
    assert f"extract_postgres for {DAY} is already being written by pid" in outcomes[1][1]

    # A machine elsewhere holds the lock, freshly: refused. A dead process here held it: taken over.
    s3["client"].put_object(Bucket="my-bucket", Key=lock, Body=b"pid 7 on elsewhere since 2024-01-15T00:00:00+00:00")
    result = cli(s3_day, "extract", "postgres", "--date", DAY)
    assert result.returncode == 75 and "pid 7 on elsewhere" in result.stderr
    holder = storage._holder().replace(f"pid {os.getpid()} ", f"pid {_ended_pid()} ", 1)  # this host, boot, namespace
    s3["client"].put_object(Bucket="my-bucket", Key=lock, Body=holder.encode())
    assert cli(s3_day, "extract", "postgres", "--date", DAY).returncode == 0
    assert not [key for key in objects(s3["client"], prefix) if key.endswith(".lock")]


def _ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, "the credentials are refused"),
        ({"LAKEHOUSE_DATA": "s3://no-such-bucket/northwind"}, "bucket no-such-bucket at http://127.0.0.1:"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:{free}", "AWS_MAX_ATTEMPTS": "1"}, "cannot reach the endpoint"),
    ],
    ids=["bad-credentials", "missing-bucket", "unreachable"],
)
def test_an_unusable_lake_stops_before_anything_is_written(s3_env, s3, change, message):
    env = {**s3_env, **{key: value.format(free=free_port()) for key, value in change.items()}}
    prefix = s3_env["LAKEHOUSE_DATA"].removeprefix("s3://my-bucket/")
    for args in (("run", "--date", DAY), ("status",)):
        result = cli(env, *args)
        assert result.returncode == 7, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: lake: bucket ") and message in lines[0], lines
        assert "wrong-secret" not in result.stderr and s3["env"]["AWS_SECRET_ACCESS_KEY"] not in result.stderr
    assert not objects(s3["client"], prefix)
    source = load_settings(s3_env).dsn("source")
    assert query(source, "select count(*) from information_schema.tables where table_schema = 'public'") == [(0,)]
    assert not Path(s3_env["LAKEHOUSE_STATE"]).exists()


def test_a_lock_is_kept_alive_and_taken_over_only_when_stale(s3_env, s3, monkeypatch):
    lake = load_settings(s3_env).lake
    key = f"_ledger/{DAY}/.load.lock"
    full = lake.prefix + key
    s3["client"].put_object(Bucket="my-bucket", Key=full, Body=b"pid 7 on elsewhere since 2024-01-15T00:00:00+00:00")
    with (
        pytest.raises(LockedError, match=f"load for {DAY} is already being written by pid 7 on elsewhere"),
        lake.lock(key, f"load for {DAY}"),
    ):
        pass
    monkeypatch.setattr(storage, "STALE_AFTER_S", -1)  # the holder elsewhere stopped refreshing it
    monkeypatch.setattr(storage, "HEARTBEAT_S", 0.2)
    with lake.lock(key, f"load for {DAY}"):
        first = s3["client"].head_object(Bucket="my-bucket", Key=full)
        assert (
            s3["client"]
            .get_object(Bucket="my-bucket", Key=full)["Body"]
            .read()
            .startswith(f"pid {os.getpid()} on {socket.gethostname()}".encode())
        )
        time.sleep(1.5)
        assert s3["client"].head_object(Bucket="my-bucket", Key=full)["LastModified"] > first["LastModified"]
    assert not objects(s3["client"], full)  # released


def test_a_heartbeat_adopts_its_own_write_and_a_lock_taken_over_is_never_lost_silently(s3_env, s3, monkeypatch):
    lake, client = load_settings(s3_env).lake, s3["client"]
    key = f"_ledger/{DAY}/.extract_postgres.lock"
    full = lake.prefix + key
    interrupted = []
    monkeypatch.setattr(storage, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(storage, "_lost", {})
    monkeypatch.setattr(storage._thread, "interrupt_main", lambda: interrupted.append(True))  # not pytest's own thread

    def body() -> str:
        return client.get_object(Bucket="my-bucket", Key=full)["Body"].read().decode()

    with lake.lock(key, f"extract_postgres for {DAY}"):
        holder = body().split(", heartbeat")[0]
        # The server applied a heartbeat whose answer was lost: the next one fails (If-Match), reads
        # the lock back, finds it its own and goes on from that version.
        client.put_object(Bucket="my-bucket", Key=full, Body=f"{holder}, heartbeat 999".encode())
        wait_until(lambda: body().startswith(holder) and not body().endswith("heartbeat 999"), 30, every=0.05)
        assert not storage.lock_lost() and not interrupted
        storage.check_held()

        # Another run took it over: the holder stops its work and publishes nothing.
        client.put_object(Bucket="my-bucket", Key=full, Body=b"pid 7 on elsewhere since 2024-01-15T00:00:00+00:00")
        wait_until(storage.lock_lost, 30, every=0.05)
        assert interrupted == [True]
        with pytest.raises(storage.LockLost, match=f"the lock {key} was lost .taken over by pid 7 on elsewhere"):
            storage.check_held()
    assert body().startswith("pid 7 on elsewhere")  # the new holder's lock stays


def test_a_lock_that_cannot_be_refreshed_is_lost_before_others_take_it_over(s3_env, monkeypatch):
    lake = load_settings(s3_env).lake
    key = f"_ledger/{DAY}/.load.lock"
    interrupted = []
    monkeypatch.setattr(storage, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(storage, "STALE_AFTER_S", 1)
    monkeypatch.setattr(storage, "_lost", {})
    monkeypatch.setattr(storage._thread, "interrupt_main", lambda: interrupted.append(True))
    with lake.lock(key, f"load for {DAY}"):
        # Expired credentials, or a server answering 503: neither the heartbeat nor the read-back gets through.
        expired = ClientError({"Error": {"Code": "ExpiredToken", "Message": "The token has expired"}}, "PutObject")
        monkeypatch.setattr(lake.client, "put_object", mock.Mock(side_effect=expired))
        monkeypatch.setattr(lake.client, "get_object", mock.Mock(side_effect=expired))
        wait_until(storage.lock_lost, 30, every=0.05)  # at half the stale time, before any other run may take it over
        assert interrupted == [True]
        with pytest.raises(storage.LockLost, match=r"not refreshed for \d+ s: An error occurred .ExpiredToken."):
            storage.check_held()


def test_a_stale_lock_another_run_removed_first_is_contention_not_an_unreachable_lake(s3_env, s3, monkeypatch):
    lake, client = load_settings(s3_env).lake, s3["client"]
    key = f"_ledger/{DAY}/.load.lock"
    client.put_object(Bucket="my-bucket", Key=lake.prefix + key, Body=b"pid 7 on elsewhere since 2024-01-15T00:00:00")
    monkeypatch.setattr(storage, "STALE_AFTER_S", -1)
    delete = lake.client.delete_object

    def beaten_to_it(**kwargs):  # another run removes the stale lock just before this one does
        delete(Bucket=kwargs["Bucket"], Key=kwargs["Key"])
        return delete(**kwargs)

    monkeypatch.setattr(lake.client, "delete_object", beaten_to_it)
    with lake.lock(key, f"load for {DAY}"):  # the lock is free again: taken, no LakeError
        monkeypatch.setattr(lake.client, "delete_object", delete)
        assert objects(client, lake.prefix + key)


def test_a_server_that_ignores_if_match_is_refused_at_the_first_lock(s3_env, monkeypatch):
    lake = load_settings(s3_env).lake
    put = lake.client.put_object
    monkeypatch.setattr(lake.client, "put_object", lambda IfMatch=None, **kwargs: put(**kwargs))
    with pytest.raises(storage.LakeError, match="the server ignores If-Match, so it cannot hold a lock"):
        with lake.lock(f"_ledger/{DAY}/.load.lock", f"load for {DAY}"):
            pass


def test_a_load_whose_lock_is_taken_over_stops_its_build_and_publishes_nothing(s3_day, s3):
    settings = load_settings(s3_day)
    before = published(settings)
    day2 = "2024-01-16"
    assert cli(s3_day, "extract", "--date", day2).returncode == 0
    full = settings.lake.prefix + f"_ledger/{day2}/.load.lock"

    load = start(
        [sys.executable, "-m", "extract", "load", "--date", day2], {**s3_day, "LAKEHOUSE_LOCK_HEARTBEAT_S": "0.2"}
    )
    claimed = "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'raw__next'"
    wait_until(lambda: query(settings.dsn("warehouse"), claimed), every=0.05)  # dbt has reset the twins: mid-build
    os.killpg(load.pid, signal.SIGSTOP)  # taken over while the build is surely still running
    try:
        taker = b"pid 7 on elsewhere since 2024-01-16T00:00:00+00:00"
        s3["client"].put_object(Bucket="my-bucket", Key=full, Body=taker)
    finally:
        os.killpg(load.pid, signal.SIGCONT)
    output = load.communicate(timeout=300)[0]

    assert load.returncode == 75, output[-3000:]
    assert f"error: the lock _ledger/{day2}/.load.lock was lost (taken over by pid 7 on elsewhere" in output
    assert published(settings) == before
