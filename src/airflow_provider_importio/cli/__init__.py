"""Command-line tools of the provider (they read Airflow connections)."""
