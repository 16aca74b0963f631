"""Quoting for SQL built in Python: every name and literal goes through here."""

from __future__ import annotations

__all__ = ["literal", "quote"]


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB or PostgreSQL (any name, no injection)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a string literal for DuckDB or PostgreSQL."""
    return "'" + text.replace("'", "''") + "'"
