"""The JSON API under /api/v1 (handheld, till, head office) and the health endpoint.

Thin over server.store's services; may import the platform, server.auth, server.store and head
office's OpenAPI document.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from server.database import health

bp = Blueprint("api", __name__, url_prefix="/api/v1")
health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Database reachability and migration head, and a store's feed lag; 503 when the database is down or behind."""
    state = health()
    cfg = current_app.config["SHOPGO"]
    state.update(role=cfg["site"]["role"], store_id=cfg["site"]["store_id"])
    ok = state["database"] == "ok" and state.get("migrations_applied", False)
    if ok and cfg["site"]["role"] == "store":
        from server.database import db_session
        from server.store.chain_feed import feed_status

        state["feed"] = feed_status(db_session(), cfg)  # lag to head office: rows and seconds not yet held there
    return jsonify(status="ok" if ok else "degraded", **state), 200 if ok else 503


@bp.get("/ping")
def ping() -> ResponseReturnValue:
    """A trivial JSON answer, the baseline for the load benchmark."""
    return jsonify(ok=True)


def init_app(app: Flask) -> None:
    """Register the API blueprints."""
    app.register_blueprint(health_bp)
    app.register_blueprint(bp)
