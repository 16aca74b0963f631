"""The crontab lines that run the whole pipeline every day, for a machine without Airflow."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping

from psycopg2.extensions import make_dsn, parse_dsn

from .config import PG_ENV, REPO_ROOT, SECRET_KEYWORDS, load_settings

__all__ = ["crontab_lines"]

# What `make all` reads from the environment; cron starts jobs with almost none of it.
SETTINGS = (
    *("SOURCE_DSN", "WAREHOUSE_DSN", *PG_ENV, "ORDER_DETAILS_CSV"),
    *("LAKEHOUSE_DATA", "LAKEHOUSE_STATE", "LAKEHOUSE_PGDATA", "LAKEHOUSE_PG_PORT"),
    *("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"),
)


def crontab_lines(env: Mapping[str, str]) -> tuple[str, list[str]]:
    """The crontab lines (absolute paths, the settings in ``env`` minus any password); notes on what was left out.

    The schedule is pinned to UTC (``CRON_TZ=UTC``), the zone of the run date: a schedule in
    the machine's zone would skip a day or run one twice when daylight saving time changes.
    The job is the CLI's ``run`` itself, not ``make all``, so cron's mail and any wrapper see
    its exit code (75 when another run holds a lock); make would turn every failure into 2.
    """
    assignments, notes = [], []
    for name in SETTINGS:
        value = env.get(name)
        if not value:
            continue
        if name.endswith("_DSN"):
            parts = parse_dsn(value)
            if any(parts.pop(keyword, None) for keyword in SECRET_KEYWORDS):
                value = make_dsn(**parts)
                notes.append(f"the password in {name} is left out of the line: put it in ~/.pgpass, which libpq reads")
        assignments.append(f"{name}={shlex.quote(value)}")
    if env.get("PGPASSWORD"):
        notes.append("PGPASSWORD is left out of the line: put the password in ~/.pgpass, which libpq reads")
    if env.get("AWS_SECRET_ACCESS_KEY"):
        notes.append("the AWS keys are left out of the line: put them in ~/.aws/credentials, which boto3 reads")
    log = load_settings(env).data_dir / "cron.log"
    run = [shlex.quote(sys.executable), "-m", "extract", "run"]
    command = " ".join([f"cd {shlex.quote(str(REPO_ROOT))} &&", *assignments, *run, f">> {shlex.quote(str(log))} 2>&1"])
    return "CRON_TZ=UTC\n0 2 * * * " + command.replace("%", r"\%"), notes  # cron reads a bare % as a newline
