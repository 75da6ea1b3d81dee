"""Test doubles for the services this provider talks to.

``ImportioEmulator`` is a stateful, in-process HTTP emulator of the Import.io v2 API; see
``docs/importio-emulator.md``. ``StitchEmulator`` emulates Stitch's Import API and Connect API
with a SQLite warehouse; see ``docs/stitch-emulator.md``. Nothing here imports Airflow. Exports
are resolved lazily so that loading the pytest plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_importio.testing._server import EmulatorServer
    from airflow_provider_importio.testing.faults import FaultInjector
    from airflow_provider_importio.testing.importio_emulator import ImportioEmulator
    from airflow_provider_importio.testing.stitch_emulator import StitchEmulator

__all__ = ["EmulatorServer", "FaultInjector", "ImportioEmulator", "StitchEmulator"]

_EXPORTS = {
    "EmulatorServer": "airflow_provider_importio.testing._server",
    "FaultInjector": "airflow_provider_importio.testing.faults",
    "ImportioEmulator": "airflow_provider_importio.testing.importio_emulator",
    "StitchEmulator": "airflow_provider_importio.testing.stitch_emulator",
}


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
