"""The gate knows what the build reads: a selection that takes no table is refused at step 1."""

from __future__ import annotations

from extract import cli, ledger
from extract.config import redact

NEXT_DAY = "2024-01-16"


def _entry(settings, date: str, step: str) -> dict:
    return {entry["step"]: entry for entry in ledger.read(settings.lake, date)}[step]


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
