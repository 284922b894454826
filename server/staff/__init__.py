"""The staff console: members and their basket history, live trips, the till, audits, feedback,
the store dashboard and data requests. Server-rendered Jinja; a little JavaScript.

Thin over server.store's services; may import the platform, server.auth and server.store.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register sign-in (server.auth) and the console's pages."""
    from server import auth
    from server.staff import views_enrol, views_members, views_store, views_till  # noqa: F401  (routes register on import)
    from server.staff.web import bp

    auth.init_app(app)
    if "staff" not in app.blueprints:
        app.register_blueprint(bp)
