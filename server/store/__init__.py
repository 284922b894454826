"""The store's services: what a store server does, as functions over a database session.

trips (start by card, a member's offers), ingest (event batches, the sync path, with help calls,
problem reports and consent changes), feedback, finish (the trip's end and its rescan audit),
priced_trip (a trip priced from the server's events), audits (a rescan corrects the bill), age
(age checks and their approval), server_events (the store's own events in a trip's log), till
(the bill for an exit code), checkout (with payment, the till's payment step, and receipts,
printed on an ESC/POS printer or e-mailed: email_receipts), enrolment, consents, catalogue,
loyalty (points and their history, tiers, the member's data), cards, personal_offers
(offers written from the engine's or head office's proposals), retention (two years of history,
old trips), packs (head office's signed packs, store side), backup, outbox and chain_feed (every
fact head office needs, shipped in numbered batches) and schemas (the request bodies they accept).

May import `db`, `shop`, the platform modules (server.config, errors, params, database) and
server.auth's accounts and actors; of head office only the link it talks over (wire, signing,
link_secret, the pack format). Never the web layers (api, staff, head_office's views), the
CLI, the simulation or the handheld.
"""
