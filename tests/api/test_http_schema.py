"""Schemathesis against the live server's OpenAPI document: no input makes it fail.

Generated cases hit a real server over HTTP; the one check that matters here is
that nothing answers 5xx (a crash or an unhandled error), whatever the input.
The schema is loaded from the running server rather than at import time, so
the cases are drawn inside the test with Hypothesis.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.harness import RunningServer

EXAMPLES_PER_OPERATION = 25


def test_no_generated_request_gets_a_server_error(server: RunningServer) -> None:
    document = httpx.get(f"{server.http_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if not _streams(document, operation.path, operation.method)
    ]
    assert len(operations) >= 6
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def check(data: st.DataObject) -> None:
            case = data.draw(operation.as_strategy())  # noqa: B023
            response = case.call(base_url=server.http_url)
            # 501 is the documented answer for options vexport does not support (a JSON
            # error naming the field), not a server error.
            unimplemented = response.status_code == 501 and _code(response) == "UNIMPLEMENTED"
            if response.status_code >= 500 and not unimplemented:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
                )

        check()
    assert not failures, failures[:5]


def _code(response: Any) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _streams(document: dict[str, Any], path: str, method: str) -> bool:
    """Server-sent events never end by themselves (tests/api/test_http_events.py reads them)."""
    answers = document["paths"][path][method.lower()].get("responses", {})
    return "text/event-stream" in answers.get("200", {}).get("content", {})


@pytest.mark.parametrize("path", ["/api/v1/sessions/x/files/%00", "/api/v1/sessions/%ff%fe"])
def test_odd_encodings_are_client_errors(server: RunningServer, path: str) -> None:
    answer = httpx.get(f"{server.http_url}{path}", timeout=10)
    assert 400 <= answer.status_code < 500
