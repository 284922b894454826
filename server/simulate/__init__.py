"""The store-day simulation: `shopgo simulate store-day` (see server/simulate/run.py); the demo's living
store: `shopgo simulate shoppers` (server/simulate/shoppers.py).

Runs both sides, so it may import `handheld` besides the server's packages.
"""
