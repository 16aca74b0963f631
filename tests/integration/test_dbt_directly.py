"""The README's "dbt directly" lines, run exactly as written from the folders they name, in a checkout of our own.

The checkout is a copy of the dbt project and profiles.yml with its own data/ and no
LAKEHOUSE_DATA: the lake and DuckDB's file must be found beside profiles.yml whichever
folder dbt starts from.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from helpers import assert_whole, query

from extract.config import REPO_ROOT
from extract.dbt import OUTPUT_FOLDERS, dbt_env
from extract.lake import partition_file

DATE = "2024-01-15"


def readme_dbt_lines() -> list[str]:
    """The command lines of the README's "dbt directly" section, comments dropped."""
    section = (REPO_ROOT / "README.md").read_text().split("### dbt directly", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    lines = [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture()
def checkout(settings, tmp_path):
    """A checkout with the test's lake in its own data/ (ask for ``demo`` or ``loaded`` first), and a user's env."""
    root = tmp_path / "home" / "checkout"
    shutil.copytree(REPO_ROOT / "dbt_project", root / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copy(REPO_ROOT / "profiles.yml", root)
    (root / ".venv").symlink_to(REPO_ROOT / ".venv")
    shutil.copytree(settings.data_dir, root / "data")
    ours = ("LAKEHOUSE_DATA", "LAKEHOUSE_STATE", *OUTPUT_FOLDERS)  # the checkout has its own
    env = {key: value for key, value in dbt_env(settings).items() if key not in ours}
    return root, env


def _run(line: str, root, env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_readme_shows_each_way_to_start_dbt():
    lines = readme_dbt_lines()
    assert any("--project-dir dbt_project --profiles-dir ." in line for line in lines)
    assert any("DBT_PROJECT_DIR=dbt_project DBT_PROFILES_DIR=." in line for line in lines)
    assert any(line.startswith("cd dbt_project && LAKEHOUSE_RUN_DATE=") for line in lines)
    assert any("--vars '{run_date: " in line for line in lines)


def test_readme_dbt_lines_build_from_every_folder(demo, checkout):
    root, env = checkout
    lines = readme_dbt_lines()
    for line in [*lines[1:], lines[0]]:  # the recommended spelling last: the new day below keeps its parse
        result = _run(line, root, env)
        assert result.returncode == 0, (line, result.stdout[-3000:])
        assert (root / "data" / "lakehouse.duckdb").exists()
        assert not (root.parent / "data").exists(), line  # nothing resolved against the working directory
        if "--target postgres" not in line:
            assert_whole(demo, DATE)
    assert query(demo.dsn("warehouse"), "select count(*) from postgres_marts.order_lines") == query(
        demo.dsn("warehouse"), "select count(*) from marts.order_lines"
    )
    # The recommended spelling on a new day (never extracted): dbt keeps its parse, and the gate reads that day.
    result = _run(lines[0].replace(DATE, "2024-01-16"), root, env)
    assert result.returncode != 0 and "step 2 (load) refused for 2024-01-16" in result.stdout
    assert "Unable to do partial parsing" not in result.stdout


def test_readme_dbt_lines_refuse_a_missing_partition_by_name(loaded, checkout):
    root, env = checkout
    (root / "data" / partition_file("postgres", "products", DATE)).unlink()
    # The two ways the day reaches dbt (the variable, --vars); where dbt starts from is the test above's.
    lines = readme_dbt_lines()
    for line in (lines[0], *[line for line in lines if "--vars" in line]):
        result = _run(line, root, env)
        assert result.returncode != 0, line
        assert f"step 2 (load) refused for {DATE}: postgres/products: data file" in result.stdout, line
        assert_whole(loaded, DATE)
