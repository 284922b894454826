"""The head-office console: campaigns (create, edit, preview, publish, withdraw), stores and
their pack status, results with a chart. Thin views over the campaigns and results services."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from db.base import utcnow
from server.auth import current_user, login_required
from server.database import db_session, engine
from server.errors import ApiError
from server.head_office import campaigns as svc
from server.head_office.charts import lift_chart, sales_chart
from server.head_office.compiler import store_status
from server.head_office.definition import LIFECYCLE_STAGES, REWARD_TYPES, VALUE_SEGMENTS, CampaignError
from server.head_office.feed import chain_overview, store_feeds
from server.head_office.lake import open_lake
from server.head_office.notify import notify_stores, signing_key
from server.head_office.results import campaign_report
from server.head_office.signing import SignatureError
from server.params import MAX_ID, whole_number
from shop.money import format_money

bp = Blueprint("head_office", __name__, url_prefix="/head-office", template_folder="templates")
HEAD_OFFICE = login_required(roles=("head_office",))


def _numbers(text: str, name: str) -> list[int]:
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return [whole_number(p, name, low=1) for p in parts]
    except ApiError:
        raise CampaignError(f"{name} must be ids (whole numbers up to {MAX_ID}) separated by commas or spaces") from None


def _opt_number(text: str, name: str, kind: type) -> Any:
    """A form's optional number: an int within an INTEGER column, or a finite float; None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        if kind is int:
            return whole_number(text, name)
        value = float(text)
    except (ApiError, ValueError):
        raise CampaignError(f"{name} must be a number, not {text[:40]!r}") from None
    if not math.isfinite(value):
        raise CampaignError(f"{name} must be a number, not {text[:40]!r}")
    return value


def form_to_definition(form: MultiDict[str, str]) -> dict[str, Any]:
    """The campaign form as a raw definition for parse_definition (which does the real checks)."""
    return {
        "name": form.get("name", ""), "product_ids": _numbers(form.get("product_ids", ""), "Products"),
        "categories": [c.strip() for c in form.get("categories", "").replace("\n", ",").split(",") if c.strip()],
        "reward": {"type": form.get("reward_type", ""), "value": _opt_number(form.get("reward_value", ""),
                                                                              "Reward value", int)},
        "valid_from": form.get("valid_from", ""), "valid_to": form.get("valid_to", ""),
        "stores": form.getlist("stores"),
        "target": {"lifecycle": form.getlist("lifecycle"), "segments": form.getlist("segments"),
                   "tiers": form.getlist("tiers"),
                   "min_propensity": _opt_number(form.get("min_propensity", ""), "Minimum propensity", float),
                   "top_n": _opt_number(form.get("top_n", ""), "Top N", int)},
        "max_per_member": _opt_number(form.get("max_per_member", "1"), "Cap per member", int),
        "budget": {"kind": form.get("budget_kind", "redemptions"),
                   "amount": _opt_number(form.get("budget_amount", "0") or "0", "Budget", int)},
        "holdout_share": (_opt_number(form.get("holdout_percent", "10"), "Hold-out share", float) or 0.0) / 100,
    }


def _form_context(values: dict[str, Any], error: str = "") -> dict[str, Any]:
    session = db_session()
    return {"values": values, "error": error, "reward_types": REWARD_TYPES, "stages": LIFECYCLE_STAGES,
            "segments": VALUE_SEGMENTS, "tiers": sorted(current_app.config["SHOPGO"]["loyalty"]["tiers"]),
            "stores": sorted(svc.known_stores(session))}


def _blank() -> dict[str, Any]:
    start = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return {"name": "", "product_ids": [], "categories": [], "reward": {"type": "percent", "value": 10},
            "valid_from": start.isoformat(), "valid_to": (start + timedelta(days=28)).isoformat(),
            "stores": [], "target": {"lifecycle": [], "segments": [], "tiers": [], "min_propensity": None,
                                     "top_n": None},
            "max_per_member": 1, "budget": {"kind": "redemptions", "amount": 0}, "holdout_share": 0.1}


@bp.get("/")
@HEAD_OFFICE
def home() -> ResponseReturnValue:
    """The console starts at the campaign list."""
    return redirect(url_for("head_office.campaigns"))


@bp.get("/campaigns")
@HEAD_OFFICE
def campaigns() -> ResponseReturnValue:
    """Every campaign with its status and version."""
    return render_template("head_office/campaigns.html", campaigns=svc.list_campaigns(db_session()))


def _actor() -> str:
    user = current_user()
    return user.username if user else ""


@bp.route("/campaigns/new", methods=["GET", "POST"])
@HEAD_OFFICE
def new_campaign() -> ResponseReturnValue:
    """The campaign form; a bad form is shown again with what was wrong (400), nothing saved."""
    if request.method == "GET":
        return render_template("head_office/campaign_form.html", **_form_context(_blank()))
    session = db_session()
    try:
        raw = form_to_definition(request.form)
        campaign = svc.create_campaign(session, raw, _actor())
    except CampaignError as exc:
        session.rollback()
        return render_template("head_office/campaign_form.html", **_form_context(_echo(request.form), str(exc))), 400
    session.commit()
    return redirect(url_for("head_office.campaign", campaign_id=campaign.id, done="Campaign saved as a draft."))


@bp.route("/campaigns/<id:campaign_id>/edit", methods=["GET", "POST"])
@HEAD_OFFICE
def edit_campaign(campaign_id: int) -> ResponseReturnValue:
    """Edit a campaign: saved as a new draft version."""
    session = db_session()
    campaign = _campaign(campaign_id)
    if request.method == "GET":
        return render_template("head_office/campaign_form.html", campaign=campaign,
                               **_form_context(dict(campaign.definition)))
    try:
        svc.update_campaign(session, campaign_id, form_to_definition(request.form), _actor())
    except CampaignError as exc:
        session.rollback()
        return render_template("head_office/campaign_form.html", campaign=campaign,
                               **_form_context(_echo(request.form), str(exc))), 400
    session.commit()
    return redirect(url_for("head_office.campaign", campaign_id=campaign_id,
                            done="Saved as a new version; publish it to send it to stores."))


def _echo(form: MultiDict[str, str]) -> dict[str, Any]:
    """What the user typed, to show again after an error."""
    values = _blank()
    values.update({"name": form.get("name", ""), "categories": [form.get("categories", "")],
                   "stores": form.getlist("stores"), "valid_from": form.get("valid_from", ""),
                   "valid_to": form.get("valid_to", "")})
    values["product_ids"] = [form.get("product_ids", "")]
    return values


def _campaign(campaign_id: int) -> Any:
    try:
        return svc.get_campaign(db_session(), campaign_id)
    except CampaignError as exc:
        raise ApiError(404, str(exc)) from None


@bp.get("/campaigns/<id:campaign_id>")
@HEAD_OFFICE
def campaign(campaign_id: int) -> ResponseReturnValue:
    """A campaign: its definition, versions, per-store pack state, and the audience preview on request."""
    session = db_session()
    camp = _campaign(campaign_id)
    preview, error = None, ""
    if request.args.get("preview"):
        try:
            preview = svc.preview(session, campaign_id)
        except CampaignError as exc:
            error = str(exc)
    stores = [s for s in store_status(session) if s["store_id"] in camp.definition.get("stores", [])
              or campaign_id in s["campaigns"]]
    return render_template("head_office/campaign.html", campaign=camp, versions=svc.versions(session, campaign_id),
                           preview=preview, error=error, stores=stores)


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
    done = (f"Version {result.version} {result.status}; packs sent to "
            f"{', '.join(f'{s} (#{n})' for s, n in sorted(result.packs.items())) or 'no store'}.")
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


@bp.get("/chain")
@HEAD_OFFICE
def chain() -> ResponseReturnValue:
    """The chain: each store's members and its sales over the last four weeks, from the history lake."""
    days = 28
    stores = chain_overview(db_session(), open_lake(current_app.config["SHOPGO"]), days=days)
    return render_template("head_office/chain.html", stores=stores, days=days, chart=sales_chart(stores, days))


@bp.get("/stores")
@HEAD_OFFICE
def stores() -> ResponseReturnValue:
    """Linked stores: newest pack issued and acknowledged, which campaign versions are active, and their feeds."""
    return render_template("head_office/stores.html", stores=store_status(db_session()),
                           feeds=store_feeds(db_session()))


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
    """Audience, redemptions, budget and lift per store, with the exposed vs hold-out chart."""
    _campaign(campaign_id)
    report = campaign_report(db_session(), campaign_id)
    return render_template("head_office/results.html", report=report, chart=lift_chart(report))


@bp.get("/campaigns/<id:campaign_id>/results.json")
@HEAD_OFFICE
def results_json(campaign_id: int) -> ResponseReturnValue:
    """The same report as JSON."""
    _campaign(campaign_id)
    return jsonify(campaign_report(db_session(), campaign_id))


@bp.app_template_filter("money")
def money(minor: float | int | None) -> str:
    """Minor units as the chain's currency."""
    site = current_app.config["SHOPGO"]["site"]
    return format_money(minor, site["currency"], int(site["currency_exponent"]))


@bp.app_template_filter("when")
def when(value: str | datetime | None) -> str:
    """A UTC time, short."""
    if value is None:
        return "–"
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
