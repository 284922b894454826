"""ShopGo handheld: the shopper's device - trip event log, running total, offline sync, live display.

Public API:
    HandheldRuntime(HandheldConfig(...))   handheld.runtime: store + catalogue + trip + bridge + sync + display
    Handheld(store, catalogue, barcodes)   handheld.device: on_scan(Scan) -> bool, start_guest(), remove(key),
                                           set_quantity(key, n), finish(confirmed), hand_in(), state()
    LocalStore(data_dir)                   handheld.store: the SQLite event log (WAL, synchronous=FULL)
    compute_state(trip, events, catalogue) handheld.state: fold + price_basket -> the screen state dict
    create_display(handheld)               handheld.web: the Flask display app (GET /api/state, /api/stream SSE)
CLI: `shopgo handheld` (handheld.cli:handheld).

Imports `shop` (pricing, the basket fold, the catalogue format) and `firmware_bridge`; never
`server` or `db`: it talks to the store only over HTTP (client.py).
"""
