"""A bounded, seeded fuzz run (issue 16: "keep it proven"): schemathesis generates requests for every REST operation
of the generated OpenAPI document, valid and invalid, and sends them through the real stack, on SQLite and on
PostgreSQL. Every answer must be in the envelope with a documented code and the HTTP status that code has
(README, errors.proto), match the documented schema, and never be a server error: 500 INTERNAL is a bug, and so
is any 5xx without one of our codes. (501 NOT_SUPPORTED, 502 ENGINE_ERROR and 503 UNAVAILABLE are answers the
contract documents, not failures.)

Deterministic: Hypothesis derandomized (its seed comes from each operation's test), no example database; about
40 requests per operation.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from server.core.config import ROOT
from tests.support.stack import Stack, running_stack, scratch_database

SCHEMA = schemathesis.openapi.from_path(ROOT / "gen" / "openapi.json")
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Streams stay open while the caller watches: they have tests of their own (test_event_streams.py, test_bulk.py).
STREAMS = {"GET /api/events/watch", "GET /api/bulk/batch/{batchId}/watch"}
EXAMPLES = 15  # per operation and generation mode
# Our codes and the HTTP status each has (DESIGN.md §2, gateway/envelope.lua).
STATUS_OF_CODE = {
    "VALIDATION_ERROR": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403, "NOT_GROUP_ADMIN": 403, "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405, "CONFLICT": 409, "PROFILE_NOT_CONNECTED": 409, "PAYLOAD_TOO_LARGE": 413,
    "RATE_LIMITED": 429, "HEADERS_TOO_LARGE": 431, "NOT_SUPPORTED": 501, "NOT_IMPLEMENTED": 501,
    "ENGINE_ERROR": 502, "UNAVAILABLE": 503,
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack of its own: fuzzing leaves odd profiles, contacts and webhooks behind."""
    with scratch_database(request.param) as url, running_stack(url) as stack:
        yield stack


def check_envelope(status: int, content_type: str, body: bytes) -> None:
    """The REST contract every answer keeps, whatever was asked."""
    if not content_type.startswith("application/json"):
        assert status < 400, f"an error outside the envelope: {status} {content_type} {body[:200]!r}"
        return  # an HttpBody answer (the Cloud API webhook's challenge)
    envelope = json.loads(body)
    assert isinstance(envelope.get("success"), bool), envelope
    if envelope["success"]:
        assert 200 <= status < 300 and set(envelope) == {"success", "data", "meta"}, envelope
        return
    error = envelope["error"]
    assert error["code"] in STATUS_OF_CODE, f"a server error or an undocumented code: {status} {envelope}"
    assert status == STATUS_OF_CODE[error["code"]], envelope
    assert isinstance(error["message"], str) and error["message"], envelope


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op.label not in STREAMS],
                         ids=lambda op: op.label)
def test_every_answer_is_in_the_envelope_and_none_is_a_server_error(fuzz_stack: Stack, operation) -> None:
    headers = {"X-API-Key": fuzz_stack.admin_key}
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

    @settings(max_examples=2 * EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=fuzz_stack.envoy.url, headers=headers, timeout=30)
        check_envelope(response.status_code, response.headers.get("content-type", [""])[0], response.content)
        case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                                 response_schema_conformance], headers=headers)

    with tempfile.TemporaryDirectory():
        run()
