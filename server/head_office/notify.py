"""Telling stores that packs wait for them, and withdrawing campaigns whose budget is spent.

A notification is a hint only: a store that misses it (offline, restarting) fetches the same
packs on its next scheduled pull. Errors are kept on the store link for the console.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.models import Campaign, StoreLink
from db.session import make_session_factory
from server.head_office.signing import key_path, load_private_key
from server.head_office.wire import LinkError, call

log = logging.getLogger(__name__)
_running: set[threading.Thread] = set()  # notifications under way in this process
_lock = threading.Lock()


def signing_key(cfg: Mapping[str, Any]) -> Ed25519PrivateKey:
    """Head office's private key from its file."""
    return load_private_key(key_path(cfg))


def notify_store(eng: Engine, store_id: str) -> str:
    """POST the store's notify endpoint; returns '' or the error, which is also kept on the link."""
    factory = make_session_factory(eng)
    with factory() as session:
        link = session.get(StoreLink, store_id)
        if link is None or not link.url:
            return "no URL for this store; it will fetch packs on its schedule"
        url = link.url
    try:
        call("POST", f"{url}/api/v1/packs/notify", {}, timeout=5)
        error = ""
    except LinkError as exc:
        error = str(exc)
        log.warning("notify store %s: %s", store_id, error)
    with factory() as session:
        link = session.get(StoreLink, store_id)
        if link is not None:
            link.notify_error = error
            session.commit()
    return error


def _notify_in_background(eng: Engine, store_id: str) -> None:
    """notify_store in its own thread: a failure (even the database's) is logged, never raised."""
    try:
        notify_store(eng, store_id)
    except Exception:  # a hint only: the store still fetches the packs on its next pull
        log.exception("notify store %s failed; it will fetch its packs on its schedule", store_id)
    finally:
        with _lock:
            _running.discard(threading.current_thread())


def notify_stores(eng: Engine, store_ids: Iterable[str], wait: bool = False) -> list[threading.Thread]:
    """Notify each store in its own thread, so a slow or dead store delays no one."""
    threads = [threading.Thread(target=_notify_in_background, args=(eng, s), name=f"notify-{s}", daemon=True)
               for s in sorted(set(store_ids))]
    with _lock:
        _running.update(threads)
    for t in threads:
        t.start()
    if wait:
        wait_for_notifications(threads)
    return threads


def wait_for_notifications(threads: Iterable[threading.Thread] | None = None, timeout: float = 10.0) -> None:
    """Wait for these notifications (all under way in this process by default), e.g. before
    the engine they use is disposed."""
    if threads is None:
        with _lock:
            threads = list(_running)
    for t in threads:
        t.join(timeout=timeout)


def enforce_budgets(app: Flask, session: Session, campaign_ids: set[int]) -> list[int]:
    """Withdraw published campaigns whose budget is used up; returns their ids."""
    from server.database import engine
    from server.head_office.campaigns import withdraw
    from server.head_office.results import campaign_report

    done = []
    for cid in sorted(campaign_ids):
        campaign = session.scalar(select(Campaign).where(Campaign.id == cid, Campaign.status == "published"))
        if campaign is None or not campaign_report(session, cid)["budget"]["exhausted"]:
            continue
        result = withdraw(session, cid, signing_key(app.config["SHOPGO"]), actor="budget")
        session.commit()
        log.info("campaign %s withdrawn: budget used up", cid)
        notify_stores(engine(app), result.packs)
        done.append(cid)
    return done
