"""Offers engine: who each shopper is, what to offer them, and what not, and who responds to a campaign.

Pure functions over a purchase-history DataFrame (household_id, basket_id, product_id, quantity,
sales_value, timestamp UTC, optional discount); no database access here. The chain-wide parts
(neighbour pool, popularity, trends) are computed once as ChainStats and every partition of
households is scored against them: a store runs it on its whole history in one process, head
office on Dask over the chain's lake (chain.py), with the same functions. The engine imports no
other ShopGo package; build.py (the nightly build of a store's offers) may import `db` and
server.store, cli.py the platform too.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exports are loaded on first use: config.load() imports server.offers.policy at every start-up
# (handhelds too), and the engine's pandas/numpy would otherwise cost each process ~110 MB and seconds.
_EXPORTS = {
    "EngineParams": "server.offers.recommend",
    "OfferPolicy": "server.offers.policy",
    "OfferProposal": "server.offers.offers",
    "build_offers": "server.offers.offers",
    "category_affinities": "server.offers.profile",
    "everyday_full_price": "server.offers.offers",
    "in_holdout": "server.offers.policy",
    "profile_households": "server.offers.profile",
    "score_households": "server.offers.engine",
    "select_offers": "server.offers.offers",
    "target_households": "server.offers.engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'server.offers' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
