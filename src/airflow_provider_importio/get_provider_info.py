"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Airflow 3.3's UI builds connection forms only from this metadata (``ui-field-behaviour`` and
``conn-fields``), never from hook methods.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_importio import __version__

_SECONDS = {"type": ["number", "null"], "minimum": 0}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-importio",
        "name": "Import.io",
        "description": "Run Import.io web-data collections from Airflow, check their quality and "
        "deliver them to S3, SFTP and Stitch.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Import.io",
                "external-doc-url": "https://api.docs.import.io/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Import.io",
                "python-modules": ["airflow_provider_importio.hooks.importio"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "importio",
                "hook-class-name": "airflow_provider_importio.hooks.importio.ImportioHook",
                "hook-name": "Import.io",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.import.io",
                        "password": "Import.io API key (User Settings in the Import.io dashboard)",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Read timeout of one request; default 120.",
                        "schema": {**_SECONDS, "default": 120},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries on 429, 502-504 and dropped connections; default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "default": 5},
                    },
                    "backoff_base": {
                        "label": "Backoff base (seconds)",
                        "description": "First retry waits up to this long, doubling each time; default 0.5.",
                        "schema": {**_SECONDS, "default": 0.5},
                    },
                },
            }
        ],
        "extra-links": [],
    }
