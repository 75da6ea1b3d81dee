"""Flow DAGs of the Shop prices project (projects/shop.yaml).

Every flow of the project file becomes one DAG, ``shop__<flow>``:

* ``shop__staging``: twice a day (00:00 and 12:00 UTC); the inputs of each source are split into
  10 chunks, each collected by the source's Import.io extractor within an hour; every snapshot goes
  through QA, failures wait for a person's review (the ``qa_review`` task), and the rest is pushed to
  S3, the customer's SFTP server and the Stitch warehouse within 2 hours.
* ``shop__production``: daily, 48 chunks over 12 hours, pushed within 24 hours; created paused
  until the flow is set ``active: true``.

Edit the project file, not this one: schedules, deadlines, chunks, checks and destinations all
live there (docs/configuration.md). Each DAG's page in the UI shows its settings and windows.
"""
from airflow_provider_importio.flows.dag_factory import flow_dags

flow_dags(__file__, "projects/shop.yaml", globals())
