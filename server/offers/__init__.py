"""Offers engine: who each shopper is, what to offer them, and what not.

Pure functions over a purchase-history DataFrame (household_id, basket_id, product_id, quantity,
sales_value, timestamp UTC); no database access here. Households are scored independently in shards.
"""

from __future__ import annotations

from server.offers.engine import score_households, target_households
from server.offers.offers import OfferProposal, build_offers, everyday_full_price, select_offers
from server.offers.policy import OfferPolicy, in_holdout
from server.offers.profile import category_affinities, profile_households
from server.offers.recommend import EngineParams

__all__ = [
    "EngineParams",
    "OfferPolicy",
    "OfferProposal",
    "build_offers",
    "category_affinities",
    "everyday_full_price",
    "in_holdout",
    "profile_households",
    "score_households",
    "select_offers",
    "target_households",
]
