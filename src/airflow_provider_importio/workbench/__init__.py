"""The Workbench domain in plain Python (no Airflow imports)."""
