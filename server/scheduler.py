"""The site's one scheduler process (`shopgo scheduler`): APScheduler 3 with fixed job ids.

It runs on its own, never inside a web worker: the app factory does not import this module,
and `run_scheduler` refuses to start under gunicorn. A lock (a PostgreSQL advisory lock, or a
file lock beside an SQLite database) keeps a second scheduler of the same site from starting.
Missed runs are coalesced into one; a job that fails is logged and simply runs again at its
next time. All times are UTC.

Jobs: "retention-purge" (daily at scheduler.purge_at), "offers-build" (daily at
scheduler.offers_build_at), "catalogue-bump" (every scheduler.catalogue_bump_minutes),
"pack-pull" (every scheduler.pack_pull_minutes), "chain-feed" (every scheduler.feed_seconds:
a store ships its outbox to head office until it is empty), "points-expiry" (daily at 00:20),
"tier-recompute" (daily at 00:40) and "lake-maintenance" (daily at scheduler.lake_maintenance_at:
head office deletes lines past retention, compacts small files and vacuums its history lake).
A job that is not the site's role says so and does nothing.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from db.base import utcnow
from db.session import make_engine, make_session_factory
from server.config import database_url, resolve_path

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
JOB_IDS = ("retention-purge", "offers-build", "catalogue-bump", "pack-pull", "chain-feed", "points-expiry",
           "tier-recompute", "lake-maintenance")
POINTS_EXPIRY_AT = "00:20"
TIER_RECOMPUTE_AT = "00:40"
MISFIRE_GRACE_SECONDS = 3600  # a run missed by up to an hour (a restart, a long purge) still happens
ADVISORY_LOCK_KEY = 0x5305_0001  # "the site's scheduler", one key per database


class SchedulerBusy(RuntimeError):
    """Another scheduler already runs for this site."""


class Jobs:
    """The job bodies, sharing one lazily made engine; each call is its own transaction."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.cfg = cfg
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(database_url(self.cfg))
        return self._engine

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with make_session_factory(self.engine)() as sess:
            yield sess
            sess.commit()

    def retention_purge(self) -> str:
        from server.auth.users import purge_sessions
        from server.store.retention import ensure_future_partitions, purge

        now = utcnow()
        made = ensure_future_partitions(self.engine, now)
        report = purge(self.engine, self.cfg, now)
        with self.session() as sess:
            sessions = purge_sessions(sess, now)
        return report.summary() + (f"; partitions made: {', '.join(made)}" if made else "") + \
            (f"; {sessions} old console sessions removed" if sessions else "")

    def offers_build(self) -> str:
        from server.offers.build import build_store_offers
        from server.store.personal_offers import as_of_for

        as_of = as_of_for(utcnow().date())
        if self.cfg["site"]["role"] == "head_office":  # the engine over the chain's lake, on Dask
            from server.head_office.notify import notify_stores, signing_key
            from server.head_office.scoring import run_configured

            with self.session() as sess:
                report = run_configured(sess, self.cfg, signing_key(self.cfg), as_of)
            notify_stores(self.engine, report.packs, wait=False)
            return report.summary()
        if self.cfg["server"]["head_office_url"]:
            return "linked to head office, which sends this store's personal offers in offers packs"
        with self.session() as sess:
            report = build_store_offers(sess, self.cfg, as_of)
        return f"{report.offers_written} offers written, {report.offers_replaced} replaced"

    def catalogue_bump(self) -> str:
        from server.store.catalogue import bump_version

        with self.session() as sess:
            return f"catalogue version {bump_version(sess)}"

    def pack_pull(self) -> str:
        if not self.cfg["server"]["head_office_url"]:
            return "head-office packs are not configured (server.head_office_url is empty)"
        from server.store.packs import pull

        report = pull(self.engine, self.cfg)
        if report.error:
            raise RuntimeError(f"pack pull: {report.error}")
        return f"{report.fetched} packs fetched, {len(report.applied)} applied, {len(report.refused)} refused"

    def chain_feed(self) -> str:
        if self.cfg["site"]["role"] != "store" or not self.cfg["server"]["head_office_url"]:
            return "this site feeds no head office (a store with server.head_office_url set does)"
        from server.store.chain_feed import ship_configured

        with self.session() as sess:
            report = ship_configured(sess, self.cfg)
        if report.error:
            raise RuntimeError(f"chain feed: {report.error}")
        return f"{report.batches} batches, {report.facts} facts, {report.lines} lines shipped; head office holds " \
               f"batch {report.held}"

    def lake_maintenance(self) -> str:
        if self.cfg["site"]["role"] != "head_office":
            return "only head office keeps a history lake"
        from server.head_office.lake import maintain, open_lake

        return maintain(open_lake(self.cfg), utcnow(), int(self.cfg["retention"]["days"]))

    def points_expiry(self) -> str:
        from server.store.loyalty import expire_points

        with self.session() as sess:
            report = expire_points(sess, utcnow())
        return f"{report.points_expired} points expired for {report.members} members"

    def tier_recompute(self) -> str:
        from server.store.loyalty import recompute_tiers

        with self.session() as sess:
            report = recompute_tiers(sess, utcnow(), self.cfg["loyalty"]["tiers"])
        return f"{report.changed} of {report.members} members changed tier"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def run_job(job_id: str, body: Callable[[], str]) -> bool:
    """Run one job body, logging its outcome; a failure is logged, never raised (it runs again next time)."""
    try:
        outcome = body()
    except Exception:
        log.exception("job %s failed; it runs again at its next time", job_id)
        return False
    log.info("job %s: %s", job_id, outcome)
    return True


def _daily(hhmm: str) -> CronTrigger:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=UTC)


def build_scheduler(cfg: Mapping[str, Any], scheduler_cls: type[BaseScheduler] = BlockingScheduler,
                    jobs: Jobs | None = None) -> BaseScheduler:
    """A scheduler holding the site's fixed jobs, not started (tests inspect it as it is)."""
    jobs = jobs or Jobs(cfg)
    sch = cfg["scheduler"]
    policy = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
    sched = scheduler_cls(timezone=UTC, job_defaults=policy)
    plan: list[tuple[str, Any, Callable[[], str]]] = [
        ("retention-purge", _daily(sch["purge_at"]), jobs.retention_purge),
        ("offers-build", _daily(sch["offers_build_at"]), jobs.offers_build),
        ("catalogue-bump", IntervalTrigger(minutes=sch["catalogue_bump_minutes"], timezone=UTC), jobs.catalogue_bump),
        ("pack-pull", IntervalTrigger(minutes=sch["pack_pull_minutes"], timezone=UTC), jobs.pack_pull),
        ("chain-feed", IntervalTrigger(seconds=sch["feed_seconds"], timezone=UTC), jobs.chain_feed),
        ("points-expiry", _daily(POINTS_EXPIRY_AT), jobs.points_expiry),
        ("tier-recompute", _daily(TIER_RECOMPUTE_AT), jobs.tier_recompute),
        ("lake-maintenance", _daily(sch["lake_maintenance_at"]), jobs.lake_maintenance),
    ]
    for job_id, trigger, body in plan:
        # Given per job as well as by default, so an unstarted scheduler already shows them.
        sched.add_job(run_job, trigger, args=[job_id, body], id=job_id, name=job_id, replace_existing=True, **policy)
    return sched


@contextlib.contextmanager
def site_lock(cfg: Mapping[str, Any]) -> Iterator[None]:
    """Hold the site's scheduler lock for the block; SchedulerBusy if another process holds it."""
    url = database_url(cfg)
    if url.startswith("postgresql"):
        eng = make_engine(url)
        conn = eng.connect()
        try:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}).scalar_one():
                raise SchedulerBusy("another `shopgo scheduler` already runs against this database")
            conn.commit()
            yield
        finally:
            conn.close()  # closing the session releases the advisory lock
            eng.dispose()
        return
    path = _lock_path(cfg, url)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SchedulerBusy(f"another `shopgo scheduler` holds {path}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_path(cfg: Mapping[str, Any], url: str) -> Path:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url[len("sqlite:///"):] + ".scheduler.lock")
    return resolve_path(cfg, "var/scheduler.lock")


def in_web_worker() -> bool:
    """True inside a gunicorn worker, where a scheduler must never start."""
    return "gunicorn.workers" in sys.modules or os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn")


def run_scheduler(cfg: Mapping[str, Any]) -> None:
    """Run the scheduler in this process until SIGTERM or Ctrl-C."""
    if in_web_worker():
        raise RuntimeError("the scheduler runs on its own (`shopgo scheduler`), never inside a web worker")
    jobs = Jobs(cfg)
    with site_lock(cfg):
        sched = build_scheduler(cfg, jobs=jobs)
        signal.signal(signal.SIGTERM, lambda *_: sched.shutdown(wait=False))
        for job in sched.get_jobs():
            log.info("scheduled %s: %s", job.id, job.trigger)
        try:
            sched.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            jobs.close()
