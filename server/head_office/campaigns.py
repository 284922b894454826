"""Campaigns at head office: create, edit, preview, publish, withdraw. Every change is a version.

Publishing compiles one signed pack per store (server.head_office.compiler); withdrawing
sends each store that held the campaign a signed withdrawal pack the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Campaign, CampaignAudience, CampaignVersion, Pack, StoreLink
from server.head_office.audience import Progress, campaign_products, select_audience
from server.head_office.compiler import compile_pack
from server.head_office.definition import CampaignError, parse_definition


@dataclass
class PublishResult:
    """What a publish or withdraw did: the campaign version and the pack sequence per store."""

    campaign_id: int
    version: int
    status: str
    packs: dict[str, int] = field(default_factory=dict)  # store id -> pack seq
    audience: dict[str, dict[str, int]] = field(default_factory=dict)


def known_stores(session: Session) -> set[str]:
    """Store ids head office has linked."""
    return set(session.scalars(select(StoreLink.store_id)))


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign, or CampaignError."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}")
    return campaign


def _new_version(session: Session, campaign: Campaign, status: str, definition: Mapping[str, Any],
                 actor: str) -> CampaignVersion:
    version = CampaignVersion(campaign_id=campaign.id, version=campaign.version + 1 if campaign.id else 1,
                              status=status, definition=dict(definition), actor=actor, created_at=utcnow())
    campaign.version, campaign.status, campaign.definition = version.version, status, dict(definition)
    campaign.name = definition["name"]
    session.add(version)
    session.flush()
    return version


def create_campaign(session: Session, raw: Mapping[str, Any], actor: str = "") -> Campaign:
    """A new draft campaign (version 1) from a definition; CampaignError if it is not acceptable."""
    definition = parse_definition(raw, known_stores(session))
    campaign_products(session, definition)
    campaign = Campaign(name=definition["name"], status="draft", version=1, definition=definition)
    session.add(campaign)
    session.flush()
    session.add(CampaignVersion(campaign_id=campaign.id, version=1, status="draft", definition=definition,
                                actor=actor, created_at=utcnow()))
    session.flush()
    return campaign


def update_campaign(session: Session, campaign_id: int, raw: Mapping[str, Any], actor: str = "") -> Campaign:
    """Save an edit as a new draft version; stores keep the last published one until it is published."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status == "withdrawn":
        raise CampaignError(f"campaign {campaign_id} is withdrawn; create a new campaign instead")
    definition = parse_definition(raw, known_stores(session))
    campaign_products(session, definition)
    _new_version(session, campaign, "draft", definition, actor)
    return campaign


def preview(session: Session, campaign_id: int, as_of: datetime | None = None,
            progress: Progress | None = None) -> dict[str, dict[str, int]]:
    """Audience size per store for the campaign's current version, without publishing."""
    campaign = get_campaign(session, campaign_id)
    audience = select_audience(session, campaign.id, campaign.definition, as_of or utcnow(), progress)
    return {store: aud.as_json() for store, aud in audience.items()}


def stores_holding(session: Session, campaign_id: int) -> set[str]:
    """Stores whose newest pack for this campaign activated it."""
    held: dict[str, str] = {}
    for store, action in session.execute(select(Pack.store_id, Pack.action).where(Pack.campaign_id == campaign_id)
                                         .order_by(Pack.seq)):
        held[store] = action
    return {s for s, a in held.items() if a == "activate"}


def publish(session: Session, campaign_id: int, key: Ed25519PrivateKey, actor: str = "",
            as_of: datetime | None = None) -> PublishResult:
    """Publish the current definition: a new version, its audience, and a signed pack per store."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status == "withdrawn":
        raise CampaignError(f"campaign {campaign_id} is withdrawn; create a new campaign instead")
    definition = parse_definition(campaign.definition, known_stores(session))
    products = campaign_products(session, definition)
    now = as_of or utcnow()
    if datetime.fromisoformat(definition["valid_to"]) <= now:
        raise CampaignError("the campaign's window has already ended; move valid_to into the future")
    audience = select_audience(session, campaign.id, definition, now)
    version = _new_version(session, campaign, "published", definition, actor)
    session.execute(delete(CampaignAudience).where(CampaignAudience.campaign_id == campaign.id))
    result = PublishResult(campaign.id, version.version, "published")
    for store, aud in audience.items():
        session.add_all([CampaignAudience(campaign_id=campaign.id, store_id=store, member_id=m, grp=grp,
                                          version=version.version)
                         for grp, ids in (("exposed", aud.exposed), ("holdout", aud.holdout)) for m in ids])
        pack = compile_pack(session, key, store, campaign.id, version.version, "activate", definition,
                            products, aud.exposed, aud.holdout, now)
        result.packs[store] = pack.seq
        result.audience[store] = aud.as_json()
    for store in sorted(stores_holding(session, campaign.id) - set(definition["stores"])):
        result.packs[store] = compile_pack(session, key, store, campaign.id, version.version, "withdraw",
                                           definition, [], [], [], now).seq
    session.flush()
    return result


def withdraw(session: Session, campaign_id: int, key: Ed25519PrivateKey, actor: str = "",
             as_of: datetime | None = None) -> PublishResult:
    """End a campaign everywhere: a new version and a signed withdrawal pack to each store holding it."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status == "withdrawn":
        raise CampaignError(f"campaign {campaign_id} is already withdrawn")
    stores = stores_holding(session, campaign.id)
    version = _new_version(session, campaign, "withdrawn", campaign.definition, actor)
    result = PublishResult(campaign.id, version.version, "withdrawn")
    for store in sorted(stores):
        result.packs[store] = compile_pack(session, key, store, campaign.id, version.version, "withdraw",
                                           campaign.definition, [], [], [], as_of or utcnow()).seq
    session.flush()
    return result


def versions(session: Session, campaign_id: int) -> list[CampaignVersion]:
    """A campaign's versions, newest first."""
    return list(session.scalars(select(CampaignVersion).where(CampaignVersion.campaign_id == campaign_id)
                                .order_by(CampaignVersion.version.desc())))


def list_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, newest first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc())))
