"""Stores, products, barcode rules and promotions: what the shelves hold and cost."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class Store(Base):
    """A shop in the chain; history and members belong to one."""

    __tablename__ = "stores"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(Base):
    """An item on sale, priced in minor units."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[Optional[str]] = mapped_column(String(80))
    category: Mapped[Optional[str]] = mapped_column(String(80), index=True)
    brand: Mapped[Optional[str]] = mapped_column(String(80))
    package_size: Mapped[Optional[str]] = mapped_column(String(40))
    price_minor: Mapped[int] = mapped_column(Integer)
    member_price_minor: Mapped[Optional[int]] = mapped_column(Integer)
    # For items sold by weight the price is per kilogram.
    sold_by_weight: Mapped[bool] = mapped_column(Boolean, default=False)
    # The item code an in-store price or weight label carries (GS1 restricted circulation).
    plu: Mapped[Optional[str]] = mapped_column(String(6), unique=True)
    min_age: Mapped[Optional[int]] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    catalogue_version: Mapped[int] = mapped_column(Integer, default=1, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BarcodeRule(Base):
    """An in-store label layout: a prefix whose barcodes carry a price or a weight."""

    __tablename__ = "barcode_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(10))  # "price" | "weight"
    item_digits: Mapped[int] = mapped_column(Integer, default=5)
    value_digits: Mapped[int] = mapped_column(Integer, default=4)
    value_check_digit: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    catalogue_version: Mapped[int] = mapped_column(Integer, default=1)


class Promotion(Base):
    """A public promotion: multi-buy, percentage or fixed discount on a product or category."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # "n_for_m" (3 for 2), "n_for_price" (2 for 300), "percent", "fixed"
    kind: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("products.id"), index=True)
    category: Mapped[Optional[str]] = mapped_column(String(80))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    member_only: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    catalogue_version: Mapped[int] = mapped_column(Integer, default=1, index=True)


class SiteState(Base):
    """Small named values the site keeps, such as the catalogue version."""

    __tablename__ = "site_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


Index("ix_promotions_window", Promotion.starts_at, Promotion.ends_at)
