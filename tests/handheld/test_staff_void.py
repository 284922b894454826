"""A line staff void in the console leaves the shopper's screen by itself (the idle handheld asks what
staff did), and the two copies of the trip agree."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge import default_settings, interpret
from handheld.runtime import HandheldConfig, HandheldRuntime
from shop.basket import fold
from tests.loopback import LoopbackServer

from .conftest import pick_products, server_trip, wait_until


def _till_token(url: str) -> str:
    """A till of the store: checkouts and audit outcomes are a till's (or staff's), not the handheld's."""
    from db.session import make_engine, make_session_factory
    from server.auth.accounts import add_device

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            _, token = add_device(s, "S001", "till", "till")
            s.commit()
    finally:
        eng.dispose()
    return token


def _void_on_the_server(url: str, trip_id: str, key: str) -> None:
    from sqlalchemy import select

    from db.models import User
    from db.session import make_engine, make_session_factory
    from server.auth.accounts import add_user
    from server.staff import live

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            user = s.scalars(select(User).where(User.username == "floor")).first() or \
                add_user(s, "floor", "a long enough password", "staff", "S001")
            live.void_line(s, trip_id, key, user)
            s.commit()
    finally:
        eng.dispose()


@pytest.mark.slow
def test_staff_void_reaches_the_screen_and_checkout_agrees(store_server: tuple[LoopbackServer, str, str],
                                                           tmp_path: Path) -> None:
    server, token, url = store_server
    picks = pick_products(url)
    barcodes = default_settings().barcodes
    config = HandheldConfig(data_dir=tmp_path / "hh", server_url=server.url, token=token, scanner_port=None,
                            http_port=0, sync_interval=0.05, backoff_max=0.2, staff_poll=0.5)
    rt = HandheldRuntime(config)
    rt.start()
    try:
        assert rt.catalogue_sync.loaded.wait(120), "catalogue never arrived"
        device = rt.handheld
        voided, kept, later = picks["plain"][:3]
        assert device.on_scan(interpret(picks["card"], "EAN-13", barcodes))
        for gtin in (voided, kept):
            assert device.on_scan(interpret(gtin, "EAN-13", barcodes))
        assert wait_until(lambda: device.state()["pending_events"] == 0, 30)
        trip_id = device.state()["trip_id"]
        _void_on_the_server(url, trip_id, voided)
        # no scan needed: the idle handheld asks what staff did and shows the void by itself
        assert wait_until(lambda: voided not in [line["gtin"] for line in device.state()["lines"]], 30)
        assert "Staff removed" in device.state()["message"]["text"]
        assert device.on_scan(interpret(later, "EAN-13", barcodes))
        assert device.on_scan(interpret(voided, "EAN-13", barcodes)) is False
        device.finish(True)
        assert wait_until(lambda: (device.state()["finish"] or {}).get("confirmed_by_server"), 30)
        total = device.state()["total_minor"]
        device_finish = device.store.trip(trip_id).finish_answer or {}
    finally:
        rt.stop()
    events, _ = server_trip(url, trip_id)
    assert [line.gtin for line in fold(events).lines] == [later, kept]
    from server.app import create_app  # the till: checkout re-prices the server's copy
    from server.database import engine as app_engine

    app = create_app({"database": {"url": url}, "server": {"secret_key": "t"}, "site": {"store_id": "S001"}})
    till, auth = app.test_client(), {"Authorization": f"Bearer {_till_token(url)}"}
    if audit_id := device_finish.get("audit_id"):  # a member's first trip is always rescanned: nothing found
        assert till.post(f"/api/v1/audits/{audit_id}/outcome", json={"findings": []}, headers=auth).status_code == 200
    answer = till.post(f"/api/v1/trips/{trip_id}/checkout", json={"handheld_total_minor": total}, headers=auth)
    receipt = answer.get_json()
    app_engine(app).dispose()
    assert answer.status_code == 200, receipt
    assert receipt["total_minor"] == total and receipt["difference_minor"] == 0
