"""The SFTP test server's seeded disconnects: which requests drop, how often, counted, and never carried out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import paramiko
import pytest

from airflow_provider_importio.testing.sftp_server import SFTPTestServer

LOST = (EOFError, OSError, paramiko.SSHException)


@pytest.fixture
def server(tmp_path) -> Iterator[SFTPTestServer]:
    with SFTPTestServer(tmp_path / "root") as srv:
        yield srv


def connect(server: SFTPTestServer) -> Any:
    transport = paramiko.Transport((server.host, server.port))
    transport.connect(username=server.username, password=server.password)
    return paramiko.SFTPClient.from_transport(transport)


def test_a_dropped_request_closes_the_connection_and_is_not_carried_out(server: SFTPTestServer) -> None:
    server.set_faults(disconnect_rate=1.0, disconnect_on=("mkdir",))
    sftp = connect(server)
    assert sftp.listdir("/") == []  # requests not named go through
    with pytest.raises(LOST):
        sftp.mkdir("/made")
    with pytest.raises(LOST):  # the connection is gone
        sftp.listdir("/")
    assert not server.path("/made").exists()
    assert server.stats.disconnects == {"mkdir": 1}


@pytest.mark.parametrize("request_name", ["open", "write", "rename"])
def test_an_upload_dropped_at_any_step_leaves_no_file_under_its_name(server: SFTPTestServer, tmp_path,
                                                                      request_name: str) -> None:
    local = tmp_path / "f.txt"
    local.write_bytes(b"rows\n" * 100)
    server.set_faults(disconnect_rate=1.0, disconnect_on=(request_name,))
    sftp = connect(server)
    with pytest.raises(LOST):
        sftp.put(str(local), "/f.partial")
        sftp.posix_rename("/f.partial", "/f.txt")
    assert not server.path("/f.txt").exists()
    assert server.stats.disconnects == {request_name: 1}


def test_disconnects_are_seeded_and_come_at_about_the_rate(server: SFTPTestServer) -> None:
    def pattern(seed: int) -> list[bool]:
        server.set_faults(disconnect_rate=0.3, disconnect_on=("stat",), seed=seed)
        dropped, sftp = [], connect(server)
        for _ in range(30):
            try:
                sftp.stat("/")
                dropped.append(False)
            except LOST:
                dropped.append(True)
                sftp = connect(server)
        sftp.close()
        return dropped

    first = pattern(11)
    counted = server.stats.disconnects["stat"]
    assert pattern(11) == first and server.stats.disconnects["stat"] == counted + sum(first)
    assert pattern(12) != first
    assert 3 <= sum(first) <= 18


def test_no_rate_no_disconnects_and_bad_settings_are_refused(server: SFTPTestServer) -> None:
    server.set_faults(seed=1)
    sftp = connect(server)
    for n in range(20):
        sftp.mkdir(f"/d{n}")
    assert len(list(server.root.iterdir())) == 20 and not server.stats.disconnects
    with pytest.raises(ValueError):
        server.set_faults(disconnect_rate=1.5)
    with pytest.raises(ValueError):
        server.set_faults(disconnect_rate=0.5, disconnect_on=("chmod",))
