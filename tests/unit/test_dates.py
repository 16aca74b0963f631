"""Run dates: YYYY-MM-DD and a real calendar day, refused otherwise before anything is written."""

from __future__ import annotations

import pytest

from extract.cli import main
from extract.pipeline import parse_date


def test_valid_date_passes():
    assert parse_date("2024-02-29") == "2024-02-29"


@pytest.mark.parametrize("text", ["2023-02-29", "2024-13-01", "20240115", "2024-1-15", "yesterday", ""])
def test_invalid_dates_are_refused(text):
    with pytest.raises(ValueError, match="date"):
        parse_date(text)


def test_cli_refuses_a_bad_date_before_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAKEHOUSE_DATA", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", "--date", "2024-02-30"])
    assert exit_info.value.code == 2
    assert "2024-02-30" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
