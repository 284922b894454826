"""The configuration as the server reads it: shop/config.py's reader, with the sections other
packages own (scanner and barcodes, offers) checked too, so a bad key there also stops start-up."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from shop import config as shop_config
from shop.config import ROOT, SCHEMA, ConfigError, database_url, default_path, resolve_path

__all__ = ["ROOT", "SCHEMA", "ConfigError", "database_url", "default_path", "load", "resolve_path"]


def _scanner(cfg: Mapping[str, Any]) -> None:
    from firmware_bridge.settings import Settings

    Settings.from_dict({"scanner": cfg["scanner"], "barcodes": cfg["barcodes"]})


def _offers(cfg: Mapping[str, Any]) -> None:
    from server.offers.policy import OfferPolicy

    OfferPolicy.from_config(cfg["offers"])


def load(path: str | Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Read configuration (shop.config.load) and check every package's sections; ConfigError names the key."""
    return shop_config.load(path, overrides, environ, checks=(_scanner, _offers))
