"""Writing finished snapshot files to an SFTP destination through the SFTP provider's ``SFTPHook``.

A file is uploaded to ``<name>.partial-<random>`` in its final directory and renamed over
``<name>`` once complete (``posix-rename@openssh.com``, atomic on a POSIX server), so a reader
polling the directory sees either the previous file or the whole new one, never part of it.

A connection lost during an upload (the server or the network dropped it) is opened again and the
whole upload repeated, up to the connection's ``max_retries`` extra (default 3) times with
exponential backoff from its ``backoff_base`` extra (seconds, default 0.5); the rename makes a
repeated upload replace, never add, a file. Any other failure (refused write, permissions, host
key) raises at once.

Host keys are verified the way ``SSHHook`` does it: against the connection's ``host_key`` extra, or
else the system's ``known_hosts`` (an unknown host is refused). Only a connection that says
``"no_host_key_check": true`` skips the check, and the hook logs a warning when it does.
"""

from __future__ import annotations

import logging
import posixpath
import random
import re
import secrets
import stat
import time
from typing import Any

from airflow_provider_importio.workbench.config_model import Destination

log = logging.getLogger(__name__)

#: Marks an upload in progress: ``<name>.partial-<12 hex digits>`` beside the final file.
PARTIAL_MARK = ".partial-"
#: How servers word "no such operation" (paramiko keeps only the status text, not its code).
_UNSUPPORTED = re.compile(r"unsupported|not supported|not implemented|unknown extended", re.IGNORECASE)
#: Upload retries after a lost connection, and the first backoff (seconds), unless the connection's extras say.
MAX_RETRIES, BACKOFF_BASE, BACKOFF_MAX = 3, 0.5, 30.0


class SFTPDestinationWriter:
    """Uploads under the destination's ``directory`` over one SSH connection, opened on first use.

    :param destination: an ``SFTP`` destination; its ``connection`` is an SFTP (or SSH) connection.
    :param connect_attempts: connection attempts (``SSHHook``'s ``conn_retry_attempts``).
    """

    def __init__(self, destination: Destination, *, connect_attempts: int = 3) -> None:
        if destination.type != "SFTP" or not destination.directory:
            raise ValueError(f"destination {destination.slug!r} is not an SFTP destination with a directory")
        self.destination = destination
        self.connect_attempts = max(1, int(connect_attempts))
        self._hook: Any = None
        self._client: Any = None
        self._connect_error: Exception | None = None
        self._retry: tuple[int, float] | None = None

    # -- connection ----------------------------------------------------------------------------

    @property
    def hook(self) -> Any:
        """The ``SFTPHook`` (reads the connection; does not connect)."""
        if self._hook is None:
            from airflow.providers.sftp.hooks.sftp import SFTPHook

            self._hook = SFTPHook(ssh_conn_id=self.destination.connection, conn_retry_attempts=self.connect_attempts)
        return self._hook

    def _sftp(self) -> Any:
        """The SFTP client, connecting on first use. A failed connection is not tried again in this
        run (each later upload fails at once with the same reason): a task retry tries again."""
        if self._connect_error is not None:
            raise ConnectionError(f"not connecting to {self.destination.connection!r} again in this run; "
                                  f"it failed: {self._connect_error}")
        if self._client is None:
            try:
                self._client = self.hook.get_conn()  # verifies the host key (SSHHook.get_conn)
            except Exception as exc:
                # Name the connection and where it points: the SSH library's text names only the host.
                error = ConnectionError(f"cannot connect to SFTP connection {self.destination.connection!r} "
                                        f"({self._netloc()}): {type(exc).__name__}: {exc}")
                self._connect_error = error
                raise error from exc
        return self._client

    def close(self) -> None:
        """Close the SFTP session and its SSH connection (the next upload reconnects)."""
        hook, self._client = self._hook, None
        if hook is None:
            return
        for closing in (hook.close_conn, getattr(hook.client, "close", None)):
            if closing is None:
                continue
            try:
                closing()
            except Exception:  # noqa: BLE001 - closing a broken connection
                log.debug("closing the SFTP connection failed", exc_info=True)
        hook.client = None

    # -- locations -----------------------------------------------------------------------------

    def _netloc(self) -> str:
        try:
            host, port = self.hook.remote_host, int(self.hook.port or 22)
        except Exception as exc:  # noqa: BLE001 - only for naming; a push would fail on it anyway
            log.warning("connection %r unreadable (%s); naming the host by the connection id",
                        self.destination.connection, exc)
            return self.destination.connection
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def location(self, path: str) -> str:
        """``sftp://host:port/<path>``; a path relative to the login directory is ``/~/<path>``."""
        return f"sftp://{self._netloc()}{path if path.startswith('/') else '/~/' + path}"

    def asset_uri(self) -> str:
        """The destination as an asset: ``sftp://host:port/<directory>``."""
        directory = posixpath.normpath(self.destination.directory or "/")
        return self.location(directory if directory != "." else "")

    # -- upload --------------------------------------------------------------------------------

    def upload(self, local_path: str, path: str, *, content_type: str | None = None) -> str:
        """Upload the local file to ``path`` (directories created as needed) without a reader ever
        seeing a partial file; the file's URI. On failure the partial file is removed if the
        connection still allows it, and the connection is closed; a lost connection is opened
        again and the upload repeated (see the module docstring)."""
        del content_type  # SFTP has no content type
        max_retries, backoff_base = self._retry_settings()
        attempt = 0
        while True:
            try:
                self._upload_once(local_path, path)
                break
            except _ConnectionLost as lost:
                if attempt >= max_retries:
                    raise lost.error from None
                wait = random.uniform(0, min(BACKOFF_MAX, backoff_base * 2**attempt))
                attempt += 1
                log.warning("SFTP connection to %s lost during the upload of %s (%s); retrying the upload, "
                            "%d of %d, in %.2f s", self._netloc(), path, _describe(lost.error), attempt, max_retries,
                            wait)
                time.sleep(wait)
        uri = self.location(path)
        log.info("Wrote %s", uri)
        return uri

    def _upload_once(self, local_path: str, path: str) -> None:
        partial = f"{path}{PARTIAL_MARK}{secrets.token_hex(6)}"
        connected = False
        try:
            sftp = self._sftp()
            connected = True
            _makedirs(sftp, posixpath.dirname(path))
            _put(sftp, local_path, partial)
            _replace(sftp, partial, path)
            self._remove_stale_partials(path)
        except BaseException as exc:
            lost = connected and isinstance(exc, Exception) and not self._connected()
            if not lost:
                self._discard(partial)
            self.close()
            if lost:
                raise _ConnectionLost(exc) from exc
            raise

    def _connected(self) -> bool:
        """Whether the SFTP session's SSH channel is still open."""
        channel = self._client.get_channel() if self._client is not None else None
        transport = channel.get_transport() if channel is not None else None
        return bool(channel is not None and not channel.closed and not channel.eof_received
                    and transport is not None and transport.is_active())

    def _retry_settings(self) -> tuple[int, float]:
        """``max_retries`` and ``backoff_base`` from the connection's extras (the provider's usual names)."""
        if self._retry is None:
            try:
                extra = self.hook.get_connection(self.destination.connection).extra_dejson or {}
                self._retry = (int(extra.get("max_retries", MAX_RETRIES)),
                               float(extra.get("backoff_base", BACKOFF_BASE)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"SFTP connection {self.destination.connection!r}: extras max_retries and "
                                 f"backoff_base must be numbers ({exc})") from None
        return self._retry

    def _discard(self, partial: str) -> None:
        if self._client is None:
            return
        try:
            self._client.remove(partial)
        except Exception:  # noqa: BLE001 - it may not exist, or the connection is gone
            log.debug("could not remove %s", partial, exc_info=True)

    def _remove_stale_partials(self, path: str) -> None:
        """Remove ``<name>.partial-*`` files that earlier, failed uploads of this file left behind."""
        directory, name = posixpath.split(path)
        try:
            entries = self._sftp().listdir(directory or ".")
        except OSError:
            if not self._connected():
                raise
            return
        for entry in entries:
            if entry.startswith(name + PARTIAL_MARK):
                stale = posixpath.join(directory, entry)
                log.info("Removing %s, left by an earlier failed upload", stale)
                try:
                    self._sftp().remove(stale)
                except OSError:
                    if not self._connected():
                        raise  # the upload is repeated, and this cleanup with it
                    log.warning("could not remove %s", stale, exc_info=True)


class _ConnectionLost(Exception):
    """An upload failed because the connection was lost (``error`` is why); it can be repeated."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _put(sftp: Any, local_path: str, remote: str) -> None:
    """Upload with pipelined writes, then check the remote size (paramiko does not report a refused
    pipelined write: the size check is what catches a full disk)."""
    try:
        sftp.put(local_path, remote, confirm=True)
    except OSError as exc:
        if "size mismatch" not in str(exc):
            raise
        raise OSError(f"upload of {remote} incomplete ({exc}): the server refused a write "
                      "(disk full, quota or permissions?)") from exc


def _makedirs(sftp: Any, directory: str) -> None:
    """Create ``directory`` and its missing parents (another writer creating one meanwhile is fine)."""
    missing: list[str] = []
    current = directory
    while current and current not in ("/", "."):
        try:
            mode = sftp.stat(current).st_mode
        except FileNotFoundError:
            missing.append(current)
            current = posixpath.dirname(current)
            continue
        if mode is not None and not stat.S_ISDIR(mode):
            raise NotADirectoryError(f"{current} exists on the SFTP server and is not a directory")
        break
    for path in reversed(missing):
        try:
            sftp.mkdir(path)
        except OSError:
            if not stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                raise


def _replace(sftp: Any, partial: str, path: str) -> None:
    """Rename ``partial`` over ``path``: atomically with ``posix-rename``; on a server without it,
    by moving the old file aside first (a reader may then briefly find no file, never a partial one)."""
    try:
        sftp.posix_rename(partial, path)
        return
    except OSError as exc:
        if not _UNSUPPORTED.search(str(exc)):
            raise
        log.warning("the SFTP server has no posix-rename; replacing %s in two renames", path)
    try:
        sftp.rename(partial, path)  # plain SFTP rename refuses to overwrite
        return
    except OSError:
        pass
    aside = f"{path}.old-{secrets.token_hex(6)}"
    sftp.rename(path, aside)
    sftp.rename(partial, path)
    try:
        sftp.remove(aside)
    except OSError:
        log.warning("could not remove %s", aside, exc_info=True)
