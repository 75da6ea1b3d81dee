"""Opening an ``s3://`` URI (through the Amazon provider's ``S3Hook``) or a local path as a binary stream."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from typing import Any, BinaryIO


class SourceNotFoundError(FileNotFoundError):
    """The object or file to read does not exist."""


@contextlib.contextmanager
def open_uri(uri: str, aws_conn_id: str | None = "aws_default", *, s3_hook: Any = None) -> Iterator[BinaryIO]:
    """A binary stream of the object or file, read as it is consumed (nothing is loaded whole);
    gzip-decompressed when the name ends in ``.gz``.

    ``s3_hook``: an ``S3Hook`` to reuse (one boto3 client less in memory)."""
    if uri.endswith(".gz"):
        with _open_raw(uri, aws_conn_id, s3_hook) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as plain:
            yield plain  # type: ignore[misc]
        return
    with _open_raw(uri, aws_conn_id, s3_hook) as raw:
        yield raw


@contextlib.contextmanager
def _open_raw(uri: str, aws_conn_id: str | None, s3_hook: Any) -> Iterator[BinaryIO]:
    if uri.startswith("s3://"):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.exceptions import ClientError

        hook = s3_hook or S3Hook(aws_conn_id=aws_conn_id)
        bucket, key = hook.parse_s3_url(uri)
        try:  # the client's GetObject: no HEAD first, no boto3 resource (get_key has both)
            body = hook.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NoSuchBucket", "NotFound"):
                raise SourceNotFoundError(f"{uri} does not exist ({code})") from None
            raise
        try:
            yield body
        finally:
            body.close()
        return
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if "://" in path:
        raise ValueError(f"cannot read {uri!r}: only s3:// URIs and local paths are supported")
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise SourceNotFoundError(f"{path} does not exist") from None
    with handle:
        yield handle


def write_file(local_path: str, uri: str, aws_conn_id: str | None = "aws_default") -> str:
    """Put a local file at ``uri`` (``s3://`` through ``S3Hook``, replacing; or a local path, atomically)."""
    if uri.startswith("s3://"):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook = S3Hook(aws_conn_id=aws_conn_id, transfer_config_args={"max_concurrency": 2})
        bucket, key = hook.parse_s3_url(uri)
        hook.load_file(local_path, key, bucket_name=bucket, replace=True)
        return uri
    import os
    import shutil

    path = uri[len("file://"):] if uri.startswith("file://") else uri
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    shutil.copyfile(local_path, partial)
    os.replace(partial, path)
    return path
