"""The project's dbt-duckdb plugin (profiles.yml): ``dbt build`` and ``dbt run`` hold the warehouse's writer lock.

dbt-duckdb calls ``configure_connection`` whenever it opens its database, before any hook
or model runs, so a bare ``dbt build`` takes the lock before it resets the "__next"
schemas, exactly as ``make load`` does, and refuses to start while another run holds it.
The lock ends with the process; the CLI, which runs dbt in its own process, already holds
it and releases dbt's share after each run (``extract.dbt.release_duckdb``).
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.flags import get_flags

from . import writer_lock

__all__ = ["Plugin"]

WRITING = ("build", "run")


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict) -> None:
        self.warehouse = plugin_config["warehouse"]

    def configure_connection(self, conn) -> None:
        command = getattr(get_flags(), "WHICH", None)
        if command in WRITING:
            writer_lock.acquire(self.warehouse, f"dbt {command}", "dbt")
