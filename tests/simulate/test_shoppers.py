"""`shopgo simulate shoppers` against a real store server on loopback: its trips show live, are rescanned,
paid and billed, its mishaps reach the console, and a store restart in the middle loses nothing."""
from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from db.models import Audit, Feedback, Product, Purchase, PurchaseLine, StaffAction, Trip, TripEvent, User
from db.session import make_engine, make_session_factory
from server import config as config_mod
from server.cli.main import main
from server.simulate.clients import StaffConsole
from server.simulate.setup import Item, RealBasket
from server.simulate.shoppers import ShoppersOptions, run_shoppers, trip_basket
from tests.conftest import _database, app_config
from tests.loopback import LoopbackServer, dispose_when_idle

STAFF = ("till-staff", "till staff password")


@pytest.fixture
def store(templates: dict[str, str], tmp_path: Path) -> Iterator[tuple[LoopbackServer, str, list[str], str]]:
    """The store server on a copy of the imported data (SQLite, as the demo's), two handhelds, a till and
    its staff member: (server, database URL, handheld tokens, till token)."""
    from server.app import create_app
    from server.auth.accounts import add_device, add_user, ensure_store
    from server.database import engine

    for url in _database("sqlite", "imported", templates, tmp_path):
        eng = make_engine(url)
        with make_session_factory(eng)() as sess:
            # the households' favourite unit product is sold to adults only here: the till asks staff to approve
            favourite = sess.execute(select(Product).join(PurchaseLine, PurchaseLine.product_id == Product.id)
                                     .where(Product.sold_by_weight.is_(False)).group_by(Product.id)
                                     .order_by(func.count().desc()).limit(1)).scalar_one()
            favourite.min_age = 18
            ensure_store(sess, "S001", "Test Store")
            tokens = [add_device(sess, "S001", f"demo-shopper-{i}")[1] for i in (1, 2)]
            till = add_device(sess, "S001", "demo-till", "till")[1]
            add_user(sess, *STAFF, "staff", "S001")
            sess.commit()
        eng.dispose()
        app = create_app(app_config(url, tmp_path))  # the default audits: a member's first trip is rescanned
        server = LoopbackServer(app).start()
        try:
            yield server, url, tokens, till
        finally:
            server.stop()
            dispose_when_idle(engine(app))


def _count(url: str, query: Any) -> int:
    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as sess:
            return int(sess.scalar(query) or 0)
    finally:
        eng.dispose()


@contextlib.contextmanager
def _shopping(options: ShoppersOptions, done: Counter[str]) -> Iterator[None]:
    """The shoppers at work in a thread while the block runs; stopped and joined after it."""
    stop = threading.Event()
    runner = threading.Thread(target=lambda: done.update(run_shoppers(config_mod.load(), options, stop)))
    runner.start()
    try:
        yield
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive()


def _trips(url: str, statuses: tuple[str, ...]) -> set[str]:
    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as sess:
            return set(sess.scalars(select(Trip.id).where(Trip.status.in_(statuses))))
    finally:
        eng.dispose()


def _until(what: Callable[[], Any], deadline: float, message: str) -> Any:
    while time.monotonic() < deadline:
        if got := what():
            return got
        time.sleep(0.2)
    raise AssertionError(message)


def test_shoppers_keep_the_store_alive_through_a_restart(store: tuple[LoopbackServer, str, list[str], str],
                                                         tmp_path: Path) -> None:
    server, url, tokens, till = store
    options = ShoppersOptions(store_url=server.url, tokens=tuple(tokens), till_token=till, staff=STAFF,
                              data_dir=tmp_path / "shoppers", database_url=url, seed=5, speed=40, backoff_max=0.3,
                              help_chance=1.0, problem_chance=1.0, remove_chance=0.1)
    done = Counter[str]()
    paid = select(func.count()).select_from(Purchase).where(Purchase.source == "selfscan")
    deadline = time.monotonic() + 60
    console = StaffConsole(server.url, *STAFF)
    try:
        with _shopping(options, done):
            console.sign_in()

            def live() -> Any:
                status, body = console.call("GET", "/staff/trips/live")
                return status == 200 and body["count"] >= 1 and "demo-shopper-" in body["html"] and body

            assert _until(live, deadline, "no trip of the shoppers showed in the console's live trips")
            _until(lambda: _count(url, paid) >= 1, deadline, "no trip was paid")
            server.stop()  # the store restarts in the middle of the shopping
            time.sleep(1)
            server.start()
            before = _count(url, paid)
            _until(lambda: _count(url, paid) >= before + 3, deadline, "the shoppers did not pay after the restart")
    finally:
        console.close()
    left = _trips(url, ("active", "finished"))  # stopped in the middle of these: the next run pays them
    with _shopping(options, done):
        _until(lambda: not left & _trips(url, ("active", "finished")), deadline,
               f"the trips a stopped run left were not paid by the next: {left}")

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as sess:
            purchases = list(sess.scalars(select(Purchase).where(Purchase.source == "selfscan")))
            assert len(purchases) >= 4
            for purchase in purchases:  # each paid trip is in the history with its lines
                lines = sess.scalars(select(PurchaseLine).where(PurchaseLine.purchase_id == purchase.id)).all()
                assert lines and purchase.trip_id and purchase.total_minor > 0
            audits = list(sess.scalars(select(Audit).where(Audit.status.in_(("passed", "mismatch")))))
            assert audits and all(a.till_device_id is not None for a in audits)  # recorded at the till
            kinds = Counter(sess.scalars(select(TripEvent.kind)))
            assert kinds["help"] >= 1 and kinds["remove"] >= 1 and kinds["finish"] >= 4
            assert sess.scalar(select(func.count()).select_from(Feedback)) >= 1
            approvals = sess.execute(select(User.username).join(StaffAction, StaffAction.user_id == User.id)
                                     .where(StaffAction.kind == "age_ok")).scalars().all()
            assert approvals and set(approvals) == {STAFF[0]}  # the age checks, approved by the till's colleague
            assert sess.scalar(select(func.count()).select_from(Trip).where(Trip.status == "checked_out")) \
                == len(purchases)
            assert done["trips paid"] == len(purchases)
    finally:
        eng.dispose()


def test_a_trip_is_a_real_basket_cut_to_twenty_units() -> None:
    items = tuple(Item(i, f"{i:013d}", 4) for i in range(1, 8)) + (Item(9, "9" * 13, 1, True, "12345"),)
    basket = trip_basket(RealBasket(1, 2, "card", items))
    assert sum(i.quantity for i in basket.items) == 20
    assert [i.product_id for i in basket.items] == [1, 2, 3, 4, 5]


def test_shoppers_command_takes_its_secrets_from_the_environment_only() -> None:
    result = CliRunner().invoke(main, ["simulate", "shoppers", "--staff-user", "x"], env={"SHOPGO_SHOPPERS_TOKENS": ""})
    assert result.exit_code == 1
    assert "SHOPGO_SHOPPERS_TOKENS" in result.output
