"""The Flask application factory for both roles, store and head office."""
from __future__ import annotations

import logging
import secrets
from typing import Any, Mapping

from flask import Flask, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue

from server import config as config_mod
from server.params import BigIdConverter, IdConverter


def _secret_key(cfg: Mapping[str, Any]) -> str:
    """The configured secret, or one kept in var/ so sessions survive restarts."""
    if cfg["server"]["secret_key"]:
        return str(cfg["server"]["secret_key"])
    path = config_mod.resolve_path(cfg, "var/secret_key")
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def create_app(config: Mapping[str, Any] | None = None, config_path: str | None = None) -> Flask:
    """Build the app: defaults, then config.toml and the environment, then `config` overrides."""
    cfg = config_mod.load(config_path, overrides=config)
    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter  # <id:name>: ASCII digits within an INTEGER column
    app.url_map.converters["bigid"] = BigIdConverter  # <bigid:name>: within a BIGINT column
    app.config["SHOPGO"] = cfg
    app.config["SECRET_KEY"] = _secret_key(cfg)
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Behind TLS in production: the cookie is then never sent over plain HTTP (config.toml).
    app.config["SESSION_COOKIE_SECURE"] = bool(cfg["server"]["session_cookie_secure"])
    # A request naming another Host is answered 400 (werkzeug's SecurityError); None: any host.
    app.config["TRUSTED_HOSTS"] = list(cfg["server"]["trusted_hosts"]) or None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    from server import api, database, errors, head_office, pages, staff
    from server.api import handheld, members, till

    database.init_app(app)
    errors.init_app(app)
    pages.init_app(app)
    api.init_app(app)
    for part in (handheld, till, staff, head_office, members):
        part.init_app(app)

    @app.get("/")
    def index() -> ResponseReturnValue:
        if "staff.dashboard" in app.view_functions:
            return redirect(url_for("staff.dashboard"))
        return jsonify(service="shopgo", role=cfg["site"]["role"], store=cfg["site"]["store_id"],
                       health="/healthz")

    return app
