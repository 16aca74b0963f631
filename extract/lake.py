"""The lake's layout and its partitions: atomic writes, manifests, and their verification."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from .sql import literal, quote
from .storage import Lake, check_held, sha256_file
from .timing import Phases

__all__ = [
    "FORMATS",
    "EarlierRuns",
    "Manifest",
    "PartitionError",
    "catalog_key",
    "manifest_path",
    "partition_file",
    "read_manifest",
    "verify",
    "write_partition",
]

# Row groups of 30,720 rows keep step 1's memory flat as tables grow (files are ~1% larger).
FORMATS = {"parquet": "(format parquet, compression zstd, row_group_size 30720)", "csv": "(format csv, header true)"}
MANIFEST = "_manifest.json"


class PartitionError(RuntimeError):
    """A partition is missing, incomplete, or does not match its manifest."""


@dataclass(frozen=True)
class Manifest:
    """What a partition holds; step 2 trusts a partition only when this matches the file.

    Attributes:
        source: lake source folder ("postgres" or "csv").
        table: table (or CSV) name.
        date: the run date, YYYY-MM-DD.
        file: data file name inside the partition folder.
        format: "parquet" or "csv".
        rows: row count.
        bytes: file size.
        sha256: checksum of the file.
        columns: name, lake type (DuckDB), source and warehouse types (PostgreSQL) of each column.
        checksums: sum of each exact numeric column (integers, decimals), as text, for reconciliation.
        primary_key: the columns of the table's primary key, in the key's order; empty when it has none.
        source_relation: a source table's schema and name in its database (``table`` is its lake name).
        timezone: the source's TimeZone setting, under which history reads a ``timestamp`` retyped
            to ``timestamptz``; empty for the CSV.
        origin: where the data came from (host:port/db, or a CSV path); never a password.
        extracted_at: UTC time the partition was written.
    """

    source: str
    table: str
    date: str
    file: str
    format: str
    rows: int
    bytes: int
    sha256: str
    origin: str
    columns: list[dict] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)
    extracted_at: str = ""
    source_relation: list[str] = field(default_factory=list)
    timezone: str = ""


def _safe_name(name: str) -> str:
    """Refuse names that would leave their folder (path traversal) or hide as dotfiles."""
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise PartitionError(f"table name {name!r} cannot be used as a lake folder name")
    return name


def partition_dir(source: str, table: str, date: str) -> str:
    """The key of a partition's folder: ``<source>/<table>/<date>``."""
    return f"{_safe_name(source)}/{_safe_name(table)}/{date}"


def partition_file(source: str, table: str, date: str, fmt: str = "parquet") -> str:
    """The key of a partition's data file: ``<source>/<table>/<date>/<table>.<fmt>``."""
    return f"{partition_dir(source, table, date)}/{table}.{fmt}"


def catalog_key(date: str) -> str:
    """The key of the source's catalog as step 1 read it on ``date``: every table it held, and what
    became of each (``extract_tables``), so history can tell a table dropped from one left out."""
    return f"_catalog/{date}.json"


def manifest_path(source: str, table: str, date: str) -> str:
    """The key of the manifest beside a partition's data file."""
    return f"{partition_dir(source, table, date)}/{MANIFEST}"


@dataclass(frozen=True)
class EarlierRuns:
    """What earlier runs of a step left in its partitions of one day, so a run skips the deletes
    and the clearing that have nothing to do (on S3 each is a request).

    Attributes:
        formats: tables whose partition is known, with its format.
        only: no other table has a partition that day.
        leftovers: a failed or killed run may have left temporary files or unfinished uploads.

    The default knows nothing: any table may have a manifest, a file in each format, and leftovers.
    """

    formats: Mapping[str, str] = field(default_factory=dict)
    only: bool = False
    leftovers: bool = True

    @classmethod
    def of(cls, entry: dict | None) -> EarlierRuns:
        """What the step's ledger entry for the day tells (None: the step never ran that day, so nothing is there).

        A run writes its entry before any partition; one that succeeded left its partitions
        whole and no leftovers, its own or those it cleared.
        """
        if entry is None:
            return cls(only=True, leftovers=False)
        if entry["status"] == "success":
            partitions = entry.get("details", {}).get("partitions", [])
            return cls({p["table"]: p["format"] for p in partitions}, leftovers=False)
        return cls()

    def stale(self, source: str, table: str, date: str, fmt: str) -> list[str]:
        """The keys to delete before ``table``'s partition is written in ``fmt``: its old manifest first,
        and the file an earlier run wrote in another format."""
        if table in self.formats:
            old = self.formats[table]
            replaced = [partition_file(source, table, date, old)] if old != fmt else []
            return [manifest_path(source, table, date), *replaced]
        if self.only:
            return []
        others = (partition_file(source, table, date, other) for other in FORMATS if other != fmt)
        return [manifest_path(source, table, date), *others]


def write_partition(
    con: duckdb.DuckDBPyConnection,
    query: str,
    *,
    lake: Lake,
    source: str,
    table: str,
    date: str,
    origin: str,
    columns_meta: dict[str, dict],
    primary_key: Sequence[str] = (),
    source_relation: Sequence[str] = (),
    timezone: str = "",
    fmt: str = "parquet",
    reconcile: Callable[[int, dict[str, str]], None] | None = None,
    phases: Phases | None = None,
    earlier: EarlierRuns | None = None,
) -> Manifest:
    """Write ``query``'s result as one partition, whole or not at all.

    The file is written to a local temporary file and checked (row count, sums), then
    moved (local lake) or uploaded (S3) to its key whole; the old manifest is removed
    first and the new one written last, so a partition interrupted at any point has no
    manifest that matches it. DuckDB never writes a final key itself.

    Args:
        con: DuckDB connection that can run ``query``.
        query: SELECT producing the partition's rows, in a deterministic order.
        lake: the lake's store.
        source: lake source folder ("postgres", "csv").
        table: table name (also the file name).
        date: run date, YYYY-MM-DD.
        origin: where the rows come from, for the manifest (no secrets).
        columns_meta: per column, what the warehouse needs to recreate it: ``source_type``
            (PostgreSQL), ``warehouse_type`` (what it lands as before being altered to the
            source type), ``checksum`` (sum it for reconciliation), and an enum's (or its
            array's) ``type_name``, ``enum_labels`` and ``enum_array``, a domain's ``domain`` and
            ``domain_clauses``, a composite's (or its array's) ``type_name``, ``composite_fields``
            and ``composite_array``.
        primary_key: the columns that identify a row (the source's primary key), for history.
        source_relation: a source table's schema and name, when ``table`` is its lake name.
        timezone: the source's TimeZone setting, for the manifest.
        fmt: "parquet" (default) or "csv".
        reconcile: called with the file's row count and column sums before it is published;
            it raises when they disagree with the source.
        phases: where to add the seconds spent reading and encoding, checksumming,
            reconciling and publishing.
        earlier: what earlier runs left of the partition (default: anything), which says what to delete.

    Returns:
        The manifest written beside the file.
    """
    phases = Phases() if phases is None else phases
    key = partition_file(source, table, date, fmt)
    tmp = lake.staging_file(key)
    relation = con.sql(query)
    columns = [
        {"name": name, "type": str(kind), **columns_meta[name]}
        for name, kind in zip(relation.columns, relation.types, strict=True)
    ]
    try:
        with phases("read and encode"):
            rows = con.execute(f"copy ({query}) to {literal(str(tmp))} {FORMATS[fmt]}").fetchone()[0]
        with phases("checksums"):
            checksums = _column_sums(
                con, read_back(tmp, fmt, columns), [c["name"] for c in columns if c.get("checksum")]
            )
            digest = sha256_file(tmp)
        if reconcile:
            with phases("reconcile"):
                reconcile(int(rows), checksums)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = Manifest(
        source=source,
        table=table,
        date=date,
        file=key.rsplit("/", 1)[1],
        format=fmt,
        rows=int(rows),
        bytes=tmp.stat().st_size,
        sha256=digest,
        origin=origin,
        columns=columns,
        checksums=checksums,
        primary_key=list(primary_key),
        source_relation=list(source_relation),
        timezone=timezone,
        extracted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    manifest_key = manifest_path(source, table, date)
    with phases("publish"):
        check_held()  # nothing is published under a lock this run lost
        try:
            # The old manifest first, and the other format's file of an earlier run of this day.
            lake.delete(*(earlier or EarlierRuns()).stale(source, table, date, fmt))
            lake.publish(tmp, key)
        finally:
            tmp.unlink(missing_ok=True)
        check_held()
        lake.write_text(manifest_key, json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def clear_leftovers(lake: Lake, source: str, date: str) -> None:
    """Remove what killed runs left in the partitions of ``source`` for ``date`` (temporary files, unfinished uploads).

    Called by the step that writes them, under its lock, so nothing it removes is still being written.
    """
    lake.clear_leftovers(partition_dir(source, "*", date))


def read_back(path: Path, fmt: str, columns: list[dict]) -> str:
    """A DuckDB table expression over a partition file, typed as its manifest says."""
    if fmt == "parquet":
        return f"read_parquet({literal(str(path))})"
    types = ", ".join(f"{literal(c['name'])}: {literal(c['type'])}" for c in columns)
    return f"read_csv({literal(str(path))}, header = true, auto_detect = false, columns = {{{types}}})"


def _column_sums(con: duckdb.DuckDBPyConnection, relation: str, names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    sums = ", ".join(f"cast(sum({quote(name)}) as varchar)" for name in names)
    return dict(zip(names, con.execute(f"select {sums} from {relation}").fetchone(), strict=True))


def schema_drift(earlier: dict | None, manifest: Manifest) -> list[str]:
    """Columns added, dropped or retyped since ``earlier``, the same table's manifest of an earlier day (or None)."""
    if earlier is None:
        return []
    before = {c["name"]: _column_type(c) for c in earlier["columns"]}
    now = {c["name"]: _column_type(c) for c in manifest.columns}
    where = f"{manifest.source}/{manifest.table} since {earlier['date']}"
    changes = [f"{where}: column {name} added ({kind})" for name, kind in now.items() if name not in before]
    changes += [f"{where}: column {name} dropped (was {kind})" for name, kind in before.items() if name not in now]
    changes += [
        f"{where}: column {name} retyped {before[name]} -> {kind}"
        for name, kind in now.items()
        if name in before and before[name] != kind
    ]
    return changes


def _column_type(column: dict) -> str:
    """A manifest column's type as drift compares it: a composite's with its fields."""
    fields = column.get("composite_fields")
    return column["source_type"] + (f" ({', '.join(fields)})" if fields else "")


def read_manifest(lake: Lake, source: str, table: str, date: str) -> Manifest:
    """Read a partition's manifest; PartitionError names the partition if it is missing or unreadable."""
    where = lake.url(manifest_path(source, table, date))
    try:
        return Manifest(**json.loads(lake.read_text(manifest_path(source, table, date))))
    except FileNotFoundError:
        raise PartitionError(f"{source}/{table} for {date}: no manifest at {where} (partition incomplete)") from None
    except (ValueError, TypeError) as exc:
        raise PartitionError(f"{source}/{table} for {date}: unreadable manifest {where}: {exc}") from None


def verify(lake: Lake, source: str, table: str, date: str) -> Manifest:
    """Check that a partition's file exists and matches its manifest (size and checksum).

    Returns:
        The manifest, when the partition is complete.

    Raises:
        PartitionError: naming the partition and what does not match.
    """
    manifest = read_manifest(lake, source, table, date)
    key = f"{partition_dir(source, table, date)}/{manifest.file}"
    where = f"{source}/{table} for {date}"
    found = lake.digest(key)
    if found is None:
        raise PartitionError(f"{where}: data file {lake.url(key)} is missing")
    if found != (manifest.bytes, manifest.sha256):
        raise PartitionError(f"{where}: {lake.url(key)} does not match its manifest (size or checksum differ)")
    return manifest
