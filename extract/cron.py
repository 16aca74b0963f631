"""The crontab line that runs the whole pipeline every day, for a machine without Airflow."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping

from psycopg2.extensions import make_dsn, parse_dsn

from .config import PG_ENV, REPO_ROOT, SECRET_KEYWORDS, load_settings

__all__ = ["crontab_line"]

# What `make all` reads from the environment; cron starts jobs with almost none of it.
SETTINGS = (
    *("SOURCE_DSN", "WAREHOUSE_DSN", *PG_ENV, "ORDER_DETAILS_CSV"),
    *("LAKEHOUSE_DATA", "LAKEHOUSE_STATE", "LAKEHOUSE_PGDATA", "LAKEHOUSE_PG_PORT"),
    *("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"),
)


def crontab_line(env: Mapping[str, str]) -> tuple[str, list[str]]:
    """The line (absolute paths, the settings set in ``env`` minus any password) and notes on what was left out.

    It runs at 02:00 in the machine's time zone; `make all` then takes the day in UTC.
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
    make = shutil.which("make", path=env.get("PATH")) or "/usr/bin/make"
    command = " ".join(
        [f"cd {shlex.quote(str(REPO_ROOT))} &&", *assignments, make, "all", f">> {shlex.quote(str(log))} 2>&1"]
    )
    return "0 2 * * * " + command.replace("%", r"\%"), notes  # cron reads a bare % as a newline
