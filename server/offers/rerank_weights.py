"""Re-ranker weights learnt by `python -m server.offers.tune --write` (Complete Journey, second-to-last baskets)."""

from __future__ import annotations

from server.offers.rerank import ChannelModel, Reranker

# features: see server.offers.rerank.REPLENISH_FEATURES and DISCOVER_FEATURES
DEFAULT_RERANKER = Reranker(
    replenish=ChannelModel(
        mean=(-2.85371, 2.10755, -2.27146, 3.72022, 1.64284, 2.1492, 0.637524, 6.11577, 5.0842, 0.414007,),
        scale=(0.634701, 0.795553, 0.722117, 1.00333, 0.673909, 0.61301, 0.198227, 2.04252, 1.60387, 0.214275,),
        coef=(0.079999, -0.167493, 0.490148, -0.0310104, 0.0732383, 0.0480289, -0.40813, -0.0555774, 0.00680053, -0.207289,),
        intercept=-2.74964),
    discover=ChannelModel(
        mean=(-3.70381, 2.11678, 3.66708, 1.62567, 2.12397, 0.643475, 7.86474, 6.45999, 0.266658,),
        scale=(0.807974, 0.792134, 1.05993, 0.686339, 0.636554, 0.202097, 0.615189, 0.402391, 0.0998972,),
        coef=(0.290633, -0.188797, -0.265775, 0.0488465, 0.00154751, 0.121677, -0.000655541, 0.127206, 0.23737,),
        intercept=-4.90534),
)
