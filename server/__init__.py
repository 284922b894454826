"""The ShopGo server: a store's server, or head office with `[site] role = "head_office"`.

The platform is the few modules here: app (the Flask app factory), wsgi, config, database,
errors, params (ids and numbers from requests), scheduler (the site's jobs), demo (`make demo`),
and cli/ (the `shopgo` command tree). The rest are packages:

- store/       the store's services (trips, event ingest, checkout, audits, catalogue, loyalty, ...)
- api/         the JSON API under /api/v1, thin over store/
- staff/       the staff console (server-rendered pages), thin over store/
- auth/        sign-in, sessions, CSRF, staff and device accounts, who may act
- offers/      the offers engine (pure, over a history frame) and its nightly build
- head_office/ campaigns, packs to stores, results and lift
- importer/    real data (dunnhumby's Complete Journey) into a database
- simulate/    the store-day simulation, which runs real handhelds against a real server

Imports `shop`, `db` and `firmware_bridge`; the handheld only in simulate/ and demo.py, which
run both sides.
"""
