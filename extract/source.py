"""The source database: seeding it with demo data, or loading a real dump into it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .config import password_apart
from .server import POSTGRES_BIN

__all__ = ["SourceError", "load_dump"]


class SourceError(RuntimeError):
    """The source could not be (re)loaded."""


def load_dump(dsn: str, path: Path) -> None:
    """Replace the source's public schema with the SQL dump at ``path`` (psql, stop at the first error)."""
    if not path.is_file():
        raise SourceError(f"{path}: dump file not found")
    dsn, secret = password_apart(dsn)
    psql = [str(POSTGRES_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for args in (["-c", "drop schema if exists public cascade; create schema public"], ["-f", str(path)]):
        result = subprocess.run(psql + args, capture_output=True, text=True, env={**os.environ, **secret})
        if result.returncode != 0:
            raise SourceError(f"loading {path} failed: {result.stderr.strip()}")
