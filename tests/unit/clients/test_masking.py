from __future__ import annotations

import logging

from airflow_provider_importio.clients.masking import MASK, Masker, install_urllib3_redaction

KEY = "s3cr3t-K3y/with+chars="


def test_masks_apikey_query_parameter_without_knowing_the_key():
    text = "GET http://h/users/current?_perpage=3&_apikey=abcdef123&_page=2 failed"
    assert Masker().mask(text) == f"GET http://h/users/current?_perpage=3&_apikey={MASK}&_page=2 failed"


def test_masks_literal_and_url_encoded_forms_of_known_secrets():
    masker = Masker([KEY])
    for form in (KEY, "s3cr3t-K3y%2Fwith%2Bchars%3D", "s3cr3t-K3y/with%2Bchars%3D"):
        masked = masker.mask(f"body mentions {form} here")
        assert KEY not in masked and form not in masked and MASK in masked


def test_short_secrets_are_not_masked_literally_but_params_still_are():
    masker = Masker(["ab"])
    assert masker.mask("abc?_apikey=ab") == f"abc?_apikey={MASK}"


def test_repr_holds_no_secret():
    assert KEY not in repr(Masker([KEY]))


def test_urllib3_log_records_are_redacted(caplog):
    install_urllib3_redaction()
    install_urllib3_redaction()  # idempotent
    logger = logging.getLogger("urllib3.connectionpool")
    assert sum(1 for f in logger.filters if type(f).__name__ == "_QueryParamRedactor") == 1
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logger.debug('%s://%s:%s "%s %s %s" %s %s', "http", "h", 80, "GET", f"/x?_apikey={KEY}", "HTTP/1.1", 200, 5)
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
    assert f"_apikey={MASK}" in caplog.records[-1].getMessage()
