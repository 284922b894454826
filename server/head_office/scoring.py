"""Head office's offers run: the offers engine over the chain's whole lake, on Dask, every night.

One run (`run_chain`, server/offers/chain.py) gives, for every member of the chain:
- personal offers, delivered to each store in a signed "offers" pack holding the offers of its
  members and of everyone who has bought there, so a member gets the same offers wherever they
  shop; stores linked to head office no longer compute their own;
- a response score for every campaign that is a draft or live (past redemptions count), kept in
  `campaign_scores`, which a campaign's audience rule (minimum score, top N) reads;
- lifecycle stage and value segment (ranked across the chain), kept in `member_profiles` for the
  audience rule's stage and segment filters.
It runs as the head-office scheduler's "offers-build" job and as `shopgo head-office score`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from db.models import Campaign, CampaignResult, CampaignScore, Member, MemberProfile, StoreLink
from server.head_office.audience import campaign_products
from server.head_office.compiler import compile_offers
from server.head_office.definition import CampaignError

OFFER_FIELDS = ("member_id", "product_id", "kind", "reward_type", "reward_value", "valid_from", "valid_to", "score")


@dataclass(frozen=True)
class ScoringReport:
    """What one chain offers run read and wrote."""

    as_of: datetime
    lines: int
    partitions: int
    members: int
    campaigns: int
    offers: int
    packs: dict[str, int]
    seconds: float

    def summary(self) -> str:
        return (f"{self.lines:,} lines in {self.partitions} partitions; {self.members:,} members scored for "
                f"{self.campaigns} campaign(s); {self.offers:,} personal offers in packs to "
                f"{len(self.packs)} store(s) in {self.seconds:.0f} s")


def scored_campaigns(session: Session, as_of: datetime) -> dict[int, list[int]]:
    """Campaigns a rule may still target (draft or published, window not over) and their products."""
    out: dict[int, list[int]] = {}
    for campaign in session.scalars(select(Campaign).where(Campaign.status.in_(("draft", "published")))
                                    .order_by(Campaign.id)):
        definition = campaign.definition or {}
        if datetime.fromisoformat(definition.get("valid_to", "9999-12-31T00:00:00+00:00")) <= as_of:
            continue
        try:
            out[campaign.id] = campaign_products(session, definition)
        except CampaignError:
            continue  # its products left the catalogue: nothing to score (publishing says so)
    return out


def chain_members(session: Session) -> pd.DataFrame:
    """Every member head office knows: household_id, home store_id, consent, and no live offers counted."""
    rows = session.execute(select(Member.id, Member.store_id, Member.consent_personalisation)
                           .where(Member.erased_at.is_(None)).order_by(Member.id)).all()
    return pd.DataFrame({"household_id": [int(r[0]) for r in rows], "store_id": [r[1] for r in rows],
                         "consent": [bool(r[2]) for r in rows], "live_offers": 0})


def past_redemptions(session: Session, as_of: datetime) -> pd.DataFrame:
    """Every redemption head office heard of before as_of (the stores' feed and imported history)."""
    rows = session.execute(select(CampaignResult.member_id, CampaignResult.campaign_id, CampaignResult.at)
                           .where(CampaignResult.kind == "redemption", CampaignResult.at < as_of)).all()
    return pd.DataFrame({"household_id": [int(r[0]) for r in rows], "campaign_id": [int(r[1]) for r in rows],
                         "redeemed_at": pd.to_datetime([r[2] for r in rows], utc=True)})


def score_chain(session: Session, cfg: Mapping[str, Any], client: Any, key: Ed25519PrivateKey, as_of: datetime,
                progress: Callable[[str], None] | None = None) -> ScoringReport:
    """Run the engine over the lake on the client's cluster and keep its answers (the caller commits)."""
    from server.head_office.lake import lake_uri
    from server.offers.chain import ChainSettings, run_chain
    from server.offers.policy import OfferPolicy
    from server.store.personal_offers import first_day

    started = time.perf_counter()
    settings = ChainSettings.from_config(cfg)
    policy = OfferPolicy.from_config(cfg.get("offers", {}))
    members = chain_members(session)
    campaigns = scored_campaigns(session, as_of)
    result = run_chain(client, lake_uri(cfg), pd.Timestamp(as_of), exponent=int(cfg["site"]["currency_exponent"]),
                       policy=policy, members=members[["household_id", "consent", "live_offers"]], campaigns=campaigns,
                       redemptions=past_redemptions(session, as_of), partition_lines=settings.partition_lines,
                       scratch=settings.scratch, progress=progress)
    known = set(members["household_id"].tolist())
    targets = result.targets.loc[result.targets["household_id"].isin(known)]
    session.execute(delete(CampaignScore).where(CampaignScore.campaign_id.in_(list(campaigns) or [-1])))
    _insert(session, CampaignScore, [
        {"campaign_id": int(c), "member_id": int(m), "score": float(s), "propensity": float(p), "as_of": as_of}
        for c, m, s, p in zip(targets["campaign_id"], targets["household_id"], targets["score"],
                              targets["propensity"])])
    profiles = result.profiles.loc[result.profiles["household_id"].isin(known)]
    session.execute(delete(MemberProfile))
    _insert(session, MemberProfile, [
        {"member_id": int(m), "lifecycle": str(stage), "segment": str(seg), "as_of": as_of}
        for m, stage, seg in zip(profiles["household_id"], profiles["lifecycle"], profiles["segment"])])
    offers = result.offers.rename(columns={"household_id": "member_id"})
    shoppers = store_shoppers(lake_uri(cfg), members)
    packs: dict[str, int] = {}
    for link in session.scalars(select(StoreLink).order_by(StoreLink.store_id)):
        covered = sorted(shoppers.get(link.store_id, set()))
        mine = offers.loc[offers["member_id"].isin(covered)]
        rows = [{f: _plain(v) for f, v in zip(OFFER_FIELDS, values)}
                for values in mine[list(OFFER_FIELDS)].itertuples(index=False, name=None)]
        packs[link.store_id] = compile_offers(session, key, link.store_id, covered, rows, as_of,
                                              first_day(as_of, policy.start_days), policy.max_live_offers).seq
    return ScoringReport(as_of=as_of, lines=result.lines, partitions=result.partitions, members=len(known),
                         campaigns=len(campaigns), offers=len(offers), packs=packs,
                         seconds=time.perf_counter() - started)


def store_shoppers(lake: str, members: pd.DataFrame) -> dict[str, set[int]]:
    """Per store, the members whose offers it gets: those whose home store it is and those who have bought
    there (the lake says), so a member finds the same offers in every store they shop at."""
    import pyarrow.compute as pc

    from server.head_office.lake import Lake

    known = set(members["household_id"].tolist())
    out: dict[str, set[int]] = {}
    for store, member in zip(members["store_id"], members["household_id"]):
        out.setdefault(str(store), set()).add(int(member))
    lines = Lake(lake).table().to_pyarrow_dataset().to_table(columns=["store_id", "member_id"])
    lines = lines.filter(pc.is_valid(lines["member_id"]))
    pairs = lines.group_by(["store_id", "member_id"]).aggregate([])
    for store, member in zip(pairs["store_id"].to_pylist(), pairs["member_id"].to_pylist()):
        if int(member) in known:
            out.setdefault(str(store), set()).add(int(member))
    return out


def _plain(value: Any) -> Any:
    """A pack's JSON values: ints, floats, text and ISO dates."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 5000):
        session.execute(insert(model), rows[i:i + 5000])


def run_configured(session: Session, cfg: Mapping[str, Any], key: Ed25519PrivateKey, as_of: datetime,
                   progress: Callable[[str], None] | None = None) -> ScoringReport:
    """score_chain on the cluster config.toml's [chain] names (a LocalCluster when none), closed afterwards."""
    from server.offers.chain import ChainSettings, chain_client

    with chain_client(ChainSettings.from_config(cfg)) as client:
        return score_chain(session, cfg, client, key, as_of, progress)


def nightly_as_of(now: datetime) -> datetime:
    """The as-of time of tonight's run: the start of the day (UTC), so reruns that day agree."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
