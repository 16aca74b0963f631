"""Settings: which server each role uses, and that passwords stay out of messages."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from psycopg2.extensions import parse_dsn

from extract.config import REPO_ROOT, load_settings, redact, scrub, without_secrets
from extract.ledger import STEPS
from extract.report import rerun_command


def test_embedded_server_when_nothing_is_configured(tmp_path):
    settings = load_settings({"LAKEHOUSE_PGDATA": str(tmp_path / "pg"), "LAKEHOUSE_PG_PORT": "6543"})
    assert settings.embedded_roles == ("source", "warehouse")
    assert settings.dsn("source") == f"host={tmp_path / 'pg'} port=6543 user=postgres dbname=northwind"
    assert settings.dsn("warehouse").endswith("dbname=warehouse")


def test_dsn_per_role_replaces_the_embedded_server_for_that_role():
    settings = load_settings({"SOURCE_DSN": "postgresql://app:s3cret@db.example:5432/shop"})
    assert settings.embedded_roles == ("warehouse",)
    assert settings.dsn("source") == "postgresql://app:s3cret@db.example:5432/shop"


def test_pg_variables_mean_a_real_server_for_both_roles():
    settings = load_settings({"PGHOST": "db.example", "PGUSER": "etl"})
    assert settings.embedded_roles == ()
    assert settings.dsn("source") == "dbname=northwind"
    assert settings.dsn("warehouse") == "dbname=warehouse"
    assert load_settings({"PGSERVICE": "lakehouse"}).embedded_roles == ()
    assert load_settings({"PGPASSWORD": "x"}).embedded_roles == ("source", "warehouse")  # a password names no server


def test_redact_never_shows_the_password():
    assert redact("postgresql://app:s3cret@db.example:5432/shop") == "db.example:5432/shop"
    assert redact("host=h port=1 dbname=d user=u password=s3cret") == "h:1/d"


def test_malformed_dsn_is_named_without_its_content():
    with pytest.raises(ValueError) as error:
        load_settings({"WAREHOUSE_DSN": "host=h password=s3cret broken"})
    assert "WAREHOUSE_DSN" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_long_data_folders_get_a_short_socket_folder(tmp_path):
    settings = load_settings({"LAKEHOUSE_PGDATA": "/tmp/" + "x" * 120, "LAKEHOUSE_PG_PORT": "6543"})
    assert len(str(settings.socket_dir / ".s.PGSQL.6543")) < 100


def test_a_service_dsn_is_named_by_its_service():
    assert redact("service=lakehouse_warehouse") == "service lakehouse_warehouse"
    assert redact("service=lakehouse_warehouse host=db.example port=6543 dbname=wh") == "db.example:6543/wh"


def test_scrub_masks_every_secret_of_a_dsn():
    dsn = "host=db user=etl password=Pw1 sslpassword=KeyPw2 dbname=wh"
    assert scrub("failed: password Pw1, key KeyPw2", [dsn]) == "failed: password ***, key ***"


def test_a_lake_on_s3_keeps_its_local_files_in_a_folder_of_its_own():
    settings = load_settings({"LAKEHOUSE_DATA": "s3://my-bucket//northwind/", "AWS_REGION": "eu-west-1"})
    assert settings.lake_url == "s3://my-bucket/northwind"
    assert settings.data_dir == REPO_ROOT / "data" / "s3" / "my-bucket" / "northwind"
    assert settings.aws == {"AWS_REGION": "eu-west-1"}
    assert load_settings({"LAKEHOUSE_DATA": "s3://b/p", "LAKEHOUSE_STATE": "/tmp/x"}).data_dir == Path("/tmp/x")


def test_a_rerun_names_the_servers_of_yours_without_their_secrets():
    dsn = (
        "postgresql://etl:Pw1@db.example:6543/shop?sslmode=require&sslpassword=KeyPw2&options=-c%20search_path%3Dsales"
    )
    kept = without_secrets(dsn)
    assert "Pw1" not in kept and "KeyPw2" not in kept
    assert parse_dsn(kept) == {k: v for k, v in parse_dsn(dsn).items() if k not in ("password", "sslpassword")}
    failed = {"step": "load", "status": "failed", "inputs": {"source_dsn": kept, "warehouse_dsn": "dbname=wh"}}
    command = rerun_command([{"step": s, "status": "success"} for s in STEPS[:2]] + [failed], "2024-01-15")
    assert command == f"make load export DATE=2024-01-15 SOURCE_DSN={shlex.quote(kept)} WAREHOUSE_DSN=dbname=wh"
    assert shlex.split(command)[-2] == f"SOURCE_DSN={kept}"  # one word for the shell, as make reads it
