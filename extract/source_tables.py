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
# Characters a partition's path cannot hold: DuckDB and Spark read *?[]{} as a glob, Spark's
# gate lists paths in a glob separated by commas, and its SQL quotes a path in backticks.
PATH_CHARACTERS = frozenset("*?[]{},`")


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

    def settings(self) -> dict[str, str]:
        """The environment variables that give this selection, those not left empty."""
        parts = {"SOURCE_SCHEMAS": self.schemas, "SOURCE_INCLUDE": self.include, "SOURCE_EXCLUDE": self.exclude}
        return {name: ",".join(patterns) for name, patterns in parts.items() if patterns}

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
    """The tables whose lake name cannot be used, as ``(pattern that leaves the table out, why)``.

    ``tables`` are ``(schema, table)`` pairs; ``taken`` the names other sources use (the CSV's).
    A name is refused when another table's differs from it in case at most (DuckDB reads the
    warehouse's names without case, and some file systems too; the public table is the one to
    leave out, by its qualified name: its own looks like another schema's table), when
    PostgreSQL would cut it short, or when it cannot be a lake folder or a literal path.
    """
    named: dict[str, list[tuple[str, str]]] = {}
    for schema, table in tables:
        named.setdefault(lake_name(schema, table).casefold(), []).append((schema, table))
    taken = {name.casefold() for name in taken}
    problems = []
    for folded, sharing in named.items():
        names = [lake_name(schema, table) for schema, table in sharing]
        if len(sharing) > 1 or folded in taken:
            owners = " and ".join([f"{s}.{t}" for s, t in sharing] + (["the CSV"] if folded in taken else []))
            public = [f"{s}.{t}" for s, t in sharing if s == DEFAULT_SCHEMA] or names
            problems += [(out, f"{owners} would share the name {names[0]} in the lake (case aside)") for out in public]
        elif len(names[0].encode()) > NAME_LIMIT:
            problems.append((names[0], f"{names[0]} is longer than PostgreSQL's {NAME_LIMIT} bytes"))
        elif names[0].startswith(".") or "/" in names[0] or "\\" in names[0] or PATH_CHARACTERS & set(names[0]):
            holds = "".join(sorted(PATH_CHARACTERS))
            problems.append(
                (names[0], f"{names[0]} cannot name a lake folder (a slash, a leading dot, or one of {holds})")
            )
    return problems
