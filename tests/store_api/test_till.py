"""The till: an exit code's bill with every difference from the handheld, age approval by signed-in
staff before payment, and a rescan that corrects the bill."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from db.models import Audit, StaffAction, Trip
from shop.numbering import product_gtin
from tests.store_api.conftest import APPLES, BEER, BREAD, MILK, Events, Shop


def _finish(shop: Shop, events: Events, card: str | None, sent: list[dict[str, Any]],
            shown: list[dict[str, Any]], total: int) -> str:
    """A trip whose handheld sent `sent` and showed `shown` (its lines) and `total` at the finish."""
    trip_id = shop.start(card)
    finish = events("finish", handheld_total_minor=total, item_count=sum(x["quantity"] for x in shown), lines=shown)
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [*sent, finish]}).status_code == 200
    assert shop.post(f"/api/v1/trips/{trip_id}/finish", {"handheld_total_minor": total}).status_code == 200
    return trip_id


def _bill(shop: Shop, code: str) -> Any:
    return shop.client.get(f"/api/v1/till/{code}", headers={"Authorization": f"Bearer {shop.till_token}"})


def _line(product_id: int, quantity: int, net: int) -> dict[str, Any]:
    return {"key": product_gtin(product_id), "gtin": product_gtin(product_id), "quantity": quantity, "net_minor": net}


def test_the_bill_lists_every_difference_from_the_handheld_with_its_reason(shop: Shop, events: Events) -> None:
    sent = [events.scan(MILK), events.scan(BREAD)]
    lost = events.scan(APPLES, weight_g=500)  # shown on the handheld, never reached the store
    shown = [_line(MILK, 2, 200), _line(BREAD, 1, 120),
             {"key": lost["id"], "gtin": product_gtin(APPLES), "quantity": 1, "net_minor": 125}]
    trip_id = _finish(shop, events, None, sent, shown, 445)
    bill = _bill(shop, trip_id).get_json()
    assert bill["total_minor"] == 100 + 120 and bill["handheld_total_minor"] == 445
    assert bill["difference_minor"] == 220 - 445 and bill["ready"] is True and bill["handheld_lines_known"] is True
    why = {d["name"]: d for d in bill["differences"]}
    assert set(why) == {"Test milk", "Test apples"}  # bread matches
    assert why["Test milk"]["handheld"] == {"quantity": 2, "net_minor": 200}
    assert why["Test milk"]["till"] == {"quantity": 1, "net_minor": 100}
    assert "did not receive every change" in why["Test milk"]["why"]
    assert why["Test apples"]["till"] is None and "never received this scan" in why["Test apples"]["why"]


def test_a_staff_void_is_named_as_the_reason(shop: Shop, events: Events) -> None:
    trip_id = _finish(shop, events, None, [events.scan(MILK), events.scan(BREAD)],
                      [_line(MILK, 1, 100), _line(BREAD, 1, 120)], 220)
    from server.staff import live

    with shop.session() as s:
        from db.models import User

        live.void_line(s, trip_id, product_gtin(BREAD), s.get(User, shop.staff_user_id))
        s.commit()
    bill = _bill(shop, trip_id).get_json()
    assert [(d["name"], d["why"]) for d in bill["differences"]] == [("Test bread", "removed by staff during the trip")]
    assert bill["total_minor"] == 100


def test_an_age_restricted_item_blocks_payment_until_signed_in_staff_approve(shop: Shop, events: Events) -> None:
    trip_id = _finish(shop, events, None, [events.scan(BEER), events.scan(MILK)],
                      [_line(BEER, 1, 300), _line(MILK, 1, 100)], 400)
    bill = _bill(shop, trip_id).get_json()
    assert bill["ready"] is False and bill["waiting_for"] == ["age approval"]
    assert [a["name"] for a in bill["age_check"]] == ["Test beer"]
    refused = shop.till(f"/api/v1/trips/{trip_id}/checkout", {})
    assert refused.status_code == 409 and "Test beer" in refused.get_json()["message"]
    assert refused.get_json()["age_check"][0]["min_age"] == 18
    # A till's token alone cannot approve: a person signs in and is recorded.
    assert shop.till(f"/api/v1/trips/{trip_id}/age-approval").status_code == 401
    client, headers = shop.staff()
    assert client.post(f"/api/v1/trips/{trip_id}/age-approval").status_code == 403  # no CSRF header
    approved = client.post(f"/api/v1/trips/{trip_id}/age-approval", headers=headers)
    assert approved.status_code == 200 and approved.get_json()["approved_by"] == "auditor"
    assert client.post(f"/api/v1/trips/{trip_id}/age-approval", headers=headers).status_code == 409
    with shop.session() as s:
        action = s.scalars(select(StaffAction).where(StaffAction.trip_id == trip_id)).one()
        assert (action.kind, action.user_id, action.payload["gtins"]) == ("age_ok", shop.staff_user_id,
                                                                          [product_gtin(BEER)])
    assert _bill(shop, trip_id).get_json()["ready"] is True
    assert shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).status_code == 200


def test_a_rescan_corrects_the_bill_and_says_what_it_cannot_price(shop: Shop, events: Events) -> None:
    sent = [events.scan(MILK), events.scan(BREAD), events.scan(APPLES, weight_g=1000)]
    trip_id = _finish(shop, events, shop.new_card, sent, [], 0)  # a member's first trip: always audited
    bill = _bill(shop, trip_id).get_json()
    assert bill["waiting_for"] == ["rescan audit"]
    expected = {line["gtin"]: line["expected"] for line in bill["audit"]["expected"]}
    assert expected == {product_gtin(MILK): 1, product_gtin(BREAD): 1, product_gtin(APPLES): 1}
    findings = [{"gtin": product_gtin(MILK), "found": 3},           # two more milk in the bag
                {"gtin": product_gtin(BREAD), "expected": 5, "found": 0},  # the till's "expected" is not trusted
                {"gtin": product_gtin(APPLES), "found": 2}]         # a second bag of apples, not weighed
    audit = shop.till(f"/api/v1/audits/{bill['audit']['id']}/outcome", {"findings": findings}).get_json()
    assert audit["status"] == "mismatch" and audit["mismatch_count"] == 3
    by_gtin = {f["gtin"]: f for f in audit["findings"]}
    assert by_gtin[product_gtin(BREAD)]["expected"] == 1
    assert "weigh it" in by_gtin[product_gtin(APPLES)]["not_billed"]
    bill = _bill(shop, trip_id).get_json()
    assert bill["ready"] is True
    lines = {line["name"]: line["quantity"] for line in bill["lines"]}
    assert lines == {"Test milk": 3, "Test apples": 1}  # 3 milk (3 for 2), bread gone, apples as weighed
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()
    assert receipt["total_minor"] == 200 + 250  # milk 3 for 2, apples 1 kg
    with shop.session() as s:
        assert s.scalars(select(Audit.status).where(Audit.trip_id == trip_id)).one() == "mismatch"


@pytest.mark.parametrize(("code", "status"), [("not-a-code", 400), ("00000000-0000-4000-8000-000000000000", 404)])
def test_a_bad_or_unknown_exit_code_is_a_clear_error(shop: Shop, code: str, status: int) -> None:
    resp = _bill(shop, code)
    assert resp.status_code == status and "exit" in resp.get_json()["message"]


def test_only_a_till_or_staff_reads_a_bill_and_only_once_the_shopper_finished(shop: Shop, events: Events) -> None:
    trip_id = shop.start(None)
    assert shop.get(f"/api/v1/till/{trip_id}").status_code == 403  # the handheld itself
    assert shop.client.get(f"/api/v1/till/{trip_id}").status_code == 401
    active = _bill(shop, trip_id)
    assert active.status_code == 409 and "press Finish" in active.get_json()["message"]
    with shop.session() as s:
        assert s.get(Trip, trip_id).status == "active"


def test_the_bill_from_the_command_line(shop: Shop, events: Events) -> None:
    from click.testing import CliRunner

    from server.cli.main import main

    trip_id = _finish(shop, events, None, [events.scan(BEER), events.scan(MILK)],
                      [_line(BEER, 1, 300), _line(MILK, 1, 90)], 390)
    url = str(shop.app.config["SHOPGO"]["database"]["url"])
    result = CliRunner().invoke(main, ["till", "bill", trip_id, "--database", url])
    assert result.exit_code == 0, result.output
    assert "Test beer" in result.output and "TOTAL" in result.output
    assert "before payment: age approval" in result.output and "cheaper at the till" not in result.output
    assert "dearer at the till" in result.output  # milk: 1.00 on the bill, 0.90 on the screen
    bad = CliRunner().invoke(main, ["till", "bill", "nonsense", "--database", url])
    assert bad.exit_code != 0 and "not an exit code" in bad.output
