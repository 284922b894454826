"""Background workers: the event sync (trips, event batches, finish) and the catalogue refresh.

Events are marked sent only when the server lists them as stored or duplicate, which it
does once its commit is on disk, so a lost answer means a resend that the server
deduplicates by event id: every event reaches the server exactly once in effect.
Failures back off exponentially (capped); the screen shows "offline" while the server
cannot be reached.
"""
from __future__ import annotations

import logging
import random
import threading
import time

from handheld.catalogue import Catalogue
from handheld.client import ApiClient, Offline, Refused
from handheld.device import Handheld
from handheld.store import LocalStore, TripRow

log = logging.getLogger(__name__)
CHECKPOINT_EVERY_S = 5.0
CHECKPOINT_IDLE_S = 1.0  # no commit for this long: the shopper is not scanning
CHECKPOINT_WAL_BYTES = 16 << 20  # ... or the log has grown this big (a 300-scan trip writes about 6 MB)


def checkpoint_due(now: float, last_checkpoint: float, last_write: float, wal_bytes: int) -> bool:
    """Whether to checkpoint the event log now.

    A checkpoint writes the log's pages into the database file and fsyncs it; during a burst
    of scans that disk work would queue in front of each scan's own fsync'ed commit, so it
    waits for a quiet second unless the log has grown large.
    """
    if now - last_checkpoint < CHECKPOINT_EVERY_S:
        return False
    return now - last_write >= CHECKPOINT_IDLE_S or wal_bytes >= CHECKPOINT_WAL_BYTES



class Worker:
    """A daemon thread that runs `step()` when woken or every `interval`, backing off on Offline."""

    name = "worker"

    def __init__(self, interval: float, backoff_max: float) -> None:
        self.interval, self.backoff_max = interval, backoff_max
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name=f"handheld-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def wake(self) -> None:
        """Run soon (ignored while backing off after a failure, so a dead network is not hammered)."""
        if self.failures == 0:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                again = self.step()
                self.failures = 0
                self.reached(None)
            except Offline as exc:
                self.failures += 1
                again = False
                self.reached(str(exc))
            except Exception:  # a bug must not kill the only thread that delivers events
                log.exception("%s step failed", self.name)
                self.failures += 1
                again = False
            if again:
                continue
            delay = self.interval
            if self.failures:
                delay = min(self.backoff_max, self.interval * 2 ** min(self.failures, 16)) * random.uniform(0.8, 1.0)
            self._wake.wait(delay)

    def step(self) -> bool:
        """Do one round of work; True when there is more to do at once."""
        raise NotImplementedError

    def reached(self, error: str | None) -> None:
        """Called after each round: None when the server answered, else why not."""


class EventSync(Worker):
    """Creates trips on the server, sends unsent events in batches, then sends the finish."""

    name = "sync"

    def __init__(self, handheld: Handheld, client: ApiClient, *, interval: float = 1.0, backoff_max: float = 15.0,
                 batch_size: int = 200, staff_poll: float = 3.0) -> None:
        super().__init__(interval, backoff_max)
        self.handheld, self.client, self.batch_size = handheld, client, batch_size
        self.staff_poll = staff_poll  # seconds between asks for what staff did, while nothing is sent
        self._polled = 0.0
        self.store: LocalStore = handheld.store
        self._changed = False  # something the screen shows changed this round
        self._contacted = False  # a request was made this round (else "online" is not known)
        self._checkpointed = 0.0
        self._isolate_to = 0  # events up to this seq go one per request

    def reached(self, error: str | None) -> None:
        offline = error is not None
        if self._contacted or offline:
            if offline != self.handheld.sync.offline or self._changed:
                self.handheld.sync_changed(offline, error)
        elif self._changed:
            self.handheld.sync_changed(self.handheld.sync.offline)
        self._changed = self._contacted = False

    def step(self) -> bool:
        now = time.monotonic()
        if checkpoint_due(now, self._checkpointed, self.store.last_write, self.store.wal_bytes()):
            self._checkpointed = now
            self.store.checkpoint()
        for trip in self.store.trips_needing_server():
            if not trip.on_server:
                self._create(trip)
        more = self._send_batch()
        for trip in self.store.trips_needing_server():
            if trip.on_server and trip.finish_request is not None and not self._unsent_of(trip.id):
                self._finish(trip)
        if not more:
            self._poll_staff(now)
        return more

    def _poll_staff(self, now: float) -> None:
        """While the shopper is not scanning, ask now and then what staff did to the trip (a void, an
        age check, a cleared help call), so it shows without waiting for the next scan."""
        trip = self.handheld.trip
        if trip is None or trip.status != "active" or not trip.on_server or now - self._polled < self.staff_poll \
                or self._unsent_of(trip.id):
            return
        self._polled = now
        after = max((e.seq for e in self.store.server_events(trip.id)), default=0)
        self._contacted = True
        try:
            events = self.client.staff_events(trip.id, after)
        except Refused as exc:
            log.warning("server refused the staff events of trip %s: %s", trip.id, exc)
            return
        if events:
            self.handheld.server_events_arrived(trip.id, events)

    def _create(self, trip: TripRow) -> None:
        card = None if trip.card_rejected else trip.card_number
        self._contacted = True
        try:
            answer = self.client.create_trip(trip.id, card, trip.started_at)
        except Refused as exc:
            if exc.status == 404 and card is not None:
                # An unknown card: the trip goes on as a guest trip rather than being lost.
                self.store.update_trip(trip.id, card_rejected=1)
                self._changed = True
                return self._create(self.store.trip(trip.id) or trip)
            log.error("server refused trip %s: %s", trip.id, exc)
            return None
        self.store.update_trip(trip.id, on_server=1, member=answer.get("member"), offers=answer.get("offers") or [])
        self._changed = True
        return None

    def _unsent_of(self, trip_id: str) -> int:
        return int(self.store.execute("SELECT COUNT(*) FROM events WHERE trip_id = ? AND sent = 0",
                                      (trip_id,)).fetchone()[0])

    def _send_batch(self) -> bool:
        unsent = self.store.unsent(self.batch_size)
        if not unsent:
            return False
        trip_id = unsent[0].trip_id
        trip = self.store.trip(trip_id)
        if trip is None or not trip.on_server:
            return False  # created on the next round
        batch = [e for e in unsent if e.trip_id == trip_id]
        if batch[0].seq <= self._isolate_to:
            batch = batch[:1]  # after a refused batch: one at a time, so one bad event cannot sink the rest
        self._contacted = True
        try:
            answer = self.client.send_events(trip_id, [e.wire() for e in batch])
        except Refused as exc:
            if exc.status == 404:
                self.store.update_trip(trip_id, on_server=0)
                return True
            if len(batch) > 1:
                self._isolate_to = batch[-1].seq
                return True
            # 409 (checked out) or an event the server cannot read: resending cannot help; keep it flagged.
            log.error("server refused event %s of trip %s: %s", batch[0].id, trip_id, exc)
            self.store.execute("UPDATE events SET sent = 2 WHERE id = ?", (batch[0].id,))
            self._changed = True
            return True
        acked = set(answer.get("stored", [])) | set(answer.get("duplicates", []))
        ids = [e.id for e in batch if e.id in acked]
        self.store.acknowledge(ids)
        self._changed = True
        if answer.get("staff_events"):
            self.handheld.server_events_arrived(trip_id, answer["staff_events"])
        # Go again at once while whole batches are acknowledged and more are waiting.
        return len(ids) == len(batch) and (len(unsent) == self.batch_size or trip_id != unsent[-1].trip_id)

    def _finish(self, trip: TripRow) -> None:
        request = trip.finish_request or {}
        self._contacted = True
        try:
            answer = self.client.finish(trip.id, int(request.get("handheld_total_minor", 0)),
                                        int(request.get("event_count", 0)))
        except Refused as exc:
            log.error("server refused the finish of trip %s: %s", trip.id, exc)
            answer = {"trip_id": trip.id, "status": "finished", "audit": False, "error": exc.message}
        if answer.get("staff_events"):
            self.handheld.server_events_arrived(trip.id, answer["staff_events"])
        self.store.update_trip(trip.id, finish_answer=answer)
        self._changed = True


class CatalogueSync(Worker):
    """Keeps the catalogue cache fresh: a delta since the held version, on a timer and at trip start."""

    name = "catalogue"

    def __init__(self, handheld: Handheld, client: ApiClient, *, interval: float = 300.0,
                 backoff_max: float = 30.0) -> None:
        super().__init__(interval, backoff_max)
        self.handheld, self.client = handheld, client
        self.catalogue: Catalogue = handheld.catalogue
        self.loaded = threading.Event()
        if self.catalogue.version is not None:
            self.loaded.set()

    def reached(self, error: str | None) -> None:
        if (error is not None) != self.handheld.sync.offline:
            self.handheld.sync_changed(error is not None, error)

    def step(self) -> bool:
        version = self.catalogue.version
        answer = self.client.catalogue(version, self.catalogue.etag if version is not None else None)
        if answer.status == 200 and isinstance(answer.body, dict):
            changed = self.catalogue.apply(answer.body, answer.headers.get("etag"))
            log.info("catalogue version %s (%d products changed)", answer.body.get("version"), changed)
            self.handheld.refresh()
        self.loaded.set()
        return False
