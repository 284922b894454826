"""Head office: targeted campaigns pushed to stores as signed packs, and proof of lift.

The same server package runs as head office with `[site] role = "head_office"`.

How the pieces fit
- Campaigns (campaigns.py, definition.py): products or categories, a reward, a window,
  stores, a target rule, a per-member cap, a budget and a hold-out share. Every edit,
  publish and withdrawal is a new row in `campaign_versions`.
- Targeting (audience.py): consenting members of the campaign's stores, by tier, then
  lifecycle stage and value segment and their score for the campaign (minimum score or top N),
  as head office's offers run left them. A stable hash puts `holdout_share` of them in the
  hold-out group.
- The offers run (scoring.py): the offers engine over the chain's whole lake on Dask
  (server/offers/chain.py), nightly and by `shopgo offers-build`: every member's personal
  offers, sent in a signed "offers" pack to their home store and every store they bought at;
  every draft or live campaign's response scores (past redemptions count) and every member's
  stage and segment, kept for targeting.
- Packs (compiler.py, signing.py): per store, the campaign version, its products and the
  exposed and hold-out member ids in that store, as canonical JSON signed with Ed25519,
  numbered per store 1, 2, 3, ... Stores fetch them (server/store/packs.py) on the scheduler's
  "pack-pull" job and when head office notifies them, verify and apply them strictly in
  order, and acknowledge; head office shows per store which version is active.
- The stores' feed (server/store/chain_feed.py there, feed.py and lake.py here): every
  purchase, member change and erasure a store records reaches head office in numbered
  batches, each applied once: purchase lines into the history lake (a Delta table), members
  into `members`, and each campaign's results (spend on its products by its audience in its
  window, and its redemptions) into `campaign_results`.
- Results (results.py): per campaign and store the audience, redemptions, budget used and
  the lift with Welch's 95% interval.

Caps and budgets
- The per-member cap is the offer's `max_redemptions`: the units of each campaign product a
  member gets the reward on (the store's trip service spends an offer on one trip).
- The budget (redemptions or discount money, 0 = none) is counted at head office from the
  results feed; when it is used up head office withdraws the campaign by the usual signed
  withdrawal pack, so stores may overshoot by what they redeem before that pack arrives.

Where head office's history comes from
The stores' feed: members (`members`, with their home `store_id`, tier and consent) and the
chain's purchase lines in the lake, each line keyed by (store, the store's purchase id).
A store's history from before its link comes the same way (`shopgo chain backfill`). Past
campaigns' redemptions come from the feed's results and, for the demo data, from
`shopgo import completejourney-campaigns`. Member ids are household ids, the same at head
office and in every store.

Links between sites
- Head office: `shopgo head-office store-add S001 --url http://store:8000` prints a token.
- Store: `shopgo head-office link --token-file PATH` (or SHOPGO_HEAD_OFFICE_TOKEN, or a hidden
  prompt; never on the command line, where `ps` shows it) keeps it in site_state, encrypted with
  a key under var/ (link_secret.py), and config.toml sets `server.head_office_url` and
  `server.head_office_public_key` (from `shopgo head-office keygen`).
- Store endpoints: POST /api/v1/packs/notify (starts a pull; answers 202), GET /api/v1/packs/status.
- Head-office endpoints for stores (Bearer store token): GET /api/v1/head-office/packs?after=N,
  POST /api/v1/head-office/acks (only packs issued to that store), POST /api/v1/head-office/feed
  (a numbered batch, applied once; results only for campaigns head office sent that store);
  their OpenAPI description is openapi.py.
- Console (head-office users; console.py, thin): /head-office/campaigns (the form is
  campaign_form.py, its pickers search products.py), /head-office/stores (stores.py),
  /head-office/chain, .../results.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the head-office console and API, or the store's pack endpoints, by site role."""
    role = app.config["SHOPGO"]["site"]["role"]
    if role == "head_office":
        from server import auth
        from server.head_office import api, console

        auth.init_app(app)
        app.register_blueprint(api.bp)
        app.register_blueprint(console.bp)
    else:
        from server.head_office import store_api

        app.register_blueprint(store_api.bp)
