"""Property-based fuzzing of the live server from its own /openapi.json (schemathesis).

Every operation is called with generated valid data and, where the document allows
any, invalid data; every response must conform to the document (status code, content
type, body schema) and none may be a 5xx. Examples are bounded and derandomized. A body
over the size limit is answered 413 before its fields are read, which the fuzzer's
invalid-data check would otherwise count as accepting invalid data.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from backend.web.app import create_app
from backend.web.schema import MAX_BODY_BYTES

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture
def api_schema(demo_bundle, live_server):
    # rate limit off: the fuzzer is one client sending far more than any user would
    url = live_server(create_app({"bundle": str(demo_bundle), "rate_limit_per_s": 0}))
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(api_schema, mode):
    @FUZZ
    @given(case=api_schema.as_strategy(mode))
    def conforms(case):
        response = case.call(timeout=30)
        if response.status_code == 413:  # rejected by size before any field is read
            assert len(response.request.body) > MAX_BODY_BYTES
            return
        case.validate_response(response)

    conforms()
