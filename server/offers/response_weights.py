"""Response model weights learnt by `shopgo offers evaluate-targeting --write` (Complete Journey campaigns
with odd ids, L2 0.1); features: server.offers.response.RESPONSE_FEATURES."""

from __future__ import annotations

from server.offers.rerank import ChannelModel

DEFAULT_RESPONSE = ChannelModel(
    mean=(3.2107, 4.09814, 0.260385, 0.190476, 4.58115, 0.489014, -1.45956, 6.02071,),
    scale=(2.19859, 2.38816, 0.605528, 0.392677, 1.12811, 0.110895, 1.55103, 1.13951,),
    coef=(0.181774, 0.128656, 0.16338, 0.166814, 0.0390849, 0.0929191, 0.139327, 0.00385607,),
    intercept=-2.20688)
