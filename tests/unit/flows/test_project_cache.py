"""The DAG factory's project cache gives the model and the errors that a full load gives."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from airflow_provider_importio.flows import project_cache
from airflow_provider_importio.workbench.config_errors import ConfigError
from airflow_provider_importio.workbench.config_loader import load_project as full_load

EXAMPLE = Path(__file__).parents[2] / "resources" / "projects" / "example.yaml"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(project_cache.CACHE_ENV, str(directory))
    return directory


@pytest.fixture
def project_file(tmp_path) -> Path:
    path = tmp_path / "project.yaml"
    path.write_text(EXAMPLE.read_text())
    return path


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json")) if directory.exists() else []


def test_a_cached_load_is_the_model_of_the_full_load(cache, project_file, monkeypatch):
    expected = full_load(project_file)
    assert project_cache.load_project(project_file) == expected  # miss: checked, then cached
    (entry,) = entries(cache)
    assert oct(entry.stat().st_mode & 0o777) == oct(0o600)

    def no_checks(*args, **kwargs):
        raise AssertionError("a cache hit must not check the file again")

    monkeypatch.setattr("airflow_provider_importio.workbench.config_loader.load_project_text", no_checks)
    assert project_cache.load_project(project_file) == expected  # hit


def test_a_changed_file_is_checked_again_and_errors_are_those_of_the_full_load(cache, project_file):
    project_cache.load_project(project_file)
    project_file.write_text(project_file.read_text().replace("pushHours: 2", "pushHours: 0.5"))
    with pytest.raises(ConfigError) as cached:
        project_cache.load_project(project_file)
    with pytest.raises(ConfigError) as full:
        full_load(project_file)
    assert str(cached.value) == str(full.value) and "pushHours" in str(cached.value)
    assert len(entries(cache)) == 1  # the good version's entry, never the bad one's
    with pytest.raises(ConfigError):  # and still an error the second time
        project_cache.load_project(project_file)


def test_unreadable_files_raise_the_full_loads_error(cache, tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as cached:
        project_cache.load_project(missing)
    with pytest.raises(ConfigError) as full:
        full_load(missing)
    assert str(cached.value) == str(full.value)


def test_entries_of_another_text_or_loader_or_writable_by_others_are_ignored(cache, project_file, monkeypatch):
    expected = full_load(project_file)
    project_cache.load_project(project_file)
    (entry,) = entries(cache)
    stored = json.loads(entry.read_text())
    calls = []
    real = project_cache._read_entry

    def count(*args):
        calls.append(real(*args))
        return calls[-1]

    monkeypatch.setattr(project_cache, "_read_entry", count)

    stored["data"]["project"]["name"] = "Tampered"
    stored["loader"][1] = "0.0.0-other"  # made by another version of the loader
    entry.write_text(json.dumps(stored))
    os.chmod(entry, 0o600)
    assert project_cache.load_project(project_file) == expected and calls[-1] is None

    stored = json.loads(entry.read_text())  # rewritten by that load
    stored["data"]["project"]["name"] = "Tampered"
    entry.write_text(json.dumps(stored))
    os.chmod(entry, 0o666)
    assert project_cache.load_project(project_file) == expected and calls[-1] is None

    entry.write_text("{not json")
    os.chmod(entry, 0o600)
    assert project_cache.load_project(project_file) == expected and calls[-1] is None


def test_off_means_no_cache_and_an_unwritable_directory_is_no_error(tmp_path, project_file, monkeypatch):
    monkeypatch.setenv(project_cache.CACHE_ENV, "off")
    assert project_cache.cache_dir() is None
    assert project_cache.load_project(project_file) == full_load(project_file)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(project_cache.CACHE_ENV, str(blocker / "cache"))
    assert project_cache.load_project(project_file) == full_load(project_file)
    monkeypatch.delenv(project_cache.CACHE_ENV)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert project_cache.cache_dir() == tmp_path / "home" / "cache" / "importio-projects"


def test_documents_json_does_not_carry_exactly_are_not_cached(cache, project_file, monkeypatch):
    from airflow_provider_importio.workbench import config_yaml

    real = config_yaml.parse_yaml

    def with_a_date(text):  # as if a YAML date (which JSON would turn into a string) had passed the checks
        parsed = real(text)
        parsed.data["project"]["since"] = date(2024, 1, 1)
        return parsed

    monkeypatch.setattr(config_yaml, "parse_yaml", with_a_date)
    assert project_cache.load_project(project_file) == full_load(project_file)
    assert entries(cache) == []
