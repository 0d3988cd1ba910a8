"""Schemathesis against the app's own OpenAPI document, with and without the secret: no request finds a 5xx,
and every refusal is the JSON error shape."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from pghaul.http import create_app
from pghaul.sample import fill_sample_database
from tests.test_http_helpers import AUTH, PASSWORD, SECRET, make_settings

EXAMPLES_PER_OPERATION = 6


def _send(client: TestClient, case: schemathesis.Case, with_secret: bool) -> httpx.Response:
    headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() != "x-migration-secret"}
    query = dict(case.query or {})
    # A made-up ?secret= is a wrong guess, which the throttle answers late on purpose: the fuzzing is about the
    # API's surface, the throttle has its own tests (test_http_throttle.py).
    query.pop("secret", None)
    if with_secret:
        headers.update(AUTH)
    try:
        return client.request(case.method, case.formatted_path, params=query, headers=headers)
    except (httpx.InvalidURL, UnicodeEncodeError, ValueError):
        assume(False)  # a value no HTTP client can send (e.g. a header with a newline) says nothing about us
        raise


@pytest.mark.slow
@pytest.mark.parametrize("with_secret", [False, True], ids=["no-secret", "secret"])
def test_fuzzing_the_api_finds_no_server_error(source_url: str, target_url: str, with_secret: bool) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    app = create_app(make_settings(source_url, target_url))
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7  # db-migrate-all is POST only since GET must not start anything
    strategy = st.one_of(
        *(op.as_strategy(generation_mode=mode) for op in operations
          for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))
    )
    seen: dict[int, int] = {}

    with TestClient(app) as client:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION * len(operations) * 2,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            response = _send(client, case, with_secret)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (case.method, case.formatted_path, case.query, response.text)
            assert SECRET not in response.text and PASSWORD not in response.text
            if response.status_code >= 400:
                body = response.json()
                assert body["success"] is False and body["error"]

        run()
    if with_secret:
        assert any(200 <= code < 300 for code in seen), seen  # the fuzzing got past the guard
    else:
        assert not any(200 <= code < 300 for code in seen), seen
