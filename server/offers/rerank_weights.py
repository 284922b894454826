"""Re-ranker weights learnt by `python -m server.offers.tune --write` (Complete Journey, second-to-last baskets)."""

from __future__ import annotations

from server.offers.rerank import ChannelModel, Reranker

# features: see server.offers.rerank.REPLENISH_FEATURES and DISCOVER_FEATURES
DEFAULT_RERANKER = Reranker(
    replenish=ChannelModel(
        mean=(-2.85371, 2.10755, -2.27146, 3.72022, 1.64284, 2.1492, 0.637524, 6.11577, 5.0842, 0.414007, -0.0776273,),
        scale=(0.634701, 0.795553, 0.722117, 1.00333, 0.673909, 0.61301, 0.198227, 2.04252, 1.60387, 0.214275, 0.571753,),
        coef=(0.0765413, -0.162087, 0.497438, -0.0473535, 0.0753373, 0.0455734, -0.413888, -0.0553762, 0.0137185, -0.213104, 0.101842,),
        intercept=-2.75373),
    discover=ChannelModel(
        mean=(-3.70381, 2.11678, 3.63669, 3.66708, 1.62567, 2.12397, 0.643475, 7.86474, 6.45999, 0.266658, -0.0992663,),
        scale=(0.807974, 0.792134, 0.372374, 1.05993, 0.686339, 0.636554, 0.202097, 0.615189, 0.402391, 0.0998972, 0.65505,),
        coef=(0.241603, -0.119425, 0.299746, -0.271938, 0.0549349, 0.0147749, 0.110838, 0.00186386, 0.0319221, 0.138997, 0.178475,),
        intercept=-4.9481),
)
