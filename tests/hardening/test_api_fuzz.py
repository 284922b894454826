"""The handheld API fuzzed from its own OpenAPI document with schemathesis.

The document is loaded from the running app (`GET /api/v1/openapi.json`, through
schemathesis' WSGI support, so nothing listens on a port) and every handheld operation
is sent generated requests, both ones that fit the schema and ones that break it, with
a live device token. Every answer must be a non-5xx whose status is one the document
lists, whose content type and body match what it says. Half of the trip requests name a
real trip of the device, so the generated events, finishes and checkouts reach the trip
services, not only the 404 path. Examples per operation are bounded (EXAMPLES) so the
module stays under about half a minute a backend.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from server.api.openapi import OPERATIONS
from tests.hardening.conftest import Site

EXAMPLES = 10  # per operation and generation mode
# The full catalogue is 92,331 products (megabytes of JSON a call), and wrong audit findings
# are lists of over 500 items: a few examples of each suffice.
FEWER = {"/api/v1/catalogue": 2, "/api/v1/audits/{audit_id}/outcome": 5}
HANDHELD_TAGS = {"catalogue", "trips", "checkout", "feedback", "audits", "meta"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HANDHELD = [(method.upper(), path) for method, path, _s, _b, _a, _sec, tag in OPERATIONS if tag in HANDHELD_TAGS]
# Negative data needs something typed to break: a body, an integer path or query parameter
# (a free-form string path parameter such as trip_id has no wrong value).
TAKES_INPUT = {(method.upper(), path) for method, path, _s, body, _a, _sec, _t in OPERATIONS
               if body or "{audit_id}" in path or path.endswith("/catalogue")}
CASES = [pytest.param(m, p, mode, id=f"{m} {p} {mode}") for m, p in HANDHELD
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or (m, p) in TAKES_INPUT]


@pytest.fixture(scope="module")
def schema(site: Site) -> Any:
    """The app's own document, as schemathesis reads it."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", site.store)


@pytest.fixture(scope="module")
def device_trip(site: Site) -> str:
    """A trip of the fuzzing device, so generated requests reach the trip services."""
    trip_id = str(uuid.uuid4())
    resp = site.store.test_client().post("/api/v1/trips", json={"trip_id": trip_id},
                                         headers={"Authorization": f"Bearer {site.device_token}"})
    assert resp.status_code == 201, resp.get_json()
    return trip_id


def _strategy(operation: Any, mode: GenerationMode, headers: dict[str, str], trip_id: str) -> Any:
    plain = operation.as_strategy(mode, headers=headers)
    if "{trip_id}" not in operation.path or mode is not GenerationMode.POSITIVE:
        return plain
    return st.one_of(plain, operation.as_strategy(mode, headers=headers, path_parameters={"trip_id": trip_id}))


@pytest.mark.parametrize("method, path, mode", CASES)
def test_handheld_operation_answers_as_documented(schema: Any, site: Site, device_trip: str, method: str, path: str,
                                                  mode: GenerationMode) -> None:
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {site.device_token}"}

    @settings(max_examples=FEWER.get(path, EXAMPLES), deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=_strategy(operation, mode, headers, device_trip))
    def fuzz(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call()
        case.validate_response(response, checks=CHECKS, headers=case.headers)

    fuzz()


def test_every_handheld_operation_is_fuzzed(site: Site) -> None:
    document = site.store.test_client().get("/api/v1/openapi.json").get_json()
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method, op in ops.items()
                  if set(op.get("tags", [])) & HANDHELD_TAGS}
    assert documented == set(HANDHELD)


BODY_TAKING = [(m.upper(), p) for m, p, _s, body, _a, _sec, tag in OPERATIONS if body and tag in HANDHELD_TAGS]


@pytest.mark.parametrize("method, path", BODY_TAKING, ids=[f"{m} {p}" for m, p in BODY_TAKING])
def test_a_body_that_is_not_json_gets_the_documented_400(site: Site, device_trip: str, method: str,
                                                         path: str) -> None:
    # Found by the fuzzer: these answered 400 (rightly) but their documents did not list it.
    client = site.store.test_client()
    url = path.replace("{trip_id}", device_trip).replace("{audit_id}", str(site.ids["audit"]))
    resp = client.open(url, method=method, data=b"\x00{", content_type="application/json",
                       headers={"Authorization": f"Bearer {site.device_token}"})
    assert resp.status_code == 400 and "not valid JSON" in resp.get_json()["message"]
    document = client.get("/api/v1/openapi.json").get_json()
    assert "400" in document["paths"][path][method.lower()]["responses"]
