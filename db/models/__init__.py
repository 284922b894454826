"""Every ShopGo table, importable from one place."""
from __future__ import annotations

from db.base import Base
from db.models.catalogue import BarcodeRule, Product, Promotion, SiteState, Store
from db.models.chain import OutboxFact
from db.models.head_office import (  # noqa: F401
    CampaignAudience,
    CampaignResult,
    CampaignScore,
    CampaignVersion,
    MemberProfile,
    Pack,
    ResultBatch,
    StoreLink,
    StorePack,
)
from db.models.history import ImportChunk, Purchase, PurchaseLine
from db.models.marketing import Campaign, DataRequest, Offer, OfferRedemption, PointsEntry
from db.models.people import ConsoleSession, Device, Member, MemberConsent, User
from db.models.staff import StaffAction
from db.models.trips import Audit, Feedback, Trip, TripEvent

__all__ = [
    "Audit", "BarcodeRule", "Base", "Campaign", "ConsoleSession", "DataRequest", "Device", "Feedback", "ImportChunk",
    "Member", "MemberConsent", "Offer", "OfferRedemption", "OutboxFact", "PointsEntry", "Product", "Promotion", "Purchase",
    "PurchaseLine", "SiteState", "StaffAction", "Store", "Trip", "TripEvent", "User",
]
