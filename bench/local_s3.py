"""A local S3-compatible server (moto, from pip) on 127.0.0.1, for the object-storage tests and ``make bench LAKE=s3``.

It checks request signatures, like a real server: its first three requests, unsigned,
create a user allowed ``s3:*`` and its access key, and every later one must be signed
with that key.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

__all__ = ["local_s3"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def local_s3(log: Path, bucket: str, region: str = "eu-west-1") -> Iterator[dict]:
    """Run moto_server with ``bucket`` created; yields ``env`` (the AWS variables of its user) and ``client``."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"moto_server did not start: see {log}") from None
                    time.sleep(0.1)
            iam = boto3.Session("setup", "setup", region_name="us-east-1").client("iam", endpoint_url=endpoint)
            iam.create_user(UserName="lake")
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
            iam.put_user_policy(UserName="lake", PolicyName="s3", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName="lake")["AccessKey"]
            env = {
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                "AWS_REGION": region,
                "AWS_ENDPOINT_URL": endpoint,
            }
            session = boto3.Session(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], region_name=region)
            client = session.client("s3", endpoint_url=endpoint)
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
            yield {"env": env, "client": client, "pid": process.pid}
        finally:
            process.terminate()
            process.wait(timeout=30)
