"""Head office: targeted campaigns pushed to stores as signed packs, and proof of lift.

The same server package runs as head office with `[site] role = "head_office"`.

How the pieces fit
- Campaigns (campaigns.py, definition.py): products or categories, a reward, a window,
  stores, a target rule, a per-member cap, a budget and a hold-out share. Every edit,
  publish and withdrawal is a new row in `campaign_versions`.
- Targeting (audience.py, engine.py): consenting members of the campaign's stores, by tier,
  then lifecycle stage and value segment (offers engine `profile_households`) and propensity
  for the campaign's products (offers engine campaign targeting), minimum score or top N.
  A stable hash puts `holdout_share` of them in the hold-out group.
- Packs (compiler.py, signing.py): per store, the campaign version, its products and the
  exposed and hold-out member ids in that store, as canonical JSON signed with Ed25519,
  numbered per store 1, 2, 3, ... Stores fetch them (server/store/packs.py) on the scheduler's
  "pack-pull" job and when head office notifies them, verify and apply them strictly in
  order, and acknowledge; head office shows per store which version is active.
- Results (feed.py on the store, results.py here): batches keyed by UUID carry redemptions
  and the campaign-product spend of exposed and hold-out members; the report gives per
  campaign and store the audience, redemptions, budget used and the lift with Welch's
  95% interval.

Caps and budgets
- The per-member cap is the offer's `max_redemptions`: the units of each campaign product a
  member gets the reward on (the store's trip service spends an offer on one trip).
- The budget (redemptions or discount money, 0 = none) is counted at head office from the
  results feed; when it is used up head office withdraws the campaign by the usual signed
  withdrawal pack, so stores may overshoot by what they redeem before that pack arrives.

Where head office's member history comes from
Head office's database has the same schema as a store's. It holds the chain's members
(`members`, with their home `store_id`, tier and consent) and their purchase history
(`purchases`, `purchase_lines`): each store uploads its history there, in practice by
importing or replicating the store database's member and history tables into head office
(`shopgo import completejourney --store S00N --database <head-office url>` for the demo
data), and the results feed keeps campaign spend flowing back afterwards. Targeting reads
only this chain-wide copy, never a store's live database, so head office can plan while a
store is offline. Member ids are household ids, the same at head office and in every store.

Links between sites
- Head office: `shopgo head-office store-add S001 --url http://store:8000` prints a token.
- Store: `shopgo head-office link --token-file PATH` (or SHOPGO_HEAD_OFFICE_TOKEN, or a hidden
  prompt; never on the command line, where `ps` shows it) keeps it in site_state, encrypted with
  a key under var/ (link_secret.py), and config.toml sets `server.head_office_url` and
  `server.head_office_public_key` (from `shopgo head-office keygen`).
- Store endpoints: POST /api/v1/packs/notify (starts a pull; answers 202), GET /api/v1/packs/status.
- Head-office endpoints for stores (Bearer store token): GET /api/v1/head-office/packs?after=N,
  POST /api/v1/head-office/acks (only packs issued to that store), POST /api/v1/head-office/results
  (only campaigns head office sent that store); their OpenAPI description is openapi.py.
- Console (head-office users): /head-office/campaigns, /head-office/stores, .../results.
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
