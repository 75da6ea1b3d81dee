"""Reading a mapped task's output (Airflow's lazy XCom sequence) in one request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def whole(value: Any) -> Any:
    """``value`` as a list when it is a lazy sequence of a mapped task's XComs, else as it is.

    Iterating Airflow's ``LazyXComSequence`` asks for each item in turn and then for the one past the
    end, whose "not found" Airflow logs as an error in the task's log; a slice is one request for all.
    """
    if value is None or isinstance(value, (str, bytes, Mapping, list, tuple)):
        return value
    if isinstance(value, Sequence):
        return list(value[:])
    return value
