from __future__ import annotations

import json

from airflow_provider_importio.clients.importio_results import BLOCKED, SYSTEM_ERROR, parse_result_line

LINE = {
    "url": "https://shop.example/p/1",
    "result": {
        "extractorData": {
            "url": "https://shop.example/p/1",
            "resourceId": "abc",
            "data": [{"group": [
                {"name": [{"text": "Widget"}], "link": [{"text": "more", "href": "https://shop.example/w"}]},
                {"name": [{"text": "Gadget"}, {"text": "XL"}]},
            ]}],
        },
        "pageData": {"resourceId": "abc", "statusCode": 200, "timestamp": 1717430400123},
        "timestamp": 1717430401456,
        "sequenceNumber": 4,
    },
}


def test_parses_rows_status_and_sequence():
    line = parse_result_line(json.dumps(LINE))
    assert line.input_url == "https://shop.example/p/1"
    assert line.status_code == 200 and line.sequence_number == 4
    assert line.has_data and line.html_captured and not line.blocked and not line.system_error
    assert list(line.flat_rows()) == [
        {"name": "Widget", "link": "more", "link_link": "https://shop.example/w"},
        {"name": "Gadget XL"},
    ]


def test_markers_for_errors_blocked_and_missing_html():
    blocked = {"url": "u", "result": {"pageData": {"statusCode": 403}, "error": {"type": BLOCKED, "message": "m"}}}
    assert parse_result_line(blocked).blocked
    error = {"url": "u", "result": {"error": {"type": SYSTEM_ERROR, "message": "boom"}}}
    parsed = parse_result_line(error)
    assert parsed.system_error and parsed.status_code is None and parsed.error_message == "boom"
    nohtml = {"url": "u", "result": {"pageData": {"statusCode": 200, "htmlCaptured": False}}}
    assert not parse_result_line(nohtml).html_captured
    assert not parse_result_line(nohtml).has_data
