"""Campaigns at head office: definitions checked, versions kept, audiences by rule, packs in sequence."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from db.base import utcnow
from db.models import CampaignAudience, Member, Pack, Product, PurchaseLine
from server.head_office import campaigns
from server.head_office.audience import in_holdout
from server.head_office.campaign_form import Locale, definition_fields, form_to_definition, posted_fields
from server.head_office.definition import CampaignError, parse_definition
from server.head_office.signing import load_public_key, public_key_b64, verify
from server.offers.engine import target_households
from server.offers.profile import profile_households
from tests.head_office.conftest import chain_history, definition, offers_run

LONDON = Locale(ZoneInfo("Europe/London"), 2)  # how the console shows money and times, for the form tests


@pytest.mark.parametrize("change, message", [
    ({"name": ""}, "name must be"),
    ({"product_ids": [], "categories": []}, "products (product_ids) or categories"),
    ({"product_ids": ["1"]}, "whole numbers"),
    ({"product_ids": [2**63]}, "whole numbers from 1 to 2147483647"),
    ({"reward": {"type": "cashback", "value": 1}}, "reward.type must be one of"),
    ({"reward": {"type": "percent", "value": 150}}, "reward.value (percent) must be a whole number from 1 to 100"),
    ({"valid_from": "soon"}, "valid_from 'soon' is not an ISO 8601 time"),
    ({"valid_to": "2020-01-01T00:00:00Z"}, "valid_to must be after valid_from"),
    ({"stores": []}, "stores must list at least one store"),
    ({"stores": ["S009"]}, "unknown store(s) S009"),
    ({"target": {"lifecycle": ["asleep"]}}, "target.lifecycle: unknown asleep"),
    ({"target": {"segments": ["gold"]}}, "target.segments: unknown gold"),
    ({"target": {"consent": False}}, "consent cannot be switched off"),
    ({"target": {"min_propensity": 2}}, "min_propensity must be a number from 0 to 1"),
    ({"target": {"top_n": 0}}, "top_n must be a whole number"),
    ({"target": {"age": 30}}, "unknown key(s) age"),
    ({"max_per_member": 0}, "max_per_member must be"),
    ({"budget": {"kind": "vouchers", "amount": 1}}, "budget.kind must be one of"),
    ({"holdout_share": 0.95}, "holdout_share must be a number from 0 to 0.9"),
])
def test_bad_definition_is_refused_with_what_to_change(change: dict[str, Any], message: str) -> None:
    with pytest.raises(CampaignError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_definition(definition(**change), known_stores={"S001"})


def test_definition_is_normalised() -> None:
    d = parse_definition(definition(product_ids=[9002, 9001, 9002], stores=["S001", "S001"],
                                    valid_from="2026-12-01", valid_to="2026-12-31T00:00:00Z"))
    assert d["product_ids"] == [9001, 9002] and d["stores"] == ["S001"]
    assert (d["valid_from"], d["valid_to"]) == ("2026-12-01T00:00:00+00:00", "2026-12-31T00:00:00+00:00")
    assert d["target"]["consent"] is True


def test_holdout_assignment_is_stable_and_near_its_share() -> None:
    picks = [in_holdout(3, m, 0.25) for m in range(4000)]
    assert picks == [in_holdout(3, m, 0.25) for m in range(4000)]
    assert 0.22 < sum(picks) / len(picks) < 0.28
    assert picks != [in_holdout(4, m, 0.25) for m in range(4000)]  # another campaign, another split


def _products(session: Session, n: int = 3) -> list[int]:
    return list(session.scalars(select(PurchaseLine.product_id).group_by(PurchaseLine.product_id)
                                .order_by(PurchaseLine.product_id).limit(n)))


def _consenting(session: Session) -> list[int]:
    return sorted(session.scalars(select(Member.id).where(Member.consent_personalisation.is_(True))))


def test_publish_signs_a_pack_per_store_with_rising_sequence(chain: Session) -> None:
    key = Ed25519PrivateKey.generate()
    cid = campaigns.create_campaign(chain, definition(product_ids=_products(chain), holdout_share=0.3)).id
    first = campaigns.publish(chain, cid, key)
    second = campaigns.publish(chain, cid, key)
    assert (first.packs, second.packs, second.version) == ({"S001": 1}, {"S001": 2}, 3)
    pack = chain.scalar(select(Pack).where(Pack.seq == 2))
    doc = verify(load_public_key(public_key_b64(key)), pack.body, pack.signature)
    assert sorted(doc["exposed"] + doc["holdout"]) == _consenting(chain)
    assert doc["holdout"] == [m for m in _consenting(chain) if in_holdout(cid, m, 0.3)]
    assert doc["campaign"]["version"] == 3 and doc["action"] == "activate"
    assert [v.status for v in campaigns.versions(chain, cid)] == ["published", "published", "draft"]


def test_withdraw_sends_a_withdrawal_and_refuses_a_second_time(chain: Session) -> None:
    key = Ed25519PrivateKey.generate()
    cid = campaigns.create_campaign(chain, definition(product_ids=_products(chain))).id
    campaigns.publish(chain, cid, key)
    result = campaigns.withdraw(chain, cid, key)
    assert result.packs == {"S001": 2} and result.status == "withdrawn"
    with pytest.raises(CampaignError, match="already withdrawn"):
        campaigns.withdraw(chain, cid, key)
    with pytest.raises(CampaignError, match="withdrawn; create a new campaign"):
        campaigns.publish(chain, cid, key)


def test_publish_refuses_a_window_that_has_ended(chain: Session) -> None:
    now = utcnow()
    cid = campaigns.create_campaign(chain, definition(product_ids=_products(chain),
                                                      valid_from=(now - timedelta(days=9)).isoformat(),
                                                      valid_to=(now - timedelta(days=1)).isoformat())).id
    with pytest.raises(CampaignError, match="window has already ended"):
        campaigns.publish(chain, cid, Ed25519PrivateKey.generate())
    assert chain.scalars(select(Pack)).all() == []


def test_lifecycle_and_segment_rules_follow_the_offers_engine(chain: Session, tmp_path: Path) -> None:
    now = utcnow()
    cid = campaigns.create_campaign(chain, definition(product_ids=_products(chain),
                                                      target={"lifecycle": ["stable"]})).id
    with pytest.raises(CampaignError, match="no member profiles yet"):
        campaigns.preview(chain, cid, now)
    offers_run(chain, tmp_path, Ed25519PrivateKey.generate(), now)
    history = chain_history(chain)
    profile = profile_households(history, pd.Timestamp(now))
    profile = profile[profile["household_id"].isin(_consenting(chain))]
    stage = profile["lifecycle"].iloc[0]
    want = sorted(profile.loc[profile["lifecycle"] == stage, "household_id"].astype(int))
    campaigns.update_campaign(chain, cid, definition(product_ids=_products(chain), target={"lifecycle": [stage]}))
    assert campaigns.preview(chain, cid, now)["S001"]["exposed"] == len(want)
    segment = profile["segment"].iloc[-1]
    both = profile[(profile["lifecycle"] == stage) & (profile["segment"] == segment)]
    campaigns.update_campaign(chain, cid, definition(product_ids=_products(chain),
                                                     target={"lifecycle": [stage], "segments": [segment]}))
    assert campaigns.preview(chain, cid, now)["S001"]["eligible"] == len(both)


def test_top_n_and_minimum_score_use_the_engine_scores(chain: Session, tmp_path: Path) -> None:
    now = utcnow()
    products = _products(chain)
    cid = campaigns.create_campaign(chain, definition(product_ids=products, target={"top_n": 3})).id
    with pytest.raises(CampaignError, match=f"campaign {cid} has no scores yet"):
        campaigns.publish(chain, cid, Ed25519PrivateKey.generate(), as_of=now)
    offers_run(chain, tmp_path, Ed25519PrivateKey.generate(), now)
    scores = target_households(chain_history(chain), products, pd.Timestamp(now))
    scores = scores[scores["household_id"].isin(_consenting(chain))]
    ranked = scores.sort_values(["score", "household_id"], ascending=[False, True])
    result = campaigns.publish(chain, cid, Ed25519PrivateKey.generate(), as_of=now)
    chosen = sorted(chain.scalars(select(CampaignAudience.member_id).where(CampaignAudience.campaign_id == cid)))
    assert result.audience["S001"]["audience"] == 3 and chosen == sorted(ranked["household_id"].head(3).astype(int))
    cutoff = float(ranked["score"].iloc[4])
    campaigns.update_campaign(chain, cid, definition(product_ids=products, target={"min_propensity": cutoff}))
    assert campaigns.preview(chain, cid, now)["S001"]["exposed"] == int((scores["score"] >= cutoff).sum())


def test_consent_is_always_required(chain: Session) -> None:
    opted_out = chain.scalar(select(Member.id).where(Member.consent_personalisation.is_(False)))
    cid = campaigns.create_campaign(chain, definition(product_ids=_products(chain))).id
    campaigns.publish(chain, cid, Ed25519PrivateKey.generate())
    audience = set(chain.scalars(select(CampaignAudience.member_id).where(CampaignAudience.campaign_id == cid)))
    assert audience == set(_consenting(chain)) and opted_out not in audience


def test_too_many_products_are_refused(chain: Session) -> None:
    category = chain.scalar(select(Product.category).where(Product.category.is_not(None))
                            .group_by(Product.category).having(func.count() > 100).limit(1))
    with pytest.raises(CampaignError, match="at most 100"):
        campaigns.create_campaign(chain, definition(product_ids=[], categories=[category]))


def _form(**fields: object) -> dict[str, object]:
    """The campaign form as posted, with sensible values for what a test does not name."""
    base: dict[str, object] = {"name": "x", "product_ids": ["1"], "reward_type": "percent", "reward_value": "10",
                               "valid_from": "2026-07-01T00:00", "valid_to": "2026-07-29T00:00", "stores": ["S001"],
                               "max_per_member": "1", "budget_kind": "redemptions", "budget_amount": "",
                               "holdout_percent": "10"}
    base.update(fields)
    return posted_fields(MultiDict([(k, x) for k, v in base.items() for x in (v if isinstance(v, list) else [v])]))


@pytest.mark.parametrize("field, value, message", [
    ("product_ids", ["12", "²"], "Products must be a whole number"),
    ("product_ids", [str(2**63)], "Products must be a whole number"),
    ("top_n", str(10**30), "Top N must be a whole number"),
    ("min_propensity", "nan", "Minimum score must be a number"),
    ("holdout_percent", "inf", "Hold-out share must be a number"),
    ("valid_from", "2026-07-01", "Starts must be a date and time"),
    ("valid_to", "next week", "Ends must be a date and time"),
])
def test_console_form_numbers_and_times_out_of_range_say_what_is_wrong(field: str, value: object,
                                                                       message: str) -> None:
    with pytest.raises(CampaignError, match=message):
        form_to_definition(_form(**{field: value}), LONDON)


@pytest.mark.parametrize("reward_type, typed, message", [
    ("fixed", "0.505", "Reward: '0.505' is not an amount of money"),
    ("member_price", "-1", "Reward: '-1' is not an amount of money"),
    ("percent", "12.5", "Reward must be a whole number"),
])
def test_console_form_refuses_money_and_percent_it_cannot_store(reward_type: str, typed: str, message: str) -> None:
    with pytest.raises(CampaignError, match=message):
        form_to_definition(_form(reward_type=reward_type, reward_value=typed), LONDON)


def test_console_form_reads_money_as_money_and_times_in_the_chains_zone() -> None:
    raw = form_to_definition(_form(reward_type="fixed", reward_value="0.50", budget_kind="money",
                                   budget_amount="120", valid_from="2026-07-01T08:00", valid_to="2026-12-01T08:00",
                                   holdout_percent="25", product_ids=["7", "9"]), LONDON)
    assert raw["reward"] == {"type": "fixed", "value": 50}
    assert raw["budget"] == {"kind": "money", "amount": 12_000}
    assert raw["valid_from"] == "2026-07-01T07:00:00+00:00"  # British summer time
    assert raw["valid_to"] == "2026-12-01T08:00:00+00:00"  # Greenwich mean time
    assert raw["holdout_share"] == 0.25 and raw["product_ids"] == [7, 9]
    shown = definition_fields(parse_definition(raw), LONDON)  # and back, as the edit form shows it
    assert (shown["reward_value"], shown["budget_amount"], shown["valid_from"], shown["holdout_percent"]) == (
        "0.50", "120.00", "2026-07-01T08:00", "25")
