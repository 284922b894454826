"""The production entry point: `gunicorn server.wsgi:app`."""
from __future__ import annotations

import gc

from server.app import create_app

app = create_app()
# What loading made (modules, models, the app) lives as long as the worker. Frozen, the
# collector's full passes skip it: unfrozen they took 60-280 ms, all four workers of the load
# benchmark within the same few hundred ms, which was the sync path's p99.
gc.freeze()
