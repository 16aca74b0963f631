"""Which source tables step 1 takes, and the name each gets in the lake, the ledger and the warehouse."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SCHEMA",
    "EVERY_TABLE",
    "NAME_LIMIT",
    "Selection",
    "exclude_pattern",
    "lake_name",
    "name_problems",
    "split_patterns",
]

# Its tables keep their own names; every other schema's are qualified.
DEFAULT_SCHEMA = "public"
# PostgreSQL's longest identifier, in bytes: a longer table or type name would be cut short.
NAME_LIMIT = 63
# Characters DuckDB and Spark read as a glob in a partition's path.
GLOB_CHARACTERS = frozenset("*?[]{}")


def split_patterns(text: str | None) -> tuple[str, ...]:
    """The comma-separated names or shell patterns of a setting, blanks dropped."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@dataclass(frozen=True)
class Selection:
    """The source tables step 1 takes: every table of every schema the source role can read, narrowed.

    Attributes:
        schemas: schema names or shell patterns (``SOURCE_SCHEMAS``); empty: every schema.
        include: patterns a table must match (``SOURCE_INCLUDE``); empty: every table.
        exclude: patterns of the tables left out (``SOURCE_EXCLUDE``).

    A pattern matches a table by its qualified name ``schema.table`` or by its lake name
    (``lake_name``), so ``orders`` and ``public.orders`` both name the public table.
    """

    schemas: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def takes(self, schema: str, table: str) -> bool:
        """Whether step 1 extracts ``schema.table``."""
        names = (f"{schema}.{table}", lake_name(schema, table))

        def matches(patterns: Iterable[str]) -> bool:
            return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)

        in_schemas = not self.schemas or any(fnmatch.fnmatchcase(schema, pattern) for pattern in self.schemas)
        return in_schemas and (not self.include or matches(self.include)) and not matches(self.exclude)


EVERY_TABLE = Selection()


def lake_name(schema: str, name: str) -> str:
    """The name of a source table (or type) in the lake, the ledger and the warehouse.

    A table of ``public`` keeps its name. Another schema's is ``schema.name``, its schema
    in double quotes when it holds a dot or a double quote (``"a.b".c``): the first dot
    outside quotes ends the schema, so no two tables of other schemas share a name.
    ``name_problems`` refuses the one collision left: a public table named like another
    schema's table.
    """
    if schema == DEFAULT_SCHEMA:
        return name
    if "." in schema or '"' in schema:
        schema = '"' + schema.replace('"', '""') + '"'
    return f"{schema}.{name}"


def exclude_pattern(name: str) -> str:
    """The shell pattern that matches ``name`` alone, for ``SOURCE_EXCLUDE``."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)


def name_problems(tables: Iterable[tuple[str, str]], taken: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The tables whose lake name cannot be used, as ``(schema.table to leave out, why)``.

    ``tables`` are ``(schema, table)`` pairs; ``taken`` the names other sources use (the CSV's).
    A name is refused when two tables share it (the public one is the one to leave out:
    its name looks like another schema's table), when PostgreSQL would cut it short, or
    when it cannot be a lake folder or a literal path.
    """
    named: dict[str, list[tuple[str, str]]] = {}
    for schema, table in tables:
        named.setdefault(lake_name(schema, table), []).append((schema, table))
    problems = []
    for name, sharing in named.items():
        qualified = [f"{schema}.{table}" for schema, table in sharing]
        if len(sharing) > 1 or name in taken:
            owners = " and ".join(qualified + (["the CSV"] if name in taken else []))
            public = [f"{s}.{t}" for s, t in sharing if s == DEFAULT_SCHEMA] or qualified
            problems += [(table, f"{owners} would all be named {name} in the lake") for table in public]
        elif len(name.encode()) > NAME_LIMIT:
            problems.append((qualified[0], f"{qualified[0]} would be named {name}, over {NAME_LIMIT} bytes"))
        elif name.startswith(".") or "/" in name or "\\" in name or GLOB_CHARACTERS & set(name):
            problems.append((qualified[0], f"{name} cannot name a lake folder (a slash, a leading dot or a glob)"))
    return problems
