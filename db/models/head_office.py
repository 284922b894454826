"""Head-office campaigns carried to stores as signed packs, and the results that flow back.

Head-office side: campaign versions, store links, packs and their acknowledgements,
audiences (exposed and hold-out members per store), result batches and result rows.
Store side: the packs a store received (`store_packs`) and the same `campaign_audience`
table for the members a pack targeted or held out.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow

PACK_STATUSES = ("activated", "withdrawn", "expired", "applied", "refused")  # applied: a roster


class CampaignVersion(Base):
    """One saved state of a campaign; every change (edit, publish, withdraw) adds one."""

    __tablename__ = "campaign_versions"
    __table_args__ = (UniqueConstraint("campaign_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # draft, published, withdrawn
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreLink(Base):
    """A store as head office knows it: where to notify it, its token, its pack state."""

    __tablename__ = "store_links"

    store_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(200), default="")  # the store server's base URL, for notify
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    acked_seq: Mapped[int] = mapped_column(Integer, default=0)  # newest pack the store acknowledged
    last_ack_status: Mapped[str] = mapped_column(String(16), default="")
    last_ack_reason: Mapped[str] = mapped_column(Text, default="")
    last_contact_at: Mapped[Optional[datetime]]
    notify_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The store's feed (server/head_office/feed.py): the newest batch applied, what it carried,
    # what the store said it still held then, and the last refusal.
    feed_seq: Mapped[int] = mapped_column(Integer, default=0)
    feed_facts: Mapped[int] = mapped_column(Integer, default=0)
    feed_lines: Mapped[int] = mapped_column(Integer, default=0)
    feed_backlog_facts: Mapped[int] = mapped_column(Integer, default=0)
    feed_backlog_lines: Mapped[int] = mapped_column(Integer, default=0)
    feed_caught_up_at: Mapped[Optional[datetime]]  # store clock: when its outbox was last empty (or its oldest fact)
    feed_at: Mapped[Optional[datetime]]
    feed_error: Mapped[str] = mapped_column(Text, default="")


class Pack(Base):
    """A signed pack for one store, in sequence: one campaign version and its audience there, or a
    roster of members' changes and erasures from the rest of the chain."""

    __tablename__ = "packs"
    __table_args__ = (UniqueConstraint("store_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("store_links.store_id"))
    seq: Mapped[int] = mapped_column(Integer)
    campaign_id: Mapped[Optional[int]] = mapped_column(ForeignKey("campaigns.id"), index=True)  # none for a roster
    campaign_version: Mapped[Optional[int]] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # activate, withdraw, roster (members' changes, erasures)
    body: Mapped[str] = mapped_column(Text)  # the exact signed bytes (canonical JSON, UTF-8)
    signature: Mapped[str] = mapped_column(String(100))  # Ed25519, base64
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acked_status: Mapped[str] = mapped_column(String(16), default="")
    acked_reason: Mapped[str] = mapped_column(Text, default="")
    acked_at: Mapped[Optional[datetime]]


class CampaignAudience(Base):
    """A member targeted (exposed) or held out by a campaign in a store (both roles keep it)."""

    __tablename__ = "campaign_audience"
    __table_args__ = (UniqueConstraint("campaign_id", "store_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    store_id: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int] = mapped_column(Integer)
    grp: Mapped[str] = mapped_column(String(8))  # exposed, holdout
    version: Mapped[int] = mapped_column(Integer)


class StorePack(Base):
    """Store side: a pack received from head office, what was done with it and why."""

    __tablename__ = "store_packs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    campaign_id: Mapped[Optional[int]] = mapped_column(Integer)
    campaign_version: Mapped[Optional[int]] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # one of PACK_STATUSES
    reason: Mapped[str] = mapped_column(Text, default="")
    offers_written: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    acked_at: Mapped[Optional[datetime]]


class ResultBatch(Base):
    """A feed batch head office applied, by "<store id>/<sequence>"; its campaign results point at it."""

    __tablename__ = "result_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(32), index=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignResult(Base):
    """One purchase (spend on the campaign's products) or redemption reported by a store."""

    __tablename__ = "campaign_results"
    __table_args__ = (UniqueConstraint("store_id", "kind", "ref", "campaign_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("result_batches.id"))
    store_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    member_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))  # purchase, redemption
    ref: Mapped[str] = mapped_column(String(64))  # the store's purchase or redemption id
    spend_minor: Mapped[int] = mapped_column(Integer, default=0)
    discount_minor: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime]


Index("ix_campaign_audience_store", CampaignAudience.campaign_id, CampaignAudience.store_id, CampaignAudience.grp)
Index("ix_campaign_results_campaign", CampaignResult.campaign_id, CampaignResult.store_id)


class CampaignScore(Base):
    """Head office: a member's chance of redeeming a campaign, from the chain's offers run (its as-of)."""

    __tablename__ = "campaign_scores"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    score: Mapped[float] = mapped_column(default=0.0)
    propensity: Mapped[float] = mapped_column(default=0.0)
    as_of: Mapped[datetime]


class MemberProfile(Base):
    """Head office: a member's lifecycle stage and value segment (ranked chain-wide), from the chain's offers run."""

    __tablename__ = "member_profiles"

    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lifecycle: Mapped[str] = mapped_column(String(16))
    segment: Mapped[str] = mapped_column(String(8))
    as_of: Mapped[datetime]
