"""Where the lake lives: a local folder or an S3 bucket, behind one small interface.

Keys are '/'-separated paths below the lake root ("postgres/orders/2024-01-15/orders.parquet").
Both stores give the same guarantees: a data file is written locally and moved or uploaded
whole to its key, a text file (manifest, ledger entry) replaces the old one whole, and a lock
keeps a second writer out.
"""

from __future__ import annotations

import _thread
import datetime as dt
import fcntl
import fnmatch
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path

from .interrupt import received

__all__ = [
    "Lake",
    "LakeError",
    "LocalLake",
    "LockLost",
    "LockedError",
    "S3Lake",
    "check_held",
    "lock_lost",
    "lose",
    "on_lost",
    "open_lake",
    "pid_alive",
    "sha256_file",
]

# An S3 lock is refreshed this often by its holder, and taken over when older than STALE_AFTER.
HEARTBEAT_S = float(os.environ.get("LAKEHOUSE_LOCK_HEARTBEAT_S", 30))
STALE_AFTER_S = 300


class LakeError(RuntimeError):
    """The lake cannot be reached or written; the message names the bucket or folder and why."""


class LockedError(RuntimeError):
    """Another run holds the lock."""


class LockLost(RuntimeError):
    """A lock this process held was taken over or could not be kept; its work must not be published."""


# The locks this process lost, by key, with why: the work they guarded stops (check_held).
_lost: dict[str, str] = {}
# Called with the key of each lock lost (writer_lock ends the warehouse's lock with the lake's).
_on_lost: list = []


def on_lost(callback) -> None:
    """Call ``callback(key)`` whenever this process loses a lock."""
    _on_lost.append(callback)


def lose(key: str, reason: str) -> None:
    """Record that the lock ``key`` is lost, and stop the main thread's work (dbt's build among
    it) at once; what runs elsewhere stops before it publishes (check_held)."""
    _lost[key] = reason
    for callback in _on_lost:
        callback(key)
    _thread.interrupt_main()


def lock_lost() -> bool:
    """Whether this process lost a lock it held."""
    return bool(_lost)


def check_held() -> None:
    """LockLost when a lock this process holds was lost, and the signal's ``Interrupted`` once
    SIGINT or SIGTERM stopped the process (its locks are let go next): called before anything
    is published."""
    if _lost:
        key, reason = next(iter(_lost.items()))
        raise LockLost(f"the lock {key} was lost ({reason}): nothing of this run is published")
    stopped = received()
    if stopped is not None:
        raise stopped


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command's name


def _machine() -> tuple[str, str]:
    """This boot of this machine, and this process's PID namespace: where a pid means a process."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    return boot, namespace


def _holder() -> str:
    """Who holds a lock: readable first, then what tells its process apart from any other."""
    boot, namespace = _machine()
    since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return (
        f"pid {os.getpid()} on {socket.gethostname()} since {since} "
        f"(boot {boot}, pid namespace {namespace}, started {_start_ticks(os.getpid())})"
    )


HOLDER = re.compile(r"pid (\d+) on (\S+) since \S+ \(boot (\S+), pid namespace (\S+), started (\S+)\)")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


class LocalLake:
    """A lake in a local folder: files are renamed into place, locks are ``flock``s."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def url(self, key: str = "") -> str:
        """The full path of ``key``, for messages and for DuckDB."""
        return str(self.root / key) if key else str(self.root)

    def check(self) -> None:
        """Nothing to reach: a local lake's folders are made when first written."""

    def read_text(self, key: str) -> str:
        """The text of ``key``; FileNotFoundError when there is none."""
        return (self.root / key).read_text()

    def write_text(self, key: str, text: str) -> None:
        """Replace ``key`` with ``text`` whole: readers see the old file or the new one."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_name(path)
        tmp.write_text(text)
        os.replace(tmp, path)

    def keys(self, folder: str) -> list[str]:
        """Every file's key below ``folder``, sorted; hidden files (temporary, locks) are left out."""
        base = self.root / folder
        found = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted(str(p.relative_to(self.root)) for p in found)

    def folders(self, folder: str) -> list[str]:
        """The names of the folders directly in ``folder``, sorted."""
        base = self.root / folder
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def digest(self, key: str) -> tuple[int, str] | None:
        """Size and SHA-256 of ``key``, or None when it does not exist."""
        path = self.root / key
        return (path.stat().st_size, sha256_file(path)) if path.is_file() else None

    def delete(self, *keys: str) -> None:
        """Remove ``keys``, those that exist."""
        for key in keys:
            (self.root / key).unlink(missing_ok=True)

    def staging_file(self, key: str) -> Path:
        """A temporary local file for ``key``'s next version: beside it, so the rename is atomic."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return _temp_name(path)

    def publish(self, staged: Path, key: str) -> None:
        """Move a staged file to ``key``, whole."""
        os.replace(staged, self.root / key)

    def clear_leftovers(self, folders: str) -> None:
        """Remove what a killed run left in the folders matching the glob ``folders`` (the caller holds their lock)."""
        for leftover in self.root.glob(f"{folders}/.*.tmp"):
            leftover.unlink()

    @contextmanager
    def lock(self, key: str, what: str) -> Iterator[None]:
        """Hold an exclusive ``flock`` on ``key``; LockedError names its holder if it is taken."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise LockedError(_locked_message(what, handle.read().strip())) from None
            handle.seek(0)
            handle.truncate()
            handle.write(_holder())
            handle.flush()
            yield


def _locked_message(what: str, holder: str) -> str:
    return f"{what} is already being written by {holder or 'another process'}; try again when it ends"


class S3Lake:
    """A lake under ``s3://bucket/prefix`` (AWS S3 or a compatible server at ``AWS_ENDPOINT_URL``).

    boto3 finds the credentials the standard way (AWS_* variables, ``~/.aws`` profiles).
    Data files are staged under ``state/tmp`` and uploaded to their final key, so a failed
    upload leaves no object there; locks are objects created with ``If-None-Match: *``.
    """

    def __init__(self, url: str, state: Path, aws: Mapping[str, str]) -> None:
        import boto3  # only lakes on S3 pay for importing boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        self.bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # What boto3 would read from os.environ, read from ``aws`` (the settings' environment).
        retries = {"max_attempts": int(aws["AWS_MAX_ATTEMPTS"])} if aws.get("AWS_MAX_ATTEMPTS") else None
        config = Config(retries=retries, connect_timeout=10)  # a silent endpoint is named in seconds
        try:
            self.session = boto3.session.Session(
                aws_access_key_id=aws.get("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=aws.get("AWS_SECRET_ACCESS_KEY"),
                aws_session_token=aws.get("AWS_SESSION_TOKEN"),
                region_name=aws.get("AWS_REGION") or aws.get("AWS_DEFAULT_REGION"),
                profile_name=aws.get("AWS_PROFILE"),
            )
            self.client = self.session.client("s3", endpoint_url=aws.get("AWS_ENDPOINT_URL"), config=config)
        except (BotoCoreError, ValueError) as exc:  # an unknown profile, a malformed endpoint
            raise LakeError(f"bucket {self.bucket}: {exc}") from None
        self.endpoint = self.client.meta.endpoint_url
        self.region = self.client.meta.region_name or "us-east-1"
        self.staging = state / "tmp" / self.bucket / self.prefix
        self.transfer = TransferConfig(use_threads=False)  # parts in order: a killed upload is simply unfinished
        self.conditional_writes = False  # the server was seen to refuse a second If-None-Match write

    def url(self, key: str = "") -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self.prefix}{key}".rstrip("/")

    def _error(self, exc: Exception) -> LakeError:
        """One line naming the bucket, the endpoint and what went wrong."""
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        where = f"bucket {self.bucket} at {self.endpoint}"
        if isinstance(exc, NoCredentialsError):
            return LakeError(f"{where}: no AWS credentials (set AWS_ACCESS_KEY_ID and a secret, or AWS_PROFILE)")
        if isinstance(exc, EndpointConnectionError):
            return LakeError(f"{where}: cannot reach the endpoint (set AWS_ENDPOINT_URL for a server other than AWS)")
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code in ("404", "NoSuchBucket"):
                return LakeError(f"{where}: the bucket does not exist")
            if code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
                reason = error.get("Message") if code not in ("403",) else "access denied"
                return LakeError(f"{where}: the credentials are refused ({code}: {reason})")
            return LakeError(f"{where}: {code}: {error.get('Message', '')}")
        return LakeError(f"{where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")

    def check(self) -> None:
        """Reach the bucket before anything is written: LakeError says what is wrong.

        Also learns the bucket's region, which DuckDB needs to sign its requests.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        self.region = answer["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region") or self.region

    def duckdb_env(self) -> dict[str, str]:
        """The AWS variables DuckDB (in dbt) reads, naming what boto3 found: the keys (also from a
        profile), the bucket's region, and the endpoint when it is not AWS's own."""
        keys = self.session.get_credentials()
        frozen = keys.get_frozen_credentials() if keys else None
        env = {"AWS_REGION": self.region}
        if frozen:
            env.update(AWS_ACCESS_KEY_ID=frozen.access_key, AWS_SECRET_ACCESS_KEY=frozen.secret_key)
            if frozen.token:
                env["AWS_SESSION_TOKEN"] = frozen.token
        if not self.endpoint.split("://")[-1].split("/")[0].endswith(".amazonaws.com"):
            env["AWS_ENDPOINT_URL"] = self.endpoint  # from AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or a profile
        return env

    def read_text(self, key: str) -> str:
        """The text of ``key``; FileNotFoundError when there is none."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read().decode()
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(self.url(key)) from None

    def write_text(self, key: str, text: str) -> None:
        """Replace ``key`` with ``text``: a PUT is atomic, readers see the old object or the new one."""
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=text.encode())

    def _listing(self, folder: str, entries: str, **options) -> list[dict]:
        """The ``entries`` ("Contents", "CommonPrefixes") of every page listing ``folder``.

        LakeError when the listing is refused: a policy may allow writes but not ``s3:ListBucket``.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        below = f"{self.prefix}{folder.rstrip('/')}/" if folder else self.prefix
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=below, **options)
        try:
            return [entry for page in pages for entry in page.get(entries, [])]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None

    def keys(self, folder: str) -> list[str]:
        """Every object's key below ``folder``, sorted; hidden ones (locks) are left out."""
        found = (item["Key"].removeprefix(self.prefix) for item in self._listing(folder, "Contents"))
        return sorted(key for key in found if not key.rsplit("/", 1)[-1].startswith("."))

    def folders(self, folder: str) -> list[str]:
        """The names of the "folders" (common prefixes) directly in ``folder``, sorted."""
        found = self._listing(folder, "CommonPrefixes", Delimiter="/")
        return sorted(p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for p in found)

    def digest(self, key: str) -> tuple[int, str] | None:
        """Size and SHA-256 of ``key`` (read through), or None when it does not exist."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        except self.client.exceptions.NoSuchKey:
            return None
        digest, size = hashlib.sha256(), 0
        for block in body.iter_chunks(1 << 20):
            digest.update(block)
            size += len(block)
        return size, digest.hexdigest()

    def delete(self, *keys: str) -> None:
        """Remove ``keys`` (S3 answers the same whether they existed or not).

        One request per key: DeleteObjects needs a checksum header that older MinIO and
        Ceph servers do not take from boto3.
        """
        for key in keys:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def staging_file(self, key: str) -> Path:
        """A local file under the state folder where ``key``'s next version is written and checked."""
        path = self.staging / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return _temp_name(path)

    def publish(self, staged: Path, key: str) -> None:
        """Upload a staged file to ``key`` (the caller removes it); the object appears only once it is whole.

        boto3 sends a checksum of each request's body, which the server checks. A multipart
        upload cut short leaves parts but no object; ``clear_leftovers`` aborts it.
        """
        self.client.upload_file(str(staged), self.bucket, self.prefix + key, Config=self.transfer)

    def clear_leftovers(self, folders: str) -> None:
        """Abort the unfinished uploads in the folders matching the glob ``folders``, and remove
        the local staged files of killed runs (the caller holds their lock)."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix + folders.split("*", 1)[0]
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                if fnmatch.fnmatchcase(upload["Key"].removeprefix(self.prefix).rsplit("/", 1)[0], folders):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        for leftover in self.staging.glob(f"{folders}/.*.tmp"):
            leftover.unlink()

    @contextmanager
    def lock(self, key: str, what: str) -> Iterator[None]:
        """Hold a lock object at ``key``, created only if absent (``If-None-Match: *``).

        The holder rewrites it every HEARTBEAT_S seconds and deletes it at the end, each
        time only if it is still the version it wrote (``If-Match``), so a holder that lost
        its lock never touches the next one's. A lock is stale, and taken over, when its
        holder's process is gone (same host) or when it has not been rewritten for
        STALE_AFTER_S seconds by the server's clock (a holder on a machine that died).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        full = self.prefix + key
        holder = _holder()
        try:
            etag = [self._acquire(full, holder, what)]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        stop = threading.Event()

        def heartbeat() -> None:
            beats, refreshed = 0, time.monotonic()
            while not stop.wait(HEARTBEAT_S):
                beats += 1
                body = f"{holder}, heartbeat {beats}".encode()  # a new ETag each time
                try:
                    etag[0] = self.client.put_object(Bucket=self.bucket, Key=full, Body=body, IfMatch=etag[0])["ETag"]
                    refreshed = time.monotonic()
                    continue
                except (BotoCoreError, ClientError) as exc:
                    failure = str(exc).strip().splitlines()[0]
                # The answer may be lost, not the write (a retry of it then fails): read the lock back.
                try:
                    current = self.client.get_object(Bucket=self.bucket, Key=full)
                    text = current["Body"].read().decode()
                except self.client.exceptions.NoSuchKey:
                    return lose(key, "deleted by another run")
                except (BotoCoreError, ClientError):
                    text = None
                if text is not None and text.startswith(holder):
                    etag[0] = current["ETag"]  # still ours: adopt the version the server has
                    refreshed = time.monotonic()
                elif text is not None:
                    return lose(key, f"taken over by {text.split(', heartbeat')[0]}")
                elif time.monotonic() - refreshed > STALE_AFTER_S / 2:
                    return lose(key, f"not refreshed for {round(time.monotonic() - refreshed)} s: {failure}")

        beating = threading.Thread(target=heartbeat, name=f"lock {key}", daemon=True)
        beating.start()
        try:
            yield
        finally:
            stop.set()
            beating.join()
            try:
                self.client.delete_object(Bucket=self.bucket, Key=full, IfMatch=etag[0])
            except (BotoCoreError, ClientError):
                pass  # taken over, or unreachable: it goes stale and is taken over in turn

    def _acquire(self, full: str, holder: str, what: str) -> str:
        """Create the lock object; its ETag. LockedError when another run holds it."""
        from botocore.exceptions import ClientError

        for _ in range(2):  # once more after taking over a stale lock
            try:
                etag = self.client.put_object(Bucket=self.bucket, Key=full, Body=holder.encode(), IfNoneMatch="*")
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
            else:
                if not self.conditional_writes:  # the same server for every lock: one proof is enough
                    self._refuses_a_second_writer(full)
                return etag["ETag"]
            try:
                current = self.client.get_object(Bucket=self.bucket, Key=full)
            except self.client.exceptions.NoSuchKey:
                continue  # released meanwhile
            text = current["Body"].read().decode()
            now = parsedate_to_datetime(current["ResponseMetadata"]["HTTPHeaders"]["date"])
            if not _stale(text, (now - current["LastModified"]).total_seconds()):
                raise LockedError(_locked_message(what, text.split(", heartbeat")[0]))
            try:  # only the stale lock we read: not one another run took over meanwhile
                self.client.delete_object(Bucket=self.bucket, Key=full, IfMatch=current["ETag"])
            except ClientError as exc:
                # Another run took it over, or deleted it, first: contention, not an unreachable lake.
                if exc.response["Error"]["Code"] not in ("PreconditionFailed", "NoSuchKey", "404"):
                    raise
        raise LockedError(_locked_message(what, "another process"))

    def _refuses_a_second_writer(self, full: str) -> None:
        """A server that ignores ``If-None-Match`` would let two runs hold the lock, and one that
        ignores ``If-Match`` would let a holder refresh a lock it lost: LakeError then."""
        from botocore.exceptions import ClientError

        for header, condition in (("If-None-Match", {"IfNoneMatch": "*"}), ("If-Match", {"IfMatch": '"0"'})):
            try:
                self.client.put_object(Bucket=self.bucket, Key=full, Body=b"", **condition)
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
                    continue
                raise
            self.client.delete_object(Bucket=self.bucket, Key=full)
            raise LakeError(
                f"bucket {self.bucket} at {self.endpoint}: the server ignores {header}, so it cannot hold "
                "a lock: use a server with conditional writes (AWS S3, R2, MinIO 2024 or later)"
            )
        self.conditional_writes = True


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(holder: str, age_s: float) -> bool:
    """A lock whose holder is gone, or, when that cannot be decided here, one not refreshed in time.

    Its process is known gone when the lock names this host, this boot and this PID namespace,
    and the pid is no longer the process that started then (none, or another one since).
    """
    match = HOLDER.search(holder)
    if match and match[2] == socket.gethostname() and (match[3], match[4]) == _machine():
        return _start_ticks(int(match[1])) != match[5]
    return age_s > STALE_AFTER_S


Lake = LocalLake | S3Lake


def open_lake(url: str, state: Path, aws: Mapping[str, str]) -> Lake:
    """The lake at ``url``: ``s3://bucket/prefix``, or a local folder."""
    if url.startswith("s3://"):
        if not url.removeprefix("s3://").split("/")[0]:
            raise LakeError(f"LAKEHOUSE_DATA={url} names no bucket (s3://bucket/prefix)")
        return S3Lake(url, state, aws)
    return LocalLake(Path(url).resolve())
