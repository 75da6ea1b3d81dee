"""Apache Airflow provider for Import.io: collections, quality checks and deliveries."""

__version__ = "0.1.0"
