"""Shared fixtures: the real Northwind files, given by path; tests that need them are deselected without them.

Under pytest-xdist (``make test`` runs two workers), each worker's dbt writes its own
target and log folders, so one worker's runs never read or parse over another's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extract.dbt import PROJECT_DIR

NORTHWIND_FILES = {"northwind_sql": "NORTHWIND_SQL", "order_details_csv": "ORDER_DETAILS_CSV"}
_DESELECTED = pytest.StashKey[int]()

if "PYTEST_XDIST_WORKER" in os.environ:
    _worker = os.environ["PYTEST_XDIST_WORKER"]
    os.environ["DBT_TARGET_PATH"] = str(PROJECT_DIR / "target" / _worker)
    os.environ["DBT_LOG_PATH"] = str(PROJECT_DIR / "logs" / _worker)


def _northwind_file(variable: str) -> Path:
    path = Path(os.environ[variable])
    assert path.is_file(), f"{variable}={path} is not a file"
    return path


@pytest.fixture(scope="session")
def northwind_sql() -> Path:
    """The real Northwind dump (13 tables, order_details missing), from NORTHWIND_SQL."""
    return _northwind_file("NORTHWIND_SQL")


@pytest.fixture(scope="session")
def order_details_csv() -> Path:
    """The real order_details.csv (2155 lines), from ORDER_DETAILS_CSV."""
    return _northwind_file("ORDER_DETAILS_CSV")


@pytest.hookimpl(tryfirst=True)  # before -m selects by the marker added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that need the real Northwind files, and deselect them when their paths are not given."""
    needing = [item for item in items if set(NORTHWIND_FILES) & set(getattr(item, "fixturenames", ()))]
    for item in needing:
        item.add_marker("northwind")
    if not needing or all(os.environ.get(variable) for variable in NORTHWIND_FILES.values()):
        return
    items[:] = [item for item in items if item not in needing]
    config.hook.pytest_deselected(items=needing)
    config.stash[_DESELECTED] = len(needing)
    if hasattr(config, "workeroutput"):  # an xdist worker: tell the controller, which prints the summary
        config.workeroutput["northwind_deselected"] = len(needing)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """Each xdist worker collects (and deselects) the whole suite; the controller keeps their count."""
    count = getattr(node, "workeroutput", {}).get("northwind_deselected", 0)
    node.config.stash[_DESELECTED] = max(count, node.config.stash.get(_DESELECTED, 0))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if config.stash.get(_DESELECTED, 0):
        terminalreporter.write_line(
            f"{config.stash[_DESELECTED]} tests need the real Northwind dump and were deselected: "
            "run them with NORTHWIND_SQL=path/northwind.sql ORDER_DETAILS_CSV=path/order_details.csv make test"
        )
