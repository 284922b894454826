"""Re-ranker weights learnt by `python -m server.offers.tune --write` (Complete Journey, second-to-last baskets)."""

from __future__ import annotations

from server.offers.rerank import ChannelModel, Reranker

# features: see server.offers.rerank.REPLENISH_FEATURES and DISCOVER_FEATURES
DEFAULT_RERANKER = Reranker(
    replenish=ChannelModel(
        mean=(-2.88647, 2.10491, -2.28238, 3.71471, 1.61063, 2.12174, 0.636363, 4.81983, 3.7697, 0.402338,),
        scale=(0.604429, 0.79613, 0.733518, 0.971105, 0.683171, 0.622689, 0.20128, 1.89191, 1.46062, 0.225487,),
        coef=(0.0531586, -0.236357, 0.450541, -0.00107255, 0.184499, -0.0162649, -0.438505, -0.0674408, -0.0165327, -0.200793,),
        intercept=-2.79073),
    discover=ChannelModel(
        mean=(-3.74784, 2.11678, 3.65221, 1.59185, 2.0929, 0.643757, 6.4754, 5.05867, 0.262644,),
        scale=(0.814579, 0.792134, 1.03831, 0.697202, 0.649134, 0.205818, 0.580835, 0.412435, 0.10074,),
        coef=(0.162283, -0.200897, -0.260837, 0.14083, 0.0172908, 0.231784, 0.0745996, 0.106802, 0.169993,),
        intercept=-5.19399),
)
