"""The lakehouse as an Airflow DAG: one run per date, one task per step of the project's CLI.

The tasks call the CLI in the project's own venv (``.venv``), so Airflow's venv and the
project's pins never meet. The settings (SOURCE_DSN, WAREHOUSE_DSN, PG*, ORDER_DETAILS_CSV,
LAKEHOUSE_DATA) reach the tasks as environment variables inherited from ``make airflow*``:
none is written here, and BashOperator is given no ``env`` that Airflow would render and store.
Task ids are the ledger's step names, so Airflow's grid and ``make status`` line up. ``load``
stays one task: ``dbt build`` publishes the warehouse only when the whole project was built.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, RetryDecision, RetryPolicy

REPO = Path(__file__).resolve().parents[2]
CLI = f"{shlex.quote(str(REPO / '.venv' / 'bin' / 'python'))} -m extract"
CSV = '${ORDER_DETAILS_CSV:+--csv "$ORDER_DETAILS_CSV"}'  # {date} in it stays for the CLI to fill in
LOCKED = re.compile(r"exit code 75\.?$")  # the CLI's exit code when another run holds a lock


class RetryWhenLocked(RetryPolicy):
    """Retry a step that found its lock taken (exit 75); fail any other exit code at once."""

    def evaluate(self, exception, try_number, max_tries, context=None) -> RetryDecision:
        if LOCKED.search(str(exception)):
            return RetryDecision.retry(reason="another run holds the lock (exit 75)")
        return RetryDecision.fail(reason="a failed step is not retried: fix it, then clear the task")


with DAG(
    dag_id="lakehouse",
    description="Daily snapshot of the source and the CSV into the lake, loaded into the warehouse",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,  # on for daily CSV drops (ORDER_DETAILS_CSV with {date}): see the README
    max_active_runs=1,  # one load at a time writes the warehouse
    default_args={"retries": 5, "retry_delay": timedelta(minutes=1), "retry_policy": RetryWhenLocked()},
    tags=["lakehouse"],
):

    def step(task_id: str, arguments: str) -> BashOperator:
        return BashOperator(task_id=task_id, bash_command=f"{CLI} {arguments} --date {{{{ ds }}}}", cwd=str(REPO))

    (
        [step("extract_postgres", "extract postgres"), step("extract_csv", f"extract csv {CSV}")]
        >> step("load", "load")
        >> step("export", "export")
    )
