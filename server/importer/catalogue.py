"""Derive the demo catalogue from the Complete Journey: names, prices, age and weight flags."""
from __future__ import annotations

import numpy as np
import pandas as pd

from shop.numbering import product_gtin

AGE_RESTRICTED = ("BEERS/ALES", "DOMESTIC WINE", "IMPORTED WINE", "MISC WINE", "LIQUOR",
                  "CIGARETTES", "TOBACCO OTHER", "CIGARS")
WEIGHED_DEPARTMENTS = ("PRODUCE", "MEAT", "SEAFOOD", "DELI", "SALAD BAR")
FIRST_PLU = 10001
DEFAULT_PRICE_MINOR = 199


def product_names(products: pd.DataFrame) -> pd.Series:
    """Readable shelf names from the dataset's brand, type and size (vectorised)."""
    def clean(col: str) -> pd.Series:
        return products[col].fillna("").astype(str).str.strip()

    kind = clean("product_type").str.title()
    for fallback in ("product_category", "department"):
        kind = kind.where(kind != "", clean(fallback).str.title())
    kind = kind.where(kind != "", "Item")
    brand = np.where(products["brand"].to_numpy() == "Private", "ShopGo ", "")
    size = clean("package_size")
    name = (pd.Series(brand, index=products.index) + kind + np.where(size != "", " " + size, "")).str.slice(0, 200)
    return name


def shelf_prices(transactions: pd.DataFrame) -> pd.DataFrame:
    """Per product: shelf price and member price in minor units, from observed sales per unit."""
    tx = transactions[transactions["quantity"] > 0]
    unit_shelf = (tx["sales_value"] + tx["retail_disc"] + tx["coupon_match_disc"]) / tx["quantity"]
    unit_paid = tx["sales_value"] / tx["quantity"]
    frame = pd.DataFrame({"product_id": tx["product_id"].to_numpy(), "shelf": unit_shelf.to_numpy(),
                          "paid": unit_paid.to_numpy(), "disc": (tx["retail_disc"] > 0).to_numpy()})
    g = frame.groupby("product_id")
    out = pd.DataFrame({"shelf": g["shelf"].median(), "disc_share": g["disc"].mean()})
    member = frame[frame["disc"]].groupby("product_id")["paid"].median()
    out["member"] = member.reindex(out.index)
    out["price_minor"] = np.maximum(1, np.round(out["shelf"] * 100)).astype("int64")
    # A member price only where the loyalty discount was routine (a fifth of sales or more).
    member_minor = np.round(out["member"] * 100)
    keep = (out["disc_share"] >= 0.2) & (member_minor < out["price_minor"]) & (member_minor >= 1)
    out["member_price_minor"] = member_minor.where(keep).astype("Int64")
    return out[["price_minor", "member_price_minor"]]


def build_catalogue(products: pd.DataFrame, transactions: pd.DataFrame) -> pd.DataFrame:
    """Every product with GTIN, name, prices, age limit, weight flag and PLU."""
    prices = shelf_prices(transactions)
    cat = products.set_index("product_id").join(prices, how="left")
    dept_median = cat.groupby("department")["price_minor"].median()
    fill = cat["department"].map(dept_median).fillna(DEFAULT_PRICE_MINOR)
    cat["price_minor"] = cat["price_minor"].fillna(fill).round().astype("int64")
    cat = cat.reset_index()
    cat["gtin"] = [product_gtin(int(p)) for p in cat["product_id"]]
    cat["name"] = product_names(cat)
    cat["min_age"] = np.where(cat["product_category"].isin(AGE_RESTRICTED), 18, None)
    weighed = cat["department"].isin(WEIGHED_DEPARTMENTS) & cat["package_size"].isna() \
        & cat["product_type"].fillna("").str.contains(r"BULK|LOOSE|RANDOM WEIGHT|BY THE POUND|/LB", regex=True)
    cat["sold_by_weight"] = weighed
    # Weighed goods are priced per kilogram; the dataset's unit is the US pound.
    cat.loc[weighed, "price_minor"] = np.round(cat.loc[weighed, "price_minor"] * 2.20462).astype("int64")
    cat.loc[weighed, "member_price_minor"] = pd.NA
    plu = pd.Series([None] * len(cat), dtype="object")
    idx = np.flatnonzero(weighed.to_numpy())
    plu.iloc[idx] = [f"{FIRST_PLU + i:05d}" for i in range(len(idx))]
    cat["plu"] = plu.to_numpy()
    return cat
