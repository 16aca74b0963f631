"""Shared fixtures: paths to the real Northwind files beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.config import REPO_ROOT

NORTHWIND = REPO_ROOT.parent / "shared" / "northwind"


@pytest.fixture(scope="session")
def northwind_sql() -> Path:
    """The real Northwind dump (13 tables, order_details missing)."""
    path = NORTHWIND / "northwind.sql"
    assert path.exists(), f"{path} is needed: CI has ../shared beside the checkout"
    return path


@pytest.fixture(scope="session")
def order_details_csv() -> Path:
    """The real order_details.csv (2155 lines)."""
    path = NORTHWIND / "order_details.csv"
    assert path.exists(), f"{path} is needed: CI has ../shared beside the checkout"
    return path
