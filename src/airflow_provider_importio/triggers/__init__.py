"""Triggers of the Import.io provider (they run in the Airflow triggerer)."""
