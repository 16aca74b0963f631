"""Airflow for the lakehouse: start, stop, one run for a date, a backfill of a range.

Run by ``.venv-airflow``'s Python (standard library only), next to the ``airflow`` command it
drives. Every Airflow process gets the same environment: the caller's (the pipeline's settings
reach the tasks through it), plus AIRFLOW_HOME in ``.airflow/`` of the checkout with SQLite
metadata, the DAG folder, and the API server on 127.0.0.1:AIRFLOW_PORT (default 8081).
"""

from __future__ import annotations

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
    "scheduler": ["scheduler"],
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
    """Run one ``airflow`` command; with ``quiet`` its output is kept, and shown only if it fails."""
    result = subprocess.run([AIRFLOW, *args], env=environment(), capture_output=quiet, text=True)
    if result.returncode != 0 and quiet:
        sys.exit(f"error: airflow {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def _pid(name: str) -> int | None:
    """The pid of a running service, or None."""
    path = HOME / "run" / f"{name}.pid"
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


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

    No one does when AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS is true (every visitor is an admin).
    """
    if os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() == "true":
        return None
    passwords = json.loads((HOME / "simple_auth_manager_passwords.json.generated").read_text())
    return "admin", passwords["admin"]


def _post(url: str, body: dict, headers: dict[str, str], method: str = "POST") -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def api(path: str, body: dict | None = None, method: str = "POST") -> dict:
    """Call the REST API of the UI (``/api/v2/<path>``) as its user: GET without ``body``."""
    headers = {}
    if credentials := login():
        user, password = credentials
        token = _post(f"{URL}/auth/token", {"username": user, "password": password}, {})["access_token"]
        headers["Authorization"] = f"Bearer {token}"
    try:
        if body is None:
            with urllib.request.urlopen(urllib.request.Request(f"{URL}/api/v2/{path}", headers=headers)) as response:
                return json.load(response)
        return _post(f"{URL}/api/v2/{path}", body, headers, method)
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("detail", exc.reason)
        raise ApiError(exc.code, f"Airflow at {URL} answered {exc.code} to {path.split('?')[0]}: {detail}") from None


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
            (HOME / "run" / f"{name}.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 120
    while not _healthy():
        dead = [name for name in SERVICES if _pid(name) is None]
        if dead or time.monotonic() > deadline:
            stop()
            problem = f"{', '.join(dead)} exited" if dead else f"no answer from {URL} in 120 s"
            sys.exit(f"error: Airflow did not start: {problem}; see {HOME / 'logs'}")
        time.sleep(1)
    while True:  # the DAG processor has parsed the DAG when the API knows it
        try:
            api(f"dags/{DAG_ID}?update_mask=is_paused", {"is_paused": False}, method="PATCH")
            break
        except ApiError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(1)
    credentials = login()
    access = "login {} / {}".format(*credentials) if credentials else "no login"
    print(f"Airflow is up: {URL}/dags/{DAG_ID}  ({access})")
    print(f"DAG {DAG_ID!r} is on, daily; logs in {HOME / 'logs'}; make airflow-stop stops it")


def stop() -> None:
    """Stop the services: SIGTERM to each process group, SIGKILL after 30 s."""
    running = {name: pid for name in SERVICES if (pid := _pid(name)) is not None}
    for pid in running.values():
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_pid(name) for name in running) and time.monotonic() < deadline:
        time.sleep(0.5)
    for name in running:
        if (pid := _pid(name)) is not None:
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
    """Queue one run per date with the scheduler, one at a time, and wait for them to end."""
    start()
    request = {"dag_id": DAG_ID, "from_date": f"{start_date}T00:00:00Z", "to_date": f"{end_date}T00:00:00Z"}
    # Two refusals pass: the scheduler marks a finished backfill complete every 30 s (409), and
    # SQLite, locked by the scheduler a moment, makes the API refuse a new backfill (503).
    deadline = time.monotonic() + 60
    while True:
        try:
            api("backfills", {**request, "max_active_runs": 1, "reprocess_behavior": "failed"})
            break
        except ApiError as exc:
            if exc.code not in (409, 503) or time.monotonic() > deadline:
                raise
            print(f"waiting: {exc}", flush=True)
            time.sleep(3)
    print(f"backfill {start_date} .. {end_date} queued; follow it at {URL}/dags/{DAG_ID}", flush=True)
    reported: dict[str, str] = {}
    while True:
        runs = _runs(start_date, end_date)
        for date, state in sorted(runs.items()):
            if state in ("success", "failed") and reported.get(date) != state:
                print(f"  {date}  {state}", flush=True)
                reported[date] = state
        if runs and all(state in ("success", "failed") for state in runs.values()):
            return 0 if all(state == "success" for state in runs.values()) else 1
        time.sleep(3)


def main(argv: list[str]) -> int:
    """``airflow_ctl.py start|stop|test DATE|backfill FROM TO``."""
    try:
        return _command(argv)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _command(argv: list[str]) -> int:
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
