"""Result files: each URL convention's json line, csv, log, sample, xlsx, files zip, 100k streaming."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from decimal import Decimal, InvalidOperation

import openpyxl
import pytest

from airflow_provider_importio.clients.importio_results import parse_result_line
from airflow_provider_importio.testing import ImportioEmulator

from .conftest import Api

pytestmark = pytest.mark.integration

BASE = "https://shop.example"
CONVENTIONS = [
    f"{BASE}/plain",
    f"{BASE}/forced?rows=3",
    f"{BASE}/rows/2",
    f"{BASE}/rows/0",
    f"{BASE}/status/404",
    f"{BASE}/status/503",
    f"{BASE}/nodata",
    f"{BASE}/nohtml",
    f"{BASE}/blocked",
    f"{BASE}/error",
    f"{BASE}/dupes/rows/2",
    f"{BASE}/invalid/rows/4",
]


def _lines(api: Api, run_id: str, kind: str = "json") -> list[dict]:
    return [json.loads(line) for line in api.file(run_id, kind).text.splitlines()]


def test_each_url_convention_gives_its_line(api: Api) -> None:
    _, run = api.finished_run(CONVENTIONS)
    lines = {line["url"]: line for line in _lines(api, run["guid"])}
    parsed = {url: parse_result_line(line) for url, line in lines.items()}
    assert list(lines) == CONVENTIONS
    for sequence, url in enumerate(CONVENTIONS):
        line, result = parsed[url], lines[url]["result"]
        assert line.sequence_number == sequence and line.page_url == url
        assert result["pageData"]["resourceId"] == result["extractorData"]["resourceId"]
        assert isinstance(result["timestamp"], int) and isinstance(result["pageData"]["timestamp"], int)
        assert list(line.flat_rows()) == api.emu.expected_rows(url), url

    plain = parsed[f"{BASE}/plain"]
    assert (plain.status_code, plain.html_captured, plain.error_type) == (200, True, None)
    assert 1 <= len(plain.groups) <= 5
    assert len(parsed[f"{BASE}/forced?rows=3"].groups) == 3 and len(parsed[f"{BASE}/rows/2"].groups) == 2
    for url in (f"{BASE}/rows/0", f"{BASE}/nodata"):
        assert parsed[url].status_code == 200 and not parsed[url].has_data
        assert lines[url]["result"]["extractorData"]["data"] == [{"group": []}]
    for code in (404, 503):
        line = parsed[f"{BASE}/status/{code}"]
        assert line.status_code == code and not line.has_data and line.error_type is None
        assert "data" not in lines[f"{BASE}/status/{code}"]["result"]["extractorData"]
    nohtml = parsed[f"{BASE}/nohtml"]
    assert nohtml.has_data and not nohtml.html_captured and nohtml.status_code == 200
    blocked = parsed[f"{BASE}/blocked"]
    assert blocked.blocked and blocked.status_code == 403 and not blocked.has_data
    error = parsed[f"{BASE}/error"]
    assert error.system_error and error.status_code is None and not error.has_data
    dupes = list(parsed[f"{BASE}/dupes/rows/2"].flat_rows())
    assert len(dupes) == 4 and dupes[0] == dupes[1] and dupes[2] == dupes[3] and dupes[0] != dupes[2]

    invalid = list(parsed[f"{BASE}/invalid/rows/4"].flat_rows())
    assert all(row["name"] == "" for row in invalid)
    prices = [row["price"] for row in invalid]
    assert any(not _is_number(p) for p in prices) and any(_is_number(p) and Decimal(p) < 0 for p in prices)
    good = [row for line in parsed.values() if "invalid" not in line.input_url for row in line.flat_rows()]
    assert good and all(row["name"].startswith("Product ") and Decimal(row["price"]) > 0 for row in good)
    assert all(row["link_link"].startswith(BASE + "/item/") for row in good)


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def test_rows_depend_only_on_the_url() -> None:
    url = "https://any.example/p/1"
    with ImportioEmulator() as one, ImportioEmulator() as two:
        assert one.expected_rows(url) == two.expected_rows(url) == ImportioEmulator.expected_rows(url)
    assert ImportioEmulator.expected_rows(url) != ImportioEmulator.expected_rows(url + "x")
    fields = [{"name": "a"}, {"name": "b", "type": "LINK"}]
    assert set(ImportioEmulator.expected_rows(url, fields)[0]) == {"a", "b", "b_link"}


def test_csv_file(api: Api) -> None:
    fields = [{"name": "title"}, {"name": "page", "type": "LINK"}, {"name": "price"}, {"name": "shop", "type": "LINK"}]
    urls = [f"{BASE}/a?rows=2", f"{BASE}/status/404", f"{BASE}/nodata", f'{BASE}/q"uote?rows=1']
    _, run = api.finished_run(urls, fields=fields)
    response = api.file(run["guid"], "csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["url", "title", "page", "page_link", "price", "shop", "shop_link"]
    expected = [[url, *(row[c] for c in header[1:])] for url in urls for row in api.emu.expected_rows(url, fields)]
    assert rows == expected and len(rows) == 3  # pages without data contribute no rows
    for line in text.splitlines():
        cells = line.split('","')
        assert line.startswith('"') and line.endswith('"') and len(cells) == len(header)  # every value quoted


def test_log_and_sample_files(api: Api) -> None:
    _, run = api.finished_run(CONVENTIONS)
    log = list(csv.DictReader(io.StringIO(api.file(run["guid"], "log").text)))
    assert [row["Url"] for row in log] == CONVENTIONS
    messages = {row["Url"]: (row["Success"], row["Message"]) for row in log}
    assert messages[f"{BASE}/plain"] == ("1", "")
    assert messages[f"{BASE}/status/404"] == ("0", "HTTP 404")
    assert messages[f"{BASE}/nodata"] == ("0", "No data extracted")
    assert messages[f"{BASE}/rows/0"] == ("0", "No data extracted")
    assert messages[f"{BASE}/blocked"] == ("0", "Blocked")
    assert messages[f"{BASE}/error"] == ("0", "System error")
    sample = api.file(run["guid"], "sample").text.splitlines()
    assert len(CONVENTIONS) > 10 and sample == api.file(run["guid"], "json").text.splitlines()[:10]


def test_xlsx_has_the_csv_table(api: Api) -> None:
    _, run = api.finished_run([f"{BASE}/a?rows=3", f"{BASE}/b"])
    csv_rows = list(csv.reader(io.StringIO(api.file(run["guid"], "csv").content.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(api.file(run["guid"], "xlsx").content), read_only=True).active
    xlsx_rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert xlsx_rows == csv_rows


def test_files_zip_has_html_captures(api: Api) -> None:
    urls = [f"{BASE}/a", f"{BASE}/nohtml", f"{BASE}/error", f"{BASE}/status/404"]
    _, run = api.finished_run(urls)
    response = api.file(run["guid"], "files")
    assert response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        index = json.loads(archive.read("index.json"))
        assert [entry["url"] for entry in index] == [f"{BASE}/a", f"{BASE}/status/404"]
        assert sorted(archive.namelist()) == sorted(["index.json", *(entry["file"] for entry in index)])
        page = archive.read(index[0]["file"]).decode()
        assert page.startswith("<!DOCTYPE html>") and api.emu.expected_rows(f"{BASE}/a")[0]["name"] in page


def test_a_100k_url_json_file_is_streamed(emu: ImportioEmulator, api: Api) -> None:
    guid = emu.add_extractor(name="big")["guid"]
    body = "".join(f'{{"_url": "https://big.example/item/{i}"}}\n' for i in range(100_000)).encode()
    put = api.put(f"/extractors/{guid}/inputs", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert put.json()["inputCount"] == 100_000
    run = api.wait_run(api.start(guid))
    assert run["state"] == "FINISHED" and run["totalUrlCount"] == 100_000

    started = time.monotonic()
    response = api.get(f"/crawlruns/{run['guid']}/json", stream=True)
    assert response.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in response.headers
    lines = response.iter_lines(chunk_size=64 * 1024)
    first = json.loads(next(lines))
    first_after = time.monotonic() - started
    count, last = 1, first
    for line in lines:
        count += 1
        last = line
    total = time.monotonic() - started
    assert first["result"]["sequenceNumber"] == 0 and json.loads(last)["result"]["sequenceNumber"] == 99_999
    assert count == 100_000
    assert first_after < total / 4, (first_after, total)  # sent while being generated, not built first
