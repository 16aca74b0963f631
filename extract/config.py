"""Settings from the environment: lake paths, the embedded server, and the two database roles."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import psycopg2
from psycopg2.extensions import connection, make_dsn, parse_dsn

from .source_tables import EVERY_TABLE, Selection, split_patterns
from .storage import Lake, open_lake

__all__ = [
    "REPO_ROOT",
    "SECRET_KEYWORDS",
    "Settings",
    "Unreachable",
    "connect",
    "first_line",
    "load_settings",
    "password_apart",
    "redact",
    "scrub",
    "without_secrets",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
ROLES = ("source", "warehouse")
DEFAULT_DBNAMES = {"source": "northwind", "warehouse": "warehouse"}
# libpq keywords whose values are secrets: never shown, never passed on in a connection string.
SECRET_KEYWORDS = ("password", "sslpassword")
# Any of these names a real server for both roles (libpq fills the rest).
PG_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGSERVICE")


@dataclass(frozen=True)
class Settings:
    """Where the lake lives and how to reach each database role.

    Attributes:
        lake_url: the lake and its run ledger (``LAKEHOUSE_DATA``): a folder or ``s3://bucket/prefix``.
        data_dir: the local folder for DuckDB's file, the exports, the demo CSV and files being
            written (``LAKEHOUSE_STATE``): the lake folder itself, or ``data/s3/<bucket>/<prefix>``
            when the lake is on S3.
        pgdata: data folder of the embedded PostgreSQL (``LAKEHOUSE_PGDATA``).
        pg_port: TCP port of the embedded PostgreSQL on 127.0.0.1 (``LAKEHOUSE_PG_PORT``).
        dsns: libpq DSN per role given by the user (``SOURCE_DSN``, ``WAREHOUSE_DSN``),
            or built from ``PG*`` variables; a role missing here uses the embedded server.
        workers: tables extracted at the same time (``LAKEHOUSE_WORKERS``, default: the cores).
        duckdb_threads: DuckDB worker threads (``LAKEHOUSE_DUCKDB_THREADS``, default: the cores).
        memory_limit: DuckDB's memory limit per connection, steps 1 and 2 (``LAKEHOUSE_MEMORY_LIMIT``, default 512MB).
        aws: the ``AWS_*`` variables, for a lake on S3.
        source_tables: the source tables step 1 takes (``SOURCE_SCHEMAS``, ``SOURCE_INCLUDE``,
            ``SOURCE_EXCLUDE``: names or shell patterns, separated by commas).
    """

    lake_url: str
    data_dir: Path
    pgdata: Path
    pg_port: int
    dsns: Mapping[str, str]
    aws: Mapping[str, str] = field(default_factory=dict)
    workers: int = 2
    duckdb_threads: int | None = None
    memory_limit: str = "512MB"
    source_tables: Selection = EVERY_TABLE

    @cached_property
    def lake(self) -> Lake:
        """The lake's store (opened once: an S3 client is slow to make)."""
        return open_lake(self.lake_url, self.data_dir, self.aws)

    @property
    def embedded_roles(self) -> tuple[str, ...]:
        """Roles served by the embedded PostgreSQL."""
        return tuple(role for role in ROLES if role not in self.dsns)

    @property
    def socket_dir(self) -> Path:
        """Unix socket folder of the embedded server (kept short: sockets have a path limit)."""
        return self.pgdata if len(str(self.pgdata)) < 80 else Path("/tmp") / f"lakehouse-pg-{self.pg_port}"

    @property
    def demo_csv(self) -> Path:
        """Where the demo generator writes its order_details.csv."""
        return self.data_dir / "demo" / "order_details.csv"

    def dsn(self, role: str) -> str:
        """The libpq DSN for ``role`` ("source" or "warehouse")."""
        return self.dsns.get(role) or self.embedded_dsn(DEFAULT_DBNAMES[role])

    def embedded_dsn(self, dbname: str) -> str:
        """The DSN of database ``dbname`` on the embedded server, through its socket."""
        return f"host={self.socket_dir} port={self.pg_port} user=postgres dbname={dbname}"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    dsns = {}
    for role in ROLES:
        given = env.get(f"{role.upper()}_DSN")
        if given:
            try:
                parse_dsn(given)
            except Exception:
                # psycopg's message quotes the DSN, password included: name the setting only.
                raise ValueError(f"{role.upper()}_DSN is not a libpq connection string or URI") from None
            dsns[role] = given
        elif any(env.get(name) for name in PG_ENV):
            # libpq fills host, port, user and password from the PG* variables (or PGSERVICE's file).
            dsns[role] = f"dbname={DEFAULT_DBNAMES[role]}"
    lake_url = env.get("LAKEHOUSE_DATA") or str(REPO_ROOT / "data")
    on_s3 = lake_url.startswith("s3://")
    if on_s3:
        lake_url = "s3://" + "/".join(part for part in lake_url.removeprefix("s3://").split("/") if part)
    # A lake on S3 keeps its local files in a folder of its own: two lakes never share DuckDB's file.
    state = env.get("LAKEHOUSE_STATE") or (str(REPO_ROOT / "data" / "s3" / lake_url[5:]) if on_s3 else lake_url)
    return Settings(
        lake_url=lake_url if on_s3 else str(Path(lake_url).resolve()),
        data_dir=Path(state).resolve(),
        pgdata=Path(env.get("LAKEHOUSE_PGDATA", REPO_ROOT / ".pgdata")).resolve(),
        pg_port=int(env.get("LAKEHOUSE_PG_PORT", "5433")),
        dsns=dsns,
        aws={key: value for key, value in env.items() if key.startswith("AWS_")},
        workers=int(env.get("LAKEHOUSE_WORKERS") or os.cpu_count() or 2),
        duckdb_threads=int(env["LAKEHOUSE_DUCKDB_THREADS"]) if env.get("LAKEHOUSE_DUCKDB_THREADS") else None,
        memory_limit=env.get("LAKEHOUSE_MEMORY_LIMIT", "512MB"),
        source_tables=Selection(
            *(split_patterns(env.get(f"SOURCE_{part}")) for part in ("SCHEMAS", "INCLUDE", "EXCLUDE"))
        ),
    )


def redact(dsn: str) -> str:
    """``dsn`` as ``host:port/dbname``, safe for logs and errors (never the password)."""
    try:
        parts = parse_dsn(dsn)
    except Exception:
        return "<unparsable DSN>"
    if "service" in parts and "host" not in parts:
        return f"service {parts['service']}"  # the service file holds the rest
    host = parts.get("host") or os.environ.get("PGHOST", "localhost")
    port = parts.get("port") or os.environ.get("PGPORT", "5432")
    return f"{host}:{port}/{parts.get('dbname', '?')}"


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (libpq's reason), or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Unreachable(ConnectionError):
    """A server that did not answer or refused us; the message names it and libpq's reason, never a password."""


def connect(dsn: str, **options) -> connection:
    """A libpq connection to ``dsn`` (``options`` as psycopg2 takes them).

    Raises:
        Unreachable: "cannot connect to host:port/dbname: <libpq's reason>", the one wording
            every step and command uses for a server it cannot reach.
    """
    try:
        return psycopg2.connect(dsn, **options)
    except psycopg2.Error as exc:
        raise Unreachable(f"cannot connect to {redact(dsn)}: {scrub(first_line(exc), [dsn])}") from None


def scrub(text: str, dsns: list[str]) -> str:
    """``text`` with every DSN replaced by its redacted form and every password masked."""
    secrets = [os.environ.get("PGPASSWORD", "")]
    for dsn in dsns:
        text = text.replace(dsn, redact(dsn))
        try:
            secrets.extend(parse_dsn(dsn).get(keyword, "") for keyword in SECRET_KEYWORDS)
        except Exception:
            continue
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def without_secrets(dsn: str) -> str:
    """``dsn`` as libpq key=value pairs without its secrets: what the ledger and a printed command may hold.

    libpq still finds the password where it did when it was not in the DSN (PGPASSWORD, ~/.pgpass).
    """
    return make_dsn(**{key: value for key, value in parse_dsn(dsn).items() if key not in SECRET_KEYWORDS})


def password_apart(dsn: str) -> tuple[str, dict[str, str]]:
    """``dsn`` without its password, and the environment that gives libpq the password.

    For programs started with a DSN argument (psql), which ``ps`` would show.
    """
    parts = parse_dsn(dsn)
    password = parts.pop("password", None)
    return make_dsn(**parts), ({"PGPASSWORD": password} if password else {})
