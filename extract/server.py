"""The embedded PostgreSQL: real binaries from the pgserver wheel, data under the repository."""

from __future__ import annotations

import fcntl
import functools
import importlib.util
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from .config import DEFAULT_DBNAMES, Settings

__all__ = ["POSTGRES_BIN", "ServerError", "ensure_databases", "is_running", "start", "stop"]

# The binaries inside the pgserver wheel (found without importing pgserver, which has side effects).
POSTGRES_BIN = Path(importlib.util.find_spec("pgserver").submodule_search_locations[0]) / "pginstall" / "bin"

# PostgreSQL refuses to run as root; pgserver's wheel creates this user for that case.
SYSTEM_USER = "pgserver"


class ServerError(RuntimeError):
    """The embedded server could not be started or stopped."""


@functools.cache
def _run_as() -> str | None:
    """The system user to run PostgreSQL as: ourselves, or SYSTEM_USER when we are root.

    SYSTEM_USER is created when missing, and may then reach the binaries (a checkout in a
    private folder has 0700 folders above them).
    """
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    _let_server_user_reach(POSTGRES_BIN / "postgres")
    return SYSTEM_USER


def _let_server_user_reach(path: Path) -> None:
    """Let SYSTEM_USER traverse the folders above ``path``."""
    for parent in path.resolve().parents:
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH)


def _give_to_server_user(path: Path) -> None:
    """Let SYSTEM_USER own ``path`` and traverse the folders above it."""
    user = _run_as()
    if user:
        _let_server_user_reach(path)
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _pg(settings: Settings, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(POSTGRES_BIN / program), "-D", str(settings.pgdata), *args]
    user = _run_as()
    # Drop root's groups too: folders whose group is root would otherwise deny access.
    as_user = {"user": user, "group": user, "extra_groups": []} if user else {}
    result = subprocess.run(command, capture_output=True, text=True, cwd="/", **as_user)
    if check and result.returncode != 0:
        log = settings.pgdata / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ServerError(f"{program} {' '.join(args)} failed in {settings.pgdata}:\n{result.stderr}{tail}")
    return result


@contextmanager
def _lock(settings: Settings) -> Iterator[None]:
    settings.pgdata.parent.mkdir(parents=True, exist_ok=True)
    with open(settings.pgdata.parent / f".{settings.pgdata.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _init(settings: Settings, password: str | None) -> None:
    settings.pgdata.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(settings.pgdata)
    settings.pgdata.chmod(0o700)
    if not password:
        _pg(settings, "initdb", "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C")
        return
    pwfile = settings.pgdata.parent / f".{settings.pgdata.name}.pw"  # initdb wants an empty data folder
    pwfile.unlink(missing_ok=True)
    os.close(os.open(pwfile, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        pwfile.write_text(password + "\n")
        _give_to_server_user(pwfile)
        _pg(
            settings,
            "initdb",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C",
        )
    finally:
        pwfile.unlink()


def is_running(settings: Settings) -> bool:
    """Whether the embedded server of ``settings`` is up."""
    if not (settings.pgdata / "PG_VERSION").exists():
        return False
    return _pg(settings, "pg_ctl", "status", check=False).returncode == 0


def start(settings: Settings, *, password: str | None = None) -> bool:
    """Start the embedded server (initialising its data folder the first time).

    It listens on 127.0.0.1 at ``settings.pg_port`` and on a Unix socket in
    ``settings.socket_dir``, with trust authentication for local users.

    Args:
        settings: where the data folder is and which port to use.
        password: when the data folder is created, require password (scram) authentication
            of every user instead, with this password for the superuser ``postgres``.

    Returns:
        True if this call started it, False if it was already running.
    """
    with _lock(settings):
        if not (settings.pgdata / "PG_VERSION").exists():
            _init(settings, password)
        if is_running(settings):
            return False
        if settings.socket_dir != settings.pgdata:
            settings.socket_dir.mkdir(parents=True, exist_ok=True)
            _give_to_server_user(settings.socket_dir)
        options = f"-h 127.0.0.1 -p {settings.pg_port} -k {settings.socket_dir}"
        _pg(settings, "pg_ctl", "start", "-w", "-t", "60", "-l", str(settings.pgdata / "server.log"), "-o", options)
        return True


def stop(settings: Settings) -> bool:
    """Stop the embedded server; returns False if it was not running."""
    with _lock(settings):
        if not is_running(settings):
            return False
        _pg(settings, "pg_ctl", "stop", "-w", "-m", "fast")
        return True


def ensure_databases(settings: Settings) -> None:
    """Create the source and warehouse databases on the embedded server if missing."""
    try:
        conn = psycopg2.connect(settings.embedded_dsn("postgres"))
    except psycopg2.OperationalError as exc:
        raise ServerError(f"cannot connect to the embedded server: {str(exc).strip().splitlines()[0]}") from None
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for role in settings.embedded_roles:
                name = DEFAULT_DBNAMES[role]
                cur.execute("select 1 from pg_database where datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{name}"')
    finally:
        conn.close()
