"""The head-office console: campaigns (create and edit with product pickers, money as money and times
in the chain's zone; preview with progress; publish and withdraw saying what they reach), results
with charts, the stores and the chain. Thin views over the campaigns, results and stores services."""
from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import datetime, timedelta
from typing import Any, Iterator, Mapping

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server import charts
from server.auth import current_user, login_required
from server.database import db_session, engine, session_factory
from server.errors import ApiError
from server.head_office import campaigns as svc
from server.head_office import products
from server.head_office.campaign_form import (
    MONEY_REWARDS,
    REWARD_HINTS,
    Locale,
    definition_fields,
    form_to_definition,
    posted_fields,
)
from server.head_office.compiler import store_status
from server.head_office.definition import LIFECYCLE_STAGES, REWARD_TYPES, VALUE_SEGMENTS, CampaignError
from server.head_office.feed import chain_overview
from server.head_office.lake import open_lake
from server.head_office.notify import notify_stores, signing_key
from server.head_office.products import products_by_id
from server.head_office.results import campaign_report, campaign_summaries
from server.head_office.signing import SignatureError
from server.head_office.stores import stores_overview
from server.pages import money, site
from server.params import MAX_ID
from shop.money import SYMBOLS

log = logging.getLogger(__name__)
bp = Blueprint("head_office", __name__, url_prefix="/head-office", template_folder="templates")
HEAD_OFFICE = login_required(roles=("head_office",))


def _form(fields: dict[str, Any], error: str = "", campaign: Any = None) -> ResponseReturnValue:
    session = db_session()
    ids = [int(p) for p in map(str, fields["product_ids"]) if p.isascii() and p.isdigit() and 0 < int(p) <= MAX_ID]
    page = render_template("head_office/campaign_form.html", f=fields, error=error, campaign=campaign,
                           picked=products_by_id(session, ids), reward_types=REWARD_TYPES, hints=REWARD_HINTS,
                           money_rewards=MONEY_REWARDS, stages=LIFECYCLE_STAGES, segments=VALUE_SEGMENTS,
                           tiers=sorted(current_app.config["SHOPGO"]["loyalty"]["tiers"]),
                           stores=sorted(svc.known_stores(session)), zone=site()["timezone"],
                           symbol=SYMBOLS.get(site()["currency"], site()["currency"] + " "))
    return (page, 400) if error else page


def _blank() -> dict[str, Any]:
    loc = Locale.of(site())
    start = datetime.now(loc.zone).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return definition_fields({
        "name": "", "product_ids": [], "categories": [], "reward": {"type": "percent", "value": 10},
        "valid_from": start.isoformat(), "valid_to": (start + timedelta(days=28)).isoformat(), "stores": [],
        "target": {"lifecycle": [], "segments": [], "tiers": [], "min_propensity": None, "top_n": None},
        "max_per_member": 1, "budget": {"kind": "redemptions", "amount": 0}, "holdout_share": 0.1}, loc)


@bp.get("/")
@HEAD_OFFICE
def home() -> ResponseReturnValue:
    """The console starts at the campaign list."""
    return redirect(url_for("head_office.campaigns"))


@bp.get("/campaigns")
@HEAD_OFFICE
def campaigns() -> ResponseReturnValue:
    """Every campaign at a glance: status, window, stores, reach, redemptions and budget used."""
    session = db_session()
    return render_template("head_office/campaigns.html", campaigns=svc.list_campaigns(session),
                           summaries=campaign_summaries(session))


def _actor() -> str:
    user = current_user()
    return user.username if user else ""


@bp.route("/campaigns/new", methods=["GET", "POST"])
@HEAD_OFFICE
def new_campaign() -> ResponseReturnValue:
    """The campaign form; a bad form is shown again with what was wrong (400), nothing saved."""
    if request.method == "GET":
        return _form(_blank())
    session, fields = db_session(), posted_fields(request.form)
    try:
        campaign = svc.create_campaign(session, form_to_definition(fields, Locale.of(site())), _actor())
    except CampaignError as exc:
        session.rollback()
        return _form(fields, str(exc))
    session.commit()
    return redirect(url_for("head_office.campaign", campaign_id=campaign.id, done="Campaign saved as a draft."))


@bp.route("/campaigns/<id:campaign_id>/edit", methods=["GET", "POST"])
@HEAD_OFFICE
def edit_campaign(campaign_id: int) -> ResponseReturnValue:
    """Edit a campaign: saved as a new draft version."""
    session = db_session()
    campaign = _campaign(campaign_id)
    if request.method == "GET":
        return _form(definition_fields(campaign.definition, Locale.of(site())), campaign=campaign)
    fields = posted_fields(request.form)
    try:
        svc.update_campaign(session, campaign_id, form_to_definition(fields, Locale.of(site())), _actor())
    except CampaignError as exc:
        session.rollback()
        return _form(fields, str(exc), campaign)
    session.commit()
    return redirect(url_for("head_office.campaign", campaign_id=campaign_id,
                            done="Saved as a new version; publish it to send it to stores."))


def _campaign(campaign_id: int) -> Any:
    try:
        return svc.get_campaign(db_session(), campaign_id)
    except CampaignError as exc:
        raise ApiError(404, str(exc)) from None


@bp.get("/campaigns/<id:campaign_id>")
@HEAD_OFFICE
def campaign(campaign_id: int) -> ResponseReturnValue:
    """A campaign: its definition in words, its stores' pack state, its versions; publish and withdraw say
    before they act what they will reach."""
    session = db_session()
    camp = _campaign(campaign_id)
    d = camp.definition
    stores = [s for s in store_status(session) if s["store_id"] in d.get("stores", []) or campaign_id in s["campaigns"]]
    holding = sorted(svc.stores_holding(session, campaign_id))
    return render_template("head_office/campaign.html", campaign=camp, versions=svc.versions(session, campaign_id),
                           stores=stores, products=products_by_id(session, d.get("product_ids", [])),
                           publish_question=_reach("Publish", camp.name, d.get("stores", []), "gets the offer from"),
                           withdraw_question=_reach("Withdraw", camp.name, holding, "stops offering it from"))


def _reach(verb: str, name: str, stores: list[str], what: str) -> str:
    """The confirmation a publish or withdraw asks: what it reaches, and when."""
    if not stores:
        return f"{verb} \u201c{name}\u201d? No store holds it, so no store is told."
    many = f"{len(stores)} stores ({', '.join(stores)})" if len(stores) > 1 else f"store {stores[0]}"
    return f"{verb} \u201c{name}\u201d? It reaches {many}: each {what} its next pack pull."


@bp.get("/campaigns/<id:campaign_id>/preview")
@HEAD_OFFICE
def preview(campaign_id: int) -> ResponseReturnValue:
    """The audience per store, computed without publishing, streamed as JSON lines: a line per step
    ({"done", "of", "step"}), then the result ({"stores", "total"}) or {"error"}."""
    _campaign(campaign_id)
    factory = session_factory()
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def work() -> None:
        try:
            with factory() as session:
                counts = svc.preview(session, campaign_id, progress=lambda done, of, step: lines.put(
                    {"done": done, "of": of, "step": step}))
            total = {k: sum(c[k] for c in counts.values()) for k in ("eligible", "exposed", "holdout", "audience")}
            lines.put({"stores": counts, "total": total})
        except CampaignError as exc:
            lines.put({"error": str(exc)})
        except Exception:  # the page must hear that it failed; the log says why
            log.exception("audience preview of campaign %s failed", campaign_id)
            lines.put({"error": "the preview failed; the head-office server's log says why"})
        finally:
            lines.put(None)

    threading.Thread(target=work, name=f"preview-{campaign_id}", daemon=True).start()

    def stream() -> Iterator[str]:
        while (line := lines.get()) is not None:
            yield json.dumps(line) + "\n"

    return Response(stream(), mimetype="application/x-ndjson", headers={"Cache-Control": "no-store"})


def _act(campaign_id: int, action: str) -> ResponseReturnValue:
    session = db_session()
    _campaign(campaign_id)
    try:
        fn = svc.publish if action == "publish" else svc.withdraw
        result = fn(session, campaign_id, signing_key(current_app.config["SHOPGO"]), _actor())
    except (CampaignError, SignatureError) as exc:
        session.rollback()
        raise ApiError(409, str(exc)) from None
    session.commit()
    notify_stores(engine(), result.packs)
    reached = sum(a["exposed"] for a in result.audience.values())
    done = (f"Version {result.version} {result.status}; packs sent to "
            f"{', '.join(f'{s} (#{n})' for s, n in sorted(result.packs.items())) or 'no store'}"
            + (f"; {reached:,} members get the offer." if action == "publish" else "."))
    return redirect(url_for("head_office.campaign", campaign_id=campaign_id, done=done))


@bp.post("/campaigns/<id:campaign_id>/publish")
@HEAD_OFFICE
def publish(campaign_id: int) -> ResponseReturnValue:
    """Publish the current version to its stores."""
    return _act(campaign_id, "publish")


@bp.post("/campaigns/<id:campaign_id>/withdraw")
@HEAD_OFFICE
def withdraw(campaign_id: int) -> ResponseReturnValue:
    """Withdraw the campaign from every store."""
    return _act(campaign_id, "withdraw")


@bp.get("/products")
@HEAD_OFFICE
def find_products() -> ResponseReturnValue:
    """The campaign editor's picker: products by name, brand or category, and categories by name."""
    text = request.args.get("q", "")[:80]
    session = db_session()
    found = [{**p, "price": money(p["price_minor"])} for p in products.find_products(session, text)]
    return jsonify(products=found, categories=products.find_categories(session, text))


@bp.get("/chain")
@HEAD_OFFICE
def chain() -> ResponseReturnValue:
    """The chain: each store's members and its sales over the last four weeks, from the history lake."""
    days = 28
    stores = chain_overview(db_session(), open_lake(current_app.config["SHOPGO"]), days=days)
    chart = charts.grouped_bars([s["store_id"] for s in stores], [charts.Series(
        "sales", [s["sales_minor"] for s in stores], "bar sales",
        [f"{s['store_id']}: {money(s['sales_minor'])} in {s['purchases']:,} purchases" for s in stores])],
        money, f"Sales by store over the last {days} days", chart_id="sales-chart", empty="No sales in these days yet")
    return render_template("head_office/chain.html", stores=stores, days=days, chart=chart)


@bp.get("/stores")
@HEAD_OFFICE
def stores() -> ResponseReturnValue:
    """Linked stores: the pack each runs, its feed's lag, when it was last heard from, and errors."""
    return render_template("head_office/stores.html", stores=stores_overview(db_session()))


@bp.post("/stores/notify")
@HEAD_OFFICE
def notify() -> ResponseReturnValue:
    """Ask every store with unacknowledged packs to pull now."""
    lagging = [s["store_id"] for s in store_status(db_session()) if s["pending"]]
    notify_stores(engine(), lagging)
    return redirect(url_for("head_office.stores", done=f"Notified {len(lagging)} store(s)."))


@bp.get("/campaigns/<id:campaign_id>/results")
@HEAD_OFFICE
def results(campaign_id: int) -> ResponseReturnValue:
    """Audience, redemptions, budget and lift per store: spend exposed vs hold-out, and the lift with its interval."""
    _campaign(campaign_id)
    report = campaign_report(db_session(), campaign_id)
    lines = [*report["stores"], report["overall"]]
    labels = ["All stores" if x["store_id"] == "ALL" else x["store_id"] for x in lines]
    spend = charts.grouped_bars(labels, [
        charts.Series(label, [x["lift"][f"{grp}_mean"] for x in lines], f"bar {grp}",
                      [f"{name} {label}: {money(x['lift'][f'{grp}_mean'])} per member ({x[grp]:,} members)"
                       for name, x in zip(labels, lines)])
        for grp, label in (("exposed", "exposed"), ("holdout", "hold-out"))],
        money, f"Mean spend per member on the campaign's products: exposed vs hold-out ({report['name']})",
        chart_id="lift-chart", width=560)
    lift = charts.intervals([(name, x["lift"]["lift"], x["lift"]["low"], x["lift"]["high"])
                             for name, x in zip(labels, lines)], money,
                            f"Lift per member with its {report['confidence']:.0%} interval", chart_id="interval-chart",
                            width=560)
    return render_template("head_office/results.html", report=report, spend_chart=spend, lift_chart=lift)


@bp.get("/campaigns/<id:campaign_id>/results.json")
@HEAD_OFFICE
def results_json(campaign_id: int) -> ResponseReturnValue:
    """The same report as JSON."""
    _campaign(campaign_id)
    return jsonify(campaign_report(db_session(), campaign_id))


@bp.app_template_filter("reward")
def reward_text(reward: Mapping[str, Any]) -> str:
    """A campaign's reward in words: '20% off', '$0.50 off each unit', 'member price $1.99', '50 extra points'."""
    value = reward["value"]
    return {"percent": f"{value}% off each unit", "fixed": f"{money(value)} off each unit",
            "member_price": f"member price {money(value)} a unit",
            "points": f"{value:,} extra points for each unit"}.get(reward["type"], f"{reward['type']} {value}")
