"""Airflow hooks: thin adapters from an Airflow Connection to a plain client."""
