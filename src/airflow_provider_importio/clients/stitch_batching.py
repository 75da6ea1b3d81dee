"""Packing records into Stitch Import API batches under every documented limit.

Each record is checked and serialised once; a batch body is the serialised messages joined
inside a fixed envelope, so splitting a batch after a 413 never re-serialises anything.

Sequences: record ``i`` of a push gets ``sequence_start + i``. :func:`sequence_start_for` derives
the start from a fixed moment (for example the snapshot's creation time) as whole seconds
× 10⁹, so a re-run of the same push sends the same sequences (an upsert, never a reorder), a
later snapshot's records outrank an earlier one's, and up to 10⁹ records fit in one push.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_BODY_BYTES = 20_000_000
MAX_RECORDS = 20_000
MAX_DATA_POINTS = 10_000
MAX_SEQUENCE = 2**63 - 1
MAX_STRING_KEY_LENGTH = 255
SEQUENCE_PER_SECOND = 10**9


class StitchRecordError(ValueError):
    """A record breaks a Stitch limit; raised before anything of the batch is sent."""


@dataclass(frozen=True)
class BatchLimits:
    """Upper bounds of one batch request (Stitch allows 20,000,000 bytes and 20,000 records)."""

    max_bytes: int = 10_000_000
    max_records: int = MAX_RECORDS

    def __post_init__(self) -> None:
        if not 0 < self.max_bytes <= MAX_BODY_BYTES:
            raise ValueError(f"max_bytes must be between 1 and {MAX_BODY_BYTES}")
        if not 0 < self.max_records <= MAX_RECORDS:
            raise ValueError(f"max_records must be between 1 and {MAX_RECORDS}")


def sequence_start_for(moment: dt.datetime) -> int:
    """The first sequence of a push anchored at ``moment`` (stable across re-runs)."""
    return int(moment.timestamp()) * SEQUENCE_PER_SECOND


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


#: One encoder for every record (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)


def dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


#: Types of plain JSON values (each one data point).
_FLAT = frozenset({str, int, float, bool, type(None)})
#: Leaf types, checked first: ``isinstance`` against a ``Mapping`` ABC is slow for every scalar.
_SCALARS = (str, int, float, type(None))


def count_data_points(value: Any) -> int:
    """Leaf values in a record (nested objects and lists counted through)."""
    if isinstance(value, (dict, Mapping)):
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return 1
    nested = [child for child in children if not isinstance(child, _SCALARS)]
    return len(children) - len(nested) + sum(map(count_data_points, nested))


def check_record(record: Mapping[str, Any], key_names: Sequence[str], table: str, index: int) -> None:
    """Raise :class:`StitchRecordError` naming the table and record when a limit is broken."""
    for key in key_names:
        value = record.get(key)
        if value is None:
            raise StitchRecordError(f"table {table!r}, record {index}: key property {key!r} is missing or null")
        if isinstance(value, str) and len(value) > MAX_STRING_KEY_LENGTH:
            raise StitchRecordError(f"table {table!r}, record {index}: key property {key!r} is {len(value)} "
                                    f"characters (at most {MAX_STRING_KEY_LENGTH})")
    if type(record) is dict and len(record) <= MAX_DATA_POINTS and _FLAT.issuperset(map(type, record.values())):
        return  # only plain values: one data point each
    points = count_data_points(record)
    if points > MAX_DATA_POINTS:
        raise StitchRecordError(f"table {table!r}, record {index}: {points} data points (at most {MAX_DATA_POINTS})")


@dataclass
class Batch:
    """Serialised messages of one table, ready to send; ``first_index`` locates them in the push."""

    envelope: tuple[bytes, bytes] = field(repr=False)
    messages: list[bytes] = field(repr=False)
    first_index: int

    @property
    def count(self) -> int:
        return len(self.messages)

    def body(self) -> bytes:
        head, tail = self.envelope
        return head + b",".join(self.messages) + tail

    def size(self) -> int:
        head, tail = self.envelope
        return len(head) + len(tail) + sum(len(m) for m in self.messages) + max(0, len(self.messages) - 1)

    def halves(self) -> tuple[Batch, Batch]:
        middle = len(self.messages) // 2
        return (
            Batch(self.envelope, self.messages[:middle], self.first_index),
            Batch(self.envelope, self.messages[middle:], self.first_index + middle),
        )


def envelope(table: str, schema: Mapping[str, Any], key_names: Sequence[str]) -> tuple[bytes, bytes]:
    """The bytes around the messages of a batch body."""
    head = b'{"table_name":' + dumps(table) + b',"schema":' + dumps(schema)
    head += b',"key_names":' + dumps(list(key_names)) + b',"messages":['
    return head, b"]}"


def batches(
    table: str,
    schema: Mapping[str, Any],
    key_names: Sequence[str],
    records: Iterable[Mapping[str, Any]],
    sequence_start: int,
    limits: BatchLimits = BatchLimits(),
) -> Iterator[Batch]:
    """Check, serialise and pack records into batches under ``limits``, lazily."""
    wrap = envelope(table, schema, key_names)
    fixed = len(wrap[0]) + len(wrap[1])
    messages: list[bytes] = []
    size = fixed
    first = 0
    for index, record in enumerate(records):
        sequence = sequence_start + index
        if sequence > MAX_SEQUENCE:
            raise StitchRecordError(f"table {table!r}, record {index}: sequence {sequence} exceeds {MAX_SEQUENCE}")
        check_record(record, key_names, table, index)
        message = b'{"action":"upsert","sequence":%d,"data":%s}' % (sequence, dumps(record))
        if fixed + len(message) > limits.max_bytes:
            raise StitchRecordError(
                f"table {table!r}, record {index}: {len(message)} bytes serialised, more than a batch may hold "
                f"({limits.max_bytes} bytes)"
            )
        if messages and (len(messages) >= limits.max_records or size + 1 + len(message) > limits.max_bytes):
            yield Batch(wrap, messages, first)
            messages, size, first = [], fixed, index
        size += len(message) + (1 if messages else 0)
        messages.append(message)
    if messages:
        yield Batch(wrap, messages, first)
