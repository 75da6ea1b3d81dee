"""Extractors and crawl runs: life cycle, timing, one crawl at a time, paging, inputs, ownership."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_importio.testing import ImportioEmulator

from .conftest import Api

pytestmark = pytest.mark.integration

START_REFUSED = "Extractor is archived or a crawl already in progress"
NOTHING_TO_STOP = "No in progress crawl found to cancel"
URLS = [
    "https://shop.example/a",
    "https://shop.example/b?rows=2",
    "https://shop.example/status/404",
    "https://shop.example/blocked",
    "https://shop.example/error",
]


def test_life_cycle_pending_started_finished(emu: ImportioEmulator, api: Api) -> None:
    emu.crawl_seconds, emu.seconds_per_url = 0.4, 0.2  # 0.4 + 0.2 * 5 = 1.4 s
    ext = emu.add_extractor(inputs=URLS)
    run_id = api.start(ext["guid"])
    run = api.get(f"/crawlruns/{run_id}").json()
    assert (run["state"], run["startedAt"], run["stoppedAt"], run["json"]) == ("PENDING", None, None, None)
    assert run["extractorId"] == ext["guid"] and run["totalUrlCount"] == 5 and run["successUrlCount"] == 0
    seen = []
    while run["state"] != "FINISHED":
        seen.append(run)
        time.sleep(0.05)
        run = api.get(f"/crawlruns/{run_id}").json()
    started = [r for r in seen if r["state"] == "STARTED"]
    assert started and all(r["startedAt"] and r["stoppedAt"] is None for r in started)
    done = [r["successUrlCount"] + r["failedUrlCount"] for r in seen]
    assert done == sorted(done) and any(0 < d < 5 for d in done)  # counts grow in proportion
    created = run["_meta"]["creationTimestamp"]
    assert run["startedAt"] - created == pytest.approx(140, abs=2)  # PENDING for 10 %
    assert run["stoppedAt"] - created == pytest.approx(1400, abs=2)
    assert run["totalUrlCount"] == run["successUrlCount"] + run["failedUrlCount"] == 5
    assert (run["successUrlCount"], run["failedUrlCount"]) == (3, 2)  # blocked and error pages fail
    assert run["rowCount"] == sum(len(emu.expected_rows(url)) for url in URLS)
    assert run["htmlExtractionCount"] == 4  # every page but the system error
    assert all(isinstance(run[kind], str) for kind in ("json", "csv", "xlsx", "log", "sample", "files"))
    assert run["_meta"]["createdAt"].endswith("Z") and run["_meta"]["modificationTimestamp"] == run["stoppedAt"]
    assert emu.crawl_run(run_id) == api.get(f"/crawlruns/{run_id}").json()


def test_one_crawl_at_a_time(emu: ImportioEmulator, api: Api) -> None:
    emu.crawl_seconds = 0.3
    ext = emu.add_extractor()
    first = api.start(ext["guid"])
    again = api.post(f"/extractors/{ext['guid']}/start")
    assert again.status_code == 400
    assert again.json() == {"code": 400, "message": START_REFUSED, "error": "Bad Request"}
    assert api.wait_run(first)["state"] == "FINISHED"
    assert api.start(ext["guid"]) != first
    assert api.get(f"/extractors/{emu.add_extractor()['guid']}/inputs").json() == {
        "_url": "https://example.com/products/1\nhttps://example.com/products/2\nhttps://example.com/products/3"
    }


def test_stop_cancels_and_stop_without_a_run_is_refused(emu: ImportioEmulator, api: Api) -> None:
    ext = emu.add_extractor()
    nothing = api.post(f"/extractors/{ext['guid']}/stop")
    assert (nothing.status_code, nothing.json()["message"]) == (400, NOTHING_TO_STOP)
    emu.crawl_seconds = 30
    run_id = api.start(ext["guid"])
    stopped = api.post(f"/extractors/{ext['guid']}/stop")
    assert stopped.json() == {"crawlRunId": run_id}
    run = api.get(f"/crawlruns/{run_id}").json()
    assert run["state"] == "CANCELLED" and run["stoppedAt"] is not None and run["csv"] is None
    assert api.get(f"/crawlruns/{run_id}/csv").status_code == 404
    assert api.post(f"/extractors/{ext['guid']}/stop").status_code == 400
    assert api.post(f"/extractors/{ext['guid']}/start").status_code == 200  # a new run may start


def test_archived_extractor_cannot_start_or_take_inputs(emu: ImportioEmulator, api: Api) -> None:
    ext = emu.add_extractor(name="Old")
    archived = api.delete(f"/extractors/{ext['guid']}").json()
    assert archived["archived"] is True and archived["guid"] == ext["guid"]
    refused = api.post(f"/extractors/{ext['guid']}/start")
    assert (refused.status_code, refused.json()["message"]) == (400, START_REFUSED)
    assert api.put(f"/extractors/{ext['guid']}/inputs", json={"_url": "https://a.example/"}).status_code == 400
    assert api.get(f"/extractors/{ext['guid']}").json()["archived"] is True
    assert ext["guid"] not in [e["guid"] for e in api.get("/extractors/").json()]
    preset = emu.add_extractor(archived=True)
    assert api.post(f"/extractors/{preset['guid']}/start").status_code == 400


def test_a_crawl_fail_input_fails_the_run(api: Api) -> None:
    ext = api.emu.add_extractor(inputs=["https://shop.example/a", "https://shop.example/crawl-fail"])
    run = api.wait_run(api.start(ext["guid"]))
    assert run["state"] == "FAILED" and run["json"] is None
    response = api.get(f"/crawlruns/{run['guid']}/json")
    assert response.status_code == 404 and "FAILED" in response.json()["message"]


def test_files_wait_for_finished_and_unknown_types_are_404(emu: ImportioEmulator, api: Api) -> None:
    emu.crawl_seconds = 30
    run_id = api.start(emu.add_extractor()["guid"])
    early = api.get(f"/crawlruns/{run_id}/csv")
    assert early.status_code == 404
    assert early.json()["message"] == f"Crawl run {run_id} is PENDING: its files are available once it is FINISHED"
    assert api.get(f"/crawlruns/{run_id}/pdf").status_code == 404


def test_pagination_and_sorting(emu: ImportioEmulator, api: Api) -> None:
    names = ["delta", "alpha", "echo", "charlie", "bravo", "golf", "foxtrot"]
    guids = [emu.add_extractor(name=name)["guid"] for name in names]

    def page(**params: object) -> list[str]:
        response = api.get("/extractors/", params=params)
        assert response.status_code == 200, response.text
        return [e["name"] for e in response.json()]

    assert page() == names[::-1]  # newest first by default
    assert page(_sort="meta_created_at", _sortDirection="ASC") == names
    assert page(_sort="_meta.creationTimestamp", _sortDirection="DESC") == names[::-1]
    pages = [page(_perpage=3, _page=n, _sort="name", _sortDirection="ASC") for n in (1, 2, 3, 4)]
    assert pages == [["alpha", "bravo", "charlie"], ["delta", "echo", "foxtrot"], ["golf"], []]
    assert page(_perpage=2, _sort="name") == ["golf", "foxtrot"]
    for bad in ({"_perpage": 1001}, {"_perpage": 0}, {"_page": 0}, {"_page": "x"}, {"_sortDirection": "UP"}):
        assert api.get("/extractors/", params=bad).status_code == 400, bad
    assert len(page(_perpage=1000)) == 7

    emu.crawl_seconds = 0.0
    runs = [api.start(guid) for guid in guids[:4]]
    listed = api.get("/crawlruns/", params={"_sort": "meta_created_at", "_sortDirection": "DESC"}).json()
    assert [r["guid"] for r in listed] == runs[::-1]
    only = api.get("/crawlruns/", params={"extractorId": guids[1]}).json()
    assert [r["guid"] for r in only] == [runs[1]]


def test_inputs_round_trip_in_both_formats(emu: ImportioEmulator, api: Api) -> None:
    guid = emu.add_extractor()["guid"]
    path = f"/extractors/{guid}/inputs"
    put = api.put(path, json={"_url": "https://a.example/1\n\nhttps://a.example/2\n"})
    assert put.status_code == 200 and put.json()["inputCount"] == 2
    assert api.get(path).json() == {"_url": "https://a.example/1\nhttps://a.example/2"}

    objects = [{"_url": "https://b.example/1", "query": "shoes"}, {"_url": "https://b.example/2", "page": 2}]
    body = "\n".join(json.dumps(o) for o in objects) + "\n"
    put = api.put(path, data=body.encode(), headers={"Content-Type": "application/x-ndjson"})
    assert put.status_code == 200, put.text
    as_ndjson = api.get(path, headers={"Accept": "application/x-ndjson"})
    assert as_ndjson.headers["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line) for line in as_ndjson.text.splitlines()] == objects
    assert api.get(path).json() == {"_url": "https://b.example/1\nhttps://b.example/2"}
    assert emu.inputs(guid) == objects

    ndjson = {"Content-Type": "application/x-ndjson"}
    invalid = [
        {"data": b"not json", "headers": {"Content-Type": "application/json"}},
        {"json": {"url": "https://a.example/"}},
        {"json": {"_url": ""}},
        {"json": ["https://a.example/"]},
        {"data": b'{"_url": "https://a.example/"}\nnot json\n', "headers": ndjson},
        {"data": b'{"query": "no url"}\n', "headers": ndjson},
        {"data": b'"https://a.example/"\n', "headers": ndjson},
        {"data": b"https://a.example/", "headers": {"Content-Type": "text/plain"}},
    ]
    for kwargs in invalid:
        response = api.put(path, **kwargs)
        assert response.status_code == 400, kwargs
        assert response.json()["message"].startswith("Invalid inputs")
    assert emu.inputs(guid) == objects  # unchanged


def test_duplicate_and_credentials(emu: ImportioEmulator, api: Api) -> None:
    fields = [{"name": "title"}, {"name": "url", "type": "LINK"}]
    ext = emu.add_extractor(name="Shoes", fields=fields, inputs=["https://a.example/1"])
    copy = api.post(f"/extractors/{ext['guid']}/duplicate").json()
    assert copy["guid"] != ext["guid"] and copy["name"] == "Shoes (copy)"
    assert copy["fields"] == ext["fields"] and emu.inputs(copy["guid"]) == emu.inputs(ext["guid"])
    assert copy["guid"] in [e["guid"] for e in api.get("/extractors/").json()]

    secret = "hunter2-PaSsWoRd"
    answer = api.post(f"/extractors/{ext['guid']}/credentials", json={"username": "me", "password": secret})
    assert answer.status_code == 200 and secret not in answer.text
    credentials_id = answer.json()["credentialsId"]
    assert api.get(f"/extractors/{ext['guid']}").json()["credentialsId"] == credentials_id
    for bad in ({"username": "me"}, {"password": secret}, {"username": "", "password": secret}, [1]):
        assert api.post(f"/extractors/{ext['guid']}/credentials", json=bad).status_code == 400
    assert all(secret not in json.dumps(e) for e in api.get("/extractors/").json())

    emu.add_user(api_key="other-key", username="other")
    theirs = emu.add_extractor(name="Theirs", owner_api_key="other-key")
    for action in ("duplicate", "credentials"):
        response = api.post(f"/extractors/{theirs['guid']}/{action}", json={"username": "u", "password": "p"})
        assert response.status_code == 403, action
    assert api.get(f"/extractors/{theirs['guid']}").status_code == 200
    assert theirs["guid"] not in [e["guid"] for e in api.get("/extractors/").json()]
    assert [e["guid"] for e in api.get("/extractors/", key="other-key").json()] == [theirs["guid"]]


def test_users_and_subscription_usage(emu: ImportioEmulator, api: Api) -> None:
    me = api.get("/users/current").json()
    assert me["username"] == "emulator" and "test-key" not in json.dumps(me)
    assert api.get("/users/current/subscription").json()["currentUsage"] == 0
    api.finished_run(URLS)
    subscription = api.get("/users/current/subscription").json()
    assert subscription["currentUsage"] == len(URLS) and subscription["userId"] == me["guid"]
    emu.add_user(api_key="k2", username="second")
    assert api.get("/users/current", key="k2").json()["username"] == "second"
    assert api.get("/users/current/subscription", key="k2").json()["currentUsage"] == 0


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/extractors/{id}"),
        ("DELETE", "/extractors/{id}"),
        ("GET", "/extractors/{id}/inputs"),
        ("POST", "/extractors/{id}/start"),
        ("POST", "/extractors/{id}/stop"),
        ("POST", "/extractors/{id}/duplicate"),
        ("GET", "/crawlruns/{id}"),
        ("GET", "/crawlruns/{id}/json"),
        ("GET", "/reports/{id}"),
        ("DELETE", "/reports/{id}"),
        ("POST", "/reports/{id}/start"),
        ("GET", "/reports/{id}/reportruns"),
        ("GET", "/reportruns/{id}"),
        ("GET", "/reportruns/{id}/csv"),
    ],
)
def test_unknown_ids_are_404(api: Api, method: str, path: str) -> None:
    response = api.call(method, path.format(id="3f1e2d4c-0000-4000-8000-000000000000"))
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "error"}


def test_list_paths_need_their_trailing_slash_and_methods_are_checked(api: Api) -> None:
    assert api.get("/extractors").status_code == 404
    assert api.post("/extractors/").status_code == 405
