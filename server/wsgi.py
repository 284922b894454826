"""The production entry point: `gunicorn server.wsgi:app`."""
from __future__ import annotations

from server.app import create_app

app = create_app()
