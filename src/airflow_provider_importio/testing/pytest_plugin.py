"""Pytest plugin (``pytest11`` entry point): ``importio_emulator``, ``stitch_emulator`` and ``moto_server`` fixtures.

Kept import-light: the emulator is imported only when the fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_importio.testing.aws import MotoServer
    from airflow_provider_importio.testing.importio_emulator import ImportioEmulator
    from airflow_provider_importio.testing.stitch_emulator import StitchEmulator

#: Crawl duration used by the fixture, short so runs finish within a test.
FIXTURE_CRAWL_SECONDS = 0.05


@pytest.fixture
def importio_emulator() -> Iterator[ImportioEmulator]:
    """A fresh Import.io emulator on an ephemeral loopback port, stopped after the test."""
    from airflow_provider_importio.testing.importio_emulator import ImportioEmulator

    with ImportioEmulator(crawl_seconds=FIXTURE_CRAWL_SECONDS, seconds_per_url=0.0) as emulator:
        yield emulator


@pytest.fixture
def stitch_emulator() -> Iterator[StitchEmulator]:
    """A fresh Stitch emulator (batches load at once) on an ephemeral loopback port, stopped after the test."""
    from airflow_provider_importio.testing.stitch_emulator import StitchEmulator

    with StitchEmulator(load_delay=0.0) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _moto_server_session() -> Iterator[MotoServer]:
    from airflow_provider_importio.testing.aws import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture
def moto_server(_moto_server_session: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """moto's S3 and Secrets Manager server on loopback, emptied for each test; the Airflow
    connection ``aws_default`` and the AWS environment variables point at it."""
    _moto_server_session.reset()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", _moto_server_session.connection_json())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return _moto_server_session
