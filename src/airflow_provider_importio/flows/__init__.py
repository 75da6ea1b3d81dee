"""Flow DAGs: one Airflow DAG per Workbench flow of a project file."""
