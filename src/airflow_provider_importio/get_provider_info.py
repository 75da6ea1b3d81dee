"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Airflow 3.3's UI builds connection forms only from this metadata (``ui-field-behaviour`` and
``conn-fields``), never from hook methods.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_importio import __version__

_SECONDS = {"type": ["number", "null"], "minimum": 0}


def _transport_fields() -> dict[str, Any]:
    """Form fields every connection of this provider has: timeout and retries."""
    return {
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
    }


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
            },
            {
                "integration-name": "Stitch",
                "external-doc-url": "https://www.stitchdata.com/docs/developers/import-api/",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {
                "integration-name": "Import.io",
                "python-modules": ["airflow_provider_importio.hooks.importio"],
            },
            {
                "integration-name": "Stitch",
                "python-modules": ["airflow_provider_importio.hooks.stitch"],
            },
            {
                "integration-name": "Import.io",
                "python-modules": ["airflow_provider_importio.hooks.store", "airflow_provider_importio.hooks.pagerduty"],
            },
        ],
        "operators": [
            {
                "integration-name": "Import.io",
                "python-modules": [
                    "airflow_provider_importio.operators.deploy",
                    "airflow_provider_importio.operators.input_pickup",
                    "airflow_provider_importio.operators.collection_run",
                    "airflow_provider_importio.operators.push",
                    "airflow_provider_importio.operators.alarms",
                ],
            },
            {
                "integration-name": "Stitch",
                "python-modules": ["airflow_provider_importio.operators.stitch"],
            },
        ],
        "sensors": [
            {
                "integration-name": "Import.io",
                "python-modules": ["airflow_provider_importio.sensors.crawl_run"],
            },
        ],
        "triggers": [
            {
                "integration-name": "Import.io",
                "python-modules": ["airflow_provider_importio.triggers.crawl_run",
                                   "airflow_provider_importio.triggers.lease"],
            },
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
                "conn-fields": _transport_fields(),
            },
            {
                "connection-type": "stitch_connect",
                "hook-class-name": "airflow_provider_importio.hooks.stitch.StitchConnectHook",
                "hook-name": "Stitch Connect",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "Base URL", "password": "Connect API token"},
                    "placeholders": {"host": "https://api.stitchdata.com"},
                },
                "conn-fields": _transport_fields(),
            },
            {
                "connection-type": "stitch_import",
                "hook-class-name": "airflow_provider_importio.hooks.stitch.StitchImportHook",
                "hook-name": "Stitch Import API",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "Base URL (overrides the region)", "password": "Import API token"},
                    "placeholders": {"host": "leave empty to use the region's URL"},
                },
                "conn-fields": {
                    "region": {
                        "label": "Region",
                        "description": "Stitch data pipeline region: north-america (default) or europe.",
                        "schema": {"type": ["string", "null"], "enum": ["north-america", "europe", None],
                                   "default": "north-america"},
                    },
                    **_transport_fields(),
                },
            },
            {
                "connection-type": "importio_store",
                "hook-class-name": "airflow_provider_importio.hooks.store.ImportioStoreHook",
                "hook-name": "Import.io store",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"schema": "Database"},
                    "placeholders": {
                        "host": "PostgreSQL host; leave empty (and no URL) for the SQLite file under AIRFLOW_HOME",
                        "schema": "importio_store",
                        "login": "importio",
                        "port": "5432",
                    },
                },
                "conn-fields": {
                    "url": {
                        "label": "SQLAlchemy URL",
                        "description": "Overrides host/port/login/schema, e.g. postgresql+psycopg://user@db:5432/"
                        "importio_store or sqlite:////srv/airflow/importio_store.db; the Password field fills a "
                        "URL without one.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "driver": {
                        "label": "Driver",
                        "description": "SQLAlchemy driver for host/port fields; default postgresql+psycopg (psycopg 3).",
                        "schema": {"type": ["string", "null"], "default": "postgresql+psycopg"},
                    },
                    "sslmode": {
                        "label": "SSL mode",
                        "description": "libpq sslmode (disable, allow, prefer, require, verify-ca, verify-full).",
                        "schema": {"type": ["string", "null"],
                                   "enum": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full", None]},
                    },
                },
            },
        ],
        "extra-links": [
            "airflow_provider_importio.links.ImportioCrawlRunLink",
            "airflow_provider_importio.links.ImportioExtractorLink",
        ],
        "config": {
            "importio": {
                "description": "Flow DAGs built from project files (read when the DAG file is parsed).",
                "options": {
                    "crawl_poll_interval": {
                        "description": "Seconds between polls of a running crawl (collect tasks, their trigger).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "10",
                        "default": "30",
                    },
                    "lease_poll_interval": {
                        "description": "Seconds a chunk waits before asking again for its extractor's lease "
                        "(one crawl per extractor at a time).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "5",
                        "default": "15",
                    },
                },
            },
        },
    }
