"""ImportioHook against the running Import.io emulator: every one of the 22 operations."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile

import openpyxl
import pytest

from airflow_provider_importio.clients.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from airflow_provider_importio.clients.importio_records import CrawlRunState
from airflow_provider_importio.hooks.importio import ImportioHook
from tests.integration.conftest import set_importio_connection

URLS = [
    "https://shop.example/products/1",
    "https://shop.example/products/2?rows=3",
    "https://shop.example/status/404",
    "https://shop.example/blocked",
]


@pytest.fixture
def hook(importio_emulator, monkeypatch) -> ImportioHook:
    set_importio_connection(monkeypatch, "importio_test", importio_emulator.url, importio_emulator.api_key)
    return ImportioHook(importio_conn_id="importio_test")


def wait_finished(hook: ImportioHook, crawl_run_id: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while True:
        run = hook.get_crawl_run(crawl_run_id)
        if run.state.is_terminal or time.monotonic() > deadline:
            return run
        time.sleep(0.02)


def finished_run(hook: ImportioHook, importio_emulator, urls=URLS):
    ext = importio_emulator.add_extractor(name="Products", inputs=urls)
    run_id = hook.start_extractor(ext["guid"])
    return ext, wait_finished(hook, run_id)


def test_test_connection_reports_the_user(hook):
    ok, message = hook.test_connection()
    assert ok, message
    assert message.startswith("Connected to Import.io as ")


def test_test_connection_with_a_wrong_key_fails_without_leaking_it(importio_emulator, monkeypatch):
    set_importio_connection(monkeypatch, "importio_bad", importio_emulator.url, "wrong-key-123456")
    ok, message = ImportioHook("importio_bad").test_connection()
    assert not ok
    assert "401" in message and "wrong-key-123456" not in message


def test_current_user_and_subscription(hook):
    user = hook.get_current_user()
    assert user.guid and user.username
    sub = hook.get_current_user_subscription()
    assert sub.current_usage >= 0 and sub.raw


def test_list_extractors_pages_lazily(hook, importio_emulator):
    for i in range(7):
        importio_emulator.add_extractor(name=f"ext-{i}")
    pages_before = importio_emulator.request_count("GET", r"^/extractors/$")
    items = hook.list_extractors(per_page=3, sort="name", sort_direction="ASC")
    first = next(items)
    assert importio_emulator.request_count("GET", r"^/extractors/$") == pages_before + 1  # lazy
    names = [first.name, *(e.name for e in items)]
    assert names == [f"ext-{i}" for i in range(7)]
    assert importio_emulator.request_count("GET", r"^/extractors/$") == pages_before + 3


def test_get_and_archive_extractor(hook, importio_emulator):
    ext = importio_emulator.add_extractor(name="Archive me")
    got = hook.get_extractor(ext["guid"])
    assert (got.guid, got.name, got.archived) == (ext["guid"], "Archive me", False)
    assert got.fields == ("name", "price", "link")
    assert hook.archive_extractor(ext["guid"]).archived
    with pytest.raises(BadRequestError, match="Extractor is archived or a crawl already in progress"):
        hook.start_extractor(ext["guid"])


def test_unknown_extractor_is_not_found_without_retry(hook, importio_emulator):
    with pytest.raises(NotFoundError) as err:
        hook.get_extractor("00000000-0000-0000-0000-000000000000")
    assert err.value.status == 404
    assert importio_emulator.request_count("GET", r"^/extractors/0{8}") == 1


def test_inputs_round_trip_with_extra_fields(hook, importio_emulator):
    ext = importio_emulator.add_extractor(name="Inputs")
    inputs = ["https://a.example/1", {"_url": "https://a.example/2", "query": "shoes"}]
    assert hook.update_extractor_inputs(ext["guid"], inputs) == 2
    assert hook.get_extractor_inputs(ext["guid"]) == [
        {"_url": "https://a.example/1"},
        {"_url": "https://a.example/2", "query": "shoes"},
    ]


def test_start_runs_one_crawl_at_a_time_and_finishes_complete(hook, importio_emulator):
    ext = importio_emulator.add_extractor(name="Run", inputs=URLS)
    run_id = hook.start_extractor(ext["guid"])
    assert run_id
    with pytest.raises(BadRequestError, match="crawl already in progress") as err:
        hook.start_extractor(ext["guid"])
    assert err.value.status == 400
    run = wait_finished(hook, run_id)
    assert run.state is CrawlRunState.FINISHED and run.is_complete
    assert run.extractor_id == ext["guid"] and run.total_url_count == len(URLS)
    expected_rows = sum(len(importio_emulator.expected_rows(u)) for u in URLS)
    assert run.row_count == expected_rows
    assert {"json", "csv", "log"} <= set(run.attachments)


def test_stop_cancels_and_stop_without_a_run_is_refused(hook, importio_emulator):
    importio_emulator.crawl_seconds = 30
    ext = importio_emulator.add_extractor(name="Stop", inputs=URLS)
    run_id = hook.start_extractor(ext["guid"])
    assert hook.stop_extractor(ext["guid"]) == run_id
    assert hook.get_crawl_run(run_id).state is CrawlRunState.CANCELLED
    with pytest.raises(BadRequestError, match="No in progress crawl found to cancel"):
        hook.stop_extractor(ext["guid"])


def test_duplicate_and_credentials(hook, importio_emulator):
    ext = importio_emulator.add_extractor(name="Original", inputs=URLS[:1])
    copy = hook.duplicate_extractor(ext["guid"])
    assert copy.guid != ext["guid"] and "Original" in copy.name
    hook.update_extractor_credentials(ext["guid"], "user", "pa55word-xyz")
    assert importio_emulator.extractor(ext["guid"]).get("credentialsId")
    assert "pa55word-xyz" not in json.dumps(hook.get_extractor(ext["guid"]).raw)


def test_someone_elses_extractor_is_forbidden(hook, importio_emulator):
    importio_emulator.add_user(api_key="other-key-0000", username="other")
    ext = importio_emulator.add_extractor(name="Theirs", owner_api_key="other-key-0000")
    with pytest.raises(ForbiddenError):
        hook.duplicate_extractor(ext["guid"])
    with pytest.raises(ForbiddenError):
        hook.update_extractor_credentials(ext["guid"], "u", "p")


def test_list_crawl_runs_newest_first_across_pages(hook, importio_emulator):
    ext = importio_emulator.add_extractor(name="Many runs", inputs=URLS[:1])
    other = importio_emulator.add_extractor(name="Other", inputs=URLS[:1])
    wait_finished(hook, hook.start_extractor(other["guid"]))
    ids = []
    for _ in range(5):
        ids.append(hook.start_extractor(ext["guid"]))
        wait_finished(hook, ids[-1])
    listed = [r.guid for r in hook.list_crawl_runs(per_page=2, extractor_id=ext["guid"])]
    assert listed == ids[::-1]
    assert importio_emulator.request_count("GET", r"^/crawlruns/$") == 3
    assert len(list(hook.list_crawl_runs(per_page=1000))) == 6


def test_crawl_run_files_stream_to_paths_and_file_objects(hook, importio_emulator, tmp_path):
    _, run = finished_run(hook, importio_emulator)
    sizes = {}
    for file_type in ("json", "csv", "xlsx", "log", "sample", "files"):
        target = tmp_path / f"run.{file_type}"
        sizes[file_type] = hook.download_crawl_run_file(run.guid, file_type, target)
        assert target.stat().st_size == sizes[file_type] > 0
    assert not list(tmp_path.glob("*.part"))

    lines = (tmp_path / "run.json").read_text().splitlines()
    assert [json.loads(line)["url"] for line in lines] == URLS
    text = (tmp_path / "run.csv").read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert header[0] == "url" and "link_link" in header
    log_rows = list(csv.DictReader(io.StringIO((tmp_path / "run.log").read_text().lstrip("\ufeff"))))
    assert [r["Url"] for r in log_rows] == URLS
    sheet = openpyxl.load_workbook(tmp_path / "run.xlsx", read_only=True).active
    assert next(sheet.iter_rows(values_only=True))[0] == "url"
    assert zipfile.is_zipfile(tmp_path / "run.files")

    buffer = io.BytesIO(b"keep:")
    buffer.seek(5)
    assert hook.download_crawl_run_file(run.guid, "json", buffer) == sizes["json"]
    assert buffer.getvalue().startswith(b"keep:{")
    with pytest.raises(ValueError, match="file_type must be one of"):
        hook.download_crawl_run_file(run.guid, "pdf", tmp_path / "x")


def test_results_iterate_as_parsed_lines_matching_the_emulator(hook, importio_emulator):
    _, run = finished_run(hook, importio_emulator)
    lines = list(hook.iter_crawl_run_results(run.guid))
    assert [line.input_url for line in lines] == URLS
    for line in lines:
        assert list(line.flat_rows()) == importio_emulator.expected_rows(line.input_url)
    assert lines[2].status_code == 404 and not lines[2].has_data
    assert lines[3].blocked


def test_reports_and_report_runs(hook, importio_emulator, tmp_path):
    ext, _ = finished_run(hook, importio_emulator)
    wait_finished(hook, hook.start_extractor(ext["guid"]))
    report = importio_emulator.add_report(ext["guid"], name="Changes", type="CHANGE")
    listed = [r.guid for r in hook.list_reports()]
    assert report["guid"] in listed
    got = hook.get_report(report["guid"])
    assert (got.name, got.type, got.extractor_id) == ("Changes", "CHANGE", ext["guid"])

    run_id = hook.start_report(report["guid"])
    assert run_id
    deadline = time.monotonic() + 10
    while hook.get_report_run(run_id).status not in ("FINISHED", "FAILED") and time.monotonic() < deadline:
        time.sleep(0.02)
    run = hook.get_report_run(run_id)
    assert run.status == "FINISHED" and run.report_id == report["guid"]
    assert [r.guid for r in hook.list_report_runs_for_report(report["guid"])] == [run_id]
    assert run_id in [r.guid for r in hook.list_report_runs()]
    for file_type in ("csv", "xlsx", "json"):
        assert hook.download_report_run_file(run_id, file_type, tmp_path / f"r.{file_type}") > 0

    hook.delete_report(report["guid"])
    with pytest.raises(NotFoundError):
        hook.get_report(report["guid"])


def test_wrong_key_is_unauthorized_with_no_retry(importio_emulator, monkeypatch):
    set_importio_connection(monkeypatch, "importio_bad", importio_emulator.url, "not-the-key-42")
    with pytest.raises(UnauthorizedError) as err:
        ImportioHook("importio_bad").get_current_user()
    assert err.value.status == 401
    assert importio_emulator.request_count("GET", r"^/users/current$") == 1
