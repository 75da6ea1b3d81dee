"""Fault injection for the emulators: scripted faults and seeded random faults.

A fault is chosen for a request *before* the request is handled, so a faulted request never
changes the emulator's state. Kinds:

* ``"429"``: answer 429 with a ``Retry-After`` header (:attr:`FaultInjector.retry_after` seconds);
* ``"500"``, ``"502"``, ``"503"``, ``"504"``: answer that status with the service's error body;
* ``"drop"``: close the TCP connection without any response;
* ``"delay"``: sleep :attr:`FaultInjector.delay_seconds`, then serve the request normally.

Scripted faults (:meth:`FaultInjector.script`) are consumed in order, one per matching request,
and take precedence over random faults (:meth:`FaultInjector.configure`).
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

#: Fault kinds answering with an HTTP error status.
STATUS_KINDS: frozenset[str] = frozenset({"429", "500", "502", "503", "504"})
DROP = "drop"
DELAY = "delay"
FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "504", DROP, DELAY)
DEFAULT_RANDOM_KINDS: tuple[str, ...] = ("429", "500", "503", DROP, DELAY)


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """Normalise fault kinds to strings, rejecting unknown ones with ``ValueError``."""
    normalised = tuple(str(kind).strip().lower() for kind in kinds)
    unknown = [kind for kind in normalised if kind not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}; known: {list(FAULT_KINDS)}")
    return normalised


@dataclass(frozen=True)
class _Matcher:
    path: re.Pattern[str] | None = None
    method: str | None = None

    @classmethod
    def build(cls, path: str | None, method: str | None) -> _Matcher:
        return cls(re.compile(path) if path else None, method.upper() if method else None)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None


@dataclass(frozen=True)
class _ScriptedFault:
    kind: str
    matcher: _Matcher


class FaultInjector:
    """Decides which fault, if any, a request gets. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripted: deque[_ScriptedFault] = deque()
        self._rate = 0.0
        self._kinds: tuple[str, ...] = DEFAULT_RANDOM_KINDS
        self._random_matcher = _Matcher()
        self._rng = random.Random()
        #: ``Retry-After`` seconds sent with 429 faults.
        self.retry_after: int = 1
        #: Seconds a ``"delay"`` fault waits before serving.
        self.delay_seconds: float = 2.0

    def script(self, *kinds: str, path: str | None = None, method: str | None = None) -> None:
        """Queue ``kinds`` for the next requests matching ``path`` (regex, searched) and ``method``."""
        matcher = _Matcher.build(path, method)
        checked = check_kinds(kinds)
        with self._lock:
            self._scripted.extend(_ScriptedFault(kind, matcher) for kind in checked)

    def configure(
        self,
        rate: float = 0.0,
        kinds: Iterable[str] = DEFAULT_RANDOM_KINDS,
        retry_after: int = 1,
        delay_seconds: float = 2.0,
        seed: int | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Fault a ``rate`` share of matching requests with kinds drawn from a seeded RNG."""
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        checked = check_kinds(kinds)
        if not checked:
            raise ValueError("kinds must not be empty")
        with self._lock:
            self._rate = float(rate)
            self._kinds = checked
            self._random_matcher = _Matcher.build(path, method)
            self._rng = random.Random(seed)
            self.retry_after = int(retry_after)
            self.delay_seconds = float(delay_seconds)

    def clear(self) -> None:
        """Drop scripted faults and switch random faults off."""
        with self._lock:
            self._scripted.clear()
            self._rate = 0.0

    @property
    def pending(self) -> list[str]:
        """Kinds of the scripted faults not yet consumed."""
        with self._lock:
            return [fault.kind for fault in self._scripted]

    def pick(self, method: str, path: str) -> str | None:
        """Consume and return the fault for this request, or ``None``."""
        with self._lock:
            for fault in self._scripted:
                if fault.matcher.matches(method, path):
                    self._scripted.remove(fault)
                    return fault.kind
            if self._rate > 0 and self._random_matcher.matches(method, path):
                if self._rng.random() < self._rate:
                    return self._rng.choice(self._kinds)
        return None
