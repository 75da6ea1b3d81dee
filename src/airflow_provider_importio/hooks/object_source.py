"""Opening an ``s3://`` URI (through the Amazon provider's ``S3Hook``) or a local path as a binary stream."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO


class SourceNotFoundError(FileNotFoundError):
    """The object or file to read does not exist."""


class SourceRangeError(ValueError):
    """A byte range reaches past the end of the object or file (it was replaced since it was described)."""


@contextlib.contextmanager
def open_uri(uri: str, aws_conn_id: str | None = "aws_default", *, s3_hook: Any = None,
             byte_range: Sequence[int] | None = None) -> Iterator[BinaryIO]:
    """A binary stream of the object or file, read as it is consumed (nothing is loaded whole);
    gzip-decompressed when the name ends in ``.gz``.

    ``s3_hook``: an ``S3Hook`` to reuse (one boto3 client less in memory). ``byte_range``: only bytes
    ``[start, end)`` (a ranged ``GetObject``), e.g. one gzip member of a staged pickup."""
    span = _checked_range(uri, byte_range)
    if uri.endswith(".gz"):
        with _open_raw(uri, aws_conn_id, s3_hook, span) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as plain:
            yield plain  # type: ignore[misc]
        return
    with _open_raw(uri, aws_conn_id, s3_hook, span) as raw:
        yield raw


def range_label(uri: str, byte_range: Sequence[int] | None) -> str:
    """``uri`` as messages name it: with ``bytes [start, end)`` when only a range of it is read."""
    return f"{uri} bytes [{byte_range[0]}, {byte_range[1]})" if byte_range else uri


def _checked_range(uri: str, byte_range: Sequence[int] | None) -> tuple[int, int] | None:
    if byte_range is None:
        return None
    try:
        start, end = (int(b) for b in byte_range)
    except (TypeError, ValueError):
        raise ValueError(f"byte range of {uri} must be [start, end), not {byte_range!r}") from None
    if not 0 <= start < end:
        raise ValueError(f"byte range of {uri} must be [start, end) with 0 ≤ start < end, not {byte_range!r}")
    return start, end


@contextlib.contextmanager
def _open_raw(uri: str, aws_conn_id: str | None, s3_hook: Any,
              span: tuple[int, int] | None) -> Iterator[BinaryIO]:
    where = range_label(uri, span)
    if uri.startswith("s3://"):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.exceptions import ClientError

        hook = s3_hook or S3Hook(aws_conn_id=aws_conn_id)
        bucket, key = hook.parse_s3_url(uri)
        extra = {"Range": f"bytes={span[0]}-{span[1] - 1}"} if span else {}
        try:  # the client's GetObject: no HEAD first, no boto3 resource (get_key has both)
            answer = hook.get_conn().get_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NoSuchBucket", "NotFound"):
                raise SourceNotFoundError(f"{uri} does not exist ({code})") from None
            if code == "InvalidRange":
                raise SourceRangeError(f"{where} is past the end of the object: was it replaced?") from None
            raise
        body = answer["Body"]
        try:
            if span and answer.get("ContentLength") != span[1] - span[0]:
                raise SourceRangeError(f"{where}: the object holds only {answer.get('ContentLength')} of them "
                                       "from there: was it replaced?")
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
        if not span:
            yield handle
            return
        handle.seek(span[0])
        if os.fstat(handle.fileno()).st_size < span[1]:
            raise SourceRangeError(f"{where} is past the end of the file: was it replaced?")
        yield _Bounded(handle, span[1] - span[0])  # type: ignore[misc]


class _Bounded(io.RawIOBase):
    """The next ``size`` bytes of ``handle``, then end of file."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle, self._left = handle, size

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        view = memoryview(target)[:self._left]
        read = self._handle.readinto(view) if view.nbytes else 0  # type: ignore[attr-defined]
        self._left -= read or 0
        return read or 0


def write_file(local_path: str, uri: str, aws_conn_id: str | None = "aws_default", *, s3_hook: Any = None) -> str:
    """Put a local file at ``uri`` (``s3://`` through ``S3Hook``, replacing; or a local path, atomically).

    ``s3_hook``: an ``S3Hook`` to reuse (one boto3 client less)."""
    if uri.startswith("s3://"):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook = s3_hook or S3Hook(aws_conn_id=aws_conn_id, transfer_config_args={"max_concurrency": 2})
        bucket, key = hook.parse_s3_url(uri)
        hook.load_file(local_path, key, bucket_name=bucket, replace=True)
        return uri
    import shutil

    path = uri[len("file://"):] if uri.startswith("file://") else uri
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    shutil.copyfile(local_path, partial)
    os.replace(partial, path)
    return path
