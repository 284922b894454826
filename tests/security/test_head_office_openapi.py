"""Head office's store API described as it really is (issue 23): packs' `after`, the acks and
feed bodies, and JSON errors, in server/head_office/openapi.py; then fuzzed from that
document with schemathesis (both conforming and broken requests, with a real store token):
no 5xx, and every answer's status, content type and body as the document says."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.api.openapi import openapi_path
from server.head_office.openapi import OPERATIONS, PREFIX, REQUESTS, document
from tests.head_office.office import Office, close_office, open_office

EXAMPLES = 25  # per operation and generation mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CASES = [pytest.param(m.upper(), p, mode, id=f"{m} {p} {mode.value}") for m, p, *_ in OPERATIONS
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]


@pytest.fixture
def office(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Office]:
    made = open_office(db_url, tmp_path, monkeypatch)
    yield made
    close_office(made)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_packs_documents_its_after_parameter() -> None:
    op = document()["paths"][f"{PREFIX}/packs"]["get"]
    assert op["parameters"] == [{"name": "after", "in": "query", "required": False, "description": op["parameters"][0][
        "description"], "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}}]
    assert set(op["responses"]) == {"200", "400", "401"}


@pytest.mark.parametrize("path, body", [("acks", "HeadOfficeAcks"), ("feed", "HeadOfficeFeedBatch")])
def test_acks_and_feed_document_their_bodies_and_json_errors(path: str, body: str) -> None:
    doc = document()
    op = doc["paths"][f"{PREFIX}/{path}"]["post"]
    assert op["requestBody"]["required"] is True
    schema = _resolve(doc, op["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert schema is REQUESTS[body] and schema["required"]
    assert {"200", "400", "401", "422"} <= set(op["responses"])
    for status, answer in op["responses"].items():
        ref = answer["content"]["application/json"]["schema"]["$ref"]
        assert _resolve(doc, ref) and (ref == "#/components/schemas/Error") == (int(status) >= 400)
    assert op["security"] == [{"storeToken": []}]


def test_every_reference_resolves() -> None:
    doc = document()

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from [value] if key == "$ref" else refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    assert all(_resolve(doc, ref) is not None for ref in refs(doc))


def test_the_document_names_exactly_head_offices_store_routes(office: Office) -> None:
    served = {(openapi_path(rule.rule), method.lower()) for rule in office.app.url_map.iter_rules()
              if rule.rule.startswith(PREFIX) for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert documented == served


@pytest.mark.parametrize("method, path, mode", CASES)
def test_head_office_operation_answers_as_documented(office: Office, method: str, path: str,
                                                     mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(document())
    schema.app = office.app
    operation = schema[path][method]
    headers = office.auth("S001")

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode, headers=headers))
    def fuzz(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call()
        case.validate_response(response, checks=CHECKS, headers=case.headers)

    fuzz()
