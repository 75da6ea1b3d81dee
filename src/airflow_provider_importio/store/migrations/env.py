"""Alembic environment of the Import.io store; the logic is in ``store/migrate.py``."""

from alembic import context

from airflow_provider_importio.store.migrate import run_env

run_env(context)
