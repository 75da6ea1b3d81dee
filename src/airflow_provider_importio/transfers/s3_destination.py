"""Writing finished snapshot files to an S3 destination through the Amazon provider's ``S3Hook``."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_importio.transfers.destinations import static_prefix
from airflow_provider_importio.workbench.config_model import Destination

log = logging.getLogger(__name__)

#: S3 error codes that no retry mends, and what to check for each ({bucket}, {conn}: the destination's).
_REFUSALS = {
    "NoSuchBucket": "bucket {bucket!r} does not exist (AWS connection {conn!r}: check the destination's bucket, "
                    "and the connection's account and region)",
    "AccessDenied": "AWS connection {conn!r} may not write to bucket {bucket!r} (AccessDenied: check its policy)",
    "InvalidAccessKeyId": "AWS connection {conn!r} was refused: its access key id is unknown (InvalidAccessKeyId)",
    "SignatureDoesNotMatch": "AWS connection {conn!r} was refused: its secret access key is wrong "
                             "(SignatureDoesNotMatch)",
}


class S3DestinationError(RuntimeError):
    """S3 refused an upload for a reason the destination's settings or connection must mend."""


def _refusal_hint(exc: BaseException, destination: Destination) -> str | None:
    """What to check, for an upload S3 refused with one of :data:`_REFUSALS` (boto3 wraps the
    ``ClientError`` of a managed upload in ``S3UploadFailedError``, so the cause chain is searched)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)  # a ClientError's text: "An error occurred (NoSuchBucket) when calling ..."
        for code, hint in _REFUSALS.items():
            if f"({code})" in text:
                return hint.format(bucket=destination.bucket, conn=destination.connection)
        seen = seen.__cause__ or seen.__context__
    return None


#: Parallel part uploads of one file: each holds a part (8 MiB) in memory, so this bounds the upload's memory.
MAX_CONCURRENCY = 4


class S3DestinationWriter:
    """Uploads to ``s3://<bucket>/<key>``, the key rendered per snapshot (a re-run overwrites the
    same object: one object per snapshot, never a second copy).

    :param destination: an ``S3`` destination; its ``connection`` is an Amazon (``aws``) connection.
    """

    def __init__(self, destination: Destination) -> None:
        if destination.type != "S3" or not destination.bucket:
            raise ValueError(f"destination {destination.slug!r} is not an S3 destination with a bucket")
        self.destination = destination
        self._hooks: dict[str, Any] = {}

    def location(self, path: str) -> str:
        """The URI of the object at ``path`` (the key)."""
        return f"s3://{self.destination.bucket}/{path}"

    def asset_uri(self) -> str:
        """The destination as an asset: ``s3://<bucket>/<the path template's fixed prefix>``."""
        return f"s3://{self.destination.bucket}/{static_prefix(self.destination.path_template)}"

    def _hook(self, content_type: str) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        if content_type not in self._hooks:
            self._hooks[content_type] = S3Hook(
                aws_conn_id=self.destination.connection, extra_args={"ContentType": content_type},
                transfer_config_args={"max_concurrency": MAX_CONCURRENCY},
            )
        return self._hooks[content_type]

    def upload(self, local_path: str, path: str, *, content_type: str = "application/octet-stream") -> str:
        """Put the local file at ``path`` in the bucket (replacing it); the object's URI.

        S3 makes an object visible only once its upload completes, so a reader never sees part of it.
        """
        uri = self.location(path)
        try:
            self._hook(content_type).load_file(local_path, path, bucket_name=self.destination.bucket, replace=True)
        except Exception as exc:
            hint = _refusal_hint(exc, self.destination)
            if hint is None:
                raise
            raise S3DestinationError(f"cannot write {uri}: {hint}") from exc
        log.info("Wrote %s", uri)
        return uri

    def close(self) -> None:
        self._hooks.clear()
