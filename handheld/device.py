"""The handheld's trip: scans and screen actions become logged events; the screen state is their fold.

Every action appends its event (committed, durable) before the state the screen sees
changes. The basket is `shop.basket.fold` of the trip's log priced by
`shop.pricing.price_basket` with the cached catalogue, so the device, the checkout and
the tests share one pricing function. Listeners (the SSE streams) get each new state.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

from firmware_bridge import BarcodeSettings, Scan
from handheld.catalogue import Catalogue
from handheld.pricer import IncrementalPricer
from handheld.scanning import Resolved, resolve
from handheld.state import LineViews, RunningBasket, compute_state, is_member, personal_offers, state_json
from handheld.store import LocalStore, LoggedEvent, TripRow
from shop.money import format_money as money_text
from shop.pricing import PricingRules, ScanNote, scan_note

MAX_QUANTITY = 99
PROBLEMS = ("missing", "wrong_price", "damaged", "other")
CONSENT_PURPOSES = ("personal_offers", "email_receipts", "marketing")  # "missing": out of stock on the shelf
CLOSED = ""  # put on a subscriber's queue when the display shuts down: the stream ends


class ActionError(Exception):
    """A screen action that cannot be done now; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class SyncStatus:
    """What the sync worker last learned about the network."""

    offline: bool = False
    last_error: str | None = None


class Handheld:
    """One device: the bound trip, its event log in memory, the current screen state."""

    def __init__(self, store: LocalStore, catalogue: Catalogue, barcodes: BarcodeSettings, *,
                 currency: str = "GBP", exponent: int = 2, pricing_rules: Any = None) -> None:
        self.store, self.catalogue, self.barcodes = store, catalogue, barcodes
        self.currency, self.exponent = currency, exponent
        self.pricing_rules = pricing_rules
        self.sync = SyncStatus()
        self.wake_sync: Callable[[str], None] = lambda reason: None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._listeners: set[queue.Queue[str]] = set()
        self._message: dict[str, Any] | None = None
        self._scanner: dict[str, Any] = {"connected": None, "status": "no scanner"}
        self._version = 0
        self._closing = False
        self.trip: TripRow | None = store.current_trip()
        self.events: list[LoggedEvent] = store.trip_events(self.trip.id) if self.trip else []
        self.server_events: list[LoggedEvent] = store.server_events(self.trip.id) if self.trip else []
        self.basket = RunningBasket(self.events + self.server_events)
        self._pricer = IncrementalPricer()
        self._views = LineViews()
        self._repair_finish()
        self._state: dict[str, Any] = {}
        self._state_json = ""
        self._publish()

    # --- the scanner ------------------------------------------------------------------------
    def on_scan(self, scan: Scan) -> bool:
        """Handle one read from the bridge; True is a good read, False a bad read."""
        with self._lock:
            if scan.kind == "loyalty_card":
                return self._card(scan)
            if self.trip is None:
                return self._refuse("Scan your loyalty card, or press 'Shop as guest', to start.")
            if self.trip.status != "active":
                return self._refuse("This trip is finished. Please hand the scanner in.")
            found = resolve(scan, self.catalogue, self.barcodes)
            if not isinstance(found, Resolved):
                return self._refuse(found)
            if found.product.gtin in self._voided():
                # the server's void sorts after every scan of this trip: a new scan could not add it back
                return self._refuse(f"Staff removed {found.product.name} from this trip; it cannot be added again.")
            self._append("scan", found.payload)
            if found.product.min_age:
                self._say(f"{found.product.name}: a colleague will check your ID at the till "
                          f"(age {found.product.min_age}+).", "age")
            else:
                self._message = None
            self._publish()
            note = self._scan_note(found.product.gtin, found.payload)
            if note is not None and not found.product.min_age:
                self._say(note.text.format(saving=money_text(note.saving_minor, self.currency, self.exponent)),
                          "offer" if note.applies else "info")
                self._publish()
            return True

    def _card(self, scan: Scan) -> bool:
        if self.trip is not None:
            if self.trip.status == "active" and scan.gtin == self.trip.card_number:
                return self._refuse("You are already shopping with this card.")
            return self._refuse("This scanner is in use: finish the trip and hand it in first.")
        self._begin(scan.gtin)
        return True

    def start_guest(self) -> dict[str, Any]:
        """Start a guest trip (no loyalty card)."""
        with self._lock:
            if self.trip is not None:
                raise ActionError(409, "a trip is already running on this scanner; finish and hand it in first")
            self._begin(None)
            return self._state

    def _begin(self, card_number: str | None) -> None:
        self.trip = self.store.start_trip(card_number)
        self.events, self.server_events, self.basket = [], [], RunningBasket()
        self._say("Welcome! Scan your first item." if card_number else "Shopping as a guest. Scan your first item.",
                  "info")
        self._publish()
        self.wake_sync("trip")

    # --- the screen ---------------------------------------------------------------------------
    def remove(self, key: str) -> dict[str, Any]:
        """Remove a whole line."""
        with self._lock:
            self._line(key)
            self._append("remove", {"key": key})
            self._message = None
            self._publish()
            return self._state

    def set_quantity(self, key: str, quantity: Any) -> dict[str, Any]:
        """Set a line's quantity (0 removes it)."""
        with self._lock:
            if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
                raise ActionError(400, f"quantity must be a whole number from 0 to {MAX_QUANTITY}, not {quantity!r}")
            line = self._line(key)
            if line["is_label"] and quantity != 0:
                raise ActionError(409, "a weighed or price-labelled item stays at 1; remove it instead")
            self._append("set_quantity", {"key": key, "quantity": quantity})
            self._message = None
            self._publish()
            return self._state

    def finish(self, confirmed: bool) -> dict[str, Any]:
        """Finish the trip once the shopper confirmed they scanned everything."""
        with self._lock:
            trip = self._active()
            if confirmed is not True:
                raise ActionError(400, "confirm first: did you scan everything? (send {\"confirm\": true})")
            total, count = self._state["total_minor"], self._state["item_count"]
            with self.store.transaction():
                shown = [{"key": x["key"], "gtin": x["gtin"], "quantity": x["quantity"], "net_minor": x["net_minor"]}
                         for x in self._state["lines"]]  # what the till compares its bill with
                self._append("finish", {"handheld_total_minor": total, "item_count": count, "lines": shown},
                             publish=False)
                request = {"handheld_total_minor": total, "event_count": len(self.events)}
                self.store.update_trip(trip.id, status="finished", finish_request=request)
            self.trip = self.store.trip(trip.id)
            if count:
                self._say("Thank you! Show this code at the till.", "info")
            else:
                self._say("Your basket is empty, so there is nothing to pay. Please hand the scanner in.", "info")
            self._publish()
            self.wake_sync("finish")
            return self._state

    def call_staff(self) -> dict[str, Any]:
        """The shopper asks for a colleague: a `help` event, shown on the staff's live trips until cleared."""
        with self._lock:
            self._active()
            if self._help_waiting():
                self._say("A colleague is already on the way.", "info")
            else:
                self._append("help", {})
                self._say("A colleague is on the way. Carry on shopping; they will find you.", "info")
            self._publish()
            return self._state

    def report_problem(self, kind: Any, key: Any = None, message: Any = None) -> dict[str, Any]:
        """The shopper reports a problem (out of stock, wrong price, damaged item, other), about a line
        of the basket or not: a `feedback` event, which reaches the staff's feedback queue."""
        with self._lock:
            self._active()
            if kind not in PROBLEMS:
                raise ActionError(400, f"say what the problem is: one of {', '.join(PROBLEMS)}")
            if message is not None and (not isinstance(message, str) or len(message) > 500):
                raise ActionError(400, "the note must be text of at most 500 characters")
            payload: dict[str, Any] = {"kind": kind, "message": (message or "").strip()}
            if key is not None:
                payload["gtin"] = self._line(str(key))["gtin"]
            self._append("feedback", payload)
            self._say("Thank you: your report has gone to the staff.", "info")
            self._publish()
            return self._state

    def set_consents(self, answers: Any) -> dict[str, Any]:
        """The member gives or withdraws consent per purpose: a `consent` event each, which the store
        records; withdrawing personal offers takes effect from the next trip."""
        with self._lock:
            trip = self._active()
            member = dict(trip.member or {})
            if not member:
                raise ActionError(409, "consent belongs to a member: this trip has no loyalty card")
            if not isinstance(answers, dict) or not answers or any(
                    k not in CONSENT_PURPOSES or not isinstance(v, bool) for k, v in answers.items()):
                raise ActionError(400, f"send {{purpose: true|false}} for purposes among {', '.join(CONSENT_PURPOSES)}")
            if answers.get("email_receipts") and not member.get("email_known", True):
                raise ActionError(409, "e-mail receipts need an e-mail address: ask at the till to add one")
            held = dict(member.get("consents") or {})
            changed = {k: v for k, v in answers.items() if held.get(k) != v}
            with self.store.transaction():
                for purpose, given in changed.items():
                    self._append("consent", {"purpose": purpose, "given": given}, publish=False)
                self.store.update_trip(trip.id, member={**member, "consents": {**held, **changed}})
            self.trip = self.store.trip(trip.id)
            withdrawn = changed.get("personal_offers") is False
            self._say("Saved. You get no personal offers from your next trip." if withdrawn else "Saved.", "info")
            self._publish()
            self.wake_sync("consent")
            return self._state

    def hand_in(self) -> dict[str, Any]:
        """Release the scanner after a finished trip, ready for the next shopper."""
        with self._lock:
            if self.trip is None:
                raise ActionError(409, "no trip to hand in")
            if self.trip.status != "finished":
                raise ActionError(409, "finish the trip before handing the scanner in")
            self.store.update_trip(self.trip.id, status="handed_in")
            self.trip, self.events, self.server_events, self._message = None, [], [], None
            self.basket = RunningBasket()
            self._publish()
            return self._state

    def scanner_status(self, message: str) -> None:
        """The bridge's connection news (runs on the bridge's reader thread)."""
        with self._lock:
            self._scanner = {"connected": message.startswith("connected"), "status": message}
            self._publish()

    # --- the sync worker ------------------------------------------------------------------------
    def sync_changed(self, offline: bool, error: str | None = None) -> None:
        """The worker's news: network state, sent events, server answers about the trip."""
        with self._lock:
            self.sync = SyncStatus(offline, error)
            if self.trip is not None:
                was_rejected = self.trip.card_rejected
                self.trip = self.store.trip(self.trip.id)
                if self.trip is not None and self.trip.card_rejected and not was_rejected:
                    self._say("Card not recognised: shopping as a guest.", "warning")
            self._publish()

    def server_events_arrived(self, trip_id: str, events: list[dict[str, Any]]) -> None:
        """Events the store server made for this trip (a staff void or age check): fold them in, say so."""
        with self._lock:
            try:
                added = self.store.add_server_events(trip_id, events)
            except (KeyError, TypeError, ValueError):
                return  # an answer this device cannot read changes nothing here; the till has the record
            if not added or self.trip is None or self.trip.id != trip_id:
                return
            names = [line["name"] for e in added if e.kind == "remove"
                     for line in self._state.get("lines", []) if line["key"] == e.payload.get("key")]
            self.server_events += added
            self.basket = RunningBasket(self.events + self.server_events)
            if names:
                self._say(f"Staff removed {', '.join(names)} from your trip.", "warning")
            elif any(e.kind == "age_ok" for e in added):
                self._say("Age check done by staff: thank you.", "info")
            elif any(e.kind == "help_done" for e in added):
                self._say("A colleague has answered your call.", "info")
            self._publish()

    def _age_ok_up_to(self) -> int:
        """Staff checked the shopper's age for lines last changed at or before this sequence number."""
        marks = [e.payload.get("up_to_seq") for e in self.server_events if e.kind == "age_ok"]
        return max((m for m in marks if isinstance(m, int) and not isinstance(m, bool)), default=-1)

    def _help_waiting(self) -> bool:
        """The shopper called for staff and no colleague has cleared the call since."""
        last = max((e.seq for e in self.events if e.kind == "help"), default=None)
        done = max((int(e.payload.get("up_to_seq", -1)) for e in self.server_events if e.kind == "help_done"),
                   default=-1)
        return last is not None and last > done

    def _voided(self) -> set[str]:
        return {str(e.payload.get("key")) for e in self.server_events if e.kind == "remove"}

    # --- state --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The screen state (what GET /api/state answers)."""
        with self._lock:
            return self._state

    def state_json(self) -> str:
        """The screen state serialised once per change."""
        with self._lock:
            return self._state_json

    def wait_newer(self, version: int, timeout: float) -> str:
        """The state JSON once its version is above `version` (or the current one after `timeout`)."""
        with self._changed:
            self._changed.wait_for(lambda: self._version > version or self._closing, timeout)
            return self._state_json

    def subscribe(self) -> queue.Queue[str]:
        """A queue that receives the state JSON after every change (starting with the current one)."""
        q: queue.Queue[str] = queue.Queue()
        with self._lock:
            self._listeners.add(q)
            q.put(self._state_json)
        return q

    def close_streams(self) -> None:
        """End every state stream and long poll (the display is shutting down)."""
        with self._lock:
            self._closing = True
            for q in self._listeners:
                q.put(CLOSED)
            self._changed.notify_all()

    def unsubscribe(self, q: queue.Queue[str]) -> None:
        """Stop sending states to `q`."""
        with self._lock:
            self._listeners.discard(q)

    def refresh(self) -> None:
        """Recompute the state (after a catalogue update) and tell the listeners."""
        with self._lock:
            self._publish()

    # --- helpers --------------------------------------------------------------------------------
    def _append(self, kind: str, payload: dict[str, Any], publish: bool = True) -> LoggedEvent:
        assert self.trip is not None
        ev = self.store.append(self.trip.id, kind, payload)  # durable before the screen changes
        self.events.append(ev)
        self.basket.add(ev)
        if publish:
            self.wake_sync("event")
        return ev

    def _active(self) -> TripRow:
        if self.trip is None:
            raise ActionError(409, "no trip is running: scan a loyalty card or start as a guest")
        if self.trip.status != "active":
            raise ActionError(409, "this trip is finished; hand the scanner in")
        return self.trip

    def _line(self, key: str) -> dict[str, Any]:
        self._active()
        for line in self._state["lines"]:
            if line["key"] == key:
                return line
        raise ActionError(404, f"no line {key!r} in the basket")

    def _scan_note(self, gtin: str, payload: dict[str, Any]) -> ScanNote | None:
        """What to tell the shopper about the line a scan changed: their offer applies (or why
        not), or a multi-buy is one item short."""
        key = gtin if "weight_g" not in payload and "label_price_minor" not in payload else self.events[-1].id
        line = next((x for x in self.basket.lines if x.key == key), None)
        info = self.catalogue.prices([gtin]).get(gtin)
        priced_basket = self._pricer.last
        if line is None or info is None or priced_basket is None or self.trip is None:
            return None
        priced = next((x for x in priced_basket.lines if x.key == key), None)
        offer = next((o for o in personal_offers(self.trip) if o.product_id == info.product_id), None)
        return scan_note(line, info, self.catalogue.promotions_for([info]), offer, priced,
                         priced_basket.offers_applied, member=is_member(self.trip),
                         rules=self.pricing_rules or PricingRules())

    def _refuse(self, text: str) -> bool:
        self._say(text, "error")
        self._publish()
        return False

    def _say(self, text: str, level: str) -> None:
        self._message = {"text": text, "level": level, "id": self._version + 1}

    def _repair_finish(self) -> None:
        """A kill between logging the finish event and marking the trip is healed from the log."""
        trip = self.trip
        if trip is not None and trip.status == "active" and any(e.kind == "finish" for e in self.events):
            finish = next(e for e in self.events if e.kind == "finish")
            request = {"handheld_total_minor": finish.payload.get("handheld_total_minor", 0),
                       "event_count": len(self.events)}
            self.store.update_trip(trip.id, status="finished", finish_request=request)
            self.trip = self.store.trip(trip.id)

    def _publish(self) -> None:
        self._version += 1
        pending = self.store.pending_count()
        self._state = compute_state(self.trip, self.events, self.catalogue, pricing_rules=self.pricing_rules,
                                    offline=self.sync.offline, pending=pending, message=self._message,
                                    version=self._version, currency=self.currency, exponent=self.exponent,
                                    lines=self.basket.lines, pricer=self._pricer, age_ok_up_to=self._age_ok_up_to(),
                                    views=self._views)
        self._state["scanner"] = self._scanner
        self._state["help"] = self._help_waiting()
        self._state_json = state_json(self._state, self._views)
        for q in list(self._listeners):
            q.put(self._state_json)
        with self._changed:  # re-entrant: callers usually hold the lock already
            self._changed.notify_all()
