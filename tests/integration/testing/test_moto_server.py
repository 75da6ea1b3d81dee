"""moto's server as the tests start it: a new server starts empty (moto keeps state per process)."""

from __future__ import annotations

from airflow_provider_importio.testing.aws import MotoServer


def test_a_new_server_starts_empty_though_moto_keeps_state_per_process():
    with MotoServer() as first:
        first.client().create_bucket(Bucket="left-behind")
        assert [b["Name"] for b in first.client().list_buckets()["Buckets"]] == ["left-behind"]
    with MotoServer() as second:
        assert second.client().list_buckets()["Buckets"] == []
