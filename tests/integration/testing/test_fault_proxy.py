"""The faulting reverse proxy in front of moto: it forwards faithfully, and a faulted request never reaches moto."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_provider_importio.testing.aws import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer
from airflow_provider_importio.testing.fault_proxy import FaultProxy

BUCKET = "proxied"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    moto.reset()
    moto.client().create_bucket(Bucket=BUCKET)
    with FaultProxy(moto.url) as server:
        yield server


def s3_through(proxy: FaultProxy, **retries: Any) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=proxy.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=Config(retries=retries or {"mode": "standard", "max_attempts": 1}))


def test_objects_go_through_unchanged(proxy: FaultProxy, moto: MotoServer) -> None:
    s3 = s3_through(proxy)
    body = bytes(range(256)) * 4000  # 1 MB, every byte value
    s3.put_object(Bucket=BUCKET, Key="a/b.bin", Body=body, ContentType="application/x-test")
    assert moto.client().get_object(Bucket=BUCKET, Key="a/b.bin")["Body"].read() == body
    got = s3.get_object(Bucket=BUCKET, Key="a/b.bin")
    assert got["Body"].read() == body and got["ContentType"] == "application/x-test"
    assert s3.head_object(Bucket=BUCKET, Key="a/b.bin")["ContentLength"] == len(body)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["a/b.bin"]
    with pytest.raises(ClientError, match="NoSuchKey"):  # moto's own errors pass through
        s3.get_object(Bucket=BUCKET, Key="missing")
    assert proxy.counts() == {"requests": 5, "faulted": {}, "retries": 0}


@pytest.mark.parametrize("status, code", [(429, "SlowDown"), (500, "InternalError"), (503, "ServiceUnavailable")])
def test_a_status_fault_answers_an_s3_error_and_never_reaches_moto(proxy: FaultProxy, moto: MotoServer,
                                                                    status: int, code: str) -> None:
    proxy.faults.script(str(status), method="PUT")
    answer = requests.put(f"{proxy.url}/{BUCKET}/k", data=b"x", timeout=10)
    assert answer.status_code == status and f"<Code>{code}</Code>" in answer.text
    assert answer.headers.get("Retry-After") == ("1" if status == 429 else None)
    assert moto.client().list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert proxy.counts()["faulted"] == {str(status): 1}


def test_a_dropped_connection_gets_no_answer_and_changes_nothing(proxy: FaultProxy, moto: MotoServer) -> None:
    proxy.faults.script("drop")
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{proxy.url}/{BUCKET}/k", data=b"x", timeout=10)
    assert moto.client().list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert proxy.counts()["faulted"] == {"drop": 1}


def test_a_delay_fault_answers_late_but_right(proxy: FaultProxy) -> None:
    proxy.faults.delay_seconds = 0.3
    proxy.faults.script("delay")
    started = time.monotonic()
    answer = requests.get(f"{proxy.url}/{BUCKET}", timeout=10)
    assert answer.status_code == 200 and time.monotonic() - started >= 0.3


def test_botocore_retries_through_faults_and_the_proxy_counts_them(proxy: FaultProxy, moto: MotoServer) -> None:
    proxy.faults.script("503", "drop", "429", path=f"^/{BUCKET}/k$")
    s3_through(proxy, mode="standard", max_attempts=5).put_object(Bucket=BUCKET, Key="k", Body=b"once")
    assert moto.client().get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"once"
    assert proxy.counts() == {"requests": 4, "faulted": {"503": 1, "drop": 1, "429": 1}, "retries": 3}


def test_random_faults_are_seeded_and_spare_the_admin_api(proxy: FaultProxy, moto: MotoServer) -> None:
    def kinds(seed: int) -> list[str | None]:
        proxy.faults.configure(rate=0.5, kinds=("500", "503"), seed=seed)
        return [proxy.faults.pick("GET", f"/{BUCKET}") for _ in range(40)]

    assert kinds(3) == kinds(3) and kinds(3) != kinds(4)
    assert 5 < sum(k is not None for k in kinds(3)) < 35
    proxy.faults.configure(rate=1.0, kinds=("500",), seed=1)
    assert requests.get(f"{proxy.url}/moto-api/data.json", timeout=10).status_code == 200
    assert requests.get(f"{proxy.url}/{BUCKET}", timeout=10).status_code == 500


def test_the_target_must_be_an_http_url() -> None:
    with pytest.raises(ValueError):
        FaultProxy("ftp://127.0.0.1:21")
