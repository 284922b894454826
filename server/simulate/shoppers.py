"""`shopgo simulate shoppers`: a few shoppers who keep a store alive, gently paced (the demo's living store).

Each shopper holds a handheld run in this process (server/simulate/inprocess.py: the handheld's
own trip log, pricing and sync workers; no scanner port or display, the barcodes go through the
scanner's interpretation straight into the device) and replays a real member's real basket
from the imported history: the card, a scan every few seconds, now and then a removal, a
call for staff or a problem report, Finish; then the walk to the till, where the till (its
device token and a signed-in staff member, as in the store day) does the rescan the store
asks for, the age check and the payment; a pause, and the next member comes in.

The store server may restart or be slow: the handheld keeps the trip on disk and its sync
retries, the till retries, and a trip a stopped run left on a handheld is finished and paid
by the next run. Waits are divided by `speed` (the tests run them fast).
"""
from __future__ import annotations

import hashlib
import logging
import random
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from handheld.client import ApiClient, Offline, Refused
from handheld.device import PROBLEMS
from server.simulate.clients import Json, Till
from server.simulate.inprocess import InProcessHandheld
from server.simulate.run import BasketQueue
from server.simulate.setup import Item, RealBasket, real_baskets
from server.simulate.shopper import weight_label

log = logging.getLogger(__name__)
# Paced so that most of the time a shopper is shopping: three shoppers keep two trips or so live.
SCAN_GAP_S = (3.0, 7.0)          # from one shelf to the next
TILL_WALK_S = (8.0, 20.0)        # from Finish to the till: a rescan waits in the audit queue meanwhile
BETWEEN_TRIPS_S = (5.0, 20.0)    # until the shopper's next member comes in
ARRIVALS_S = 25.0                # the shoppers' first arrivals are this far apart
ITEMS = (8, 20)                  # units a trip scans: shorter baskets only when there are no longer ones
BASKETS = 300                    # real baskets to choose from
TILL_TRIES = 10                  # rounds of a minute at the till before the trip is left for staff
NOTES = {"missing": "The shelf was empty.", "wrong_price": "The shelf label shows a lower price.",
         "damaged": "The pack was torn.", "other": "A trolley wheel is stuck."}


@dataclass(frozen=True)
class ShoppersOptions:
    """Who shops where, how fast, and how often something happens."""

    store_url: str
    tokens: tuple[str, ...]        # one handheld per shopper
    till_token: str
    staff: tuple[str, str]         # the till's staff member: user name, password
    data_dir: Path                 # each handheld's log and catalogue cache, kept between runs
    database_url: str              # where the real baskets are read
    seed: int = 1
    speed: float = 1.0             # every wait is divided by this
    backoff_max: float = 5.0       # the handhelds' longest wait between failed syncs
    help_chance: float = 0.1       # per trip: the shopper calls for staff
    problem_chance: float = 0.1    # per trip: the shopper reports a problem
    remove_chance: float = 0.03    # per scan: the shopper takes an item out again
    forgot_chance: float = 0.25    # per rescan: the colleague finds one item more than was scanned


def trip_basket(basket: RealBasket, most: int = ITEMS[1]) -> RealBasket:
    """The basket cut to at most `most` units, its lines in the order they were bought."""
    items: list[Item] = []
    left = most
    for item in basket.items:
        if left <= 0:
            break
        units = 1 if item.weighed else min(item.quantity, left)
        items.append(replace(item, quantity=units))
        left -= units
    return replace(basket, items=tuple(items))


def load_baskets(database_url: str, seed: int) -> list[RealBasket]:
    """Real members' real baskets of the imported history, longer ones first choice, cut to a trip's size."""
    from db.session import make_engine, make_session_factory

    eng = make_engine(database_url)
    try:
        with make_session_factory(eng)() as session:
            baskets, _ = real_baskets(session, BASKETS, random.Random(seed), replayable=False)
    finally:
        eng.dispose()
    long = [b for b in baskets if sum(i.quantity for i in b.items) >= ITEMS[0]]
    return [trip_basket(b) for b in (long or baskets)]


class Shopper(threading.Thread):
    """One shopper after another on one handheld: shop, pay at the till, hand the handheld in."""

    def __init__(self, index: int, hh: InProcessHandheld, till: Till, baskets: BasketQueue,
                 options: ShoppersOptions, stop: threading.Event, tally: Counter[str], lock: threading.Lock) -> None:
        super().__init__(name=f"shopper-{index}", daemon=True)
        self.index, self.hh, self.till, self.baskets = index, hh, till, baskets
        self.options, self.stop, self.tally, self.lock = options, stop, tally, lock
        self.rng = random.Random(options.seed * 1_000_003 + index)

    def pause(self, seconds: tuple[float, float] | float) -> bool:
        """Wait (a random time within a range), paced by the speed; False once stopped."""
        wait = self.rng.uniform(*seconds) if isinstance(seconds, tuple) else seconds
        return not self.stop.wait(wait / self.options.speed)

    def count(self, what: str) -> None:
        with self.lock:
            self.tally[what] += 1

    def run(self) -> None:
        try:
            if not self.pause(ARRIVALS_S * self.index):
                return
            while not self.hh.catalogue_sync.loaded.is_set():  # a first run downloads the catalogue
                if self.stop.wait(0.5):
                    return
            while not self.stop.is_set():
                left = self.hh.device.state()["trip_id"]
                basket = None if left is not None else self.baskets.take()
                if left is None and basket is None:  # every member is in the store already
                    self.pause(5.0)
                    continue
                try:
                    if left is not None:  # an earlier run (or a failed trip) left it: finish and pay it first
                        log.info("shopper %d: paying for trip %s, left on the handheld", self.index, left)
                        self.pay(left)
                    elif basket is not None:
                        self.shop(basket)
                except Exception:  # one broken trip is logged; the next member still comes
                    log.exception("shopper %d: the trip %s went wrong", self.index,
                                  left or f"of card {basket.card_number if basket else '?'}")
                finally:
                    if basket is not None:
                        self.baskets.done(basket)
                if left is None:  # (after a trip left over, the next member is waiting already)
                    self.pause(BETWEEN_TRIPS_S)
        finally:
            self.till.close()

    def shop(self, basket: RealBasket) -> None:
        """One trip: the card, every item (now and then a removal, a help call, a problem report), the till."""
        if not self.hh.scan(basket.card_number):
            log.warning("shopper %d: the card %s was refused: %s", self.index, basket.card_number,
                        (self.hh.device.state().get("message") or {}).get("text"))
            return
        trip_id = self.hh.device.state()["trip_id"]
        codes = [weight_label(item.plu or "0", self.rng.randrange(150, 2000)) if item.weighed else item.gtin
                 for item in basket.items for _ in range(item.quantity)]
        help_at = self.rng.randrange(len(codes)) if self.rng.random() < self.options.help_chance else None
        problem_at = self.rng.randrange(len(codes)) if self.rng.random() < self.options.problem_chance else None
        for i, code in enumerate(codes):
            if not self.pause(SCAN_GAP_S):
                return  # stopped: the trip stays on the handheld, and the next run pays it
            if self.hh.scan(code):  # a refused item (withdrawn since) goes back on the shelf
                self.count("scans")
            if i == help_at:
                self.hh.device.call_staff()
                self.count("help calls")
            if i == problem_at:
                self.report_problem()
            elif self.rng.random() < self.options.remove_chance:
                self.remove_one()
        self.pay(trip_id)

    def report_problem(self) -> None:
        kind = self.rng.choice(PROBLEMS)
        lines = self.hh.device.state()["lines"]
        key = self.rng.choice(lines)["key"] if lines and kind in ("wrong_price", "damaged") else None
        self.hh.device.report_problem(kind, key, NOTES[kind])
        self.count("problem reports")

    def remove_one(self) -> None:
        lines = self.hh.device.state()["lines"]
        if len(lines) >= 2:  # never the last one: an empty trip is no purchase
            self.hh.device.remove(self.rng.choice(lines)["key"])
            self.count("removals")

    def pay(self, trip_id: str) -> None:
        """Finish (if not yet), walk to the till, have the till check the trip out, hand the handheld in."""
        state = self.hh.device.state()
        if state["status"] == "active":
            self.hh.device.finish(True)
            state = self.hh.device.state()
        if not self.pause(TILL_WALK_S):
            return
        answer = self.finish_answer(trip_id)
        if answer is None:
            return
        if answer.get("error") or answer.get("status") not in ("finished", "checked_out"):
            log.info("shopper %d: nothing to pay for trip %s (%s)", self.index, trip_id,
                     answer.get("error") or f"the store says it is {answer.get('status')}")
            self.hh.device.hand_in()
            return
        receipt, audit_id, error = None, None, ""
        findings = self.findings(state["lines"])
        for _ in range(TILL_TRIES):
            receipt, audit, error = self.till.checkout(trip_id, findings, time.monotonic() + 60, self.stop)
            audit_id = audit_id or audit
            if receipt is not None or self.stop.is_set():
                break
            log.warning("shopper %d: the till could not check trip %s out yet (%s)", self.index, trip_id, error)
        if receipt is None:
            if not self.stop.is_set():
                log.error("shopper %d: trip %s left at the till for staff: %s", self.index, trip_id, error)
                self.hh.device.hand_in()
            return
        self.hh.device.hand_in()
        self.count("trips paid")
        if audit_id:
            self.count("rescans")
        name = (state.get("member") or {}).get("name") or "a guest"
        log.info("shopper %d: %s paid %s for %d items%s (trip %s)", self.index, name,
                 self.hh.money(int(receipt["total_minor"])), int(receipt.get("item_count") or 0),
                 f", after a rescan (audit {audit_id})" if audit_id else "", trip_id)

    def findings(self, lines: list[Json]) -> list[Json]:
        """What a colleague counts in the bag at a rescan: what was scanned, now and then one item more."""
        counts: dict[str, int] = {}
        for line in lines:
            counts[line["gtin"]] = counts.get(line["gtin"], 0) + int(line["quantity"])
        units = [line["gtin"] for line in lines if not line["is_label"]]
        found = dict(counts)
        if units and self.rng.random() < self.options.forgot_chance:
            found[self.rng.choice(units)] += 1  # the shopper forgot to scan one
        return [{"gtin": g, "expected": counts[g], "found": n} for g, n in found.items()]

    def finish_answer(self, trip_id: str) -> Json | None:
        """The store's answer to the finish, once the handheld's sync has it (None when stopped)."""
        warn_at = time.monotonic() + 30
        while not self.stop.is_set():
            trip = self.hh.store.trip(trip_id)
            if trip is None:
                return {"status": "unknown", "error": "the handheld does not hold the trip"}
            if trip.finish_answer is not None:
                return trip.finish_answer
            if time.monotonic() > warn_at:  # the store is down or slow: the handheld's sync keeps trying
                log.warning("shopper %d: still waiting for the store to take the finish of trip %s", self.index,
                            trip_id)
                warn_at = time.monotonic() + 30
            self.stop.wait(0.2)
        return None


def provision(handhelds: list[InProcessHandheld], store_url: str, token: str) -> None:
    """One download of the whole catalogue for every handheld without one (as devices are provisioned from
    an image); if the store cannot be reached now, each handheld's catalogue sync fetches its own later."""
    if not handhelds:
        return
    client = ApiClient(store_url, token, timeout=60)
    try:
        answer = client.catalogue(None, None)
    except (Offline, Refused) as exc:
        log.warning("the catalogue could not be fetched yet (%s): each handheld will fetch it", exc)
        return
    finally:
        client.close()
    for hh in handhelds:
        hh.catalogue.apply(answer.body, answer.headers.get("etag"))


def device_folder(data_dir: Path, token: str) -> Path:
    """A handheld's folder, named after its token: a new token (a new device) starts a fresh log."""
    return data_dir / f"shopper-{hashlib.sha256(token.encode()).hexdigest()[:10]}"


def run_shoppers(cfg: Mapping[str, Any], options: ShoppersOptions, stop: threading.Event) -> Counter[str]:
    """Run the shoppers until `stop` is set; what they did (trips paid, rescans, scans, ...)."""
    tally: Counter[str] = Counter()
    baskets = load_baskets(options.database_url, options.seed)
    if not baskets:
        log.error("no member basket in the imported history to replay: no shoppers today")
        return tally
    folders = {device_folder(options.data_dir, token) for token in options.tokens}
    for old in options.data_dir.glob("shopper-*"):
        if old not in folders:  # a device that is no more (its token was replaced)
            shutil.rmtree(old, ignore_errors=True)
    queue, lock = BasketQueue(baskets), threading.Lock()
    handhelds: list[InProcessHandheld] = []
    shoppers: list[Shopper] = []
    try:
        for token in options.tokens:
            handhelds.append(InProcessHandheld(cfg, device_folder(options.data_dir, token), options.store_url,
                                               token, options.backoff_max))
        provision([hh for hh in handhelds if hh.catalogue.version is None], options.store_url, options.tokens[0])
        for i, hh in enumerate(handhelds):
            hh.start()
            shoppers.append(Shopper(i, hh, Till(options.store_url, options.till_token, options.staff), queue,
                                    options, stop, tally, lock))
        log.info("%d shoppers in the store at %s, %d real baskets of %d members to shop", len(shoppers),
                 options.store_url, len(baskets), len({b.member_id for b in baskets}))
        for shopper in shoppers:
            shopper.start()
        stop.wait()
    finally:
        stop.set()
        for shopper in shoppers:
            shopper.join(30)
        for hh in handhelds:
            hh.stop()
    log.info("stopped: %s", ", ".join(f"{n} {what}" for what, n in sorted(tally.items())) or "nothing done")
    return tally
