"""Project files for DAG files: :func:`load_project` with a small on-disk cache of files that passed.

Airflow's DAG processor parses every DAG file again every 30 s (``min_file_process_interval``),
and each parse of a flow or alarm DAG file loads its project file: reading the YAML with line
numbers and running every check (JSON Schema, rules, templates) costs more than building the DAGs.
The file rarely changes between parses, so this module keeps, for a project file that *passed*,
its parsed document as JSON, and the next load of the same bytes rebuilds the model from it
without validating again.

Safety:

* An entry is used only for the exact text it was made from (its SHA-256) and the exact loader:
  the package version, the size and modification time of every module of
  ``airflow_provider_importio.workbench`` and of the jsonschema, croniter and PyYAML packages
  (anything that can change what passes). Otherwise the file is loaded and checked as usual.
* A file with any error is never cached, so its :class:`~airflow_provider_importio.workbench.config_errors.ConfigError`
  comes from the usual load every time, word for word.
* An entry is data only (JSON, never pickle), written atomically (temporary file + rename, mode
  0600, directory 0700); one that cannot be read, is not owned by this user, is writable by
  others or does not rebuild exactly the model that the full load gave is ignored. A document
  that JSON does not carry exactly (a YAML date, say) is not cached.
* One entry per project file (named by a hash of its path), replaced when the file changes.

Where: ``$IMPORTIO_PROJECT_CACHE`` (a directory), else ``$AIRFLOW_HOME/cache/importio-projects``
(``~/airflow`` without ``AIRFLOW_HOME``); ``IMPORTIO_PROJECT_CACHE=off`` turns the cache off.
A directory that cannot be written just means no cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_importio.workbench.config_model import Project

CACHE_ENV = "IMPORTIO_PROJECT_CACHE"
#: Bumped when the entry's layout changes.
FORMAT = 1
#: Packages outside this one whose version can change what a project file's checks accept.
_CHECK_PACKAGES = ("jsonschema", "croniter", "yaml")


def cache_dir() -> Path | None:
    """The cache directory, or ``None`` when ``IMPORTIO_PROJECT_CACHE`` turns the cache off."""
    setting = os.environ.get(CACHE_ENV, "").strip()
    if setting.lower() in ("off", "0", "false", "no", "none"):
        return None
    if setting:
        return Path(setting).expanduser()
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return Path(home) / "cache" / "importio-projects"


def load_project(path: str | os.PathLike[str]) -> Project:
    """The project in the YAML file at ``path``: the model and the :class:`ConfigError` that
    :func:`~airflow_provider_importio.workbench.config_loader.load_project` gives, from the cache
    while the file has not changed."""
    from airflow_provider_importio.workbench import config_loader

    directory = cache_dir()
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return config_loader.load_project(path)  # raises the usual ConfigError
    if directory is None:
        return config_loader.load_project_text(text, name)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    entry_path = directory / (hashlib.sha256(os.path.abspath(name).encode("utf-8", "surrogatepass")).hexdigest()[:32]
                              + ".json")
    fingerprint = _loader_fingerprint()
    data = _read_entry(entry_path, digest, fingerprint)
    if data is not None:
        try:
            return config_loader._build(data, name)
        except Exception:  # noqa: BLE001 - an entry that does not build is ignored
            pass
    project = config_loader.load_project_text(text, name)  # raises ConfigError for a bad file
    _write_entry(entry_path, digest, fingerprint, text, name, project)
    return project


def _loader_fingerprint() -> list[Any]:
    """What the checks depend on: the package version, the workbench modules and the checking packages."""
    from airflow_provider_importio import __version__, workbench

    files = []
    for entry in sorted(os.scandir(os.path.dirname(workbench.__file__)), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            info = entry.stat()
            files.append([entry.name, info.st_size, info.st_mtime_ns])
    for package in _CHECK_PACKAGES:
        module = sys.modules.get(package)
        where = getattr(module, "__file__", None)
        if where:
            info = os.stat(where)
            files.append([where, info.st_size, info.st_mtime_ns])
        else:
            files.append([package, None, None])
    return [FORMAT, __version__, list(sys.version_info[:2]), files]


def _read_entry(entry_path: Path, digest: str, fingerprint: list[Any]) -> Any:
    """The cached document for ``digest``, or ``None`` (no entry, another file version, not to be trusted)."""
    try:
        with open(entry_path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            entry = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("sha256") != digest or entry.get("loader") != fingerprint:
        return None
    return entry.get("data")


def _write_entry(entry_path: Path, digest: str, fingerprint: list[Any], text: str, name: str,
                 project: Project) -> None:
    """Cache the document of a file that passed, if JSON carries it exactly; never raises."""
    from airflow_provider_importio.workbench.config_loader import _build
    from airflow_provider_importio.workbench.config_yaml import parse_yaml

    try:
        data = parse_yaml(text).data
        encoded = json.dumps({"format": FORMAT, "sha256": digest, "loader": fingerprint, "data": data},
                             ensure_ascii=False, allow_nan=False)
        copy = json.loads(encoded)
        if repr(copy["data"]) != repr(data) or copy["loader"] != fingerprint or _build(copy["data"], name) != project:
            return  # JSON changes it (dates, tuples, non-string keys ...): not cacheable
        entry_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".entry-", suffix=".tmp", dir=entry_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(encoded)
            os.replace(temporary, entry_path)
        except BaseException:
            os.unlink(temporary)
            raise
    except Exception:  # noqa: BLE001 - no cache is never an error
        return
