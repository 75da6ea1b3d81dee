"""Find known secret values wherever a run may have left them: text, files, directory trees, SQLite
databases (every table's rows, and the raw file bytes for free pages and journals), any database
SQLAlchemy reaches (e.g. PostgreSQL, by rows) and JSON values.

A secret is looked for case-insensitively in the forms a leak usually takes: as is, URL-quoted,
JSON-escaped (``/`` too) and ``repr``-escaped, base64 (standard and URL-safe, at each of the three
alignments), and as fragments of its random part (a truncated or partly masked value). Gzip files
and gzip- or zlib-compressed values are decompressed first. Every scan counts what it covered
(files, lines, bytes, rows per table), so a test can show the scan was not vacuous; findings name
the secret and the place, never a secret's value.

    scanner = SecretScanner({"importio": api_key, "stitch": token})
    scanner.scan_tree(workdir, "workdir")
    scanner.scan_sqlite(workdir / "airflow.db", "airflow-db")
    assert not scanner.findings, scanner.summary()
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
#: Shortest fragment of a secret's random part that counts as a leak (hex: 48 bits, no chance match).
FRAGMENT = 12
#: Shortest base64 run that counts (one of three alignments of a whole secret).
MIN_BASE64 = 16


@dataclass(frozen=True)
class Finding:
    """One occurrence of a secret: which secret (by name), in which form, where, and the text around it
    with the secret itself replaced by ``<name>``."""

    secret: str
    form: str
    place: str
    context: str

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.place}: …{self.context}…"


@dataclass(frozen=True)
class _Needle:
    secret: str
    form: str
    value: bytes  # lower-case


def secret_forms(value: str, core: str | None = None) -> dict[str, str]:
    """The forms of ``value`` to look for (``form name -> text``); ``core`` is its random part, whose
    first and last :data:`FRAGMENT` characters are looked for on their own."""
    raw = value.encode()
    forms = {
        "raw": value,
        "url-quoted": quote(value, safe=""),
        "url-quoted-plus": quote_plus(value),
        "json-escaped": json.dumps(value)[1:-1],
        "json-slash-escaped": json.dumps(value)[1:-1].replace("/", "\\/"),
        "repr-escaped": repr(value)[1:-1],
    }
    for shift in range(3):  # base64 of the secret at each alignment in a longer encoded text
        encoded = base64.b64encode(b"\x00" * shift + raw).decode()
        start = 4 if shift else 0  # the first quantum mixes in what precedes the secret
        end = len(encoded) - 4 if (shift + len(raw)) % 3 else len(encoded)  # the last, what follows
        stable = encoded[start:end]
        if len(stable) >= MIN_BASE64:
            forms[f"base64/{shift}"] = stable
            forms[f"base64url/{shift}"] = stable.translate(str.maketrans("+/", "-_"))
    if core and len(core) > FRAGMENT:
        forms["fragment-head"] = core[:FRAGMENT]
        forms["fragment-tail"] = core[-FRAGMENT:]
    return forms


@dataclass
class SecretScanner:
    """Looks for ``secrets`` (name -> value) and records findings and coverage counts.

    :param secrets: the values to find, by a name that findings use.
    :param cores: each secret's random part (by name), also looked for in fragments; by default the
        part after the last ``-`` when it is at least ``2 * FRAGMENT`` characters long.
    """

    secrets: Mapping[str, str]
    cores: Mapping[str, str] | None = None
    findings: list[Finding] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        needles: dict[bytes, _Needle] = {}
        for name, value in self.secrets.items():
            if len(value) < FRAGMENT:
                raise ValueError(f"secret {name!r} is too short to scan for without false alarms")
            core = (self.cores or {}).get(name) or _default_core(value)
            for form, text in secret_forms(value, core).items():
                key = text.lower().encode()
                needles.setdefault(key, _Needle(name, form, key))
        # longest first: a whole secret is reported as such, not as its fragment
        self._needles = sorted(needles.values(), key=lambda n: len(n.value), reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(n.value) for n in self._needles))
        self._by_value = {n.value: n for n in self._needles}

    # -- primitives ----------------------------------------------------------------------

    def scan_bytes(self, data: bytes, place: str) -> list[Finding]:
        """Findings in ``data`` (decompressed first when it is gzip or zlib data)."""
        data = _decompressed(data)
        lowered = data.lower()
        found = []
        for match in self._pattern.finditer(lowered):
            needle = self._by_value[match.group()]
            start, end = match.span()
            context = self._redacted(data[max(0, start - 60):end + 60])
            found.append(Finding(needle.secret, needle.form, f"{place} @{start}",
                                 context.decode("utf-8", "replace").replace("\n", "\\n")))
        self.findings.extend(found)
        return found

    def _redacted(self, data: bytes) -> bytes:
        """``data`` with every secret form in it replaced by ``<name>`` (bytes.lower keeps offsets)."""
        out, last = [], 0
        for match in self._pattern.finditer(data.lower()):
            out += [data[last:match.start()], f"<{self._by_value[match.group()].secret}>".encode()]
            last = match.end()
        return b"".join([*out, data[last:]])

    def scan_text(self, text: str, place: str) -> list[Finding]:
        """Findings in ``text``, located by line; counts its lines under ``place``'s kind."""
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            for finding in self.scan_bytes(line.encode("utf-8", "surrogateescape"), f"{place}:{number}"):
                found.append(finding)
        return found

    def scan_json(self, value: Any, place: str, kind: str | None = None) -> list[Finding]:
        """Findings in a JSON-able value (dumped as JSON); counts it as one item of ``kind``."""
        if kind:
            self.counts[f"{kind} items"] += 1
        return self.scan_bytes(json.dumps(value, default=str, ensure_ascii=False).encode(), place)

    # -- files ---------------------------------------------------------------------------

    def scan_file(self, path: Path, kind: str) -> list[Finding]:
        """A file: SQLite databases by row and as raw bytes, gzip files decompressed, text by line."""
        path = Path(path)
        data = path.read_bytes()
        self.counts[f"{kind} files"] += 1
        self.counts[f"{kind} bytes"] += len(data)
        if data.startswith(SQLITE_MAGIC):
            return self.scan_sqlite(path, kind) + self.scan_bytes(data, f"{path} (raw)")
        data = _decompressed(data)
        if b"\x00" in data[:8192]:  # binary: by offset
            return self.scan_bytes(data, str(path))
        text = data.decode("utf-8", "surrogateescape")
        self.counts[f"{kind} lines"] += text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        return self.scan_text(text, str(path))

    def scan_tree(self, root: Path, kind: str, *, exclude: Iterable[Path] = ()) -> list[Finding]:
        """Every file under ``root`` (not following links), except those under ``exclude``."""
        skipped = [Path(p).resolve() for p in exclude]
        found = []
        for path in sorted(Path(root).rglob("*")):
            resolved = path.resolve()
            if path.is_symlink() or not path.is_file() or any(resolved.is_relative_to(s) for s in skipped):
                continue
            found += self.scan_file(path, kind)
        return found

    def scan_sqlite(self, path: Path, kind: str) -> list[Finding]:
        """Every row of every table, each column as text (blobs decompressed when compressed);
        counts ``"{kind} rows"`` and ``"{kind} rows[table]"``. Opened read-only."""
        found = []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.text_factory = bytes
        try:
            tables = [row[0].decode() for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            self.counts[f"{kind} tables"] += len(tables)
            for table in tables:
                cursor = db.execute(f'SELECT rowid, * FROM "{table}"' if _has_rowid(db, table)
                                    else f'SELECT NULL, * FROM "{table}"')
                columns = [d[0] for d in cursor.description][1:]
                for row in cursor:
                    self.counts[f"{kind} rows"] += 1
                    self.counts[f"{kind} rows[{table}]"] += 1
                    for column, value in zip(columns, row[1:]):
                        if value is None:
                            continue
                        data = value if isinstance(value, bytes) else str(value).encode()
                        found += self.scan_bytes(data, f"{path} table {table} rowid {row[0]} column {column}")
        finally:
            db.close()
        return found

    def scan_database(self, url: str, kind: str) -> list[Finding]:
        """Every row of every table of a database SQLAlchemy reaches at ``url`` (e.g. PostgreSQL), each
        column as text; counts as :meth:`scan_sqlite` does. Places name the URL without its password."""
        from sqlalchemy import MetaData, create_engine, select
        from sqlalchemy.engine import make_url

        shown = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(url)
        found = []
        try:
            metadata = MetaData()
            metadata.reflect(engine)
            self.counts[f"{kind} tables"] += len(metadata.tables)
            with engine.connect() as conn:
                for table in metadata.sorted_tables:
                    for number, row in enumerate(conn.execute(select(table)), 1):
                        self.counts[f"{kind} rows"] += 1
                        self.counts[f"{kind} rows[{table.name}]"] += 1
                        for column, value in zip(table.columns.keys(), row):
                            if value is not None:
                                found += self.scan_bytes(_as_bytes(value), f"{shown} table {table.name} row {number} "
                                                                           f"column {column}")
        finally:
            engine.dispose()
        return found

    # -- results -------------------------------------------------------------------------

    def count(self, kind: str, what: str) -> int:
        """How many ``what`` (files, lines, bytes, rows, rows[table], items) of ``kind`` were scanned."""
        return self.counts[f"{kind} {what}"]

    def summary(self, limit: int = 40) -> str:
        """Findings (at most ``limit``) and the coverage counts, for an assertion message."""
        lines = [f"{len(self.findings)} finding(s)"] + [f"  {f}" for f in self.findings[:limit]]
        lines += [f"  {key}: {n}" for key, n in sorted(self.counts.items())]
        return "\n".join(lines)


def _default_core(value: str) -> str | None:
    tail = value.rsplit("-", 1)[-1]
    return tail if len(tail) >= 2 * FRAGMENT else None


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False).encode()
    return str(value).encode("utf-8", "surrogateescape")


def _decompressed(data: bytes) -> bytes:
    """The payload of gzip data (several members too), or of a zlib stream; else ``data``."""
    if data.startswith(GZIP_MAGIC):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return data
    if len(data) > 2 and data[0] == 0x78 and data[1] in (0x01, 0x5E, 0x9C, 0xDA):
        try:
            return zlib.decompress(data)
        except zlib.error:
            return data
    return data


def _has_rowid(db: sqlite3.Connection, table: str) -> bool:
    try:
        db.execute(f'SELECT rowid FROM "{table}" LIMIT 1')
    except sqlite3.OperationalError:
        return False
    return True
