"""The gate knows what the build reads: a narrowed step 1 is refused at step 2, before any model
runs, naming the tables the selected models read and the day lacks; a selection that takes no
table is refused at step 1."""

from __future__ import annotations

from helpers import dbt, published

from extract import cli, ledger
from extract.config import redact
from extract.dbt import run_settings

NEXT_DAY = "2024-01-16"
# The demo's tables but public.orders and public.customers, as the gate names their partitions.
LEFT_OUT = (
    "postgres/categories, postgres/customer_customer_demo, postgres/customer_demographics, "
    "postgres/employee_territories, postgres/employees, postgres/products, postgres/region, "
    "postgres/shippers, postgres/suppliers, postgres/territories, postgres/us_states"
)


def _entry(settings, date: str, step: str) -> dict:
    return {entry["step"]: entry for entry in ledger.read(settings.lake, date)}[step]


def test_a_narrowed_extract_is_refused_before_dbt_builds_naming_what_the_models_read(loaded, capsys):
    before = published(loaded)
    args = ["extract", "--date", NEXT_DAY, "--quiet", "--include", "public.orders,public.customers"]
    assert cli.main(args) == 0
    capsys.readouterr()

    assert cli.main(["load", "--date", NEXT_DAY]) == 12
    said = capsys.readouterr()
    refusal = (
        f"step 2 (load) refused for {NEXT_DAY}: no partition of {LEFT_OUT} for {NEXT_DAY}, "
        f"which the selected models read (run: make extract DATE={NEXT_DAY})"
    )
    assert said.err == f"error: {refusal}\n"
    assert " START " not in said.out and "IO Error" not in said.out  # no model ran
    load = _entry(loaded, NEXT_DAY, "load")
    assert (load["status"], load["error"]) == ("refused", refusal)
    assert published(loaded) == before

    # a selection reads only its own sources: those the day holds pass the gate, one it lacks does not
    day = run_settings(NEXT_DAY)
    run = dbt(loaded, "build", "--select", "stg_northwind__orders", "stg_northwind__customers", env=day)
    assert run.success and "refused" not in run.output, run.output[-3000:]
    run = dbt(loaded, "build", "--select", "stg_northwind__products", env=day)
    assert not run.success
    assert f"refused for {NEXT_DAY}: no partition of postgres/products for {NEXT_DAY}, which" in run.output
    assert published(loaded) == before  # a selection publishes nothing

    # a narrowed run of the day adds to it: its ledger entry lists the partitions it left in place
    assert cli.main(["extract", "postgres", "--date", NEXT_DAY, "--quiet", "--exclude", "orders,customers"]) == 0
    tables = [p["table"] for p in _entry(loaded, NEXT_DAY, "extract_postgres")["details"]["partitions"]]
    assert tables == sorted([*(name.removeprefix("postgres/") for name in LEFT_OUT.split(", ")), "orders", "customers"])


def test_a_selection_that_takes_no_table_is_refused_at_step_1(demo, capsys, monkeypatch):
    origin = redact(demo.dsn("source"))
    monkeypatch.setenv("SOURCE_SCHEMAS", "nosuch")
    assert cli.main(["extract", "postgres", "--date", NEXT_DAY, "--quiet"]) == 10
    refusal = (
        "step 1 refused, no source table written: SOURCE_SCHEMAS=nosuch takes none of the 13 tables "
        f"of {origin} (schemas: public)"
    )
    assert capsys.readouterr().err == f"error: {refusal}\n"
    entry = _entry(demo, NEXT_DAY, "extract_postgres")
    assert (entry["status"], entry["error"]) == ("refused", refusal)

    monkeypatch.delenv("SOURCE_SCHEMAS")
    assert cli.main(["extract", "postgres", "--date", NEXT_DAY, "--quiet", "--include", "public.nosuch"]) == 10
    assert "SOURCE_INCLUDE=public.nosuch takes none of the 13 tables" in capsys.readouterr().err
    assert not list(demo.data_dir.glob(f"postgres/*/{NEXT_DAY}"))
