"""The Import.io emulator's in-memory store, guarded by one lock.

Operations raise :class:`~airflow_provider_importio.testing._server.HttpError` with the status and
message the API answers with.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_importio.testing._server import HttpError
from airflow_provider_importio.testing.importio_files import ReportResult, RunSource, change_report, rows_report
from airflow_provider_importio.testing.importio_models import (
    ACTIVE_STATES,
    CHANGE_REPORT,
    FINISHED,
    NO_RUN_TO_REPORT,
    NOTHING_TO_STOP,
    START_REFUSED,
    UPDATABLE_EXTRACTOR_FIELDS,
    UPDATE_ARCHIVED,
    CrawlRun,
    Extractor,
    ExtractorConfig,
    Lifecycle,
    Report,
    ReportRun,
    User,
    epoch_ms,
    new_guid,
    parse_inputs,
)
from airflow_provider_importio.testing.importio_pages import DEFAULT_INPUT_URLS, normalise_fields, run_totals


class ImportioState:
    """Users, extractors, credentials, crawl runs, reports and report runs. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.extractors: dict[str, Extractor] = {}
        #: Saved extractor configurations by id (``latestConfigId`` values), shared by extractors.
        self.configs: dict[str, ExtractorConfig] = {}
        self.credentials: dict[str, dict[str, str]] = {}
        self.crawl_runs: dict[str, CrawlRun] = {}
        self.reports: dict[str, Report] = {}
        self.report_runs: dict[str, ReportRun] = {}
        self._names = itertools.count(1)

    # -- users -----------------------------------------------------------------------------

    def add_user(self, api_key: str, username: str | None = None, email: str | None = None) -> User:
        with self.lock:
            if any(user.api_key == api_key for user in self.users.values()):
                raise ValueError("a user with this API key already exists")
            username = username or f"user{next(self._names)}"
            user = User(new_guid(), username, email or f"{username}@example.com", api_key, self.clock())
            self.users[user.guid] = user
            return user

    def user_for_key(self, api_key: str | None) -> User | None:
        with self.lock:
            return next((user for user in self.users.values() if api_key and user.api_key == api_key), None)

    def usage(self, user_id: str) -> int:
        """URLs crawled so far by the user's runs."""
        now = self.clock()
        with self.lock:
            return sum(run.urls_crawled(now) for run in self.crawl_runs.values() if run.owner_id == user_id)

    def reset(self, keep_user_id: str) -> None:
        with self.lock:
            self.users = {keep_user_id: self.users[keep_user_id]}
            tables = (self.extractors, self.configs, self.credentials, self.crawl_runs, self.reports, self.report_runs)
            for table in tables:
                table.clear()

    # -- extractors ------------------------------------------------------------------------

    def add_extractor(
        self,
        owner_id: str,
        name: str = "Products",
        fields: Iterable[Mapping[str, Any]] | None = None,
        inputs: Iterable[str | Mapping[str, Any]] | None = None,
        guid: str | None = None,
        archived: bool = False,
        webhooks: Sequence[Mapping[str, Any]] | None = None,
        latest_config_id: str | None = None,
    ) -> Extractor:
        """A new extractor running a new configuration of ``fields``, or the existing
        configuration ``latest_config_id`` (and its fields) when given."""
        now = self.clock()
        extractor = Extractor(
            guid=guid or new_guid(),
            name=name,
            owner_id=owner_id,
            fields=normalise_fields(fields),
            inputs=parse_inputs(DEFAULT_INPUT_URLS if inputs is None else inputs),
            created=now,
            modified=now,
            archived=archived,
            webhooks=[dict(hook) for hook in webhooks or ()],
        )
        with self.lock:
            if extractor.guid in self.extractors:
                raise ValueError(f"extractor {extractor.guid} already exists")
            if latest_config_id is None:
                config = self._new_config(extractor, extractor.fields)
            elif latest_config_id in self.configs:
                config = self.configs[latest_config_id]
            else:
                raise ValueError(f"configuration {latest_config_id} does not exist")
            self._use_config(extractor, config)
            self.extractors[extractor.guid] = extractor
        return extractor

    def _new_config(self, extractor: Extractor, fields: Iterable[Mapping[str, Any]]) -> ExtractorConfig:
        config = ExtractorConfig(
            new_guid(), extractor.guid, extractor.owner_id, tuple(dict(item) for item in fields), self.clock()
        )
        self.configs[config.guid] = config
        return config

    @staticmethod
    def _use_config(extractor: Extractor, config: ExtractorConfig) -> None:
        extractor.runtime_config_id = config.guid
        extractor.fields = [dict(item) for item in config.fields]
        extractor.config_history = [*extractor.config_history, config.guid]

    def save_config(self, guid: str, fields: Iterable[Mapping[str, Any]] | None = None) -> ExtractorConfig:
        """Save an edit of the extractor (new ``fields``, or the same ones) as a new configuration
        and run the extractor with it, as saving in Workbench's editor does."""
        new_fields = normalise_fields(fields) if fields is not None else None
        with self.lock:
            extractor = self.extractor(guid)
            if extractor.archived:
                raise HttpError(400, UPDATE_ARCHIVED)
            config = self._new_config(extractor, extractor.fields if new_fields is None else new_fields)
            self._use_config(extractor, config)
            extractor.modified = self.clock()
            return config

    def update_extractor(self, guid: str, user_id: str, changes: Any) -> Extractor:
        """``PATCH /extractors/{id}``: set ``latestConfigId`` (an existing configuration of the
        owner's) and/or ``name``; everything is checked before anything changes."""
        with self.lock:
            extractor = self._owned_extractor(guid, user_id)
            if extractor.archived:
                raise HttpError(400, UPDATE_ARCHIVED)
            if not isinstance(changes, dict) or not changes:
                raise HttpError(400, f"Body must be a JSON object with {' and/or '.join(UPDATABLE_EXTRACTOR_FIELDS)}")
            unknown = sorted(set(changes) - set(UPDATABLE_EXTRACTOR_FIELDS))
            if unknown:
                allowed = ", ".join(UPDATABLE_EXTRACTOR_FIELDS)
                raise HttpError(400, f"Field(s) {', '.join(unknown)} cannot be updated (only {allowed})")
            config: ExtractorConfig | None = None
            if "latestConfigId" in changes:
                config_id = changes["latestConfigId"]
                config = self.configs.get(config_id) if isinstance(config_id, str) else None
                if config is None or config.owner_id != extractor.owner_id:
                    raise HttpError(400, f"Config {config_id} not found")
            name = changes.get("name", extractor.name)
            if not isinstance(name, str) or not name.strip():
                raise HttpError(400, "name must be a non-empty string")
            changed = name != extractor.name
            extractor.name = name
            if config is not None and config.guid != extractor.runtime_config_id:
                self._use_config(extractor, config)
                changed = True
            if changed:
                extractor.modified = self.clock()
            return extractor

    def _lookup(self, table: dict[str, Any], guid: str, label: str) -> Any:
        """The record ``guid`` of ``table``, or a 404 naming it."""
        with self.lock:
            found = table.get(guid)
        if found is None:
            raise HttpError(404, f"{label} {guid} not found")
        return found

    def extractor(self, guid: str) -> Extractor:
        return self._lookup(self.extractors, guid, "Extractor")

    def _owned_extractor(self, guid: str, user_id: str) -> Extractor:
        extractor = self.extractor(guid)
        if extractor.owner_id != user_id:
            raise HttpError(403, f"Extractor {guid} belongs to another user")
        return extractor

    def extractor_docs(self, owner_id: str) -> list[dict[str, Any]]:
        """The user's extractors that are not archived, oldest first."""
        with self.lock:
            return [e.to_json() for e in self.extractors.values() if e.owner_id == owner_id and not e.archived]

    def archive_extractor(self, guid: str) -> Extractor:
        with self.lock:
            extractor = self.extractor(guid)
            extractor.archived = True
            extractor.modified = self.clock()
            return extractor

    def set_inputs(self, guid: str, inputs: list[dict[str, Any]]) -> Extractor:
        with self.lock:
            extractor = self.extractor(guid)
            if extractor.archived:
                raise HttpError(400, START_REFUSED)
            extractor.inputs = inputs
            extractor.url_list_id = new_guid()
            extractor.totals_cache = None
            extractor.modified = self.clock()
            return extractor

    def duplicate(self, guid: str, user_id: str) -> Extractor:
        with self.lock:
            source = self._owned_extractor(guid, user_id)
            fields, inputs, config_id = source.fields, source.inputs, source.runtime_config_id
            name, webhooks = f"{source.name} (copy)", source.webhooks
        return self.add_extractor(
            user_id, name=name, fields=fields, inputs=inputs, webhooks=webhooks, latest_config_id=config_id
        )

    def set_credentials(self, guid: str, user_id: str, username: str, password: str) -> str:
        with self.lock:
            extractor = self._owned_extractor(guid, user_id)
            credentials_id = new_guid()
            self.credentials[credentials_id] = {"username": username, "password": password}
            extractor.credentials_id = credentials_id
            extractor.modified = self.clock()
            return credentials_id

    # -- crawl runs ------------------------------------------------------------------------

    def _active_run(self, extractor_id: str, now: float) -> CrawlRun | None:
        return next(
            (
                run
                for run in self.crawl_runs.values()
                if run.extractor_id == extractor_id and run.life.state(now) in ACTIVE_STATES
            ),
            None,
        )

    def start_crawl(self, guid: str, duration: Callable[[int], float]) -> CrawlRun:
        """Start a run of the extractor's current inputs; ``duration(n_urls)`` gives its length."""
        with self.lock:
            extractor = self.extractor(guid)
            if extractor.archived:
                raise HttpError(400, START_REFUSED)
            inputs, url_list_id, totals = extractor.inputs, extractor.url_list_id, extractor.totals_cache
        if totals is None:  # computed outside the lock: large input lists take a moment
            totals = run_totals(str(item["_url"]) for item in inputs)
        with self.lock:
            if extractor.url_list_id == url_list_id:
                extractor.totals_cache = totals
            now = self.clock()
            if extractor.archived or self._active_run(guid, now) is not None:
                raise HttpError(400, START_REFUSED)
            life = Lifecycle(now, duration(totals.total), fails=totals.fails_run)
            run = CrawlRun(
                guid=new_guid(),
                extractor_id=guid,
                owner_id=extractor.owner_id,
                runtime_config_id=extractor.runtime_config_id,
                url_list_id=url_list_id,
                source=RunSource(inputs, list(extractor.fields), epoch_ms(life.started)),
                totals=totals,
                life=life,
            )
            self.crawl_runs[run.guid] = run
            return run

    def stop_crawl(self, guid: str) -> CrawlRun:
        with self.lock:
            self.extractor(guid)
            now = self.clock()
            run = self._active_run(guid, now)
            if run is None:
                raise HttpError(400, NOTHING_TO_STOP)
            run.life.cancelled_at = now
            return run

    def crawl_run(self, guid: str) -> CrawlRun:
        return self._lookup(self.crawl_runs, guid, "Crawl run")

    def crawl_run_docs(self, owner_id: str, extractor_id: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        with self.lock:
            return [
                run.to_json(now)
                for run in self.crawl_runs.values()
                if run.owner_id == owner_id and extractor_id in (None, run.extractor_id)
            ]

    def finished_runs(self, extractor_id: str) -> list[CrawlRun]:
        """The extractor's FINISHED runs, newest first."""
        now = self.clock()
        with self.lock:
            runs = [
                run
                for run in self.crawl_runs.values()
                if run.extractor_id == extractor_id and run.life.state(now) == FINISHED
            ]
        return runs[::-1]  # the table is in creation order

    # -- reports ---------------------------------------------------------------------------

    def add_report(
        self, extractor_id: str, name: str = "Changes", type: str = CHANGE_REPORT, guid: str | None = None  # noqa: A002
    ) -> Report:
        with self.lock:
            owner_id = self.extractor(extractor_id).owner_id
            report = Report(guid or new_guid(), name, str(type).upper(), extractor_id, owner_id, self.clock())
            if report.guid in self.reports:
                raise ValueError(f"report {report.guid} already exists")
            self.reports[report.guid] = report
            return report

    def report(self, guid: str) -> Report:
        return self._lookup(self.reports, guid, "Report")

    def delete_report(self, guid: str) -> Report:
        with self.lock:
            report = self.report(guid)
            del self.reports[guid]
            return report

    def report_docs(self, owner_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [report.to_json() for report in self.reports.values() if report.owner_id == owner_id]

    def start_report(self, guid: str, duration: float) -> ReportRun:
        """Run a report on the extractor's latest FINISHED crawl runs (two for CHANGE)."""
        report = self.report(guid)
        runs = self.finished_runs(report.extractor_id)
        result: ReportResult | None = None
        error: str | None = None
        if not runs:
            error = NO_RUN_TO_REPORT
        elif report.type == CHANGE_REPORT:
            previous = runs[1].source if len(runs) > 1 else None
            result = change_report(previous, runs[0].source)
        else:
            result = rows_report(runs[0].source)
        used = runs[:2] if report.type == CHANGE_REPORT else runs[:1]
        inputs = {"crawlRunIds": [run.guid for run in used]}
        with self.lock:
            self.report(guid)
            life = Lifecycle(self.clock(), duration, fails=error is not None)
            run = ReportRun(new_guid(), report, inputs, life, result, error)
            self.report_runs[run.guid] = run
            return run

    def report_run(self, guid: str) -> ReportRun:
        return self._lookup(self.report_runs, guid, "Report run")

    def report_run_docs(self, owner_id: str, report_id: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        with self.lock:
            return [
                run.to_json(now)
                for run in self.report_runs.values()
                if run.report.owner_id == owner_id and report_id in (None, run.report.guid)
            ]
