"""dbt's floor: a trivial dbt-duckdb project with as many views, tables and tests as ours, on as many threads.

Its models select constants and its tests are dbt's own generic ones, so a ``dbt build``
of it costs what dbt itself needs for that many nodes: the least step 2 could take.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from extract.dbt import OUTPUT_FOLDERS

DBT = str(Path(sys.executable).with_name("dbt"))
# The generic tests dbt ships, taken in turn on each column of a model.
TESTS = ("not_null", "unique", {"accepted_values": {"arguments": {"values": [1]}}})


@dataclass(frozen=True)
class Shape:
    """How many nodes of each kind a ``dbt build`` runs, and on how many threads."""

    views: int
    tables: int
    tests: int
    threads: int


def shape_of(manifest: Path, profiles: Path, profile: str = "lakehouse") -> Shape:
    """The shape of a built project, from its manifest.json and the default output of ``profile``.

    Ephemeral models are inlined into others, so only views and tables count as nodes.
    """
    nodes = json.loads(manifest.read_text())["nodes"].values()
    models = Counter(node["config"]["materialized"] for node in nodes if node["resource_type"] == "model")
    outputs = yaml.safe_load(profiles.read_text())[profile]
    threads = int(outputs["outputs"][outputs["target"]]["threads"])
    tests = sum(node["resource_type"] == "test" for node in nodes)
    return Shape(views=models["view"], tables=models["table"], tests=tests, threads=threads)


def write_project(folder: Path, shape: Shape) -> None:
    """A fresh project of ``shape`` in ``folder``: its DuckDB file there too, the tests spread over the models."""
    models = [
        (kind, f"{kind}_{i}") for kind, count in (("view", shape.views), ("table", shape.tables)) for i in range(count)
    ]
    if shape.tests and not models:
        raise ValueError("tests need a model to test")
    shutil.rmtree(folder, ignore_errors=True)
    schema: dict = {"version": 2, "models": []}
    for index, (kind, name) in enumerate(models):
        tests = shape.tests // len(models) + (index < shape.tests % len(models))
        columns = ", ".join(f"1 as c{column}" for column in range(max(1, math.ceil(tests / len(TESTS)))))
        path = folder / "models" / f"{kind}s" / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"select {columns}\n")
        schema["models"].append(_tested(name, tests))
    project = {
        "name": "floor",
        "version": "1.0.0",
        "profile": "floor",
        "config-version": 2,
        "models": {"floor": {"views": {"+materialized": "view"}, "tables": {"+materialized": "table"}}},
    }
    target = {"type": "duckdb", "path": str(folder / "floor.duckdb"), "threads": shape.threads}
    _write_yaml(folder / "dbt_project.yml", project)
    _write_yaml(folder / "profiles.yml", {"floor": {"target": "dev", "outputs": {"dev": target}}})
    _write_yaml(folder / "models" / "schema.yml", schema)


def _tested(model: str, tests: int) -> dict:
    """A model's schema entry with ``tests`` generic tests: each column takes every kind once before the next."""
    columns: dict[str, list] = {}
    for index in range(tests):
        columns.setdefault(f"c{index // len(TESTS)}", []).append(TESTS[index % len(TESTS)])
    return {"name": model, "columns": [{"name": name, "data_tests": kinds} for name, kinds in columns.items()]}


class _Dumper(yaml.SafeDumper):
    """Writes every test out in full, no anchors: the files read like a hand-written project's."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _write_yaml(path: Path, content: dict) -> None:
    path.write_text(yaml.dump(content, Dumper=_Dumper, sort_keys=False))


def build_command(folder: Path) -> list[str]:
    """``dbt build`` of the project in ``folder``, partial parsing on (dbt's default, said outright)."""
    return [DBT, "build", "--partial-parse", "--project-dir", str(folder), "--profiles-dir", str(folder)]


def build_env(base: dict[str, str]) -> dict[str, str]:
    """``base`` with the settings step 2 gives dbt (extract/dbt.py, dbt_env), so only the project differs.

    The floor keeps its artifacts and log in its own folder: sharing a ``DBT_TARGET_PATH`` with
    our project, each would find the other's partial parse and parse everything again.
    """
    own = {key: value for key, value in base.items() if key not in OUTPUT_FOLDERS}
    return {**own, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_LOG_LEVEL_FILE": "info", "DBT_USE_COLORS": "false"}
