"""Learning the re-ranker and choosing explore_weight on validation baskets (never the test basket).

Run: python -m server.offers.tune [--households N] [--write]
The validation basket is each household's second-to-last; the evaluation holds out the last.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from server.offers.evaluate import Split, _membership, basket_metrics, history_matrix, holdout_split
from server.offers.history import BasketLog
from server.offers.recommend import EngineParams, adoption_stats, basket_sizes, candidate_table
from server.offers.rerank import ChannelModel, Reranker, fit_logistic, merge_by_gain

WEIGHTS_FILE = Path(__file__).with_name("rerank_weights.py")


def fit_reranker(split: Split, params: EngineParams = EngineParams(), mask: np.ndarray | None = None) -> Reranker:
    """Fit both channel models on the split's held-out baskets (optionally only the masked households)."""
    r_codes, r_f, d_codes, d_f = candidate_table(split.train, params.channel_candidates, params)
    keep = np.ones(len(r_codes), bool) if mask is None else mask
    r_hit, d_hit = _membership(r_codes, split.truth), _membership(d_codes, split.truth)
    r_ok, d_ok = keep[:, None] & (r_codes >= 0), keep[:, None] & (d_codes >= 0)
    return Reranker(replenish=fit_logistic(r_f[r_ok], r_hit[r_ok]), discover=fit_logistic(d_f[d_ok], d_hit[d_ok]))


def explore_weight_sweep(log: BasketLog, weights: list[float], k: int = 10, hold_out: int = 2,
                         params: EngineParams = EngineParams(), in_sample: bool = False) -> list[dict[str, float]]:
    """Metrics per explore weight, the re-ranker cross-fitted (fit on half the households, scored on the other).

    in_sample fits and scores on the same baskets: not a result but a ceiling for these candidates
    and features (no re-ranker of this form can do better on those baskets).
    """
    split = holdout_split(log, hold_out=hold_out)
    train = split.train
    r_codes, r_f, d_codes, d_f = candidate_table(train, params.channel_candidates, params)
    r_hit, d_hit = _membership(r_codes, split.truth), _membership(d_codes, split.truth)
    halves = (np.arange(train.n_households) % 2) == 0
    folds = [(np.ones_like(halves), np.ones_like(halves))] if in_sample else [(halves, ~halves), (~halves, halves)]
    r_p, d_p = np.zeros(r_codes.shape), np.zeros(d_codes.shape)
    for fit, score in folds:
        r_ok, d_ok = fit[:, None] & (r_codes >= 0), fit[:, None] & (d_codes >= 0)
        r_model, d_model = fit_logistic(r_f[r_ok], r_hit[r_ok]), fit_logistic(d_f[d_ok], d_hit[d_ok])
        r_p[score], d_p[score] = r_model.probability(r_f[score]), d_model.probability(d_f[score])
    r_p[r_codes < 0], d_p[d_codes < 0] = 0.0, 0.0
    rates, _ = adoption_stats(train)
    sizes = basket_sizes(train)
    history = history_matrix(train)
    rows = []
    for weight in weights:
        codes, _, _ = merge_by_gain(r_codes, r_p, d_codes, d_p, sizes, rates, weight, k)
        rows.append({"explore_weight": weight, **basket_metrics(codes, split.truth, history)})
    return rows


def _model_source(name: str, model: ChannelModel) -> str:
    """Python source of one channel model."""
    def nums(values: tuple[float, ...]) -> str:
        return "(" + ", ".join(f"{v:.6g}" for v in values) + ",)"
    return (f"    {name}=ChannelModel(\n        mean={nums(model.mean)},\n        scale={nums(model.scale)},\n"
            f"        coef={nums(model.coef)},\n        intercept={model.intercept:.6g}),\n")


def write_weights(reranker: Reranker, note: str, path: Path = WEIGHTS_FILE) -> None:
    """Write the re-ranker as the engine's default weights module."""
    path.write_text(
        f'"""Re-ranker weights learnt by `python -m server.offers.tune --write` ({note})."""\n\n'
        "from __future__ import annotations\n\nfrom server.offers.rerank import ChannelModel, Reranker\n\n"
        "# features: see server.offers.rerank.REPLENISH_FEATURES and DISCOVER_FEATURES\n"
        "DEFAULT_RERANKER = Reranker(\n" + _model_source("replenish", reranker.replenish)
        + _model_source("discover", reranker.discover) + ")\n")


def main() -> None:
    """Command line entry: print the cross-fitted validation sweep; with --write, refit on all and save."""
    from server.offers.baselines import tifu_knn
    from server.offers.evaluate import complete_journey_log

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=None)
    parser.add_argument("--weights", default="0,1,1.5,2,2.5,3,4")
    parser.add_argument("--write", action="store_true", help="refit on all validation baskets and save the weights")
    parser.add_argument("--hold-out", type=int, default=2, help="2: validation basket (tuning); 1: last (test)")
    parser.add_argument("--in-sample", action="store_true", help="fit on the scored baskets: a ceiling, not a result")
    args = parser.parse_args()
    if args.write and (args.hold_out != 2 or args.in_sample):
        parser.error("--write learns only from validation baskets: drop --hold-out/--in-sample")
    log = complete_journey_log(args.households)
    split = holdout_split(log, hold_out=args.hold_out)
    tifu = basket_metrics(tifu_knn(split.train, 10), split.truth, history_matrix(split.train))
    print(f"{split.train.n_households} households, basket {args.hold_out} from the end held out, K=10, re-ranker "
          f"{'fitted in-sample (ceiling)' if args.in_sample else 'cross-fitted on halves'}")
    print(f"{'method':<22} {'Recall@10':>9} {'NDCG@10':>8} {'PHR@10':>7} {'rep.rec':>8} {'expl.rec':>8} {'expl.sh':>7}")
    rows = [{"name": "TIFU-KNN", **tifu}] + [
        {"name": f"engine w={r['explore_weight']:g}", **r}
        for r in explore_weight_sweep(log, [float(w) for w in args.weights.split(",")], hold_out=args.hold_out,
                                      in_sample=args.in_sample)]
    for r in rows:
        print(f"{r['name']:<22} {r['recall']:>9.4f} {r['ndcg']:>8.4f} {r['phr']:>7.4f} {r['recall_repeat']:>8.4f} "
              f"{r['recall_explore']:>8.4f} {r['explore_share']:>7.3f}")
    if args.write:
        write_weights(fit_reranker(split, replace(EngineParams())), "Complete Journey, second-to-last baskets")
        print(f"wrote {WEIGHTS_FILE}")


if __name__ == "__main__":
    main()
