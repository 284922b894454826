"""Shoppers: one thread per handheld replaying real baskets through the scanner and the screen.

A shopper keeps its own record of what it did (scans, removals, quantity changes): the
checks price that record independently and compare it with the till's receipt. Faults that
must land mid-trip (a kill, an unplugged scanner) are queued here and done between two scans,
so the record stays exactly what the shopper did.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from biip.checksums import gs1_standard_check_digit

from server.simulate.clients import Display, Json, Till
from server.simulate.processes import HandheldProc
from server.simulate.setup import Item, RealBasket

log = logging.getLogger(__name__)
SCAN_TIMEOUT_S = 10.0
FINISH_TIMEOUT_S = 120.0
CHECKOUT_TIMEOUT_S = 90.0


class Day:
    """The compressed store day: a clock since opening and the stop switch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stop = threading.Event()
        self.opened = time.monotonic()

    def open(self) -> None:
        """Opening time is now."""
        self.opened = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.opened

    def closed(self) -> bool:
        """No new trip starts after closing time (or an abort)."""
        return self.stop.is_set() or self.elapsed() >= self.seconds

    def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; False when the run was aborted."""
        return not self.stop.wait(max(0.0, seconds))


@dataclass
class Line:
    """A basket line as the shopper believes it is."""

    key: str
    gtin: str
    quantity: int
    weight_g: int | None = None


@dataclass
class TripRecord:
    """One shopper's trip, as the shopper saw and did it."""

    handheld: int
    basket: RealBasket
    trip_id: str | None = None
    lines: dict[str, Line] = field(default_factory=dict)
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    scans: int = 0
    rescans: int = 0
    finished: bool = False
    confirmed: bool = False
    shown_total: int | None = None
    receipt: Json | None = None
    audit_id: int | None = None
    cut_short: bool = False
    problems: list[str] = field(default_factory=list)


def weight_label(plu: str, grams: int) -> str:
    """An in-store weight label: 21 IIIII WWWWW K (the config's "weight" rule)."""
    body = f"21{int(plu):05d}{grams:05d}"
    return body + str(gs1_standard_check_digit(body))


class Shopper(threading.Thread):
    """Drives one handheld: card, items, the odd removal or change, finish, till, hand-in; then the next."""

    def __init__(self, hh: HandheldProc, day: Day, till: Till, next_basket: Callable[[], RealBasket | None],
                 done_basket: Callable[[RealBasket], None], gap: float, seed: int,
                 on_scan: Callable[[float, float], None], on_trip: Callable[[TripRecord], None],
                 on_fault: Callable[[str, int, float, float], None], arrive_after: float = 0.0) -> None:
        super().__init__(name=f"shopper-{hh.index}", daemon=True)
        self.arrive_after = arrive_after
        self.hh, self.day, self.till = hh, day, till
        self.next_basket, self.done_basket = next_basket, done_basket
        self.gap, self.rng = gap, random.Random(seed)
        self.on_scan, self.on_trip, self.on_fault = on_scan, on_trip, on_fault
        self.display = Display(hh.url)
        self.faults: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []

    def request(self, fault: str) -> None:
        """Ask for a fault ("kill" or "unplug") at the next point between two scans."""
        self.faults.put(fault)

    def run(self) -> None:
        self.day.sleep(self.arrive_after)
        while not self.day.closed():
            basket = self.next_basket()
            if basket is None:
                self.day.sleep(self.gap)
                continue
            record = TripRecord(self.hh.index, basket)
            try:
                self.shop(record)
            except Exception as exc:  # one broken trip is reported, and the handheld takes the next shopper
                log.exception("shopper %d", self.hh.index)
                record.problems.append(f"{type(exc).__name__}: {exc}")
            finally:
                self.done_basket(basket)
                self.on_trip(record)
            self.day.sleep(self.gap * self.rng.uniform(1, 3))
        self.display.close()
        self.till.close()

    # --- one trip ---------------------------------------------------------------------------------
    def shop(self, r: TripRecord) -> None:
        """One whole trip."""
        if self._free(30) is None:
            self._recover()  # a trip left over from a failed one: finish and hand it in, as staff would
            if self._free(30) is None:
                raise RuntimeError("the handheld is not free and ready")
        self.hh.scanner.scan(r.basket.card_number)
        state = self.display.wait(lambda s: s["trip_id"] is not None, SCAN_TIMEOUT_S)
        if state is None or state.get("card_number") != r.basket.card_number:
            raise RuntimeError(f"the card did not start a trip: {state and state.get('message')}")
        r.trip_id = state["trip_id"]
        for item in r.basket.items:
            for _ in range(item.quantity):
                if self.day.closed():
                    r.cut_short = True  # closing time: the shopper pays for what is in the basket
                    break
                self._scan(r, item)
                self._between_scans(r)
            if r.cut_short:
                break
        status, state = self.display.post("/api/finish", {"confirm": True})
        if status != 200:
            raise RuntimeError(f"finish refused ({status}): {state.get('message')}")
        r.finished, r.shown_total = True, int(state["total_minor"])
        r.actions.append(("finish",))
        done = self.display.wait(lambda s: bool((s.get("finish") or {}).get("confirmed_by_server")), FINISH_TIMEOUT_S)
        if done is None:
            r.problems.append("the server never confirmed the finish")
            self.display.post("/api/hand-in")  # the device keeps sending the finish after hand-in
            return
        r.confirmed = True
        findings = [{"gtin": ln.gtin, "expected": ln.quantity, "found": ln.quantity} for ln in r.lines.values()][:500]
        r.receipt, r.audit_id, error = self.till.checkout(r.trip_id, findings, time.monotonic() + CHECKOUT_TIMEOUT_S)
        if r.receipt is None:
            r.problems.append(f"checkout failed: {error}")
        status, state = self.display.post("/api/hand-in")
        if status != 200:
            r.problems.append(f"hand-in refused ({status}): {state.get('message')}")

    def _scan(self, r: TripRecord, item: Item) -> None:
        """Scan one unit (or one weight label) until the screen shows it, and note it in the record."""
        weight = self.rng.randrange(150, 2000) if item.weighed else None
        code = weight_label(item.plu or "0", weight) if weight is not None else item.gtin
        state: Json = {}
        for attempt in range(3):
            before = self.display.state()
            expect = before["item_count"] + 1
            self.display.send("GET", f"/api/state?after={before['version']}&wait=5")
            t0 = time.perf_counter()
            sent = self.hh.scanner.scan(code)
            _, state = self.display.answer()
            deadline = time.monotonic() + SCAN_TIMEOUT_S
            while sent and state["item_count"] < expect and time.monotonic() < deadline:
                _, state = self.display.call("GET", f"/api/state?after={state['version']}&wait=2")
            if sent and state["item_count"] >= expect:
                self.on_scan(time.perf_counter() - t0, self.day.elapsed())
                r.scans += 1
                self._note_scan(r, item, weight, before, state)
                return
            r.rescans += 1  # no beep: the shopper scans it again
            if not self.hh.scanner.plugged:
                self.day.sleep(0.5)
        message = (state.get("message") or {}).get("text") if isinstance(state.get("message"), dict) else None
        raise RuntimeError(f"{code} never showed on the screen after 3 scans (the screen says: {message!r}; "
                           f"scanner: {(state.get('scanner') or {}).get('status')!r}; see {self.hh.log})")

    def _note_scan(self, r: TripRecord, item: Item, weight: int | None, before: Json, after: Json) -> None:
        if weight is None:
            line = r.lines.get(item.gtin)
            r.lines[item.gtin] = Line(item.gtin, item.gtin, (line.quantity if line else 0) + 1)
            r.actions.append(("scan", item.gtin))
            return
        old = {ln["key"] for ln in before.get("lines") or []}
        new = [ln for ln in after.get("lines") or [] if ln["key"] not in old and ln["gtin"] == item.gtin]
        key = new[0]["key"] if new else f"label-{len(r.actions)}"
        r.lines[key] = Line(key, item.gtin, 1, weight)
        r.actions.append(("scan", item.gtin, weight))

    def _between_scans(self, r: TripRecord) -> None:
        """Sometimes change the basket on the screen; do a queued fault; then walk to the next shelf."""
        units = [ln for ln in r.lines.values() if ln.weight_g is None]
        roll = self.rng.random()
        if units and roll < 0.03:
            line = self.rng.choice(units)
            self._screen(r, f"/api/lines/{line.key}/remove", None, ("remove", line.key))
            del r.lines[line.key]
        elif units and roll < 0.06:
            line = self.rng.choice(units)
            qty = self.rng.choice([q for q in (0, 1, 2, 3) if q != line.quantity])
            self._screen(r, f"/api/lines/{line.key}/quantity", {"quantity": qty}, ("set_quantity", line.key, qty))
            if qty == 0:
                del r.lines[line.key]
            else:
                r.lines[line.key] = Line(line.key, line.gtin, qty)
        try:
            fault = self.faults.get_nowait()
        except queue.Empty:
            fault = None
        if fault is not None:
            self._fault(fault, r)
        self.day.sleep(self.gap * self.rng.uniform(0.5, 1.5))

    def _free(self, timeout: float) -> Json | None:
        return self.display.wait(lambda s: s["trip_id"] is None and bool(s["scanner"]["connected"]), timeout)

    def _screen(self, r: TripRecord, path: str, body: Json | None, action: tuple[Any, ...]) -> None:
        status, answer = self.display.post(path, body)
        if status != 200:
            raise RuntimeError(f"POST {path} refused ({status}): {answer.get('message')}")
        r.actions.append(action)

    # --- faults -----------------------------------------------------------------------------------
    def _fault(self, fault: str, r: TripRecord) -> None:
        start = time.monotonic()
        if fault == "kill":
            self.hh.kill()
            self.hh.spawn()
            self.hh.wait_ready()
            self.display.retarget(self.hh.url)
            state = self.display.wait(lambda s: bool(s["scanner"]["connected"]), 60)
            if state is None or state["trip_id"] != r.trip_id:
                raise RuntimeError("after the kill the handheld lost the trip")
            if state["item_count"] != sum(ln.quantity for ln in r.lines.values()):
                raise RuntimeError("after the kill the basket differs from what was scanned")
        elif fault == "unplug":
            self.hh.scanner.unplug()
            self.display.wait(lambda s: s["scanner"]["connected"] is False, 10)
            self.day.sleep(min(3.0, self.gap * 4))
            self.hh.scanner.replug()
            if self.display.wait(lambda s: bool(s["scanner"]["connected"]), 30) is None:
                raise RuntimeError("the scanner did not come back after replug")
        self.on_fault(fault, self.hh.index, start, time.monotonic())

    def _recover(self) -> None:
        """After a failed trip, get the handheld free for the next shopper (finish and hand in what is left)."""
        try:
            state = self.display.state()
            if state.get("status") == "active":
                self.display.post("/api/finish", {"confirm": True})
            self.display.post("/api/hand-in")
        except Exception as exc:  # the next trip reports it again if the handheld is truly stuck
            self.errors.append(f"recover: {exc}")
