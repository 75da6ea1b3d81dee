"""Pytest plugin (``pytest11`` entry point) offering the ``importio_emulator`` and ``stitch_emulator`` fixtures.

Kept import-light: the emulator is imported only when the fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
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
