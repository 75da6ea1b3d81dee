"""Which S3 refusals an S3 destination turns into a message naming its bucket and AWS connection."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from airflow_provider_importio.transfers.s3_destination import _refusal_hint
from airflow_provider_importio.workbench.config_model import Destination

DESTINATION = Destination(slug="out", name="Out", type="S3", format="CSV", connection="aws_shop", bucket="shop-out")


def upload_failure(code: str) -> S3UploadFailedError:
    """What boto3's managed upload raises: its own error, from the ``ClientError`` of the PUT."""
    client_error = ClientError({"Error": {"Code": code, "Message": "..."}}, "PutObject")
    try:
        try:
            raise client_error
        except ClientError as exc:
            raise S3UploadFailedError(f"Failed to upload /tmp/x.csv to shop-out/x.csv: {exc}") from exc
    except S3UploadFailedError as failed:
        return failed


@pytest.mark.parametrize(("code", "hint"), [
    ("NoSuchBucket", "bucket 'shop-out' does not exist (AWS connection 'aws_shop': check the destination's bucket, "
                     "and the connection's account and region)"),
    ("AccessDenied", "AWS connection 'aws_shop' may not write to bucket 'shop-out' (AccessDenied: check its policy)"),
    ("InvalidAccessKeyId", "AWS connection 'aws_shop' was refused: its access key id is unknown (InvalidAccessKeyId)"),
    ("SignatureDoesNotMatch", "AWS connection 'aws_shop' was refused: its secret access key is wrong "
                              "(SignatureDoesNotMatch)"),
])
def test_a_refusal_names_the_bucket_or_the_connection(code, hint):
    assert _refusal_hint(upload_failure(code), DESTINATION) == hint
    assert _refusal_hint(ClientError({"Error": {"Code": code}}, "PutObject"), DESTINATION) == hint


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "RequestTimeout"])
def test_errors_a_retry_may_mend_are_left_as_they_are(code):
    assert _refusal_hint(upload_failure(code), DESTINATION) is None
    assert _refusal_hint(ConnectionResetError("reset by peer"), DESTINATION) is None
