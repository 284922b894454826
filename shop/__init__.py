"""The shop's rules, shared by the handheld and the store server: pure functions (config.py
alone reads a file).

- basket.py: the basket as a fold of a trip's events (scan, remove, set quantity, staff void)
- pricing.py: one pricing function for a basket (promotions, member prices, personal offers)
- catalogue.py: the catalogue snapshot format the store sends and the handheld caches
- money.py: amounts in integer minor units, and how they read
- numbering.py: the chain's own GTIN-13s for products and loyalty cards (GS1 prefix 04)
- config.py: config.toml, the one file every part reads (defaults, the file, SHOPGO_ variables)

Imports the standard library (and biip's GS1 check digit) only: never `server`, `handheld`, `db` or `firmware_bridge`
(tests/foundation/test_architecture.py holds every package to its allowed imports).
"""
