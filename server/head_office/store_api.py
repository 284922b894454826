"""The store's side of the link: head office's notify call and the pack status, as JSON."""
from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from db.models import StorePack
from server.database import db_session, engine
from server.store import packs

bp = Blueprint("store_packs", __name__, url_prefix="/api/v1/packs")
log = logging.getLogger(__name__)


def pull_in_background(app: Flask) -> bool:
    """Start one pull unless one is running (then it is marked to run once more); False if folded in."""
    state: dict[str, Any] = app.extensions.setdefault("shopgo.pack_pull", {"lock": threading.Lock(), "again": False})
    if not state["lock"].acquire(blocking=False):
        state["again"] = True
        return False

    def run() -> None:
        try:
            while True:
                state["again"] = False
                report = packs.pull(engine(app), app.config["SHOPGO"])
                log.info("pack pull after notify: %s", report.as_json())
                if not state["again"]:
                    break
        except Exception:  # a background thread has nobody to raise to: log it
            log.exception("pack pull after notify failed")
        finally:
            state["lock"].release()

    threading.Thread(target=run, name="pack-pull-notify", daemon=True).start()
    return True


@bp.post("/notify")
def notify() -> ResponseReturnValue:
    """Head office says new packs are waiting: pull them (in the background) and answer at once.

    No credentials are needed: the call only makes the store fetch from its configured
    head office, and every pack is verified by signature, so a stray call changes nothing.
    """
    started = pull_in_background(current_app._get_current_object())  # type: ignore[attr-defined]
    return jsonify(pulling=True, started=started), 202


@bp.get("/status")
def status() -> ResponseReturnValue:
    """The last applied pack and the newest few received, with what was done and why."""
    session = db_session()
    rows = list(session.scalars(select(StorePack).order_by(StorePack.id.desc()).limit(20)))
    return jsonify(last_applied=packs.last_applied(session), packs=[
        {"seq": r.seq, "campaign_id": r.campaign_id, "version": r.campaign_version, "status": r.status,
         "reason": r.reason, "offers_written": r.offers_written, "received_at": r.received_at.isoformat(),
         "acked": r.acked_at is not None} for r in rows])
