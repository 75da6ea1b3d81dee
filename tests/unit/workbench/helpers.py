"""Helpers for the Workbench configuration tests: the example file as data, and error assertions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_importio.workbench.config import ConfigError, load_project_text

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "projects" / "example.yaml"
_EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def example_data() -> dict[str, Any]:
    """A fresh, mutable copy of the example project."""
    return copy.deepcopy(_EXAMPLE_DATA)


def config_error(data: Any, name: str = "bad.yaml") -> ConfigError:
    """The ConfigError raised loading ``data`` dumped as YAML (fails the test if it loads)."""
    with pytest.raises(ConfigError) as caught:
        load_project_text(yaml.safe_dump(data, sort_keys=False), name)
    return caught.value


def assert_issue(error: ConfigError, path: str, fragment: str, name: str = "bad.yaml") -> None:
    """``error`` names the file, has an issue at ``path`` whose message holds ``fragment``, and prints both."""
    matching = [message for p, message in error.errors if p == path and fragment in message]
    assert matching, f"no issue at {path!r} containing {fragment!r}; got {error.errors}"
    text = str(error)
    assert text.startswith(f"{name}:")
    assert any(line.lstrip().startswith(f"- {path}") and fragment in line for line in text.splitlines()), text
