"""The sync path's fast event check agrees with the schema validator, and never lets more through."""
from __future__ import annotations

from typing import Any

import pytest

from server.errors import ApiError
from server.store.schemas import EVENT, EVENT_BATCH, PAYLOADS, errors, event_ok, validate, validate_event_batch

GOOD: dict[str, Any] = {"id": "0b9a3c1e-6f2d-4c55-9a51-3f4e8d2b7a10", "seq": 7, "kind": "scan",
                        "occurred_at": "2026-11-23T02:00:00+00:00", "payload": {"gtin": "5000000000017"}}


def _with(**changes: Any) -> dict[str, Any]:
    event = {**GOOD, **changes}
    return {k: v for k, v in event.items() if v is not _DROP}


def _payload(**changes: Any) -> dict[str, Any]:
    return _with(payload={k: v for k, v in {**GOOD["payload"], **changes}.items() if v is not _DROP})


_DROP = object()

EVENTS = [
    pytest.param(GOOD, id="good scan"),
    pytest.param(_with(occurred_at="2026-11-23T02:00:00Z"), id="good Z time"),
    pytest.param(_payload(barcode="x" * 128, quantity=99, weight_g=100_000, label_price_minor=0), id="good limits"),
    pytest.param(_with(kind="help", payload={}), id="good help"),
    pytest.param(_with(kind="remove", payload={"key": "k1"}), id="good remove"),
    pytest.param(_with(kind="set_quantity", payload={"key": "k1", "quantity": 0}), id="good set_quantity"),
    pytest.param(_with(id=_DROP), id="no id"),
    pytest.param(_with(extra=1), id="unknown field"),
    pytest.param(_with(id="not-a-uuid"), id="bad id"),
    pytest.param(_with(id=GOOD["id"] + "\n"), id="id with newline"),
    pytest.param(_with(seq=0), id="seq 0"),
    pytest.param(_with(seq=2**31), id="seq too big"),
    pytest.param(_with(seq=True), id="seq true"),
    pytest.param(_with(seq=7.0), id="seq float"),
    pytest.param(_with(kind="Scan"), id="kind upper case"),
    pytest.param(_with(kind="a" * 17), id="kind too long"),
    pytest.param(_with(occurred_at="2026-11-23T02:00:00"), id="naive time"),
    pytest.param(_with(occurred_at="2026-11-23T02:00:00.000000000000000+00:00"), id="time too long"),
    pytest.param(_with(payload=[]), id="payload list"),
    pytest.param(_payload(gtin=_DROP), id="scan without gtin"),
    pytest.param(_payload(gtin="123"), id="short gtin"),
    pytest.param(_payload(gtin=5000000000017), id="gtin number"),
    pytest.param(_payload(barcode=None), id="barcode null"),
    pytest.param(_payload(barcode="x" * 129), id="barcode too long"),
    pytest.param(_payload(quantity=0), id="quantity 0"),
    pytest.param(_payload(quantity=100), id="quantity 100"),
    pytest.param(_payload(weight_g=False), id="weight false"),
    pytest.param(_payload(label_price_minor=-1), id="negative label price"),
    pytest.param(_with(kind="remove", payload={}), id="remove without key"),
    pytest.param(_with(kind="set_quantity", payload={"key": "k1", "quantity": 1000}), id="set_quantity too many"),
    pytest.param("an event", id="not an object"),
]


def _schema_ok(event: Any) -> bool:
    if errors(event, EVENT):
        return False
    return event["kind"] not in PAYLOADS or not errors(event["payload"], PAYLOADS[event["kind"]])


@pytest.mark.parametrize("event", EVENTS)
def test_fast_event_check_agrees_with_the_schemas(event: Any) -> None:
    assert event_ok(event) is _schema_ok(event)


def _outcome(check: Any, body: Any) -> str:
    try:
        check(body)
    except ApiError as exc:
        return f"{exc.status} {exc.message}"
    return "ok"


@pytest.mark.parametrize("body", [{"events": [event]} for event in EVENTS[:-1]] + [
    {"events": []}, {}, {"events": {}}, {"events": [GOOD], "more": 1}, [], {"events": [GOOD, _with(seq=0), 3]}])
def test_fast_batch_check_answers_like_the_validator(body: Any) -> None:
    assert _outcome(validate_event_batch, body) == _outcome(lambda b: validate(b, EVENT_BATCH), body)
