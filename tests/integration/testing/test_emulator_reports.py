"""Reports and report runs: CHANGE json/csv/xlsx, other report types, listing and deletion."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from airflow_provider_importio.testing import ImportioEmulator

from .conftest import Api

pytestmark = pytest.mark.integration

OLD = ["https://shop.example/kept?rows=2", "https://shop.example/gone?rows=1"]
NEW = ["https://shop.example/kept?rows=2", "https://shop.example/new?rows=3"]


def _with_url(url: str) -> list[dict[str, str]]:
    return [{"url": url, **row} for row in ImportioEmulator.expected_rows(url)]


def _two_runs(api: Api) -> dict:
    ext, _ = api.finished_run(OLD)
    api.put(f"/extractors/{ext['guid']}/inputs", json={"_url": "\n".join(NEW)})
    assert api.wait_run(api.start(ext["guid"]))["state"] == "FINISHED"
    return ext


def _run_report(api: Api, report_id: str) -> dict:
    started = api.post(f"/reports/{report_id}/start")
    assert started.status_code == 200, started.text
    return api.wait_report_run(started.json()["reportRunId"])


def test_change_report_compares_the_two_latest_finished_runs(emu: ImportioEmulator, api: Api) -> None:
    ext = _two_runs(api)
    report = emu.add_report(ext["guid"], name="Changes", type="CHANGE")
    run = _run_report(api, report["guid"])
    assert (run["status"], run["type"], run["reportId"]) == ("FINISHED", "CHANGE", report["guid"])
    assert run["extractorId"] == ext["guid"]
    assert run["name"] == "Changes" and run["configId"] == report["latestConfigId"]
    assert all(isinstance(run[kind], str) for kind in ("csv", "json", "xlsx"))
    runs = [r["guid"] for r in api.get("/crawlruns/", params={"extractorId": ext["guid"]}).json()]
    assert run["inputs"] == {"crawlRunIds": runs[:2]}  # newest first

    change = api.get(f"/reportruns/{run['guid']}/json").json()
    assert change == {"added": _with_url(NEW[1]), "removed": _with_url(OLD[1])}
    assert run["summary"] == {"added": 3, "removed": 1, "rowCount": 4}

    table = list(csv.reader(io.StringIO(api.get(f"/reportruns/{run['guid']}/csv").content.decode("utf-8-sig"))))
    assert table[0] == ["change", "url", "name", "price", "link", "link_link"]
    assert [row[:2] for row in table[1:]] == [["ADDED", NEW[1]]] * 3 + [["REMOVED", OLD[1]]]
    sheet = openpyxl.load_workbook(io.BytesIO(api.get(f"/reportruns/{run['guid']}/xlsx").content)).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == table


def test_other_report_types_list_the_latest_rows(emu: ImportioEmulator, api: Api) -> None:
    ext = _two_runs(api)
    report = emu.add_report(ext["guid"], name="All rows", type="DATA")
    run = _run_report(api, report["guid"])
    assert run["status"] == "FINISHED" and run["json"] is None
    table = list(csv.DictReader(io.StringIO(api.get(f"/reportruns/{run['guid']}/csv").content.decode("utf-8-sig"))))
    assert table == _with_url(NEW[0]) + _with_url(NEW[1])
    refused = api.get(f"/reportruns/{run['guid']}/json")
    assert refused.status_code == 404 and "CHANGE" in refused.json()["message"]


def test_a_report_without_finished_runs_fails(emu: ImportioEmulator, api: Api) -> None:
    report = emu.add_report(emu.add_extractor()["guid"])
    run = _run_report(api, report["guid"])
    assert run["status"] == "FAILED" and run["errorMessage"]
    assert api.get(f"/reportruns/{run['guid']}/csv").status_code == 404


def test_report_files_wait_for_the_run(emu: ImportioEmulator, api: Api) -> None:
    ext = _two_runs(api)
    report = emu.add_report(ext["guid"])
    emu.crawl_seconds = 30
    run_id = api.post(f"/reports/{report['guid']}/start").json()["reportRunId"]
    assert api.get(f"/reportruns/{run_id}").json()["status"] == "PENDING"
    early = api.get(f"/reportruns/{run_id}/csv")
    assert early.status_code == 404 and "PENDING" in early.json()["message"]
    assert api.get(f"/reportruns/{run_id}/pdf").status_code == 404


def test_list_get_and_delete_reports(emu: ImportioEmulator, api: Api) -> None:
    ext = emu.add_extractor()
    first = emu.add_report(ext["guid"], name="First")
    second = emu.add_report(ext["guid"], name="Second", type="change")
    assert second["type"] == "CHANGE"
    assert [r["name"] for r in api.get("/reports/").json()] == ["Second", "First"]
    by_name = api.get("/reports/", params={"_sort": "name", "_sortDirection": "ASC", "_perpage": 1}).json()
    assert [r["name"] for r in by_name] == ["First"]
    assert api.get(f"/reports/{first['guid']}").json() == first
    run_ids = [api.post(f"/reports/{r['guid']}/start").json()["reportRunId"] for r in (first, second, first)]
    for_first = [r["guid"] for r in api.get(f"/reports/{first['guid']}/reportruns").json()]
    assert for_first == [run_ids[2], run_ids[0]]
    assert [r["guid"] for r in api.get("/reportruns/").json()] == run_ids[::-1]
    deleted = api.delete(f"/reports/{first['guid']}")
    assert deleted.status_code == 200 and deleted.json()["guid"] == first["guid"]
    assert api.get(f"/reports/{first['guid']}").status_code == 404
    assert api.delete(f"/reports/{first['guid']}").status_code == 404
    assert api.get(f"/reportruns/{run_ids[0]}").status_code == 200  # runs outlive their report
    with pytest.raises(KeyError):
        emu.add_report("not-an-extractor")
