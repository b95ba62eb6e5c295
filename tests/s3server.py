"""A real S3 protocol server for the tests: moto in server mode on loopback.

``moto_server()`` starts ``moto.server.ThreadedMotoServer`` on a free
loopback port and yields its endpoint URL. Authentication is switched ON
before the URL is handed out, so a wrong key is refused like AWS would:

1. while moto still accepts anything, an IAM user ``vexport-tests`` is created
   with a policy allowing ``s3:*`` and a real access key;
2. ``POST /moto-api/reset-auth`` with ``0`` makes every later request go
   through moto's signature and IAM checks.

How tests get keys:

- ``valid_credentials(endpoint_url)``: the IAM user's key pair (works);
- ``wrong_secret(endpoint_url)``: the right access key with a wrong secret
  (refused with ``SignatureDoesNotMatch``);
- ``UNKNOWN_KEY``: an access key moto never issued (``InvalidAccessKeyId``).

In pytest use the fixtures of ``tests/conftest.py``: ``s3_endpoint_url``
(one server per xdist worker), ``s3_credentials``, ``s3_endpoint``,
``s3_client`` and ``s3_bucket`` (a fresh bucket per test).

moto keeps its state in module globals, so one process must run at most one
server; the session-scoped fixture makes sure of that.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import httpx
from moto.server import ThreadedMotoServer

from vexport.s3.client import S3Credentials

__all__ = [
    "UNKNOWN_KEY",
    "moto_server",
    "unique_bucket_name",
    "valid_credentials",
    "wrong_secret",
]

REGION = "us-east-1"
UNKNOWN_KEY = S3Credentials(access_key="AKIAUNKNOWNKEY000000", secret_key="not-a-real-secret-0")

_credentials: dict[str, S3Credentials] = {}

_S3_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}],
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """A running moto server with authentication on; yields ``http://127.0.0.1:PORT``."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        _credentials[url] = _create_user(url)
        response = httpx.post(f"{url}/moto-api/reset-auth", content=b"0")
        response.raise_for_status()
        yield url
    finally:
        _credentials.pop(url, None)
        # Back to moto's default (no auth) so nothing else in the process is affected.
        httpx.post(f"{url}/moto-api/reset-auth", content=b"inf")
        server.stop()


def _create_user(url: str) -> S3Credentials:
    iam = boto3.session.Session().client(
        "iam",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="vexport-tests")
    iam.put_user_policy(
        UserName="vexport-tests", PolicyName="s3-all", PolicyDocument=json.dumps(_S3_POLICY)
    )
    key = iam.create_access_key(UserName="vexport-tests")["AccessKey"]
    return S3Credentials(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])


def valid_credentials(endpoint_url: str) -> S3Credentials:
    """The key pair of the tests' IAM user on the server at ``endpoint_url``."""
    return _credentials[endpoint_url]


def wrong_secret(endpoint_url: str) -> S3Credentials:
    """The right access key with a wrong secret: refused as ``SignatureDoesNotMatch``."""
    good = _credentials[endpoint_url]
    return S3Credentials(access_key=good.access_key, secret_key="wrong" + good.secret_key[5:])


def unique_bucket_name(prefix: str = "t") -> str:
    """A bucket name no other test uses (valid for S3's naming rules)."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}"
