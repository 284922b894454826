"""The store-day simulation: `shopgo simulate store-day` (see server/simulate/run.py).

Runs both sides, so it may import `handheld` besides the server's packages.
"""
