"""The store-day simulation: `shopgo simulate store-day` (see server/simulate/run.py)."""
