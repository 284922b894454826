"""The offers policy: config.toml's [offers] table as a dataclass, and the stable hold-out rule."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class OfferPolicy:
    """Who gets which offers; each field is a key of [offers] in config.toml (see config_example.toml)."""

    max_live_offers: int = 5
    candidates: int = 20
    min_score: float = 0.0
    holdout_share: float = 0.05
    holdout_salt: str = "shopgo-holdout-1"
    valid_days: int = 14
    start_days: int = 1
    discount_type: str = "percent"
    replenish_value: int = 10
    discover_value: int = 20
    winback_value: int = 25
    winback_offers: int = 2
    reward_points_multiplier: int = 3
    reward_everyday: bool = True
    everyday_trip_share: float = 0.8
    everyday_min_trips: int = 4
    everyday_recent_trips: int = 10
    full_price_ratio: float = 0.95
    lifecycle_recent_weeks: int = 8
    lifecycle_baseline_weeks: int = 26
    lifecycle_decline_ratio: float = 0.7
    lifecycle_growth_ratio: float = 1.3
    lifecycle_lapsed_days: int = 42
    trial_weeks: int = 8
    trial_baskets: int = 3
    segment_top: float = 0.10
    segment_high: float = 0.30
    segment_mid: float = 0.60

    def __post_init__(self) -> None:
        """Reject values that cannot work, naming the key."""
        if self.discount_type not in ("percent", "points"):
            raise ValueError("offers.discount_type must be 'percent' or 'points'")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError("offers.holdout_share must be at least 0 and below 1")
        if self.max_live_offers < 0 or self.valid_days < 1:
            raise ValueError("offers.max_live_offers must be >= 0 and offers.valid_days >= 1")
        if not 0.0 < self.segment_top <= self.segment_high <= self.segment_mid <= 1.0:
            raise ValueError("offers.segment_top <= segment_high <= segment_mid must lie in (0, 1]")
        for name in ("replenish_value", "discover_value", "winback_value"):
            value = getattr(self, name)
            if self.discount_type == "percent" and not 0 < value < 100:
                raise ValueError(f"offers.{name} must be a percent between 1 and 99")

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> OfferPolicy:
        """Build from the [offers] table of config.toml; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"unknown [offers] key(s): {', '.join(unknown)}")
        return cls(**dict(table))


def holdout_fraction(household_id: int, salt: str) -> float:
    """A stable number in [0, 1) from the member id and the salt (SHA-256, not random)."""
    digest = hashlib.sha256(f"{salt}:{int(household_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def in_holdout(household_id: int, policy: OfferPolicy) -> bool:
    """True if the member is in the hold-out group that gets no personal offers."""
    return holdout_fraction(household_id, policy.holdout_salt) < policy.holdout_share
