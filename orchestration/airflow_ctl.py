"""Airflow for the lakehouse: start, stop, one run for a date, a backfill of a range.

Run by ``.venv-airflow``'s Python (standard library only), next to the ``airflow`` command it
drives. Every Airflow process gets the same environment: the caller's (the pipeline's settings
reach the tasks through it), plus AIRFLOW_HOME in ``.airflow/`` of the checkout with SQLite
metadata, the DAG folder, and the API server on 127.0.0.1:AIRFLOW_PORT (default 8081).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".airflow"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
PORT = int(os.environ.get("AIRFLOW_PORT", "8081"))
URL = f"http://127.0.0.1:{PORT}"
DAG_ID = "lakehouse"
SERVICES = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(PORT)],
    "dag-processor": ["dag-processor"],
    "scheduler": ["scheduler", "--skip-serve-logs"],  # the UI reads task logs from .airflow/logs: no port 8793
}


def environment() -> dict[str, str]:
    """The caller's environment with Airflow's settings for this checkout."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "orchestration" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{URL}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "4",  # the default forks 32 workers on a laptop
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__BASE_URL": URL,
    }


def airflow(*args: str, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run one ``airflow`` command; with ``quiet`` its output is kept, and its last line is the error if it fails."""
    result = subprocess.run([AIRFLOW, *args], env=environment(), capture_output=quiet, text=True)
    if result.returncode != 0 and quiet:
        last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
        sys.exit(f"error: airflow {' '.join(args)} failed: {last[0]}")
    return result


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None if it has ended (or is a zombie)."""
    try:
        state, *fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return None if state in ("Z", "X") else fields[18]  # field 22 of proc(5)


def _pid(name: str) -> int | None:
    """The pid of a running service, or None.

    The pid file keeps the process's start time too, so a pid the system has since given to
    another program is not taken for the service (its command line is no proof: Airflow renames it).
    """
    try:
        pid, started = (HOME / "run" / f"{name}.pid").read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    return int(pid) if _started(int(pid)) == started else None


def _healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/api/v2/monitor/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class ApiError(RuntimeError):
    """The REST API refused a request; ``code`` is the HTTP status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def login() -> tuple[str, str] | None:
    """The UI's user and the password Airflow generated for it; None when no one logs in.

    Airflow writes no password file when every visitor is an admin
    (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True).
    """
    try:
        return "admin", json.loads((HOME / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    except FileNotFoundError:
        return None


def _post(url: str, body: dict, headers: dict[str, str], method: str = "POST") -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def api(path: str, body: dict | None = None, method: str = "POST") -> dict:
    """Call the REST API of the UI (``/api/v2/<path>``) as its user: GET without ``body``."""
    try:
        headers = {}
        if credentials := login():
            user, password = credentials
            token = _post(f"{URL}/auth/token", {"username": user, "password": password}, {})["access_token"]
            headers["Authorization"] = f"Bearer {token}"
        if body is None:
            request = urllib.request.Request(f"{URL}/api/v2/{path}", headers=headers)
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        return _post(f"{URL}/api/v2/{path}", body, headers, method)
    except urllib.error.HTTPError as exc:
        answer = exc.read().decode(errors="replace")
        try:
            detail = json.loads(answer)["detail"]
        except (ValueError, KeyError, TypeError):
            detail = answer.strip() or exc.reason
        raise ApiError(exc.code, f"Airflow at {URL} answered {exc.code} to {path.split('?')[0]}: {detail}") from None
    except OSError as exc:
        raise ApiError(0, f"no answer from Airflow at {URL}: {exc}; make airflow starts it") from None


def start() -> None:
    """Migrate the metadata DB, start the three services, switch the DAG on, print the URL and login."""
    (HOME / "run").mkdir(parents=True, exist_ok=True)
    (HOME / "logs").mkdir(exist_ok=True)
    stopped = [name for name in SERVICES if _pid(name) is None]
    if stopped:
        airflow("db", "migrate", quiet=True)
    for name, args in SERVICES.items():
        if name in stopped:
            with open(HOME / "logs" / f"{name}.log", "a") as log:
                process = subprocess.Popen(
                    [AIRFLOW, *args], env=environment(), stdout=log, stderr=log, start_new_session=True
                )
            (HOME / "run" / f"{name}.pid").write_text(f"{process.pid} {_started(process.pid)}")
    deadline = time.monotonic() + 120
    while not _healthy():
        dead = [name for name in SERVICES if _pid(name) is None]
        if dead or time.monotonic() > deadline:
            stop()
            problem = f"no answer from {URL} in 120 s"
            if dead:
                last = (HOME / "logs" / f"{dead[0]}.log").read_text(errors="replace").strip().splitlines()[-1:]
                problem = f"{', '.join(dead)} exited ({last[0] if last else 'no output'})"
            sys.exit(f"error: Airflow did not start: {problem}; see {HOME / 'logs'}")
        time.sleep(1)
    while True:  # the DAG processor has parsed the DAG when the API knows it
        try:
            api(f"dags/{DAG_ID}?update_mask=is_paused", {"is_paused": False}, method="PATCH")
            break
        except ApiError as exc:
            if exc.code != 404:
                raise
            if time.monotonic() > deadline:
                sys.exit(f"error: the DAG {DAG_ID} did not load; see {HOME / 'logs' / 'dag-processor.log'}")
            time.sleep(1)
    credentials = login()
    access = "login {} / {}".format(*credentials) if credentials else "no login"
    print(f"Airflow is up: {URL}/dags/{DAG_ID}  ({access})")
    print(f"DAG {DAG_ID!r} is on, daily; logs in {HOME / 'logs'}; make airflow-stop stops it")


def stop() -> None:
    """Stop the services: SIGTERM to each process group, SIGKILL after 30 s."""
    running = {name: pid for name in SERVICES if (pid := _pid(name)) is not None}
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_pid(name) for name in running) and time.monotonic() < deadline:
        time.sleep(0.5)
    for name in running:
        if (pid := _pid(name)) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        (HOME / "run" / f"{name}.pid").unlink(missing_ok=True)
    print(f"Airflow stopped ({', '.join(running)})" if running else "Airflow was not running")


def test(date: str) -> int:
    """One run of the DAG for ``date`` in this process (``airflow dags test``): no scheduler needed."""
    airflow("db", "migrate", quiet=True)
    return airflow("dags", "test", DAG_ID, date).returncode


def _runs(start: str, end: str) -> dict[str, str]:
    """The state of each backfill run from ``start`` to ``end``, by date."""
    query = f"run_type=backfill&logical_date_gte={start}T00:00:00Z&logical_date_lte={end}T00:00:00Z&limit=1000"
    runs = api(f"dags/{DAG_ID}/dagRuns?{query}")["dag_runs"]
    return {run["logical_date"][:10]: run["state"] for run in runs}


def backfill(start_date: str, end_date: str) -> int:
    """Queue one run per date with the scheduler, one at a time, wait for them, print each date's outcome.

    Days that already have a run which succeeded (or is under way) are left as they are: Airflow
    reruns only missing and failed days ("reprocess_behavior": "failed").
    """
    start()
    request = {
        "dag_id": DAG_ID,
        "from_date": f"{start_date}T00:00:00Z",
        "to_date": f"{end_date}T00:00:00Z",
        "max_active_runs": 1,
        "reprocess_behavior": "failed",
    }
    planned = sorted(run["logical_date"][:10] for run in api("backfills/dry_run", request)["backfills"])
    for day in (day for day in _days(start_date, end_date) if day not in planned):
        print(f"  {day}  kept: it already has a run that succeeded or is under way", flush=True)
    if not planned:
        return 0
    # Two refusals pass: the scheduler marks a finished backfill complete every 30 s (409), and
    # SQLite, locked by the scheduler a moment, makes the API refuse a new backfill (503).
    deadline = time.monotonic() + 60
    while True:
        try:
            api("backfills", request)
            break
        except ApiError as exc:
            if exc.code not in (409, 503) or time.monotonic() > deadline:
                raise
            print(f"waiting: {exc}", flush=True)
            time.sleep(3)
    print(f"backfill of {', '.join(planned)} queued; follow it at {URL}/dags/{DAG_ID}", flush=True)
    reported: dict[str, str] = {}
    while True:
        runs = {day: state for day, state in _runs(start_date, end_date).items() if day in planned}
        for day, state in sorted(runs.items()):
            if state in ("success", "failed") and reported.get(day) != state:
                print(f"  {day}  {state}", flush=True)
                reported[day] = state
        if len(reported) == len(planned):
            return 0 if all(state == "success" for state in reported.values()) else 1
        if _pid("scheduler") is None:
            sys.exit(f"error: Airflow's scheduler stopped before the backfill ended; see {HOME / 'logs'}")
        time.sleep(3)


def _days(start_date: str, end_date: str) -> list[str]:
    first, last = dt.date.fromisoformat(start_date), dt.date.fromisoformat(end_date)
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def main(argv: list[str]) -> int:
    """``airflow_ctl.py start|stop|test DATE|backfill FROM TO``."""
    try:
        return _command(argv)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _command(argv: list[str]) -> int:
    for date in argv[1:]:
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            sys.exit(f"error: date {date!r} is not YYYY-MM-DD")
    match argv:
        case ["start"]:
            start()
        case ["stop"]:
            stop()
        case ["test", date]:
            return test(date)
        case ["backfill", start_date, end_date]:
            return backfill(start_date, end_date)
        case _:
            sys.exit("usage: airflow_ctl.py start | stop | test YYYY-MM-DD | backfill YYYY-MM-DD YYYY-MM-DD")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
