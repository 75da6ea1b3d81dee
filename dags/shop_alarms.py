"""Alarms of the example project: every five minutes, the metrics of the last day's deliveries
(snapshot states, failed pushes, late snapshots, blocked and error shares) against the alarms of
``projects/shop.yaml``; each alarm group's move into or out of ALARM triggers or resolves a
PagerDuty event through the ``pagerduty_shop`` connection (Events API v2 routing key)."""

from airflow_provider_importio.flows.alarm_dag import alarm_dag

alarm_dag(__file__, "projects/shop.yaml", globals())
